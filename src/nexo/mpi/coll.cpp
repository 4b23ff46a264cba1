// Barrier, broadcast, the gathers and scatters, allgather and alltoall (coll_reduce.cpp has the
// reductions). The algorithms follow MPICH's (src/mpi/coll/*); the table in coll.hpp says which
// runs when.
#include "nexo/mpi/coll.hpp"

#include <algorithm>
#include <string>

#include "nexo/mpi/coll_steps.hpp"

namespace nexo::mpi {
namespace coll {

Error invalid(const char* what, const std::string& why) {
  return Error(ErrorKind::invalid_argument, std::string(what) + ": " + why);
}

void Step::add(CollChannel::RequestId id) {
  if (count_ < kInline) {
    inline_[count_] = id;
  } else {
    if (count_ == kInline) spilled_.assign(inline_.begin(), inline_.end());
    spilled_.push_back(id);
  }
  ++count_;
}

Result<void> Step::post(int from, int tag, Bytes buffer) {
  auto id = channel_.irecv(from, tag, buffer);
  if (!id)
    return std::move(id).error().with_context(std::string(what_) + ": receive from rank " +
                                              std::to_string(from));
  add(*id);
  return ok();
}

Result<void> Step::post_deferred() {
  if (!deferred_) return ok();
  const Deferred d = *deferred_;
  deferred_.reset();
  return post(d.from, d.tag, d.buffer);
}

Result<void> Step::recv(int from, int tag, Bytes buffer) {
  if (!deferred_ && count_ == 0) {
    deferred_ = Deferred{from, tag, buffer};
    return ok();
  }
  // Receives are posted in the order they were asked for.
  NEXO_COLL_TRY(post_deferred());
  return post(from, tag, buffer);
}

Result<void> Step::send(int to, int tag, ConstBytes data) {
  auto now = channel_.send_now(to, tag, data);
  if (now && *now) return ok();
  auto id = now ? channel_.isend(to, tag, data) : Result<CollChannel::RequestId>(now.error());
  if (!id)
    return std::move(id).error().with_context(std::string(what_) + ": send to rank " +
                                              std::to_string(to));
  add(*id);
  return ok();
}

Result<void> Step::wait() {
  if (deferred_ && count_ == 0) {
    const Deferred d = *deferred_;
    auto now = channel_.recv_now(d.from, d.tag, d.buffer);
    if (!now)
      return std::move(now).error().with_context(std::string(what_) + ": receive from rank " +
                                                 std::to_string(d.from));
    if (*now) {
      deferred_.reset();
      return ok();
    }
  }
  NEXO_COLL_TRY(post_deferred());
  if (count_ == 0) return ok();
  const std::span<const CollChannel::RequestId> ids =
      count_ <= kInline ? std::span<const CollChannel::RequestId>(inline_.data(), count_)
                        : std::span<const CollChannel::RequestId>(spilled_);
  auto done = channel_.wait_all(ids);
  count_ = 0;
  spilled_.clear();
  if (!done) return std::move(done).error().with_context(what_);
  return ok();
}

Result<void> exchange(CollChannel& channel, const char* what, int tag, int to, ConstBytes out,
                      int from, Bytes in) {
  Step step(channel, what);
  NEXO_COLL_TRY(step.recv(from, tag, in));
  NEXO_COLL_TRY(step.send(to, tag, out));
  return step.wait();
}

Chunks element_chunks(std::size_t count, std::size_t element_size, int n) {
  Chunks chunks;
  auto parts = static_cast<std::size_t>(n);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < parts; ++i) {
    std::size_t elements = count / parts + (i < count % parts ? 1 : 0);
    chunks.offset.push_back(offset);
    chunks.length.push_back(elements * element_size);
    offset += elements * element_size;
  }
  return chunks;
}

Chunks block_chunks(std::size_t block, int n) {
  Chunks chunks;
  for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
    chunks.offset.push_back(i * block);
    chunks.length.push_back(block);
  }
  return chunks;
}

