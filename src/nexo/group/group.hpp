// group::Group — membership of a process group over real sockets: the driver
// that runs a group::Endpoint (endpoint.hpp: reliable ordered multicast,
// views, virtual synchrony) on an io/ loop thread over a group::Transport
// (transport.hpp: IP multicast, or unicast fan-out to seed members).
//
//   GroupOptions options;
//   options.name = "chat";                       // 239.a.b.c:7447 on lo
//   auto group = Group::join(options);            // returns once in a view
//   (*group)->send("hello");                      // to every member, this one too
//   auto d = (*group)->receive(1s);               // Delivery: sender, payload, view
//   (*group)->leave(2s);                          // the others install a view without it
//
// Receive modes, as msg::Port has them, on one queue of deliveries in the
// group's order: receive(timeout) blocks; try_receive() returns at once
// (would_block); receive_async() gives an io::Request (test(), wait(),
// then()). Or, with GroupOptions::on_deliver, a callback on the loop thread
// per delivery, with no queue and no second thread. Sending: send_async()
// hands the message to the protocol when it has room (flow control: the
// slowest member's window) and completes then; send() does the same and
// waits for it.
//
// Views: view() is the current one; on_view() registers a callback run on the
// loop thread at each view change (after every delivery of the old view is
// queued: virtual synchrony), GroupOptions::on_view from the first view on;
// next_view() waits for the next one.
//
// Member ids are drawn at random (nonzero). A member's printable name is its
// contact, "127.0.0.1:40001" (name_of).
//
// Counters (sent, delivered, NAKs, retransmissions, drops by cause, history
// bytes, the current view) are published in this process's counter file as
// type "group", label "NAME ADDRESS": `nexo stat` shows them.
//
// Thread contract: every member function may be called from any thread but
// the loop's (callbacks run there: they must not block on the Group). The
// destructor stops the loop without leaving: unless leave() was called, the
// others see a crash (silence) and remove this member within their detection
// time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/group/bundle.hpp"
#include "nexo/group/endpoint.hpp"
#include "nexo/group/trace.hpp"
#include "nexo/group/transport.hpp"
#include "nexo/io/request.hpp"

namespace nexo::group {

struct GroupOptions {
  // The group's name: its tag (packets of other groups are told apart by it)
  // and, without `address`, its address (group_address(name)).
  std::string name;
  // A class D or ff00::/8 address instead of the name's (multicast mode).
  std::optional<net::InetAddress> address;
  // The group's port (multicast: every member binds it; 0: any free port, the
  // first member's, read back with port()); in unicast mode this member's own
  // port (0: any free port).
  std::uint16_t port = kDefaultPort;
  // The interface to join and send on, by name or address.
  std::string interface = "lo";
  // Non-empty: unicast fan-out mode, with these members to start from
  // (HOST:PORT of their contacts; a member may list itself).
  std::vector<net::Endpoint> members;
  // Unicast fan-out even with no seed members (the first member of a group
  // the others find through it).
  bool unicast = false;
  int ttl = 1;
  // The largest datagram: packets leaving together for one destination share
  // datagrams of up to this many bytes (bundles, bundle.hpp), at most
  // kMaxPacket; 0: one packet per datagram. Keep it within the path's MTU
  // where a lost IP fragment is costly; loopback's is 64 KiB.
  std::size_t bundle_bytes = kDefaultBundleBytes;

