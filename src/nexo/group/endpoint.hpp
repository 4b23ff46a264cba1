// group::Endpoint — one process's membership of a group, as a sans-I/O state
// machine (packets and `now` in; packets, deliveries and views out): the
// layer a driver (group::Group over real sockets, or the simulator) runs.
//
// It owns, for the current view, one Member (reliable FIFO multicast,
// member.hpp; sequence numbers start again at 1 in every view) and one
// Orderer (order.hpp: FIFO, causal, total through a sequencer, or total by
// agreed priorities), and adds membership:
// - join: the member announces itself (JOIN to the group) until the
//   coordinator of a view (its first member) takes it into the next view; if
//   nobody answers within discovery_time it forms a view of its own (a
//   packet of the group heard meanwhile extends the wait by discovery_time,
//   up to discovery_time + 3 * detection_time in all). join is done when
//   state() is member and a ViewChange containing self was polled.
// - leave: the member asks the coordinator to install a view without it; the
//   others install that view at once (no failure timeout), and its own
//   messages sent before leave() are delivered in the old view first.
// - crash detection: a member silent for detection_time (heartbeats are sent
//   every heartbeat_interval) is probed directly, and suspected only when the
//   probe goes unanswered too (the second check); then it is removed from
//   the view. detection_time bounds the whole: silence, probe, new view.
// - view changes under virtual synchrony: before a new view is installed the
//   coordinator flushes the old one: every surviving member stops sending,
//   reports what it has delivered of each sender, and gets (from whoever has
//   them) the messages some survivor delivered; so members that move together
//   from view v to v+1 deliver the same set of messages in v, and the
//   ViewChange event comes after all of them in the event stream.
// - merge: after a partition heals, the coordinators of the views find each
//   other (their heartbeats reach the group) and merge the views into one.
// - state transfer (config.state_transfer): when a view brings joiners, the
//   coordinator polls a StateRequest at the point between the old view's
//   last delivery and the new view, the driver answers provide_state(), and
//   every joiner polls a StateTransfer before its first delivery in the view.
// - slow members: a member that holds stability back (its digest lags) makes
//   send() say would_block (SlowPolicy::block); under SlowPolicy::remove a
//   member that has lagged for slow_timeout is removed from the view. A
//   member lags when the coordinator sees by its digest that it is half a
//   window (MemberConfig::window / 2 messages) or more behind the
//   coordinator's own delivery of some sender. A removed member finds itself
//   alone (as any member left out of a view) and may merge back, but not
//   before 5 * slow_timeout.
//
// Thread contract: none; the driver serialises every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/group/member.hpp"
#include "nexo/group/time.hpp"

namespace nexo::group {

// The order in which members deliver the group's messages.
enum class Order : std::uint8_t {
  fifo,    // each sender's messages in the order sent
  causal,  // ... and none before a message it causally follows (vector timestamps)
  total,   // one order at every member, through a sequencer (with failover)
  agreed,  // one order at every member, without a sequencer (Skeen/ISIS priorities)
};
// "fifo", "causal", "total", "agreed".
std::string_view to_string(Order order) noexcept;
// The inverse of to_string; nullopt for anything else.
std::optional<Order> parse_order(std::string_view text) noexcept;

// What happens to a member too slow to keep up (see the file comment).
enum class SlowPolicy : std::uint8_t { block, remove };

inline constexpr std::size_t kMaxContact = 64;

struct View {
  std::uint64_t id = 0;            // increases with every view this member installs
  std::vector<MemberId> members;   // in join order, the oldest first: members[0] coordinates
  std::vector<Bytes> contacts;     // contacts[i]: members[i]'s EndpointConfig::contact

