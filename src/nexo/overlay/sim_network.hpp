// sim::Network — an in-process simulated Internet on which overlay/'s sans-I/O
// cores (DatagramNode) run unchanged, sized for 100,000 nodes in one process:
// no thread per node, no socket, no real clock. A discrete-event simulation
// with one event heap ordered by (virtual time, sequence), deterministic for a
// seed: the same seed, nodes and calls give the same events in the same order.
//
//   sim::Network net({.seed = 7});
//   Slot a = net.add([](const net::Endpoint& self) { return std::make_unique<Core>(self); });
//   net.set_loss(0.01);  net.partition({{a}, {b, c}});  net.crash(c);  net.heal();
//   net.run_for(60s);  net.run_until([&] { return done(); }, net.now() + 10s);
//
// Addresses. Nodes are addressed by net::Endpoint, as on the Internet, since
// KRPC carries addresses. Each added node takes the next slot (0, 1, 2...) and
// with it an IPv4 address of 10/8 computed from the slot (address_of), so
// that address to slot is arithmetic, not a table; the port is 6881 unless
// add() is given another. Addresses are never reused: remove() retires a slot,
// and churn replaces a node by a new one at a new address, as a new peer. A
// datagram to an address nobody holds (never handed out, retired, another
// port, IPv6) is dropped and counted `to_nobody`; one to a crashed node,
// `to_crashed`. 10/8 is one of the ranges BEP 42 exempts from its id check.
//
// Latency. Every node is a point of the unit square, drawn from (seed, slot)
// and so the same in every run; the one-way delay from a to b is
//   base + distance(a, b) * per_unit + uniform [0, jitter]
// drawn for each datagram (jitter reorders). The defaults (10 ms, 100 ms per
// side of the square, 2 ms) give 10 to 151 ms one way, 62 ms on average: a
// round trip of 20 to 300 ms, 125 ms on average, about what DHT nodes measure
// between each other on the Internet. A datagram to itself takes `base`.
//
// Loss. Each datagram is lost with probability loss(from, to): the global
// setting, or the one set for that direction (meant for a few pairs).
//
// Faults. partition() splits the slots into parts that cannot reach each
// other; a datagram is blocked (counted `partitioned`) when its two ends are
// in different parts when it is sent or when it arrives, so nothing in flight
// crosses a new partition. crash() stops a node: it gets nothing, its timer
// stops, its poll_transmit is no longer read, but the object stays (a test
// may look at it) and what it sent before still arrives. restart() puts a new
// node (from a factory, as a restarted process with its state lost) at the
// same address. remove() destroys the node and retires its address for good.
// Churn (sim_churn.hpp) kills and replaces nodes with exponential lifetimes.
//
// NAT. A node set behind a NAT takes a datagram only from an endpoint it has
// sent one to within the last nat_timeout (60 s by default): the filtering of
// a port-restricted cone NAT (RFC 4787); the others are dropped when they
// arrive, counted `filtered`. Its own address plays the NAT's public mapping,
// so peers see and reach the address the node was given. This is what makes a
// node unreachable for unsolicited queries (super peers must not be).
//
// Order. Events run in the order of their virtual time, those due at the
// same time in the order they were scheduled. A node has at most one live
// timer: after each callback (and kick) the network drains poll_transmit and
// re-reads next_timer() (datagram_node.hpp's contract); a new time replaces
// the old (stale heap entries are ignored by a generation number), and a time
// at or before now runs at now, after the events already due.
//
// Memory. Per node the simulator keeps a record of 80 bytes while the node
// exists, 6 bytes per address handed out ever, and its timer event (24 bytes);
// each datagram in flight costs an event and a buffer. Buffers go back to a
// free list when delivered or dropped and keep their capacity, so a long run
// allocates nothing per datagram once warm. memory_bytes() sums it all.
//
// Misuse (an unknown slot, a time before now, a factory that returns null, a
// probability outside [0, 1], a datagram larger than UDP allows, a node that
// never stops transmitting or keeps firing its timer at one instant) throws
// std::logic_error naming what and where: a test fails, it does not hang.
//
// Thread contract: one thread. Nodes and the observer must not call the
// network's mutators from inside their callbacks; schedule() is the way to
// act at a virtual time (actions may call anything).
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
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/datagram_node.hpp"
#include "nexo/overlay/time.hpp"

