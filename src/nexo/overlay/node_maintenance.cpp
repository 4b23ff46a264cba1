// Node: what keeps the node and its data alive — query deadlines, bucket refresh,
// expiry, republishing, re-replication — and the operations that join (bootstrap) and
// copy items (replication).
#include <algorithm>

#include "nexo/overlay/node_operation.hpp"

namespace nexo::overlay {

// --- Timers.

void Node::expire_queries(Time now) {
  std::vector<RpcEntry> entries;
  rpcs_.soft_expired(now, entries);
  for (const RpcEntry& entry : entries) {
    if (Operation* op = entry.owner ? find_operation(entry.owner) : nullptr)
      op->on_soft_timeout(*this, entry, now);
  }
  entries.clear();
  rpcs_.expire(now, entries);
  for (const RpcEntry& entry : entries) {
    ++counters_.timeouts;
    if (entry.expected_id) (void)routing_.failed(*entry.expected_id, entry.destination, now);
    if (Operation* op = entry.owner ? find_operation(entry.owner) : nullptr)
      op->on_failure(*this, entry, nullptr, now);
  }
}

void Node::maintain(Time now) {
  next_maintenance_ = now + config_.maintenance_period;
  peers_.expire(now);
  items_.expire(now);
  if (!config_.read_only) refresh_buckets(now);
  republish(now);
  if (now >= next_replication_) {
    next_replication_ = now + config_.replication.interval;
    replicate_periodically(now);
  }
  forget_idle_sources(now);
}

// A source whose bucket has refilled is no different from one never seen: dropping it
// keeps the rate-limit table as small as the current traffic.
void Node::forget_idle_sources(Time now) {
  const RateLimitConfig& limit = config_.rate_limit;
  if (sources_.empty() || limit.rate <= 0) return;
  const auto refill =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(limit.burst / limit.rate));
  std::erase_if(sources_, [&](const Source& s) { return now - s.last >= refill; });
  if (sources_.capacity() > 2 * sources_.size() + 8) sources_.shrink_to_fit();
}

// Contacts that are not bad (the ones a lookup may ask).
std::size_t Node::usable_contacts(Time now) const {
  std::size_t usable = 0;
  for (std::size_t b = 0; b < routing_.bucket_count(); ++b)
    for (const Contact& c : routing_.bucket(b))
      usable += routing_.state(c, now) != ContactState::bad;
  return usable;
}

// BEP 5: a bucket unchanged for refresh_interval gets a find_node for a random id in it.
// A small table (NodeConfig::small_table) also looks up our own id, sooner.
void Node::refresh_buckets(Time now) {
  if (config_.small_table > 0 && now >= next_small_refresh_ &&
      usable_contacts(now) < config_.small_table) {
    next_small_refresh_ = now + config_.small_table_refresh;
    if (start_internal(std::make_unique<LookupOp>(Goal::refresh, id(), *this, now), now))
      ++counters_.small_refreshes;
  }
  if (routing_.size() == 0 || now < routing_.next_refresh()) return;
  for (const NodeId& target : routing_.refresh_targets(now, random_)) {
    if (!start_internal(std::make_unique<LookupOp>(Goal::refresh, target, *this, now), now)) break;
    ++counters_.refreshes;
  }
}

void Node::remember_originated(const NodeId& target, std::string value,
                               std::optional<MutableItem> item, Time now) {
  auto it = std::find_if(originated_.begin(), originated_.end(),
                         [&](const Originated& o) { return o.target == target; });
  if (it == originated_.end()) {
    if (config_.max_originated == 0) return;
    if (originated_.size() >= config_.max_originated) originated_.erase(originated_.begin());
    originated_.push_back({target, {}, {}, {}});
    it = originated_.end() - 1;
  }
  it->value = std::move(value);
  it->item = std::move(item);
  it->next_republish = now + config_.republish_interval;
}

// BEP 44: the originator puts its items again every republish_interval (stores drop
// them after 2 hours otherwise).
void Node::republish(Time now) {
  for (Originated& o : originated_) {
    if (now < o.next_republish) continue;
    std::unique_ptr<LookupOp> op;
    if (o.item) {
      op = std::make_unique<LookupOp>(Goal::put_mutable, o.target, *this, now);
      op->item = *o.item;
    } else if (auto value = krpc::Item::from_encoded(o.value)) {
      op = std::make_unique<LookupOp>(Goal::put_immutable, o.target, *this, now);
      op->value = std::move(*value);
    }
    if (op && !start_internal(std::move(op), now)) return;  // again at the next maintenance
    o.next_republish = now + config_.republish_interval;
    ++counters_.republished;
  }
}

