// RankProcesses — the ranks of one host: made (fork, exec), watched (their output, their exit)
// and ended. The launcher uses one for this machine's ranks; an agent for its host's.
//
// Each rank is the leader of its own process group (so ending it ends whatever it started),
// gets PR_SET_PDEATHSIG(SIGKILL) (if nexorun dies, its ranks die with it), /dev/null as stdin,
// and a pipe for stdout and one for stderr, read in whole lines. The host's shared segment is
// made here, one memfd for every rank of the host, inherited by each.
//
// Thread contract: the event loop's thread only. Neither copied nor moved (it registers
// watchers with the loop).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nexo/io/event_loop.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/mpi/control.hpp"
#include "nexo/mpi/shm_segment.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::run {

// What a host's ranks are started with.
struct LaunchSpec {
  std::string job;
  int world_size = 0;
  std::string control;  // NEXO_MPI_CONTROL
  std::string host;     // NEXO_MPI_HOST
  std::string bind;     // NEXO_MPI_BIND
  mpi::RankTransport transport = mpi::RankTransport::automatic;
  std::string trace;           // NEXO_MPI_TRACE ("": none)
  std::size_t ring_bytes = 0;  // 0: default_ring_bytes(ranks on the host)
  std::string program;         // resolved on this host by start()
  // The ranks' working directory ("": the starter's own). A relative program path is taken
  // from it. The launcher sends its own; an agent keeps it only where this host has it.
  std::string cwd;
  std::vector<std::string> args;
  std::vector<int> ranks;  // the world ranks of this host, in local-rank order
};

// How a rank ended.
struct ExitStatus {
  bool signaled = false;
  int value = 0;  // the exit code, or the signal number
  // 0..255 for an exit code, 128+N for a signal (what a shell reports).
  int shell_code() const noexcept { return signaled ? 128 + value : value; }
};

// "killed by signal 11 (Segmentation fault)" / "exited with status 3".
std::string describe(const ExitStatus& status);

class RankProcesses {
 public:
  struct Events {
    // A whole line (without its newline) the rank wrote to stdout (stream 1) or stderr (2).
    std::function<void(int rank, int stream, std::string_view line)> output;
    // The rank ended; its output before the end was delivered first.
    std::function<void(int rank, ExitStatus status)> exited;
  };

  RankProcesses(io::EventLoop& loop, Events events);
  RankProcesses(const RankProcesses&) = delete;
  RankProcesses& operator=(const RankProcesses&) = delete;
  ~RankProcesses();

  // Makes the segment and starts every rank of `spec`. Errors name the cause (program missing
  // here, the segment refused, out of processes); ranks already started are then killed.
  Result<void> start(const LaunchSpec& spec);
  // Reaps the ranks that ended (call on SIGCHLD). Delivers `exited` for each.
  void reap();
  // Ends every live rank: SIGTERM to its process group, SIGKILL `grace` later. Idempotent.
  void terminate(std::chrono::milliseconds grace);
  bool all_exited() const noexcept;
  bool has(int rank) const noexcept;
  pid_t pid_of(int rank) const noexcept;
  std::vector<std::pair<int, pid_t>> pids() const;

 private:
  struct Stream {
    net::FileDescriptor fd;
    std::unique_ptr<io::IoWatcher> watcher;
    std::string partial;
  };
  struct Rank {
    int world_rank = 0;
    pid_t pid = -1;
    bool exited = false;
    Stream out, err;
  };

  Result<void> spawn(Rank& rank, const LaunchSpec& spec, const std::string& path, int local_rank,
                     const std::string& shm_spec, int local_size);
  void on_readable(Rank& rank, int stream);
  // Reads what a pipe holds now; at EOF (or when `final`) flushes the partial line and closes.
  void drain(Rank& rank, int stream, bool final);
  void kill_groups(int signal) noexcept;

  io::EventLoop& loop_;
  Events events_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::optional<mpi::ShmSegment> segment_;
  io::Timer kill_timer_;
  bool terminating_ = false;
};

}  // namespace nexo::run
