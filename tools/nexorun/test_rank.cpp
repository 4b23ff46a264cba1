// nexorun_test_rank — a rank for nexorun's tests, written against the control protocol directly
// (no MPI runtime): reads its environment, opens its host's segment, says HELLO, gets the TABLE,
// prints a line, then does what its arguments say.
//
//   nexorun_test_rank DEFAULT [R=MODE ...]     rank R does MODE, every other rank DEFAULT
//
// Modes:
//   ok         finalized, exit 0            exit:N     exit N without finalized
//   abort:N    MPI_Abort(N), then wait      segv       crash with SIGSEGV
//   hang       wait for ever                nohello    never connect; wait for ever
//   child      fork a child that waits (prints its pid), then wait for ever
//   noisy      a line on stderr, a line without a newline on stdout, then ok
// Lines: "rank R/N host=H local=L/LS shm=S pid=P" (S: the segment's rank count, 0 without one).
// With NEXORUN_TEST_PIDS=DIR each rank writes its pid to DIR/rank-R (a child's to DIR/child-R)
// before anything else, so a test can check that none is left. Under NEXO_MPI_TRACE=PREFIX,
// mode ok writes PREFIX.rank-R.json with one event.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "nexo/mpi/control.hpp"
#include "nexo/mpi/shm_segment.hpp"

namespace {

[[noreturn]] void wait_forever() {
  for (;;)
    ::pause();
}

void write_pid(const char* kind, int rank, pid_t pid) {
  const char* dir = std::getenv("NEXORUN_TEST_PIDS");
  if (dir == nullptr) return;
  const std::string path = std::string(dir) + "/" + kind + "-" + std::to_string(rank);
  if (FILE* f = std::fopen(path.c_str(), "w")) {
    std::fprintf(f, "%d\n", static_cast<int>(pid));
    std::fclose(f);
  }
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "test rank: %s\n", what.c_str());
  std::exit(99);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace nexo;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto env = mpi::read_rank_env();
  if (!env) die(env.error().message());
  if (!env->has_value()) die("not started by nexorun (no NEXO_MPI_RANK)");
  const mpi::RankEnv& e = **env;
  std::string mode = argc > 1 ? argv[1] : "ok";
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq != std::string::npos && a.substr(0, eq) == std::to_string(e.rank))
      mode = a.substr(eq + 1);
  }
  write_pid("rank", e.rank, ::getpid());
  if (mode == "nohello") wait_forever();

  int shm_ranks = 0;
  if (e.shm) {
    auto segment = mpi::ShmSegment::open_spec(*e.shm);
    if (!segment) die("opening " + *e.shm + ": " + segment.error().message());
    shm_ranks = segment->nranks();
    if (shm_ranks != e.local_size) die("segment of " + std::to_string(shm_ranks) + " ranks");
  }
  auto client = mpi::ControlClient::connect(e.control, std::chrono::seconds(30));
  if (!client) die(client.error().message());
  mpi::Hello hello{e.job, e.rank, e.size, ::getpid(), e.host, e.bind + ":1"};
  auto table = client->exchange(hello, std::chrono::seconds(120));
  if (!table) die(table.error().message());
  if ((*table)[static_cast<std::size_t>(e.rank)].pid != ::getpid())
    die("the TABLE has another pid");
  std::printf("rank %d/%d host=%s local=%d/%d shm=%d pid=%d\n", e.rank, e.size, e.host.c_str(),
              e.local_rank, e.local_size, shm_ranks, static_cast<int>(::getpid()));

  if (mode == "ok" || mode == "noisy") {
    if (mode == "noisy") {
      std::fprintf(stderr, "rank %d on stderr\n", e.rank);
      std::printf("rank %d unterminated", e.rank);
      std::fflush(stdout);
    }
    if (e.trace) {
      const std::string path = *e.trace + ".rank-" + std::to_string(e.rank) + ".json";
      if (FILE* f = std::fopen(path.c_str(), "w")) {
        std::fprintf(f, "[{\"name\":\"test\",\"ph\":\"i\",\"ts\":0,\"pid\":%d,\"tid\":0}]\n",
                     e.rank);
        std::fclose(f);
      }
    }
    if (auto f = client->finalized(); !f) die(f.error().message());
    return 0;
  }
  if (mode.starts_with("exit:")) return std::atoi(mode.c_str() + 5);
  if (mode.starts_with("abort:")) {
    if (auto a = client->abort(std::atoi(mode.c_str() + 6), "the test said so"); !a)
      die(a.error().message());
    wait_forever();
  }
  if (mode == "segv") {
    ::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn it into an abort
    ::raise(SIGSEGV);
    wait_forever();
  }
  if (mode == "child") {
    const pid_t child = ::fork();
    if (child == 0) wait_forever();
    write_pid("child", e.rank, child);
    std::printf("child pid=%d\n", static_cast<int>(child));
    wait_forever();
  }
  if (mode == "hang") wait_forever();
  die("unknown mode '" + mode + "'");
}
