// The super-peer tier on sim::Network: a few hundred peers join one bootstrap super
// peer, 60% of them behind the simulator's NAT model. Asserts: no NATed peer is promoted,
// reachable ones only as demand asks (about one per peers_per_super ordinary peers);
// every ordinary peer is attached to a live super peer that
// counts it; every user is found by name and reached by a message, relayed exactly when
// the callee is behind a NAT. Then the test, super-peer failover: the super peers
// with the most attached peers crash; every orphaned peer re-attaches to a live super
// peer, its directory entry names the new one, and a message to it by name arrives.
// Prints the figures (super peers elected, attach time, failover time, datagrams per
// ordinary peer per minute). Logical assertions only; deterministic for its seed. The
// script is sim::SuperPeerRun (super_peer_sim.hpp), which `nexo overlay superpeers` runs too.
// SUPER_SIM_DEBUG=1 in the environment prints, for a user not reached, where its entry is.
#include "nexo/overlay/super_peer_sim.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;
using sim::Slot;
using sim::SuperPeerRun;

#ifdef NEXO_SANITIZED
constexpr std::size_t kPeers = 80;
#else
constexpr std::size_t kPeers = 400;
#endif

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// Messages to `callees` arrive, relayed exactly when the callee is behind a NAT.
void expect_reached(SuperPeerRun& run, const std::vector<Slot>& callees, const char* what) {
  const sim::Reached r = run.message_each(callees);
  for (const auto& [slot, error] : r.failures) {
    ADD_FAILURE() << what << ": to " << SuperPeerRun::name_for(slot) << ": " << error;
    if (std::getenv("SUPER_SIM_DEBUG")) {
      Peer& p = run.peer(slot);
      const NodeId target = mutable_target(run.key(slot), SuperPeerRun::name_for(slot));
      int holders = 0;
      for (Slot o : run.live())
        holders += run.peer(o).node().item_store().get(target, run.net().now()) != nullptr;
      std::printf(
          "  slot %u role %d nat %d seq %ld publishes %lu failed %lu holders %d promoted %.1f "
          "joined %.1f\n",
          slot, int(p.role()), int(run.net().behind_nat(slot)), long(p.entry_seq()),
          static_cast<unsigned long>(p.counters().publishes),
          static_cast<unsigned long>(p.counters().publish_failed), holders,
          p.promoted_at() ? seconds(*p.promoted_at() - Time{}) : -1.0,
          seconds(run.joined(slot) - Time{}));
    }
  }
  EXPECT_EQ(r.delivered, callees.size()) << what;
  EXPECT_EQ(r.relayed_iff_nat, r.delivered) << what << ": relayed exactly when behind a NAT";
  std::printf("%s: %zu messages, %zu relayed, %zu failed, resolve+deliver p50 %.2f s p99 %.2f s\n",
              what, r.sent, r.relayed, r.failures.size(), sim::percentile(r.seconds, 0.5),
              sim::percentile(r.seconds, 0.99));
}

