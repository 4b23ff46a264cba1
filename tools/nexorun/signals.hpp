// The signals nexorun handles through its event loop: SIGCHLD (a rank ended), SIGINT, SIGTERM
// and SIGHUP (end the job). They are blocked and read from a signalfd; SIGPIPE is ignored (a
// write to a peer that went away is an error, not a death). Ranks get them back unblocked and
// at their defaults (rank_processes.cpp).
#pragma once

#include <functional>
#include <memory>

#include "nexo/io/event_loop.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::run {

class SignalWatch {
 public:
  // Blocks the signals and makes the signalfd. Errors: system.
  static Result<std::unique_ptr<SignalWatch>> create(io::EventLoop& loop,
                                                     std::function<void(int signal)> on_signal);
  SignalWatch(io::EventLoop& loop, net::FileDescriptor fd, std::function<void(int)> on_signal);
  // Unblocks the signals again: a pending SIGTERM then ends the process (an idle agent).
  static void unblock() noexcept;

 private:
  void on_readable();
  net::FileDescriptor fd_;
  std::function<void(int)> on_signal_;
  io::IoWatcher watcher_;
};

}  // namespace nexo::run
