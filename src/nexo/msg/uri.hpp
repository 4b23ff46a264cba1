// Uri — where a port is, naming its transport:
//   tcp://HOST:PORT     length-prefixed frames over TCP
//   udp://HOST:PORT     one datagram per message, unreliable (UDP's failure model)
//   rudp://HOST:PORT    reliable datagrams over UDP (acknowledgements, retransmission)
//   ipc://PATH          length-prefixed frames over a Unix-domain stream socket
//                       (this host): ipc:///tmp/app.sock, ipc://run/app.sock
//                       (relative to the working directory), ipc://@app (Linux's
//                       abstract namespace: no file). tcp://'s framing, engine
//                       and options (PortOptions' tcp:// ones apply to it too).
//   inproc://NAME       within this process, no sockets
// HOST is a name, an IPv4 literal, [IPv6], or * (bind: every interface;
// connect: this host, so the uri() of a port bound to tcp://*:0 can be used as is).
// A value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nexo/base/result.hpp"

namespace nexo::msg {

enum class Scheme : std::uint8_t { tcp, udp, inproc, rudp, ipc };

std::string_view to_string(Scheme scheme) noexcept;

struct Uri {
  Scheme scheme = Scheme::inproc;
  std::string host;        // tcp/udp: "*" for every interface
  std::uint16_t port = 0;  // tcp/udp
  std::string name;        // inproc: the name; ipc: the path, or @name

  // Errors: invalid_argument naming the text and what is wrong with it.
  static Result<Uri> parse(std::string_view text);
  std::string to_string() const;
  bool is_wildcard() const noexcept { return host == "*"; }
};

}  // namespace nexo::msg
