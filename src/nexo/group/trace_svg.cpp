// Trace: the drawing half, an SVG space-time diagram (see trace.hpp for the shapes).
//
// Geometry: members are rows, top to bottom in the order of Trace::members();
// time is x, from `left` (the first event) to `right` (the last). Above the rows
// come the title, the notices and the view labels; below them the time axis and
// the legend. Draw order is back to front: view bands, timelines, arrows, marks.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <type_traits>
#include <unordered_map>

#include "nexo/group/trace.hpp"
#include "nexo/group/trace_svg_parts.hpp"

namespace nexo::group {
namespace {

using svg::Writer;

// Everything the trace says about one message.
struct MessageInfo {
  const TraceEvent* send = nullptr;
  std::uint32_t sender = 0;
  std::vector<const TraceEvent*> deliveries;
  std::vector<const TraceEvent*> retransmissions;
  Time first_seen = Time::max();
};

// One arrow of a message's plan.
struct Arrow {
  const char* style;  // "message", "lost", "retransmission"
  std::uint32_t from, to;
  Time from_at, to_at;
  double x1, y1, x2, y2;
};

class Painter {
 public:
  Painter(const Trace& trace, const SvgOptions& options, std::ostream& out);
  void draw();

 private:
  // Geometry.
  double x(Time at) const;
  double y(std::uint32_t member) const { return rows_top_ + row_ * (member + 0.5); }
  std::int64_t ns(Time at) const;
  double x_ns(std::int64_t at_ns) const;

  void index_events();
  void find_ends();
  void layout();
  std::vector<Arrow> plan(const MessageInfo& info) const;
  std::optional<Arrow> lost_arrow(const MessageInfo& info, std::uint32_t to) const;
  const TraceEvent* cause(const MessageInfo& info, const TraceEvent& delivery) const;
  std::vector<const MessageInfo*> sampled_messages();

  void draw_notices();
  void draw_views();
  void draw_timelines();
  void draw_messages();
  void draw_message(const MessageInfo& info, std::vector<Arrow> arrows);
  void draw_arrow(const MessageInfo& info, const Arrow& arrow);
  void draw_marks();
  void draw_mark(const TraceEvent& event);
  void draw_ends();
  void draw_axis();

