// bench_mpi's table: the rows with a nexo column beside each anchor's,
// over shared memory and TCP, then per row nexo's ratio to the best anchor of
// the same run and the target for that row.
#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <thread>

#include "bench_mpi.hpp"

namespace nexo::bench::mpi {
namespace {

constexpr std::size_t kNexo = 0, kOpenMpi = 1, kMpich = 2;

struct Row {
  const char* label;
  const char* key;  // the figure's name and parameter, as mpi_bench.c prints it
  bool bandwidth;   // MB/s shown as GB/s, higher is better; else us, lower is better
  int ranks;
};

constexpr std::array<Row, 8> kRows{{
    {"latency 8 B (us)", "latency_us 8", false, 2},
    {"latency 64 KiB (us)", "latency_us 65536", false, 2},
    {"bandwidth 1 MiB, window 64 (GB/s)", "bandwidth_MBps 1048576", true, 2},
    {"bandwidth 4 MiB, window 64 (GB/s)", "bandwidth_MBps 4194304", true, 2},
    {"barrier, 2 ranks (us)", "barrier_us 2", false, 2},
    {"barrier, 4 ranks (us)", "barrier_us 4", false, 4},
    {"allreduce 8 doubles, 2 ranks (us)", "allreduce_us 2", false, 2},
    {"allreduce 8 doubles, 4 ranks (us)", "allreduce_us 4", false, 4},
}};

// The target for a row: nexo against `anchor` (kOpenMpi, kMpich, or
// nullopt for the better of the two), at most (times) or at least (bandwidth) 1.0.
struct Target {
  std::optional<std::size_t> anchor;
  const char* text;
};

std::optional<Target> target_of(const Row& row, Transport t) {
  const std::string_view key = row.key;
  const bool shm = t == Transport::shm;
  if (row.ranks == 4)
    return Target{kOpenMpi, "4 ranks on 2 cores: no collapse, nexo/Open MPI <= 1.0"};
  if (key.starts_with("latency")) {
    if (!shm) return Target{std::nullopt, "TCP latency: nexo/(better of Open MPI, MPICH) <= 1.0"};
    if (key == "latency_us 8")
      return Target{kOpenMpi, "shm small-message latency: nexo/Open MPI <= 1.0"};
    return std::nullopt;  // 64 KiB over shared memory: no target in the issue
  }
  if (key.starts_with("bandwidth")) {
    if (shm) return Target{kMpich, "shm bandwidth: nexo/MPICH >= 1.0"};
    return Target{std::nullopt, "TCP bandwidth: nexo/(better of Open MPI, MPICH) >= 1.0"};
  }
  if (shm) return Target{kOpenMpi, "collectives, 2 ranks: nexo/Open MPI shm <= 1.0"};
  return std::nullopt;  // collectives over TCP with 2 ranks: no target in the issue
}

double median_of(const Results& results, std::size_t mpi, Transport t, const char* key) {
  const auto it = results.figures.find({mpi, t});
  if (it == results.figures.end()) return 0;
  const auto fig = it->second.find(key);
  return fig == it->second.end() || fig->second.values.empty() ? 0 : fig->second.median();
}

std::string cell(double value, bool bandwidth) {
  if (value <= 0) return "-";
  std::array<char, 32> text{};
  if (bandwidth) {
    std::snprintf(text.data(), text.size(), "%.2f", value / 1e3);
  } else {
    const int digits = value < 1 ? 3 : value < 10 ? 2 : value < 100 ? 1 : 0;
    std::snprintf(text.data(), text.size(), "%.*f", digits, value);
  }
  return text.data();
}

std::string ratio_text(double r) {
  if (r <= 0) return "-";
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.2f", r);
  return text.data();
}

// A row's better anchor over `t`: its index, or nullopt when neither ran.
std::optional<std::size_t> best_anchor(const Results& results, const Row& row, Transport t) {
  std::optional<std::size_t> best;
  for (std::size_t a : {kOpenMpi, kMpich}) {
    const double v = median_of(results, a, t, row.key);
    if (v <= 0) continue;
    const double b = best ? median_of(results, *best, t, row.key) : 0;
    if (!best || (row.bandwidth ? v > b : v < b)) best = a;
  }
  return best;
}

void print_ratio_line(const std::vector<Mpi>& mpis, const Results& results, const Row& row,
                      Transport t, double floor_us) {
  const double nexo = median_of(results, kNexo, t, row.key);
  const auto best = best_anchor(results, row, t);
  std::printf("  %-36s %-3s", row.label, transport_name(t));
  if (best) {
    std::printf("  best anchor %s %s; nexo/%s %s", mpis[*best].label.c_str(),
                cell(median_of(results, *best, t, row.key), row.bandwidth).c_str(),
                mpis[*best].label.c_str(),
                ratio_text(ratio(nexo, median_of(results, *best, t, row.key))).c_str());
  } else {
    std::printf("  no anchor ran");
  }
  const auto target = target_of(row, t);
  if (!target) {
    std::printf("  (no target in the issue)");
  } else {
    const std::optional<std::size_t> anchor = target->anchor ? target->anchor : best;
    const double a = anchor ? median_of(results, *anchor, t, row.key) : 0;
    const double r = ratio(nexo, a);
    const char* v = r <= 0 ? (nexo <= 0 ? "n/a (nexo not run)" : "n/a (anchor not run)")
                           : verdict(row.bandwidth ? r >= 1.0 : r <= 1.0);
    std::printf("  | target %s: %s %s", target->text, ratio_text(r).c_str(), v);
  }
  if (row.ranks == 4) {  // collapse: how much slower than with 2 ranks
    const std::string two =
        std::string(row.key).substr(0, std::string_view(row.key).find(' ')) + " 2";
    std::printf("  | 4 ranks / 2 ranks:");
    for (std::size_t m = 0; m < mpis.size(); ++m) {
      std::printf(" %s %s", mpis[m].label.c_str(),
                  ratio_text(ratio(median_of(results, m, t, row.key),
                                   median_of(results, m, t, two.c_str())))
                      .c_str());
    }
  }
  if (std::string_view(row.key) == "latency_us 8" && t == Transport::shm) {
    std::printf("  | nexo <= 2 x the cache-line floor (%s us): ", cell(floor_us, false).c_str());
    if (floor_us <= 0 || nexo <= 0) {
      std::printf("n/a (%s)", floor_us <= 0 ? "floor not measured" : "nexo not run");
    } else {
      std::printf("nexo/floor %s %s", ratio_text(nexo / floor_us).c_str(),
                  verdict(nexo <= 2 * floor_us));
    }
  }
  std::printf("\n");
}

}  // namespace

void print_table(const std::vector<Mpi>& mpis, const Options& o, const Results& results,
                 double floor_us) {
  std::printf(
      "\n== the table: one-way latency = RTT/2 and times per operation in us, bandwidth in GB/s "
      "(10^9 B/s); each run prints the median of its %d repetitions, the table the median of %d "
      "run%s; 4 ranks on %u cpus\n\n",
      o.reps, o.rounds, o.rounds == 1 ? "" : "s", std::thread::hardware_concurrency());
  std::printf("%-36s", "");
  for (Transport t : o.transports) {
    for (const Mpi& m : mpis)
      std::printf(" %14s", (m.label + " " + transport_name(t)).c_str());
  }
  std::printf("\n");
  for (const Row& row : kRows) {
    if (row.ranks == 4 && !o.four_ranks) continue;
    std::printf("%-36s", row.label);
    for (Transport t : o.transports) {
      for (std::size_t m = 0; m < mpis.size(); ++m) {
        const double v = median_of(results, m, t, row.key);
        const bool marked = v > 0 && results.trouble.contains({m, t, row.ranks});
        std::printf(" %14s", (cell(v, row.bandwidth) + (marked ? "*" : "")).c_str());
      }
    }
    std::printf("\n");
  }
  for (const Mpi& m : mpis) {
    if (!m.missing.empty())
      std::printf("%s: - throughout: %s\n", m.label.c_str(), m.missing.c_str());
  }
  for (const auto& [config, what] : results.trouble) {
    const auto& [m, t, ranks] = config;
    std::printf("*, or - for what it did not print: %s %s %d ranks: %s\n", mpis[m].label.c_str(),
                transport_name(t), ranks, what.c_str());
  }
  std::printf(
      "\n== ratios, nexo to the best anchor of this run per row (times: lower is better; "
      "bandwidth: higher is better), and the issue's target for each row\n");
  for (const Row& row : kRows) {
    if (row.ranks == 4 && !o.four_ranks) continue;
    for (Transport t : o.transports)
      print_ratio_line(mpis, results, row, t, floor_us);
  }
  std::fflush(stdout);
}

}  // namespace nexo::bench::mpi
