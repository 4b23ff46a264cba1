// Who does a tcp:// port's I/O (tcp_engine.hpp): a thread blocked in a receive
// leads, other receiving threads follow, and the I/O thread takes over when
// nobody receives. Each test checks that no message is lost, duplicated or
// stuck whichever thread happens to read it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <latch>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

class TcpEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Context::create();
    ASSERT_TRUE(c) << c.error().message();
    context_ = std::move(*c);
    auto p = Port::bind(*context_, "tcp://127.0.0.1:0");
    ASSERT_TRUE(p) << p.error().message();
    port_ = std::move(*p);
  }
  std::unique_ptr<Sender> connect() {
    auto s = Sender::connect(*context_, port_->uri().to_string());
    EXPECT_TRUE(s) << s.error().message();
    return std::move(s).value();
  }
  // Waits (with a deadline, no sleeps in the loop's logic) until `done()`.
  template <class F>
  static bool eventually(F done, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }
  std::unique_ptr<Context> context_;
  std::unique_ptr<Port> port_;
};

TEST_F(TcpEngineTest, TheIoThreadTakesOverWhenNobodyReceives) {
  auto sender = connect();
  ASSERT_TRUE(sender->send("first"));
  auto first = port_->receive(5000ms);  // this thread leads and reads it
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->text(), "first");
  // Nobody receives now: the I/O thread must read the next ones into the queue.
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(sender->send("later"));
  EXPECT_TRUE(eventually([&] { return port_->queued() == 3; })) << port_->queued();
}

TEST_F(TcpEngineTest, ACallbackReceiveIsServedWhileNobodyBlocks) {
  auto sender = connect();
  ASSERT_TRUE(sender->send("warm-up"));
  ASSERT_TRUE(port_->receive(5000ms));  // leaves the I/O thread stepped aside for a moment
  std::atomic<int> got{0};
  port_->receive_async().then([&](Result<Message> m) {
    if (m && m->text() == "by callback") got = 1;
  });
  ASSERT_TRUE(sender->send("by callback"));
  EXPECT_TRUE(eventually([&] { return got.load() == 1; }));
}

TEST_F(TcpEngineTest, ABlockedReceiverAndACallbackShareTheMessagesExactlyOnce) {
  constexpr int kCount = 2000;
  std::mutex mutex;
  std::multiset<std::string> seen;
  std::atomic<int> total{0};
  std::function<void(Result<Message>)> on_message = [&](Result<Message> m) {
    if (!m) return;
    {
      std::lock_guard lock(mutex);
      seen.insert(std::string(m->text()));
    }
    if (++total < kCount) port_->receive_async().then(on_message);
  };
  port_->receive_async().then(on_message);
  // Stopped (and joined) when the test ends, whichever way it ends.
  std::jthread blocked([&](std::stop_token stop) {
    while (!stop.stop_requested() && total.load() < kCount) {
      auto m = port_->receive(50ms);
      if (!m) continue;
      {
        std::lock_guard lock(mutex);
        seen.insert(std::string(m->text()));
      }
      ++total;
    }
  });
  auto sender = connect();
  for (int i = 0; i < kCount; ++i)
    ASSERT_TRUE(sender->send(std::to_string(i)));
  ASSERT_TRUE(eventually([&] { return total.load() >= kCount; }, 10000ms)) << total.load();
  blocked.request_stop();
  blocked.join();
  std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i)
    EXPECT_EQ(seen.count(std::to_string(i)), 1u) << i;
}

