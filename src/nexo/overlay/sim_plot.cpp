#include "nexo/overlay/sim_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace nexo::overlay {
namespace {

constexpr double kWidth = 760;
constexpr double kChartHeight = 220;
constexpr double kGap = 50;
constexpr double kLeft = 70;  // room for the y axis labels
constexpr double kRight = 20;
constexpr double kTop = 50;         // room for the document title
constexpr double kPlotTop = 30;     // chart title above the plot area
constexpr double kPlotBottom = 40;  // x axis labels under it

std::string num(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3f", v);
    // Trim trailing zeros: "12.500" -> "12.5".
    std::string s(buf);
    while (!s.empty() && s.back() == '0')
      s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  return buf;
}

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
    }
  }
  return out;
}

// A "nice" step for an axis spanning `span` with about `ticks` ticks.
double nice_step(double span, int ticks) {
  if (span <= 0) return 1;
  const double raw = span / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

struct Frame {
  double x0, y0, x1, y1;  // the plot area
  double sx(double v, double lo, double hi) const {
    return hi > lo ? x0 + (v - lo) / (hi - lo) * (x1 - x0) : x0;
  }
  double sy(double v, double lo, double hi) const {
    return hi > lo ? y1 - (v - lo) / (hi - lo) * (y1 - y0) : y1;
  }
};

Frame open_chart(std::string& out, int index, std::string_view kind, std::string_view title,
                 std::string_view x_label, std::string_view y_label) {
  const double top = kTop + index * (kChartHeight + kGap);
  Frame f{kLeft, top + kPlotTop, kWidth - kRight, top + kChartHeight - kPlotBottom};
  out += "<g class=\"chart\" data-chart=\"" + std::string(kind) + "\">\n";
  out += "<text class=\"chart-title\" x=\"" + num(kLeft) + "\" y=\"" + num(top + 18) + "\">" +
         escape(title) + "</text>\n";
  out += "<rect class=\"frame\" x=\"" + num(f.x0) + "\" y=\"" + num(f.y0) + "\" width=\"" +
         num(f.x1 - f.x0) + "\" height=\"" + num(f.y1 - f.y0) + "\"/>\n";
  out += "<text class=\"axis-label\" x=\"" + num((f.x0 + f.x1) / 2) + "\" y=\"" + num(f.y1 + 34) +
         "\" text-anchor=\"middle\">" + escape(x_label) + "</text>\n";
  out += "<text class=\"axis-label\" x=\"14\" y=\"" + num((f.y0 + f.y1) / 2) +
         "\" transform=\"rotate(-90 14 " + num((f.y0 + f.y1) / 2) + ")\" text-anchor=\"middle\">" +
         escape(y_label) + "</text>\n";
  return f;
}

void y_ticks(std::string& out, const Frame& f, double lo, double hi, std::string_view suffix) {
  const double step = nice_step(hi - lo, 4);
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    const double y = f.sy(v, lo, hi);
    out += "<line class=\"grid\" x1=\"" + num(f.x0) + "\" y1=\"" + num(y) + "\" x2=\"" + num(f.x1) +
           "\" y2=\"" + num(y) + "\"/>\n";
    out += "<text class=\"tick\" x=\"" + num(f.x0 - 6) + "\" y=\"" + num(y + 4) +
           "\" text-anchor=\"end\">" + num(v) + std::string(suffix) + "</text>\n";
  }
}

void x_tick(std::string& out, const Frame& f, double x, std::string_view label) {
  out += "<text class=\"tick\" x=\"" + num(x) + "\" y=\"" + num(f.y1 + 16) +
         "\" text-anchor=\"middle\">" + escape(label) + "</text>\n";
}

void no_data(std::string& out, const Frame& f) {
  out += "<text class=\"no-data\" x=\"" + num((f.x0 + f.x1) / 2) + "\" y=\"" +
         num((f.y0 + f.y1) / 2) + "\" text-anchor=\"middle\">no data</text>\n";
}

struct Bin {
  double from, to;
  std::uint64_t count;
};

void bars(std::string& out, const Frame& f, const std::vector<Bin>& bins, double lo, double hi) {
  std::uint64_t top = 0;
  for (const auto& b : bins)
    top = std::max(top, b.count);
  const double ymax = static_cast<double>(std::max<std::uint64_t>(top, 1));
  y_ticks(out, f, 0, ymax, "");
  for (const auto& b : bins) {
    const double x0 = f.sx(b.from, lo, hi), x1 = f.sx(b.to, lo, hi);
    const double y = f.sy(static_cast<double>(b.count), 0, ymax);
    out += "<rect class=\"bar\" x=\"" + num(x0 + 1) + "\" y=\"" + num(y) + "\" width=\"" +
           num(std::max(1.0, x1 - x0 - 2)) + "\" height=\"" + num(f.y1 - y) + "\" data-from=\"" +
           num(b.from) + "\" data-to=\"" + num(b.to) + "\" data-count=\"" + num(double(b.count)) +
           "\"><title>" + num(b.from) + "-" + num(b.to) + ": " + num(double(b.count)) +
           "</title></rect>\n";
  }
}

