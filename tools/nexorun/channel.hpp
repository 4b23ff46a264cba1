// Channel — framed messages (nexo/mpi/control.hpp's framing) over a connection: a socket, or a
// pair of pipes (an agent reached through ssh talks over its stdin and stdout).
//
// Reads are driven by the event loop: each readable event reads once, and every whole message
// goes to `on_message`; the end of the stream or a malformed one goes to `on_closed` once, after
// which the channel is closed. Writes block (messages are small, and each peer reads whatever
// comes at once). Loop thread only; neither copied nor moved.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "nexo/io/event_loop.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/mpi/control.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::run {

class Channel {
 public:
  using OnMessage = std::function<void(mpi::ControlMessage message)>;
  // Why the channel ended: closed (an orderly end), reset, malformed, ...
  using OnClosed = std::function<void(const Error& why)>;

  // `out` invalid: writes go to `in` (a socket).
  Channel(io::EventLoop& loop, net::FileDescriptor in, net::FileDescriptor out, std::string peer);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Starts reading. Errors from the loop (a bad descriptor).
  Result<void> start(OnMessage on_message, OnClosed on_closed);
  // Writes a whole framed message. Errors: closed, reset (the peer went away).
  Result<void> send(std::span<const std::byte> message);
  Result<void> send(const Bytes& message) { return send(std::span<const std::byte>(message)); }
  Result<void> send(const Result<Bytes>& message);
  // Stops reading and closes both ends. Idempotent; on_closed is not called.
  void close() noexcept;
  bool is_open() const noexcept { return in_.valid(); }
  const std::string& peer() const noexcept { return peer_; }

 private:
  void on_readable();
  void end(const Error& why);

  net::FileDescriptor in_;
  net::FileDescriptor out_;
  std::string peer_;
  mpi::ControlDecoder decoder_;
  std::unique_ptr<io::IoWatcher> watcher_;
  io::EventLoop& loop_;
  OnMessage on_message_;
  OnClosed on_closed_;
};

}  // namespace nexo::run
