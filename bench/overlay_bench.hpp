// What the two halves of bench_overlay share: the options, one round's
// procedure (overlay_round.cpp) and what it measured, for the tables and
// ratios of overlay_bench.cpp. The comment at the top of overlay_bench.cpp
// says what is measured and why.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"
#include "overlay_impl.hpp"

namespace nexo::bench::overlay {

struct Options {
  int nodes = 50;
  int values = 100;  // puts per round, and gets before and after the crash
  int value_size = 64;
  int rounds = 3;
  int concurrency = 4;  // puts or gets in flight at once (threads of the harness)
  int settle_s = 5;     // the fixed wait after the impl says it settled
  int settle_limit_s = 60;
  int idle_ms = 1000;        // the window that measures idle (background) datagrams
  int crash_wait_ms = 1000;  // between the crash and the first get after it
  int op_limit_s = 10;       // one put or get; then it counts as failed
  int seed = 20261207;
  // Where a get ends: at the lookup's done by default, as the OpenDHT
  // figures were taken (p50 1.2 s after the crash; at the first value, 4 ms).
  GetEnd get_end = GetEnd::lookup_done;
  bool quick = false;
  // The simulated rows (overlay_sim.cpp).
  bool sim_only = false;     // only them, no loopback impls
  bool sim_skip = false;     // not them
  bool sim_big = false;      // the N = 100,000 row too (minutes)
  int sim_nodes = 10'000;    // the first row's N
  int sim_lookups = 10'000;  // lookups per row
  // The simulated nodes' RoutingConfig::wide (empty: the Node's default).
  std::vector<std::uint8_t> sim_wide{};
  bool sim_wide_set = false;
  ImplChoice impls = ImplChoice({"opendht", "nexo"});
};

// One phase of gets: V gets of the keys put, each from a node other than
// its putter (and, after the crash, a surviving one).
struct GetPhase {
  int gets = 0, found = 0, wrong = 0, timed_out = 0;
  double p50_ms = 0, p99_ms = 0;
  double datagrams_per_get = 0;      // every node's sent datagrams in the phase / gets
  double net_datagrams_per_get = 0;  // the same, less the idle rate x the phase's duration
  double seconds = 0;
};

// What one impl did in one round.
struct RoundResult {
  double start_s = 0;         // start() until it returned
  double settled_s = 0;       // start() returned until the impl said settled (-1: never)
  std::string settle_detail;  // the impl's own words, after the fixed settle wait
  double idle_per_s = 0;      // datagrams per second, all nodes, nothing asked of them
  int puts = 0, puts_ok = 0;
  double put_p50_ms = 0, datagrams_per_put = 0;
  std::string put_error;  // the first failed put's error
  GetPhase before, after;
  int crashed = 0;
};

// Runs one round of `entry` (make, start, settle, put, get, crash, get,
// stop) with the random choices of `round` (the same for every impl).
// Fails when the impl cannot be made or started; what it measured otherwise.
Result<RoundResult> run_round(const ImplEntry& entry, const Options& o, int round);

// The simulated rows and their targets (overlay_sim.cpp).
void run_sim_rows(const Options& o);

}  // namespace nexo::bench::overlay
