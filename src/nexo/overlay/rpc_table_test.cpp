// RpcTable: the bounds (total and per destination), transaction ids unique
// among outstanding queries across the 16-bit wrap, replies from the wrong
// source or with unknown ids refused and counted, soft then hard expiry in
// deadline order, cancellation by owner, and the memory of an idle table.
// Time is a fake clock: plain Time values.
#include "nexo/overlay/rpc_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;

const Time t0 = Time{} + 24h;

net::Endpoint peer(std::uint32_t i) {
  return net::Endpoint(
      net::InetAddress::v4({10, static_cast<std::uint8_t>(i >> 16),
                            static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}),
      6881);
}

RpcRequest request(const net::Endpoint& to, std::uint64_t owner = 0, Duration soft = 300ms,
                   Duration hard = 2s) {
  RpcRequest r;
  r.destination = to;
  r.owner = owner;
  r.soft_timeout = soft;
  r.hard_timeout = hard;
  return r;
}

TEST(RpcTable, IdleTableIsTiny) {
  // 100,000 simulated nodes each hold one: idle, it must not cost more than this.
  EXPECT_LE(sizeof(RpcTable), 64u);
  RpcTable table(7);
  EXPECT_EQ(table.capacity(), 0u) << "nothing on the heap before the first query";
  auto tid = table.add(request(peer(1)), t0);
  ASSERT_TRUE(tid);
  EXPECT_EQ(table.capacity(), 4u);
  ASSERT_TRUE(table.take(*tid, peer(1), t0 + 10ms));
  EXPECT_EQ(table.capacity(), 4u) << "kept once warm: no allocation per query";
  table.shrink_to_fit();
  EXPECT_EQ(table.capacity(), 0u);
  EXPECT_TRUE(table.empty());
}

TEST(RpcTable, TransactionBytesRoundTrip) {
  EXPECT_EQ(transaction_bytes(0xab01), std::string("\xab\x01", 2));
  EXPECT_EQ(parse_transaction(std::string("\xab\x01", 2)), TransactionId{0xab01});
  EXPECT_EQ(parse_transaction(""), std::nullopt);
  EXPECT_EQ(parse_transaction("a"), std::nullopt);
  EXPECT_EQ(parse_transaction("abc"), std::nullopt);
}

TEST(RpcTable, IdsCountFromTheCallersStartAndWrap) {
  RpcTable table(65534);
  std::vector<TransactionId> ids;
  for (std::uint32_t i = 0; i < 4; ++i)
    ids.push_back(*table.add(request(peer(i)), t0));
  EXPECT_EQ(ids, (std::vector<TransactionId>{65534, 65535, 0, 1}));
  for (std::uint32_t i = 0; i < 4; ++i) {
    const RpcEntry* e = table.find(ids[i]);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->destination, peer(i));
  }
}

// Random adds and takes, the counter wrapping many times: outstanding ids
// are always distinct, and every reply finds its own query.
TEST(RpcTable, IdsStayUniqueUnderWrap) {
  fault::Random rng(15);
  RpcConfig config;
  config.max_outstanding = 300;
  config.max_per_destination = 300;
  RpcTable table(static_cast<TransactionId>(rng.next()), config);
  struct Live {
    TransactionId tid;
    std::uint32_t peer;
  };
  std::vector<Live> live;
  std::uint32_t next_peer = 0;
  for (int step = 0; step < 300'000; ++step) {
    if (live.size() < 250 && (live.empty() || rng.chance(0.5))) {
      auto tid = table.add(request(peer(next_peer)), t0);
      ASSERT_TRUE(tid) << tid.error().to_string();
      live.push_back({*tid, next_peer++});
    } else {
      const std::size_t i = rng.below(live.size());
      auto e = table.take(live[i].tid, peer(live[i].peer), t0);
      ASSERT_TRUE(e) << "step " << step;
      ASSERT_EQ(e->tid, live[i].tid);
      ASSERT_EQ(e->destination, peer(live[i].peer));
      live[i] = live.back();
      live.pop_back();
    }
    ASSERT_EQ(table.size(), live.size());
  }
  std::set<TransactionId> distinct;
  for (const Live& l : live)
    distinct.insert(l.tid);
  EXPECT_EQ(distinct.size(), live.size());
  EXPECT_LE(table.capacity(), 512u) << "bounded by max_outstanding rounded up";
  EXPECT_EQ(table.counters().unknown_transaction, 0u);
}

