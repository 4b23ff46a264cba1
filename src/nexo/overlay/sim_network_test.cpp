#include "nexo/overlay/sim_network.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "nexo/overlay/sim_test_nodes.hpp"

namespace nexo::overlay::sim {
namespace {

using namespace std::chrono_literals;
using test::Recorder;

const Time kStart = Time{} + 1000s;

Config config(std::uint64_t seed = 1) {
  Config c;
  c.seed = seed;
  c.start = kStart;
  return c;
}

Recorder& at(Network& net, Slot slot) {
  return static_cast<Recorder&>(net.node(slot));
}

// Runs `call`, expects a logic_error whose text contains `text`.
template <typename F>
void expect_misuse(F&& call, const std::string& text) {
  try {
    call();
    ADD_FAILURE() << "no logic_error; expected one saying \"" << text << "\"";
  } catch (const std::logic_error& error) {
    EXPECT_NE(std::string(error.what()).find(text), std::string::npos) << error.what();
  }
}

TEST(OverlaySimAddress, SlotsMapToTenSlashEightAndBack) {
  EXPECT_EQ(address_of(0).to_string(), "10.0.0.1:6881");
  EXPECT_EQ(address_of(253).to_string(), "10.0.0.254:6881");
  EXPECT_EQ(address_of(254).to_string(), "10.0.1.1:6881");
  EXPECT_EQ(address_of(kMaxSlots - 1, 7).to_string(), "10.255.255.254:7");
  for (const Slot slot : {0U, 1U, 253U, 254U, 65'000U, 1'234'567U, kMaxSlots - 1}) {
    EXPECT_EQ(slot_of(address_of(slot).address()), slot) << slot;
  }
  for (const char* other : {"10.0.0.0", "10.0.1.255", "11.0.0.1", "127.0.0.1", "::1"}) {
    EXPECT_FALSE(slot_of(net::InetAddress::parse(other).value())) << other;
  }
}

TEST(OverlaySimAddress, AddressesAreHandedOutInOrderAndNeverReused) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder(), 7000);
  EXPECT_EQ(a, 0U);
  EXPECT_EQ(b, 1U);
  EXPECT_EQ(at(net, a).self, address_of(0));
  EXPECT_EQ(at(net, b).self.to_string(), "10.0.0.2:7000");
  EXPECT_EQ(net.address(b), at(net, b).self);
  EXPECT_EQ(net.find(address_of(1, 7000)), b);
  EXPECT_FALSE(net.find(address_of(1)));  // another port
  EXPECT_FALSE(net.find(address_of(2)));  // not handed out
  net.remove(a);
  const Slot c = net.add(test::recorder());
  EXPECT_EQ(c, 2U);
  EXPECT_EQ(net.state(a), NodeState::removed);
  EXPECT_EQ(net.find(address_of(0)), a);  // still a's, retired
  EXPECT_EQ(net.slots(), 3U);
  EXPECT_EQ(net.alive(), 2U);
}

TEST(OverlaySimLatency, DelaysFollowTheCoordinatesWithinTheJitter) {
  Network net(config(3));
  constexpr Slot kNodes = 40;
  for (Slot i = 0; i < kNodes; ++i)
    net.add(test::recorder());
  for (Slot from = 0; from < kNodes; ++from) {
    for (Slot to = 0; to < kNodes; ++to) {
      if (from != to) at(net, from).send(net.address(to), from);
    }
    net.kick(from);
  }
  net.run_for(1s);
  ASSERT_EQ(net.counters().delivered, kNodes * (kNodes - 1)) << net.counters().to_string();
  const Duration longest =
      10ms + Duration(static_cast<Duration::rep>(std::ceil(100e6 * std::sqrt(2.0))));
  Duration sum{0};
  for (Slot to = 0; to < kNodes; ++to) {
    for (const auto& arrival : at(net, to).received) {
      const Slot from = static_cast<Slot>(arrival.value);
      EXPECT_EQ(arrival.from, net.address(from));
      const Duration base = net.base_delay(from, to);
      EXPECT_GE(base, 10ms);
      EXPECT_LE(base, longest);
      EXPECT_GE(arrival.at - kStart, base);
      EXPECT_LE(arrival.at - kStart, base + net.latency().jitter);
      EXPECT_EQ(base, net.base_delay(to, from));  // symmetric
      sum += base;
    }
  }
  // The mean distance between two random points of the unit square is 0.5214:
  // 62 ms one way on average.
  const double mean_ms =
      std::chrono::duration<double, std::milli>(sum).count() / (kNodes * (kNodes - 1));
  EXPECT_GT(mean_ms, 50.0);
  EXPECT_LT(mean_ms, 75.0);
}

TEST(OverlaySimLatency, ADatagramToItselfTakesTheBaseDelay) {
  Network net(config());
  LatencyModel model;
  model.jitter = 0ms;
  net.set_latency(model);
  const Slot a = net.add(test::recorder());
  at(net, a).send(net.address(a), 5);
  net.kick(a);
  net.run_for(1s);
  ASSERT_EQ(at(net, a).received.size(), 1U);
  EXPECT_EQ(at(net, a).received[0].at, kStart + 10ms);
}

TEST(OverlaySimDelivery, DatagramsToNobodyAreDroppedAndCounted) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  std::vector<TraceEvent::Kind> kinds;
  net.set_observer([&](const TraceEvent& event) {
    if (event.kind == TraceEvent::Kind::to_nobody) kinds.push_back(event.kind);
  });
  Recorder& sender = at(net, a);
  sender.send(address_of(b, 6882), 1);                                   // wrong port
  sender.send(address_of(9), 2);                                         // never handed out
  sender.send({net::InetAddress::parse("192.0.2.1").value(), 6881}, 3);  // outside 10/8
  sender.send({net::InetAddress::loopback(net::Family::v6), 6881}, 4);   // IPv6
  net.kick(a);
  net.run_for(1s);
  EXPECT_EQ(net.counters().sent, 4U);
  EXPECT_EQ(net.counters().to_nobody, 4U);
  EXPECT_EQ(net.counters().delivered, 0U);
  EXPECT_EQ(kinds.size(), 4U);
  EXPECT_TRUE(at(net, b).received.empty());
  EXPECT_EQ(net.counters(a).sent, 4U);
  EXPECT_EQ(net.counters(a).bytes_sent, 32U);
}

