// Node: the operations this node starts (node.hpp's API) and their state machines
// (node_operation.hpp): single queries, lookups with their write phases, bootstrap.
#include <algorithm>

#include "nexo/overlay/node_operation.hpp"

namespace nexo::overlay {

// --- The API.

Result<void> Node::bootstrap(std::span<const net::Endpoint> endpoints, Time now,
                             OpCallback<std::size_t> done) {
  if (endpoints.empty())
    return Error(ErrorKind::invalid_argument, "dht bootstrap: no endpoint given");
  std::vector<net::Endpoint> list(endpoints.begin(), endpoints.end());
  if (list.size() > config_.max_bootstrap_endpoints) list.resize(config_.max_bootstrap_endpoints);
  return start(std::make_unique<BootstrapOp>(*this, std::move(list), now, std::move(done)), now);
}

Result<void> Node::ping(const net::Endpoint& endpoint, Time now, OpCallback<NodeInfo> done) {
  return start(std::make_unique<SingleQueryOp>(now, endpoint, krpc::ping(id()), std::move(done)),
               now);
}

Result<void> Node::find_node(const NodeId& target, Time now,
                             OpCallback<std::vector<NodeInfo>> done) {
  return start(std::make_unique<LookupOp>(Goal::find_node, target, *this, now, std::move(done)),
               now);
}

Result<void> Node::get_peers(const NodeId& info_hash, Time now, OpCallback<GetPeersResult> done) {
  return start(std::make_unique<LookupOp>(Goal::get_peers, info_hash, *this, now, std::move(done)),
               now);
}

Result<void> Node::announce(const NodeId& info_hash, std::uint16_t port, Time now,
                            OpCallback<WriteResult> done) {
  auto op = std::make_unique<LookupOp>(Goal::announce, info_hash, *this, now, std::move(done));
  op->port = port;
  return start(std::move(op), now);
}

Result<void> Node::put_immutable(std::string_view encoded_value, Time now,
                                 OpCallback<WriteResult> done) {
  const PutCode check = check_immutable(encoded_value);
  if (check == PutCode::too_big)
    return Error(ErrorKind::too_large, "dht put: value of " + std::to_string(encoded_value.size()) +
                                           " bytes, BEP 44 allows 1000");
  auto item = krpc::Item::from_encoded(encoded_value);
  if (check != PutCode::stored || !item)
    return Error(ErrorKind::malformed, "dht put: the value is not one canonical bencoded value");
  const NodeId target = immutable_target(encoded_value);
  auto op = std::make_unique<LookupOp>(Goal::put_immutable, target, *this, now, std::move(done));
  op->value = std::move(*item);
  auto started = start(std::move(op), now);
  if (started) remember_originated(target, std::string(encoded_value), std::nullopt, now);
  return started;
}

Result<void> Node::get_immutable(const NodeId& key, Time now, OpCallback<GetImmutableResult> done) {
  return start(std::make_unique<LookupOp>(Goal::get_immutable, key, *this, now, std::move(done)),
               now);
}

Result<void> Node::put_mutable(const MutableItem& item, std::optional<std::int64_t> cas, Time now,
                               OpCallback<WriteResult> done) {
  const PutCode check = item.check();
  if (check != PutCode::stored)
    return Error(ErrorKind::invalid_argument,
                 "dht put: mutable item refused: " + std::string(describe(check)));
  auto op =
      std::make_unique<LookupOp>(Goal::put_mutable, item.target(), *this, now, std::move(done));
  op->item = item;
  op->cas = cas;
  auto started = start(std::move(op), now);
  if (started) remember_originated(item.target(), {}, item, now);
  return started;
}

Result<void> Node::hand_over(const StoredItem& item, Time now, OpCallback<WriteResult> done) {
  if (item.expires - now < kMinTtl)
    return Error(ErrorKind::invalid_argument, "dht hand-over: the item has (all but) expired");
  std::unique_ptr<LookupOp> op;
  if (item.is_mutable) {
    const PutCode check = item.as_mutable().check();
    if (check != PutCode::stored)
      return Error(ErrorKind::invalid_argument,
                   "dht hand-over: mutable item refused: " + std::string(describe(check)));
    op = std::make_unique<LookupOp>(Goal::put_mutable, item.target, *this, now, std::move(done));
    op->item = item.as_mutable();
  } else {
    auto value = krpc::Item::from_encoded(item.value);
    if (!value)
      return Error(ErrorKind::invalid_argument,
                   "dht hand-over: immutable item refused: " + value.error().message());
    op = std::make_unique<LookupOp>(Goal::put_immutable, item.target, *this, now, std::move(done));
    op->value = std::move(*value);
  }
  op->elsewhere = true;
  op->expires = item.expires;
  return start(std::move(op), now);
}

Result<void> Node::get_mutable(const PublicKey& key, std::string_view salt, Time now,
                               OpCallback<GetMutableResult> done) {
  if (salt.size() > kMaxSaltBytes)
    return Error(ErrorKind::too_large,
                 "dht get: salt of " + std::to_string(salt.size()) + " bytes, BEP 44 allows 64");
  MutableItem wanted;
  wanted.key = key;
  wanted.salt = std::string(salt);
  auto op =
      std::make_unique<LookupOp>(Goal::get_mutable, wanted.target(), *this, now, std::move(done));
  op->item = std::move(wanted);
  return start(std::move(op), now);
}

Result<void> Node::extension_query(const net::Endpoint& endpoint, std::string method,
                                   wire::bencode::Dict args, Time now,
                                   OpCallback<ExtensionReply> done, Duration timeout) {
  if (!method.starts_with(krpc::kExtensionPrefix) || args.find("id") != nullptr)
    return Error(ErrorKind::invalid_argument,
                 "dht extension query \"" + method + "\": the method must start with \"" +
                     std::string(krpc::kExtensionPrefix) + "\" and the arguments hold no \"id\"");
  auto query = krpc::extension(id(), std::move(method), std::move(args));
  // A query due within a round trip that goes unanswered counts against the contact at
  // that endpoint, as a DHT query does; one given a longer timeout waits on the replier's
  // own work, and its timeout says nothing about the replier's liveness.
  std::optional<NodeId> expected;
  if (timeout == Duration{})
    if (const Contact* contact = routing_.find_at(endpoint)) expected = contact->id;
  return start(std::make_unique<SingleQueryOp>(now, endpoint, std::move(query), std::move(done),
                                               timeout, expected),
               now);
}

// --- SingleQueryOp.

void SingleQueryOp::start(Node& node, Time now) {
  stats.rounds = 1;
  if (!send(node, query_, to_, expected_, now, timeout_)) {
    error_ = Error(ErrorKind::overloaded, "dht " + std::string(query_.method_name()) + " to " +
                                              to_.to_string() + ": too many queries outstanding");
    finish(node);
  }
}

void SingleQueryOp::on_response(Node& node, const RpcEntry&, const krpc::Response& response,
                                Time now) {
  response_ = response;
  stamp(now);
  finish(node);
}

void SingleQueryOp::on_failure(Node& node, const RpcEntry&, const krpc::ErrorReply* error,
                               Time now) {
  const std::string what = "dht " + std::string(query_.method_name()) + " to " + to_.to_string();
  if (error) {
    krpc_error_ = *error;
    error_ = Error(ErrorKind::refused,
                   what + ": error " + std::to_string(error->code) + " \"" + error->message + "\"");
  } else {
    ++stats.timeouts;
    error_ = Error(ErrorKind::timed_out, what + ": no reply");
  }
  stamp(now);
  finish(node);
}

void SingleQueryOp::complete(Time) {
  if (auto* cb = std::get_if<OpCallback<NodeInfo>>(&done_)) {
    if (!*cb) return;
    if (response_)
      (*cb)(NodeInfo{response_->id, to_}, stats);
    else
      (*cb)(*error_, stats);
    return;
  }
  auto& cb = std::get<OpCallback<ExtensionReply>>(done_);
  if (!cb) return;
  if (response_)
    cb(ExtensionReply(std::move(*response_)), stats);
  else if (krpc_error_)
    cb(ExtensionReply(std::move(*krpc_error_)), stats);
  else
    cb(*error_, stats);
}

// --- LookupOp.

namespace {

krpc::Query lookup_query(Goal goal, const NodeId& own, const NodeId& target) {
  switch (goal) {
    case Goal::find_node:
    case Goal::refresh:
      return krpc::find_node(own, target);
    case Goal::get_peers:
    case Goal::announce:
      return krpc::get_peers(own, target);
    default:
      return krpc::get_item(own, target);
  }
}

}  // namespace

LookupOp::LookupOp(Goal goal, const NodeId& target, const Node& node, Time now, Callback done)
    : Operation(now),
      goal_(goal),
      target_(target),
      lookup_(target, node.id(), config(node).lookup),
      query_(lookup_query(goal, node.id(), target)),
      done_(std::move(done)),
      peer_limit_(config(node).max_peers_collected) {
  write_.target = target;
}

// Seeds: the 2k closest contacts, not k. The lookup asks the closest first, so the others
// cost nothing unless those fail; under churn a table's k closest to a key may all be dead
// (BEP 5 keeps a contact until it fails a query), and a lookup seeded with them alone
// ends empty.
void LookupOp::start(Node& node, Time now) {
  lookup_.add_candidates(node.closest_contacts(target_, 2 * config(node).lookup.k, now));
  pump(node, now);
}

void LookupOp::pump(Node& node, Time now) {
  for (;;) {
    while (auto next = lookup_.next_request(now)) {
      // A candidate bad in our table: no expected id (the node-wide RTO, not its own
      // backed-off one) and no retry (on_soft_timeout abandons it at once).
      const bool bad = known_bad(node, *next, now);
      if (!send(node, query_, next->endpoint, bad ? std::nullopt : std::optional(next->id), now))
        lookup_.on_failure(next->endpoint);
      else if (bad)
        retries_.push_back({next->endpoint, 1});
    }
    if (!lookup_.done()) return;
    // Ended short of k answers: once, seed again from the table, where the contacts that
    // failed meanwhile are now bad (left out) and others may have come in.
    if (reseeded_ || lookup_.result().size() >= config(node).lookup.k) break;
    reseeded_ = true;
    const std::size_t before = lookup_.candidate_count();
    lookup_.add_candidates(node.closest_contacts(target_, 2 * config(node).lookup.k, now));
    if (lookup_.candidate_count() == before) break;
  }
  stats.rounds = static_cast<std::uint32_t>(lookup_.rounds());
  begin_writes(node, now);
}

// A candidate that a reply named but that our own table holds as bad (it failed
// bad_after_failures queries in a row, and has not been heard from since) is asked once,
// on the node-wide RTO, without a retry: the replier may not have queried it since it
// died, or a partition between us may have healed (an answer makes it good again).
// Asking it as any other held the lookup two of its own RTOs, backed off with each
// failure (up to 8 s each): in a DHT of a few super peers, where a survivor still named a
// closed one in every reply, every get then outlasted the tier's service_timeout.
bool LookupOp::known_bad(Node& node, const NodeInfo& candidate, Time now) {
  const Contact* contact = routing(node).find(candidate.id);
  if (!contact || contact->endpoint != candidate.endpoint ||
      routing(node).state(*contact, now) != ContactState::bad)
    return false;
  ++counters(node).lookup_bad_candidates;
  return true;
}

void LookupOp::on_response(Node& node, const RpcEntry& entry, const krpc::Response& response,
                           Time now) {
  if (phase_ == Phase::write) {
    if (!is_write(entry)) return;  // a late lookup reply (a retry's twin)
    ++write_.stored;
    stamp(now);
    write_done(node);
    return;
  }
  if (phase_ != Phase::lookup) return;
  const auto* nodes = reply_nodes(node, response);
  const auto outcome =
      lookup_.on_reply(NodeInfo{response.id, entry.destination},
                       nodes ? std::span<const NodeInfo>(*nodes) : std::span<const NodeInfo>(), now,
                       response.token.value_or(std::string()));
  if (outcome != ReplyOutcome::not_in_flight) collect(response, entry.destination);
  pump(node, now);
  stamp(now);
}

// True for the queries of the write phase (the RpcTable's kind is the method).
bool LookupOp::is_write(const RpcEntry& entry) noexcept {
  const auto method = static_cast<krpc::Method>(entry.kind);
  return method == krpc::Method::put || method == krpc::Method::announce_peer;
}

// Gathers what a lookup reply carries besides nodes: peers, an item.
void LookupOp::collect(const krpc::Response& response, const net::Endpoint& from) {
  if (response.values && (goal_ == Goal::get_peers || goal_ == Goal::announce)) {
    for (const auto& peer : *response.values) {
      if (peers_.size() >= peer_limit_) break;
      if (std::find(peers_.begin(), peers_.end(), peer) == peers_.end()) peers_.push_back(peer);
    }
  }
  if (goal_ == Goal::get_immutable || goal_ == Goal::put_immutable) {
    const bool holds = response.v && immutable_target(response.v->encoded()) == target_;
    if (holds && !found_value_) found_value_ = *response.v;
    if (holds) note_ttl(response);
    held_.emplace_back(from, holds ? 0 : -1);
  } else if (goal_ == Goal::get_mutable || goal_ == Goal::put_mutable) {
    std::int64_t seq = response.seq.value_or(-1);
    if (response.v && response.k && response.sig && response.seq && item) {
      MutableItem got{*response.k, item->salt, *response.seq, std::string(response.v->encoded()),
                      *response.sig};
      if (got.key != item->key || got.check() != PutCode::stored) {
        seq = -1;  // a forgery or another key's item: counts as not held
      } else if (!found_item_ || got.seq > found_item_->seq) {
        found_item_ = std::move(got);
        found_ttl_.reset();  // a newer item: only its holders' lifetimes count
        note_ttl(response);
      } else if (got.seq == found_item_->seq) {
        note_ttl(response);
      }
    }
    held_.emplace_back(from, seq);
  }
}

// A holder of the found item said how long its copy has left (nexo_ttl): read repair hands
// the item on with the longest of these, so a repaired copy does not outlive every copy
// it came from. None said (other implementations): the repair is a plain put, which
// the store keeps a full lifetime. A malformed nexo_ttl is ignored.
void LookupOp::note_ttl(const krpc::Response& response) {
  auto ttl = read_ttl(response.extra);
  if (!ttl || !*ttl) return;
  if (!found_ttl_ || **ttl > *found_ttl_) found_ttl_ = **ttl;
}

void LookupOp::on_failure(Node& node, const RpcEntry& entry, const krpc::ErrorReply* error,
                          Time now) {
  if (!error) ++stats.timeouts;
  if (phase_ == Phase::write) {
    if (!is_write(entry)) return;
    if (error) write_.error_codes.push_back(error->code);
    stamp(now);
    write_done(node);
    return;
  }
  if (phase_ != Phase::lookup) return;
  if (!error && retry_pending(entry.destination)) return;  // its twin may still be answered
  lookup_.on_failure(entry.destination);
  pump(node, now);
  stamp(now);
}

// Past its RTO a query may be lost: it is sent once more (KRPC never retransmits, a retry
// is a new transaction), and the lookup asks another node meanwhile. Without this, one
// datagram lost in 20 drops a live node from the result (5% loss: 90% of the true k
// closest found, 99% with it); it costs a datagram per slow node. When the retry is slow
// too (or none was sent), the lookup stops waiting for that node (Lookup::abandon): a
// dead node then holds a lookup two RTOs, not the hard timeout. Either query's reply is
// still taken until the lookup ends.
void LookupOp::on_soft_timeout(Node& node, const RpcEntry& entry, Time now) {
  if (phase_ != Phase::lookup) return;
  const bool first = std::none_of(retries_.begin(), retries_.end(),
                                  [&](const Retry& r) { return r.endpoint == entry.destination; });
  bool retried = false;
  if (config(node).retry_slow_queries && first &&
      retries_.size() < config(node).lookup.max_requests &&
      send(node, query_, entry.destination, entry.expected_id, now)) {
    retries_.push_back({entry.destination, 2});
    retried = true;
  }
  lookup_.on_soft_timeout(entry.destination);
  if (!retried) lookup_.abandon(entry.destination);
  pump(node, now);
}

// A query to `endpoint` failed: true when its twin (a retry) is still outstanding.
bool LookupOp::retry_pending(const net::Endpoint& endpoint) noexcept {
  for (Retry& r : retries_) {
    if (r.endpoint != endpoint) continue;
    if (r.outstanding > 0) --r.outstanding;
    return r.outstanding > 0;
  }
  return false;
}

// The lookup is done: the write phase of the goal (announce, put, read repair), if any.
void LookupOp::begin_writes(Node& node, Time now) {
  phase_ = Phase::write;
  for (auto& responder : lookup_.responders())
    closest_.push_back({responder.node, std::move(responder.payload)});
  const bool here = putter_among_closest(node);
  // The putter is one of the k: the k - 1 closest others get the item (closest_ is in
  // distance order, the k closest that answered).
  if (here && closest_.size() >= config(node).lookup.k) closest_.pop_back();
  auto seq_held = [&](const net::Endpoint& at) {
    for (const auto& [endpoint, seq] : held_)
      if (endpoint == at) return seq;
    return std::int64_t{-1};
  };
  for (const TokenNode& target : closest_) {
    if (target.token.empty()) continue;
    bool wanted = false;
    switch (goal_) {
      case Goal::announce:
      case Goal::put_immutable:
      case Goal::put_mutable:
        wanted = true;
        break;
      case Goal::get_immutable:  // read repair
        wanted = found_value_ && seq_held(target.node.endpoint) < 0;
        break;
      case Goal::get_mutable:
        wanted = found_item_ && seq_held(target.node.endpoint) < found_item_->seq;
        break;
      default:
        break;
    }
    if (wanted && write_to(node, target, now)) {
      ++write_.attempted;
      write_.nodes.push_back(target.node);
    }
  }
  if (here) store_here(node, now);
  if (writes_pending_ == 0) {
    phase_ = Phase::done;
    stamp(now);
    finish(node);
  }
}

// BEP 44 stores an item on the k nodes closest to its key; the putter is one of them when
// it is closer than the farthest that answered, or when fewer than k answered (a DHT
// smaller than k + 1: without this, a put in a DHT of two live nodes stored one copy,
// and in a DHT of one, none). It then keeps a copy, counted as a node that stored it,
// and sends the item to the k - 1 closest others. A read-only node (BEP 43, such as
// `nexo overlay put`'s one-shot node) never keeps one.
bool LookupOp::putter_among_closest(Node& node) const {
  if (goal_ != Goal::put_immutable && goal_ != Goal::put_mutable) return false;
  if (config(node).read_only) return false;  // BEP 43: not part of the DHT, holds nothing
  if (elsewhere) return false;               // handing over: leaving the DHT
  return closest_.size() < config(node).lookup.k ||
         std::any_of(closest_.begin(), closest_.end(),
                     [&](const TokenNode& t) { return closer_to(target_, own(node), t.node.id); });
}

void LookupOp::store_here(Node& node, Time now) {
  PutCode code = PutCode::stored;
  if (goal_ == Goal::put_immutable) {
    if (!value) return;
    code = items(node).put_immutable(value->encoded(), node.endpoint(), now);
  } else {
    code = items(node).put_mutable(*item, cas, node.endpoint(), now);
  }
  ++write_.attempted;
  if (code == PutCode::stored)
    ++write_.stored;
  else
    write_.error_codes.push_back(static_cast<std::int64_t>(code));
}

bool LookupOp::write_to(Node& node, const TokenNode& target, Time now) {
  krpc::Query query;
  const NodeId& self = own(node);
  if (goal_ == Goal::announce) {
    const bool implied = port == 0;
    query = krpc::announce_peer(self, target_, implied ? node.endpoint().port() : port,
                                target.token, implied);
  } else if (goal_ == Goal::put_immutable || goal_ == Goal::get_immutable) {
    query = krpc::put_immutable(self, target.token, value ? *value : *found_value_);
  } else {
    const MutableItem& m = goal_ == Goal::put_mutable ? *item : *found_item_;
    auto v = krpc::Item::from_encoded(m.value);
    if (!v) return false;
    query = krpc::put_mutable(self, target.token, std::move(*v), m.key, m.signature, m.seq, m.salt,
                              goal_ == Goal::put_mutable ? cas : std::nullopt);
  }
  const bool repair = goal_ == Goal::get_immutable || goal_ == Goal::get_mutable;
  if (repair && found_ttl_) write_ttl(query.extra, *found_ttl_);
  if (expires) {
    if (*expires - now < kMinTtl) return false;  // expired while the lookup ran
    write_ttl(query.extra, *expires - now);
  }
  if (!send(node, query, target.node.endpoint, target.node.id, now)) return false;
  ++writes_pending_;
  return true;
}

void LookupOp::write_done(Node& node) {
  if (writes_pending_ > 0) --writes_pending_;
  if (writes_pending_ > 0) return;
  phase_ = Phase::done;
  finish(node);
}

void LookupOp::complete(Time now) {
  if (stats.elapsed == Duration::zero()) stamp(now);
  std::visit(
      [&](auto& cb) {
        using T = std::decay_t<decltype(cb)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return;
        } else {
          if (!cb) return;
          if constexpr (std::is_same_v<T, OpCallback<std::vector<NodeInfo>>>) {
            cb(lookup_.result(), stats);
          } else if constexpr (std::is_same_v<T, OpCallback<GetPeersResult>>) {
            cb(GetPeersResult{std::move(peers_), std::move(closest_)}, stats);
          } else if constexpr (std::is_same_v<T, OpCallback<WriteResult>>) {
            cb(std::move(write_), stats);
          } else if constexpr (std::is_same_v<T, OpCallback<GetImmutableResult>>) {
            GetImmutableResult r;
            if (found_value_) r.value = std::string(found_value_->encoded());
            r.repaired = write_.stored;
            cb(std::move(r), stats);
          } else {
            cb(GetMutableResult{std::move(found_item_), write_.stored}, stats);
          }
        }
      },
      done_);
}

}  // namespace nexo::overlay
