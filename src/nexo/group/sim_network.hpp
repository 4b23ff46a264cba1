// sim::Network — an in-process simulated datagram network with a virtual
// clock, on which group/'s sans-I/O protocol cores run unchanged: no threads,
// no sockets, no real clock. A discrete-event simulation, deterministic for a
// seed: the same seed, nodes and calls give the same trace, event for event.
//
//   sim::Network net(seed, start);
//   NodeId a = net.add(std::make_unique<MyNode>(...));   // the network owns it
//   net.set_link({.loss = 0.01, .delay = 1ms, .jitter = 200us});
//   net.partition({{a, b}, {c}});  net.crash(c);  net.heal();
//   net.run_for(1s);  net.run_until([&] { return done(); }, limit);
//
// A Node is what a simulated process runs: the network hands it datagrams
// (on_datagram) and timer expiries (on_timer), and after each of those calls
// it drains the node's poll_transmit() and re-reads next_timer(). A test that
// calls into a node directly (makes it send) calls kick(node) to do the same.
//
// Datagrams. A Destination is one node (unicast) or the group: every other
// node that is a group member (all nodes are, unless set_group_member says
// otherwise), never looped back to the sender, as with IP multicast (a
// unicast to the sender itself is delivered, as on loopback). Each
// copy of a datagram crosses its own directed link (from -> to), which
// decides independently for that copy: lost (probability `loss`), duplicated
// (probability `duplicate`: one extra copy with its own delay), and its delay
// (`delay` plus a uniform jitter in [0, jitter]; jitter reorders). All copies
// of one datagram share one buffer.
//
// Faults. A copy is blocked (counted `partitioned`) when its two ends are in
// different parts of the partition when it is sent or when it arrives; a
// partition cuts the wire at once, so nothing in flight crosses it. A crashed
// node gets nothing (copies addressed to it while it is down, at sending or at
// arrival, count as `to_crashed`), its timer stops, and its poll_transmit is
// no longer read; what it sent before the crash still arrives. restart()
// puts a new Node in its place under the same NodeId (the same address):
// copies that arrive after the restart go to the new node.
//
// Order. Events run in the order of their virtual time; those due at the same
// time run in the order they were scheduled. A node has at most one pending
// timer: a new next_timer() replaces the old one (the stale event is ignored),
// and a time at or before now runs at now, after the events already due.
//
// Misuse (an unknown NodeId, a time before now, a node that never stops
// transmitting or keeps firing its timer at one instant) throws
// std::logic_error naming what and where: a test fails, it does not hang.
//
// Thread contract: one thread. Nodes and the observer must not call the
// Network's mutators from inside their callbacks (schedule() is the way to act
// at a virtual time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/fault/random.hpp"
#include "nexo/group/time.hpp"

namespace nexo::group::sim {

using NodeId = std::uint32_t;
inline constexpr NodeId kNoNode = 0xffffffffU;

// Where a datagram goes: the group (every other live member) or one node.
struct Destination {
  bool group = false;
  NodeId node = kNoNode;  // the receiver when !group; ignored otherwise
};

inline Destination to_group() noexcept { return {true, kNoNode}; }
inline Destination to_node(NodeId node) noexcept { return {false, node}; }

// What a simulated process runs. Called only by its Network, on its thread.
class Node {
 public:
  virtual ~Node() = default;
  // A datagram arrived from `from` at virtual time `now`. The bytes live for
  // the call only.
  virtual void on_datagram(std::span<const std::byte> datagram, NodeId from, Time now) = 0;
  // The time next_timer() asked for has come (now >= that time).
  virtual void on_timer(Time now) = 0;
  // When on_timer wants to run next; nullopt: no timer.
  virtual std::optional<Time> next_timer() const = 0;
  // One datagram the node wants sent: fills `out` (reused between calls:
  // assign into it) and `to`, returns true; false when it has nothing more.
  virtual bool poll_transmit(Bytes& out, Destination& to, Time now) = 0;
};

// One direction of a link. The defaults are a perfect wire: nothing lost or
// duplicated, no delay.
struct LinkModel {
  double loss = 0;        // probability that a copy is lost, [0, 1]
  double duplicate = 0;   // probability that a copy arrives twice, [0, 1]
  Duration delay{0};      // fixed one-way delay, >= 0
  Duration jitter{0};     // extra delay, uniform in [0, jitter], >= 0
};

// Datagram copies: a multicast to n receivers is 1 sent and n copies.
struct Counters {
  std::uint64_t sent = 0;         // datagrams taken from poll_transmit
  std::uint64_t delivered = 0;    // copies handed to on_datagram
  std::uint64_t lost = 0;         // copies dropped by a link's loss
  std::uint64_t duplicated = 0;   // extra copies made by a link's duplication
  std::uint64_t partitioned = 0;  // copies blocked by a partition
  std::uint64_t to_crashed = 0;   // copies addressed to a crashed node
  std::uint64_t unknown_destination = 0;  // unicasts to a NodeId never added
  std::uint64_t timers = 0;       // on_timer calls
  // "sent 10, delivered 90, lost 0, ..."
  std::string to_string() const;
};

struct NodeCounters {
  std::uint64_t sent = 0;      // datagrams this node sent
  std::uint64_t received = 0;  // copies delivered to this node
};

// What the observer sees: every send and every delivery, and every copy
// dropped (with the reason), for traces and space-time diagrams.
struct TraceEvent {
  enum class Kind { sent, delivered, lost, partitioned, to_crashed };
  Kind kind;
  NodeId node;   // sent: the sender; otherwise the receiver
  NodeId peer;   // sent: the unicast receiver, kNoNode for the group; otherwise the sender
  Time time;     // virtual time of the event (a drop at sending: the send time)
  std::span<const std::byte> bytes;  // valid for the call only
};
using Observer = std::function<void(const TraceEvent&)>;

class Network {
 public:
  // A network at virtual time `start`, whose every random draw comes from `seed`.
  Network(std::uint64_t seed, Time start);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Adds a node (the network owns it), a group member, not crashed, and
  // kicks it (drains its transmissions, arms its timer). NodeIds are 0, 1, 2...
  // in the order of adding. Throws std::logic_error on a null node.
  NodeId add(std::unique_ptr<Node> node);
  // The node under `id` (the latest incarnation). Throws on an unknown id.
  Node& node(NodeId id);
  std::size_t size() const noexcept { return nodes_.size(); }
  Time now() const noexcept { return now_; }

