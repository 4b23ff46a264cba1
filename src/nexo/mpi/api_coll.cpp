// The C API of the collectives: argument checks, datatypes to contiguous bytes and back, and
// coll.hpp's algorithms over a channel on the communicator's collective context.
//
// Buffers: a dense datatype's elements are used where they lie; any other is packed into a
// temporary before and unpacked after, so the algorithms see contiguous bytes and never write
// the holes of the user's buffer. Reductions work on whole elements in the type's layout (the
// ops and user functions read that layout): a temporary of count * extent bytes holds the data
// at the offsets it has in the user's buffer, holes zeroed, and only the data is copied back.
#include <algorithm>
#include <cstring>
#include <vector>

#include "nexo/mpi/api_internal.hpp"
#include "nexo/mpi/coll.hpp"
#include "nexo/mpi/datatype.hpp"
#include "nexo/mpi/op.hpp"
#include "nexo/mpi/trace.hpp"

namespace nexo::mpi {
namespace {

// CollChannel over a communicator: its ranks, its collective context (context + 1).
class CommChannel final : public CollChannel {
 public:
  explicit CommChannel(MPI_Comm comm) : comm_(comm), engine_(runtime()->engine()) {}

  int rank() const override { return comm_->rank; }
  int size() const override { return comm_->size(); }

  Result<RequestId> isend(int dest, int tag, std::span<const std::byte> data) override {
    return engine_.isend(comm_->world[static_cast<std::size_t>(dest)], comm_->context + 1, tag,
                         data);
  }
  Result<RequestId> irecv(int source, int tag, std::span<std::byte> buffer) override {
    return engine_.irecv(comm_->world[static_cast<std::size_t>(source)], comm_->context + 1, tag,
                         buffer);
  }
  // The runtime's fast paths (Runtime::send_now, Runtime::receive_now): a 2-rank barrier or a
  // small allreduce step then needs no request at all.
  Result<bool> send_now(int dest, int tag, std::span<const std::byte> data) override {
    auto id = runtime()->send_now(comm_->world[static_cast<std::size_t>(dest)], comm_->context + 1,
                                  tag, data);
    if (!id) return std::move(id).error();
    return id->has_value();
  }
  Result<bool> recv_now(int source, int tag, std::span<std::byte> buffer) override {
    auto status = runtime()->receive_now(comm_->world[static_cast<std::size_t>(source)],
                                         comm_->context + 1, tag, buffer);
    if (!status) return std::move(status).error();
    return status->has_value();
  }
  Result<void> wait_all(std::span<const RequestId> ids) override {
    // One pointer captured: the std::function holds it without an allocation.
    struct Waiting {
      std::span<const RequestId> ids;
      Engine& engine;
      std::size_t next = 0;
    } waiting{ids, engine_};
    auto waited = runtime()->wait_until([w = &waiting] {
      while (w->next < w->ids.size() && w->engine.done(w->ids[w->next]))
        ++w->next;
      return w->next == w->ids.size();
    });
    if (!waited) return waited;
    Result<void> result = ok();
    for (RequestId id : ids) {
      auto status = engine_.test(id);
      if (!status) return std::move(status).error();
      if (result && (*status)->truncated)
        result = Error(ErrorKind::truncated,
                       "a collective's message was longer than expected: "
                       "the ranks' counts or datatypes do not match");
    }
    return result;
  }

 private:
  MPI_Comm comm_;
  Engine& engine_;
};

// A collective's error: an argument the algorithm refused (the same at every rank) or a
// mismatch between ranks.
int coll_failure(MPI_Comm comm, const char* function, const Error& error) {
  const int code = error.is(ErrorKind::truncated)          ? MPI_ERR_TRUNCATE
                   : error.is(ErrorKind::invalid_argument) ? MPI_ERR_ARG
                                                           : MPI_ERR_INTERN;
  if (code == MPI_ERR_INTERN) runtime_failure(function, error);
  return comm_error(comm, code, function, error.message());
}

// `count` elements of `type` at `buf` as contiguous packed bytes: the elements themselves when
// the type is dense, else a temporary (packed from the buffer when `load`), unpacked back by
// store().
class Packed {
 public:
  Packed(const void* buf, std::size_t count, MPI_Datatype type, bool load)
      : buf_(const_cast<void*>(buf)), count_(count), type_(type) {
    if (auto dense = dense_bytes(buf, count, type)) {
      bytes_ = *dense;
      return;
    }
    tmp_.resize(packed_size(count, *type));
    if (load) pack(buf, count, *type, 0, tmp_);
    bytes_ = tmp_;
  }
  std::span<std::byte> bytes() const { return bytes_; }
  void store() const {
    if (!tmp_.empty()) unpack(tmp_, buf_, count_, *type_, 0);
  }

