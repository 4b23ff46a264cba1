// bench_overlay's simulated rows: nexo's node (overlay::Node) on its simulator
// (sim::Population over sim::Network, virtual time, one thread), no anchor (OpenDHT has
// no simulator). For each N: N nodes join one by one (20 ms of virtual time apart), each
// bootstrapping from a random node that has joined (no table is pre-filled); then
// `lookups` find_node of random targets from random nodes, started at 1,000 per virtual
// second with at most 500 in flight. Measured: the wall time of the lookups (the join
// apart), lookup rounds p50/p99 (the depth of the reply chain), datagrams per lookup
// (queries sent plus replies taken, OpStats), exactness (the k nodes returned are the
// true k closest live nodes, from a sorted index), the process's peak RSS (VmHWM: the
// whole process, OpenDHT's round included when it ran first) and the simulated
// population's own estimate (every node's sizeof + memory_bytes(), plus the simulator's).
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "nexo/overlay/sim_population.hpp"
#include "overlay_bench.hpp"

namespace nexo::bench::overlay {
namespace {

using namespace std::chrono_literals;
using nexo::overlay::NodeId;
using nexo::overlay::NodeInfo;
using nexo::overlay::OpStats;
namespace sim = nexo::overlay::sim;

struct SimRow {
  std::size_t nodes = 0;
  double join_wall_s = 0, lookups_wall_s = 0, join_virtual_s = 0;
  std::size_t lookups = 0, exact = 0, failed_joins = 0;
  std::uint32_t rounds_p50 = 0, rounds_p99 = 0;
  std::vector<std::size_t> rounds_count;  // [r]: lookups that took r rounds
  double datagrams = 0;
  double population_mib = 0, peak_rss_mib = 0;
  double contacts = 0;                   // per node, in its routing table
  std::array<double, 4> far_contacts{};  // per node, in buckets 0..3
  std::string error;
};

// The process's peak resident set (VmHWM), MiB; 0 when /proc says nothing.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

std::uint32_t percentile(std::vector<std::uint32_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Contacts per live node, in all and in buckets 0..3.
void count_contacts(sim::Population& pop, SimRow& row) {
  std::size_t live = 0, all = 0;
  std::array<std::size_t, 4> far{};
  for (sim::Slot s = 0; s < pop.net().slots(); ++s) {
    if (!pop.alive(s)) continue;
    ++live;
    const auto& table = pop.node(s).routing_table();
    all += table.size();
    for (std::size_t b = 0; b < far.size() && b + 1 < table.bucket_count(); ++b)
      far[b] += table.bucket(b).size();
  }
  if (live == 0) return;
  row.contacts = static_cast<double>(all) / static_cast<double>(live);
  for (std::size_t b = 0; b < far.size(); ++b)
    row.far_contacts[b] = static_cast<double>(far[b]) / static_cast<double>(live);
}

SimRow run_row(std::size_t nodes, std::size_t lookups, std::uint64_t seed, const Options& o) {
  SimRow row;
  row.nodes = nodes;
  sim::PopulationConfig config{.nodes = nodes, .seed = seed};
  if (o.sim_wide_set)
    config.tune = [wide = o.sim_wide](nexo::overlay::NodeConfig& c) { c.routing.wide = wide; };
  sim::Population pop(config);
  auto t = Clock::now();
  auto failed = pop.grow();
  row.join_wall_s = seconds_since(t);
  row.join_virtual_s = std::chrono::duration<double>(pop.now() - nexo::overlay::Time{}).count();
  if (!failed) {
    row.error = failed.error().message();
    return row;
  }
  row.failed_joins = *failed;
  std::vector<std::uint32_t> rounds;
  std::uint64_t datagrams = 0;
  t = Clock::now();
  auto abandoned = pop.pace(
      {.count = lookups, .rate = 1000, .max_in_flight = 500}, [&](sim::Slot from, auto done) {
        const NodeId target = NodeId::random(pop.random());
        return pop.node(from)
            .find_node(target, pop.now(),
                       [&, from, target, done](Result<std::vector<NodeInfo>> r, const OpStats& s) {
                         rounds.push_back(s.rounds);
                         datagrams += s.sent + s.received;
                         std::vector<NodeId> got;
                         if (r)
                           for (const auto& info : *r)
                             got.push_back(info.id);
                         row.exact += got == pop.closest_live(target, 8, from);
                         done();
                       })
            .has_value();
      });
  row.lookups_wall_s = seconds_since(t);
  if (!abandoned) row.error = abandoned.error().message();
  row.lookups = rounds.size();
  row.rounds_p50 = percentile(rounds, 0.5);
  row.rounds_p99 = percentile(rounds, 0.99);
  for (std::uint32_t r : rounds) {
    if (r >= row.rounds_count.size()) row.rounds_count.resize(r + 1);
    ++row.rounds_count[r];
  }
  row.datagrams = rounds.empty() ? 0 : static_cast<double>(datagrams) / rounds.size();
  std::size_t bytes = pop.net().memory_bytes();
  for (sim::Slot s = 0; s < pop.net().slots(); ++s)
    if (pop.alive(s)) bytes += sizeof(nexo::overlay::Node) + pop.node(s).memory_bytes();
  row.population_mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
  row.peak_rss_mib = peak_rss_mib();
  count_contacts(pop, row);
  return row;
}

void print_row(const SimRow& r) {
  if (!r.error.empty() && r.lookups == 0) {
    std::printf("  N = %zu: did not run: %s\n", r.nodes, r.error.c_str());
    return;
  }
  std::printf(
      "  N = %zu: joined in %.1f s wall (%.0f s virtual, %zu bootstraps failed, tables not "
      "pre-filled); %zu lookups in %.1f s wall, %zu exact (%.2f%%), rounds p50 %u p99 %u, "
      "%.1f datagrams per lookup; %.1f contacts per node (buckets 0-3: %.1f %.1f %.1f %.1f); "
      "population %.0f MiB (estimate), peak RSS %.0f MiB%s%s\n",
      r.nodes, r.join_wall_s, r.join_virtual_s, r.failed_joins, r.lookups, r.lookups_wall_s,
      r.exact, r.lookups ? 100.0 * static_cast<double>(r.exact) / r.lookups : 0.0, r.rounds_p50,
      r.rounds_p99, r.datagrams, r.contacts, r.far_contacts[0], r.far_contacts[1],
      r.far_contacts[2], r.far_contacts[3], r.population_mib, r.peak_rss_mib,
      r.error.empty() ? "" : "; ", r.error.c_str());
  std::printf("    lookups by rounds:");
  for (std::size_t i = 0; i < r.rounds_count.size(); ++i)
    if (r.rounds_count[i] > 0) std::printf(" %zu: %zu", i, r.rounds_count[i]);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

void run_sim_rows(const Options& o) {
  std::printf(
      "\nsimulated rows (nexo only, on its simulator, one thread; no anchor): N nodes join one "
      "by one, each bootstrapping from a random node that joined (no table pre-filled); then "
      "%d find_node lookups of random targets from random nodes, 1,000 started per virtual "
      "second, at most 500 in flight; wall time counts the lookups only; exact: the k = 8 "
      "nodes returned are the true 8 closest live nodes\n",
      o.sim_lookups);
  std::fflush(stdout);
  const SimRow small = run_row(static_cast<std::size_t>(o.sim_nodes),
                               static_cast<std::size_t>(o.sim_lookups), o.seed, o);
  print_row(small);
  SimRow big;
  if (o.sim_big) {
    big = run_row(100'000, static_cast<std::size_t>(o.sim_lookups), o.seed + 1, o);
    print_row(big);
  }
  const bool small_ran = small.lookups > 0 && small.error.empty();
  std::printf("simulated targets (issue 15):\n");
  if (small_ran && o.sim_nodes == 10'000)
    std::printf("  N = 10,000, at most 40 datagrams per lookup: %.1f %s\n", small.datagrams,
                verdict(small.datagrams <= 40));
  else
    std::printf("  N = 10,000, at most 40 datagrams per lookup: not run (--sim-nodes %d)\n",
                o.sim_nodes);
  if (!o.sim_big || big.lookups == 0 || !big.error.empty()) {
    std::printf(
        "  N = 100,000 rows: not run (%s); at N = %d instead, for scale: peak RSS %.0f MiB, "
        "%d lookups in %.1f s wall, rounds p50 %u p99 %u\n",
        o.sim_big ? big.error.c_str() : "the join alone takes ~13 min of CPU: add --sim-100k",
        o.sim_nodes, small.peak_rss_mib, o.sim_lookups, small.lookups_wall_s, small.rounds_p50,
        small.rounds_p99);
    return;
  }
  std::printf("  N = 100,000 nodes in one process, at most 4 GiB: peak RSS %.0f MiB %s\n",
              big.peak_rss_mib, verdict(big.peak_rss_mib <= 4096));
  std::printf("  N = 100,000, %d lookups in at most 60 s: %.1f s wall %s\n", o.sim_lookups,
              big.lookups_wall_s, verdict(o.sim_lookups >= 10'000 && big.lookups_wall_s <= 60));
  std::printf("  N = 100,000, lookup rounds p50 <= 4 and p99 <= 6: p50 %u, p99 %u %s\n",
              big.rounds_p50, big.rounds_p99, verdict(big.rounds_p50 <= 4 && big.rounds_p99 <= 6));
}

}  // namespace nexo::bench::overlay