void hops_chart(std::string& out, const std::vector<std::uint32_t>& hops) {
  Frame f =
      open_chart(out, 0, "hops", "lookup hops (rounds of the iterative lookup)", "hops", "lookups");
  if (hops.empty()) {
    no_data(out, f);
  } else {
    // Hop counts are small (a lookup is bounded); past kMaxHops they share the last bar.
    constexpr std::uint32_t kMaxHops = 64;
    const std::uint32_t max = std::min(kMaxHops, *std::max_element(hops.begin(), hops.end()));
    std::vector<Bin> bins(max + 1);
    for (std::uint32_t h = 0; h <= max; ++h)
      bins[h] = {h - 0.5, h + 0.5, 0};
    for (auto h : hops)
      ++bins[std::min(h, max)].count;
    bars(out, f, bins, -0.5, max + 0.5);
    for (std::uint32_t h = 0; h <= max; ++h)
      x_tick(out, f, f.sx(h, -0.5, max + 0.5), num(h));
  }
  out += "</g>\n";
}

void latency_chart(std::string& out, std::vector<double> latency) {
  Frame f =
      open_chart(out, 1, "latency", "lookup latency (virtual time)", "milliseconds", "lookups");
  if (latency.empty()) {
    no_data(out, f);
  } else {
    std::sort(latency.begin(), latency.end());
    const double hi_raw = latency.back();
    const double step = nice_step(std::max(hi_raw, 1.0), 30);
    const double hi = std::max(step, std::ceil(hi_raw / step + 1e-9) * step);
    const auto n = static_cast<std::size_t>(std::llround(hi / step));
    std::vector<Bin> bins(n);
    for (std::size_t i = 0; i < n; ++i)
      bins[i] = {i * step, (i + 1) * step, 0};
    for (double v : latency) {
      auto i = static_cast<std::size_t>(std::max(0.0, v) / step);
      ++bins[std::min(i, n - 1)].count;
    }
    bars(out, f, bins, 0, hi);
    const double tick = nice_step(hi, 6);
    for (double v = 0; v <= hi + 1e-9; v += tick)
      x_tick(out, f, f.sx(v, 0, hi), num(v));
  }
  out += "</g>\n";
}

void success_chart(std::string& out, const std::vector<SimPlot::Window>& windows) {
  Frame f = open_chart(out, 2, "success", "success over time (share of operations per window)",
                       "seconds into the run", "success");
  std::vector<const SimPlot::Window*> shown;
  for (const auto& w : windows) {
    if (w.total > 0) shown.push_back(&w);
  }
  if (shown.empty()) {
    no_data(out, f);
    out += "</g>\n";
    return;
  }
  double lowest = 100;
  for (auto* w : shown)
    lowest = std::min(lowest, 100.0 * double(w->ok) / double(w->total));
  // Zoom in on the top: a run at 99.9% shows its dips, a collapse still fits.
  const double lo = lowest >= 99 ? 99 : lowest >= 90 ? 90 : 0;
  const double t_hi = std::max(shown.back()->end_s, 1e-9);
  y_ticks(out, f, lo, 100, "%");
  std::string path;
  for (auto* w : shown) {
    const double pct = 100.0 * double(w->ok) / double(w->total);
    const double x = f.sx(w->end_s, 0, t_hi), y = f.sy(pct, lo, 100);
    path += (path.empty() ? "M" : " L") + num(x) + " " + num(y);
    out += "<circle class=\"point\" cx=\"" + num(x) + "\" cy=\"" + num(y) +
           "\" r=\"2.5\" data-t=\"" + num(w->end_s) + "\" data-ok=\"" + num(double(w->ok)) +
           "\" data-total=\"" + num(double(w->total)) + "\"><title>" + num(w->end_s) +
           " s: " + num(double(w->ok)) + "/" + num(double(w->total)) + "</title></circle>\n";
  }
  out += "<path class=\"line\" d=\"" + path + "\"/>\n";
  const double tick = nice_step(t_hi, 6);
  for (double v = 0; v <= t_hi + 1e-9; v += tick)
    x_tick(out, f, f.sx(v, 0, t_hi), num(v));
  out += "</g>\n";
}

}  // namespace

std::string render_svg(const SimPlot& plot) {
  const double height = kTop + 3 * kChartHeight + 2 * kGap + 10;
  std::string out;
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(kWidth) + " " + num(height) + "\">\n";
  out +=
      "<style>text{font-family:sans-serif;font-size:12px;fill:#222}"
      ".title{font-size:15px;font-weight:bold}.chart-title{font-size:13px;font-weight:bold}"
      ".frame{fill:none;stroke:#888}.grid{stroke:#ddd}.bar{fill:#4a7fb5}"
      ".line{fill:none;stroke:#c0392b;stroke-width:1.5}.point{fill:#c0392b}"
      ".no-data{fill:#888}</style>\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out +=
      "<text class=\"title\" x=\"" + num(kLeft) + "\" y=\"24\">" + escape(plot.title) + "</text>\n";
  hops_chart(out, plot.hops);
  latency_chart(out, plot.latency_ms);
  success_chart(out, plot.success);
  out += "</svg>\n";
  return out;
}

}  // namespace nexo::overlay
