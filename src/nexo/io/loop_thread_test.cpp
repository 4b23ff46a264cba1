#include "nexo/io/loop_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

#include "nexo/io/timer.hpp"

namespace nexo::io {
namespace {

using namespace std::chrono_literals;

TEST(LoopThread, CallRunsOnTheLoopThreadAndReturnsTheResult) {
  auto thread = LoopThread::start();
  ASSERT_TRUE(thread) << thread.error().message();
  EXPECT_FALSE((*thread)->in_loop_thread());
  auto on_loop =
      (*thread)->call<bool>([&]() -> Result<bool> { return (*thread)->in_loop_thread(); });
  ASSERT_TRUE(on_loop);
  EXPECT_TRUE(*on_loop);
  auto failed =
      (*thread)->call<int>([]() -> Result<int> { return Error(ErrorKind::closed, "gone"); });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "gone");
}

TEST(LoopThread, TimersRunOnTheLoopThread) {
  auto thread = LoopThread::start();
  ASSERT_TRUE(thread);
  LoopThread& lt = **thread;
  std::latch fired(1);
  std::unique_ptr<Timer> timer;
  ASSERT_TRUE(lt.call<bool>([&]() -> Result<bool> {
    timer = std::make_unique<Timer>(lt.loop(), [&] { fired.count_down(); });
    timer->start(5ms);
    return true;
  }));
  // Waits for the timer with a deadline (a failure bound only), then destroys
  // it on the loop thread whether it fired or not, before asserting.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!fired.try_wait() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  const bool did_fire = fired.try_wait();
  ASSERT_TRUE(lt.call<bool>([&]() -> Result<bool> {
                  timer.reset();  // destroyed on the loop thread, before the loop
                  return lt.loop().registered_count() == 0;
                }).value());
  EXPECT_TRUE(did_fire) << "the timer did not fire within 10 s";
}

TEST(LoopThread, TasksPostedFromManyThreadsAllRun) {
  std::atomic<int> ran{0};
  {
    auto thread = LoopThread::start();
    ASSERT_TRUE(thread);
    std::vector<std::jthread> posters;
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&] {
        for (int i = 0; i < 1000; ++i)
          (*thread)->post([&] { ++ran; });
      });
    }
  }  // posters joined, then the loop thread stopped: every task ran, none dropped
  EXPECT_EQ(ran, 4000);
}

}  // namespace
}  // namespace nexo::io
