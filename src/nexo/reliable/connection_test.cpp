// A Connection pair wired by hand (no Host): sequence numbers that wrap, and
// round-trip measurement.
#include "nexo/reliable/connection.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <vector>

namespace nexo::reliable {
namespace {

using namespace std::chrono_literals;

struct Pair {
  Pair(std::uint32_t client_seq, std::uint32_t server_seq, Config config = defaults())
      : Pair(client_seq, server_seq, config, config) {}
  Pair(std::uint32_t client_seq, std::uint32_t server_seq, const Config& config,
       const Config& server_config) {
    client.emplace(Connection::client(config, 11, client_seq, now));
    Bytes out;
    EXPECT_TRUE(client->poll_transmit(out, now));
    Packet init;
    EXPECT_EQ(parse(out, init), ParseError::none);
    EXPECT_EQ(init.type, Type::init);
    announced = init.handshake.window;
    server.emplace(Connection::server(server_config, 22, server_seq, init.handshake, now));
    exchange();
    EXPECT_EQ(client->state(), State::established);
  }
  // Delivers every packet both ways, each hop taking `delay`, until both are quiet.
  void exchange(Duration delay = 100us) {
    for (bool moved = true; moved;) {
      moved = false;
      now += delay;
      moved |= carry(*client, *server);
      timers();
      now += delay;
      moved |= carry(*server, *client);
      timers();
    }
  }
  void timers() {
    for (Connection* c : {&*client, &*server}) {
      if (auto t = c->next_timer(); t && *t <= now) c->on_timer(now);
    }
  }
  bool carry(Connection& from, Connection& to) {
    bool moved = false;
    Bytes out;
    while (from.poll_transmit(out, now)) {
      Packet p;
      EXPECT_EQ(parse(out, p), ParseError::none);
      to.on_packet(p, now);
      moved = true;
    }
    return moved;
  }
  static Config defaults() {
    Config config;
    config.min_rto = 20ms;
    return config;
  }

  Time now{};
  std::optional<Connection> client, server;
  std::uint32_t announced = 0;  // the window the client's INIT announced
};

// Sizes 0 to 99, and every 50th larger than a packet.
Bytes numbered(std::uint32_t i) {
  const std::size_t size = i % 50 == 49 ? 3000 : i % 100;
  Bytes b(std::max<std::size_t>(size, 4));
  for (std::size_t k = 0; k < b.size(); ++k)
    b[k] = static_cast<std::byte>(i * 13 + k);
  std::memcpy(b.data(), &i, 4);
  if (size < 4) b.resize(size);  // too short for its number: told apart by size only
  return b;
}

TEST(RudpConnection, SequenceNumbersWrapWithoutAHitch) {
  Pair pair(0xFFFFFF00u, 0xFFFFFFF0u);
  std::uint32_t got_server = 0, got_client = 0;
  for (std::uint32_t i = 0; i < 2000; ++i) {
    const std::string text = "m" + std::to_string(i);
    ASSERT_TRUE(pair.client->send(as_bytes(text), pair.now));
    ASSERT_TRUE(pair.server->send(as_bytes(text), pair.now));
    if (i % 10 == 0) pair.exchange();
    while (auto m = pair.server->receive())
      EXPECT_EQ(as_text(*m), "m" + std::to_string(got_server++));
    while (auto m = pair.client->receive())
      EXPECT_EQ(as_text(*m), "m" + std::to_string(got_client++));
  }
  pair.exchange();
  while (auto m = pair.server->receive())
    EXPECT_EQ(as_text(*m), "m" + std::to_string(got_server++));
  while (auto m = pair.client->receive())
    EXPECT_EQ(as_text(*m), "m" + std::to_string(got_client++));
  EXPECT_EQ(got_server, 2000u);
  EXPECT_EQ(got_client, 2000u);
  EXPECT_EQ(pair.client->stats().retransmits, 0u);
}

TEST(RudpConnection, MeasuresTheRoundTrip) {
  Pair pair(1, 2);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pair.client->send(as_bytes(std::string("ping")), pair.now));
    pair.exchange(2ms);  // 2 ms each way: a 4 ms round trip
  }
  const auto& stats = pair.client->stats();
  EXPECT_GE(stats.srtt, 4ms);  // a hop each way (the ACK may wait for the next turn)
  EXPECT_LE(stats.srtt, 8ms);
  EXPECT_GE(stats.rto, 20ms) << "never below min_rto";
}

