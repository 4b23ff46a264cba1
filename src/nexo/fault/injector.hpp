// Injector — carries out one Direction of a Plan on a stream of datagrams.
// No I/O and no clock of its own: datagrams and `now` go in, datagrams due at
// a time come out, so tests drive it with a fake clock and every decision is
// replayable from the seed.
//
//   injector.push(bytes, now, tag);       // a datagram enters the faulty path
//   injector.pop_due(now, deliver);       // deliver(bytes, tag) for each one due
//   injector.next_due();                  // when to call pop_due again
// The tag is the caller's, carried along untouched (a proxy's session, a
// port's sender): whatever the datagram needs on the other side.
//
// Datagrams leave in the order of their due time; those due at the same time
// leave in the order they entered (so with no delay, no jitter and no
// reordering, what is delivered keeps its order). Counters say what was done.
//
// What it holds is bounded: each datagram inside (delayed, held back, or due
// but not yet popped) costs held_cost(its size), and one that would take the
// total past `max_held_bytes` is dropped on entry (counted `overflow`), so a
// long delay under a flood holds at most that much, never more. The owner may
// also drop datagrams whose destination went away (set_discard, purge).
//
// Thread contract: one thread at a time (the owner's loop); set_partitioned(),
// held_bytes() and counters() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/fault/random.hpp"

namespace nexo::fault {

using Clock = std::chrono::steady_clock;

struct Counters {
  std::uint64_t received = 0;     // datagrams that entered
  std::uint64_t delivered = 0;    // datagrams that left (copies included)
  std::uint64_t lost = 0;         // dropped by `loss`
  std::uint64_t partitioned = 0;  // dropped by the partition
  std::uint64_t duplicated = 0;   // extra copies made
  std::uint64_t reordered = 0;    // held back behind later datagrams
  std::uint64_t delayed = 0;      // given a delay > 0
  std::uint64_t corrupted = 0;    // had a bit flipped
  std::uint64_t overflow = 0;     // dropped on entry: holding it would pass max_held_bytes
  std::uint64_t discarded = 0;    // dropped while held, as the owner's discard rule said
  // "received 1000, delivered 903, lost 97, ..."
  std::string to_string() const;
};

class Injector {
 public:
  using Tag = std::shared_ptr<const void>;
  using Deliver = std::function<void(std::span<const std::byte> bytes, const Tag& tag)>;
  // true: drop this held datagram instead of delivering it.
  using Discard = std::function<bool(std::span<const std::byte> bytes, const Tag& tag)>;

  // The bytes a datagram of `size` bytes costs while held: its payload and
  // its bookkeeping (so that empty datagrams are not free to hold).
  static constexpr std::size_t kHeldOverhead = 64;
  static constexpr std::size_t held_cost(std::size_t size) noexcept { return size + kHeldOverhead; }
  static constexpr std::size_t kDefaultMaxHeldBytes = std::size_t{64} << 20;

  Injector(const Direction& direction, std::uint64_t seed,
           std::size_t max_held_bytes = kDefaultMaxHeldBytes);

  // A datagram enters at `now`. Copies it (if it survives and fits within
  // max_held_bytes). Returns the held bytes it added: 0 when it was dropped,
  // twice held_cost when it was duplicated.
  std::size_t push(std::span<const std::byte> datagram, Clock::time_point now, Tag tag = nullptr);
  // Calls `deliver` for every datagram due at `now`, in order; returns how
  // many. A datagram the discard rule (if set) rejects is dropped instead
  // (counted `discarded`, not returned).
  std::size_t pop_due(Clock::time_point now, const Deliver& deliver);
  // When the next held datagram is due; nullopt when none is held.
  std::optional<Clock::time_point> next_due() const;
  // Datagrams held (delayed or reordered), not yet due.
  std::size_t held() const noexcept { return scheduled_.size() + reorder_.size(); }
  // Their cost, sum of held_cost(size); never above max_held_bytes (any thread).
  std::size_t held_bytes() const noexcept { return held_bytes_.load(std::memory_order_relaxed); }
  std::size_t max_held_bytes() const noexcept { return max_held_bytes_; }

  // The rule for datagrams whose destination went away: consulted once for
  // each datagram as it leaves, and by purge(). It may keep state of its own
  // (it runs on the owner's thread); it must not call back into the injector.
  void set_discard(Discard discard) { discard_ = std::move(discard); }
  // Applies the discard rule to every held datagram now, freeing those it
  // rejects; returns how many. O(held()): the owner calls it when a good
  // share of what is held is known to be dead, not per datagram.
  std::size_t purge();

  // Switches the partition on or off (any thread).
  void set_partitioned(bool on) noexcept { partitioned_.store(on, std::memory_order_relaxed); }
  bool partitioned() const noexcept { return partitioned_.load(std::memory_order_relaxed); }
  Counters counters() const;
  const Direction& direction() const noexcept { return direction_; }

 private:
  struct Scheduled {
    Clock::time_point due;
    std::uint64_t order;  // entry order: ties leave first-in first-out
    Tag tag;
    Bytes bytes;
    bool operator>(const Scheduled& other) const noexcept {
      return due != other.due ? due > other.due : order > other.order;
    }
  };
  struct Held {
    unsigned behind;  // later datagrams still to pass it
    Clock::time_point until;
    Tag tag;
    Bytes bytes;
  };

  bool lose();
  bool fits(std::size_t size);
  Clock::time_point delivery_time(Clock::time_point now);
  void schedule(Bytes bytes, Tag tag, Clock::time_point due);
  void release_held(Clock::time_point now);
  void release_cost(std::size_t size) noexcept;

  const Direction direction_;
  const std::size_t max_held_bytes_;
  Discard discard_;
  Random random_;
  std::atomic<bool> partitioned_;
  bool in_burst_ = false;  // Gilbert model: the "bad" state
  double enter_burst_ = 0, leave_burst_ = 1;
  std::uint64_t next_order_ = 0;
  std::vector<Scheduled> scheduled_;  // a min-heap on (due, order): std::push_heap, greater<>
  std::vector<Held> reorder_;
  std::atomic<std::size_t> held_bytes_{0};  // written by the owner's thread only

  mutable std::atomic<std::uint64_t> received_{0}, delivered_{0}, lost_{0}, partitioned_drops_{0},
      duplicated_{0}, reordered_{0}, delayed_{0}, corrupted_{0}, overflow_{0}, discarded_{0};
};

}  // namespace nexo::fault