Result<void> ring_allgather(CollChannel& channel, const char* what, int tag, Bytes buffer,
                            const Chunks& chunks, int me, int left, int right) {
  int n = channel.size();
  for (int s = 0; s < n - 1; ++s) {
    NEXO_COLL_TRY(exchange(channel, what, tag, right, chunks.of(buffer, wrap(me - s, n)), left,
                           chunks.of(buffer, wrap(me - s - 1, n))));
  }
  return ok();
}

namespace {

Result<void> check_channel(const CollChannel& channel, const char* what) {
  int n = channel.size();
  int r = channel.rank();
  if (n < 1 || r < 0 || r >= n)
    return invalid(what, "the channel's rank " + std::to_string(r) + " of size " +
                             std::to_string(n) + " is out of range");
  return ok();
}

Result<void> check_root(const CollChannel& channel, const char* what, int root) {
  NEXO_COLL_TRY(check_channel(channel, what));
  if (root < 0 || root >= channel.size())
    return invalid(what, "root " + std::to_string(root) + " is not a rank (0.." +
                             std::to_string(channel.size() - 1) + ")");
  return ok();
}

// The binomial tree of MPICH, on ranks relative to the root (vr = 0 is the root): the parent of
// vr clears its lowest set bit; vr's subtree is [vr, vr + lowbit(vr)) cut at n.
int subtree_size(int vr, int n) {
  if (vr == 0) return n;
  return std::min(vr & -vr, n - vr);
}

Result<void> bcast_binomial(CollChannel& channel, Bytes buffer, int root) {
  int n = channel.size();
  int vr = wrap(channel.rank() - root, n);
  int mask = 1;
  while (mask < n) {
    if ((vr & mask) != 0) {
      Step step(channel, "bcast");
      NEXO_COLL_TRY(step.recv(wrap(vr - mask + root, n), kTagBcast, buffer));
      NEXO_COLL_TRY(step.wait());
      break;
    }
    mask <<= 1;
  }
  Step step(channel, "bcast");
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (vr + mask < n) NEXO_COLL_TRY(step.send(wrap(vr + mask + root, n), kTagBcast, buffer));
  }
  return step.wait();
}

// van de Geijn: a binomial scatter of n chunks (chunk i to relative rank i), then a ring
// allgather of the chunks.
Result<void> bcast_scatter_ring(CollChannel& channel, Bytes buffer, int root) {
  int n = channel.size();
  int vr = wrap(channel.rank() - root, n);
  std::size_t m = buffer.size();
  std::size_t chunk = (m + static_cast<std::size_t>(n) - 1) / static_cast<std::size_t>(n);
  // Chunks [first, first + count) of the buffer, cut at its end.
  auto chunks = [&](int first, int count) {
    std::size_t begin = std::min(m, static_cast<std::size_t>(first) * chunk);
    std::size_t end = std::min(m, static_cast<std::size_t>(first + count) * chunk);
    return buffer.subspan(begin, end - begin);
  };
  int mask = 1;
  while (mask < n) {
    if ((vr & mask) != 0) {
      Step step(channel, "bcast");
      NEXO_COLL_TRY(
          step.recv(wrap(vr - mask + root, n), kTagBcastScatter, chunks(vr, subtree_size(vr, n))));
      NEXO_COLL_TRY(step.wait());
      break;
    }
    mask <<= 1;
  }
  Step step(channel, "bcast");
  for (mask >>= 1; mask > 0; mask >>= 1) {
    int child = vr + mask;
    if (child < n)
      NEXO_COLL_TRY(step.send(wrap(child + root, n), kTagBcastScatter,
                              chunks(child, subtree_size(child, n))));
  }
  NEXO_COLL_TRY(step.wait());
  Chunks ring;
  for (int i = 0; i < n; ++i) {
    Bytes c = chunks(i, 1);
    ring.offset.push_back(static_cast<std::size_t>(c.data() - buffer.data()));
    ring.length.push_back(c.size());
  }
  return ring_allgather(channel, "bcast", kTagBcastRing, buffer, ring, vr, wrap(vr - 1 + root, n),
                        wrap(vr + 1 + root, n));
}

