// Trace — a record of one group-communication run, and its picture: an SVG
// space-time diagram as readers of the chapter draw by hand to reason about
// ordering.
//
// Recording knows no protocol: a simulator, or `nexo group join --trace FILE`,
// tells the Trace what happened at which member and when (a message sent or
// delivered, a NAK, a retransmission, a sequencer's stamp, a view installed, a
// crash, a note). A member is a string label ("m1", "127.0.0.1:5000"); a
// message is named by its key, the sender's label and the sender's sequence
// number.
//
// The picture (write_svg) has one horizontal timeline per member, label at the
// left, in the order members were first named; time runs left to right, scaled
// so that the first and the last event span the plot's width. Each message is
// an arrow from its send to every delivery, coloured by sender; a delivery to
// the sender itself is a dot. NAKs, retransmissions, sequencer stamps, view
// changes, crashes and notes are marked (see write_svg for the shapes); a
// legend and a time axis (relative to the first event) come below.
//
// Bounds: a Trace keeps at most TraceLimits::max_events events; further events
// are counted as dropped (dropped()), and the picture says how many. Labels and
// texts are cut to TraceLimits::max_text bytes (at a UTF-8 character boundary).
//
// Thread contract: none. A Trace is a plain value; recording and drawing from
// several threads at once needs the caller's lock.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/group/time.hpp"

namespace nexo::group {

// The name of a message in a trace: who sent it and its number at that sender.
struct MessageKey {
  std::string sender;
  std::uint64_t seq = 0;

  friend auto operator<=>(const MessageKey&, const MessageKey&) = default;
  friend bool operator==(const MessageKey&, const MessageKey&) = default;
};

// What an event says happened.
enum class TraceKind : std::uint8_t {
  sent,            // member multicast `message` (its text: a short label)
  delivered,       // member delivered `message` to its application
  nak_sent,        // member asked `peer` for its sequence numbers [first, last]
  retransmitted,   // member sent `message` again, to `peer` (empty: to all)
  sequencer_hop,   // member, the sequencer, stamped `message` with order `first`
  view_installed,  // member installed view `first` whose members are `view`
  crashed,         // member crashed: its timeline ends here
  left,            // member left the group: its timeline ends here
  note,            // free-form `text` at member
};

// "sent", "delivered", ...: the stable name of a kind (used in the SVG's classes).
std::string_view to_string(TraceKind kind) noexcept;

// One recorded event. Members are indices into Trace::members(). Fields that
// a kind does not use are left empty / zero.
struct TraceEvent {
  Time at{};
  TraceKind kind = TraceKind::note;
  std::uint32_t member = 0;
  MessageKey message;               // sent, delivered, retransmitted, sequencer_hop
  std::uint32_t peer = 0;           // nak_sent: the sender asked; retransmitted: target
  bool has_peer = false;            // retransmitted: false when sent to all
  std::uint64_t first = 0;          // nak_sent: range start; view_installed: view id;
                                    // sequencer_hop: the order stamped
  std::uint64_t last = 0;           // nak_sent: range end (inclusive)
  std::string text;                 // sent: the message's label; note: the note
  std::vector<std::uint32_t> view;  // view_installed: the members, in the view's order
};

// Bounds of a Trace.
struct TraceLimits {
  std::size_t max_events = 100'000;  // events kept; later ones are counted as dropped
  std::size_t max_text = 64;         // bytes kept of each label and text
};

class Trace {
 public:
  // An empty trace. Limits of zero are allowed (a trace that keeps nothing).
  explicit Trace(TraceLimits limits = {});

  // Names a member so that its timeline exists (and comes in this order) even
  // before its first event. Naming it again does nothing. Never counted as an
  // event, never dropped. Returns its index in members().
  std::uint32_t add_member(std::string_view label);

