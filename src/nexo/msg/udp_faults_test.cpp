// A fault plan stacked in-process on udp:// (SenderOptions::faults,
// PortOptions::faults): the chapter's failure model, to order and replayable.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "nexo/fault/injector.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

class UdpFaults : public ::testing::Test {
 protected:
  void SetUp() override { context_ = std::move(Context::create().value()); }
  std::unique_ptr<Port> bind(PortOptions options = {}) {
    return std::move(Port::bind(*context_, "udp://127.0.0.1:0", options).value());
  }
  std::unique_ptr<Sender> connect(const Port& port, SenderOptions options = {}) {
    return std::move(Sender::connect(*context_, port.uri().to_string(), options).value());
  }
  // Sends `count` numbered messages, 20 at a time, and after each 20 waits
  // (deadline 10 s) until those of them that `survives` says should arrive
  // have; returns the numbers received, in arrival order. At most 20 are ever
  // in flight, so the socket cannot overflow, and no quiet spell decides when
  // the stream is over, however slow the machine.
  std::vector<int> exchange(Port& port, Sender& sender, const std::vector<bool>& survives) {
    const int count = static_cast<int>(survives.size());
    std::vector<int> got;
    std::size_t expected = 0;
    for (int i = 0; i < count; ++i) {
      EXPECT_TRUE(sender.send(std::to_string(i), 1s));
      if (survives[static_cast<std::size_t>(i)]) ++expected;
      if (i % 20 != 19 && i != count - 1) continue;
      while (got.size() < expected) {
        auto m = port.receive(10s);
        if (!m) return got;  // the caller's comparison shows what is missing
        got.push_back(std::stoi(std::string(m->text())));
      }
    }
    if (auto extra = port.try_receive(); extra)
      got.push_back(std::stoi(std::string(extra->text())));
    return got;
  }
  // Which of `count` datagrams `direction` with `seed` lets through: the
  // Injector on its own, with a fake clock (loss only: nothing is held).
  static std::vector<bool> survivors(const fault::Direction& direction, std::uint64_t seed,
                                     int count) {
    fault::Injector injector(direction, seed);
    std::vector<bool> survives;
    const fault::Clock::time_point now{};
    for (int i = 0; i < count; ++i) {
      injector.push(as_bytes(std::string_view("x")), now);
      survives.push_back(injector.pop_due(now, [](auto, const auto&) {}) == 1);
    }
    return survives;
  }
  std::unique_ptr<Context> context_;
};

// The plan's losses are the Injector's decisions for the seed, and only
// those: both runs deliver exactly the messages the Injector lets through.
TEST_F(UdpFaults, TheSameSeedLosesTheSameMessages) {
  SenderOptions options;
  options.faults.emplace();
  options.faults->to.loss = 0.2;
  options.faults->seed = 5;
  const auto survives = survivors(options.faults->to, options.faults->seed, 1000);
  std::vector<int> expected;
  for (int i = 0; i < 1000; ++i)
    if (survives[static_cast<std::size_t>(i)]) expected.push_back(i);
  EXPECT_NEAR(static_cast<double>(expected.size()), 800, 40) << "a loss of 0.2";
  for (int run = 0; run < 2; ++run) {
    auto port = bind();
    auto sender = connect(*port, options);
    EXPECT_EQ(exchange(*port, *sender, survives), expected)
        << "run " << run << ", seed " << options.faults->seed;
  }
}

TEST_F(UdpFaults, APortPlanDuplicatesAndDelaysWhatArrives) {
  PortOptions options;
  options.faults.emplace();
  options.faults->back.duplicate = 1;
  options.faults->back.delay = 20ms;
  auto port = bind(options);
  auto sender = connect(*port);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(sender->send("twice", 1s));
  auto first = port->receive(2s);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  auto second = port->receive(2s);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(first->text(), "twice");
  EXPECT_EQ(second->text(), "twice");
  EXPECT_EQ(first->source(), second->source());
  EXPECT_FALSE(port->receive(50ms));
}

TEST_F(UdpFaults, ClosingWithDatagramsHeldLosesThemQuietly) {
  SenderOptions options;
  options.faults.emplace();
  options.faults->to.delay = 10s;
  auto port = bind();
  auto sender = connect(*port, options);
  ASSERT_TRUE(sender->send("never", 1s));
  sender->close();
  auto late = sender->send("after close", 1s);
  ASSERT_FALSE(late);
  EXPECT_TRUE(late.error().is(ErrorKind::closed));
  EXPECT_FALSE(port->receive(50ms));
}

TEST_F(UdpFaults, AStreamTransportRefusesAPlan) {
  PortOptions port_options;
  port_options.faults.emplace();
  auto port = Port::bind(*context_, "tcp://127.0.0.1:0", port_options);
  ASSERT_FALSE(port);
  EXPECT_TRUE(port.error().is(ErrorKind::invalid_argument)) << port.error().message();
  auto tcp = std::move(Port::bind(*context_, "tcp://127.0.0.1:0").value());
  SenderOptions options;
  options.faults.emplace();
  auto sender = Sender::connect(*context_, tcp->uri().to_string(), options);
  ASSERT_FALSE(sender);
  EXPECT_NE(sender.error().message().find("a fault plan applies to datagrams"), std::string::npos)
      << sender.error().message();
}

TEST_F(UdpFaults, ABadPlanIsRefused) {
  SenderOptions options;
  options.faults.emplace();
  options.faults->to.loss = 7;
  auto port = bind();
  auto sender = Sender::connect(*context_, port->uri().to_string(), options);
  ASSERT_FALSE(sender);
  EXPECT_TRUE(sender.error().is(ErrorKind::invalid_argument)) << sender.error().message();
}

}  // namespace
}  // namespace nexo::msg
