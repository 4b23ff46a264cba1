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
  if (role_ != PeerRole::ordinary || attaching_ || closing_) return;
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
  if (leaving_ && *leaving_ != to) send_detach(*leaving_, now);  // it may be alive after all
  leaving_.reset();
  ++keepalive_generation_;  // a late answer to the old super peer's keep-alive is stale
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
  leaving_ = old;
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

// --- Detaching.

void Peer::send_detach(const net::Endpoint& super_peer, Time now) {
  ++counters_.detaches;
  (void)node_.extension_query(super_peer, std::string(kDetach), {}, now, nullptr);
}

// Super side: an attached peer left (its slot is free at once). Ordinary side: our super
// peer is leaving (demoting or closing) and tells us to move, naming super peers (`s`) to
// try first. Anyone else: 201, counted.
ExtensionAnswer Peer::on_detach(const krpc::Query& query, const net::Endpoint& from, Time now) {
  std::vector<NodeInfo> named;
  if (query.extra.find("s")) {
    auto s = string_arg(query.extra, kDetach, "s", 0, 8 * kCompactNodeV4);
    if (auto* e = std::get_if<ArgError>(&s)) return bad_argument(e->message);
    auto nodes = decode_compact_nodes(std::get<std::string_view>(s), net::Family::v4);
    if (!nodes) return bad_argument("nexo_detach: key \"s\": " + nodes.error().to_string());
    named = std::move(*nodes);
  }
  if (role_ == PeerRole::super) {
    auto it = std::find_if(attached_.begin(), attached_.end(),
                           [&](const Attached& a) { return a.endpoint == from; });
    if (it == attached_.end()) {
      ++counters_.detach_unknown;
      return krpc::ErrorReply{201, "nexo_detach: not attached"};
    }
    attached_.erase(it);
    ++counters_.detached;
    if (attached_.empty() && !config_.bootstrap && demote_check_ == Time::max())
      demote_check_ = now + config_.idle_demote + jitter(config_.demand_jitter);
    return bencode::Dict{};
  }
  if (!super_ || *super_ != from) {
    ++counters_.detach_unknown;
    return krpc::ErrorReply{201, "nexo_detach: not from our super peer"};
  }
  ++counters_.moved;
  move_away(from, named, now);
  return bencode::Dict{};
}

// Leaves `old` (it told us to) for the super peers it named, then our standbys and the rest.
void Peer::move_away(const net::Endpoint& old, const std::vector<NodeInfo>& named, Time now) {
  super_.reset();
  leaving_.reset();  // it knows
  missed_ = 0;
  keepalive_outstanding_ = false;
  next_keepalive_ = keepalive_deadline_ = Time::max();
  std::erase(standbys_, old);
  std::erase(known_, old);
  for (auto it = named.rbegin(); it != named.rend(); ++it)
    if (it->endpoint != self_ && it->endpoint != old &&
        std::find(standbys_.begin(), standbys_.end(), it->endpoint) == standbys_.end())
      standbys_.insert(standbys_.begin(), it->endpoint);
  if (standbys_.size() > config_.standbys) standbys_.resize(config_.standbys);
  start_attach(now);
  std::erase(candidates_, old);
  if (!attaching_ && next_attach_ == Time::max()) next_attach_ = now + config_.attach_retry;
}

}  // namespace nexo::overlay
