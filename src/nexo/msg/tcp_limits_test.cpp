// What one tcp:// peer may hold (tcp_engine.hpp): a frame must arrive whole
// within frame_timeout of its first byte, however it trickles in, and the bytes
// buffered in partial frames stay within the port's budget.
//
// The engine tests run a TcpEngine on this thread with a fake clock: the test
// drives its I/O (DrivenPoller::drive) and its sweeps, so no outcome depends on
// how fast the machine is.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <optional>
#include <thread>
#include <vector>

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

// Many frames in one read reach the queue in batches; where the queue fills
// mid-batch, the refused frames stay unread and arrive, in order, as it drains.
TEST_F(EngineWithFakeClock, FramesOfOneReadBeyondAFullQueueArriveInOrderAsItDrains) {
  PortOptions options;
  options.queue.max_messages = 10;
  start(options);
  auto peer = connect();
  constexpr int kCount = 300;
  Bytes all;
  for (int i = 0; i < kCount; ++i)
    frame::append(all, frame::kData, 0, as_bytes(std::string_view(std::to_string(i))));
  ASSERT_TRUE(peer.write_all(all));
  ASSERT_TRUE(drive_until([&] { return core_->queue.depth() == 10; }));
  for (int i = 0; i < kCount; ++i) {
    std::optional<Message> m;
    auto taken = [&] {  // asked more than once: takes one message only
      if (!m) m = core_->queue.take_now();
      return m.has_value();
    };
    ASSERT_TRUE(drive_until(taken)) << i;
    ASSERT_EQ(m->text(), std::to_string(i));
  }
  EXPECT_EQ(core_->counters.snapshot().messages_in, static_cast<std::uint64_t>(kCount));
  EXPECT_LE(core_->counters.snapshot().queue_high_water, 10u);
  EXPECT_EQ(engine_->connection_count(), 1u);
}

// Frames split anywhere across reads (inside headers too) arrive whole and in
// order: a frame begun in one read is completed from the next.
TEST_F(EngineWithFakeClock, FramesSplitAcrossReadsAnywhereArriveWholeAndInOrder) {
  start(PortOptions{});
  auto peer = connect();
  constexpr int kCount = 60;
  auto payload = [](int i) {
    return std::string(static_cast<std::size_t>(i % 7), 'x') + std::to_string(i);
  };
  Bytes all;
  std::vector<std::size_t> ends;  // where each frame ends in `all`
  for (int i = 0; i < kCount; ++i) {
    frame::append(all, i % 3 == 0 ? frame::kDataToAck : frame::kData,
                  static_cast<std::uint64_t>(i), as_bytes(std::string_view(payload(i))));
    ends.push_back(all.size());
  }
  // What the engine has taken in: the frames delivered and the partial one.
  auto consumed = [&] {
    std::uint64_t delivered = 0;
    for (const auto& c : engine_->connections())
      delivered += c.messages_in;
    return (delivered == 0 ? 0 : ends[delivered - 1]) + partial_bytes();
  };
  std::size_t sent = 0;
  for (std::size_t piece = 1; sent < all.size(); piece = piece % 11 + 2) {  // 1, 3, 5, ... 12, 2, ...
    const std::size_t n = std::min(piece, all.size() - sent);
    ASSERT_TRUE(peer.write_all(std::span<const std::byte>(all).subspan(sent, n)));
    sent += n;
    ASSERT_TRUE(drive_until([&] { return consumed() == sent; })) << sent;
  }
  ASSERT_EQ(core_->queue.depth(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    auto m = core_->queue.take_now();
    ASSERT_TRUE(m) << i;
    EXPECT_EQ(m->text(), payload(i));
  }
  EXPECT_EQ(engine_->connection_count(), 1u);
  EXPECT_EQ(core_->counters.snapshot().malformed, 0u);
}

// A malformed frame after whole ones: those before it are delivered, then the
// connection is closed and counted.
TEST_F(EngineWithFakeClock, FramesBeforeAMalformedOneAreDeliveredThenTheConnectionCloses) {
  start(PortOptions{});
  auto peer = connect();
  Bytes all;
  for (int i = 0; i < 100; ++i)
    frame::append(all, frame::kData, 0, as_bytes(std::string_view("ok")));
  frame::append(all, frame::kAck, 7, {});  // a port never asked for an acknowledgement
  ASSERT_TRUE(peer.write_all(all));
  ASSERT_TRUE(drive_until([&] { return core_->counters.snapshot().malformed == 1; }));
  EXPECT_EQ(core_->queue.depth(), 100u);
  EXPECT_EQ(engine_->connection_count(), 0u);
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

// --- the partial-frame budget ---------------------------------------------------

class TcpBudget : public ::testing::Test {
 protected:
  static constexpr std::size_t kBudget = 1u << 20;
  static constexpr std::size_t kLargest = 512u << 10;
  void SetUp() override {
    auto c = Context::create();
    ASSERT_TRUE(c);
    context_ = std::move(*c);
    PortOptions options;
    options.max_partial_bytes = kBudget;
    options.max_message_size = kLargest;
    auto p = Port::bind(*context_, "tcp://127.0.0.1:0", options);
    ASSERT_TRUE(p) << p.error().message();
    port_ = std::move(*p);
  }
  std::size_t partial_bytes() const {
    std::size_t total = 0;
    for (const auto& c : port_->connections())
      total += c.partial_frame_bytes;
    return total;
  }
  std::unique_ptr<Context> context_;
  std::unique_ptr<Port> port_;
};

// A peer that sends `bytes` without blocking, as far as its socket takes them.
struct Pusher {
  net::TcpStream stream;
  Bytes bytes;
  std::size_t sent = 0;
  void push() {
    while (sent < bytes.size()) {
      auto n = stream.write(std::span<const std::byte>(bytes).subspan(sent));
      if (!n) return;
      sent += *n;
    }
  }
};

TEST_F(TcpBudget, PeersHoldingLargePartialFramesStayWithinTheBudgetAndSmallMessagesPass) {
  // Eight peers each send 400 KiB of a 512 KiB frame, then stop: without a
  // budget the port would hold 3.2 MB for them.
  std::vector<Pusher> peers;
  for (int i = 0; i < 8; ++i) {
    auto s = net::TcpStream::connect(net::Endpoint(net::InetAddress::loopback(), port_->uri().port),
                                     5s);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->set_non_blocking(true));
    Bytes frame = header(kLargest);
    frame.resize(frame.size() + (400u << 10), std::byte{7});
    peers.push_back({std::move(*s), std::move(frame)});
  }
  std::size_t most = 0;
  const auto deadline = io::Clock::now() + 10s;
  // Until the port has taken what it will take: one frame admitted and read to
  // its 400 KiB, the others waiting (the budget has room for one 512 KiB claim
  // among large frames, 3/4 of 1 MiB).
  while (io::Clock::now() < deadline &&
         !(port_->stats().budget_waits >= 7 && partial_bytes() >= (400u << 10))) {
    for (auto& p : peers)
      p.push();
    most = std::max(most, partial_bytes());
    std::this_thread::yield();
  }
  most = std::max(most, partial_bytes());
  EXPECT_GE(port_->stats().budget_waits, 7u);
  EXPECT_GE(most, 400u << 10);
  EXPECT_LE(most, kBudget);
  EXPECT_EQ(port_->connection_count(), 8u);  // nobody was closed: they only wait
  // Small messages still pass.
  auto sender = Sender::connect(*context_, port_->uri().to_string());
  ASSERT_TRUE(sender);
  ASSERT_TRUE((*sender)->send("small", 5s));
  auto m = port_->receive(5s);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->text(), "small");
  EXPECT_LE(partial_bytes(), kBudget);
}