// Root: receives every block straight into place; the others send theirs.
Result<void> gather_linear(CollChannel& channel, const char* what, ConstBytes send, Bytes recv,
                           const Chunks& blocks, int root) {
  int n = channel.size();
  int r = channel.rank();
  Step step(channel, what);
  if (r != root) {
    NEXO_COLL_TRY(step.send(root, kTagGather, send));
    return step.wait();
  }
  for (int i = 0; i < n; ++i) {
    if (i != root) NEXO_COLL_TRY(step.recv(i, kTagGather, blocks.of(recv, i)));
  }
  if (send.data() != nullptr) copy_bytes(blocks.of(recv, root), send);
  return step.wait();
}

Result<void> scatter_linear(CollChannel& channel, const char* what, ConstBytes send,
                            const Chunks& blocks, Bytes recv, int root) {
  int n = channel.size();
  int r = channel.rank();
  Step step(channel, what);
  if (r != root) {
    NEXO_COLL_TRY(step.recv(root, kTagScatter, recv));
    return step.wait();
  }
  for (int i = 0; i < n; ++i) {
    if (i != root) {
      NEXO_COLL_TRY(step.send(i, kTagScatter, blocks.of(send, i)));
    }
  }
  if (recv.data() != nullptr) copy_bytes(recv, blocks.of(send, root));
  return step.wait();
}

// Each rank gathers its subtree's blocks (relative rank order) into `tmp`, then sends them to
// its parent; the root rotates them into rank order.
Result<void> gather_binomial(CollChannel& channel, ConstBytes send, Bytes recv, std::size_t block,
                             int root) {
  int n = channel.size();
  int r = channel.rank();
  int vr = wrap(r - root, n);
  int subtree = subtree_size(vr, n);
  ConstBytes own = send.data() != nullptr ? send : ConstBytes(recv.subspan(r * block, block));
  if (n == 1) {
    copy_bytes(recv, own);
    return ok();
  }
  std::vector<std::byte> storage;
  Bytes tmp;
  if (subtree > 1) {
    if (vr == 0 && root == 0) {
      tmp = recv;
    } else {
      storage.resize(static_cast<std::size_t>(subtree) * block);
      tmp = storage;
    }
    copy_bytes(tmp.first(block), own);
  }
  Step step(channel, "gather");
  for (int mask = 1; mask < n; mask <<= 1) {
    if ((vr & mask) != 0) {
      NEXO_COLL_TRY(step.wait());  // the children's blocks, before passing them up
      ConstBytes up = subtree > 1 ? ConstBytes(tmp.first(subtree * block)) : own;
      NEXO_COLL_TRY(step.send(wrap(vr - mask + root, n), kTagGather, up));
      return step.wait();
    }
    int child = vr + mask;
    if (child < n)
      NEXO_COLL_TRY(step.recv(wrap(child + root, n), kTagGather,
                              tmp.subspan(mask * block, subtree_size(child, n) * block)));
  }
  NEXO_COLL_TRY(step.wait());  // the root: every subtree arrived
  if (root != 0) {
    for (int j = 0; j < n; ++j)
      copy_bytes(recv.subspan(wrap(j + root, n) * block, block), tmp.subspan(j * block, block));
  }
  return ok();
}

// The root sends each child its subtree's blocks (relative rank order); each rank keeps block 0
// of what it got and forwards the rest.
Result<void> scatter_binomial(CollChannel& channel, ConstBytes send, Bytes recv, std::size_t block,
                              int root) {
  int n = channel.size();
  int r = channel.rank();
  int vr = wrap(r - root, n);
  int subtree = subtree_size(vr, n);
  std::vector<std::byte> storage;
  ConstBytes tmp;
  if (vr == 0) {
    if (root == 0) {
      tmp = send;
    } else {
      storage.resize(static_cast<std::size_t>(n) * block);
      for (int j = 0; j < n; ++j)
        copy_bytes(Bytes(storage).subspan(j * block, block),
                   send.subspan(wrap(j + root, n) * block, block));
      tmp = storage;
    }
  } else if (subtree > 1) {
    storage.resize(static_cast<std::size_t>(subtree) * block);
  }
  int mask = 1;
  while (mask < n) {
    if ((vr & mask) != 0) {
      Bytes into = subtree > 1 ? Bytes(storage) : recv;
      Step step(channel, "scatter");
      NEXO_COLL_TRY(step.recv(wrap(vr - mask + root, n), kTagScatter, into));
      NEXO_COLL_TRY(step.wait());
      if (subtree > 1) tmp = storage;
      break;
    }
    mask <<= 1;
  }
  Step step(channel, "scatter");
  for (mask >>= 1; mask > 0; mask >>= 1) {
    int child = vr + mask;
    if (child < n)
      NEXO_COLL_TRY(step.send(wrap(child + root, n), kTagScatter,
                              tmp.subspan(mask * block, subtree_size(child, n) * block)));
  }
  NEXO_COLL_TRY(step.wait());
  if ((vr == 0 || subtree > 1) && recv.data() != nullptr)
    copy_bytes(recv.first(block), tmp.first(block));
  return ok();
}

