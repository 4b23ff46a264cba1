// UdpHost: overlay cores over real UDP on 127.0.0.1, several nodes on one loop.
#include "nexo/overlay/udp_host.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <string>
#include <utility>

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;

// Pings each peer it is told about once; answers "ping" with "pong"; fires a
// timer once, 5 ms after it starts.
class EchoNode final : public DatagramNode {
 public:
  explicit EchoNode(net::Endpoint self) : self_(std::move(self)) {}

  void ping(const net::Endpoint& peer) { out_.emplace_back(peer, "ping"); }

  void on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from, Time) override {
    const std::string text(reinterpret_cast<const char*>(datagram.data()), datagram.size());
    if (text == "ping") {
      ++pings;
      out_.emplace_back(from, "pong");
    } else if (text == "pong") {
      ++pongs;
    } else {
      ++other;
    }
  }
  void on_timer(Time now) override {
    ++timers;
    last_timer = now;
    timer_.reset();
  }
  std::optional<Time> next_timer() const override { return timer_; }
  bool poll_transmit(Bytes& out, net::Endpoint& to) override {
    if (out_.empty()) return false;
    to = out_.front().first;
    out = to_bytes(out_.front().second);
    out_.pop_front();
    return true;
  }

  void arm(Time at) { timer_ = at; }

  int pings = 0, pongs = 0, other = 0, timers = 0;
  Time last_timer{};

 private:
  net::Endpoint self_;
  std::deque<std::pair<net::Endpoint, std::string>> out_;
  std::optional<Time> timer_;
};

net::Endpoint loopback_any() {
  return net::Endpoint(net::InetAddress::loopback(), 0);
}

// Runs the loop until `done` or 10 s of wall time (a bound against a hang, not
// a timing assertion: the runs below take milliseconds).
template <class Done>
bool run_until(io::EventLoop& loop, Done done) {
  const auto limit = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    loop.run_once(std::chrono::milliseconds(50));
  }
  return true;
}

TEST(UdpHost, NodesOnOneLoopPingEachOtherOverLoopback) {
  auto loop = io::EventLoop::create().value();
  UdpHost host(*loop);
  constexpr int kNodes = 12;
  std::vector<EchoNode*> nodes;
  for (int i = 0; i < kNodes; ++i) {
    auto slot = host.add(loopback_any(), [&](const net::Endpoint& self) {
      auto node = std::make_unique<EchoNode>(self);
      nodes.push_back(node.get());
      return node;
    });
    ASSERT_TRUE(slot) << slot.error().to_string();
    EXPECT_NE(host.address(*slot).port(), 0);
  }
  for (UdpHost::Slot a = 0; a < kNodes; ++a) {
    for (UdpHost::Slot b = 0; b < kNodes; ++b) {
      if (a != b) nodes[a]->ping(host.address(b));
    }
    host.kick(a);
  }
  const int expected = kNodes - 1;
  ASSERT_TRUE(run_until(*loop, [&] {
    for (auto* n : nodes) {
      if (n->pings < expected || n->pongs < expected) return false;
    }
    return true;
  }));
  for (auto* n : nodes) {
    EXPECT_EQ(n->pings, expected);
    EXPECT_EQ(n->pongs, expected);
    EXPECT_EQ(n->other, 0);
  }
  EXPECT_EQ(host.counters().received, 2U * kNodes * expected);
  EXPECT_EQ(host.counters().sent, 2U * kNodes * expected);
}

TEST(UdpHost, TimersFireAtOrAfterTheirTime) {
  auto loop = io::EventLoop::create().value();
  UdpHost host(*loop);
  EchoNode* node = nullptr;
  auto slot = host.add(loopback_any(), [&](const net::Endpoint& self) {
    auto n = std::make_unique<EchoNode>(self);
    node = n.get();
    return n;
  });
  ASSERT_TRUE(slot);
  const Time at = Clock::now() + 5ms;
  node->arm(at);
  host.kick(*slot);
  ASSERT_TRUE(run_until(*loop, [&] { return node->timers == 1; }));
  EXPECT_GE(node->last_timer, at);
  EXPECT_EQ(host.counters().timers, 1U);
}

TEST(UdpHost, ARemovedNodeIsACrashedPeer) {
  auto loop = io::EventLoop::create().value();
  UdpHost host(*loop);
  std::vector<EchoNode*> nodes;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(host.add(loopback_any(), [&](const net::Endpoint& self) {
      auto n = std::make_unique<EchoNode>(self);
      nodes.push_back(n.get());
      return n;
    }));
  }
  const net::Endpoint gone = host.address(1);
  host.remove(1);
  EXPECT_FALSE(host.alive(1));
  EXPECT_EQ(host.alive_count(), 2U);
  EXPECT_THROW(host.kick(1), std::logic_error);
  EXPECT_THROW((void)host.address(7), std::logic_error);
  // The ping to the removed node goes nowhere (an unconnected UDP socket hears
  // no ICMP error); the one sent after it to a live node is answered, and
  // by then the first would have been too.
  nodes[0]->ping(gone);
  nodes[0]->ping(host.address(2));
  host.kick(0);
  ASSERT_TRUE(run_until(*loop, [&] { return nodes[0]->pongs == 1; }));
  loop->run_once(std::chrono::milliseconds(20));
  EXPECT_EQ(nodes[0]->pongs, 1);
  EXPECT_EQ(host.counters().sent, 3U);  // two pings, one pong
}

TEST(UdpHost, ADatagramOverTheLimitIsDroppedAndCounted) {
  auto loop = io::EventLoop::create().value();
  UdpHostOptions options;
  options.max_datagram = 100;
  UdpHost host(*loop, options);
  EchoNode* node = nullptr;
  auto slot = host.add(loopback_any(), [&](const net::Endpoint& self) {
    auto n = std::make_unique<EchoNode>(self);
    node = n.get();
    return n;
  });
  ASSERT_TRUE(slot);
  auto sender = net::UdpSocket::bind(loopback_any()).value();
  ASSERT_TRUE(sender.send_to(Bytes(101, std::byte{'x'}), host.address(*slot)));
  ASSERT_TRUE(sender.send_to(Bytes(5000, std::byte{'x'}), host.address(*slot)));
  ASSERT_TRUE(sender.send_to("ping", host.address(*slot)));
  ASSERT_TRUE(run_until(*loop, [&] { return node->pings == 1; }));
  EXPECT_EQ(host.counters().truncated, 2U);
  EXPECT_EQ(node->other, 0);
}

TEST(UdpHost, BindErrorsNameTheAddress) {
  auto loop = io::EventLoop::create().value();
  UdpHost host(*loop);
  auto first = host.add(loopback_any(),
                        [](const net::Endpoint& self) { return std::make_unique<EchoNode>(self); });
  ASSERT_TRUE(first);
  const net::Endpoint taken = host.address(*first);
  auto second =
      host.add(taken, [](const net::Endpoint& self) { return std::make_unique<EchoNode>(self); });
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error().is(ErrorKind::address_in_use)) << second.error().to_string();
  EXPECT_NE(second.error().message().find(taken.to_string()), std::string::npos)
      << second.error().to_string();
  auto none = host.add(loopback_any(),
                       [](const net::Endpoint&) { return std::unique_ptr<DatagramNode>(); });
  ASSERT_FALSE(none);
  EXPECT_TRUE(none.error().is(ErrorKind::invalid_argument));
  EXPECT_EQ(host.size(), 1U);
}

}  // namespace
}  // namespace nexo::overlay
