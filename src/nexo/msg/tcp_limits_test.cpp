// What one tcp:// peer may hold (tcp_engine.hpp): a frame must arrive whole
// within frame_timeout of its first byte, however it trickles in, and the bytes
// buffered in partial frames stay within the port's budget.
//
// The engine tests run a TcpEngine on this thread with a fake clock: the test
// drives its I/O (DrivenPoller::drive) and its sweeps, so no outcome depends on
// how fast the machine is.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <thread>

#include "nexo/msg/frame.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "nexo/msg/tcp_engine.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

// The header of a data frame carrying `payload` bytes.
Bytes header(std::size_t payload) {
  Bytes out(frame::header_size(frame::kData));
  frame::write_header(out.data(), frame::kData, 0, payload);
  return out;
}

class EngineWithFakeClock : public ::testing::Test {
 protected:
  void start(PortOptions options) {
    auto listener = net::TcpListener::bind(net::Endpoint(net::InetAddress::loopback(), 0));
    ASSERT_TRUE(listener) << listener.error().message();
    ASSERT_TRUE(listener->set_non_blocking(true));
    at_ = listener->local_endpoint();
    auto poller = io::Poller::create();
    ASSERT_TRUE(poller);
    core_ = std::make_shared<PortCore>(options);
    engine_ = std::make_shared<TcpEngine>(std::move(*listener), std::move(*poller), core_, [] {},
                                          [this] { return now_; });
    ASSERT_TRUE(engine_->start());
  }
  void TearDown() override {
    if (engine_) engine_->close();
  }
  net::TcpStream connect() {
    auto s = net::TcpStream::connect(at_, 5s);
    EXPECT_TRUE(s) << s.error().message();
    return std::move(s).value();
  }
  // Runs the engine's I/O on this thread until `done()` (false after 10 s: a
  // generous bound for a loaded machine; the passing case returns at once).
  template <class F>
  bool drive_until(F done) {
    const auto deadline = io::Clock::now() + 10s;
    while (!done()) {
      if (io::Clock::now() >= deadline) return false;
      engine_->drive(std::min(deadline, io::Clock::now() + 50ms), done);
    }
    return true;
  }
  std::size_t partial_bytes() {
    std::size_t total = 0;
    for (const auto& c : engine_->connections())
      total += c.partial_frame_bytes;
    return total;
  }
  void advance(io::Clock::duration d) {
    now_ += d;
    engine_->sweep_slow_peers(now_);
  }

  io::Clock::time_point now_ = io::Clock::now();  // the engine's clock: moves only when told
  net::Endpoint at_;
  std::shared_ptr<PortCore> core_;
  std::shared_ptr<TcpEngine> engine_;
};

TEST_F(EngineWithFakeClock, APeerTricklingOneFrameIsClosedAfterTheFrameTimeout) {
  PortOptions options;
  options.frame_timeout = 1000ms;
  start(options);
  auto slowloris = connect();
  ASSERT_TRUE(slowloris.write_all(header(100)));
  ASSERT_TRUE(drive_until([&] { return partial_bytes() == 5; }));
  // One byte every 100 ms: progress, but the frame is not whole after 1 s.
  for (int i = 1; i <= 9; ++i) {
    ASSERT_TRUE(slowloris.write_all(as_bytes(std::string_view("x"))));
    ASSERT_TRUE(drive_until([&] { return partial_bytes() == 5u + i; })) << i;
    advance(100ms);
    ASSERT_EQ(engine_->connection_count(), 1u) << "closed before the frame timeout, at " << i;
  }
  ASSERT_TRUE(slowloris.write_all(as_bytes(std::string_view("x"))));
  ASSERT_TRUE(drive_until([&] { return partial_bytes() == 15; }));
  advance(100ms);  // 1 s since the frame's first byte
  EXPECT_EQ(engine_->connection_count(), 0u);
  EXPECT_EQ(core_->counters.snapshot().timed_out, 1u);
}

TEST_F(EngineWithFakeClock, AFrameThatArrivesInTimeIsDeliveredAndTheNextOneGetsItsOwnTime) {
  PortOptions options;
  options.frame_timeout = 1000ms;
  start(options);
  auto peer = connect();
  Bytes first = header(4);
  for (char ch : std::string_view("abcd"))
    first.push_back(static_cast<std::byte>(ch));
  ASSERT_TRUE(peer.write_all(std::span<const std::byte>(first).first(7)));
  ASSERT_TRUE(drive_until([&] { return partial_bytes() == 7; }));
  advance(900ms);
  // The rest, and the start of the next frame: the first is delivered, the
  // second's clock starts now.
  Bytes rest(first.begin() + 7, first.end());
  const Bytes next = header(10);
  rest.insert(rest.end(), next.begin(), next.end());
  ASSERT_TRUE(peer.write_all(rest));
  ASSERT_TRUE(drive_until([&] { return core_->queue.depth() == 1 && partial_bytes() == 5; }));
  advance(900ms);
  EXPECT_EQ(engine_->connection_count(), 1u);
  advance(100ms);
  EXPECT_EQ(engine_->connection_count(), 0u);
  EXPECT_EQ(core_->counters.snapshot().timed_out, 1u);
}

// The same through a Port and the real clock (its sweeper on the I/O thread): a
// short timeout, and no upper bound on the time it takes to act.
TEST(TcpPortLimits, ATricklingPeerIsClosedAndCountedAsTimedOut) {
  auto context = Context::create();
  ASSERT_TRUE(context);
  PortOptions options;
  options.frame_timeout = 200ms;
  auto port = Port::bind(**context, "tcp://127.0.0.1:0", options);
  ASSERT_TRUE(port);
  auto peer =
      net::TcpStream::connect(net::Endpoint(net::InetAddress::loopback(), (*port)->uri().port), 5s);
  ASSERT_TRUE(peer);
  ASSERT_TRUE(peer->write_all(header(1000)));
  const auto first_byte = io::Clock::now();
  // Trickles one byte every 20 ms (never the whole frame) until the port
  // closes the connection, or for 20 s: far more than the 200 ms it may take.
  Result<std::size_t> written = std::size_t{0};
  while (written && io::Clock::now() - first_byte < 20s) {
    std::this_thread::sleep_for(20ms);
    written = peer->write(as_bytes(std::string_view("x")));
  }
  ASSERT_FALSE(written) << "the trickling peer was still connected after 20 s";
  EXPECT_GE(io::Clock::now() - first_byte, 200ms);
  EXPECT_EQ((*port)->stats().timed_out, 1u);
}

}  // namespace
}  // namespace nexo::msg