  // The recording calls. Each adds one event, or, when max_events events are
  // already kept, only counts it in dropped(). Never fail, never throw except
  // std::bad_alloc. Events may come in any time order.
  void sent(Time at, std::string_view member, std::uint64_t seq, std::string_view label = {});
  void delivered(Time at, std::string_view member, const MessageKey& message);
  // `member` lacks messages [first, last] of `sender` and asks for them.
  void nak_sent(Time at, std::string_view member, std::string_view sender, std::uint64_t first,
                std::uint64_t last);
  // `member` sends `message` again to `to`, or to all members when `to` is empty.
  void retransmitted(Time at, std::string_view member, const MessageKey& message,
                     std::string_view to = {});
  // `sequencer` stamps `message` with the total order `order`.
  void sequencer_hop(Time at, std::string_view sequencer, const MessageKey& message,
                     std::uint64_t order);
  void view_installed(Time at, std::string_view member, std::uint64_t view_id,
                      std::span<const std::string> members);
  void crashed(Time at, std::string_view member);
  void left(Time at, std::string_view member);
  void note(Time at, std::string_view member, std::string_view text);

  // The events kept, in the order they were recorded.
  const std::vector<TraceEvent>& events() const noexcept { return events_; }
  // Member labels (cut to max_text), indexed by TraceEvent::member.
  const std::vector<std::string>& members() const noexcept { return members_; }
  // Events not kept because the trace was full.
  std::uint64_t dropped() const noexcept { return dropped_; }
  const TraceLimits& limits() const noexcept { return limits_; }

 private:
  bool has_room();
  std::uint32_t intern(std::string_view label);
  std::string cut(std::string_view text) const;
  TraceEvent& push(Time at, TraceKind kind, std::string_view member);

  TraceLimits limits_;
  std::vector<TraceEvent> events_;
  std::vector<std::string> members_;
  std::unordered_map<std::string, std::uint32_t> member_index_;
  std::uint64_t dropped_ = 0;
};

// How the picture is drawn.
struct SvgOptions {
  std::string title = "nexo group run";
  double width = 1200;     // of the whole picture, px (at least 300)
  double row_height = 70;  // between two timelines, px (at least 20)
  // Message arrows drawn at most (send to delivery, lost and retransmission
  // arrows together). Beyond it every k-th message is drawn, k chosen so that
  // the sample fits, and the picture says so.
  std::size_t max_arrows = 5'000;
  // NAK, sequencer and note marks drawn at most; the rest are counted in a notice.
  std::size_t max_marks = 5'000;
};

// Draws `trace` as a standalone SVG document into `out`.
//
// Shapes (each an element with a class named after what it shows, and data-*
// attributes naming the member, the message and the time in nanoseconds since
// the first event, so that tools and tests can read the picture back):
//   timeline           a horizontal line per member, its label at the left
//   message            an arrow send → delivery, in the sender's colour
//   send               a hollow dot where a message is sent (seen even if nobody
//                      is seen to deliver it)
//   self-delivery      a dot where the sender delivers its own message
//   delivery-unsent    a dot where a message is delivered whose send is not in the trace
//   lost               an arrow that ends in a cross, toward a member that delivered
//                      messages but never this one, or got it only from a retransmission
//   retransmission     a dashed arrow from a retransmission to the delivery it caused
//                      (a mark when it caused none)
//   nak                a triangle on the asking member, a dashed arrow to the sender asked
//   sequencer-hop      a diamond with the order number on the sequencer's timeline
//   sequencer-link     a dotted line from the message's send to the sequencer's stamp
//   view-change        a vertical band across all timelines at the first install of a
//                      view, labelled "view N: a, b, c"; a tick where each member installs it
//   crash, leave       an X (a bar for leave) that ends the member's timeline
//   note               a small circle with the text
//   notice             what was left out (dropped events, sampled arrows, capped marks)
// All of these are children of the root <svg>; the legend's samples sit inside
// <g class="legend"> and are not part of the run.
// Lost detection expects a message at each member that delivered others' messages
// at all (a trace recorded at one process sees deliveries only there), whose first
// event is not after the send (a later joiner), and that had not crashed or left.
// User text is XML-escaped; control characters and invalid UTF-8 become '?'.
// Errors: invalid_argument for options out of range; system when `out` fails.
// Never throws (std::bad_alloc included: returned as overloaded).
Result<void> write_svg(const Trace& trace, std::ostream& out, const SvgOptions& options = {});

// write_svg into the file at `path` (made or truncated). Errors name the path and
// carry the errno (permission_denied, system, ...); nothing escapes as an exception.
Result<void> write_svg_file(const Trace& trace, const std::filesystem::path& path,
                            const SvgOptions& options = {});

}  // namespace nexo::group
