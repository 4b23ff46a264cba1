// Peer: construction, the DatagramNode it is (its Node beneath), its timers, promotion to
// super peer, reachability probes, and the queries every peer answers (probe_send,
// probe_ping, deliver). The ordinary side is in super_peer_attach.cpp, the super side in
// super_peer_serve.cpp, the directory and messages in super_peer_directory.cpp, the
// demand that decides promotions in super_peer_demand.cpp.
#include "nexo/overlay/super_peer.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "nexo/overlay/super_peer_wire.hpp"

namespace nexo::overlay {

using namespace superpeer;

const krpc::Response* superpeer::response_of(const Result<ExtensionReply>& reply) {
  if (!reply.has_value()) return nullptr;
  return std::get_if<krpc::Response>(&reply.value());
}

namespace {

NodeConfig ordinary_node(NodeConfig config, bool bootstrap) {
  config.read_only = !bootstrap;
  config.read_only_extensions = true;
  return config;
}

}  // namespace

Peer::Peer(const net::Endpoint& self, Time now, std::string name, SigningKey key,
           std::vector<net::Endpoint> entry_points, SuperPeerConfig config, NodeConfig node_config)
    : self_(self),
      name_(std::move(name)),
      key_(std::move(key)),
      config_(config),
      node_(self, now, ordinary_node(std::move(node_config), config.bootstrap)),
      random_(node_.config().seed * 0x9e3779b97f4a7c15ULL + 0x5eed),
      created_(now),
      last_now_(now),
      entry_points_(std::move(entry_points)),
      public_address_(self),
      probe_tokens_(config.probe_burst),
      probe_refill_(now) {
  if (name_.empty() || name_.size() > kMaxSaltBytes)
    throw std::invalid_argument("super peer: user name of " + std::to_string(name_.size()) +
                                " bytes (1 to 64: BEP 44's salt)");
  std::erase(entry_points_, self_);
  node_.add_service(service_);
  register_common();
  if (config_.bootstrap)
    promote(now);
  else
    start_attach(now);
}

Peer::~Peer() {
  node_.remove_service(service_);
}

// --- DatagramNode: the node's, with the destinations remembered for the probe.

void Peer::on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from, Time now) {
  last_now_ = now;
  node_.on_datagram(datagram, from, now);
}

void Peer::on_timer(Time now) {
  last_now_ = now;
  node_.on_timer(now);
}

std::optional<Time> Peer::next_timer() const {
  return node_.next_timer();
}

bool Peer::poll_transmit(Bytes& out, net::Endpoint& to) {
  if (!node_.poll_transmit(out, to)) return false;
  if (role_ == PeerRole::super) return true;
  const Time now = last_now_;
  auto it = std::find_if(sent_.begin(), sent_.end(), [&](const Sent& s) { return s.to == to; });
  if (it != sent_.end()) {
    it->at = now;
  } else if (sent_.size() < config_.max_contacts) {
    sent_.push_back({to, now});
  } else {
    // Full: the oldest gives its place; while it could still be a NAT's pinhole, a probe
    // ping from anywhere proves nothing.
    it = std::min_element(sent_.begin(), sent_.end(),
                          [](const Sent& a, const Sent& b) { return a.at < b.at; });
    contacts_overflow_until_ = std::max(contacts_overflow_until_, it->at + config_.contact_memory);
    *it = {to, now};
  }
  return true;
}

// --- Timers.

std::optional<Time> Peer::service_timer() const {
  Time next = std::min({next_keepalive_, keepalive_deadline_, next_attach_, next_standby_check_,
                        probe_deadline_, next_probe_, eligible_at_, next_publish_, next_sweep_,
                        demote_check_, close_due_});
  for (const auto& m : messages_)
    next = std::min(next, message_due(*m));
  if (next == Time::max()) return std::nullopt;
  return next;
}

void Peer::on_service_timer(Time now) {
  last_now_ = now;
  if (closing_) {
    if (now >= close_due_) {
      close_due_ = Time::max();
      if (auto done = std::exchange(on_closed_, nullptr)) done();
    }
    run_due_messages(now);
    return;
  }
  if (now >= keepalive_deadline_) keepalive_deadline(now);
  if (now >= next_keepalive_) send_keepalive(now);
  if (now >= next_attach_) {
    next_attach_ = Time::max();
    start_attach(now);
  }
  if (now >= next_standby_check_) check_standbys(now);
  if (now >= probe_deadline_) {
    probe_deadline_ = Time::max();
    probe_nonce_ = 0;
    probe_result(false, now);
  }
  if (now >= next_probe_) {
    next_probe_ = Time::max();
    start_probe(now);
  }
  if (now >= eligible_at_) check_eligibility(now);
  if (now >= next_publish_) {
    next_publish_ = Time::max();
    publish_entry(now);
  }
  if (now >= next_sweep_) drop_silent(now);
  if (now >= demote_check_) check_surplus(now);
  run_due_messages(now);
}

