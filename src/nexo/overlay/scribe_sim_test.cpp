// Scribe on sim::Network at scale: a few hundred members of one topic among N = 1,000
// nodes (10,000 too in the release build), publishes from random nodes (members or not)
// reach every live member exactly once (checked by brute force over the live members);
// a quarter of the nodes crash, the root and interior tree nodes among them, the tree
// repairs, and the next publishes reach every live member; the same at 5% loss; and under
// continuous churn (mean lifetime 30 s) every (member, message) pair alive through the
// message's dissemination window is delivered, but for the precisely defined cases the
// tree's convergence is to blame for (counted; see the test). No node ever holds more children than
// the fan-out cap. Prints the tree's depth, datagrams per delivered message and the repair time;
// asserts only logical outcomes. Deterministic for its seeds (SCRIBE_SIM_SEED=N shifts them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nexo/overlay/scribe_test_nodes.hpp"
#include "nexo/overlay/sim_churn.hpp"
#include "nexo/overlay/sim_population.hpp"

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;
using scribe_test::Group;
using sim::Slot;

constexpr std::size_t kChurnLostPercent = 3;  // lost + stranded, of the expected pairs
constexpr std::size_t kChurnMissPercent = 5;  // lost + stranded + cut off

#ifdef NEXO_SANITIZED  // fewer nodes (churn: 200, see DeliversUnderChurn)
constexpr std::size_t kNodes = 150;
constexpr std::size_t kMembers = 50;
constexpr std::size_t kLossNodes = 100;
constexpr std::size_t kChurnNodes = 200;
#else
constexpr std::size_t kNodes = 1000;
constexpr std::size_t kMembers = 300;
constexpr std::size_t kLossNodes = 300;
constexpr std::size_t kChurnNodes = 500;
#endif

constexpr const char* kTopic = "sim/news";

struct Published {
  NodeId publisher;
  std::int64_t sequence;
  Time at;
};

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

class ScribeSim {
 public:
  // SCRIBE_SIM_SEED=N in the environment shifts every seed by N (other runs, same checks).
  static std::uint64_t shifted(std::uint64_t seed) {
    const char* shift = std::getenv("SCRIBE_SIM_SEED");
    return seed + (shift ? std::strtoull(shift, nullptr, 10) : 0);
  }
  ScribeSim(std::uint64_t seed, double loss = 0)
      : g(shifted(seed), loss), rng(shifted(seed) * 31 + 1) {
    g.scribe.beat_interval = 1s;
    g.scribe.root_check_interval = 5s;
  }

