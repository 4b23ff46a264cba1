// bench_wire main: the flags, the registry, the interleaved measuring rounds and the table.
//
//   bench_wire [--rounds N] [--round-ms MS] [--only FORMAT]
//
// It prints the machine (cores, the cpus it may use, the load) first and the load
// again at the end. Missed targets are printed; the exit status is 0 whatever the
// ratios (2 for bad arguments).
#include "wire_bench.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <string>

#include "harness.hpp"

namespace nexo::bench::wire {
namespace {

struct Registered {
  const char* name;
  int order;
  BenchFn fn;
};

std::vector<Registered>& registry() {
  static std::vector<Registered> r;
  return r;
}

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

constexpr std::size_t kBatches = 20;  // timed batches per turn: the samples of p99

// Warms `fn` up and returns how many calls fill `round_ms` of CPU time.
std::size_t calibrate(const Options& options, const std::function<void()>& fn) {
  std::size_t iterations = 1;
  for (;;) {
    const double start = thread_cpu_ns();
    for (std::size_t k = 0; k < iterations; ++k)
      fn();
    const double spent = thread_cpu_ns() - start;
    if (spent >= options.round_ms * 1e6 / 4 || iterations >= (std::size_t{1} << 30)) {
      return std::max<std::size_t>(
          1, static_cast<std::size_t>(static_cast<double>(iterations) * options.round_ms * 1e6 /
                                      std::max(spent, 1.0)));
    }
    iterations *= 2;
  }
}

// One side's turn: `iterations` calls in batches, each batch's ns per call
// into `batches`; returns the turn's ns per call.
double turn(const std::function<void()>& fn, std::size_t iterations, Spread& batches) {
  const std::size_t count = std::min(kBatches, iterations);
  double total = 0;
  for (std::size_t b = 0; b < count; ++b) {
    const std::size_t calls = iterations / count + (b < iterations % count ? 1 : 0);
    const double start = thread_cpu_ns();
    for (std::size_t k = 0; k < calls; ++k)
      fn();
    const double spent = thread_cpu_ns() - start;
    batches.values.push_back(spent / static_cast<double>(calls));
    total += spent;
  }
  return total / static_cast<double>(iterations);
}

std::string ns_text(double ns) {
  if (ns <= 0) return "—";
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.1f", ns);
  return text.data();
}

}  // namespace

bool register_bench(const char* name, int order, BenchFn fn) {
  registry().push_back({name, order, fn});
  return true;
}

std::vector<Timing> measure(const Options& options,
                            const std::vector<std::function<void()>>& sides) {
  std::vector<std::size_t> iterations, order;
  for (std::size_t i = 0; i < sides.size(); ++i) {
    iterations.push_back(calibrate(options, sides[i]));
    order.push_back(i);
  }
  std::vector<Spread> rounds(sides.size()), batches(sides.size());
  static_cast<void>(rotate_rounds(options.rounds, order, [&](std::size_t i) -> Result<void> {
    rounds[i].values.push_back(turn(sides[i], iterations[i], batches[i]));
    return ok();
  }));
  std::vector<Timing> out;
  for (std::size_t i = 0; i < sides.size(); ++i)
    out.push_back({rounds[i].median(), batches[i].percentile(99)});
  return out;
}

void add_nexo_only(Report& report, const std::string& format, const std::string& message,
                   const std::function<void()>& encode, const std::function<void()>& decode,
                   const std::string& note) {
  const auto t = measure(report.options(), {encode, decode});
  report.add({format, "encode", message, t[0], "—", {}, 0, note});
  report.add({format, "decode", message, t[1], "—", {}, 0, note});
}

void Report::add(Row row) {
  const double r = ratio(row.nexo.median_ns, row.anchor_time.median_ns);
  std::printf("  %-12s %-7s %-10s nexo %10.1f ns (p99 %10s)   %-22s %10s ns (p99 %10s)   ",
              row.format.c_str(), row.op.c_str(), row.message.c_str(), row.nexo.median_ns,
              ns_text(row.nexo.p99_ns).c_str(), row.anchor.c_str(),
              ns_text(row.anchor_time.median_ns).c_str(), ns_text(row.anchor_time.p99_ns).c_str());
  if (r > 0) {
    std::printf("ratio %6.3f%s\n", r, row.target > 0 ? "" : "  (context)");
  } else {
    std::printf("(nexo only)\n");
  }
  std::fflush(stdout);
  rows_.push_back(std::move(row));
}

int Report::print() const {
  int missed = 0;
  std::printf(
      "\n| format | op | message | nexo ns | nexo p99 | anchor | anchor ns | anchor p99 | "
      "nexo/anchor | target |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& row : rows_) {
    const double r = ratio(row.nexo.median_ns, row.anchor_time.median_ns);
    std::string target = "—";
    if (row.target > 0 && r > 0) {
      const bool met = r <= row.target;
      if (!met) ++missed;
      std::array<char, 64> text{};
      std::snprintf(text.data(), text.size(), "<= %.2f %s", row.target, verdict(met));
      target = text.data();
    }
    std::array<char, 32> ratio_text{};
    std::snprintf(ratio_text.data(), ratio_text.size(), "%.3f", r);
    std::printf("| %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s |\n", row.format.c_str(),
                row.op.c_str(), row.message.c_str(), row.nexo.median_ns,
                ns_text(row.nexo.p99_ns).c_str(), row.anchor.c_str(),
                ns_text(row.anchor_time.median_ns).c_str(),
                ns_text(row.anchor_time.p99_ns).c_str(), r > 0 ? ratio_text.data() : "—",
                target.c_str());
  }
  for (const Row& row : rows_) {
    if (!row.note.empty()) {
      std::printf("note (%s %s %s): %s\n", row.format.c_str(), row.op.c_str(),
                  row.message.c_str(), row.note.c_str());
    }
  }
  std::printf("\nbench_wire: %d target(s) missed\n", missed);
  return missed;
}

}  // namespace nexo::bench::wire

int main(int argc, char** argv) {
  using namespace nexo::bench::wire;
  namespace harness = nexo::bench;
  Options options;
  harness::Flags flags("bench_wire");
  flags.count("--rounds", options.rounds, 1000, "interleaved rounds; the medians over them (default 9)")
      .number("--round-ms", options.round_ms, 1, 60'000,
              "each side's turn in a round runs at least this long (default 40)")
      .text("--only", options.only, "run only the formats whose name contains this");
  if (auto status = harness::begin_run(flags, argc, argv)) return *status;
  auto benches = registry();
  std::sort(benches.begin(), benches.end(),
            [](const Registered& a, const Registered& b) { return a.order < b.order; });
  std::printf(
      "bench_wire: CPU time of one thread, ns per message; nexo and its anchors interleaved in "
      "%d rounds of >= %.0f ms each, the first side rotating; the median over the rounds, p99 "
      "over batches of each turn (%zu per turn)\n",
      options.rounds, options.round_ms, kBatches);
  harness::print_machine();
  const auto start = harness::Clock::now();
  Report report(options);
  for (const Registered& b : benches) {
    if (!options.only.empty() && std::strstr(b.name, options.only.c_str()) == nullptr) continue;
    std::printf("%s:\n", b.name);
    b.fn(report);
  }
  report.print();  // missed targets are printed; a benchmark never fails on them
  harness::print_end(start);
  return 0;
}