  // The view's identity, (id, coordinator): unique where the id alone is not
  // (two sides of a partition may each install a view of the same id).
  ViewId identity() const noexcept { return {id, members.empty() ? 0 : members.front()}; }
};

struct ViewChange {
  View view;
  std::vector<MemberId> joined;  // in this view, not in the previous one
  std::vector<MemberId> left;    // in the previous view, not in this one (left, crashed, removed)
};

// At the coordinator: the state of the group as of this point of the event
// stream is wanted by the joiners of view `view`: answer provide_state().
struct StateRequest {
  std::uint64_t view = 0;
};
// At a joiner: the group's state, before its first delivery in the view.
struct StateTransfer {
  std::uint64_t view = 0;
  Bytes state;
};

using Event = std::variant<Delivery, ViewChange, StateRequest, StateTransfer>;

// Order::total, at the sequencer (the view's first member): a message whose
// place in the view's total order it announced (order.hpp's Placement, with
// the view). Keyed as the message's Delivery (sender, view, seq).
struct Sequenced {
  MemberId sender = 0;
  std::uint64_t view = 0;
  std::uint64_t seq = 0;       // Delivery::seq
  std::uint64_t position = 0;  // in the view's total order: 1, 2, ...
};
// Hears each Sequenced, with the `now` of the Endpoint call that announced it.
using SequencedObserver = std::function<void(const Sequenced&, Time now)>;

struct EndpointConfig {
  std::uint64_t group = 0;  // group_tag() of the group's name
  MemberId self = 0;        // nonzero, unique in the group (drivers draw it at random)
  Bytes contact;            // opaque to the core, at most kMaxContact bytes: how drivers
                            // reach this member (its unicast address); carried in views
  std::uint64_t seed = 1;   // randomness (NAK back-offs)
  Order order = Order::fifo;
  SlowPolicy slow_policy = SlowPolicy::block;
  bool state_transfer = false;
  std::chrono::milliseconds detection_time{1000};  // a crashed member is out of the view within this
  std::chrono::milliseconds discovery_time{300};   // join: alone after this long without an answer
  std::chrono::milliseconds slow_timeout{5000};    // SlowPolicy::remove: lagging this long removes
  // The largest VIEW (and MERGE) packet, at most kMaxPacket: the roster of
  // every view must fit one, so a coordinator refuses a JOIN (REFUSE: the
  // joiner's join fails, Endpoint::join_refusal) or a MERGE that would make it
  // larger (roster_packet_size(): 896 members of 64-byte contacts fit
  // kMaxPacket, 1024 of up to 54 bytes). Smaller keeps VIEW within a path's MTU.
  std::size_t max_view_packet = kMaxPacket;
  MemberConfig reliability;  // each view's Member: timers and limits (its group, self, view,
                             // members and seed fields are set by the Endpoint)
};

struct EndpointCounters {
  MemberCounters reliability;  // summed over the views so far
  std::uint64_t views_installed = 0, joins = 0, leaves = 0, crashes_detected = 0, merges = 0;
  std::uint64_t probes_sent = 0, flushes = 0;
  std::uint64_t membership_drops = 0;  // membership packets refused (forged, stale, from strangers)
  // ... by cause: from a non-member or another group; of an older view or
  // flush, or not expected now; breaking a rule (a member twice, over a bound).
  std::uint64_t membership_strangers = 0, membership_stale = 0, membership_invalid = 0;
  std::uint64_t slow_removals = 0;     // members removed as too slow (SlowPolicy::remove)
  std::uint64_t joins_refused = 0;     // JOINs answered REFUSE: the view would be too large
};

class Endpoint {
 public:
  enum class State : std::uint8_t { idle, joining, member, leaving, left };

  // Errors: invalid_argument (self 0, contact over kMaxContact, a bad reliability config).
  static Result<Endpoint> create(EndpointConfig config, Time now);
  Endpoint(Endpoint&&) noexcept;
  Endpoint& operator=(Endpoint&&) noexcept;
  ~Endpoint();

  void join(Time now);   // idle -> joining -> member
  void leave(Time now);  // member -> leaving -> left (the leave is complete at left)
  State state() const noexcept;
  // Why this member's join failed, once a coordinator refused it (its view
  // with this member would not fit one VIEW packet; the state is then left):
  // too_large, naming the limit. Empty otherwise.
  const std::optional<Error>& join_refusal() const noexcept;

  // Sends to the group in the current view (delivered here too, through the
  // order). Errors: not_connected (not a member, or leaving), too_large,
  // would_block (flow control, or a view change in progress: retry later).
  Result<void> send(std::span<const std::byte> payload, Time now);
  bool writable(std::size_t size) const noexcept;

  // A datagram: one packet, or a bundle of them (bundle.hpp), all taken in
  // before the Endpoint moves on.
  void on_packet(std::span<const std::byte> datagram, Time now);
  void on_timer(Time now);
  std::optional<Time> next_timer() const noexcept;
  // Packets to send, one per call, until false. Destination::member is a
  // member id whose contact() the driver sends to.
  bool poll_transmit(Bytes& out, Destination& to);
  std::optional<Event> poll_event();
  // A Delivery's buffer (payload or meta) the driver is done with, for the
  // deliveries to come (buffer_pool.hpp): optional, it saves an allocation
  // per message.
  void recycle(Bytes&& buffer);
  void provide_state(std::uint64_t view, Bytes state);
  // For traces (sequencer hops): `observer` is called synchronously, from
  // inside the call that announces the place (send, on_packet, on_timer), for
  // each message this member, as the sequencer of Order::total, places; it
  // must not call this Endpoint. Never called under the other orders nor at
  // other members. Replaces any earlier observer; an empty one (the default)
  // turns it off, and then nothing is kept.
  void observe_sequencing(SequencedObserver observer);

  const View& view() const noexcept;
  // The contact of a member of the view or of a member known to be joining;
  // nullptr if unknown.
  const Bytes* contact(MemberId member) const noexcept;
  MemberId self() const noexcept;
  EndpointCounters counters() const;

 private:
  struct Impl;
  explicit Endpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexo::group
