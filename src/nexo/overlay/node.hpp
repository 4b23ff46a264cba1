// Node — a Mainline DHT node (BEP 5, with BEP 32's nodes6, BEP 42's `ip`, BEP 43's
// read-only flag and BEP 44's get/put), sans-I/O: a DatagramNode that any driver runs
// (sim::Network, UdpHost). It answers the queries of other nodes, keeps its routing table
// (routing_table.hpp), stores what others announce and put (peer_store.hpp,
// item_store.hpp), and runs this node's own operations: bootstrap, ping, iterative
// lookups (lookup.hpp), announce, BEP 44 puts and gets, and nexo's extension queries.
//
//   Node node(self, now, {.seed = 7});
//   node.bootstrap(seeds, now, [](Result<std::size_t> r, const OpStats& s) { ... });
//   driver.kick(slot);  // drains poll_transmit (datagram_node.hpp's rule 2)
//   node.put_immutable(encode_value(bencode::Value("hello")), now, on_put);
//
// Completion contract (NNG's): every operation either fails at once — the starter returns
// an error (overloaded: max_operations in progress; invalid_argument) and its callback
// never runs — or its callback runs exactly once, later, from inside on_datagram or
// on_timer (an operation that can end at once, say a lookup with an empty routing table,
// ends at the next on_timer, which next_timer() then asks for at once). A callback may
// start other operations. Destroying the node (a crash, to its peers) drops the operations
// in progress without running their callbacks. Each result comes with its OpStats: datagrams sent
// and received for it, lookup rounds, and the time it took (the benchmark's figures).
//
// Incoming datagrams, in order: parse (malformed: dropped and counted; a query whose `t`
// could be read is answered 203, or 205/207, as krpc::rejection() says); network id
// (another overlay's, or none when we have one: dropped, counted); then queries go through
// the per-source rate limit (a token bucket per source address, in a bounded table with
// LRU eviction: a flood from many addresses costs at most that table; over the limit the
// query is dropped and counted) and are answered (node_queries.cpp); responses and errors
// are matched by the RpcTable (unknown `t` or wrong source: dropped, counted) and handed
// to the operation that sent the query. A read-only node (BEP 43) sends `ro: 1` and
// answers no query. A query from a node that is not read-only, and every reply, goes to
// the routing table (a reply with its RTT sample); the eviction pings the table asks for
// are sent, and their outcome reported back to it. A contact new to the table through a
// query is pinged once (ping_new_contacts): until it answers one of our queries it is
// questionable, and find_node answers name good contacts first, so without the ping a
// node that just joined stays invisible to lookups. With enforce_bep42, a contact whose id
// does not match its address (BEP 42; local addresses are exempt) stays out of the table.
//
// Lookups (lookup.hpp) are seeded with the 2k closest contacts (the lookup asks the
// closest first; the others matter when those are dead), reseeded once from the table
// when they end with fewer than k answers, and a query past its soft deadline is sent
// once more (retry_slow_queries: at 5% loss that lifts the share of the true k closest
// found from 90% to 99%). Puts and announces go to the k closest that answered with a
// token; gets end with read repair (the value sent to those of the k closest without it).
//
// Maintenance (on_timer, node_maintenance.cpp): query deadlines (a soft timeout lets a
// lookup ask another node; a hard one fails the query and counts against the contact in
// the routing table); bucket refresh (a find_node for a random id in each bucket unchanged
// for refresh_interval, BEP 5's 15 minutes); write-token rotation (token.hpp, implicit);
// peer and item expiry; republishing the items this node put (republish_interval, 1 hour:
// BEP 44 asks originators to republish, stores keep an item 2 hours); and re-replication
// of stored items (see ReplicationConfig).
//
// Memory: an idle node is sizeof(Node) plus its routing table plus what it stores; every
// table that grows with traffic (operations, outgoing queue, rate-limit sources, the
// RpcTable's slots) gives its memory back when the node goes idle. Measured (x86-64,
// node_sim_test): sizeof(Node) 1,368 B; after bootstrap among 1,000 simulated nodes a
// node holds ~61 contacts and ~10.5 KB of heap (memory_bytes(), the routing table most of
// it), so 100,000 idle nodes fit in ~1.5 GiB with the simulator's own share.
//
// Under heavy churn (the simulator's 30 s lifetimes) BEP 5's defaults keep dead contacts
// for 15 minutes; the churn tests use sim::churn_config (sim_population.hpp):
// routing.good_for = 30 s, bad_after_failures = 1, refresh_interval = 60 s,
// replication.interval = 20 s, good contacts first, and the small-table refresh
// (small_table). node_sim_test's churn run (500 nodes, 1,000 gets): 969 of 969 found,
// 7,477 datagrams/s in all (6,991 without the small-table refresh and good-first
// ranking, which also found all it completed, 947; at 100 nodes it missed one get of
// 146, from a newcomer left with one contact).
//
// Thread contract: one thread (the driver's); calls are never reentrant (datagram_node.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/fault/random.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/compact.hpp"
#include "nexo/overlay/datagram_node.hpp"
#include "nexo/overlay/item.hpp"
#include "nexo/overlay/item_store.hpp"
#include "nexo/overlay/krpc.hpp"
#include "nexo/overlay/lookup.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/overlay/peer_store.hpp"
#include "nexo/overlay/routing_table.hpp"
#include "nexo/overlay/rpc_table.hpp"
#include "nexo/overlay/time.hpp"
#include "nexo/overlay/token.hpp"