 private:
  void* buf_;
  std::size_t count_;
  MPI_Datatype type_;
  nexo::Bytes tmp_;
  std::span<std::byte> bytes_;
};

// `count` elements at `buf` in the type's own layout (count * extent bytes from buf + lb), for
// reductions: the buffer itself when dense, else a temporary holding only the data.
class Laid {
 public:
  Laid(const void* buf, std::size_t count, MPI_Datatype type, bool load)
      : buf_(static_cast<std::byte*>(const_cast<void*>(buf))), count_(count), type_(type) {
    const std::size_t span = count * static_cast<std::size_t>(type->extent);
    if (type->dense || span == 0) {
      bytes_ = span == 0 ? std::span<std::byte>() : std::span<std::byte>(buf_ + type->lb, span);
      return;
    }
    tmp_.assign(span, std::byte{0});
    if (load) {
      for_each_leaf_run(*type, count, 0, [&](std::int64_t disp, std::size_t n) {
        std::memcpy(tmp_.data() + (disp - type_->lb), buf_ + disp,
                    n * static_cast<std::size_t>(leaf_of(*type_).extent));
      });
    }
    bytes_ = tmp_;
  }
  std::span<std::byte> bytes() const { return bytes_; }
  void store() const {
    if (tmp_.empty()) return;
    for_each_leaf_run(*type_, count_, 0, [&](std::int64_t disp, std::size_t n) {
      std::memcpy(buf_ + disp, tmp_.data() + (disp - type_->lb),
                  n * static_cast<std::size_t>(leaf_of(*type_).extent));
    });
  }

