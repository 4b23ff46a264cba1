// DrivenPoller — a Poller whose ready I/O is done by whichever thread waits on
// it (the leader/follower pattern), with the I/O thread as the fallback.
//
// A thread blocked on a Request whose Progress is a DrivenPoller leads: it waits
// on the Poller and calls handle() itself, so what it waits for needs no hop
// from the I/O thread. One thread leads at a time; others follow (sleep) until
// it leaves or their own wait is over. While nobody leads, LoopFallback runs
// handle() from the Context's I/O loop; while somebody does, the loop steps
// aside (stops watching: it would wake for every event) and takes over again
// once the leader has been gone for a millisecond, or at once when
// want_background() says a Request has nobody to drive it.
//
// A subclass with one descriptor may lead more cheaply: wait_directly() blocks
// in its read (one system call where waiting in the Poller and then reading
// takes two). An interrupt does not end that wait, so it is bounded
// (kDirectWaitLimit), tried only with more than that left before the
// deadline, and given up for the Poller once it comes back empty: an
// interrupt waits at most that long.
//
// Users: the tcp:// port (its listener and connections) and the tcp:// sender
// (replies and acknowledgements on its connection; it waits directly).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "nexo/io/loop_thread.hpp"
#include "nexo/io/poller.hpp"
#include "nexo/io/progress.hpp"

namespace nexo::io {

class DrivenPoller : public Progress {
 public:
  explicit DrivenPoller(Poller poller) : poller_(std::move(poller)) {}

  Poller& poller() noexcept { return poller_; }

  // How long wait_directly() may block at most.
  static constexpr std::chrono::milliseconds kDirectWaitLimit{2};

  // Progress: lead (wait on the Poller, handle what is ready) or follow.
  void drive(Clock::time_point deadline, const std::function<bool()>& done) final;
  void interrupt() noexcept final;

  // The I/O thread's side: handles what is ready without waiting. false: a
  // thread leads; nothing was done.
  bool run_from_loop();
  // How long since the last leader left; nullopt while one leads.
  std::optional<Clock::duration> idle_for() const;

 protected:
  // Does the I/O `events` report; `events` may be empty (an interrupt: work
  // flagged by another thread may be pending). The leader and the I/O thread
  // may call it at the same time: it does its own locking. Never throws.
  virtual void handle(std::span<const Poller::Event> events) = 0;
  // The leader's cheaper wait, where there is one: blocks in a read of the one
  // descriptor for up to kDirectWaitLimit and does what handle() would with
  // what came. false: nothing came, or it cannot wait so now (the Poller
  // waits instead). Never throws.
  virtual bool wait_directly() { return false; }

 private:
  std::uint64_t interrupts_seen() const;

  Poller poller_;
  mutable std::mutex mutex_;
  std::condition_variable left_;  // the leader left, or interrupt()
  bool leader_ = false;
  std::uint64_t interrupts_ = 0;
  Clock::time_point left_at_{};
};

// The I/O thread's part: watches a DrivenPoller's descriptor from a LoopThread
// and runs it while no thread leads. Create and destroy from any thread other
// than the loop's own (both wait for the loop); want_background() from any.
class LoopFallback {
 public:
  // Errors: system (cannot watch the descriptor).
  static Result<std::unique_ptr<LoopFallback>> start(LoopThread& io,
                                                     std::shared_ptr<DrivenPoller> driven);
  LoopFallback(const LoopFallback&) = delete;
  LoopFallback& operator=(const LoopFallback&) = delete;
  ~LoopFallback();

  // A Request waits that nobody may drive (a then() or test() user): the loop
  // takes over now. Any thread; cheap when it already watches.
  void want_background();

 private:
  struct State;
  explicit LoopFallback(LoopThread& io, std::shared_ptr<State> state)
      : io_(io), state_(std::move(state)) {}
  LoopThread& io_;
  std::shared_ptr<State> state_;  // loop thread; tasks posted from elsewhere hold it weakly
};

}  // namespace nexo::io
