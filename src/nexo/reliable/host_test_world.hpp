// What the Host tests share (host_test.cpp: connecting, delivery through
// faults, flow and congestion control, failure and close; host_hostile_test.cpp:
// hostile peers and the bounds that hold against them): two Hosts joined by an
// in-memory network whose two directions are fault::Injectors, on a fake clock,
// and numbered messages to send through it. Tests only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

#include "nexo/fault/injector.hpp"
#include "nexo/reliable/host.hpp"

namespace nexo::reliable::testing {

using namespace std::chrono_literals;
using net::Endpoint;
using net::InetAddress;

inline const Endpoint kClient(InetAddress::loopback(), 40000);
inline const Endpoint kServer(InetAddress::loopback(), 50000);

inline HostConfig config(std::uint64_t seed, bool accept) {
  HostConfig c;
  c.seed = seed;
  c.accept = accept;
  c.connection.min_rto = 20ms;
  c.connection.initial_rto = 50ms;
  return c;
}

// Two hosts, a network between them, a clock.
struct World {
  World(fault::Direction to_server, fault::Direction to_client, std::uint64_t seed,
        HostConfig client_config, HostConfig server_config)
      : client(client_config),
        server(server_config),
        c2s(to_server, seed),
        s2c(to_client, seed + 1) {}
  explicit World(fault::Direction both = link(), std::uint64_t seed = 1)
      : World(both, both, seed, config(seed, false), config(seed + 100, true)) {}

  static fault::Direction link() {
    fault::Direction d;
    d.delay = 500us;  // a 1 ms round trip
    return d;
  }

  // Moves what both hosts want to send into the network, and what the network
  // delivers now into the hosts. True if anything moved.
  bool pump() {
    bool moved = false;
    Bytes out;
    Endpoint to;
    while (client.poll_transmit(out, to, now)) {
      EXPECT_EQ(to, kServer);
      c2s.push(out, now);
      moved = true;
    }
    while (server.poll_transmit(out, to, now)) {
      EXPECT_EQ(to, kClient);
      s2c.push(out, now);
      moved = true;
    }
    moved |=
        c2s.pop_due(now, [&](auto bytes, auto&) { server.on_datagram(bytes, kClient, now); }) > 0;
    moved |=
        s2c.pop_due(now, [&](auto bytes, auto&) { client.on_datagram(bytes, kServer, now); }) > 0;
    return moved;
  }
  // Runs the clock to the next thing that happens; false if nothing will.
  bool advance() {
    std::optional<Time> next;
    for (auto t : {client.next_timer(), server.next_timer(), c2s.next_due(), s2c.next_due()}) {
      if (t && (!next || *t < *next)) next = t;
    }
    if (!next) return false;
    now = std::max(now, *next);
    client.on_timer(now);
    server.on_timer(now);
    return true;
  }
  // Pumps and advances until `done()` or `limit` of simulated time.
  template <class Done>
  bool run_until(Done done, Duration limit = 120s) {
    const Time end = now + limit;
    for (;;) {
      while (pump()) {
        if (done()) return true;
      }
      if (done()) return true;
      if (now > end || !advance()) return false;
    }
  }
  // Connects; returns (client id, server id).
  std::pair<std::uint32_t, std::uint32_t> connect() {
    const std::uint32_t c = client.connect(kServer, now);
    std::optional<std::uint32_t> s;
    EXPECT_TRUE(run_until([&] {
      if (!s) s = server.accept();
      return s && client.find(c)->state() == State::established;
    }));
    return {c, s.value_or(0)};
  }

  Time now{};
  Host client, server;
  fault::Injector c2s, s2c;
};

inline Bytes message(std::uint32_t i) {
  // Mostly small; every 97th spans several packets.
  const std::size_t size = i % 97 == 0 ? 5000 + i % 300 : 8 + i % 50;
  Bytes b(size);
  for (std::size_t k = 0; k < size; ++k)
    b[k] = static_cast<std::byte>((i * 31 + k * 7) & 0xff);
  std::memcpy(b.data(), &i, sizeof i);
  return b;
}

}  // namespace nexo::reliable::testing
