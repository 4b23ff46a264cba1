// The support of the `nexo group join` process tests (group_process_test.cpp,
// group_netns_test.cpp): members as child processes whose stdin we write and
// whose stdout and stderr we read into lines, the tool's documented output
// lines parsed back, and the five-member run through a fault plan. Included
// by one test file each (its functions are that file's own).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "skip_or_fail.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kMembers = 5;
constexpr int kMessages = 100;   // per member
constexpr auto kDeadline = 60s;  // a failure bound for each wait

std::string tool() {
  const char* path = std::getenv("NEXO_TOOL");
  return path != nullptr ? path : NEXO_TOOL_PATH;
}

std::uint64_t run_seed() {
  static const std::uint64_t seed = []() -> std::uint64_t {
    if (const char* s = std::getenv("NEXO_GROUP_SEED")) return std::stoull(s);
    return std::uint64_t{std::random_device{}()} + 1;
  }();
  return seed;
}

// One `nexo group join` process: its stdin a pipe we write, its stdout and
// stderr pipes we read into lines.
class Member {
 public:
  explicit Member(const std::vector<std::string>& args) {
    ::signal(SIGPIPE, SIG_IGN);  // a member that died: its stdin's writes fail instead
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
      failure_ = std::string("pipe: ") + std::strerror(errno);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<char*> argv;
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    stderr_ = err[0];
    ::fcntl(stdout_, F_SETFL, O_NONBLOCK);
    ::fcntl(stderr_, F_SETFL, O_NONBLOCK);
    if (rc != 0) {
      failure_ = "spawn " + args[0] + ": " + std::strerror(rc);
      pid_ = -1;
    }
  }
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;
  ~Member() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {stdin_, stdout_, stderr_})
      if (fd >= 0) ::close(fd);
  }

  const std::string& failure() const { return failure_; }
  void write(const std::string& text) {
    std::size_t at = 0;
    while (at < text.size()) {
      const ssize_t n = ::write(stdin_, text.data() + at, text.size() - at);
      if (n <= 0) return;  // the process is gone: its output says why
      at += static_cast<std::size_t>(n);
    }
  }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  void kill9() { ::kill(pid_, SIGKILL); }
  void signal(int signo) { ::kill(pid_, signo); }
  // Reads what is there (never blocks).
  void read_available() {
    read_from(stdout_, out_partial_, out_);
    read_from(stderr_, err_partial_, err_);
  }
  // The exit status once exited (-1 while running; 128+N for a signal).
  int poll_exit() {
    if (exited_) return status_;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return -1;
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }
  const std::vector<std::string>& out() const { return out_; }
  const std::vector<std::string>& err() const { return err_; }
  int stdout_fd() const { return stdout_; }
  int stderr_fd() const { return stderr_; }
  std::string err_text() const {
    std::string all;
    for (const auto& l : err_)
      all += l + "\n";
    return all + err_partial_;
  }

 private:
  static void read_from(int fd, std::string& partial, std::vector<std::string>& lines) {
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) return;
      partial.append(buffer, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        lines.push_back(partial.substr(0, nl));
        partial.erase(0, nl + 1);
      }
    }
  }

  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1, stderr_ = -1;
  bool exited_ = false;
  int status_ = -1;
  std::string failure_;
  std::string out_partial_, err_partial_;
  std::vector<std::string> out_, err_;
};

using Members = std::vector<std::unique_ptr<Member>>;

// Reads every member's output until `done()` holds or the deadline passes.
template <class Pred>
bool wait_for(Members& members, Pred done, std::chrono::seconds limit = kDeadline) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    for (auto& m : members)
      if (m) m->read_available();
    if (done()) return true;
    if (Clock::now() > deadline) return false;
    std::vector<pollfd> fds;
    for (auto& m : members) {
      if (!m) continue;
      fds.push_back({m->stdout_fd(), POLLIN, 0});
      fds.push_back({m->stderr_fd(), POLLIN, 0});
    }
    ::poll(fds.data(), fds.size(), 50);
  }
}