// Recursive doubling (n a power of two): at step `mask` a rank and its partner r ^ mask swap
// the `mask` consecutive blocks each holds, in place in `recv`.
Result<void> allgather_doubling(CollChannel& channel, Bytes recv, std::size_t block) {
  int n = channel.size();
  int r = channel.rank();
  for (int mask = 1; mask < n; mask <<= 1) {
    int partner = r ^ mask;
    std::size_t mine = static_cast<std::size_t>(r & ~(mask - 1)) * block;
    std::size_t theirs = static_cast<std::size_t>(partner & ~(mask - 1)) * block;
    NEXO_COLL_TRY(exchange(channel, "allgather", kTagAllgather, partner,
                           recv.subspan(mine, mask * block), partner,
                           recv.subspan(theirs, mask * block)));
  }
  return ok();
}

// Bruck: tmp[j] holds the block of rank r + j; at step `pof` a rank sends its first
// min(pof, n - pof) blocks to r - pof and appends those of r + pof; a rotation ends it.
Result<void> allgather_bruck(CollChannel& channel, Bytes recv, std::size_t block) {
  int n = channel.size();
  int r = channel.rank();
  std::vector<std::byte> storage(static_cast<std::size_t>(n) * block);
  Bytes tmp(storage);
  copy_bytes(tmp.first(block), recv.subspan(r * block, block));
  for (int pof = 1; pof < n; pof <<= 1) {
    std::size_t count = static_cast<std::size_t>(std::min(pof, n - pof));
    NEXO_COLL_TRY(exchange(channel, "allgather", kTagAllgather, wrap(r - pof, n),
                           tmp.first(count * block), wrap(r + pof, n),
                           tmp.subspan(pof * block, count * block)));
  }
  for (int j = 0; j < n; ++j)
    copy_bytes(recv.subspan(wrap(r + j, n) * block, block), tmp.subspan(j * block, block));
  return ok();
}

}  // namespace

Result<void> scatter_blocks(CollChannel& channel, ConstBytes send, Bytes recv, std::size_t block,
                            int root, const CollTuning& tuning) {
  if (block < tuning.gather_binomial_max_block)
    return scatter_binomial(channel, send, recv, block, root);
  return scatter_linear(channel, "scatter", send, block_chunks(block, channel.size()), recv, root);
}

}  // namespace coll

using namespace coll;

Result<void> barrier(CollChannel& channel) {
  NEXO_COLL_TRY(check_channel(channel, "barrier"));
  int n = channel.size();
  int r = channel.rank();
  // Dissemination (Hensgen, Finkel, Manber): in round k a rank signals r + 2^k and waits for
  // r - 2^k; after ceil(log2 n) rounds every rank has heard, transitively, from every other.
  for (int k = 1; k < n; k <<= 1)
    NEXO_COLL_TRY(
        exchange(channel, "barrier", kTagBarrier, wrap(r + k, n), {}, wrap(r - k, n), {}));
  return ok();
}

Result<void> bcast(CollChannel& channel, std::span<std::byte> buffer, int root,
                   const CollTuning& tuning) {
  NEXO_COLL_TRY(check_root(channel, "bcast", root));
  if (channel.size() == 1) return ok();
  if (buffer.size() >= tuning.bcast_scatter_min_bytes &&
      channel.size() >= tuning.bcast_scatter_min_ranks)
    return bcast_scatter_ring(channel, buffer, root);
  return bcast_binomial(channel, buffer, root);
}

