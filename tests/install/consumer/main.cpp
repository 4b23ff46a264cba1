// Uses the installed nexo: a UDP datagram to itself on loopback, carrying a type
// the consumer describes itself, marshalled in CDR.
#include <nexo/net/udp_socket.hpp>
#include <nexo/wire/cdr.hpp>

#include <chrono>
#include <iostream>

struct Greeting {
  std::string text;
  std::int32_t number = 0;
};
constexpr auto nexo_wire_describe(const Greeting*) {
  return nexo::wire::describe<Greeting>("greeting")
      .field("text", &Greeting::text)
      .field("number", &Greeting::number);
}

int main() {
  using namespace nexo::net;
  namespace cdr = nexo::wire::cdr;
  auto socket = UdpSocket::bind(Endpoint(InetAddress::loopback(), 0));
  if (!socket) return std::cerr << socket.error().message() << '\n', 1;
  nexo::wire::Buffer bytes;
  cdr::encode_encapsulated(Greeting{"installed", 42}, bytes);
  if (auto sent = socket->send_to(bytes.bytes(), socket->local_endpoint()); !sent) {
    return std::cerr << sent.error().message() << '\n', 1;
  }
  (void)socket->set_receive_timeout(std::chrono::seconds(5));
  auto datagram = socket->receive();
  if (!datagram) return std::cerr << datagram.error().message() << '\n', 1;
  auto greeting = cdr::decode_encapsulated<Greeting>(datagram->payload);
  if (!greeting) return std::cerr << greeting.error().message() << '\n', 1;
  std::cout << "consumer received: " << greeting->text << ' ' << greeting->number << '\n';
  return greeting->text == "installed" && greeting->number == 42 ? 0 : 1;
}
