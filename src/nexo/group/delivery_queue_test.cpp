// DeliveryQueue: FIFO across push() and push_all() batches (the ring wraps
// and grows), waiting receive_async requests served first and in order, a
// blocked take() woken by a batch, close() and cancel(). Every wait has a
// deadline that fails the test; nothing asserts on speed.
#include "nexo/group/delivery_queue.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace nexo::group {
namespace {

using namespace std::chrono_literals;
constexpr auto kWait = 20s;  // a failure bound only

Delivery numbered(std::uint64_t seq) {
  Delivery d;
  d.sender = 7;
  d.seq = seq;
  d.payload = Bytes(seq % 5 + 1, std::byte{static_cast<unsigned char>(seq)});
  return d;
}

std::vector<Delivery> batch_of(std::uint64_t first, std::size_t count) {
  std::vector<Delivery> out;
  for (std::size_t i = 0; i < count; ++i)
    out.push_back(numbered(first + i));
  return out;
}

// Waits (yielding, with a deadline) until `n` take() calls sleep in `queue`.
bool until_sleeping(const DeliveryQueue& queue, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (queue.sleeping() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Every field crosses, the recovered message's missing_since included
// (the application times loss recovery from it).
TEST(DeliveryQueue, ADeliveryCrossesWhole) {
  DeliveryQueue q;
  Delivery d = numbered(3);
  d.view = 9;
  d.meta = Bytes(2, std::byte{5});
  d.control = true;
  d.missing_since = Time{} + 42ms;
  std::vector<Delivery> batch{numbered(4), std::move(d)};
  std::swap(batch[0], batch[1]);
  q.push_all(batch);
  auto got = q.try_take();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->sender, 7u);
  EXPECT_EQ(got->view, 9u);
  EXPECT_EQ(got->seq, 3u);
  EXPECT_EQ(got->payload, numbered(3).payload);
  EXPECT_EQ(got->meta, Bytes(2, std::byte{5}));
  EXPECT_TRUE(got->control);
  EXPECT_EQ(got->missing_since, Time{} + 42ms);
  got = q.try_take();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->seq, 4u);
  EXPECT_EQ(got->missing_since, Time{});  // came in order
}

TEST(DeliveryQueue, BatchesAndSinglePushesStayInOrderAsTheRingWrapsAndGrows) {
  DeliveryQueue q;
  std::uint64_t pushed = 1, taken = 1;
  // Take a little less than is pushed each time: the head moves round the
  // ring while it fills, so it grows while wrapped.
  for (std::size_t round = 0; round < 40; ++round) {
    auto batch = batch_of(pushed, 1 + round * 7 % 53);
    pushed += batch.size();
    q.push_all(batch);
    ASSERT_FALSE(batch.empty());  // copied: the caller keeps its buffers
    EXPECT_EQ(batch.front().payload, numbered(pushed - batch.size()).payload);
    q.push(numbered(pushed++));
    for (std::size_t k = 0; k < round % 23 + 1 && taken < pushed; ++k) {
      auto d = q.try_take();
      ASSERT_TRUE(d) << d.error().message();
      ASSERT_EQ(d->seq, taken);
      ASSERT_EQ(d->payload, numbered(taken).payload);
      ++taken;
    }
  }
  EXPECT_EQ(q.size(), pushed - taken);
  while (taken < pushed) {
    auto d = q.take(kWait);
    ASSERT_TRUE(d) << d.error().message();
    ASSERT_EQ(d->seq, taken++);
  }
  auto none = q.try_take();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::would_block);
}

