// Counters — what passed through a port or a sender, for `nexo stat` and --stats.
// Updated with relaxed atomics from any thread; read as a consistent-enough snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nexo/base/counter_file.hpp"

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

// The counters of one Port or Sender. The values live in this process's
// counter file (base/counter_file.hpp), so `nexo stat` reads them while the
// program runs; there is no second copy. When there is no file (NEXO_STAT=0,
// or it is full) they live in private memory and count the same.
// Every update is one relaxed atomic add per value; any thread.
class Counters {
 public:
  // Published as type "counters" with no label until describe() names it.
  Counters();
  // Names the record in the counter file: `type` "port" or "sender", `label`
  // the uri. Any thread; not concurrently with itself. Const: the name is
  // the file's, not part of the counts.
  void describe(std::string_view type, std::string_view label) const noexcept;

  void add_in(std::size_t bytes) noexcept {
    block_.add(kMessagesIn);
    block_.add(kBytesIn, bytes);
  }
  void add_in_many(std::uint64_t messages, std::uint64_t bytes) noexcept {
    block_.add(kMessagesIn, messages);
    block_.add(kBytesIn, bytes);
  }
  void add_out(std::size_t bytes) noexcept {
    block_.add(kMessagesOut);
    block_.add(kBytesOut, bytes);
  }
  void add_out_many(std::uint64_t messages, std::uint64_t bytes) noexcept {
    block_.add(kMessagesOut, messages);
    block_.add(kBytesOut, bytes);
  }
  void add_dropped() noexcept { block_.add(kDropped); }
  void add_malformed() noexcept { block_.add(kMalformed); }
  void add_rejected() noexcept { block_.add(kRejected); }
  void add_timed_out() noexcept { block_.add(kTimedOut); }
  void add_retransmitted(std::uint64_t n) noexcept { block_.add(kRetransmitted, n); }
  void add_budget_wait() noexcept { block_.add(kBudgetWaits); }
  void note_queue_depth(std::size_t depth) noexcept { block_.raise_to(kHighWater, depth); }
  CounterSnapshot snapshot() const noexcept;
  // Whether `nexo stat` can see these counters.
  bool published() const noexcept { return block_.published(); }

 private:
  // The values' places in the record (their names: counters.cpp).
  enum : std::size_t {
    kMessagesIn,
    kBytesIn,
    kMessagesOut,
    kBytesOut,
    kDropped,
    kMalformed,
    kHighWater,
    kRejected,
    kTimedOut,
    kRetransmitted,
    kBudgetWaits,
    kCount
  };
  mutable CounterBlock block_;
};

}  // namespace nexo::msg