// The banner, "nexo group join: NAME at GROUP:PORT on IF as MEMBER, order O..."
// (multicast) or "nexo group join: NAME at MEMBER (unicast fan-out...), order O...":
// the address and port given to the others, and the member's name when it differs.
// Read by hand rather than with <regex>, which costs ~7 s of compiler CPU (g++) and
// ~10 s under ASan in each of the two files that include this header.
struct Banner {
  std::string host, port, name;  // name: "" in unicast mode (it is host:port)
};
std::string_view next_word(std::string_view& rest) {  // up to the next space, and that space
  const std::size_t space = rest.find(' ');
  std::string_view word = rest.substr(0, space);
  rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
  return word;
}
std::optional<Banner> parse_banner(std::string_view line) {
  if (!line.starts_with("nexo group join: ")) return std::nullopt;
  line.remove_prefix(std::strlen("nexo group join: "));
  if (next_word(line).empty() || next_word(line) != "at") return std::nullopt;
  const std::string_view at = next_word(line);  // GROUP:PORT or MEMBER, the port last
  const std::size_t colon = at.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == at.size() ||
      at.find_first_not_of("0123456789", colon + 1) != std::string_view::npos)
    return std::nullopt;
  Banner b{std::string(at.substr(0, colon)), std::string(at.substr(colon + 1)), ""};
  if (line.starts_with("(unicast")) {
    const std::size_t close = line.find(')');
    if (close == std::string_view::npos || line.substr(close + 1).substr(0, 7) != ", order")
      return std::nullopt;
    return b;
  }
  if (next_word(line) != "on" || next_word(line).empty() || next_word(line) != "as")
    return std::nullopt;
  const std::string_view name = next_word(line);  // MEMBER, and the comma before "order"
  if (name.size() < 2 || name.back() != ',' || !line.starts_with("order")) return std::nullopt;
  b.name = name.substr(0, name.size() - 1);
  return b;
}

// The member's own name (its contact), from its banner; "" before it.
std::string name_of(const Member& m) {
  for (const auto& line : m.err()) {
    if (auto b = parse_banner(line)) return b->name.empty() ? b->host + ":" + b->port : b->name;
  }
  return "";
}
std::string group_port(const Member& m) {
  for (const auto& line : m.err()) {
    if (auto b = parse_banner(line)) return b->port;
  }
  return "";
}
// The members of the last view printed.
std::vector<std::string> last_view(const Member& m) {
  std::vector<std::string> members;
  for (const auto& line : m.err()) {
    // "view ID: MEMBER, MEMBER, ..."
    std::string_view rest = line;
    if (!rest.starts_with("view ")) continue;
    rest.remove_prefix(5);
    const std::size_t digits = rest.find_first_not_of("0123456789");
    if (digits == 0 || digits == std::string_view::npos || rest.substr(digits, 2) != ": ") continue;
    members.clear();
    const std::string list(rest.substr(digits + 2));
    std::size_t at = 0;
    while (at <= list.size()) {
      std::size_t comma = list.find(", ", at);
      if (comma == std::string::npos) comma = list.size();
      members.push_back(list.substr(at, comma - at));
      at = comma + 2;
    }
  }
  return members;
}

struct Placement {
  std::vector<std::string> prefix;  // e.g. ip netns exec NS
  std::string interface = "lo";
  bool unicast = false;  // unicast fan-out: the others start from the first
};

// Starts `count` (where.size()) members of group `name` (the first on port 0,
// the others on its port, or with --unicast: the others with --members
// FIRST); waits until each has printed a view of all of them.
std::string start_members(Members& members, const std::string& name, const std::string& order,
                          const std::vector<Placement>& where,
                          const std::vector<std::string>& extra) {
  const int count = static_cast<int>(where.size());
  std::string port = "0";
  for (int i = 0; i < count; ++i) {
    std::vector<std::string> args = where[static_cast<std::size_t>(i)].prefix;
    // Unicast: --port is the member's own, any free one.
    const std::string port_arg = where[static_cast<std::size_t>(i)].unicast ? "0" : port;
    for (const std::string& a :
         {tool(), std::string("group"), std::string("join"), name, std::string("--order"), order,
          std::string("--interface"), where[static_cast<std::size_t>(i)].interface,
          std::string("--port"), port_arg, std::string("--seed"),
          std::to_string(run_seed() + static_cast<std::uint64_t>(i)), std::string("--timeout"),
          std::string("30000")})
      args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    if (where[static_cast<std::size_t>(i)].unicast) {
      if (i == 0) {
        args.push_back("--unicast");
      } else {
        args.push_back("--members");
        args.push_back(name_of(*members.front()));
      }
    }
    members.push_back(std::make_unique<Member>(args));
    if (!members.back()->failure().empty()) return members.back()->failure();
    Member& m = *members.back();
    if (!wait_for(members, [&] { return !group_port(m).empty() || m.poll_exit() >= 0; }))
      return "member " + std::to_string(i) + " did not join: " + m.err_text();
    if (group_port(m).empty()) return "member " + std::to_string(i) + " failed: " + m.err_text();
    if (i == 0) port = group_port(m);
  }
  const bool all = wait_for(members, [&] {
    for (auto& m : members)
      if (last_view(*m).size() != static_cast<std::size_t>(count)) return false;
    return true;
  });
  if (!all) {
    std::string why = "not every member saw a view of " + std::to_string(count) + ":";
    for (auto& m : members)
      why += "\n--- " + name_of(*m) + "\n" + m->err_text();
    return why;
  }
  return "";
}

