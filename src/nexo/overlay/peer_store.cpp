#include "nexo/overlay/peer_store.hpp"

#include <algorithm>
#include <string>

#include "nexo/overlay/compact.hpp"

namespace nexo::overlay {

namespace {

template <std::size_t N>
std::array<std::uint8_t, N> to_compact(const net::Endpoint& peer) {
  std::string bytes;
  append_compact_peer(bytes, peer);
  std::array<std::uint8_t, N> out{};
  std::copy_n(reinterpret_cast<const std::uint8_t*>(bytes.data()), N, out.begin());
  return out;
}

template <std::size_t N>
net::Endpoint from_compact(const std::array<std::uint8_t, N>& compact) {
  const auto port = static_cast<std::uint16_t>((compact[N - 2] << 8) | compact[N - 1]);
  if constexpr (N == kCompactPeerV4) {
    return {net::InetAddress::v4({compact[0], compact[1], compact[2], compact[3]}), port};
  } else {
    std::array<std::uint8_t, 16> address{};
    std::copy_n(compact.begin(), address.size(), address.begin());
    return {net::InetAddress::v6(address), port};
  }
}

// A uniform random subset of up to `limit` of the live peers (reservoir
// sampling: one pass, no index array).
template <class Peer>
std::vector<net::Endpoint> sample(const std::vector<Peer>& peers, std::size_t limit, Time now,
                                  fault::Random& rng) {
  std::vector<const Peer*> chosen;
  chosen.reserve(std::min(limit, peers.size()));
  std::size_t seen = 0;
  for (const Peer& p : peers) {
    if (p.expires <= now) continue;
    ++seen;
    if (chosen.size() < limit) {
      chosen.push_back(&p);
    } else {
      const std::uint64_t slot = rng.below(seen);
      if (slot < limit) chosen[slot] = &p;
    }
  }
  std::vector<net::Endpoint> out;
  out.reserve(chosen.size());
  for (const Peer* p : chosen)
    out.push_back(from_compact(p->compact));
  return out;
}

}  // namespace

std::vector<PeerStore::Swarm>::iterator PeerStore::lower_bound(const NodeId& info_hash) {
  return std::lower_bound(hashes_.begin(), hashes_.end(), info_hash,
                          [](const Swarm& s, const NodeId& id) { return s.info_hash < id; });
}

std::vector<PeerStore::Swarm>::const_iterator PeerStore::find(const NodeId& info_hash) const {
  auto it = std::lower_bound(hashes_.begin(), hashes_.end(), info_hash,
                             [](const Swarm& s, const NodeId& id) { return s.info_hash < id; });
  return it != hashes_.end() && it->info_hash == info_hash ? it : hashes_.end();
}

template <class Peer>
AnnounceOutcome PeerStore::add(std::vector<Peer>& peers, const Peer& peer, Time now) {
  earliest_expiry_ = std::min(earliest_expiry_, peer.expires);
  for (Peer& p : peers) {
    if (p.compact == peer.compact) {
      p.expires = peer.expires;
      return AnnounceOutcome::refreshed;
    }
  }
  counters_.expired += drop_expired(peers, now);
  if (peers.size() < config_.max_peers_per_hash) {
    peers.push_back(peer);
    return AnnounceOutcome::added;
  }
  if (peers.empty()) return AnnounceOutcome::refused;  // max_peers_per_hash == 0
  // Every peer lives peer_lifetime from its last announce: the soonest to
  // expire is the one announced longest ago.
  auto oldest = std::min_element(peers.begin(), peers.end(), [](const Peer& a, const Peer& b) {
    return a.expires < b.expires;
  });
  *oldest = peer;
  ++counters_.replaced;
  return AnnounceOutcome::replaced;
}

template <class Peer>
std::size_t PeerStore::drop_expired(std::vector<Peer>& peers, Time now) {
  const std::size_t before = peers.size();
  std::erase_if(peers, [now](const Peer& p) { return p.expires <= now; });
  return before - peers.size();
}

AnnounceOutcome PeerStore::announce(const NodeId& info_hash, const net::Endpoint& given, Time now) {
  ++counters_.announces;
  const net::Endpoint peer(given.address().unmapped(), given.port());
  auto it = lower_bound(info_hash);
  if (it == hashes_.end() || it->info_hash != info_hash) {
    if (hashes_.size() >= config_.max_info_hashes && now >= earliest_expiry_) {
      expire(now);
      it = lower_bound(info_hash);
    }
    if (hashes_.size() >= config_.max_info_hashes) {
      ++counters_.refused;
      return AnnounceOutcome::refused;
    }
    it = hashes_.insert(it, Swarm{info_hash, {}, {}});
  }
  const Time expires = now + config_.peer_lifetime;
  AnnounceOutcome outcome;
  if (peer.family() == net::Family::v4) {
    outcome = add(it->v4, PeerV4{to_compact<kCompactPeerV4>(peer), expires}, now);
  } else {
    outcome = add(it->v6, PeerV6{to_compact<kCompactPeerV6>(peer), expires}, now);
  }
  if (it->empty()) hashes_.erase(it);  // a refused add into an empty new swarm
  return outcome;
}

std::size_t PeerStore::reply_limit(net::Family family) const noexcept {
  // A `values` entry is a byte string: "6:" + 6 bytes, or "18:" + 18 bytes.
  return family == net::Family::v4 ? config_.reply_bytes / (2 + kCompactPeerV4)
                                   : config_.reply_bytes / (3 + kCompactPeerV6);
}

std::vector<net::Endpoint> PeerStore::peers(const NodeId& info_hash, net::Family family, Time now,
                                            fault::Random& rng) const {
  auto it = find(info_hash);
  if (it == hashes_.end()) return {};
  const std::size_t limit = reply_limit(family);
  return family == net::Family::v4 ? sample(it->v4, limit, now, rng)
                                   : sample(it->v6, limit, now, rng);
}

void PeerStore::expire(Time now) {
  Time earliest = Time::max();
  for (Swarm& s : hashes_) {
    counters_.expired += drop_expired(s.v4, now) + drop_expired(s.v6, now);
    for (const PeerV4& p : s.v4)
      earliest = std::min(earliest, p.expires);
    for (const PeerV6& p : s.v6)
      earliest = std::min(earliest, p.expires);
  }
  std::erase_if(hashes_, [](const Swarm& s) { return s.empty(); });
  earliest_expiry_ = earliest;
  if (hashes_.empty()) hashes_.shrink_to_fit();  // an idle node gives its memory back
}

std::size_t PeerStore::peer_count() const noexcept {
  std::size_t n = 0;
  for (const Swarm& s : hashes_)
    n += s.v4.size() + s.v6.size();
  return n;
}

}  // namespace nexo::overlay
