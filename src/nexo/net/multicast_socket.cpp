#include "nexo/net/multicast_socket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "nexo/net/socket_ops.hpp"

namespace nexo::net {

Result<void> validate_group(const InetAddress& group) {
  if (group.is_multicast()) return ok();
  return Error(ErrorKind::invalid_argument,
               group.to_string() + " is not a multicast group address (" +
                   (group.is_v4() ? "IPv4 groups are 224.0.0.0/4" : "IPv6 groups are ff00::/8") +
                   ")");
}

Result<MulticastSocket> MulticastSocket::bind(std::uint16_t port, Family family) {
  // SO_REUSEADDR alone lets members share the port, and every one of them gets
  // each group datagram. SO_REUSEPORT would make Linux hand an IPv4 datagram
  // that arrives from the wire to just one socket of the port, picked by hash,
  // skipping the membership check: a member could miss its group's datagrams
  // and get another group's (seen on veth; tests/netns_multicast_test.cpp).
  UdpOptions options;
  options.reuse_address = true;
  auto socket = UdpSocket::bind(Endpoint(InetAddress::any(family), port), options);
  if (!socket) return std::move(socket).error().with_context("multicast bind");
  // Receive only the groups this socket joined, not every group any socket of
  // the host joined on this port (Linux's surprising default).
  const int fd = socket->native_handle();
  auto only_joined =
      family == Family::v4
          ? detail::set_int_option(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL")
          : detail::set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL");
  if (!only_joined) return std::move(only_joined).error().with_context("multicast bind");
  return MulticastSocket(std::move(*socket));
}

Result<void> MulticastSocket::membership(bool join, const InetAddress& group,
                                         const std::optional<NetworkInterface>& interface) {
  const std::string what = std::string(join ? "join" : "leave") + " multicast group " +
                           group.to_string() + (interface ? " on " + interface->name() : "");
  if (auto valid = validate_group(group); !valid)
    return std::move(valid).error().with_context(what);
  if (group.family() != family()) {
    return Error(
        ErrorKind::invalid_argument,
        what + ": the socket is " + std::string(to_string(family())) + ", the group is not");
  }
  const int fd = socket_.native_handle();
  int rc = 0;
  if (group.is_v4()) {
    ip_mreqn request{};
    std::memcpy(&request.imr_multiaddr, group.bytes().data(), 4);
    request.imr_ifindex = interface ? static_cast<int>(interface->index()) : 0;
    rc = ::setsockopt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &request,
                      sizeof request);
  } else {
    ipv6_mreq request{};
    std::memcpy(&request.ipv6mr_multiaddr, group.bytes().data(), 16);
    request.ipv6mr_interface = interface ? interface->index() : group.scope_id();
    rc = ::setsockopt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &request,
                      sizeof request);
  }
  if (rc == 0) return ok();
  const int err = errno;
  if (!join && err == EADDRNOTAVAIL) {
    return Error(ErrorKind::invalid_argument, what + ": not a member of this group", err);
  }
  if (join && (err == ENODEV || err == ENETUNREACH)) {
    return Error(ErrorKind::unreachable,
                 what + ": no interface routes multicast (" + std::strerror(err) + ")", err);
  }
  return Error::from_errno(err, what);
}

Result<void> MulticastSocket::join(const InetAddress& group,
                                   const std::optional<NetworkInterface>& interface) {
  return membership(true, group, interface);
}

Result<void> MulticastSocket::leave(const InetAddress& group,
                                    const std::optional<NetworkInterface>& interface) {
  return membership(false, group, interface);
}

Result<void> MulticastSocket::set_interface(const NetworkInterface& interface) {
  const int fd = socket_.native_handle();
  const std::string what = "multicast interface " + interface.name();
  if (family() == Family::v6) {
    return detail::set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF,
                                  static_cast<int>(interface.index()), what);
  }
  ip_mreqn request{};
  request.imr_ifindex = static_cast<int>(interface.index());
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &request, sizeof request) != 0) {
    return Error::from_errno(errno, what);
  }
  return ok();
}

Result<void> MulticastSocket::set_ttl(int ttl) {
  if (ttl < 0 || ttl > 255) {
    return Error(ErrorKind::invalid_argument,
                 "multicast TTL " + std::to_string(ttl) + " is outside 0..255");
  }
  const int fd = socket_.native_handle();
  return family() == Family::v4
             ? detail::set_int_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl, "IP_MULTICAST_TTL")
             : detail::set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl,
                                      "IPV6_MULTICAST_HOPS");
}

Result<int> MulticastSocket::ttl() const {
  const int fd = socket_.native_handle();
  return family() == Family::v4
             ? detail::get_int_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL")
             : detail::get_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS");
}

Result<void> MulticastSocket::set_loopback(bool on) {
  const int fd = socket_.native_handle();
  return family() == Family::v4
             ? detail::set_int_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, on, "IP_MULTICAST_LOOP")
             : detail::set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on,
                                      "IPV6_MULTICAST_LOOP");
}

Result<bool> MulticastSocket::loopback() const {
  const int fd = socket_.native_handle();
  auto value =
      family() == Family::v4
          ? detail::get_int_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP")
          : detail::get_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP");
  if (!value) return std::move(value).error();
  return *value != 0;
}

}  // namespace nexo::net