// All 65,536 ids in use at once: every one distinct, and one more refused.
TEST(RpcTable, FullIdSpace) {
  RpcConfig config;
  config.max_outstanding = 65536;
  config.max_per_destination = 65535;
  RpcTable table(40000, config);
  std::vector<bool> seen(65536);
  for (std::uint32_t i = 0; i < 65536; ++i) {
    auto tid = table.add(request(peer(i % 1000)), t0);
    ASSERT_TRUE(tid) << i;
    ASSERT_FALSE(seen[*tid]) << "id " << *tid << " issued twice";
    seen[*tid] = true;
  }
  auto refused = table.add(request(peer(5000)), t0);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().is(ErrorKind::overloaded));
  EXPECT_NE(refused.error().message().find("max_outstanding"), std::string::npos);
  // Id 12345 was the (12345 - 40000 + 65536)th issued: to peer 37881 % 1000.
  ASSERT_TRUE(table.take(12345, peer(881), t0));
  auto again = table.add(request(peer(5000)), t0);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 12345) << "the only free id";
}

TEST(RpcTable, BoundsTotalAndPerDestination) {
  RpcConfig config;
  config.max_outstanding = 5;
  config.max_per_destination = 2;
  RpcTable table(0, config);
  auto a = table.add(request(peer(1)), t0);
  auto b = table.add(request(peer(1)), t0);
  ASSERT_TRUE(a && b);
  auto c = table.add(request(peer(1)), t0);
  ASSERT_FALSE(c);
  EXPECT_TRUE(c.error().is(ErrorKind::overloaded));
  EXPECT_NE(c.error().message().find("10.0.0.1:6881"), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("max_per_destination"), std::string::npos);
  EXPECT_EQ(table.counters().refused_destination, 1u);
  EXPECT_EQ(table.size(), 2u) << "nothing recorded for a refused query";

  ASSERT_TRUE(table.add(request(peer(2)), t0));
  ASSERT_TRUE(table.add(request(peer(3)), t0));
  ASSERT_TRUE(table.add(request(peer(4)), t0));
  auto full = table.add(request(peer(5)), t0);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message().find("max_outstanding"), std::string::npos);
  EXPECT_EQ(table.counters().refused_full, 1u);
  EXPECT_EQ(table.outstanding_to(peer(1)), 2u);

  ASSERT_TRUE(table.take(*a, peer(1), t0));
  EXPECT_TRUE(table.add(request(peer(1)), t0)) << "room again after a reply";
}

TEST(RpcTable, RepliesFromElsewhereOrUnknownAreRefusedAndCounted) {
  RpcTable table(100);
  RpcRequest r = request(peer(1), 9);
  fault::Random rng(1);
  r.expected_id = NodeId::random(rng);
  r.kind = 3;
  auto tid = table.add(r, t0);
  ASSERT_TRUE(tid);

  EXPECT_FALSE(table.take(*tid, peer(2), t0 + 5ms)) << "right id, wrong source";
  EXPECT_EQ(table.counters().wrong_source, 1u);
  EXPECT_FALSE(table.take(static_cast<TransactionId>(*tid + 1), peer(1), t0 + 5ms));
  EXPECT_FALSE(table.take(std::string_view("abc"), peer(1), t0 + 5ms)) << "3 bytes: not ours";
  EXPECT_FALSE(table.take(std::string_view(""), peer(1), t0 + 5ms));
  EXPECT_EQ(table.counters().unknown_transaction, 3u);
  EXPECT_EQ(table.size(), 1u) << "a forged reply does not cancel the query";

  auto e = table.take(transaction_bytes(*tid), peer(1), t0 + 40ms);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->tid, *tid);
  EXPECT_EQ(e->kind, 3);
  EXPECT_EQ(e->owner, 9u);
  EXPECT_EQ(e->expected_id, r.expected_id);
  EXPECT_EQ(e->sent, t0);
  EXPECT_EQ(table.late_replies(), 0u);
  EXPECT_FALSE(table.take(*tid, peer(1), t0 + 41ms)) << "a duplicate reply";
  EXPECT_EQ(table.counters().unknown_transaction, 4u);
}