namespace nexo::overlay {

// The per-source rate limit of incoming queries: a token bucket per source.
struct RateLimitConfig {
  double rate = 50;                 // queries per second a source may send, sustained (0: no limit)
  double burst = 100;               // the bucket's depth
  std::uint32_t max_sources = 256;  // sources tracked; the least recently seen is evicted
  bool include_port = false;        // a source is its address, or its endpoint (loopback tests)
};

// Re-replication of the items this node stores (what keeps values alive under churn).
//
// On join: when a contact new to the routing table is among the k closest contacts this
// node knows for a stored item's key, this node sends it the item: a `get` for the key
// (to obtain a write token, and to see whether it already holds the item) and, if it does
// not hold it (or holds an older seq), a `put`. 2 datagrams per item per new close
// contact, 4 when it lacked the item.
//
// A copy handed on lives only what ours has left: the put carries nexo_ttl (item_store.hpp),
// and so does read repair (the longest a holder's get reply said). BEP 44's put has no
// age, so without it every copy handed on lived a fresh 2 hours, and an item nobody
// republished lived on as long as newcomers kept arriving near its key (node_sim_test's
// CopiesHandedOnExpireWithTheOriginal: 10 of them still held it after 2 hours).
//
// Periodic (interval > 0): every `interval`, for each stored item, the same exchange with
// each of the k closest contacts known for its key: per item and holder about 2k
// datagrams, 4k when they all lack it; with k holders, ~2k^2 per item per interval (128
// for k = 8). Off by default (the Internet's 2 h item lifetime and hourly republishing
// keep values without it); the simulator's churn tests use 10-30 s.
//
// Measured on the simulator (node_sim_test, 500 nodes, 30 s mean lifetimes, 10 items):
// the network sends ~4,950 datagrams/s without re-replication (and loses 90% of the
// values within two minutes), ~5,830 with on-join replication alone (+18%, every get
// succeeds), ~5,990 with a 20 s interval as well.
//
// Both are bounded: at most `rate` exchanges per second (burst `burst`), at most
// `max_in_progress` at a time; what is over is skipped and counted (the next trigger, or
// the next interval, tries again).
struct ReplicationConfig {
  bool on_join = true;
  Duration interval{};  // 0: no periodic re-replication
  double rate = 20;
  double burst = 40;
  std::uint32_t max_in_progress = 16;
};

struct NodeConfig {
  // The node's id: given; else derived per BEP 42 from external_address when set; else
  // random (from seed).
  std::optional<NodeId> id;
  std::optional<net::InetAddress> external_address;
  std::uint64_t seed = 1;  // every random draw (ids, transaction ids, tokens, refresh targets)

