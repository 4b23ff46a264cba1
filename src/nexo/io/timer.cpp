#include "nexo/io/timer.hpp"

namespace nexo::io {

void Timer::start(Clock::duration delay, std::optional<Clock::duration> repeat) {
  repeat_ = repeat;
  start_at(Clock::now() + delay);
  repeat_ = repeat;  // start_at clears it for one-shot use
}

void Timer::start_at(Clock::time_point deadline) {
  stop();
  repeat_.reset();
  deadline_ = deadline;
  id_ = loop_.schedule(deadline, this);
}

void Timer::stop() noexcept {
  if (id_ == 0) return;
  loop_.unschedule(id_);
  id_ = 0;
}

void Timer::fire() {
  id_ = 0;  // the loop already removed it
  if (repeat_) {
    auto repeat = *repeat_;
    deadline_ += repeat;
    if (deadline_ <= loop_.now())
      deadline_ = loop_.now() + repeat;  // fell behind: skip, don't burst
    id_ = loop_.schedule(deadline_, this);
  }
  callback_();  // may stop or restart this timer (not destroy it: see event_loop.hpp)
}

}  // namespace nexo::io