namespace nexo::overlay::sim {

// A node's place in the network, and its address: 0, 1, 2... in the order of adding.
using Slot = std::uint32_t;
inline constexpr Slot kNoSlot = 0xffffffffU;
inline constexpr std::uint16_t kDefaultPort = 6881;
// 10.0.0.1 to 10.255.255.254, avoiding the .0 and .255 hosts: 65,536 * 254 addresses.
inline constexpr Slot kMaxSlots = 65536U * 254U;
// The largest UDP payload over IPv4.
inline constexpr std::size_t kMaxDatagram = 65507;

// The address of `slot` (arithmetic only: whether the slot exists is not checked).
net::Endpoint address_of(Slot slot, std::uint16_t port = kDefaultPort) noexcept;
// The slot whose address is `address`, whatever the port; nullopt outside the range.
std::optional<Slot> slot_of(const net::InetAddress& address) noexcept;

// Makes the node that will hold address `self`. Must not return null.
using Factory = std::function<std::unique_ptr<DatagramNode>(const net::Endpoint& self)>;

struct LatencyModel {
  Duration base = std::chrono::milliseconds(10);  // one-way delay at distance 0, >= 0
  Duration per_unit =
      std::chrono::milliseconds(100);  // added per side of the unit square of distance, >= 0
  Duration jitter =
      std::chrono::milliseconds(2);  // uniform extra in [0, jitter] per datagram, >= 0
};

struct Config {
  std::uint64_t seed = 1;  // every random draw (coordinates, loss, jitter) comes from it
  Time start{};            // the virtual clock's first reading
  LatencyModel latency{};
  double loss = 0;  // global loss probability, [0, 1]
};

struct Counters {
  std::uint64_t sent = 0;         // datagrams taken from poll_transmit
  std::uint64_t delivered = 0;    // handed to on_datagram
  std::uint64_t lost = 0;         // dropped by the loss probability
  std::uint64_t partitioned = 0;  // blocked by a partition
  std::uint64_t to_crashed = 0;   // addressed to a crashed node (at sending or arrival)
  std::uint64_t to_nobody = 0;    // addressed to an address no node holds
  std::uint64_t filtered = 0;     // unsolicited, to a node behind a NAT
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_delivered = 0;
  std::uint64_t timers = 0;   // on_timer calls
  std::uint64_t added = 0;    // nodes added (restarts not counted)
  std::uint64_t removed = 0;  // nodes removed
  // "sent 10, delivered 9, lost 1, ..."
  std::string to_string() const;
};

struct NodeCounters {
  std::uint64_t sent = 0;      // datagrams the node sent
  std::uint64_t received = 0;  // datagrams delivered to it
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
};

enum class NodeState : std::uint8_t { alive, crashed, removed };

// What the observer sees: every send, every delivery and every drop.
struct TraceEvent {
  enum class Kind : std::uint8_t {
    sent,
    delivered,
    lost,
    partitioned,
    to_crashed,
    to_nobody,
    filtered
  };
  Kind kind;
  Slot from;                         // the sender
  Slot to;                           // the receiver; kNoSlot when the address is no slot's
  Time time;                         // when it happened (a drop at sending: the send time)
  std::span<const std::byte> bytes;  // valid for the call only
};
using Observer = std::function<void(const TraceEvent&)>;

class Network {
 public:
  explicit Network(const Config& config = {});
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Makes a node at the next slot's address (with `port`), alive, and kicks
  // it. Throws when the factory returns null (nothing is added then) or the
  // 10/8 addresses are used up.
  Slot add(const Factory& make, std::uint16_t port = kDefaultPort);
  // The node at `slot` (alive or crashed). Throws on an unknown or removed slot.
  DatagramNode& node(Slot slot);
  const DatagramNode& node(Slot slot) const;
  // The address of a slot handed out (any state). Throws on an unknown slot.
  net::Endpoint address(Slot slot) const;
  // The slot handed out with exactly this address (any state), if any.
  std::optional<Slot> find(const net::Endpoint& address) const noexcept;
  NodeState state(Slot slot) const;
  std::size_t slots() const noexcept { return ports_.size(); }  // addresses handed out
  std::size_t alive() const noexcept { return alive_; }
  Time now() const noexcept { return now_; }

