#include "nexo/fault/loop_injector.hpp"

namespace nexo::fault {

LoopInjector::LoopInjector(io::LoopThread& io, const Direction& direction, std::uint64_t seed,
                           Injector::Deliver deliver)
    : io_(io),
      deliver_(std::move(deliver)),
      injector_(direction, seed),
      alive_(std::make_shared<LoopInjector*>(this)) {
  (void)io_.call<bool>([this]() -> Result<bool> {
    timer_ = std::make_unique<io::Timer>(io_.loop(), [this] { on_timer(); });
    return true;
  });
}

LoopInjector::~LoopInjector() {
  (void)io_.call<bool>([this]() -> Result<bool> {
    alive_.reset();  // tasks still queued find it gone
    timer_.reset();
    return true;
  });
}

void LoopInjector::push(std::span<const std::byte> datagram, Injector::Tag tag) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  injector_.push(datagram, now, std::move(tag));
  injector_.pop_due(now, deliver_);
  arm_locked(injector_.next_due());
}

// Makes the timer fire at `next` if it would fire later (or not at all).
void LoopInjector::arm_locked(std::optional<Clock::time_point> next) {
  if (!next || (armed_ && *armed_ <= *next)) return;
  armed_ = next;
  if (io_.in_loop_thread()) {
    timer_->start_at(*next);
    return;
  }
  io_.post([weak = std::weak_ptr<LoopInjector*>(alive_), at = *next] {
    if (auto self = weak.lock()) (*self)->timer_->start_at(at);
  });
}

void LoopInjector::on_timer() {
  std::lock_guard lock(mutex_);
  armed_.reset();
  injector_.pop_due(Clock::now(), deliver_);
  arm_locked(injector_.next_due());
}

}  // namespace nexo::fault