  const Trace& trace_;
  const SvgOptions& options_;
  Writer svg_;
  Time t0_{}, t1_{};
  double left_ = 0, right_ = 0, rows_top_ = 0, row_ = 0, axis_y_ = 0, height_ = 0;
  std::map<MessageKey, MessageInfo> messages_;
  std::unordered_map<std::string, std::uint32_t> member_of_;
  std::vector<bool> observed_;             // the member delivered others' messages
  std::vector<Time> start_;                // the member's first event
  std::vector<std::optional<Time>> end_;   // its crash or leave, if nothing follows
  std::vector<const TraceEvent*> ending_;  // the event that ended it
  std::map<std::uint64_t, std::vector<const TraceEvent*>> views_;
  std::vector<std::string> notices_;
  std::size_t marks_total_ = 0;
};

Painter::Painter(const Trace& trace, const SvgOptions& options, std::ostream& out)
    : trace_(trace), options_(options), svg_(out) {
  const auto& members = trace_.members();
  for (std::uint32_t i = 0; i < members.size(); ++i)
    member_of_.emplace(members[i], i);
  observed_.assign(members.size(), false);
  start_.assign(members.size(), Time::max());
  end_.assign(members.size(), std::nullopt);
  ending_.assign(members.size(), nullptr);
}

// Nanoseconds since the first event, saturated: times at the clock's ends (a
// hostile or broken recorder) must not overflow.
std::int64_t Painter::ns(Time at) const {
  static_assert(std::is_same_v<Clock::period, std::nano>);
  std::int64_t out = 0;
  if (__builtin_sub_overflow(at.time_since_epoch().count(), t0_.time_since_epoch().count(), &out))
    return at > t0_ ? std::numeric_limits<std::int64_t>::max()
                    : std::numeric_limits<std::int64_t>::min();
  return out;
}

double Painter::x_ns(std::int64_t at_ns) const {
  const double span = static_cast<double>(ns(t1_));
  if (span <= 0) return (left_ + right_) / 2;
  return left_ + (right_ - left_) * (static_cast<double>(at_ns) / span);
}

double Painter::x(Time at) const {
  return x_ns(ns(at));
}

void Painter::index_events() {
  const auto& events = trace_.events();
  if (!events.empty()) {
    auto [lo, hi] = std::minmax_element(events.begin(), events.end(),
                                        [](const auto& a, const auto& b) { return a.at < b.at; });
    t0_ = lo->at;
    t1_ = hi->at;
  }
  for (const TraceEvent& event : events) {
    start_[event.member] = std::min(start_[event.member], event.at);
    switch (event.kind) {
      case TraceKind::sent:
      case TraceKind::delivered:
      case TraceKind::retransmitted: {
        MessageInfo& info = messages_[event.message];
        info.sender = member_of_.at(event.message.sender);
        info.first_seen = std::min(info.first_seen, event.at);
        if (event.kind == TraceKind::sent && info.send == nullptr) info.send = &event;
        if (event.kind == TraceKind::delivered) info.deliveries.push_back(&event);
        if (event.kind == TraceKind::retransmitted) info.retransmissions.push_back(&event);
        if (event.kind == TraceKind::delivered && event.member != info.sender)
          observed_[event.member] = true;
        break;
      }
      case TraceKind::view_installed:
        views_[event.first].push_back(&event);
        break;
      case TraceKind::nak_sent:
      case TraceKind::sequencer_hop:
      case TraceKind::note:
        ++marks_total_;
        break;
      case TraceKind::crashed:
      case TraceKind::left:
        break;
    }
  }
  find_ends();
}

// A member's timeline ends at its last crash or leave, unless it did something later.
void Painter::find_ends() {
  std::vector<std::optional<Time>> last_other(end_.size());
  for (const TraceEvent& event : trace_.events()) {
    const bool ends = event.kind == TraceKind::crashed || event.kind == TraceKind::left;
    auto& slot = ends ? end_[event.member] : last_other[event.member];
    if (!slot || *slot <= event.at) {
      slot = event.at;
      if (ends) ending_[event.member] = &event;
    }
  }
  for (std::size_t i = 0; i < end_.size(); ++i) {
    if (end_[i] && last_other[i] && *last_other[i] > *end_[i]) {
      end_[i].reset();
      ending_[i] = nullptr;
    }
  }
}

void Painter::layout() {
  std::size_t longest = 4;
  for (const auto& label : trace_.members())
    longest = std::max(longest, label.size());
  left_ = std::clamp(16.0 + 7.0 * static_cast<double>(longest), 80.0, 260.0);
  right_ = options_.width - 90;  // room for a note's text at the last event
  row_ = options_.row_height;
  const double notices_h = 16.0 * static_cast<double>(notices_.size());
  rows_top_ = 40 + notices_h + (views_.empty() ? 0.0 : 3 * 14.0 + 6);
  const double rows_h =
      row_ * static_cast<double>(std::max<std::size_t>(trace_.members().size(), 1));
  axis_y_ = rows_top_ + rows_h + 8;
  const double legend_rows = std::ceil(svg::kLegendItems / std::floor((options_.width - 20) / 150));
  height_ = axis_y_ + 44 + 20 * legend_rows + 10;
}

// The retransmission that brought `delivery`: the latest one aimed at its member
// (or at all), made after the send and before the delivery.
const TraceEvent* Painter::cause(const MessageInfo& info, const TraceEvent& delivery) const {
  const TraceEvent* best = nullptr;
  for (const TraceEvent* retx : info.retransmissions) {
    const bool aimed =
        retx->has_peer ? retx->peer == delivery.member : retx->member != delivery.member;
    if (!aimed || retx->at > delivery.at || retx->at < info.send->at) continue;
    if (best == nullptr || retx->at >= best->at) best = retx;
  }
  return best;
}

// An arrow from the send toward `to` that stops part way, where the message was lost.
std::optional<Arrow> Painter::lost_arrow(const MessageInfo& info, std::uint32_t to) const {
  const double x1 = x(info.send->at), y1 = y(info.sender);
  double dx = 0;
  int count = 0;
  for (const TraceEvent* d : info.deliveries) {
    if (d->member == info.sender) continue;
    dx += x(d->at) - x1;
    ++count;
  }
  dx = count > 0 ? std::max(dx / count, 12.0) : 30.0;
  const double part = 0.6;
  return Arrow{"lost",
               info.sender,
               to,
               info.send->at,
               info.send->at,
               x1,
               y1,
               x1 + dx * part,
               y1 + (y(to) - y1) * part};
}

// The arrows of one message: send → each delivery (from the retransmission that
// caused it, if one did, the original then being lost), lost arrows toward
// members that never delivered it, and retransmissions that caused nothing. A
// member is expected to deliver a message if it delivered others' messages at all,
// its first event is not after the send, and it had not crashed or left by then.
std::vector<Arrow> Painter::plan(const MessageInfo& info) const {
  std::vector<Arrow> arrows;
  if (info.send == nullptr) return arrows;
  std::vector<bool> got(trace_.members().size(), false);
  std::vector<const TraceEvent*> used;
  for (const TraceEvent* d : info.deliveries) {
    got[d->member] = true;
    if (d->member == info.sender) continue;
    const TraceEvent* retx = cause(info, *d);
    const TraceEvent* from = retx != nullptr ? retx : info.send;
    if (retx != nullptr) {
      arrows.push_back(*lost_arrow(info, d->member));
      used.push_back(retx);
    }
    arrows.push_back(Arrow{retx != nullptr ? "retransmission" : "message", from->member, d->member,
                           from->at, d->at, x(from->at), y(from->member), x(d->at), y(d->member)});
  }
  for (std::uint32_t m = 0; m < got.size(); ++m) {
    if (got[m] || m == info.sender || !observed_[m]) continue;
    if (start_[m] > info.send->at || (end_[m] && *end_[m] < info.send->at)) continue;
    arrows.push_back(*lost_arrow(info, m));
  }
  for (const TraceEvent* retx : info.retransmissions) {
    if (std::find(used.begin(), used.end(), retx) != used.end()) continue;
    const std::uint32_t to = retx->has_peer ? retx->peer : retx->member;
    const double x1 = x(retx->at), y1 = y(retx->member);
    const double y2 = to == retx->member ? y1 - row_ * 0.3 : y1 + (y(to) - y1) * 0.4;
    arrows.push_back(
        Arrow{"retransmission", retx->member, to, retx->at, retx->at, x1, y1, x1 + 14, y2});
  }
  return arrows;
}

// The messages to draw: all of them, or every k-th (in order of first sight) so
// that their arrows fit in max_arrows.
std::vector<const MessageInfo*> Painter::sampled_messages() {
  std::vector<const MessageInfo*> order;
  std::vector<std::size_t> sizes;
  std::size_t total = 0;
  for (const auto& [key, info] : messages_)
    order.push_back(&info);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto* a, const auto* b) { return a->first_seen < b->first_seen; });
  for (const MessageInfo* info : order) {
    sizes.push_back(plan(*info).size());
    total += sizes.back();
  }
  if (total <= options_.max_arrows) return order;
  const std::size_t stride = options_.max_arrows == 0
                                 ? order.size() + 1
                                 : (total + options_.max_arrows - 1) / options_.max_arrows;
  std::vector<const MessageInfo*> picked;
  std::size_t drawn = 0;
  for (std::size_t i = 0; i < order.size(); i += stride) {
    if (drawn + sizes[i] > options_.max_arrows) continue;
    drawn += sizes[i];
    picked.push_back(order[i]);
  }
  notices_.push_back("showing " + std::to_string(drawn) + " of " + std::to_string(total) +
                     " message arrows (" + std::to_string(picked.size()) + " of " +
                     std::to_string(order.size()) + " messages, every " + std::to_string(stride) +
                     "th): the picture is a sample");
  return picked;
}