// --- Roles.

void Peer::register_common() {
  auto immediate = [this](auto member) {
    return [this, member](const krpc::Query& q, const net::Endpoint& from, Time now) {
      return (this->*member)(q, from, now);
    };
  };
  (void)node_.handle_extension(std::string(kProbeSend), immediate(&Peer::on_probe_send));
  (void)node_.handle_extension(std::string(kProbePing), immediate(&Peer::on_probe_ping));
  (void)node_.handle_extension(std::string(kDeliver), immediate(&Peer::on_deliver));
  (void)node_.handle_extension(std::string(kDetach), immediate(&Peer::on_detach));
}

void Peer::promote(Time now) {
  role_ = PeerRole::super;
  promoted_at_ = now;
  reachable_ = true;
  node_.set_read_only(false);
  register_super();
  // The ordinary side stops; the old super peer drops us when our keep-alives stop.
  next_keepalive_ = keepalive_deadline_ = next_attach_ = next_standby_check_ = Time::max();
  probe_deadline_ = next_probe_ = eligible_at_ = Time::max();
  keepalive_outstanding_ = false;
  attaching_ = false;
  probe_nonce_ = 0;
  sent_.clear();
  sent_.shrink_to_fit();
  std::vector<net::Endpoint> seeds;
  auto add = [&](const net::Endpoint& e) {
    if (e != self_ && std::find(seeds.begin(), seeds.end(), e) == seeds.end()) seeds.push_back(e);
  };
  if (super_) {
    add(*super_);
    send_detach(*super_, now);  // its slot is free at once, not after attached_timeout
  }
  leaving_.reset();
  for (const auto& e : standbys_)
    add(e);
  for (const auto& e : entry_points_)
    add(e);
  super_.reset();
  standbys_.clear();
  candidates_.clear();
  public_address_ = self_;
  next_sweep_ = now + config_.attached_timeout / 2;
  ++load_round_;  // answers to a demand round still out are stale
  asking_loads_ = false;
  if (!config_.bootstrap) demote_check_ = now + config_.idle_demote + jitter(config_.demand_jitter);
  if (seeds.empty()) {
    publish_entry(now);
    return;
  }
  // Our entry goes out once the DHT knows us (a put needs a routing table).
  auto started = node_.bootstrap(
      seeds, now, [this](Result<std::size_t>, const OpStats&) { publish_entry(last_now_); });
  if (!started) publish_entry(now);
}

// --- Probes.

void Peer::start_probe(Time now) {
  if (role_ != PeerRole::ordinary || !super_ || probe_nonce_ != 0) return;
  ++counters_.probes;
  do {
    probe_nonce_ = random_.next();
  } while (probe_nonce_ == 0);
  bencode::Dict args{{"n", nonce_bytes(probe_nonce_)}, {"x", recent_contacts(now)}};
  const std::uint64_t nonce = probe_nonce_;
  auto started = node_.extension_query(
      *super_, std::string(kProbe), std::move(args), now,
      [this, nonce](Result<ExtensionReply> reply, const OpStats&) {
        if (probe_nonce_ != nonce) return;  // answered already (the ping came first), or stale
        if (response_of(reply)) {
          probe_deadline_ = last_now_ + config_.probe_timeout;
        } else {
          probe_nonce_ = 0;  // inconclusive: no prober, rate, no reply
          probe_result(std::nullopt, last_now_);
        }
      },
      config_.service_timeout);
  if (!started) {
    probe_nonce_ = 0;
    next_probe_ = now + config_.probe_retry;
  }
}

// The outcome of a probe: true (the ping came), false (it did not), nullopt (no probe
// could be made). An inconclusive or failed one is tried again later; the entry goes
// out when what it says changes (and once, whatever the first outcome).
void Peer::probe_result(std::optional<bool> reachable, Time now) {
  if (!reachable) {
    next_probe_ = now + config_.probe_retry;
  } else if (!*reachable) {
    next_probe_ = now + config_.probe_retry * 10;
  }
  const bool changed = reachable && reachable_ != reachable;
  if (reachable) reachable_ = reachable;
  if ((changed || entry_wanted_) && super_) {
    entry_wanted_ = false;
    publish_entry(now);
  }
  if (reachable_ == true) schedule_eligibility(now);
}

