#include "nexo/group/sim_network.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

namespace nexo::group::sim {
namespace {

using namespace std::chrono_literals;

const Time kStart = Time{} + 1000s;

Bytes encode(std::uint64_t value) {
  Bytes bytes(sizeof value);
  std::memcpy(bytes.data(), &value, sizeof value);
  return bytes;
}

std::uint64_t decode(std::span<const std::byte> bytes) {
  std::uint64_t value = 0;
  EXPECT_EQ(bytes.size(), sizeof value);
  std::memcpy(&value, bytes.data(), std::min(bytes.size(), sizeof value));
  return value;
}

struct Received {
  NodeId from;
  std::uint64_t value;
  Time at;
};

// Sends a counter (0, 1, 2...) to `to` every `period` from `first`, `limit`
// times; records what it receives (or only counts it, for the big runs).
class Ticker : public Node {
 public:
  Ticker(Time first, Duration period, Destination to,
         std::uint64_t limit = std::numeric_limits<std::uint64_t>::max(), bool record = true)
      : next_(first), period_(period), to_(to), limit_(limit), record_(record) {}

  void on_datagram(std::span<const std::byte> datagram, NodeId from, Time now) override {
    ++count;
    if (record_) received.push_back({from, decode(datagram), now});
  }
  void on_timer(Time now) override {
    fired.push_back(now);
    outbox_.push_back({encode(ticks_++), to_});
    next_ += period_;
  }
  std::optional<Time> next_timer() const override {
    if (ticks_ >= limit_) return std::nullopt;
    return next_;
  }
  bool poll_transmit(Bytes& out, Destination& to, Time) override {
    if (outbox_.empty()) return false;
    out.assign(outbox_.front().first.begin(), outbox_.front().first.end());
    to = outbox_.front().second;
    outbox_.pop_front();
    return true;
  }
  // What a test does when it calls into a node directly.
  void send_now(std::uint64_t value, Destination to) { outbox_.push_back({encode(value), to}); }
  void move_timer(Time at) { next_ = at; }

  std::vector<Received> received;
  std::vector<Time> fired;
  std::uint64_t count = 0;

