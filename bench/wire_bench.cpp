// bench_wire main: options, the registry, the measuring loop and the table.
//
//   bench_wire [--rounds N] [--round-ms MS] [--only FORMAT]
#include "wire_bench.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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

}  // namespace

bool register_bench(const char* name, int order, BenchFn fn) {
  registry().push_back({name, order, fn});
  return true;
}

void Report::add(Row row) {
  std::printf(
      "  %-12s %-7s %-7s nexo %10.1f ns   %-22s %10.1f ns   ratio %6.3f%s\n", row.format.c_str(),
      row.op.c_str(), row.message.c_str(), row.nexo_ns, row.anchor.c_str(), row.anchor_ns,
      row.anchor_ns > 0 ? row.nexo_ns / row.anchor_ns : 0.0, row.target > 0 ? "" : "  (context)");
  std::fflush(stdout);
  rows_.push_back(std::move(row));
}

int Report::print() const {
  int missed = 0;
  std::printf(
      "\n| format | op | message | nexo ns | anchor | anchor ns | nexo/anchor | target |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows_) {
    double ratio = r.anchor_ns > 0 ? r.nexo_ns / r.anchor_ns : 0.0;
    std::string target = "—";
    if (r.target > 0) {
      bool met = ratio <= r.target;
      if (!met) ++missed;
      char buf[64];
      std::snprintf(buf, sizeof buf, "<= %.2f %s", r.target, met ? "met" : "MISSED");
      target = buf;
    }
    std::printf("| %s | %s | %s | %.1f | %s | %.1f | %.3f | %s |\n", r.format.c_str(), r.op.c_str(),
                r.message.c_str(), r.nexo_ns, r.anchor.c_str(), r.anchor_ns, ratio, target.c_str());
  }
  for (const Row& r : rows_)
    if (!r.note.empty())
      std::printf("note (%s %s %s): %s\n", r.format.c_str(), r.op.c_str(), r.message.c_str(),
                  r.note.c_str());
  std::printf("\nbench_wire: %d target(s) missed\n", missed);
  return missed;
}

double measure_ns(const Options& options, const std::function<void()>& fn) {
  // Warm up and calibrate: how many calls fill one round.
  std::size_t iterations = 1;
  for (;;) {
    double start = thread_cpu_ns();
    for (std::size_t k = 0; k < iterations; ++k)
      fn();
    double spent = thread_cpu_ns() - start;
    if (spent >= options.round_ms * 1e6 / 4 || iterations >= (std::size_t{1} << 30)) {
      iterations = std::max<std::size_t>(
          1, static_cast<std::size_t>(static_cast<double>(iterations) * options.round_ms * 1e6 /
                                      std::max(spent, 1.0)));
      break;
    }
    iterations *= 2;
  }
  std::vector<double> per_call;
  for (int r = 0; r < options.rounds; ++r) {
    double start = thread_cpu_ns();
    for (std::size_t k = 0; k < iterations; ++k)
      fn();
    per_call.push_back((thread_cpu_ns() - start) / static_cast<double>(iterations));
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

}  // namespace nexo::bench::wire

int main(int argc, char** argv) {
  using namespace nexo::bench::wire;
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_wire: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--rounds") {
      options.rounds = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--round-ms") {
      options.round_ms = std::max(1.0, std::atof(value().c_str()));
    } else if (arg == "--only") {
      options.only = value();
    } else if (arg == "--help" || arg == "-h") {
      std::printf("usage: bench_wire [--rounds N] [--round-ms MS] [--only FORMAT]\n");
      return 0;
    } else {
      std::fprintf(stderr, "bench_wire: unknown option %s (try --help)\n", arg.c_str());
      return 2;
    }
  }
  auto benches = registry();
  std::sort(benches.begin(), benches.end(),
            [](const Registered& a, const Registered& b) { return a.order < b.order; });
  std::printf(
      "bench_wire: CPU time of one thread, ns per message, median of %d rounds of "
      ">= %.0f ms; nexo and anchor in the same run\n",
      options.rounds, options.round_ms);
  Report report(options);
  for (const Registered& b : benches) {
    if (!options.only.empty() && std::strstr(b.name, options.only.c_str()) == nullptr) continue;
    std::printf("%s:\n", b.name);
    b.fn(report);
  }
  report.print();  // missed targets are printed; a benchmark never fails on them
  return 0;
}
