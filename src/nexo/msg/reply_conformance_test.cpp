// Request-reply on one connection (Port::reply, Sender::receive) over every
// transport that carries replies; the others must say so, clearly.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "nexo/msg/conformance.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

using testing::kTransports;

using ReplyConformance = testing::TransportTest;

#define REQUIRE_REPLIES() \
  if (!GetParam().replies) GTEST_SKIP() << GetParam().name << " carries no replies"

INSTANTIATE_TEST_SUITE_P(Transports, ReplyConformance, ::testing::ValuesIn(kTransports),
                         testing::transport_name);
// ipc:// and IPv6 (issue 12)
INSTANTIATE_TEST_SUITE_P(LocalAndV6, ReplyConformance,
                         ::testing::ValuesIn(testing::kLocalAndV6Transports),
                         testing::transport_name);

TEST_P(ReplyConformance, ATransportWithoutRepliesSaysSo) {
  if (GetParam().replies) GTEST_SKIP() << GetParam().name << " carries replies";
  auto port = bind();
  auto sender = connect(*port);
  ASSERT_TRUE(sender->send("question", 5s));
  auto m = port->receive(5s);
  ASSERT_TRUE(m) << m.error().message();
  auto replied = port->reply(*m, "answer");
  ASSERT_FALSE(replied);
  EXPECT_TRUE(replied.error().is(ErrorKind::invalid_argument)) << replied.error().message();
  auto r = sender->receive(10ms);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::invalid_argument)) << r.error().message();
}

TEST_P(ReplyConformance, EachRequestGetsItsReplyInOrder) {
  REQUIRE_REPLIES();
  auto port = bind();
  auto sender = connect(*port);
  constexpr int kRounds = 500;
  std::thread server([&] {
    for (int i = 0; i < kRounds; ++i) {
      auto m = port->receive(10s);
      ASSERT_TRUE(m) << m.error().message();
      ASSERT_TRUE(port->reply(*m, "re:" + std::string(m->text())));
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    const std::string request = "q" + std::to_string(i);
    ASSERT_TRUE(sender->send(request, 10s));
    auto reply = sender->receive(10s);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->text(), "re:" + request);
    EXPECT_FALSE(reply->source().empty());
  }
  server.join();
  EXPECT_EQ(sender->stats().messages_in, static_cast<std::uint64_t>(kRounds));
  EXPECT_EQ(port->stats().messages_out, static_cast<std::uint64_t>(kRounds));
}

TEST_P(ReplyConformance, RepliesToSeveralSendersGoEachToItsOwn) {
  REQUIRE_REPLIES();
  auto port = bind();
  constexpr int kSenders = 4, kEach = 100;
  std::vector<std::unique_ptr<Sender>> senders;
  for (int s = 0; s < kSenders; ++s)
    senders.push_back(connect(*port));
  std::thread server([&] {
    for (int i = 0; i < kSenders * kEach; ++i) {
      auto m = port->receive(10s);
      ASSERT_TRUE(m) << m.error().message();
      ASSERT_TRUE(port->reply(*m, m->text()));
    }
  });
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int s = 0; s < kSenders; ++s) {
    clients.emplace_back([&, s] {
      for (int i = 0; i < kEach; ++i) {
        const std::string request = std::to_string(s) + "/" + std::to_string(i);
        if (!senders[s]->send(request, 10s)) return;
        auto reply = senders[s]->receive(10s);
        if (!reply || reply->text() != request) return;
        ++good;
      }
    });
  }
  for (auto& c : clients)
    c.join();
  server.join();
  EXPECT_EQ(good.load(), kSenders * kEach);
}

TEST_P(ReplyConformance, AHugeReplyArrivesIntact) {
  REQUIRE_REPLIES();
  auto port = bind();
  auto sender = connect(*port);
  Bytes big(GetParam().huge);
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<std::byte>(i * 7 + 3);
  ASSERT_TRUE(sender->send("give me the big one", 10s));
  auto m = port->receive(10s);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_TRUE(port->reply(*m, big));
  auto reply = sender->receive(20s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_TRUE(reply->data == big);
}

TEST_P(ReplyConformance, ReceiveWithoutAReplyTimesOutAndTryReceiveWouldBlock) {
  REQUIRE_REPLIES();
  auto port = bind();
  auto sender = connect(*port);
  auto r = sender->try_receive();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::would_block)) << r.error().message();
  auto t = sender->receive(30ms);
  ASSERT_FALSE(t);
  EXPECT_TRUE(t.error().is(ErrorKind::timed_out)) << t.error().message();
}

