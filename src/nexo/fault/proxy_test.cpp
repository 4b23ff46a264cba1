// The fault proxy on loopback: a relay both ways, its plan applied and
// counted, partitions that cut and heal, a session per client, bounded
// holding and session eviction.
#include "nexo/fault/proxy.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "nexo/net/udp_socket.hpp"

namespace nexo::fault {
namespace {

using namespace std::chrono_literals;
using net::Endpoint;
using net::InetAddress;
using net::OutDatagram;
using net::UdpSocket;

// A UDP echo server on loopback, on a thread, counting what it got.
class Echo {
 public:
  Echo() : socket_(UdpSocket::bind(Endpoint(InetAddress::loopback(), 0)).value()) {
    EXPECT_TRUE(socket_.set_receive_timeout(20ms));
    (void)socket_.set_receive_buffer_size(4 << 20);  // a slow echo thread must not drop
    thread_ = std::thread([this] {
      Bytes buffer(65536);
      while (!stop_) {
        Endpoint from;
        auto n = socket_.receive_from(buffer, from);
        if (!n) continue;
        ++received_;
        (void)socket_.send_to(std::span<const std::byte>(buffer).first(*n), from);
      }
    });
  }
  ~Echo() {
    stop_ = true;
    thread_.join();
  }
  Endpoint endpoint() const { return socket_.local_endpoint(); }
  std::uint64_t received() const { return received_; }