  std::vector<Slot> pick(std::size_t n) {
    auto live = g.live();
    std::vector<Slot> out;
    while (out.size() < n && out.size() < live.size()) {
      const Slot s = live[rng.below(live.size())];
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    }
    return out;
  }
  void join_all() {
    for (Slot m : members)
      g.join(m, kTopic);
  }
  // Runs until the tree has converged (see Group::converged); says why not when it has not.
  bool converge(Duration limit) {
    if (g.net().run_until([&] { return g.converged(key, members); }, g.net().now() + limit))
      return true;
    const Slot root = g.closest(key);
    std::printf("  not converged: %zu roots, the closest (slot %u) %s\n", g.shape(key).roots, root,
                g.host(root).scribe.describe(key, g.net().now()).c_str());
    int shown = 0;
    for (Slot m : members)
      if (g.alive(m) && !g.connected(key, m) && ++shown <= 5)
        std::printf("  %s\n", g.chain(key, m).c_str());
    return false;
  }
  Slot random_live() {
    auto live = g.live();
    return live[rng.below(live.size())];
  }
  // Publishes `n` messages from random live nodes, `gap` apart, while the network runs.
  void publish(int n, Duration gap) {
    for (int i = 0; i < n; ++i) {
      const Slot from = random_live();
      const auto seq = g.publish(from, kTopic, "message " + std::to_string(sent.size()));
      sent.push_back({g.host(from).node.id(), seq, g.net().now()});
      g.net().run_for(gap);
    }
  }
  // Live members that did not get `p` exactly once.
  std::size_t misses(const Published& p, const std::vector<Slot>& who) {
    std::size_t missed = 0;
    for (Slot m : who) {
      if (!g.alive(m) || g.host(m).count(p.publisher, p.sequence) == 1) continue;
      ++missed;
      if (missed <= 3)
        std::printf("  missed by slot %u (got it %zu times): %s\n", m,
                    g.host(m).count(p.publisher, p.sequence), g.chain(key, m).c_str());
    }
    return missed;
  }
  std::size_t max_children() {
    std::size_t most = 0;
    for (Slot s = 0; s < g.net().slots(); ++s)
      if (g.net().state(s) != sim::NodeState::removed)
        most = std::max(most, g.host(s).scribe.children(key).size());
    return most;
  }
  // Message queries sent (nexo_msg, nexo_pub, retries included) by every node.
  std::uint64_t forwarded() {
    std::uint64_t n = 0;
    for (Slot s = 0; s < g.net().slots(); ++s)
      if (g.net().state(s) != sim::NodeState::removed) n += g.host(s).scribe.counters().forwarded;
    return n;
  }
  // The root `s` reaches by its parent links (every node on the way alive), if any.
  std::optional<Slot> root_of(Slot s) {
    for (int hops = 0; hops < 64; ++hops) {
      if (!g.alive(s)) return std::nullopt;
      const Scribe& sc = g.host(s).scribe;
      if (sc.is_root(key)) return s;
      auto parent = sc.parent(key);
      if (!sc.attached(key) || !parent) return std::nullopt;
      auto next = g.net().find(parent->endpoint);
      if (!next) return std::nullopt;
      s = *next;
    }
    return std::nullopt;  // a loop
  }
  std::uint64_t deliveries() {
    std::uint64_t n = 0;
    for (Slot s = 0; s < g.net().slots(); ++s)
      if (g.net().state(s) != sim::NodeState::removed) n += g.host(s).got.size();
    return n;
  }

  Group g;
  fault::Random rng;
  const NodeId key = Scribe::topic_key(kTopic);
  std::vector<Slot> members;
  std::vector<Published> sent;
};

void delivers_and_repairs(std::size_t nodes, std::size_t members, std::uint64_t seed) {
  ScribeSim sim(seed);
  sim.g.grow(nodes);
  sim.members = sim.pick(members);
  const Time joined_at = sim.g.net().now();
  sim.join_all();
  ASSERT_TRUE(sim.converge(120s)) << "the tree did not converge";
  const auto shape = sim.g.shape(sim.key);
  std::printf(
      "N=%zu, %zu members: tree of %zu nodes built in %.1f s, depth %zu, "
      "most children %zu\n",
      nodes, members, shape.in_tree, seconds(sim.g.net().now() - joined_at), shape.max_depth,
      shape.max_children);

  const auto before = sim.g.net().counters().sent;
  const auto delivered_before = sim.deliveries();
  const auto forwarded_before = sim.forwarded();
  const Time window = sim.g.net().now();
  sim.publish(10, 200ms);
  sim.g.net().run_for(10s);
  for (const auto& p : sim.sent)
    EXPECT_EQ(sim.misses(p, sim.members), 0u) << "message " << p.sequence;
  const double delivered = static_cast<double>(sim.deliveries() - delivered_before);
  std::printf(
      "10 publishes: %.0f deliveries, %.2f datagrams per delivered message "
      "(all traffic over %.0f s, heartbeats and the DHT's included; the messages' own queries "
      "and replies: %.2f)\n",
      delivered,
      static_cast<double>(sim.g.net().counters().sent - before) / std::max(delivered, 1.0),
      seconds(sim.g.net().now() - window),
      2.0 * static_cast<double>(sim.forwarded() - forwarded_before) / std::max(delivered, 1.0));
  EXPECT_LE(sim.max_children(), sim.g.scribe.fanout);

  // A quarter of the nodes crash: the root, interior tree nodes, and random others.
  std::vector<Slot> doomed{sim.g.closest(sim.key)};
  std::size_t interior = 0;
  for (Slot s : sim.g.live()) {
    if (interior < 10 && !sim.g.host(s).scribe.children(sim.key).empty() &&
        sim.g.host(s).scribe.attached(sim.key)) {
      doomed.push_back(s);
      ++interior;
    }
  }
  for (Slot s : sim.pick(nodes / 4))
    if (std::find(doomed.begin(), doomed.end(), s) == doomed.end() && doomed.size() < nodes / 4)
      doomed.push_back(s);
  for (Slot s : doomed)
    sim.g.net().crash(s);
  const Time crashed_at = sim.g.net().now();
  if (std::getenv("SCRIBE_SIM_DEBUG")) {  // the repair second by second
    for (int i = 0; i < 20; ++i) {
      sim.g.net().run_for(1s);
      std::size_t connected = 0, live = 0;
      for (Slot m : sim.members)
        if (sim.g.alive(m)) ++live, connected += sim.g.connected(sim.key, m);
      const auto sh = sim.g.shape(sim.key);
      std::printf("  t+%ds: %zu/%zu members connected, %zu roots, closest is root %d\n", i + 1,
                  connected, live, sh.roots,
                  int(sim.g.host(sim.g.closest(sim.key)).scribe.is_root(sim.key)));
      if (i == 10)
        for (Slot m : sim.members)
          if (sim.g.alive(m) && !sim.g.connected(sim.key, m))
            std::printf("    %s\n", sim.g.chain(sim.key, m).c_str());
    }
  }
  ASSERT_TRUE(sim.converge(180s)) << "the tree did not repair";
  std::printf(
      "%zu nodes crashed (the root and %zu interior): tree repaired in %.1f s, "
      "depth %zu\n",
      doomed.size(), interior, seconds(sim.g.net().now() - crashed_at),
      sim.g.shape(sim.key).max_depth);
  const std::size_t first = sim.sent.size();
  sim.publish(5, 200ms);
  sim.g.net().run_for(10s);
  std::size_t live_members = 0;
  for (Slot m : sim.members)
    live_members += sim.g.alive(m);
  for (std::size_t i = first; i < sim.sent.size(); ++i)
    EXPECT_EQ(sim.misses(sim.sent[i], sim.members), 0u) << "message " << i << " after the crash";
  std::printf("after the crash: %zu live members, 5 publishes delivered to all\n", live_members);
  EXPECT_LE(sim.max_children(), sim.g.scribe.fanout);
}

