#include "nexo/io/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "nexo/io/io_watcher.hpp"
#include "nexo/io/timer.hpp"

namespace nexo::io {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  net::FileDescriptor epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return Error::from_errno(errno, "event loop: epoll_create1");
  net::FileDescriptor wakeup(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeup) return Error::from_errno(errno, "event loop: eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  std::unique_ptr<EventLoop> loop(new EventLoop(std::move(epoll), std::move(wakeup)));
  event.data.ptr = loop.get();  // the loop's own address marks the wakeup eventfd
  if (::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->wakeup_.get(), &event) != 0) {
    return Error::from_errno(errno, "event loop: watch the wakeup eventfd");
  }
  return loop;
}

EventLoop::EventLoop(net::FileDescriptor epoll, net::FileDescriptor wakeup)
    : epoll_(std::move(epoll)),
      wakeup_(std::move(wakeup)),
      owner_(std::this_thread::get_id()),
      now_(Clock::now()),
      events_(256) {}

EventLoop::~EventLoop() {
  if (registered_count() != 0) {
    std::fprintf(stderr, "nexo: event loop destroyed with %zu watchers and %zu timers registered\n",
                 watchers_, timers_.size());
    assert(false && "EventLoop destroyed with watchers or timers registered");
  }
}

void EventLoop::adopt_thread() noexcept {
  owner_ = std::this_thread::get_id();
}

void EventLoop::run() {
  adopt_thread();
  while (!stop_requested_.load(std::memory_order_acquire))
    run_once();
  stop_requested_.store(false, std::memory_order_release);  // the loop may be run again
}

void EventLoop::stop() {
  stop_requested_.store(true, std::memory_order_release);
  wake();
}

void EventLoop::post(Task task) {
  {
    std::lock_guard lock(tasks_mutex_);
    tasks_.push_back(std::move(task));
  }
  wake();
}

void EventLoop::wake() noexcept {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;  // one write is enough
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakeup_.get(), &one, sizeof one);
}

// How long step 1 may wait: nanoseconds, or -1 for no limit. The nearest
// timer's deadline is kept to the nanosecond (epoll_pwait2): a wait rounded
// up to whole milliseconds made every timer up to 1 ms late, a NAK's back-off
// of 0.3 ms (group/) a wait of 1 ms.
std::int64_t EventLoop::wait_ns(Timeout limit) const {
  if (wake_pending_.load(std::memory_order_acquire)) return 0;
  std::int64_t ns = limit ? std::chrono::nanoseconds(*limit).count() : -1;
  if (!deadlines_.empty()) {
    const auto until = std::chrono::duration_cast<std::chrono::nanoseconds>(
        deadlines_.top().deadline - Clock::now());
    const std::int64_t due = until.count() < 0 ? 0 : until.count();
    ns = ns < 0 ? due : std::min(ns, due);
  }
  return ns;
}