  // Wide buckets as libtorrent's extended routing table (routing_table.hpp): 16, 8, 4 and
  // 2 k contacts in the four buckets farthest from our id; a lookup's first step then
  // lands closer (N = 10,000 simulated: rounds p50 3 instead of 4, 28.2 datagrams per
  // lookup instead of 30.4; 166 contacts per node instead of 88).
  RoutingConfig routing = RoutingConfig::extended();
  // How the node ranks its contacts in its find_node answers and its own lookups' seeds:
  // false: those that ever answered first, however long ago (RoutingTable::Rank::
  // answered_first, as libtorrent); true: good ones first (BEP 5's letter, good_first),
  // for a network whose contacts die within good_for (sim::churn_config sets it: at a
  // 30 s mean lifetime, answering by distance cost 15% more datagrams per get).
  bool fresh_first = false;
  LookupConfig lookup;
  RpcConfig rpc;
  krpc::Options krpc;                                  // the network id of a private overlay
  std::string version = std::string("NX\x00\x01", 4);  // KRPC `v`: client "NX", version 0.1
  PeerStoreConfig peers;
  ItemStoreConfig items;
  RateLimitConfig rate_limit;
  ReplicationConfig replication;

  bool read_only = false;  // BEP 43: send ro: 1, answer no queries
  // A read-only node still answers the extension queries (nexo_*) it has handlers for,
  // its replies marked ro: 1 too, and a node keeps a replier that says ro: 1 out of its
  // routing table as it does such a querier. What a super peer's ordinary peers are
  // (super_peer.hpp): out of the DHT, yet reachable by their own protocol.
  bool read_only_extensions = false;
  bool enforce_bep42 = false;  // keep contacts whose id does not match their address out
  // Ping a node that entered the routing table through a query, so that it becomes good
  // (answered us) and find_node answers recommend it: 2 datagrams per new contact.
  bool ping_new_contacts = true;
  // A lookup query past its soft deadline (the contact's RTO) is sent once more.
  bool retry_slow_queries = true;
  // A node whose routing table holds fewer than small_table usable (not bad) contacts
  // looks up its own id every small_table_refresh (0: never, BEP 5's behaviour): a
  // newcomer that met a handful of nodes, or one whose contacts died under churn, fills
  // its table again without waiting out refresh_interval. At most one such lookup per
  // maintenance_period.
  std::size_t small_table = 0;
  Duration small_table_refresh = std::chrono::seconds(5);
  // How long a query may wait for its reply before it has failed (the hard deadline; the
  // soft one is the contact's RTO). 5 s: beyond the RTO ceiling (2 s) with room for backoff.
  Duration query_timeout = std::chrono::seconds(5);
  Duration refresh_interval = std::chrono::minutes(15);   // bucket refresh (BEP 5)
  Duration republish_interval = std::chrono::hours(1);    // items this node put (BEP 44)
  Duration maintenance_period = std::chrono::seconds(5);  // expiry sweeps, refresh checks
  std::uint32_t max_operations = 64;  // operations in progress (internal ones included)
  std::uint32_t max_originated = 64;  // items this node republishes (the oldest dropped)
  std::uint32_t max_bootstrap_endpoints = 32;
  std::uint32_t max_peers_collected = 500;  // peers one get_peers keeps
};

// What one operation cost, for the benchmark.
struct OpStats {
  std::uint32_t sent = 0;      // queries this operation sent
  std::uint32_t received = 0;  // replies (responses and errors) it took
  std::uint32_t timeouts = 0;  // its queries that failed for good (hard deadline)
  std::uint32_t rounds = 0;    // lookup rounds (Lookup::rounds(); 1 for a single query)
  Duration elapsed{};          // from start to completion
};

template <class T>
using OpCallback = std::function<void(Result<T> result, const OpStats& stats)>;

// A node of a lookup's result with the write token it gave (empty if none).
struct TokenNode {
  NodeInfo node;
  std::string token;
};

struct GetPeersResult {
  std::vector<net::Endpoint> peers;  // every peer the lookup met (deduplicated, bounded)
  std::vector<TokenNode> closest;    // the k closest nodes that answered, closest first
};

// How a write (announce, put) went: to how many of the closest nodes it was sent, and how
// many accepted it.
struct WriteResult {
  NodeId target;
  std::uint32_t attempted = 0;
  std::uint32_t stored = 0;
  std::vector<std::int64_t> error_codes;  // KRPC error codes received (e.g. 302)
  std::vector<NodeInfo> nodes;            // the nodes it was sent to, closest first
};

struct GetImmutableResult {
  std::optional<std::string> value;  // bencoded v, its SHA-1 verified; nullopt: not found
  std::uint32_t repaired = 0;        // closest nodes that lacked it and were sent it
};

struct GetMutableResult {
  std::optional<MutableItem> item;  // the newest valid one found; nullopt: not found
  std::uint32_t repaired = 0;
};

// An extension query's answer: the replier's return values, or its KRPC error.
using ExtensionReply = std::variant<krpc::Response, krpc::ErrorReply>;

// What an extension handler returns: the `r` dictionary (besides `id`, which the node
// adds) or a KRPC error.
using ExtensionAnswer = std::variant<wire::bencode::Dict, krpc::ErrorReply>;
using ExtensionHandler =
    std::function<ExtensionAnswer(const krpc::Query& query, const net::Endpoint& from, Time now)>;
// Where the answer to a deferred extension query goes (Node::answer_deferred).
struct ExtensionReplyTo {
  krpc::Tid tid;
  net::Endpoint to;
};
// A handler that answers later (after a lookup of its own, or a query to a third node):
// it keeps `reply_to` and calls Node::answer_deferred once, or never (the asker times out).
using DeferredExtensionHandler = std::function<void(
    const krpc::Query& query, const net::Endpoint& from, Time now, ExtensionReplyTo reply_to)>;

// Drops and events, by cause (see the top of the file).
struct NodeCounters {
  std::uint64_t received = 0;            // datagrams handed to on_datagram
  std::uint64_t sent = 0;                // datagrams queued
  std::uint64_t malformed = 0;           // refused by the parser
  std::uint64_t wrong_network = 0;       // another overlay's network id, or none when we have one
  std::uint64_t rate_limited = 0;        // queries over their source's rate
  std::uint64_t unknown_tid = 0;         // replies naming no query outstanding
  std::uint64_t wrong_source = 0;        // replies from another endpoint than queried
  std::uint64_t late = 0;                // replies after their soft deadline (still taken)
  std::uint64_t queries = 0;             // queries answered (errors included)
  std::uint64_t errors_sent = 0;         // KRPC errors sent
  std::uint64_t ignored_read_only = 0;   // queries dropped because this node is read-only
  std::uint64_t bep42_rejected = 0;      // contacts kept out of the routing table (BEP 42)
  std::uint64_t refused_overloaded = 0;  // queries not sent: RpcTable full
  std::uint64_t timeouts = 0;            // queries past their hard deadline
  std::uint64_t eviction_pings = 0;
  std::uint64_t verification_pings = 0;     // pings to contacts new from a query
  std::uint64_t replications = 0;           // replication exchanges started
  std::uint64_t replications_skipped = 0;   // over the replication rate or bound
  std::uint64_t replicated_puts = 0;        // puts sent by replication
  std::uint64_t republished = 0;            // republish operations started
  std::uint64_t refreshes = 0;              // bucket refresh lookups started
  std::uint64_t small_refreshes = 0;        // own-id lookups of a small table (small_table)
  std::uint64_t lookup_bad_candidates = 0;  // named by a reply, bad here: asked once, no retry
};

// A protocol that runs on a node's extension queries and needs timers of its own (overlay
// multicast, super peers). The node calls on_timer when next_timer() is due, from its own
// on_timer, and folds next_timer() into its own, so a driver runs the node and its services
// as one DatagramNode. After a service changes its timer from outside the node's entry
// points (an application call), the owner kicks the driver, as after an operation.
class NodeService {
 public:
  virtual ~NodeService() = default;
  virtual void on_timer(Time now) = 0;
  virtual std::optional<Time> next_timer() const = 0;
};

class Node final : public DatagramNode {
 public:
  // A node at `self` (the address the driver gave it), created at `now`.
  Node(const net::Endpoint& self, Time now, NodeConfig config = {});
  ~Node() override;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // DatagramNode.
  void on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from,
                   Time now) override;
  void on_timer(Time now) override;
  std::optional<Time> next_timer() const override;
  bool poll_transmit(Bytes& out, net::Endpoint& to) override;

