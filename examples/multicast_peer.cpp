// multicast_peer — joins a multicast group, sends one message to it, prints
// the next three messages the group carries, and leaves (the chapter's
// MulticastPeer, Coulouris et al., ch. 4).
//
// An IP multicast group is a class D address (224.0.0.0/4): a datagram sent to
// it reaches every process that has joined it, including, by default, the
// sender itself. Senders need not be members. Delivery is UDP's: messages may
// be lost or reordered. The TTL stays at its default of 1, so datagrams do not
// leave the local network. Unlike the Java program, a receive gives up after
// 30 s instead of blocking for ever.
//
// usage: multicast_peer <message> <group> [interface] [port]
//   interface: a name or address ("lo", "eth0", "127.0.0.1"); "-" or absent: the
//              one the routing table picks.  port: 6789 by default.
// Try it with: multicast_peer hello 228.5.6.7 lo   (in two or three terminals)
#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>

#include "nexo/net/multicast_socket.hpp"

namespace net = nexo::net;

int fail(const nexo::Error& err) {
  std::fprintf(stderr, "multicast_peer: %s\n", err.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: multicast_peer <message> <group> [interface] [port]\n");
    return 1;
  }
  auto group = net::InetAddress::parse(argv[2]);
  if (!group) return fail(group.error());
  std::optional<net::NetworkInterface> interface;
  if (argc >= 4 && std::string_view(argv[3]) != "-") {
    auto found = net::NetworkInterface::parse(argv[3]);
    if (!found) return fail(found.error());
    interface = *found;
  }
  auto port = argc == 5 ? net::parse_port(argv[4]) : nexo::Result<std::uint16_t>(6789);
  if (!port) return fail(port.error());

  auto socket = net::MulticastSocket::bind(*port, group->family());  // new MulticastSocket(6789)
  if (!socket) return fail(socket.error());
  if (auto joined = socket->join(*group, interface); !joined) return fail(joined.error());
  if (interface) {  // send through the same interface
    if (auto set = socket->set_interface(*interface); !set) return fail(set.error());
  }
  if (auto set = socket->set_receive_timeout(std::chrono::seconds(30)); !set) {
    return fail(set.error());
  }

  const net::Endpoint destination(*group, *port);
  if (auto sent = socket->send_to(std::string_view(argv[1]), destination); !sent) {
    return fail(sent.error());
  }
  for (int i = 0; i < 3; ++i) {  // get messages from others in the group (and our own)
    auto message = socket->receive(1000);
    if (!message) return fail(message.error());
    std::printf("Received: %.*s\n", static_cast<int>(message->text().size()),
                message->text().data());
    std::fflush(stdout);
  }
  if (auto left = socket->leave(*group, interface); !left) return fail(left.error());
  return 0;
}
