// Node: construction, the datagram path (parse, network id, rate limit, dispatch), reply
// matching, the outgoing queue and the operations' life cycle. Answering queries is in
// node_queries.cpp, the operations in node_ops.cpp, timers in node_maintenance.cpp.
#include "nexo/overlay/node.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "nexo/overlay/bep42.hpp"
#include "nexo/overlay/node_operation.hpp"

namespace nexo::overlay {
namespace {

NodeId choose_id(const NodeConfig& config, fault::Random& random) {
  if (config.id) return *config.id;
  if (config.external_address)
    return bep42_node_id(*config.external_address, static_cast<std::uint8_t>(random.next()),
                         random);
  return NodeId::random(random);
}

// One scratch buffer per thread for encoding: nodes of one driver share it (a node keeps
// only the bytes it queued), so 100,000 simulated nodes do not each keep one.
wire::Buffer& scratch() {
  thread_local wire::Buffer buffer(2048);
  return buffer;
}

}  // namespace

Node::Node(const net::Endpoint& self, Time now, NodeConfig config)
    : self_(self),
      config_(std::move(config)),
      random_(config_.seed),
      routing_(choose_id(config_, random_), now,
               [&] {
                 RoutingConfig routing = config_.routing;
                 routing.refresh_after = config_.refresh_interval;
                 return routing;
               }()),
      rpcs_(static_cast<TransactionId>(random_.next()), config_.rpc),
      tokens_(random_, now),
      peers_(config_.peers),
      items_(config_.items),
      last_now_(now),
      next_maintenance_(now + config_.maintenance_period),
      replication_refill_(now),
      replication_tokens_(config_.replication.burst) {
  if (config_.replication.interval > Duration::zero())
    next_replication_ = now + config_.replication.interval;
}

Node::~Node() = default;

// --- Incoming datagrams.

void Node::on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from, Time now) {
  last_now_ = now;
  ++counters_.received;
  auto message = krpc::parse(datagram, config_.krpc);
  if (!message) {
    ++counters_.malformed;
    // A query with a readable `t` gets its 203 (or 205/207), within the rate limit.
    if (config_.read_only) return;
    if (auto rejection = krpc::rejection(datagram, config_.krpc)) {
      if (admit_query(from, now))
        send_error(rejection->tid, static_cast<std::int64_t>(rejection->code), rejection->message,
                   from);
    }
  } else if (message->network != krpc::Network::match) {
    ++counters_.wrong_network;
  } else {
    handle_message(*message, from, now);
  }
  complete_finished();
  go_idle();
}

void Node::handle_message(krpc::Message& message, const net::Endpoint& from, Time now) {
  if (auto* query = message.query()) {
    const bool extension_anyway =
        config_.read_only_extensions && query->method == krpc::Method::extension;
    if (config_.read_only && !extension_anyway) {
      ++counters_.ignored_read_only;
      return;
    }
    if (!admit_query(from, now)) {
      ++counters_.rate_limited;
      return;
    }
    // A read-only node keeps only the nodes it asks itself.
    if (!message.read_only && !config_.read_only)
      heard(query->id, from, now, Heard::query, std::nullopt);
    answer_query(message, *query, from, now);
    return;
  }
  handle_reply(message, from, now);
}

void Node::handle_reply(krpc::Message& message, const net::Endpoint& from, Time now) {
  const auto before = rpcs_.counters();
  const auto late_before = rpcs_.late_replies();
  auto entry = rpcs_.take(message.tid.view(), from, now);
  counters_.unknown_tid += rpcs_.counters().unknown_transaction - before.unknown_transaction;
  counters_.wrong_source += rpcs_.counters().wrong_source - before.wrong_source;
  counters_.late += rpcs_.late_replies() - late_before;
  if (!entry) return;

  const Duration rtt = now - entry->sent;
  Operation* op = entry->owner != 0 ? find_operation(entry->owner) : nullptr;
  if (op) ++op->stats.received;
  // A replier that says ro: 1 (read_only_extensions) serves no DHT query: not a contact.
  if (const auto* response = message.response()) {
    if (!message.read_only) heard(response->id, from, now, Heard::reply, rtt);
    if (op) op->on_response(*this, *entry, *response, now);
  } else {
    // An error proves the node alive, not which id it has: credit the one we queried.
    if (entry->expected_id && !message.read_only)
      heard(*entry->expected_id, from, now, Heard::reply, rtt);
    if (op) op->on_failure(*this, *entry, message.error(), now);
  }
}