  // --- Operations. Each returns an error at once (no callback) or calls `done` once,
  // later (see the top of the file). `now` is the caller's clock (the driver's).

  // Joins the DHT through nodes known only by address: find_node(own id) to each, then an
  // iterative lookup of our own id seeded with those that answered, then a refresh lookup
  // for each bucket holding fewer than k contacts (in the background: `done` does not wait
  // for them). Result: the routing table's size. Fails (at completion) with unreachable
  // when no endpoint answered. Errors at once: invalid_argument for no endpoints.
  Result<void> bootstrap(std::span<const net::Endpoint> endpoints, Time now,
                         OpCallback<std::size_t> done);
  // One ping. Result: the node's id and endpoint; timed_out; or refused with the KRPC error.
  Result<void> ping(const net::Endpoint& endpoint, Time now, OpCallback<NodeInfo> done);
  // An iterative find_node: the k closest nodes that answered, closest first.
  Result<void> find_node(const NodeId& target, Time now, OpCallback<std::vector<NodeInfo>> done);
  // An iterative get_peers.
  Result<void> get_peers(const NodeId& info_hash, Time now, OpCallback<GetPeersResult> done);
  // get_peers, then announce_peer to the k closest with their tokens (port 0: implied_port,
  // the port our datagrams come from).
  Result<void> announce(const NodeId& info_hash, std::uint16_t port, Time now,
                        OpCallback<WriteResult> done);
  // Stores an immutable item (bencoded `value`) on the k closest nodes to its key, and
  // republishes it every republish_interval. Errors at once: too_large over 1000 bytes,
  // malformed when not one canonical bencoded value.
  Result<void> put_immutable(std::string_view encoded_value, Time now,
                             OpCallback<WriteResult> done);
  // Finds an immutable item; read repair: the closest nodes that answered without it are
  // sent it.
  Result<void> get_immutable(const NodeId& key, Time now, OpCallback<GetImmutableResult> done);
  // Stores a signed mutable item (cas: BEP 44's compare-and-swap), republished like
  // immutable ones. Errors at once: invalid_argument when item.check() fails.
  Result<void> put_mutable(const MutableItem& item, std::optional<std::int64_t> cas, Time now,
                           OpCallback<WriteResult> done);
  // Puts an item this node stores for someone else (from item_store()) to the k closest
  // other nodes, as a put does, but keeps no copy here and does not republish it, and the
  // copies live what this one has left (nexo_ttl): a node leaving the DHT (a super peer
  // demoting, super_peer.hpp) hands over what it holds. Errors at once: invalid_argument
  // when the item fails its checks, or has less than kMinTtl left.
  Result<void> hand_over(const StoredItem& item, Time now, OpCallback<WriteResult> done);
  // Finds the newest mutable item under (key, salt), its signature verified; read repair.
  Result<void> get_mutable(const PublicKey& key, std::string_view salt, Time now,
                           OpCallback<GetMutableResult> done);
  // One extension query (`method` starts with "nexo_"; `args` must not hold "id").
  // Result: the response or the KRPC error the node answered; timed_out. `timeout`, when
  // given, replaces query_timeout for this query (one the replier answers only after work
  // of its own, such as a lookup, needs longer than one round trip).
  Result<void> extension_query(const net::Endpoint& endpoint, std::string method,
                               wire::bencode::Dict args, Time now, OpCallback<ExtensionReply> done,
                               Duration timeout = {});

