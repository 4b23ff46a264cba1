// Request-reply on one connection (Port::reply, Sender::receive) over every
// transport that carries replies; the others must say so, clearly.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "nexo/msg/conformance.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

using testing::kTransports;

using testing::Traits;

// The transports that carry replies; the others only say that they do not
// (NoReplies). Each test runs where it applies: nothing is skipped.
using ReplyConformance = testing::TransportTest;
using NoReplies = testing::TransportTest;

INSTANTIATE_TEST_SUITE_P(Transports, ReplyConformance,
                         ::testing::ValuesIn(testing::transports_where(&Traits::replies)),
                         testing::transport_name);
INSTANTIATE_TEST_SUITE_P(Transports, NoReplies,
                         ::testing::ValuesIn(testing::transports_where(&Traits::replies, false)),
                         testing::transport_name);

// Serves `count` requests on its own thread, replying `prefix` + the request,
// then runs `after`. A failure is recorded, not asserted (an assertion off the
// test thread would end the whole binary): join, then ASSERT_EQ(failure, "").
std::jthread serve(Port& port, int count, std::string& failure, std::string prefix = "",
                   std::function<void()> after = {}) {
  return std::jthread([&port, count, &failure, prefix = std::move(prefix), after = std::move(after)] {
    for (int i = 0; i < count; ++i) {
      auto m = port.receive(10s);
      if (!m) {
        failure = "request " + std::to_string(i) + ": " + m.error().message();
        return;
      }
      if (auto r = port.reply(*m, prefix + std::string(m->text())); !r) {
        failure = "reply " + std::to_string(i) + ": " + r.error().message();
        return;
      }
    }
    if (after) after();
  });
}

TEST_P(NoReplies, ATransportWithoutRepliesSaysSo) {
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
  auto port = bind();
  auto sender = connect(*port);
  constexpr int kRounds = 500;
  std::string failure;
  auto server = serve(*port, kRounds, failure, "re:");
  for (int i = 0; i < kRounds; ++i) {
    const std::string request = "q" + std::to_string(i);
    ASSERT_TRUE(sender->send(request, 10s));
    auto reply = sender->receive(10s);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->text(), "re:" + request);
    EXPECT_FALSE(reply->source().empty());
  }
  server.join();
  ASSERT_EQ(failure, "");
  EXPECT_EQ(sender->stats().messages_in, static_cast<std::uint64_t>(kRounds));
  EXPECT_EQ(port->stats().messages_out, static_cast<std::uint64_t>(kRounds));
}

TEST_P(ReplyConformance, RepliesToSeveralSendersGoEachToItsOwn) {
  auto port = bind();
  constexpr int kSenders = 4, kEach = 100;
  std::vector<std::unique_ptr<Sender>> senders;
  for (int s = 0; s < kSenders; ++s)
    senders.push_back(connect(*port));
  std::string failure;
  auto server = serve(*port, kSenders * kEach, failure);
  std::vector<std::string> client_failures(kSenders);  // per client thread, asserted below
  std::atomic<int> good{0};
  {
    std::vector<std::jthread> clients;
    for (int s = 0; s < kSenders; ++s) {
      clients.emplace_back([&, s] {
        for (int i = 0; i < kEach; ++i) {
          const std::string request = std::to_string(s) + "/" + std::to_string(i);
          if (auto sent = senders[s]->send(request, 10s); !sent) {
            client_failures[s] = "send " + request + ": " + sent.error().message();
            return;
          }
          auto reply = senders[s]->receive(10s);
          if (!reply || reply->text() != request) {
            client_failures[s] = "reply to " + request + ": " +
                                 (reply ? "'" + std::string(reply->text()) + "'"
                                        : reply.error().message());
            return;
          }
          ++good;
        }
      });
    }
  }  // clients joined
  server.join();
  EXPECT_EQ(failure, "");
  for (int s = 0; s < kSenders; ++s)
    EXPECT_EQ(client_failures[s], "") << "client " << s;
  EXPECT_EQ(good.load(), kSenders * kEach);
}

TEST_P(ReplyConformance, AHugeReplyArrivesIntact) {
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
  auto port = bind();
  auto sender = connect(*port);
  constexpr int kRounds = 200;
  std::string failure;
  auto server = serve(*port, kRounds, failure);
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_TRUE(sender->send_sync(std::to_string(i), 10s));  // acknowledged: taken
    auto reply = sender->receive(10s);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->text(), std::to_string(i));
  }
  server.join();
  ASSERT_EQ(failure, "");
}

