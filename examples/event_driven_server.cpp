// An event-driven server: one event loop serves every connection.
//
// A nexo Port on tcp:// is such a server: its I/O thread waits in epoll for
// whichever connection has data, cuts frames into messages and queues them; the
// program's thread just receives. Thousands of idle clients cost almost nothing
// (no thread, no buffer each). Compare thread_per_connection_server.cpp.
//
// usage: event_driven_server [port]      (5555 by default; 0 picks a free port)
// then:  nexo send tcp://127.0.0.1:5555 hello   (add --sync to wait until it is taken)
#include <iostream>

#include "nexo/msg/port.hpp"

int main(int argc, char** argv) {
  namespace msg = nexo::msg;
  const std::string port = argc > 1 ? argv[1] : "5555";
  auto context = msg::Context::create();
  if (!context) return std::cerr << context.error().message() << '\n', 1;
  auto server = msg::Port::bind(**context, "tcp://*:" + port);
  if (!server) return std::cerr << server.error().message() << '\n', 1;
  std::cout << "event-driven server on " << (*server)->uri().to_string() << std::endl;
  for (;;) {
    auto message = (*server)->receive();  // blocks; the I/O thread fills the queue meanwhile
    if (!message) return std::cerr << message.error().message() << '\n', 1;
    std::cout << message->source() << ": " << message->text() << "  ("
              << (*server)->connections().size() << " connections open)" << std::endl;
  }
}
