// The collective operations of MPI (barrier, broadcast, reductions, gathers, scatters, all-to-all,
// scan) as algorithms over an abstract point-to-point channel, on contiguous bytes.
//
// The runtime implements CollChannel on a communicator's private collective context, so that
// collective traffic never matches a user's receive; the C API packs derived datatypes into
// contiguous bytes before and unpacks them after, and hands a reduction as an element size plus
// a callback (apply_op of the op and the type). Everything here is in bytes: buffer sizes,
// counts and displacements of the v-variants (the C layer multiplies element counts by the
// packed size of the type).
//
// In place (MPI_IN_PLACE): where the standard allows it (the `send` of reduce at the root,
// allreduce, gather at the root, allgather, allgatherv, alltoall, scan, reduce_scatter_block;
// the `recv` of scatter and scatterv at the root) the caller passes kInPlace, a span with a null
// data pointer, and the data is taken from (or left in) the other buffer as the standard says. A
// call of 0 bytes may pass null spans anywhere: nothing moves either way.
//
// Algorithms, chosen as MPICH and Open MPI choose them, by size and rank count (n ranks, m
// bytes); CollTuning holds the thresholds:
//   barrier         dissemination: ceil(log2 n) rounds of zero-byte messages.
//   bcast           binomial tree; for m >= 512 KiB and n >= 4, scatter (binomial) + ring
//                   allgather (van de Geijn): the tree moves m log2(n) bytes along its longest
//                   path, scatter + allgather about 2m, which wins once log2(n) > 2 and the
//                   message is long enough that the extra n - 1 latencies do not count.
//   reduce          binomial tree rooted at the root (commutative); for m >= 128 KiB, n >= 3
//                   and at least n elements, ring reduce-scatter + gather of the chunks to the
//                   root (Rabenseifner's, with a ring): the root takes in about m instead of
//                   m log2(n). For a non-commutative op, at every size, a binomial tree rooted
//                   at rank 0, whose subtrees are runs of consecutive ranks combined left to
//                   right, then the result sent from 0 to the root (MPICH).
//   allreduce       recursive doubling, ranks beyond the largest power of two folded into their
//                   neighbours first and sent the result last; for m >= 128 KiB, a commutative
//                   op, n >= 3 and at least n elements, ring reduce-scatter + ring allgather:
//                   2m(n-1)/n bytes per rank instead of m log2(n) (8 ranks: 1.75m vs 3m), for
//                   2(n-1) messages instead of log2(n) -- worth it where bandwidth dominates,
//                   which on shared memory (about 1 us, 10 GB/s) is from about 100 KiB.
//   gather, scatter binomial tree for blocks under 16 KiB (log2 n latencies at the root instead
//                   of n - 1); linear above, where the tree's copy of each block at every level
//                   costs more than the latencies it saves.
//   gatherv, scatterv, allgatherv   linear (gatherv, scatterv) and ring (allgatherv): blocks of
//                   any size need no temporary buffer.
//   allgather       total n*block under 512 KiB: recursive doubling (n a power of two) or Bruck
//                   (otherwise; log2 n rounds, one temporary buffer and a final rotation);
//                   512 KiB and above: ring (n - 1 steps, no temporary, no extra copy).
//   alltoall        pairwise exchange: n - 1 steps, partner r XOR s (n a power of two) or
//                   send to r + s, receive from r - s.
//   scan            recursive doubling (inclusive), combined in rank order.
//   reduce_scatter_block  commutative: recursive halving (n a power of two) or ring; not
//                   commutative: the ordered reduce to rank 0, then a scatter.
// Each algorithm posts both halves of an exchange (irecv, isend) before waiting for them, so a
// send that completes only once its receive is posted (rendezvous) never deadlocks.
//
// Reduction order: `combine(in, inout, k)` computes inout[i] = in[i] op inout[i], as MPI's user
// functions do. With a non-commutative op, every algorithm here yields x0 op x1 op ... op x(n-1)
// (rank order; MPI assumes the op associative, so only the order is kept, not the grouping).
//
// Errors: invalid_argument (a root out of range, sizes that do not fit the call, a reduction
// with element size 0 or a buffer that is not a whole number of elements) is returned before
// any communication. Only the rank whose arguments are wrong sees such an error (the root's
// counts of gatherv, say): the others go on and may wait for it in vain, as in MPI, where
// mismatched arguments are erroneous and the runtime's error handler ends the job. An error of
// the channel is returned with the collective's name as context; the collective's state is
// then undefined (requests it posted may be live), as in MPI, where an error in a collective
// leaves the communicator unusable.
//
// Blocks: every function returns once this rank's part is done (through channel.wait_all).
// Threads: one collective at a time per channel; all ranks call the same collectives in the same
// order (the MPI rule), which is what lets each algorithm use fixed tags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "nexo/base/result.hpp"

