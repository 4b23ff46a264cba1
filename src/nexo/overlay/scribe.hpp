// Scribe — application-level multicast over the overlay (Castro et al., "Scribe", 2002),
// on the Mainline DHT node's extension queries: the chapter's "multicast where IP
// multicast is not available". Sans-I/O: a NodeService attached to a Node; its queries
// and timers run with the node's, on whatever drives the node (sim::Network, UdpHost).
//
//   Scribe scribe(node);
//   scribe.on_deliver = [](const Delivery& d) { ... };
//   scribe.join("news", now);  driver.kick(slot);
//   scribe.publish("news", "hello", now);  driver.kick(slot);
//
// Topics and rendezvous. A topic's key is SHA-1 of its name (a NodeId); its rendezvous
// node, the root of its tree, is the live node closest to the key by XOR.
//
// Routing a join (Kademlia has no per-hop routing of its own). A node joining sends
// nexo_join to the closest contact of its routing table that is strictly closer to the
// key than itself; a node that is not in the tree takes the joiner as its child, answers
// it, and joins the same way in its turn (forwarding the join), so the route builds the
// tree; a node already in the tree only takes the child. The distance to the key shrinks
// at every hop, so a route has no loop. A node that knows no contact closer than itself,
// even after an iterative find_node of the key, is the root. A joiner whose candidate
// fails (timeout, error) tries the next closest; when its table's candidates are used
// up it looks the key up (find_node) once and tries those; then it waits join_retry.
//
// Converging on one root. Routing tables are incomplete, so two nodes may both believe
// they are the root. A root looks the key up on becoming root and every
// root_check_interval; when the lookup finds a node strictly closer to the key, the root
// joins it (its join flagged `r`). Roots thus move strictly closer to the key, and end
// at the closest live node: split groups merge. When the root dies, its children stop
// hearing from it and re-join; their joins end at the new closest node. A node that becomes
// root is often the root of a fragment (its tree's root died, or the closest node is not yet
// in its table): it checks again join_retry later, then twice as long after each check that
// found nobody closer, up to root_check_interval (1, 2, 4, 8, 16, 30 s with the defaults).
//
// Fan-out. A node holds at most `fanout` children; a full node answers a join with one
// of its children (`push`, round robin) and the joiner joins there (push-down).
//
// Loops. Every node knows its path: the ids from the root down to its parent (empty for
// the root), given in the join's answer and in every heartbeat. A joiner has no parent,
// so a join from one of its ancestors means the joiner tops a tree this node is in (a root
// moving closer, or an orphan whose route toward the key runs into its own subtree): the
// node hands over — it leaves its parent (below the joiner), becomes root and takes the
// joiner as its child. Taking it as it stands would close a loop; refusing it would leave
// a subtree whose closer nodes are all its own descendants cut off for good. A node
// refuses (201 "loop") only a node it is asking itself at that moment. A node whose
// parent's heartbeat names it in the path (or a path deeper than max_depth) is in a loop:
// it leaves that parent and re-joins.
//
// Heartbeats and repair. A parent beats each child every beat_interval (nexo_beat, with
// the path); a child that hears nothing from its parent (beat or message) for
// missed_beats intervals re-joins; a parent drops a child that leaves any query
// unanswered (beat_failures consecutive beats, or a message after max_attempts sends) or
// answers that it is not its child.
//
// Messages. A publish carries (publisher, sequence, payload <= max_payload bytes); a
// publisher numbers its messages to each topic 1, 2, 3, ... A node in the tree floods it
// along the tree: to its parent and children except the one it came from (up to the root
// and down, without waiting for the root), each hop acknowledged by the query's reply and
// sent up to max_attempts times. A publisher that is not the root also routes its message
// toward the key (nexo_pub), in the tree or not: its tree may be a fragment, or its parent dead
// and not yet missed. A node routes nexo_pub like a join, each hop trying the next closest
// contact when one fails and looking the key up once when its table's are used up; the first
// tree node on the route floods it; a hop answers only once the message is in the tree or
// held by itself, so a hop that dies with it is routed around. The publisher starts two routes
// at once, from its closer contacts taken alternately (the second gives up when its contacts
// fail): a dead first hop costs a query timeout, and a publisher that dies meanwhile would
// take the message along. A node on the route that knows nobody closer, even after the lookup,
// holds it as the root of a tree of its own (merged with any other by the root checks; a root
// that is neither member nor parent forgets the topic once its newest message is
// history_window old). Each node delivers and forwards a (publisher, sequence) once (the last
// seen_per_topic are remembered). Each node keeps the last `history` messages (at most
// history_window old) and sends them to a child it takes and to a parent it joins, so that a
// subtree cut off by a crash gets what flowed while it re-joined (receivers deduplicate).
//
// Custody. A message handed to a route can still die with every node that took it (a
// rendezvous that held it alone, a fragment that lost its way to the root). So the publisher
// keeps each message it published and routes it toward the key again `reoffers` times,
// reoffer_interval after publishing and twice as long after each (2, 6, 14 s with the
// defaults; at most max_in_flight kept, the oldest let go first). A node that has it answers
// at once; a route that meets the main tree first floods it there. Cost: two routed queries
// per re-offer, a few datagrams per message.
//
// Gap repair. Flooding and the catch-up above lose a message for good when it flowed while
// a fragment of the tree was cut off and nothing later tells the fragment (the last messages
// of a burst, a catch-up lost with a dying neighbour, two roots merging). So each node keeps,
// per topic, a digest of its last digest_publishers publishers (the ones most recently
// heard from within history_window): per publisher the highest sequence seen and which of
// the 64 below it were seen. It sends the digest (publisher, highest) in every heartbeat and
// every join answer, and the other way in every beat reply and join: both sides of every
// tree edge compare digests at every beat, and the two roots of a merge compare at the join.
// A node that learns of a sequence it lacks (a digest naming a higher one or one it missed
// below; a message that skips a number, since sequences are contiguous) asks the neighbour
// that told it: nexo_fetch {topic, publisher, from} is answered with the messages of that
// publisher from that sequence on that it still holds (its history: ascending, fetch_bytes
// of payload at most, `more` when cut short). What comes back is delivered and flooded on
// like any other message, except back to where it came from; what the neighbour no longer
// holds is given up on (counted) and not asked for again. One fetch per publisher and
// topic is out at a time. A message is thus lost only when every node holding it died or
// aged it out of its history before a node lacking it compared digests with one of them.
//
// Leaving. A member that leaves stays as a forwarder while it has children; a node that
// is neither member nor parent leaves its parent (nexo_leave), which prunes the branch.
//
// Bad input (wrong or missing arguments, wrong lengths, a payload over max_payload) is
// answered with KRPC error 203 and counted; an unknown topic where one must be known is
// 201; over max_topics, 202. Bounds: max_topics topics (joined or relayed); per topic
// fanout children, path <= max_depth ids, history messages, seen_per_topic ids; queries
// in flight <= max_in_flight (over it a send is dropped, counted), messages waiting for
// room in the node's RpcTable (8 queries per destination by default) <= max_in_flight;
// digests <= digest_publishers entries (<= 32; 28 bytes each on the wire, 32 accepted);
// a fetch answer <= fetch_bytes of payload (one message at least; 64 messages accepted).
// The node's own bounds (rate limit, max_operations) come first. Memory per topic: about
// history * (max_payload + 80) + seen_per_topic * 32 + fanout * 64 + digest_publishers * 56
// bytes at most (~50 KB with the defaults), ~200 B when idle; per topic this node published
// to, 40 bytes (its sequence).
//
// Measured on the simulator (scribe_sim_test, RTT 20-300 ms, beat 1 s, 3 missed beats):
// 300 members among 1,000 nodes form a tree of ~380 nodes, depth 2, built in 0.6 s; a
// message costs 2.5 datagrams per delivery (its queries and replies; 5.5 with the
// heartbeats and the DHT's upkeep over the same seconds); after a quarter of the nodes
// crash (the root among them) every live member is reconnected to the new root within
// ~7 s (~6 s at 10,000 nodes). Under churn (500 nodes with the nodes' churn policy, mean
// lifetime 30 s, 125 members, 30 messages at 1/s, SCRIBE_SIM_SEED=0..7) every member alive
// through a message's 20 s window that had joined before it gets it exactly once, except
// (counted apart) whole messages lost with every node that held them (0 for 7 seeds, 1.8%
// of the pairs for one: a publisher that died half a second after publishing, before any
// live node took its message) and members cut off in a fragment that did not merge within the
// window (0-3.1%: one member each for two seeds); none stranded. Before custody, publishing from
// fragments, two routes and the early root checks: lost and stranded 0-6.0% with the same
// nodes (up to 9.2% with the nodes' older churn settings). All traffic per delivery, DHT
// upkeep included: 142 datagrams on average over the seeds (141 before; 152 with the nodes'
// older churn settings).
//
// Thread contract: the node's (one thread, never reentrant). The Scribe must live no
// longer than its node; it deregisters itself (its methods then answer 204) when destroyed.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/overlay/node.hpp"