TEST(ScribeSim, DeliversToEveryLiveMemberAndRepairsAfterCrashes) {
  delivers_and_repairs(kNodes, kMembers, 21);
}

#ifndef NEXO_SANITIZED
TEST(ScribeSim, TenThousandNodes) {
  delivers_and_repairs(10000, 500, 23);
}
#endif

TEST(ScribeSim, DeliversAtFivePercentLoss) {
  ScribeSim sim(25, 0.05);
  sim.g.grow(kLossNodes);
  sim.members = sim.pick(kLossNodes / 3);
  sim.join_all();
  ASSERT_TRUE(sim.converge(120s));
  sim.publish(10, 300ms);
  sim.g.net().run_for(15s);
  for (const auto& p : sim.sent)
    EXPECT_EQ(sim.misses(p, sim.members), 0u) << "message " << p.sequence;
  EXPECT_LE(sim.max_children(), sim.g.scribe.fanout);
  std::uint64_t retries = 0, rejoins = 0;
  for (Slot s : sim.g.live()) {
    retries += sim.g.host(s).scribe.counters().retries;
    rejoins += sim.g.host(s).scribe.counters().rejoins;
  }
  std::printf(
      "5%% loss, %zu nodes, %zu members: every message delivered once; %llu retries, "
      "%llu re-joins\n",
      kLossNodes, sim.members.size(), static_cast<unsigned long long>(retries),
      static_cast<unsigned long long>(rejoins));
}

