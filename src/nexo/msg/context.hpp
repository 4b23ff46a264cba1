// Context — what ports and senders share: the I/O thread their transports run
// on, and the names of the inproc:// ports of this process.
//
// Create one per process (or per component), before its ports and senders, and
// destroy it after them. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "nexo/base/result.hpp"
#include "nexo/io/loop_thread.hpp"
#include "nexo/msg/transport.hpp"

namespace nexo::msg {

class Context {
 public:
  // Starts the I/O thread. Errors: those of io::LoopThread::start.
  static Result<std::unique_ptr<Context>> create();

  io::LoopThread& io() noexcept { return *io_; }

  // inproc:// names. Errors: address_in_use (bind), refused (lookup of a name
  // nobody has bound: like a TCP port with no listener).
  Result<void> bind_inproc(const std::string& name, std::shared_ptr<PortCore> core);
  void unbind_inproc(const std::string& name) noexcept;
  Result<std::shared_ptr<PortCore>> find_inproc(const std::string& name) const;

 private:
  explicit Context(std::unique_ptr<io::LoopThread> io) : io_(std::move(io)) {}

  std::unique_ptr<io::LoopThread> io_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<PortCore>> inproc_;
};

}  // namespace nexo::msg
