// bench_mpi's parts: the MPIs it drives (discovery, compile and launch command
// lines), a child command run under a deadline, the cache-line floor, and the
// table. bench_mpi.cpp says what is measured and how.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "../harness.hpp"

namespace nexo::bench::mpi {

enum class Transport { shm, tcp };
const char* transport_name(Transport t);  // "shm", "TCP"

struct Options {
  int rounds = 3;       // runs of every configuration; the table shows their median
  int reps = 5;         // repetitions inside one run (mpi_bench.c --reps); it prints their median
  int target_ms = 200;  // one repetition's duration (mpi_bench.c --target-ms)
  int warmup = 1000;    // the most warm-up iterations of a measurement (mpi_bench.c --warmup)
  int timeout_s = 300;  // one run's limit, after which the job is torn down
  int floor_trips = 200'000;  // cache-line round trips of the floor, per repetition
  bool quick = false;
  bool show_output = false;
  bool four_ranks = true;
  std::string nexo_bin_dir;  // nexocc and nexorun; empty: next to bench_mpi
  std::string source;        // mpi_bench.c
  std::vector<Transport> transports{Transport::shm, Transport::tcp};
  ImplChoice impls{{"nexo", "openmpi", "mpich"}};
};

// One MPI implementation: its compiler wrapper and launcher, or why it cannot run.
struct Mpi {
  std::string key;      // "nexo", "openmpi", "mpich" (the names of --impls)
  std::string label;    // "nexo", "Open MPI", "MPICH"
  std::string cc, run;  // paths of the wrapper and the launcher
  std::string missing;  // not empty: not available, and why
  std::string program;  // mpi_bench.c compiled with cc
  std::string version;  // the launcher's first --version line
};

// nexo, Open MPI, MPICH, in that order (the indices of Options::impls), each
// found or with the reason it is missing.
std::vector<Mpi> find_mpis(const Options& o);

// A job's command line and the environment variables it adds.
struct Launch {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // NAME=VALUE
  std::string why;               // what the flags are for, printed under the command
  std::string describe() const;  // "NAME=V ... argv..."
};
// How `mpi` runs `ranks` ranks of `program` (with `args`) over `transport`.
Launch launch_of(const Mpi& mpi, Transport transport, int ranks, const std::string& program,
                 const std::vector<std::string>& args);

// --- running a child ------------------------------------------------------------------------

struct CommandResult {
  int exit_status = -1;  // the exit code; 128 + N after signal N; -1: not known
  bool timed_out = false;
  bool marker_seen = false;  // the marker line appeared (then `grace` applied)
  std::string output;        // stdout and stderr, interleaved (at most 1 MiB kept)
};
// Runs argv (argv[0] searched on PATH) with `env` added to this process's
// environment, stdin from /dev/null, until it exits or `limit` passes, or
// `grace` after a line equal to `marker` appeared in its output (when marker
// is not empty: a job whose last figure is out but that hangs in
// MPI_Finalize); then SIGTERM to its process group (mpirun and hydra tear
// their ranks down on it), SIGKILL 5 s later, and SIGKILL to any process
// still holding its output pipe (ranks the launcher left behind: they are this
// run's children). Error: the pipe or fork failed.
Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env, std::chrono::seconds limit,
                                  const std::string& marker = {},
                                  std::chrono::seconds grace = std::chrono::seconds(0));
// The last `lines` lines of `text`, each indented.
std::string tail_lines(const std::string& text, int lines);

// --- the cache-line floor -------------------------------------------------------------------

// One-way time (us) for a cache line to pass between two processes bound to
// the first two cpus of this process's mask: a ping-pong on one shared atomic,
// RTT/2, median of `reps` repetitions of `trips` round trips. 0 when it could
// not be measured (fewer than 2 cpus, a failed fork, or 10 s passed).
double cache_line_floor_us(int trips, int reps);

// --- the table ------------------------------------------------------------------------------

// Figures of one MPI over one transport: "latency_us 8" -> one value per round.
using Figures = std::map<std::string, Spread>;
struct Results {
  std::map<std::pair<std::size_t, Transport>, Figures> figures;  // (mpi index, transport)
  // (mpi index, transport, ranks) -> what went wrong in some round: its
  // figures (those it printed) are marked "*" in the table.
  std::map<std::tuple<std::size_t, Transport, int>, std::string> trouble;
};

// The table of the issue with a nexo column, then per row the ratios to the
// best anchor and the target for that row.
void print_table(const std::vector<Mpi>& mpis, const Options& o, const Results& results,
                 double floor_us);

}  // namespace nexo::bench::mpi