TEST(OverlaySimDelivery, TheObserverSeesEachSendAndWhatBecameOfIt) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  net.set_loss(a, b, 1.0);
  struct Seen {
    TraceEvent::Kind kind;
    Slot from;
    Slot to;
    Time time;
    std::uint64_t value;
  };
  std::vector<Seen> seen;
  net.set_observer([&](const TraceEvent& event) {
    seen.push_back({event.kind, event.from, event.to, event.time, test::value_of(event.bytes)});
  });
  at(net, a).send(net.address(b), 7);  // lost
  at(net, b).send(net.address(a), 8);  // delivered
  net.kick(a);
  net.kick(b);
  net.run_for(1s);
  using Kind = TraceEvent::Kind;
  ASSERT_EQ(seen.size(), 4U);
  EXPECT_EQ(seen[0].kind, Kind::sent);
  EXPECT_EQ(seen[1].kind, Kind::lost);
  EXPECT_EQ(seen[2].kind, Kind::sent);
  EXPECT_EQ(seen[3].kind, Kind::delivered);
  EXPECT_EQ(seen[1].from, a);
  EXPECT_EQ(seen[1].to, b);
  EXPECT_EQ(seen[1].value, 7U);
  EXPECT_EQ(seen[1].time, kStart);
  EXPECT_EQ(seen[3].from, b);
  EXPECT_EQ(seen[3].to, a);
  EXPECT_EQ(seen[3].value, 8U);
  EXPECT_EQ(seen[3].time, at(net, a).received.at(0).at);
  EXPECT_EQ(net.counters(a).bytes_received, 8U);
  EXPECT_EQ(net.counters().bytes_delivered, 8U);
}