// The sending and receiving threads only record; the test thread asserts once
// they are joined. Receivers stop when everything arrived, or when the test
// thread gives up (a sender failed, or the deadline passed).
TEST_F(TcpEngineTest, ReceivingThreadsTakeTurnsLeadingAndNoMessageIsLost) {
  constexpr int kThreads = 4, kSenders = 3, kEach = 3000;
  constexpr int kTotal = kSenders * (kEach + 1);  // each sender: kEach, then one synchronous
  std::atomic<int> total{0};
  std::vector<std::vector<int>> order(kSenders);  // per sender, as received
  std::vector<std::string> failures(kSenders);    // per sender, asserted below
  std::mutex mutex;
  std::vector<std::jthread> receivers;
  for (int t = 0; t < kThreads; ++t) {
    receivers.emplace_back([&](std::stop_token stop) {
      while (!stop.stop_requested() && total.load() < kTotal) {
        auto m = port_->receive(20ms);
        if (!m) continue;
        const std::string text(m->text());
        const auto colon = text.find(':');
        std::lock_guard lock(mutex);
        order[std::stoul(text.substr(0, colon))].push_back(std::stoi(text.substr(colon + 1)));
        ++total;
      }
    });
  }
  {
    std::vector<std::jthread> senders;
    for (int s = 0; s < kSenders; ++s) {
      senders.emplace_back([&, s] {
        const std::string uri = port_->uri().to_string();
        auto sender = Sender::connect(*context_, uri);
        if (!sender) {
          failures[s] = "connect: " + sender.error().message();
          return;
        }
        for (int i = 0; i <= kEach; ++i) {
          const std::string text = std::to_string(s) + ":" + std::to_string(i);
          auto sent = i < kEach ? (*sender)->send(text) : (*sender)->send_sync(text, 5000ms);
          if (!sent) {
            failures[s] = "send " + std::to_string(i) + ": " + sent.error().message();
            return;
          }
        }
      });
    }
  }  // senders joined
  const bool all_failures_empty =
      std::all_of(failures.begin(), failures.end(), [](const auto& f) { return f.empty(); });
  const bool arrived = all_failures_empty && eventually([&] { return total.load() >= kTotal; },
                                                        30000ms);
  for (auto& t : receivers) {
    t.request_stop();
    t.join();
  }
  for (int s = 0; s < kSenders; ++s)
    EXPECT_EQ(failures[s], "") << "sender " << s;
  ASSERT_TRUE(arrived) << total.load() << " of " << kTotal << " arrived";
  for (int s = 0; s < kSenders; ++s) {
    std::vector<int> sorted = order[s];
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted.size(), static_cast<std::size_t>(kEach + 1)) << "sender " << s;
    for (int i = 0; i <= kEach; ++i)
      ASSERT_EQ(sorted[i], i) << "sender " << s;
  }
}

TEST_F(TcpEngineTest, ClosingThePortReleasesTheLeadingThread) {
  std::latch started(1);
  Result<Message> got = Error(ErrorKind::system, "not yet");
  // Far longer than the test needs: only the close should end it; a timed_out
  // below means the close did not, and the wait is still bounded.
  std::jthread receiver([&] {
    started.count_down();
    got = port_->receive(60s);
  });
  started.wait();
  auto sender = connect();  // give the leader something to watch
  const bool connected = eventually([&] { return port_->connection_count() == 1; });
  port_->close();
  receiver.join();
  ASSERT_TRUE(connected);
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error().is(ErrorKind::closed)) << got.error().message();
}

TEST_F(TcpEngineTest, CancelingAWaitedReceiveEndsTheWaitThatLeads) {
  auto request = port_->receive_async();
  std::optional<Result<Message>> got;
  // Leads: drives the port's I/O. Bounded: only the cancel should end it.
  std::jthread waiter([&] { got = request.wait_for(60s); });
  std::this_thread::yield();
  request.cancel();
  waiter.join();
  ASSERT_TRUE(got.has_value()) << "the cancel did not end the wait";
  ASSERT_FALSE(*got);
  EXPECT_TRUE(got->error().is(ErrorKind::canceled)) << got->error().message();
  // The port still works, and nothing was swallowed.
  auto sender = connect();
  ASSERT_TRUE(sender->send("after"));
  auto after = port_->receive(5000ms);
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(after->text(), "after");
}

