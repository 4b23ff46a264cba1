// EventLoop — an epoll event loop: readiness watchers, timers, and a
// thread-safe queue of posted tasks. One loop per thread.
//
// Iteration order (one call of run_once):
//   1. wait in epoll_pwait2 until an fd is ready, the nearest timer is due, a
//      task is posted, or the given limit passes (no wait if tasks are queued);
//   2. dispatch the ready watchers, in the order epoll reported them;
//   3. fire the timers that are due, earliest first (a timer started by a
//      callback in this step fires in a later iteration, never in this one);
//   4. run the posted tasks queued before this step began (tasks posted while
//      they run wait for the next iteration).
//
// Lifetime rules:
//   - IoWatcher and Timer register themselves with a loop and unregister in
//     their destructors; they are neither copied nor moved, and must be
//     destroyed (or stopped) on the loop's thread, before the loop.
//   - A watcher or timer stopped or destroyed from inside another callback is
//     never called again, even if it was ready in the same iteration. A
//     callback may stop or restart its own watcher or timer, but not destroy it
//     (its std::function is running): defer the destruction with post().
//   - Destroying the loop with watchers or timers still registered is a
//     programming error (asserted); registered_count() lets a test check that
//     a component cleaned up after itself. Posted tasks never run are destroyed.
//
// Thread contract: post(), stop() and wake() may be called from any thread.
// Everything else belongs to the loop's thread: the thread that created the loop
// until run()/run_once() is first called, then the thread that runs it.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::io {

using Clock = std::chrono::steady_clock;

class IoWatcher;
class Timer;

class EventLoop {
 public:
  using Task = std::function<void()>;

  // Creates a loop (an epoll instance and an eventfd for wakeups).
  // Errors: overloaded (out of descriptors), system.
  static Result<std::unique_ptr<EventLoop>> create();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  // Runs iterations until stop() is called. Loop thread only.
  void run();
  // Runs one iteration, waiting at most `limit` (nullopt: until something happens).
  // Returns the number of callbacks and tasks it ran. Loop thread only.
  std::size_t run_once(Timeout limit = std::nullopt);
  // Makes run() return after the current iteration. Any thread.
  void stop();
  bool stopping() const noexcept { return stop_requested_.load(std::memory_order_acquire); }

  // Queues `task` to run on the loop's thread in step 4. Any thread; never blocks.
  void post(Task task);
  // Interrupts a wait in epoll_wait. Any thread.
  void wake() noexcept;

  // Whether the caller is on the loop's thread.
  bool in_loop_thread() const noexcept {
    return std::this_thread::get_id() == owner_.load(std::memory_order_acquire);
  }
  // Watchers and timers currently registered (armed), for leak checks in tests.
  std::size_t registered_count() const noexcept { return watchers_ + timers_.size(); }
  // Deadlines queued, live or stale (stale ones are compacted away): for tests and stats.
  std::size_t timer_queue_size() const noexcept { return deadlines_.size(); }
  // The loop's notion of now: the time the current iteration started.
  Clock::time_point now() const noexcept { return now_; }

 private:
  friend class IoWatcher;
  friend class Timer;

  EventLoop(net::FileDescriptor epoll, net::FileDescriptor wakeup);
  void adopt_thread() noexcept;
  std::size_t dispatch_io(int ready);
  std::size_t fire_timers();
  std::size_t run_tasks();
  std::int64_t wait_ns(Timeout limit) const;

  // Called by IoWatcher / Timer.
  Result<void> watch(int fd, std::uint32_t events, IoWatcher* watcher, bool add);
  void unwatch(int fd, IoWatcher* watcher) noexcept;
  std::uint64_t schedule(Clock::time_point deadline, Timer* timer);
  void unschedule(std::uint64_t id) noexcept;

  struct Due {
    Clock::time_point deadline;
    std::uint64_t id;
    bool operator>(const Due& other) const noexcept {
      return deadline != other.deadline ? deadline > other.deadline : id > other.id;
    }
  };

  net::FileDescriptor epoll_;
  net::FileDescriptor wakeup_;  // eventfd
  std::atomic<std::thread::id> owner_;
  Clock::time_point now_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> wake_pending_{false};

  std::vector<epoll_event> events_;
  std::span<epoll_event> dispatching_;  // the batch being dispatched (see unwatch)
  std::size_t watchers_ = 0;

  std::priority_queue<Due, std::vector<Due>, std::greater<>> deadlines_;
  std::unordered_map<std::uint64_t, Timer*> timers_;  // armed timers by id
  std::uint64_t next_timer_id_ = 1;

  std::mutex tasks_mutex_;
  std::vector<Task> tasks_;    // guarded by tasks_mutex_
  std::vector<Task> running_;  // swapped out of tasks_ on the loop thread
};

}  // namespace nexo::io
