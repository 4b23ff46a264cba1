// decode() allocates nothing, and an encoder writing into a warm `out` allocates
// nothing either: this binary counts every allocation made through operator new
// (which Bytes, std::string and gtest use). Under a sanitizer, which owns the
// allocator, the tests are skipped (CI allows NoAllocation.* to skip there).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "nexo/group/member.hpp"
#include "nexo/group/packet.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NEXO_GROUP_ALLOC_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NEXO_GROUP_ALLOC_TEST_SANITIZED 1
#endif

namespace {
std::atomic<long> g_allocations{0};
}

#ifndef NEXO_GROUP_ALLOC_TEST_SANITIZED
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#endif

namespace nexo::group {
namespace {

#ifdef NEXO_GROUP_ALLOC_TEST_SANITIZED
#define SKIP_IF_SANITIZED() GTEST_SKIP() << "a sanitizer owns the allocator"
#else
#define SKIP_IF_SANITIZED() (void)0
#endif

// Encodes one packet of each type into `out`, decoding each: returns false on any failure.
bool encode_and_decode_each(Bytes& out, const std::vector<SeqRange>& ranges,
                            const std::vector<DigestEntry>& digest, const Bytes& payload) {
  Packet packet;
  const std::uint64_t group = group_tag("alloc");
  if (!encode_data(out, {Type::data, group, 3, {1, 0}}, 9, true, payload, payload)) return false;
  if (decode(out, packet) != ParseError::none) return false;
  if (!encode_nak(out, {Type::nak, group, 3, {1, 0}}, 4, ranges)) return false;
  if (decode(out, packet) != ParseError::none) return false;
  if (!encode_heartbeat(out, {Type::heartbeat, group, 3, {1, 0}}, 9, digest)) return false;
  return decode(out, packet) == ParseError::none && packet.header.sender == 3;
}

TEST(NoAllocation, GroupPacketWarmEncodeAndDecode) {
  SKIP_IF_SANITIZED();
  std::vector<SeqRange> ranges;
  for (std::uint64_t i = 0; i < kMaxNakRanges; ++i)
    ranges.push_back({10 * i + 1, 10 * i + 5});
  std::vector<DigestEntry> digest;
  for (std::uint64_t i = 1; i <= kMaxDigest; ++i)
    digest.push_back({i, i});
  const Bytes payload(1000, std::byte{7});
  Bytes out;
  ASSERT_TRUE(encode_and_decode_each(out, ranges, digest, payload));  // warms `out`
  const long before = g_allocations.load();
  bool all_ok = true;
  for (int i = 0; i < 1000; ++i)
    all_ok = encode_and_decode_each(out, ranges, digest, payload) && all_ok;
  const long made = g_allocations.load() - before;
  EXPECT_TRUE(all_ok);
  EXPECT_EQ(made, 0);
  // The counter counts: a fresh Bytes allocates.
  Bytes fresh;
  ASSERT_TRUE(encode_nak(fresh, {Type::nak, 1, 2, {3, 0}}, 4, ranges));
  EXPECT_GT(g_allocations.load() - before, made);
}

TEST(NoAllocation, GroupPacketDecodeOfBadInput) {
  SKIP_IF_SANITIZED();
  Bytes out;
  ASSERT_TRUE(encode_data(out, {Type::data, 1, 2, {3, 0}}, 1, false, {}, {}));
  Packet packet;
  const long before = g_allocations.load();
  for (std::size_t n = 0; n <= out.size(); ++n)
    (void)decode(std::span(out).first(n), packet);
  out[5] ^= std::byte{1};
  EXPECT_EQ(decode(out, packet), ParseError::bad_checksum);
  EXPECT_EQ(g_allocations.load() - before, 0);
}

// A steady stream through three Members (one sending, views of 3 keep
// others' messages for a flush), their deliveries' buffers given back to
// their pools as a driver does: once the rings have grown to the stream,
// sending, transmitting, receiving, delivering, keeping, heartbeats and
// stability allocate nothing, at the sender or at a receiver.
TEST(NoAllocation, MembersInASteadyStreamWithPools) {
  SKIP_IF_SANITIZED();
  using namespace std::chrono_literals;
  const std::vector<MemberId> ids{1, 2, 3};
  std::vector<Member> members;
  std::vector<BufferPool> pools(ids.size());
  Time now = Time{} + 1h;
  for (MemberId id : ids) {
    MemberConfig c;
    c.group = group_tag("alloc");
    c.self = id;
    c.members = ids;
    c.seed = 5;
    auto m = Member::create(c, now);
    ASSERT_TRUE(m) << m.error().message();
    members.push_back(std::move(m).value());
  }
  for (std::size_t i = 0; i < members.size(); ++i)
    members[i].set_pool(&pools[i]);
  const Bytes message(1024, std::byte{0x5a});
  Bytes packet;
  Destination to;
  std::uint64_t delivered = 0;
  // One message from member 1, everything sent handed to every other member,
  // every delivery taken and its buffers given back.
  const auto step = [&] {
    now += 100us;
    if (members[0].writable(message.size())) {
      if (!members[0].send(message, now)) return false;
    }
    for (std::size_t i = 0; i < members.size(); ++i) {
      members[i].on_timer(now);
      while (members[i].poll_transmit(packet, to)) {
        for (std::size_t j = 0; j < members.size(); ++j)
          if (j != i) members[j].on_packet(packet, now);
      }
    }
    for (std::size_t i = 0; i < members.size(); ++i) {
      while (auto d = members[i].poll_delivery()) {
        delivered += d->sender == 1 && i != 0 ? 1 : 0;
        pools[i].give(std::move(d->payload));
        pools[i].give(std::move(d->meta));
      }
    }
    return true;
  };
  for (int i = 0; i < 5000; ++i)
    ASSERT_TRUE(step());
  const std::uint64_t before = delivered;
  const long allocations = g_allocations.load();
  for (int i = 0; i < 20000; ++i)
    ASSERT_TRUE(step());
  EXPECT_EQ(g_allocations.load() - allocations, 0);
  EXPECT_GT(delivered - before, 2u * 15000);  // the stream did flow, to both receivers
  EXPECT_EQ(members[1].counters().parse_errors[0] + members[2].counters().duplicates, 0u);
  EXPECT_GT(members[1].kept_messages(), 0u);  // kept for a flush, as views of 3 do
}

}  // namespace
}  // namespace nexo::group
