// reduce, allreduce, scan and reduce_scatter_block on 1..8 threads (the rendezvous FakeWorld),
// with the predefined ops applied through apply_op as the C API will, and with non-commutative
// ops (2x2 matrix products) whose result shows the order of the operands. The reference is the
// op applied directly in rank order.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/mpi/coll.hpp"
#include "nexo/mpi/coll_test_world.hpp"
#include "nexo/mpi/datatype.hpp"
#include "nexo/mpi/op.hpp"

namespace nexo::mpi {
namespace {

using test::expect_run;
using test::FakeWorld;
using test::kMaxRanks;
using test::roots_of;
using test::tunings;
using Buffer = std::vector<std::byte>;
using ConstBytes = std::span<const std::byte>;

enum class Kind { reduce, allreduce, scan, reduce_scatter_block };

const char* name_of(Kind kind) {
  switch (kind) {
    case Kind::reduce:
      return "reduce";
    case Kind::allreduce:
      return "allreduce";
    case Kind::scan:
      return "scan";
    case Kind::reduce_scatter_block:
      return "reduce_scatter_block";
  }
  return "?";
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

// A small integer in [-range, range] for element i of rank r.
int small_value(int rank, std::size_t i, unsigned salt, int range) {
  auto h = mix((static_cast<std::uint64_t>(rank) << 40) ^ (i << 8) ^ salt);
  return static_cast<int>(h % static_cast<std::uint64_t>(2 * range + 1)) - range;
}

template <class T>
void put(Buffer& buf, std::size_t offset, T value) {
  std::memcpy(buf.data() + offset, &value, sizeof value);
}

// `count` elements of `type` for rank `rank`: small values (exact sums and products in floating
// point, ties for MAXLOC/MINLOC), the pair index the rank itself.
Buffer values(MPI_Datatype type, int rank, std::size_t count, unsigned salt) {
  auto extent = static_cast<std::size_t>(type->extent);
  Buffer buf(count * extent);
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t at = i * extent;
    int v = small_value(rank, i, salt, 3);
    if (type == MPI_INT)
      put<int>(buf, at, v);
    else if (type == MPI_LONG_LONG)
      put<long long>(buf, at, static_cast<long long>(mix(i + salt + rank)));
    else if (type == MPI_UNSIGNED_CHAR)
      put<unsigned char>(buf, at, static_cast<unsigned char>(mix(i * 3 + rank)));
    else if (type == MPI_DOUBLE)
      put<double>(buf, at, v);
    else if (type == MPI_FLOAT)
      put<float>(buf, at, static_cast<float>(v));
    else if (type == MPI_2INT) {
      put<int>(buf, at, v);
      put<int>(buf, at + sizeof(int), rank);
    } else if (type == MPI_DOUBLE_INT) {
      put<double>(buf, at, v);
      put<int>(buf, at + static_cast<std::size_t>(type->index_offset), rank);
    } else {
      ADD_FAILURE() << "no values for " << type->name;
    }
  }
  return buf;
}

// What the collective must produce at each rank, from every rank's input combined in rank
// order: prefix[r] = x0 op ... op xr.
std::vector<Buffer> expected(Kind kind, const Reduction& op, const std::vector<Buffer>& inputs) {
  std::vector<Buffer> prefix{inputs[0]};
  std::size_t count = inputs[0].size() / op.element_size;
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    Buffer next = inputs[i];
    if (count > 0) op.combine(prefix.back().data(), next.data(), count);  // next = acc op next
    prefix.push_back(std::move(next));
  }
  if (kind == Kind::scan) return prefix;
  std::vector<Buffer> result(inputs.size(), prefix.back());
  if (kind != Kind::reduce_scatter_block) return result;
  std::size_t block = prefix.back().size() / inputs.size();
  for (std::size_t r = 0; r < inputs.size(); ++r)
    result[r] = Buffer(prefix.back().begin() + static_cast<long>(r * block),
                       prefix.back().begin() + static_cast<long>((r + 1) * block));
  return result;
}

// Runs one reduction collective on n ranks and checks every rank's result. `count` is the
// elements each rank contributes (per block for reduce_scatter_block).
void check(Kind kind, int n, int root, const Reduction& op, std::size_t count,
           const std::function<Buffer(int rank, std::size_t count)>& input, bool in_place,
           const CollTuning& tuning) {
  std::size_t elements = kind == Kind::reduce_scatter_block ? count * n : count;
  std::vector<Buffer> inputs;
  for (int r = 0; r < n; ++r)
    inputs.push_back(input(r, elements));
  FakeWorld world(n);
  std::vector<Buffer> outputs(static_cast<std::size_t>(n));
  expect_run(world, [&](CollChannel& ch) -> Result<void> {
    int r = ch.rank();
    const Buffer& in = inputs[static_cast<std::size_t>(r)];
    Buffer& out = outputs[static_cast<std::size_t>(r)];
    std::size_t out_bytes = kind == Kind::reduce_scatter_block ? in.size() / n : in.size();
    out.assign(out_bytes, std::byte{0xEE});
    bool here = in_place && (kind != Kind::reduce || r == root);
    if (here) out = in;  // reduce_scatter_block in place: input in the (n-block) recv buffer
    ConstBytes send = here ? kInPlace : ConstBytes(in);
    switch (kind) {
      case Kind::reduce:
        return reduce(ch, send, out, op, root, tuning);
      case Kind::allreduce:
        return allreduce(ch, send, out, op, tuning);
      case Kind::scan:
        return scan(ch, send, out, op);
      case Kind::reduce_scatter_block:
        return reduce_scatter_block(ch, send, out, op);
    }
    return ok();
  });
  std::vector<Buffer> want_all = expected(kind, op, inputs);
  for (int r = 0; r < n; ++r) {
    if (kind == Kind::reduce && r != root) continue;
    Buffer got = outputs[static_cast<std::size_t>(r)];
    const Buffer& want = want_all[static_cast<std::size_t>(r)];
    if (kind == Kind::reduce_scatter_block && in_place) got.resize(want.size());
    EXPECT_TRUE(got == want) << name_of(kind) << " differs at rank " << r;
  }
}

struct OpCase {
  MPI_Op op;
  MPI_Datatype type;
};

// Every predefined op the issue lists, on a few types each.
std::vector<OpCase> op_cases() {
  return {{MPI_SUM, MPI_INT},           {MPI_SUM, MPI_DOUBLE},        {MPI_SUM, MPI_LONG_LONG},
          {MPI_PROD, MPI_INT},          {MPI_PROD, MPI_DOUBLE},       {MPI_MAX, MPI_INT},
          {MPI_MAX, MPI_FLOAT},         {MPI_MIN, MPI_INT},           {MPI_MIN, MPI_DOUBLE},
          {MPI_LAND, MPI_INT},          {MPI_LOR, MPI_INT},           {MPI_BAND, MPI_UNSIGNED_CHAR},
          {MPI_BOR, MPI_UNSIGNED_CHAR}, {MPI_BAND, MPI_LONG_LONG},    {MPI_MAXLOC, MPI_2INT},
          {MPI_MINLOC, MPI_2INT},       {MPI_MAXLOC, MPI_DOUBLE_INT}, {MPI_MINLOC, MPI_DOUBLE_INT}};
}

// The C API's reduction: apply_op on the op and the type, elements of the type's extent.
Reduction reduction_of(MPI_Op op, MPI_Datatype type) {
  return Reduction{static_cast<std::size_t>(type->extent),
                   [op, type](const void* in, void* inout, std::size_t count) {
                     int rc = apply_op(op, in, inout, count, type);
                     EXPECT_EQ(rc, MPI_SUCCESS);
                   },
                   is_commutative(op)};
}

std::string label(Kind kind, int n, const char* op, std::size_t count, const char* tuning,
                  bool in_place, int root = -1) {
  return std::string(name_of(kind)) + " " + op + ", ranks " + std::to_string(n) + ", count " +
         std::to_string(count) + ", " + tuning + (in_place ? ", in place" : "") +
         (root >= 0 ? ", root " + std::to_string(root) : "");
}

// Only reduce and allreduce have thresholds to move (scan and reduce_scatter_block choose by the
// op and the rank count alone); at the counts these tests use, the default tuning already picks
// the small-message algorithms, so the other run forces the large-message ones.
std::vector<test::NamedTuning> tunings_of(Kind kind) {
  if (kind == Kind::allreduce || kind == Kind::reduce) return {tunings()[0], tunings()[2]};
  return {tunings()[0]};
}

void predefined_ops(Kind kind) {
  for (const auto& [op, type] : op_cases()) {
    Reduction red = reduction_of(op, type);
    auto input = [type = type](int r, std::size_t c) { return values(type, r, c, 11); };
    for (const auto& [tname, tuning] : tunings_of(kind)) {
      // The large-message algorithms treat every commutative op alike: two ops of each
      // element shape are enough there (and keep the suite short under the sanitizers).
      bool forced = std::string_view(tname) != "default";
      if (forced && op != MPI_SUM && op != MPI_MAXLOC) continue;
      for (int n = 1; n <= kMaxRanks; ++n) {
        for (std::size_t count :
             {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{37}}) {
          for (bool in_place : {false, true}) {
            std::vector<int> roots = kind == Kind::reduce ? roots_of(n) : std::vector<int>{0};
            for (int root : roots) {
              SCOPED_TRACE(label(kind, n, op->name, count, tname, in_place, root) + " " +
                           type->name);
              check(kind, n, root, red, count, input, in_place, tuning);
            }
          }
        }
      }
    }
  }
}

TEST(CollReduce, PredefinedOpsMatchTheReference) {
  predefined_ops(Kind::reduce);
}
TEST(CollAllreduce, PredefinedOpsMatchTheReference) {
  predefined_ops(Kind::allreduce);
}
TEST(CollScan, PredefinedOpsMatchTheReference) {
  predefined_ops(Kind::scan);
}
TEST(CollReduceScatterBlock, PredefinedOpsMatchTheReference) {
  predefined_ops(Kind::reduce_scatter_block);
}

// Above the thresholds of the default tuning (allreduce's ring from 128 KiB), on every rank count.
TEST(CollReduceLarge, SumsAboveTheThresholdsMatchTheReference) {
  for (const OpCase& c : {OpCase{MPI_SUM, MPI_INT}, OpCase{MPI_MAXLOC, MPI_DOUBLE_INT}}) {
    Reduction red = reduction_of(c.op, c.type);
    std::size_t count = 128 * 1024 / static_cast<std::size_t>(c.type->extent) + 13;
    auto input = [type = c.type](int r, std::size_t k) { return values(type, r, k, 12); };
    for (Kind kind : {Kind::reduce, Kind::allreduce, Kind::scan, Kind::reduce_scatter_block}) {
      for (int n = 1; n <= kMaxRanks; ++n) {
        std::size_t per_rank = kind == Kind::reduce_scatter_block ? count / n + 1 : count;
        SCOPED_TRACE(label(kind, n, c.op->name, per_rank, "default", n % 2 == 1, n - 1));
        check(kind, n, n - 1, red, per_rank, input, n % 2 == 1, CollTuning{});
      }
    }
  }
}

// 2x2 matrices of integers modulo 2^64: associative, not commutative. The product of n random
// matrices in another order differs (with overwhelming likelihood), so order errors show.
struct Mat {
  std::uint64_t a, b, c, d;
};

void mat_combine(const void* in, void* inout, std::size_t count) {
  const auto* x = static_cast<const Mat*>(in);
  auto* y = static_cast<Mat*>(inout);
  for (std::size_t i = 0; i < count; ++i) {
    Mat l = x[i], r = y[i];
    y[i] = Mat{l.a * r.a + l.b * r.c, l.a * r.b + l.b * r.d, l.c * r.a + l.d * r.c,
               l.c * r.b + l.d * r.d};
  }
}

Buffer matrices(int rank, std::size_t count) {
  Buffer buf(count * sizeof(Mat));
  for (std::size_t i = 0; i < count; ++i) {
    Mat m{mix(rank * 4 + i * 64 + 1), mix(rank * 4 + i * 64 + 2), mix(rank * 4 + i * 64 + 3),
          mix(rank * 4 + i * 64 + 4)};
    std::memcpy(buf.data() + i * sizeof(Mat), &m, sizeof m);
  }
  return buf;
}

// MPI_Op_create's user function on a contiguous type of four uint64: the C API's path.
void user_matmul(void* in, void* inout, int* len, MPI_Datatype*) {
  mat_combine(in, inout, static_cast<std::size_t>(*len));
}

void non_commutative(Kind kind) {
  MPI_Datatype mat_type = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_contiguous(4, MPI_UINT64_T, &mat_type), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_commit(&mat_type), MPI_SUCCESS);
  MPI_Op user_op = MPI_OP_NULL;
  ASSERT_EQ(MPI_Op_create(&user_matmul, 0, &user_op), MPI_SUCCESS);
  struct Named {
    const char* name;
    Reduction op;
  };
  std::vector<Named> ops = {{"matmul", Reduction{sizeof(Mat), &mat_combine, false}},
                            {"MPI_Op_create matmul", reduction_of(user_op, mat_type)}};
  for (const auto& [oname, red] : ops) {
    ASSERT_FALSE(red.commutative);
    for (const auto& [tname, tuning] : tunings_of(kind)) {
      for (int n = 1; n <= kMaxRanks; ++n) {
        // 4099 matrices are 128 KiB: allreduce's ring threshold, which a non-commutative op
        // must not take. reduce_scatter_block's count is per block (n of them).
        std::size_t large = kind == Kind::reduce_scatter_block ? 130 : 4099;
        for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{3}, large}) {
          for (bool in_place : {false, true}) {
            std::vector<int> roots = kind == Kind::reduce ? roots_of(n) : std::vector<int>{0};
            for (int root : roots) {
              SCOPED_TRACE(label(kind, n, oname, count, tname, in_place, root));
              check(kind, n, root, red, count, matrices, in_place, tuning);
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(MPI_Op_free(&user_op), MPI_SUCCESS);
  EXPECT_EQ(MPI_Type_free(&mat_type), MPI_SUCCESS);
}

TEST(CollReduce, NonCommutativeOpCombinesInRankOrder) {
  non_commutative(Kind::reduce);
}
TEST(CollAllreduce, NonCommutativeOpCombinesInRankOrder) {
  non_commutative(Kind::allreduce);
}
TEST(CollScan, NonCommutativeOpCombinesInRankOrder) {
  non_commutative(Kind::scan);
}
TEST(CollReduceScatterBlock, NonCommutativeOpCombinesInRankOrder) {
  non_commutative(Kind::reduce_scatter_block);
}

// The reference itself sees order: the matrices of two ranks do not commute.
TEST(CollReduce, TheMatrixOpIsNotCommutative) {
  Buffer x = matrices(0, 1), y = matrices(1, 1);
  Buffer xy = y, yx = x;
  mat_combine(x.data(), xy.data(), 1);
  mat_combine(y.data(), yx.data(), 1);
  EXPECT_NE(xy, yx);
}

// allreduce switches to the ring at 128 KiB for a commutative op on 3 ranks or more, and keeps
// recursive doubling for a non-commutative one.
TEST(CollChoice, AllreduceTakesTheRingForLongVectorsOfCommutativeOps) {
  auto sends = [](int n, std::size_t bytes, bool commutative) {
    FakeWorld world(n);
    Reduction sum{4, [](const void*, void*, std::size_t) {}, commutative};
    expect_run(world, [&](CollChannel& ch) {
      Buffer buf(bytes);
      return allreduce(ch, kInPlace, buf, sum);
    });
    return world.sends_of(0);
  };
  EXPECT_EQ(sends(8, 128 * 1024 - 4, true), 3u);  // recursive doubling: log2 8
  EXPECT_EQ(sends(8, 128 * 1024, true), 14u);     // ring: 2 (n - 1)
  EXPECT_EQ(sends(8, 128 * 1024, false), 3u);     // not commutative: doubling
  EXPECT_EQ(sends(2, 1024 * 1024, true), 1u);     // 2 ranks: one exchange
  EXPECT_EQ(sends(5, 1024 * 1024, true), 8u);     // 5 ranks: ring
  EXPECT_EQ(sends(5, 1024, true), 1u);            // rank 0 folds into 1, and is done
}

// reduce too, from 128 KiB: the ring reduce-scatter makes the root send n - 1 times, where the
// binomial root only receives.
TEST(CollChoice, ReduceTakesTheRingAndAGatherForLongVectorsOfCommutativeOps) {
  auto root_sends = [](int n, std::size_t bytes, bool commutative) {
    FakeWorld world(n);
    Reduction sum{4, [](const void*, void*, std::size_t) {}, commutative};
    expect_run(world, [&](CollChannel& ch) {
      Buffer buf(bytes);
      return ch.rank() == 0 ? reduce(ch, kInPlace, buf, sum, 0) : reduce(ch, buf, {}, sum, 0);
    });
    return world.sends_of(0);
  };
  EXPECT_EQ(root_sends(8, 128 * 1024 - 4, true), 0u);
  EXPECT_EQ(root_sends(8, 128 * 1024, true), 7u);
  EXPECT_EQ(root_sends(8, 128 * 1024, false), 0u);
  EXPECT_EQ(root_sends(2, 1024 * 1024, true), 0u);
}

}  // namespace
}  // namespace nexo::mpi
