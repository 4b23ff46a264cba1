#include "nexo/io/event_loop.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "nexo/io/io_watcher.hpp"
#include "nexo/io/timer.hpp"

namespace nexo::io {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<EventLoop> make_loop() {
  auto loop = EventLoop::create();
  EXPECT_TRUE(loop) << loop.error().message();
  return std::move(loop).value();
}

struct SocketPair {
  net::FileDescriptor a, b;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
};

// Runs iterations until `done` or a 5 s deadline; the deadline fails the test, never hangs it.
template <class Pred>
void run_until(EventLoop& loop, Pred done) {
  const auto deadline = Clock::now() + 5s;
  while (!done() && Clock::now() < deadline)
    loop.run_once(50ms);
  ASSERT_TRUE(done()) << "condition not reached within 5 s";
}

TEST(EventLoop, ReadableWatcherFiresAndStops) {
  auto loop = make_loop();
  SocketPair pair;
  int calls = 0;
  std::uint32_t seen = 0;
  ssize_t read_result = 0;  // recorded by the callback, asserted by the test
  IoWatcher watcher(*loop, pair.a.get(), [&](std::uint32_t r) {
    ++calls;
    seen = r;
    char c;
    read_result = ::read(pair.a.get(), &c, 1);
  });
  ASSERT_TRUE(watcher.start(kReadable));
  EXPECT_EQ(loop->registered_count(), 1u);
  EXPECT_EQ(loop->run_once(0ms), 0u);  // nothing to read yet
  ASSERT_EQ(::write(pair.b.get(), "x", 1), 1);
  run_until(*loop, [&] { return calls == 1; });
  EXPECT_TRUE(seen & kReadable);
  EXPECT_EQ(read_result, 1);
  watcher.stop();
  watcher.stop();  // idempotent
  ASSERT_EQ(::write(pair.b.get(), "y", 1), 1);
  loop->run_once(20ms);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(loop->registered_count(), 0u);
}

TEST(EventLoop, WritableAndHangupAreReported) {
  auto loop = make_loop();
  SocketPair pair;
  std::uint32_t seen = 0;
  IoWatcher watcher(*loop, pair.a.get(), [&](std::uint32_t r) { seen |= r; });
  ASSERT_TRUE(watcher.start(kWritable));
  run_until(*loop, [&] { return (seen & kWritable) != 0; });
  ASSERT_TRUE(watcher.start(kReadable));  // change the interest
  EXPECT_EQ(watcher.interest(), kReadable);
  seen = 0;
  pair.b.reset();  // the peer goes away
  run_until(*loop, [&] { return (seen & kHangup) != 0; });
}

TEST(EventLoop, AWatcherDestroyedByAnEarlierCallbackIsNotCalled) {
  auto loop = make_loop();
  SocketPair one, two;
  std::unique_ptr<IoWatcher> w1, w2;
  int calls = 0;
  w1 = std::make_unique<IoWatcher>(*loop, one.a.get(), [&](std::uint32_t) {
    ++calls;
    w2.reset();
  });
  w2 = std::make_unique<IoWatcher>(*loop, two.a.get(), [&](std::uint32_t) {
    ++calls;
    w1.reset();
  });
  ASSERT_TRUE(w1->start(kReadable));
  ASSERT_TRUE(w2->start(kReadable));
  ASSERT_EQ(::write(one.b.get(), "x", 1), 1);
  ASSERT_EQ(::write(two.b.get(), "x", 1), 1);
  loop->run_once(1s);  // both are ready in this one batch
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(loop->registered_count(), 1u);
  w1.reset();
  w2.reset();
  EXPECT_EQ(loop->registered_count(), 0u);
}

TEST(EventLoop, PostFromAnotherThreadRunsOnTheLoopThread) {
  auto loop = make_loop();
  std::atomic<int> ran{0};
  std::thread::id ran_on;
  std::jthread poster([&] {
    for (int i = 0; i < 1000; ++i) {
      loop->post([&] {
        ran_on = std::this_thread::get_id();
        if (++ran == 1000) loop->stop();
      });
    }
  });
  loop->run();  // returns when the 1000th task stops it
  EXPECT_EQ(ran, 1000);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_TRUE(loop->in_loop_thread());
}

TEST(EventLoop, TasksPostedByTasksRunInTheNextIteration) {
  auto loop = make_loop();
  std::vector<int> order;
  loop->post([&] {
    order.push_back(1);
    loop->post([&] { order.push_back(3); });
  });
  loop->post([&] { order.push_back(2); });
  EXPECT_EQ(loop->run_once(0ms), 2u);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  loop->run_once(0ms);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoop, StopFromAnotherThreadEndsRun) {
  auto loop = make_loop();
  std::jthread stopper([&] { loop->stop(); });
  loop->run();  // must return (the ctest timeout would catch a hang)
  SUCCEED();
}

TEST(EventLoop, RunOnceHonoursItsLimit) {
  auto loop = make_loop();
  const auto start = Clock::now();
  EXPECT_EQ(loop->run_once(20ms), 0u);
  EXPECT_GE(Clock::now() - start,
            20ms);  // an ordering fact (never returns early), not a timing bound
}

TEST(Timer, FiresOnceNeverEarly) {
  auto loop = make_loop();
  int fired = 0;
  Clock::time_point fired_at;
  Timer timer(*loop, [&] {
    ++fired;
    fired_at = Clock::now();
  });
  timer.start(30ms);
  EXPECT_TRUE(timer.armed());
  const auto deadline = timer.deadline();
  run_until(*loop, [&] { return fired == 1; });
  EXPECT_GE(fired_at, deadline);
  EXPECT_FALSE(timer.armed());
  loop->run_once(50ms);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(loop->registered_count(), 0u);
}

TEST(Timer, RepeatsUntilStopped) {
  auto loop = make_loop();
  int fired = 0;
  std::unique_ptr<Timer> timer;
  timer = std::make_unique<Timer>(*loop, [&] {
    if (++fired == 5) timer->stop();  // a callback may stop its own timer
  });
  timer->start(1ms, 1ms);
  run_until(*loop, [&] { return fired == 5; });
  loop->run_once(20ms);
  EXPECT_EQ(fired, 5);
  EXPECT_FALSE(timer->armed());
  EXPECT_EQ(loop->registered_count(), 0u);
}

TEST(Timer, StoppedNeverFiresAndRestartReplacesTheDeadline) {
  auto loop = make_loop();
  int a_fired = 0, b_fired = 0;
  Timer a(*loop, [&] { ++a_fired; });
  Timer b(*loop, [&] { ++b_fired; });
  a.start(5ms);
  a.stop();
  b.start(std::chrono::hours(1));
  b.start(5ms);
  run_until(*loop, [&] { return b_fired == 1; });
  loop->run_once(30ms);
  EXPECT_EQ(a_fired, 0);
  EXPECT_EQ(b_fired, 1);
}

TEST(Timer, FireInDeadlineOrder) {
  auto loop = make_loop();
  std::vector<int> order;
  Timer t1(*loop, [&] { order.push_back(1); });
  Timer t2(*loop, [&] { order.push_back(2); });
  Timer t3(*loop, [&] { order.push_back(3); });
  const auto base = Clock::now();
  t1.start_at(base + 30ms);
  t2.start_at(base + 10ms);
  t3.start_at(base + 20ms);
  run_until(*loop, [&] { return order.size() == 3; });
  EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
}

TEST(Timer, ATimerStartedByACallbackFiresInALaterIteration) {
  auto loop = make_loop();
  int second_fired = 0;
  Timer second(*loop, [&] { ++second_fired; });
  Timer first(*loop, [&] { second.start(0ms); });
  first.start(0ms);
  loop->run_once(1s);
  EXPECT_EQ(second_fired, 0);
  run_until(*loop, [&] { return second_fired == 1; });
}

TEST(Timer, RestartingOftenDoesNotGrowTheQueue) {
  auto loop = make_loop();
  int fired = 0;
  Timer timer(*loop, [&] { ++fired; });
  for (int i = 0; i < 100'000; ++i)
    timer.start(std::chrono::hours(1));  // e.g. a keepalive reset per packet
  EXPECT_LE(loop->timer_queue_size(), 200u);
  EXPECT_EQ(loop->registered_count(), 1u);
  timer.start(1ms);
  run_until(*loop, [&] { return fired == 1; });
}

}  // namespace
}  // namespace nexo::io
