// Peer, the ordinary side: attaching to a super peer (standbys first, then the entry
// points, then the super peers a full one names), keep-alives (which also hold the NAT
// mapping open for relayed messages), failover after max_missed unanswered keep-alives,
// and the standbys: taken from the super peer's answers, pinged every standby_check.
#include <algorithm>

#include "nexo/overlay/super_peer.hpp"
#include "nexo/overlay/super_peer_wire.hpp"

namespace nexo::overlay {

using namespace superpeer;

namespace {
constexpr std::size_t kMaxCandidates = 16;
constexpr std::size_t kMaxTried = 32;
constexpr std::size_t kMaxKnown = 16;
}  // namespace

void Peer::start_attach(Time now) {
  if (role_ != PeerRole::ordinary || attaching_) return;
  candidates_.clear();
  tried_.clear();
  for (const auto& e : standbys_)
    add_candidate(e);
  for (const auto& e : known_)
    add_candidate(e);
  for (const auto& e : entry_points_)
    add_candidate(e);
  // Super peers this node heard from (its table keeps repliers that are not read-only).
  for (const NodeInfo& n : node_.routing_table().closest(NodeId::random(random_), 8, now))
    add_candidate(n.endpoint);
  try_attach(now);
}

void Peer::add_candidate(const net::Endpoint& endpoint) {
  if (endpoint == self_ || candidates_.size() >= kMaxCandidates) return;
  if (std::find(candidates_.begin(), candidates_.end(), endpoint) != candidates_.end()) return;
  if (std::find(tried_.begin(), tried_.end(), endpoint) != tried_.end()) return;
  candidates_.push_back(endpoint);
}

// Asks the next candidate; with none left, starts over after attach_retry.
void Peer::try_attach(Time now) {
  attaching_ = false;
  while (!candidates_.empty()) {
    const net::Endpoint to = candidates_.front();
    candidates_.erase(candidates_.begin());
    if (tried_.size() < kMaxTried) tried_.push_back(to);
    auto started = node_.extension_query(to, std::string(kAttach), {}, now,
                                         [this, to](Result<ExtensionReply> reply, const OpStats&) {
                                           attach_done(to, std::move(reply), last_now_);
                                         });
    if (started) {
      attaching_ = true;
      return;
    }
  }
  next_attach_ = now + config_.attach_retry;
}

void Peer::attach_done(const net::Endpoint& to, Result<ExtensionReply> reply, Time now) {
  attaching_ = false;
  if (role_ != PeerRole::ordinary) return;
  const krpc::Response* response = response_of(reply);
  if (!response) {
    std::erase(standbys_, to);
    if (!reply) {
      ++counters_.attach_failed;
      try_attach(now);
      return;
    }
    // Refused (full, most likely): it still names other super peers.
    ++counters_.attach_refused;
    auto started = node_.extension_query(to, std::string(kSupers), {}, now,
                                         [this](Result<ExtensionReply> r, const OpStats&) {
                                           attaching_ = false;
                                           if (role_ != PeerRole::ordinary) return;
                                           if (const auto* named = response_of(r))
                                             take_standbys(*named, /*as_candidates=*/true);
                                           try_attach(last_now_);
                                         });
    if (started)
      attaching_ = true;
    else
      try_attach(now);
    return;
  }
  ++counters_.attaches;
  super_ = to;
  attached_at_ = now;
  missed_ = 0;
  keepalive_outstanding_ = false;
  keepalive_deadline_ = Time::max();
  next_attach_ = Time::max();
  candidates_.clear();
  std::erase(standbys_, to);
  if (const auto* a = response->extra.find("a"); a && a->is_string())
    if (auto seen = decode_compact_peer(a->string())) public_address_ = *seen;
  take_standbys(*response, false);
  next_keepalive_ = now + config_.keepalive_interval;
  next_standby_check_ = now + config_.standby_check;
  if (reachable_) {
    publish_entry(now);  // seq + 1: the entry names the new super peer
    return;
  }
  // The first attach (or a failover before the probe ended): probe through this one.
  entry_wanted_ = true;
  probe_nonce_ = 0;
  probe_deadline_ = Time::max();
  next_probe_ = Time::max();
  start_probe(now);
}

void Peer::send_keepalive(Time now) {
  next_keepalive_ = Time::max();
  if (role_ != PeerRole::ordinary || !super_) return;
  ++counters_.keepalives;
  const std::uint64_t generation = ++keepalive_generation_;
  keepalive_outstanding_ = true;
  keepalive_deadline_ = now + config_.keepalive_timeout;
  bencode::Dict args;
  if (standbys_.size() < config_.standbys || rotate_standby_) args.insert_or_assign("w", 1);
  (void)node_.extension_query(*super_, std::string(kKeepalive), std::move(args), now,
                              [this, generation](Result<ExtensionReply> reply, const OpStats&) {
                                keepalive_done(generation, std::move(reply), last_now_);
                              });
}

void Peer::keepalive_done(std::uint64_t generation, Result<ExtensionReply> reply, Time now) {
  if (role_ != PeerRole::ordinary || !super_ || !reply) return;  // our deadline counted it
  const krpc::Response* response = response_of(*reply);
  const bool current = generation == keepalive_generation_;
  if (!response) {
    // It does not know us (it restarted, or dropped us): attach again, to it first.
    if (!current) return;
    keepalive_outstanding_ = false;
    keepalive_deadline_ = Time::max();
    const net::Endpoint old = *super_;
    super_.reset();
    standbys_.insert(standbys_.begin(), old);
    start_attach(now);
    return;
  }
  missed_ = 0;  // any answer, even a late one, proves it alive
  take_standbys(*response, false);
  if (current) {
    keepalive_outstanding_ = false;
    keepalive_deadline_ = Time::max();
    next_keepalive_ = now + config_.keepalive_interval;
  }
}

void Peer::keepalive_deadline(Time now) {
  keepalive_deadline_ = Time::max();
  if (!keepalive_outstanding_) return;
  keepalive_outstanding_ = false;
  ++counters_.keepalives_missed;
  if (++missed_ >= config_.max_missed)
    fail_over(now);
  else
    send_keepalive(now);  // at once: one lost datagram must not cost a whole interval
}

void Peer::fail_over(Time now) {
  ++counters_.failovers;
  const net::Endpoint old = *super_;
  super_.reset();
  missed_ = 0;
  next_keepalive_ = Time::max();
  start_attach(now);
  std::erase(candidates_, old);  // an entry point that died is tried again only later
  if (!attaching_ && candidates_.empty() && next_attach_ == Time::max())
    next_attach_ = now + config_.attach_retry;
}

void Peer::check_standbys(Time now) {
  next_standby_check_ = now + config_.standby_check;
  if (role_ != PeerRole::ordinary) return;
  rotate_standby_ = standbys_.size() >= config_.standbys;
  for (const net::Endpoint& standby : standbys_) {
    (void)node_.ping(standby, now, [this, standby](Result<NodeInfo> r, const OpStats&) {
      if (!r) std::erase(standbys_, standby);  // the next keep-alive asks for more
    });
  }
}

// The super peers a reply names (`s`, compact nodes): standbys up to `standbys`, or
// attach candidates.
void Peer::take_standbys(const krpc::Response& response, bool as_candidates) {
  const auto* s = response.extra.find("s");
  if (!s || !s->is_string()) return;
  auto nodes = decode_compact_nodes(s->string(), net::Family::v4);
  if (!nodes) return;
  for (const NodeInfo& n : *nodes) {
    const net::Endpoint& e = n.endpoint;
    if (e == self_ || e == super_) continue;
    if (std::find(known_.begin(), known_.end(), e) == known_.end()) {
      if (known_.size() >= kMaxKnown) known_.erase(known_.begin());
      known_.push_back(e);
    }
    if (as_candidates) {
      add_candidate(e);
      continue;
    }
    if (std::find(standbys_.begin(), standbys_.end(), e) != standbys_.end()) continue;
    if (rotate_standby_ && !standbys_.empty() && standbys_.size() >= config_.standbys) {
      standbys_.erase(standbys_.begin());
      rotate_standby_ = false;
    }
    if (standbys_.size() < config_.standbys) standbys_.push_back(e);
  }
}

}  // namespace nexo::overlay
