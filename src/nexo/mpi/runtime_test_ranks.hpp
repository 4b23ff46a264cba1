// A tiny launcher for the runtime's tests: N ranks as forked processes on one shared segment,
// each running a function of the test and exiting 0 when every check held. It stands in for
// nexorun (the segment, the environment, the exit statuses, a hang guard).
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "nexo/mpi/shm_segment.hpp"

namespace nexo::mpi::testing {

// A failed check in a rank: say where, exit non-zero.
#define RANK_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "rank check failed %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::fflush(stderr);                                                              \
      ::_exit(2);                                                                       \
    }                                                                                   \
  } while (0)

// Runs `body(rank, size)` in `n` processes joined by one segment; returns their exit statuses
// (-signal for a signal, 255 when the hang guard had to kill it).
inline std::vector<int> run_ranks(int n, const std::function<void(int, int)>& body,
                                  std::size_t ring_bytes = 64 * 1024) {
  auto segment = ShmSegment::create(n, ring_bytes);
  EXPECT_TRUE(segment) << (segment ? "" : segment.error().to_string());
  if (!segment) return {};
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("NEXO_MPI_RANK", std::to_string(r).c_str(), 1);
      ::setenv("NEXO_MPI_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("NEXO_MPI_SHM", segment->spec().c_str(), 1);
      ::setenv("NEXO_MPI_LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("NEXO_MPI_LOCAL_SIZE", std::to_string(n).c_str(), 1);
      RANK_CHECK(MPI_Init(nullptr, nullptr) == MPI_SUCCESS);
      body(r, n);
      RANK_CHECK(MPI_Finalize() == MPI_SUCCESS);
      std::fflush(stdout);
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  std::vector<int> statuses(static_cast<std::size_t>(n), 255);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int left = n;
  while (left > 0) {
    for (int r = 0; r < n; ++r) {
      auto& pid = pids[static_cast<std::size_t>(r)];
      if (pid == 0) continue;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        statuses[static_cast<std::size_t>(r)] =
            WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        pid = 0;
        --left;
      }
    }
    if (left > 0 && std::chrono::steady_clock::now() > deadline) {
      for (pid_t pid : pids)
        if (pid != 0) ::kill(pid, SIGKILL);
      for (pid_t pid : pids)
        if (pid != 0) ::waitpid(pid, nullptr, 0);
      ADD_FAILURE() << "ranks hung (killed after 60 s)";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return statuses;
}

inline void expect_all_zero(const std::vector<int>& statuses) {
  for (std::size_t r = 0; r < statuses.size(); ++r)
    EXPECT_EQ(statuses[r], 0) << "rank " << r;
}

}  // namespace nexo::mpi::testing
