// RoutingTable: bucket splits, BEP 5 contact states, eviction only after a
// failed ping, the replacement cache, closest() against a brute-force sort,
// the one-contact-per-IP rule, refresh targets and endpoint changes. Time is
// a fake clock: plain Time values.
#include "nexo/overlay/routing_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;

const Time t0 = Time{} + 24h;

net::Endpoint local(std::uint16_t port) {
  return net::Endpoint(net::InetAddress::loopback(), port);
}

RoutingConfig loopback_config() {
  RoutingConfig c;
  c.one_contact_per_ip = false;  // every test node is on 127.0.0.1
  return c;
}

// An id sharing exactly `prefix` bits with `own` (so it lands in bucket
// `prefix` of a deep enough table), from a seeded generator.
NodeId at_depth(const NodeId& own, int prefix, fault::Random& rng) {
  return NodeId::random_in_bucket(own, prefix, rng);
}

// Every bucket holds only ids of its range, at most capacity() contacts and at most
// `replacements` cache entries, and no id twice.
void expect_invariants(const RoutingTable& table) {
  const std::size_t last = table.bucket_count() - 1;
  std::vector<NodeId> ids;
  for (std::size_t i = 0; i < table.bucket_count(); ++i) {
    EXPECT_LE(table.bucket(i).size(), table.capacity(i)) << "bucket " << i;
    const std::size_t factor =
        i < last && i < table.config().wide.size() ? table.config().wide[i] : 1;
    EXPECT_EQ(table.capacity(i), table.config().k * factor) << "bucket " << i;
    EXPECT_LE(table.replacements(i).size(), table.config().replacements) << "bucket " << i;
    for (std::span<const Contact> list : {table.bucket(i), table.replacements(i)})
      for (const Contact& c : list) {
        const auto shared = static_cast<std::size_t>(common_prefix_length(table.own_id(), c.id));
        if (i < last)
          EXPECT_EQ(shared, i) << c.id.to_hex();
        else
          EXPECT_GE(shared, last) << c.id.to_hex();
      }
    for (const Contact& c : table.bucket(i))
      ids.push_back(c.id);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end()) << "an id twice";
  EXPECT_EQ(ids.size(), table.size());
}

TEST(RoutingTable, ContactStaysSmall) {
  // The simulator holds 100,000 nodes in 4 GiB: keep a contact within 96 B.
  static_assert(sizeof(Contact) <= 96);
  EXPECT_LE(sizeof(Contact), 96u) << sizeof(Contact);
}

TEST(RoutingTable, OurOwnIdIsNeverInserted) {
  fault::Random rng(1);
  const NodeId own = NodeId::random(rng);
  RoutingTable table(own, t0, loopback_config());
  EXPECT_EQ(table.heard_from(own, local(1), t0, Heard::reply, 5ms).insertion, Insertion::own_id);
  EXPECT_EQ(table.heard_from(own, local(1), t0, Heard::query).insertion, Insertion::own_id);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.find(own), nullptr);
  EXPECT_EQ(table.failed(own, local(1), t0), Failure::unknown);
}

