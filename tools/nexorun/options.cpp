#include "options.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace nexo::run {
namespace {

Error usage_error(std::string message) {
  return Error(ErrorKind::invalid_argument, std::move(message) + " (see nexorun --help)");
}

std::optional<long long> parse_number(std::string_view text, long long low, long long high) {
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < low || value > high)
    return std::nullopt;
  return value;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// One host as written: "name", "name:SLOTS", "agent://IP:PORT", "agent://IP:PORT:SLOTS".
Result<HostSpec> parse_host(std::string_view text, std::optional<int> slots_given) {
  HostSpec h;
  std::string_view rest = text;
  constexpr std::string_view kAgent = "agent://";
  std::optional<int> slots = slots_given;
  auto take_slots = [&](std::string_view& s) -> Result<void> {
    const auto colon = s.rfind(':');
    const auto bracket = s.rfind(']');
    if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket))
      return ok();
    auto n = parse_number(s.substr(colon + 1), 1, mpi::kMaxWorldSize);
    if (!n) {
      return usage_error("host '" + std::string(text) + "': '" + std::string(s.substr(colon + 1)) +
                         "' is not a slot count in 1..4096");
    }
    if (slots) return usage_error("host '" + std::string(text) + "': slots given twice");
    slots = static_cast<int>(*n);
    s = s.substr(0, colon);
    return ok();
  };
  if (rest.starts_with(kAgent)) {
    rest.remove_prefix(kAgent.size());
    h.kind = HostKind::agent;
    // IP:PORT[:SLOTS]: slots are there when two colons follow the address (IPv4) or one
    // follows the bracket (IPv6).
    const auto bracket = rest.starts_with("[") ? rest.find(']') : std::string_view::npos;
    const std::string_view tail = bracket == std::string_view::npos ? rest : rest.substr(bracket);
    if (std::count(tail.begin(), tail.end(), ':') >= 2) {
      if (auto r = take_slots(rest); !r) return r.error();
    }
    auto hp = mpi::split_host_port(rest);
    if (!hp) return usage_error("agent host '" + std::string(text) + "': " + hp.error().message());
    h.address = std::string(rest);
    h.name = std::string(rest);
  } else {
    if (auto r = take_slots(rest); !r) return r.error();
    if (rest.empty()) return usage_error("an empty host name in '" + std::string(text) + "'");
    h.name = std::string(rest);
    h.address = h.name;
    h.kind = HostKind::ssh;  // local ones are recognised later (is_local_host)
  }
  if (h.name.size() > mpi::kMaxHostName)
    return usage_error("host name '" + h.name + "' is too long");
  h.slots = slots.value_or(1);
  return h;
}

// Whether `name` is this machine (started without ssh).
bool is_local_host(const std::string& name) {
  if (name == "localhost" || name == "127.0.0.1" || name == "::1") return true;
  char self[256] = {};
  if (::gethostname(self, sizeof self - 1) == 0 && name == self) return true;
  return false;
}

