#include "nexo/base/ring.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>

namespace nexo {
namespace {

TEST(Ring, EmptyAllocatesNothingAndFifoHolds) {
  Ring<int> r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.capacity(), 0u);
  for (int i = 0; i < 20; ++i)
    r.push_back(i);
  EXPECT_EQ(r.size(), 20u);
  EXPECT_EQ(r.capacity(), 32u);
  EXPECT_EQ(r[19], 19);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(r.take_front(), i);
  EXPECT_TRUE(r.empty());
  r.release();
  EXPECT_EQ(r.capacity(), 0u);
}

// Random pushes and pops against a deque: the ring wraps and grows while wrapped.
TEST(Ring, MatchesADeque) {
  std::mt19937 random(7);
  Ring<std::unique_ptr<int>> r;  // move-only values
  std::deque<int> model;
  for (int step = 0; step < 100000; ++step) {
    if (model.empty() || random() % 100 < 55) {
      r.push_back(std::make_unique<int>(step));
      model.push_back(step);
    } else {
      ASSERT_EQ(*r.take_front(), model.front());
      model.pop_front();
    }
    ASSERT_EQ(r.size(), model.size());
    if (!model.empty()) {
      ASSERT_EQ(*r.front(), model.front());
      ASSERT_EQ(*r.back(), model.back());
    }
  }
}

TEST(Ring, SteadyStreamStopsGrowing) {
  Ring<int> r;
  for (int i = 0; i < 100; ++i)
    r.push_back(i);
  const std::size_t settled = r.capacity();
  for (int i = 100; i < 100000; ++i) {
    r.pop_front();
    r.push_back(i);
    ASSERT_EQ(r.capacity(), settled);
  }
  EXPECT_EQ(r.front(), 100000 - 100);
}

TEST(Ring, PoppedValuesAreReleased) {
  Ring<std::shared_ptr<int>> r;
  auto value = std::make_shared<int>(1);
  r.push_back(value);
  EXPECT_EQ(value.use_count(), 2);
  r.pop_front();
  EXPECT_EQ(value.use_count(), 1);
  r.push_back(value);
  r.clear();
  EXPECT_EQ(value.use_count(), 1);
}

}  // namespace
}  // namespace nexo