TEST(RoutingTable, OnlyTheBucketCoveringOurIdSplits) {
  fault::Random rng(2);
  const NodeId own = NodeId::random(rng);
  RoutingTable table(own, t0, loopback_config());
  std::uint16_t port = 1000;
  // k good contacts in the far half fill the single bucket.
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(table.heard_from(at_depth(own, 0, rng), local(port++), t0, Heard::reply).insertion,
              Insertion::added);
  EXPECT_EQ(table.bucket_count(), 1u);
  // A ninth splits it: the far half stays in bucket 0, full, and cannot split again.
  auto ninth = table.heard_from(at_depth(own, 0, rng), local(port++), t0, Heard::reply);
  EXPECT_EQ(ninth.insertion, Insertion::cached);
  EXPECT_FALSE(ninth.ping) << "every contact is good: nobody to ping";
  EXPECT_EQ(table.bucket_count(), 2u);
  EXPECT_EQ(table.bucket(0).size(), 8u);
  EXPECT_EQ(table.bucket(1).size(), 0u);
  // Contacts ever nearer us fill and split the last bucket, one depth at a time.
  for (int depth = 1; depth < 6; ++depth)
    for (int i = 0; i < 8; ++i)
      EXPECT_EQ(
          table.heard_from(at_depth(own, depth, rng), local(port++), t0, Heard::reply).insertion,
          Insertion::added);
  EXPECT_EQ(table.size(), 48u);
  EXPECT_GE(table.bucket_count(), 6u);
  expect_invariants(table);
  // A far newcomer still cannot get in: its bucket does not cover us.
  EXPECT_EQ(table.heard_from(at_depth(own, 2, rng), local(port++), t0, Heard::reply).insertion,
            Insertion::cached);
  EXPECT_EQ(table.bucket(2).size(), 8u);
}

// Wide buckets (libtorrent's extended table): bucket i holds k * wide[i] once it no longer
// covers our id; the last bucket still splits at k.
TEST(RoutingTable, WideBucketsHoldMoreFarFromUs) {
  fault::Random rng(21);
  const NodeId own = NodeId::random(rng);
  RoutingConfig config = loopback_config();
  config.wide = {4, 2};
  RoutingTable table(own, t0, config);
  std::uint16_t port = 1000;
  auto add = [&](int depth) {
    return table.heard_from(at_depth(own, depth, rng), local(port++), t0, Heard::reply).insertion;
  };
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(add(0), Insertion::added);
  EXPECT_EQ(table.bucket_count(), 1u) << "the last bucket holds k, then splits";
  EXPECT_EQ(table.capacity(0), 8u);
  for (int i = 8; i < 32; ++i)
    EXPECT_EQ(add(0), Insertion::added) << i;
  EXPECT_EQ(table.bucket_count(), 2u);
  EXPECT_EQ(table.capacity(0), 32u);
  EXPECT_EQ(add(0), Insertion::cached) << "bucket 0 is full at 4 k";
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(add(1), Insertion::added) << i;
  EXPECT_EQ(add(1), Insertion::cached) << "bucket 1 is full at 2 k";
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(add(2), Insertion::added) << i;
  EXPECT_EQ(add(2), Insertion::cached) << "bucket 2 is not wide";
  EXPECT_EQ(table.size(), 56u);
  expect_invariants(table);
  // closest() draws on the whole wide bucket: the 8 closest of its 32.
  const NodeId target = at_depth(own, 0, rng);
  std::vector<NodeId> far;
  for (const Contact& c : table.bucket(0))
    far.push_back(c.id);
  std::sort(far.begin(), far.end(),
            [&](const NodeId& a, const NodeId& b) { return closer_to(target, a, b); });
  far.resize(8);
  std::vector<NodeId> got;
  for (const NodeInfo& info : table.closest(target, 8, t0))
    got.push_back(info.id);
  EXPECT_EQ(got, far);
}

