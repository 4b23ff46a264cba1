// Job — one nexorun job (launcher.hpp says how a job ends): the launcher's state and its event
// handlers. job.cpp has the job itself and this machine's ranks; job_remote.cpp the hosts whose
// ranks an agent starts (agent://, ssh). Loop thread only; one per process.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent_protocol.hpp"
#include "channel.hpp"
#include "nexo/io/event_loop.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/mpi/control.hpp"
#include "nexo/net/file_descriptor.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "options.hpp"
#include "rank_processes.hpp"
#include "signals.hpp"

namespace nexo::run {

inline constexpr std::chrono::milliseconds kGrace{3000};
inline constexpr std::chrono::seconds kAgentConnectTimeout{10};

// One line on stderr: "nexorun: <line>".
void say(const std::string& line);
// "rank 2" / "ranks 2, 3".
std::string ranks_phrase(const std::vector<int>& ranks);

struct RankState {
  int host = 0;
  pid_t pid = 0;
  bool hello = false;
  bool finalized = false;
  bool exited = false;
};

struct RankConnection {
  std::unique_ptr<Channel> channel;
  int rank = -1;  // after its HELLO
};

// A host whose ranks an agent starts.
struct AgentLink {
  int host = 0;
  std::unique_ptr<Channel> channel;
  std::string control;  // NEXO_MPI_CONTROL for the ranks there
  bool closed = false;
  bool started = false;  // the agent said STARTED (or FAILED): it was reached
  // Through ssh: the ssh process and its stderr (its lines are passed on; the last one names
  // the cause when ssh could not reach the host).
  pid_t ssh_pid = -1;
  net::FileDescriptor ssh_err;
  std::unique_ptr<io::IoWatcher> err_watcher;
  std::string err_partial, last_err_line;
};

class Job {
 public:
  Job(const Options& options, std::unique_ptr<io::EventLoop> loop)
      : options_(options), loop_(std::move(loop)) {}
  int run();

 private:
  Result<void> prepare();
  Result<void> listen();
  Result<void> connect_agents();
  Result<void> start_local();
  LaunchSpec spec_for(int host, std::string control, std::string bind) const;
  void accept_ranks();
  void on_rank_message(RankConnection& c, mpi::ControlMessage m);
  void on_hello(RankConnection& c, std::span<const std::byte> body);
  void on_agent_message(AgentLink& a, mpi::ControlMessage m);
  void on_agent_closed(AgentLink& a, const Error& why);
  Result<void> add_agent(int host, std::unique_ptr<AgentLink> link);
  Result<void> start_ssh_agent(int host);
  void read_ssh_stderr(AgentLink& a, bool final);
  void reap_ssh(bool wait);
  void on_output(int rank, int stream, std::string_view line);
  void on_exit(int rank, ExitStatus status);
  void check_startup();
  void on_init_timeout();
  void on_signal(int signal);
  void fail(int code, const std::string& message);
  bool everything_ended() const;
  bool ranks_ended() const;
  void arm_give_up();
  void merge_trace();
  void write_trace_chunk(const TraceChunk& t);
  std::string where(int rank) const;

  const Options& options_;
  std::unique_ptr<io::EventLoop> loop_;
  std::unique_ptr<SignalWatch> signals_;
  std::string job_;
  std::vector<HostSpec> hosts_;
  std::vector<int> placement_;  // world rank -> host
  std::vector<RankState> ranks_;
  std::optional<mpi::HelloCollector> hellos_;
  bool table_sent_ = false;
  std::optional<net::TcpListener> listener_;
  std::unique_ptr<io::IoWatcher> accept_watcher_;
  std::vector<std::unique_ptr<RankConnection>> connections_;
  std::vector<std::unique_ptr<AgentLink>> agents_;
  std::unique_ptr<RankProcesses> local_;
  int local_host_ = -1;
  std::string local_bind_ = "127.0.0.1";
  std::string cwd_;  // ours: where the ranks start, on every host that has it
  std::string trace_dir_, trace_prefix_;
  std::unique_ptr<io::Timer> init_timer_, job_timer_, give_up_timer_;
  bool failed_ = false;
  bool gave_up_ = false;
  int code_ = 0;
};

}  // namespace nexo::run
