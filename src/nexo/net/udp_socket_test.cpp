#include "nexo/net/udp_socket.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace nexo::net {
namespace {

using namespace std::chrono_literals;

class UdpSocketTest : public ::testing::TestWithParam<Family> {
 protected:
  InetAddress loopback() const { return InetAddress::loopback(GetParam()); }
  UdpSocket bound() {
    auto s = UdpSocket::bind(Endpoint(loopback(), 0));
    EXPECT_TRUE(s) << s.error().message();
    return std::move(s).value();
  }
};

INSTANTIATE_TEST_SUITE_P(BothFamilies, UdpSocketTest, ::testing::Values(Family::v4, Family::v6),
                         [](const auto& family) {
                           return family.param == Family::v4 ? "IPv4" : "IPv6";
                         });

TEST_P(UdpSocketTest, BindsAnyFreePortAndReadsItBack) {
  UdpSocket s = bound();
  EXPECT_NE(s.local_endpoint().port(), 0);
  EXPECT_EQ(s.local_endpoint().address(), loopback());
  EXPECT_EQ(s.family(), GetParam());
}

TEST_P(UdpSocketTest, SendAndReceiveReportTheSender) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  ASSERT_TRUE(client.send_to("hello", server.local_endpoint()));
  ASSERT_TRUE(server.set_receive_timeout(5s));
  auto datagram = server.receive();
  ASSERT_TRUE(datagram) << datagram.error().message();
  EXPECT_EQ(datagram->text(), "hello");
  EXPECT_EQ(datagram->peer, client.local_endpoint());
  ASSERT_TRUE(server.send_to(datagram->payload, datagram->peer));
  ASSERT_TRUE(client.set_receive_timeout(5s));
  auto reply = client.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->text(), "hello");
}

TEST_P(UdpSocketTest, EmptyDatagramIsADatagram) {
  UdpSocket a = bound();
  UdpSocket b = bound();
  ASSERT_TRUE(a.send_to(std::span<const std::byte>(), b.local_endpoint()));
  ASSERT_TRUE(b.set_receive_timeout(5s));
  auto d = b.receive();
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->payload.empty());
}

TEST_P(UdpSocketTest, ReceiveTimeoutIsTimedOut) {
  UdpSocket s = bound();
  ASSERT_TRUE(s.set_receive_timeout(20ms));
  auto r = s.receive();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timed_out);
  EXPECT_NE(r.error().message().find("20 ms"), std::string::npos) << r.error().message();
  EXPECT_EQ(s.receive_timeout(), Timeout(20ms));
}

TEST_P(UdpSocketTest, NonBlockingReceiveWouldBlock) {
  UdpSocket s = bound();
  ASSERT_TRUE(s.set_non_blocking(true));
  auto r = s.receive();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::would_block);
}

TEST_P(UdpSocketTest, OversizedDatagramIsReportedTruncatedNotCut) {
  UdpSocket a = bound();
  UdpSocket b = bound();
  ASSERT_TRUE(b.set_receive_timeout(5s));
  Bytes big(2000, std::byte{0x5a});
  ASSERT_TRUE(a.send_to(big, b.local_endpoint()));
  ASSERT_TRUE(a.send_to("next", b.local_endpoint()));
  std::array<std::byte, 1000> small{};
  Endpoint from;
  auto r = b.receive_from(small, from);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::truncated);
  EXPECT_NE(r.error().message().find("2000 bytes"), std::string::npos) << r.error().message();
  EXPECT_EQ(small[999], std::byte{0x5a});  // the front of the datagram is in the buffer
  EXPECT_EQ(from, a.local_endpoint());
  auto next = b.receive();  // the following datagram is intact
  ASSERT_TRUE(next);
  EXPECT_EQ(next->text(), "next");
}

TEST_P(UdpSocketTest, ConnectFiltersDatagramsFromOthers) {
  UdpSocket receiver = bound();
  UdpSocket peer = bound();
  UdpSocket stranger = bound();
  ASSERT_TRUE(receiver.connect(peer.local_endpoint()));
  EXPECT_EQ(receiver.peer(), peer.local_endpoint());
  ASSERT_TRUE(stranger.send_to("stranger", receiver.local_endpoint()));
  ASSERT_TRUE(peer.send_to("peer", receiver.local_endpoint()));
  ASSERT_TRUE(receiver.set_receive_timeout(5s));
  auto first = receiver.receive();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->text(), "peer");
  ASSERT_TRUE(receiver.set_receive_timeout(50ms));
  auto none = receiver.receive();  // the stranger's datagram was never queued
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::timed_out);

  ASSERT_TRUE(receiver.disconnect());
  ASSERT_TRUE(stranger.send_to("again", receiver.local_endpoint()));
  ASSERT_TRUE(receiver.set_receive_timeout(5s));
  auto after = receiver.receive();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->text(), "again");
}

