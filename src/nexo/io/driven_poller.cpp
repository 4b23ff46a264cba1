#include "nexo/io/driven_poller.hpp"

#include <array>
#include <atomic>

#include "nexo/io/io_watcher.hpp"
#include "nexo/io/timer.hpp"

namespace nexo::io {
namespace {

using namespace std::chrono_literals;

constexpr auto kTakeOverAfter = 1ms;  // a leader gone this long: the I/O thread runs it again
constexpr auto kMaxRecheck = 64ms;    // how often to look while a thread keeps leading

Timeout until(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return std::nullopt;
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0ms;
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

}  // namespace

// --- DrivenPoller ----------------------------------------------------------------

void DrivenPoller::drive(Clock::time_point deadline, const std::function<bool()>& done) {
  {
    std::unique_lock lock(mutex_);
    if (leader_) {  // follow: sleep until the leader leaves or our wait is over
      const std::uint64_t seen = interrupts_;
      left_.wait_until(lock, deadline, [&] { return !leader_ || interrupts_ != seen || done(); });
      return;
    }
    leader_ = true;
  }
  // Lead: handle what is ready; sleep in the Poller until more is, the
  // deadline, or an interrupt. The first round only looks. While direct waits
  // bring input, and no interrupt is pending, they replace the Poller's.
  std::array<Poller::Event, Poller::kMaxEvents> events;
  std::size_t ready = 0;
  bool direct = true;
  const std::uint64_t interrupts_at_start = interrupts_seen();
  for (;;) {
    handle(std::span<const Poller::Event>(events).first(ready));
    if (done()) break;
    const Timeout wait = until(deadline);
    if (wait && wait->count() == 0) break;
    ready = 0;
    if (direct && (!wait || *wait > kDirectWaitLimit) && interrupts_seen() == interrupts_at_start) {
      direct = wait_directly();
      continue;  // done() again, then another direct wait or the Poller
    }
    ready = poller_.wait(events, wait);
  }
  {
    std::lock_guard lock(mutex_);
    leader_ = false;
    left_at_ = Clock::now();
  }
  left_.notify_all();
}

std::uint64_t DrivenPoller::interrupts_seen() const {
  std::lock_guard lock(mutex_);
  return interrupts_;
}

void DrivenPoller::interrupt() noexcept {
  {
    std::lock_guard lock(mutex_);
    ++interrupts_;
  }
  left_.notify_all();
  poller_.interrupt();
}

bool DrivenPoller::run_from_loop() {
  {
    std::lock_guard lock(mutex_);
    if (leader_) return false;
  }
  std::array<Poller::Event, Poller::kMaxEvents> events;
  const std::size_t ready = poller_.wait(events, 0ms);
  handle(std::span<const Poller::Event>(events).first(ready));
  return true;
}

std::optional<Clock::duration> DrivenPoller::idle_for() const {
  std::lock_guard lock(mutex_);
  if (leader_) return std::nullopt;
  return Clock::now() - left_at_;
}

// --- LoopFallback ----------------------------------------------------------------

struct LoopFallback::State {
  explicit State(std::shared_ptr<DrivenPoller> d) : driven(std::move(d)) {}

  // The poller has work. A leader does it: then stop watching (the loop would
  // wake for every event) and look again later.
  void on_ready() {
    if (driven->run_from_loop()) return;
    watcher->stop();
    armed = false;
    recheck_delay = kTakeOverAfter;
    recheck->start(kTakeOverAfter);
  }
  void on_recheck() {
    if (armed) return;
    const auto idle = driven->idle_for();
    if (!idle) {  // still leading: look less often the longer it leads
      recheck_delay = std::min<Clock::duration>(recheck_delay * 2, kMaxRecheck);
      return recheck->start(recheck_delay);
    }
    if (*idle < kTakeOverAfter) return recheck->start(kTakeOverAfter - *idle);
    arm();
  }
  void arm() {
    if (!armed && watcher->start(kReadable)) armed = true;
  }

  const std::shared_ptr<DrivenPoller> driven;
  std::atomic<bool> armed{false};       // the loop watches the poller
  std::atomic<bool> arm_posted{false};  // want_background() has asked the loop to
  std::unique_ptr<IoWatcher> watcher;
  std::unique_ptr<Timer> recheck;
  Clock::duration recheck_delay = kTakeOverAfter;
};

Result<std::unique_ptr<LoopFallback>> LoopFallback::start(LoopThread& io,
                                                          std::shared_ptr<DrivenPoller> driven) {
  auto state = std::make_shared<State>(std::move(driven));
  auto started = io.call<bool>([&io, s = state.get()]() -> Result<bool> {
    s->watcher = std::make_unique<IoWatcher>(io.loop(), s->driven->poller().native_handle(),
                                             [s](std::uint32_t) { s->on_ready(); });
    s->recheck = std::make_unique<Timer>(io.loop(), [s] { s->on_recheck(); });
    s->arm();
    if (!s->armed) {
      s->watcher.reset();
      s->recheck.reset();
      return Error(ErrorKind::system, "cannot watch a poller from the I/O loop");
    }
    return true;
  });
  if (!started) return std::move(started).error();
  return std::unique_ptr<LoopFallback>(new LoopFallback(io, std::move(state)));
}

LoopFallback::~LoopFallback() {
  (void)io_.call<bool>([this]() -> Result<bool> {
    state_->watcher.reset();
    state_->recheck.reset();
    state_.reset();  // tasks still queued find it gone
    return true;
  });
}

void LoopFallback::want_background() {
  if (state_->armed.load() || state_->arm_posted.exchange(true)) return;
  io_.post([weak = std::weak_ptr<State>(state_)] {
    auto s = weak.lock();
    if (!s) return;
    s->arm_posted = false;
    s->recheck->stop();
    s->arm();
  });
}

}  // namespace nexo::io