namespace {

// epoll_pwait2 where the kernel has it (5.11 on), epoll_wait with the wait
// rounded up to milliseconds where it does not (ENOSYS, learnt once).
int wait_for_events(int epoll, epoll_event* events, int max, std::int64_t ns) {
  static std::atomic<bool> fine_wait{true};
  if (fine_wait.load(std::memory_order_relaxed)) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    const int ready = ::epoll_pwait2(epoll, events, max, ns < 0 ? nullptr : &ts, nullptr);
    if (ready >= 0 || errno != ENOSYS) return ready;
    fine_wait.store(false, std::memory_order_relaxed);
  }
  long long ms = ns < 0 ? -1 : (ns + 999'999) / 1'000'000;
  if (ms > 1'000'000'000) ms = 1'000'000'000;
  return ::epoll_wait(epoll, events, max, static_cast<int>(ms));
}

}  // namespace

std::size_t EventLoop::run_once(Timeout limit) {
  if (!in_loop_thread()) adopt_thread();
  const int ready = wait_for_events(epoll_.get(), events_.data(), static_cast<int>(events_.size()),
                                    wait_ns(limit));
  now_ = Clock::now();
  std::size_t ran = 0;
  if (ready > 0) ran += dispatch_io(ready);
  ran += fire_timers();
  ran += run_tasks();
  return ran;
}

std::size_t EventLoop::dispatch_io(int ready) {
  dispatching_ = std::span(events_.data(), static_cast<std::size_t>(ready));
  std::size_t ran = 0;
  for (auto& event : dispatching_) {
    if (event.data.ptr == this) {  // the wakeup eventfd: drain it; tasks run in step 4
      std::uint64_t count = 0;
      [[maybe_unused]] auto n = ::read(wakeup_.get(), &count, sizeof count);
      wake_pending_.store(false, std::memory_order_release);
      continue;
    }
    auto* watcher = static_cast<IoWatcher*>(event.data.ptr);
    if (watcher == nullptr) continue;  // stopped earlier in this batch
    std::uint32_t readiness = 0;
    if (event.events & EPOLLIN) readiness |= kReadable;
    if (event.events & EPOLLOUT) readiness |= kWritable;
    if (event.events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) readiness |= kHangup;
    watcher->notify(readiness);
    ++ran;
  }
  if (static_cast<std::size_t>(ready) == events_.size()) events_.resize(events_.size() * 2);
  dispatching_ = {};
  return ran;
}

std::size_t EventLoop::fire_timers() {
  std::size_t ran = 0;
  const auto now = now_;
  while (!deadlines_.empty() && deadlines_.top().deadline <= now) {
    Due due = deadlines_.top();
    deadlines_.pop();
    auto it = timers_.find(due.id);
    if (it == timers_.end()) continue;  // stopped or re-armed since
    Timer* timer = it->second;
    timers_.erase(it);
    timer->fire();  // may re-arm with a deadline after `now`: never fires again in this step
    ++ran;
  }
  return ran;
}

std::size_t EventLoop::run_tasks() {
  {
    std::lock_guard lock(tasks_mutex_);
    if (tasks_.empty()) return 0;
    running_.swap(tasks_);
  }
  const std::size_t ran = running_.size();
  for (auto& task : running_)
    task();
  running_.clear();
  return ran;
}

Result<void> EventLoop::watch(int fd, std::uint32_t events, IoWatcher* watcher, bool add) {
  assert(in_loop_thread() && "IoWatcher used off its loop's thread");
  epoll_event event{};
  event.events = events;
  event.data.ptr = watcher;
  if (::epoll_ctl(epoll_.get(), add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event) != 0) {
    return Error::from_errno(errno, "event loop: watch fd " + std::to_string(fd));
  }
  if (add) ++watchers_;
  return ok();
}

void EventLoop::unwatch(int fd, IoWatcher* watcher) noexcept {
  assert(in_loop_thread() && "IoWatcher stopped off its loop's thread");
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);  // fails harmlessly if fd was closed
  --watchers_;
  for (auto& event : dispatching_) {  // never call it later in the current batch
    if (event.data.ptr == watcher) event.data.ptr = nullptr;
  }
}

std::uint64_t EventLoop::schedule(Clock::time_point deadline, Timer* timer) {
  assert(in_loop_thread() && "Timer used off its loop's thread");
  const std::uint64_t id = next_timer_id_++;
  timers_.emplace(id, timer);
  deadlines_.push(Due{deadline, id});
  if (deadlines_.size() > 2 * timers_.size() + 64) {
    // Stopped and re-armed timers leave stale entries behind; a timer restarted on
    // every packet would otherwise grow the heap without bound. Keep the live ones.
    std::vector<Due> live;
    live.reserve(timers_.size());
    for (const auto& [timer_id, armed] : timers_)
      live.push_back(Due{armed->deadline(), timer_id});
    deadlines_ = decltype(deadlines_)(std::greater<>(), std::move(live));
  }
  return id;
}

void EventLoop::unschedule(std::uint64_t id) noexcept {
  timers_.erase(id);  // the heap entry is skipped when it comes up
}

}  // namespace nexo::io
