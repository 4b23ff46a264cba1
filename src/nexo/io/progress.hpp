// Progress — what a thread waiting on a Request may do instead of sleeping:
// drive the operation's I/O itself (the leader/follower pattern; MPI's
// "MPI_Wait makes progress").
//
// An operation that has one attaches it to its Requests (Request::make).
// Request::wait() then calls drive() on the waiting thread until the request
// completes; a Completer completing the request from another thread calls
// interrupt() so that drive() returns. The result is exactly what sleeping
// until another thread completed the request would have given.
#pragma once

#include <chrono>
#include <functional>

namespace nexo::io {

class Progress {
 public:
  virtual ~Progress() = default;
  // Does the operation's I/O on the calling thread until `done()` is true, the
  // deadline passes, or interrupt() is called. May return early: callers
  // check and call again. Never throws.
  virtual void drive(std::chrono::steady_clock::time_point deadline,
                     const std::function<bool()>& done) = 0;
  // Makes a drive() running on another thread return soon. Any thread.
  virtual void interrupt() noexcept = 0;
};

}  // namespace nexo::io
