#include "rank_processes.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "options.hpp"

extern char** environ;

namespace nexo::run {
namespace {

// A line longer than this is passed on in pieces (a bound on what a rank makes us hold).
constexpr std::size_t kMaxLine = 64 * 1024;

// NAME=VALUE for a rank's environment, built by appends (GCC 12 warns falsely,
// -Warray-bounds, about the same built by operator+ once inlined).
std::string env_entry(std::string_view name, std::string_view value) {
  std::string entry;
  entry.reserve(name.size() + 1 + value.size());
  entry.append(name).append("=").append(value);
  return entry;
}

std::string transport_name(mpi::RankTransport t) {
  return t == mpi::RankTransport::tcp ? "tcp" : "auto";
}

// The environment of a rank: ours without the variables nexorun sets (a stale one from an
// outer job must not leak in), then the rank's. Other NEXO_MPI_* (tunables such as
// NEXO_MPI_SPIN_US) pass through.
bool set_by_launcher(const char* entry) {
  static constexpr const char* kOwn[] = {mpi::kEnvRank,      mpi::kEnvSize,      mpi::kEnvJob,
                                         mpi::kEnvControl,   mpi::kEnvHost,      mpi::kEnvShm,
                                         mpi::kEnvLocalRank, mpi::kEnvLocalSize, mpi::kEnvTransport,
                                         mpi::kEnvBind,      mpi::kEnvTrace};
  for (const char* name : kOwn) {
    const std::size_t n = std::strlen(name);
    if (std::strncmp(entry, name, n) == 0 && entry[n] == '=') return true;
  }
  return false;
}

std::vector<std::string> rank_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!set_by_launcher(*e)) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The child's side of fork(): only async-signal-safe calls until exec.
[[noreturn]] void become_rank(pid_t parent, int null_fd, int out_fd, int err_fd, const char* cwd,
                              const char* path, char* const* argv, char* const* envp) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // nexorun died before the line above
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP})
    ::signal(sig, SIG_DFL);
  ::dup2(null_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  const char* what = "nexorun: exec failed: ";
  if (*cwd != '\0' && ::chdir(cwd) != 0) {
    what = "nexorun: cannot enter the working directory: ";
    path = cwd;
  } else {
    ::execve(path, argv, envp);
  }
  const int err = errno;
  (void)!::write(2, what, std::strlen(what));
  (void)!::write(2, path, std::strlen(path));
  (void)!::write(2, ": ", 2);
  const char* why = ::strerror(err);
  (void)!::write(2, why, std::strlen(why));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

}  // namespace

std::string describe(const ExitStatus& status) {
  if (status.signaled) {
    const char* name = ::sigabbrev_np(status.value);
    const char* text = ::sigdescr_np(status.value);
    return "was killed by signal " + std::to_string(status.value) + " (" +
           (name ? std::string("SIG") + name : std::string("?")) +
           (text ? std::string(": ") + text : std::string()) + ")";
  }
  return "exited with status " + std::to_string(status.value);
}

RankProcesses::RankProcesses(io::EventLoop& loop, Events events)
    : loop_(loop),
      events_(std::move(events)),
      kill_timer_(loop, [this] { kill_groups(SIGKILL); }) {}

