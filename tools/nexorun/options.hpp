// nexorun's command line, its host lists, and where each rank runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/mpi/control.hpp"

namespace nexo::run {

// How the ranks of a host are started.
enum class HostKind {
  local,  // this machine: nexorun forks them itself
  ssh,    // `ssh -o BatchMode=yes HOST nexorun --agent-stdio` starts them
  agent,  // a `nexorun --agent --listen IP:PORT` already running there ("agent://IP:PORT")
};

struct HostSpec {
  std::string name;  // as the user wrote it (without agent:// and slots): NEXO_MPI_HOST
  HostKind kind = HostKind::local;
  std::string address;  // agent: "IP:PORT"; ssh: the host for ssh
  int slots = 1;
};

enum class Mode { launch, agent, agent_stdio };

struct Options {
  Mode mode = Mode::launch;
  int nranks = 0;
  std::vector<HostSpec> hosts;  // empty: every rank on this machine
  bool tag_output = false;
  std::optional<std::chrono::seconds> timeout;
  std::chrono::seconds init_timeout{30};
  std::optional<std::string> trace;
  mpi::RankTransport transport = mpi::RankTransport::automatic;
  std::size_t ring_bytes = 0;  // 0: chosen by the ranks per host (default_ring_bytes)
  std::uint16_t port = 0;      // the control listener's port (0: any free one)
  std::string agent_listen;    // --agent --listen IP:PORT
  std::string program;
  std::vector<std::string> args;
};

// Parses argv (without argv[0]). invalid_argument with a one-line message naming the option.
Result<Options> parse_options(const std::vector<std::string>& argv);
// The usage text (--help).
std::string usage();

// "h1:2,h2,agent://127.0.0.2:4000:2" (--host).
Result<std::vector<HostSpec>> parse_host_list(std::string_view text);
// Hostfile lines "h1 slots=2", "agent://127.0.0.2:4000 slots=2"; '#' comments, blank lines.
Result<std::vector<HostSpec>> parse_hostfile(std::string_view text, std::string_view path);

// Which host each world rank runs on (indices into `hosts`): by slot, filling each host's slots
// in order (as Open MPI maps by slot), then, for ranks beyond the slots, round robin over the
// hosts (oversubscribed: more ranks than cores is fine).
std::vector<int> place_ranks(int nranks, const std::vector<HostSpec>& hosts);

// The default size of each ring of a host's segment for `local_size` ranks: 256 KiB per ordered
// pair, halved while the rings would take more than 256 MiB in all (64 ranks: 64 KiB), never
// below 16 KiB.
std::size_t default_ring_bytes(int local_size);

// Where `program` is: itself if it holds a '/', else the first executable in $PATH. A relative
// result is taken from `dir` when that is not empty (the ranks' working directory, which may not
// be ours): the path returned is then `dir`/... The error names the cause and the fix (missing,
// not executable, a directory).
Result<std::string> find_program(const std::string& program, const std::string& dir = {});

}  // namespace nexo::run