 private:
  std::byte* buf_;
  std::size_t count_;
  MPI_Datatype type_;
  nexo::Bytes tmp_;
  std::span<std::byte> bytes_;
};

Reduction reduction_of(MPI_Op op, MPI_Datatype type) {
  Reduction r;
  r.element_size = static_cast<std::size_t>(type->extent);
  r.commutative = is_commutative(op);
  r.combine = [op, type](const void* in, void* inout, std::size_t count) {
    (void)apply_op(op, in, inout, count, type);
  };
  return r;
}

int check_root(MPI_Comm comm, int root, const char* function) {
  if (root < 0 || root >= comm->size())
    return comm_error(
        comm, MPI_ERR_ROOT, function,
        "root " + std::to_string(root) + " is not in 0.." + std::to_string(comm->size() - 1));
  return MPI_SUCCESS;
}

int check_reduction(MPI_Comm comm, const void* sendbuf, const void* recvbuf, int count,
                    MPI_Datatype type, MPI_Op op, bool recv_needed, const char* function) {
  if (int rc = check_buffer(comm, recv_needed ? recvbuf : sendbuf, count, type, function);
      rc != MPI_SUCCESS)
    return rc;
  if (sendbuf != MPI_IN_PLACE && sendbuf == nullptr && count > 0)
    return comm_error(comm, MPI_ERR_BUFFER, function, "null send buffer with count > 0");
  if (int rc = check_op(op, type); rc != MPI_SUCCESS)
    return comm_error(comm, rc, function,
                      rc == MPI_ERR_OP ? "the op is invalid, or not defined for this datatype"
                                       : "invalid datatype");
  return MPI_SUCCESS;
}

// check_buffer() for a buffer that may be MPI_IN_PLACE (then there is nothing to check).
int check_unless_in_place(MPI_Comm comm, const void* buf, int count, MPI_Datatype type,
                          const char* function) {
  return buf == MPI_IN_PLACE ? MPI_SUCCESS : check_buffer(comm, buf, count, type, function);
}

// The common start of every collective: initialized, a valid communicator.
int check_comm(MPI_Comm comm, const char* function) {
  if (int rc = check_initialized(function); rc != MPI_SUCCESS) return rc;
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, function, "invalid communicator");
  return MPI_SUCCESS;
}

int check_counts(MPI_Comm comm, const int* counts, const int* displs, const char* function) {
  if (counts == nullptr || displs == nullptr)
    return comm_error(comm, MPI_ERR_ARG, function, "counts or displacements are null");
  for (int i = 0; i < comm->size(); ++i) {
    if (counts[i] < 0)
      return comm_error(comm, MPI_ERR_COUNT, function,
                        "count[" + std::to_string(i) + "] = " + std::to_string(counts[i]) + " < 0");
  }
  return MPI_SUCCESS;
}

std::size_t element_bytes(MPI_Datatype type) {
  return static_cast<std::size_t>(type->size);
}

// A v-variant's blocks packed back to back: block i of counts[i] elements at offsets[i] bytes.
struct VLayout {
  std::vector<std::size_t> counts;
  std::vector<std::size_t> offsets;
  std::size_t total = 0;
};

VLayout packed_layout(int n, const int* counts, MPI_Datatype type) {
  VLayout v;
  for (int i = 0; i < n; ++i) {
    const std::size_t bytes = static_cast<std::size_t>(counts[i]) * element_bytes(type);
    v.counts.push_back(bytes);
    v.offsets.push_back(v.total);
    v.total += bytes;
  }
  return v;
}

// The packed bytes of block i of a v-buffer (displs in extents) into/out of `tmp`.
void pack_block(const void* buf, int count, int displ, MPI_Datatype type, std::byte* out) {
  const auto* at =
      static_cast<const std::byte*>(buf) + static_cast<std::int64_t>(displ) * type->extent;
  const std::size_t bytes = static_cast<std::size_t>(count) * element_bytes(type);
  pack(at, static_cast<std::size_t>(count), *type, 0, std::span<std::byte>(out, bytes));
}
void unpack_block(const std::byte* in, void* buf, int count, int displ, MPI_Datatype type) {
  auto* at = static_cast<std::byte*>(buf) + static_cast<std::int64_t>(displ) * type->extent;
  const std::size_t bytes = static_cast<std::size_t>(count) * element_bytes(type);
  unpack(std::span<const std::byte>(in, bytes), at, static_cast<std::size_t>(count), *type, 0);
}

// MPI_Allreduce and MPI_Scan: a reduction whose result every rank gets, in place or not.
using EveryRankAlgorithm = Result<void> (*)(CollChannel&, std::span<const std::byte>,
                                            std::span<std::byte>, const Reduction&);

Result<void> allreduce_default(CollChannel& channel, std::span<const std::byte> send,
                               std::span<std::byte> recv, const Reduction& op) {
  return allreduce(channel, send, recv, op);
}

int every_rank_reduction(EveryRankAlgorithm algorithm, const void* sendbuf, void* recvbuf,
                         int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
                         const char* function) {
  if (int rc = check_comm(comm, function); rc != MPI_SUCCESS) return rc;
  if (int rc = check_reduction(comm, sendbuf, recvbuf, count, datatype, op, true, function);
      rc != MPI_SUCCESS)
    return rc;
  const auto n = static_cast<std::size_t>(count);
  const bool in_place = sendbuf == MPI_IN_PLACE;
  CommChannel channel(comm);
  Laid send(in_place ? nullptr : sendbuf, in_place ? 0 : n, datatype, true);
  Laid recv(recvbuf, n, datatype, in_place);
  auto done = algorithm(channel, in_place ? kInPlace : std::span<const std::byte>(send.bytes()),
                        recv.bytes(), reduction_of(op, datatype));
  if (!done) return coll_failure(comm, function, done.error());
  recv.store();
  return MPI_SUCCESS;
}

}  // namespace
}  // namespace nexo::mpi

using namespace nexo::mpi;

