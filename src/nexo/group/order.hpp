// group::Orderer — the order in which a member delivers a view's messages,
// over the FIFO deliveries of that view's Member. Sans-I/O, one per view.
//
// The Endpoint (endpoint.hpp) runs it so:
//   - before sending an application message it calls stamp(meta) and sends
//     the message with that meta (Member::send(payload, meta, false, now));
//   - every FIFO delivery of the view's Member (own messages included, and
//     control messages) goes to on_fifo();
//   - control messages the orderer asks for (poll_control: a sequencer's
//     order announcements, agreed-priority proposals) are sent as Member
//     messages with control set, in the order polled;
//   - what poll_delivery() gives goes to the application;
//   - for traces, if asked (report_placements), what poll_placement() gives:
//     the messages whose place in the total order the sequencer announced;
//   - when the view ends, after the virtual-synchrony flush (every member
//     that moves on to the next view has had the same on_fifo calls), flush()
//     delivers whatever is still pending, in an order that depends only on
//     those calls, so every such member delivers the same messages in the
//     same order (this is how a failed sequencer's undecided messages are
//     neither lost nor duplicated: the next view starts with a new sequencer).
// Meta that does not parse is dropped and counted (bad_meta), never trusted.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/group/endpoint.hpp"
#include "nexo/group/member.hpp"

namespace nexo::group {

struct OrderCounters {
  std::uint64_t delivered = 0;        // given to poll_delivery
  std::uint64_t held = 0;             // waiting for their turn now
  std::uint64_t control_sent = 0, control_received = 0;
  std::uint64_t flushed = 0;          // delivered by flush()
  std::uint64_t bad_meta = 0;         // dropped: meta or control payload that does not parse
};

// At the sequencer of Order::total: a message whose place in the view's
// total order it announced. Keyed as deliveries are (sender, Delivery::seq:
// the Member's number, control messages counted), so a driver's trace can
// name the message as its send and deliveries name it.
struct Placement {
  MemberId sender = 0;
  std::uint64_t seq = 0;       // Delivery::seq
  std::uint64_t position = 0;  // in the view's total order: 1, 2, ...
};

class Orderer {
 public:
  virtual ~Orderer() = default;
  // The meta of this member's next application message (`meta` is replaced).
  virtual void stamp(Bytes& meta) = 0;
  virtual void on_fifo(Delivery delivery) = 0;
  // A control message to send, one per call, until false.
  virtual bool poll_control(Bytes& payload, Bytes& meta) = 0;
  virtual std::optional<Delivery> poll_delivery() = 0;
  virtual void flush() = 0;
  virtual const OrderCounters& counters() const noexcept = 0;
  // For traces. Off by default, and then nothing is kept. On, the sequencer
  // of Order::total queues a Placement for each message as poll_control puts
  // its place into an announcement (not when it first places it: places a
  // view's end discards unannounced were never the order), and
  // poll_placement gives them one per call, in order, until false. Every
  // other orderer and member gives none.
  virtual void report_placements(bool on) { static_cast<void>(on); }
  virtual bool poll_placement(Placement& out) {
    static_cast<void>(out);
    return false;
  }
};

// The orderer of `order` for member `self` in view `view` whose members are
// `members` (View::members order; members[0] is the sequencer of Order::total).
// nullptr (for every order but fifo) when self is not in members or an id
// is there twice. The orders: order.cpp (fifo), order_causal.cpp,
// order_total.cpp, order_agreed.cpp, each described at the top of its file.
std::unique_ptr<Orderer> make_orderer(Order order, MemberId self, std::uint64_t view,
                                      const std::vector<MemberId>& members);

}  // namespace nexo::group