  // Answers queries named `method` (starting with "nexo_") with `handler`; replaces an
  // earlier one. Errors: invalid_argument for another name.
  Result<void> handle_extension(std::string method, ExtensionHandler handler);
  // The same with a handler that answers later through answer_deferred (replaces an
  // earlier handler of either kind).
  Result<void> handle_extension_deferred(std::string method, DeferredExtensionHandler handler);
  // Sends the answer of a deferred extension query. From a callback inside the node's
  // entry points, or from outside them (then kick the driver, as after an operation).
  void answer_deferred(const ExtensionReplyTo& reply_to, ExtensionAnswer answer);
  // Turns BEP 43's read-only mode on or off (a super peer's ordinary peer promoted to
  // super peer starts serving the DHT; it should bootstrap then, so that others learn of it).
  void set_read_only(bool read_only) noexcept { config_.read_only = read_only; }
  // Runs `service`'s timers with the node's (not owned: remove it before it dies; not from
  // inside a service's on_timer). Adding one twice is a no-op.
  void add_service(NodeService& service);
  void remove_service(NodeService& service) noexcept;

  // --- State.
  const NodeId& id() const noexcept { return routing_.own_id(); }
  const net::Endpoint& endpoint() const noexcept { return self_; }
  const NodeConfig& config() const noexcept { return config_; }
  const RoutingTable& routing_table() const noexcept { return routing_; }
  // The n contacts closest to `target` as the node answers find_node and seeds its own
  // lookups (NodeConfig::fresh_first).
  std::vector<NodeInfo> closest_contacts(const NodeId& target, std::size_t n, Time now) const {
    return routing_.closest(
        target, n, now,
        config_.fresh_first ? RoutingTable::Rank::good_first : RoutingTable::Rank::answered_first);
  }
  const PeerStore& peer_store() const noexcept { return peers_; }
  const ItemStore& item_store() const noexcept { return items_; }
  const NodeCounters& counters() const noexcept { return counters_; }
  std::size_t operations_in_progress() const noexcept { return operations_.size(); }
  std::size_t outstanding_queries() const noexcept { return rpcs_.size(); }
  // Sources the rate limit tracks now (at most RateLimitConfig::max_sources).
  std::size_t rate_limit_sources() const noexcept { return sources_.size(); }
  // The heap bytes this node holds beyond sizeof(Node), estimated from the capacities of
  // its tables (routing table, stores, queues): the simulator's memory figure.
  std::size_t memory_bytes() const noexcept;

