// The picture `nexo overlay sim --plot FILE.svg` draws: three charts of one
// simulated run, stacked in one SVG document.
//   1. lookup hops: a histogram of the rounds each successful lookup took;
//   2. lookup latency: a histogram of their virtual times, in milliseconds;
//   3. success over time: the share of lookups (or gets) that succeeded in
//      each window of the run, the picture of how the overlay fares under churn.
//
// Each chart is a <g class="chart" data-chart="hops|latency|success">; each bar
// a <rect class="bar" data-from= data-to= data-count=>, each point of the
// success line a <circle class="point" data-t= data-ok= data-total=>, so that
// tests (and readers with a text editor) can check the picture against the
// figures the tool prints. Numbers are written locale-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nexo::overlay {

struct SimPlot {
  std::string title;                // e.g. "nexo overlay sim: 10000 nodes, churn 30 s, seed 7"
  std::vector<std::uint32_t> hops;  // per successful lookup
  std::vector<double> latency_ms;   // per successful lookup
  struct Window {
    double end_s = 0;         // the window's end, seconds into the run
    std::uint64_t ok = 0;     // operations ending in the window that succeeded
    std::uint64_t total = 0;  // operations ending in the window
  };
  std::vector<Window> success;  // in time order; windows with total 0 are skipped
};

// The SVG document. Empty inputs give charts that say "no data".
std::string render_svg(const SimPlot& plot);

}  // namespace nexo::overlay