Result<void> gather(CollChannel& channel, std::span<const std::byte> send,
                    std::span<std::byte> recv, int root, const CollTuning& tuning) {
  NEXO_COLL_TRY(check_root(channel, "gather", root));
  auto n = static_cast<std::size_t>(channel.size());
  bool at_root = channel.rank() == root;
  std::size_t block = send.size();
  if (at_root) {
    if (recv.size() % n != 0 || (send.data() != nullptr && recv.size() != n * send.size()))
      return invalid("gather", "the root's receive buffer of " + std::to_string(recv.size()) +
                                   " bytes is not " + std::to_string(n) + " blocks of " +
                                   std::to_string(send.size()));
    block = recv.size() / n;
  }
  if (block < tuning.gather_binomial_max_block)
    return gather_binomial(channel, send, recv, block, root);
  return gather_linear(channel, "gather", send, recv, block_chunks(block, channel.size()), root);
}

namespace {

// counts/displs of a v-variant at a rank that uses them: n entries, each block within `buffer`.
Result<Chunks> v_chunks(const char* what, std::size_t buffer_size,
                        std::span<const std::size_t> counts, std::span<const std::size_t> displs,
                        int n) {
  auto parts = static_cast<std::size_t>(n);
  if (counts.size() != parts || displs.size() != parts)
    return invalid(what, "counts and displacements need " + std::to_string(n) + " entries, not " +
                             std::to_string(counts.size()) + " and " +
                             std::to_string(displs.size()));
  Chunks chunks;
  for (std::size_t i = 0; i < parts; ++i) {
    if (displs[i] > buffer_size || counts[i] > buffer_size - displs[i])
      return invalid(what, "block " + std::to_string(i) + " (" + std::to_string(counts[i]) +
                               " bytes at " + std::to_string(displs[i]) + ") is outside the " +
                               std::to_string(buffer_size) + "-byte buffer");
    chunks.offset.push_back(displs[i]);
    chunks.length.push_back(counts[i]);
  }
  return chunks;
}

}  // namespace

Result<void> gatherv(CollChannel& channel, std::span<const std::byte> send,
                     std::span<std::byte> recv, std::span<const std::size_t> counts,
                     std::span<const std::size_t> displs, int root) {
  NEXO_COLL_TRY(check_root(channel, "gatherv", root));
  if (channel.rank() != root) return gather_linear(channel, "gatherv", send, recv, {}, root);
  auto chunks = v_chunks("gatherv", recv.size(), counts, displs, channel.size());
  if (!chunks) return std::move(chunks).error();
  auto mine = static_cast<std::size_t>(root);
  if (send.data() != nullptr && send.size() != chunks->length[mine])
    return invalid("gatherv", "the root sends " + std::to_string(send.size()) +
                                  " bytes but counts its own block " +
                                  std::to_string(chunks->length[mine]));
  return gather_linear(channel, "gatherv", send, recv, *chunks, root);
}

Result<void> scatter(CollChannel& channel, std::span<const std::byte> send,
                     std::span<std::byte> recv, int root, const CollTuning& tuning) {
  NEXO_COLL_TRY(check_root(channel, "scatter", root));
  auto n = static_cast<std::size_t>(channel.size());
  std::size_t block = recv.size();
  if (channel.rank() == root) {
    if (send.size() % n != 0 || (recv.data() != nullptr && send.size() != n * recv.size()))
      return invalid("scatter", "the root's send buffer of " + std::to_string(send.size()) +
                                    " bytes is not " + std::to_string(n) + " blocks of " +
                                    std::to_string(recv.size()));
    block = send.size() / n;
  }
  return scatter_blocks(channel, send, recv, block, root, tuning);
}

