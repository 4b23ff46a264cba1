// format_shortest against its oracle, the plain std::to_chars: byte-equal text.
//
// Environment:
//   NEXO_SHORTEST_RANDOM=<n>        random bit patterns per type (default 20,000,000;
//                                   4,000,000 under a sanitizer, NEXO_SANITIZED, which
//                                   checks memory here, not the digits)
//   NEXO_SHORTEST_EXHAUSTIVE=1      also every float bit pattern (about 4 minutes)
//   NEXO_SHORTEST_BENCH=1           print ns per value, std::to_chars vs format_shortest
//   NEXO_SHORTEST_WRITE_TABLE=<f>   write shortest_table.hpp's text to <f>
#include "nexo/wire/shortest.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/shortest_table.hpp"
#include "nexo/wire/shortest_table_gen.hpp"

namespace nexo::wire {
namespace {

namespace sd = shortest_detail;
namespace sg = shortest_gen;

std::uint64_t env_count(const char* name, std::uint64_t fallback) {
  const char* s = std::getenv(name);
  return s != nullptr && *s != 0 ? std::strtoull(s, nullptr, 10) : fallback;
}

std::uint64_t pow10u(int n) {
  std::uint64_t r = 1;
  while (n-- > 0)
    r *= 10;
  return r;
}

struct SplitMix {
  std::uint64_t x;
  std::uint64_t next() {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }
};

// Compares one value; counts mismatches and reports the first few.
struct Checker {
  std::uint64_t checked = 0, failed = 0;

