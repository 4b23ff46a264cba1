// Poller — a set of file descriptors that one thread at a time waits on, with
// a key per descriptor and a way to interrupt the wait from any thread.
//
// The transports use it for leader/follower I/O: a port keeps its connections
// in a Poller; the Context's EventLoop watches the Poller's own descriptor
// (readable whenever a member is ready), and a thread blocked in a receive may
// wait on the Poller directly and do the port's I/O itself, which saves the
// hop from the I/O thread to the receiving thread.
//
// Level-triggered, like IoWatcher. Thread contract: add/modify/remove/
// interrupt from any thread (the kernel serialises them); wait() from one
// thread at a time per caller-provided buffer. Keys are the caller's; the
// largest key value is reserved.
#pragma once

#include <cstdint>
#include <span>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::io {

class Poller {
 public:
  struct Event {
    std::uint64_t key = 0;
    std::uint32_t readiness = 0;  // Readiness bits: kReadable, kWritable, kHangup
  };
  static constexpr std::size_t kMaxEvents = 64;  // per wait()

  // Errors: system (epoll_create1, eventfd).
  static Result<Poller> create();
  Poller(Poller&&) noexcept = default;
  Poller& operator=(Poller&&) noexcept = default;

  // Starts watching `fd` for `interest` (kReadable | kWritable; 0 keeps it in
  // the set, silent), or changes what it is watched for. Errors: system.
  Result<void> add(int fd, std::uint32_t interest, std::uint64_t key);
  Result<void> modify(int fd, std::uint32_t interest, std::uint64_t key);
  // Stops watching `fd` (call before closing it). Never fails.
  void remove(int fd) noexcept;

  // Waits up to `timeout` (zero: just looks; nullopt: no limit) for ready
  // descriptors, and writes up to out.size() (at most kMaxEvents) of them.
  // Returns the number written; 0 on timeout or interrupt().
  std::size_t wait(std::span<Event> out, Timeout timeout);
  // Makes a wait() in progress (or the next one) return. Any thread.
  void interrupt() noexcept;

  // Readable while a member is ready or an interrupt is pending.
  int native_handle() const noexcept { return epoll_.get(); }

 private:
  Poller(net::FileDescriptor epoll, net::FileDescriptor wakeup)
      : epoll_(std::move(epoll)), wakeup_(std::move(wakeup)) {}

  net::FileDescriptor epoll_;
  net::FileDescriptor wakeup_;  // eventfd, key kWakeKey
};

}  // namespace nexo::io
