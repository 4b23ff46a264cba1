#include "commands.hpp"

#include <algorithm>
#include <csignal>
#include <iostream>
#include <mutex>

#include "chapter_servers.hpp"
#include "options.hpp"
#include "terminal_text.hpp"
#include "nexo/net/multicast_socket.hpp"

namespace nexo::tool {
namespace {

int fail(std::string_view command, const Error& error) {
  return report_failure(command, error.message());
}

// The address a server binds: the one asked for, or every interface (IPv6 and
// IPv4 through one dual-stack socket, or IPv4 alone where IPv6 is off).
Result<net::Endpoint> server_endpoint(const ServerArgs& args, bool ipv6_available) {
  auto port = net::parse_port(args.port);
  if (!port) return std::move(port).error().with_context("--port");
  if (args.bind.empty()) {
    return net::Endpoint(net::InetAddress::any(ipv6_available ? net::Family::v6 : net::Family::v4),
                         *port);
  }
  auto address = net::InetAddress::resolve(args.bind);
  if (!address) return std::move(address).error().with_context("--bind");
  return net::Endpoint(address->front(), *port);
}

// The server's address for a client: IPv4 first when the name has both, as the
// chapter's servers commonly listen on IPv4.
Result<std::vector<net::Endpoint>> client_endpoints(const ClientArgs& args) {
  auto port = net::parse_port(args.port);
  if (!port) return std::move(port).error().with_context("--port");
  auto addresses = net::InetAddress::resolve(args.host);
  if (!addresses) return std::move(addresses).error();
  std::stable_partition(addresses->begin(), addresses->end(),
                        [](const net::InetAddress& a) { return a.is_v4(); });
  std::vector<net::Endpoint> out;
  for (const auto& address : *addresses)
    out.emplace_back(address, *port);
  return out;
}

std::mutex output_mutex;

void log_request(std::string_view text, const net::Endpoint& client) {
  std::lock_guard lock(output_mutex);
  std::cout << "Request: " << printable(text) << " (from " << client.to_string() << ")" << std::endl;
}

template <class Server>
Result<Server> bind_server(const ServerArgs& args) {
  auto local = server_endpoint(args, true);
  if (!local) return std::move(local).error();
  auto server = Server::bind(*local);
  if (server || !args.bind.empty() || server.error().sys_errno() != EAFNOSUPPORT) return server;
  local = server_endpoint(args, false);  // no IPv6 on this host: IPv4 only
  if (!local) return std::move(local).error();
  return Server::bind(*local);
}

template <class Server>
int serve(std::string_view command, const ServerArgs& args) {
  auto server = bind_server<Server>(args);
  if (!server) return fail(command, server.error());
  std::cerr << "nexo " << command << ": listening on " << server->local_endpoint().to_string()
            << std::endl;
  ServeOptions options;
  options.count = args.count;
  options.log = log_request;
  if (auto ran = server->run(options); !ran) return fail(command, ran.error());
  return 0;
}

}  // namespace

int udp_serve(const ServerArgs& args) {
  return serve<UdpEchoServer>("udp serve", args);
}
int tcp_serve(const ServerArgs& args) {
  return serve<TcpEchoServer>("tcp serve", args);
}

int udp_send(const ClientArgs& args) {
  const Timeout timeout = options::to_timeout(args.timeout_ms);
  auto servers = client_endpoints(args);
  if (!servers) return fail("udp send", servers.error());
  auto reply = udp_echo_request(servers->front(), args.message, timeout);
  if (!reply) return fail("udp send", reply.error());
  std::cout << "Reply: " << printable(*reply) << std::endl;
  return 0;
}

int tcp_send(const ClientArgs& args) {
  const Timeout timeout = options::to_timeout(args.timeout_ms);
  auto servers = client_endpoints(args);
  if (!servers) return fail("tcp send", servers.error());
  Result<std::string> reply = Error(ErrorKind::resolve_failed, "no address");
  for (const auto& server : *servers) {  // like Java's Socket: try each address in turn
    reply = tcp_echo_request(server, args.message, timeout);
    if (reply || !reply.error().is(ErrorKind::refused)) break;
  }
  if (!reply) return fail("tcp send", reply.error());
  std::cout << "Received: " << printable(*reply) << std::endl;
  return 0;
}

int resolve(const std::string& name) {
  auto addresses = net::InetAddress::resolve(name);
  if (!addresses) return fail("resolve", addresses.error());
  for (const auto& address : *addresses)
    std::cout << address.to_string() << '\n';
  return 0;
}

}  // namespace nexo::tool

namespace nexo::tool {

int mcast_peer(const MulticastArgs& args) {
  constexpr std::string_view command = "mcast peer";
  const Timeout timeout = options::to_timeout(args.timeout_ms);
  auto port = net::parse_port(args.port);  // checked by options::port(false): not 0
  if (!port) return fail(command, port.error().with_context("--port"));
  auto group = net::InetAddress::resolve(args.group);
  if (!group) return fail(command, group.error());
  if (auto valid = net::validate_group(group->front()); !valid) return fail(command, valid.error());
  std::optional<net::NetworkInterface> interface;
  if (!args.interface.empty()) {
    auto found = net::NetworkInterface::parse(args.interface);
    if (!found) return fail(command, found.error().with_context("--interface"));
    interface = std::move(*found);
  }
  auto socket = net::MulticastSocket::bind(*port, group->front().family());
  if (!socket) return fail(command, socket.error());
  Result<void> step = ok();
  if (interface) step = socket->set_interface(*interface);
  if (step) step = socket->set_ttl(args.ttl);
  if (step) step = socket->set_loopback(args.loopback);
  if (step) step = socket->set_receive_timeout(timeout);
  if (step) step = socket->join(group->front(), interface);
  if (step) step = socket->send_to(args.message, net::Endpoint(group->front(), *port));
  if (!step) return fail(command, step.error());
  for (std::size_t i = 0; i < args.count; ++i) {
    auto datagram = socket->receive();
    if (!datagram) {
      return fail(command,
                  datagram.error().with_context("received " + std::to_string(i) + " of " +
                                                std::to_string(args.count) + " datagrams"));
    }
    std::cout << "Received:" << printable(datagram->text()) << std::endl;
  }
  if (auto left = socket->leave(group->front(), interface); !left)
    return fail(command, left.error());
  return 0;
}

}  // namespace nexo::tool
