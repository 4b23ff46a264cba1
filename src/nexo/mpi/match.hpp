// mpi::Matcher — MPI's message matching: posted receives against arrived
// messages, by (context, source, tag), with wildcards and the non-overtaking
// rule.
//
// The rule (MPI 4.1 §3.5): two messages from one sender on one communicator
// that both match a receive are received in the order they were sent; a
// message matches the earliest posted receive that fits it, and a receive the
// earliest arrived (unexpected) message that fits it. Frames from one sender
// arrive in send order (transports keep order per peer), so arrival order is
// send order.
//
// Design. Every posted receive and every unexpected message carries a sequence
// number from one counter (post or arrival order). They are kept in FIFO
// queues keyed by their exact (context, source, tag) triple, where a posted
// receive's source and tag may be kAnySource / kAnyTag; a queue is ordered by
// construction, so "earliest" is always a queue head:
//   - a message (c, s, t) arrives: only four posted queues can hold a receive
//     for it: (c,s,t), (c,s,ANY), (c,ANY,t), (c,ANY,ANY). The match is the head
//     with the lowest sequence number: four hash look-ups, no scan.
//   - a receive (c, s, t) is posted with no wildcard: one unexpected queue,
//     (c,s,t), and its head. With wildcards, the heads of the unexpected
//     queues that fit (found through a per-context index of non-empty queues:
//     sources, then tags) are compared by sequence number: the cost is the
//     number of distinct (source, tag) pairs pending in that context, never
//     the number of messages.
// A queue that empties is kept (with its storage) while its map holds at most
// kKeepQueues queues, so that a steady exchange on a few (context, source,
// tag) triples allocates nothing; past that, empty queues are erased, so memory
// follows what is pending. Empty queues in a map are skipped as if absent.
//
// Handles are the caller's (request ids, message ids); the Matcher stores and
// returns them, nothing else. Not thread-safe: one rank's engine owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "nexo/base/ring.hpp"

namespace nexo::mpi {

inline constexpr std::int32_t kAnySource = -1;
inline constexpr std::int32_t kAnyTag = -1;

// What a message carries and a receive asks for (the receive's source and tag
// may be kAnySource / kAnyTag).
struct Envelope {
  std::uint32_t context = 0;
  std::int32_t source = 0;
  std::int32_t tag = 0;
  friend bool operator==(const Envelope&, const Envelope&) = default;
};

// Whether a receive's `pattern` accepts a message's `message` envelope.
inline bool matches(const Envelope& pattern, const Envelope& message) noexcept {
  return pattern.context == message.context &&
         (pattern.source == kAnySource || pattern.source == message.source) &&
         (pattern.tag == kAnyTag || pattern.tag == message.tag);
}

class Matcher {
 public:
  using Handle = std::uint64_t;

  // A message with envelope `message` (no wildcards) arrived. Returns the
  // earliest posted receive that matches it, removed from the posted ones; or
  // nullopt, and `handle` is kept as an unexpected message.
  std::optional<Handle> arrive(const Envelope& message, Handle handle);

  // A receive with `pattern` is posted. Returns the earliest unexpected message
  // that matches, removed; or nullopt, and `receive` is kept as posted.
  // `receive` must not be posted already.
  std::optional<Handle> post(const Envelope& pattern, Handle receive);

  // Whether arrive(message, ...) would match a posted receive now (no change).
  bool has_posted_for(const Envelope& message) const;

  struct Probed {
    Handle message;
    Envelope envelope;
  };
  // The message post(pattern, ...) would match now, left in place (MPI_Iprobe).
  std::optional<Probed> probe(const Envelope& pattern) const;

  // Removes a posted receive that has not matched; false if it is not posted.
  bool cancel(Handle receive);
  // The same, given the pattern it was posted with (no scan of the other patterns' queues).
  bool cancel(const Envelope& pattern, Handle receive);

  std::size_t posted_count() const noexcept { return posted_size_; }

  // How many empty queues a map keeps (see Design).
  static constexpr std::size_t kKeepQueues = 64;
  std::size_t unexpected_count() const noexcept { return unexpected_size_; }

 private:
  struct Entry {
    std::uint64_t seq;
    Handle handle;
  };
  struct KeyHash {
    std::size_t operator()(const Envelope& e) const noexcept;
  };
  using Queue = Ring<Entry>;
  using Queues = std::unordered_map<Envelope, Queue, KeyHash>;
  // context -> source -> tags whose unexpected queue is not empty.
  using Index =
      std::unordered_map<std::uint32_t,
                         std::unordered_map<std::int32_t, std::unordered_set<std::int32_t>>>;

  // The unexpected queue whose head matches `pattern` earliest; nullptr if none.
  const Queue* earliest_unexpected(const Envelope& pattern, Envelope& key) const;
  void pop_unexpected(const Envelope& key);
  // After a queue of `queues` emptied: erases it unless the map is small (kKeepQueues).
  static void drop_if_many(Queues& queues, Queues::iterator emptied);

  std::uint64_t next_seq_ = 0;
  Queues posted_;
  std::size_t posted_size_ = 0;
  Queues unexpected_;
  Index index_;
  std::size_t unexpected_size_ = 0;
};

}  // namespace nexo::mpi
