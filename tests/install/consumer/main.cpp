// Uses the installed nexo: a UDP datagram to itself on loopback.
#include <nexo/net/udp_socket.hpp>

#include <chrono>
#include <iostream>

int main() {
  using namespace nexo::net;
  auto socket = UdpSocket::bind(Endpoint(InetAddress::loopback(), 0));
  if (!socket) return std::cerr << socket.error().message() << '\n', 1;
  if (auto sent = socket->send_to("installed", socket->local_endpoint()); !sent) {
    return std::cerr << sent.error().message() << '\n', 1;
  }
  (void)socket->set_receive_timeout(std::chrono::seconds(5));
  auto datagram = socket->receive();
  if (!datagram) return std::cerr << datagram.error().message() << '\n', 1;
  std::cout << "consumer received: " << datagram->text() << '\n';
  return datagram->text() == "installed" ? 0 : 1;
}
