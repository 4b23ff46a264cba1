// Peer, the super side: the attached peers (bounded, dropped when their keep-alives
// stop), other super peers named from the routing table (whose contacts are all super
// peers: ordinary peers say ro: 1), probes arranged through a third node, and the
// deferred services for attached peers (directory lookups and puts) and for anyone
// (relays to an attached peer, within a rate per source).
#include <algorithm>
#include <cstring>
#include <optional>

#include "nexo/overlay/super_peer.hpp"
#include "nexo/overlay/super_peer_wire.hpp"

namespace nexo::overlay {

using namespace superpeer;

namespace {

constexpr std::size_t kMaxProbeCandidates = 16;

// What a put of an attached peer's entry came to: {n: nodes that stored it}; 301/302
// when a store holds a newer entry (the peer then gets it and puts seq + 1); 201 when
// stored nowhere.
ExtensionAnswer publish_answer(const Result<WriteResult>& r) {
  if (!r) return krpc::ErrorReply{201, "nexo_publish: " + r.error().to_string()};
  for (const std::int64_t code : r->error_codes)
    if (code == 301 || code == 302)
      return krpc::ErrorReply{
          code, "nexo_publish: " + std::string(describe(static_cast<PutCode>(code))) + " (" +
                    std::to_string(r->stored) + " of " + std::to_string(r->attempted) +
                    " stored it)"};
  if (r->stored == 0) return krpc::ErrorReply{201, "nexo_publish: stored nowhere"};
  return bencode::Dict{{"n", r->stored}};
}

}  // namespace

void Peer::register_super() {
  // A demoted peer keeps these handlers, and answers as a peer that never served.
  auto immediate = [this](auto member) {
    return [this, member](const krpc::Query& q, const net::Endpoint& from,
                          Time now) -> ExtensionAnswer {
      if (role_ != PeerRole::super) return krpc::ErrorReply{204, "Method Unknown"};
      return (this->*member)(q, from, now);
    };
  };
  auto deferred = [this](auto member) {
    return [this, member](const krpc::Query& q, const net::Endpoint& from, Time now,
                          ExtensionReplyTo to) {
      if (role_ != PeerRole::super)
        return node_.answer_deferred(to, krpc::ErrorReply{204, "Method Unknown"});
      (this->*member)(q, from, now, to);
    };
  };
  (void)node_.handle_extension(std::string(kAttach), immediate(&Peer::on_attach));
  (void)node_.handle_extension(std::string(kKeepalive), immediate(&Peer::on_keepalive));
  (void)node_.handle_extension(std::string(kSupers), immediate(&Peer::on_supers));
  (void)node_.handle_extension_deferred(std::string(kProbe), deferred(&Peer::on_probe));
  (void)node_.handle_extension_deferred(std::string(kLookup), deferred(&Peer::on_lookup));
  (void)node_.handle_extension_deferred(std::string(kPublish), deferred(&Peer::on_publish));
  (void)node_.handle_extension_deferred(std::string(kRelay), deferred(&Peer::on_relay));
}

bool Peer::is_attached(const net::Endpoint& peer) const noexcept {
  return std::any_of(attached_.begin(), attached_.end(),
                     [&](const Attached& a) { return a.endpoint == peer; });
}

// Up to `count` super peers drawn at random from the whole routing table (`except` left
// out; contacts that failed their last query too). Not the closest to a random id: those
// are mostly in the far buckets, which keep their oldest contacts, so every peer would
// get the same few (the longest-lived super peers, the most loaded ones) as standbys,
// and lose them together.
std::string Peer::other_supers(const net::Endpoint& except, std::size_t count, Time) {
  std::vector<NodeInfo> all;
  const RoutingTable& table = node_.routing_table();
  for (std::size_t i = 0; i < table.bucket_count(); ++i)
    for (const Contact& c : table.bucket(i))
      if (c.failures == 0 && c.endpoint != except) all.push_back(c.info());
  std::vector<NodeInfo> picked;
  while (picked.size() < count && !all.empty()) {
    const std::size_t i = random_.below(all.size());
    picked.push_back(all[i]);
    all[i] = all.back();
    all.pop_back();
  }
  return encode_compact_nodes(picked, net::Family::v4);
}

ExtensionAnswer Peer::on_attach(const krpc::Query&, const net::Endpoint& from, Time now) {
  auto it = std::find_if(attached_.begin(), attached_.end(),
                         [&](const Attached& a) { return a.endpoint == from; });
  if (it != attached_.end()) {
    it->last_seen = now;
  } else if (leaving_tier_) {
    return krpc::ErrorReply{201, "nexo_attach: super peer leaving the tier"};
  } else if (attached_.size() >= config_.max_attached) {
    ++counters_.refused_full;
    return krpc::ErrorReply{201,
                            "nexo_attach: super peer full: " + std::to_string(attached_.size()) +
                                " peers attached (max_attached)"};
  } else {
    attached_.push_back({from, now});
    demote_check_ = Time::max();  // needed
  }
  return bencode::Dict{{"a", compact_peer(from)}, {"s", other_supers(from, 4, now)}};
}

ExtensionAnswer Peer::on_keepalive(const krpc::Query& query, const net::Endpoint& from, Time now) {
  auto it = std::find_if(attached_.begin(), attached_.end(),
                         [&](const Attached& a) { return a.endpoint == from; });
  if (it == attached_.end()) return krpc::ErrorReply{201, "nexo_keepalive: not attached"};
  it->last_seen = now;
  bencode::Dict answer;
  if (const auto* w = query.extra.find("w"); w && w->is_integer() && w->integer() != 0)
    answer.insert_or_assign("s", other_supers(from, 4, now));
  return answer;
}

ExtensionAnswer Peer::on_supers(const krpc::Query&, const net::Endpoint& from, Time now) {
  return bencode::Dict{{"l", static_cast<std::int64_t>(attached_.size())},
                       {"m", static_cast<std::int64_t>(config_.max_attached)},
                       {"s", other_supers(from, 8, now)}};
}

void Peer::drop_silent(Time now) {
  next_sweep_ = now + config_.attached_timeout / 2;
  const auto before = attached_.size();
  std::erase_if(attached_,
                [&](const Attached& a) { return now - a.last_seen > config_.attached_timeout; });
  counters_.dropped_silent += before - attached_.size();
  if (attached_.empty() && !config_.bootstrap && demote_check_ == Time::max())
    demote_check_ = now + config_.idle_demote + jitter(config_.demand_jitter);
}

// The asker wants to know whether it takes unsolicited datagrams: a third node (another
// super peer, else one of our attached peers), none the asker sent to lately (`x`), pings
// it. Answered once that node says it sent the ping (the asker's deadline starts then).
void Peer::on_probe(const krpc::Query& query, const net::Endpoint& from, Time now,
                    ExtensionReplyTo reply_to) {
  auto nonce = string_arg(query.extra, kProbe, "n", 8, 8);
  if (auto* e = std::get_if<ArgError>(&nonce))
    return node_.answer_deferred(reply_to, bad_argument(e->message));
  auto avoid_bytes = string_arg(query.extra, kProbe, "x", 0, 64 * kCompactPeerV4);
  if (auto* e = std::get_if<ArgError>(&avoid_bytes))
    return node_.answer_deferred(reply_to, bad_argument(e->message));
  auto avoid = decode_compact_peers(std::get<std::string_view>(avoid_bytes), net::Family::v4);
  if (!avoid)
    return node_.answer_deferred(
        reply_to, bad_argument("nexo_probe: key \"x\": " + avoid.error().to_string()));
  if (pending_ >= config_.max_pending || !take_probe_token(now))
    return node_.answer_deferred(reply_to, krpc::ErrorReply{202, "nexo_probe: busy"});
  std::vector<net::Endpoint> candidates;
  auto usable = [&](const net::Endpoint& e) {
    return e != from && e != self_ && std::find(avoid->begin(), avoid->end(), e) == avoid->end();
  };
  auto supers = decode_compact_nodes(other_supers(from, 8, now), net::Family::v4);
  for (const NodeInfo& n : supers ? *supers : std::vector<NodeInfo>{})
    if (usable(n.endpoint)) candidates.push_back(n.endpoint);
  for (const Attached& a : attached_) {
    if (candidates.size() >= kMaxProbeCandidates) break;
    if (usable(a.endpoint)) candidates.push_back(a.endpoint);
  }
  if (candidates.empty()) {
    ++counters_.no_prober;
    return node_.answer_deferred(reply_to,
                                 krpc::ErrorReply{201, "nexo_probe: no prober available"});
  }
  const net::Endpoint prober = candidates[random_.below(candidates.size())];
  bencode::Dict args{{"t", compact_peer(from)},
                     {"n", std::string(std::get<std::string_view>(nonce))}};
  ++pending_;
  auto started = node_.extension_query(
      prober, std::string(kProbeSend), std::move(args), now,
      [this, reply_to](Result<ExtensionReply> reply, const OpStats&) {
        --pending_;
        if (response_of(reply)) {
          ++counters_.probes_arranged;
          node_.answer_deferred(reply_to, bencode::Dict{});
        } else {
          node_.answer_deferred(reply_to, krpc::ErrorReply{201, "nexo_probe: the prober failed"});
        }
      });
  if (!started) {
    --pending_;
    node_.answer_deferred(reply_to, krpc::ErrorReply{202, "nexo_probe: busy"});
  }
}

// The key and salt of a directory query (nexo_lookup, nexo_publish), from an attached
// peer, within its source's rate and max_pending; else nullopt, the refusal answered
// (203 a bad argument, 201 not attached, 202 busy).
std::optional<Peer::DirectoryRequest> Peer::admit_directory(std::string_view method,
                                                            const krpc::Query& query,
                                                            const net::Endpoint& from, Time now,
                                                            const ExtensionReplyTo& reply_to) {
  auto refuse = [&](ExtensionAnswer answer) {
    node_.answer_deferred(reply_to, std::move(answer));
    return std::nullopt;
  };
  auto key = string_arg(query.extra, method, "k", 32, 32);
  if (auto* e = std::get_if<ArgError>(&key)) return refuse(bad_argument(e->message));
  auto salt = string_arg(query.extra, method, "salt", 1, kMaxSaltBytes);
  if (auto* e = std::get_if<ArgError>(&salt)) return refuse(bad_argument(e->message));
  if (!is_attached(from))
    return refuse(krpc::ErrorReply{201, std::string(method) + ": not attached"});
  if (pending_ >= config_.max_pending || !take_relay_token(from, now))
    return refuse(krpc::ErrorReply{202, std::string(method) + ": busy"});
  DirectoryRequest request;
  std::memcpy(request.key.data(), std::get<std::string_view>(key).data(), request.key.size());
  request.raw_key = std::get<std::string_view>(key);
  request.salt = std::get<std::string_view>(salt);
  return request;
}

// A directory lookup for an attached peer: the DHT get, answered with the item as found
// (the asker checks the signature).
void Peer::on_lookup(const krpc::Query& query, const net::Endpoint& from, Time now,
                     ExtensionReplyTo reply_to) {
  const auto request = admit_directory(kLookup, query, from, now, reply_to);
  if (!request) return;
  const PublicKey k = request->key;
  ++pending_;
  auto started = node_.get_mutable(
      k, request->salt, now,
      [this, reply_to, k, salt = std::string(request->salt)](Result<GetMutableResult> r,
                                                             const OpStats&) {
        --pending_;
        ++counters_.lookups_served;
        if (!r) {
          node_.answer_deferred(reply_to,
                                krpc::ErrorReply{202, "nexo_lookup: " + r.error().to_string()});
          return;
        }
        bencode::Dict answer;
        if (auto item = newest(std::move(r->item), k, salt, last_now_)) {
          // Nested: seq, v and sig at the top of `r` are KRPC's own keys.
          if (auto v = krpc::Item::from_encoded(item->value)) {
            bencode::Dict found{
                {"seq", item->seq},
                {"sig", std::string(reinterpret_cast<const char*>(item->signature.data()),
                                    item->signature.size())},
                {"v", v->value()}};
            answer.insert_or_assign("item", std::move(found));
          }
        }
        node_.answer_deferred(reply_to, std::move(answer));
      });
  if (!started) {
    --pending_;
    node_.answer_deferred(reply_to, krpc::ErrorReply{202, "nexo_lookup: busy"});
  }
}

// An attached peer's directory entry, signed by it: checked, put, answered with the count
// of nodes that stored it.
void Peer::on_publish(const krpc::Query& query, const net::Endpoint& from, Time now,
                      ExtensionReplyTo reply_to) {
  const auto request = admit_directory(kPublish, query, from, now, reply_to);
  if (!request) return;
  auto sig = string_arg(query.extra, kPublish, "sig", 64, 64);
  if (auto* e = std::get_if<ArgError>(&sig))
    return node_.answer_deferred(reply_to, bad_argument(e->message));
  auto seq = int_arg(query.extra, kPublish, "seq");
  if (auto* e = std::get_if<ArgError>(&seq))
    return node_.answer_deferred(reply_to, bad_argument(e->message));
  const bencode::Value* v = query.extra.find("v");
  if (!v) return node_.answer_deferred(reply_to, bad_argument("nexo_publish: key \"v\": missing"));
  auto item = MutableItem::from_wire(request->raw_key, request->salt, std::get<std::int64_t>(seq),
                                     std::get<std::string_view>(sig), *v);
  if (!item)
    return node_.answer_deferred(reply_to,
                                 bad_argument("nexo_publish: " + item.error().to_string()));
  if (const PutCode code = item->check(); code != PutCode::stored) {
    ++counters_.bad_arguments;
    return node_.answer_deferred(
        reply_to, krpc::ErrorReply{static_cast<std::int64_t>(code), std::string(describe(code))});
  }
  std::optional<std::int64_t> cas;
  if (query.extra.find("cas")) {
    auto c = int_arg(query.extra, kPublish, "cas");
    if (auto* e = std::get_if<ArgError>(&c))
      return node_.answer_deferred(reply_to, bad_argument(e->message));
    cas = std::get<std::int64_t>(c);
  }
  ++pending_;
  auto started =
      node_.put_mutable(*item, cas, now, [this, reply_to](Result<WriteResult> r, const OpStats&) {
        --pending_;
        ++counters_.puts_served;
        node_.answer_deferred(reply_to, publish_answer(r));
      });
  if (!started) {
    --pending_;
    node_.answer_deferred(reply_to, krpc::ErrorReply{202, "nexo_publish: busy"});
  }
}

// A message for one of our attached peers, forwarded over the mapping its keep-alives
// hold open; answered when the callee acknowledged it.
void Peer::on_relay(const krpc::Query& query, const net::Endpoint& from, Time now,
                    ExtensionReplyTo reply_to) {
  auto target = peer_arg(query.extra, kRelay, "t");
  if (auto* e = std::get_if<ArgError>(&target))
    return node_.answer_deferred(reply_to, bad_argument(e->message));
  auto text = string_arg(query.extra, kRelay, "m", 0, config_.max_text);
  if (auto* e = std::get_if<ArgError>(&text))
    return node_.answer_deferred(reply_to, bad_argument(e->message));
  auto sender = string_arg(query.extra, kRelay, "f", 0, kMaxSaltBytes);
  if (auto* e = std::get_if<ArgError>(&sender))
    return node_.answer_deferred(reply_to, bad_argument(e->message));
  const net::Endpoint callee = std::get<net::Endpoint>(target);
  if (!is_attached(callee)) {
    ++counters_.relay_refused;
    return node_.answer_deferred(reply_to,
                                 krpc::ErrorReply{201, "nexo_relay: callee not attached here"});
  }
  if (pending_ >= config_.max_pending || !take_relay_token(from, now)) {
    ++counters_.relay_refused;
    return node_.answer_deferred(reply_to,
                                 krpc::ErrorReply{202, "nexo_relay: relay rate exceeded"});
  }
  bencode::Dict args{{"m", std::string(std::get<std::string_view>(text))},
                     {"f", std::string(std::get<std::string_view>(sender))},
                     {"r", 1}};
  ++pending_;
  auto started = node_.extension_query(
      callee, std::string(kDeliver), std::move(args), now,
      [this, reply_to](Result<ExtensionReply> reply, const OpStats&) {
        --pending_;
        if (response_of(reply)) {
          ++counters_.relays;
          node_.answer_deferred(reply_to, bencode::Dict{});
        } else {
          ++counters_.relay_failed;
          node_.answer_deferred(reply_to,
                                krpc::ErrorReply{201, "nexo_relay: callee did not answer"});
        }
      });
  if (!started) {
    --pending_;
    node_.answer_deferred(reply_to, krpc::ErrorReply{202, "nexo_relay: busy"});
  }
}

// The token bucket of `from`'s address (relays, lookups, puts); false when empty.
bool Peer::take_relay_token(const net::Endpoint& from, Time now) {
  if (config_.max_relay_sources == 0) return false;
  auto it = std::find_if(relay_sources_.begin(), relay_sources_.end(),
                         [&](const Bucket& b) { return b.source == from.address(); });
  if (it == relay_sources_.end()) {
    if (relay_sources_.size() < config_.max_relay_sources) {
      relay_sources_.push_back({from.address(), config_.relay_burst, now});
      it = relay_sources_.end() - 1;
    } else {
      it = std::min_element(relay_sources_.begin(), relay_sources_.end(),
                            [](const Bucket& a, const Bucket& b) { return a.last < b.last; });
      *it = {from.address(), config_.relay_burst, now};
    }
  } else {
    const double seconds = std::chrono::duration<double>(now - it->last).count();
    if (seconds > 0)
      it->tokens = std::min(config_.relay_burst, it->tokens + seconds * config_.relay_rate);
    it->last = std::max(it->last, now);
  }
  if (it->tokens < 1) return false;
  it->tokens -= 1;
  return true;
}

}  // namespace nexo::overlay