TEST(SuperPeerSim, TierFormsUsersFoundAndReachedFailoverReattachesAndIsFoundAgain) {
  SuperPeerRun run({.peers = kPeers});
  run.grow();
  run.settle(5min);  // promotions (60 s uptime, then demand), attaches, probes, entries

  // --- The tier.
  for (Slot s : run.live()) {
    Peer& p = run.peer(s);
    const bool nat = run.net().behind_nat(s);
    if (p.role() == PeerRole::super) {
      EXPECT_FALSE(nat) << "slot " << s << " is behind a NAT and was promoted";
    } else {
      EXPECT_TRUE(run.attached_well(s)) << "slot " << s << " is not attached";
      EXPECT_EQ(p.reachable(), !nat) << "slot " << s << ": the probe's verdict";
    }
  }
  const sim::TierFigures tier = run.tier();
  EXPECT_EQ(tier.natted_supers, 0u);
  EXPECT_EQ(tier.attached_well, tier.ordinary);
  // Demand caps the tier: about one super peer per peers_per_super ordinary peers (the
  // first ones are promoted for want of standbys), not every reachable peer.
  const SuperPeerConfig config = sim::SuperPeerRunConfig::defaults();
  const std::size_t target = tier.ordinary / config.peers_per_super;
  EXPECT_LE(tier.super_peers, 2 * target + config.min_supers) << "target " << target;
  EXPECT_GE(tier.super_peers * config.max_attached, tier.ordinary);
  std::uint64_t declined = 0;
  for (Slot s : run.live())
    declined += run.peer(s).counters().promotions_declined;
  std::printf(
      "peers %zu (%zu behind NAT): super peers elected %zu (target %zu, %zu reachable peers "
      "left ordinary, %lu promotions declined for want of demand); attach time p50 %.2f s, "
      "max %.2f s\n",
      kPeers, tier.behind_nat, tier.super_peers, target, tier.reachable_ordinary,
      static_cast<unsigned long>(declined), sim::percentile(tier.attach_seconds, 0.5),
      sim::percentile(tier.attach_seconds, 1.0));

  // --- Keep-alive cost: what an ordinary peer sends and receives in a quiet minute.
  ASSERT_GT(tier.ordinary, 0u);
  const auto [all, keepalives] = run.ordinary_traffic_per_minute(2min);
  std::printf(
      "per ordinary peer per minute: %.1f datagrams in all, %.1f for keep-alives "
      "(query + reply)\n",
      all, keepalives);

  // --- Every user found by name and reached.
  expect_reached(run, run.live(), "every user");

  // --- Failover: the super peers with the most attached peers crash.
  const sim::Crash crash = run.crash_most_loaded(kPeers >= 200 ? 6 : 3);
  std::printf("crashed %zu super peers holding %zu attached peers; %zu orphans\n",
              crash.crashed.size(), crash.attached, crash.orphans.size());
  ASSERT_FALSE(crash.orphans.empty());
  std::set<net::Endpoint> dead;
  for (Slot s : crash.crashed)
    dead.insert(run.net().address(s));
  run.settle(3min);

  std::vector<double> failover;
  std::size_t promoted = 0;
  for (Slot s : crash.orphans) {
    Peer& p = run.peer(s);
    if (p.role() == PeerRole::super) {  // the crash raised the demand: promoted since
      ++promoted;
      EXPECT_FALSE(run.net().behind_nat(s)) << "orphan slot " << s;
      continue;
    }
    ASSERT_TRUE(p.super_peer()) << "orphan slot " << s << " has no super peer: attaches "
                                << p.counters().attaches << " refused "
                                << p.counters().attach_refused << " failed "
                                << p.counters().attach_failed << " failovers "
                                << p.counters().failovers << " standbys " << p.standbys().size()
                                << " table " << p.node().routing_table().size();
    EXPECT_FALSE(dead.count(*p.super_peer())) << "orphan slot " << s;
    EXPECT_TRUE(run.attached_well(s)) << "orphan slot " << s << " did not re-attach";
    EXPECT_GE(p.counters().failovers, 1u);
    EXPECT_EQ(p.standbys().size(), 2u) << "orphan slot " << s << " found no new standbys";
    if (p.attached_at()) failover.push_back(seconds(*p.attached_at() - crash.at));
  }
  std::printf(
      "failover: %zu orphans re-attached (%zu promoted since), time from the crash p50 %.1f s, "
      "max %.1f s\n",
      failover.size(), promoted, sim::percentile(failover, 0.5), sim::percentile(failover, 1.0));

  // Their entries name the new super peer (resolved from a live super peer).
  std::size_t resolved = 0;
  for (Slot s : crash.orphans) {
    auto entry = run.resolve_from_a_super_peer(s);
    ASSERT_TRUE(entry) << "orphan slot " << s << ": " << entry.error().to_string();
    EXPECT_EQ(entry->super_peer, *run.peer(s).super_peer()) << "orphan slot " << s;
    EXPECT_EQ(entry->address, run.net().address(s));
    resolved += entry->super_peer == *run.peer(s).super_peer();
  }
  std::printf("failover: %zu of %zu orphans' entries name their new super peer\n", resolved,
              crash.orphans.size());
  std::uint64_t publishes = 0, publish_failed = 0, keepalives_missed = 0, failovers = 0;
  for (Slot s : run.live()) {
    publishes += run.peer(s).counters().publishes;
    publish_failed += run.peer(s).counters().publish_failed;
    keepalives_missed += run.peer(s).counters().keepalives_missed;
    failovers += run.peer(s).counters().failovers;
  }
  std::printf(
      "entries published %lu (%lu failed, retried), keep-alives missed %lu, "
      "failovers %lu\n",
      static_cast<unsigned long>(publishes), static_cast<unsigned long>(publish_failed),
      static_cast<unsigned long>(keepalives_missed), static_cast<unsigned long>(failovers));
  expect_reached(run, crash.orphans, "orphans after failover");
}

}  // namespace
}  // namespace nexo::overlay