// The token bucket of `from`'s source; false when it is empty.
bool Node::admit_query(const net::Endpoint& from, Time now) {
  const RateLimitConfig& limit = config_.rate_limit;
  if (limit.rate <= 0 || limit.max_sources == 0) return true;
  const net::Endpoint key(from.address(), limit.include_port ? from.port() : 0);
  auto it =
      std::find_if(sources_.begin(), sources_.end(), [&](const Source& s) { return s.key == key; });
  if (it == sources_.end()) {
    if (sources_.size() < limit.max_sources) {
      sources_.push_back({key, limit.burst, now});
      it = sources_.end() - 1;
    } else {  // LRU: the source seen longest ago gives its place
      it = std::min_element(sources_.begin(), sources_.end(),
                            [](const Source& a, const Source& b) { return a.last < b.last; });
      *it = {key, limit.burst, now};
    }
  } else {
    const double seconds = std::chrono::duration<double>(now - it->last).count();
    if (seconds > 0) it->tokens = std::min(limit.burst, it->tokens + seconds * limit.rate);
    it->last = std::max(it->last, now);
  }
  if (it->tokens < 1) return false;
  it->tokens -= 1;
  return true;
}

void Node::heard(const NodeId& id, const net::Endpoint& from, Time now, Heard kind,
                 std::optional<Duration> rtt) {
  if (config_.enforce_bep42 && !bep42_valid(id, from.address())) {
    ++counters_.bep42_rejected;
    return;
  }
  const HeardResult result = routing_.heard_from(id, from, now, kind, rtt);
  if (result.ping) {
    ++counters_.eviction_pings;
    // Owner 0: the reply or the timeout reaches the table through handle_reply/expire.
    (void)send_query(krpc::ping(this->id()), result.ping->endpoint, result.ping->id, 0, now);
  }
  const bool added =
      result.insertion == Insertion::added || result.insertion == Insertion::replaced_bad;
  if (added && kind == Heard::query && config_.ping_new_contacts) {
    // A contact known only from its query is questionable, and the table recommends good
    // ones first: one ping makes it good, so that find_node answers name it (without it,
    // a node that just joined stays invisible to lookups passing its neighbours).
    ++counters_.verification_pings;
    (void)send_query(krpc::ping(this->id()), from, id, 0, now);
  }
  if (added && config_.replication.on_join && items_.item_count() > 0)
    replicate_to_newcomer(NodeInfo{id, from}, now);
}

// --- Outgoing datagrams.

krpc::Header Node::header(const krpc::Tid& tid) const {
  krpc::Header h;
  h.tid = tid;
  h.version = config_.version;
  h.read_only = config_.read_only;
  return h;
}

std::optional<TransactionId> Node::send_query(const krpc::Query& query, const net::Endpoint& to,
                                              std::optional<NodeId> expected, std::uint64_t owner,
                                              Time now, Duration timeout) {
  RpcRequest request;
  request.destination = to;
  request.expected_id = expected;
  request.kind = static_cast<std::uint8_t>(query.method);
  request.owner = owner;
  request.soft_timeout = expected ? routing_.timeout_for(*expected)
                                  : routing_.node_rtt().base_rto(config_.routing.rtt);
  const Duration hard = timeout > Duration::zero() ? timeout : config_.query_timeout;
  request.hard_timeout = std::max(hard, request.soft_timeout);
  auto tid = rpcs_.add(request, now);
  if (!tid) {
    ++counters_.refused_overloaded;
    return std::nullopt;
  }
  wire::Buffer& buffer = scratch();
  krpc::encode_query(header(krpc::Tid::from_u16(*tid)), query, config_.krpc, buffer);
  queue(buffer, to);
  return *tid;
}

void Node::send_response(const krpc::Tid& tid, const krpc::Response& response,
                         const net::Endpoint& to) {
  krpc::Header h = header(tid);  // ro: 1 only from a read-only node's extension answers
  h.ip = to;                     // BEP 42: the requester's address as we see it
  wire::Buffer& buffer = scratch();
  krpc::encode_response(h, response, config_.krpc, buffer);
  queue(buffer, to);
}

void Node::send_error(const krpc::Tid& tid, std::int64_t code, std::string_view message,
                      const net::Endpoint& to) {
  ++counters_.errors_sent;
  krpc::Header h = header(tid);
  h.ip = to;
  wire::Buffer& buffer = scratch();
  krpc::encode_error(h, code, message, config_.krpc, buffer);
  queue(buffer, to);
}

void Node::queue(const wire::Buffer& datagram, const net::Endpoint& to) {
  ++counters_.sent;
  const auto offset = static_cast<std::uint32_t>(out_bytes_.size());
  out_bytes_.insert(out_bytes_.end(), datagram.bytes().begin(), datagram.bytes().end());
  out_.push_back({offset, static_cast<std::uint32_t>(datagram.size()), to});
}

