// LatencyHistogram — durations counted in log-linear buckets, for
// percentiles that cost no allocation and no sort, and that add up across
// members and views (operator+=).
//
// Buckets, in microseconds: 0..7 one each (exact); above, each power of two
// [2^e, 2^(e+1)) split into 8 equal parts, so a bucket is at most 1/8 of its
// lower bound wide (12.5%); the last bucket takes everything from 2^34 us
// (about 4.8 hours) on. percentile() answers a bucket's upper bound: never
// less than the true value, at most 12.5% more.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace nexo {

class LatencyHistogram {
 public:
  static constexpr std::size_t kBuckets = 8 + 32 * 8;

  void record(std::chrono::nanoseconds d) noexcept {
    const auto us = d.count() <= 0 ? 0 : static_cast<std::uint64_t>(d.count()) / 1000;
    ++buckets_[bucket(us)];
    ++count_;
  }
  std::uint64_t count() const noexcept { return count_; }

  // The least bucket bound that `p` percent (0..100) of the values are at or
  // under; 0 when empty.
  std::chrono::microseconds percentile(double p) const noexcept {
    if (count_ == 0) return std::chrono::microseconds(0);
    const double want = p / 100.0 * static_cast<double>(count_);
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
      seen += buckets_[b];
      if (buckets_[b] != 0 && static_cast<double>(seen) >= want)
        return std::chrono::microseconds(upper(b));
    }
    return std::chrono::microseconds(upper(kBuckets - 1));
  }

  LatencyHistogram& operator+=(const LatencyHistogram& other) noexcept {
    for (std::size_t b = 0; b < kBuckets; ++b)
      buckets_[b] += other.buckets_[b];
    count_ += other.count_;
    return *this;
  }

  // The bucket of `us` microseconds, and the bucket's bounds [lower, upper).
  static std::size_t bucket(std::uint64_t us) noexcept {
    if (us < 8) return static_cast<std::size_t>(us);
    const int e = std::bit_width(us) - 1;  // 2^e <= us < 2^(e+1), e >= 3
    const std::size_t b = 8 + static_cast<std::size_t>(e - 3) * 8 + ((us >> (e - 3)) & 7);
    return b < kBuckets ? b : kBuckets - 1;
  }
  static std::uint64_t lower(std::size_t b) noexcept {
    if (b < 8) return b;
    const std::size_t e = (b - 8) / 8 + 3, sub = (b - 8) % 8;
    return (8 + sub) << (e - 3);
  }
  static std::uint64_t upper(std::size_t b) noexcept {
    if (b < 8) return b + 1;
    const std::size_t e = (b - 8) / 8 + 3, sub = (b - 8) % 8;
    return (9 + sub) << (e - 3);
  }

 private:
  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
};

}  // namespace nexo