namespace nexo::overlay {

struct ScribeConfig {
  std::uint32_t fanout = 16;  // children per node per topic (>= 1)
  Duration beat_interval = std::chrono::seconds(2);
  std::uint32_t missed_beats = 3;   // intervals without word from the parent before re-joining
  std::uint32_t beat_failures = 2;  // consecutive unanswered beats before a child is dropped
  std::uint32_t max_attempts = 3;   // sends of one message to one neighbour
  Duration root_check_interval = std::chrono::seconds(30);
  Duration join_retry = std::chrono::seconds(1);
  std::uint32_t max_join_hops = 32;  // joins one attempt sends (push-downs included)
  std::uint32_t max_topics = 64;
  std::size_t max_payload = 1000;
  std::uint32_t history = 16;
  Duration history_window = std::chrono::seconds(30);
  std::uint32_t seen_per_topic = 1024;
  std::uint32_t max_in_flight = 1024;
  std::uint32_t max_depth = 32;
  std::uint32_t digest_publishers = 8;  // publishers per topic tracked and sent in digests
  std::size_t fetch_bytes = 1200;       // payload bytes per nexo_fetch answer (>= 1 message)
  // A publisher's custody of its messages: it routes each again toward the key this many
  // times, reoffer_interval after publishing and then twice as long after each (2, 6, 14 s).
  std::uint32_t reoffers = 3;
  Duration reoffer_interval = std::chrono::seconds(2);
};

// A message delivered to this member.
struct Delivery {
  std::string topic;  // the name it joined
  std::string payload;
  NodeInfo publisher;
  std::int64_t sequence = 0;
};

struct ScribeCounters {
  std::uint64_t published = 0;       // publish() calls accepted
  std::uint64_t delivered = 0;       // messages handed to on_deliver
  std::uint64_t duplicates = 0;      // messages seen before (not forwarded again)
  std::uint64_t forwarded = 0;       // nexo_msg/nexo_pub queries sent (retries included)
  std::uint64_t retries = 0;         // of those, resends after a timeout
  std::uint64_t beats = 0;           // nexo_beat queries sent
  std::uint64_t joins_sent = 0;      // nexo_join queries sent
  std::uint64_t children_taken = 0;  // joins answered with ok
  std::uint64_t push_downs = 0;      // joins answered with one of our children
  std::uint64_t loops_refused = 0;   // joins from our own ancestors refused
  std::uint64_t loops_detected = 0;  // heartbeats naming us in the path
  std::uint64_t hand_overs = 0;      // a root's join made us root
  std::uint64_t rejoins = 0;         // parent lost (silent, failed, refused, a loop)
  std::uint64_t parent_silent = 0;   // of those: no word for missed_beats intervals
  std::uint64_t became_root = 0;
  std::uint64_t root_moves = 0;        // a root that joined a closer node
  std::uint64_t children_dropped = 0;  // children that failed or said they were not
  std::uint64_t bad_arguments = 0;     // extension queries answered 203
  std::uint64_t not_in_tree = 0;       // messages or beats for a topic we are not in (201)
  std::uint64_t too_many_topics = 0;   // answered 202
  std::uint64_t no_route = 0;          // publishes dropped: no tree, nobody closer, no room
  std::uint64_t rendezvous = 0;        // publishes this node held as the closest it knew
  std::uint64_t send_dropped = 0;      // over max_in_flight, or refused by the node
  std::uint64_t deferred = 0;          // messages put off: the node had no room for them
  std::uint64_t fetches = 0;           // nexo_fetch queries sent (a digest showed a gap)
  std::uint64_t fetched = 0;           // messages new to us that a fetch brought
  std::uint64_t gaps_given_up = 0;     // sequences asked for that the neighbour no longer held
  std::uint64_t bad_replies = 0;       // malformed digests or fetch answers in replies (ignored)
  std::uint64_t reoffered = 0;         // own messages routed toward the key again (custody)
  std::uint64_t custody_dropped = 0;   // own messages let go early: over max_in_flight kept
  std::uint64_t root_checks = 0;       // lookups of the key by this node as a root
};

class Scribe final : public NodeService {
 public:
  // Registers nexo_join, nexo_leave, nexo_beat, nexo_msg, nexo_pub and nexo_fetch on `node` and
  // adds itself as its service. `node` must outlive the Scribe.
  explicit Scribe(Node& node, ScribeConfig config = {});
  ~Scribe() override;
  Scribe(const Scribe&) = delete;
  Scribe& operator=(const Scribe&) = delete;