// Merges repeated names (their slots add up) and marks this machine's names local.
std::vector<HostSpec> normalise(std::vector<HostSpec> hosts) {
  std::vector<HostSpec> out;
  for (auto& h : hosts) {
    if (h.kind == HostKind::ssh && is_local_host(h.name)) h.kind = HostKind::local;
    bool merged = false;
    for (auto& o : out) {
      if (o.name == h.name && o.kind == h.kind) {
        o.slots += h.slots;
        merged = true;
      }
    }
    if (!merged) out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

Result<std::vector<HostSpec>> parse_host_list(std::string_view text) {
  std::vector<HostSpec> hosts;
  while (!text.empty()) {
    const auto comma = text.find(',');
    auto item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) return usage_error("--host: an empty entry in the list");
    auto h = parse_host(item, std::nullopt);
    if (!h) return h.error();
    hosts.push_back(std::move(*h));
  }
  if (hosts.empty()) return usage_error("--host: no hosts given");
  return normalise(std::move(hosts));
}

Result<std::vector<HostSpec>> parse_hostfile(std::string_view text, std::string_view path) {
  std::vector<HostSpec> hosts;
  int line_number = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_number;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const std::string where = std::string(path) + ":" + std::to_string(line_number);
    const auto space = line.find_first_of(" \t");
    std::string_view name = line.substr(0, space);
    std::optional<int> slots;
    std::string_view rest = space == std::string_view::npos ? "" : trim(line.substr(space));
    while (!rest.empty()) {
      const auto sp = rest.find_first_of(" \t");
      std::string_view word = rest.substr(0, sp);
      rest = sp == std::string_view::npos ? "" : trim(rest.substr(sp));
      if (word.starts_with("slots=")) {
        auto n = parse_number(word.substr(6), 1, mpi::kMaxWorldSize);
        if (!n) return usage_error(where + ": '" + std::string(word) + "': slots must be 1..4096");
        slots = static_cast<int>(*n);
      } else if (word.starts_with("max_slots=")) {
        // Open MPI's upper bound: accepted and ignored (nexorun oversubscribes anyway).
      } else {
        return usage_error(where + ": '" + std::string(word) + "' is not slots=N");
      }
    }
    auto h = parse_host(name, slots);
    if (!h) return std::move(h).error().with_context(where);
    hosts.push_back(std::move(*h));
  }
  if (hosts.empty()) return usage_error(std::string(path) + ": no hosts in the hostfile");
  return normalise(std::move(hosts));
}

std::vector<int> place_ranks(int nranks, const std::vector<HostSpec>& hosts) {
  std::vector<int> out;
  out.reserve(static_cast<std::size_t>(nranks));
  for (std::size_t h = 0; h < hosts.size() && static_cast<int>(out.size()) < nranks; ++h) {
    for (int s = 0; s < hosts[h].slots && static_cast<int>(out.size()) < nranks; ++s)
      out.push_back(static_cast<int>(h));
  }
  for (std::size_t h = 0; static_cast<int>(out.size()) < nranks; h = (h + 1) % hosts.size())
    out.push_back(static_cast<int>(h));
  return out;
}

std::size_t default_ring_bytes(int local_size) {
  std::size_t ring = 256 * 1024;
  const std::size_t pairs =
      static_cast<std::size_t>(local_size) * static_cast<std::size_t>(local_size - 1);
  while (ring > 16 * 1024 && pairs * ring > (std::size_t{256} << 20))
    ring /= 2;
  return ring;
}