  // Link models: set_link(model) for every link without a setting of its
  // own, set_link(a, b) for both directions between a and b, set_direction for
  // a -> b only (between these two, the latest call wins; a link's own setting
  // always beats the default). A change applies to copies sent from then on.
  // Throws on an unknown id or a model out of range (probability outside
  // [0, 1], negative delay or jitter).
  void set_link(const LinkModel& model);
  void set_link(NodeId a, NodeId b, const LinkModel& model);
  void set_direction(NodeId from, NodeId to, const LinkModel& model);
  // The model the link from -> to uses now.
  const LinkModel& link(NodeId from, NodeId to) const;

  // Splits the nodes into parts that cannot reach each other; nodes listed
  // nowhere (and nodes added later) form one more part together. Replaces
  // any earlier partition.
  // Throws on an unknown id or one listed twice.
  void partition(const std::vector<std::vector<NodeId>>& parts);
  // Every node reaches every node again.
  void heal();
  bool reachable(NodeId from, NodeId to) const;

  // Stops the node (see the top of the file). Crashing a crashed node does nothing.
  void crash(NodeId id);
  // Replaces a node (crashed or not) by `node`, alive, and kicks it.
  void restart(NodeId id, std::unique_ptr<Node> node);
  bool crashed(NodeId id) const;
  // Whether the node receives multicasts (default true).
  void set_group_member(NodeId id, bool member);

  // Drains the node's poll_transmit and re-reads its next_timer, after a test
  // called into it. Does nothing on a crashed node.
  void kick(NodeId id);
  // Runs `action` at virtual time `at` (>= now), in order with the other events.
  void schedule(Time at, std::function<void(Network&)> action);

  // Runs every event due at or before `until`, then sets the clock to `until`.
  void run_until(Time until);
  void run_for(Duration duration) { run_until(now_ + duration); }
  // Runs until `done()` holds (checked before the first event and after each
  // one; the clock stays at that event's time) or the clock reaches `limit`.
  // Returns whether done() held.
  bool run_until(const std::function<bool()>& done, Time limit);
  // Events waiting (copies in flight, timers, scheduled actions), stale ones included.
  std::size_t pending() const noexcept { return queue_.size(); }

  void set_observer(Observer observer) { observer_ = std::move(observer); }
  const Counters& counters() const noexcept { return counters_; }
  const NodeCounters& counters(NodeId id) const;

  // A node that sends more than this many datagrams from one drain, or fires
  // its timer more than this many times at one instant, is stuck: logic_error.
  static constexpr std::uint64_t kMaxBurst = 1'000'000;

 private:
  enum class EventKind : std::uint8_t { arrival, timer, action };
  struct Event {
    Time at;
    std::uint64_t sequence;   // insertion order: the tie-break at equal times
    std::uint32_t handle;     // arrival: buffer; timer: generation; action: index
    NodeId to;
    NodeId from;
    EventKind kind;
  };
  struct Slot {
    std::unique_ptr<Node> node;
    NodeCounters counters;
    std::optional<Time> armed;         // what next_timer() last said
    std::optional<Time> queued;        // when its live timer event runs (<= armed, or now)
    std::uint32_t timer_generation = 0;
    std::uint32_t partition_part = 0;
    bool crashed = false;
    bool member = true;
    Time last_fire{};                  // for the stuck-timer check
    std::uint64_t fires_at_last = 0;
  };
  struct Buffer {
    Bytes bytes;
    std::uint32_t references = 0;
  };

  Slot& slot(NodeId id, const char* what);
  const Slot& slot(NodeId id, const char* what) const;
  void push(Time at, std::uint32_t handle, NodeId to, NodeId from, EventKind kind);
  Event pop();
  void run_event(const Event& event);
  void arrive(const Event& event);
  void fire_timer(const Event& event);
  void drain(NodeId id);
  void rearm(NodeId id);
  void send(NodeId from, const Destination& to, std::uint32_t buffer);
  void send_copy(NodeId from, NodeId to, std::uint32_t buffer);
  Duration draw_delay(const LinkModel& model);
  std::uint32_t take_buffer();
  void release(std::uint32_t buffer);
  void observe(TraceEvent::Kind kind, NodeId node, NodeId peer, std::uint32_t buffer);
  static std::uint64_t link_key(NodeId from, NodeId to) noexcept {
    return (std::uint64_t{from} << 32) | to;
  }

  fault::Random random_;
  Time now_;
  std::uint64_t next_sequence_ = 0;
  std::vector<Event> queue_;  // a binary min-heap on (at, sequence)
  std::vector<Slot> nodes_;
  std::vector<Buffer> buffers_;
  std::vector<std::uint32_t> free_buffers_;
  std::vector<std::function<void(Network&)>> actions_;
  std::vector<std::uint32_t> free_actions_;
  LinkModel default_link_;
  std::unordered_map<std::uint64_t, LinkModel> links_;  // per direction, overriding the default
  Counters counters_;
  Observer observer_;
};

}  // namespace nexo::group::sim
