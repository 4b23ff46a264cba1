#include "nexo/io/request.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace nexo::io {
namespace {

using namespace std::chrono_literals;

TEST(Request, ReadyRequestIsDoneAtOnce) {
  auto request = Request<int>::ready(42);
  EXPECT_TRUE(request.test());
  auto r = request.wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
}

TEST(Request, ThenRunsExactlyOnceOnCompletion) {
  auto [request, completer] = Request<std::string>::make();
  int calls = 0;
  std::string got;
  request.then([&](Result<std::string> r) {
    ++calls;
    got = *r;
  });
  EXPECT_FALSE(request.test());
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(completer.complete(std::string("done")));
  EXPECT_FALSE(completer.complete(std::string("again")));  // exactly once
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got, "done");
  EXPECT_TRUE(request.test());
}

TEST(Request, ThenAfterCompletionRunsAtOnceOnTheCaller) {
  auto [request, completer] = Request<int>::make();
  ASSERT_TRUE(completer.complete(7));
  std::thread::id ran_on;
  int value = 0;
  request.then([&](Result<int> r) {
    ran_on = std::this_thread::get_id();
    value = *r;
  });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(value, 7);
}

TEST(Request, PollingSeesCompletionFromAnotherThread) {
  auto [request, completer] = Request<int>::make();
  std::jthread worker([c = std::move(completer)]() mutable { c.complete(5); });
  const auto deadline = std::chrono::steady_clock::now() + 10s;  // a failure bound only
  while (!request.test() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();  // the chapter's "polling"
  ASSERT_TRUE(request.test()) << "no completion within 10 s";
  auto r = request.result();
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(**r, 5);
}

TEST(Request, WaitForGivesUpButTheRequestStaysPending) {
  auto [request, completer] = Request<int>::make();
  EXPECT_FALSE(request.wait_for(10ms).has_value());
  EXPECT_FALSE(request.test());
  completer.complete(1);
  auto r = request.wait_for(1s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(**r, 1);
}

TEST(Request, CancelWithoutAHookCompletesCanceled) {
  auto [request, completer] = Request<int>::make();
  int calls = 0;
  ErrorKind kind = ErrorKind::system;
  request.then([&](Result<int> r) {
    ++calls;
    kind = r.error().kind();
  });
  request.cancel();
  request.cancel();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(kind, ErrorKind::canceled);
  EXPECT_TRUE(completer.cancel_requested());
  EXPECT_FALSE(completer.complete(3));  // the operation finishing later changes nothing
}

TEST(Request, CancelRunsTheOperationsHook) {
  auto [request, completer] = Request<int>::make();
  bool hook_ran = false;
  completer.on_cancel([&, &c = completer] {
    hook_ran = true;
    c.complete(Error(ErrorKind::canceled, "receive canceled"));
  });
  request.cancel();
  EXPECT_TRUE(hook_ran);
  auto r = request.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "receive canceled");
}

TEST(Request, CancelAfterCompletionChangesNothing) {
  auto [request, completer] = Request<int>::make();
  completer.complete(9);
  request.cancel();
  auto r = request.wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 9);
}

TEST(Request, AnAbandonedOperationCompletesClosed) {
  auto [request, completer] = Request<int>::make();
  { auto gone = std::move(completer); }
  auto r = request.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::closed);
}

TEST(Request, TheResultIsHandedOutOnce) {
  auto request = Request<int>::ready(1);
  auto copy = request;  // copies share the completion
  ASSERT_TRUE(request.wait());
  auto second = copy.wait();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind(), ErrorKind::canceled);
}

TEST(Request, RacingCompletionAndThenCallBackExactlyOnce) {
  constexpr int kRequests = 20'000;
  std::atomic<int> calls{0};
  std::vector<Request<int>> requests;
  std::vector<Completer<int>> completers;
  for (int i = 0; i < kRequests; ++i) {
    auto [request, completer] = Request<int>::make();
    requests.push_back(std::move(request));
    completers.push_back(std::move(completer));
  }
  std::jthread completing([&] {
    for (auto& c : completers)
      c.complete(1);
  });
  for (auto& r : requests)
    r.then([&](Result<int> v) { calls += *v; });
  completing.join();
  EXPECT_EQ(calls, kRequests);
}

}  // namespace
}  // namespace nexo::io
