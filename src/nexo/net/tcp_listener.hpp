// TcpListener — a listening TCP socket (the chapter's ServerSocket).
//
// Thread contract: accept() may be called from several threads at once (the
// kernel hands each connection to one of them); close() from another thread
// does not wake a blocked accept() — use a timeout or the event loop. Move-only.
#pragma once

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/file_descriptor.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::net {

struct TcpListenOptions {
  int backlog = 511;          // queue of connections not yet accepted (capped by somaxconn)
  bool reuse_address = true;  // SO_REUSEADDR: restart a server while old connections linger
  bool reuse_port = false;    // SO_REUSEPORT: several listeners share the port
  bool v6_only = false;       // an IPv6 listener refuses IPv4-mapped clients
};

class TcpListener {
 public:
  // Binds to `local` (port 0: any free port) and listens.
  // Errors: address_in_use, permission_denied, invalid_argument.
  static Result<TcpListener> bind(const Endpoint& local, const TcpListenOptions& options = {});

  TcpListener(TcpListener&&) noexcept = default;
  TcpListener& operator=(TcpListener&&) noexcept = default;
  ~TcpListener() = default;

  // Waits for the next connection, up to `timeout` (timed_out), or returns
  // would_block at once in non-blocking mode. Errors: timed_out, would_block,
  // overloaded (out of file descriptors: the connection stays queued).
  Result<TcpStream> accept(Timeout timeout = std::nullopt);

  Result<void> set_non_blocking(bool on);
  const Endpoint& local_endpoint() const noexcept { return local_; }
  int native_handle() const noexcept { return fd_.get(); }
  void close() noexcept { fd_.reset(); }
  bool is_open() const noexcept { return fd_.valid(); }

 private:
  TcpListener(FileDescriptor fd, Endpoint local) noexcept : fd_(std::move(fd)), local_(local) {}

  FileDescriptor fd_;
  Endpoint local_;
  bool non_blocking_ = false;
};

}  // namespace nexo::net