  // SHA-1 of the name.
  static NodeId topic_key(std::string_view topic) noexcept;

  // Becomes a member of `topic` (joins its tree unless already in it). Errors:
  // invalid_argument for an empty name; overloaded over max_topics. Kick the driver after.
  Result<void> join(std::string_view topic, Time now);
  // Stops being a member (the branch is pruned when this node has no children).
  // Errors: invalid_argument when not a member.
  Result<void> leave(std::string_view topic, Time now);
  // Sends `payload` to every member. Returns the message's sequence number. Errors:
  // too_large over max_payload. Delivery is best effort: see the top of the file.
  Result<std::int64_t> publish(std::string_view topic, std::string_view payload, Time now);

  // Called for each message delivered to a topic this node is a member of (once per
  // publisher and sequence). May call join/leave/publish.
  std::function<void(const Delivery&)> on_deliver;

  // --- Inspection (by key: forwarders know no names).
  bool member(const NodeId& key) const noexcept;
  // Whether this node has seen (publisher, sequence) in the tree of `key` (the last
  // seen_per_topic are remembered).
  bool seen(const NodeId& key, const NodeId& publisher, std::int64_t sequence) const noexcept;
  bool in_tree(const NodeId& key) const noexcept;
  bool is_root(const NodeId& key) const noexcept;
  bool attached(const NodeId& key) const noexcept;  // has a parent that answered
  std::optional<NodeInfo> parent(const NodeId& key) const;
  std::vector<NodeInfo> children(const NodeId& key) const;
  // The length of this node's path to the root (0: root; nullopt: not attached).
  std::optional<std::size_t> depth(const NodeId& key) const noexcept;
  std::size_t topic_count() const noexcept { return topics_.size(); }
  // One line on this node's state in the tree of `key` (for tools and failing tests).
  std::string describe(const NodeId& key, Time now) const;
  const ScribeCounters& counters() const noexcept { return counters_; }
  const ScribeConfig& config() const noexcept { return config_; }
  Node& node() noexcept { return node_; }

