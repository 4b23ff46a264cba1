// The harness of nexo's ping-pong benchmarks: latency samples and their
// percentiles, the message a client sends and checks, the timed loop of round
// trips, the echo thread that answers it, the rounds that alternate the
// implementations, and the raw POSIX socket calls and flag parsing that
// bench_pingpong and bench_msg share.
//
// Benchmarks print, they never gate: nothing here compares a number against a
// limit and fails.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"

namespace nexo::bench {

using Clock = std::chrono::steady_clock;

// Latencies of single operations (round trips), kept whole so that any
// percentile can be read back. Not thread-safe.
class LatencySamples {
 public:
  void reserve(std::size_t count) { ns_.reserve(count); }

  void add(Clock::duration elapsed) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
    ns_.push_back(ns);
    total_ns_ += ns;
    sorted_ = false;
  }

  std::size_t count() const noexcept { return ns_.size(); }

  // The p-th percentile (0 < p <= 100) by nearest rank, in microseconds; 0 when empty.
  double percentile_us(double p) {
    if (ns_.empty()) return 0.0;
    if (!sorted_) {
      std::sort(ns_.begin(), ns_.end());
      sorted_ = true;
    }
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(count())));
    const std::size_t index = std::clamp<std::size_t>(rank, 1, count()) - 1;
    return static_cast<double>(ns_[index]) / 1e3;
  }

  // Operations per second of measured time (the time between operations is not counted).
  double rate_per_second() const noexcept {
    return total_ns_ == 0 ? 0.0
                          : static_cast<double>(count()) * 1e9 / static_cast<double>(total_ns_);
  }

 private:
  std::vector<std::int64_t> ns_;
  std::int64_t total_ns_ = 0;
  bool sorted_ = true;
};

// The request a client sends (at least 4 bytes) and the buffer its echo lands in.
class Message {
 public:
  explicit Message(std::size_t size) : request_(size), reply_(size) {
    for (std::size_t i = 0; i < size; ++i)
      request_[i] = static_cast<std::byte>('a' + i % 26);
  }
  std::size_t size() const noexcept { return request_.size(); }
  // Marks the request with its sequence number, so a stale or foreign reply shows.
  void stamp(std::uint32_t sequence) noexcept {
    std::memcpy(request_.data(), &sequence, std::min(sizeof sequence, request_.size()));
  }
  std::span<const std::byte> request() const noexcept { return request_; }
  std::span<std::byte> reply() noexcept { return reply_; }
  bool reply_matches() const noexcept { return request_ == reply_; }

 private:
  Bytes request_;
  Bytes reply_;
};

inline Error short_reply(std::size_t got, std::size_t expected) {
  return Error(ErrorKind::malformed,
               "reply of " + std::to_string(got) + " bytes, expected " + std::to_string(expected));
}

// A round trip's failure: sets `error` to `cause` and returns false.
inline bool fail(std::optional<Error>& error, Error cause) {
  error = std::move(cause);
  return false;
}

// True if a reply of `got` bytes has the `expected` size; else fails with short_reply.
inline bool reply_size_is(std::size_t got, std::size_t expected, std::optional<Error>& error) {
  return got == expected || fail(error, short_reply(got, expected));
}

// Times `count` round trips of `message`, each checked against its request;
// `round_trip(error)` does one and returns false with `error` set when it fails.
// `samples` nullptr: a warm-up, nothing recorded.
template <class RoundTrip>
Result<void> time_round_trips(std::size_t count, Message& message, LatencySamples* samples,
                              RoundTrip&& round_trip) {
  std::optional<Error> error;
  for (std::size_t i = 0; i < count; ++i) {
    message.stamp(static_cast<std::uint32_t>(i));
    const auto start = Clock::now();
    const bool done = round_trip(error);
    const auto elapsed = Clock::now() - start;
    if (!done) return std::move(*error);
    if (!message.reply_matches()) {
      return Error(ErrorKind::malformed,
                   "reply " + std::to_string(i) + " differs from its request");
    }
    if (samples != nullptr) samples->add(elapsed);
  }
  return ok();
}

// A ping-pong pair: a client end and the echo thread that answers it. The
// client side is used from one thread.
class PingPong {
 public:
  virtual ~PingPong() = default;
  // Times `count` round trips of `message` into `samples` (nullptr: warm-up).
  virtual Result<void> run(std::size_t count, Message& message, LatencySamples* samples) = 0;
  // Stops the echo thread and returns its error, if it had one. Idempotent.
  virtual Result<void> finish() = 0;
};

