#include "nexo/net/socket_ops.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>

namespace nexo::net::detail {

int to_domain(Family family) noexcept {
  return family == Family::v4 ? AF_INET : AF_INET6;
}

SockAddr to_sockaddr(const Endpoint& endpoint, Family socket_family) noexcept {
  SockAddr out;
  InetAddress address = endpoint.address();
  if (socket_family == Family::v6) address = address.mapped_v6();
  if (address.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(endpoint.port());
    std::memcpy(&sin->sin_addr, address.bytes().data(), 4);
    out.length = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(endpoint.port());
    std::memcpy(&sin6->sin6_addr, address.bytes().data(), 16);
    sin6->sin6_scope_id = address.scope_id();
    out.length = sizeof(sockaddr_in6);
  }
  return out;
}

Endpoint from_sockaddr(const sockaddr* address, socklen_t length) noexcept {
  if (address->sa_family == AF_INET && length >= socklen_t{sizeof(sockaddr_in)}) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(address);
    std::array<std::uint8_t, 4> bytes;
    std::memcpy(bytes.data(), &sin->sin_addr, 4);
    return Endpoint(InetAddress::v4(bytes), ntohs(sin->sin_port));
  }
  if (address->sa_family == AF_INET6 && length >= socklen_t{sizeof(sockaddr_in6)}) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(address);
    std::array<std::uint8_t, 16> bytes;
    std::memcpy(bytes.data(), &sin6->sin6_addr, 16);
    return Endpoint(InetAddress::v6(bytes, sin6->sin6_scope_id).unmapped(), ntohs(sin6->sin6_port));
  }
  return Endpoint();
}

SockAddr to_sockaddr(const UnixAddress& address) noexcept {
  SockAddr out;
  auto* sun = reinterpret_cast<sockaddr_un*>(&out.storage);
  sun->sun_family = AF_UNIX;
  const std::string& name = address.name();  // at most UnixAddress::kMaxLength bytes
  const std::size_t at = address.is_abstract() ? 1 : 0;  // abstract: sun_path[0] stays NUL
  std::memcpy(sun->sun_path + at, name.data(), name.size());
  out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + at + name.size() +
                                      (address.is_abstract() ? 0 : 1));
  return out;
}

UnixAddress unix_from_sockaddr(const sockaddr* address, socklen_t length) {
  const auto start = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path));
  if (address->sa_family != AF_UNIX || length <= start) return {};
  const auto* sun = reinterpret_cast<const sockaddr_un*>(address);
  std::string_view path(sun->sun_path, static_cast<std::size_t>(length - start));
  if (path.front() == '\0') {
    auto abstract = UnixAddress::abstract(path.substr(1));
    return abstract ? *abstract : UnixAddress();
  }
  path = path.substr(0, path.find('\0'));
  auto named = UnixAddress::path(path);
  return named ? *named : UnixAddress();
}

Result<FileDescriptor> open_unix_socket(int type, std::string_view operation) {
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno(errno, operation);
  return FileDescriptor(fd);
}

Result<FileDescriptor> open_socket(Family family, int type, std::string_view operation) {
  int fd = ::socket(to_domain(family), type | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno(errno, operation);
  return FileDescriptor(fd);
}

namespace {
Error closed_error(std::string_view what) {
  return Error(ErrorKind::closed, std::string(what) + ": the socket is closed");
}
}  // namespace

Result<void> set_int_option(int fd, int level, int name, int value, std::string_view what) {
  if (fd < 0) return closed_error(what);
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
    return Error::from_errno(errno, what);
  }
  return ok();
}

Result<int> get_int_option(int fd, int level, int name, std::string_view what) {
  if (fd < 0) return closed_error(what);
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, level, name, &value, &length) != 0) return Error::from_errno(errno, what);
  return value;
}

Result<void> set_timeout_option(int fd, int name, Timeout timeout, std::string_view what) {
  if (fd < 0) return closed_error(what);
  timeval tv{};  // zero: no timeout
  if (timeout) {
    if (timeout->count() < 0) {
      return Error(ErrorKind::invalid_argument,
                   std::string(what) + ": negative timeout " + describe(timeout));
    }
    auto ms = timeout->count() == 0 ? 1 : timeout->count();  // 0 would mean "for ever"
    tv.tv_sec = static_cast<time_t>(ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  }
  if (::setsockopt(fd, SOL_SOCKET, name, &tv, sizeof tv) != 0)
    return Error::from_errno(errno, what);
  return ok();
}

Result<void> set_non_blocking(int fd, bool on, std::string_view what) {
  if (fd < 0) return closed_error(what);
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return Error::from_errno(errno, what);
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (::fcntl(fd, F_SETFL, flags) != 0) return Error::from_errno(errno, what);
  return ok();
}

Result<void> set_bind_options(int fd, Family family, const BindOptions& options) {
  Result<void> set = ok();
  if (options.reuse_address) set = set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (set && options.reuse_port)
    set = set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
  if (set && family == Family::v6) {
    set = set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, options.v6_only ? 1 : 0, "IPV6_V6ONLY");
  }
  return set;
}

Result<Endpoint> local_endpoint_of(int fd) {
  SockAddr address;
  address.length = sizeof address.storage;
  if (::getsockname(fd, address.get(), &address.length) != 0) {
    return Error::from_errno(errno, "getsockname");
  }
  return from_sockaddr(address.get(), address.length);
}

Result<Endpoint> peer_endpoint_of(int fd) {
  SockAddr address;
  address.length = sizeof address.storage;
  if (::getpeername(fd, address.get(), &address.length) != 0) {
    return Error::from_errno(errno, "getpeername");
  }
  return from_sockaddr(address.get(), address.length);
}

Result<void> bind_to(int fd, const Endpoint& local, Family family, std::string_view what) {
  SockAddr address = to_sockaddr(local, family);
  if (::bind(fd, address.get(), address.length) != 0) {
    return Error::from_errno(errno, std::string(what) + " " + local.to_string());
  }
  return ok();
}

Result<bool> wait_ready(int fd, short events, Timeout timeout, std::string_view what) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  for (;;) {
    int wait_ms = -1;
    if (timeout) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      wait_ms = left.count() < 0 ? 0 : static_cast<int>(left.count());
    }
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, wait_ms);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return Error::from_errno(errno, what);
  }
}

std::string describe(Timeout timeout) {
  if (!timeout) return "no time limit";
  return std::to_string(timeout->count()) + " ms";
}

}  // namespace nexo::net::detail