  // NodeService.
  void on_timer(Time now) override;
  std::optional<Time> next_timer() const override;

  struct Topic;  // scribe_topic.hpp
  struct Message;
  struct Stream;
  struct DigestEntry;

 private:
  using Reply = std::function<void(Result<ExtensionReply> reply, Time now)>;

  // scribe.cpp: queries sent, messages.
  bool send(const net::Endpoint& to, std::string method, wire::bencode::Dict args, Time now,
            Reply done);
  static bool answered(const Result<ExtensionReply>& reply) noexcept;
  static bool refused(const Result<ExtensionReply>& reply) noexcept;
  // Not sent: the node's RpcTable was full for that destination (or in all); not the
  // neighbour's fault.
  static bool not_sent(const Result<ExtensionReply>& reply) noexcept;
  wire::bencode::Dict message_args(const NodeId& key, const Message& message) const;
  void disseminate(Topic& topic, const Message& message, const net::Endpoint* except, Time now);
  void send_message(const NodeId& key, const net::Endpoint& to, const Message& message,
                    std::uint32_t attempt, Time now);
  void flood_or_route(const NodeId& key, const Message& message, Time now);
  void route_publish(const NodeId& key, const Message& message, Time now);
  // `upstream`: the nexo_pub to answer once the message is passed on or held here. `spare`:
  // a second route, given up when its candidates fail.
  void route_to(const NodeId& key, const Message& message, std::vector<NodeInfo> candidates,
                std::size_t next, bool looked, Time now,
                std::optional<ExtensionReplyTo> upstream = std::nullopt, bool spare = false);
  void catch_up(Topic& topic, const net::Endpoint& to, Time now);
  std::vector<NodeInfo> closer_contacts(const NodeId& key, Time now) const;
  Topic* find(const NodeId& key) noexcept;
  const Topic* find(const NodeId& key) const noexcept;
  Topic* create(const NodeId& key, Time now);

