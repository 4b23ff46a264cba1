#include "nexo/io/io_watcher.hpp"

#include <sys/epoll.h>

#include "nexo/io/event_loop.hpp"

namespace nexo::io {

IoWatcher::IoWatcher(EventLoop& loop, int fd, std::function<void(std::uint32_t)> callback)
    : loop_(loop), fd_(fd), callback_(std::move(callback)) {}

Result<void> IoWatcher::start(std::uint32_t interest) {
  std::uint32_t events = EPOLLRDHUP;
  if (interest & kReadable) events |= EPOLLIN;
  if (interest & kWritable) events |= EPOLLOUT;
  auto set = loop_.watch(fd_, events, this, !active_);
  if (!set) return set;
  active_ = true;
  interest_ = interest;
  return ok();
}

void IoWatcher::stop() noexcept {
  if (!active_) return;
  loop_.unwatch(fd_, this);
  active_ = false;
  interest_ = 0;
}

}  // namespace nexo::io
