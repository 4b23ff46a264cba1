#include "nexo/net/udp_socket.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>

#include <chrono>
#include <string>
#include <vector>

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
  // A port nobody listens on, held for as long as the socket lives (never
  // probed, closed and hoped free): a socket bound to it and connected to
  // itself takes datagrams from itself only, so the kernel answers anyone
  // else's with ICMP port unreachable.
  UdpSocket deaf() {
    UdpSocket s = bound();
    EXPECT_TRUE(s.connect(s.local_endpoint()));
    return s;
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
  const UdpSocket held = deaf();
  const Endpoint nobody = held.local_endpoint();
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

// ---- batches: send_batch (sendmmsg) and receive_batch (recvmmsg) ----

std::vector<std::string> texts(std::span<const InSlot> slots) {
  std::vector<std::string> out;
  for (const auto& slot : slots)
    out.emplace_back(as_text(slot.payload()));
  return out;
}

struct Slots {
  explicit Slots(std::size_t count, std::size_t size = 2048) : memory(count * size), slots(count) {
    for (std::size_t i = 0; i < count; ++i)
      slots[i].buffer = std::span(memory).subspan(i * size, size);
  }
  Bytes memory;
  std::vector<InSlot> slots;
};

TEST_P(UdpSocketTest, BatchesGoOutAndComeInInOrderWithTheirSenders) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  const Endpoint to = server.local_endpoint();
  std::vector<std::string> sent;
  for (int i = 0; i < 10; ++i)
    sent.push_back("datagram " + std::to_string(i) + std::string(static_cast<std::size_t>(i), '.'));
  std::vector<OutDatagram> batch;
  for (const auto& text : sent)
    batch.push_back(OutDatagram{as_bytes(text), &to});
  auto n = client.send_batch(batch);
  ASSERT_TRUE(n) << n.error().to_string();
  EXPECT_EQ(*n, sent.size());
  ASSERT_TRUE(server.set_receive_timeout(5s));
  Slots room(16);
  auto got = server.receive_batch(room.slots);  // loopback queues synchronously: all are there
  ASSERT_TRUE(got) << got.error().to_string();
  ASSERT_EQ(*got, sent.size());
  EXPECT_EQ(texts(std::span(room.slots).first(*got)), sent);
  for (std::size_t i = 0; i < *got; ++i) {
    EXPECT_EQ(room.slots[i].from, client.local_endpoint());
    EXPECT_FALSE(room.slots[i].truncated);
  }
}

TEST_P(UdpSocketTest, BatchesLargerThanOneSystemCallAreSplit) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  ASSERT_TRUE(client.connect(server.local_endpoint()));  // to = nullptr: the peer
  constexpr std::size_t kCount = UdpSocket::kMaxBatch * 2 + 7;
  std::vector<std::string> sent;
  std::vector<OutDatagram> batch;
  for (std::size_t i = 0; i < kCount; ++i)
    sent.push_back(std::to_string(i));
  for (const auto& text : sent)
    batch.push_back(OutDatagram{as_bytes(text), nullptr});
  auto n = client.send_batch(batch);
  ASSERT_TRUE(n) << n.error().to_string();
  EXPECT_EQ(*n, kCount);
  ASSERT_TRUE(server.set_non_blocking(true));
  Slots room(kCount + 10, 64);
  auto got = server.receive_batch(room.slots);
  ASSERT_TRUE(got) << got.error().to_string();
  ASSERT_EQ(*got, kCount);
  EXPECT_EQ(texts(std::span(room.slots).first(*got)), sent);
  auto empty = server.receive_batch(room.slots);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind(), ErrorKind::would_block);
}

