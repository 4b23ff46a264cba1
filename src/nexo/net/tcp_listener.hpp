// TcpListener — a listening TCP socket (the chapter's ServerSocket), or a
// listening Unix-domain stream socket (bind(UnixAddress)): accept() hands out
// TcpStreams either way (tcp_stream.hpp says what differs on a Unix-domain one).
//
// A Unix-domain listener at a path owns its socket file: bind() removes a stale
// one (left by a process that died: nobody accepts on it) and refuses a live one
// (address_in_use), and close() (or the destructor) removes it again, unless
// someone has replaced it meanwhile. An abstract name ("@name") has no file.
//
// Thread contract: accept() may be called from several threads at once (the
// kernel hands each connection to one of them); close() from another thread
// does not wake a blocked accept() — use a timeout or the event loop. Move-only.
#pragma once

#include <optional>
#include <string>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/file_descriptor.hpp"
#include "nexo/net/tcp_stream.hpp"
#include "nexo/net/unix_address.hpp"

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

  // Binds a Unix-domain stream socket to `local` and listens; `options`' backlog
  // applies, its address options do not. Blocks for a moment when a socket file
  // is already at the path (it tries to connect to learn whether it is live).
  // Errors: address_in_use (a live listener, or a path that is not a socket),
  // permission_denied, invalid_argument, system (a missing directory).
  static Result<TcpListener> bind(const UnixAddress& local, const TcpListenOptions& options = {});

  TcpListener(TcpListener&&) noexcept = default;
  TcpListener& operator=(TcpListener&& other) noexcept;
  ~TcpListener() { close(); }

  // Waits for the next connection, up to `timeout` (timed_out), or returns
  // would_block at once in non-blocking mode. Errors: timed_out, would_block,
  // overloaded (out of file descriptors: the connection stays queued).
  Result<TcpStream> accept(Timeout timeout = std::nullopt);

  Result<void> set_non_blocking(bool on);
  // A TCP listener's address (a Unix-domain one's is unspecified).
  const Endpoint& local_endpoint() const noexcept { return local_; }
  // A Unix-domain listener's address; else empty.
  bool is_unix() const noexcept { return unix_; }
  const UnixAddress& unix_address() const noexcept { return unix_address_; }
  int native_handle() const noexcept { return fd_.get(); }
  // Stops listening (and removes a Unix-domain listener's socket file). Idempotent.
  void close() noexcept;
  bool is_open() const noexcept { return fd_.valid(); }

 private:
  TcpListener(FileDescriptor fd, Endpoint local) noexcept : fd_(std::move(fd)), local_(local) {}
  std::string label() const;

  // The socket file a Unix-domain listener made, by absolute path (the working
  // directory may change) and identity (removed only if it is still this one).
  struct SocketFile {
    std::string path;
    unsigned long device = 0, inode = 0;
  };

  FileDescriptor fd_;
  Endpoint local_;
  UnixAddress unix_address_;
  bool unix_ = false;
  std::optional<SocketFile> file_;
  bool non_blocking_ = false;
};

}  // namespace nexo::net