bool Peer::sent_to_recently(const net::Endpoint& endpoint, Time now) const {
  if (now < contacts_overflow_until_) return true;
  return std::any_of(sent_.begin(), sent_.end(), [&](const Sent& s) {
    return s.to == endpoint && now - s.at < config_.contact_memory;
  });
}

// The endpoints we sent to within contact_memory, as compact peers (a prober among them
// would prove nothing).
std::string Peer::recent_contacts(Time now) const {
  std::string out;
  for (const Sent& s : sent_)
    if (now - s.at < config_.contact_memory && s.to.family() == net::Family::v4)
      append_compact_peer(out, s.to);
  return out;
}

bool Peer::take_probe_token(Time now) {
  const double seconds = std::chrono::duration<double>(now - probe_refill_).count();
  if (seconds > 0)
    probe_tokens_ = std::min(config_.probe_burst, probe_tokens_ + seconds * config_.probe_rate);
  probe_refill_ = std::max(probe_refill_, now);
  if (probe_tokens_ < 1) {
    ++counters_.probe_rate_limited;
    return false;
  }
  probe_tokens_ -= 1;
  return true;
}

krpc::ErrorReply Peer::bad_argument(std::string what) {
  ++counters_.bad_arguments;
  return krpc::ErrorReply{static_cast<std::int64_t>(krpc::ErrorCode::protocol), std::move(what)};
}

// A super peer asks us to ping `t` with nonce `n`. An ordinary peer takes it from its own
// super peer only (else anyone could aim our datagrams); both within probe_rate.
ExtensionAnswer Peer::on_probe_send(const krpc::Query& query, const net::Endpoint& from, Time now) {
  auto target = peer_arg(query.extra, kProbeSend, "t");
  if (auto* e = std::get_if<ArgError>(&target)) return bad_argument(e->message);
  auto nonce = string_arg(query.extra, kProbeSend, "n", 8, 8);
  if (auto* e = std::get_if<ArgError>(&nonce)) return bad_argument(e->message);
  if (role_ == PeerRole::ordinary && super_ != from)
    return krpc::ErrorReply{201, "nexo_probe_send: only from our super peer"};
  if (!take_probe_token(now)) return krpc::ErrorReply{202, "nexo_probe_send: probe rate exceeded"};
  const net::Endpoint to = std::get<net::Endpoint>(target);
  bencode::Dict args{{"n", std::string(std::get<std::string_view>(nonce))}};
  if (node_.extension_query(to, std::string(kProbePing), std::move(args), now, nullptr))
    ++counters_.probe_pings_sent;
  return bencode::Dict{};
}

ExtensionAnswer Peer::on_probe_ping(const krpc::Query& query, const net::Endpoint& from, Time now) {
  auto nonce = string_arg(query.extra, kProbePing, "n", 8, 8);
  if (auto* e = std::get_if<ArgError>(&nonce)) return bad_argument(e->message);
  if (role_ != PeerRole::ordinary || probe_nonce_ == 0 ||
      nonce_of(std::get<std::string_view>(nonce)) != probe_nonce_) {
    ++counters_.probe_pings_ignored;
    return bencode::Dict{};
  }
  probe_nonce_ = 0;
  probe_deadline_ = Time::max();
  if (sent_to_recently(from, now)) {
    // From a peer we sent to after asking (we were its prober meanwhile): it proves
    // nothing either way; asked again after probe_retry.
    ++counters_.probe_pings_ignored;
    probe_result(std::nullopt, now);
    return bencode::Dict{};
  }
  probe_result(true, now);
  return bencode::Dict{};
}

ExtensionAnswer Peer::on_deliver(const krpc::Query& query, const net::Endpoint&, Time now) {
  auto text = string_arg(query.extra, kDeliver, "m", 0, config_.max_text);
  if (auto* e = std::get_if<ArgError>(&text)) return bad_argument(e->message);
  auto sender = string_arg(query.extra, kDeliver, "f", 0, kMaxSaltBytes);
  if (auto* e = std::get_if<ArgError>(&sender)) return bad_argument(e->message);
  const bencode::Value* relayed = query.extra.find("r");
  const bool via_relay = relayed && relayed->is_integer() && relayed->integer() != 0;
  ++(via_relay ? counters_.delivered_relayed : counters_.delivered_direct);
  if (on_message_)
    on_message_(std::string(std::get<std::string_view>(sender)),
                std::string(std::get<std::string_view>(text)), now);
  return bencode::Dict{};
}

std::optional<net::Endpoint> Peer::super_peer() const {
  if (role_ == PeerRole::super) return self_;
  return super_;
}

}  // namespace nexo::overlay
