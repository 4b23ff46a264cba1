// The fault proxy on loopback: a relay both ways, its plan applied and
// counted, partitions that cut and heal, a session per client.
#include "nexo/fault/proxy.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "nexo/net/udp_socket.hpp"

namespace nexo::fault {
namespace {

using namespace std::chrono_literals;
using net::Endpoint;
using net::InetAddress;
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
  for (int i = 0; i < kSent; ++i) {
    ASSERT_TRUE(c.send_to("x", proxy->local_endpoint()));
    if (i % 10 == 0) std::this_thread::sleep_for(1ms);  // stay within the socket buffers
  }
  ASSERT_TRUE(eventually([&] { return proxy->counters().to.received == kSent; }));
  const auto counters = proxy->counters();
  EXPECT_EQ(counters.to.lost + counters.to.delivered, static_cast<std::uint64_t>(kSent));
  ASSERT_TRUE(eventually([&] { return echo.received() == counters.to.delivered; }))
      << "the echo server got " << echo.received() << ", the proxy delivered "
      << counters.to.delivered;
  EXPECT_NEAR(static_cast<double>(counters.to.lost) / kSent, 0.3, 0.05) << "seed " << plan.seed;
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

TEST(FaultProxy, ClientsBeyondMaxSessionsAreTurnedAwayAndCounted) {
  Echo echo;
  auto proxy = start_proxy(echo, Plan{}, 1);
  auto a = client(), b = client(100ms);
  ASSERT_TRUE(a.send_to("first", proxy->local_endpoint()));
  ASSERT_TRUE(a.receive());
  ASSERT_TRUE(b.send_to("second", proxy->local_endpoint()));
  auto r = b.receive();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::timed_out));
  EXPECT_EQ(proxy->counters().refused, 1u);
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