// The client's error, named by its impl, with the echo thread's error if it
// had one (often the cause).
inline Error echo_failure(PingPong& pair, Error client, std::string_view impl) {
  client.with_context(impl);
  auto echo = pair.finish();
  if (echo) return client;
  return Error(client.kind(), client.message() + " (echo thread: " + echo.error().message() + ")",
               client.sys_errno());
}

// Runs `rounds` rounds of one turn per impl of `order`, the first one rotating
// (round r starts with order[r % n]), so that drift falls on all alike;
// `turn(impl)` runs one. Stops at the first turn that fails.
template <class Turn>
Result<void> rotate_rounds(int rounds, std::span<const std::size_t> order, Turn&& turn) {
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t step = 0; step < order.size(); ++step) {
      const std::size_t impl = order[(static_cast<std::size_t>(round) + step) % order.size()];
      if (auto done = turn(impl); !done) return done;
    }
  }
  return ok();
}

// The CPUs this process may run on (sched_getaffinity), in increasing order.
inline std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

// Binds the calling thread to `cpu`; a negative cpu leaves it free. False if refused.
inline bool pin_this_thread(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

// The echo side's thread, started on construction and bound to `cpu` (negative:
// unbound); the error that ended its loop is kept for join(). The destructor
// joins: stop the loop first.
class EchoThread {
 public:
  template <class Loop>
  EchoThread(int cpu, Loop loop)
      : thread_([this, cpu, loop = std::move(loop)]() mutable {
          if (!pin_this_thread(cpu)) {
            error_ = Error(ErrorKind::system,
                           "cannot bind the echo thread to cpu " + std::to_string(cpu));
            return;
          }
          if (auto done = loop(); !done) error_ = std::move(done).error();
        }) {}
  EchoThread(const EchoThread&) = delete;
  EchoThread& operator=(const EchoThread&) = delete;
  ~EchoThread() { static_cast<void>(join()); }

  // Waits for the loop to end; its error, if it had one. Idempotent.
  Result<void> join() {
    if (thread_.joinable()) thread_.join();
    if (error_) return *error_;
    return ok();
  }

 private:
  std::optional<Error> error_;  // before thread_: written by the thread
  std::thread thread_;
};

// --- raw POSIX sockets -------------------------------------------------------------

inline constexpr std::uint32_t kLoopbackV4 = 0x7f00'0001;  // 127.0.0.1, host order

inline sockaddr* as_sockaddr(sockaddr_in& address) {
  return reinterpret_cast<sockaddr*>(&address);
}

inline sockaddr_in v4_address(std::uint32_t host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(host);
  address.sin_port = htons(port);
  return address;
}

// setsockopt; a failure is reported as `what`.
inline Result<void> set_socket_option(int fd, int level, int name, const void* value,
                                      socklen_t size, std::string_view what) {
  if (::setsockopt(fd, level, name, value, size) != 0) return Error::from_errno(errno, what);
  return ok();
}

inline Result<void> set_no_delay(int fd, std::string_view what = "TCP_NODELAY") {
  const int on = 1;
  return set_socket_option(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on, what);
}

// Sends all of `data` (MSG_NOSIGNAL); EAGAIN is SO_SNDTIMEO passing.
inline bool send_all(int fd, std::span<const std::byte> data, std::optional<Error>& error) {
  while (!data.empty()) {
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return fail(error, errno == EAGAIN
                             ? Error(ErrorKind::timed_out, "send: no room within the deadline")
                             : Error::from_errno(errno, "send"));
    }
    data = data.subspan(static_cast<std::size_t>(sent));
  }
  return true;
}

// --- printing and flags ---------------------------------------------------------------

// "64B", "1KiB".
inline std::string size_name(std::size_t size) {
  return size % 1024 == 0 ? std::to_string(size / 1024) + "KiB" : std::to_string(size) + "B";
}

// Parses a decimal integer in [1, max]; nullopt for anything else.
inline std::optional<int> parse_count(std::string_view text, int max) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 1 || value > max) {
    return std::nullopt;
  }
  return value;
}

// Reports `arg` of `program` as an unknown flag or a bad value; nullopt, for
// the flag parser to return.
inline std::nullopt_t bad_flag(const char* program, const char* arg) {
  std::fprintf(stderr, "%s: unknown flag or bad value: %s\n", program, arg);
  return std::nullopt;
}

// `arg` is `name` followed by a count in [1, max]: stores it in `out`, true.
inline bool parse_count_flag(std::string_view arg, std::string_view name, int max, int& out) {
  if (!arg.starts_with(name)) return false;
  const auto value = parse_count(arg.substr(name.size()), max);
  if (value) out = *value;
  return value.has_value();
}

}  // namespace nexo::bench
