// Timer — calls back once at a deadline, or repeatedly at an interval.
//
// Registered with one EventLoop while armed; neither copied nor moved. Loop
// thread only (see EventLoop's lifetime rules). A timer never fires early, and
// on an idle loop fires within the kernel's timer slack (50 us by default) of
// its deadline (within about a millisecond on kernels before 5.11, which have
// no epoll_pwait2).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "nexo/io/event_loop.hpp"

namespace nexo::io {

class Timer {
 public:
  Timer(EventLoop& loop, std::function<void()> callback)
      : loop_(loop), callback_(std::move(callback)) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() { stop(); }

  // Arms the timer to fire after `delay`, then every `repeat` if given
  // (re-arming an armed timer replaces its deadline).
  void start(Clock::duration delay, std::optional<Clock::duration> repeat = std::nullopt);
  // Arms the timer to fire once at `deadline`.
  void start_at(Clock::time_point deadline);
  // Disarms; the callback will not run again until restarted. Idempotent.
  void stop() noexcept;

  bool armed() const noexcept { return id_ != 0; }
  Clock::time_point deadline() const noexcept { return deadline_; }

 private:
  friend class EventLoop;
  void fire();

  EventLoop& loop_;
  std::function<void()> callback_;
  std::uint64_t id_ = 0;  // 0: not armed
  Clock::time_point deadline_{};
  std::optional<Clock::duration> repeat_;
};

}  // namespace nexo::io