TEST_P(UdpSocketTest, ABatchStopsBeforeADatagramThatFailsItsChecksAndReportsItNext) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  const Endpoint to = server.local_endpoint();
  const Endpoint nowhere(loopback(), 0);
  const Bytes too_big(client.max_payload() + 1);
  const std::vector<OutDatagram> batch{{as_bytes("one"), &to},
                                       {as_bytes("two"), &to},
                                       {too_big, &to},
                                       {as_bytes("three"), &to},
                                       {as_bytes("four"), &nowhere}};
  auto n = client.send_batch(batch);  // a partial send: the first two
  ASSERT_TRUE(n) << n.error().to_string();
  EXPECT_EQ(*n, 2u);
  auto again = client.send_batch(std::span(batch).subspan(*n));  // from where it stopped
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind(), ErrorKind::too_large);
  auto rest = client.send_batch(std::span(batch).subspan(3));
  ASSERT_TRUE(rest);
  EXPECT_EQ(*rest, 1u);
  auto last = client.send_batch(std::span(batch).subspan(4));
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().kind(), ErrorKind::invalid_argument);
  ASSERT_TRUE(server.set_non_blocking(true));
  Slots room(8);
  auto got = server.receive_batch(room.slots);
  ASSERT_TRUE(got);
  EXPECT_EQ(texts(std::span(room.slots).first(*got)),
            (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(client.send_batch({}).value_or(99), 0u);
}

TEST_P(UdpSocketTest, BatchErrorsAreThoseOfSingleDatagrams) {
  UdpSocket a = bound();
  const std::vector<OutDatagram> to_peer{{as_bytes("x"), nullptr}};
  auto unconnected = a.send_batch(to_peer);
  ASSERT_FALSE(unconnected);
  EXPECT_EQ(unconnected.error().kind(), ErrorKind::not_connected);
  // A connected socket learns from ICMP that nobody listens: refused.
  const UdpSocket held = deaf();
  const Endpoint closed_port = held.local_endpoint();
  ASSERT_TRUE(a.connect(closed_port));
  ASSERT_TRUE(a.send_batch(to_peer));
  ASSERT_TRUE(a.set_receive_timeout(5s));
  Slots room(4);
  auto refused = a.receive_batch(room.slots);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::refused) << refused.error().to_string();
  // Timeouts and non-blocking mode, as receive_from.
  UdpSocket b = bound();
  ASSERT_TRUE(b.set_receive_timeout(20ms));
  auto timed_out = b.receive_batch(room.slots);
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().kind(), ErrorKind::timed_out);
  ASSERT_TRUE(b.set_non_blocking(true));
  auto would_block = b.receive_batch(room.slots);
  ASSERT_FALSE(would_block);
  EXPECT_EQ(would_block.error().kind(), ErrorKind::would_block);
  b.close();
  auto closed = b.receive_batch(room.slots);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().kind(), ErrorKind::closed);
  auto closed_send = b.send_batch(to_peer);
  ASSERT_FALSE(closed_send);
  EXPECT_EQ(closed_send.error().kind(), ErrorKind::closed);
}

TEST_P(UdpSocketTest, ABatchFlagsATruncatedDatagramAndKeepsTheNext) {
  UdpSocket a = bound();
  UdpSocket b = bound();
  const Bytes big(2000, std::byte{0x5a});
  ASSERT_TRUE(a.send_to(big, b.local_endpoint()));
  ASSERT_TRUE(a.send_to("next", b.local_endpoint()));
  ASSERT_TRUE(b.set_receive_timeout(5s));
  Slots room(4, 1000);
  auto got = b.receive_batch(room.slots);
  ASSERT_TRUE(got) << got.error().to_string();
  ASSERT_EQ(*got, 2u);
  EXPECT_TRUE(room.slots[0].truncated);
  EXPECT_EQ(room.slots[0].size, 2000u);
  EXPECT_EQ(room.slots[0].payload().size(), 1000u);
  EXPECT_EQ(room.slots[0].payload()[999], std::byte{0x5a});
  EXPECT_FALSE(room.slots[1].truncated);
  EXPECT_EQ(as_text(room.slots[1].payload()), "next");
}

