// PortQueue — the queue at a destination: messages that have arrived and not
// yet been received, and receives waiting for messages. Bounded by a count and
// a byte total; a full queue refuses offers (the transport decides what that
// means: TCP stops reading, UDP drops and counts, inproc makes the sender wait).
//
// Thread contract: every member may be called from any thread. Callbacks
// (completions, on_taken, space listeners) run outside the queue's lock; a
// transport that offers while holding a lock of its own passes a Handoffs to
// run them after it lets go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/io/request.hpp"
#include "nexo/msg/counters.hpp"
#include "nexo/msg/message.hpp"
#include "nexo/msg/uri.hpp"

namespace nexo::msg {

struct QueueLimits {
  std::size_t max_messages = 1024;    // messages waiting to be received
  std::size_t max_bytes = 64u << 20;  // their payload bytes (an empty queue takes any one message)
};

class PortQueue {
 public:
  // Runs when a receive takes the message (a synchronous send's acknowledgement).
  using OnTaken = std::function<void()>;

  enum class Offer { accepted, full, closed };

  // A message offered with what runs when a receive takes it.
  struct Arrival {
    Message message;
    OnTaken on_taken;
  };
  // What offer_all() did: the arrivals accepted (from the front), and why it
  // stopped (accepted: it took them all).
  struct Offered {
    std::size_t accepted = 0;
    Offer stop = Offer::accepted;
  };

  // Messages handed to waiting receives, whose completion (and on_taken) the
  // offering transport runs later, outside its own locks.
  class Handoffs {
   public:
    Handoffs() = default;
    Handoffs(Handoffs&&) noexcept = default;
    Handoffs& operator=(Handoffs&&) = delete;
    ~Handoffs() { run(); }
    bool empty() const noexcept { return items_.empty(); }
    void run();

   private:
    friend class PortQueue;
    struct Item {
      io::Completer<Message> completer;
      Message message;
      OnTaken on_taken;
    };
    std::vector<Item> items_;
  };

  PortQueue(QueueLimits limits, Counters& counters) : limits_(limits), counters_(counters) {}

  // Hands `message` to a waiting receive, or queues it. On full or closed the
  // message is left untouched (still the caller's). With `later`, a handed-over
  // message completes its receive when later->run() runs (or `later` dies).
  Offer offer(Message& message, OnTaken on_taken = {}, Handoffs* later = nullptr);
  // offer() of each of `arrivals` in order, under one lock (a transport that
  // cut many messages from one read): the accepted ones are moved from (to
  // waiting receives through `later`, else into the queue); at the first one
  // refused (full, closed) it stops and leaves that one and the rest untouched.
  Offered offer_all(std::span<Arrival> arrivals, Handoffs& later);

  // Calls `listener` once, when receives have drained the queue to half its
  // limits (or it closes): at once, on this thread, if it already has. The
  // half-way mark keeps a full queue from waking its transport per message.
  void when_space(std::function<void()> listener);

  // The oldest message now; would_block if none, closed once closed and drained.
  Result<Message> try_take();
  // The oldest message now, if there is one (no error to build: the hot path).
  std::optional<Message> take_now();
  // The oldest message when there is one (the Request completes at once if one
  // is queued); cancel() removes the waiting receive. `progress`, if given, is
  // driven by a thread that waits on the Request (see io/progress.hpp).
  io::Request<Message> take_async(std::shared_ptr<io::Progress> progress = nullptr);
  // The blocking receive: take_now(), else take_async(progress) and wait up to
  // `timeout` (the wait drives `progress`). Errors: timed_out ("<what> <where>:
  // no message within N ms"), closed.
  Result<Message> take(Timeout timeout, std::shared_ptr<io::Progress> progress,
                       std::string_view what, const Uri& where);

  // Fails waiting receives with closed (or `why`: what ended the transport);
  // later offers return closed. Queued messages can still be taken, then
  // receives fail the same way. Idempotent: the first reason stays.
  void close(std::optional<Error> why = std::nullopt);
  // Drops the queued messages (their synchronous senders learn closed). For
  // the Port's destructor: nobody will take them now.
  void discard();

  std::size_t depth() const;
  const QueueLimits& limits() const noexcept { return limits_; }

 private:
  using Entry = Arrival;
  struct Waiter {
    std::uint64_t id;
    io::Completer<Message> completer;
  };

  bool full_locked(std::size_t incoming) const;
  bool half_empty_locked() const;
  std::vector<std::function<void()>> take_space_listeners_locked();
  // Removes the front entry; the space listeners due now go to `listeners`.
  Entry pop_locked(std::vector<std::function<void()>>& listeners);

  const QueueLimits limits_;
  Counters& counters_;
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;
  std::size_t bytes_ = 0;
  std::list<Waiter> waiters_;
  std::uint64_t next_waiter_ = 1;
  std::vector<std::function<void()>> space_listeners_;
  bool closed_ = false;
  Error close_error_{ErrorKind::closed, "receive: the port is closed"};
};

}  // namespace nexo::msg