TEST(RoutingTable, WideFactorsAreClamped) {
  RoutingConfig config = loopback_config();
  config.wide = {0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  RoutingTable table(NodeId{}, t0, config);
  EXPECT_EQ(table.config().wide.size(), kMaxWideBuckets);
  EXPECT_EQ(table.config().wide[0], 1u) << "0 would be a bucket that holds nothing";
  EXPECT_EQ(table.config().wide[1], 3u);
}

TEST(RoutingTable, AnIdNextToOursSplitsDownToTheLastBit) {
  fault::Random rng(3);
  const NodeId own = NodeId::random(rng);
  RoutingConfig config = loopback_config();
  config.k = 1;
  RoutingTable table(own, t0, config);
  // k = 1: two ids sharing 158 and 159 bits force 159 splits, then 160 buckets.
  ASSERT_EQ(table.heard_from(at_depth(own, 158, rng), local(1), t0, Heard::reply).insertion,
            Insertion::added);
  ASSERT_EQ(table.heard_from(at_depth(own, 159, rng), local(2), t0, Heard::reply).insertion,
            Insertion::added);
  EXPECT_EQ(table.bucket_count(), 160u);
  expect_invariants(table);
  EXPECT_EQ(table.heard_from(at_depth(own, 0, rng), local(3), t0, Heard::reply).insertion,
            Insertion::added);
  EXPECT_EQ(table.bucket_count(), 160u) << "never more than 160 buckets";
}

TEST(RoutingTable, StatesFollowBep5) {
  fault::Random rng(4);
  const NodeId own = NodeId::random(rng);
  RoutingTable table(own, t0, loopback_config());
  const NodeId a = NodeId::random(rng), b = NodeId::random(rng);
  table.heard_from(a, local(1), t0, Heard::reply, 20ms);
  table.heard_from(b, local(2), t0, Heard::query);
  EXPECT_EQ(table.state(*table.find(a), t0), ContactState::good);
  EXPECT_EQ(table.state(*table.find(b), t0), ContactState::questionable) << "never answered us";
  // 15 minutes of silence: questionable. A query from it after an earlier
  // reply makes it good again (BEP 5); a query alone never does.
  EXPECT_EQ(table.state(*table.find(a), t0 + 15min), ContactState::questionable);
  table.heard_from(a, local(1), t0 + 20min, Heard::query);
  table.heard_from(b, local(2), t0 + 20min, Heard::query);
  EXPECT_EQ(table.state(*table.find(a), t0 + 20min), ContactState::good);
  EXPECT_EQ(table.state(*table.find(b), t0 + 20min), ContactState::questionable);
  // One failure: questionable; two in a row: bad; a reply: good again.
  EXPECT_EQ(table.failed(a, local(1), t0 + 21min), Failure::counted);
  EXPECT_EQ(table.state(*table.find(a), t0 + 21min), ContactState::questionable);
  EXPECT_EQ(table.failed(a, local(1), t0 + 22min), Failure::counted);
  EXPECT_EQ(table.state(*table.find(a), t0 + 22min), ContactState::bad);
  table.heard_from(a, local(1), t0 + 23min, Heard::reply);
  EXPECT_EQ(table.state(*table.find(a), t0 + 23min), ContactState::good);
  EXPECT_EQ(table.find(a)->failures, 0);
}

// A table whose far bucket (0) is full of contacts last heard at t0 + i s,
// split once so that bucket 0 cannot split again.
struct FullBucket {
  explicit FullBucket(std::uint64_t seed, RoutingConfig config = loopback_config())
      : rng(seed), own(NodeId::random(rng)), table(own, t0, config) {
    for (int i = 0; i < 8; ++i) {
      far.push_back(at_depth(own, 0, rng));
      table.heard_from(far.back(), local(static_cast<std::uint16_t>(100 + i)),
                       t0 + std::chrono::seconds(i), Heard::reply, 30ms);
    }
    table.heard_from(at_depth(own, 1, rng), local(99), t0, Heard::reply);  // splits
    EXPECT_EQ(table.bucket_count(), 2u);
  }
  fault::Random rng;
  NodeId own;
  RoutingTable table;
  std::vector<NodeId> far;  // far[i] seen at t0 + i s
};

TEST(RoutingTable, TheLeastRecentlySeenQuestionableContactIsPingedNotEvicted) {
  FullBucket f(5);
  const Time later = t0 + 30min;  // every contact questionable now
  const NodeId n1 = at_depth(f.own, 0, f.rng), n2 = at_depth(f.own, 0, f.rng);
  auto r1 = f.table.heard_from(n1, local(201), later, Heard::query);
  EXPECT_EQ(r1.insertion, Insertion::cached);
  ASSERT_TRUE(r1.ping);
  EXPECT_EQ(r1.ping->id, f.far[0]) << "the least recently seen";
  EXPECT_EQ(r1.ping->endpoint, local(100));
  EXPECT_NE(f.table.find(f.far[0]), nullptr) << "nothing evicted before the ping fails";
  // The next newcomer pings the next one: far[0] is already being pinged.
  auto r2 = f.table.heard_from(n2, local(202), later + 1s, Heard::query);
  ASSERT_TRUE(r2.ping);
  EXPECT_EQ(r2.ping->id, f.far[1]);
  EXPECT_EQ(f.table.replacements(0).size(), 2u);
  // far[0]'s ping times out: it goes, the most recently seen newcomer (n2) comes in.
  EXPECT_EQ(f.table.failed(f.far[0], local(100), later + 2s), Failure::evicted);
  EXPECT_EQ(f.table.find(f.far[0]), nullptr);
  ASSERT_NE(f.table.find(n2), nullptr);
  EXPECT_EQ(f.table.find(n2)->endpoint, local(202));
  EXPECT_EQ(f.table.replacements(0).size(), 1u);
  EXPECT_EQ(f.table.replacements(0)[0].id, n1);
  // far[1] answers its ping: it stays and n1 keeps waiting in the cache.
  EXPECT_EQ(f.table.heard_from(f.far[1], local(101), later + 3s, Heard::reply, 40ms).insertion,
            Insertion::updated);
  EXPECT_EQ(f.table.state(*f.table.find(f.far[1]), later + 3s), ContactState::good);
  EXPECT_FALSE(f.table.find(f.far[1])->ping_pending);
  EXPECT_EQ(f.table.find(n1), nullptr);
  EXPECT_EQ(f.table.size(), 9u);
  expect_invariants(f.table);
}

TEST(RoutingTable, GoodContactsAreNeverEvictedForANewcomer) {
  FullBucket f(6);
  for (int i = 0; i < 20; ++i) {
    auto r =
        f.table.heard_from(at_depth(f.own, 0, f.rng), local(static_cast<std::uint16_t>(300 + i)),
                           t0 + 1min, Heard::reply);
    EXPECT_EQ(r.insertion, Insertion::cached);
    EXPECT_FALSE(r.ping);
  }
  for (const NodeId& id : f.far)
    EXPECT_NE(f.table.find(id), nullptr);
}

TEST(RoutingTable, TheReplacementCacheIsBoundedAndKeepsTheMostRecent) {
  RoutingConfig config = loopback_config();
  config.replacements = 2;
  FullBucket f(7, config);
  std::vector<NodeId> newcomers;
  for (int i = 0; i < 5; ++i) {
    newcomers.push_back(at_depth(f.own, 0, f.rng));
    f.table.heard_from(newcomers.back(), local(static_cast<std::uint16_t>(400 + i)),
                       t0 + std::chrono::minutes(1 + i), Heard::query);
  }
  ASSERT_EQ(f.table.replacements(0).size(), 2u);
  EXPECT_EQ(f.table.replacements(0)[0].id, newcomers[3]);
  EXPECT_EQ(f.table.replacements(0)[1].id, newcomers[4]);
  // Heard again, an entry moves to the most recent end rather than doubling.
  f.table.heard_from(newcomers[3], local(403), t0 + 10min, Heard::query);
  ASSERT_EQ(f.table.replacements(0).size(), 2u);
  EXPECT_EQ(f.table.replacements(0)[1].id, newcomers[3]);
  // No cache at all: a newcomer to a full bucket is discarded.
  RoutingConfig none = loopback_config();
  none.replacements = 0;
  FullBucket g(8, none);
  EXPECT_EQ(g.table.heard_from(at_depth(g.own, 0, g.rng), local(500), t0, Heard::query).insertion,
            Insertion::discarded);
  EXPECT_EQ(g.table.replacement_count(), 0u);
}

TEST(RoutingTable, ABadContactGivesWayAtOnce) {
  FullBucket f(9);
  // far[3] fails twice with an empty cache: bad, but kept until needed.
  EXPECT_EQ(f.table.failed(f.far[3], local(103), t0 + 1min), Failure::counted);
  EXPECT_EQ(f.table.failed(f.far[3], local(103), t0 + 1min), Failure::counted);
  ASSERT_NE(f.table.find(f.far[3]), nullptr);
  EXPECT_EQ(f.table.state(*f.table.find(f.far[3]), t0 + 1min), ContactState::bad);
  const NodeId n = at_depth(f.own, 0, f.rng);
  auto r = f.table.heard_from(n, local(600), t0 + 2min, Heard::query);
  EXPECT_EQ(r.insertion, Insertion::replaced_bad);
  EXPECT_FALSE(r.ping);
  EXPECT_EQ(f.table.find(f.far[3]), nullptr);
  EXPECT_NE(f.table.find(n), nullptr);
}

TEST(RoutingTable, AContactTurningBadIsReplacedFromTheCache) {
  FullBucket f(10);
  const NodeId waiting = at_depth(f.own, 0, f.rng);
  EXPECT_EQ(f.table.heard_from(waiting, local(700), t0 + 1min, Heard::query).insertion,
            Insertion::cached);
  EXPECT_EQ(f.table.failed(f.far[5], local(105), t0 + 2min), Failure::counted);
  EXPECT_EQ(f.table.failed(f.far[5], local(105), t0 + 3min), Failure::evicted);
  EXPECT_EQ(f.table.find(f.far[5]), nullptr);
  EXPECT_NE(f.table.find(waiting), nullptr);
  EXPECT_EQ(f.table.replacement_count(), 0u);
}

TEST(RoutingTable, AKnownIdFromAnotherEndpointKeepsTheOldOneUntilItFails) {
  FullBucket f(11);
  const NodeId victim = f.far[2];
  // A stranger claims the id: the contact does not move; the old endpoint is pinged.
  auto claim = f.table.heard_from(victim, local(6666), t0 + 1min, Heard::reply, 1ms);
  EXPECT_EQ(claim.insertion, Insertion::endpoint_conflict);
  ASSERT_TRUE(claim.ping);
  EXPECT_EQ(claim.ping->endpoint, local(102));
  EXPECT_EQ(f.table.find(victim)->endpoint, local(102));
  EXPECT_EQ(f.table.find(victim)->last_seen, t0 + 2s) << "the claim does not refresh it";
  // A failure reported for the claimed endpoint is not the contact's.
  EXPECT_EQ(f.table.failed(victim, local(6666), t0 + 2min), Failure::unknown);
  // The real node answers: it stays where it was.
  f.table.heard_from(victim, local(102), t0 + 2min, Heard::reply);
  EXPECT_EQ(f.table.find(victim)->endpoint, local(102));
  // Claimed again; this time the old endpoint is silent: the node has moved.
  auto again = f.table.heard_from(victim, local(7777), t0 + 3min, Heard::query);
  ASSERT_TRUE(again.ping);
  EXPECT_EQ(f.table.failed(victim, local(102), t0 + 4min), Failure::evicted);
  ASSERT_NE(f.table.find(victim), nullptr);
  EXPECT_EQ(f.table.find(victim)->endpoint, local(7777));
  expect_invariants(f.table);
}

TEST(RoutingTable, StaleCacheEntriesAreNotPromotedTwice) {
  FullBucket f(12);
  // An endpoint claim for far[0] waits in the cache while far[0] is answering.
  f.table.heard_from(f.far[0], local(9000), t0 + 1min, Heard::query);
  f.table.heard_from(f.far[0], local(100), t0 + 1min, Heard::reply);
  // Another contact goes bad: the claim must not fill its slot (far[0] is in the table).
  f.table.failed(f.far[4], local(104), t0 + 2min);
  EXPECT_EQ(f.table.failed(f.far[4], local(104), t0 + 2min), Failure::counted);
  EXPECT_EQ(f.table.replacement_count(), 0u);
  expect_invariants(f.table);
}

TEST(RoutingTable, RemoveFillsTheSlotFromTheCache) {
  FullBucket f(13);
  const NodeId waiting = at_depth(f.own, 0, f.rng);
  f.table.heard_from(waiting, local(800), t0 + 1min, Heard::query);
  EXPECT_TRUE(f.table.remove(f.far[7]));
  EXPECT_EQ(f.table.find(f.far[7]), nullptr);
  EXPECT_NE(f.table.find(waiting), nullptr);
  EXPECT_FALSE(f.table.remove(f.far[7]));
  EXPECT_TRUE(f.table.remove(waiting));
  EXPECT_EQ(f.table.bucket(0).size(), 7u);
  expect_invariants(f.table);
}

TEST(RoutingTable, OneContactPerIpWhenAsked) {
  fault::Random rng(14);
  const NodeId own = NodeId::random(rng);
  RoutingConfig strict;  // the default: on
  ASSERT_TRUE(strict.one_contact_per_ip);
  RoutingTable table(own, t0, strict);
  const auto a = *net::Endpoint::parse("192.0.2.1:1000");
  const auto same_ip = *net::Endpoint::parse("192.0.2.1:2000");
  const auto other_ip = *net::Endpoint::parse("192.0.2.2:1000");
  const NodeId x = NodeId::random(rng), y = NodeId::random(rng), z = NodeId::random(rng);
  EXPECT_EQ(table.heard_from(x, a, t0, Heard::reply).insertion, Insertion::added);
  EXPECT_EQ(table.heard_from(y, same_ip, t0, Heard::reply).insertion, Insertion::ip_taken);
  EXPECT_EQ(table.heard_from(z, other_ip, t0, Heard::reply).insertion, Insertion::added);
  EXPECT_EQ(table.heard_from(x, a, t0, Heard::reply).insertion, Insertion::updated);
  EXPECT_EQ(table.size(), 2u);
  // Off: every node on 127.0.0.1 gets in.
  RoutingTable open(own, t0, loopback_config());
  for (std::uint16_t port = 1; port <= 50; ++port)
    open.heard_from(NodeId::random(rng), local(port), t0, Heard::reply);
  EXPECT_GT(open.size(), 8u);
  expect_invariants(open);
}

TEST(RoutingTable, RefreshTargetsFallInTheirBuckets) {
  fault::Random rng(15);
  const NodeId own = NodeId::random(rng);
  RoutingTable table(own, t0, loopback_config());
  std::uint16_t port = 1;
  for (int depth = 0; depth < 5; ++depth)
    for (int i = 0; i < 8; ++i)
      table.heard_from(at_depth(own, depth, rng), local(port++), t0, Heard::reply);
  const std::size_t buckets = table.bucket_count();
  ASSERT_GE(buckets, 5u);
  EXPECT_TRUE(table.refresh_targets(t0 + 14min, rng).empty());
  EXPECT_EQ(table.next_refresh(), t0 + 15min);
  // A reply keeps bucket 1 fresh; the others are due at 15 minutes.
  table.heard_from(table.bucket(1)[0].id, table.bucket(1)[0].endpoint, t0 + 10min, Heard::reply);
  const auto targets = table.refresh_targets(t0 + 15min, rng);
  ASSERT_EQ(targets.size(), buckets - 1);
  std::vector<std::size_t> covered;
  for (const NodeId& target : targets)
    covered.push_back(table.bucket_index(target));
  std::vector<std::size_t> expected;
  for (std::size_t i = 0; i < buckets; ++i)
    if (i != 1) expected.push_back(i);
  EXPECT_EQ(covered, expected) << "one target in each stale bucket, in its range";
  EXPECT_TRUE(table.refresh_targets(t0 + 16min, rng).empty()) << "once per interval";
  EXPECT_EQ(table.next_refresh(), t0 + 25min);
  const auto bucket1 = table.refresh_targets(t0 + 25min, rng);
  ASSERT_EQ(bucket1.size(), 1u);
  EXPECT_EQ(table.bucket_index(bucket1[0]), 1u);
}

TEST(RoutingTable, TimeoutsComeFromTheContactOrTheNode) {
  fault::Random rng(16);
  RoutingConfig config = loopback_config();
  config.rtt.min_rto = 1ms;
  RoutingTable table(NodeId::random(rng), t0, config);
  const NodeId a = NodeId::random(rng), stranger = NodeId::random(rng);
  EXPECT_EQ(table.timeout_for(stranger), Duration(1s)) << "initial_rto before any reply";
  table.heard_from(a, local(1), t0, Heard::reply, 10ms);
  EXPECT_EQ(table.timeout_for(a), Duration(30ms)) << "SRTT + 4 RTTVAR of its one sample";
  EXPECT_EQ(table.timeout_for(stranger), Duration(30ms)) << "the node-wide estimate";
  // Replies from others move the node-wide estimate, not a's.
  const NodeId b = NodeId::random(rng);
  for (int i = 0; i < 50; ++i)
    table.heard_from(b, local(2), t0, Heard::reply, 100ms);
  EXPECT_EQ(table.timeout_for(a), Duration(30ms));
  EXPECT_GT(table.timeout_for(stranger), Duration(90ms));
  // A timeout doubles a's; its next reply resets the backoff.
  table.failed(a, local(1), t0 + 1s);
  EXPECT_EQ(table.timeout_for(a), Duration(60ms));
  table.heard_from(a, local(1), t0 + 2s, Heard::reply, 10ms);
  EXPECT_LE(table.timeout_for(a), Duration(30ms));
}

// closest() by brute force: every non-bad contact, the n closest good ones
// first, questionable ones for the rest, then in distance order.
std::vector<NodeInfo> brute_closest(const RoutingTable& table, const NodeId& target, std::size_t n,
                                    Time now) {
  std::vector<const Contact*> good, fair;
  for (std::size_t i = 0; i < table.bucket_count(); ++i)
    for (const Contact& c : table.bucket(i)) {
      const auto s = table.state(c, now);
      if (s == ContactState::good) good.push_back(&c);
      if (s == ContactState::questionable) fair.push_back(&c);
    }
  auto by_distance = [&](const Contact* a, const Contact* b) {
    return distance(a->id, target) < distance(b->id, target);
  };
  std::sort(good.begin(), good.end(), by_distance);
  std::sort(fair.begin(), fair.end(), by_distance);
  std::vector<const Contact*> chosen(good.begin(), good.begin() + std::min(n, good.size()));
  for (std::size_t i = 0; chosen.size() < n && i < fair.size(); ++i)
    chosen.push_back(fair[i]);
  std::sort(chosen.begin(), chosen.end(), by_distance);
  std::vector<NodeInfo> out;
  for (const Contact* c : chosen)
    out.push_back(c->info());
  return out;
}

TEST(RoutingTable, ClosestAgreesWithABruteForceSort) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    fault::Random rng(seed);
    const NodeId own = NodeId::random(rng);
    RoutingConfig config = loopback_config();
    config.k = 1 + static_cast<std::size_t>(rng.below(12));
    RoutingTable table(own, t0, config);
    const Time now = t0 + 1h;
    const int contacts = 50 + static_cast<int>(rng.below(1500));
    for (int i = 0; i < contacts; ++i) {
      // Half uniformly random, half near us: deep tables, many buckets.
      const NodeId id = rng.chance(0.5) ? NodeId::random(rng)
                                        : at_depth(own, static_cast<int>(rng.below(40)), rng);
      const auto port = static_cast<std::uint16_t>(1 + rng.below(60000));
      // A mix of states: good, stale, never answered, failing.
      const Time when = rng.chance(0.3) ? t0 : now - std::chrono::seconds(rng.below(600));
      table.heard_from(id, local(port), when, rng.chance(0.7) ? Heard::reply : Heard::query);
      if (rng.chance(0.15)) table.failed(id, local(port), when);
      if (rng.chance(0.1)) table.failed(id, local(port), when);
    }
    expect_invariants(table);
    for (int q = 0; q < 50; ++q) {
      const NodeId target =
          q % 5 == 0 ? own
          : q % 5 == 1
              ? at_depth(
                    own,
                    static_cast<int>(rng.below(static_cast<std::uint64_t>(table.bucket_count()))),
                    rng)
              : NodeId::random(rng);
      for (std::size_t n : {std::size_t{1}, std::size_t{3}, config.k, std::size_t{20}, table.size(),
                            table.size() + 5}) {
        ASSERT_EQ(table.closest(target, n, now), brute_closest(table, target, n, now))
            << "seed " << seed << " query " << q << " n " << n;
      }
    }
  }
}