 private:
  UdpSocket socket_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> received_{0};
  std::thread thread_;
};

std::unique_ptr<Proxy> start_proxy(const Echo& echo, Plan plan = {},
                                   std::size_t max_sessions = 1024) {
  ProxyOptions options;
  options.listen = Endpoint(InetAddress::loopback(), 0);
  options.target = echo.endpoint();
  options.plan = plan;
  options.max_sessions = max_sessions;
  auto proxy = Proxy::start(options);
  EXPECT_TRUE(proxy) << proxy.error().message();
  return std::move(*proxy);
}

UdpSocket client(Timeout timeout = 2000ms) {
  auto s = UdpSocket::bind(Endpoint(InetAddress::loopback(), 0));
  EXPECT_TRUE(s) << s.error().message();
  EXPECT_TRUE(s->set_receive_timeout(timeout));
  return std::move(*s);
}

// Waits until `done()` or 5 s.
template <class F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(FaultProxy, RelaysBothWaysWhenThePlanIsEmpty) {
  Echo echo;
  auto proxy = start_proxy(echo);
  auto c = client();
  for (int i = 0; i < 100; ++i) {
    const std::string text = "datagram " + std::to_string(i);
    ASSERT_TRUE(c.send_to(text, proxy->local_endpoint()));
    auto reply = c.receive();
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->text(), text);
    EXPECT_EQ(reply->peer, proxy->local_endpoint());
  }
  const auto counters = proxy->counters();
  EXPECT_EQ(counters.to.received, 100u);
  EXPECT_EQ(counters.to.delivered, 100u);
  EXPECT_EQ(counters.back.delivered, 100u);
  EXPECT_EQ(counters.sessions, 1u);
}

TEST(FaultProxy, LossIsAppliedAndEveryDropCounted) {
  Echo echo;
  Plan plan;
  plan.to.loss = 0.3;
  plan.seed = 7;
  auto proxy = start_proxy(echo, plan);
  auto c = client(10ms);
  constexpr int kSent = 1000;
  // At most 10 in flight, each 10 waited for (the proxy got them, and the echo
  // server what the proxy passed on): no socket buffer overflows, however
  // slowly the threads run, and no sleep decides what counts as lost.
  for (int i = 0; i < kSent; ++i) {
    ASSERT_TRUE(c.send_to("x", proxy->local_endpoint()));
    if (i % 10 != 9) continue;
    const auto sent = static_cast<std::uint64_t>(i + 1);
    ASSERT_TRUE(eventually([&] {
      const auto now = proxy->counters();
      return now.to.received == sent && echo.received() == now.to.delivered;
    })) << "after " << sent << ": the proxy got " << proxy->counters().to.received
        << ", the echo server " << echo.received();
  }
  // Each datagram is counted received, then lost or delivered, in one turn of
  // the proxy's loop: wait for the turn to end rather than read mid-turn.
  ASSERT_TRUE(eventually([&] {
    const auto now = proxy->counters();
    return now.to.received == kSent && now.to.lost + now.to.delivered == kSent;
  })) << "received " << proxy->counters().to.received << ", lost " << proxy->counters().to.lost
      << ", delivered " << proxy->counters().to.delivered;
  const auto counters = proxy->counters();
  ASSERT_TRUE(eventually([&] { return echo.received() == counters.to.delivered; }))
      << "the echo server got " << echo.received() << ", the proxy delivered "
      << counters.to.delivered;
  EXPECT_NEAR(static_cast<double>(counters.to.lost) / kSent, 0.3, 0.05) << "seed " << plan.seed;
}

// A client that sends runs of equal datagrams as one segmented send (UDP
// GSO): the proxy, which takes them coalesced (GRO), applies its plan to each
// datagram, and what reaches the target and comes back is whole datagrams.
TEST(FaultProxy, SegmentedRunsAreFaultedPerDatagram) {
  Echo echo;
  Plan plan;
  plan.to.loss = 0.3;
  plan.seed = 11;
  auto proxy = start_proxy(echo, plan);
  auto c = client(5000ms);
  ASSERT_TRUE(c.set_receive_buffer_size(4 << 20));  // every echo fits
  if (!c.send_coalescing()) GTEST_SKIP() << "this kernel has no UDP GSO";
  constexpr std::size_t kRuns = 10, kPerRun = 20, kSize = 1000;
  std::vector<Bytes> sent;
  for (std::size_t r = 0; r < kRuns; ++r) {
    std::vector<OutDatagram> batch;
    const std::size_t first = sent.size();
    for (std::size_t i = 0; i < kPerRun; ++i)
      sent.emplace_back(kSize, static_cast<std::byte>(first + i));
    for (std::size_t i = first; i < sent.size(); ++i)
      batch.push_back(net::OutDatagram{sent[i], &proxy->local_endpoint()});
    ASSERT_EQ(c.send_batch(batch).value_or(0), kPerRun);
  }
  // Every datagram taken apart, dropped or passed on (counted in one turn).
  ASSERT_TRUE(eventually([&] {
    const auto to = proxy->counters().to;
    return to.received == sent.size() && to.lost + to.delivered == sent.size();
  })) << "the proxy: "
      << proxy->counters().to.to_string() << ", of " << sent.size() << " sent";
  const auto counters = proxy->counters();
  EXPECT_GT(counters.to.lost, 0u);
  ASSERT_TRUE(eventually([&] { return echo.received() == counters.to.delivered; }))
      << "the echo server got " << echo.received() << ", the proxy delivered "
      << counters.to.delivered;
  // The echoes: whole datagrams, each one sent, in the order sent.
  std::size_t next = 0, echoed = 0;
  Bytes buffer(65536);
  while (echoed < counters.to.delivered) {
    Endpoint from;
    auto n = c.receive_from(buffer, from);
    ASSERT_TRUE(n) << n.error().message() << " after " << echoed << " echoes";
    ASSERT_EQ(*n, kSize);
    const auto index = static_cast<std::size_t>(buffer[0]);
    while (next < sent.size() && static_cast<std::size_t>(sent[next][0]) != index) ++next;
    ASSERT_LT(next, sent.size()) << "an echo out of order or unknown: " << index;
    EXPECT_EQ(Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*n)), sent[next]);
    ++echoed;
  }
  EXPECT_TRUE(eventually([&] { return proxy->counters().back.delivered == echoed; }));
}

TEST(FaultProxy, DelayHoldsDatagramsBack) {
  Echo echo;
  Plan plan;
  plan.back.delay = 30ms;
  auto proxy = start_proxy(echo, plan);
  auto c = client();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send_to("slow", proxy->local_endpoint()));
  auto reply = c.receive();
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_EQ(proxy->counters().back.delayed, 1u);
}

