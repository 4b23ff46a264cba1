// Internal helpers shared by the socket classes: sockaddr conversion, socket
// creation, option setting, and waiting with poll(2). Not part of the public API.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string_view>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/file_descriptor.hpp"
#include "nexo/net/unix_address.hpp"

namespace nexo::net::detail {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage); }
};

int to_domain(Family family) noexcept;
// Endpoint → sockaddr. An IPv4 endpoint given to an IPv6 socket is mapped (::ffff:a.b.c.d).
SockAddr to_sockaddr(const Endpoint& endpoint, Family socket_family) noexcept;
// sockaddr → Endpoint; IPv4-mapped IPv6 addresses come back as IPv4.
Endpoint from_sockaddr(const sockaddr* address, socklen_t length) noexcept;

// UnixAddress → sockaddr_un (an abstract name with its leading NUL, no trailing one).
SockAddr to_sockaddr(const UnixAddress& address) noexcept;
// sockaddr_un → UnixAddress; empty for an unnamed socket (a connecting end).
UnixAddress unix_from_sockaddr(const sockaddr* address, socklen_t length);

// socket(2) with SOCK_CLOEXEC.
// The option helpers below report closed (not EBADF) for a closed socket (fd < 0).
Result<FileDescriptor> open_socket(Family family, int type, std::string_view operation);
// socket(2) of the Unix domain (AF_UNIX), with SOCK_CLOEXEC.
Result<FileDescriptor> open_unix_socket(int type, std::string_view operation);
Result<void> set_int_option(int fd, int level, int name, int value, std::string_view what);
Result<int> get_int_option(int fd, int level, int name, std::string_view what);
Result<void> set_timeout_option(int fd, int name, Timeout timeout, std::string_view what);
Result<void> set_non_blocking(int fd, bool on, std::string_view what);
Result<Endpoint> local_endpoint_of(int fd);
Result<Endpoint> peer_endpoint_of(int fd);
// The options that must be set before bind(2).
struct BindOptions {
  bool reuse_address = false;  // SO_REUSEADDR
  bool reuse_port = false;     // SO_REUSEPORT
  bool v6_only = false;        // IPV6_V6ONLY (IPv6 sockets only; set either way)
};
Result<void> set_bind_options(int fd, Family family, const BindOptions& options);

// bind(2) with the error naming the address.
Result<void> bind_to(int fd, const Endpoint& local, Family family, std::string_view what);

// Waits until fd is ready for `events` (POLLIN/POLLOUT) or the timeout passes.
// Returns true when ready, false on timeout.
Result<bool> wait_ready(int fd, short events, Timeout timeout, std::string_view what);

// "250 ms" for messages.
std::string describe(Timeout timeout);

}  // namespace nexo::net::detail
