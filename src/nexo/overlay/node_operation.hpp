// The operations a Node runs (private to node*.cpp): each is a small state machine that
// sends queries through its node and is told of their replies, failures and soft
// timeouts, identified in the RpcTable by its id (the `owner` cookie; 0 is the node's own
// traffic: eviction pings). When it is done it marks itself finished; the node then runs
// its callback from its next entry point (node.hpp's completion contract).
//
//   SingleQueryOp   one query, one answer: ping, extension queries
//   BootstrapOp     find_node(own id) to endpoints known by address, then a lookup of
//                   our own id, then refresh lookups for sparse buckets
//   LookupOp        an iterative lookup (find_node, get_peers, get), then, by goal, a
//                   write phase: announce_peer or put to the k closest with their tokens,
//                   or a get's read repair
//   ReplicateOp     get then put of one stored item to one node (re-replication)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nexo/overlay/node.hpp"

namespace nexo::overlay {

class Node::Operation {
 public:
  explicit Operation(Time now) noexcept : started(now) {}
  virtual ~Operation() = default;
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  // Sends the first queries; may finish at once.
  virtual void start(Node& node, Time now) = 0;
  // A response to one of its queries (`entry` as the RpcTable had it).
  virtual void on_response(Node& node, const RpcEntry& entry, const krpc::Response& response,
                           Time now) = 0;
  // A KRPC error answered one of its queries, or (error == nullptr) its hard deadline passed.
  virtual void on_failure(Node& node, const RpcEntry& entry, const krpc::ErrorReply* error,
                          Time now) = 0;
  virtual void on_soft_timeout(Node& node, const RpcEntry& entry, Time now) {
    (void)node, (void)entry, (void)now;
  }
  // Runs the callback, if any (once, after finished).
  virtual void complete(Time now) = 0;

  std::uint64_t id = 0;
  bool finished = false;
  OpStats stats;
  Time started;

 protected:
  void finish(Node& node) noexcept {
    finished = true;
    node.arm_completion();
  }
  std::optional<TransactionId> send(Node& node, const krpc::Query& query, const net::Endpoint& to,
                                    std::optional<NodeId> expected, Time now,
                                    Duration timeout = {}) {
    auto tid = node.send_query(query, to, expected, id, now, timeout);
    if (tid) ++stats.sent;
    return tid;
  }
  static const NodeId& own(const Node& node) noexcept { return node.id(); }
  static RoutingTable& routing(Node& node) noexcept { return node.routing_; }
  static const NodeConfig& config(const Node& node) noexcept { return node.config_; }
  static fault::Random& random(Node& node) noexcept { return node.random_; }
  static NodeCounters& counters(Node& node) noexcept { return node.counters_; }
  static ItemStore& items(Node& node) noexcept { return node.items_; }
  static bool start_internal(Node& node, std::unique_ptr<Operation> op, Time now) {
    return node.start_internal(std::move(op), now);
  }
  // The contacts of a response in our own family (a v4 node cannot reach nodes6).
  static const std::vector<NodeInfo>* reply_nodes(const Node& node,
                                                  const krpc::Response& response) noexcept {
    const auto& list = node.self_.family() == net::Family::v4 ? response.nodes : response.nodes6;
    return list ? &*list : nullptr;
  }
  void stamp(Time now) noexcept { stats.elapsed = now - started; }
};

// One query to one endpoint; the answer is the result.
class SingleQueryOp final : public Node::Operation {
 public:
  using Callback = std::variant<OpCallback<NodeInfo>, OpCallback<ExtensionReply>>;
  // `expected`: the id of the contact at `to`, when it is one: a timeout then counts as its
  // failure in the routing table (RpcEntry::expected_id).
  SingleQueryOp(Time now, net::Endpoint to, krpc::Query query, Callback done, Duration timeout = {},
                std::optional<NodeId> expected = std::nullopt)
      : Operation(now),
        to_(to),
        query_(std::move(query)),
        done_(std::move(done)),
        timeout_(timeout),
        expected_(expected) {}

  void start(Node& node, Time now) override;
  void on_response(Node& node, const RpcEntry& entry, const krpc::Response& response,
                   Time now) override;
  void on_failure(Node& node, const RpcEntry& entry, const krpc::ErrorReply* error,
                  Time now) override;
  void complete(Time now) override;

 private:
  net::Endpoint to_;
  krpc::Query query_;
  Callback done_;
  Duration timeout_;  // zero: the node's query_timeout
  std::optional<NodeId> expected_;
  std::optional<krpc::Response> response_;
  std::optional<Error> error_;
  std::optional<krpc::ErrorReply> krpc_error_;
};

// What a LookupOp is for.
enum class Goal : std::uint8_t {
  find_node,
  refresh,  // find_node without a caller
  get_peers,
  announce,
  put_immutable,
  get_immutable,
  put_mutable,
  get_mutable,
};

class LookupOp final : public Node::Operation {
 public:
  using Callback = std::variant<std::monostate, OpCallback<std::vector<NodeInfo>>,
                                OpCallback<GetPeersResult>, OpCallback<WriteResult>,
                                OpCallback<GetImmutableResult>, OpCallback<GetMutableResult>>;
  LookupOp(Goal goal, const NodeId& target, const Node& node, Time now, Callback done = {});