namespace nexo::mpi {

// The point-to-point operations the collectives need, on one communicator's ranks. A receive
// always gets a buffer of exactly the size the matching send has (the algorithms know it), so
// a message longer than its buffer is an error of the channel (truncated). Messages between a
// pair of ranks with equal tags are matched in the order they were posted (non-overtaking).
class CollChannel {
 public:
  using RequestId = std::uint64_t;

  virtual ~CollChannel() = default;

  // This rank and the number of ranks (>= 1).
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Starts a send of `data` (which lives, unchanged, until wait_all reports it) to `dest`.
  // Never blocks; the send may complete only once the receive is posted.
  virtual Result<RequestId> isend(int dest, int tag, std::span<const std::byte> data) = 0;

  // Posts a receive into `buffer` (untouched by the caller until wait_all) from `source`.
  virtual Result<RequestId> irecv(int source, int tag, std::span<std::byte> buffer) = 0;

  // Blocks until every request of `ids` completed (moving every transfer forward meanwhile) and
  // releases them. An error for any of them (truncated, the peer gone, ...) is returned.
  virtual Result<void> wait_all(std::span<const RequestId> ids) = 0;

  // Fast paths a channel may offer (the defaults never take them). send_now: sends `data` and
  // completes the send at once; false (nothing done) when it cannot. recv_now: while this rank
  // has nothing else outstanding, waits for the next message from `source` and takes it into
  // `buffer` if it matches and fits; false when it cannot (a frame it took meanwhile is kept for
  // the irecv the caller then posts).
  virtual Result<bool> send_now(int /*dest*/, int /*tag*/, std::span<const std::byte> /*data*/) {
    return false;
  }
  virtual Result<bool> recv_now(int /*source*/, int /*tag*/, std::span<std::byte> /*buffer*/) {
    return false;
  }
};

// inout[i] = in[i] op inout[i] for `count` elements (MPI_User_function's order: `in` is the
// left operand). Both point to count * element_size bytes, aligned for the element type.
using CombineFn = std::function<void(const void* in, void* inout, std::size_t count)>;

// A reduction: the size of one packed element and how to combine two vectors of them.
struct Reduction {
  std::size_t element_size = 1;
  CombineFn combine;
  bool commutative = true;
};

// The thresholds between algorithms (see the table above). Tests move them to run every
// algorithm at every size; the defaults are the library's choice.
struct CollTuning {
  std::size_t bcast_scatter_min_bytes = 512 * 1024;  // and bcast_scatter_min_ranks ranks
  int bcast_scatter_min_ranks = 4;
  std::size_t allreduce_ring_min_bytes = 128 * 1024;  // commutative ops, n >= 3, count >= n
  std::size_t reduce_ring_min_bytes = 128 * 1024;     // the same conditions
  std::size_t gather_binomial_max_block = 16 * 1024;  // gather and scatter: binomial below
  std::size_t allgather_ring_min_bytes = 512 * 1024;  // n * block
};

// MPI_IN_PLACE: a send span with a null data pointer.
inline constexpr std::span<const std::byte> kInPlace{};

// MPI_Barrier: returns once every rank has entered.
Result<void> barrier(CollChannel& channel);

// MPI_Bcast: `buffer` (same size at every rank) gets the root's bytes.
Result<void> bcast(CollChannel& channel, std::span<std::byte> buffer, int root,
                   const CollTuning& tuning = {});

// MPI_Reduce: `recv` at the root gets the reduction of every rank's `send` (count elements;
// kInPlace at the root: the root's input is in `recv`). `recv` is ignored at the other ranks.
Result<void> reduce(CollChannel& channel, std::span<const std::byte> send,
                    std::span<std::byte> recv, const Reduction& op, int root,
                    const CollTuning& tuning = {});

// MPI_Allreduce: `recv` (the size of `send`) gets the reduction at every rank (kInPlace: the
// input is in `recv`).
Result<void> allreduce(CollChannel& channel, std::span<const std::byte> send,
                       std::span<std::byte> recv, const Reduction& op,
                       const CollTuning& tuning = {});

// MPI_Gather: every rank's `send` (one block, equal at all ranks) lands in the root's `recv`
// (n blocks, rank order). kInPlace at the root: its block is already at recv[root * block].
// `recv` is ignored at the other ranks.
Result<void> gather(CollChannel& channel, std::span<const std::byte> send,
                    std::span<std::byte> recv, int root, const CollTuning& tuning = {});

// MPI_Gatherv: rank i's `send` (counts[i] bytes) lands at recv[displs[i]] of the root. `counts`,
// `displs` (n entries, bytes) and `recv` are significant at the root only. kInPlace at the root.
Result<void> gatherv(CollChannel& channel, std::span<const std::byte> send,
                     std::span<std::byte> recv, std::span<const std::size_t> counts,
                     std::span<const std::size_t> displs, int root);

// MPI_Scatter: block i of the root's `send` (n blocks) lands in rank i's `recv` (one block).
// `send` is ignored at the other ranks. A null `recv` at the root: in place (its block stays).
Result<void> scatter(CollChannel& channel, std::span<const std::byte> send,
                     std::span<std::byte> recv, int root, const CollTuning& tuning = {});

// MPI_Scatterv: send[displs[i], +counts[i]) of the root lands in rank i's `recv` (counts[i]
// bytes). `send`, `counts`, `displs` are significant at the root only. Null `recv` at the root:
// in place.
Result<void> scatterv(CollChannel& channel, std::span<const std::byte> send,
                      std::span<const std::size_t> counts, std::span<const std::size_t> displs,
                      std::span<std::byte> recv, int root);

// MPI_Allgather: every rank's `send` (one block) lands in every rank's `recv` (n blocks).
// kInPlace: this rank's block is already at recv[rank * block].
Result<void> allgather(CollChannel& channel, std::span<const std::byte> send,
                       std::span<std::byte> recv, const CollTuning& tuning = {});

// MPI_Allgatherv: rank i's `send` (counts[i] bytes) lands at recv[displs[i]] of every rank
// (`counts` and `displs` are significant everywhere). kInPlace: this rank's block is in place.
Result<void> allgatherv(CollChannel& channel, std::span<const std::byte> send,
                        std::span<std::byte> recv, std::span<const std::size_t> counts,
                        std::span<const std::size_t> displs);

// MPI_Alltoall: block j of rank i's `send` lands in block i of rank j's `recv` (n equal blocks
// each). kInPlace: the blocks to send are in `recv` and are replaced.
Result<void> alltoall(CollChannel& channel, std::span<const std::byte> send,
                      std::span<std::byte> recv);

// MPI_Scan (inclusive): rank r's `recv` gets send_0 op ... op send_r. kInPlace: input in `recv`.
Result<void> scan(CollChannel& channel, std::span<const std::byte> send, std::span<std::byte> recv,
                  const Reduction& op);

// MPI_Reduce_scatter_block: the reduction of every rank's `send` (n blocks) is scattered: block
// r to rank r's `recv` (one block). kInPlace: the input is `recv` (n blocks) and the result is
// left in its first block.
Result<void> reduce_scatter_block(CollChannel& channel, std::span<const std::byte> send,
                                  std::span<std::byte> recv, const Reduction& op);

}  // namespace nexo::mpi