  class Operation;  // node_operation.hpp

 private:
  struct Outgoing {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
    net::Endpoint to;
  };
  struct Source {
    net::Endpoint key;
    double tokens = 0;
    Time last;
  };
  struct Originated {
    NodeId target;
    std::string value;                // immutable: bencoded v
    std::optional<MutableItem> item;  // mutable
    Time next_republish;
  };
  struct Extension {
    std::string method;
    ExtensionHandler handler;
    DeferredExtensionHandler deferred;  // set instead of handler for deferred answers
  };

  // node.cpp
  void handle_message(krpc::Message& message, const net::Endpoint& from, Time now);
  void handle_reply(krpc::Message& message, const net::Endpoint& from, Time now);
  bool admit_query(const net::Endpoint& from, Time now);
  void heard(const NodeId& id, const net::Endpoint& from, Time now, Heard kind,
             std::optional<Duration> rtt);
  void queue(const wire::Buffer& datagram, const net::Endpoint& to);
  krpc::Header header(const krpc::Tid& tid) const;
  void arm_completion() noexcept { completion_due_ = true; }
  void complete_finished();
  Result<void> start(std::unique_ptr<Operation> operation, Time now);
  Operation* find_operation(std::uint64_t id) noexcept;
  void go_idle();

  // For operations (node_operation.hpp): sends `query` to `to`; the transaction id, or
  // nullopt when the RpcTable refused (overloaded: nothing was sent).
  std::optional<TransactionId> send_query(const krpc::Query& query, const net::Endpoint& to,
                                          std::optional<NodeId> expected, std::uint64_t owner,
                                          Time now, Duration timeout = {});
  void remember_originated(const NodeId& target, std::string value, std::optional<MutableItem> item,
                           Time now);
  // Starts an operation without a caller (refresh, republish, replication); false when
  // max_operations are in progress.
  bool start_internal(std::unique_ptr<Operation> operation, Time now);

