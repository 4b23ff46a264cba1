#include "nexo/io/poller.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <limits>

namespace nexo::io {
namespace {

constexpr std::uint64_t kWakeKey = std::numeric_limits<std::uint64_t>::max();

std::uint32_t to_epoll(std::uint32_t interest) {
  return ((interest & kReadable) ? EPOLLIN | EPOLLRDHUP : 0u) |
         ((interest & kWritable) ? EPOLLOUT : 0u);
}

Result<void> control(int epoll, int op, int fd, std::uint32_t interest, std::uint64_t key) {
  epoll_event event{};
  event.events = to_epoll(interest);
  event.data.u64 = key;
  if (::epoll_ctl(epoll, op, fd, &event) != 0) {
    return Error::from_errno(errno, "poller: watch fd " + std::to_string(fd));
  }
  return ok();
}

}  // namespace

Result<Poller> Poller::create() {
  net::FileDescriptor epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return Error::from_errno(errno, "poller: epoll_create1");
  net::FileDescriptor wakeup(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeup) return Error::from_errno(errno, "poller: eventfd");
  if (auto added = control(epoll.get(), EPOLL_CTL_ADD, wakeup.get(), kReadable, kWakeKey); !added)
    return std::move(added).error();
  return Poller(std::move(epoll), std::move(wakeup));
}

Result<void> Poller::add(int fd, std::uint32_t interest, std::uint64_t key) {
  return control(epoll_.get(), EPOLL_CTL_ADD, fd, interest, key);
}

Result<void> Poller::modify(int fd, std::uint32_t interest, std::uint64_t key) {
  return control(epoll_.get(), EPOLL_CTL_MOD, fd, interest, key);
}

void Poller::remove(int fd) noexcept {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

std::size_t Poller::wait(std::span<Event> out, Timeout timeout) {
  std::array<epoll_event, kMaxEvents> events;
  const int capacity = static_cast<int>(std::min(out.size(), events.size()));
  int ms = -1;
  if (timeout) {
    const auto count = timeout->count();
    ms = count <= 0 ? 0 : count > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(count);
  }
  const int ready = ::epoll_wait(epoll_.get(), events.data(), capacity, ms);
  std::size_t written = 0;
  for (int i = 0; i < ready; ++i) {
    const epoll_event& e = events[static_cast<std::size_t>(i)];
    if (e.data.u64 == kWakeKey) {
      std::uint64_t count = 0;
      [[maybe_unused]] auto n = ::read(wakeup_.get(), &count, sizeof count);
      continue;
    }
    std::uint32_t readiness = 0;
    if (e.events & EPOLLIN) readiness |= kReadable;
    if (e.events & EPOLLOUT) readiness |= kWritable;
    if (e.events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) readiness |= kHangup;
    out[written++] = Event{e.data.u64, readiness};
  }
  return written;
}

void Poller::interrupt() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakeup_.get(), &one, sizeof one);
}

}  // namespace nexo::io
