#include "nexo/msg/datagram_socket.hpp"

namespace nexo::msg {
namespace {

constexpr int kBufferBytes = 4 << 20;

Result<net::Endpoint> endpoint_of(const Uri& uri, bool for_bind) {
  if (uri.is_wildcard()) {  // bind: every interface; send: this host
    return for_bind ? net::Endpoint(net::InetAddress::any(net::Family::v6), uri.port)
                    : net::Endpoint(net::InetAddress::loopback(), uri.port);
  }
  return net::Endpoint::resolve(uri.host, uri.port);
}

Result<net::UdpSocket> finish(Result<net::UdpSocket> socket) {
  if (!socket) return socket;
  if (auto nb = socket->set_non_blocking(true); !nb) return std::move(nb).error();
  (void)socket->set_receive_buffer_size(kBufferBytes);
  (void)socket->set_send_buffer_size(kBufferBytes);
  return socket;
}

}  // namespace

Result<net::UdpSocket> open_port_socket(const Uri& uri) {
  auto local = endpoint_of(uri, true);
  if (!local) return std::move(local).error();
  return finish(net::UdpSocket::bind(*local));
}

Result<net::UdpSocket> open_sender_socket(const Uri& uri) {
  auto peer = endpoint_of(uri, false);
  if (!peer) return std::move(peer).error();
  auto socket = net::UdpSocket::bind_any(peer->family());
  if (!socket) return socket;
  if (auto c = socket->connect(*peer); !c) return std::move(c).error();
  return finish(std::move(socket));
}

}  // namespace nexo::msg