RankProcesses::~RankProcesses() {
  // Nothing may outlive the launcher: whatever is still running is killed and reaped.
  kill_groups(SIGKILL);
  for (auto& r : ranks_) {
    if (r->pid > 0 && !r->exited) {
      int status = 0;
      while (::waitpid(r->pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
}

Result<void> RankProcesses::start(const LaunchSpec& spec) {
  auto path = find_program(spec.program, spec.cwd);
  if (!path) return path.error();
  const int local_size = static_cast<int>(spec.ranks.size());
  std::string shm_spec;
  if (spec.transport == mpi::RankTransport::automatic && local_size > 1) {
    const std::size_t ring = spec.ring_bytes ? spec.ring_bytes : default_ring_bytes(local_size);
    auto segment = mpi::ShmSegment::create(local_size, ring);
    if (!segment) {
      return std::move(segment).error().with_context(
          "making the shared-memory segment of " + std::to_string(local_size) + " ranks on " +
          spec.host + " (--ring-bytes smaller, or --transport tcp)");
    }
    segment_.emplace(std::move(*segment));
    shm_spec = segment_->spec();
  }
  for (int i = 0; i < local_size; ++i) {
    auto rank = std::make_unique<Rank>();
    rank->world_rank = spec.ranks[static_cast<std::size_t>(i)];
    ranks_.push_back(std::move(rank));
    if (auto r = spawn(*ranks_.back(), spec, *path, i, shm_spec, local_size); !r) {
      ranks_.pop_back();
      terminate(std::chrono::milliseconds(0));
      return r;
    }
  }
  return ok();
}

Result<void> RankProcesses::spawn(Rank& rank, const LaunchSpec& spec, const std::string& path,
                                  int local_rank, const std::string& shm_spec, int local_size) {
  std::vector<std::string> extra = {
      env_entry(mpi::kEnvRank, std::to_string(rank.world_rank)),
      env_entry(mpi::kEnvSize, std::to_string(spec.world_size)),
      env_entry(mpi::kEnvJob, spec.job),
      env_entry(mpi::kEnvControl, spec.control),
      env_entry(mpi::kEnvHost, spec.host),
      env_entry(mpi::kEnvLocalRank, std::to_string(local_rank)),
      env_entry(mpi::kEnvLocalSize, std::to_string(local_size)),
      env_entry(mpi::kEnvTransport, transport_name(spec.transport)),
      env_entry(mpi::kEnvBind, spec.bind),
  };
  if (!shm_spec.empty()) extra.push_back(env_entry(mpi::kEnvShm, shm_spec));
  if (!spec.trace.empty()) extra.push_back(env_entry(mpi::kEnvTrace, spec.trace));
  std::vector<std::string> env = rank_environment(extra);
  std::vector<std::string> args = {spec.program};
  args.insert(args.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv = c_strings(args);
  std::vector<char*> envp = c_strings(env);

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe for a rank's stdout");
  net::FileDescriptor out_read(out[0]), out_write(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe for a rank's stderr");
  net::FileDescriptor err_read(err[0]), err_write(err[1]);
  net::FileDescriptor null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) return Error::from_errno(errno, "open /dev/null");

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    return Error::from_errno(errno, "starting rank " + std::to_string(rank.world_rank) +
                                        ": fork (too many processes? see ulimit -u)");
  }
  if (pid == 0) {
    become_rank(parent, null_fd.get(), out_write.get(), err_write.get(), spec.cwd.c_str(),
                path.c_str(), argv.data(), envp.data());
  }
  ::setpgid(pid, pid);  // also here: a kill before the child's own setpgid must reach the group
  rank.pid = pid;
  rank.out.fd = std::move(out_read);
  rank.err.fd = std::move(err_read);
  for (int stream : {1, 2}) {
    Stream& s = stream == 1 ? rank.out : rank.err;
    ::fcntl(s.fd.get(), F_SETFL, O_NONBLOCK);
    s.watcher = std::make_unique<io::IoWatcher>(
        loop_, s.fd.get(), [this, &rank, stream](std::uint32_t) { on_readable(rank, stream); });
    if (auto r = s.watcher->start(io::kReadable); !r) return r;
  }
  return ok();
}

void RankProcesses::on_readable(Rank& rank, int stream) {
  drain(rank, stream, false);
}

void RankProcesses::drain(Rank& rank, int stream, bool final) {
  Stream& s = stream == 1 ? rank.out : rank.err;
  if (!s.fd) return;
  char buf[16384];
  bool eof = false;
  for (;;) {
    const ssize_t n = ::read(s.fd.get(), buf, sizeof buf);
    if (n > 0) {
      s.partial.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (;;) {
        const auto nl = s.partial.find('\n', start);
        if (nl == std::string::npos) break;
        events_.output(rank.world_rank, stream,
                       std::string_view(s.partial).substr(start, nl - start));
        start = nl + 1;
      }
      s.partial.erase(0, start);
      while (s.partial.size() >= kMaxLine) {
        events_.output(rank.world_rank, stream, std::string_view(s.partial).substr(0, kMaxLine));
        s.partial.erase(0, kMaxLine);
      }
      if (!final) return;  // level-triggered: the loop calls again while more is there
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    eof = n == 0 || errno != EAGAIN;
    break;
  }
  if (eof || final) {
    if (!s.partial.empty()) events_.output(rank.world_rank, stream, s.partial);
    s.partial.clear();
    s.watcher.reset();
    s.fd.reset();
  }
}

void RankProcesses::reap() {
  for (auto& r : ranks_) {
    if (r->pid <= 0 || r->exited) continue;
    int status = 0;
    const pid_t got = ::waitpid(r->pid, &status, WNOHANG);
    if (got != r->pid) continue;
    r->exited = true;
    // What the rank wrote before it ended is in its pipes now: pass it on before the news.
    drain(*r, 1, true);
    drain(*r, 2, true);
    ExitStatus exit;
    if (WIFSIGNALED(status)) {
      exit.signaled = true;
      exit.value = WTERMSIG(status);
    } else {
      exit.value = WEXITSTATUS(status);
    }
    events_.exited(r->world_rank, exit);
  }
  if (all_exited()) kill_timer_.stop();
}

void RankProcesses::kill_groups(int signal) noexcept {
  for (auto& r : ranks_) {
    if (r->pid > 0 && !r->exited) ::kill(-r->pid, signal);
  }
}

void RankProcesses::terminate(std::chrono::milliseconds grace) {
  if (terminating_) return;
  terminating_ = true;
  if (grace.count() == 0) {
    kill_groups(SIGKILL);
    return;
  }
  kill_groups(SIGTERM);
  if (!all_exited()) kill_timer_.start(grace);
}

bool RankProcesses::all_exited() const noexcept {
  for (const auto& r : ranks_)
    if (!r->exited) return false;
  return true;
}

bool RankProcesses::has(int rank) const noexcept {
  for (const auto& r : ranks_)
    if (r->world_rank == rank) return true;
  return false;
}

pid_t RankProcesses::pid_of(int rank) const noexcept {
  for (const auto& r : ranks_)
    if (r->world_rank == rank) return r->pid;
  return -1;
}

std::vector<std::pair<int, pid_t>> RankProcesses::pids() const {
  std::vector<std::pair<int, pid_t>> out;
  for (const auto& r : ranks_)
    out.emplace_back(r->world_rank, r->pid);
  return out;
}

}  // namespace nexo::run