 private:
  Time next_;
  Duration period_;
  Destination to_;
  std::uint64_t limit_;
  bool record_;
  std::uint64_t ticks_ = 0;
  std::deque<std::pair<Bytes, Destination>> outbox_;
};

// Adds a Ticker and returns it (the network owns it).
Ticker& add_ticker(Network& net, Time first, Duration period, Destination to,
                   std::uint64_t limit = std::numeric_limits<std::uint64_t>::max(),
                   bool record = true) {
  auto owned = std::make_unique<Ticker>(first, period, to, limit, record);
  Ticker& ticker = *owned;
  net.add(std::move(owned));
  return ticker;
}

// Receives only.
Ticker& add_listener(Network& net) { return add_ticker(net, kStart, 1s, to_group(), 0); }

TEST(SimNetwork, UnicastArrivesAfterTheLinkDelay) {
  Network net(1, kStart);
  net.set_link({.delay = 5ms});
  Ticker& sender = add_ticker(net, kStart + 10ms, 1s, to_node(1), 1);
  Ticker& receiver = add_listener(net);
  Ticker& bystander = add_listener(net);
  net.run_for(1s);
  ASSERT_EQ(receiver.received.size(), 1u);
  EXPECT_EQ(receiver.received[0].from, 0u);
  EXPECT_EQ(receiver.received[0].value, 0u);
  EXPECT_EQ(receiver.received[0].at, kStart + 15ms);
  EXPECT_TRUE(sender.received.empty());
  EXPECT_TRUE(bystander.received.empty());
  EXPECT_EQ(net.counters().sent, 1u);
  EXPECT_EQ(net.counters().delivered, 1u);
  EXPECT_EQ(net.counters(0).sent, 1u);
  EXPECT_EQ(net.counters(1).received, 1u);
  EXPECT_EQ(net.now(), kStart + 1s);
}

TEST(SimNetwork, GroupReachesEveryOtherMemberNeverTheSender) {
  Network net(1, kStart);
  Ticker& sender = add_ticker(net, kStart + 1ms, 1s, to_group(), 1);
  std::vector<Ticker*> others;
  for (int i = 0; i < 4; ++i) others.push_back(&add_listener(net));
  net.set_group_member(3, false);  // left the group: gets no multicast
  net.run_for(10ms);
  EXPECT_TRUE(sender.received.empty());  // no loopback
  EXPECT_EQ(others[0]->received.size(), 1u);
  EXPECT_EQ(others[1]->received.size(), 1u);
  EXPECT_EQ(others[2]->received.size(), 0u);
  EXPECT_EQ(others[3]->received.size(), 1u);
  EXPECT_EQ(net.counters().sent, 1u);
  EXPECT_EQ(net.counters().delivered, 3u);
}

TEST(SimNetwork, AUnicastToItselfIsDelivered) {
  Network net(1, kStart);
  Ticker& node = add_ticker(net, kStart + 1ms, 1s, to_node(0), 1);
  net.run_for(10ms);
  ASSERT_EQ(node.received.size(), 1u);
  EXPECT_EQ(node.received[0].from, 0u);
}

TEST(SimNetwork, AUnicastToAnUnknownNodeIsCountedNotDelivered) {
  Network net(1, kStart);
  add_ticker(net, kStart + 1ms, 1s, to_node(7), 1);
  Ticker& other = add_listener(net);
  net.run_for(10ms);
  EXPECT_EQ(net.counters().unknown_destination, 1u);
  EXPECT_EQ(net.counters().delivered, 0u);
  EXPECT_TRUE(other.received.empty());
}

TEST(SimNetwork, LinksAreSetForAllPerPairAndPerDirection) {
  Network net(1, kStart);
  net.set_link({.delay = 1ms});
  for (int i = 0; i < 3; ++i) add_ticker(net, kStart + 10ms, 10ms, to_group(), 10);
  net.set_direction(0, 1, {.loss = 1});       // 0 -> 1 only
  net.set_link(0, 2, {.delay = 4ms});         // both directions
  EXPECT_EQ(net.link(0, 1).loss, 1.0);
  EXPECT_EQ(net.link(1, 0).loss, 0.0);
  EXPECT_EQ(net.link(2, 0).delay, 4ms);
  EXPECT_EQ(net.link(1, 2).delay, 1ms);
  net.run_for(1s);
  const auto& one = static_cast<Ticker&>(net.node(1)).received;
  const auto& two = static_cast<Ticker&>(net.node(2)).received;
  EXPECT_EQ(std::count_if(one.begin(), one.end(), [](auto& r) { return r.from == 0; }), 0);
  EXPECT_EQ(std::count_if(one.begin(), one.end(), [](auto& r) { return r.from == 2; }), 10);
  EXPECT_EQ(net.counters().lost, 10u);
  for (const auto& got : two) {
    EXPECT_EQ(got.at - (kStart + 10ms + got.value * 10ms), got.from == 0 ? 4ms : 1ms);
  }
  const auto& zero = static_cast<Ticker&>(net.node(0)).received;
  EXPECT_EQ(zero.size(), 20u);  // 1 -> 0 is not affected by 0 -> 1
}

TEST(SimNetwork, JitterKeepsDelaysWithinBoundsAndReorders) {
  Network net(7, kStart);
  net.set_link({.delay = 2ms, .jitter = 1ms});
  constexpr std::uint64_t kCount = 1000;
  add_ticker(net, kStart, 100us, to_group(), kCount);
  std::vector<Ticker*> receivers;
  for (int i = 0; i < 4; ++i) receivers.push_back(&add_listener(net));
  net.run_for(1s);
  Duration shortest = Duration::max();
  Duration longest = Duration::min();
  std::size_t out_of_order = 0;
  for (const Ticker* receiver : receivers) {
    ASSERT_EQ(receiver->received.size(), kCount);
    for (std::size_t i = 0; i < receiver->received.size(); ++i) {
      const auto& got = receiver->received[i];
      const Duration delay = got.at - (kStart + got.value * 100us);
      shortest = std::min(shortest, delay);
      longest = std::max(longest, delay);
      if (i > 0 && got.value < receiver->received[i - 1].value) ++out_of_order;
    }
  }
  EXPECT_GE(shortest, 2ms);
  EXPECT_LE(longest, 3ms);
  EXPECT_LT(shortest, 2ms + 100us);  // the jitter spans its range
  EXPECT_GT(longest, 3ms - 100us);
  EXPECT_GT(out_of_order, 100u);  // 1 ms of jitter over 100 us spacing reorders often
}

TEST(SimNetwork, LossRateIsCloseToTheConfiguredOne) {
  Network net(11, kStart);
  net.set_link({.loss = 0.1});
  constexpr std::uint64_t kCount = 5000;
  add_ticker(net, kStart, 1ms, to_group(), kCount);
  std::vector<Ticker*> receivers;
  for (int i = 0; i < 4; ++i) receivers.push_back(&add_listener(net));
  net.run_for(10s);
  const auto copies = kCount * receivers.size();
  const auto& counters = net.counters();
  EXPECT_EQ(counters.delivered + counters.lost, copies);
  // 20,000 draws at p = 0.1: one standard deviation is about 42 losses.
  EXPECT_NEAR(static_cast<double>(counters.lost) / copies, 0.1, 0.01);
  std::uint64_t received = 0;
  for (const Ticker* receiver : receivers) received += receiver->received.size();
  EXPECT_EQ(received, counters.delivered);
}

TEST(SimNetwork, DuplicationDeliversSomeCopiesTwice) {
  Network net(13, kStart);
  net.set_link({.duplicate = 0.2, .delay = 1ms, .jitter = 1ms});
  constexpr std::uint64_t kCount = 5000;
  add_ticker(net, kStart, 1ms, to_node(1), kCount);
  Ticker& receiver = add_listener(net);
  net.run_for(10s);
  const auto& counters = net.counters();
  EXPECT_EQ(counters.delivered, kCount + counters.duplicated);
  EXPECT_NEAR(static_cast<double>(counters.duplicated) / kCount, 0.2, 0.03);
  std::map<std::uint64_t, int> seen;
  for (const auto& got : receiver.received) ++seen[got.value];
  EXPECT_EQ(seen.size(), kCount);  // every value arrived
  const auto twice = std::count_if(seen.begin(), seen.end(), [](auto& e) { return e.second == 2; });
  EXPECT_EQ(static_cast<std::uint64_t>(twice), counters.duplicated);
}

// A scenario with every random fault, traced by the observer as text.
std::string traced_run(std::uint64_t seed) {
  Network net(seed, kStart);
  net.set_link({.loss = 0.05, .duplicate = 0.05, .delay = 1ms, .jitter = 3ms});
  std::string trace;
  net.set_observer([&](const TraceEvent& event) {
    trace += std::to_string(static_cast<int>(event.kind)) + ' ' + std::to_string(event.node) + ' ' +
             std::to_string(event.peer) + ' ' +
             std::to_string((event.time - kStart).count()) + ' ' +
             std::to_string(decode(event.bytes)) + '\n';
  });
  for (NodeId i = 0; i < 6; ++i) add_ticker(net, kStart + i * 1ms, 7ms, to_group(), 50);
  net.set_link(0, 1, {.loss = 0.3, .delay = 2ms});
  net.set_direction(2, 3, {.loss = 1});
  net.schedule(kStart + 100ms, [](Network& n) { n.partition({{0, 1, 2}}); });
  net.schedule(kStart + 200ms, [](Network& n) { n.heal(); });
  net.run_for(1s);
  return trace;
}

TEST(SimNetwork, TheSameSeedGivesTheSameTrace) {
  const std::string first = traced_run(42);
  EXPECT_GT(std::count(first.begin(), first.end(), '\n'), 1000);
  EXPECT_EQ(first, traced_run(42));
  EXPECT_NE(first, traced_run(43));
}

TEST(SimNetwork, EventsAtTheSameTimeRunInTheOrderTheyWereScheduled) {
  Network net(1, kStart);
  add_ticker(net, kStart + 10ms, 1s, to_node(2), 1);  // armed first: fires first
  add_ticker(net, kStart + 10ms, 1s, to_node(2), 1);
  Ticker& receiver = add_listener(net);
  // Scheduled before the run, so before the arrivals that the timers cause.
  std::optional<std::size_t> seen_by_action;
  net.schedule(kStart + 10ms, [&](Network&) { seen_by_action = receiver.received.size(); });
  net.run_for(20ms);
  EXPECT_EQ(seen_by_action, std::optional<std::size_t>(0));
  ASSERT_EQ(receiver.received.size(), 2u);
  EXPECT_EQ(receiver.received[0].from, 0u);
  EXPECT_EQ(receiver.received[1].from, 1u);
  EXPECT_EQ(receiver.received[0].at, kStart + 10ms);  // the default link has no delay
}

TEST(SimNetwork, APartitionBlocksAndHealRestores) {
  Network net(3, kStart);
  net.set_link({.delay = 1ms});
  std::vector<Ticker*> nodes;
  for (int i = 0; i < 5; ++i) nodes.push_back(&add_ticker(net, kStart + 10ms, 10ms, to_group()));
  net.run_until(kStart + 95ms);
  net.partition({{0, 1}, {2, 3}});  // 4, listed nowhere, is a part of its own
  EXPECT_TRUE(net.reachable(0, 1));
  EXPECT_FALSE(net.reachable(1, 2));
  EXPECT_FALSE(net.reachable(3, 4));
  const auto from = [](const Ticker& t, NodeId sender, Time after, Time before) {
    return std::count_if(t.received.begin(), t.received.end(), [&](const Received& r) {
      return r.from == sender && r.at > after && r.at < before;
    });
  };
  net.run_until(kStart + 195ms);
  const Time cut = kStart + 95ms;
  const Time mend = kStart + 195ms;
  EXPECT_EQ(from(*nodes[0], 1, cut, mend), 10);
  EXPECT_EQ(from(*nodes[0], 2, cut, mend), 0);
  EXPECT_EQ(from(*nodes[2], 3, cut, mend), 10);
  EXPECT_EQ(from(*nodes[3], 0, cut, mend), 0);
  EXPECT_EQ(from(*nodes[4], 0, cut, mend), 0);
  // 10 rounds (100 .. 190 ms) of 5 multicasts, 4 copies each, of which 4 reach.
  EXPECT_EQ(net.counters().partitioned, 10u * (5 * 4 - 4));
  net.heal();
  net.run_until(kStart + 295ms);
  EXPECT_EQ(from(*nodes[0], 2, mend, kStart + 295ms), 10);
  EXPECT_EQ(from(*nodes[4], 0, mend, kStart + 295ms), 10);
  EXPECT_EQ(from(*nodes[3], 4, mend, kStart + 295ms), 10);
}

TEST(SimNetwork, APartitionCutsCopiesAlreadyInFlight) {
  Network net(3, kStart);
  net.set_link({.delay = 5ms});
  add_ticker(net, kStart + 1ms, 1s, to_group(), 1);
  Ticker& near = add_listener(net);
  Ticker& far = add_listener(net);
  net.run_until(kStart + 2ms);  // sent at 1 ms, arriving at 6 ms
  net.partition({{0, 1}, {2}});
  net.run_for(10ms);
  EXPECT_EQ(near.received.size(), 1u);
  EXPECT_TRUE(far.received.empty());
  EXPECT_EQ(net.counters().partitioned, 1u);
}

TEST(SimNetwork, ACrashStopsDeliveryAndTimersButNotWhatWasInFlight) {
  Network net(5, kStart);
  net.set_link({.delay = 5ms});
  Ticker& a = add_ticker(net, kStart + 10ms, 10ms, to_group());
  Ticker& b = add_ticker(net, kStart + 10ms, 10ms, to_group());
  net.run_until(kStart + 11ms);  // both sent at 10 ms; nothing arrived yet
  net.crash(1);
  EXPECT_TRUE(net.crashed(1));
  net.run_until(kStart + 100ms);
  EXPECT_EQ(b.fired.size(), 1u);        // its timer stopped
  EXPECT_TRUE(b.received.empty());      // nothing delivered to it
  ASSERT_FALSE(a.received.empty());
  EXPECT_EQ(a.received[0].from, 1u);    // its last multicast still arrived
  EXPECT_EQ(a.received.size(), 1u);
  EXPECT_EQ(net.counters().to_crashed, 10u);  // a's multicasts of 10 .. 100 ms, to b
  // A restart under the same id: the new node gets what arrives from now on.
  auto fresh = std::make_unique<Ticker>(kStart + 105ms, 10ms, to_group());
  Ticker& reborn = *fresh;
  net.restart(1, std::move(fresh));
  EXPECT_FALSE(net.crashed(1));
  EXPECT_EQ(&net.node(1), &reborn);
  net.run_until(kStart + 200ms);
  EXPECT_FALSE(reborn.received.empty());
  EXPECT_EQ(reborn.fired.size(), 10u);  // 105 .. 195 ms
  EXPECT_EQ(a.received.size(), 1u + 10u);  // and reborn's of 105 .. 195 ms
}

TEST(SimNetwork, KickDrainsWhatATestMadeANodeSend) {
  Network net(1, kStart);
  auto owned = std::make_unique<Ticker>(kStart, 1s, to_group(), 0);
  Ticker& sender = *owned;
  net.add(std::move(owned));
  Ticker& receiver = add_listener(net);
  sender.send_now(77, to_node(1));
  net.run_for(5ms);
  EXPECT_TRUE(receiver.received.empty());  // not drained: the network did not call the node
  net.kick(0);
  net.run_for(5ms);
  ASSERT_EQ(receiver.received.size(), 1u);
  EXPECT_EQ(receiver.received[0].value, 77u);
  net.crash(0);
  sender.send_now(78, to_node(1));
  net.kick(0);  // a crashed node's output is never read
  net.run_for(5ms);
  EXPECT_EQ(receiver.received.size(), 1u);
}

TEST(SimNetwork, AMovedTimerFiresAtItsNewTimeOnly) {
  Network net(1, kStart);
  Ticker& node = add_ticker(net, kStart + 100ms, 1s, to_group(), 1);
  node.move_timer(kStart + 50ms);
  net.kick(0);
  net.run_for(500ms);
  ASSERT_EQ(node.fired.size(), 1u);  // the event armed for 100 ms went stale
  EXPECT_EQ(node.fired[0], kStart + 50ms);
  EXPECT_EQ(net.counters().timers, 1u);
}

TEST(SimNetwork, ATimerMovedLaterFiresAtItsNewTimeOnly) {
  Network net(1, kStart);
  Ticker& node = add_ticker(net, kStart + 50ms, 1s, to_group(), 1);
  node.move_timer(kStart + 100ms);
  net.kick(0);
  net.run_for(500ms);
  ASSERT_EQ(node.fired.size(), 1u);
  EXPECT_EQ(node.fired[0], kStart + 100ms);
}

// Pushes its timer back to 100 ms after every datagram: a silence detector.
class Silence : public Node {
 public:
  void on_datagram(std::span<const std::byte>, NodeId, Time now) override { deadline_ = now + 100ms; }
  void on_timer(Time now) override {
    fired.push_back(now);
    deadline_.reset();
  }
  std::optional<Time> next_timer() const override { return deadline_; }
  bool poll_transmit(Bytes&, Destination&, Time) override { return false; }
  std::vector<Time> fired;

