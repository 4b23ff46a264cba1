#include "nexo/net/tcp_listener.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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

namespace {

using namespace std::chrono_literals;

// What is at `path` before a bind: nothing (fine), a socket nobody listens on
// any more (its process died without removing it: removed, as ZeroMQ does), a
// live listener or something else (address_in_use).
Result<void> clear_stale_socket(const UnixAddress& address, const std::string& what) {
  struct stat st {};
  if (::lstat(address.name().c_str(), &st) != 0) {
    return errno == ENOENT ? ok() : Error::from_errno(errno, what);
  }
  if (!S_ISSOCK(st.st_mode))
    return Error(ErrorKind::address_in_use, what + ": the path exists and is not a socket");
  auto probe = TcpStream::connect(address, 100ms);
  if (probe || probe.error().is(ErrorKind::timed_out)) {  // timed out: a full backlog, live
    return Error(ErrorKind::address_in_use, what + ": a live socket listens there", EADDRINUSE);
  }
  if (probe.error().sys_errno() != ECONNREFUSED) return ok();  // gone meanwhile (ENOENT)
  if (::unlink(address.name().c_str()) != 0 && errno != ENOENT)
    return Error::from_errno(errno, what + ": removing the stale socket file");
  return ok();
}

// The absolute path and identity of the socket file bind() just made.
Result<std::pair<std::string, struct stat>> socket_file_of(const UnixAddress& address,
                                                           const std::string& what) {
  std::string path = address.name();
  if (path.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) == nullptr) return Error::from_errno(errno, what + ": getcwd");
    path = std::string(cwd) + "/" + path;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Error::from_errno(errno, what + ": stat");
  return std::pair{std::move(path), st};
}

}  // namespace

Result<TcpListener> TcpListener::bind(const UnixAddress& local, const TcpListenOptions& options) {
  const std::string what = "unix bind " + local.to_string();
  if (local.empty()) return Error(ErrorKind::invalid_argument, what + ": no address");
  if (options.backlog < 1) {
    return Error(ErrorKind::invalid_argument,
                 what + ": backlog " + std::to_string(options.backlog) + " must be at least 1");
  }
  if (!local.is_abstract()) {
    if (auto cleared = clear_stale_socket(local, what); !cleared) return std::move(cleared).error();
  }
  auto fd = detail::open_unix_socket(SOCK_STREAM | SOCK_NONBLOCK, "unix socket");
  if (!fd) return std::move(fd).error();
  const detail::SockAddr address = detail::to_sockaddr(local);
  if (::bind(fd->get(), address.get(), address.length) != 0) return Error::from_errno(errno, what);
  TcpListener listener(std::move(*fd), Endpoint());
  listener.unix_ = true;
  listener.unix_address_ = local;
  if (!local.is_abstract()) {
    auto file = socket_file_of(local, what);
    if (!file) {
      (void)::unlink(local.name().c_str());
      return std::move(file).error();
    }
    listener.file_ = SocketFile{std::move(file->first), static_cast<unsigned long>(file->second.st_dev),
                                static_cast<unsigned long>(file->second.st_ino)};
  }
  if (::listen(listener.fd_.get(), options.backlog) != 0)
    return Error::from_errno(errno, "unix listen on " + local.to_string());  // the file goes too
  return listener;
}

TcpListener& TcpListener::operator=(TcpListener&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::move(other.fd_);
    local_ = other.local_;
    unix_address_ = std::move(other.unix_address_);
    unix_ = other.unix_;
    file_ = std::exchange(other.file_, std::nullopt);
    non_blocking_ = other.non_blocking_;
  }
  return *this;
}

void TcpListener::close() noexcept {
  if (fd_ && file_) {
    struct stat st {};
    if (::lstat(file_->path.c_str(), &st) == 0 &&
        static_cast<unsigned long>(st.st_dev) == file_->device &&
        static_cast<unsigned long>(st.st_ino) == file_->inode) {
      (void)::unlink(file_->path.c_str());
    }
  }
  file_.reset();
  fd_.reset();
}

std::string TcpListener::label() const {
  return unix_ ? "unix accept on " + unix_address_.to_string() : "tcp accept on " + local_.to_string();
}

Result<TcpStream> TcpListener::accept(Timeout timeout) {
  if (!fd_) return Error(ErrorKind::closed, "tcp accept: the listener is closed");
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const std::string what = label();
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
