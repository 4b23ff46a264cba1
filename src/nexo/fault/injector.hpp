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
// Thread contract: one thread at a time (the owner's loop); set_partitioned()
// and counters() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
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
  // "received 1000, delivered 903, lost 97, ..."
  std::string to_string() const;
};

class Injector {
 public:
  using Tag = std::shared_ptr<const void>;
  using Deliver = std::function<void(std::span<const std::byte> bytes, const Tag& tag)>;

  Injector(const Direction& direction, std::uint64_t seed);

  // A datagram enters at `now`. Copies it (if it survives).
  void push(std::span<const std::byte> datagram, Clock::time_point now, Tag tag = nullptr);
  // Calls `deliver` for every datagram due at `now`, in order; returns how many.
  std::size_t pop_due(Clock::time_point now, const Deliver& deliver);
  // When the next held datagram is due; nullopt when none is held.
  std::optional<Clock::time_point> next_due() const;
  // Datagrams held (delayed or reordered), not yet due.
  std::size_t held() const noexcept { return scheduled_.size() + reorder_.size(); }

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
  Clock::time_point delivery_time(Clock::time_point now);
  void schedule(Bytes bytes, Tag tag, Clock::time_point due);
  void release_held(Clock::time_point now);

  const Direction direction_;
  Random random_;
  std::atomic<bool> partitioned_;
  bool in_burst_ = false;  // Gilbert model: the "bad" state
  double enter_burst_ = 0, leave_burst_ = 1;
  std::uint64_t next_order_ = 0;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> scheduled_;
  std::vector<Held> reorder_;

  mutable std::atomic<std::uint64_t> received_{0}, delivered_{0}, lost_{0}, partitioned_drops_{0},
      duplicated_{0}, reordered_{0}, delayed_{0}, corrupted_{0};
};

}  // namespace nexo::fault
