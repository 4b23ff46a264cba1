#include "nexo/net/tcp_stream.hpp"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <string>

#include "nexo/net/socket_ops.hpp"

namespace nexo::net {
namespace {

// Connects `fd` (non-blocking) to `peer`, waiting up to `timeout`.
Result<void> connect_socket(int fd, const Endpoint& peer, Family family, Timeout timeout) {
  const std::string what = "tcp connect to " + peer.to_string();
  detail::SockAddr address = detail::to_sockaddr(peer, family);
  if (::connect(fd, address.get(), address.length) == 0) return ok();
  if (errno != EINPROGRESS && errno != EINTR) return Error::from_errno(errno, what);
  auto ready = detail::wait_ready(fd, POLLOUT, timeout, what);
  if (!ready) return std::move(ready).error();
  if (!*ready) {
    return Error(ErrorKind::timed_out, what + ": no answer within " + detail::describe(timeout),
                 ETIMEDOUT);
  }
  auto status = detail::get_int_option(fd, SOL_SOCKET, SO_ERROR, what);
  if (!status) return std::move(status).error();
  if (*status != 0) return Error::from_errno(*status, what);
  return ok();
}

}  // namespace

Result<TcpStream> TcpStream::connect(const Endpoint& peer, Timeout timeout) {
  if (peer.port() == 0) {
    return Error(ErrorKind::invalid_argument, "tcp connect to " + peer.to_string() + ": port 0");
  }
  const Family family = peer.family();
  auto fd = detail::open_socket(family, SOCK_STREAM | SOCK_NONBLOCK, "tcp socket");
  if (!fd) return std::move(fd).error();
  if (auto done = connect_socket(fd->get(), peer, family, timeout); !done) {
    return std::move(done).error();
  }
  if (auto blocking = detail::set_non_blocking(fd->get(), false, "tcp connect"); !blocking) {
    return std::move(blocking).error();
  }
  return adopt(std::move(*fd));
}

Result<TcpStream> TcpStream::connect(std::string_view host, std::uint16_t port, Timeout timeout) {
  auto addresses = InetAddress::resolve(host);
  if (!addresses) return std::move(addresses).error().with_context("tcp connect");
  std::optional<Error> last;
  for (const InetAddress& address : *addresses) {
    auto stream = connect(Endpoint(address, port), timeout);
    if (stream) return stream;
    last = std::move(stream).error();
  }
  return std::move(*last);
}

Result<TcpStream> TcpStream::connect(const UnixAddress& peer, Timeout timeout) {
  const std::string what = "unix connect to " + peer.to_string();
  if (peer.empty()) return Error(ErrorKind::invalid_argument, what + ": no address");
  auto fd = detail::open_unix_socket(SOCK_STREAM, "unix socket");
  if (!fd) return std::move(fd).error();
  // A Unix-domain connect never is in progress: it succeeds or fails at once,
  // and waits (up to SO_SNDTIMEO) only while the listener's backlog is full.
  if (timeout) {
    if (auto set = detail::set_timeout_option(fd->get(), SO_SNDTIMEO, timeout, what); !set)
      return std::move(set).error();
  }
  const detail::SockAddr address = detail::to_sockaddr(peer);
  while (::connect(fd->get(), address.get(), address.length) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      return Error(ErrorKind::timed_out,
                   what + ": the listener's backlog stayed full for " + detail::describe(timeout),
                   err);
    }
    if (err == ENOENT) return Error(ErrorKind::refused, what + ": no socket there", err);
    if (err == ECONNREFUSED) {
      return Error(ErrorKind::refused, what + ": nobody listens on it (a stale socket file?)",
                   err);
    }
    return Error::from_errno(err, what);
  }
  if (timeout) {
    if (auto set = detail::set_timeout_option(fd->get(), SO_SNDTIMEO, std::nullopt, what); !set)
      return std::move(set).error();
  }
  return adopt(std::move(*fd));
}

