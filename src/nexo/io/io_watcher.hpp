// IoWatcher — calls back when a file descriptor is ready (level-triggered).
//
// Does not own the descriptor. Registered with one EventLoop while started;
// neither copied nor moved. Loop thread only (see EventLoop's lifetime rules).
#pragma once

#include <cstdint>
#include <functional>

#include "nexo/base/result.hpp"

namespace nexo::io {

class EventLoop;

// What a watcher waits for and what it is told (a bit set).
enum Readiness : std::uint32_t {
  kReadable = 1u << 0,
  kWritable = 1u << 1,
  kHangup = 1u << 2,  // reported, never asked for: peer closed, or an error is pending
};

class IoWatcher {
 public:
  // `callback(readiness)` runs on the loop thread while the fd is ready.
  IoWatcher(EventLoop& loop, int fd, std::function<void(std::uint32_t)> callback);
  IoWatcher(const IoWatcher&) = delete;
  IoWatcher& operator=(const IoWatcher&) = delete;
  ~IoWatcher() { stop(); }

  // Starts watching for `interest` (kReadable | kWritable), or changes it.
  // Errors: invalid_argument (a bad fd), system.
  Result<void> start(std::uint32_t interest);
  // Stops watching; the callback will not run again. Idempotent.
  void stop() noexcept;

  bool active() const noexcept { return active_; }
  std::uint32_t interest() const noexcept { return interest_; }
  int fd() const noexcept { return fd_; }

 private:
  friend class EventLoop;
  void notify(std::uint32_t readiness) { callback_(readiness); }

  EventLoop& loop_;
  int fd_;
  std::function<void(std::uint32_t)> callback_;
  std::uint32_t interest_ = 0;
  bool active_ = false;
};

}  // namespace nexo::io