void Painter::draw() {
  index_events();
  if (trace_.dropped() > 0)
    notices_.push_back(std::to_string(trace_.dropped()) +
                       " events dropped: the trace keeps at most " +
                       std::to_string(trace_.limits().max_events));
  const std::vector<const MessageInfo*> picked = sampled_messages();
  std::size_t installs = 0;
  for (const auto& [id, list] : views_)
    installs += list.size();
  if (installs > options_.max_marks)
    notices_.push_back("showing the views of at most " + std::to_string(options_.max_marks) +
                       " of " + std::to_string(installs) + " view installs");
  if (marks_total_ > options_.max_marks)
    notices_.push_back("showing " + std::to_string(options_.max_marks) + " of " +
                       std::to_string(marks_total_) + " NAK, sequencer and note marks");
  layout();
  svg_.open(options_.width, height_, options_.title);
  draw_notices();
  draw_views();
  draw_timelines();
  for (const MessageInfo* info : picked)
    draw_message(*info, plan(*info));
  draw_marks();
  draw_ends();
  draw_axis();
  svg::draw_legend(svg_, options_.width, axis_y_ + 44);
  svg_.close();
}

void Painter::draw_notices() {
  double at = 40;
  for (const std::string& notice : notices_) {
    svg_.raw("<text class=\"notice\" x=\"10\" y=\"");
    svg_.num(at);
    svg_.raw("\" fill=\"#b00\" font-size=\"12\">");
    svg_.text(notice);
    svg_.raw("</text>\n");
    at += 16;
  }
}