Result<TcpStream> TcpStream::adopt(FileDescriptor fd) {
  detail::SockAddr name;
  name.length = sizeof name.storage;
  if (::getsockname(fd.get(), name.get(), &name.length) != 0)
    return Error::from_errno(errno, "getsockname");
  if (name.get()->sa_family == AF_UNIX) {
    // The accepting end is named after the listener; the connecting end is
    // unnamed, and its peer is the listener.
    UnixAddress where = detail::unix_from_sockaddr(name.get(), name.length);
    if (where.empty()) {
      name.length = sizeof name.storage;
      if (::getpeername(fd.get(), name.get(), &name.length) != 0)
        return Error::from_errno(errno, "getpeername");
      where = detail::unix_from_sockaddr(name.get(), name.length);
    }
    TcpStream stream(std::move(fd), Endpoint(), Endpoint());
    stream.unix_ = true;
    stream.unix_address_ = std::move(where);
    return stream;
  }
  auto local = detail::local_endpoint_of(fd.get());
  if (!local) return std::move(local).error();
  auto peer = detail::peer_endpoint_of(fd.get());
  if (!peer) return std::move(peer).error();
  return TcpStream(std::move(fd), *local, *peer);
}

std::string TcpStream::label(std::string_view operation) const {
  return (unix_ ? "unix " : "tcp ") + std::string(operation) + " " +
         (unix_ ? unix_address_.to_string() : peer_.to_string());
}

Error TcpStream::io_error(int err, std::string_view operation, Timeout timeout) const {
  std::string what = label(operation);
  if (err == EAGAIN && !non_blocking_) {
    return Error(ErrorKind::timed_out, what + ": no progress within " + detail::describe(timeout),
                 err);
  }
  if (err == EAGAIN) return Error(ErrorKind::would_block, what + ": would block", err);
  if (err == ECONNRESET) return Error(ErrorKind::reset, what + ": connection reset by peer", err);
  if (err == EPIPE)
    return Error(ErrorKind::closed, what + ": the connection is closed for writing", err);
  return Error::from_errno(err, what);
}

Result<std::size_t> TcpStream::read(std::span<std::byte> buffer) {
  return receive(buffer, call_flags_);
}

Result<std::size_t> TcpStream::read_waiting(std::span<std::byte> buffer) {
  if (call_flags_ == 0)
    return Error(ErrorKind::invalid_argument,
                 label("read_waiting from") + ": the stream's calls are not non-blocking");
  return receive(buffer, 0);
}

Result<std::size_t> TcpStream::receive(std::span<std::byte> buffer, int flags) {
  if (!fd_) return Error(ErrorKind::closed, "tcp read: the stream is closed");
  if (buffer.empty()) return std::size_t{0};
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), flags);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      return Error(ErrorKind::closed,
                   label("read from") + ": the peer closed the connection");
    }
    if (errno != EINTR) return io_error(errno, "read from", read_timeout_);
  }
}

Result<void> TcpStream::read_exact(std::span<std::byte> buffer) {
  std::size_t done = 0;
  while (done < buffer.size()) {
    auto n = read(buffer.subspan(done));
    if (!n) {
      if (done == 0) return std::move(n).error();
      return std::move(n).error().with_context("read_exact: got " + std::to_string(done) + " of " +
                                               std::to_string(buffer.size()) + " bytes");
    }
    done += *n;
  }
  return ok();
}

Result<std::size_t> TcpStream::write(std::span<const std::byte> data) {
  if (!fd_) return Error(ErrorKind::closed, "tcp write: the stream is closed");
  if (data.empty()) return std::size_t{0};
  for (;;) {
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL | call_flags_);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return io_error(errno, "write to", write_timeout_);
  }
}

Result<std::size_t> TcpStream::write_gather(std::span<const std::span<const std::byte>> buffers) {
  if (!fd_) return Error(ErrorKind::closed, "tcp write: the stream is closed");
  constexpr std::size_t kMaxBuffers = 64;  // well under IOV_MAX
  std::array<iovec, kMaxBuffers> iov{};
  std::size_t count = 0;
  for (const auto& b : buffers) {
    if (count == kMaxBuffers) break;
    if (b.empty()) continue;
    iov[count].iov_base = const_cast<std::byte*>(b.data());  // sendmsg does not write through it
    iov[count].iov_len = b.size();
    ++count;
  }
  if (count == 0) return std::size_t{0};
  msghdr message{};
  message.msg_iov = iov.data();
  message.msg_iovlen = count;
  for (;;) {
    ssize_t n = ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL | call_flags_);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return io_error(errno, "write to", write_timeout_);
  }
}

Result<void> TcpStream::write_all(std::span<const std::byte> data) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto n = write(data.subspan(done));
    if (!n) {
      if (done == 0) return std::move(n).error();
      return std::move(n).error().with_context("write_all: sent " + std::to_string(done) + " of " +
                                               std::to_string(data.size()) + " bytes");
    }
    done += *n;
  }
  return ok();
}