TEST(DeliveryQueue, ARingGrownByABurstStillKeepsOrderAfterItIsGivenBack) {
  DeliveryQueue q;
  std::uint64_t next = 1;
  for (int burst = 0; burst < 3; ++burst) {
    auto batch = batch_of(next, 10'000);
    const std::uint64_t end = next + batch.size();
    q.push_all(batch);
    while (next < end) {
      auto d = q.try_take();
      ASSERT_TRUE(d) << d.error().message();
      ASSERT_EQ(d->seq, next++);
    }
    EXPECT_EQ(q.size(), 0u);
    q.push(numbered(next));  // into a fresh ring
    EXPECT_EQ(q.try_take()->seq, next++);
  }
}

TEST(DeliveryQueue, ABatchServesWaitingReceiveAsyncFirstOldestFirst) {
  DeliveryQueue q;
  std::vector<io::Request<Delivery>> waiting;
  for (int i = 0; i < 3; ++i)
    waiting.push_back(q.take_async());
  std::promise<std::uint64_t> by_callback;
  q.take_async().then([&](Result<Delivery> d) { by_callback.set_value(d ? d->seq : 0); });
  auto canceled = q.take_async();
  canceled.cancel();
  for (const auto& w : waiting)
    EXPECT_FALSE(w.test());

  auto batch = batch_of(1, 6);
  q.push_all(batch);
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto d = waiting[i].wait_for(kWait);
    ASSERT_TRUE(d && *d);
    EXPECT_EQ((*d)->seq, i + 1);
  }
  auto fourth = by_callback.get_future();
  ASSERT_EQ(fourth.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(fourth.get(), 4u);
  auto c = canceled.wait();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind(), ErrorKind::canceled);
  for (std::uint64_t seq = 5; seq <= 6; ++seq) {  // the rest was queued, in order
    auto d = q.try_take();
    ASSERT_TRUE(d);
    EXPECT_EQ(d->seq, seq);
  }
  EXPECT_EQ(q.size(), 0u);
}

TEST(DeliveryQueue, ABatchWakesEveryBlockedTake) {
  DeliveryQueue q;
  auto taker = [&q] {
    auto d = q.take(std::nullopt);
    return d ? d->seq : std::uint64_t{0};
  };
  auto a = std::async(std::launch::async, taker);
  auto b = std::async(std::launch::async, taker);
  ASSERT_TRUE(until_sleeping(q, 2));
  auto batch = batch_of(1, 2);
  q.push_all(batch);
  ASSERT_EQ(a.wait_for(kWait), std::future_status::ready);
  ASSERT_EQ(b.wait_for(kWait), std::future_status::ready);
  const std::uint64_t got_a = a.get(), got_b = b.get();
  EXPECT_EQ(got_a + got_b, 3u);  // one each: 1 and 2
  EXPECT_NE(got_a, got_b);
  EXPECT_EQ(q.sleeping(), 0u);

  auto c = std::async(std::launch::async, taker);  // a single push wakes it too
  ASSERT_TRUE(until_sleeping(q, 1));
  q.push(numbered(3));
  ASSERT_EQ(c.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(c.get(), 3u);
}

TEST(DeliveryQueue, CloseLetsQueuedDeliveriesGoFirstThenSaysClosed) {
  DeliveryQueue q;
  auto early = q.take_async();
  auto sleeper = std::async(std::launch::async, [&q] { return q.take(std::nullopt); });
  ASSERT_TRUE(until_sleeping(q, 1));
  auto batch = batch_of(1, 1);
  q.push_all(batch);  // to the receive_async, not the sleeper
  auto first = early.wait_for(kWait);
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->seq, 1u);
  q.close();
  ASSERT_EQ(sleeper.wait_for(kWait), std::future_status::ready);
  auto woken = sleeper.get();
  ASSERT_FALSE(woken);
  EXPECT_EQ(woken.error().kind(), ErrorKind::closed);

  DeliveryQueue r;
  auto rest = batch_of(1, 2);
  r.push_all(rest);
  r.close();
  r.close();  // idempotent
  EXPECT_EQ(r.try_take()->seq, 1u);
  EXPECT_EQ(r.take(kWait)->seq, 2u);
  auto done = r.take(kWait);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind(), ErrorKind::closed);
  auto late = r.take_async().wait();
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().kind(), ErrorKind::closed);
}

}  // namespace
}  // namespace nexo::group
