// udp_client — sends one request datagram and prints the reply (the chapter's
// UDPClient, Coulouris et al., ch. 4).
//
// UDP is message passing with no connection and no acknowledgement: the
// client addresses each datagram to (Internet address, port), and a request
// or its reply may be lost without anyone being told. The Java original would
// then block for ever; here the receive has a timeout (the chapter's
// setSoTimeout), so a lost message shows as a timed_out error.
//
// usage: udp_client <message> <hostname> [port]   (port 6789 by default)
// Try it with: udp_server &  udp_client hello 127.0.0.1
#include <chrono>
#include <cstdio>

#include "nexo/net/endpoint.hpp"
#include "nexo/net/udp_socket.hpp"

namespace net = nexo::net;

int fail(const nexo::Error& err) {
  std::fprintf(stderr, "udp_client: %s\n", err.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: udp_client <message> <hostname> [port]\n");
    return 1;
  }
  auto port = argc == 4 ? net::parse_port(argv[3]) : nexo::Result<std::uint16_t>(6789);
  if (!port) return fail(port.error());
  auto server = net::Endpoint::resolve(argv[2], *port);  // InetAddress.getByName
  if (!server) return fail(server.error());

  auto socket = net::UdpSocket::bind_any(server->family());  // new DatagramSocket()
  if (!socket) return fail(socket.error());
  if (auto set = socket->set_receive_timeout(std::chrono::seconds(5)); !set) {
    return fail(set.error());
  }
  if (auto sent = socket->send_to(std::string_view(argv[1]), *server); !sent) {
    return fail(sent.error());
  }
  auto reply = socket->receive(1000);  // a buffer of 1000 bytes, as in the Java program
  if (!reply) return fail(reply.error());
  std::printf("Reply: %.*s\n", static_cast<int>(reply->text().size()), reply->text().data());
  return 0;
}
