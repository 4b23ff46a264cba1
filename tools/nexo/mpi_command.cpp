// nexo mpi demo: N MPI ranks on this host (processes sharing one memory segment) walk through
// the ideas of message passing: eager and rendezvous sends, standard and synchronous mode,
// wildcards and ordering, collectives, split communicators. Rank 0 narrates.
//
// The demo launches its ranks itself (it re-executes this program as `nexo mpi demo-rank` with
// the environment nexorun would give), so it needs nothing but the nexo binary.
#include <mpi.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "nexo/mpi/runtime.hpp"
#include "nexo/mpi/shm_segment.hpp"

namespace nexo::tool {
namespace {

constexpr std::size_t kRingBytes = 64 * 1024;
constexpr int kTrips = 20;

// A counter snapshot one rank sends another (the engine's counters).
struct Counts {
  unsigned long long eager = 0;
  unsigned long long rendezvous = 0;
  unsigned long long pulls = 0;
  unsigned long long fallbacks = 0;
  unsigned long long frames = 0;
};

Counts counts_now() {
  const auto& c = mpi::runtime()->engine().counters();
  return {c.eager_sends, c.rendezvous_sends, c.pulls, c.pull_fallbacks,
          c.frames_sent + c.frames_received};
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void fail(const char* what) {
  std::fprintf(stderr, "nexo mpi demo: %s\n", what);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

void point_to_point(int rank) {
  if (rank == 0)
    std::printf(
        "  point to point, rank 0 -> rank 1 -> rank 0 (MPI_Send, MPI_Recv; the best of %d "
        "round trips):\n",
        kTrips);
  for (int size : {8, 32 * 1024, 1 << 20}) {
    std::vector<char> buffer(static_cast<std::size_t>(size), 'x');
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
      const Counts before = counts_now();
      // The best of a few round trips: the first one also pays for warming up (page faults,
      // the peer not yet polling).
      double rtt = 1e30;
      for (int trip = 0; trip < kTrips; ++trip) {
        const auto t0 = std::chrono::steady_clock::now();
        MPI_Send(buffer.data(), size, MPI_CHAR, 1, 0, MPI_COMM_WORLD);
        MPI_Recv(buffer.data(), size, MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        rtt = std::min(rtt, ms_since(t0) * 1000);
      }
      const Counts after = counts_now();
      Counts peer{};
      MPI_Recv(&peer, sizeof peer, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      std::string how;
      if (after.eager > before.eager) {
        how = "eager: one frame, copied into the ring and out at the receiver";
      } else if (peer.pulls > 0) {
        how = "rendezvous: RTS; rank 1 pulled the bytes from rank 0's memory (one copy), FIN";
      } else {
        how = "rendezvous: RTS, CTS, then DATA frames through the ring";
      }
      std::printf("    %8d B  %-80s round trip %8.1f us\n", size, how.c_str(), rtt);
    } else if (rank == 1) {
      const Counts before = counts_now();
      for (int trip = 0; trip < kTrips; ++trip) {
        MPI_Recv(buffer.data(), size, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buffer.data(), size, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
      }
      Counts after = counts_now();
      Counts delta{after.eager - before.eager, after.rendezvous - before.rendezvous,
                   after.pulls - before.pulls, after.fallbacks - before.fallbacks,
                   after.frames - before.frames};
      MPI_Send(&delta, sizeof delta, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
    }
  }
}

void send_modes(int rank) {
  constexpr int kLateMs = 30;
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    std::printf("  send modes, rank 1 posting its receive %d ms late:\n", kLateMs);
    int value = 1;
    auto t0 = std::chrono::steady_clock::now();
    MPI_Send(&value, 1, MPI_INT, 1, 2, MPI_COMM_WORLD);
    std::printf(
        "    MPI_Send   returned after %6.2f ms (eager: the message waits at rank 1, "
        "unexpected)\n",
        ms_since(t0));
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = std::chrono::steady_clock::now();
    MPI_Ssend(&value, 1, MPI_INT, 1, 3, MPI_COMM_WORLD);
    std::printf(
        "    MPI_Ssend  returned after %6.2f ms (synchronous: once rank 1's receive "
        "matched)\n",
        ms_since(t0));
  } else if (rank == 1) {
    int value = 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(kLateMs));
    MPI_Recv(&value, 1, MPI_INT, 0, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Barrier(MPI_COMM_WORLD);
    std::this_thread::sleep_for(std::chrono::milliseconds(kLateMs));
    MPI_Recv(&value, 1, MPI_INT, 0, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } else {
    MPI_Barrier(MPI_COMM_WORLD);
  }
}

void wildcards(int rank, int size) {
  constexpr int kEach = 3;
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank != 0) {
    for (int i = 0; i < kEach; ++i)
      MPI_Send(&i, 1, MPI_INT, 0, 4, MPI_COMM_WORLD);
    return;
  }
  std::printf(
      "  MPI_ANY_SOURCE: rank 0 takes messages as they come (sender:number); each\n"
      "  sender's stay in order (non-overtaking), senders interleave:\n    ");
  std::vector<int> next(static_cast<std::size_t>(size), 0);
  for (int k = 0; k < kEach * (size - 1); ++k) {
    int i = -1;
    MPI_Status status;
    MPI_Recv(&i, 1, MPI_INT, MPI_ANY_SOURCE, 4, MPI_COMM_WORLD, &status);
    if (i != next[static_cast<std::size_t>(status.MPI_SOURCE)]++)
      fail("a sender's messages overtook");
    std::printf("%d:%d ", status.MPI_SOURCE, i);
  }
  std::printf("\n");
}

void collectives(int rank, int size) {
  int sum = 0;
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (sum != size * (size - 1) / 2) fail("MPI_Allreduce gave a wrong sum");
  std::vector<double> big(128 * 1024, rank == 0 ? 1.5 : 0.0);  // 1 MiB
  auto t0 = std::chrono::steady_clock::now();
  MPI_Bcast(big.data(), static_cast<int>(big.size()), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  const double bcast_ms = ms_since(t0);
  if (big.back() != 1.5) fail("MPI_Bcast did not arrive");
  int ranks[64] = {};
  MPI_Gather(&rank, 1, MPI_INT, ranks, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Comm half = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
  int half_rank = 0;
  int half_size = 0;
  MPI_Comm_rank(half, &half_rank);
  MPI_Comm_size(half, &half_size);
  int half_sum = 0;
  MPI_Allreduce(&rank, &half_sum, 1, MPI_INT, MPI_SUM, half);
  int sums[64] = {};
  MPI_Gather(&half_sum, 1, MPI_INT, sums, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Comm_free(&half);
  if (rank != 0) return;
  std::printf("  collectives (every rank calls them; the algorithm depends on size and ranks):\n");
  std::printf("    MPI_Allreduce(rank, MPI_SUM) = %d at every rank (recursive doubling)\n", sum);
  std::printf(
      "    MPI_Bcast of 1 MiB from rank 0 in %.2f ms (%s)\n", bcast_ms,
      size >= 4 ? "scatter, then ring allgather: about 2 MiB moved per rank" : "binomial tree");
  std::printf("    MPI_Gather of the ranks at rank 0:");
  for (int r = 0; r < size; ++r)
    std::printf(" %d", ranks[r]);
  std::printf(
      "\n    MPI_Comm_split by rank %% 2: even ranks sum to %d, odd ranks to %d, each "
      "on its own communicator\n",
      sums[0], size > 1 ? sums[1] : 0);
}

}  // namespace

int mpi_demo_rank() {
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) return 1;
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank == 0)
    std::printf(
        "  %d ranks: %d processes sharing one memory segment, a ring of %zu KiB per ordered "
        "pair of ranks\n",
        size, size, kRingBytes / 1024);
  std::fflush(stdout);
  if (size >= 2) {
    point_to_point(rank);
    send_modes(rank);
    wildcards(rank, size);
  }
  collectives(rank, size);
  std::fflush(stdout);
  MPI_Finalize();
  return 0;
}

int mpi_demo(const MpiDemoArgs& args) {
  if (args.ranks < 1 || args.ranks > 64) {
    std::fprintf(stderr, "nexo mpi demo: -n %d: the demo runs 1 to 64 ranks\n", args.ranks);
    return 2;
  }
  auto segment = mpi::ShmSegment::create(args.ranks, kRingBytes);
  if (!segment) {
    std::fprintf(stderr, "nexo mpi demo: %s\n", segment.error().to_string().c_str());
    return 1;
  }
  std::fflush(stdout);
  std::vector<pid_t> pids;
  for (int r = 0; r < args.ranks; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("nexo mpi demo: fork");
      for (pid_t p : pids)
        ::kill(p, SIGKILL);
      for (pid_t p : pids)
        ::waitpid(p, nullptr, 0);
      return 1;
    }
    if (pid == 0) {
      ::setenv("NEXO_MPI_RANK", std::to_string(r).c_str(), 1);
      ::setenv("NEXO_MPI_SIZE", std::to_string(args.ranks).c_str(), 1);
      ::setenv("NEXO_MPI_SHM", segment->spec().c_str(), 1);
      ::setenv("NEXO_MPI_LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("NEXO_MPI_LOCAL_SIZE", std::to_string(args.ranks).c_str(), 1);
      ::unsetenv("NEXO_MPI_TRANSPORT");
      const char* argv[] = {"nexo", "mpi", "demo-rank", nullptr};
      ::execv("/proc/self/exe", const_cast<char* const*>(argv));
      std::perror("nexo mpi demo: exec /proc/self/exe");
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  // The first rank that fails ends the others (they would wait for it forever).
  int result = 0;
  std::size_t left = pids.size();
  std::vector<bool> done(pids.size(), false);
  while (left > 0) {
    for (std::size_t r = 0; r < pids.size(); ++r) {
      int status = 0;
      if (done[r] || ::waitpid(pids[r], &status, WNOHANG) != pids[r]) continue;
      done[r] = true;
      --left;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code != 0 && result == 0) {
        result = code;
        std::fprintf(stderr, "nexo mpi demo: rank %zu failed (exit status %d)\n", r, code);
        for (std::size_t k = 0; k < pids.size(); ++k)
          if (!done[k]) ::kill(pids[k], SIGKILL);
      }
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return result;
}

}  // namespace nexo::tool