  // The latency model (see the top of the file); applies to datagrams sent
  // from then on. Throws on a negative duration.
  void set_latency(const LatencyModel& model);
  const LatencyModel& latency() const noexcept { return latency_; }
  // The slot's point in the unit square, x and y in [0, 1).
  std::pair<double, double> coordinates(Slot slot) const;
  // The delay from -> to without jitter. Throws on unknown slots.
  Duration base_delay(Slot from, Slot to) const;

  // The global loss probability, and the one for from -> to only (which then
  // ignores the global one until clear_loss). Throw outside [0, 1] or on an unknown slot.
  void set_loss(double probability);
  void set_loss(Slot from, Slot to, double probability);
  void clear_loss(Slot from, Slot to);
  double loss(Slot from, Slot to) const;

  // Splits the slots into parts; slots listed nowhere (and those added later)
  // form one more part together. Replaces any earlier partition. Throws on an
  // unknown slot or one listed twice.
  void partition(const std::vector<std::vector<Slot>>& parts);
  void heal();
  bool reachable(Slot from, Slot to) const;

  // Puts the node behind a NAT or takes it out (see the top of the file); it
  // stays there across restart(). Throws on an unknown or removed slot.
  void set_behind_nat(Slot slot, bool behind);
  bool behind_nat(Slot slot) const;
  // How long a pinhole stays open after the inside node last sent through it.
  // Throws on a negative duration.
  void set_nat_timeout(Duration timeout);

  // Stops a live node (see the top of the file); does nothing otherwise
  // (crashed or removed). Throws on an unknown slot.
  void crash(Slot slot);
  // Replaces the node at `slot` (alive or crashed) by a new one from `make`,
  // alive, at the same address, and kicks it; the old one is destroyed.
  // Throws on an unknown or removed slot, or a null node (nothing changes then).
  void restart(Slot slot, const Factory& make);
  // Destroys the node and retires its address for good; does nothing on a
  // removed slot. Throws on an unknown slot.
  void remove(Slot slot);

  // Drains the node's poll_transmit and re-reads next_timer, after a test
  // called into it. Does nothing unless it is alive. Throws on an unknown slot.
  void kick(Slot slot);
  // Runs `action` at virtual time `at` (>= now), in order with the other events.
  void schedule(Time at, std::function<void(Network&)> action);

  // Runs every event due at or before `until`, then sets the clock to `until`.
  void run_until(Time until);
  void run_for(Duration duration) { run_until(now_ + duration); }
  // Runs until `done()` holds (checked before the first event and after each
  // one; the clock stays at that event's time) or the clock reaches `limit`.
  // Returns whether done() held.
  bool run_until(const std::function<bool()>& done, Time limit);
  // Events waiting (datagrams in flight, timers, actions), stale ones included.
  std::size_t pending() const noexcept { return queue_.size(); }

  void set_observer(Observer observer) { observer_ = std::move(observer); }
  const Counters& counters() const noexcept { return counters_; }
  // Kept across restart; gone with remove(). Throws on an unknown or removed slot.
  const NodeCounters& counters(Slot slot) const;

  // The simulator's own heap use in bytes (capacities of its tables, the
  // event heap, actions and datagram buffers; not the nodes themselves).
  std::size_t memory_bytes() const noexcept;
  // Datagram buffers ever made (free and in flight): constant once warm.
  std::size_t buffers() const noexcept { return buffers_.size(); }

  // A node that sends more than this many datagrams from one drain, or fires
  // its timer more than this many times at one instant, is stuck: logic_error.
  static constexpr std::uint32_t kMaxBurst = 1'000'000;

