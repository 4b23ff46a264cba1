// Request<T> — the one completion object of every asynchronous operation.
//
// The contract (NNG's): an operation either fails at once — it returns an
// Error and no Request, so no callback ever runs — or it returns a Request that
// completes exactly once, with the operation's result or with canceled,
// closed or timed_out. Then:
//   test()        polls: has it completed? (the chapter's "polling")
//   wait()        blocks until it has, and returns the result
//   wait_for(d)   the same, giving up after d (the Request stays pending)
//   then(cb)      cb(result) runs exactly once, when it completes (the chapter's
//                 "interrupt"): on the completing thread, or at once on the
//                 calling thread if it has already completed
//   cancel()      asks the operation to stop; it completes with canceled unless
//                 it completed first
// Blocking calls elsewhere in nexo are the asynchronous path plus wait().
// An operation may attach a Progress (progress.hpp): wait() then lends the
// waiting thread to the operation's I/O instead of sleeping (leader/follower),
// with the same result.
//
// Thread contract: every member may be called from any thread. Do not wait()
// on the thread of the loop that must complete the request: it would wait for
// ever. Request is a cheap handle; copies share one completion. The result is
// handed out once: to the then() callback if there is one, otherwise to the
// first wait()/result() call after completion (later calls get canceled).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "nexo/base/result.hpp"
#include "nexo/io/progress.hpp"

namespace nexo::io {

template <class T>
class Completer;

template <class T>
class Request {
 public:
  using Callback = std::function<void(Result<T>)>;

  // Whether the operation has completed (its result is ready or was handed to then()).
  bool test() const {
    std::lock_guard lock(state_->mutex);
    return state_->done;
  }

  // Blocks until completion and returns the result.
  Result<T> wait() { return std::move(*wait_until(std::chrono::steady_clock::time_point::max())); }

  // Blocks up to `timeout`; nullopt if still pending then.
  template <class Rep, class Period>
  std::optional<Result<T>> wait_for(std::chrono::duration<Rep, Period> timeout) {
    const auto now = std::chrono::steady_clock::now();
    const auto limit = std::chrono::steady_clock::time_point::max() - now;
    return wait_until(timeout >= limit ? std::chrono::steady_clock::time_point::max()
                                       : now + std::chrono::ceil<Clock::duration>(timeout));
  }

  // Blocks until `deadline`; nullopt if still pending then. With a Progress
  // attached, one waiting thread drives it while others sleep.
  std::optional<Result<T>> wait_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(state_->mutex);
    while (!state_->done) {
      if (state_->progress && !state_->driving) {
        drive(lock, deadline);
      } else if (deadline == std::chrono::steady_clock::time_point::max()) {
        state_->cv.wait(lock);
      } else {
        state_->cv.wait_until(lock, deadline);
      }
      if (!state_->done && std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    }
    return take(lock);
  }

  // The result, if completed (test() is true); nullopt otherwise.
  std::optional<Result<T>> result() {
    std::unique_lock lock(state_->mutex);
    if (!state_->done) return std::nullopt;
    return take(lock);
  }

  // Registers the completion callback (at most one; a second replaces nothing
  // and is a programming error). Runs now, on this thread, if already complete.
  void then(Callback callback) {
    std::unique_lock lock(state_->mutex);
    if (!state_->done) {
      state_->callback = std::move(callback);
      return;
    }
    Result<T> result = take(lock);
    lock.unlock();
    callback(std::move(result));
  }

