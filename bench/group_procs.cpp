// bench_group's receiver processes: the message stamp, the recorder each
// receiver keeps, and the parent's handle on them (fork/exec of this binary in
// its receiver role, reports read from each child's stdout).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "group_bench.hpp"

namespace nexo::bench::group {

// --- the message layout ----------------------------------------------------------------------

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

void stamp(std::span<std::byte> message, std::uint64_t seq, std::int64_t sent_ns) {
  std::memcpy(message.data(), &seq, sizeof seq);
  std::memcpy(message.data() + sizeof seq, &sent_ns, sizeof sent_ns);
}

// --- the recorder ------------------------------------------------------------------------------

void RxRecorder::on_message(std::span<const std::byte> message, Clock::time_point missing_since) {
  const auto at = Clock::now();
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  if (missing_since != Clock::time_point{}) recovery_.record(at - missing_since);
  if (message.size() < kStampSize) {
    ++bad_;
    return;
  }
  std::uint64_t seq = 0;
  std::int64_t sent = 0;
  std::memcpy(&seq, message.data(), sizeof seq);
  std::memcpy(&sent, message.data() + sizeof seq, sizeof sent);
  if (seq != next_) ++out_of_order;  // a gap, a duplicate or a reordering: FIFO broken
  next_ = seq + 1;
  if (seq == 1) first_sent_ns_ = sent;
  ++delivered_;
  last_ns_ = now;
  latency_ns_.push_back(now - sent);
}

std::string RxRecorder::report() {
  LatencySamples samples;
  samples.reserve(latency_ns_.size());
  for (auto ns : latency_ns_)
    samples.add_ns(ns);
  std::array<char, 256> text{};
  std::snprintf(text.data(), text.size(),
                "result delivered=%d in_order=%d bad=%d first_ns=%lld last_ns=%lld p50_us=%.1f "
                "p99_us=%.1f max_us=%.1f\n",
                delivered_, out_of_order, bad_, static_cast<long long>(first_sent_ns_),
                static_cast<long long>(last_ns_), samples.percentile_us(50),
                samples.percentile_us(99), samples.percentile_us(100));
  return text.data();
}

void print_recovery(const LatencyHistogram& recovery, const LatencyHistogram& member) {
  std::printf("recovery=%llu p99_us=%lld\n", static_cast<unsigned long long>(recovery.count()),
              static_cast<long long>(recovery.percentile(99).count()));
  std::printf("member_recovery=%llu p99_us=%lld\n", static_cast<unsigned long long>(member.count()),
              static_cast<long long>(member.percentile(99).count()));
}

double RxReport::rate(int count) const {
  if (!reported || delivered < count || last_ns <= first_sent_ns) return 0.0;
  return static_cast<double>(count) * 1e9 / static_cast<double>(last_ns - first_sent_ns);
}

// --- the parent's side -------------------------------------------------------------------------

namespace {

std::string arg(const char* name, const std::string& value) {
  return std::string("--") + name + "=" + value;
}

RxReport parse_report(const std::string& text) {
  RxReport r;
  const auto at = text.find("result ");
  if (at == std::string::npos) return r;
  long long first = 0, last = 0;
  const int got = std::sscanf(text.c_str() + at,
                              "result delivered=%d in_order=%d bad=%d first_ns=%lld last_ns=%lld "
                              "p50_us=%lf p99_us=%lf max_us=%lf",
                              &r.delivered, &r.out_of_order, &r.bad, &first, &last, &r.p50_us,
                              &r.p99_us, &r.max_us);
  r.reported = got == 8;
  if (const auto k = text.find("kernel_drops=", at); k != std::string::npos)
    r.kernel_drops = std::atoll(text.c_str() + k + 13);
  if (const auto k = text.find("member_recovery=", at); k != std::string::npos) {
    long long count = 0;
    double p99 = 0;
    if (std::sscanf(text.c_str() + k, "member_recovery=%lld p99_us=%lf", &count, &p99) == 2)
      r.member_recovery_p99_us = p99;
  }
  if (const auto k = text.find("\nrecovery=", at); k != std::string::npos) {
    long long count = 0;
    double p99 = 0;
    if (std::sscanf(text.c_str() + k + 1, "recovery=%lld p99_us=%lf", &count, &p99) == 2) {
      r.recovery_count = count;
      r.recovery_p99_us = p99;
    }
  }
  r.first_sent_ns = first;
  r.last_ns = last;
  return r;
}

}  // namespace

Receivers::~Receivers() {
  stop_all();
}

void Receivers::stop_all() {
  for (Child& c : children_) {
    if (c.pid > 0) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, nullptr, 0);
      c.pid = -1;
    }
    if (c.out >= 0) ::close(c.out);
    c.out = -1;
  }
  children_.clear();
}