TEST_P(ReplyConformance, ClosingTheSenderEndsAWaitingReceive) {
  auto port = bind();
  auto sender = connect(*port);
  // The closer waits until the receive is under way (or as near as the test
  // can see: the flag is set just before it starts); either way it must end.
  std::atomic<bool> receiving{false};
  std::jthread closer([&] {
    while (!receiving)
      std::this_thread::yield();
    sender->close();
  });
  receiving = true;
  auto r = sender->receive(10s);
  closer.join();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::closed)) << r.error().message();
}

// A thread that waits for a reply drives the connection itself (on tcp:// and
// ipc:// it waits in the socket's read). Whatever ends its wait from another
// thread must reach it there: a cancel, and a send that the I/O thread
// finishes writing while it waits.
TEST_P(ReplyConformance, CancellingAWaitedReceiveFromAnotherThreadEndsTheWait) {
  auto port = bind();
  auto sender = connect(*port);
  auto request = sender->receive_async();
  std::atomic<bool> waiting{false};
  std::jthread canceller([&] {
    while (!waiting)
      std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // into the wait, most likely; it must end either way
    request.cancel();
  });
  waiting = true;
  auto r = request.wait_until(io::Clock::now() + 10s);
  canceller.join();
  ASSERT_TRUE(r.has_value()) << "the wait did not end";
  ASSERT_FALSE(*r);
  EXPECT_TRUE(r->error().is(ErrorKind::canceled)) << r->error().message();
}

TEST_P(ReplyConformance, ALargeSendCompletesWhileAnotherThreadWaitsForAReply) {
  auto port = bind();
  auto sender = connect(*port);
  Result<Message> reply = Error(ErrorKind::timed_out, "not received");
  std::jthread receiver([&] { reply = sender->receive(10s); });
  const Bytes big(4 << 20, std::byte{7});  // more than the socket takes at once
  auto sent = sender->send_async(big);
  ASSERT_TRUE(sent) << sent.error().message();
  auto request = port->receive(10s);
  ASSERT_TRUE(request) << request.error().message();
  EXPECT_EQ(request->data.size(), big.size());
  auto done = sent->wait_until(io::Clock::now() + 10s);
  ASSERT_TRUE(done.has_value()) << "the send did not complete";
  EXPECT_TRUE(*done) << done->error().message();
  ASSERT_TRUE(port->reply(*request, "pong"));
  receiver.join();
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "pong");
}

TEST_P(ReplyConformance, AReplyToASenderThatIsGoneIsClosed) {
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
  for (int round = 0; round < 20; ++round) {
    auto port = bind();
    auto sender = connect(*port);
    constexpr int kRequests = 5;
    std::string failure;
    auto server = serve(*port, kRequests, failure, "", [&] { port.reset(); });
    for (int i = 0; i < kRequests; ++i) {
      ASSERT_TRUE(sender->send(std::to_string(i), 10s)) << "round " << round << " request " << i;
      auto reply = sender->receive(10s);
      ASSERT_TRUE(reply) << "round " << round << " request " << i << ": "
                         << reply.error().message();
      EXPECT_EQ(reply->text(), std::to_string(i));
    }
    server.join();
    ASSERT_EQ(failure, "") << "round " << round;
  }
}

// The reply and the connection's end both arrive before anyone receives: the
// reply is still there to take, then the end.
TEST_P(ReplyConformance, AReplyThatArrivedBeforeThePortClosedCanStillBeTaken) {
  auto port = bind();
  auto sender = connect(*port);
  ASSERT_TRUE(sender->send("last words?", 5s));
  auto m = port->receive(5s);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_TRUE(port->reply(*m, "yes"));
  port.reset();
  // Wait (with a deadline, no sleep) until the reply is counted and, over a
  // connection (the I/O thread reads it), the sender has seen the end: it
  // reports the failure. inproc:// hands the reply over within reply().
  const bool connection = GetParam().buffered;
  const auto deadline = io::Clock::now() + 5s;
  Result<void> room = ok();
  while (io::Clock::now() < deadline &&
         (sender->stats().messages_in == 0 ||
          (connection && ((room = sender->wait_for_room(0ms)) ||
                          room.error().is(ErrorKind::timed_out)))))
    std::this_thread::yield();
  ASSERT_EQ(sender->stats().messages_in, 1u) << "the reply was never read";
  if (connection) {
    ASSERT_FALSE(room) << "the sender never saw the port's end";
  }
  auto reply = sender->receive(5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "yes");
}

}  // namespace
}  // namespace nexo::msg