// What one member delivered: per sender name, the texts in delivery order.
struct Delivered {
  std::map<std::string, std::vector<std::string>> by_sender;
  std::vector<std::string> sequence;  // "<sender>: <text>" in delivery order
};
Delivered parse(const Member& m) {
  Delivered d;
  for (const auto& line : m.out()) {
    const auto colon = line.find(": ");
    if (colon == std::string::npos) {
      ADD_FAILURE() << "not '<member>: <text>': " << line;
      continue;
    }
    d.by_sender[line.substr(0, colon)].push_back(line.substr(colon + 2));
    d.sequence.push_back(line);
  }
  return d;
}

std::string message(int member, int k) {
  return "m" + std::to_string(member) + "-" + std::to_string(k);
}

// Every member delivered every message of every member exactly once, each
// sender's in the order sent; under total order, all in one sequence.
void check_deliveries(Members& members, const std::string& order) {
  std::vector<std::string> names;
  for (auto& m : members)
    names.push_back(name_of(*m));
  std::vector<std::string> first_sequence;
  for (std::size_t r = 0; r < members.size(); ++r) {
    SCOPED_TRACE("member " + names[r]);
    const Delivered d = parse(*members[r]);
    ASSERT_EQ(d.sequence.size(), static_cast<std::size_t>(kMembers * kMessages));
    for (std::size_t s = 0; s < members.size(); ++s) {
      auto it = d.by_sender.find(names[s]);
      ASSERT_NE(it, d.by_sender.end()) << "nothing from " << names[s];
      std::vector<std::string> expected;
      for (int k = 0; k < kMessages; ++k)
        expected.push_back(message(static_cast<int>(s), k));
      EXPECT_EQ(it->second, expected) << "from " << names[s];
    }
    if (order == "total" || order == "agreed") {
      if (r == 0) first_sequence = d.sequence;
      EXPECT_EQ(d.sequence, first_sequence) << "not one order everywhere";
    }
  }
}

// The whole run: start, send kMessages from each, wait until all are
// delivered everywhere, end the input, every member exits 0.
void run_five(const std::string& order, const std::vector<Placement>& where,
              const std::string& tag) {
  std::cout << "seed " << run_seed() << " (members use seed.." << run_seed() + kMembers - 1
            << "; NEXO_GROUP_SEED reruns it), order " << order << std::endl;
  Members members;
  const std::string name = "gproc-" + tag + "-" + std::to_string(::getpid());
  const std::vector<std::string> faults = {"--loss", "0.1", "--dup", "0.05", "--reorder", "0.05"};
  ASSERT_EQ(start_members(members, name, order, where, faults), "");
  for (int i = 0; i < kMembers; ++i) {
    std::string lines;
    for (int k = 0; k < kMessages; ++k)
      lines += message(i, k) + "\n";
    members[static_cast<std::size_t>(i)]->write(lines);
  }
  const bool delivered = wait_for(members, [&] {
    for (auto& m : members)
      if (m->out().size() < static_cast<std::size_t>(kMembers * kMessages)) return false;
    return true;
  });
  for (auto& m : members)
    m->close_stdin();
  const bool exited = wait_for(members, [&] {
    for (auto& m : members)
      if (m->poll_exit() < 0) return false;
    return true;
  });
  std::string report;
  for (auto& m : members)
    report += "\n--- " + name_of(*m) + " delivered " + std::to_string(m->out().size()) + ", exit " +
              std::to_string(m->poll_exit()) + "\n" + m->err_text();
  ASSERT_TRUE(delivered) << "not every message delivered everywhere" << report;
  ASSERT_TRUE(exited) << report;
  for (auto& m : members)
    EXPECT_EQ(m->poll_exit(), 0) << report;
  check_deliveries(members, order);
}

}  // namespace