TEST(RoutingTable, ClosestExcludesBadContactsAndPrefersGoodOnes) {
  fault::Random rng(17);
  const NodeId own = NodeId::random(rng);
  RoutingTable table(own, t0, loopback_config());
  const NodeId target = NodeId::random(rng);
  // near: questionable (never answered); mid: good; dead: bad.
  const NodeId near = NodeId::random_with_prefix(target, 40, rng);
  const NodeId mid = NodeId::random_with_prefix(target, 20, rng);
  const NodeId dead = NodeId::random_with_prefix(target, 60, rng);
  table.heard_from(near, local(1), t0, Heard::query);
  table.heard_from(mid, local(2), t0, Heard::reply);
  table.heard_from(dead, local(3), t0, Heard::reply);
  table.failed(dead, local(3), t0);
  table.failed(dead, local(3), t0);
  auto one = table.closest(target, 1, t0);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].id, mid) << "a good contact before a closer questionable one";
  auto all = table.closest(target, 5, t0);
  ASSERT_EQ(all.size(), 2u) << "the bad one never";
  EXPECT_EQ(all[0].id, near) << "in distance order";
  EXPECT_EQ(all[1].id, mid);
  EXPECT_TRUE(table.closest(target, 0, t0).empty());
}

class RandomTraffic : public ::testing::TestWithParam<std::vector<std::uint8_t>> {};

