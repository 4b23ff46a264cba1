// sim::Population at the scale: the sorted index gives the same k closest as
// brute force; concurrent lookups without churn are all exact; under continuous churn
// (mean lifetime 30 s) with sim::churn_config's policy, at least 99.9% of the gets of
// items put before and during the churn find them (the test), at N = 1,000 (at
// 10,000 it takes minutes: `nexo overlay sim --nodes 10000 --churn 30s` is that evidence).
// Prints the figures; asserts only logical outcomes.
#include "nexo/overlay/sim_population.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace nexo::overlay::sim {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;

#ifdef NEXO_SANITIZED
constexpr std::size_t kIndexNodes = 120;
constexpr std::size_t kLookupNodes = 200;
constexpr std::size_t kManyLookupNodes = 400;
constexpr std::size_t kLookups = 200;
constexpr std::size_t kChurnNodes = 150;
constexpr std::size_t kGets = 200;
#else
constexpr std::size_t kIndexNodes = 300;
constexpr std::size_t kLookups = 500;
constexpr std::size_t kLookupNodes = 1000;
constexpr std::size_t kManyLookupNodes = 10'000;
constexpr std::size_t kChurnNodes = 1000;
constexpr std::size_t kGets = 2000;
#endif

// NodeConfig::small_table: a node whose table holds one contact looks up its own id at the
// next maintenance (5 s), not after BEP 5's 15 minutes; with small_table = 0 it does not.
std::size_t own_id_lookups(std::size_t small_table) {
  const Time t0 = Time{} + 24h;
  const net::Endpoint self(net::InetAddress::v4({10, 0, 0, 1}), 6881);
  const net::Endpoint peer(net::InetAddress::v4({10, 0, 0, 2}), 6881);
  fault::Random rng(4);
  NodeConfig c;
  c.seed = 3;
  c.small_table = small_table;
  Node node(self, t0, c);
  krpc::Header h;
  h.tid = *krpc::Tid::from("aa");
  wire::Buffer out;
  const NodeId peer_id = NodeId::random(rng);
  krpc::encode_query(h, krpc::ping(peer_id), {}, out);
  node.on_datagram(as_bytes(out.text()), peer, t0);  // the peer enters the table
  std::size_t lookups = 0;
  Bytes bytes;
  net::Endpoint to;
  for (Time now = t0; now < t0 + 60s; now += 1s) {
    node.on_timer(now);
    std::vector<krpc::Message> sent;
    while (node.poll_transmit(bytes, to))
      if (auto m = krpc::parse(bytes, {}); m && m->query()) sent.push_back(std::move(*m));
    for (const krpc::Message& m : sent) {  // the peer answers every query, knowing nobody
      if (m.query()->method == krpc::Method::find_node && m.query()->target == node.id()) ++lookups;
      krpc::Header rh;
      rh.tid = m.tid;
      krpc::Response r;
      r.id = peer_id;
      wire::Buffer reply;
      krpc::encode_response(rh, r, {}, reply);
      node.on_datagram(as_bytes(reply.text()), peer, now + 10ms);
    }
  }
  EXPECT_EQ(node.routing_table().size(), 1u);
  return lookups;
}

TEST(SimPopulation, NodeWithASmallTableLooksUpItsOwnIdSooner) {
  EXPECT_EQ(own_id_lookups(0), 0u);
  EXPECT_GE(own_id_lookups(4), 2u);  // every 5 s while the table stays small
}

TEST(SimPopulation, ClosestLiveMatchesBruteForce) {
  Population pop({.nodes = kIndexNodes, .seed = 3});
  ASSERT_TRUE(pop.grow());
  fault::Random rng(9);
  for (int i = 0; i < 300; ++i) {
    const NodeId target =
        i % 3 == 0 ? pop.node(static_cast<Slot>(rng.below(kIndexNodes))).id() : NodeId::random(rng);
    const Slot except = i % 2 ? static_cast<Slot>(rng.below(kIndexNodes)) : kNoSlot;
    std::vector<NodeId> all;
    for (Slot s = 0; s < kIndexNodes; ++s)
      if (s != except) all.push_back(pop.node(s).id());
    std::sort(all.begin(), all.end(),
              [&](const NodeId& a, const NodeId& b) { return closer_to(target, a, b); });
    all.resize(8);
    ASSERT_EQ(pop.closest_live(target, 8, except), all) << "target " << target.to_hex();
  }
}