TEST_F(TcpEngineTest, ASynchronousSendIsAcknowledgedByTheLeadingReceiver) {
  auto sender = connect();
  std::string failure;  // recorded by the receiving thread, asserted after the join
  std::jthread receiver([&] {
    for (int i = 0; i < 100; ++i) {
      if (auto m = port_->receive(5000ms); !m) {
        failure = "receive " + std::to_string(i) + ": " + m.error().message();
        return;
      }
    }
  });
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(sender->send_sync("sync", 5000ms)) << i;
  receiver.join();
  EXPECT_EQ(failure, "");
}

TEST_F(TcpEngineTest, AFullQueuePausesTheSenderAndResumesAtHalf) {
  PortOptions options;
  options.queue.max_messages = 8;
  auto small = Port::bind(*context_, "tcp://127.0.0.1:0", options);
  ASSERT_TRUE(small);
  auto sender = Sender::connect(*context_, (*small)->uri().to_string());
  ASSERT_TRUE(sender);
  constexpr int kCount = 5000;
  std::string failure;  // recorded by the producing thread, asserted after the join
  std::jthread producer([&](std::stop_token stop) {
    for (int i = 0; i < kCount && !stop.stop_requested(); ++i) {
      if (auto sent = (*sender)->send(std::to_string(i), 5000ms); !sent) {
        failure = "send " + std::to_string(i) + ": " + sent.error().message();
        return;
      }
    }
  });
  ASSERT_TRUE(eventually([&] { return (*small)->queued() == 8; }));  // full: the I/O thread paused
  for (int i = 0; i < kCount; ++i) {
    auto m = (*small)->receive(5000ms);
    ASSERT_TRUE(m) << i << ": " << m.error().message();
    ASSERT_EQ(m->text(), std::to_string(i));
  }
  producer.join();
  EXPECT_EQ(failure, "");
  EXPECT_LE((*small)->stats().queue_high_water, 8u);
}

// The sender's output is kept in 64 KiB chunks (a larger frame gets one of its
// own) and written up to 64 chunks at a time: frames of every size around
// those bounds, queued far ahead of the reader, arrive whole and in order.
TEST_F(TcpEngineTest, MessagesOfEverySizeAroundTheSendersChunksArriveWholeAndInOrder) {
  auto sender = connect();
  const std::vector<std::size_t> sizes = {0,     1,     100,   65'531, 65'535, 65'536, 65'537,
                                          70'000, 5 << 20, 3,   131'072, 40'000, 64, 200'000};
  constexpr int kRounds = 12;
  auto body = [](std::size_t n, std::size_t seed) {
    Bytes b(n);
    for (std::size_t j = 0; j < n; ++j)
      b[j] = static_cast<std::byte>((seed * 131 + j) & 0xff);
    return b;
  };
  std::optional<Error> send_error;
  std::thread producer([&] {
    std::size_t seed = 0;
    for (int round = 0; round < kRounds; ++round) {
      for (std::size_t n : sizes) {
        const Bytes b = body(n, seed++);
        for (;;) {
          auto queued = sender->enqueue(b);
          if (queued) break;
          if (!queued.error().is(ErrorKind::would_block)) {
            send_error = queued.error();
            return;
          }
          if (auto room = sender->wait_for_room(5000ms); !room) {
            send_error = room.error();
            return;
          }
        }
      }
    }
  });
  std::size_t seed = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (std::size_t n : sizes) {
      auto m = port_->receive(5000ms);
      ASSERT_TRUE(m) << round << "/" << n << ": " << m.error().message();
      ASSERT_EQ(m->size(), n);
      ASSERT_TRUE(m->data == body(n, seed)) << "message " << seed << " of " << n << " bytes";
      ++seed;
    }
  }
  producer.join();
  EXPECT_FALSE(send_error) << send_error->message();
  ASSERT_TRUE(sender->flush(5000ms));
}

}  // namespace
}  // namespace nexo::msg
