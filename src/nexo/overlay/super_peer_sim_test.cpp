// The super-peer tier on sim::Network: a few hundred peers join one bootstrap super
// peer, 60% of them behind the simulator's NAT model. Asserts: no NATed peer is promoted,
// every reachable one is; every ordinary peer is attached to a live super peer that
// counts it; every user is found by name and reached by a message, relayed exactly when
// the callee is behind a NAT. Then the test, super-peer failover: the super peers
// with the most attached peers crash; every orphaned peer re-attaches to a live super
// peer, its directory entry names the new one, and a message to it by name arrives.
// Prints the figures (super peers elected, attach time, failover time, datagrams per
// ordinary peer per minute). Logical assertions only; deterministic for its seed.
// SUPER_SIM_DEBUG=1 in the environment prints, for a user not reached, where its entry is.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nexo/overlay/sim_network.hpp"
#include "nexo/overlay/super_peer.hpp"

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;
using sim::Slot;

#ifdef NEXO_SANITIZED
constexpr std::size_t kPeers = 80;
#else
constexpr std::size_t kPeers = 400;
#endif
constexpr double kBehindNat = 0.6;

SigningKey key_for(Slot slot) {
  KeySeed seed{};
  seed[0] = static_cast<std::uint8_t>(slot);
  seed[1] = static_cast<std::uint8_t>(slot >> 8);
  seed[2] = static_cast<std::uint8_t>(slot >> 16);
  seed[31] = 0xa5;
  return SigningKey::from_seed(seed);
}

std::string name_for(Slot slot) {
  return "user-" + std::to_string(slot);
}

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

class Tier {
 public:
  Tier() {
    config_.min_uptime = 60s;
    config_.max_attached = 32;
    // Entries put while the DHT was a handful of nodes sit on nodes that are no longer
    // among the k closest once it has grown: the periodic re-put finds the right ones.
    config_.republish = 2min;
  }

  Slot add(bool behind_nat) {
    const Slot slot = static_cast<Slot>(net_.slots());
    SuperPeerConfig c = config_;
    c.bootstrap = slot == 0;
    std::vector<net::Endpoint> entries;
    if (slot != 0) entries.push_back(sim::address_of(0));
    const Slot added = net_.add([&](const net::Endpoint& self) {
      NodeConfig n;
      n.seed = 1000 + slot;
      n.query_timeout = 3s;
      return std::make_unique<Peer>(self, net_.now(), name_for(slot), key_for(slot), entries, c, n);
    });
    if (behind_nat) net_.set_behind_nat(added, true);
    joined_.push_back(net_.now());
    keys_.push_back(peer(added).public_key());
    return added;
  }

  void grow(std::size_t n) {
    fault::Random rng(99);
    add(false);
    for (std::size_t i = 1; i < n; ++i) {
      const bool nat = rng.chance(kBehindNat);
      net_.schedule(net_.now() + i * 100ms, [this, nat](sim::Network&) { add(nat); });
    }
    net_.run_for(n * 100ms);
  }

  Peer& peer(Slot s) { return static_cast<Peer&>(net_.node(s)); }
  bool alive(Slot s) const { return net_.state(s) == sim::NodeState::alive; }
  sim::Network& net() { return net_; }
  std::vector<Slot> live() const {
    std::vector<Slot> out;
    for (Slot s = 0; s < net_.slots(); ++s)
      if (alive(s)) out.push_back(s);
    return out;
  }
  std::optional<Slot> slot_of(const net::Endpoint& e) const { return net_.find(e); }
  const PublicKey& key(Slot s) const { return keys_[s]; }
  Time joined(Slot s) const { return joined_[s]; }

  // Is `s` ordinary and attached to a live super peer that counts it?
  bool attached_well(Slot s) {
    Peer& p = peer(s);
    if (p.role() != PeerRole::ordinary || !p.super_peer()) return false;
    auto sp = slot_of(*p.super_peer());
    return sp && alive(*sp) && peer(*sp).role() == PeerRole::super &&
           peer(*sp).is_attached(net_.address(s));
  }

  // One message to each of `callees`, each from a random other live peer, 20 ms apart;
  // runs until every callback ran. Per callee: the delivery, or its error.
  std::map<Slot, Result<Delivery>> message_each(const std::vector<Slot>& callees,
                                                fault::Random& rng) {
    std::map<Slot, Result<Delivery>> out;
    const auto senders = live();
    std::size_t started = 0;
    for (std::size_t i = 0; i < callees.size(); ++i) {
      const Slot to = callees[i];
      net_.schedule(net_.now() + i * 20ms, [&, to](sim::Network& net) {
        Slot from = to;
        while (from == to)
          from = senders[rng.below(senders.size())];
        auto r = peer(from).send_message(
            name_for(to), key(to), "hello " + name_for(to), net.now(),
            [&out, to](Result<Delivery> d) { out.insert_or_assign(to, std::move(d)); });
        if (!r)
          out.insert_or_assign(to, r.error());
        else
          net.kick(from);
        ++started;
      });
    }
    net_.run_until([&] { return started == callees.size() && out.size() == callees.size(); },
                   net_.now() + callees.size() * 20ms + 120s);
    return out;
  }