Result<std::string> find_program(const std::string& program, const std::string& dir) {
  auto in_dir = [&](const std::string& path) {
    return dir.empty() || path.starts_with('/') ? path : dir + "/" + path;
  };
  auto check = [](const std::string& path) -> Result<void> {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Error::from_errno(errno, path);
    if (S_ISDIR(st.st_mode)) return Error(ErrorKind::invalid_argument, path + " is a directory");
    if (::access(path.c_str(), X_OK) != 0) {
      return Error(ErrorKind::permission_denied,
                   path + " is not executable (chmod +x it, or check the mount allows exec)");
    }
    return ok();
  };
  if (program.empty()) return Error(ErrorKind::invalid_argument, "no program given");
  if (program.find('/') != std::string::npos) {
    const std::string path = in_dir(program);
    if (auto r = check(path); !r) {
      if (r.error().sys_errno() == ENOENT) {
        return Error(ErrorKind::invalid_argument, "program " + program + " does not exist" +
                                                      (path == program ? "" : " in " + dir) +
                                                      " (check the path; build it first?)");
      }
      return Error(r.error().kind(), "program " + r.error().message());
    }
    return path;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::optional<Error> first_problem;
  while (true) {
    const auto colon = path.find(':');
    std::string entry(path.substr(0, colon));
    if (entry.empty()) entry = ".";
    const std::string candidate = in_dir(entry + "/" + program);
    auto r = check(candidate);
    if (r) return candidate;
    if (r.error().sys_errno() != ENOENT && !first_problem) first_problem = r.error();
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  if (first_problem) return Error(first_problem->kind(), "program " + first_problem->message());
  return Error(ErrorKind::invalid_argument, "program '" + program +
                                                "' not found in PATH (give its path, e.g. ./" +
                                                program + ", or add its directory to PATH)");
}

std::string usage() {
  return R"(usage: nexorun -n N [options] PROGRAM [ARGS...]
       nexorun --agent --listen IP:PORT
Starts N ranks of an MPI program (nexo's mpi.h) and wires them up.

  -n, -np N            number of ranks (more ranks than cores is fine)
  --host LIST          hosts to run on: h1,h2:2 (host:slots), agent://IP:PORT[:SLOTS]
  --hostfile FILE      one host a line: "h1 slots=2", "agent://IP:PORT slots=2"
  --tag-output, -l     prefix every output line with "[rank] "
  --timeout SEC        end the whole job after SEC seconds (exit 124)
  --init-timeout SEC   once a rank reached MPI_Init, end the job if the others have
                       not within SEC seconds (default 30); a program that never
                       calls MPI_Init runs as plain processes
  --trace FILE         every rank's trace, merged into FILE (Chrome trace JSON)
  --transport auto|tcp shared memory within a host (auto), or TCP for every pair
                       (default: $NEXO_MPI_TRANSPORT, else auto)
  --ring-bytes N       ring size per ordered pair of ranks on a host (power of two;
                       default 256 KiB, less from 33 ranks on a host up)
  --port P             the port of the ranks' control connections (default: any)
  --agent --listen IP:PORT
                       serve launchers: start the ranks of this host when a launcher
                       names it as agent://IP:PORT (port 0: any; printed on stderr).
                       Anyone who can reach IP:PORT can run programs as this user:
                       listen only on a trusted network.
  --agent-stdio        the same for one job over stdin/stdout (what ssh starts)
Hosts other than this machine and agent:// ones are reached with
`ssh -o BatchMode=yes HOST nexorun --agent-stdio` (NEXORUN_SSH: another ssh command,
e.g. "ssh -p 2222"; NEXORUN_REMOTE: nexorun's path there, default this one's).
Ranks on other hosts start in nexorun's working directory where that host has it
(else in their agent's: under ssh, the home directory).
Options end at PROGRAM: its own options follow it.
Exit status: the first non-zero exit status of a rank (128+N: killed by signal N),
the errorcode of MPI_Abort, 124 on --timeout, 130/143 on SIGINT/SIGTERM, 1 for a
failed start, 2 for a usage error.
)";
}

Result<Options> parse_options(const std::vector<std::string>& argv) {
  Options o;
  // NEXO_MPI_TRANSPORT in nexorun's own environment is the default of --transport (scripts and
  // test harnesses set it once for many jobs).
  if (const char* t = std::getenv("NEXO_MPI_TRANSPORT"); t != nullptr && *t != '\0') {
    if (std::string_view(t) == "tcp") {
      o.transport = mpi::RankTransport::tcp;
    } else if (std::string_view(t) != "auto") {
      return usage_error("NEXO_MPI_TRANSPORT='" + std::string(t) + "': expected auto or tcp");
    }
  }
  std::size_t i = 0;
  auto value = [&](const std::string& flag) -> Result<std::string> {
    if (i + 1 >= argv.size()) return usage_error(flag + " needs a value");
    return argv[++i];
  };
  auto seconds = [&](const std::string& flag) -> Result<std::chrono::seconds> {
    auto v = value(flag);
    if (!v) return v.error();
    auto n = parse_number(*v, 1, 1'000'000);
    if (!n) return usage_error(flag + " '" + *v + "': expected whole seconds, 1..1000000");
    return std::chrono::seconds(*n);
  };
  std::optional<std::string> hostfile;
  bool have_host = false;
  for (; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.empty() || a[0] != '-') break;  // PROGRAM: options end here
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-n" || a == "-np" || a == "--n" || a == "--np") {
      auto v = value(a);
      if (!v) return v.error();
      auto n = parse_number(*v, 1, mpi::kMaxWorldSize);
      if (!n) return usage_error(a + " '" + *v + "': expected a rank count in 1..4096");
      o.nranks = static_cast<int>(*n);
    } else if (a == "--host" || a == "-H" || a == "--hosts" || a == "-host") {
      auto v = value(a);
      if (!v) return v.error();
      auto hosts = parse_host_list(*v);
      if (!hosts) return hosts.error();
      o.hosts = std::move(*hosts);
      have_host = true;
    } else if (a == "--hostfile" || a == "-hostfile" || a == "--machinefile" || a == "-f") {
      auto v = value(a);
      if (!v) return v.error();
      hostfile = *v;
    } else if (a == "--tag-output" || a == "-l" || a == "--prepend-rank") {
      o.tag_output = true;
    } else if (a == "--timeout") {
      auto s = seconds(a);
      if (!s) return s.error();
      o.timeout = *s;
    } else if (a == "--init-timeout") {
      auto s = seconds(a);
      if (!s) return s.error();
      o.init_timeout = *s;
    } else if (a == "--trace") {
      auto v = value(a);
      if (!v) return v.error();
      if (v->empty()) return usage_error("--trace needs a file name");
      o.trace = *v;
    } else if (a == "--transport") {
      auto v = value(a);
      if (!v) return v.error();
      if (*v == "auto") {
        o.transport = mpi::RankTransport::automatic;
      } else if (*v == "tcp") {
        o.transport = mpi::RankTransport::tcp;
      } else {
        return usage_error("--transport '" + *v + "': expected auto or tcp");
      }
    } else if (a == "--ring-bytes") {
      auto v = value(a);
      if (!v) return v.error();
      auto n = parse_number(*v, 256, 1 << 30);
      if (!n || (*n & (*n - 1)) != 0)
        return usage_error("--ring-bytes '" + *v + "': expected a power of two, 256..2^30");
      o.ring_bytes = static_cast<std::size_t>(*n);
    } else if (a == "--port") {
      auto v = value(a);
      if (!v) return v.error();
      auto n = parse_number(*v, 0, 65535);
      if (!n) return usage_error("--port '" + *v + "': expected 0..65535");
      o.port = static_cast<std::uint16_t>(*n);
    } else if (a == "--agent") {
      o.mode = Mode::agent;
    } else if (a == "--agent-stdio") {
      o.mode = Mode::agent_stdio;
    } else if (a == "--listen") {
      auto v = value(a);
      if (!v) return v.error();
      o.agent_listen = *v;
    } else if (a == "-h" || a == "--help") {
      return Error(ErrorKind::canceled, "help");
    } else if (a == "--prefix") {
      return usage_error(
          "--prefix is Open MPI's installation prefix, not an output prefix: use --tag-output");
    } else {
      return usage_error("unknown option '" + a + "'");
    }
  }
  if (o.mode == Mode::agent) {
    if (o.agent_listen.empty()) return usage_error("--agent needs --listen IP:PORT");
    return o;
  }
  if (o.mode == Mode::agent_stdio) return o;
  if (have_host && hostfile) return usage_error("give --host or --hostfile, not both");
  if (hostfile) {
    std::string text;
    if (FILE* f = std::fopen(hostfile->c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < (1u << 20))
        text.append(buf, n);
      std::fclose(f);
    } else {
      return usage_error("--hostfile " + *hostfile + ": " + std::strerror(errno));
    }
    auto hosts = parse_hostfile(text, *hostfile);
    if (!hosts) return hosts.error();
    o.hosts = std::move(*hosts);
  }
  if (o.nranks == 0) return usage_error("give the number of ranks with -n N");
  if (i >= argv.size()) return usage_error("no PROGRAM to run");
  o.program = argv[i];
  o.args.assign(argv.begin() + static_cast<std::ptrdiff_t>(i) + 1, argv.end());
  return o;
}

}  // namespace nexo::run