TEST_P(RandomTraffic, KeepsTheInvariants) {
  fault::Random rng(18);
  const NodeId own = NodeId::random(rng);
  RoutingConfig config = loopback_config();
  config.wide = GetParam();
  RoutingTable table(own, t0, config);
  std::vector<std::pair<NodeId, net::Endpoint>> known;
  Time now = t0;
  for (int i = 0; i < 20000; ++i) {
    now += std::chrono::milliseconds(rng.below(500));
    const auto action = rng.below(10);
    if (known.empty() || action < 4) {
      known.emplace_back(rng.chance(0.5) ? NodeId::random(rng)
                                         : at_depth(own, static_cast<int>(rng.below(20)), rng),
                         local(static_cast<std::uint16_t>(1 + rng.below(60000))));
      auto r = table.heard_from(known.back().first, known.back().second, now, Heard::query);
      if (r.ping && rng.chance(0.5)) table.failed(r.ping->id, r.ping->endpoint, now);
      continue;
    }
    const auto& [id, endpoint] = known[rng.below(known.size())];
    if (action < 7)
      table.heard_from(id, endpoint, now, Heard::reply, std::chrono::milliseconds(rng.below(300)));
    else if (action < 9)
      table.failed(id, endpoint, now);
    else
      table.heard_from(id, local(static_cast<std::uint16_t>(1 + rng.below(60000))), now,
                       Heard::query);
  }
  expect_invariants(table);
  EXPECT_GT(table.size(), 50u);
}

INSTANTIATE_TEST_SUITE_P(RoutingTable, RandomTraffic,
                         ::testing::Values(std::vector<std::uint8_t>{},
                                           std::vector<std::uint8_t>{16, 8, 4, 2}));

}  // namespace
}  // namespace nexo::overlay
