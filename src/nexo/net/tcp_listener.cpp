#include "nexo/net/tcp_listener.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "nexo/net/socket_ops.hpp"

namespace nexo::net {

Result<TcpListener> TcpListener::bind(const Endpoint& local, const TcpListenOptions& options) {
  if (options.backlog < 1) {
    return Error(ErrorKind::invalid_argument,
                 "tcp listen: backlog " + std::to_string(options.backlog) + " must be at least 1");
  }
  const Family family = local.family();
  // The listening socket is always non-blocking inside: accept() waits with poll,
  // so several threads may accept at once and a timeout never blocks for longer.
  auto fd = detail::open_socket(family, SOCK_STREAM | SOCK_NONBLOCK, "tcp socket");
  if (!fd) return std::move(fd).error();
  const int s = fd->get();
  Result<void> set = detail::set_bind_options(
      s, family, {options.reuse_address, options.reuse_port, options.v6_only});
  if (set) set = detail::bind_to(s, local, family, "tcp bind");
  if (!set) return std::move(set).error();
  if (::listen(s, options.backlog) != 0) {
    return Error::from_errno(errno, "tcp listen on " + local.to_string());
  }
  auto bound = detail::local_endpoint_of(s);
  if (!bound) return std::move(bound).error();
  return TcpListener(std::move(*fd), *bound);
}

Result<TcpStream> TcpListener::accept(Timeout timeout) {
  if (!fd_) return Error(ErrorKind::closed, "tcp accept: the listener is closed");
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const std::string what = "tcp accept on " + local_.to_string();
  for (;;) {
    int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return TcpStream::adopt(FileDescriptor(fd));
    if (errno == EINTR || errno == ECONNABORTED) continue;  // a client gave up before accept
    if (errno != EAGAIN) return Error::from_errno(errno, what);
    if (non_blocking_)
      return Error(ErrorKind::would_block, what + ": no pending connection", errno);
    Timeout left = timeout;
    if (timeout) {
      left = *timeout - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      if (left->count() < 0) left = std::chrono::milliseconds(0);
    }
    auto ready = detail::wait_ready(fd_.get(), POLLIN, left, what);
    if (!ready) return std::move(ready).error();
    if (!*ready) {
      return Error(ErrorKind::timed_out,
                   what + ": no connection within " + detail::describe(timeout), ETIMEDOUT);
    }
  }
}

Result<void> TcpListener::set_non_blocking(bool on) {
  non_blocking_ = on;
  return ok();
}

}  // namespace nexo::net