// --- Re-replication (node.hpp's ReplicationConfig).

bool Node::replication_allowed(Time now) {
  const ReplicationConfig& rc = config_.replication;
  const double seconds = std::chrono::duration<double>(now - replication_refill_).count();
  if (seconds > 0) {
    replication_tokens_ = std::min(rc.burst, replication_tokens_ + seconds * rc.rate);
    replication_refill_ = now;
  }
  std::size_t in_progress = 0;
  for (const auto& op : operations_)
    if (dynamic_cast<const ReplicateOp*>(op.get())) ++in_progress;
  if (replication_tokens_ < 1 || in_progress >= rc.max_in_progress ||
      operations_.size() >= config_.max_operations) {
    ++counters_.replications_skipped;
    return false;
  }
  replication_tokens_ -= 1;
  return true;
}

void Node::start_replication(const NodeInfo& node, const StoredItem& item, Time now) {
  if (!replication_allowed(now)) return;
  if (start_internal(std::make_unique<ReplicateOp>(now, node, item), now)) ++counters_.replications;
}

// A contact new to the table: every stored item whose key it is closer to than the
// farthest of the k closest contacts we know for that key is sent to it. (Not "is it in
// closest()": that prefers good contacts, and a newcomer is not good yet. The k closest
// as the node ranks them (closest_contacts): with good ones first in a quiet network,
// a contact 15 minutes old gave way to farther fresh ones, and every newcomer looked
// close enough to get a copy, which kept alive items nobody republished.)
void Node::replicate_to_newcomer(const NodeInfo& node, Time now) {
  const std::size_t k = config_.routing.k;
  for (std::size_t i = 0; i < items_.item_count(); ++i) {
    const StoredItem& item = items_.item(i);
    if (item.expires - now < kMinTtl) continue;
    const auto closest = closest_contacts(item.target, k, now);
    const bool close =
        closest.size() < k || std::any_of(closest.begin(), closest.end(), [&](const NodeInfo& c) {
          return c.id == node.id || closer_to(item.target, node.id, c.id);
        });
    if (close) start_replication(node, item, now);
  }
}

void Node::replicate_periodically(Time now) {
  const std::size_t k = config_.routing.k;
  for (std::size_t i = 0; i < items_.item_count(); ++i) {
    const StoredItem item = items_.item(i);  // a copy: starting operations may send
    if (item.expires - now < kMinTtl) continue;
    for (const NodeInfo& contact : closest_contacts(item.target, k, now))
      start_replication(contact, item, now);
  }
}

// --- ReplicateOp: get (for a token, and to see what the node holds), then put if needed,
// with the item's remaining lifetime (nexo_ttl): a replica never outlives the copy it came from.

void ReplicateOp::start(Node& node, Time now) {
  stats.rounds = 1;
  auto query =
      krpc::get_item(own(node), item_.target,
                     item_.is_mutable ? std::optional<std::int64_t>(item_.seq) : std::nullopt);
  if (!send(node, query, to_.endpoint, to_.id, now)) finish(node);
}

void ReplicateOp::on_response(Node& node, const RpcEntry&, const krpc::Response& response,
                              Time now) {
  if (putting_) {
    finish(node);
    return;
  }
  const bool holds =
      item_.is_mutable ? response.seq && *response.seq >= item_.seq : response.v.has_value();
  auto v = krpc::Item::from_encoded(item_.value);
  if (holds || !response.token || !v) {
    finish(node);
    return;
  }
  if (item_.expires - now < kMinTtl) {  // (as good as) expired while the get was out
    finish(node);
    return;
  }
  krpc::Query put = item_.is_mutable
                        ? krpc::put_mutable(own(node), *response.token, std::move(*v), item_.key,
                                            item_.signature, item_.seq, item_.salt)
                        : krpc::put_immutable(own(node), *response.token, std::move(*v));
  write_ttl(put.extra, item_.expires - now);  // the copy lives what ours has left
  putting_ = true;
  if (!send(node, put, to_.endpoint, to_.id, now)) {
    finish(node);
    return;
  }
  ++counters(node).replicated_puts;
}

void ReplicateOp::on_failure(Node& node, const RpcEntry&, const krpc::ErrorReply*, Time) {
  finish(node);
}

// --- BootstrapOp.

BootstrapOp::BootstrapOp(const Node& node, std::vector<net::Endpoint> endpoints, Time now,
                         OpCallback<std::size_t> done)
    : Operation(now),
      endpoints_(std::move(endpoints)),
      lookup_(node.id(), node.id(), config(node).lookup),
      query_(krpc::find_node(node.id(), node.id())),
      done_(std::move(done)) {}

