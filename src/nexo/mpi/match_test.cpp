#include "nexo/mpi/match.hpp"

#include <gtest/gtest.h>

#include <random>

#include "nexo/mpi/match_reference.hpp"

namespace nexo::mpi {
namespace {

TEST(MpiMatch, ExactMatchBothWays) {
  Matcher m;
  EXPECT_FALSE(m.arrive({1, 0, 5}, 100));
  EXPECT_EQ(m.unexpected_count(), 1u);
  EXPECT_FALSE(m.post({1, 0, 6}, 1));  // another tag
  EXPECT_EQ(m.post({1, 0, 5}, 2), std::optional<Matcher::Handle>(100));
  EXPECT_EQ(m.arrive({1, 0, 6}, 101), std::optional<Matcher::Handle>(1));
  EXPECT_EQ(m.posted_count(), 0u);
  EXPECT_EQ(m.unexpected_count(), 0u);
}

// Emptied queues are kept while the maps are small and erased past kKeepQueues: either way an
// empty queue matches nothing, and order holds across many (source, tag) pairs.
TEST(MpiMatch, ManyTriplesAcrossTheKeptQueueLimit) {
  Matcher m;
  const int tags = static_cast<int>(3 * Matcher::kKeepQueues);
  for (int round = 0; round < 3; ++round) {
    for (int tag = 0; tag < tags; ++tag)
      EXPECT_FALSE(m.arrive({1, tag % 3, tag}, static_cast<Matcher::Handle>(tag)));
    EXPECT_EQ(m.unexpected_count(), static_cast<std::size_t>(tags));
    // Wildcards take them in arrival order; a drained triple then matches nothing.
    for (int tag = 0; tag < tags; ++tag) {
      const Envelope pattern =
          tag % 2 == 0 ? Envelope{1, kAnySource, kAnyTag} : Envelope{1, tag % 3, kAnyTag};
      EXPECT_EQ(m.post(pattern, 1000), std::optional<Matcher::Handle>(tag));
    }
    EXPECT_FALSE(m.probe({1, kAnySource, kAnyTag}));
    EXPECT_FALSE(m.has_posted_for({1, 0, 0}));
    // Receives posted on every triple, matched by arrivals in turn, and one cancelled by
    // pattern.
    for (int tag = 0; tag < tags; ++tag)
      EXPECT_FALSE(m.post({1, tag % 3, tag}, static_cast<Matcher::Handle>(tag)));
    EXPECT_TRUE(m.cancel({1, 0, 0}, 0));
    EXPECT_FALSE(m.cancel({1, 0, 0}, 0));
    EXPECT_FALSE(m.arrive({1, 0, 0}, 5000));
    EXPECT_EQ(m.post({1, 0, 0}, 6000), std::optional<Matcher::Handle>(5000));
    for (int tag = 1; tag < tags; ++tag)
      EXPECT_EQ(m.arrive({1, tag % 3, tag}, 7000), std::optional<Matcher::Handle>(tag));
    EXPECT_EQ(m.posted_count(), 0u);
    EXPECT_EQ(m.unexpected_count(), 0u);
  }
}

TEST(MpiMatch, MessageMatchesEarliestPostedReceiveAcrossWildcards) {
  Matcher m;
  EXPECT_FALSE(m.post({1, kAnySource, kAnyTag}, 1));
  EXPECT_FALSE(m.post({1, 2, 7}, 2));
  EXPECT_FALSE(m.post({1, kAnySource, 7}, 3));
  EXPECT_EQ(m.arrive({1, 2, 7}, 100), std::optional<Matcher::Handle>(1));
  EXPECT_EQ(m.arrive({1, 2, 7}, 101), std::optional<Matcher::Handle>(2));
  EXPECT_EQ(m.arrive({1, 4, 7}, 102), std::optional<Matcher::Handle>(3));
  EXPECT_FALSE(m.arrive({1, 4, 7}, 103));
}

TEST(MpiMatch, WildcardReceiveTakesEarliestArrival) {
  Matcher m;
  EXPECT_FALSE(m.arrive({1, 3, 9}, 100));
  EXPECT_FALSE(m.arrive({1, 2, 8}, 101));
  EXPECT_FALSE(m.arrive({1, 3, 8}, 102));
  EXPECT_FALSE(m.arrive({2, 0, 8}, 103));  // another context
  EXPECT_EQ(m.post({1, kAnySource, 8}, 1), std::optional<Matcher::Handle>(101));
  EXPECT_EQ(m.post({1, 3, kAnyTag}, 2), std::optional<Matcher::Handle>(100));
  EXPECT_EQ(m.post({1, kAnySource, kAnyTag}, 3), std::optional<Matcher::Handle>(102));
  EXPECT_FALSE(m.post({1, kAnySource, kAnyTag}, 4));
  EXPECT_EQ(m.unexpected_count(), 1u);
}

TEST(MpiMatch, ProbeLeavesTheMessageAndCancelRemovesTheReceive) {
  Matcher m;
  EXPECT_FALSE(m.probe({1, kAnySource, kAnyTag}));
  EXPECT_FALSE(m.arrive({1, 3, 9}, 100));
  auto p = m.probe({1, kAnySource, kAnyTag});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->message, 100u);
  EXPECT_EQ(p->envelope, (Envelope{1, 3, 9}));
  EXPECT_TRUE(m.probe({1, 3, 9}));
  EXPECT_FALSE(m.probe({1, 3, 8}));
  EXPECT_EQ(m.unexpected_count(), 1u);

  EXPECT_FALSE(m.post({1, 4, 1}, 1));
  EXPECT_FALSE(m.post({1, 4, 1}, 2));
  EXPECT_TRUE(m.cancel(1));
  EXPECT_FALSE(m.cancel(1));
  EXPECT_FALSE(m.cancel(99));
  EXPECT_EQ(m.arrive({1, 4, 1}, 101), std::optional<Matcher::Handle>(2));
}

TEST(MpiMatch, RandomizedAgainstReferenceModel) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Matcher m;
    ReferenceMatcher ref;
    std::vector<Matcher::Handle> posted;
    Matcher::Handle next = 1;
    auto pick = [&](int n, int wildcard_percent) {
      return static_cast<std::int32_t>(rng() % 100) < wildcard_percent
                 ? std::int32_t{-1}
                 : static_cast<std::int32_t>(rng() % n);
    };
    for (int step = 0; step < 3000; ++step) {
      const auto context = static_cast<std::uint32_t>(rng() % 2);
      switch (rng() % 4) {
        case 0:
        case 1: {
          const Envelope e{context, static_cast<std::int32_t>(rng() % 3),
                           static_cast<std::int32_t>(rng() % 3)};
          const auto h = next++;
          ASSERT_EQ(m.arrive(e, h), ref.arrive(e, h));
          break;
        }
        case 2: {
          const Envelope p{context, pick(3, 30), pick(3, 30)};
          const auto h = next++;
          const auto got = m.post(p, h);
          ASSERT_EQ(got, ref.post(p, h));
          if (!got) posted.push_back(h);
          auto probed = m.probe(p);
          auto expected = ref.probe(p);
          ASSERT_EQ(probed.has_value(), expected.has_value());
          if (probed) {
            ASSERT_EQ(probed->message, expected->message);
            ASSERT_EQ(probed->envelope, expected->envelope);
          }
          break;
        }
        case 3:
          if (!posted.empty() && rng() % 3 == 0) {
            const auto h = posted[rng() % posted.size()];
            ASSERT_EQ(m.cancel(h), ref.cancel(h));
          }
          break;
      }
    }
  }
}

}  // namespace
}  // namespace nexo::mpi
