// A Connection pair wired by hand (no Host): sequence numbers that wrap, and
// round-trip measurement.
#include "nexo/reliable/connection.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace nexo::reliable {
namespace {

using namespace std::chrono_literals;

struct Pair {
  Pair(std::uint32_t client_seq, std::uint32_t server_seq) {
    Config config;
    config.min_rto = 20ms;
    client.emplace(Connection::client(config, 11, client_seq, now));
    Bytes out;
    EXPECT_TRUE(client->poll_transmit(out, now));
    Packet init;
    EXPECT_EQ(parse(out, init), ParseError::none);
    EXPECT_EQ(init.type, Type::init);
    server.emplace(Connection::server(config, 22, server_seq, init.handshake, now));
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
  Time now{};
  std::optional<Connection> client, server;
};

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

TEST(RudpConnection, ConfigThatCannotWorkIsRefused) {
  Config config;
  config.window = 100;  // 16 MiB in 1200-byte packets needs far more
  auto v = config.validate();
  ASSERT_FALSE(v);
  EXPECT_TRUE(v.error().is(ErrorKind::invalid_argument));
  EXPECT_NE(v.error().message().find("more than the window of 100"), std::string::npos)
      << v.error().message();
  EXPECT_TRUE(Config{}.validate());
}

}  // namespace
}  // namespace nexo::reliable