TEST_P(ReplyConformance, ACallbackReceiveIsServedInTheBackground) {
  REQUIRE_REPLIES();
  auto port = bind();
  auto sender = connect(*port);
  std::atomic<bool> called{false};
  std::string got;
  auto request = sender->receive_async();
  EXPECT_FALSE(request.test());
  request.then([&](Result<Message> m) {
    if (m) got = std::string(m->text());
    called = true;
  });
  ASSERT_TRUE(sender->send("ping", 5s));
  auto m = port->receive(5s);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_TRUE(port->reply(*m, "pong"));
  const auto deadline = io::Clock::now() + 5s;
  while (!called && io::Clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(called);
  EXPECT_EQ(got, "pong");
}

TEST_P(ReplyConformance, SynchronousSendsAndRepliesShareTheConnection) {
  REQUIRE_REPLIES();
  auto port = bind();
  auto sender = connect(*port);
  constexpr int kRounds = 200;
  std::thread server([&] {
    for (int i = 0; i < kRounds; ++i) {
      auto m = port->receive(10s);
      ASSERT_TRUE(m) << m.error().message();
      ASSERT_TRUE(port->reply(*m, m->text()));
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_TRUE(sender->send_sync(std::to_string(i), 10s));  // acknowledged: taken
    auto reply = sender->receive(10s);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->text(), std::to_string(i));
  }
  server.join();
}

TEST_P(ReplyConformance, ClosingTheSenderEndsAWaitingReceive) {
  REQUIRE_REPLIES();
  auto port = bind();
  auto sender = connect(*port);
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    sender->close();
  });
  auto r = sender->receive(10s);
  closer.join();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::closed)) << r.error().message();
}

TEST_P(ReplyConformance, AReplyToASenderThatIsGoneIsClosed) {
  REQUIRE_REPLIES();
  auto port = bind();
  auto sender = connect(*port);
  ASSERT_TRUE(sender->send("hello", 5s));
  auto m = port->receive(5s);
  ASSERT_TRUE(m) << m.error().message();
  sender.reset();
  // tcp:// learns it when the connection's end arrives: until then the reply
  // may still be written into the socket.
  const auto deadline = io::Clock::now() + 5s;
  Result<void> replied = ok();
  while (io::Clock::now() < deadline && (replied = port->reply(*m, "late")))
    std::this_thread::sleep_for(2ms);
  ASSERT_FALSE(replied);
  EXPECT_TRUE(replied.error().is(ErrorKind::closed) || replied.error().is(ErrorKind::reset))
      << replied.error().message();
}

// Replies nobody takes fill the sender's bounded queue; then the transport
// pushes back (would_block at the port), and nothing is lost.
TEST_P(ReplyConformance, RepliesNobodyTakesPushBackAndNothingIsLost) {
  REQUIRE_REPLIES();
  PortOptions port_options;
  port_options.max_reply_backlog = 64 * 1024;
  auto port = bind(port_options);
  SenderOptions options;
  options.replies.max_messages = 4;
  auto sender = connect(*port, options);
  ASSERT_TRUE(sender->send("flood me", 5s));
  auto m = port->receive(5s);
  ASSERT_TRUE(m) << m.error().message();
  const std::string filler(1000, 'r');
  int accepted = 0;
  Result<void> replied = ok();
  for (; accepted < 1'000'000; ++accepted) {
    replied = port->reply(*m, std::to_string(accepted) + ":" + filler);
    if (!replied) break;
  }
  ASSERT_FALSE(replied);
  EXPECT_TRUE(replied.error().is(ErrorKind::would_block)) << replied.error().message();
  for (int i = 0; i < accepted; ++i) {
    auto reply = sender->receive(10s);
    ASSERT_TRUE(reply) << "reply " << i << " of " << accepted << ": " << reply.error().message();
    ASSERT_EQ(reply->text(), std::to_string(i) + ":" + filler);
  }
  // Drained: the way back is open again.
  ASSERT_TRUE(port->reply(*m, "again"));
  auto again = sender->receive(10s);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->text(), "again");
}

// A server that replies to its last request and closes at once: the reply
// still arrives (the connection's end comes after it).
TEST_P(ReplyConformance, TheLastReplyArrivesThoughThePortClosesRightAfter) {
  REQUIRE_REPLIES();
  for (int round = 0; round < 20; ++round) {
    auto port = bind();
    auto sender = connect(*port);
    constexpr int kRequests = 5;
    std::thread server([&] {
      for (int i = 0; i < kRequests; ++i) {
        auto m = port->receive(10s);
        ASSERT_TRUE(m) << m.error().message();
        ASSERT_TRUE(port->reply(*m, m->text()));
      }
      port.reset();
    });
    for (int i = 0; i < kRequests; ++i) {
      ASSERT_TRUE(sender->send(std::to_string(i), 10s)) << "round " << round << " request " << i;
      auto reply = sender->receive(10s);
      ASSERT_TRUE(reply) << "round " << round << " request " << i << ": "
                         << reply.error().message();
      EXPECT_EQ(reply->text(), std::to_string(i));
    }
    server.join();
  }
}

// The reply and the connection's end both arrive before anyone receives: the
// reply is still there to take, then the end.
TEST_P(ReplyConformance, AReplyThatArrivedBeforeThePortClosedCanStillBeTaken) {
  REQUIRE_REPLIES();
  auto port = bind();
  auto sender = connect(*port);
  ASSERT_TRUE(sender->send("last words?", 5s));
  auto m = port->receive(5s);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_TRUE(port->reply(*m, "yes"));
  port.reset();
  std::this_thread::sleep_for(50ms);  // the I/O thread reads the reply and the end
  auto reply = sender->receive(5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "yes");
}

}  // namespace
}  // namespace nexo::msg