extern "C" {

int MPI_Barrier(MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  CommChannel channel(comm);
  if (auto done = barrier(channel); !done) return coll_failure(comm, __func__, done.error());
  return MPI_SUCCESS;
}

int MPI_Bcast(void* buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_buffer(comm, buffer, count, datatype, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_root(comm, root, __func__); rc != MPI_SUCCESS) return rc;
  CommChannel channel(comm);
  Packed data(buffer, static_cast<std::size_t>(count), datatype, comm->rank == root);
  if (auto done = bcast(channel, data.bytes(), root); !done)
    return coll_failure(comm, __func__, done.error());
  if (comm->rank != root) data.store();
  return MPI_SUCCESS;
}

int MPI_Reduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
               int root, MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_root(comm, root, __func__); rc != MPI_SUCCESS) return rc;
  const bool is_root = comm->rank == root;
  if (!is_root && sendbuf == MPI_IN_PLACE)
    return comm_error(comm, MPI_ERR_BUFFER, __func__, "MPI_IN_PLACE is for the root only");
  if (int rc = check_reduction(comm, sendbuf, recvbuf, count, datatype, op, is_root, __func__);
      rc != MPI_SUCCESS)
    return rc;
  const auto n = static_cast<std::size_t>(count);
  CommChannel channel(comm);
  const bool in_place = sendbuf == MPI_IN_PLACE;
  Laid send(in_place ? nullptr : sendbuf, in_place ? 0 : n, datatype, true);
  Laid recv(is_root ? recvbuf : nullptr, is_root ? n : 0, datatype, in_place);
  auto done = reduce(channel, in_place ? kInPlace : std::span<const std::byte>(send.bytes()),
                     recv.bytes(), reduction_of(op, datatype), root);
  if (!done) return coll_failure(comm, __func__, done.error());
  if (is_root) recv.store();
  return MPI_SUCCESS;
}

int MPI_Allreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                  MPI_Comm comm) {
  TraceCall trace(__func__);
  return every_rank_reduction(&allreduce_default, sendbuf, recvbuf, count, datatype, op, comm,
                              __func__);
}

int MPI_Scan(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
             MPI_Comm comm) {
  TraceCall trace(__func__);
  return every_rank_reduction(&scan, sendbuf, recvbuf, count, datatype, op, comm, __func__);
}

int MPI_Reduce_scatter_block(const void* sendbuf, void* recvbuf, int recvcount,
                             MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_reduction(comm, sendbuf, recvbuf, recvcount, datatype, op, true, __func__);
      rc != MPI_SUCCESS)
    return rc;
  const auto n = static_cast<std::size_t>(recvcount);
  const auto all = n * static_cast<std::size_t>(comm->size());
  const bool in_place = sendbuf == MPI_IN_PLACE;
  CommChannel channel(comm);
  // In place: the input is recvbuf's n * size elements, the result its first n.
  Laid send(in_place ? nullptr : sendbuf, in_place ? 0 : all, datatype, true);
  Laid recv(recvbuf, in_place ? all : n, datatype, in_place);
  auto done =
      reduce_scatter_block(channel, in_place ? kInPlace : std::span<const std::byte>(send.bytes()),
                           recv.bytes(), reduction_of(op, datatype));
  if (!done) return coll_failure(comm, __func__, done.error());
  if (in_place) {
    // Only the first block is the result; the rest of the buffer is the caller's input.
    Laid first(recvbuf, n, datatype, false);
    if (!first.bytes().empty())
      std::memcpy(first.bytes().data(), recv.bytes().data(), first.bytes().size());
    first.store();
  } else {
    recv.store();
  }
  return MPI_SUCCESS;
}

int MPI_Gather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
               int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_root(comm, root, __func__); rc != MPI_SUCCESS) return rc;
  const bool is_root = comm->rank == root;
  const bool in_place = sendbuf == MPI_IN_PLACE;
  if (in_place && !is_root)
    return comm_error(comm, MPI_ERR_BUFFER, __func__, "MPI_IN_PLACE is for the root only");
  if (int rc = check_unless_in_place(comm, sendbuf, sendcount, sendtype, __func__);
      rc != MPI_SUCCESS)
    return rc;
  if (is_root) {
    if (int rc = check_buffer(comm, recvbuf, recvcount, recvtype, __func__); rc != MPI_SUCCESS)
      return rc;
  }
  const std::size_t all = is_root ? static_cast<std::size_t>(recvcount) * comm->world.size() : 0;
  CommChannel channel(comm);
  Packed send(in_place ? nullptr : sendbuf, in_place ? 0 : static_cast<std::size_t>(sendcount),
              in_place ? recvtype : sendtype, true);
  Packed recv(is_root ? recvbuf : nullptr, all, is_root ? recvtype : sendtype, in_place);
  auto done = gather(channel, in_place ? kInPlace : std::span<const std::byte>(send.bytes()),
                     recv.bytes(), root);
  if (!done) return coll_failure(comm, __func__, done.error());
  if (is_root) recv.store();
  return MPI_SUCCESS;
}