  template <class F>
  void operator()(F v) {
    char want[64], got[64];
    char* we = std::to_chars(want, want + sizeof want, v).ptr;
    std::memset(got, 'X', sizeof got);
    char* ge = format_shortest(v, got);
    ++checked;
    std::size_t max = sizeof(F) == 8 ? shortest_max_double : shortest_max_float;
    bool ok = std::string_view(want, static_cast<std::size_t>(we - want)) ==
                  std::string_view(got, static_cast<std::size_t>(ge - got)) &&
              static_cast<std::size_t>(ge - got) <= max &&
              std::string_view(got + max, sizeof got - max).find_first_not_of('X') ==
                  std::string_view::npos;
    if (!ok && ++failed <= 20) {
      ADD_FAILURE() << (sizeof(F) == 8 ? "double" : "float") << " bits 0x" << std::hex
                    << (sizeof(F) == 8 ? std::bit_cast<std::uint64_t>(static_cast<double>(v))
                                       : std::bit_cast<std::uint32_t>(static_cast<float>(v)))
                    << std::dec << ": to_chars \"" << std::string_view(want, we - want)
                    << "\", format_shortest \"" << std::string_view(got, ge - got) << "\"";
    }
  }
  template <class F>
  void around(F v, int steps = 2) {
    F lo = v, hi = v;
    (*this)(v);
    (*this)(-v);
    for (int i = 0; i < steps; ++i) {
      lo = std::nextafter(lo, F{0});
      hi = std::nextafter(hi, std::numeric_limits<F>::infinity());
      if (std::isfinite(lo)) (*this)(lo);
      if (std::isfinite(hi)) (*this)(hi);
    }
  }
};

#ifdef NEXO_SANITIZED
constexpr std::uint64_t kRandomPatterns = 4'000'000;
#else
constexpr std::uint64_t kRandomPatterns = 20'000'000;
#endif

TEST(WireShortest, RandomDoubles) {
  Checker check;
  SplitMix rng{1};
  std::uint64_t n = env_count("NEXO_SHORTEST_RANDOM", kRandomPatterns);
  for (std::uint64_t i = 0; i < n; ++i) {
    auto v = std::bit_cast<double>(rng.next());
    if (std::isfinite(v)) check(v);
  }
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

TEST(WireShortest, RandomFloats) {
  Checker check;
  SplitMix rng{2};
  std::uint64_t n = env_count("NEXO_SHORTEST_RANDOM", kRandomPatterns);
  for (std::uint64_t i = 0; i < n; i += 2) {
    std::uint64_t r = rng.next();
    for (auto bits : {static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(r >> 32)}) {
      auto v = std::bit_cast<float>(bits);
      if (std::isfinite(v)) check(v);
    }
  }
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

// Random significands of every binary exponent, with the random double test's
// uniform bits rarely reaching the short-digit values near integers.
TEST(WireShortest, EveryExponentAndShortValues) {
  Checker check;
  SplitMix rng{3};
  for (std::uint64_t be = 0; be < 0x7ff; ++be)
    for (int i = 0; i < 200; ++i)
      check(std::bit_cast<double>((be << 52) | (rng.next() >> 12)));
  for (std::uint32_t be = 0; be < 0xff; ++be)
    for (int i = 0; i < 2000; ++i)
      check(std::bit_cast<float>((be << 23) | static_cast<std::uint32_t>(rng.next() >> 41)));
  // Decimals of 1 to 17 digits at every exponent, read back, and their neighbours.
  char text[64];
  for (int digits = 1; digits <= 17; ++digits) {
    for (int e = -330; e <= 310; ++e) {
      for (int i = 0; i < 4; ++i) {
        std::uint64_t d = rng.next() % pow10u(digits);
        std::snprintf(text, sizeof text, "%llue%d", static_cast<unsigned long long>(d), e);
        double v = std::strtod(text, nullptr);
        if (std::isfinite(v)) check.around(v, 1);
        if (digits <= 9 && e >= -50 && e <= 40) {
          float f = std::strtof(text, nullptr);
          if (std::isfinite(f)) check.around(f, 1);
        }
      }
    }
  }
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

TEST(WireShortest, PowersOfTwoAndTen) {
  Checker check;
  for (int i = -1074; i <= 1023; ++i)
    check.around(std::ldexp(1.0, i));
  for (int i = -149; i <= 127; ++i)
    check.around(std::ldexp(1.0f, i));
  char text[32];
  for (int i = -324; i <= 308; ++i) {
    std::snprintf(text, sizeof text, "1e%d", i);
    check.around(std::strtod(text, nullptr));
  }
  for (int i = -45; i <= 38; ++i) {
    std::snprintf(text, sizeof text, "1e%d", i);
    check.around(std::strtof(text, nullptr));
  }
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

TEST(WireShortest, SubnormalsExtremesZeros) {
  Checker check;
  check.around(std::numeric_limits<double>::denorm_min(), 100);
  check.around(DBL_MIN, 100);  // the largest subnormals are below it
  check.around(DBL_MAX, 100);
  check.around(std::numeric_limits<float>::denorm_min(), 100);
  check.around(FLT_MIN, 100);
  check.around(FLT_MAX, 100);
  check(0.0);
  check(-0.0);
  check(0.0f);
  check(-0.0f);
  SplitMix rng{4};
  for (int i = 0; i < 1'000'000; ++i) {
    check(std::bit_cast<double>(rng.next() >> 12));
    check(std::bit_cast<float>(static_cast<std::uint32_t>(rng.next() >> 41)));
  }
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

TEST(WireShortest, Integers) {
  Checker check;
  for (int i = 0; i <= 1'000'000; ++i) {
    check(static_cast<double>(i));
    check(static_cast<float>(i));
  }
  SplitMix rng{5};
  for (int i = 0; i < 1'000'000; ++i) {
    check(static_cast<double>(rng.next() >> 11));  // up to 2^53
    check(static_cast<double>(rng.next() >> (rng.next() % 64)));
    check(static_cast<float>(rng.next() >> 40));  // up to 2^24
  }
  for (int p = 50; p <= 80; ++p) {
    double base = std::ldexp(1.0, p);
    check.around(base, 2000);
  }
  for (int p = 20; p <= 50; ++p)
    check.around(std::ldexp(1.0f, p), 2000);
  // Multiples of powers of ten: the integer side of the fixed/scientific boundary.
  for (int e = 0; e <= 23; ++e)
    for (std::uint64_t m = 1; m < 2000; ++m) {
      check.around(static_cast<double>(m) * std::pow(10.0, e), 1);
      check.around(static_cast<float>(m) * std::pow(10.0f, static_cast<float>(e)), 1);
    }
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

TEST(WireShortest, FixedScientificBoundary) {
  Checker check;
  for (double v : {1e15,
                   1e16,
                   1e17,
                   1e18,
                   1e19,
                   1e20,
                   1e21,
                   1e22,
                   1e23,
                   1e-3,
                   1e-4,
                   1e-5,
                   1e-6,
                   1e-7,
                   1.5e-4,
                   1.5e-5,
                   1.25e-5,
                   123456789012345680000.0,
                   12345678901234567e4,
                   1234567890123456e5,
                   9007199254740993e4,
                   0.1,
                   0.2,
                   0.3,
                   1.0 / 3,
                   2.0 / 3,
                   12345.678901234567,
                   5e-324,
                   1.7976931348623157e308})
    check.around(v, 50);
  for (float v : {1e7f, 1e8f, 1e9f, 1e10f, 1e11f, 1e12f, 1e13f, 1e14f, 1e-3f, 1e-4f, 1e-5f, 1.5e-4f,
                  1.5e-5f, 0.618034f, 0.1f, 16777216.0f, 3.4e38f})
    check.around(v, 50);
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

TEST(WireShortest, LargeExample) {
  Checker check;
  examples::Large large = examples::make_large();
  ASSERT_EQ(large.samples.size(), 1000u);
  ASSERT_EQ(large.records.size(), 50u);
  for (double v : large.samples)
    check(v);
  for (const auto& r : large.records)
    check(r.value);
  check(large.ratio);
  check(large.total);
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

TEST(WireShortest, NanAndInfinity) {
  char b[32];
  auto text = [&](auto v) { return std::string(b, format_shortest(v, b)); };
  EXPECT_EQ(text(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(text(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(text(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(text(-std::numeric_limits<double>::quiet_NaN()), "-nan");
  EXPECT_EQ(text(std::numeric_limits<float>::infinity()), "inf");
  EXPECT_EQ(text(-std::numeric_limits<float>::quiet_NaN()), "-nan");
}

TEST(WireShortest, ExhaustiveFloats) {
  if (env_count("NEXO_SHORTEST_EXHAUSTIVE", 0) == 0) GTEST_SKIP() << "NEXO_SHORTEST_EXHAUSTIVE=1";
  Checker check;
  for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << 32); ++bits) {
    auto v = std::bit_cast<float>(static_cast<std::uint32_t>(bits));
    if (std::isfinite(v)) check(v);
  }
  EXPECT_EQ(check.failed, 0u) << "of " << check.checked;
}

// The floor-log approximations, exactly, over more than the range used.
TEST(WireShortest, FloorLogs) {
  for (int q = -1100; q <= 1100; ++q) {
    int k = sd::floor_log10_pow2(q);
    ASSERT_LE(sg::compare_mixed(1, k, 0, 1, 0, q), 0) << q;
    ASSERT_LT(sg::compare_mixed(1, 0, q, 1, k + 1, 0), 0) << q;
    k = sd::floor_log10_three_quarters_pow2(q);  // 3/4 2^q = 3 2^(q-2)
    ASSERT_LE(sg::compare_mixed(1, k, 0, 3, 0, q - 2), 0) << q;
    ASSERT_LT(sg::compare_mixed(3, 0, q - 2, 1, k + 1, 0), 0) << q;
  }
  for (int e = -400; e <= 400; ++e)
    ASSERT_EQ(sd::floor_log2_pow10(e), sg::floor_log2_pow10(e)) << e;
}

// The checked-in table equals the one recomputed here; the ranges cover every k used.
TEST(WireShortest, TableRecomputed) {
  EXPECT_EQ(sd::kPow10DoubleMin, -sd::floor_log10_pow2(971));
  EXPECT_EQ(sd::kPow10DoubleMax, -sd::floor_log10_pow2(-1074));
  EXPECT_EQ(sd::kPow10FloatMin, -sd::floor_log10_pow2(104));
  EXPECT_EQ(sd::kPow10FloatMax, -sd::floor_log10_pow2(-149));
  for (int e = sd::kPow10DoubleMin; e <= sd::kPow10DoubleMax; ++e) {
    sg::Entry t = sg::table_entry(e, 128);
    ASSERT_FALSE(t.overflow) << e;
    ASSERT_EQ(sd::kPow10Double[e - sd::kPow10DoubleMin].hi, t.hi) << e;
    ASSERT_EQ(sd::kPow10Double[e - sd::kPow10DoubleMin].lo, t.lo) << e;
  }
  for (int e = sd::kPow10FloatMin; e <= sd::kPow10FloatMax; ++e) {
    sg::Entry t = sg::table_entry(e, 64);
    ASSERT_FALSE(t.overflow) << e;
    ASSERT_EQ(sd::kPow10Float[e - sd::kPow10FloatMin], t.lo) << e;
  }
  if (const char* path = std::getenv("NEXO_SHORTEST_WRITE_TABLE")) {
    std::string text = sg::table_text(sd::kPow10DoubleMin, sd::kPow10DoubleMax, sd::kPow10FloatMin,
                                      sd::kPow10FloatMax);
    std::FILE* f = std::fopen(path, "w");
    ASSERT_NE(f, nullptr) << path;
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
}

}  // namespace
}  // namespace nexo::wire