  // Asks the operation to stop. It completes with canceled unless it already
  // completed; the operation's cancel hook runs on this thread.
  void cancel() {
    std::function<void()> hook;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->done || state_->cancel_requested) return;
      state_->cancel_requested = true;
      hook = std::move(state_->cancel_hook);
    }
    if (hook) {
      hook();  // the operation completes itself (with canceled, or its result if it won the race)
    } else {
      Completer<T>(state_).complete(Error(ErrorKind::canceled, "canceled"));
    }
  }

  // A request that is already complete (for operations that finish at once).
  static Request ready(Result<T> result) {
    auto [request, completer] = make();
    completer.complete(std::move(result));
    return request;
  }

  // A pending request and the completer the operation keeps; `progress`, if
  // given, is driven by threads that wait() on the request.
  static std::pair<Request, Completer<T>> make(std::shared_ptr<Progress> progress = nullptr) {
    auto state = std::make_shared<State>();
    state->progress = std::move(progress);
    return {Request(state), Completer<T>(state)};
  }

 private:
  friend class Completer<T>;
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    bool cancel_requested = false;
    std::optional<Result<T>> result;  // set when done and no callback took it
    Callback callback;
    std::function<void()> cancel_hook;
    std::shared_ptr<Progress> progress;
    bool driving = false;    // a waiting thread is inside progress->drive()
    std::thread::id driver;  // which one
  };
  using Clock = std::chrono::steady_clock;

  explicit Request(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Lends this thread to the operation until done, the deadline, or an interrupt.
  void drive(std::unique_lock<std::mutex>& lock, Clock::time_point deadline) {
    state_->driving = true;
    state_->driver = std::this_thread::get_id();
    std::shared_ptr<Progress> progress = state_->progress;
    lock.unlock();
    State* state = state_.get();
    progress->drive(deadline, [state] {
      std::lock_guard guard(state->mutex);
      return state->done;
    });
    lock.lock();
    state_->driving = false;
    state_->cv.notify_all();  // another waiter may drive now
  }

  Result<T> take(std::unique_lock<std::mutex>&) {
    if (!state_->result) return Error(ErrorKind::canceled, "the result was already taken");
    Result<T> out = std::move(*state_->result);
    state_->result.reset();
    return out;
  }

  std::shared_ptr<State> state_;
};

// The operation's side of a Request: complete() delivers the result exactly
// once (later calls are ignored and return false). Any thread. Move-only: a
// Completer destroyed before completing completes its Request with closed
// ("abandoned"), so a Request can never be left pending for ever.
template <class T>
class Completer {
 public:
  Completer() = default;
  Completer(Completer&&) noexcept = default;
  Completer& operator=(Completer&& other) noexcept {
    if (this != &other) {
      abandon();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Completer(const Completer&) = delete;
  Completer& operator=(const Completer&) = delete;
  ~Completer() { abandon(); }

  bool complete(Result<T> result) {
    if (!state_) return false;
    typename Request<T>::Callback callback;
    Progress* interrupt = nullptr;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->done) return false;
      state_->done = true;
      if (state_->driving && state_->driver != std::this_thread::get_id()) {
        interrupt = state_->progress.get();  // the state keeps it alive: we hold state_
      }
      state_->cancel_hook = nullptr;
      if (state_->callback) {
        callback = std::move(state_->callback);
      } else {
        state_->result.emplace(std::move(result));
      }
    }
    state_->cv.notify_all();
    if (interrupt != nullptr) interrupt->interrupt();
    if (callback) callback(std::move(result));  // outside the lock: it may start new operations
    return true;
  }

  // What cancel() runs instead of completing with canceled itself. The hook
  // must make the operation complete (with canceled, or its real result).
  void on_cancel(std::function<void()> hook) {
    if (!state_) return;
    bool run_now = false;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->done) return;
      if (state_->cancel_requested) {
        run_now = true;
      } else {
        state_->cancel_hook = std::move(hook);
      }
    }
    if (run_now) hook();
  }

  bool cancel_requested() const {
    if (!state_) return false;
    std::lock_guard lock(state_->mutex);
    return state_->cancel_requested;
  }
  bool done() const {
    if (!state_) return true;
    std::lock_guard lock(state_->mutex);
    return state_->done;
  }

 private:
  friend class Request<T>;
  explicit Completer(std::shared_ptr<typename Request<T>::State> state)
      : state_(std::move(state)) {}
  void abandon() {
    if (state_)
      complete(Error(ErrorKind::closed, "the operation was abandoned before it completed"));
  }
  std::shared_ptr<typename Request<T>::State> state_;
};

}  // namespace nexo::io