Result<void> scatterv(CollChannel& channel, std::span<const std::byte> send,
                      std::span<const std::size_t> counts, std::span<const std::size_t> displs,
                      std::span<std::byte> recv, int root) {
  NEXO_COLL_TRY(check_root(channel, "scatterv", root));
  if (channel.rank() != root) return scatter_linear(channel, "scatterv", send, {}, recv, root);
  auto chunks = v_chunks("scatterv", send.size(), counts, displs, channel.size());
  if (!chunks) return std::move(chunks).error();
  auto mine = static_cast<std::size_t>(root);
  if (recv.data() != nullptr && recv.size() != chunks->length[mine])
    return invalid("scatterv", "the root receives " + std::to_string(recv.size()) +
                                   " bytes but counts its own block " +
                                   std::to_string(chunks->length[mine]));
  return scatter_linear(channel, "scatterv", send, *chunks, recv, root);
}

Result<void> allgather(CollChannel& channel, std::span<const std::byte> send,
                       std::span<std::byte> recv, const CollTuning& tuning) {
  NEXO_COLL_TRY(check_channel(channel, "allgather"));
  int n = channel.size();
  int r = channel.rank();
  auto parts = static_cast<std::size_t>(n);
  if (recv.size() % parts != 0 || (send.data() != nullptr && recv.size() != parts * send.size()))
    return invalid("allgather", "the receive buffer of " + std::to_string(recv.size()) +
                                    " bytes is not " + std::to_string(n) + " blocks of " +
                                    std::to_string(send.size()));
  std::size_t block = recv.size() / parts;
  if (send.data() != nullptr) copy_bytes(recv.subspan(r * block, block), send);
  if (n == 1) return ok();
  if (recv.size() >= tuning.allgather_ring_min_bytes)
    return ring_allgather(channel, "allgather", kTagAllgather, recv, block_chunks(block, n), r,
                          wrap(r - 1, n), wrap(r + 1, n));
  if (is_pow2(n)) return allgather_doubling(channel, recv, block);
  return allgather_bruck(channel, recv, block);
}

Result<void> allgatherv(CollChannel& channel, std::span<const std::byte> send,
                        std::span<std::byte> recv, std::span<const std::size_t> counts,
                        std::span<const std::size_t> displs) {
  NEXO_COLL_TRY(check_channel(channel, "allgatherv"));
  int n = channel.size();
  int r = channel.rank();
  auto chunks = v_chunks("allgatherv", recv.size(), counts, displs, n);
  if (!chunks) return std::move(chunks).error();
  Bytes mine = chunks->of(recv, r);
  if (send.data() != nullptr) {
    if (send.size() != mine.size())
      return invalid("allgatherv", "rank " + std::to_string(r) + " sends " +
                                       std::to_string(send.size()) + " bytes but counts " +
                                       std::to_string(mine.size()));
    copy_bytes(mine, send);
  }
  return ring_allgather(channel, "allgatherv", kTagAllgather, recv, *chunks, r, wrap(r - 1, n),
                        wrap(r + 1, n));
}

Result<void> alltoall(CollChannel& channel, std::span<const std::byte> send,
                      std::span<std::byte> recv) {
  NEXO_COLL_TRY(check_channel(channel, "alltoall"));
  int n = channel.size();
  int r = channel.rank();
  auto parts = static_cast<std::size_t>(n);
  if (recv.size() % parts != 0 || (send.data() != nullptr && send.size() != recv.size()))
    return invalid("alltoall", "send (" + std::to_string(send.size()) + " bytes) and receive (" +
                                   std::to_string(recv.size()) + " bytes) buffers are not " +
                                   std::to_string(n) + " equal blocks each");
  std::size_t block = recv.size() / parts;
  std::vector<std::byte> copy;
  if (send.data() == nullptr) {  // in place: send from a copy, receive over the original
    copy.assign(recv.begin(), recv.end());
    send = copy;
  }
  copy_bytes(recv.subspan(r * block, block), send.subspan(r * block, block));
  // Pairwise exchange: in step s every rank sends to one rank and receives from one, so no rank
  // is flooded; with n a power of two the pairs are symmetric (r ^ s).
  for (int s = 1; s < n; ++s) {
    int to = is_pow2(n) ? (r ^ s) : wrap(r + s, n);
    int from = is_pow2(n) ? (r ^ s) : wrap(r - s, n);
    NEXO_COLL_TRY(exchange(channel, "alltoall", kTagAlltoall, to, send.subspan(to * block, block),
                           from, recv.subspan(from * block, block)));
  }
  return ok();
}

}  // namespace nexo::mpi
