// The reductions: reduce, allreduce, scan, reduce_scatter_block (coll.hpp has the table of
// algorithms). Order: op.combine(in, inout) makes inout = in op inout, so a partial result of
// lower ranks is always passed as `in`; where the lower part is in the buffer that must keep the
// result, the two are combined the other way round and the result copied or swapped back.
#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "nexo/mpi/coll.hpp"
#include "nexo/mpi/coll_steps.hpp"

namespace nexo::mpi {
namespace coll {
namespace {

// inout = in op inout, element by element.
void combine(const Reduction& op, ConstBytes in, Bytes inout) {
  if (!inout.empty()) op.combine(in.data(), inout.data(), inout.size() / op.element_size);
}

Result<void> check_reduction(const char* what, const CollChannel& channel, const Reduction& op,
                             std::size_t bytes) {
  int n = channel.size();
  int r = channel.rank();
  if (n < 1 || r < 0 || r >= n)
    return invalid(what, "the channel's rank " + std::to_string(r) + " of size " +
                             std::to_string(n) + " is out of range");
  if (op.element_size == 0 || !op.combine)
    return invalid(what, "the reduction has no element size or no combine function");
  if (bytes % op.element_size != 0)
    return invalid(what, "a buffer of " + std::to_string(bytes) +
                             " bytes is not a whole number of " + std::to_string(op.element_size) +
                             "-byte elements");
  return ok();
}

// Binomial tree on ranks relative to `root` (any order of operands: commutative ops). `acc`
// holds this rank's input and, at the root, ends with the result.
Result<void> reduce_binomial(CollChannel& channel, Bytes acc, const Reduction& op, int root) {
  int n = channel.size();
  int vr = wrap(channel.rank() - root, n);
  std::vector<std::byte> tmp(acc.size());
  for (int mask = 1; mask < n; mask <<= 1) {
    Step step(channel, "reduce");
    if ((vr & mask) != 0) {
      NEXO_COLL_TRY(step.send(wrap((vr & ~mask) + root, n), kTagReduce, acc));
      return step.wait();
    }
    int child = vr | mask;
    if (child >= n) continue;
    NEXO_COLL_TRY(step.recv(wrap(child + root, n), kTagReduce, tmp));
    NEXO_COLL_TRY(step.wait());
    combine(op, tmp, acc);
  }
  return ok();
}

// Rabenseifner's reduce with a ring for its first half (commutative ops): the ring
// reduce-scatter leaves chunk r reduced at rank r, then the root collects the chunks. Every rank
// sends about m bytes in all, where the binomial tree has the root take in m log2(n).
Result<void> reduce_scatter_gather(CollChannel& channel, Bytes acc, const Reduction& op, int root) {
  int n = channel.size();
  int r = channel.rank();
  Chunks chunks = element_chunks(acc.size() / op.element_size, op.element_size, n);
  std::vector<std::byte> tmp(chunks.length[0]);  // the first chunk is the largest
  NEXO_COLL_TRY(ring_reduce_scatter(channel, acc, tmp, chunks, op));
  Step step(channel, "reduce");
  if (r != root) {
    NEXO_COLL_TRY(step.send(root, kTagReduceGather, chunks.of(acc, r)));
    return step.wait();
  }
  for (int i = 0; i < n; ++i) {
    if (i != root) NEXO_COLL_TRY(step.recv(i, kTagReduceGather, chunks.of(acc, i)));
  }
  return step.wait();
}

// Binomial tree rooted at rank 0 on absolute ranks: the subtree of r is the run of ranks
// [r, r + lowbit(r)), so a rank always holds the reduction of a run of consecutive ranks and
// appends the next run on its right. Rank 0 writes the result to `out`.
Result<void> reduce_ordered(CollChannel& channel, ConstBytes input, Bytes out,
                            const Reduction& op) {
  int n = channel.size();
  int r = channel.rank();
  std::vector<std::byte> acc(input.begin(), input.end());
  std::vector<std::byte> tmp(input.size());
  for (int mask = 1; mask < n; mask <<= 1) {
    Step step(channel, "reduce");
    if ((r & mask) != 0) {
      NEXO_COLL_TRY(step.send(r & ~mask, kTagReduce, acc));
      return step.wait();
    }
    int source = r | mask;
    if (source >= n) continue;
    NEXO_COLL_TRY(step.recv(source, kTagReduce, tmp));
    NEXO_COLL_TRY(step.wait());
    combine(op, acc, tmp);  // tmp = acc op tmp: ours are the lower ranks
    std::swap(acc, tmp);
  }
  copy_bytes(out, acc);
  return ok();
}

// Recursive doubling. With n not a power of two, the first 2 * rem ranks (rem = n - pof2) pair
// up: each even one hands its input to the odd one above and sits out, and gets the result
// back at the end (MPICH); the pof2 ranks left keep the rank order (new rank r/2 or r - rem).
Result<void> allreduce_doubling(CollChannel& channel, Bytes acc, const Reduction& op) {
  int n = channel.size();
  int r = channel.rank();
  int pof2 = floor_pow2(n);
  int rem = n - pof2;
  // A small vector (the common allreduce of a few numbers) needs no allocation.
  std::array<std::byte, 256> small;
  std::vector<std::byte> large;
  Bytes tmp(small.data(), acc.size());
  if (acc.size() > small.size()) {
    large.resize(acc.size());
    tmp = Bytes(large);
  }
  int newrank = r - rem;
  if (r < 2 * rem) {
    Step step(channel, "allreduce");
    if (r % 2 == 0) {
      NEXO_COLL_TRY(step.send(r + 1, kTagAllreduceFold, acc));
      newrank = -1;
    } else {
      NEXO_COLL_TRY(step.recv(r - 1, kTagAllreduceFold, tmp));
      newrank = r / 2;
    }
    NEXO_COLL_TRY(step.wait());
    if (newrank != -1) combine(op, tmp, acc);
  }
  if (newrank != -1) {
    for (int mask = 1; mask < pof2; mask <<= 1) {
      int newdst = newrank ^ mask;
      int dst = newdst < rem ? newdst * 2 + 1 : newdst + rem;
      NEXO_COLL_TRY(exchange(channel, "allreduce", kTagAllreduce, dst, acc, dst, tmp));
      if (op.commutative || dst < r) {
        combine(op, tmp, acc);
      } else {
        combine(op, acc, tmp);
        copy_bytes(acc, tmp);
      }
    }
  }
  if (r < 2 * rem) {
    Step step(channel, "allreduce");
    if (r % 2 == 1) {
      NEXO_COLL_TRY(step.send(r - 1, kTagAllreduceFold, acc));
    } else {
      NEXO_COLL_TRY(step.recv(r + 1, kTagAllreduceFold, acc));
    }
    NEXO_COLL_TRY(step.wait());
  }
  return ok();
}

// Recursive halving (commutative, n a power of two): each step a rank keeps the half of its
// current block range that holds block r, sends the other half to its partner r ^ mask and
// reduces the partner's copy of the kept half into its own.
Result<void> reduce_scatter_halving(CollChannel& channel, Bytes acc, std::size_t block,
                                    const Reduction& op) {
  int n = channel.size();
  int r = channel.rank();
  std::vector<std::byte> tmp(static_cast<std::size_t>(n / 2) * block);
  std::size_t lo = 0;
  for (int mask = n / 2; mask >= 1; mask >>= 1) {
    int partner = r ^ mask;
    auto half = static_cast<std::size_t>(mask);
    std::size_t keep = (r & mask) != 0 ? lo + half : lo;
    std::size_t give = (r & mask) != 0 ? lo : lo + half;
    Bytes in = Bytes(tmp).first(half * block);
    NEXO_COLL_TRY(exchange(channel, "reduce_scatter_block", kTagReduceScatter, partner,
                           acc.subspan(give * block, half * block), partner, in));
    combine(op, in, acc.subspan(keep * block, half * block));
    lo = keep;
  }
  return ok();
}

}  // namespace

Result<void> ring_reduce_scatter(CollChannel& channel, Bytes acc, Bytes tmp, const Chunks& chunks,
                                 const Reduction& op) {
  int n = channel.size();
  int r = channel.rank();
  // Step s: send chunk r-1-s (holding ranks r-s..r) right, receive chunk r-2-s (ranks
  // r-1-s..r-1) from the left and add ours: after n - 1 steps chunk r holds all n.
  for (int s = 0; s < n - 1; ++s) {
    int out = wrap(r - 1 - s, n);
    int in = wrap(r - 2 - s, n);
    Bytes into = tmp.first(chunks.length[static_cast<std::size_t>(in)]);
    NEXO_COLL_TRY(exchange(channel, "reduce-scatter", kTagRingReduce, wrap(r + 1, n),
                           chunks.of(acc, out), wrap(r - 1, n), into));
    combine(op, into, chunks.of(acc, in));
  }
  return ok();
}

}  // namespace coll

using namespace coll;

Result<void> reduce(CollChannel& channel, std::span<const std::byte> send,
                    std::span<std::byte> recv, const Reduction& op, int root,
                    const CollTuning& tuning) {
  bool at_root = channel.rank() == root;
  bool in_place = send.data() == nullptr && at_root;
  std::size_t bytes = in_place ? recv.size() : send.size();
  NEXO_COLL_TRY(check_reduction("reduce", channel, op, bytes));
  if (root < 0 || root >= channel.size())
    return invalid("reduce", "root " + std::to_string(root) + " is not a rank (0.." +
                                 std::to_string(channel.size() - 1) + ")");
  if (at_root && recv.size() != bytes)
    return invalid("reduce", "the root's receive buffer has " + std::to_string(recv.size()) +
                                 " bytes for " + std::to_string(bytes));
  ConstBytes input = in_place ? ConstBytes(recv) : send;
  if (op.commutative) {
    std::vector<std::byte> own;
    Bytes acc = recv;
    if (!at_root) {
      own.assign(send.begin(), send.end());
      acc = own;
    } else if (!in_place) {
      copy_bytes(recv, send);
    }
    if (channel.size() >= 3 && bytes >= tuning.reduce_ring_min_bytes &&
        bytes / op.element_size >= static_cast<std::size_t>(channel.size()))
      return reduce_scatter_gather(channel, acc, op, root);
    return reduce_binomial(channel, acc, op, root);
  }
  // Not commutative: the ordered tree ends at rank 0, which passes the result to the root.
  int r = channel.rank();
  std::vector<std::byte> result(r == 0 && root != 0 ? bytes : 0);
  NEXO_COLL_TRY(reduce_ordered(channel, input, r == 0 && root == 0 ? recv : Bytes(result), op));
  if (root == 0 || (r != 0 && !at_root)) return ok();
  Step step(channel, "reduce");
  if (r == 0) {
    NEXO_COLL_TRY(step.send(root, kTagReduceToRoot, result));
  } else {
    NEXO_COLL_TRY(step.recv(0, kTagReduceToRoot, recv));
  }
  return step.wait();
}

Result<void> allreduce(CollChannel& channel, std::span<const std::byte> send,
                       std::span<std::byte> recv, const Reduction& op, const CollTuning& tuning) {
  NEXO_COLL_TRY(check_reduction("allreduce", channel, op, recv.size()));
  if (send.data() != nullptr) {
    if (send.size() != recv.size())
      return invalid("allreduce", "send (" + std::to_string(send.size()) + " bytes) and receive (" +
                                      std::to_string(recv.size()) + " bytes) buffers differ");
    copy_bytes(recv, send);
  }
  int n = channel.size();
  if (n == 1) return ok();
  std::size_t count = recv.size() / op.element_size;
  if (op.commutative && n >= 3 && recv.size() >= tuning.allreduce_ring_min_bytes &&
      count >= static_cast<std::size_t>(n)) {
    Chunks chunks = element_chunks(count, op.element_size, n);
    std::vector<std::byte> tmp(chunks.length[0]);  // the first chunk is the largest
    NEXO_COLL_TRY(ring_reduce_scatter(channel, recv, tmp, chunks, op));
    int r = channel.rank();
    return ring_allgather(channel, "allreduce", kTagRingGather, recv, chunks, r, wrap(r - 1, n),
                          wrap(r + 1, n));
  }
  return allreduce_doubling(channel, recv, op);
}

Result<void> scan(CollChannel& channel, std::span<const std::byte> send, std::span<std::byte> recv,
                  const Reduction& op) {
  NEXO_COLL_TRY(check_reduction("scan", channel, op, recv.size()));
  if (send.data() != nullptr) {
    if (send.size() != recv.size())
      return invalid("scan", "send (" + std::to_string(send.size()) + " bytes) and receive (" +
                                 std::to_string(recv.size()) + " bytes) buffers differ");
    copy_bytes(recv, send);
  }
  int n = channel.size();
  int r = channel.rank();
  // Recursive doubling (MPICH): `partial` is the reduction of r's aligned run of `mask` ranks,
  // exchanged with the partner run; a lower partner's run is also folded into the result.
  std::vector<std::byte> partial(recv.begin(), recv.end());
  std::vector<std::byte> tmp(recv.size());
  for (int mask = 1; mask < n; mask <<= 1) {
    int dst = r ^ mask;
    if (dst >= n) continue;
    NEXO_COLL_TRY(exchange(channel, "scan", kTagScan, dst, partial, dst, tmp));
    if (dst < r) {
      combine(op, tmp, partial);
      combine(op, tmp, recv);
    } else if (op.commutative) {
      combine(op, tmp, partial);
    } else {
      combine(op, partial, tmp);  // tmp = partial op tmp: ours are the lower ranks
      std::swap(partial, tmp);
    }
  }
  return ok();
}

Result<void> reduce_scatter_block(CollChannel& channel, std::span<const std::byte> send,
                                  std::span<std::byte> recv, const Reduction& op) {
  bool in_place = send.data() == nullptr;
  NEXO_COLL_TRY(check_reduction("reduce_scatter_block", channel, op, recv.size()));
  int n = channel.size();
  int r = channel.rank();
  auto parts = static_cast<std::size_t>(n);
  if (in_place ? recv.size() % parts != 0 : send.size() != parts * recv.size())
    return invalid("reduce_scatter_block",
                   "the input of " + std::to_string(in_place ? recv.size() : send.size()) +
                       " bytes is not " + std::to_string(n) + " blocks (of the receive buffer's " +
                       std::to_string(recv.size()) + " bytes" + (in_place ? " in place)" : ")"));
  std::size_t block = in_place ? recv.size() / parts : recv.size();
  if (block % op.element_size != 0)
    return invalid("reduce_scatter_block", "a block of " + std::to_string(block) +
                                               " bytes is not a whole number of elements");
  ConstBytes input = in_place ? ConstBytes(recv) : send;
  Bytes out = recv.first(block);
  if (!op.commutative) {
    std::vector<std::byte> full(r == 0 ? input.size() : 0);
    NEXO_COLL_TRY(reduce_ordered(channel, input, full, op));
    return scatter_blocks(channel, full, out, block, 0, CollTuning{});
  }
  std::vector<std::byte> acc(input.begin(), input.end());
  if (is_pow2(n)) {
    NEXO_COLL_TRY(reduce_scatter_halving(channel, acc, block, op));
  } else {
    std::vector<std::byte> tmp(block);
    NEXO_COLL_TRY(ring_reduce_scatter(channel, acc, tmp, block_chunks(block, n), op));
  }
  copy_bytes(out, Bytes(acc).subspan(static_cast<std::size_t>(r) * block, block));
  return ok();
}

}  // namespace nexo::mpi
