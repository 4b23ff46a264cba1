// TcpStream — one end of a TCP connection (the chapter's Socket).
//
// A byte stream: message boundaries are not kept (see DataWriter/DataReader, and
// msg/ for framing). Blocking by default; reads honour the read timeout and
// writes the write timeout. Writes never raise SIGPIPE.
//
// Failure model, as the chapter describes TCP's: an orderly close by the peer
// reads as closed; an aborted connection (RST, a killed process whose kernel
// answers) as reset; a peer that stops answering as timed_out (with a read or
// write timeout, or keepalive). A process cannot tell a failed network from a
// failed or slow peer, nor whether its last writes were read.
//
// The same class carries a Unix-domain stream connection (same host, a
// UnixAddress instead of an Endpoint: connect(UnixAddress), or accepted by a
// TcpListener bound to one): the same byte stream with the same failure model,
// so everything built on a TcpStream (msg/'s framing, DataWriter) runs over
// either. On a Unix-domain stream the endpoints are unspecified (unix_address()
// says where it is), set_no_delay is a no-op (there is no Nagle to turn off),
// and keepalive is refused (invalid_argument).
//
// Thread contract: one reader thread and one writer thread may use a stream at
// once; configuration calls are not synchronised with I/O. Move-only.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/file_descriptor.hpp"
#include "nexo/net/unix_address.hpp"

namespace nexo::net {

struct KeepAlive {
  std::chrono::seconds idle{60};      // TCP_KEEPIDLE: silence before the first probe
  std::chrono::seconds interval{10};  // TCP_KEEPINTVL: between probes
  int probes = 6;                     // TCP_KEEPCNT: unanswered probes before reset
};

class TcpStream {
 public:
  // Connects to `peer`. Blocks until connected, refused, or `timeout` passes.
  // Errors: refused, timed_out, unreachable, invalid_argument.
  static Result<TcpStream> connect(const Endpoint& peer, Timeout timeout = std::nullopt);
  // Resolves `host` and tries each of its addresses in turn until one connects
  // (`timeout` applies to each attempt). The error is the last attempt's.
  static Result<TcpStream> connect(std::string_view host, std::uint16_t port,
                                   Timeout timeout = std::nullopt);
  // Connects to the Unix-domain stream socket at `peer`. Blocks until
  // connected, or `timeout` passes while the listener's backlog is full.
  // Errors: refused (no socket there, or nobody listens on it: a stale file),
  // timed_out, permission_denied, invalid_argument.
  static Result<TcpStream> connect(const UnixAddress& peer, Timeout timeout = std::nullopt);
  // Takes ownership of a connected socket, TCP or Unix-domain (used by TcpListener::accept).
  static Result<TcpStream> adopt(FileDescriptor fd);

  TcpStream(TcpStream&&) noexcept = default;
  TcpStream& operator=(TcpStream&&) noexcept = default;
  ~TcpStream() = default;

  // Reads what is available, at least one byte. Blocks until then.
  // Errors: closed (peer finished sending), reset, timed_out, would_block.
  Result<std::size_t> read(std::span<std::byte> buffer);
  // Reads exactly buffer.size() bytes. On closed/timed_out the error says how
  // many bytes had arrived (they are in the front of `buffer`).
  Result<void> read_exact(std::span<std::byte> buffer);

  // Writes some of `data` (at least one byte); blocks while the send buffer is full.
  // Errors: closed (the stream was shut down), reset, timed_out, would_block.
  Result<std::size_t> write(std::span<const std::byte> data);
  // Writes some of several buffers in one call (sendmsg), in order; returns the
  // bytes written across them (at least one). Errors as write().
  Result<std::size_t> write_gather(std::span<const std::span<const std::byte>> buffers);
  // Writes all of `data`.
  Result<void> write_all(std::span<const std::byte> data);
  Result<void> write_all(std::string_view text) { return write_all(as_bytes(text)); }

  // Half-close: no more writes from this side (the peer reads closed); reads go on.
  Result<void> shutdown_write();
  // No more reads from this side.
  Result<void> shutdown_read();

  Result<void> set_read_timeout(Timeout timeout);
  Result<void> set_write_timeout(Timeout timeout);
  Timeout read_timeout() const noexcept { return read_timeout_; }
  Timeout write_timeout() const noexcept { return write_timeout_; }

  // Disables Nagle's algorithm (TCP_NODELAY): small writes leave at once.
  Result<void> set_no_delay(bool on);
  Result<bool> no_delay() const;
  // Enables keepalive probes with the given timing, or disables them (nullopt).
  Result<void> set_keep_alive(std::optional<KeepAlive> keep_alive);
  Result<bool> keep_alive() const;

  Result<void> set_non_blocking(bool on);
  bool non_blocking() const noexcept { return non_blocking_; }
  // Calls do not wait, as after set_non_blocking(true), but by a flag on each
  // call (MSG_DONTWAIT) while the descriptor itself blocks, so that
  // read_waiting() can still wait in the kernel: one system call where
  // waiting for readiness and then reading takes two. read_waiting() waits at
  // most `wait_limit` (SO_RCVTIMEO: the read timeout).
  Result<void> set_non_blocking_calls(std::chrono::milliseconds wait_limit);
  // On a stream with non-blocking calls: reads some bytes, waiting up to the
  // limit set there. Errors as read(); would_block when nothing came within it.
  Result<std::size_t> read_waiting(std::span<std::byte> buffer);
  bool non_blocking_calls() const noexcept { return call_flags_ != 0; }
  Result<void> set_send_buffer_size(int bytes);
  Result<void> set_receive_buffer_size(int bytes);

  const Endpoint& local_endpoint() const noexcept { return local_; }
  const Endpoint& peer_endpoint() const noexcept { return peer_; }
  // A Unix-domain stream: the listener's address (on either end); else empty.
  bool is_unix() const noexcept { return unix_; }
  const UnixAddress& unix_address() const noexcept { return unix_address_; }

  int native_handle() const noexcept { return fd_.get(); }
  // Closes the connection; later calls fail with closed. Idempotent.
  void close() noexcept { fd_.reset(); }
  // Aborts the connection: the peer reads reset (an RST, as when a process dies
  // with data unread), and unsent data is discarded. Idempotent.
  void abort() noexcept;
  bool is_open() const noexcept { return fd_.valid(); }

 private:
  TcpStream(FileDescriptor fd, Endpoint local, Endpoint peer) noexcept
      : fd_(std::move(fd)), local_(local), peer_(peer) {}
  Error io_error(int err, std::string_view operation, Timeout timeout) const;
  Result<std::size_t> receive(std::span<std::byte> buffer, int flags);
  // "tcp read from 192.0.2.1:80", "unix read from /run/app.sock"
  std::string label(std::string_view operation) const;

  FileDescriptor fd_;
  Endpoint local_;
  Endpoint peer_;
  UnixAddress unix_address_;
  bool unix_ = false;
  Timeout read_timeout_;
  Timeout write_timeout_;
  bool non_blocking_ = false;
  int call_flags_ = 0;  // MSG_DONTWAIT with set_non_blocking_calls
};

}  // namespace nexo::net