  Order order = Order::fifo;
  SlowPolicy slow_policy = SlowPolicy::block;
  std::chrono::milliseconds detection_time{1000};
  std::chrono::milliseconds discovery_time{300};
  // Protocol timers and limits (group, self, view, members, seed are set here).
  MemberConfig reliability;
  // The largest VIEW packet this member, as coordinator, sends (the size
  // limit below join()); at most kMaxPacket.
  std::size_t max_view_packet = kMaxPacket;
  // join() gives up after this long without a view.
  std::chrono::milliseconds join_timeout{10'000};

  // State transfer: at the coordinator, provide_state() gives the group's
  // state for a joiner; at a joiner, apply_state() gets it before the first
  // delivery of its first view. Both run on the loop thread. Set both or none.
  std::function<Bytes()> provide_state;
  std::function<void(const Bytes&)> apply_state;

  // Runs on the loop thread at each view change, the first one (which join()
  // returns in) included; as on_view() below.
  std::function<void(const ViewChange&)> on_view;

  // Set: every delivery is given to it on the loop thread, in the group's
  // order, as it is delivered (a view change's callbacks after the old view's
  // deliveries, as with receive()), instead of being queued for the receive
  // calls (which then fail with invalid_argument). This is JGroups' way
  // (Receiver.receive): no hand-over to another thread, no copy, no wake-up; the
  // loop answers NAKs and sends repairs between the calls, so a callback
  // that takes long delays the group. The Delivery's bytes are valid during
  // the call only. It must not block on the Group (as on_view).
  std::function<void(const Delivery&)> on_deliver;

  // Faults on this member's datagrams: Plan::to on what it sends, Plan::back
  // on what it receives (seeded: rerun with the seed printed).
  std::optional<fault::Plan> faults;
  // Records the run (sends, deliveries, NAKs, retransmissions, views and, at
  // the sequencer of Order::total, its hops) when set; must outlive the
  // Group. Written on the loop thread: read it after leave() or the destructor.
  Trace* trace = nullptr;
  // Randomness of the protocol (NAK back-offs); 0: drawn at random.
  std::uint64_t seed = 0;
  // Messages given to send_async() not yet taken by the protocol, at most;
  // beyond it send_async() says would_block and send() waits.
  std::size_t max_pending = 1024;
};

struct GroupCounters {
  EndpointCounters endpoint;
  TransportCounters transport;
  std::uint64_t bad_datagrams = 0;  // refused by the protocol (every cause) or truncated
  std::uint64_t delivered = 0;      // application messages queued for receive
  std::uint64_t view = 0;           // the current view's id (after leave: the last one)
  std::size_t view_size = 0;
};

class Group {
 public:
  // Opens the sockets, starts the loop and joins; returns once this member is
  // in a view. Errors: invalid_argument (options: an empty name, a non-group
  // address, an unknown interface, a bad fault plan), address_in_use,
  // unreachable (no multicast on the interface), timed_out (no view within
  // join_timeout), too_large (the group's coordinator refused the join: the
  // view with this member would not fit one VIEW packet, see below), system.
  //
  // The size limit: a view's roster (every member's id and contact) travels
  // in one VIEW packet of at most kMaxPacket (65,507) bytes, 9 bytes a member
  // plus its contact, and has at most kMaxViewMembers (1,024) members. A
  // Group's contacts are 6 bytes (IPv4) or 18-22 (IPv6), so its views hold
  // 1,024 members (the core's own contacts, up to 64 bytes, fit fewer:
  // roster_packet_size()). The coordinator refuses a JOIN beyond either
  // bound (REFUSE: join() fails with too_large at once) rather than install a
  // view it cannot send; a merge beyond it is refused too (the views stay apart).
  static Result<std::unique_ptr<Group>> join(GroupOptions options);
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  ~Group();

  // Sends to every member of the view, this one included, in the group's
  // order. Completes when the protocol has taken the message (flow control:
  // it waits for room); `payload` is copied. Errors at once: not_connected
  // (left, or leaving), too_large, would_block (max_pending messages wait).
  // The Request then completes with ok, or too_large / not_connected /
  // closed.
  Result<io::Request<void>> send_async(std::span<const std::byte> payload);
  Result<io::Request<void>> send_async(std::string_view text) { return send_async(as_bytes(text)); }
  // send_async, waiting for room and for the protocol to take it, up to
  // `timeout` (timed_out: it may still go).
  Result<void> send(std::span<const std::byte> payload, Timeout timeout = std::nullopt);
  Result<void> send(std::string_view text, Timeout timeout = std::nullopt) {
    return send(as_bytes(text), timeout);
  }

  // The next delivery (sender, view, payload). Errors: timed_out, closed
  // (left and every delivery taken).
  Result<Delivery> receive(Timeout timeout = std::nullopt);
  // would_block when none is queued; closed as receive.
  Result<Delivery> try_receive();
  io::Request<Delivery> receive_async();

  View view() const;
  // Waits for the view after `after` (an id); timed_out, closed.
  Result<View> next_view(std::uint64_t after, Timeout timeout = std::nullopt);
  // `callback(change)` runs on the loop thread at each view change from now on.
  void on_view(std::function<void(const ViewChange&)> callback);

  // Leaves cleanly: returns once this member's last messages are delivered
  // in the old view and the view without it is installed (the others do not
  // wait for a failure timeout). Deliveries still queued can be taken after.
  // Errors: timed_out (the loop stops anyway: the others will detect it).
  Result<void> leave(Timeout timeout = std::chrono::seconds(5));

  MemberId self() const noexcept { return self_; }
  // A member's printable name: its contact "host:port" (as a member of a view
  // seen here), or "#<id in hex>" for one never seen in a view.
  std::string name_of(MemberId member) const;
  std::string name() const { return name_of(self_); }
  // The group's address and port (multicast), or this member's contact (unicast).
  net::Endpoint address() const;
  std::uint16_t port() const { return address().port(); }
  GroupCounters counters() const;

 private:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  MemberId self_ = 0;
};

}  // namespace nexo::group
