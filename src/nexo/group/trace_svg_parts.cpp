// The shapes of the trace picture (see trace_svg_parts.hpp).
#include "nexo/group/trace_svg_parts.hpp"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>

namespace nexo::group::svg {
namespace {

constexpr std::array<std::string_view, 10> kPalette = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                                       "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                                                       "#7f7f7f", "#ff7f0e"};

// Length of the valid UTF-8 sequence at text[i], or 0 if it is not one.
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t n = 0;
  if (lead >= 0xC2 && lead <= 0xDF)
    n = 2;
  else if (lead >= 0xE0 && lead <= 0xEF)
    n = 3;
  else if (lead >= 0xF0 && lead <= 0xF4)
    n = 4;
  if (n == 0 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  const unsigned char second = byte(i + 1);
  if (lead == 0xE0 && second < 0xA0) return 0;   // overlong
  if (lead == 0xED && second >= 0xA0) return 0;  // surrogates
  if (lead == 0xF0 && second < 0x90) return 0;   // overlong
  if (lead == 0xF4 && second >= 0x90) return 0;  // beyond U+10FFFF
  return n;
}

void line(Writer& svg, double x1, double y1, double x2, double y2) {
  svg.raw("<line");
  svg.attr("x1", x1);
  svg.attr("y1", y1);
  svg.attr("x2", x2);
  svg.attr("y2", y2);
}

void title(Writer& svg, std::string_view text) {
  svg.raw("<title>");
  svg.text(text);
  svg.raw("</title>");
}

std::string key_text(const MessageKey& message) {
  return message.sender + "#" + std::to_string(message.seq);
}

void cross(Writer& svg, double x, double y, double r, std::string_view colour) {
  svg.raw("<path");
  char d[160];
  std::snprintf(d, sizeof d, "M%.2f,%.2f L%.2f,%.2f M%.2f,%.2f L%.2f,%.2f", x - r, y - r, x + r,
                y + r, x - r, y + r, x + r, y - r);
  svg.attr("d", d);
  svg.attr("stroke", colour);
  svg.raw(" stroke-width=\"2\"/>");
}

}  // namespace

void Writer::num(double value) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  out_ << buffer;
}
void Writer::num(std::uint64_t value) {
  out_ << std::to_string(value);
}
void Writer::num(std::int64_t value) {
  out_ << std::to_string(value);
}

void Writer::text(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_length(text, i);
      out_ << (n == 0 ? std::string_view("?") : text.substr(i, n));
      i += n == 0 ? 1 : n;
      continue;
    }
    switch (c) {
      case '&':
        out_ << "&amp;";
        break;
      case '<':
        out_ << "&lt;";
        break;
      case '>':
        out_ << "&gt;";
        break;
      case '"':
        out_ << "&quot;";
        break;
      case '\'':
        out_ << "&apos;";
        break;
      default:
        out_ << ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F ? '?' : static_cast<char>(c));
    }
    ++i;
  }
}

void Writer::attr(std::string_view name, std::string_view value) {
  out_ << ' ' << name << "=\"";
  text(value);
  out_ << '"';
}
void Writer::attr(std::string_view name, double value) {
  out_ << ' ' << name << "=\"";
  num(value);
  out_ << '"';
}
void Writer::attr(std::string_view name, std::int64_t value) {
  out_ << ' ' << name << "=\"" << std::to_string(value) << '"';
}
void Writer::attr(std::string_view name, std::uint64_t value) {
  out_ << ' ' << name << "=\"" << std::to_string(value) << '"';
}

void Writer::open(double width, double height, std::string_view title_text) {
  raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"");
  attr("width", width);
  attr("height", height);
  char box[96];
  std::snprintf(box, sizeof box, "0 0 %.2f %.2f", width, height);
  attr("viewBox", box);
  raw(" font-family=\"sans-serif\">\n<defs>\n");
  for (std::size_t i = 0; i <= kPalette.size(); ++i) {
    const std::string id = i < kPalette.size() ? "arrow-" + std::to_string(i) : "arrow-nak";
    raw("<marker");
    attr("id", id);
    raw(" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
        "orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\"");
    attr("fill", i < kPalette.size() ? kPalette[i] : std::string_view("#444"));
    raw("/></marker>\n");
  }
  raw("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  raw("<text class=\"title\" x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">");
  text(title_text);
  raw("</text>\n");
}

void Writer::close() {
  raw("</svg>\n");
}