void concurrent_lookups_are_exact(std::size_t nodes, std::uint64_t seed) {
  Population pop({.nodes = nodes, .seed = seed});
  auto failed = pop.grow();
  ASSERT_TRUE(failed) << failed.error().to_string();
  EXPECT_EQ(*failed, 0u);
  std::size_t exact = 0, done = 0, datagrams = 0;
  auto abandoned = pop.pace({.count = kLookups, .rate = 200}, [&](Slot from, Population::Done d) {
    const NodeId target = NodeId::random(pop.random());
    return pop.node(from)
        .find_node(target, pop.now(),
                   [&, from, target, d](Result<std::vector<NodeInfo>> r, const OpStats& s) {
                     ++done;
                     datagrams += s.sent + s.received;
                     std::vector<NodeId> got;
                     if (r)
                       for (const auto& info : *r)
                         got.push_back(info.id);
                     exact += got == pop.closest_live(target, 8, from);
                     d();
                   })
        .has_value();
  });
  ASSERT_TRUE(abandoned) << abandoned.error().to_string();
  EXPECT_EQ(*abandoned, 0u);
  std::printf("%zu nodes: %zu of %zu concurrent lookups exact, %.1f datagrams per lookup\n", nodes,
              exact, done, static_cast<double>(datagrams) / done);
  EXPECT_EQ(done, kLookups);
  EXPECT_EQ(exact, done);
}

TEST(SimPopulation, ConcurrentLookupsAreExactWithoutChurn) {
  concurrent_lookups_are_exact(kLookupNodes, 5);
}

// The N = 10,000 (release build; the sanitizers' builds run fewer nodes).
TEST(SimPopulation, ConcurrentLookupsAreExactWithoutChurnAtTenThousand) {
  concurrent_lookups_are_exact(kManyLookupNodes, 6);
}

// Items put before the churn, churn for a minute, then gets (one more put every 10th get).
void put_get_under_churn(std::size_t nodes, std::size_t gets, std::uint64_t seed) {
  Population pop({.nodes = nodes, .seed = seed, .churn = 30s});
  auto failed = pop.grow();
  ASSERT_TRUE(failed) << failed.error().to_string();
  struct Item {
    NodeId key;
    std::string value;
  };
  std::vector<Item> items;
  std::size_t puts = 0, puts_done = 0, puts_ok = 0, number = 0;
  auto put = [&](Slot from, Population::Done d) {
    std::string value = encode_value(bencode::Value("value " + std::to_string(number++)));
    ++puts;
    auto started = pop.node(from).put_immutable(
        value, pop.now(), [&, value, d](Result<WriteResult> w, const OpStats&) {
          ++puts_done;
          if (w && w->stored > 0) {
            ++puts_ok;
            items.push_back({w->target, value});
          }
          if (d) d();
        });
    pop.net().kick(from);
    return started.has_value();
  };
  ASSERT_TRUE(pop.pace({.count = 20, .rate = 50}, put));
  ASSERT_EQ(items.size(), 20u);
  pop.start_churn();
  pop.net().run_for(60s);
  std::size_t started = 0, done = 0, found = 0;
  auto abandoned = pop.pace({.count = gets, .rate = 200}, [&](Slot from, Population::Done d) {
    if (started++ % 10 == 9) put(pop.random_joined(), nullptr);
    const Item item = items[pop.random().below(items.size())];
    return pop.node(from)
        .get_immutable(item.key, pop.now(),
                       [&, item, d](Result<GetImmutableResult> g, const OpStats&) {
                         ++done;
                         found += g && g->value && *g->value == item.value;
                         d();
                       })
        .has_value();
  });
  ASSERT_TRUE(abandoned) << abandoned.error().to_string();
  pop.stop_churn();
  std::printf(
      "%zu nodes, churn 30 s: %llu replaced; puts %zu of %zu stored (%zu ended with their "
      "requester); gets %zu of %zu found (%.2f%%), %zu abandoned (requester died)\n",
      nodes, static_cast<unsigned long long>(pop.churn()->deaths()), puts_ok, puts_done,
      puts - puts_done, found, done, 100.0 * static_cast<double>(found) / static_cast<double>(done),
      *abandoned);
  EXPECT_GE(pop.churn()->deaths(), nodes);  // every node replaced about twice
  EXPECT_EQ(done, gets);
  EXPECT_GT(items.size(), 20u);         // puts during the churn were stored and asked for
  EXPECT_GE(found * 1000, done * 999);  // the target: 99.9%
}

TEST(SimPopulation, PutGetUnderChurnAtOneThousand) {
  put_get_under_churn(kChurnNodes, kGets, 31);
}

}  // namespace
}  // namespace nexo::overlay::sim
