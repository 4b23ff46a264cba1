// Barrier, bcast, gathers, scatters, allgathers and alltoall on 1..8 threads wired by the
// rendezvous FakeWorld, each against the result computed directly; the fake's deadlock
// detection; the choice of algorithm by size; argument errors.
#include "nexo/mpi/coll.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

#include "nexo/mpi/coll_test_world.hpp"

namespace nexo::mpi {
namespace {

using test::expect_run;
using test::FakeWorld;
using test::kMaxRanks;
using test::pattern;
using test::roots_of;
using test::tunings;
using Buffer = std::vector<std::byte>;

std::string trace(int n, const char* tuning, std::size_t size, int root = -1) {
  return "ranks " + std::to_string(n) + ", " + tuning + ", " + std::to_string(size) + " bytes" +
         (root >= 0 ? ", root " + std::to_string(root) : "");
}

// Rank r's block of size `block` in the gathered result.
Buffer concat(int n, std::size_t block, unsigned salt) {
  Buffer all;
  for (int r = 0; r < n; ++r) {
    auto b = pattern(r, block, salt);
    all.insert(all.end(), b.begin(), b.end());
  }
  return all;
}

TEST(CollBarrier, EveryRankEntersBeforeAnyLeaves) {
  for (int n = 1; n <= kMaxRanks; ++n) {
    SCOPED_TRACE("ranks " + std::to_string(n));
    FakeWorld world(n);
    std::atomic<int> entered{0};
    std::vector<int> seen(static_cast<std::size_t>(n));
    expect_run(world, [&](CollChannel& ch) {
      for (int round = 1; round <= 3; ++round) {
        entered.fetch_add(1);
        auto done = barrier(ch);
        seen[static_cast<std::size_t>(ch.rank())] = entered.load();
        if (!done) return done;
        // Nobody may start round k+1 before all have left round k's barrier...
        auto again = barrier(ch);
        if (!again) return again;
        if (seen[static_cast<std::size_t>(ch.rank())] < round * n)
          return Result<void>(Error(ErrorKind::malformed, "left the barrier early"));
      }
      return ok();
    });
    // Dissemination: ceil(log2 n) zero-byte messages per rank and barrier.
    int rounds = 0;
    for (int k = 1; k < n; k <<= 1)
      ++rounds;
    EXPECT_EQ(world.sends_of(0), static_cast<std::uint64_t>(6 * rounds));
  }
}

// Every rank offering the fast paths (as the runtime does on one host): the collectives take
// them where the other side is ready, give the same results, and leave nothing unmatched; with
// none offered, none is taken.
TEST(CollFastPaths, TakenWhereTheRendezvousAllowsWithTheSameResults) {
  for (auto fast : {test::FastPaths::all, test::FastPaths::none}) {
    for (int n = 2; n <= 5; ++n) {
      SCOPED_TRACE("ranks " + std::to_string(n) +
                   (fast == test::FastPaths::all ? ", fast paths" : ", none"));
      FakeWorld world(n, fast);
      std::vector<Buffer> buffers(static_cast<std::size_t>(n));
      expect_run(world, [&](CollChannel& ch) -> Result<void> {
        for (int round = 0; round < 20; ++round) {
          if (auto done = barrier(ch); !done) return done;
          auto& buf = buffers[static_cast<std::size_t>(ch.rank())];
          buf = ch.rank() == 0 ? pattern(0, 64, static_cast<unsigned>(round)) : Buffer(64);
          if (auto done = bcast(ch, buf, 0, CollTuning{}); !done) return done;
          if (buf != pattern(0, 64, static_cast<unsigned>(round)))
            return Result<void>(Error(ErrorKind::malformed, "bcast delivered other bytes"));
        }
        return ok();
      });
      if (fast == test::FastPaths::all) {
        EXPECT_GT(world.fast_sends() + world.fast_receives(), 0u);
      } else {
        EXPECT_EQ(world.fast_sends() + world.fast_receives(), 0u);
      }
    }
  }
}

TEST(CollBcast, EveryRankGetsTheRootsBytes) {
  for (const auto& [name, tuning] : tunings()) {
    for (int n = 1; n <= kMaxRanks; ++n) {
      for (std::size_t size :
           {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{600 * 1024 + 3}}) {
        for (int root : roots_of(n)) {
          SCOPED_TRACE(trace(n, name, size, root));
          FakeWorld world(n);
          std::vector<Buffer> buffers(static_cast<std::size_t>(n));
          expect_run(world, [&, &tuning = tuning](CollChannel& ch) {
            auto& buf = buffers[static_cast<std::size_t>(ch.rank())];
            buf = ch.rank() == root ? pattern(root, size, 1) : Buffer(size, std::byte{0xEE});
            return bcast(ch, buf, root, tuning);
          });
          auto expected = pattern(root, size, 1);
          for (int r = 0; r < n; ++r)
            EXPECT_EQ(buffers[static_cast<std::size_t>(r)], expected) << "rank " << r;
        }
      }
    }
  }
}

TEST(CollGather, RootGetsEveryBlockInRankOrder) {
  for (const auto& [name, tuning] : tunings()) {
    for (int n = 1; n <= kMaxRanks; ++n) {
      for (std::size_t block : {std::size_t{0}, std::size_t{3}, std::size_t{20 * 1024 + 1}}) {
        for (int root : roots_of(n)) {
          for (bool in_place : {false, true}) {
            SCOPED_TRACE(trace(n, name, block, root) + (in_place ? ", in place" : ""));
            FakeWorld world(n);
            Buffer result;
            expect_run(world, [&, &tuning = tuning](CollChannel& ch) {
              auto mine = pattern(ch.rank(), block, 2);
              if (ch.rank() != root) return gather(ch, mine, {}, root, tuning);
              result.assign(n * block, std::byte{0xEE});
              if (!in_place) return gather(ch, mine, result, root, tuning);
              std::copy(mine.begin(), mine.end(), result.begin() + root * block);
              return gather(ch, kInPlace, result, root, tuning);
            });
            EXPECT_EQ(result, concat(n, block, 2));
          }
        }
      }
    }
  }
}

TEST(CollScatter, EveryRankGetsItsBlock) {
  for (const auto& [name, tuning] : tunings()) {
    for (int n = 1; n <= kMaxRanks; ++n) {
      for (std::size_t block : {std::size_t{0}, std::size_t{3}, std::size_t{20 * 1024 + 1}}) {
        for (int root : roots_of(n)) {
          for (bool in_place : {false, true}) {
            SCOPED_TRACE(trace(n, name, block, root) + (in_place ? ", in place" : ""));
            FakeWorld world(n);
            std::vector<Buffer> got(static_cast<std::size_t>(n));
            Buffer all = concat(n, block, 3);
            expect_run(world, [&, &tuning = tuning](CollChannel& ch) {
              auto& mine = got[static_cast<std::size_t>(ch.rank())];
              mine.assign(block, std::byte{0xEE});
              if (ch.rank() != root) return scatter(ch, {}, mine, root, tuning);
              if (in_place) {
                mine = pattern(root, block, 3);  // stays where it is, in the send buffer
                return scatter(ch, all, {}, root, tuning);
              }
              return scatter(ch, all, mine, root, tuning);
            });
            for (int r = 0; r < n; ++r)
              EXPECT_EQ(got[static_cast<std::size_t>(r)], pattern(r, block, 3)) << "rank " << r;
          }
        }
      }
    }
  }
}

// counts with zeros and uneven sizes; displacements in reverse rank order with gaps.
struct VLayout {
  std::vector<std::size_t> counts;
  std::vector<std::size_t> displs;
  std::size_t total = 0;
};
VLayout v_layout(int n, std::size_t scale) {
  VLayout v;
  for (int i = 0; i < n; ++i)
    v.counts.push_back(static_cast<std::size_t>((i * 7 + 3) % 5) * scale);
  v.displs.resize(static_cast<std::size_t>(n));
  for (int i = n - 1; i >= 0; --i) {
    v.displs[static_cast<std::size_t>(i)] = v.total + 2;
    v.total += v.counts[static_cast<std::size_t>(i)] + 2;
  }
  return v;
}

TEST(CollGatherv, BlocksLandAtTheirDisplacements) {
  for (int n = 1; n <= kMaxRanks; ++n) {
    for (std::size_t scale : {std::size_t{1}, std::size_t{30000}}) {
      for (int root : roots_of(n)) {
        for (bool in_place : {false, true}) {
          SCOPED_TRACE(trace(n, "v", scale, root) + (in_place ? ", in place" : ""));
          VLayout v = v_layout(n, scale);
          Buffer expected(v.total, std::byte{0xEE});
          for (int i = 0; i < n; ++i) {
            auto b = pattern(i, v.counts[static_cast<std::size_t>(i)], 4);
            std::copy(b.begin(), b.end(),
                      expected.begin() + static_cast<long>(v.displs[static_cast<std::size_t>(i)]));
          }
          FakeWorld world(n);
          Buffer result;
          expect_run(world, [&](CollChannel& ch) {
            auto mine = pattern(ch.rank(), v.counts[static_cast<std::size_t>(ch.rank())], 4);
            if (ch.rank() != root) return gatherv(ch, mine, {}, {}, {}, root);
            result.assign(v.total, std::byte{0xEE});
            if (!in_place) return gatherv(ch, mine, result, v.counts, v.displs, root);
            std::copy(mine.begin(), mine.end(),
                      result.begin() + static_cast<long>(v.displs[static_cast<std::size_t>(root)]));
            return gatherv(ch, kInPlace, result, v.counts, v.displs, root);
          });
          EXPECT_EQ(result, expected);
        }
      }
    }
  }
}

TEST(CollScatterv, EveryRankGetsItsBlock) {
  for (int n = 1; n <= kMaxRanks; ++n) {
    for (std::size_t scale : {std::size_t{1}, std::size_t{30000}}) {
      for (int root : roots_of(n)) {
        for (bool in_place : {false, true}) {
          SCOPED_TRACE(trace(n, "v", scale, root) + (in_place ? ", in place" : ""));
          VLayout v = v_layout(n, scale);
          Buffer all(v.total, std::byte{0xEE});
          for (int i = 0; i < n; ++i) {
            auto b = pattern(i, v.counts[static_cast<std::size_t>(i)], 5);
            std::copy(b.begin(), b.end(),
                      all.begin() + static_cast<long>(v.displs[static_cast<std::size_t>(i)]));
          }
          FakeWorld world(n);
          std::vector<Buffer> got(static_cast<std::size_t>(n));
          expect_run(world, [&](CollChannel& ch) {
            auto& mine = got[static_cast<std::size_t>(ch.rank())];
            mine.assign(v.counts[static_cast<std::size_t>(ch.rank())], std::byte{0xEE});
            if (ch.rank() != root) return scatterv(ch, {}, {}, {}, mine, root);
            if (in_place) {
              mine = pattern(root, mine.size(), 5);
              return scatterv(ch, all, v.counts, v.displs, {}, root);
            }
            return scatterv(ch, all, v.counts, v.displs, mine, root);
          });
          for (int r = 0; r < n; ++r)
            EXPECT_EQ(got[static_cast<std::size_t>(r)],
                      pattern(r, v.counts[static_cast<std::size_t>(r)], 5))
                << "rank " << r;
        }
      }
    }
  }
}

TEST(CollAllgather, EveryRankGetsEveryBlock) {
  for (const auto& [name, tuning] : tunings()) {
    for (int n = 1; n <= kMaxRanks; ++n) {
      for (std::size_t block : {std::size_t{0}, std::size_t{5}, std::size_t{80 * 1024 + 1}}) {
        for (bool in_place : {false, true}) {
          SCOPED_TRACE(trace(n, name, block) + (in_place ? ", in place" : ""));
          FakeWorld world(n);
          std::vector<Buffer> got(static_cast<std::size_t>(n));
          expect_run(world, [&, &tuning = tuning](CollChannel& ch) {
            auto& all = got[static_cast<std::size_t>(ch.rank())];
            all.assign(n * block, std::byte{0xEE});
            auto mine = pattern(ch.rank(), block, 6);
            if (!in_place) return allgather(ch, mine, all, tuning);
            std::copy(mine.begin(), mine.end(), all.begin() + ch.rank() * block);
            return allgather(ch, kInPlace, all, tuning);
          });
          for (int r = 0; r < n; ++r)
            EXPECT_EQ(got[static_cast<std::size_t>(r)], concat(n, block, 6)) << "rank " << r;
        }
      }
    }
  }
}

TEST(CollAllgatherv, EveryRankGetsEveryBlockAtItsDisplacement) {
  for (int n = 1; n <= kMaxRanks; ++n) {
    for (std::size_t scale : {std::size_t{1}, std::size_t{30000}}) {
      for (bool in_place : {false, true}) {
        SCOPED_TRACE(trace(n, "v", scale) + (in_place ? ", in place" : ""));
        VLayout v = v_layout(n, scale);
        Buffer expected(v.total, std::byte{0xEE});
        for (int i = 0; i < n; ++i) {
          auto b = pattern(i, v.counts[static_cast<std::size_t>(i)], 7);
          std::copy(b.begin(), b.end(),
                    expected.begin() + static_cast<long>(v.displs[static_cast<std::size_t>(i)]));
        }
        FakeWorld world(n);
        std::vector<Buffer> got(static_cast<std::size_t>(n));
        expect_run(world, [&](CollChannel& ch) {
          auto& all = got[static_cast<std::size_t>(ch.rank())];
          all.assign(v.total, std::byte{0xEE});
          auto mine = pattern(ch.rank(), v.counts[static_cast<std::size_t>(ch.rank())], 7);
          if (!in_place) return allgatherv(ch, mine, all, v.counts, v.displs);
          std::copy(mine.begin(), mine.end(),
                    all.begin() + static_cast<long>(v.displs[static_cast<std::size_t>(ch.rank())]));
          return allgatherv(ch, kInPlace, all, v.counts, v.displs);
        });
        for (int r = 0; r < n; ++r)
          EXPECT_EQ(got[static_cast<std::size_t>(r)], expected) << "rank " << r;
      }
    }
  }
}

TEST(CollAlltoall, BlockJOfRankIReachesBlockIOfRankJ) {
  for (int n = 1; n <= kMaxRanks; ++n) {
    for (std::size_t block : {std::size_t{0}, std::size_t{3}, std::size_t{70 * 1024}}) {
      for (bool in_place : {false, true}) {
        SCOPED_TRACE(trace(n, "pairwise", block) + (in_place ? ", in place" : ""));
        FakeWorld world(n);
        std::vector<Buffer> got(static_cast<std::size_t>(n));
        expect_run(world, [&](CollChannel& ch) {
          auto& out = got[static_cast<std::size_t>(ch.rank())];
          auto mine = pattern(ch.rank(), n * block, 8);
          if (in_place) {
            out = mine;
            return alltoall(ch, kInPlace, out);
          }
          out.assign(n * block, std::byte{0xEE});
          return alltoall(ch, mine, out);
        });
        for (int j = 0; j < n; ++j) {
          Buffer expected;
          for (int i = 0; i < n; ++i) {
            auto from = pattern(i, n * block, 8);
            expected.insert(expected.end(), from.begin() + j * block,
                            from.begin() + (j + 1) * block);
          }
          EXPECT_EQ(got[static_cast<std::size_t>(j)], expected) << "rank " << j;
        }
      }
    }
  }
}

// Consecutive collectives of different kinds and roots share the channel without confusing
// their messages (fixed tags rely on the order of calls).
TEST(CollSequence, BackToBackCollectivesKeepTheirMessagesApart) {
  for (int n = 1; n <= kMaxRanks; ++n) {
    SCOPED_TRACE("ranks " + std::to_string(n));
    FakeWorld world(n);
    std::vector<int> failures(static_cast<std::size_t>(n));
    expect_run(world, [&](CollChannel& ch) {
      for (int i = 0; i < 20; ++i) {
        int root = i % n;
        std::size_t size = static_cast<std::size_t>(i * 37 % 101);
        Buffer buf =
            ch.rank() == root ? pattern(root, size, static_cast<unsigned>(i)) : Buffer(size);
        auto sent = bcast(ch, buf, root);
        if (!sent) return sent;
        if (buf != pattern(root, size, static_cast<unsigned>(i)))
          ++failures[static_cast<std::size_t>(ch.rank())];
        Buffer all(n * size);
        auto gathered = allgather(ch, pattern(ch.rank(), size, 9), all);
        if (!gathered) return gathered;
        if (all != concat(n, size, 9)) ++failures[static_cast<std::size_t>(ch.rank())];
        auto fenced = barrier(ch);
        if (!fenced) return fenced;
      }
      return ok();
    });
    for (int r = 0; r < n; ++r)
      EXPECT_EQ(failures[static_cast<std::size_t>(r)], 0) << "rank " << r;
  }
}

// The hang guard: a schedule that needs buffering (both ranks send, wait, then receive) must
// end with an error of the fake channel, not hang -- so a deadlock-prone algorithm fails the
// test that runs it.
TEST(CollFakeWorld, ADeadlockedScheduleFailsInsteadOfHanging) {
  FakeWorld world(2);
  Buffer a(8), b(8);
  auto results = world.run([&](CollChannel& ch) -> Result<void> {
    int peer = 1 - ch.rank();
    auto& mine = ch.rank() == 0 ? a : b;
    auto id = ch.isend(peer, 1, mine);
    if (!id) return std::move(id).error();
    std::uint64_t ids[] = {*id};
    return ch.wait_all(ids);  // blocking send first: never matched
  });
  EXPECT_TRUE(world.deadlocked());
  for (auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(ErrorKind::canceled)) << r.error().to_string();
  }
}

TEST(CollFakeWorld, ARankThatLeavesEarlyDeadlocksItsPeer) {
  FakeWorld world(3);
  auto results = world.run([&](CollChannel& ch) -> Result<void> {
    if (ch.rank() != 0) return ok();  // never sends what rank 0 waits for
    Buffer buf(4);
    auto id = ch.irecv(2, 1, buf);
    if (!id) return std::move(id).error();
    std::uint64_t ids[] = {*id};
    return ch.wait_all(ids);
  });
  ASSERT_FALSE(results[0]);
  EXPECT_TRUE(results[0].error().is(ErrorKind::canceled));
  EXPECT_TRUE(results[1]);
}

TEST(CollFakeWorld, ALongerMessageThanTheBufferIsTruncated) {
  FakeWorld world(2);
  auto results = world.run([&](CollChannel& ch) -> Result<void> {
    Buffer buf(ch.rank() == 0 ? 8 : 4);
    auto id = ch.rank() == 0 ? ch.isend(1, 1, buf) : ch.irecv(0, 1, buf);
    if (!id) return std::move(id).error();
    std::uint64_t ids[] = {*id};
    return ch.wait_all(ids);
  });
  EXPECT_TRUE(results[0]);
  ASSERT_FALSE(results[1]);
  EXPECT_TRUE(results[1].error().is(ErrorKind::truncated));
}

// The algorithm changes with size and rank count where coll.hpp says: seen in the messages the
// root sends.
TEST(CollChoice, BcastSwitchesToScatterAllgatherForLongMessagesOnFourRanksOrMore) {
  auto root_sends = [](int n, std::size_t size) {
    FakeWorld world(n);
    Buffer buf(size);
    expect_run(world, [&](CollChannel& ch) {
      Buffer mine(size);
      return bcast(ch, ch.rank() == 0 ? buf : mine, 0);
    });
    return world.sends_of(0);
  };
  EXPECT_EQ(root_sends(8, 512 * 1024 - 1), 3u);    // binomial: log2 8 children
  EXPECT_EQ(root_sends(8, 512 * 1024), 3u + 7u);   // scatter + 7 ring steps
  EXPECT_EQ(root_sends(3, 1024 * 1024), 2u);       // 3 ranks: binomial still
  EXPECT_EQ(root_sends(4, 1024 * 1024), 2u + 3u);  // 4 ranks: scatter + ring
}

TEST(CollChoice, GatherGoesLinearForLargeBlocksAndAllgatherRingForLargeTotals) {
  auto sends = [](int n, std::size_t block, bool all, int rank, int dest = -1) {
    FakeWorld world(n);
    expect_run(world, [&](CollChannel& ch) {
      Buffer mine(block), out(n * block);
      return all ? allgather(ch, mine, out) : gather(ch, mine, out, 0);
    });
    return dest < 0 ? world.sends_of(rank) : world.sends_to(rank, dest);
  };
  // Gather on 8 ranks: in the binomial tree rank 7 sends to 6, which forwards to 4; linear,
  // every rank sends to the root.
  EXPECT_EQ(sends(8, 16 * 1024 - 1, false, 7, 6), 1u);
  EXPECT_EQ(sends(8, 16 * 1024 - 1, false, 7, 0), 0u);
  EXPECT_EQ(sends(8, 16 * 1024, false, 7, 0), 1u);
  // Allgather on 8 ranks: recursive doubling (3 steps) below 512 KiB in all, ring (7) above.
  EXPECT_EQ(sends(8, 64 * 1024 - 1, true, 0), 3u);
  EXPECT_EQ(sends(8, 64 * 1024, true, 0), 7u);
  // 6 ranks: Bruck (3 steps), then ring (5).
  EXPECT_EQ(sends(6, 1024, true, 0), 3u);
  EXPECT_EQ(sends(6, 100 * 1024, true, 0), 5u);
}

TEST(CollErrors, BadArgumentsAreRefusedBeforeAnyMessage) {
  FakeWorld world(3);
  auto results = world.run([&](CollChannel& ch) -> Result<void> {
    Buffer buf(12), small(5), other(4);
    std::vector<Error> errors;
    auto expect_invalid = [&](Result<void> r, const char* what) -> Result<void> {
      if (r) return Error(ErrorKind::malformed, std::string(what) + " was accepted");
      if (!r.error().is(ErrorKind::invalid_argument))
        return Error(ErrorKind::malformed, std::string(what) + ": " + r.error().to_string());
      return ok();
    };
    std::vector<Result<void>> checks;
    checks.push_back(expect_invalid(bcast(ch, buf, 3), "bcast root 3"));
    checks.push_back(expect_invalid(bcast(ch, buf, -1), "bcast root -1"));
    checks.push_back(expect_invalid(allgather(ch, other, small), "allgather 5 of 3x4"));
    checks.push_back(expect_invalid(alltoall(ch, buf, small), "alltoall 12 -> 5"));
    std::size_t counts[] = {4, 4, 4};
    std::size_t displs[] = {0, 4, 9};  // the last block passes the end
    checks.push_back(
        expect_invalid(allgatherv(ch, other, buf, counts, displs), "allgatherv past the end"));
    checks.push_back(expect_invalid(allgatherv(ch, other, buf, std::span(counts).first(2), displs),
                                    "allgatherv 2 counts"));
    Reduction bad_size{0, [](const void*, void*, std::size_t) {}, true};
    Reduction ints{4, [](const void*, void*, std::size_t) {}, true};
    checks.push_back(expect_invalid(allreduce(ch, buf, buf, bad_size), "element size 0"));
    checks.push_back(expect_invalid(allreduce(ch, small, small, ints), "5 bytes of ints"));
    checks.push_back(expect_invalid(allreduce(ch, buf, other, ints), "12 -> 4"));
    checks.push_back(expect_invalid(reduce(ch, other, other, ints, 7), "reduce root 7"));
    checks.push_back(expect_invalid(reduce_scatter_block(ch, buf, buf, ints), "12 -> 12"));
    for (auto& c : checks)
      if (!c) return c;
    return ok();
  });
  for (std::size_t r = 0; r < results.size(); ++r)
    EXPECT_TRUE(results[r]) << "rank " << r << ": " << results[r].error().to_string();
  EXPECT_EQ(world.sends_of(0) + world.sends_of(1) + world.sends_of(2), 0u);
}

}  // namespace
}  // namespace nexo::mpi
