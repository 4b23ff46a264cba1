// LatencyHistogram: bucket bounds tile the line, percentiles bound the true
// value from above within 12.5%, and histograms add.
#include "nexo/base/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace nexo {
namespace {

using std::chrono::microseconds;

TEST(LatencyHistogram, BucketsTileTheLineAndHoldTheirValues) {
  for (std::size_t b = 0; b + 1 < LatencyHistogram::kBuckets; ++b) {
    EXPECT_EQ(LatencyHistogram::upper(b), LatencyHistogram::lower(b + 1)) << b;
    EXPECT_LT(LatencyHistogram::lower(b), LatencyHistogram::upper(b)) << b;
  }
  for (std::uint64_t us : {0ull, 1ull, 7ull, 8ull, 9ull, 15ull, 16ull, 1000ull, 20'000ull,
                           123'456'789ull, (1ull << 34) - 1}) {
    const std::size_t b = LatencyHistogram::bucket(us);
    EXPECT_LE(LatencyHistogram::lower(b), us) << us;
    EXPECT_LT(us, LatencyHistogram::upper(b)) << us;
  }
  EXPECT_EQ(LatencyHistogram::bucket(~0ull), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, PercentilesBoundTheTrueValueWithinAnEighth) {
  std::mt19937_64 random(7);
  std::vector<std::uint64_t> values;
  LatencyHistogram h;
  EXPECT_EQ(h.percentile(99), microseconds(0));
  for (int i = 0; i < 10'000; ++i) {
    const auto us = static_cast<std::uint64_t>(std::lognormal_distribution<double>(7, 1.5)(random));
    values.push_back(us);
    h.record(microseconds(us));
  }
  std::sort(values.begin(), values.end());
  EXPECT_EQ(h.count(), values.size());
  for (double p : {50.0, 90.0, 99.0, 100.0}) {
    const auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(values.size())) - 1;
    const double truth = static_cast<double>(values[std::min(index, values.size() - 1)]);
    const double got = static_cast<double>(h.percentile(p).count());
    EXPECT_GE(got, truth) << p;
    EXPECT_LE(got, std::max(truth * 1.125, truth + 1)) << p;
  }
}

TEST(LatencyHistogram, HistogramsAdd) {
  LatencyHistogram a, b;
  for (int i = 0; i < 99; ++i)
    a.record(microseconds(100));
  b.record(std::chrono::milliseconds(30));
  a += b;
  EXPECT_EQ(a.count(), 100u);
  EXPECT_LE(a.percentile(99).count(), 113);
  EXPECT_GE(a.percentile(100).count(), 30'000);
  a.record(std::chrono::nanoseconds(-5));  // a clock step: counted as 0
  EXPECT_EQ(a.count(), 101u);
}

}  // namespace
}  // namespace nexo