std::string_view sender_colour(std::uint32_t sender) {
  return kPalette[sender % kPalette.size()];
}

void draw_arrow(Writer& svg, const ArrowShape& a) {
  svg.raw("<g");
  svg.attr("class", a.style);
  svg.attr("data-sender", a.message.sender);
  svg.attr("data-seq", a.message.seq);
  svg.attr("data-from", a.from);
  svg.attr("data-to", a.to);
  svg.attr("data-from-ns", a.from_ns);
  svg.attr("data-to-ns", a.to_ns);
  svg.raw(">");
  title(svg, a.title);
  line(svg, a.x1, a.y1, a.x2, a.y2);
  svg.attr("stroke", sender_colour(a.sender));
  if (a.style == "retransmission")
    svg.raw(" stroke-width=\"2\" stroke-dasharray=\"7 3\"");
  else if (a.style == "lost")
    svg.raw(" stroke-width=\"1.2\" stroke-opacity=\"0.7\"");
  else
    svg.raw(" stroke-width=\"1.2\"");
  if (a.style != "lost")
    svg.attr("marker-end", "url(#arrow-" + std::to_string(a.sender % kPalette.size()) + ")");
  svg.raw("/>");
  if (a.style == "lost") cross(svg, a.x2, a.y2, 4, "#c00");
  svg.raw("</g>\n");
}

void draw_timeline(Writer& svg, std::string_view member, double left, double end, double y,
                   std::size_t label_chars) {
  svg.raw("<g class=\"timeline\"");
  svg.attr("data-member", member);
  svg.raw(">");
  title(svg, member);
  svg.raw("<text class=\"member-label\" x=\"8\"");
  svg.attr("y", y + 4);
  svg.raw(" font-size=\"12\">");
  if (member.size() > label_chars && label_chars > 1) {
    std::size_t cut = label_chars - 1;
    while (cut > 0 && (static_cast<unsigned char>(member[cut]) & 0xC0) == 0x80)
      --cut;
    svg.text(member.substr(0, cut));
    svg.raw("\u2026");
  } else {
    svg.text(member);
  }
  svg.raw("</text>");
  line(svg, left, y, end, y);
  svg.raw(" stroke=\"#222\" stroke-width=\"1.5\"/></g>\n");
}

void draw_dot(Writer& svg, std::string_view cls, std::string_view member, const MessageKey& message,
              std::int64_t at_ns, double x, double y, std::string_view colour, bool hollow) {
  svg.raw("<circle");
  svg.attr("class", cls);
  svg.attr("data-member", member);
  svg.attr("data-sender", message.sender);
  svg.attr("data-seq", message.seq);
  svg.attr("data-at-ns", at_ns);
  svg.attr("cx", x);
  svg.attr("cy", y);
  svg.raw(" r=\"3\"");
  svg.attr("fill", hollow ? std::string_view("white") : colour);
  svg.attr("stroke", colour);
  svg.raw(">");
  title(svg, std::string(cls) + " " + key_text(message) + " at " + std::string(member));
  svg.raw("</circle>\n");
}

void draw_nak(Writer& svg, const NakShape& n, std::string_view cls) {
  svg.raw("<g");
  svg.attr("class", cls);
  svg.attr("data-member", n.member);
  svg.attr("data-sender", n.sender);
  svg.attr("data-first", n.first);
  svg.attr("data-last", n.last);
  svg.attr("data-at-ns", n.at_ns);
  svg.raw(">");
  title(svg, "NAK from " + std::string(n.member) + " to " + std::string(n.sender) + " for " +
                 std::to_string(n.first) + ".." + std::to_string(n.last));
  char d[128];
  std::snprintf(d, sizeof d, "M%.2f,%.2f L%.2f,%.2f L%.2f,%.2f z", n.x - 5, n.y - 9, n.x + 5,
                n.y - 9, n.x, n.y - 1);
  svg.raw("<path");
  svg.attr("d", d);
  svg.raw(" fill=\"#c00\"/>");
  line(svg, n.x, n.y, n.x + 10, n.sender_y);
  svg.raw(" stroke=\"#444\" stroke-dasharray=\"3 2\" marker-end=\"url(#arrow-nak)\"/>");
  svg.raw("</g>\n");
}

