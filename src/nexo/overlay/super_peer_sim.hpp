// sim::SuperPeerRun — the super-peer tier (super_peer.hpp) on sim::Network, as one
// scripted run: the test (super_peer_sim_test.cpp), `nexo overlay superpeers` and the
// tour run the same script and read the same figures.
//
//   sim::SuperPeerRun run({.peers = 400, .behind_nat = 0.6});
//   run.grow();                 // one peer every 100 ms, peer 0 the bootstrap super peer
//   run.settle(5min);           // promotions, attaches, directory entries
//   auto reached = run.message_each(run.live());   // every user, by name
//   auto crash = run.crash_most_loaded(6);         // the failover
//   run.settle(3min);
//   auto entry = run.resolve_from_a_super_peer(orphan);
//
// Each peer's name is "user-<slot>" and its ed25519 key comes from its slot, so a run
// is deterministic for its seed. Thread contract: one thread, like sim::Network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nexo/fault/random.hpp"
#include "nexo/overlay/sim_network.hpp"
#include "nexo/overlay/super_peer.hpp"

namespace nexo::overlay::sim {

struct SuperPeerRunConfig {
  std::size_t peers = 400;
  double behind_nat = 0.6;  // the share of peers behind the simulator's NAT model
  std::uint64_t seed = 11;  // the network's; the NAT draw and the senders follow from it
  Duration join_every = std::chrono::milliseconds(100);
  SuperPeerConfig tier = defaults();
  // The tier's settings for a run of a few minutes: promotion after 60 s up when the
  // super peers asked all hold 16 ordinary peers or more (asked every 2 min, plus up to
  // 20 s of jitter), at most 32 peers per super peer, directory entries re-put every 2 minutes
  // (entries put while the DHT was a handful of nodes sit on nodes no longer among the k closest
  // once it has grown: the re-put finds the right ones; SuperPeerConfig's own default is 30
  // minutes).
  static SuperPeerConfig defaults();
};

// The tier as it stands.
struct TierFigures {
  std::size_t live = 0;
  std::size_t behind_nat = 0;
  std::size_t super_peers = 0;
  std::size_t natted_supers = 0;       // must be 0: a NATed peer is never promoted
  std::size_t reachable_ordinary = 0;  // reachable peers not promoted (yet)
  std::size_t ordinary = 0;
  std::size_t attached_well = 0;       // ordinary, attached to a live super peer that counts it
  std::vector<double> attach_seconds;  // from joining to attaching, per ordinary peer
};

// One message to each callee.
struct Reached {
  std::size_t sent = 0;
  std::size_t delivered = 0;
  std::size_t relayed = 0;
  std::size_t relayed_iff_nat = 0;       // deliveries relayed exactly when the callee is NATed
  std::vector<double> seconds;           // resolve + deliver, per delivery
  std::map<Slot, std::string> failures;  // callee → the error
};

struct Crash {
  std::vector<Slot> crashed;  // the super peers with the most attached peers
  std::size_t attached = 0;   // peers they held
  std::vector<Slot> orphans;  // ordinary peers whose super peer was among them
  Time at;
};

class SuperPeerRun {
 public:
  explicit SuperPeerRun(SuperPeerRunConfig config = {});

  // Adds config.peers peers, one every join_every (peer 0 first, the bootstrap super
  // peer, never behind a NAT), and runs until the last has joined.
  void grow();
  void settle(Duration d) { net_.run_for(d); }

  TierFigures tier() const;
  // Datagrams an ordinary peer sends and receives per minute, in all and for keep-alives
  // (query + reply), measured over `window` of quiet.
  std::pair<double, double> ordinary_traffic_per_minute(Duration window);
  // A message to each of `callees`, each from a random other live peer, 20 ms apart;
  // runs until every callback ran (or 120 s more).
  Reached message_each(const std::vector<Slot>& callees);
  // Crashes the `k` super peers with the most attached peers.
  Crash crash_most_loaded(std::size_t k);
  // The directory entry of `slot` as a random live super peer resolves it.
  Result<DirectoryEntry> resolve_from_a_super_peer(Slot slot);

  Peer& peer(Slot s) { return static_cast<Peer&>(net_.node(s)); }
  const Peer& peer(Slot s) const { return static_cast<const Peer&>(net_.node(s)); }
  bool alive(Slot s) const { return net_.state(s) == NodeState::alive; }
  std::vector<Slot> live() const;
  std::vector<Slot> live_with_role(PeerRole role) const;
  // Ordinary, and attached to a live super peer that counts it.
  bool attached_well(Slot s) const;
  Network& net() { return net_; }
  const Network& net() const { return net_; }
  const PublicKey& key(Slot s) const { return keys_.at(s); }
  Time joined(Slot s) const { return joined_.at(s); }

  static std::string name_for(Slot slot);
  static SigningKey key_for(Slot slot);

 private:
  Slot add(bool behind_nat);

  SuperPeerRunConfig config_;
  Network net_;
  fault::Random random_;
  std::vector<Time> joined_;
  std::vector<PublicKey> keys_;
};

double percentile(std::vector<double> values, double p);

}  // namespace nexo::overlay::sim