  // node_queries.cpp
  void answer_query(const krpc::Message& message, const krpc::Query& query,
                    const net::Endpoint& from, Time now);
  void answer_nodes(krpc::Response& response, const NodeId& target, krpc::Want want,
                    const net::Endpoint& from, Time now) const;
  void answer_get(const krpc::Query& query, krpc::Response& response, const net::Endpoint& from,
                  Time now);
  std::optional<krpc::ErrorReply> answer_put(const krpc::Query& query, const net::Endpoint& from,
                                             Time now);
  std::optional<krpc::ErrorReply> answer_extension(const krpc::Query& query,
                                                   krpc::Response& response,
                                                   const net::Endpoint& from, Time now);
  bool defer_extension(const krpc::Message& message, const krpc::Query& query,
                       const net::Endpoint& from, Time now);
  Result<void> add_extension(std::string method, ExtensionHandler handler,
                             DeferredExtensionHandler deferred);
  std::optional<krpc::ErrorReply> answer_announce(const krpc::Query& query,
                                                  const net::Endpoint& from, Time now);
  void send_response(const krpc::Tid& tid, const krpc::Response& response, const net::Endpoint& to);
  void send_error(const krpc::Tid& tid, std::int64_t code, std::string_view message,
                  const net::Endpoint& to);

  // node_maintenance.cpp
  void maintain(Time now);
  void expire_queries(Time now);
  void refresh_buckets(Time now);
  std::size_t usable_contacts(Time now) const;
  void republish(Time now);
  void replicate_periodically(Time now);
  void forget_idle_sources(Time now);
  void replicate_to_newcomer(const NodeInfo& node, Time now);
  bool replication_allowed(Time now);
  void start_replication(const NodeInfo& node, const StoredItem& item, Time now);

  net::Endpoint self_;
  NodeConfig config_;
  fault::Random random_;
  RoutingTable routing_;
  RpcTable rpcs_;
  WriteTokens tokens_;
  PeerStore peers_;
  ItemStore items_;
  std::vector<std::unique_ptr<Operation>> operations_;
  std::vector<Extension> extensions_;
  std::vector<NodeService*> services_;
  std::vector<Originated> originated_;
  std::vector<Source> sources_;
  std::vector<std::byte> out_bytes_;
  std::vector<Outgoing> out_;
  std::size_t out_next_ = 0;
  std::uint64_t next_operation_id_ = 1;
  Time last_now_;
  Time next_maintenance_;
  Time next_replication_ = Time::max();
  Time next_small_refresh_ = Time::min();
  Time replication_refill_;
  double replication_tokens_ = 0;
  bool completion_due_ = false;
  NodeCounters counters_;
};

}  // namespace nexo::overlay