TEST(OverlaySimLoss, TheLossRateIsWithinStatisticalBounds) {
  Config c = config(11);
  c.loss = 0.1;
  Network net(c);
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  constexpr int kCount = 20'000;
  for (int i = 0; i < kCount; ++i)
    at(net, a).send(net.address(b), i);
  net.kick(a);
  net.run_for(1s);
  const auto& counters = net.counters();
  EXPECT_EQ(counters.lost + counters.delivered, std::uint64_t{kCount});
  // sigma = sqrt(0.1 * 0.9 / 20,000) = 0.0021: 0.01 is almost 5 sigma.
  const double rate = static_cast<double>(counters.lost) / kCount;
  EXPECT_NEAR(rate, 0.1, 0.01) << counters.to_string();
}

TEST(OverlaySimLoss, APerDirectionLossOverridesTheGlobalOne) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  net.set_loss(a, b, 1.0);
  EXPECT_EQ(net.loss(a, b), 1.0);
  EXPECT_EQ(net.loss(b, a), 0.0);
  for (int i = 0; i < 100; ++i) {
    at(net, a).send(net.address(b), i);
    at(net, b).send(net.address(a), i);
  }
  net.kick(a);
  net.kick(b);
  net.run_for(1s);
  EXPECT_TRUE(at(net, b).received.empty());
  EXPECT_EQ(at(net, a).received.size(), 100U);
  EXPECT_EQ(net.counters().lost, 100U);
  net.set_loss(0.5);
  net.clear_loss(a, b);
  EXPECT_EQ(net.loss(a, b), 0.5);
}

TEST(OverlaySimPartition, APartitionBlocksBothWaysCutsWhatIsInFlightAndHeals) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  const Slot c = net.add(test::recorder());
  at(net, a).send(net.address(b), 1);  // in flight when the partition comes
  net.kick(a);
  net.partition({{a}, {b}});  // c is in the part of the unlisted
  EXPECT_FALSE(net.reachable(a, b));
  EXPECT_FALSE(net.reachable(b, c));
  at(net, b).send(net.address(a), 2);
  at(net, c).send(net.address(a), 3);
  net.kick(b);
  net.kick(c);
  net.run_for(1s);
  EXPECT_TRUE(at(net, a).received.empty());
  EXPECT_TRUE(at(net, b).received.empty());
  EXPECT_EQ(net.counters().partitioned, 3U);
  net.heal();
  EXPECT_TRUE(net.reachable(a, b));
  at(net, a).send(net.address(b), 4);
  at(net, b).send(net.address(a), 5);
  net.kick(a);
  net.kick(b);
  net.run_for(1s);
  ASSERT_EQ(at(net, a).received.size(), 1U);
  ASSERT_EQ(at(net, b).received.size(), 1U);
  EXPECT_EQ(at(net, a).received[0].value, 5U);
}

TEST(OverlaySimCrash, ACrashStopsTimersAndDeliveryAndARestartIsANewNodeAtTheSameAddress) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  at(net, b).timer = kStart + 2s;
  net.kick(b);
  at(net, a).send(net.address(b), 1);  // arrives after the crash
  net.kick(a);
  net.crash(b);
  net.crash(b);  // does nothing more
  EXPECT_EQ(net.state(b), NodeState::crashed);
  EXPECT_EQ(net.alive(), 1U);
  at(net, a).send(net.address(b), 2);
  net.kick(a);
  net.run_for(5s);
  EXPECT_TRUE(at(net, b).fired.empty());
  EXPECT_TRUE(at(net, b).received.empty());
  EXPECT_EQ(net.counters().to_crashed, 2U);

  net.restart(b, test::recorder());
  EXPECT_EQ(net.state(b), NodeState::alive);
  EXPECT_EQ(net.alive(), 2U);
  EXPECT_EQ(at(net, b).self, net.address(b));
  EXPECT_TRUE(at(net, b).fired.empty());
  at(net, b).timer = net.now() + 1s;
  net.kick(b);
  at(net, a).send(net.address(b), 3);
  net.kick(a);
  net.run_for(2s);
  EXPECT_EQ(at(net, b).fired.size(), 1U);
  ASSERT_EQ(at(net, b).received.size(), 1U);
  EXPECT_EQ(at(net, b).received[0].value, 3U);
}

