// A thread-per-connection server: each client gets a thread of its own that
// blocks in read() on its connection — the simplest design, and the chapter's
// TCPServer's. It speaks nexo's tcp:// framing (nexo/msg/frame.hpp), so
// `nexo send tcp://127.0.0.1:5556 hi` (and --sync) work against it.
// Each thread costs a stack (8 MiB of address space, some of it touched): fine
// for tens of clients, not for ten thousand. Compare event_driven_server.cpp.
//
// usage: thread_per_connection_server [port]   (5556 by default)
#include <iostream>
#include <mutex>
#include <thread>

#include "nexo/msg/frame.hpp"
#include "nexo/net/tcp_listener.hpp"

namespace {

namespace frame = nexo::msg::frame;
std::mutex print_mutex;

// Reads frames until the client leaves; acknowledges the ones a synchronous send waits for.
void serve(nexo::net::TcpStream client) {
  nexo::Bytes buffer(64 * 1024), pending;
  for (;;) {
    auto n = client.read(buffer);
    if (!n) break;  // closed, reset or timed out: this client is done
    pending.insert(pending.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*n));
    frame::Parsed f;
    std::string why;
    std::size_t used = 0;
    frame::Status status;
    while ((status = frame::parse(std::span(pending).subspan(used), 1 << 20, f, why)) ==
           frame::Status::complete) {
      {
        std::lock_guard lock(print_mutex);
        std::cout << client.peer_endpoint().to_string() << ": " << nexo::as_text(f.payload)
                  << std::endl;
      }
      if (f.kind == frame::kDataToAck) {  // taken (printed): say so
        nexo::Bytes ack;
        frame::append(ack, frame::kAck, f.id, {});
        if (!client.write_all(ack)) return;
      }
      used += f.size;
    }
    if (status == frame::Status::malformed)
      return (void)(std::cerr << "bad frame: " << why << '\n');
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(used));
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace net = nexo::net;
  auto port = argc > 1 ? net::parse_port(argv[1]) : nexo::Result<std::uint16_t>(5556);
  if (!port) return std::cerr << port.error().message() << '\n', 1;
  auto listener =
      net::TcpListener::bind(net::Endpoint(net::InetAddress::any(net::Family::v6), *port));
  if (!listener) return std::cerr << listener.error().message() << '\n', 1;
  std::cout << "thread-per-connection server on port " << listener->local_endpoint().port()
            << std::endl;
  for (;;) {
    auto client = listener->accept();
    if (!client) return std::cerr << client.error().message() << '\n', 1;
    std::thread(serve, std::move(*client)).detach();  // the thread owns its connection
  }
}
