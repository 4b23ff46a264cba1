// A fault plan stacked in-process on udp:// (SenderOptions::faults,
// PortOptions::faults): the chapter's failure model, to order and replayable.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <thread>
#include <vector>

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
  // Sends `count` numbered messages, paced; returns the numbers received, in
  // arrival order (until 300 ms pass with nothing).
  std::vector<int> exchange(Port& port, Sender& sender, int count) {
    for (int i = 0; i < count; ++i) {
      EXPECT_TRUE(sender.send(std::to_string(i), 1s));
      if (i % 20 == 0) std::this_thread::sleep_for(1ms);
    }
    std::vector<int> got;
    while (auto m = port.receive(300ms))
      got.push_back(std::stoi(std::string(m->text())));
    return got;
  }
  std::unique_ptr<Context> context_;
};

TEST_F(UdpFaults, TheSameSeedLosesTheSameMessages) {
  SenderOptions options;
  options.faults.emplace();
  options.faults->to.loss = 0.2;
  options.faults->seed = 5;
  std::vector<int> runs[2];
  for (auto& run : runs) {
    auto port = bind();
    auto sender = connect(*port, options);
    run = exchange(*port, *sender, 1000);
  }
  EXPECT_EQ(runs[0], runs[1]) << "seed " << options.faults->seed;
  EXPECT_NEAR(static_cast<double>(runs[0].size()), 800, 40);
  for (std::size_t i = 1; i < runs[0].size(); ++i)
    ASSERT_LT(runs[0][i - 1], runs[0][i]) << "loss alone keeps the order";
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