TEST(RpcTable, SoftThenHardExpiryInDeadlineOrder) {
  RpcTable table(0);
  // Sent in one order, due in another.
  auto a = *table.add(request(peer(1), 1, 300ms, 2s), t0);
  auto b = *table.add(request(peer(2), 1, 100ms, 3s), t0);
  auto c = *table.add(request(peer(3), 1, 200ms, 1s), t0);
  auto d = *table.add(request(peer(4), 1, 5s, 500ms), t0);  // hard raised to soft: 5 s
  EXPECT_EQ(table.find(d)->hard_deadline, t0 + 5s);
  EXPECT_EQ(table.next_deadline(), t0 + 100ms);

  std::vector<RpcEntry> out;
  EXPECT_EQ(table.soft_expired(t0 + 99ms, out), 0u);
  EXPECT_EQ(table.soft_expired(t0 + 250ms, out), 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].tid, b);
  EXPECT_EQ(out[1].tid, c);
  EXPECT_EQ(table.next_deadline(), t0 + 300ms);
  out.clear();
  EXPECT_EQ(table.soft_expired(t0 + 400ms, out), 1u) << "each reported once";
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tid, a);
  EXPECT_EQ(table.next_deadline(), t0 + 1s) << "c's hard deadline";

  // A late reply is still taken, and counted as late.
  ASSERT_TRUE(table.take(a, peer(1), t0 + 900ms));
  EXPECT_EQ(table.late_replies(), 1u);

  out.clear();
  EXPECT_EQ(table.expire(t0 + 999ms, out), 0u);
  EXPECT_EQ(table.expire(t0 + 10s, out), 3u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].tid, c);
  EXPECT_EQ(out[1].tid, b);
  EXPECT_EQ(out[2].tid, d);
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.next_deadline(), std::nullopt);
}

TEST(RpcTable, HardDeadlineFirstIsReportedOnlyByExpire) {
  RpcTable table(0);
  auto a = *table.add(request(peer(1), 1, 300ms, 1s), t0);
  std::vector<RpcEntry> out;
  EXPECT_EQ(table.soft_expired(t0 + 2s, out), 0u) << "past both: expire() reports it";
  EXPECT_EQ(table.expire(t0 + 2s, out), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tid, a);
  EXPECT_FALSE(out[0].soft_reported);
}

TEST(RpcTable, ReplyBeforeExpireRunsIsTaken) {
  RpcTable table(0);
  auto a = *table.add(request(peer(1), 1, 300ms, 1s), t0);
  EXPECT_TRUE(table.take(a, peer(1), t0 + 1500ms)) << "genuine, and still in the table";
}

TEST(RpcTable, CancelByOwnerAndByTid) {
  RpcTable table(0);
  std::vector<TransactionId> ids;
  for (std::uint32_t i = 0; i < 10; ++i)
    ids.push_back(*table.add(request(peer(i), i % 3), t0));
  EXPECT_EQ(table.cancel_owner(1), 3u);  // 1, 4, 7
  EXPECT_EQ(table.size(), 7u);
  EXPECT_EQ(table.find(ids[4]), nullptr);
  EXPECT_FALSE(table.take(ids[4], peer(4), t0));
  EXPECT_EQ(table.counters().unknown_transaction, 1u);
  EXPECT_TRUE(table.cancel(ids[0]));
  EXPECT_FALSE(table.cancel(ids[0]));
  EXPECT_EQ(table.size(), 6u);
  EXPECT_EQ(table.cancel_owner(42), 0u);
}

TEST(RpcTable, DetachedQueriesLiveOnWithoutAnOwner) {
  RpcTable table(0);
  std::vector<TransactionId> ids;
  for (std::uint32_t i = 0; i < 6; ++i)
    ids.push_back(*table.add(request(peer(i), i % 2 + 1), t0));
  EXPECT_EQ(table.detach_owner(1), 3u);  // 0, 2, 4
  EXPECT_EQ(table.detach_owner(0), 0u) << "owner 0 is nobody";
  EXPECT_EQ(table.size(), 6u);
  ASSERT_NE(table.find(ids[2]), nullptr);
  EXPECT_EQ(table.find(ids[2])->owner, 0u);
  EXPECT_EQ(table.find(ids[3])->owner, 2u);
  auto late = table.take(ids[2], peer(2), t0 + 1s);
  ASSERT_TRUE(late) << "a detached query's reply is still matched";
  EXPECT_EQ(late->owner, 0u);
  std::vector<RpcEntry> failed;
  table.expire(t0 + 1h, failed);
  EXPECT_EQ(failed.size(), 5u) << "and the others still reach their hard deadline";
}

TEST(RpcTable, ShrinkKeepsOutstandingQueries) {
  RpcTable table(0);
  std::vector<TransactionId> ids;
  for (std::uint32_t i = 0; i < 100; ++i)
    ids.push_back(*table.add(request(peer(i)), t0));
  EXPECT_EQ(table.capacity(), 256u);
  for (std::uint32_t i = 0; i < 97; ++i)
    ASSERT_TRUE(table.take(ids[i], peer(i), t0));
  table.shrink_to_fit();
  EXPECT_LE(table.capacity(), 4u);
  for (std::uint32_t i = 97; i < 100; ++i) {
    const RpcEntry* e = table.find(ids[i]);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->destination, peer(i));
  }
  auto next = table.add(request(peer(500)), t0);
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 100) << "the counter goes on where it was";
}

}  // namespace
}  // namespace nexo::overlay