TEST_P(UdpSocketTest, ConnectedSendGoesToPeer) {
  UdpSocket a = bound();
  UdpSocket b = bound();
  EXPECT_EQ(a.send(as_bytes("x")).error().kind(), ErrorKind::not_connected);
  ASSERT_TRUE(a.connect(b.local_endpoint()));
  ASSERT_TRUE(a.send(as_bytes("via connect")));
  ASSERT_TRUE(b.set_receive_timeout(5s));
  auto d = b.receive();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text(), "via connect");
}

TEST_P(UdpSocketTest, ClosedPortIsRefusedOnAConnectedSocket) {
  Endpoint nobody;
  {
    UdpSocket gone = bound();
    nobody = gone.local_endpoint();
  }
  UdpSocket s = bound();
  ASSERT_TRUE(s.connect(nobody));
  ASSERT_TRUE(s.send(as_bytes("anyone?")));
  ASSERT_TRUE(s.set_receive_timeout(5s));
  auto r = s.receive();  // the ICMP port-unreachable comes back as an error
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::refused) << r.error().message();
}

TEST_P(UdpSocketTest, EnforcesTheFamilysSizeLimit) {
  UdpSocket a = bound();
  UdpSocket b = bound();
  ASSERT_TRUE(b.set_receive_buffer_size(1 << 20));
  const std::size_t limit = GetParam() == Family::v4 ? 65'507 : 65'527;
  EXPECT_EQ(a.max_payload(), limit);
  Bytes over(limit + 1);
  auto r = a.send_to(over, b.local_endpoint());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::too_large);
  EXPECT_NE(r.error().message().find(std::to_string(limit)), std::string::npos);
  Bytes exact(limit, std::byte{7});
  ASSERT_TRUE(a.send_to(exact, b.local_endpoint()));
  ASSERT_TRUE(b.set_receive_timeout(5s));
  auto d = b.receive();
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->payload.size(), limit);
}

TEST_P(UdpSocketTest, APathMtuIsKnownOnceConnected) {
  UdpSocket a = bound();
  UdpSocket b = bound();
  auto unconnected = a.path_mtu();
  ASSERT_FALSE(unconnected);
  EXPECT_EQ(unconnected.error().kind(), ErrorKind::not_connected);
  ASSERT_TRUE(a.connect(b.local_endpoint()));
  auto mtu = a.path_mtu();
  ASSERT_TRUE(mtu) << mtu.error().message();
  // Loopback: the lo interface's MTU (65536 on Linux unless changed), never
  // below what IPv4 and IPv6 promise every link.
  EXPECT_GE(*mtu, GetParam() == Family::v4 ? 576u : 1280u);
  EXPECT_LE(*mtu, 65'536u);
}

TEST_P(UdpSocketTest, SecondBindOfAPortIsAddressInUse) {
  UdpSocket first = bound();
  auto second = UdpSocket::bind(first.local_endpoint());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind(), ErrorKind::address_in_use);
  EXPECT_NE(second.error().message().find(first.local_endpoint().to_string()), std::string::npos);
}

TEST_P(UdpSocketTest, ReusePortLetsTwoSocketsBindOnePort) {
  UdpOptions shared;
  shared.reuse_port = true;
  auto first = UdpSocket::bind(Endpoint(loopback(), 0), shared);
  ASSERT_TRUE(first);
  auto second = UdpSocket::bind(first->local_endpoint(), shared);
  EXPECT_TRUE(second) << second.error().message();
}

TEST_P(UdpSocketTest, BufferSizesCanBeSetAndRead) {
  UdpSocket s = bound();
  ASSERT_TRUE(s.set_receive_buffer_size(64 * 1024));
  ASSERT_TRUE(s.set_send_buffer_size(64 * 1024));
  auto rcv = s.receive_buffer_size();
  auto snd = s.send_buffer_size();
  ASSERT_TRUE(rcv && snd);
  EXPECT_GE(*rcv, 64 * 1024);  // Linux doubles the value for bookkeeping
  EXPECT_GE(*snd, 64 * 1024);
}