void draw_hop(Writer& svg, std::string_view sequencer, const MessageKey& message,
              std::uint64_t order, std::int64_t at_ns, double x, double y, std::string_view cls) {
  svg.raw("<g");
  svg.attr("class", cls);
  svg.attr("data-member", sequencer);
  svg.attr("data-sender", message.sender);
  svg.attr("data-seq", message.seq);
  svg.attr("data-order", order);
  svg.attr("data-at-ns", at_ns);
  svg.raw(">");
  title(svg, std::string(sequencer) + " stamps " + key_text(message) + " with order " +
                 std::to_string(order));
  char d[128];
  std::snprintf(d, sizeof d, "M%.2f,%.2f L%.2f,%.2f L%.2f,%.2f L%.2f,%.2f z", x, y - 6, x + 6, y, x,
                y + 6, x - 6, y);
  svg.raw("<path");
  svg.attr("d", d);
  svg.raw(" fill=\"#f2b000\" stroke=\"#333\"/><text");
  svg.attr("x", x + 7);
  svg.attr("y", y + 16);
  svg.raw(" font-size=\"10\">#");
  svg.num(order);
  svg.raw("</text></g>\n");
}

void draw_hop_link(Writer& svg, double x1, double y1, double x2, double y2) {
  line(svg, x1, y1, x2, y2);
  svg.raw(" class=\"sequencer-link\" stroke=\"#b08000\" stroke-dasharray=\"1 3\"/>\n");
}

void draw_note(Writer& svg, std::string_view member, std::string_view text, std::int64_t at_ns,
               double x, double y, std::string_view cls) {
  svg.raw("<g");
  svg.attr("class", cls);
  svg.attr("data-member", member);
  svg.attr("data-at-ns", at_ns);
  svg.raw(">");
  title(svg, text);
  svg.raw("<circle");
  svg.attr("cx", x);
  svg.attr("cy", y);
  svg.raw(" r=\"3\" fill=\"white\" stroke=\"#555\"/><text");
  svg.attr("x", x + 4);
  svg.attr("y", y - 6);
  svg.raw(" font-size=\"10\" fill=\"#555\">");
  std::size_t cut = std::min<std::size_t>(text.size(), 24);
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  svg.text(text.substr(0, cut));
  if (cut < text.size()) svg.raw("\u2026");
  svg.raw("</text></g>\n");
}

void draw_end(Writer& svg, bool crash, std::string_view member, std::int64_t at_ns, double x,
              double y, double row) {
  svg.raw(crash ? "<g class=\"crash\"" : "<g class=\"leave\"");
  svg.attr("data-member", member);
  svg.attr("data-at-ns", at_ns);
  svg.raw(">");
  title(svg, std::string(member) + (crash ? " crashed" : " left"));
  if (crash) {
    cross(svg, x, y, 7, "#000");
  } else {
    line(svg, x, y - row * 0.2, x, y + row * 0.2);
    svg.raw(" stroke=\"#000\" stroke-width=\"3\"/>");
  }
  svg.raw("</g>\n");
}

void draw_view_band(Writer& svg, const ViewBand& b) {
  svg.raw("<g class=\"view-change\"");
  svg.attr("data-view", b.id);
  svg.raw(">");
  title(svg, b.label);
  svg.raw("<rect");
  svg.attr("x", b.x);
  svg.attr("y", b.top);
  svg.attr("width", b.width);
  svg.attr("height", b.bottom - b.top);
  svg.raw(
      " fill=\"#6a5acd\" fill-opacity=\"0.12\" stroke=\"#6a5acd\" stroke-opacity=\"0.5\"/><text");
  svg.attr("x", b.x + 2);
  svg.attr("y", b.label_y);
  svg.raw(" font-size=\"11\" fill=\"#483d8b\">");
  std::size_t cut = std::min<std::size_t>(b.label.size(), 60);
  while (cut > 0 && cut < b.label.size() &&
         (static_cast<unsigned char>(b.label[cut]) & 0xC0) == 0x80)
    --cut;
  svg.text(b.label.substr(0, cut));
  if (cut < b.label.size()) svg.raw("\u2026");
  svg.raw("</text></g>\n");
}

void draw_view_install(Writer& svg, std::string_view member, std::uint64_t id, std::int64_t at_ns,
                       double x, double y, double row) {
  svg.raw("<g class=\"view-install\"");
  svg.attr("data-member", member);
  svg.attr("data-view", id);
  svg.attr("data-at-ns", at_ns);
  svg.raw(">");
  title(svg, std::string(member) + " installs view " + std::to_string(id));
  line(svg, x, y - row * 0.25, x, y + row * 0.25);
  svg.raw(" stroke=\"#483d8b\" stroke-width=\"2\"/></g>\n");
}

