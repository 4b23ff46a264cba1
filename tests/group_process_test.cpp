// `nexo group join` as separate processes: five members on loopback multicast
// through a fault plan of 10% loss plus duplication and reordering deliver
// every message exactly once in the promised order; a member killed with
// SIGKILL leaves the survivors' view and virtual synchrony holds across the
// change; as root, the same five in five network namespaces joined by a
// bridge this test makes and removes (under CI=true that must run: a failure
// to set it up fails the test).
//
// Every run prints its seed (NEXO_GROUP_SEED=N reruns one). Waits have
// generous deadlines that fail the test; nothing asserts on speed.
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
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "skip_or_fail.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kMembers = 5;
constexpr int kMessages = 100;        // per member
constexpr auto kDeadline = 60s;       // a failure bound for each wait

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

const std::regex kBanner(R"(^nexo group join: \S+ at (\S+):(\d+) .*as (\S+), order)");
const std::regex kView(R"(^view (\d+): (.*)$)");

// The member's own name (its contact), from its banner; "" before it.
std::string name_of(const Member& m) {
  for (const auto& line : m.err()) {
    std::smatch match;
    if (std::regex_search(line, match, kBanner)) return match[3];
  }
  return "";
}
std::string group_port(const Member& m) {
  for (const auto& line : m.err()) {
    std::smatch match;
    if (std::regex_search(line, match, kBanner)) return match[2];
  }
  return "";
}
// The members of the last view printed.
std::vector<std::string> last_view(const Member& m) {
  std::vector<std::string> members;
  for (const auto& line : m.err()) {
    std::smatch match;
    if (!std::regex_match(line, match, kView)) continue;
    members.clear();
    const std::string list = match[2];
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

struct Setup {
  std::vector<std::string> prefix;  // e.g. ip netns exec NS
  std::string interface = "lo";
};

// Starts kMembers members of group `name` (the first on port 0, the others on
// its port); waits until each has printed a view of all of them.
std::string start_members(Members& members, const std::string& name, const std::string& order,
                          const std::vector<Setup>& where, const std::vector<std::string>& extra) {
  std::string port = "0";
  for (int i = 0; i < kMembers; ++i) {
    std::vector<std::string> args = where[static_cast<std::size_t>(i)].prefix;
    for (const std::string& a :
         {tool(), std::string("group"), std::string("join"), name, std::string("--order"), order,
          std::string("--interface"), where[static_cast<std::size_t>(i)].interface,
          std::string("--port"), port, std::string("--seed"),
          std::to_string(run_seed() + static_cast<std::uint64_t>(i)), std::string("--timeout"),
          std::string("30000")})
      args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
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
      if (last_view(*m).size() != static_cast<std::size_t>(kMembers)) return false;
    return true;
  });
  if (!all) {
    std::string why = "not every member saw a view of " + std::to_string(kMembers) + ":";
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
void run_five(const std::string& order, const std::vector<Setup>& where, const std::string& tag) {
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
    report += "\n--- " + name_of(*m) + " delivered " + std::to_string(m->out().size()) +
              ", exit " + std::to_string(m->poll_exit()) + "\n" + m->err_text();
  ASSERT_TRUE(delivered) << "not every message delivered everywhere" << report;
  ASSERT_TRUE(exited) << report;
  for (auto& m : members)
    EXPECT_EQ(m->poll_exit(), 0) << report;
  check_deliveries(members, order);
}

std::vector<Setup> on_loopback() {
  return std::vector<Setup>(kMembers);
}

TEST(GroupProcesses, FiveMembersFifoThroughLossDuplicationReordering) {
  run_five("fifo", on_loopback(), "fifo");
}

TEST(GroupProcesses, FiveMembersTotalOrderThroughLossDuplicationReordering) {
  run_five("total", on_loopback(), "total");
}

TEST(GroupProcesses, FiveMembersAgreedOrderThroughLossDuplicationReordering) {
  run_five("agreed", on_loopback(), "agreed");
}

// Causal order: a chain c0 -> c1 -> ... where member j % 5 sends c<j> only
// after it delivered c<j-1> (the test writes c<j> to its input then), with
// other traffic around it through the faults: every member delivers the
// chain in order, and everything once, each sender's in order.
TEST(GroupProcesses, FiveMembersCausalOrderKeepsAReplyChain) {
  std::cout << "seed " << run_seed() << " (NEXO_GROUP_SEED reruns it), order causal" << std::endl;
  Members members;
  const std::string name = "gproc-causal-" + std::to_string(::getpid());
  ASSERT_EQ(start_members(members, name, "causal", on_loopback(),
                          {"--loss", "0.1", "--dup", "0.05", "--reorder", "0.05"}),
            "");
  constexpr int kChain = 30;
  for (int i = 0; i < kMembers; ++i) {
    std::string lines;
    for (int k = 0; k < kMessages; ++k)
      lines += message(i, k) + "\n";
    members[static_cast<std::size_t>(i)]->write(lines);
  }
  members[0]->write("c0\n");
  for (int j = 1; j < kChain; ++j) {
    Member& next = *members[static_cast<std::size_t>(j % kMembers)];
    const std::string previous = ": c" + std::to_string(j - 1);
    ASSERT_TRUE(wait_for(members, [&] {
      for (const auto& line : next.out())
        if (line.size() >= previous.size() &&
            line.compare(line.size() - previous.size(), previous.size(), previous) == 0)
          return true;
      return false;
    })) << "c" << j - 1 << " never delivered at member " << j % kMembers;
    next.write("c" + std::to_string(j) + "\n");
  }
  const std::size_t total = kMembers * kMessages + kChain;
  ASSERT_TRUE(wait_for(members, [&] {
    for (auto& m : members)
      if (m->out().size() < total) return false;
    return true;
  }));
  for (auto& m : members)
    m->close_stdin();
  ASSERT_TRUE(wait_for(members, [&] {
    for (auto& m : members)
      if (m->poll_exit() < 0) return false;
    return true;
  }));
  for (auto& m : members) {
    SCOPED_TRACE(name_of(*m));
    EXPECT_EQ(m->poll_exit(), 0) << m->err_text();
    ASSERT_EQ(m->out().size(), total);
    int next_link = 0;
    std::map<std::string, int> next_k;
    for (const auto& line : m->out()) {
      const std::string text = line.substr(line.find(": ") + 2);
      if (text[0] == 'c') {
        EXPECT_EQ(text, "c" + std::to_string(next_link)) << "the chain out of causal order";
        ++next_link;
      } else {
        const std::string sender = text.substr(0, text.find('-'));
        EXPECT_EQ(text, sender + "-" + std::to_string(next_k[sender]++)) << "FIFO broken";
      }
    }
    EXPECT_EQ(next_link, kChain);
  }
}

TEST(GroupProcesses, SigkilledMemberLeavesTheViewAndVirtualSynchronyHolds) {
  std::cout << "seed " << run_seed() << " (NEXO_GROUP_SEED reruns it)" << std::endl;
  Members members;
  const std::string name = "gproc-kill-" + std::to_string(::getpid());
  ASSERT_EQ(start_members(members, name, "fifo", on_loopback(),
                          {"--loss", "0.1", "--detection-time", "1s"}),
            "");
  const std::size_t victim = 2;
  const std::string victim_name = name_of(*members[victim]);
  std::string lines;
  for (int k = 0; k < 2000; ++k)
    lines += message(static_cast<int>(victim), k) + "\n";
  members[victim]->write(lines);
  // Killed while its messages are on the way: some survivors may have more
  // of them than others at that moment; the flush must even that out.
  wait_for(members, [&] { return members[0]->out().size() >= 50; });
  members[victim]->kill9();
  const auto killed_at = Clock::now();
  const bool gone = wait_for(members, [&] {
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i == victim) continue;
      const auto v = last_view(*members[i]);
      if (v.size() != kMembers - 1 ||
          std::find(v.begin(), v.end(), victim_name) != v.end())
        return false;
    }
    return true;
  });
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
  std::cout << "every survivor had a view without the killed member " << took.count()
            << " ms after SIGKILL (detection time 1 s)" << std::endl;
  std::string report;
  for (auto& m : members)
    report += "\n--- " + name_of(*m) + "\n" + m->err_text();
  ASSERT_TRUE(gone) << report;
  for (std::size_t i = 0; i < members.size(); ++i)
    if (i != victim) members[i]->close_stdin();
  ASSERT_TRUE(wait_for(members, [&] {
    for (std::size_t i = 0; i < members.size(); ++i)
      if (i != victim && members[i]->poll_exit() < 0) return false;
    return true;
  })) << report;
  // Virtual synchrony: the survivors moved together from the old view to the
  // new one, so they delivered the same messages of the killed member (its
  // messages can only be delivered in the old view): the same prefix of them.
  std::optional<std::vector<std::string>> common;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i == victim) continue;
    EXPECT_EQ(members[i]->poll_exit(), 0) << report;
    const Delivered d = parse(*members[i]);
    const auto it = d.by_sender.find(victim_name);
    const std::vector<std::string> got =
        it == d.by_sender.end() ? std::vector<std::string>{} : it->second;
    for (std::size_t k = 0; k < got.size(); ++k)
      ASSERT_EQ(got[k], message(static_cast<int>(victim), static_cast<int>(k)));
    if (!common) {
      common = got;
      std::cout << "the survivors each delivered " << got.size()
                << " of the killed member's messages" << std::endl;
    }
    EXPECT_EQ(got.size(), common->size()) << name_of(*members[i]) << report;
  }
}