 private:
  std::optional<Time> deadline_;
};

TEST(SimNetwork, ATimerPushedBackOnEveryDatagramDoesNotFillTheQueue) {
  Network net(1, kStart);
  add_ticker(net, kStart, 10us, to_group(), 10000);  // 100 ms of datagrams
  auto owned = std::make_unique<Silence>();
  Silence& silence = *owned;
  net.add(std::move(owned));
  std::size_t most_pending = 0;
  while (net.now() < kStart + 1s) {
    net.run_for(1ms);
    most_pending = std::max(most_pending, net.pending());
  }
  ASSERT_EQ(silence.fired.size(), 1u);
  EXPECT_EQ(silence.fired[0], kStart + 9999 * 10us + 100ms);  // 100 ms after the last one
  EXPECT_LT(most_pending, 10u);  // not one stale event per datagram
}

TEST(SimNetwork, RunUntilAPredicateStopsAtTheEventThatMadeItTrue) {
  Network net(1, kStart);
  net.set_link({.delay = 3ms});
  add_ticker(net, kStart + 10ms, 10ms, to_node(1), 5);
  Ticker& receiver = add_listener(net);
  EXPECT_TRUE(net.run_until([&] { return receiver.received.size() == 2; }, kStart + 1s));
  EXPECT_EQ(net.now(), kStart + 23ms);
  EXPECT_FALSE(net.run_until([&] { return receiver.received.size() == 9; }, kStart + 1s));
  EXPECT_EQ(net.now(), kStart + 1s);
  EXPECT_EQ(receiver.received.size(), 5u);
}

TEST(SimNetwork, TheObserverSeesEverySendDeliveryAndDrop) {
  Network net(9, kStart);
  net.set_link({.loss = 0.2, .duplicate = 0.1, .delay = 1ms, .jitter = 1ms});
  std::map<TraceEvent::Kind, std::uint64_t> seen;
  std::uint64_t delivered_sum = 0;
  net.set_observer([&](const TraceEvent& event) {
    ++seen[event.kind];
    if (event.kind == TraceEvent::Kind::delivered) delivered_sum += decode(event.bytes);
  });
  std::vector<Ticker*> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(&add_ticker(net, kStart, 2ms, to_group(), 100));
  net.schedule(kStart + 50ms, [](Network& n) { n.crash(3); });
  net.schedule(kStart + 100ms, [](Network& n) { n.partition({{0}}); });
  net.run_for(1s);
  const auto& counters = net.counters();
  EXPECT_EQ(seen[TraceEvent::Kind::sent], counters.sent);
  EXPECT_EQ(seen[TraceEvent::Kind::delivered], counters.delivered);
  EXPECT_EQ(seen[TraceEvent::Kind::lost], counters.lost);
  EXPECT_EQ(seen[TraceEvent::Kind::partitioned], counters.partitioned);
  EXPECT_EQ(seen[TraceEvent::Kind::to_crashed], counters.to_crashed);
  EXPECT_GT(counters.lost, 0u);
  EXPECT_GT(counters.partitioned, 0u);
  EXPECT_GT(counters.to_crashed, 0u);
  std::uint64_t received_sum = 0;
  for (const Ticker* node : nodes) {
    for (const auto& got : node->received) received_sum += got.value;
  }
  EXPECT_EQ(delivered_sum, received_sum);  // the observer saw the bytes the nodes got
}

// Asks for its timer at the same instant for ever.
class StuckTimer : public Node {
 public:
  void on_datagram(std::span<const std::byte>, NodeId, Time) override {}
  void on_timer(Time) override {}
  std::optional<Time> next_timer() const override { return kStart; }
  bool poll_transmit(Bytes&, Destination&, Time) override { return false; }
};

// Never stops transmitting.
class Chatterbox : public Node {
 public:
  void on_datagram(std::span<const std::byte>, NodeId, Time) override {}
  void on_timer(Time) override {}
  std::optional<Time> next_timer() const override { return std::nullopt; }
  bool poll_transmit(Bytes& out, Destination& to, Time) override {
    out.assign(1, std::byte{0});
    to = to_node(kNoNode);  // nowhere, so that no copy is made
    return true;
  }
};

TEST(SimNetwork, MisuseFailsLoudlyInsteadOfHanging) {
  Network net(1, kStart);
  EXPECT_THROW(net.add(nullptr), std::logic_error);
  add_listener(net);
  EXPECT_THROW(net.node(1), std::logic_error);
  EXPECT_THROW(net.crash(5), std::logic_error);
  EXPECT_THROW(net.set_link({.loss = 1.5}), std::logic_error);
  EXPECT_THROW(net.set_link({.delay = -1ms}), std::logic_error);
  EXPECT_THROW(net.partition({{0}, {0}}), std::logic_error);
  net.run_for(1ms);
  EXPECT_THROW(net.run_until(kStart), std::logic_error);
  EXPECT_THROW(net.schedule(kStart, [](Network&) {}), std::logic_error);
  EXPECT_THROW(net.add(std::make_unique<Chatterbox>()), std::logic_error);

  Network stuck(1, kStart);
  stuck.add(std::make_unique<StuckTimer>());
  EXPECT_THROW(stuck.run_for(1ms), std::logic_error);
}

// The sizes: a group of 1,000 with a multicast every millisecond, and
// 100 members each multicasting every 10 ms. Prints CPU time; asserts counts.
TEST(SimNetwork, ThousandReceiversOneMulticastPerMillisecond) {
  const std::clock_t begin = std::clock();
  Network net(17, kStart);
  net.set_link({.delay = 500us, .jitter = 200us});
  constexpr NodeId kNodes = 1000;
  add_ticker(net, kStart, 1ms, to_group(), 1000, false);
  std::vector<Ticker*> nodes;
  for (NodeId i = 1; i < kNodes; ++i) nodes.push_back(&add_listener(net));
  net.run_for(1s + 1ms);
  const double cpu = static_cast<double>(std::clock() - begin) / CLOCKS_PER_SEC;
  EXPECT_EQ(net.counters().sent, 1000u);
  EXPECT_EQ(net.counters().delivered, 1000u * (kNodes - 1));
  for (const Ticker* node : nodes) ASSERT_EQ(node->count, 1000u);
  std::printf("1,000 nodes, 1 multicast/ms, 1 simulated s: %.3f s CPU (%s)\n", cpu,
              net.counters().to_string().c_str());
}

TEST(SimNetwork, HundredMembersEachMulticastingEveryTenMilliseconds) {
  const std::clock_t begin = std::clock();
  Network net(19, kStart);
  net.set_link({.loss = 0.01, .delay = 500us, .jitter = 200us});
  constexpr NodeId kNodes = 100;
  std::vector<Ticker*> nodes;
  for (NodeId i = 0; i < kNodes; ++i) {
    nodes.push_back(&add_ticker(net, kStart + i * 100us, 10ms, to_group(), 100, false));
  }
  net.run_for(1s + 1ms);
  const double cpu = static_cast<double>(std::clock() - begin) / CLOCKS_PER_SEC;
  const auto& counters = net.counters();
  EXPECT_EQ(counters.sent, 100u * kNodes);
  EXPECT_EQ(counters.delivered + counters.lost, 100u * kNodes * (kNodes - 1));
  std::printf("100 nodes, each 1 multicast/10 ms, 1 simulated s: %.3f s CPU (%s)\n", cpu,
              counters.to_string().c_str());
}

}  // namespace
}  // namespace nexo::group::sim