bool Node::poll_transmit(Bytes& out, net::Endpoint& to) {
  if (out_next_ >= out_.size()) {
    // Drained: keep a little capacity, give the rest back (idle nodes stay small).
    out_.clear();
    out_bytes_.clear();
    out_next_ = 0;
    if (out_bytes_.capacity() > 4096) out_bytes_.shrink_to_fit();
    if (out_.capacity() > 64) out_.shrink_to_fit();
    return false;
  }
  const Outgoing& next = out_[out_next_++];
  out.assign(out_bytes_.begin() + next.offset, out_bytes_.begin() + next.offset + next.size);
  to = next.to;
  return true;
}

// --- Timers.

void Node::on_timer(Time now) {
  last_now_ = now;
  expire_queries(now);
  if (now >= next_maintenance_) maintain(now);
  for (NodeService* service : services_)
    if (auto due = service->next_timer(); due && *due <= now) service->on_timer(now);
  complete_finished();
  go_idle();
}

std::optional<Time> Node::next_timer() const {
  if (completion_due_) return last_now_;
  Time next = std::min(next_maintenance_, next_replication_);
  if (auto deadline = rpcs_.next_deadline()) next = std::min(next, *deadline);
  for (const NodeService* service : services_)
    if (auto due = service->next_timer()) next = std::min(next, *due);
  return next;
}

void Node::add_service(NodeService& service) {
  if (std::find(services_.begin(), services_.end(), &service) == services_.end())
    services_.push_back(&service);
}

void Node::remove_service(NodeService& service) noexcept {
  std::erase(services_, &service);
}

// --- Operations' life cycle.

Result<void> Node::start(std::unique_ptr<Operation> operation, Time now) {
  if (operations_.size() >= config_.max_operations)
    return Error(ErrorKind::overloaded, "dht node " + self_.to_string() + ": " +
                                            std::to_string(operations_.size()) +
                                            " operations in progress (max_operations)");
  last_now_ = std::max(last_now_, now);
  operation->id = next_operation_id_++;
  operation->started = now;
  Operation& op = *operation;
  operations_.push_back(std::move(operation));
  op.start(*this, now);
  if (op.finished) arm_completion();
  return ok();
}

bool Node::start_internal(std::unique_ptr<Operation> operation, Time now) {
  return start(std::move(operation), now).has_value();
}

Node::Operation* Node::find_operation(std::uint64_t id) noexcept {
  for (auto& op : operations_)
    if (op->id == id) return op.get();
  return nullptr;
}

// Runs the callbacks of finished operations. Each is taken out of the list first: a
// callback may start new operations.
void Node::complete_finished() {
  if (!completion_due_) return;
  completion_due_ = false;
  for (std::size_t i = 0; i < operations_.size();) {
    if (!operations_[i]->finished) {
      ++i;
      continue;
    }
    std::unique_ptr<Operation> op = std::move(operations_[i]);
    operations_.erase(operations_.begin() + static_cast<std::ptrdiff_t>(i));
    // Its queries still outstanding (a lookup that stopped waiting for a slow or dead
    // node, requests in flight beyond the k closest) live on to their hard deadline: a
    // late reply still counts for the routing table, and a dead node is still marked
    // failed there. Cancelling them left dead contacts good forever once lookups stopped
    // waiting for them (Lookup::abandon).
    rpcs_.detach_owner(op->id);
    op->complete(last_now_);
  }
}

// Gives back memory that only traffic needs.
void Node::go_idle() {
  if (!operations_.empty()) return;
  if (operations_.capacity() > 0) operations_.shrink_to_fit();
  if (rpcs_.empty()) rpcs_.shrink_to_fit();
}

std::size_t Node::memory_bytes() const noexcept {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < routing_.bucket_count(); ++i)
    bytes += (routing_.bucket(i).size() + routing_.replacements(i).size()) * sizeof(Contact);
  bytes += routing_.bucket_count() * (2 * sizeof(std::vector<Contact>) + sizeof(Time));
  bytes += rpcs_.capacity() * sizeof(RpcEntry);
  bytes += items_.bytes();
  bytes += peers_.peer_count() * 32 + peers_.info_hash_count() * 72;
  bytes += operations_.capacity() * sizeof(void*) + operations_.size() * 1024;
  bytes += sources_.capacity() * sizeof(Source);
  bytes += out_bytes_.capacity() + out_.capacity() * sizeof(Outgoing);
  for (const auto& o : originated_)
    bytes += sizeof(Originated) + o.value.size();
  bytes += extensions_.capacity() * sizeof(Extension);
  return bytes;
}

}  // namespace nexo::overlay