int MPI_Gatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_root(comm, root, __func__); rc != MPI_SUCCESS) return rc;
  const bool is_root = comm->rank == root;
  const bool in_place = sendbuf == MPI_IN_PLACE;
  if (in_place && !is_root)
    return comm_error(comm, MPI_ERR_BUFFER, __func__, "MPI_IN_PLACE is for the root only");
  if (int rc = check_unless_in_place(comm, sendbuf, sendcount, sendtype, __func__);
      rc != MPI_SUCCESS)
    return rc;
  VLayout layout;
  nexo::Bytes tmp;
  if (is_root) {
    if (int rc = check_counts(comm, recvcounts, displs, __func__); rc != MPI_SUCCESS) return rc;
    if (int rc = check_buffer(comm, recvbuf, 1, recvtype, __func__); rc != MPI_SUCCESS) return rc;
    layout = packed_layout(comm->size(), recvcounts, recvtype);
    tmp.resize(layout.total);
    if (in_place)
      pack_block(recvbuf, recvcounts[root], displs[root], recvtype,
                 tmp.data() + layout.offsets[static_cast<std::size_t>(root)]);
  }
  CommChannel channel(comm);
  Packed send(in_place ? nullptr : sendbuf, in_place ? 0 : static_cast<std::size_t>(sendcount),
              in_place ? recvtype : sendtype, true);
  auto done = gatherv(channel, in_place ? kInPlace : std::span<const std::byte>(send.bytes()), tmp,
                      layout.counts, layout.offsets, root);
  if (!done) return coll_failure(comm, __func__, done.error());
  if (is_root) {
    for (int i = 0; i < comm->size(); ++i) {
      if (i == root && in_place) continue;
      unpack_block(tmp.data() + layout.offsets[static_cast<std::size_t>(i)], recvbuf, recvcounts[i],
                   displs[i], recvtype);
    }
  }
  return MPI_SUCCESS;
}

int MPI_Scatter(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_root(comm, root, __func__); rc != MPI_SUCCESS) return rc;
  const bool is_root = comm->rank == root;
  const bool in_place = recvbuf == MPI_IN_PLACE;
  if (in_place && !is_root)
    return comm_error(comm, MPI_ERR_BUFFER, __func__, "MPI_IN_PLACE is for the root only");
  if (is_root) {
    if (int rc = check_buffer(comm, sendbuf, sendcount, sendtype, __func__); rc != MPI_SUCCESS)
      return rc;
  }
  if (int rc = check_unless_in_place(comm, recvbuf, recvcount, recvtype, __func__);
      rc != MPI_SUCCESS)
    return rc;
  const std::size_t all = is_root ? static_cast<std::size_t>(sendcount) * comm->world.size() : 0;
  CommChannel channel(comm);
  Packed send(is_root ? sendbuf : nullptr, all, is_root ? sendtype : recvtype, true);
  Packed recv(in_place ? nullptr : recvbuf, in_place ? 0 : static_cast<std::size_t>(recvcount),
              in_place ? sendtype : recvtype, false);
  auto done =
      scatter(channel, send.bytes(), in_place ? std::span<std::byte>() : recv.bytes(), root);
  if (!done) return coll_failure(comm, __func__, done.error());
  if (!in_place) recv.store();
  return MPI_SUCCESS;
}

int MPI_Scatterv(const void* sendbuf, const int sendcounts[], const int displs[],
                 MPI_Datatype sendtype, void* recvbuf, int recvcount, MPI_Datatype recvtype,
                 int root, MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_root(comm, root, __func__); rc != MPI_SUCCESS) return rc;
  const bool is_root = comm->rank == root;
  const bool in_place = recvbuf == MPI_IN_PLACE;
  if (in_place && !is_root)
    return comm_error(comm, MPI_ERR_BUFFER, __func__, "MPI_IN_PLACE is for the root only");
  VLayout layout;
  nexo::Bytes tmp;
  if (is_root) {
    if (int rc = check_counts(comm, sendcounts, displs, __func__); rc != MPI_SUCCESS) return rc;
    if (int rc = check_buffer(comm, sendbuf, 1, sendtype, __func__); rc != MPI_SUCCESS) return rc;
    layout = packed_layout(comm->size(), sendcounts, sendtype);
    tmp.resize(layout.total);
    for (int i = 0; i < comm->size(); ++i)
      pack_block(sendbuf, sendcounts[i], displs[i], sendtype,
                 tmp.data() + layout.offsets[static_cast<std::size_t>(i)]);
  }
  if (int rc = check_unless_in_place(comm, recvbuf, recvcount, recvtype, __func__);
      rc != MPI_SUCCESS)
    return rc;
  CommChannel channel(comm);
  Packed recv(in_place ? nullptr : recvbuf, in_place ? 0 : static_cast<std::size_t>(recvcount),
              in_place ? sendtype : recvtype, false);
  auto done = scatterv(channel, tmp, layout.counts, layout.offsets,
                       in_place ? std::span<std::byte>() : recv.bytes(), root);
  if (!done) return coll_failure(comm, __func__, done.error());
  if (!in_place) recv.store();
  return MPI_SUCCESS;
}