TEST_P(UdpSocketTest, ClosedSocketSaysClosed) {
  UdpSocket s = bound();
  s.close();
  s.close();  // idempotent
  EXPECT_FALSE(s.is_open());
  EXPECT_EQ(s.send_to("x", Endpoint(loopback(), 9)).error().kind(), ErrorKind::closed);
  EXPECT_EQ(s.receive().error().kind(), ErrorKind::closed);
  EXPECT_EQ(s.set_receive_buffer_size(4096).error().kind(), ErrorKind::closed);
  EXPECT_EQ(s.set_broadcast(true).error().kind(), ErrorKind::closed);
}

TEST_P(UdpSocketTest, PortZeroIsNotADestination) {
  UdpSocket s = bound();
  EXPECT_EQ(s.send_to("x", Endpoint(loopback(), 0)).error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(s.connect(Endpoint(loopback(), 0)).error().kind(), ErrorKind::invalid_argument);
}

TEST(UdpSocket, Ipv4SocketCannotSendToIpv6) {
  auto s = UdpSocket::bind_any(Family::v4);
  ASSERT_TRUE(s);
  auto r = s->send_to("x", Endpoint(InetAddress::loopback(Family::v6), 9));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
}

TEST(UdpSocket, DualStackSocketSeesIpv4PeersAsIpv4) {
  auto server = UdpSocket::bind(Endpoint(InetAddress::any(Family::v6), 0));
  ASSERT_TRUE(server) << server.error().message();
  auto client = UdpSocket::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(client);
  ASSERT_TRUE(
      client->send_to("v4", Endpoint(InetAddress::loopback(), server->local_endpoint().port())));
  ASSERT_TRUE(server->set_receive_timeout(5s));
  auto d = server->receive();
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_TRUE(d->peer.address().is_v4());
  EXPECT_EQ(d->peer, client->local_endpoint());
  // and the reply, addressed to an IPv4 endpoint, goes out through the IPv6 socket
  ASSERT_TRUE(server->send_to("back", d->peer));
  ASSERT_TRUE(client->set_receive_timeout(5s));
  auto back = client->receive();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->text(), "back");
}

TEST(UdpSocket, MovedFromSocketIsClosedAndMovedToWorks) {
  auto s = UdpSocket::bind_any();
  ASSERT_TRUE(s);
  UdpSocket moved = std::move(*s);
  EXPECT_TRUE(moved.is_open());
  EXPECT_FALSE(s->is_open());  // NOLINT(bugprone-use-after-move): checked on purpose
}

}  // namespace
}  // namespace nexo::net

namespace nexo::net {
namespace {

// SO_RXQ_OVFL: datagrams that found the receive buffer full are counted, and
// the count shows with the next datagram read after them.
TEST(UdpSocketKernelDrops, AFullReceiveBufferIsCounted) {
  UdpOptions small;
  small.receive_buffer_size = 4096;  // the kernel doubles it: a few datagrams fit
  auto receiver = UdpSocket::bind(Endpoint(InetAddress::loopback(), 0), small);
  ASSERT_TRUE(receiver) << receiver.error().to_string();
  ASSERT_TRUE(receiver->set_non_blocking(true));
  auto sender = UdpSocket::bind_any();
  ASSERT_TRUE(sender);
  const std::string payload(1000, 'x');
  constexpr int kSent = 200;
  for (int i = 0; i < kSent; ++i)  // loopback queues (or drops) synchronously
    ASSERT_TRUE(sender->send_to(payload, receiver->local_endpoint()));
  int queued = 0;
  std::array<std::byte, 2048> buffer{};
  Endpoint from;
  while (receiver->receive_from(buffer, from)) ++queued;
  ASSERT_LT(queued, kSent) << "the small buffer held every datagram: nothing to count";
  EXPECT_EQ(receiver->kernel_drops(), 0u) << "the queued ones were queued before any drop";
  ASSERT_TRUE(sender->send_to(payload, receiver->local_endpoint()));
  ASSERT_TRUE(receiver->receive_from(buffer, from));
  EXPECT_EQ(receiver->kernel_drops(), static_cast<std::uint64_t>(kSent - queued));
}

}  // namespace
}  // namespace nexo::net
