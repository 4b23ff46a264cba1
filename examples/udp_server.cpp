// udp_server — echoes every datagram back to its sender (the chapter's
// UDPServer, Coulouris et al., ch. 4).
//
// The server binds a socket to a port agreed with its clients and loops for
// ever: each receive yields one message and the sender's (address, port), to
// which the reply goes. No connection is kept, so one socket serves every
// client, one datagram at a time.
//
// usage: udp_server [port]   (port 6789 by default; 0 picks a free port)
#include <cstdio>

#include "nexo/net/endpoint.hpp"
#include "nexo/net/udp_socket.hpp"

namespace net = nexo::net;

int fail(const nexo::Error& err) {
  std::fprintf(stderr, "udp_server: %s\n", err.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc > 2) {
    std::fprintf(stderr, "usage: udp_server [port]\n");
    return 1;
  }
  auto port = argc == 2 ? net::parse_port(argv[1]) : nexo::Result<std::uint16_t>(6789);
  if (!port) return fail(port.error());

  // new DatagramSocket(6789): every local address (IPv6 and IPv4 through one
  // dual-stack socket), the agreed port.
  auto socket = net::UdpSocket::bind(net::Endpoint(net::InetAddress::any(net::Family::v6), *port));
  if (!socket) return fail(socket.error());
  std::printf("udp_server: listening on %s\n", socket->local_endpoint().to_string().c_str());
  std::fflush(stdout);

  for (;;) {
    auto request = socket->receive(1000);  // blocks until a datagram arrives
    if (!request && request.error().is(nexo::ErrorKind::truncated)) {
      std::fprintf(stderr, "udp_server: %s\n", request.error().message().c_str());
      continue;  // Java would cut it silently; nexo says so, and drops it
    }
    if (!request) return fail(request.error());
    // The reply goes back to where the request came from.
    if (auto sent = socket->send_to(request->payload, request->peer); !sent) {
      std::fprintf(stderr, "udp_server: %s\n", sent.error().message().c_str());
    }
  }
}