// --- five network namespaces joined by a bridge -----------------------------

bool sh(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Namespaces gdN-<pid>-<i> (members, 10.79.0.i+1/24 on eth0) and gdN-<pid>-br
// (the bridge), made by the constructor and removed by the destructor.
class Bridged {
 public:
  Bridged() {
    if (::geteuid() != 0) {
      failure_ = "needs root to create network namespaces";
      return;
    }
    const std::string base = "gdn-" + std::to_string(::getpid());
    bridge_ = base + "-br";
    if (!make(bridge_) || !in(bridge_, "ip link add br0 type bridge") ||
        !in(bridge_, "ip link set br0 type bridge mcast_snooping 0") ||
        !in(bridge_, "ip link set br0 up")) {
      failure_ = "could not make the bridge namespace " + bridge_;
      return;
    }
    for (int i = 0; i < kMembers; ++i) {
      const std::string ns = base + "-" + std::to_string(i);
      const std::string port = "p" + std::to_string(i);
      const std::string address = "10.79.0." + std::to_string(i + 1) + "/24";
      if (!make(ns) ||
          !sh("ip link add " + port + " netns " + bridge_ + " type veth peer name eth0 netns " +
              ns) ||
          !in(bridge_, "ip link set " + port + " master br0") ||
          !in(bridge_, "ip link set " + port + " up") || !in(ns, "ip link set lo up") ||
          !in(ns, "ip addr add " + address + " dev eth0") || !in(ns, "ip link set eth0 up")) {
        failure_ = "could not make member namespace " + ns;
        return;
      }
      Setup s;
      s.prefix = {"ip", "netns", "exec", ns};
      s.interface = "eth0";
      setups_.push_back(s);
    }
  }
  ~Bridged() {
    for (const auto& ns : made_)
      sh("ip netns del " + ns);
  }
  const std::string& failure() const { return failure_; }
  const std::vector<Setup>& setups() const { return setups_; }

 private:
  bool make(const std::string& ns) {
    if (!sh("ip netns add " + ns)) return false;
    made_.push_back(ns);
    return true;
  }
  static bool in(const std::string& ns, const std::string& command) {
    return sh("ip netns exec " + ns + " " + command);
  }

  std::string bridge_;
  std::vector<std::string> made_;
  std::vector<Setup> setups_;
  std::string failure_;
};

TEST(GroupProcesses, FiveNamespacesJoinedByABridge) {
  Bridged network;
  if (!network.failure().empty()) NEXO_SKIP_OR_FAIL(network.failure());
  run_five("fifo", network.setups(), "netns");
}

}  // namespace
