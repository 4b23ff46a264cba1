// tcp_client — sends a string over a TCP connection and prints the reply (the
// chapter's TCPClient, Coulouris et al., ch. 4).
//
// TCP gives the two processes a stream of bytes instead of messages: the
// client connects to the server's (address, port), then writes and reads.
// Since a stream keeps no message boundaries, the string goes as Java's
// writeUTF encodes it (a 2-byte length, then modified UTF-8); DataWriter and
// DataReader speak that encoding, so this client also works with the Java server.
//
// usage: tcp_client <message> <hostname> [port]   (port 7896 by default)
#include <cstdio>

#include "nexo/net/data_stream.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace net = nexo::net;

int fail(const nexo::Error& err) {
  std::fprintf(stderr, "tcp_client: %s\n", err.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: tcp_client <message> <hostname> [port]\n");
    return 1;
  }
  auto port = argc == 4 ? net::parse_port(argv[3]) : nexo::Result<std::uint16_t>(7896);
  if (!port) return fail(port.error());

  auto stream = net::TcpStream::connect(argv[2], *port);  // new Socket(host, port)
  if (!stream) return fail(stream.error());

  net::DataWriter out(*stream);
  if (auto written = out.write_utf(argv[1]); !written) return fail(written.error());
  if (auto flushed = out.flush(); !flushed) return fail(flushed.error());

  net::DataReader in(*stream);
  auto data = in.read_utf();
  if (!data) return fail(data.error());
  std::printf("Received: %s\n", data->c_str());
  return 0;
}
