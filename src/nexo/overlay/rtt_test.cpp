// RttEstimator: RFC 6298 over KRPC round trips, its clamp and its backoff.
#include "nexo/overlay/rtt.hpp"

#include <gtest/gtest.h>

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;

RttConfig config() {
  RttConfig c;
  c.min_rto = 10ms;
  c.max_rto = 2s;
  c.initial_rto = 1s;
  c.granularity = 1ms;
  c.max_backed_off_rto = 8s;
  return c;
}

TEST(Rtt, BeforeASampleTheFallbackIsUsed) {
  const RttEstimator e;
  EXPECT_FALSE(e.measured());
  EXPECT_EQ(e.base_rto(config()), Duration(1s)) << "the node-wide one starts at initial_rto";
  EXPECT_EQ(e.rto(config(), 300ms), Duration(300ms)) << "a contact borrows the node's";
}

TEST(Rtt, TheFirstSampleSetsSrttAndHalfOfItAsVariance) {
  RttEstimator e;
  e.sample(100ms);
  EXPECT_TRUE(e.measured());
  EXPECT_EQ(e.srtt(), Duration(100ms));
  EXPECT_EQ(e.rttvar(), Duration(50ms));
  EXPECT_EQ(e.base_rto(config()), Duration(300ms)) << "SRTT + 4 RTTVAR";
}

TEST(Rtt, LaterSamplesMoveByAnEighthAndAQuarter) {
  RttEstimator e;
  e.sample(80ms);  // SRTT 80, RTTVAR 40
  e.sample(160ms);
  // RTTVAR = 3/4 * 40 + 1/4 * 80 = 50; SRTT = 7/8 * 80 + 1/8 * 160 = 90.
  EXPECT_EQ(e.rttvar(), Duration(50ms));
  EXPECT_EQ(e.srtt(), Duration(90ms));
  EXPECT_EQ(e.base_rto(config()), Duration(290ms));
}

TEST(Rtt, ConvergesOnASteadyRoundTrip) {
  RttEstimator e;
  e.sample(500ms);
  for (int i = 0; i < 200; ++i)
    e.sample(40ms);
  const double srtt_ms = std::chrono::duration<double, std::milli>(e.srtt()).count();
  EXPECT_NEAR(srtt_ms, 40.0, 0.5);
  // RTTVAR decays towards 0; G keeps the RTO above SRTT.
  EXPECT_LT(e.base_rto(config()), Duration(45ms));
  EXPECT_GE(e.base_rto(config()), e.srtt() + 1ms);
}

TEST(Rtt, TheRtoIsClamped) {
  RttEstimator fast;
  fast.sample(50us);
  EXPECT_EQ(fast.base_rto(config()), Duration(10ms)) << "never below min_rto";
  RttEstimator slow;
  slow.sample(5s);
  EXPECT_EQ(slow.base_rto(config()), Duration(2s)) << "never above max_rto";
  RttEstimator odd;
  odd.sample(-5ms);  // a clock gone backwards counts as 0
  EXPECT_EQ(odd.srtt(), Duration::zero());
  EXPECT_EQ(odd.base_rto(config()), Duration(10ms));
  RttEstimator huge;
  huge.sample(std::chrono::hours(10));  // beyond 32 bits of microseconds: saturates
  EXPECT_EQ(huge.base_rto(config()), Duration(2s));
}

TEST(Rtt, BackoffDoublesPerTimeoutAndAReplyResetsIt) {
  RttEstimator e;
  e.sample(100ms);  // base RTO 300 ms
  e.timed_out();
  EXPECT_EQ(e.rto(config(), 1s), Duration(600ms));
  e.timed_out();
  EXPECT_EQ(e.rto(config(), 1s), Duration(1200ms));
  for (int i = 0; i < 40; ++i)
    e.timed_out();
  EXPECT_EQ(e.backoff(), 16) << "saturates";
  EXPECT_EQ(e.rto(config(), 1s), Duration(8s)) << "at most max_backed_off_rto";
  e.sample(100ms);
  EXPECT_EQ(e.backoff(), 0);
  EXPECT_LE(e.rto(config(), 1s), Duration(300ms));
  e.timed_out();
  e.reset_backoff();  // a reply that gave no sample
  EXPECT_EQ(e.backoff(), 0);
}

TEST(Rtt, BackoffAppliesToTheBorrowedRtoToo) {
  RttEstimator e;
  e.timed_out();
  EXPECT_EQ(e.rto(config(), 400ms), Duration(800ms));
  RttConfig low = config();
  low.max_backed_off_rto = 100ms;  // below the base: the base wins
  EXPECT_EQ(e.rto(low, 400ms), Duration(400ms));
}

}  // namespace
}  // namespace nexo::overlay
