// The shapes of trace.hpp's SVG picture, one function each (used by trace_svg.cpp
// only; not a public interface). Each writes one element or group, with the
// class and data-* attributes that trace.hpp's write_svg documents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "nexo/group/trace.hpp"

namespace nexo::group::svg {

// Writes SVG text: raw markup, numbers (fixed, locale-free), and escaped user text.
class Writer {
 public:
  explicit Writer(std::ostream& out) : out_(out) {}
  void raw(std::string_view markup) { out_ << markup; }
  void num(double value);
  void num(std::uint64_t value);
  void num(std::int64_t value);
  // XML-escapes `text` (& < > " '); control characters and invalid UTF-8 become '?'.
  void text(std::string_view text);
  // name="value" with the value escaped, preceded by a space.
  void attr(std::string_view name, std::string_view value);
  void attr(std::string_view name, double value);
  void attr(std::string_view name, std::int64_t value);
  void attr(std::string_view name, std::uint64_t value);
  // The document's head (root element, style, arrowhead markers, title) and foot.
  void open(double width, double height, std::string_view title);
  void close();

 private:
  std::ostream& out_;
};

// The colour of a sender's arrows (a palette of 10, repeating).
std::string_view sender_colour(std::uint32_t sender);

inline constexpr double kLegendItems = 9;

struct ArrowShape {
  std::string_view style;  // "message", "lost", "retransmission"
  std::string_view from, to;
  const MessageKey& message;
  std::int64_t from_ns, to_ns;
  double x1, y1, x2, y2;
  std::uint32_t sender;
  std::string_view title;
};
void draw_arrow(Writer& svg, const ArrowShape& arrow);

void draw_timeline(Writer& svg, std::string_view member, double left, double end, double y,
                   std::size_t label_chars);
// A dot on a timeline, filled or hollow (a send).
void draw_dot(Writer& svg, std::string_view cls, std::string_view member, const MessageKey& message,
              std::int64_t at_ns, double x, double y, std::string_view colour, bool hollow = false);

struct NakShape {
  std::string_view member, sender;
  std::uint64_t first, last;
  std::int64_t at_ns;
  double x, y, sender_y;
};
// `cls` is the group's class: the run's marks keep the default, the legend's samples
// say "legend-sample" so that nobody counts them as part of the run.
void draw_nak(Writer& svg, const NakShape& nak, std::string_view cls = "nak");
void draw_hop(Writer& svg, std::string_view sequencer, const MessageKey& message,
              std::uint64_t order, std::int64_t at_ns, double x, double y,
              std::string_view cls = "sequencer-hop");
// The sequencer's part in a message's path: a dotted line from its send to the stamp.
void draw_hop_link(Writer& svg, double x1, double y1, double x2, double y2);
void draw_note(Writer& svg, std::string_view member, std::string_view text, std::int64_t at_ns,
               double x, double y, std::string_view cls = "note");
void draw_end(Writer& svg, bool crash, std::string_view member, std::int64_t at_ns, double x,
              double y, double row);

struct ViewBand {
  std::uint64_t id;
  std::string_view label;
  double x, width, top, bottom, label_y;
};
void draw_view_band(Writer& svg, const ViewBand& band);
void draw_view_install(Writer& svg, std::string_view member, std::uint64_t id, std::int64_t at_ns,
                       double x, double y, double row);

// A step of 1, 2 or 5 × 10^k ns giving at most about 8 ticks over `span_ns`.
std::int64_t tick_step(std::int64_t span_ns);
void draw_tick(Writer& svg, std::int64_t at_ns, std::int64_t step_ns, double x, double axis_y);
void draw_legend(Writer& svg, double width, double top);

}  // namespace nexo::group::svg