TEST(OverlaySimCrash, ARemovedNodeIsGoneAndItsAddressIsNobodys) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  at(net, a).send(net.address(b), 1);  // in flight when b goes
  net.kick(a);
  net.remove(b);
  net.remove(b);  // does nothing more
  EXPECT_EQ(net.alive(), 1U);
  at(net, a).send(net.address(b), 2);
  net.kick(a);
  net.run_for(1s);
  EXPECT_EQ(net.counters().to_nobody, 2U);
  EXPECT_EQ(net.counters().removed, 1U);
  expect_misuse([&] { net.node(b); }, "slot 1 (10.0.0.2:6881) was removed");
  expect_misuse([&] { net.restart(b, test::recorder()); }, "was removed");
}

TEST(OverlaySimNat, ANodeBehindANatTakesOnlyRepliesFromWhomItContacted) {
  Network net(config());
  const Slot inside = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  const Slot c = net.add(test::recorder());
  net.set_behind_nat(inside, true);
  net.set_nat_timeout(30s);
  EXPECT_TRUE(net.behind_nat(inside));
  const auto send = [&](Slot from, Slot to, std::uint64_t value) {
    at(net, from).send(net.address(to), value);
    net.kick(from);
    net.run_for(1s);
  };
  send(b, inside, 1);  // unsolicited
  EXPECT_EQ(net.counters().filtered, 1U);
  send(inside, b, 2);  // opens the pinhole to b only
  send(b, inside, 3);
  send(c, inside, 4);
  EXPECT_EQ(net.counters().filtered, 2U);
  ASSERT_EQ(at(net, inside).received.size(), 1U);
  EXPECT_EQ(at(net, inside).received[0].value, 3U);
  EXPECT_EQ(at(net, inside).received[0].from, net.address(b));
  net.run_for(30s);  // the pinhole expires
  send(b, inside, 5);
  EXPECT_EQ(net.counters().filtered, 3U);
  net.restart(inside, test::recorder());  // still behind it
  send(c, inside, 6);
  EXPECT_EQ(net.counters().filtered, 4U);
  net.set_behind_nat(inside, false);
  send(c, inside, 7);
  EXPECT_EQ(at(net, inside).received.size(), 1U);
  EXPECT_EQ(net.counters().filtered, 4U);
  expect_misuse([&] { net.set_behind_nat(9, true); }, "set_behind_nat: no slot 9");
  expect_misuse([&] { net.set_nat_timeout(-1s); }, "must not be negative");
}

// Pinholes that expired are swept: a long run with ever new peers keeps the
// NAT's table (and the simulator's memory) flat.
TEST(OverlaySimNat, ExpiredPinholesAreSwept) {
  Network net(config());
  constexpr Slot kNodes = 1000;
  for (Slot i = 0; i < kNodes; ++i) {
    net.add(test::recorder());
    net.set_behind_nat(i, true);
  }
  net.set_nat_timeout(1s);
  std::size_t memory_after_3 = 0;
  for (Slot round = 0; round < 20; ++round) {
    for (Slot i = 0; i < kNodes; ++i) {
      for (Slot k = 1; k <= 5; ++k) {
        at(net, i).send(net.address((i + round * 5 + k) % kNodes), round);
      }
      at(net, i).received.clear();
      net.kick(i);
    }
    net.run_for(2s);
    if (round == 3) memory_after_3 = net.memory_bytes();
  }
  EXPECT_EQ(net.counters().sent, 20U * kNodes * 5);
  EXPECT_EQ(net.counters().filtered, net.counters().sent);  // nobody had written first
  EXPECT_LE(net.memory_bytes(), memory_after_3 + memory_after_3 / 10);
}