void BootstrapOp::start(Node& node, Time now) {
  attempts_.assign(endpoints_.size(), 1);
  for (const net::Endpoint& endpoint : endpoints_) {
    if (endpoint == node.endpoint()) continue;
    if (send(node, query_, endpoint, std::nullopt, now)) ++probes_pending_;
  }
  if (probes_pending_ == 0) probed(node, now);
}

void BootstrapOp::on_response(Node& node, const RpcEntry& entry, const krpc::Response& response,
                              Time now) {
  const auto* nodes = reply_nodes(node, response);
  const std::span<const NodeInfo> found =
      nodes ? std::span<const NodeInfo>(*nodes) : std::span<const NodeInfo>();
  if (probing_ && !entry.expected_id) {
    ++answered_;
    const NodeInfo seed{response.id, entry.destination};
    lookup_.add_candidates(std::span(&seed, 1), 0);
    lookup_.add_candidates(found, 1);
    if (--probes_pending_ == 0) probed(node, now);
    return;
  }
  lookup_.on_reply(NodeInfo{response.id, entry.destination}, found, now);
  pump(node, now);
}

void BootstrapOp::on_failure(Node& node, const RpcEntry& entry, const krpc::ErrorReply* error,
                             Time now) {
  if (probing_ && !entry.expected_id) {
    if (error && refusal_.empty())
      refusal_ = entry.destination.to_string() + " refused with KRPC error " +
                 std::to_string(error->code) + " '" + error->message + "'";
    // A lost probe is tried again (kProbeAttempts in all): a single datagram lost must not
    // leave a node outside the DHT.
    const auto it = std::find(endpoints_.begin(), endpoints_.end(), entry.destination);
    const auto index = static_cast<std::size_t>(it - endpoints_.begin());
    if (!error && it != endpoints_.end() && attempts_[index] < kProbeAttempts) {
      ++attempts_[index];
      if (send(node, query_, entry.destination, std::nullopt, now)) return;
    }
    if (--probes_pending_ == 0) probed(node, now);
    return;
  }
  lookup_.on_failure(entry.destination);
  pump(node, now);
}

void BootstrapOp::on_soft_timeout(Node& node, const RpcEntry& entry, Time now) {
  if (probing_) return;
  lookup_.on_soft_timeout(entry.destination);
  pump(node, now);
}

// Every probe answered or failed: look up our own id, unless nobody answered.
void BootstrapOp::probed(Node& node, Time now) {
  probing_ = false;
  if (answered_ == 0) {
    stamp(now);
    finish(node);
    return;
  }
  lookup_.add_candidates(node.closest_contacts(own(node), config(node).lookup.k, now));
  pump(node, now);
}

void BootstrapOp::pump(Node& node, Time now) {
  if (finished) return;
  while (auto next = lookup_.next_request(now)) {
    if (!send(node, query_, next->endpoint, next->id, now)) lookup_.on_failure(next->endpoint);
  }
  if (!lookup_.done()) return;
  stats.rounds = static_cast<std::uint32_t>(lookup_.rounds());
  refresh_sparse_buckets(node, now);
  table_size_ = routing(node).size();
  stamp(now);
  finish(node);
}

// The buckets far from us hold few contacts after one lookup of our own id: a lookup of a
// random id in each bucket with fewer than k contacts fills them (in the background).
void BootstrapOp::refresh_sparse_buckets(Node& node, Time now) {
  RoutingTable& table = routing(node);
  const std::size_t last = table.bucket_count() - 1;
  std::vector<NodeId> targets;
  for (std::size_t i = 0; i < last; ++i) {
    if (table.bucket(i).size() < table.capacity(i))
      targets.push_back(NodeId::random_in_bucket(own(node), static_cast<int>(i), random(node)));
  }
  for (const NodeId& target : targets) {
    if (!start_internal(node, std::make_unique<LookupOp>(Goal::refresh, target, node, now), now))
      break;
    ++counters(node).refreshes;
  }
}

void BootstrapOp::complete(Time) {
  if (!done_) return;
  if (answered_ == 0) {
    std::string why =
        "dht bootstrap: none of " + std::to_string(endpoints_.size()) + " endpoints answered";
    // A refusal says more than silence: libtorrent's "invalid node ID" (BEP 42), a
    // network id, a rate limit.
    if (!refusal_.empty()) why += " (" + refusal_ + ")";
    done_(Error(ErrorKind::unreachable, std::move(why)), stats);
    return;
  }
  done_(table_size_, stats);
}

}  // namespace nexo::overlay
