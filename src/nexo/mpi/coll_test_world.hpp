// Test support for the collectives: n ranks on n threads of one process, wired by an in-memory
// CollChannel (coll_test*.cpp).
//
// Messages match by (source, tag) in the order they were posted, as in MPI. Every send is
// rendezvous: it completes only once a receive matched it (the bytes are copied then), which is
// the strictest behaviour a real channel may have, so a schedule that relies on buffering
// deadlocks here. A deadlock is detected, not waited out: when every rank still running is in
// wait_all and none of them can complete (nothing else can post), every waiter returns an error
// (kind canceled, "deadlock"). A deadline (timed_out) backs that up.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "nexo/mpi/coll.hpp"

namespace nexo::mpi::test {

// Which ranks' channels offer the fast paths (CollChannel::send_now, recv_now). The fake takes
// them only where a rendezvous allows: send_now when the matching receive is already posted,
// recv_now when the matching send is, so that a schedule which relies on buffering still
// deadlocks here. By default the odd ranks take them and the even ones do not, so that every
// collective test runs both ways against each other.
enum class FastPaths { none, odd_ranks, all };

class FakeWorld {
 public:
  explicit FakeWorld(int n, std::chrono::milliseconds deadline = std::chrono::seconds(60),
                     FastPaths fast = FastPaths::odd_ranks);
  FakeWorld(int n, FastPaths fast) : FakeWorld(n, std::chrono::seconds(60), fast) {}

  // Runs body(channel) on one thread per rank and returns each rank's result (index = rank).
  std::vector<Result<void>> run(const std::function<Result<void>(CollChannel&)>& body);

  int size() const { return n_; }
  // Sends and receives posted that never matched (after run: 0 for a correct collective).
  std::size_t unmatched() const;
  // Sends rank r posted (to `dest`), over all runs.
  std::uint64_t sends_of(int rank) const;
  std::uint64_t sends_to(int rank, int dest) const;
  bool deadlocked() const;
  // Sends and receives that took a fast path, over all runs.
  std::uint64_t fast_sends() const;
  std::uint64_t fast_receives() const;

 private:
  friend class FakeChannel;
  struct Send {
    int source = 0;
    int dest = 0;
    int tag = 0;
    std::span<const std::byte> data;
    std::uint64_t id = 0;
  };
  struct Recv {
    int source = 0;
    int dest = 0;
    int tag = 0;
    std::span<std::byte> buffer;
    std::uint64_t id = 0;
  };

  Result<std::uint64_t> isend(int source, int dest, int tag, std::span<const std::byte> data);
  Result<std::uint64_t> irecv(int dest, int source, int tag, std::span<std::byte> buffer);
  Result<void> wait_all(int rank, std::span<const std::uint64_t> ids);
  bool offers_fast_paths(int rank) const;
  Result<bool> send_now(int source, int dest, int tag, std::span<const std::byte> data);
  Result<bool> recv_now(int dest, int source, int tag, std::span<std::byte> buffer);
  void match(const Send& send, const Recv& recv);
  bool complete(const std::vector<std::uint64_t>& ids) const;  // mu_ held
  void check_deadlock();                                       // mu_ held
  void finished();

  const int n_;
  const std::chrono::milliseconds deadline_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t next_id_ = 1;
  std::deque<Send> sends_;                                        // unmatched, in posting order
  std::deque<Recv> recvs_;                                        // unmatched, in posting order
  std::unordered_map<std::uint64_t, std::optional<Error>> done_;  // completed, not yet waited
  std::vector<std::vector<std::uint64_t>> waiting_;               // per rank, while in wait_all
  std::vector<std::uint64_t> sends_count_;                        // [source * n + dest]
  int running_ = 0;
  bool deadlock_ = false;
  const FastPaths fast_;
  std::uint64_t fast_sends_ = 0;
  std::uint64_t fast_receives_ = 0;
};

class FakeChannel final : public CollChannel {
 public:
  FakeChannel(FakeWorld& world, int rank) : world_(world), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return world_.n_; }
  Result<RequestId> isend(int dest, int tag, std::span<const std::byte> data) override {
    return world_.isend(rank_, dest, tag, data);
  }
  Result<RequestId> irecv(int source, int tag, std::span<std::byte> buffer) override {
    return world_.irecv(rank_, source, tag, buffer);
  }
  Result<void> wait_all(std::span<const RequestId> ids) override {
    return world_.wait_all(rank_, ids);
  }
  Result<bool> send_now(int dest, int tag, std::span<const std::byte> data) override {
    if (!world_.offers_fast_paths(rank_)) return false;
    return world_.send_now(rank_, dest, tag, data);
  }
  Result<bool> recv_now(int source, int tag, std::span<std::byte> buffer) override {
    if (!world_.offers_fast_paths(rank_)) return false;
    return world_.recv_now(rank_, source, tag, buffer);
  }

 private:
  FakeWorld& world_;
  int rank_;
};

// Bytes that differ by rank, salt and position.
inline std::vector<std::byte> pattern(int rank, std::size_t size, unsigned salt = 0) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] =
        std::byte((i * 131 + static_cast<std::size_t>(rank) * 29 + salt * 7 + i / 251) & 0xFF);
  return bytes;
}

// Runs `body` on every rank of `world`: each must succeed and every message must have matched.
inline void expect_run(FakeWorld& world, const std::function<Result<void>(CollChannel&)>& body) {
  auto results = world.run(body);
  for (std::size_t r = 0; r < results.size(); ++r)
    EXPECT_TRUE(results[r]) << "rank " << r << ": " << results[r].error().to_string();
  EXPECT_EQ(world.unmatched(), 0u) << "sends or receives left unmatched";
}

// Tunings that force one family of algorithms at every size.
struct NamedTuning {
  const char* name;
  CollTuning tuning;
};
inline std::vector<NamedTuning> tunings() {
  constexpr auto kMax = std::numeric_limits<std::size_t>::max();
  CollTuning small{.bcast_scatter_min_bytes = kMax,
                   .bcast_scatter_min_ranks = std::numeric_limits<int>::max(),
                   .allreduce_ring_min_bytes = kMax,
                   .reduce_ring_min_bytes = kMax,
                   .gather_binomial_max_block = kMax,
                   .allgather_ring_min_bytes = kMax};
  CollTuning large{.bcast_scatter_min_bytes = 0,
                   .bcast_scatter_min_ranks = 1,
                   .allreduce_ring_min_bytes = 0,
                   .reduce_ring_min_bytes = 0,
                   .gather_binomial_max_block = 0,
                   .allgather_ring_min_bytes = 0};
  return {{"default", CollTuning{}}, {"small algorithms", small}, {"large algorithms", large}};
}

inline constexpr int kMaxRanks = 8;

// Roots worth testing at n ranks: the first, a middle one and the last.
inline std::vector<int> roots_of(int n) {
  std::vector<int> roots{0};
  if (n / 2 != 0) roots.push_back(n / 2);
  if (n - 1 != n / 2 && n - 1 != 0) roots.push_back(n - 1);
  return roots;
}

}  // namespace nexo::mpi::test