// Messages queued together while nothing could go (before the handshake
// ended, or with the window full) share packets: fewer packets than messages,
// every message whole, in order, and the counts right on both sides.
void bundles(bool ordered) {
  Config config = Pair::defaults();
  config.ordered = ordered;
  Pair pair(7, 9, config);
  constexpr std::uint32_t kCount = 2000;
  for (std::uint32_t i = 0; i < kCount; ++i)
    ASSERT_TRUE(pair.client->send(numbered(i), pair.now));
  EXPECT_EQ(pair.client->messages_queued(), kCount);
  pair.exchange();
  std::vector<Bytes> got;
  while (auto m = pair.server->receive())
    got.push_back(std::move(*m));
  ASSERT_EQ(got.size(), kCount);
  for (std::uint32_t i = 0; i < kCount; ++i)
    EXPECT_EQ(got[i], numbered(i))
        << "message " << i;  // in order: the pair neither loses nor reorders
  const auto& client = pair.client->stats();
  EXPECT_LT(client.data_sent, kCount / 5) << "small messages share packets";
  EXPECT_EQ(client.retransmits, 0u);
  EXPECT_EQ(pair.client->messages_left(), kCount);
  EXPECT_EQ(pair.client->queued_bytes(), 0u);
  EXPECT_TRUE(pair.client->idle());
  EXPECT_EQ(pair.server->stats().messages_delivered, kCount);
}

TEST(RudpConnection, SmallMessagesQueuedTogetherShareAPacket) {
  bundles(true);
}

TEST(RudpConnection, UnorderedModeBundlesToo) {
  bundles(false);
}

// With 16 packets in flight, a small message waits for an acknowledgement (or
// for company enough to fill a packet) instead of leaving in a packet of its
// own; a message over half a packet goes as the window allows.
TEST(RudpConnection, ABulkSendersSmallMessagesWaitToFillAPacket) {
  for (const std::size_t size : {std::size_t{40}, std::size_t{700}}) {
    SCOPED_TRACE("messages of " + std::to_string(size) + " bytes");
    Config config = Pair::defaults();
    config.initial_cwnd = 64;  // the congestion window is not what holds them
    Pair pair(3, 4, config);
    std::size_t packets = 0;
    Bytes out;
    for (std::uint32_t i = 0; i < 100; ++i) {
      Bytes m(size, std::byte{1});
      std::memcpy(m.data(), &i, 4);
      ASSERT_TRUE(pair.client->send(m, pair.now));
      while (pair.client->poll_transmit(out, pair.now))
        ++packets;  // lost: the server never sees these
    }
    if (size == 40) {
      // 16 alone; then the other 84 wait, and leave only as full packets
      // (each message 2 + 40 bytes in a bundle of 1200).
      EXPECT_EQ(packets, 16u + 84u * 42u / 1200u) << "corked at 16 in flight";
    } else {
      EXPECT_EQ(packets, 64u) << "only the congestion window holds them";
    }
  }
}

// Large packets hold more bytes each: the window a side announces is what its
// receive_buffer holds in packets of the agreed size, not a fixed count.
TEST(RudpConnection, TheWindowIsBoundedInBytes) {
  Config big = Pair::defaults();
  big.max_payload = 60'000;
  big.receive_buffer = 1u << 20;
  big.max_message = 512u << 10;
  ASSERT_TRUE(big.validate());
  Config small = Pair::defaults();  // 1200-byte packets
  small.receive_buffer = 1u << 20;
  small.max_message = 512u << 10;
  {
    Pair pair(1, 2, big, big);
    EXPECT_EQ(pair.announced, (1u << 20) / 60'000);
    ASSERT_TRUE(pair.client->send(Bytes(500'000, std::byte{7}), pair.now));
    pair.exchange();
    auto m = pair.server->receive();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->size(), 500'000u);
    EXPECT_LE(pair.client->stats().data_sent, 9u) << "60,000-byte packets";
  }
  {
    // The agreed payload is the smaller one: the server buffers 1 MiB of
    // 1200-byte packets, and says so in its ACCEPT.
    Pair pair(1, 2, big, small);
    ASSERT_TRUE(pair.client->send(Bytes(500'000, std::byte{7}), pair.now));
    pair.exchange();
    ASSERT_TRUE(pair.server->receive());
    EXPECT_GE(pair.client->stats().data_sent, 500'000u / 1200);
  }
}

TEST(RudpConnection, ConfigThatCannotWorkIsRefused) {
  Config config;
  config.window = 100;  // 16 MiB in 1200-byte packets needs far more
  auto v = config.validate();
  ASSERT_FALSE(v);
  EXPECT_TRUE(v.error().is(ErrorKind::invalid_argument));
  EXPECT_NE(v.error().message().find("more than the window of 100"), std::string::npos)
      << v.error().message();
  EXPECT_TRUE(Config{}.validate());
  Config tight;
  tight.receive_buffer = tight.max_message;  // no room for a packet more
  auto t = tight.validate();
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("receive_buffer"), std::string::npos) << t.error().message();
}

}  // namespace
}  // namespace nexo::reliable
