// The Injector with a fake clock: each fault does what the plan says, at the
// rate it says, and the same seed replays the same faults.
#include "nexo/fault/injector.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <map>

namespace nexo::fault {
namespace {

using namespace std::chrono_literals;

const Clock::time_point t0{};

Bytes numbered(std::uint32_t n, std::size_t size = 16) {
  Bytes b(size, std::byte{0});
  std::memcpy(b.data(), &n, sizeof n);
  return b;
}
std::uint32_t number_of(std::span<const std::byte> b) {
  std::uint32_t n = 0;
  std::memcpy(&n, b.data(), sizeof n);
  return n;
}

// Pushes `count` numbered datagrams 1 µs apart and drains everything; returns
// the numbers in delivery order.
std::vector<std::uint32_t> run(Injector& injector, std::uint32_t count) {
  std::vector<std::uint32_t> out;
  auto collect = [&](std::span<const std::byte> b, const Injector::Tag&) {
    out.push_back(number_of(b));
  };
  auto now = t0;
  for (std::uint32_t i = 0; i < count; ++i) {
    injector.push(numbered(i), now);
    injector.pop_due(now, collect);
    now += 1us;
  }
  while (auto due = injector.next_due())
    injector.pop_due(*due, collect);
  return out;
}

TEST(Injector, WithoutFaultsEverythingLeavesAtOnceInOrder) {
  Injector injector(Direction{}, 1);
  std::vector<std::uint32_t> got;
  for (std::uint32_t i = 0; i < 100; ++i) {
    injector.push(numbered(i), t0);
    EXPECT_EQ(injector.pop_due(t0, [&](auto b, auto) { got.push_back(number_of(b)); }), 1u);
  }
  ASSERT_EQ(got.size(), 100u);
  for (std::uint32_t i = 0; i < 100; ++i)
    EXPECT_EQ(got[i], i);
  EXPECT_FALSE(injector.next_due());
  const auto c = injector.counters();
  EXPECT_EQ(c.received, 100u);
  EXPECT_EQ(c.delivered, 100u);
}

TEST(Injector, TheSameSeedReplaysTheSameFaults) {
  Direction d;
  d.loss = 0.1;
  d.duplicate = 0.05;
  d.reorder = 0.05;
  d.jitter = 3us;
  d.corrupt = 0.01;
  Injector a(d, 42), b(d, 42), c(d, 43);
  const auto ra = run(a, 5000), rb = run(b, 5000), rc = run(c, 5000);
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra, rc);
  EXPECT_EQ(a.counters().to_string(), b.counters().to_string());
}

TEST(Injector, IndependentLossDropsThePlannedShare) {
  Direction d;
  d.loss = 0.1;
  Injector injector(d, 7);
  const auto got = run(injector, 100'000);
  const auto c = injector.counters();
  EXPECT_EQ(c.lost + got.size(), 100'000u);
  EXPECT_NEAR(static_cast<double>(c.lost) / 100'000, 0.1, 0.005);
  for (std::size_t i = 1; i < got.size(); ++i)
    ASSERT_LT(got[i - 1], got[i]) << "loss alone must not reorder";
}

TEST(Injector, BurstLossKeepsTheRateAndComesInRunsOfTheMeanLength) {
  Direction d;
  d.loss = 0.1;
  d.burst = 4;
  Injector injector(d, 11);
  const auto got = run(injector, 200'000);
  EXPECT_NEAR(static_cast<double>(injector.counters().lost) / 200'000, 0.1, 0.01);
  // Runs of missing numbers between consecutive deliveries.
  std::uint64_t runs = 0, missing = 0;
  for (std::size_t i = 1; i < got.size(); ++i) {
    if (const auto gap = got[i] - got[i - 1] - 1; gap > 0) {
      ++runs;
      missing += gap;
    }
  }
  ASSERT_GT(runs, 0u);
  EXPECT_NEAR(static_cast<double>(missing) / static_cast<double>(runs), 4.0, 0.3);
}

TEST(Injector, DuplicatesAreExactCopies) {
  Direction d;
  d.duplicate = 0.05;
  Injector injector(d, 3);
  std::map<std::uint32_t, int> seen;
  std::size_t delivered = 0;
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    injector.push(numbered(i, 64), t0);
    injector.pop_due(t0, [&](std::span<const std::byte> b, const Injector::Tag&) {
      ++delivered;
      ++seen[number_of(b)];
      EXPECT_EQ(Bytes(b.begin(), b.end()), numbered(number_of(b), 64));
    });
  }
  const auto c = injector.counters();
  EXPECT_EQ(delivered, 20'000u + c.duplicated);
  EXPECT_NEAR(static_cast<double>(c.duplicated) / 20'000, 0.05, 0.006);
  EXPECT_EQ(seen.size(), 20'000u);
  for (const auto& [n, times] : seen)
    ASSERT_LE(times, 2);
}

TEST(Injector, ReorderingStaysWithinTheWindowAndLosesNothing) {
  Direction d;
  d.reorder = 0.1;
  d.reorder_window = 3;
  Injector injector(d, 5);
  const auto got = run(injector, 50'000);
  ASSERT_EQ(got.size(), 50'000u);
  std::vector<bool> seen(50'000, false);
  std::size_t late = 0;
  for (std::size_t pos = 0; pos < got.size(); ++pos) {
    ASSERT_FALSE(seen[got[pos]]) << "delivered twice: " << got[pos];
    seen[got[pos]] = true;
    // A held datagram follows at most `window` later ones (plus other held ones
    // released with it).
    if (pos > got[pos]) {
      ++late;
      EXPECT_LE(pos - got[pos], 3u + 3u) << "datagram " << got[pos];
    }
  }
  EXPECT_GT(late, 0u);
  EXPECT_NEAR(static_cast<double>(injector.counters().reordered) / 50'000, 0.1, 0.01);
}

TEST(Injector, AHeldDatagramLeavesAfterMaxHoldWhenNothingPasses) {
  Direction d;
  d.reorder = 1;
  d.max_hold = 20ms;
  Injector injector(d, 1);
  injector.push(numbered(9), t0);
  int delivered = 0;
  EXPECT_EQ(injector.pop_due(t0 + 19ms, [&](auto, auto) { ++delivered; }), 0u);
  ASSERT_TRUE(injector.next_due());
  EXPECT_EQ(*injector.next_due(), t0 + 20ms);
  EXPECT_EQ(injector.pop_due(t0 + 20ms, [&](auto, auto) { ++delivered; }), 1u);
  EXPECT_EQ(injector.held(), 0u);
}

TEST(Injector, DelayAndJitterHoldEachDatagramWithinTheirBounds) {
  Direction d;
  d.delay = 5ms;
  d.jitter = 2ms;
  Injector injector(d, 9);
  for (std::uint32_t i = 0; i < 1000; ++i)
    injector.push(numbered(i), t0);
  EXPECT_EQ(injector.pop_due(t0 + 3ms - 1us, [](auto, auto) {}), 0u);
  std::size_t total = 0;
  for (auto now = t0 + 3ms; now <= t0 + 7ms; now += 100us)
    total += injector.pop_due(now, [](auto, auto) {});
  EXPECT_EQ(total, 1000u);
  EXPECT_EQ(injector.counters().delayed, 1000u);
}

TEST(Injector, CorruptionFlipsExactlyOneBit) {
  Direction d;
  d.corrupt = 1;
  Injector injector(d, 2);
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const Bytes original = numbered(i, 32);
    injector.push(original, t0);
    injector.pop_due(t0, [&](std::span<const std::byte> b, const Injector::Tag&) {
      ASSERT_EQ(b.size(), original.size());
      int flipped = 0;
      for (std::size_t k = 0; k < b.size(); ++k)
        flipped += std::popcount(static_cast<unsigned>(b[k] ^ original[k]));
      EXPECT_EQ(flipped, 1);
    });
  }
  injector.push(Bytes{}, t0);  // nothing to flip in an empty datagram
  EXPECT_EQ(injector.pop_due(t0, [](auto b, auto) { EXPECT_TRUE(b.empty()); }), 1u);
  EXPECT_EQ(injector.counters().corrupted, 1000u);
}

TEST(Injector, APartitionDropsEverythingUntilHealed) {
  Injector injector(Direction{}, 1);
  injector.set_partitioned(true);
  for (std::uint32_t i = 0; i < 10; ++i)
    injector.push(numbered(i), t0);
  EXPECT_EQ(injector.pop_due(t0, [](auto, auto) {}), 0u);
  injector.set_partitioned(false);
  injector.push(numbered(10), t0);
  EXPECT_EQ(injector.pop_due(t0, [](auto, auto) {}), 1u);
  EXPECT_EQ(injector.counters().partitioned, 10u);
}

// A flood under a long delay: the injector holds what fits in max_held_bytes,
// drops and counts the rest, and has room again once the held ones leave.
TEST(Injector, WhatIsHeldStaysWithinMaxHeldBytesAndTheRestIsOverflow) {
  Direction d;
  d.delay = 1s;
  constexpr std::size_t kSize = 100, kFit = 10;
  Injector injector(d, 1, kFit * Injector::held_cost(kSize));
  std::size_t added = 0;
  for (std::uint32_t i = 0; i < 25; ++i)
    added += injector.push(numbered(i, kSize), t0);
  EXPECT_EQ(injector.held(), kFit);
  EXPECT_EQ(injector.held_bytes(), kFit * Injector::held_cost(kSize));
  EXPECT_EQ(added, injector.held_bytes());
  EXPECT_EQ(injector.counters().overflow, 25 - kFit);
  std::vector<std::uint32_t> got;
  injector.pop_due(t0 + 1s, [&](auto b, auto) { got.push_back(number_of(b)); });
  EXPECT_EQ(got, (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(injector.held_bytes(), 0u);
  EXPECT_EQ(injector.push(numbered(99, kSize), t0 + 1s), Injector::held_cost(kSize));
  const auto c = injector.counters();
  EXPECT_EQ(c.received, 26u);
  EXPECT_EQ(c.delivered + c.overflow + injector.held(), c.received);
}

// Empty datagrams are not free to hold: each costs its bookkeeping.
TEST(Injector, EmptyDatagramsCountAgainstTheBoundToo) {
  Direction d;
  d.delay = 1s;
  Injector injector(d, 1, 3 * Injector::kHeldOverhead);
  for (int i = 0; i < 10; ++i)
    injector.push({}, t0);
  EXPECT_EQ(injector.held(), 3u);
  EXPECT_EQ(injector.counters().overflow, 7u);
}

// Copies and datagrams held back for reordering take room like the others.
TEST(Injector, DuplicatesAndReorderedDatagramsAreBoundedToo) {
  Direction dup;
  dup.duplicate = 1;
  dup.delay = 1s;
  Injector copies(dup, 1, 3 * Injector::held_cost(16));
  EXPECT_EQ(copies.push(numbered(0), t0), 2 * Injector::held_cost(16));
  EXPECT_EQ(copies.push(numbered(1), t0), Injector::held_cost(16));  // its copy does not fit
  EXPECT_EQ(copies.held(), 3u);
  EXPECT_EQ(copies.counters().duplicated, 1u);
  EXPECT_EQ(copies.counters().overflow, 1u);

  Direction reorder;
  reorder.reorder = 1;
  reorder.reorder_window = 100;
  reorder.max_hold = 1s;
  Injector held_back(reorder, 1, 5 * Injector::held_cost(16));
  for (std::uint32_t i = 0; i < 8; ++i)
    held_back.push(numbered(i), t0);
  EXPECT_EQ(held_back.held(), 5u);
  EXPECT_EQ(held_back.held_bytes(), 5 * Injector::held_cost(16));
  EXPECT_EQ(held_back.counters().overflow, 3u);
}

// The owner's discard rule drops dead datagrams as they leave, and purge()
// drops them at once, freeing their room; both count them.
TEST(Injector, TheDiscardRuleDropsDeadDatagramsAndPurgeFreesThemEarly) {
  Direction d;
  d.delay = 1s;
  d.reorder = 0.5;
  d.reorder_window = 1000;
  d.max_hold = 1s;
  Injector injector(d, 3);
  auto alive = std::make_shared<const int>(1), dead = std::make_shared<const int>(2);
  std::size_t dead_pushed = 0;
  for (std::uint32_t i = 0; i < 40; ++i) {
    const bool is_dead = i % 4 == 0;
    dead_pushed += is_dead;
    injector.push(numbered(i), t0, is_dead ? dead : alive);
  }
  ASSERT_GT(injector.counters().reordered, 0u);
  injector.set_discard([&](auto, const Injector::Tag& tag) { return tag == dead; });
  EXPECT_EQ(injector.purge(), dead_pushed);
  EXPECT_EQ(injector.held(), 40 - dead_pushed);
  EXPECT_EQ(injector.held_bytes(), (40 - dead_pushed) * Injector::held_cost(16));
  injector.push(numbered(1000), t0, dead);  // dead on arrival: dropped as it leaves
  std::vector<std::uint32_t> got;
  while (auto due = injector.next_due())
    injector.pop_due(*due, [&](auto b, const Injector::Tag& tag) {
      EXPECT_EQ(tag, alive);
      got.push_back(number_of(b));
    });
  EXPECT_EQ(got.size(), 40 - dead_pushed);
  EXPECT_EQ(injector.held_bytes(), 0u);
  const auto c = injector.counters();
  EXPECT_EQ(c.discarded, dead_pushed + 1);
  EXPECT_EQ(c.delivered, 40 - dead_pushed);
}

TEST(Plan, OutOfRangeValuesAreRefusedByName) {
  Plan plan;
  plan.to.loss = 1.5;
  auto v = plan.validate();
  ASSERT_FALSE(v);
  EXPECT_TRUE(v.error().is(ErrorKind::invalid_argument));
  EXPECT_NE(v.error().message().find("to direction: loss 1.5 is not a probability"),
            std::string::npos)
      << v.error().message();
  plan = Plan{};
  plan.back.burst = 0.5;
  ASSERT_FALSE(plan.validate());
  plan = Plan{};
  plan.back.duplicate = std::nan("");
  ASSERT_FALSE(plan.validate());
  plan = Plan{};
  plan.to.delay = -1ms;
  ASSERT_FALSE(plan.validate());
  EXPECT_TRUE(Plan{}.validate());
}

TEST(Plan, DescribesItsFaults) {
  Direction d;
  EXPECT_EQ(d.to_string(), "no faults");
  d.loss = 0.1;
  d.burst = 3;
  d.delay = 5ms;
  d.jitter = 2ms;
  EXPECT_EQ(d.to_string(), "loss 0.1 (bursts of 3), delay 5 ms ± 2 ms");
}

}  // namespace
}  // namespace nexo::fault