  // scribe_handlers.cpp: answering the extension queries.
  ExtensionAnswer on_join(const krpc::Query& query, const net::Endpoint& from, Time now);
  ExtensionAnswer on_leave(const krpc::Query& query, const net::Endpoint& from, Time now);
  ExtensionAnswer on_beat(const krpc::Query& query, const net::Endpoint& from, Time now);
  ExtensionAnswer on_msg(const krpc::Query& query, const net::Endpoint& from, Time now);
  void on_pub(const krpc::Query& query, const net::Endpoint& from, Time now,
              ExtensionReplyTo reply_to);
  ExtensionAnswer on_fetch(const krpc::Query& query, const net::Endpoint& from, Time now);
  ExtensionAnswer bad(std::string what);
  std::optional<Message> parse_message(const krpc::Query& query) const;

  // scribe_tree.cpp: joining, beats, repair, pruning.
  void start_join(Topic& topic, Time now, bool as_root);
  void try_next(Topic& topic, Time now);
  void joined(const NodeId& key, const NodeInfo& to, std::uint64_t attempt,
              Result<ExtensionReply> reply, Time now);
  void looked_up(const NodeId& key, std::uint64_t attempt, Result<std::vector<NodeInfo>> result,
                 Time now);
  void root_checked(const NodeId& key, Result<std::vector<NodeInfo>> result, Time now);
  bool look_up(Topic& topic, Time now, bool root_check);
  void become_root(Topic& topic, Time now);
  void beat(Topic& topic, Time now);
  void beaten(const NodeId& key, const net::Endpoint& child, Result<ExtensionReply> reply,
              Time now);
  void neighbour_gone(const NodeId& key, const net::Endpoint& who, Time now);
  void lose_parent(Topic& topic, Time now);
  void remove_child(Topic& topic, const net::Endpoint& child, Time now);
  bool prune(Topic& topic, Time now);
  void leave_parent(Topic& topic, Time now);
  static Time topic_timer(const Topic& topic, const ScribeConfig& config) noexcept;

  // scribe_repair.cpp: digests and fetching what a neighbour has and we lack.
  void note_seen(Topic& topic, const NodeId& publisher, std::int64_t sequence, Time now);
  Stream& stream(Topic& topic, const NodeId& publisher);
  std::string digest(const Topic& topic, Time now) const;
  // The digest `g` of a query or reply: empty when absent, nullopt when malformed.
  std::optional<std::vector<DigestEntry>> parse_digest(const wire::bencode::Dict& dict) const;
  void compare(Topic& topic, const net::Endpoint& from, const std::vector<DigestEntry>& digest,
               Time now);
  // compare() on a reply's digest (a malformed one is counted and ignored).
  void compare_reply(const NodeId& key, const net::Endpoint& from, const ExtensionReply& reply,
                     Time now);
  void fetch(Topic& topic, const net::Endpoint& from, const NodeId& publisher, std::int64_t first,
             std::int64_t upto, Time now);
  void fetched(const NodeId& key, const net::Endpoint& from, const NodeId& publisher,
               std::int64_t first, std::int64_t upto, Result<ExtensionReply> reply, Time now);

  // scribe_custody.cpp: a publisher re-offering its own messages.
  void keep(const NodeId& key, const Message& message, Time now);
  void reoffer_due(Time now);

  struct Custody {
    Time due;
    NodeId key;
    std::unique_ptr<Message> message;
    std::uint32_t left;  // re-offers still to make
    Duration gap;        // until this one
  };

  struct Deferred {
    Time due;
    NodeId key;
    net::Endpoint to;
    std::unique_ptr<Message> message;
    std::uint32_t attempt;
  };

  Node& node_;
  ScribeConfig config_;
  std::deque<Deferred> deferred_;  // messages to resend once the node has room
  std::deque<Custody> custody_;    // own messages to re-offer, the earliest due first
  std::map<NodeId, std::unique_ptr<Topic>> topics_;
  std::shared_ptr<Scribe*> alive_;            // callbacks hold a weak_ptr: the Scribe may go first
  std::map<NodeId, std::int64_t> sequences_;  // topic -> the last sequence we published
  std::uint32_t in_flight_ = 0;
  std::uint64_t next_attempt_ = 1;
  ScribeCounters counters_;
};

}  // namespace nexo::overlay