TEST(FaultProxy, APartitionCutsBothWaysAndHeals) {
  Echo echo;
  auto proxy = start_proxy(echo);
  auto c = client(100ms);
  proxy->set_partitioned(true);
  EXPECT_TRUE(proxy->partitioned());
  ASSERT_TRUE(c.send_to("cut off", proxy->local_endpoint()));
  auto lost = c.receive();
  ASSERT_FALSE(lost);
  EXPECT_TRUE(lost.error().is(ErrorKind::timed_out));
  EXPECT_EQ(echo.received(), 0u);
  proxy->set_partitioned(false);
  ASSERT_TRUE(c.set_receive_timeout(2000ms));
  ASSERT_TRUE(c.send_to("healed", proxy->local_endpoint()));
  auto reply = c.receive();
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "healed");
  EXPECT_EQ(proxy->counters().to.partitioned, 1u);
}

TEST(FaultProxy, EachClientGetsItsOwnReplies) {
  Echo echo;
  auto proxy = start_proxy(echo);
  auto a = client(), b = client();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(a.send_to("from a " + std::to_string(i), proxy->local_endpoint()));
    ASSERT_TRUE(b.send_to("from b " + std::to_string(i), proxy->local_endpoint()));
    auto ra = a.receive();
    auto rb = b.receive();
    ASSERT_TRUE(ra && rb);
    EXPECT_EQ(ra->text(), "from a " + std::to_string(i));
    EXPECT_EQ(rb->text(), "from b " + std::to_string(i));
  }
  EXPECT_EQ(proxy->counters().sessions, 2u);
}

// A full session table makes room: the least recently active session goes
// (its client, coming back, gets a fresh one), and nobody is turned away.
TEST(FaultProxy, AFullSessionTableEvictsTheLeastRecentlyActiveSession) {
  Echo echo;
  auto proxy = start_proxy(echo, Plan{}, 2);
  auto a = client(), b = client(), c = client();
  auto round_trip = [&](UdpSocket& s, const std::string& text) {
    if (!s.send_to(text, proxy->local_endpoint())) return std::string("(send failed)");
    auto reply = s.receive();
    return reply ? std::string(reply->text()) : reply.error().message();
  };
  EXPECT_EQ(round_trip(a, "a"), "a");
  EXPECT_EQ(round_trip(b, "b"), "b");
  EXPECT_EQ(round_trip(a, "a again"), "a again");  // a is now the more recent: b is the oldest
  EXPECT_EQ(round_trip(c, "c"), "c");              // table full: b makes room
  auto counters = proxy->counters();
  EXPECT_EQ(counters.sessions, 3u);
  EXPECT_EQ(counters.evicted, 1u);
  EXPECT_EQ(round_trip(a, "a kept"), "a kept");  // a kept its session
  EXPECT_EQ(proxy->counters().sessions, 3u);
  EXPECT_EQ(round_trip(b, "b back"), "b back");  // b gets a fresh one; c (the oldest) goes
  counters = proxy->counters();
  EXPECT_EQ(counters.sessions, 4u);
  EXPECT_EQ(counters.evicted, 2u);
  EXPECT_EQ(counters.expired, 0u);
}

// The idle timeout still closes sessions (the sweep walks the oldest end of
// the activity list); the client, coming back, gets a fresh one.
TEST(FaultProxy, AnIdleSessionExpiresAndItsClientGetsAFreshOne) {
  Echo echo;
  ProxyOptions options;
  options.listen = Endpoint(InetAddress::loopback(), 0);
  options.target = echo.endpoint();
  options.session_idle = 1ms;  // swept at the sweeper's period (1 s at least)
  auto proxy = Proxy::start(options);
  ASSERT_TRUE(proxy) << proxy.error().message();
  auto a = client(500ms);
  // A sweep may close the session while its reply is on the way: try again.
  auto round_trip = [&](const std::string& text) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (!a.send_to(text, (*proxy)->local_endpoint())) return false;
      auto reply = a.receive();
      if (reply) return reply->text() == text;
    }
    return false;
  };
  ASSERT_TRUE(round_trip("before"));
  ASSERT_TRUE(eventually([&] { return (*proxy)->counters().expired >= 1; }));
  ASSERT_TRUE(round_trip("after"));
  EXPECT_GE((*proxy)->counters().sessions, 2u);
  EXPECT_EQ((*proxy)->counters().evicted, 0u);
}

