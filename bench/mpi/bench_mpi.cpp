// bench_mpi — nexo's MPI beside Open MPI and MPICH, in one run, on one source.
//
// mpi_bench.c (beside this file) is compiled with each MPI's own wrapper
// (nexocc, mpicc.openmpi, mpicc.mpich) and run with its own launcher
// (nexorun, mpirun.openmpi, mpirun.mpich), over shared memory and over TCP on
// loopback, with 2 ranks (latency at 8 B and 64 KiB, bandwidth at 1 and 4 MiB,
// barrier, allreduce of 8 doubles) and with 4 ranks (barrier, allreduce: more
// ranks than this VM's 2 cores). mpi_impls.cpp lists every flag each launcher
// gets and why. --rounds R runs every configuration R times, the
// configurations taking turns (the first one rotating from round to round, so
// that drift falls on all alike); the table shows the median of the rounds,
// then nexo's ratio to the best anchor of the same run for each row, and the
// issue's target for that row. Only same-run ratios mean anything: latency on
// this VM moves about 3x with where the two vCPUs sit.
//
// The nexo column is "-" until nexocc and nexorun exist (next to bench_mpi,
// or in --nexo-bin-dir); an MPI that is not installed is "-" with the package
// to install. Benchmarks print, they never gate: exit 0 even when a run
// failed (it is printed), 2 for bad arguments.
#include "bench_mpi.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#ifndef NEXO_MPI_BENCH_SOURCE
#define NEXO_MPI_BENCH_SOURCE "bench/mpi/mpi_bench.c"
#endif

