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

TEST(PortQueue, OfferAllHandsToWaitingReceivesThenQueuesAndStopsWhereFull) {
  Counters counters;
  PortQueue q({.max_messages = 2, .max_bytes = 1 << 20}, counters);
  auto waiting = q.take_async();
  int taken = 0;
  std::vector<PortQueue::Arrival> arrivals;
  for (const char* t : {"a", "b", "c", "d"})
    arrivals.push_back({text(t), [&taken] { ++taken; }});
  PortQueue::Offered offered;
  {
    PortQueue::Handoffs later;
    offered = q.offer_all(arrivals, later);
    EXPECT_FALSE(waiting.test());  // handed over, completed when `later` runs
  }
  EXPECT_EQ(offered.accepted, 3u);  // "a" to the receive, "b" and "c" queued
  EXPECT_EQ(offered.stop, PortQueue::Offer::full);
  EXPECT_EQ(arrivals[3].message.text(), "d");  // refused: untouched
  ASSERT_TRUE(waiting.test());
  EXPECT_EQ(waiting.wait()->text(), "a");
  EXPECT_EQ(taken, 1);
  EXPECT_EQ(q.try_take()->text(), "b");
  EXPECT_EQ(q.try_take()->text(), "c");
  EXPECT_EQ(taken, 3);
  EXPECT_EQ(counters.snapshot().messages_in, 3u);
  EXPECT_EQ(counters.snapshot().bytes_in, 3u);

  q.close();
  PortQueue::Handoffs later;
  const auto after = q.offer_all(std::span(arrivals).subspan(3), later);
  EXPECT_EQ(after.accepted, 0u);
  EXPECT_EQ(after.stop, PortQueue::Offer::closed);
  EXPECT_EQ(arrivals[3].message.text(), "d");
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