// Segmented sends and coalesced receives (UDP GSO and GRO) --------------------

// Datagram i of a run: `size` bytes, each byte i * 31 + its offset (mod 256).
Bytes patterned(std::size_t i, std::size_t size) {
  Bytes out(size);
  for (std::size_t k = 0; k < size; ++k)
    out[k] = static_cast<std::byte>((i * 31 + k) & 0xff);
  return out;
}

// Receives until `count` datagrams have come (or a receive fails), splitting
// coalesced runs; `runs` counts the slots that carried more than one.
std::vector<Bytes> receive_datagrams(UdpSocket& socket, std::size_t count, std::size_t slot,
                                     std::size_t* runs = nullptr) {
  std::vector<Bytes> got;
  Slots room(8, slot);
  while (got.size() < count) {
    auto n = socket.receive_batch(room.slots);
    if (!n) break;
    for (std::size_t i = 0; i < *n; ++i) {
      const InSlot& s = room.slots[i];
      if (runs != nullptr && s.segment_size != 0) ++*runs;
      for (std::size_t k = 0; k < s.count(); ++k)
        got.emplace_back(s.datagram(k).begin(), s.datagram(k).end());
    }
  }
  return got;
}

// Runs of one size ending in a shorter one, a longer one starting a new run,
// and single datagrams between them.
const std::vector<std::size_t> kRunSizes = {1000, 1000, 1000, 500, 1000, 1200, 1200, 7, 1200};

std::vector<Bytes> send_runs(UdpSocket& client, const Endpoint& to) {
  std::vector<Bytes> sent;
  for (std::size_t i = 0; i < kRunSizes.size(); ++i)
    sent.push_back(patterned(i, kRunSizes[i]));
  std::vector<OutDatagram> batch;
  for (const auto& b : sent)
    batch.push_back(OutDatagram{b, &to});
  auto n = client.send_batch(batch);
  EXPECT_TRUE(n) << n.error().to_string();
  EXPECT_EQ(n.value_or(0), sent.size());
  return sent;
}

TEST_P(UdpSocketTest, RunsOfEqualDatagramsArriveWholeAndInOrder) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  const auto sent = send_runs(client, server.local_endpoint());
  ASSERT_TRUE(server.set_receive_timeout(5s));
  EXPECT_EQ(receive_datagrams(server, sent.size(), 2048), sent);  // no coalescing: one a slot
}

TEST_P(UdpSocketTest, ACoalescedRunIsSplitIntoItsDatagramsInOrder) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  if (!server.set_receive_coalescing(true) || !client.send_coalescing())
    GTEST_SKIP() << "this kernel has no UDP GSO or GRO";
  const auto sent = send_runs(client, server.local_endpoint());
  ASSERT_TRUE(server.set_receive_timeout(5s));
  std::size_t runs = 0;
  EXPECT_EQ(receive_datagrams(server, sent.size(), server.max_payload(), &runs), sent);
  EXPECT_GE(runs, 2u);  // loopback hands segmented sends over whole
  Endpoint from;
  std::array<std::byte, 16> one{};
  auto refused = server.receive_from(one, from);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::invalid_argument);
}

TEST_P(UdpSocketTest, ATruncatedRunKeepsTheDatagramsWhollyInside) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  if (!server.set_receive_coalescing(true) || !client.send_coalescing())
    GTEST_SKIP() << "this kernel has no UDP GSO or GRO";
  std::vector<Bytes> sent;
  std::vector<OutDatagram> batch;
  for (std::size_t i = 0; i < 4; ++i)
    sent.push_back(patterned(i, i < 3 ? 1000 : 500));
  for (const auto& b : sent)
    batch.push_back(OutDatagram{b, &server.local_endpoint()});
  ASSERT_EQ(client.send_batch(batch).value_or(0), 4u);
  ASSERT_TRUE(server.set_receive_timeout(5s));
  Slots room(1, 2500);
  auto n = server.receive_batch(room.slots);
  ASSERT_TRUE(n) << n.error().to_string();
  const InSlot& s = room.slots[0];
  EXPECT_TRUE(s.truncated);
  EXPECT_EQ(s.size, 3500u);
  EXPECT_EQ(s.segment_size, 1000u);
  ASSERT_EQ(s.count(), 2u);
  EXPECT_EQ(Bytes(s.datagram(0).begin(), s.datagram(0).end()), sent[0]);
  EXPECT_EQ(Bytes(s.datagram(1).begin(), s.datagram(1).end()), sent[1]);
}

