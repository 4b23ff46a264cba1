// RepairTimer: RFC 6298's estimator over NAK -> repair round trips.
#include "nexo/group/repair_timer.hpp"

#include <gtest/gtest.h>

namespace nexo::group {
namespace {

using namespace std::chrono_literals;

TEST(GroupRepairTimer, WithoutASampleTheWaitIsTheCeiling) {
  const RepairTimer t(1ms, 20ms);
  EXPECT_FALSE(t.measured());
  EXPECT_EQ(t.timeout(), Duration(20ms));
}

TEST(GroupRepairTimer, TheFirstSampleSetsSrttAndHalfOfItAsVariance) {
  RepairTimer t(1ms, 20ms);
  t.sample(2ms);
  EXPECT_TRUE(t.measured());
  EXPECT_EQ(t.srtt(), Duration(2ms));
  EXPECT_EQ(t.rttvar(), Duration(1ms));
  EXPECT_EQ(t.timeout(), Duration(6ms)) << "SRTT + 4 RTTVAR";
}

TEST(GroupRepairTimer, LaterSamplesMoveByAnEighthAndAQuarter) {
  RepairTimer t(1ms, 100ms);
  t.sample(8ms);  // SRTT 8, RTTVAR 4
  t.sample(16ms);
  // RTTVAR = 3/4 * 4 + 1/4 * |8 - 16| = 5; SRTT = 7/8 * 8 + 1/8 * 16 = 9.
  EXPECT_EQ(t.rttvar(), Duration(5ms));
  EXPECT_EQ(t.srtt(), Duration(9ms));
  EXPECT_EQ(t.timeout(), Duration(29ms));
  // A steady round trip: the variance decays and the wait closes in on it.
  for (int i = 0; i < 100; ++i)
    t.sample(9ms);
  EXPECT_LT(t.timeout(), Duration(10ms));
  EXPECT_GE(t.timeout(), Duration(9ms));
}

TEST(GroupRepairTimer, TheWaitIsClampedToItsFloorAndCeiling) {
  RepairTimer fast(2ms, 4ms);
  fast.sample(100us);
  EXPECT_EQ(fast.timeout(), Duration(2ms)) << "never below the floor";
  RepairTimer slow(2ms, 4ms);
  slow.sample(30ms);
  EXPECT_EQ(slow.timeout(), Duration(4ms)) << "never above the ceiling";
  RepairTimer odd(2ms, 4ms);
  odd.sample(-5ms);  // a clock gone backwards counts as 0
  EXPECT_EQ(odd.srtt(), Duration::zero());
  EXPECT_EQ(odd.timeout(), Duration(2ms));
}

}  // namespace
}  // namespace nexo::group
