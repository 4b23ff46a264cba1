// Encoding into a reused, warm Buffer allocates nothing: every allocation of this
// process is counted (malloc, calloc and realloc are interposed; operator new calls
// malloc), and encoding each example in each format a thousand times must not add one.
//
// Decoding a small input that describes a huge value (many empty records, each a few
// bytes on the wire and hundreds in memory) fails at Limits::max_decoded, naming the
// field, the offset and the limit, having allocated no more than a few times the limit
// (the bytes requested are counted too).
//
// Under a sanitizer the sanitizer owns malloc, so the tests are skipped there.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <vector>
#include <cstdlib>
#include <new>

#include "nexo/wire/cdr.hpp"
#include "nexo/wire/examples.hpp"
#include "nexo/wire/java.hpp"
#include "nexo/wire/json.hpp"
#include "nexo/wire/proto.hpp"
#include "nexo/wire/remote_ref.hpp"
#include "nexo/wire/xml.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NEXO_ALLOC_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NEXO_ALLOC_TEST_SANITIZED 1
#endif

namespace {
std::atomic<long> g_allocations{0};
std::atomic<std::size_t> g_bytes{0};  // bytes requested, never decreased
}

#ifndef NEXO_ALLOC_TEST_SANITIZED
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* malloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(n, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(n * size, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(n, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
}
#endif

namespace nexo::wire {
namespace {

// Encodes `value` with `encode` once to warm `buffer`, then 1000 times more, and
// returns the allocations the 1000 made.
template <class T, class Encode>
long allocations_when_warm(const T& value, Encode encode) {
  Buffer buffer;
  encode(value, buffer);
  buffer.clear();
  encode(value, buffer);  // settle: the second run sees the final capacity
  std::size_t capacity = buffer.capacity();
  long before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    buffer.clear();
    encode(value, buffer);
  }
  long after = g_allocations.load();
  EXPECT_EQ(buffer.capacity(), capacity);
  return after - before;
}

TEST(NoAllocation, TheCounterCounts) {
#ifdef NEXO_ALLOC_TEST_SANITIZED
  GTEST_SKIP() << "a sanitizer owns malloc: allocations are counted in the plain builds";
#endif
  long before = g_allocations.load();
  void* (*volatile allocate)(std::size_t) = std::malloc;  // volatile: no elision
  void* p = allocate(100);
  std::vector<int>* v = new std::vector<int>(100);
  asm volatile("" : : "r"(v) : "memory");
  delete v;
  std::free(p);
  EXPECT_GE(g_allocations.load() - before, 2);
}

template <class T>
void every_format(const T& value) {
#ifdef NEXO_ALLOC_TEST_SANITIZED
  GTEST_SKIP() << "a sanitizer owns malloc: allocations are counted in the plain builds";
#endif
  EXPECT_EQ(allocations_when_warm(
                value, [](const T& v, Buffer& b) { cdr::encode(v, b, cdr::Endian::little); }),
            0)
      << "cdr little-endian";
  EXPECT_EQ(allocations_when_warm(
                value, [](const T& v, Buffer& b) { cdr::encode(v, b, cdr::Endian::big); }),
            0)
      << "cdr big-endian";
  EXPECT_EQ(allocations_when_warm(value, [](const T& v, Buffer& b) { proto::encode(v, b); }), 0)
      << "protobuf";
  EXPECT_EQ(allocations_when_warm(value, [](const T& v, Buffer& b) { json::encode(v, b); }), 0)
      << "json";
  EXPECT_EQ(allocations_when_warm(value,
                                  [](const T& v, Buffer& b) {
                                    json::WriteOptions pretty;
                                    pretty.pretty = true;
                                    json::encode(v, b, pretty);
                                  }),
            0)
      << "json, pretty";
  EXPECT_EQ(allocations_when_warm(value,
                                  [](const T& v, Buffer& b) {
                                    if (!xml::encode(v, b)) std::abort();
                                  }),
            0)
      << "xml";
  if constexpr (java::supports<T>()) {
    EXPECT_EQ(allocations_when_warm(value, [](const T& v, Buffer& b) { java::encode(v, b); }), 0)
        << "java";
  }
}

TEST(NoAllocation, EncodingPersonIntoAWarmBuffer) {
  every_format(examples::make_person());
}
TEST(NoAllocation, EncodingLargeIntoAWarmBuffer) {
  every_format(examples::make_large());
}
TEST(NoAllocation, EncodingEverythingIntoAWarmBuffer) {
  every_format(examples::make_everything());
}

// ---------------------------------------------------------------------------
// Decoded size: small inputs, huge values.

// 520 bytes in memory; its empty form is 2 bytes of protobuf, 2 of JSON ("{}"), 8 of
// XML ("<heavy/>"), 1 of Java (TC_NULL in an array).
struct Heavy {
  std::array<std::int64_t, 64> values{};
  std::int32_t id = 0;
};
constexpr auto nexo_wire_describe(const Heavy*) {
  return describe<Heavy>("heavy")
      .field("values", &Heavy::values)
      .field("id", &Heavy::id)
      .java("Heavy", 1L);
}
struct Heap {
  std::vector<Heavy> items;
};
constexpr auto nexo_wire_describe(const Heap*) {
  return describe<Heap>("heap").field("items", &Heap::items).java("Heap", 1L);
}
// CDR has no empty record: an absent optional is its 1-byte flag.
struct MaybeHeavy {
  std::optional<std::array<std::int64_t, 64>> values;
};
constexpr auto nexo_wire_describe(const MaybeHeavy*) {
  return describe<MaybeHeavy>("maybe_heavy").field("values", &MaybeHeavy::values);
}
struct MaybeHeap {
  std::vector<MaybeHeavy> items;
};
constexpr auto nexo_wire_describe(const MaybeHeap*) {
  return describe<MaybeHeap>("maybe_heap").field("items", &MaybeHeap::items);
}

constexpr std::size_t kItems = 1u << 16;  // 33 MiB decoded, from at most 512 KiB
constexpr Limits kSmall{.max_decoded = 1u << 20};

std::span<const std::byte> view(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Runs decode() and checks that it failed on max_decoded with `expected` (the whole
// error), allocating at most 4 x max_decoded on the way (vector growth doubles).
template <class Decode>
void refused_within_the_limit(Decode decode, const std::string& expected) {
  std::size_t before = g_bytes.load();
  Result<void> r = decode();
  std::size_t allocated = g_bytes.load() - before;
  ASSERT_FALSE(r) << "decoded a huge value";
  EXPECT_EQ(r.error().kind(), ErrorKind::too_large);
  EXPECT_EQ(r.error().to_string(), expected);
#ifndef NEXO_ALLOC_TEST_SANITIZED
  EXPECT_LT(allocated, 4 * kSmall.max_decoded) << "allocated " << allocated << " bytes";
#else
  (void)allocated;
#endif
}

// The element that breaks max_decoded when each is `size` bytes, and the bytes before it.
constexpr std::size_t kFirstOver = kSmall.max_decoded / sizeof(Heavy);
constexpr std::size_t kCharged = kFirstOver * sizeof(Heavy);

TEST(DecodedSize, ProtobufEmptyRepeatedRecords) {
  std::string in;
  for (std::size_t k = 0; k < kItems; ++k)
    in += std::string("\x0a\x00", 2);  // field 1, length 0
  Heap heap;
  refused_within_the_limit(
      [&] { return proto::decode(view(in), heap, kSmall); },
      "[too_large] protobuf: at byte " + std::to_string(2 * kFirstOver) +
          ": items: 1 element of 520 bytes would take the decoded value past limit "
          "max_decoded = 1048576 (" +
          std::to_string(kCharged) + " bytes so far)");
}

TEST(DecodedSize, JsonEmptyObjects) {
  std::string in = "{\"items\":[{}";
  for (std::size_t k = 1; k < kItems; ++k)
    in += ",{}";
  in += "]}";
  Heap heap;
  refused_within_the_limit(
      [&] { return json::decode(view(in), heap, kSmall); },
      "[too_large] json: at byte " + std::to_string(10 + 3 * kFirstOver) +
          ": items: 1 element of 520 bytes would take the decoded value past limit "
          "max_decoded = 1048576 (" +
          std::to_string(kCharged) + " bytes so far)");
}

TEST(DecodedSize, XmlEmptyElements) {
  std::string in = "<heap><items>";
  for (std::size_t k = 0; k < kItems; ++k)
    in += "<heavy/>";
  in += "</items></heap>";
  Heap heap;
  refused_within_the_limit(
      [&] { return xml::decode(view(in), heap, {}, kSmall); },
      "[too_large] xml: at byte " + std::to_string(13 + 8 * kFirstOver) +
          ": items: 1 element of 520 bytes would take the decoded value past limit "
          "max_decoded = 1048576 (" +
          std::to_string(kCharged) + " bytes so far)");
}

TEST(DecodedSize, CdrAbsentOptionals) {
  std::string in(4 + kItems, '\0');  // little-endian count, then one flag per element
  std::uint32_t n = kItems;
  std::memcpy(in.data(), &n, 4);
  MaybeHeap heap;
  refused_within_the_limit(
      [&] { return cdr::decode(view(in), heap, cdr::Endian::little, kSmall); },
      "[too_large] cdr: at byte 0: items: " + std::to_string(kItems) + " elements of " +
          std::to_string(sizeof(MaybeHeavy)) +
          " bytes would take the decoded value past limit max_decoded = 1048576 (0 bytes so "
          "far)");
}

TEST(DecodedSize, JavaArrayOfNulls) {
  // A Heap with no items, then its array's length raised and TC_NULL per element.
  Buffer empty;
  java::encode(Heap{}, empty);
  std::string in(reinterpret_cast<const char*>(empty.data()), empty.size());
  ASSERT_EQ(in.substr(in.size() - 4), std::string(4, '\0'));
  std::size_t length_at = in.size() - 4;
  in.resize(length_at);
  for (int shift = 24; shift >= 0; shift -= 8)
    in.push_back(static_cast<char>((kItems >> shift) & 0xff));
  in.append(kItems, '\x70');  // TC_NULL
  Heap heap;
  refused_within_the_limit(
      [&] { return java::decode(view(in), heap, kSmall); },
      "[too_large] java: at byte " + std::to_string(length_at) + ": items: " +
          std::to_string(kItems) +
          " elements of 520 bytes would take the decoded value past limit max_decoded = "
          "1048576 (0 bytes so far)");
}

// Within the limit the same kind of input decodes: the limit is what refused them.
TEST(DecodedSize, BelowTheLimitTheyDecode) {
  std::string in;
  for (std::size_t k = 0; k < kFirstOver; ++k)
    in += std::string("\x0a\x00", 2);
  auto heap = proto::decode<Heap>(view(in), kSmall);
  ASSERT_TRUE(heap) << heap.error().to_string();
  EXPECT_EQ(heap->items.size(), kFirstOver);
}

}  // namespace
}  // namespace nexo::wire
