// `nexo overlay superpeers`: the super-peer tier (overlay/super_peer.hpp) on the simulated
// network, the chapter's Skype example. It runs sim::SuperPeerRun, the script the test
// runs, and prints what happened at each step.
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "nexo/overlay/super_peer_sim.hpp"

namespace nexo::tool {

using namespace std::chrono_literals;
namespace sim = overlay::sim;

int overlay_superpeers(const OverlaySuperArgs& args) {
  sim::SuperPeerRunConfig config;
  config.peers = args.peers;
  config.behind_nat = args.nat;
  config.seed = args.seed;
  sim::SuperPeerRun run(config);
  std::printf(
      "%zu peers join, one every %lld ms, %.0f%% behind NATs (they take datagrams only from "
      "endpoints they sent to); peer 0 is the bootstrap super peer. A peer up for %lld s whose "
      "probe from a third node reaches it may serve; it becomes a super peer and joins the DHT "
      "only on demand (fewer than %u super peers known, or every one asked holds %u peers or "
      "more); the others attach to one (at most %zu each) and keep 2 standbys.\n",
      args.peers, static_cast<long long>(config.join_every / 1ms), args.nat * 100,
      static_cast<long long>(config.tier.min_uptime / 1s), config.tier.min_supers,
      config.tier.peers_per_super, static_cast<std::size_t>(config.tier.max_attached));
  run.grow();
  run.settle(5min);
  const sim::TierFigures tier = run.tier();
  std::printf(
      "after 5 min: %zu super peers (%zu of them behind a NAT), %zu ordinary peers (%zu of them "
      "reachable: not needed as super peers), %zu attached to a live super peer; attach time "
      "p50 %.1f s, max %.1f s\n",
      tier.super_peers, tier.natted_supers, tier.ordinary, tier.reachable_ordinary,
      tier.attached_well, sim::percentile(tier.attach_seconds, 0.5),
      sim::percentile(tier.attach_seconds, 1.0));
  const auto [all, keepalives] = run.ordinary_traffic_per_minute(1min);
  std::printf(
      "an ordinary peer sends and receives %.1f datagrams a minute, %.1f of them keep-alives\n",
      all, keepalives);

  const sim::Reached reached = run.message_each(run.live());
  std::printf(
      "every user messaged by name (the directory: a BEP 44 mutable item signed by the user, "
      "salt = name): %zu of %zu delivered, %zu relayed by the callee's super peer, %zu relayed "
      "exactly when the callee is behind a NAT; resolve + deliver p50 %.2f s, p99 %.2f s\n",
      reached.delivered, reached.sent, reached.relayed, reached.relayed_iff_nat,
      sim::percentile(reached.seconds, 0.5), sim::percentile(reached.seconds, 0.99));
  for (const auto& [slot, error] : reached.failures)
    std::printf("  not reached: %s: %s\n", sim::SuperPeerRun::name_for(slot).c_str(),
                error.c_str());

  sim::Crash crash;
  std::size_t reattached = 0, found_again = 0;
  std::vector<double> failover;
  sim::Reached after;
  if (args.crash > 0) {
    crash = run.crash_most_loaded(args.crash);
    std::printf("crash: the %zu most loaded super peers, holding %zu peers\n", crash.crashed.size(),
                crash.orphans.size());
    run.settle(3min);
    for (sim::Slot s : crash.orphans) {
      const overlay::Peer& p = run.peer(s);
      const bool promoted = p.role() == overlay::PeerRole::super;  // the demand rose
      if (!promoted && !run.attached_well(s)) continue;
      ++reattached;
      if (p.attached_at())
        failover.push_back(std::chrono::duration<double>(*p.attached_at() - crash.at).count());
      auto entry = run.resolve_from_a_super_peer(s);
      if (entry && entry->super_peer == *p.super_peer()) ++found_again;
    }
    std::printf(
        "3 min later: %zu of %zu orphans re-attached to a live super peer or promoted (p50 %.1f "
        "s, max %.1f s after the crash); %zu directory entries name the new super peer\n",
        reattached, crash.orphans.size(), sim::percentile(failover, 0.5),
        sim::percentile(failover, 1.0), found_again);
    after = run.message_each(crash.orphans);
    std::printf("messages to the orphans by name: %zu of %zu delivered, %zu relayed\n",
                after.delivered, after.sent, after.relayed);
  }
  std::printf(
      "peers %zu, super peers %zu, attached %zu/%zu, reached %zu/%zu (relayed %zu), failover "
      "%zu/%zu in p50 %.1f s max %.1f s\n",
      tier.live, tier.super_peers, tier.attached_well, tier.ordinary, reached.delivered,
      reached.sent, reached.relayed, reattached, crash.orphans.size(),
      sim::percentile(failover, 0.5), sim::percentile(failover, 1.0));
  const bool ok = tier.natted_supers == 0 && tier.attached_well == tier.ordinary &&
                  reached.failures.empty() && reached.relayed_iff_nat == reached.delivered &&
                  reattached == crash.orphans.size() && found_again == crash.orphans.size() &&
                  after.failures.empty();
  if (!ok)
    std::cerr << "nexo overlay superpeers: some peers were not attached or reached" << std::endl;
  return ok ? 0 : 1;
}

}  // namespace nexo::tool