TEST_F(TcpBudget, LargeFramesArrivingTogetherTakeTurnsAndAllArrive) {
  // Six 512 KiB messages at once need 3 MB of partial frames; the budget has
  // room for one at a time (3/4 of 1 MiB): they must take turns, not each hold
  // part of the budget and wait for the rest for ever.
  constexpr int kSenders = 6;
  std::vector<std::unique_ptr<Sender>> senders;
  for (int i = 0; i < kSenders; ++i) {
    auto s = Sender::connect(*context_, port_->uri().to_string());
    ASSERT_TRUE(s);
    senders.push_back(std::move(*s));
  }
  std::vector<io::Request<void>> sent;
  for (int i = 0; i < kSenders; ++i) {
    auto r = senders[i]->send_async(Bytes(kLargest, static_cast<std::byte>(i)));
    ASSERT_TRUE(r) << r.error().message();
    sent.push_back(std::move(*r));
  }
  std::vector<int> seen(kSenders, 0);
  std::size_t most = 0;
  for (int i = 0; i < kSenders; ++i) {
    most = std::max(most, partial_bytes());
    auto m = port_->receive(10s);
    ASSERT_TRUE(m) << i << ": " << m.error().message();
    ASSERT_EQ(m->data.size(), kLargest);
    const auto first = std::to_integer<int>(m->data[0]);
    ASSERT_LT(first, kSenders);
    EXPECT_TRUE(std::ranges::all_of(m->data, [&](std::byte b) { return b == m->data[0]; }));
    ++seen[first];
  }
  for (int i = 0; i < kSenders; ++i)
    EXPECT_EQ(seen[i], 1) << i;
  EXPECT_LE(most, kBudget);
  EXPECT_EQ(port_->stats().timed_out, 0u);
}

TEST(TcpBudgetOptions, ABudgetThatCannotHoldTheLargestFrameIsRefusedAtBind) {
  auto context = Context::create();
  ASSERT_TRUE(context);
  PortOptions options;
  options.max_partial_bytes = 1u << 20;  // max_message_size stays 16 MiB
  // ipc:// runs the same engine, so it checks the same options.
  for (const std::string& uri :
       {std::string("tcp://127.0.0.1:0"), "ipc://@nexo-budget-" + std::to_string(::getpid())}) {
    auto port = Port::bind(**context, uri, options);
    ASSERT_FALSE(port) << uri;
    EXPECT_EQ(port.error().kind(), ErrorKind::invalid_argument) << uri;
    EXPECT_NE(port.error().message().find("max_partial_bytes"), std::string::npos)
        << port.error().message();
  }
}

}  // namespace
}  // namespace nexo::msg