int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  const bool in_place = sendbuf == MPI_IN_PLACE;
  if (int rc = check_unless_in_place(comm, sendbuf, sendcount, sendtype, __func__);
      rc != MPI_SUCCESS)
    return rc;
  if (int rc = check_buffer(comm, recvbuf, recvcount, recvtype, __func__); rc != MPI_SUCCESS)
    return rc;
  const std::size_t all = static_cast<std::size_t>(recvcount) * comm->world.size();
  CommChannel channel(comm);
  Packed send(in_place ? nullptr : sendbuf, in_place ? 0 : static_cast<std::size_t>(sendcount),
              in_place ? recvtype : sendtype, true);
  Packed recv(recvbuf, all, recvtype, in_place);
  auto done = allgather(channel, in_place ? kInPlace : std::span<const std::byte>(send.bytes()),
                        recv.bytes());
  if (!done) return coll_failure(comm, __func__, done.error());
  recv.store();
  return MPI_SUCCESS;
}

int MPI_Allgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                   const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                   MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  const bool in_place = sendbuf == MPI_IN_PLACE;
  if (int rc = check_unless_in_place(comm, sendbuf, sendcount, sendtype, __func__);
      rc != MPI_SUCCESS)
    return rc;
  if (int rc = check_counts(comm, recvcounts, displs, __func__); rc != MPI_SUCCESS) return rc;
  if (int rc = check_buffer(comm, recvbuf, 1, recvtype, __func__); rc != MPI_SUCCESS) return rc;
  const VLayout layout = packed_layout(comm->size(), recvcounts, recvtype);
  nexo::Bytes tmp(layout.total);
  const int me = comm->rank;
  if (in_place)
    pack_block(recvbuf, recvcounts[me], displs[me], recvtype,
               tmp.data() + layout.offsets[static_cast<std::size_t>(me)]);
  CommChannel channel(comm);
  Packed send(in_place ? nullptr : sendbuf, in_place ? 0 : static_cast<std::size_t>(sendcount),
              in_place ? recvtype : sendtype, true);
  auto done = allgatherv(channel, in_place ? kInPlace : std::span<const std::byte>(send.bytes()),
                         tmp, layout.counts, layout.offsets);
  if (!done) return coll_failure(comm, __func__, done.error());
  for (int i = 0; i < comm->size(); ++i) {
    if (i == me && in_place) continue;
    unpack_block(tmp.data() + layout.offsets[static_cast<std::size_t>(i)], recvbuf, recvcounts[i],
                 displs[i], recvtype);
  }
  return MPI_SUCCESS;
}

int MPI_Alltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                 int recvcount, MPI_Datatype recvtype, MPI_Comm comm) {
  TraceCall trace(__func__);
  if (int rc = check_comm(comm, __func__); rc != MPI_SUCCESS) return rc;
  const bool in_place = sendbuf == MPI_IN_PLACE;
  if (int rc = check_unless_in_place(comm, sendbuf, sendcount, sendtype, __func__);
      rc != MPI_SUCCESS)
    return rc;
  if (int rc = check_buffer(comm, recvbuf, recvcount, recvtype, __func__); rc != MPI_SUCCESS)
    return rc;
  const std::size_t n = comm->world.size();
  CommChannel channel(comm);
  Packed send(in_place ? nullptr : sendbuf, in_place ? 0 : static_cast<std::size_t>(sendcount) * n,
              in_place ? recvtype : sendtype, true);
  Packed recv(recvbuf, static_cast<std::size_t>(recvcount) * n, recvtype, in_place);
  auto done = alltoall(channel, in_place ? kInPlace : std::span<const std::byte>(send.bytes()),
                       recv.bytes());
  if (!done) return coll_failure(comm, __func__, done.error());
  recv.store();
  return MPI_SUCCESS;
}

}  // extern "C"
