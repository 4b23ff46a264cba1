// Encoding into a reused, warm Buffer allocates nothing: every allocation of this
// process is counted (malloc, calloc and realloc are interposed; operator new calls
// malloc), and encoding each example in each format a thousand times must not add one.
//
// Under a sanitizer the sanitizer owns malloc, so the tests are skipped there.
#include <gtest/gtest.h>

#include <atomic>
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
}

#ifndef NEXO_ALLOC_TEST_SANITIZED
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* malloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
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

}  // namespace
}  // namespace nexo::wire
