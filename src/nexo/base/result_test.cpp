#include "nexo/base/result.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace nexo {
namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9')
    return Error(ErrorKind::invalid_argument, std::string("not a digit: ") + c);
  return c - '0';
}

TEST(Result, HoldsValueOrError) {
  auto good = parse_digit('7');
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 7);
  auto bad = parse_digit('x');
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(Result, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
}

TEST(Result, VoidResult) {
  Result<void> fine = ok();
  EXPECT_TRUE(fine);
  Result<void> failed = Error(ErrorKind::closed, "peer closed");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "peer closed");
}

TEST(Result, StringValueIsNotConfusedWithError) {
  Result<std::string> r = std::string("hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 5u);
}

}  // namespace
}  // namespace nexo

namespace nexo {
namespace {

TEST(ResultDeathTest, MisuseAbortsWithTheErrorInEveryBuild) {
  Result<int> failed = Error(ErrorKind::timed_out, "no reply within 5 ms");
  EXPECT_DEATH((void)failed.value(), "value\\(\\) of a failed Result: \\[timed_out\\] no reply");
  Result<int> fine = 1;
  EXPECT_DEATH((void)fine.error(), "error\\(\\) of a successful Result");
}

}  // namespace
}  // namespace nexo