TEST(OverlaySimTimer, OneTimerPerNodeMovedEarlierOrLater) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  Recorder& node = at(net, a);
  node.timer = kStart + 5s;
  net.kick(a);
  node.timer = kStart + 2s;  // earlier: the 5 s entry goes stale
  net.kick(a);
  net.run_for(10s);
  ASSERT_EQ(node.fired.size(), 1U);
  EXPECT_EQ(node.fired[0], kStart + 2s);

  // Moved later many times: the queued event re-queues itself, the heap does not grow.
  node.timer = net.now() + 1s;
  net.kick(a);
  const std::size_t before = net.pending();
  for (int i = 2; i < 1000; ++i) {
    node.timer = net.now() + std::chrono::seconds(i);
    net.kick(a);
  }
  EXPECT_EQ(net.pending(), before);
  net.run_for(2000s);
  ASSERT_EQ(node.fired.size(), 2U);
  EXPECT_EQ(node.fired[1], kStart + 10s + 999s);
}

TEST(OverlaySimTimer, ATimeInThePastRunsNowAfterWhatIsDue) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  std::vector<std::string> order;
  net.schedule(kStart + 1s, [&](Network& n) {
    order.push_back("first");
    at(n, a).timer = kStart;  // already past
    n.kick(a);
  });
  net.schedule(kStart + 1s, [&](Network&) { order.push_back("second"); });
  at(net, a).on_fire = [&](Recorder&, Time) { order.push_back("timer"); };
  net.run_for(2s);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "timer"}));
  ASSERT_EQ(at(net, a).fired.size(), 1U);
  EXPECT_EQ(at(net, a).fired[0], kStart + 1s);
}

TEST(OverlaySimRun, RunUntilAPredicateStopsAtTheEventThatMadeItTrue) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  const Slot b = net.add(test::recorder());
  at(net, a).send(net.address(b), 1);
  net.kick(a);
  EXPECT_TRUE(net.run_until([&] { return !at(net, b).received.empty(); }, kStart + 1s));
  EXPECT_EQ(net.now(), at(net, b).received[0].at);
  EXPECT_FALSE(net.run_until([] { return false; }, kStart + 2s));
  EXPECT_EQ(net.now(), kStart + 2s);
}

// A ping-pong workload with loss and jitter; the trace's hash.
std::uint64_t trace_hash(std::uint64_t seed) {
  Config c = config(seed);
  c.loss = 0.05;
  Network net(c);
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a over every event
  const auto fold = [&hash](std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      hash = (hash ^ ((value >> (8 * i)) & 0xff)) * 1099511628211ULL;
    }
  };
  net.set_observer([&](const TraceEvent& event) {
    fold(static_cast<std::uint64_t>(event.kind));
    fold(event.from);
    fold(event.to);
    fold(static_cast<std::uint64_t>(event.time.time_since_epoch().count()));
    for (const std::byte b : event.bytes)
      fold(static_cast<std::uint64_t>(b));
  });
  for (int i = 0; i < 200; ++i)
    net.add(test::pinger(net, 1s, seed));
  for (Slot i = 0; i < 200; i += 10)
    net.set_behind_nat(i, true);
  net.schedule(kStart + 3s, [](Network& n) { n.crash(7); });
  net.schedule(kStart + 4s, [](Network& n) { n.partition({{1, 2, 3}}); });
  net.schedule(kStart + 6s, [](Network& n) { n.heal(); });
  net.run_for(10s);
  fold(net.counters().delivered);
  return hash;
}

TEST(OverlaySimDeterminism, TheSameSeedGivesTheSameTraceAnotherSeedAnother) {
  const std::uint64_t first = trace_hash(5);
  EXPECT_EQ(first, trace_hash(5));
  EXPECT_NE(first, trace_hash(6));
}

