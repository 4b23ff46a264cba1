// tcp_server — echoes a string back on each connection, one thread per
// connection (the chapter's TCPServer and its Connection class, Coulouris et
// al., ch. 4).
//
// The server's listening socket only accepts: each accept() yields a new
// stream to one client, and a new thread serves it, so a slow client does not
// hold up the others. Each connection reads one string (Java's readUTF
// encoding), writes it back, and closes.
//
// usage: tcp_server [port]   (port 7896 by default; 0 picks a free port)
#include <cstdio>
#include <thread>

#include "nexo/net/data_stream.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/tcp_listener.hpp"

namespace net = nexo::net;

// The Connection thread's work: read one string, write it back.
nexo::Result<void> echo_one(net::TcpStream& stream) {
  net::DataReader in(stream);
  net::DataWriter out(stream);
  auto data = in.read_utf();
  if (!data) return data.error();
  if (auto written = out.write_utf(*data); !written) return written;
  return out.flush();
}

// The Connection thread: serves one client, then closes (the stream's destructor).
void serve(net::TcpStream stream) {
  if (auto done = echo_one(stream); !done) {
    std::fprintf(stderr, "tcp_server: %s: %s\n", stream.peer_endpoint().to_string().c_str(),
                 done.error().message().c_str());
  }
}

int fail(const nexo::Error& err) {
  std::fprintf(stderr, "tcp_server: %s\n", err.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc > 2) {
    std::fprintf(stderr, "usage: tcp_server [port]\n");
    return 1;
  }
  auto port = argc == 2 ? net::parse_port(argv[1]) : nexo::Result<std::uint16_t>(7896);
  if (!port) return fail(port.error());
  // new ServerSocket(7896)
  auto listener =
      net::TcpListener::bind(net::Endpoint(net::InetAddress::any(net::Family::v6), *port));
  if (!listener) return fail(listener.error());
  std::printf("tcp_server: listening on %s\n", listener->local_endpoint().to_string().c_str());
  std::fflush(stdout);

  for (;;) {
    auto stream = listener->accept();  // blocks until a client connects
    if (!stream) {                     // e.g. out of file descriptors: report it and go on serving
      std::fprintf(stderr, "tcp_server: %s\n", stream.error().message().c_str());
      continue;
    }
    std::thread(serve, std::move(*stream)).detach();  // new Connection(clientSocket)
  }
}
