// The harness of nexo's ping-pong benchmarks: latency samples and their
// percentiles, the message a client sends and checks, the timed loop of round
// trips, and the echo thread that answers it.
//
// Benchmarks print, they never gate: nothing here compares a number against a
// limit and fails.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
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

// Parses a decimal integer in [1, max]; nullopt for anything else.
inline std::optional<int> parse_count(std::string_view text, int max) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 1 || value > max) {
    return std::nullopt;
  }
  return value;
}

}  // namespace nexo::bench