// With a long delay and a flood, what the proxy holds stays within
// max_held_bytes; the rest is dropped and counted, not queued.
TEST(FaultProxy, HeldBytesStayWithinMaxHeldAndTheRestIsCountedAsOverflow) {
  Echo echo;
  constexpr std::size_t kSize = 1000, kFit = 16, kSent = 200;
  ProxyOptions options;
  options.listen = Endpoint(InetAddress::loopback(), 0);
  options.target = echo.endpoint();
  options.plan.to.delay = std::chrono::hours(1);
  options.max_held_bytes = kFit * Injector::held_cost(kSize);
  auto proxy = Proxy::start(options);
  ASSERT_TRUE(proxy) << proxy.error().message();
  auto c = client();
  const std::string datagram(kSize, 'x');
  for (std::size_t i = 1; i <= kSent; ++i) {
    ASSERT_TRUE(c.send_to(datagram, (*proxy)->local_endpoint()));
    // Ten at a time, each ten taken in before the next: the socket buffers never overflow.
    if (i % 10 == 0) {
      ASSERT_TRUE(eventually([&] { return (*proxy)->counters().to.received == i; }))
          << "the proxy got " << (*proxy)->counters().to.received << " of " << i;
    }
  }
  const auto counters = (*proxy)->counters();
  EXPECT_EQ((*proxy)->held_bytes(), options.max_held_bytes);
  EXPECT_EQ(counters.to.delayed, kFit);
  EXPECT_EQ(counters.to.overflow, kSent - kFit);
  EXPECT_EQ(counters.to.delivered, 0u);
  EXPECT_EQ(echo.received(), 0u);
}

// An evicted session's held datagrams are dropped with it (counted), and the
// bytes they held are freed.
TEST(FaultProxy, EvictionDropsTheDatagramsHeldForTheEvictedSession) {
  Echo echo;
  Plan plan;
  plan.back.delay = std::chrono::hours(1);  // every reply is held
  auto proxy = start_proxy(echo, plan, 1);
  auto a = client(), b = client();
  ASSERT_TRUE(a.send_to("held for a", proxy->local_endpoint()));
  ASSERT_TRUE(eventually([&] { return proxy->counters().back.received == 1; }));
  EXPECT_EQ(proxy->held_bytes(), Injector::held_cost(std::string("held for a").size()));
  ASSERT_TRUE(b.send_to("b!", proxy->local_endpoint()));  // evicts a
  ASSERT_TRUE(eventually([&] { return proxy->counters().back.received == 2; }));
  const auto counters = proxy->counters();
  EXPECT_EQ(counters.evicted, 1u);
  EXPECT_EQ(counters.back.discarded, 1u);
  EXPECT_EQ(proxy->held_bytes(), Injector::held_cost(std::string("b!").size()));
}

TEST(FaultProxy, NoRoomToHoldIsRefusedAtStart) {
  ProxyOptions options;
  options.listen = Endpoint(InetAddress::loopback(), 0);
  options.target = Endpoint(InetAddress::loopback(), 9);
  options.max_held_bytes = 0;
  auto proxy = Proxy::start(options);
  ASSERT_FALSE(proxy);
  EXPECT_TRUE(proxy.error().is(ErrorKind::invalid_argument)) << proxy.error().message();
}

TEST(FaultProxy, ABadPlanIsRefusedBeforeAnythingIsBound) {
  ProxyOptions options;
  options.listen = Endpoint(InetAddress::loopback(), 0);
  options.target = Endpoint(InetAddress::loopback(), 9);
  options.plan.to.corrupt = -0.5;
  auto proxy = Proxy::start(options);
  ASSERT_FALSE(proxy);
  EXPECT_TRUE(proxy.error().is(ErrorKind::invalid_argument)) << proxy.error().message();
}

}  // namespace
}  // namespace nexo::fault