 private:
  SuperPeerConfig config_;
  sim::Network net_{{.seed = 11}};
  std::vector<Time> joined_;
  std::vector<PublicKey> keys_;
};

// Messages to `callees` arrive, relayed exactly when the callee is behind a NAT.
void expect_reached(Tier& tier, const std::vector<Slot>& callees, fault::Random& rng,
                    const char* what) {
  auto results = tier.message_each(callees, rng);
  std::size_t relayed = 0, failed = 0;
  std::vector<double> latency;
  for (Slot s : callees) {
    auto it = results.find(s);
    ASSERT_NE(it, results.end()) << what << ": no outcome for slot " << s;
    if (!it->second) {
      ++failed;
      ADD_FAILURE() << what << ": to " << name_for(s) << ": " << it->second.error().to_string();
      if (std::getenv("SUPER_SIM_DEBUG")) {
        Peer& p = tier.peer(s);
        const NodeId target = mutable_target(tier.key(s), name_for(s));
        int holders = 0;
        for (Slot o : tier.live())
          holders += tier.peer(o).node().item_store().get(target, tier.net().now()) != nullptr;
        std::printf(
            "  slot %u role %d nat %d seq %ld publishes %lu failed %lu holders %d promoted %.1f "
            "joined %.1f\n",
            s, int(p.role()), int(tier.net().behind_nat(s)), long(p.entry_seq()),
            static_cast<unsigned long>(p.counters().publishes),
            static_cast<unsigned long>(p.counters().publish_failed), holders,
            p.promoted_at() ? seconds(*p.promoted_at() - Time{}) : -1.0,
            seconds(tier.joined(s) - Time{}));
      }
      continue;
    }
    EXPECT_EQ(it->second->relayed, tier.net().behind_nat(s)) << what << ": slot " << s;
    relayed += it->second->relayed;
    latency.push_back(seconds(it->second->elapsed));
  }
  std::printf("%s: %zu messages, %zu relayed, %zu failed, resolve+deliver p50 %.2f s p99 %.2f s\n",
              what, callees.size(), relayed, failed, percentile(latency, 0.5),
              percentile(latency, 0.99));
}