Result<void> TcpStream::shutdown_write() {
  if (!fd_) return Error(ErrorKind::closed, "tcp shutdown: the stream is closed");
  if (::shutdown(fd_.get(), SHUT_WR) != 0) {
    return Error::from_errno(errno, label("shutdown (write)"));
  }
  return ok();
}

Result<void> TcpStream::shutdown_read() {
  if (!fd_) return Error(ErrorKind::closed, "tcp shutdown: the stream is closed");
  if (::shutdown(fd_.get(), SHUT_RD) != 0) {
    return Error::from_errno(errno, label("shutdown (read)"));
  }
  return ok();
}

void TcpStream::abort() noexcept {
  if (!fd_) return;
  linger hard{1, 0};  // on: linger zero seconds, so close() sends RST
  (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  fd_.reset();
}

Result<void> TcpStream::set_read_timeout(Timeout timeout) {
  auto set = detail::set_timeout_option(fd_.get(), SO_RCVTIMEO, timeout, "tcp read timeout");
  if (set) read_timeout_ = timeout;
  return set;
}

Result<void> TcpStream::set_write_timeout(Timeout timeout) {
  auto set = detail::set_timeout_option(fd_.get(), SO_SNDTIMEO, timeout, "tcp write timeout");
  if (set) write_timeout_ = timeout;
  return set;
}

Result<void> TcpStream::set_no_delay(bool on) {
  if (unix_ && fd_) return ok();  // a Unix-domain stream sends at once: no Nagle
  return detail::set_int_option(fd_.get(), IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "TCP_NODELAY");
}

Result<bool> TcpStream::no_delay() const {
  if (unix_ && fd_) return true;
  auto value = detail::get_int_option(fd_.get(), IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY");
  if (!value) return std::move(value).error();
  return *value != 0;
}

Result<void> TcpStream::set_keep_alive(std::optional<KeepAlive> keep_alive) {
  const int fd = fd_.get();
  if (unix_ && fd_) {
    if (!keep_alive) return ok();
    return Error(ErrorKind::invalid_argument,
                 label("keepalive on") + ": a Unix-domain stream has no keepalive probes");
  }
  if (!keep_alive) return detail::set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 0, "SO_KEEPALIVE");
  if (keep_alive->idle.count() < 1 || keep_alive->interval.count() < 1 || keep_alive->probes < 1) {
    return Error(ErrorKind::invalid_argument,
                 "keepalive: idle, interval and probes must each be at least 1");
  }
  auto set = detail::set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE,
                                    static_cast<int>(keep_alive->idle.count()), "TCP_KEEPIDLE");
  if (set) {
    set = detail::set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL,
                                 static_cast<int>(keep_alive->interval.count()), "TCP_KEEPINTVL");
  }
  if (set)
    set = detail::set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, keep_alive->probes, "TCP_KEEPCNT");
  if (set) set = detail::set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
  return set;
}

Result<bool> TcpStream::keep_alive() const {
  if (unix_ && fd_) return false;
  auto value = detail::get_int_option(fd_.get(), SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE");
  if (!value) return std::move(value).error();
  return *value != 0;
}

Result<void> TcpStream::set_non_blocking(bool on) {
  auto set = detail::set_non_blocking(fd_.get(), on, "tcp non-blocking mode");
  if (set) {
    non_blocking_ = on;
    call_flags_ = 0;
  }
  return set;
}

Result<void> TcpStream::set_non_blocking_calls(std::chrono::milliseconds wait_limit) {
  if (wait_limit <= std::chrono::milliseconds::zero())
    return Error(ErrorKind::invalid_argument, label("set_non_blocking_calls on") +
                                                  ": the wait limit must be positive");
  auto set = detail::set_non_blocking(fd_.get(), false, "tcp non-blocking calls");
  if (set) set = set_read_timeout(wait_limit);
  if (!set) return set;
  non_blocking_ = true;  // EAGAIN reads as would_block, not as a timeout
  call_flags_ = MSG_DONTWAIT;
  return ok();
}

Result<void> TcpStream::set_send_buffer_size(int bytes) {
  return detail::set_int_option(fd_.get(), SOL_SOCKET, SO_SNDBUF, bytes, "tcp SO_SNDBUF");
}

Result<void> TcpStream::set_receive_buffer_size(int bytes) {
  return detail::set_int_option(fd_.get(), SOL_SOCKET, SO_RCVBUF, bytes, "tcp SO_RCVBUF");
}

}  // namespace nexo::net