std::int64_t tick_step(std::int64_t span_ns) {
  std::int64_t step = 1;
  while (true) {
    for (std::int64_t m : {1, 2, 5}) {
      if (step * m >= span_ns / 8 + 1) return step * m;
    }
    step *= 10;
  }
}

void draw_tick(Writer& svg, std::int64_t at_ns, std::int64_t step_ns, double x, double axis_y) {
  const char* unit = "ns";
  double scale = 1;
  if (step_ns >= 1'000'000'000)
    unit = "s", scale = 1e9;
  else if (step_ns >= 1'000'000)
    unit = "ms", scale = 1e6;
  else if (step_ns >= 1'000)
    unit = "\u00b5s", scale = 1e3;
  char label[64];
  std::snprintf(label, sizeof label, "%g %s", static_cast<double>(at_ns) / scale, unit);
  svg.raw("<g class=\"tick\"");
  svg.attr("data-at-ns", at_ns);
  svg.raw(">");
  line(svg, x, axis_y, x, axis_y + 5);
  svg.raw(" stroke=\"#333\"/><text");
  svg.attr("x", x);
  svg.attr("y", axis_y + 17);
  svg.raw(" font-size=\"10\" text-anchor=\"middle\">");
  svg.text(label);
  svg.raw("</text></g>\n");
}

namespace {

// One legend entry: a sample shape at (x, y) and its meaning.
void legend_item(Writer& svg, int index, double x, double y) {
  switch (index) {
    case 0:
      line(svg, x, y, x + 28, y);
      svg.raw(" stroke=\"#1f77b4\" marker-end=\"url(#arrow-0)\"/>");
      break;
    case 1:
      line(svg, x, y, x + 28, y);
      svg.raw(
          " stroke=\"#1f77b4\" stroke-width=\"2\" stroke-dasharray=\"7 3\" "
          "marker-end=\"url(#arrow-0)\"/>");
      break;
    case 2:
      line(svg, x, y, x + 24, y);
      svg.raw(" stroke=\"#1f77b4\" stroke-opacity=\"0.7\"/>");
      cross(svg, x + 24, y, 4, "#c00");
      break;
    case 3:
      draw_nak(svg, {"", "", 0, 0, 0, x + 6, y + 5, y + 5}, "legend-sample");
      break;
    case 4:
      draw_hop(svg, "", MessageKey{}, 0, 0, x + 8, y, "legend-sample");
      break;
    case 5:
      svg.raw("<rect");
      svg.attr("x", x + 8);
      svg.attr("y", y - 8);
      svg.raw(
          " width=\"10\" height=\"16\" fill=\"#6a5acd\" fill-opacity=\"0.2\" stroke=\"#6a5acd\"/>");
      break;
    case 6:
      cross(svg, x + 10, y, 6, "#000");
      break;
    case 7:
      draw_dot(svg, "legend-sample", "", MessageKey{}, 0, x + 6, y, "#1f77b4");
      draw_dot(svg, "legend-sample", "", MessageKey{}, 0, x + 18, y, "#1f77b4", true);
      break;
    default:
      draw_note(svg, "", "", 0, x + 10, y, "legend-sample");
      break;
  }
}

}  // namespace

void draw_legend(Writer& svg, double width, double top) {
  static constexpr std::array<std::string_view, static_cast<std::size_t>(kLegendItems)> kMeaning = {
      "message (colour: its sender)",
      "retransmission",
      "lost",
      "NAK \u2192 sender asked",
      "sequencer stamp #order",
      "view change",
      "crash",
      "self-delivery, send",
      "note"};
  const int per_row = std::max(1, static_cast<int>((width - 20) / 150));
  svg.raw("<g class=\"legend\">\n");
  for (int i = 0; i < static_cast<int>(kMeaning.size()); ++i) {
    const double x = 10 + 150.0 * (i % per_row), y = top + 20.0 * (i / per_row);
    svg.raw("<g class=\"legend-item\">");
    legend_item(svg, i, x, y);
    svg.raw("<text");
    svg.attr("x", x + 36);
    svg.attr("y", y + 4);
    svg.raw(" font-size=\"11\">");
    svg.text(kMeaning[static_cast<std::size_t>(i)]);
    svg.raw("</text></g>\n");
  }
  svg.raw("</g>\n");
}

}  // namespace nexo::group::svg
