// The rudp protocol core against hostile peers, with no sockets (the world of
// host_test_world.hpp): spoofed and forged handshakes, garbage, packets that break
// the protocol or claim more than they carry, and the bounds that hold
// whatever a peer sends: connections per address, bytes held, work per event.
#include <gtest/gtest.h>

#include "nexo/reliable/host.hpp"
#include "nexo/reliable/host_test_world.hpp"

namespace nexo::reliable {
namespace {

using namespace std::chrono_literals;
using namespace testing;

// Sends 100 more messages on an open connection and checks them.
void transfer_more(World& w, std::uint32_t c, std::uint32_t s) {
  for (std::uint32_t i = 0; i < 100; ++i)
    ASSERT_TRUE(w.client.send(c, message(i), w.now));
  std::uint32_t got = 0;
  ASSERT_TRUE(w.run_until([&] {
    while (auto m = w.server.receive(s))
      EXPECT_EQ(*m, message(got++));
    return got == 100;
  }));
}

// Spoofed connection requests: whatever the source address, the server sends
// back at most 3x the bytes it received from it, and keeps nothing.
TEST(RudpHost, SpoofedInitsGetAtMostThreeTimesTheirBytes) {
  Host server(config(9, true));
  Host liar(config(10, false));
  Time now{};
  std::uint64_t sent_back = 0, received = 0;
  for (int i = 0; i < 1000; ++i) {
    const Endpoint forged(
        InetAddress::v4({10, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}),
        static_cast<std::uint16_t>(1000 + i));
    const std::uint32_t id = liar.connect(kServer, now);
    Bytes init;
    Endpoint to;
    ASSERT_TRUE(liar.poll_transmit(init, to, now));
    received += init.size();
    server.on_datagram(init, forged, now);
    Bytes reply;
    while (server.poll_transmit(reply, to, now)) {
      EXPECT_EQ(to, forged);
      sent_back += reply.size();
    }
    liar.remove(id);
  }
  EXPECT_LE(sent_back, 3 * received);
  EXPECT_EQ(server.size(), 0u) << "no state for unvalidated addresses";
  EXPECT_EQ(server.counters().unvalidated_bytes_out, sent_back);
  std::cout << "spoofed INITs: " << received << " bytes in, " << sent_back << " bytes out ("
            << static_cast<double>(sent_back) / static_cast<double>(received) << "x)\n";
}

TEST(RudpHost, ForgedAndStaleCookiesAreRefused) {
  World w;
  const std::uint32_t c = w.client.connect(kServer, w.now);
  Bytes out;
  Endpoint to;
  ASSERT_TRUE(w.client.poll_transmit(out, to, w.now));  // INIT
  w.server.on_datagram(out, kClient, w.now);
  ASSERT_TRUE(w.server.poll_transmit(out, to, w.now));  // COOKIE
  w.client.on_datagram(out, kServer, w.now);
  ASSERT_TRUE(w.client.poll_transmit(out, to, w.now));  // COOKIE_ECHO
  const Bytes echo = out;
  // From another address: the hash covers the address.
  w.server.on_datagram(echo, Endpoint(InetAddress::loopback(), 40001), w.now);
  EXPECT_EQ(w.server.counters().bad_cookie, 1u);
  // Too late.
  w.server.on_datagram(echo, kClient, w.now + 31s);
  EXPECT_EQ(w.server.counters().stale_cookie, 1u);
  EXPECT_EQ(w.server.size(), 0u);
  // In time, from the right address: accepted.
  w.server.on_datagram(echo, kClient, w.now + 1s);
  EXPECT_EQ(w.server.size(), 1u);
  (void)c;
}

TEST(RudpHost, GarbageIsCountedAndNeverAccepted) {
  World w;
  const auto ids = w.connect();
  const std::uint32_t c = ids.first, s = ids.second;
  fault::Random random(99);
  Bytes junk;
  for (int i = 0; i < 20'000; ++i) {
    junk.resize(random.below(1500));
    for (auto& b : junk)
      b = static_cast<std::byte>(random.next());
    if (!junk.empty() && i % 2 == 0) junk[0] = std::byte{kVersion};  // past the version check
    w.server.on_datagram(junk, Endpoint(InetAddress::loopback(), 1234), w.now);
    w.client.on_datagram(junk, kServer, w.now);
  }
  EXPECT_EQ(w.server.counters().dropped(), 20'000u);
  EXPECT_EQ(w.client.counters().dropped(), 20'000u);
  EXPECT_EQ(w.server.size(), 1u);
  // A valid packet with a known id from the wrong address is dropped too.
  ASSERT_TRUE(w.client.send(c, message(5), w.now));
  Bytes out;
  Endpoint to;
  ASSERT_TRUE(w.client.poll_transmit(out, to, w.now));
  w.server.on_datagram(out, Endpoint(InetAddress::loopback(), 1234), w.now);
  EXPECT_EQ(w.server.counters().wrong_address, 1u);
  EXPECT_FALSE(w.server.receive(s));
}

// Well-formed packets that break the protocol: sequence numbers far outside
// the window (ahead and behind), fragments that contradict each other, acks
// for what was never sent. Dropped and counted; nothing delivered, nothing
// allocated beyond the window.
TEST(RudpHost, SequenceNumbersFarOutsideTheWindowAreDroppedAndCounted) {
  World w;
  const auto ids = w.connect();
  const std::uint32_t c = ids.first, s = ids.second;
  ASSERT_TRUE(w.client.send(c, message(1), w.now));
  Bytes out;
  Endpoint to;
  ASSERT_TRUE(w.client.poll_transmit(out, to, w.now));
  Packet real;
  ASSERT_EQ(parse(out, real), ParseError::none);
  ASSERT_EQ(real.type, Type::data);
  const Bytes payload(real.payload.begin(), real.payload.end());
  auto forge = [&](std::uint32_t seq, std::uint32_t frag_index, std::uint32_t frag_count) {
    Packet p = real;
    p.payload = payload;
    p.seq = seq;
    p.frag_index = frag_index;
    p.frag_count = frag_count;
    Bytes bytes;
    write(p, bytes);
    w.server.on_datagram(bytes, kClient, w.now);
  };
  forge(real.seq + 1'000'000, 0, 1);       // far ahead of the window
  forge(real.seq - 1'000'000, 0, 1);       // far behind: taken for an old duplicate
  forge(real.seq + 5, 0, 4'000'000'000u);  // a message bigger than any window
  Packet bogus_ack;
  bogus_ack.type = Type::ack;
  bogus_ack.connection = s;
  bogus_ack.ack = real.seq + 1'000'000;  // acknowledges what was never sent
  Bytes ack;
  bogus_ack.connection = c;
  write(bogus_ack, ack);
  w.client.on_datagram(ack, kServer, w.now);
  const auto& server_stats = w.server.find(s)->stats();
  EXPECT_EQ(server_stats.out_of_window, 1u);
  EXPECT_EQ(server_stats.duplicates, 1u);
  EXPECT_EQ(server_stats.malformed, 1u);
  EXPECT_EQ(w.client.find(c)->stats().malformed, 1u);
  EXPECT_FALSE(w.server.receive(s));
  // The real packet still goes through, and the connection carries on.
  w.server.on_datagram(out, kClient, w.now);
  auto m = w.server.receive(s);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, message(1));
  transfer_more(w, c, s);
}

// A DATA packet from the client to the server, written by hand: the
// connection's real header (ids, ack, window), any sequence and fragment.
struct Forger {
  Forger(World& w, std::uint32_t c) {
    EXPECT_TRUE(w.client.send(c, message(1), w.now));
    Bytes out;
    Endpoint to;
    EXPECT_TRUE(w.client.poll_transmit(out, to, w.now));
    EXPECT_EQ(parse(out, real), ParseError::none);
    first = real;
    first_bytes = out;
  }
  Bytes make(std::uint32_t seq, std::uint32_t frag_index, std::uint32_t frag_count,
             std::size_t size) const {
    Packet p = real;
    Bytes payload(size, std::byte{0x5a});
    p.payload = payload;
    p.flags = 0;
    p.seq = seq;
    p.frag_index = frag_index;
    p.frag_count = frag_count;
    Bytes bytes;
    write(p, bytes);
    return bytes;
  }
  Packet real, first;
  Bytes first_bytes;
};

// The amplification: a peer past the handshake sends only the last
// fragment of messages that claim thousands of fragments, out of order. The
// receiver holds what arrived (a few bytes each), not what the index claims.
TEST(RudpHost, OutOfOrderLastFragmentsHoldOnlyTheirOwnBytes) {
  World w;
  const auto [c, s] = w.connect();
  Forger f(w, c);
  const std::uint32_t base = f.real.seq + 1;
  std::size_t packet_bytes = 0;
  constexpr std::uint32_t kPackets = 16, kCount = 10'000;
  for (std::uint32_t i = 0; i < kPackets; ++i) {
    // Each claims a message of kCount fragments starting at base + i, and is its last.
    const Bytes datagram = f.make(base + i + kCount - 1, kCount - 1, kCount, 1);
    packet_bytes += datagram.size();
    w.server.on_datagram(datagram, kClient, w.now);
  }
  const std::size_t held = w.server.find(s)->buffered_bytes();
  std::cout << kPackets << " forged last fragments (" << packet_bytes
            << " bytes): the server holds " << held << " bytes\n";
  EXPECT_LE(held, kPackets * 64u);
}

// A server, and clients that connect to it from the addresses they are given.
struct Clients {
  explicit Clients(HostConfig server_config) : server(server_config) {}
  // Runs the handshake from `from`; true if the server accepted.
  bool connect(const Endpoint& from) {
    Host client(config(++seed, false));
    client.connect(kServer, now);
    Bytes out;
    Endpoint to;
    for (int step = 0; step < 4; ++step) {
      while (client.poll_transmit(out, to, now))
        server.on_datagram(out, from, now);
      while (server.poll_transmit(out, to, now))
        client.on_datagram(out, kServer, now);
    }
    bool accepted = false;
    while (server.accept())
      accepted = true;
    return accepted;
  }
  Host server;
  Time now{};
  std::uint64_t seed = 1000;
};

// One validated address cannot take every connection slot: past
// max_connections_per_address it is refused (counted), and a peer from
// another address still gets in.
TEST(RudpHost, OneAddressCannotTakeEverySlot) {
  HostConfig c = config(5, true);
  c.max_connections = 64;
  c.max_connections_per_address = 8;
  Clients clients(c);
  const InetAddress greedy = InetAddress::v4({10, 0, 0, 1});
  int accepted = 0;
  for (std::uint16_t port = 1; port <= 100; ++port)
    accepted += clients.connect(Endpoint(greedy, port)) ? 1 : 0;
  EXPECT_EQ(accepted, 8);
  EXPECT_EQ(clients.server.counters().refused_per_address, 92u);
  EXPECT_TRUE(clients.connect(Endpoint(InetAddress::v4({10, 0, 0, 2}), 1)));
  // A connection of the greedy address gone: its slot is free again.
  clients.server.remove(clients.server.ids().front());
  const std::size_t before = clients.server.size();
  EXPECT_TRUE(clients.connect(Endpoint(greedy, 200)) ||
              clients.connect(Endpoint(InetAddress::v4({10, 0, 0, 3}), 1)));
  EXPECT_EQ(clients.server.size(), before + 1);
}

// The bytes all connections hold together are bounded (max_buffered_bytes):
// what lies beyond is dropped and counted, and taking messages makes room.
TEST(RudpHost, BytesHeldAcrossConnectionsAreBounded) {
  HostConfig sc = config(101, true);
  sc.max_buffered_bytes = 3000;
  World w(World::link(), World::link(), 1, config(1, false), sc);
  const auto [c, s] = w.connect();
  Forger f(w, c);  // a DATA packet of message(1) (in order, not yet given to the server)
  const std::uint32_t base = f.real.seq;
  w.server.on_datagram(f.first_bytes, kClient, w.now);
  const std::size_t first = w.server.buffered_bytes();
  EXPECT_EQ(first, f.real.payload.size());
  // Full fragments (1200 bytes) of a message that never completes: two fit.
  for (std::uint32_t i = 0; i < 5; ++i)
    w.server.on_datagram(f.make(base + 1 + i, i, 10, 1200), kClient, w.now);
  EXPECT_LE(w.server.buffered_bytes(), 3000u);
  EXPECT_EQ(w.server.counters().over_buffer, 3u);
  ASSERT_TRUE(w.server.receive(s));
  EXPECT_EQ(w.server.buffered_bytes(), 2400u) << "taking message(1) released its bytes";
}

// The cookie key does not come from the seed that makes the ids peers see:
// two hosts with the same seed give the same ids but different cookies.
TEST(RudpHost, TheCookieKeyIsNotDerivedFromTheIdSeed) {
  Host a(config(7, true)), b(config(7, true));
  EXPECT_EQ(a.connect(kClient, Time{}), b.connect(kClient, Time{})) << "ids replay from the seed";
  Host liar(config(8, false));
  liar.connect(kServer, Time{});
  Bytes init, cookie_a, cookie_b;
  Endpoint to;
  ASSERT_TRUE(liar.poll_transmit(init, to, Time{}));
  a.on_datagram(init, kClient, Time{});
  b.on_datagram(init, kClient, Time{});
  while (a.poll_transmit(cookie_a, to, Time{}) && to != kClient) {
  }
  while (b.poll_transmit(cookie_b, to, Time{}) && to != kClient) {
  }
  Packet pa, pb;
  ASSERT_EQ(parse(cookie_a, pa), ParseError::none);
  ASSERT_EQ(parse(cookie_b, pb), ParseError::none);
  ASSERT_EQ(pa.type, Type::cookie);
  EXPECT_NE(pa.cookie.mac, pb.cookie.mac);
}

// The key changes every cookie_lifetime; a cookie made under the previous key
// is still taken while young enough.
TEST(RudpHost, ACookieOutlivesOneKeyRotation) {
  World w;
  w.server.on_datagram(Bytes{}, kClient, w.now);  // garbage: counted, no key use
  Host other(config(3, false));
  other.connect(kServer, w.now);
  Bytes out;
  Endpoint to;
  ASSERT_TRUE(other.poll_transmit(out, to, w.now));
  w.server.on_datagram(out, Endpoint(InetAddress::loopback(), 40002), w.now);  // dates the key
  w.now += 25s;
  const std::uint32_t c = w.client.connect(kServer, w.now);
  ASSERT_TRUE(w.client.poll_transmit(out, to, w.now));  // INIT
  w.server.on_datagram(out, kClient, w.now);
  while (w.server.poll_transmit(out, to, w.now) && to != kClient) {
  }
  w.client.on_datagram(out, kServer, w.now);            // COOKIE (old key)
  ASSERT_TRUE(w.client.poll_transmit(out, to, w.now));  // COOKIE_ECHO
  const Bytes echo = out;
  w.now += 6s;  // another INIT now draws a new key
  Host third(config(4, false));
  third.connect(kServer, w.now);
  ASSERT_TRUE(third.poll_transmit(out, to, w.now));
  w.server.on_datagram(out, Endpoint(InetAddress::loopback(), 40003), w.now);
  EXPECT_EQ(w.server.counters().key_rotations, 1u);
  w.server.on_datagram(echo, kClient, w.now);
  EXPECT_EQ(w.server.counters().bad_cookie, 0u);
  EXPECT_EQ(w.server.size(), 1u) << "accepted under the previous key";
  (void)c;
}

// The work of one event (a PING on one connection, its answer, the next
// deadline, a timer turn with nothing due) does not grow with idle
// connections: counted, with 10 and with 10,000 of them.
std::uint64_t work_of_one_event(int idle) {
  HostConfig c = config(11, true);
  c.connection.window = 64;  // small rings: 10,000 connections in little memory
  c.connection.receive_buffer = 64 * 1200;
  c.max_connections = 20'000;
  c.max_connections_per_address = 20'000;
  Clients clients(c);
  for (int i = 0; i < idle; ++i) {
    EXPECT_TRUE(clients.connect(Endpoint(
        InetAddress::v4({10, 1, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}),
        static_cast<std::uint16_t>(1 + i % 60000))));
  }
  Host& server = clients.server;
  const std::uint32_t busy = server.ids().front();
  Packet ping;
  ping.type = Type::ping;
  ping.connection = busy;
  Bytes datagram;
  write(ping, datagram);
  const Endpoint peer = *server.peer_of(busy);
  const Time now = clients.now + 1ms;
  server.on_timer(now);  // settle: nothing due yet
  Bytes out;
  Endpoint to;
  while (server.poll_transmit(out, to, now)) {
  }
  (void)server.next_timer();
  const HostCounters before = server.counters();
  server.on_datagram(datagram, peer, now);
  int answers = 0;
  while (server.poll_transmit(out, to, now))
    ++answers;
  EXPECT_EQ(answers, 1);
  EXPECT_TRUE(server.next_timer());
  server.on_timer(now);
  EXPECT_TRUE(server.next_timer());
  const HostCounters& after = server.counters();
  return (after.timers_examined - before.timers_examined) + (after.visits - before.visits);
}

TEST(RudpHost, WorkPerEventDoesNotGrowWithIdleConnections) {
  const std::uint64_t few = work_of_one_event(10);
  const std::uint64_t many = work_of_one_event(10'000);
  std::cout << "work of one event: " << few << " with 10 idle connections, " << many
            << " with 10,000\n";
  EXPECT_LE(many, few + 2);
  EXPECT_LE(many, 16u);
}

// A message whose fragment count says it is longer than max_message: its
// fragments are acknowledged but not kept, it is counted and never delivered,
// and the messages after it still are.
TEST(RudpHost, AMessageLongerThanTheReceiverTakesIsDiscardedWhole) {
  HostConfig sc = config(101, true);
  sc.connection.max_message = 3000;  // 4 fragments of 1200 bytes are 3601 bytes at least
  World w(World::link(), World::link(), 1, config(1, false), sc);
  const auto [c, s] = w.connect();
  Forger f(w, c);
  const std::uint32_t base = f.real.seq;
  w.server.on_datagram(f.first_bytes, kClient, w.now);
  for (std::uint32_t i = 0; i < 4; ++i)
    w.server.on_datagram(f.make(base + 1 + i, i, 4, i < 3 ? 1200 : 1), kClient, w.now);
  EXPECT_EQ(w.server.find(s)->buffered_bytes(), f.real.payload.size()) << "nothing kept of it";
  w.server.on_datagram(f.make(base + 5, 0, 1, 7), kClient, w.now);
  auto first = w.server.receive(s);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, message(1));
  auto after = w.server.receive(s);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->size(), 7u);
  EXPECT_FALSE(w.server.receive(s));
  EXPECT_EQ(w.server.find(s)->stats().too_large, 1u);
  EXPECT_EQ(w.server.buffered_bytes(), 0u);
}

}  // namespace
}  // namespace nexo::reliable