  // Inputs of the write goals, set before start().
  std::uint16_t port = 0;           // announce (0: implied)
  std::optional<krpc::Item> value;  // put_immutable
  std::optional<MutableItem> item;  // put_mutable (and get_mutable's salt/key)
  std::optional<std::int64_t> cas;  // put_mutable
  bool elsewhere = false;           // put to others only (Node::hand_over)
  std::optional<Time> expires;      // handing over: when the copies expire (nexo_ttl)

  void start(Node& node, Time now) override;
  void on_response(Node& node, const RpcEntry& entry, const krpc::Response& response,
                   Time now) override;
  void on_failure(Node& node, const RpcEntry& entry, const krpc::ErrorReply* error,
                  Time now) override;
  void on_soft_timeout(Node& node, const RpcEntry& entry, Time now) override;
  void complete(Time now) override;

 private:
  enum class Phase : std::uint8_t { lookup, write, done };
  void pump(Node& node, Time now);
  bool known_bad(Node& node, const NodeInfo& candidate, Time now);
  void collect(const krpc::Response& response, const net::Endpoint& from);
  void note_ttl(const krpc::Response& response);
  void begin_writes(Node& node, Time now);
  bool putter_among_closest(Node& node) const;
  void store_here(Node& node, Time now);
  bool write_to(Node& node, const TokenNode& target, Time now);
  void write_done(Node& node);
  bool retry_pending(const net::Endpoint& endpoint) noexcept;
  static bool is_write(const RpcEntry& entry) noexcept;

  struct Retry {
    net::Endpoint endpoint;
    std::uint8_t outstanding;  // queries to it still waiting (the first and its retry)
  };

  Goal goal_;
  Phase phase_ = Phase::lookup;
  NodeId target_;
  Lookup lookup_;
  krpc::Query query_;
  Callback done_;
  std::vector<net::Endpoint> peers_;
  std::optional<krpc::Item> found_value_;
  std::optional<MutableItem> found_item_;
  std::optional<Duration> found_ttl_;  // the longest nexo_ttl its holders gave
  std::vector<std::pair<net::Endpoint, std::int64_t>> held_;  // responder, seq it holds
  std::vector<TokenNode> closest_;
  std::vector<Retry> retries_;
  bool reseeded_ = false;
  std::uint32_t writes_pending_ = 0;
  WriteResult write_;
  std::size_t peer_limit_;
};

class BootstrapOp final : public Node::Operation {
 public:
  BootstrapOp(const Node& node, std::vector<net::Endpoint> endpoints, Time now,
              OpCallback<std::size_t> done);

  void start(Node& node, Time now) override;
  void on_response(Node& node, const RpcEntry& entry, const krpc::Response& response,
                   Time now) override;
  void on_failure(Node& node, const RpcEntry& entry, const krpc::ErrorReply* error,
                  Time now) override;
  void on_soft_timeout(Node& node, const RpcEntry& entry, Time now) override;
  void complete(Time now) override;

 private:
  void pump(Node& node, Time now);
  void probed(Node& node, Time now);
  void refresh_sparse_buckets(Node& node, Time now);

  static constexpr std::uint8_t kProbeAttempts = 3;
  std::vector<net::Endpoint> endpoints_;
  std::vector<std::uint8_t> attempts_;  // probes sent to each endpoint
  std::uint32_t probes_pending_ = 0;
  std::uint32_t answered_ = 0;
  bool probing_ = true;
  Lookup lookup_;
  krpc::Query query_;
  OpCallback<std::size_t> done_;
  std::size_t table_size_ = 0;
  std::string refusal_;  // the first KRPC error a probe got ("203.0.113.1:6881: 203 ...")
};

class ReplicateOp final : public Node::Operation {
 public:
  ReplicateOp(Time now, NodeInfo to, StoredItem item) noexcept
      : Operation(now), to_(std::move(to)), item_(std::move(item)) {}

  void start(Node& node, Time now) override;
  void on_response(Node& node, const RpcEntry& entry, const krpc::Response& response,
                   Time now) override;
  void on_failure(Node& node, const RpcEntry& entry, const krpc::ErrorReply* error,
                  Time now) override;
  void complete(Time) override {}

 private:
  NodeInfo to_;
  StoredItem item_;
  bool putting_ = false;
};

}  // namespace nexo::overlay
