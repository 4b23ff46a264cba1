// The UDP sockets of the datagram transports (udp://, rudp://): opened the
// same way for both. Internal to msg/.
#pragma once

#include "nexo/base/result.hpp"
#include "nexo/msg/uri.hpp"
#include "nexo/net/udp_socket.hpp"

namespace nexo::msg {

// A port's socket: bound to the uri's address ("*": every interface, IPv6
// dual-stack), non-blocking, with large buffers (best effort: fewer drops
// under bursts).
Result<net::UdpSocket> open_port_socket(const Uri& uri);
// A sender's socket: bound to any local port and connected to the uri's
// address ("*": this host), so that an ICMP port unreachable shows as refused;
// non-blocking, with large buffers.
Result<net::UdpSocket> open_sender_socket(const Uri& uri);

}  // namespace nexo::msg