void Receivers::read_some(Child& child) {
  std::array<char, 512> buffer{};
  for (;;) {
    const ssize_t n = ::read(child.out, buffer.data(), buffer.size());
    if (n <= 0) return;  // EAGAIN, or the child closed its end
    child.text.append(buffer.data(), static_cast<std::size_t>(n));
  }
}

Result<void> Receivers::start(int n, RxSpec spec, Clock::time_point deadline) {
  stop_all();
  static const std::string self = [] {
    std::array<char, 4096> path{};
    const ssize_t len = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
    return len > 0 ? std::string(path.data(), static_cast<std::size_t>(len)) : std::string();
  }();
  if (self.empty()) return Error(ErrorKind::system, "bench_group: cannot read /proc/self/exe");
  for (int i = 0; i < n; ++i) {
    std::array<int, 2> pipe_fds{};
    if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
      return Error(ErrorKind::system, std::string("pipe2: ") + std::strerror(errno));
    }
    spec.index = i;
    std::vector<std::string> args = {
        self,
        "--role=receiver",
        arg("impl", spec.impl),
        arg("address", spec.address),
        arg("port", std::to_string(spec.port)),
        arg("count", std::to_string(spec.count)),
        arg("size", std::to_string(spec.size)),
        arg("loss", std::to_string(spec.loss)),
        arg("seed", std::to_string(spec.seed)),
        arg("limit", std::to_string(spec.limit_s)),
        arg("index", std::to_string(spec.index)),
        arg("receivers", std::to_string(spec.receivers)),
        arg("datagram", std::to_string(spec.datagram)),
        arg("window", std::to_string(spec.window)),
        arg("fixed-repair-wait", std::to_string(spec.fixed_repair_wait)),
    };
    // The receivers publish no counter file (NEXO_STAT=0): they end killed,
    // and a killed process leaves its file in /dev/shm. Built before fork():
    // the child of a threaded parent may only call async-signal-safe functions.
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    static char no_stat[] = "NEXO_STAT=0";
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e)
      if (std::strncmp(*e, "NEXO_STAT=", 10) != 0) envp.push_back(*e);
    envp.push_back(no_stat);
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return Error(ErrorKind::system, std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      ::dup2(pipe_fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
      ::execve(self.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    children_.push_back({pid, pipe_fds[0], {}, false, false});
  }
  for (Child& c : children_) {
    while (c.text.find("ready\n") == std::string::npos) {
      if (Clock::now() >= deadline) {
        return Error(ErrorKind::timed_out, "a receiver process did not say ready in time");
      }
      pollfd p{c.out, POLLIN, 0};
      ::poll(&p, 1, 10);
      read_some(c);
      if ((p.revents & POLLHUP) != 0 && c.text.find("ready\n") == std::string::npos) {
        return Error(ErrorKind::closed, "a receiver process ended before it was ready: " + c.text);
      }
    }
    c.ready = true;
  }
  return ok();
}

bool Receivers::all_reported() {
  bool all = true;
  for (Child& c : children_) {
    read_some(c);
    all = all && c.text.find("result ") != std::string::npos && c.text.back() == '\n';
  }
  return all;
}

std::vector<RxReport> Receivers::collect(Clock::time_point deadline) {
  while (!all_reported() && Clock::now() < deadline) {
    std::vector<pollfd> fds;
    for (Child& c : children_)
      fds.push_back({c.out, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 10);
  }
  std::vector<RxReport> out;
  for (Child& c : children_)
    out.push_back(parse_report(c.text));
  stop_all();
  return out;
}

PortReservation::~PortReservation() {
  if (fd_ >= 0) ::close(fd_);
}

Result<int> PortReservation::open() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Error(ErrorKind::system, std::string("socket: ") + std::strerror(errno));
  const int on = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return Error(ErrorKind::system, std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
  }
  return static_cast<int>(ntohs(a.sin_port));
}

std::string group_address(int round) {
  const unsigned pid = static_cast<unsigned>(::getpid());
  return "239.255." + std::to_string((pid >> 4) % 250 + 1) + "." +
         std::to_string((pid % 16) * 15 + static_cast<unsigned>(round) % 15 + 1);
}

}  // namespace nexo::bench::group