TEST(SuperPeerSim, TierFormsUsersFoundAndReachedFailoverReattachesAndIsFoundAgain) {
  Tier tier;
  tier.grow(kPeers);
  tier.net().run_for(5min);  // promotions (60 s uptime), attaches, probes, entries

  // --- The tier.
  std::size_t supers = 0, natted = 0;
  std::vector<double> attach_times;
  for (Slot s : tier.live()) {
    Peer& p = tier.peer(s);
    const bool nat = tier.net().behind_nat(s);
    natted += nat;
    if (p.role() == PeerRole::super) {
      ++supers;
      EXPECT_FALSE(nat) << "slot " << s << " is behind a NAT and was promoted";
    } else {
      EXPECT_TRUE(nat) << "slot " << s << " is reachable and was not promoted (reachable "
                       << (p.reachable() ? int(*p.reachable()) : -1) << ")";
      EXPECT_TRUE(tier.attached_well(s)) << "slot " << s << " is not attached";
      EXPECT_EQ(p.reachable(), false) << "slot " << s;
      if (p.attached_at()) attach_times.push_back(seconds(*p.attached_at() - tier.joined(s)));
    }
  }
  std::printf(
      "peers %zu (%zu behind NAT): super peers elected %zu; attach time p50 %.2f s, "
      "max %.2f s\n",
      kPeers, natted, supers, percentile(attach_times, 0.5), percentile(attach_times, 1.0));

  // --- Keep-alive cost: what an ordinary peer sends and receives in a quiet minute.
  std::vector<Slot> ordinary;
  for (Slot s : tier.live())
    if (tier.peer(s).role() == PeerRole::ordinary) ordinary.push_back(s);
  ASSERT_FALSE(ordinary.empty());
  std::uint64_t before = 0, keepalives_before = 0;
  for (Slot s : ordinary) {
    before += tier.net().counters(s).sent + tier.net().counters(s).received;
    keepalives_before += tier.peer(s).counters().keepalives;
  }
  tier.net().run_for(2min);
  std::uint64_t after = 0, keepalives_after = 0;
  for (Slot s : ordinary) {
    after += tier.net().counters(s).sent + tier.net().counters(s).received;
    keepalives_after += tier.peer(s).counters().keepalives;
  }
  const double per = 2.0 * static_cast<double>(ordinary.size());
  std::printf(
      "per ordinary peer per minute: %.1f datagrams in all, %.1f for keep-alives "
      "(query + reply)\n",
      static_cast<double>(after - before) / per,
      2.0 * static_cast<double>(keepalives_after - keepalives_before) / per);

  // --- Every user found by name and reached.
  fault::Random rng(5);
  expect_reached(tier, tier.live(), rng, "every user");

  // --- Failover: the super peers with the most attached peers crash.
  std::vector<Slot> by_load;
  for (Slot s : tier.live())
    if (tier.peer(s).role() == PeerRole::super) by_load.push_back(s);
  std::sort(by_load.begin(), by_load.end(),
            [&](Slot a, Slot b) { return tier.peer(a).attached() > tier.peer(b).attached(); });
  by_load.resize(std::min<std::size_t>(by_load.size(), kPeers >= 200 ? 6 : 3));
  std::set<net::Endpoint> dead;
  std::size_t load = 0;
  for (Slot s : by_load) {
    dead.insert(tier.net().address(s));
    load += tier.peer(s).attached();
  }
  std::vector<Slot> orphans;
  for (Slot s : ordinary)
    if (tier.peer(s).super_peer() && dead.count(*tier.peer(s).super_peer())) orphans.push_back(s);
  const Time crash = tier.net().now();
  for (Slot s : by_load)
    tier.net().crash(s);
  std::printf("crashed %zu super peers holding %zu attached peers; %zu orphans\n", by_load.size(),
              load, orphans.size());
  ASSERT_FALSE(orphans.empty());
  tier.net().run_for(3min);

  std::vector<double> failover;
  for (Slot s : orphans) {
    Peer& p = tier.peer(s);
    ASSERT_TRUE(p.super_peer()) << "orphan slot " << s << " has no super peer: attaches "
                                << p.counters().attaches << " refused "
                                << p.counters().attach_refused << " failed "
                                << p.counters().attach_failed << " failovers "
                                << p.counters().failovers << " standbys " << p.standbys().size()
                                << " table " << p.node().routing_table().size();
    EXPECT_FALSE(dead.count(*p.super_peer())) << "orphan slot " << s;
    EXPECT_TRUE(tier.attached_well(s)) << "orphan slot " << s << " did not re-attach";
    EXPECT_GE(p.counters().failovers, 1u);
    EXPECT_EQ(p.standbys().size(), 2u) << "orphan slot " << s << " found no new standbys";
    if (p.attached_at()) failover.push_back(seconds(*p.attached_at() - crash));
  }
  std::printf("failover: %zu orphans re-attached, time from the crash p50 %.1f s, max %.1f s\n",
              failover.size(), percentile(failover, 0.5), percentile(failover, 1.0));

  // Their entries name the new super peer (resolved from a live super peer).
  std::size_t resolved = 0;
  std::vector<Slot> live_supers;
  for (Slot s : tier.live())
    if (tier.peer(s).role() == PeerRole::super) live_supers.push_back(s);
  for (Slot s : orphans) {
    const Slot asker = live_supers[rng.below(live_supers.size())];
    std::optional<Result<DirectoryEntry>> entry;
    ASSERT_TRUE(tier.peer(asker).resolve(name_for(s), tier.key(s), tier.net().now(),
                                         [&](Result<DirectoryEntry> e) { entry.emplace(e); }));
    tier.net().kick(asker);
    tier.net().run_until([&] { return entry.has_value(); }, tier.net().now() + 60s);
    ASSERT_TRUE(entry && *entry) << "orphan slot " << s << ": "
                                 << (entry ? entry->error().to_string() : "no answer");
    EXPECT_EQ((*entry)->super_peer, *tier.peer(s).super_peer()) << "orphan slot " << s;
    EXPECT_EQ((*entry)->address, tier.net().address(s));
    resolved += (*entry)->super_peer == *tier.peer(s).super_peer();
  }
  std::printf("failover: %zu of %zu orphans' entries name their new super peer\n", resolved,
              orphans.size());
  std::uint64_t publishes = 0, publish_failed = 0, keepalives_missed = 0, failovers = 0;
  for (Slot s : tier.live()) {
    publishes += tier.peer(s).counters().publishes;
    publish_failed += tier.peer(s).counters().publish_failed;
    keepalives_missed += tier.peer(s).counters().keepalives_missed;
    failovers += tier.peer(s).counters().failovers;
  }
  std::printf(
      "entries published %lu (%lu failed, retried), keep-alives missed %lu, "
      "failovers %lu\n",
      static_cast<unsigned long>(publishes), static_cast<unsigned long>(publish_failed),
      static_cast<unsigned long>(keepalives_missed), static_cast<unsigned long>(failovers));
  expect_reached(tier, orphans, rng, "orphans after failover");
}

}  // namespace
}  // namespace nexo::overlay