TEST(UdpSocketSegmenting, AKernelRefusalFallsBackToSeparateDatagramsForGood) {
  auto server = UdpSocket::bind(Endpoint(InetAddress::loopback(Family::v4), 0));
  auto client = UdpSocket::bind(Endpoint(InetAddress::loopback(Family::v4), 0));
  ASSERT_TRUE(server && client);
  if (!client->send_coalescing()) GTEST_SKIP() << "this kernel has no UDP GSO";
  // Without UDP checksums the kernel refuses to segment (EINVAL).
  const int on = 1;
  ASSERT_EQ(::setsockopt(client->native_handle(), SOL_SOCKET, SO_NO_CHECK, &on, sizeof on), 0);
  const auto sent = send_runs(*client, server->local_endpoint());
  EXPECT_FALSE(client->send_coalescing());
  const auto again = send_runs(*client, server->local_endpoint());
  ASSERT_TRUE(server->set_receive_timeout(5s));
  auto got = receive_datagrams(*server, 2 * sent.size(), 2048);
  std::vector<Bytes> both = sent;
  both.insert(both.end(), again.begin(), again.end());
  EXPECT_EQ(got, both);
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
  while (receiver->receive_from(buffer, from))
    ++queued;
  ASSERT_LT(queued, kSent) << "the small buffer held every datagram: nothing to count";
  EXPECT_EQ(receiver->kernel_drops(), 0u) << "the queued ones were queued before any drop";
  ASSERT_TRUE(sender->send_to(payload, receiver->local_endpoint()));
  ASSERT_TRUE(receiver->receive_from(buffer, from));
  EXPECT_EQ(receiver->kernel_drops(), static_cast<std::uint64_t>(kSent - queued));
}

// The same count through receive_batch: every datagram of a batch carries it.
TEST(UdpSocketKernelDrops, ABatchReceiveCountsThemToo) {
  UdpOptions small;
  small.receive_buffer_size = 4096;
  auto receiver = UdpSocket::bind(Endpoint(InetAddress::loopback(), 0), small);
  ASSERT_TRUE(receiver) << receiver.error().to_string();
  ASSERT_TRUE(receiver->set_non_blocking(true));
  auto sender = UdpSocket::bind_any();
  ASSERT_TRUE(sender);
  const std::string payload(1000, 'x');
  const Endpoint to = receiver->local_endpoint();
  std::vector<OutDatagram> batch(200, OutDatagram{as_bytes(payload), &to});
  auto sent = sender->send_batch(batch);
  ASSERT_TRUE(sent) << sent.error().to_string();
  ASSERT_EQ(*sent, batch.size());  // loopback drops at the receiver, never refuses to send
  Slots room(256, 2048);
  auto queued = receiver->receive_batch(room.slots);
  ASSERT_TRUE(queued);
  ASSERT_LT(*queued, batch.size()) << "the small buffer held every datagram: nothing to count";
  EXPECT_EQ(receiver->kernel_drops(), 0u) << "the queued ones were queued before any drop";
  ASSERT_TRUE(sender->send_batch(std::span(batch).first(2)));
  auto after = receiver->receive_batch(room.slots);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, 2u);
  EXPECT_EQ(receiver->kernel_drops(), batch.size() - *queued);
}

}  // namespace
}  // namespace nexo::net
