// The subcommands of the `nexo` tool. Each returns the process exit status
// and prints errors as one line on stderr ("nexo udp send: <reason>").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace nexo::tool {

struct ServerArgs {
  std::string port;  // validated by the command (message names the value)
  std::string bind;  // empty: every interface, IPv6 and IPv4
  std::optional<std::size_t> count;
};

struct ClientArgs {
  std::string message;
  std::string host;
  std::string port;
  long long timeout_ms = 0;  // 0: wait for ever
};

struct MulticastArgs {
  std::string message;
  std::string group;
  std::string port;
  std::size_t count = 3;
  std::string interface;  // empty: the interface the routing table picks
  long long timeout_ms = 0;
  int ttl = 1;
  bool loopback = true;
};

int udp_serve(const ServerArgs& args);
int udp_send(const ClientArgs& args);
int tcp_serve(const ServerArgs& args);
int tcp_send(const ClientArgs& args);
int mcast_peer(const MulticastArgs& args);
int resolve(const std::string& name);
int tour();

}  // namespace nexo::tool
