// Counters — what passed through a port or a sender, for `nexo stat` and --stats.
// Updated with relaxed atomics from any thread; read as a consistent-enough snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace nexo::msg {

struct CounterSnapshot {
  std::uint64_t messages_in = 0, bytes_in = 0;
  std::uint64_t messages_out = 0, bytes_out = 0;
  std::uint64_t dropped = 0;           // lost on purpose: a full queue on udp://
  std::uint64_t malformed = 0;         // refused input: oversized frames, bad headers
  std::uint64_t queue_high_water = 0;  // most messages ever waiting in the queue
  std::uint64_t rejected = 0;  // connections closed on arrival: over the limit, or setup failed
  std::uint64_t timed_out = 0;         // connections closed for a frame left half-sent (or broken)
  std::uint64_t retransmitted = 0;     // rudp://: packets sent again (lost, or their ack was)
  std::uint64_t budget_waits = 0;      // tcp://: reads held back, the partial-frame budget spent

  // "in 3 msgs / 120 B, out 0 msgs / 0 B, dropped 0, malformed 0, queue high-water 2, ..."
  // (", retransmitted N" and ", budget waits N" at the end when nonzero)
  std::string to_string() const;
};

class Counters {
 public:
  void add_in(std::size_t bytes) noexcept {
    messages_in_.fetch_add(1, std::memory_order_relaxed);
    bytes_in_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void add_out(std::size_t bytes) noexcept {
    messages_out_.fetch_add(1, std::memory_order_relaxed);
    bytes_out_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void add_out_many(std::uint64_t messages, std::uint64_t bytes) noexcept {
    messages_out_.fetch_add(messages, std::memory_order_relaxed);
    bytes_out_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void add_dropped() noexcept { dropped_.fetch_add(1, std::memory_order_relaxed); }
  void add_malformed() noexcept { malformed_.fetch_add(1, std::memory_order_relaxed); }
  void add_rejected() noexcept { rejected_.fetch_add(1, std::memory_order_relaxed); }
  void add_timed_out() noexcept { timed_out_.fetch_add(1, std::memory_order_relaxed); }
  void add_budget_wait() noexcept { budget_waits_.fetch_add(1, std::memory_order_relaxed); }
  void add_retransmitted(std::uint64_t n) noexcept {
    retransmitted_.fetch_add(n, std::memory_order_relaxed);
  }
  void note_queue_depth(std::size_t depth) noexcept {
    std::uint64_t seen = high_water_.load(std::memory_order_relaxed);
    while (depth > seen &&
           !high_water_.compare_exchange_weak(seen, depth, std::memory_order_relaxed)) {
    }
  }
  CounterSnapshot snapshot() const noexcept;

 private:
  std::atomic<std::uint64_t> messages_in_{0}, bytes_in_{0}, messages_out_{0}, bytes_out_{0};
  std::atomic<std::uint64_t> dropped_{0}, malformed_{0}, high_water_{0}, rejected_{0},
      timed_out_{0}, retransmitted_{0}, budget_waits_{0};
};

}  // namespace nexo::msg