void Painter::draw_views() {
  const double top = rows_top_ - 3 * 14.0 - 4, bottom = rows_top_ + row_ * trace_.members().size();
  std::size_t drawn = 0, level = 0;
  for (const auto& [id, installs] : views_) {
    if (drawn + installs.size() > options_.max_marks) break;
    drawn += installs.size();
    Time lo = installs.front()->at, hi = lo;
    for (const TraceEvent* e : installs)
      lo = std::min(lo, e->at), hi = std::max(hi, e->at);
    std::string label = "view " + std::to_string(id) + ":";
    const TraceEvent& first = **std::min_element(installs.begin(), installs.end(),
                                                 [](auto* a, auto* b) { return a->at < b->at; });
    for (std::size_t i = 0; i < first.view.size(); ++i)
      label += (i == 0 ? " " : ", ") + trace_.members()[first.view[i]];
    svg::draw_view_band(svg_, {id, label, x(lo), std::max(x(hi) - x(lo), 3.0), top, bottom,
                               top + 11 + 14.0 * static_cast<double>(level++ % 3)});
    for (const TraceEvent* e : installs)
      svg::draw_view_install(svg_, trace_.members()[e->member], id, ns(e->at), x(e->at),
                             y(e->member), row_);
  }
}

void Painter::draw_timelines() {
  const auto& members = trace_.members();
  for (std::uint32_t m = 0; m < members.size(); ++m) {
    const double end = end_[m] ? x(*end_[m]) : right_;
    svg::draw_timeline(svg_, members[m], left_, end, y(m),
                       static_cast<std::size_t>(left_ - 16) / 7);
  }
}

void Painter::draw_message(const MessageInfo& info, std::vector<Arrow> arrows) {
  for (const Arrow& arrow : arrows)
    draw_arrow(info, arrow);
  if (info.send != nullptr)  // visible even when nobody is seen to deliver it
    svg::draw_dot(svg_, "send", trace_.members()[info.sender], info.send->message,
                  ns(info.send->at), x(info.send->at), y(info.sender),
                  svg::sender_colour(info.sender), true);
  for (const TraceEvent* d : info.deliveries) {
    if (info.send != nullptr && d->member != info.sender) continue;
    const char* cls = info.send == nullptr ? "delivery-unsent" : "self-delivery";
    svg::draw_dot(svg_, cls, trace_.members()[d->member], d->message, ns(d->at), x(d->at),
                  y(d->member), svg::sender_colour(info.sender));
  }
}

void Painter::draw_arrow(const MessageInfo& info, const Arrow& a) {
  const auto& members = trace_.members();
  const MessageKey& key = info.send->message;
  std::string title = key.sender + "#" + std::to_string(key.seq);
  if (!info.send->text.empty()) title += " \"" + info.send->text + "\"";
  title += std::string(" ") + a.style + " " + members[a.from] + " \u2192 " + members[a.to];
  svg::draw_arrow(svg_, {a.style, members[a.from], members[a.to], key, ns(a.from_at), ns(a.to_at),
                         a.x1, a.y1, a.x2, a.y2, info.sender, title});
}

void Painter::draw_marks() {
  std::size_t drawn = 0;
  for (const TraceEvent& event : trace_.events()) {
    const bool mark = event.kind == TraceKind::nak_sent || event.kind == TraceKind::sequencer_hop ||
                      event.kind == TraceKind::note;
    if (!mark) continue;
    if (drawn++ >= options_.max_marks) break;
    draw_mark(event);
  }
}