// Continuous churn: every node lives 30 s on average; a member that dies is replaced by
// its newborn successor, which joins. A message must reach every member that had joined
// when it was published and stays alive for its dissemination window.
TEST(ScribeSim, DeliversUnderChurn) {
  ScribeSim sim(27);
  // A subtree cut off gets what it missed from its new parent's history: at one message a
  // second, 32 cover the 30 s window (with the default 16, 2 of 746 deliveries were missed
  // at 500 nodes: subtrees cut off for longer than 16 messages).
  sim.g.scribe.history = 32;
  // The nodes' churn policy (sim_population.hpp): a contact unheard of for a lifetime is no
  // longer good, one failure makes it bad, answers put fresh contacts first, and a node whose
  // table runs low refreshes it (without, a node whose contacts all died stays alone: the
  // root of a fragment, or a member cut off, for the rest of the run).
  sim.g.tune_node = [](NodeConfig& c) { c = sim::churn_config(c, 30s); };
  sim.g.grow(kChurnNodes);
  sim.members = sim.pick(kChurnNodes / 4);
  sim.join_all();
  ASSERT_TRUE(sim.converge(120s));

  std::map<Slot, Time> joined;  // member -> when it called join
  for (Slot m : sim.members)
    joined[m] = sim.g.net().now();
  sim::Churn churn(sim.g.net(), {.mean_lifetime = 30s, .seed = ScribeSim::shifted(29)},
                   sim.g.factory());
  churn.on_replace = [&](Slot gone, Slot born) {
    Slot seed = sim.random_live();
    while (seed == born)  // a newborn told to bootstrap from itself would know nobody
      seed = sim.random_live();
    sim.g.bootstrap(born, seed);
    if (joined.count(gone)) {
      sim.members.push_back(born);
      sim.g.net().schedule(sim.g.net().now() + 3s, [&, born](sim::Network& net) {
        if (net.state(born) != sim::NodeState::alive) return;
        joined[born] = net.now();
        sim.g.join(born, kTopic);
      });
    }
  };
  churn.add_all();
  sim.g.net().run_for(30s);  // the churn reaches its pace
  constexpr Duration kWindow = 20s;
  const std::size_t first = sim.sent.size();
  const auto datagrams_before = sim.g.net().counters().sent;
  // When each member was in the main tree (reached the live node closest to the key by its
  // parent links), sampled every 250 ms.
  std::map<Slot, std::vector<Time>> in_main_tree;
  const auto sample = [&] {
    const Slot root = sim.g.closest(sim.key);
    for (const auto& [m, at] : joined)
      if (sim.root_of(m) == root) in_main_tree[m].push_back(sim.g.net().now());
  };
  const auto run_sampling = [&](Duration d) {
    for (Duration t{}; t < d; t += 250ms) {
      sample();
      sim.g.net().run_for(250ms);
    }
  };
  for (int i = 0; i < 30; ++i) {
    sim.publish(1, 0s);
    run_sampling(1s);
  }
  run_sampling(kWindow);
  churn.stop();
  const auto datagrams = sim.g.net().counters().sent - datagrams_before;
  std::set<std::pair<NodeId, std::int64_t>> ours;
  for (std::size_t i = first; i < sim.sent.size(); ++i)
    ours.emplace(sim.sent[i].publisher, sim.sent[i].sequence);
  std::size_t live_deliveries = 0;  // by the nodes alive at the end (the dead took theirs along)
  for (Slot s : sim.g.live())
    for (const Delivery& d : sim.g.host(s).got)
      live_deliveries += ours.count({d.publisher.id, d.sequence});

  // A missed pair is excused in three cases only, each counted: the message is lost (no live
  // node has seen it: every node that held it died, the publisher or the hops of its route
  // among them); it is stranded (live nodes hold it, but none in the main tree at the end:
  // it went to a fragment that never merged); or the member was cut off (never in the main
  // tree during the message's window: a fragment whose root never found the closer one, a
  // member alone with a dead routing table). The tree's convergence is at fault in all
  // three, not the repair of gaps: every other (member, message) pair must be delivered.
  std::size_t expected = 0, missed = 0, duplicated = 0, lost = 0, stranded = 0, cut_off = 0;
  const Slot main_root = sim.g.closest(sim.key);
  for (std::size_t i = first; i < sim.sent.size(); ++i) {
    const Published& p = sim.sent[i];
    bool held = false, in_main = false;
    for (Slot s : sim.g.live())
      if (sim.g.host(s).scribe.seen(sim.key, p.publisher, p.sequence)) {
        held = true;
        in_main = in_main || sim.root_of(s) == main_root;
      }
    for (const auto& [m, at] : joined) {
      // Alive through [publish, publish + window]: alive now (nodes never come back), and
      // joined before the publish.
      if (!sim.g.alive(m) || at > p.at) continue;
      ++expected;
      const auto n = sim.g.host(m).count(p.publisher, p.sequence);
      if (n > 1) ++duplicated;
      if (n > 0) continue;
      const auto& times = in_main_tree[m];
      const bool was_in = std::any_of(times.begin(), times.end(),
                                      [&](Time t) { return t >= p.at && t <= p.at + kWindow; });
      if (!held) {
        ++lost;
        continue;
      }
      if (!in_main) {
        ++stranded;
        continue;
      }
      if (!was_in) {
        ++cut_off;
        continue;
      }
      ++missed;
      if (missed <= 5)
        std::printf(
            "  message %zu (published %.1f s ago by %s) missed by slot %u, joined %.1f s "
            "before it (its table: %zu contacts): %s\n",
            i, seconds(sim.g.net().now() - p.at), p.publisher.to_hex().substr(0, 8).c_str(), m,
            seconds(p.at - at), sim.g.host(m).node.routing_table().size(),
            sim.g.chain(sim.key, m).c_str());
    }
  }
  std::printf(
      "churn, %zu nodes, mean lifetime 30 s (seed shift %llu): %llu deaths; %zu deliveries "
      "expected, %zu missed; excused: %zu lost with every holder, %zu stranded, %zu to members "
      "cut off; %zu "
      "duplicated; %.1f datagrams per delivery (all traffic over the %zu deliveries by live "
      "nodes)\n",
      kChurnNodes, static_cast<unsigned long long>(ScribeSim::shifted(0)),
      static_cast<unsigned long long>(churn.deaths()), expected, missed, lost, stranded, cut_off,
      duplicated, static_cast<double>(datagrams) / std::max<double>(1, live_deliveries),
      live_deliveries);
  EXPECT_GT(churn.deaths(), kChurnNodes / 2);
  EXPECT_GT(expected, 0u);
  // Every pair but the excused ones. Measured at 500 nodes with SCRIBE_SIM_SEED=0..7
  // (2026-12-07, with gap repair and nexo_pub answered only once the message is in the
  // tree): 0 missed for every seed; excused (lost with every holder / stranded / cut off)
  // 40/0/0 of 746, 36/2/0 of 1048, 27/0/0 of 867, 0/10/0 of 1052, 0/36/0 of 947, 0 of 956,
  // 0 of 1009, 29/56/0 of 1080 (before: the same classification gave 0 missed and 40, 72,
  // 27, 10, 36, 0, 24, 56 excused: the misses were never gaps a neighbour could fill, but
  // whole messages lost on the way to the tree, or fragments that did not merge). With
  // the nodes' wide buckets and ranking (merged the same day): 0 missed for every seed;
  // excused 0 of 746, 67/2/0 of 1048, 27/0/0 of 867, 50/9/0 of 1052, 0/36/0 of 947, 0 of
  // 956, 58/0/0 of 1009, 43/56/0 of 1080 (9.2%, the most). With the nodes' churn policy
  // (sim::churn_config: small tables refreshed, fresh contacts first) and nothing else: 0 of
  // 746, 0 of 1048, 16/0/0 of 867, 0/0/10 of 1052, 28/29/0 of 947, 0/0/30 of 956, 21/0/0 of
  // 1009, 0 of 1080 (6.0%). With it and the publisher's custody (re-offers), publishing from
  // inside a fragment toward the key too, two routes and a new root's early checks: 0 missed;
  // excused 0 of 746, 0 of 1048, 16/0/0 of 867 (1.8%: a publisher that died half a second
  // after publishing, before any live node took its message), 0/0/10 of 1052, 0 of 947,
  // 0/0/30 of 956 (3.1%: one member whose routing table held no live node, in a fragment
  // with another such node), 0 of 1009, 0 of 1080. Bounds: lost and stranded under 3%, all
  // the excused under 5% (a regression guard on the tree's convergence).
  EXPECT_EQ(missed, 0u);
  EXPECT_LE((lost + stranded) * 100, expected * kChurnLostPercent);
  EXPECT_LE((lost + stranded + cut_off) * 100, expected * kChurnMissPercent);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_LE(sim.max_children(), sim.g.scribe.fanout);
}

}  // namespace
}  // namespace nexo::overlay