 private:
  enum class EventKind : std::uint8_t { arrival, timer, action };
  // 24 bytes: the heap is most of the simulator's memory traffic.
  struct Event {
    Time at;
    std::uint64_t order;   // sequence << 8 | kind; the sequence (insertion order,
                           // unique) breaks ties at equal times
    std::uint32_t handle;  // arrival: buffer; timer: generation; action: index
    Slot to;               // arrival and timer: the node
    EventKind kind() const noexcept { return static_cast<EventKind>(order & 0xff); }
  };
  // A datagram in flight (or a free buffer, which keeps its capacity).
  struct Buffer {
    Bytes bytes;
    Slot from = kNoSlot;
  };
  // A node that exists (alive or crashed); records are reused after remove().
  struct Record {
    std::unique_ptr<DatagramNode> node;
    Time armed;   // what next_timer() last said; kNever: nothing
    Time queued;  // when its live timer event runs (<= armed, or now); kNever: none
    NodeCounters counters;
    Slot slot = kNoSlot;
    std::uint32_t timer_generation = 0;
    std::uint32_t fire_instant = 0;  // the instant_ of its last on_timer (stuck check)
    std::uint32_t fires = 0;         // on_timer calls at that instant
    bool crashed = false;
    bool behind_nat = false;
  };
  static constexpr std::uint32_t kRetired = 0xffffffffU;  // record_of_ of a removed slot
  static constexpr Time kNever = Time::max();             // no timer

  std::string name(Slot slot) const;  // "slot 3 (10.0.0.4:6881)"
  void check_slot(Slot slot, const char* what) const;
  Record* record(Slot slot) noexcept;
  Record& existing(Slot slot, const char* what);
  const Record& existing(Slot slot, const char* what) const;
  std::uint32_t make_record(Slot slot, std::unique_ptr<DatagramNode> node);
  void push(Time at, std::uint32_t handle, Slot to, EventKind kind);
  Event pop();
  void run_event(const Event& event);
  void run_action(std::uint32_t index);
  void arrive(const Event& event);
  void fire_timer(const Event& event);
  void drain(Record& sender);
  void rearm(Record& owner);
  bool send(Record& sender, const net::Endpoint& to, std::uint32_t buffer);
  bool same_part(Slot a, Slot b) const noexcept;
  void open_pinhole(Slot inside, Slot outside);
  bool pinhole_open(Slot inside, Slot outside) const noexcept;
  Duration draw_delay(Slot from, Slot to);
  std::uint32_t take_buffer();
  void release(std::uint32_t buffer);
  void observe(TraceEvent::Kind kind, Slot from, Slot to, std::uint32_t buffer);
  static std::uint64_t pair_key(Slot from, Slot to) noexcept {
    return (std::uint64_t{from} << 32) | to;
  }

  std::uint64_t seed_;
  fault::Random random_;
  Time now_;
  std::uint32_t instant_ = 0;  // counts the distinct times the clock has shown
  std::uint64_t next_sequence_ = 0;
  std::vector<Event> queue_;  // a 4-ary min-heap on (at, order)
  // Per address handed out: its port and its record (kRetired once removed).
  std::vector<std::uint16_t> ports_;
  std::vector<std::uint32_t> record_of_;
  std::vector<Record> records_;
  std::vector<std::uint32_t> free_records_;
  std::size_t alive_ = 0;
  std::vector<std::uint16_t> part_;  // per slot, empty when healed; slots beyond it: part 0
  std::vector<Buffer> buffers_;
  std::vector<std::uint32_t> free_buffers_;
  std::vector<std::function<void(Network&)>> actions_;
  std::vector<std::uint32_t> free_actions_;
  LatencyModel latency_;
  double loss_ = 0;
  std::unordered_map<std::uint64_t, double> pair_loss_;  // per direction, overriding loss_
  // (inside, outside) -> when the node behind a NAT last sent to outside;
  // expired entries are swept when the table has doubled since the last sweep.
  std::unordered_map<std::uint64_t, Time> pinholes_;
  std::size_t sweep_at_ = 4096;
  Duration nat_timeout_ = std::chrono::seconds(60);
  Counters counters_;
  Observer observer_;
};

}  // namespace nexo::overlay::sim