TEST(OverlaySimDeterminism, EventsAtTheSameTimeRunInTheOrderTheyWereScheduled) {
  Network net(config());
  std::vector<int> order;
  for (int i = 0; i < 50; ++i)
    net.schedule(kStart + 1s, [&order, i](Network&) { order.push_back(i); });
  net.run_for(1s);
  ASSERT_EQ(order.size(), 50U);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(order[i], i);
}

// Every node sends one datagram a second to the next, without jitter: once
// warm, buffers and the event heap are reused, so nothing grows.
TEST(OverlaySimMemory, BuffersAndTheHeapAreReusedOnceWarm) {
  Network net(config());
  LatencyModel model;
  model.jitter = 0ms;
  net.set_latency(model);
  constexpr Slot kNodes = 100;
  for (Slot i = 0; i < kNodes; ++i) {
    net.add(test::recorder());
    at(net, i).timer = kStart + 1s;
    at(net, i).on_fire = [&net, i](Recorder& self, Time now) {
      self.send(net.address((i + 1) % kNodes), now.time_since_epoch().count());
      self.timer = now + 1s;
      self.received.clear();  // keep the node's own memory flat too
    };
    net.kick(i);
  }
  net.run_for(5s);
  const std::size_t buffers = net.buffers();
  const std::size_t memory = net.memory_bytes();
  net.run_for(60s);
  EXPECT_EQ(net.counters().delivered, kNodes * 64U);
  EXPECT_EQ(net.buffers(), buffers);
  EXPECT_EQ(net.memory_bytes(), memory);
  EXPECT_LE(buffers, kNodes + 1);
}

TEST(OverlaySimMisuse, MisuseThrowsNamingWhatAndWhere) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  expect_misuse([&] { net.node(5); },
                "sim::Network::node: no slot 5 (the network has handed out 1)");
  expect_misuse([&] { net.crash(5); }, "sim::Network::crash: no slot 5");
  expect_misuse([&] { net.kick(5); }, "sim::Network::kick: no slot 5");
  expect_misuse([&] { net.partition({{a}, {a}}); }, "slot 0 (10.0.0.1:6881) is listed twice");
  expect_misuse([&] { net.partition({{9}}); }, "partition: no slot 9");
  expect_misuse([&] { net.set_loss(1.5); }, "a loss probability of 1.5");
  expect_misuse([&] { net.set_loss(a, 3, 0.5); }, "set_loss: no slot 3");
  expect_misuse([&] { net.set_latency({.base = -1ms}); }, "must not be negative");
  expect_misuse([&] { net.schedule(kStart - 1s, [](Network&) {}); }, "schedule: a time before now");
  expect_misuse([&] { net.schedule(kStart, nullptr); }, "an empty action");
  expect_misuse([&] { net.run_until(kStart - 1s); }, "run_until: a time before now");
  expect_misuse([&] { net.add([](const net::Endpoint&) { return nullptr; }); },
                "add: the factory made no node");
  EXPECT_EQ(net.slots(), 1U);  // nothing was added
  expect_misuse([&] { net.restart(a, [](const net::Endpoint&) { return nullptr; }); },
                "restart: the factory made no node");
  EXPECT_EQ(net.state(a), NodeState::alive);
}

TEST(OverlaySimMisuse, AStuckOrOversizedNodeThrowsInsteadOfHanging) {
  Network net(config());
  const Slot a = net.add(test::recorder());
  at(net, a).send_bytes(net.address(a), Bytes(kMaxDatagram + 1));
  expect_misuse([&] { net.kick(a); }, "sent a datagram of 65508 bytes");

  const Slot b = net.add(test::recorder());
  at(net, b).on_fire = [](Recorder& self, Time now) { self.timer = now; };  // fires for ever
  at(net, b).timer = kStart;
  net.kick(b);
  expect_misuse([&] { net.run_for(1s); }, "slot 1 (10.0.0.2:6881) keeps asking for its timer");
}

}  // namespace
}  // namespace nexo::overlay::sim
