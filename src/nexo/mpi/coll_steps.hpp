// Building blocks shared by coll.cpp and coll_reduce.cpp (internal to mpi/): the tags of the
// algorithms, one exchange step (receives and sends posted, then waited for together), chunk
// layouts and the two ring phases.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nexo/mpi/coll.hpp"

namespace nexo::mpi::coll {

// One tag per algorithm: collectives run one at a time per communicator and in the same order at
// every rank, and messages of a pair of ranks with one tag match in order, so the tags only have
// to tell apart the phases a rank may have in flight at once.
enum Tag : int {
  kTagBarrier = 1,
  kTagBcast,
  kTagBcastScatter,
  kTagBcastRing,
  kTagReduce,
  kTagReduceToRoot,
  kTagReduceGather,
  kTagAllreduceFold,
  kTagAllreduce,
  kTagRingReduce,
  kTagRingGather,
  kTagGather,
  kTagScatter,
  kTagAllgather,
  kTagAlltoall,
  kTagScan,
  kTagReduceScatter,
};

using Bytes = std::span<std::byte>;
using ConstBytes = std::span<const std::byte>;

// a mod n in [0, n) for any sign of a.
inline int wrap(int a, int n) {
  int m = a % n;
  return m < 0 ? m + n : m;
}

// The largest power of two <= n (n >= 1).
inline int floor_pow2(int n) {
  int p = 1;
  while (p * 2 <= n)
    p *= 2;
  return p;
}

inline bool is_pow2(int n) {
  return (n & (n - 1)) == 0;
}

inline void copy_bytes(Bytes to, ConstBytes from) {
  if (!from.empty()) std::memmove(to.data(), from.data(), from.size());
}

Error invalid(const char* what, const std::string& why);

// Requests posted in one step of an algorithm, waited for together. Post the receives first.
class Step {
 public:
  Step(CollChannel& channel, const char* what) : channel_(channel), what_(what) {}

  // A step's first receive is posted only at wait() (or when a second one comes): a step that
  // is one receive and sends that went out at once (CollChannel::send_now) then takes it with
  // CollChannel::recv_now, with no request. Posting it late is safe: a message that arrives
  // first waits among the unexpected ones, and wait() posts every receive before it blocks.
  Result<void> recv(int from, int tag, Bytes buffer);
  Result<void> send(int to, int tag, ConstBytes data);
  Result<void> wait();

 private:
  // Most steps have one or two requests: kept inline, no allocation per step.
  static constexpr std::size_t kInline = 4;
  void add(CollChannel::RequestId id);
  Result<void> post(int from, int tag, Bytes buffer);
  Result<void> post_deferred();

  struct Deferred {
    int from = 0;
    int tag = 0;
    Bytes buffer;
  };

  CollChannel& channel_;
  const char* what_;
  std::array<CollChannel::RequestId, kInline> inline_{};
  std::size_t count_ = 0;
  std::vector<CollChannel::RequestId> spilled_;  // every id, once there are more than kInline
  std::optional<Deferred> deferred_;             // the first receive, not posted yet
};

// One receive and one send with their wait: the step of every symmetric exchange.
Result<void> exchange(CollChannel& channel, const char* what, int tag, int to, ConstBytes out,
                      int from, Bytes in);

// A partition of a buffer into n chunks (offset, length), some possibly empty.
struct Chunks {
  std::vector<std::size_t> offset;
  std::vector<std::size_t> length;
  Bytes of(Bytes buffer, int i) const {
    return buffer.subspan(offset[static_cast<std::size_t>(i)], length[static_cast<std::size_t>(i)]);
  }
  ConstBytes of(ConstBytes buffer, int i) const {
    return buffer.subspan(offset[static_cast<std::size_t>(i)], length[static_cast<std::size_t>(i)]);
  }
};

// count elements split as evenly as the elements allow (the first count % n get one more).
Chunks element_chunks(std::size_t count, std::size_t element_size, int n);
// n blocks of `block` bytes.
Chunks block_chunks(std::size_t block, int n);

// Ring reduce-scatter (commutative ops): after n - 1 steps chunk r of `acc` at rank r holds the
// reduction of every rank's chunk r. `tmp` holds the largest chunk.
Result<void> ring_reduce_scatter(CollChannel& channel, Bytes acc, Bytes tmp, const Chunks& chunks,
                                 const Reduction& op);

// Ring allgather: the member at index `me` of the ring (left and right its neighbours' ranks)
// holds chunk `me` of `buffer`; after n - 1 steps every member holds every chunk.
Result<void> ring_allgather(CollChannel& channel, const char* what, int tag, Bytes buffer,
                            const Chunks& chunks, int me, int left, int right);

// Scatter with the root's n blocks in `send` (see coll.hpp), shared with reduce_scatter_block.
Result<void> scatter_blocks(CollChannel& channel, ConstBytes send, Bytes recv, std::size_t block,
                            int root, const CollTuning& tuning);

}  // namespace nexo::mpi::coll

// Returns the error of a failed Result<void> from the enclosing function.
#define NEXO_COLL_TRY(expr)                                             \
  do {                                                                  \
    if (auto nexo_coll_r_ = (expr); !nexo_coll_r_) return nexo_coll_r_; \
  } while (0)