namespace nexo::bench::mpi {
namespace {

void set_quick(Options& o) {
  o.quick = true;
  o.rounds = 1;
  o.reps = 3;
  o.target_ms = 10;
  o.warmup = 20;
  o.timeout_s = 60;
  o.floor_trips = 20'000;
}

Flags flags(Options& o) {
  Flags f("bench_mpi");
  f.action(
       "--quick", [&o] { set_quick(o); },
       "a smoke run: 1 round, 3 repetitions of ~10 ms, 20 warm-up iterations (numbers are rough)")
      .count("--rounds", o.rounds, 100,
             "runs of every configuration; the table shows their median (default 3)")
      .count("--reps", o.reps, 101,
             "repetitions inside one run; it reports their median (default 5)")
      .count("--target-ms", o.target_ms, 60'000, "one repetition's duration, ms (default 200)")
      .count("--warmup", o.warmup, 1'000'000,
             "the most warm-up iterations of a measurement (default 1000)")
      .count("--timeout", o.timeout_s, 3600,
             "one run's limit in s; then the job is torn down (default 300)")
      .text("--nexo-bin-dir", o.nexo_bin_dir,
            "where nexocc and nexorun are (default: next to bench_mpi)")
      .text("--source", o.source,
            "the benchmark program (default: the source tree's bench/mpi/mpi_bench.c)")
      .value(
          "--impls", [&o](std::string_view v) { return o.impls.parse(v); },
          "MPIs among " + o.impls.joined() + " (default all)")
      .value(
          "--transports",
          [&o](std::string_view v) {
            o.transports.clear();
            for (auto item : split_list(v)) {
              if (item == "shm")
                o.transports.push_back(Transport::shm);
              else if (item == "tcp")
                o.transports.push_back(Transport::tcp);
              else
                return false;
            }
            return !o.transports.empty();
          },
          "shm,tcp (default both)")
      .flag("--no-4-ranks", o.four_ranks, false, "skip the 4-rank runs")
      .flag("--show-output", o.show_output, true, "print every run's whole output");
  return f;
}

// The first line of `text` with a digit in it ("mpirun.openmpi (OpenRTE)
// 4.1.4"; hydra's "    Version:   4.0.2"), its runs of spaces squeezed.
std::string version_line(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find_first_of("0123456789") == std::string::npos) continue;
    std::string out;
    for (char ch : line) {
      if (ch != ' ' || (!out.empty() && out.back() != ' ')) out += ch;
    }
    return out;
  }
  return "version unknown";
}

// Compiles o.source with each chosen, installed MPI's wrapper into `dir`;
// an MPI whose compile fails is marked missing, with the compiler's words.
void compile_all(std::vector<Mpi>& mpis, const Options& o, const std::string& dir) {
  for (std::size_t i = 0; i < mpis.size(); ++i) {
    Mpi& m = mpis[i];
    if (!o.impls.on(i)) m.missing = "left out by --impls";
    if (!m.missing.empty()) continue;
    m.program = dir + "/mpi_bench_" + m.key;
    const std::vector<std::string> argv{m.cc, "-O2", "-o", m.program, o.source};
    auto built = run_command(argv, {}, std::chrono::seconds(300));
    if (!built || built->exit_status != 0) {
      m.missing = "compiling " + o.source + " with " + m.cc + " failed" +
                  (built ? ":\n" + tail_lines(built->output, 8) : ": " + built.error().message());
      continue;
    }
    auto v = run_command({m.run, "--version"}, {}, std::chrono::seconds(30));
    m.version = v && v->exit_status == 0 ? version_line(v->output) : "version unknown";
  }
}

struct Config {
  std::size_t mpi;
  Transport transport;
  int ranks;
};

std::vector<std::string> program_args(const Options& o) {
  return {"--reps=" + std::to_string(o.reps), "--target-ms=" + std::to_string(o.target_ms),
          "--warmup=" + std::to_string(o.warmup)};
}

void print_setup(const std::vector<Mpi>& mpis, const std::vector<Config>& configs,
                 const Options& o) {
  std::printf("\nthe MPIs and how each configuration is run (PROGRAM %s):\n",
              [&] {
                std::string a;
                for (const auto& s : program_args(o))
                  a += s + " ";
                return a;
              }()
                  .c_str());
  for (std::size_t i = 0; i < mpis.size(); ++i) {
    const Mpi& m = mpis[i];
    if (!m.missing.empty()) {
      std::printf("  %s: not run: %s\n", m.label.c_str(), m.missing.c_str());
      continue;
    }
    std::printf("  %s: %s (compiled with %s -O2)\n", m.label.c_str(), m.version.c_str(),
                m.cc.c_str());
    for (const Config& c : configs) {
      if (c.mpi != i) continue;
      const Launch l = launch_of(m, c.transport, c.ranks, "PROGRAM", {});
      std::printf("    %-3s %d ranks: %s\n              (%s)\n", transport_name(c.transport),
                  c.ranks, l.describe().c_str(), l.why.c_str());
    }
  }
  std::fflush(stdout);
}

// A job that printed "done" but has not ended this long after: it hangs in
// MPI_Finalize (Debian 12's MPICH over UCX tcp with 4 ranks does).
constexpr std::chrono::seconds kFinalizeGrace{20};

// One run of one configuration: its figures added to `results`, and what went
// wrong, printed and recorded.
void run_one(const Mpi& m, const Config& c, const Options& o, int round, Results& results) {
  Figures& figures = results.figures[{c.mpi, c.transport}];
  const Launch l = launch_of(m, c.transport, c.ranks, m.program, program_args(o));
  const auto start = Clock::now();
  auto done = run_command(l.argv, l.env, std::chrono::seconds(o.timeout_s), "done", kFinalizeGrace);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("round %d  %-8s %-3s %d ranks  %5.1f s ", round + 1, m.label.c_str(),
              transport_name(c.transport), c.ranks, seconds);
  const auto trouble = [&](const std::string& what) {
    results.trouble[{c.mpi, c.transport, c.ranks}] =
        "round " + std::to_string(round + 1) + ": " + what;
  };
  if (!done) {
    std::printf(" did not start: %s\n", done.error().message().c_str());
    trouble("did not start: " + done.error().message());
    return;
  }
  int count = 0;
  bool finished = false;
  std::istringstream lines(done->output);
  std::string line;
  std::string errors;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name, param;
    double value = 0;
    if (line == "done") finished = true;
    if (line.starts_with("error")) errors += "      | " + line + "\n";
    if (!(words >> name >> param >> value)) continue;
    if (name == "latency_us" || name == "bandwidth_MBps" || name == "barrier_us" ||
        name == "allreduce_us") {
      figures[name + " " + param].values.push_back(value);
      std::printf(" %s/%s=%.4g", name.substr(0, name.find('_')).c_str(), param.c_str(), value);
      ++count;
    }
  }
  if (done->timed_out && finished) {
    std::printf(
        "\n    HUNG AFTER ITS LAST FIGURE: 'done' printed, the job had not ended %lld s "
        "later (MPI_Finalize); torn down; its figures are kept, marked *\n",
        static_cast<long long>(kFinalizeGrace.count()));
    trouble("every figure printed, then hung in MPI_Finalize (torn down after " +
            std::to_string(kFinalizeGrace.count()) + " s)");
  } else if (done->timed_out) {
    std::printf("\n    TIMED OUT after %d s (--timeout); the job was torn down; last output:\n%s",
                o.timeout_s, tail_lines(done->output, 6).c_str());
    trouble("timed out after " + std::to_string(o.timeout_s) + " s (--timeout), " +
            std::to_string(count) + " figures printed");
  } else if (done->exit_status != 0 || !finished) {
    std::printf("\n    FAILED: exit status %d%s; last output:\n%s", done->exit_status,
                finished ? "" : ", no 'done' line", tail_lines(done->output, 6).c_str());
    trouble("exit status " + std::to_string(done->exit_status) + ", " + std::to_string(count) +
            " figures printed");
  } else {
    std::printf(" (%d figures)\n", count);
  }
  if (!errors.empty()) std::printf("%s", errors.c_str());
  if (o.show_output) std::printf("%s", tail_lines(done->output, 1'000).c_str());
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  Options o;
  o.source = NEXO_MPI_BENCH_SOURCE;
  if (auto status = begin_run(flags(o), argc, argv)) return *status;
  if (::access(o.source.c_str(), R_OK) != 0) {
    std::fprintf(stderr,
                 "bench_mpi: cannot read the benchmark program %s (give it with --source)\n",
                 o.source.c_str());
    return 2;
  }
  std::printf("bench_mpi: nexo's MPI beside Open MPI and MPICH, one source (%s), 2 and 4 ranks%s\n",
              o.source.c_str(), o.quick ? " (--quick: a smoke run, numbers are rough)" : "");
  print_machine();
  const auto start = Clock::now();
  std::array<char, 32> dir_template{};
  std::snprintf(dir_template.data(), dir_template.size(), "/tmp/bench_mpi.XXXXXX");
  if (::mkdtemp(dir_template.data()) == nullptr) {
    std::fprintf(stderr, "bench_mpi: mkdtemp /tmp/bench_mpi.XXXXXX failed\n");
    return 1;
  }
  const std::string dir = dir_template.data();
  auto mpis = find_mpis(o);
  compile_all(mpis, o, dir);
  std::vector<Config> configs;
  for (std::size_t i = 0; i < mpis.size(); ++i) {
    for (Transport t : o.transports) {
      for (int ranks : {2, 4}) {
        if (ranks == 4 && !o.four_ranks) continue;
        configs.push_back({i, t, ranks});
      }
    }
  }
  print_setup(mpis, configs, o);

  const double floor_us = cache_line_floor_us(o.floor_trips, 5);
  std::printf(
      "\ncache-line floor: %s us one way between two processes on cpus %s (RTT/2 of a "
      "ping-pong on one shared atomic, median of 5 x %d round trips)\n\n",
      floor_us > 0 ? std::to_string(floor_us).substr(0, 6).c_str() : "not measured",
      startup_cpus().size() >= 2
          ? (std::to_string(startup_cpus()[0]) + "," + std::to_string(startup_cpus()[1])).c_str()
          : "-",
      o.floor_trips);
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    if (mpis[configs[i].mpi].missing.empty()) order.push_back(i);
  }
  Results results;
  int round = 0;
  static_cast<void>(rotate_rounds(o.rounds, order, [&](std::size_t i) -> Result<void> {
    const Config& c = configs[i];
    run_one(mpis[c.mpi], c, o, round, results);
    if (i == order[(static_cast<std::size_t>(round) + order.size() - 1) % order.size()]) ++round;
    return ok();
  }));
  print_table(mpis, o, results, floor_us);
  for (const Mpi& m : mpis) {
    if (!m.program.empty()) ::unlink(m.program.c_str());
  }
  ::rmdir(dir.c_str());
  print_end(start);
  return 0;
}

}  // namespace
}  // namespace nexo::bench::mpi

int main(int argc, char** argv) {
  return nexo::bench::mpi::run(argc, argv);
}
