// bench_mpi's child processes: a command run under a deadline (compilers and
// MPI launchers), and the two processes of the cache-line floor.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>

#include "bench_mpi.hpp"

extern char** environ;

namespace nexo::bench::mpi {
namespace {

constexpr std::size_t kOutputLimit = 1 << 20;

// This process's environment with `extra` (NAME=VALUE) added, replacing any
// variable of the same name.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('=') + 1);
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      return std::string_view(x).substr(0, x.find('=') + 1) == name;
    });
    if (!replaced) out.emplace_back(entry);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// SIGKILL to every process but this one that holds `pipe_inode` open: the
// ranks a killed launcher left behind (they inherited its stdout). They are
// descendants of this run; nothing else has that pipe.
void kill_pipe_holders(ino_t pipe_inode) {
  const std::string wanted = "pipe:[" + std::to_string(pipe_inode) + "]";
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  while (const dirent* entry = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0 || pid == ::getpid()) continue;
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    bool holds = false;
    while (const dirent* fd = ::readdir(fds)) {
      std::array<char, 64> target{};
      const std::string link = fd_dir + "/" + fd->d_name;
      const auto n = ::readlink(link.c_str(), target.data(), target.size() - 1);
      if (n > 0 && wanted == std::string_view(target.data(), static_cast<std::size_t>(n))) {
        holds = true;
        break;
      }
    }
    ::closedir(fds);
    if (holds) ::kill(pid, SIGKILL);
  }
  ::closedir(proc);
}

bool has_line(const std::string& text, const std::string& line) {
  return text.starts_with(line + "\n") || text.find("\n" + line + "\n") != std::string::npos;
}

int exit_status_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env, std::chrono::seconds limit,
                                  const std::string& marker, std::chrono::seconds grace) {
  std::vector<std::string> args = argv, envs = environment_with(env);
  auto arg_ptrs = pointers(args), env_ptrs = pointers(envs);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe2 for " + argv.at(0));
  struct stat pipe_stat {};
  ::fstat(fds[0], &pipe_stat);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Error::from_errno(err, "fork for " + argv.at(0));
  }
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::execvpe(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
    const char message[] = "bench_mpi: cannot execute the command (not found or not executable)\n";
    static_cast<void>(::write(2, message, sizeof message - 1));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no race with the first kill below
  ::close(fds[1]);
  CommandResult result;
  auto deadline = Clock::now() + limit;
  int stage = 0;  // 0: running, 1: SIGTERM sent, 2: SIGKILL sent
  std::array<char, 65536> buffer{};
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (ready > 0) {
      const auto n = ::read(fds[0], buffer.data(), buffer.size());
      if (n == 0) break;  // every writer is gone
      if (n < 0 && errno != EINTR) break;
      if (n > 0 && result.output.size() < kOutputLimit)
        result.output.append(buffer.data(), static_cast<std::size_t>(n));
      if (!marker.empty() && !result.marker_seen && stage == 0 && has_line(result.output, marker)) {
        result.marker_seen = true;
        deadline = std::min(deadline, Clock::now() + grace);
      }
      continue;
    }
    if (ready < 0 && errno == EINTR) continue;
    if (Clock::now() < deadline) continue;
    result.timed_out = true;
    if (stage == 0) {
      ::kill(-pid, SIGTERM);
      deadline = Clock::now() + std::chrono::seconds(5);
      stage = 1;
    } else if (stage == 1) {
      ::kill(-pid, SIGKILL);
      kill_pipe_holders(pipe_stat.st_ino);
      deadline = Clock::now() + std::chrono::seconds(2);
      stage = 2;
    } else {
      break;  // something still holds the pipe: stop reading, reap the launcher
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_status = exit_status_of(status);
  kill_pipe_holders(pipe_stat.st_ino);  // a rank that outlived its launcher
  ::close(fds[0]);
  return result;
}

std::string tail_lines(const std::string& text, int lines) {
  std::size_t start = text.size();
  while (start > 0 && text[start - 1] == '\n')
    --start;
  const std::size_t end = start;
  for (int i = 0; i < lines && start > 0; ++i) {
    start = text.rfind('\n', start - 1);
    if (start == std::string::npos) {
      start = 0;
      break;
    }
  }
  std::string out;
  for (std::size_t pos = start; pos < end;) {
    if (text[pos] == '\n') ++pos;
    const auto eol = std::min(text.find('\n', pos), end);
    out += "      | " + text.substr(pos, eol - pos) + "\n";
    pos = eol;
  }
  return out;
}

// --- the cache-line floor -------------------------------------------------------------------

namespace {

struct alignas(64) Line {
  std::atomic<std::uint64_t> turn{0};  // odd: the parent's ping; even: the child's pong
  std::atomic<std::uint32_t> stop{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

void bind_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

// The child: answers each odd value with the next even one, until stop.
[[noreturn]] void pong(Line& line) {
  std::uint64_t seen = 0;
  while (line.stop.load(std::memory_order_relaxed) == 0) {
    const auto v = line.turn.load(std::memory_order_acquire);
    if (v != seen && (v & 1) != 0) {
      seen = v + 1;
      line.turn.store(seen, std::memory_order_release);
    }
  }
  ::_exit(0);
}

}  // namespace

double cache_line_floor_us(int trips, int reps) {
  const auto& cpus = startup_cpus();
  if (cpus.size() < 2) return 0;
  void* memory =
      ::mmap(nullptr, sizeof(Line), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return 0;
  auto* line = new (memory) Line;
  const pid_t child = ::fork();
  if (child == 0) {
    bind_to(cpus[1]);
    pong(*line);
  }
  Spread one_way;
  if (child > 0) {
    bind_to(cpus[0]);
    const auto give_up = Clock::now() + std::chrono::seconds(10);
    std::uint64_t value = 0;
    for (int r = 0; r < reps + 1 && Clock::now() < give_up; ++r) {  // the first one warms up
      const auto start = Clock::now();
      bool late = false;
      for (int i = 0; i < trips && !late; ++i) {
        line->turn.store(++value, std::memory_order_release);
        ++value;
        for (std::uint32_t spins = 1; line->turn.load(std::memory_order_acquire) != value;
             ++spins) {
          if ((spins & 0xFFFF) == 0 && Clock::now() > give_up) {
            late = true;
            break;
          }
        }
      }
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      if (!late && r > 0) one_way.values.push_back(us / trips / 2);
    }
    line->stop.store(1, std::memory_order_relaxed);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  bind_thread(-1);
  line->~Line();
  ::munmap(memory, sizeof(Line));
  return one_way.values.empty() ? 0 : one_way.median();
}

}  // namespace nexo::bench::mpi
