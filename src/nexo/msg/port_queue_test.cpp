#include "nexo/msg/port_queue.hpp"

#include <gtest/gtest.h>

namespace nexo::msg {
namespace {

Message text(std::string_view t) {
  return Message{to_bytes(t), make_source("test")};
}

TEST(PortQueue, FirstInFirstOut) {
  Counters counters;
  PortQueue q({}, counters);
  for (const char* t : {"a", "b", "c"}) {
    Message m = text(t);
    ASSERT_EQ(q.offer(m), PortQueue::Offer::accepted);
  }
  EXPECT_EQ(q.depth(), 3u);
  for (const char* t : {"a", "b", "c"})
    EXPECT_EQ(q.try_take()->text(), t);
  EXPECT_EQ(q.try_take().error().kind(), ErrorKind::would_block);
  EXPECT_EQ(counters.snapshot().messages_in, 3u);
  EXPECT_EQ(counters.snapshot().queue_high_water, 3u);
}

TEST(PortQueue, FullQueueRefusesAndLeavesTheMessageToTheCaller) {
  Counters counters;
  PortQueue q({.max_messages = 2, .max_bytes = 1 << 20}, counters);
  Message a = text("a"), b = text("b"), c = text("c");
  ASSERT_EQ(q.offer(a), PortQueue::Offer::accepted);
  ASSERT_EQ(q.offer(b), PortQueue::Offer::accepted);
  EXPECT_EQ(q.offer(c), PortQueue::Offer::full);
  EXPECT_EQ(c.text(), "c");  // untouched
  bool space = false;
  q.when_space([&] { space = true; });
  EXPECT_FALSE(space);
  ASSERT_TRUE(q.try_take());
  EXPECT_TRUE(space);
  EXPECT_EQ(q.offer(c), PortQueue::Offer::accepted);
}

TEST(PortQueue, ByteLimitButOneMessageAlwaysFits) {
  Counters counters;
  PortQueue q({.max_messages = 100, .max_bytes = 4}, counters);
  Message big = text("far more than four bytes");
  EXPECT_EQ(q.offer(big), PortQueue::Offer::accepted);
  Message next = text("x");
  EXPECT_EQ(q.offer(next), PortQueue::Offer::full);
}

TEST(PortQueue, AWaitingReceiveGetsTheMessageDirectly) {
  Counters counters;
  PortQueue q({}, counters);
  auto request = q.take_async();
  EXPECT_FALSE(request.test());
  bool taken = false;
  Message m = text("direct");
  ASSERT_EQ(q.offer(m, [&] { taken = true; }), PortQueue::Offer::accepted);
  EXPECT_TRUE(taken);  // a synchronous sender would be released now
  EXPECT_EQ(request.wait()->text(), "direct");
  EXPECT_EQ(q.depth(), 0u);
}

TEST(PortQueue, OnTakenRunsWhenAReceiveTakesAQueuedMessage) {
  Counters counters;
  PortQueue q({}, counters);
  int taken = 0;
  Message m = text("sync");
  ASSERT_EQ(q.offer(m, [&] { ++taken; }), PortQueue::Offer::accepted);
  EXPECT_EQ(taken, 0);
  ASSERT_TRUE(q.try_take());
  EXPECT_EQ(taken, 1);
}

TEST(PortQueue, CanceledReceiveIsRemoved) {
  Counters counters;
  PortQueue q({}, counters);
  auto request = q.take_async();
  request.cancel();
  EXPECT_EQ(request.wait().error().kind(), ErrorKind::canceled);
  Message m = text("later");
  ASSERT_EQ(q.offer(m), PortQueue::Offer::accepted);
  EXPECT_EQ(q.depth(), 1u);  // not swallowed by the canceled receive
}

TEST(PortQueue, CloseFailsWaitersAndRefusesOffersButQueuedCanBeTaken) {
  Counters counters;
  PortQueue q({}, counters);
  Message m = text("kept");
  ASSERT_EQ(q.offer(m), PortQueue::Offer::accepted);
  ASSERT_TRUE(q.try_take());
  auto waiting = q.take_async();
  Message queued = text("queued");
  q.close();
  EXPECT_EQ(waiting.wait().error().kind(), ErrorKind::closed);
  EXPECT_EQ(q.offer(queued), PortQueue::Offer::closed);
  EXPECT_EQ(q.try_take().error().kind(), ErrorKind::closed);
}

TEST(PortQueue, DiscardReleasesSynchronousSendersWithClosed) {
  Counters counters;
  PortQueue q({}, counters);
  auto [request, completer] = io::Request<void>::make();
  auto shared = std::make_shared<io::Completer<void>>(std::move(completer));
  Message m = text("never taken");
  ASSERT_EQ(q.offer(m, [shared] { shared->complete(ok()); }), PortQueue::Offer::accepted);
  shared.reset();
  q.close();
  q.discard();
  auto r = request.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::closed);
}

}  // namespace
}  // namespace nexo::msg