void Painter::draw_mark(const TraceEvent& e) {
  const auto& members = trace_.members();
  const double px = x(e.at), py = y(e.member);
  switch (e.kind) {
    case TraceKind::nak_sent:
      svg::draw_nak(
          svg_, {members[e.member], members[e.peer], e.first, e.last, ns(e.at), px, py, y(e.peer)});
      break;
    case TraceKind::sequencer_hop: {
      // A dotted line from the send, when it is in the trace, to the stamp.
      auto found = messages_.find(e.message);
      const TraceEvent* send = found == messages_.end() ? nullptr : found->second.send;
      if (send != nullptr && send->member != e.member)
        svg::draw_hop_link(svg_, x(send->at), y(send->member), px, py);
      svg::draw_hop(svg_, members[e.member], e.message, e.first, ns(e.at), px, py);
      break;
    }
    default:
      svg::draw_note(svg_, members[e.member], e.text, ns(e.at), px, py);
      break;
  }
}

void Painter::draw_ends() {
  for (std::uint32_t m = 0; m < ending_.size(); ++m) {
    if (!end_[m]) continue;
    const bool crash = ending_[m]->kind == TraceKind::crashed;
    svg::draw_end(svg_, crash, trace_.members()[m], ns(*end_[m]), x(*end_[m]), y(m), row_);
  }
}

void Painter::draw_axis() {
  const std::int64_t span = ns(t1_);
  svg_.raw("<g class=\"axis\">\n<line x1=\"");
  svg_.num(left_);
  svg_.raw("\" y1=\"");
  svg_.num(axis_y_);
  svg_.raw("\" x2=\"");
  svg_.num(right_);
  svg_.raw("\" y2=\"");
  svg_.num(axis_y_);
  svg_.raw("\" stroke=\"#333\"/>\n");
  const std::int64_t step = svg::tick_step(span);
  for (std::int64_t at = 0;; at += step) {
    svg::draw_tick(svg_, at, step, x_ns(at), axis_y_);
    if (at > span - step) break;
  }
  svg_.raw("<text x=\"");
  svg_.num(right_);
  svg_.raw("\" y=\"");
  svg_.num(axis_y_ + 32);
  svg_.raw(
      "\" text-anchor=\"end\" font-size=\"11\">time since the first event \u2192</text>\n</g>\n");
}

Result<void> check(const SvgOptions& options) {
  if (!(options.width >= 300) || !std::isfinite(options.width) || options.width > 1e6)
    return Error(ErrorKind::invalid_argument, "write_svg: width must be in [300, 1e6] px");
  if (!(options.row_height >= 20) || !std::isfinite(options.row_height) || options.row_height > 1e4)
    return Error(ErrorKind::invalid_argument, "write_svg: row_height must be in [20, 1e4] px");
  return ok();
}

}  // namespace

Result<void> write_svg(const Trace& trace, std::ostream& out, const SvgOptions& options) {
  if (auto valid = check(options); !valid) return valid;
  try {
    Painter(trace, options, out).draw();
  } catch (const std::bad_alloc&) {
    return Error(ErrorKind::overloaded, "write_svg: out of memory");
  } catch (const std::exception& e) {
    return Error(ErrorKind::system, std::string("write_svg: ") + e.what());
  }
  if (!out) return Error(ErrorKind::system, "write_svg: the output stream failed");
  return ok();
}

Result<void> write_svg_file(const Trace& trace, const std::filesystem::path& path,
                            const SvgOptions& options) {
  const std::string where = "write trace picture " + path.string();
  std::string text;
  try {
    std::ostringstream buffer;
    if (auto written = write_svg(trace, buffer, options); !written)
      return std::move(written).error().with_context(where);
    text = std::move(buffer).str();
  } catch (const std::bad_alloc&) {
    return Error(ErrorKind::overloaded, where + ": out of memory");
  }
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "wb"));
  if (!file) return Error::from_errno(errno, "open").with_context(where);
  if (std::fwrite(text.data(), 1, text.size(), file.get()) != text.size())
    return Error::from_errno(errno, "write").with_context(where);
  if (std::fclose(file.release()) != 0)
    return Error::from_errno(errno, "close").with_context(where);
  return ok();
}

}  // namespace nexo::group
