// PeerStore — what announce_peer (BEP 5) stores on a node: for each info-hash
// the peers that announced themselves as downloading it, handed back (a random
// few) to get_peers. Sans-I/O and bounded; the node checks the write token
// (token.hpp) and decides the peer's endpoint (the sender's IP, its port or the
// announced one) before calling announce().
//
// Layout. A vector of info-hashes in ascending order (binary search), each with
// two vectors of peers, IPv4 and IPv6 kept apart (BEP 32: a get_peers reply
// carries peers of the querier's family), each peer its compact form (6 or 18
// bytes) and when it expires. A peer is one endpoint: several ports of one
// address are several peers (every node of a loopback test is 127.0.0.1).
//
// Bounds, with what happens at each (PeerStoreConfig):
//   max_peers_per_hash   a new peer in a full list replaces the one whose
//                        announce is oldest (peers churn; fresh ones are
//                        worth more than stale ones)
//   max_info_hashes      a new info-hash when the table is full (after
//                        dropping expired peers) is refused and counted: the
//                        torrents already tracked keep their peers, so a
//                        flood of made-up info-hashes cannot flush them
//   peer_lifetime        a peer not re-announced within it (30 min, as
//                        BitTorrent clients re-announce every 30 min or less)
//                        is dropped; expire() sweeps, reads skip expired ones
//   reply_bytes          peers() returns at most reply_bytes / (2 + 6) IPv4
//                        or reply_bytes / (3 + 18) IPv6 peers, a uniformly
//                        random subset: 800 gives libtorrent's 100 IPv4 peers
//                        and 38 IPv6 ones, so the reply fits one datagram
//                        beside the nodes / nodes6 of a get_peers reply
// So memory is at most max_info_hashes x (72 + max_peers_per_hash x 32) bytes;
// an empty store is sizeof(PeerStore), 88 bytes on x86-64, and allocates
// nothing (expire() gives the memory of an emptied store back).
//
// Per-source bounds are implicit: a peer's address is its announcer's (the
// token proves it), so one host adds at most its own endpoints.
//
// Not thread-safe: one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nexo/fault/random.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/overlay/time.hpp"

namespace nexo::overlay {

struct PeerStoreConfig {
  std::uint32_t max_info_hashes = 2000;    // libtorrent's dht_max_torrents
  std::uint32_t max_peers_per_hash = 500;  // per family; libtorrent's dht_max_peers
  std::uint32_t reply_bytes = 800;
  Duration peer_lifetime = std::chrono::minutes(30);
};

// What announce() did.
enum class AnnounceOutcome : std::uint8_t {
  added,      // a new peer
  refreshed,  // a peer already there: its lifetime starts again
  replaced,   // a new peer took the place of the oldest in a full list
  refused,    // a new info-hash while max_info_hashes are tracked
};

struct PeerStoreCounters {
  std::uint64_t announces = 0;
  std::uint64_t refused = 0;   // new info-hashes refused: table full
  std::uint64_t replaced = 0;  // peers pushed out of a full list
  std::uint64_t expired = 0;   // peers dropped for age
};

class PeerStore {
 public:
  explicit PeerStore(const PeerStoreConfig& config = {}) noexcept : config_(config) {}

  // Records that `peer` downloads `info_hash`, until now + peer_lifetime.
  // Port 0 and the unspecified address are the caller's to refuse (KRPC
  // decoding does); they are stored as given.
  AnnounceOutcome announce(const NodeId& info_hash, const net::Endpoint& peer, Time now);

  // Up to the reply limit of `family`'s peers of `info_hash` still alive at
  // `now`: all of them when they fit, else a uniform random subset drawn with
  // `rng`. Empty when the info-hash is unknown.
  std::vector<net::Endpoint> peers(const NodeId& info_hash, net::Family family, Time now,
                                   fault::Random& rng) const;
  // The most peers() returns for `family`.
  std::size_t reply_limit(net::Family family) const noexcept;

  // Drops every peer whose lifetime ended by `now`, and info-hashes left
  // without peers. O(stored peers). The node calls it from its timer.
  void expire(Time now);

  std::size_t info_hash_count() const noexcept { return hashes_.size(); }
  // Live or not yet swept.
  std::size_t peer_count() const noexcept;
  const PeerStoreCounters& counters() const noexcept { return counters_; }
  const PeerStoreConfig& config() const noexcept { return config_; }

 private:
  struct PeerV4 {
    std::array<std::uint8_t, 6> compact;
    Time expires;
  };
  struct PeerV6 {
    std::array<std::uint8_t, 18> compact;
    Time expires;
  };
  struct Swarm {
    NodeId info_hash;
    std::vector<PeerV4> v4;
    std::vector<PeerV6> v6;
    bool empty() const noexcept { return v4.empty() && v6.empty(); }
  };

  std::vector<Swarm>::iterator lower_bound(const NodeId& info_hash);
  std::vector<Swarm>::const_iterator find(const NodeId& info_hash) const;
  template <class Peer>
  AnnounceOutcome add(std::vector<Peer>& peers, const Peer& peer, Time now);
  template <class Peer>
  std::size_t drop_expired(std::vector<Peer>& peers, Time now);

  PeerStoreConfig config_;
  std::vector<Swarm> hashes_;  // ascending info_hash
  // No peer expires before this (a lower bound: refreshes only push expiries
  // later), so a full table sweeps only when a sweep can free something.
  Time earliest_expiry_ = Time::max();
  PeerStoreCounters counters_;
};

}  // namespace nexo::overlay
