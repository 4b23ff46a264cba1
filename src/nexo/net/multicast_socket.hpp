// MulticastSocket — a UDP socket that joins IP multicast groups (the chapter's
// MulticastSocket). Groups are class D IPv4 addresses (224.0.0.0/4) or IPv6
// ff00::/8. Several members on one host bind the same port (SO_REUSEADDR is
// set, as Java does; not SO_REUSEPORT, see multicast_socket.cpp), and each
// receives every datagram sent to the groups it joined.
//
// Unreliable like UDP: multicast datagrams may be lost, duplicated or reordered.
// group/ builds reliable and ordered multicast on top of this.
//
// Thread contract as UdpSocket. Move-only; leaving is implicit on destruction.
#pragma once

#include <cstdint>
#include <optional>

#include "nexo/base/result.hpp"
#include "nexo/net/network_interface.hpp"
#include "nexo/net/udp_socket.hpp"

namespace nexo::net {

// Checks that `group` is a multicast address (224.0.0.0/4 or ff00::/8).
Result<void> validate_group(const InetAddress& group);

class MulticastSocket {
 public:
  // Binds the wildcard address of `family` on `port` (0: any free port), with
  // the port shared among members. Errors as UdpSocket::bind.
  static Result<MulticastSocket> bind(std::uint16_t port, Family family = Family::v4);

  // Joins `group` on `interface` (nullopt: the interface the routing table picks).
  // Errors: invalid_argument (not a multicast address, family mismatch), unreachable
  // (no interface routes multicast), system.
  Result<void> join(const InetAddress& group,
                    const std::optional<NetworkInterface>& interface = std::nullopt);
  // Leaves a group joined before. Errors: invalid_argument (not joined).
  Result<void> leave(const InetAddress& group,
                     const std::optional<NetworkInterface>& interface = std::nullopt);

  // The interface outgoing multicast datagrams leave through (IP_MULTICAST_IF).
  Result<void> set_interface(const NetworkInterface& interface);
  // Hops a datagram may travel (0..255; 1, the default, stays on the local network).
  Result<void> set_ttl(int ttl);
  Result<int> ttl() const;
  // Whether this host's own members receive what it sends (default on).
  Result<void> set_loopback(bool on);
  Result<bool> loopback() const;

  // Sends to a group (or any endpoint). Errors as UdpSocket::send_to.
  Result<void> send_to(std::span<const std::byte> payload, const Endpoint& group) {
    return socket_.send_to(payload, group);
  }
  Result<void> send_to(std::string_view text, const Endpoint& group) {
    return socket_.send_to(as_bytes(text), group);
  }
  Result<std::size_t> receive_from(std::span<std::byte> buffer, Endpoint& from) {
    return socket_.receive_from(buffer, from);
  }
  Result<Datagram> receive(std::size_t max_size = UdpSocket::kMaxPayloadV6) {
    return socket_.receive(max_size);
  }
  Result<void> set_receive_timeout(Timeout timeout) { return socket_.set_receive_timeout(timeout); }

  const Endpoint& local_endpoint() const noexcept { return socket_.local_endpoint(); }
  Family family() const noexcept { return socket_.family(); }
  // The underlying UDP socket, for buffer sizes, non-blocking mode, the event loop.
  UdpSocket& udp() noexcept { return socket_; }

 private:
  explicit MulticastSocket(UdpSocket socket) noexcept : socket_(std::move(socket)) {}
  Result<void> membership(bool join, const InetAddress& group,
                          const std::optional<NetworkInterface>& interface);

  UdpSocket socket_;
};

}  // namespace nexo::net
