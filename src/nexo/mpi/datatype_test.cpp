#include "nexo/mpi/datatype.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "nexo/mpi/errors.hpp"

namespace nexo::mpi {
namespace {

// Predefined handles are constants: constant-initialised in C++ as in C.
constinit MPI_Datatype kStaticInt = MPI_INT;

struct Expected {
  MPI_Datatype type;
  int size;
  MPI_Aint extent;
};

TEST(MpiDatatype, PredefinedSizesAndExtents) {
  const Expected table[] = {
      {MPI_CHAR, 1, 1},
      {MPI_SIGNED_CHAR, 1, 1},
      {MPI_UNSIGNED_CHAR, 1, 1},
      {MPI_BYTE, 1, 1},
      {MPI_SHORT, 2, 2},
      {MPI_UNSIGNED_SHORT, 2, 2},
      {MPI_INT, 4, 4},
      {MPI_UNSIGNED, 4, 4},
      {MPI_LONG, 8, 8},
      {MPI_UNSIGNED_LONG, 8, 8},
      {MPI_LONG_LONG, 8, 8},
      {MPI_UNSIGNED_LONG_LONG, 8, 8},
      {MPI_FLOAT, 4, 4},
      {MPI_DOUBLE, 8, 8},
      {MPI_LONG_DOUBLE, 16, 16},
      {MPI_C_BOOL, 1, 1},
      {MPI_INT8_T, 1, 1},
      {MPI_INT16_T, 2, 2},
      {MPI_INT32_T, 4, 4},
      {MPI_INT64_T, 8, 8},
      {MPI_UINT8_T, 1, 1},
      {MPI_UINT16_T, 2, 2},
      {MPI_UINT32_T, 4, 4},
      {MPI_UINT64_T, 8, 8},
      // The pair types: size counts the members, extent the C struct with its padding.
      {MPI_FLOAT_INT, 8, 8},
      {MPI_DOUBLE_INT, 12, 16},
      {MPI_LONG_INT, 12, 16},
      {MPI_2INT, 8, 8},
      {MPI_SHORT_INT, 6, 8},
      {MPI_LONG_DOUBLE_INT, 20, 32},
  };
  for (const Expected& e : table) {
    SCOPED_TRACE(e.type->name);
    int size = -1;
    MPI_Aint lb = -1, extent = -1;
    ASSERT_EQ(MPI_Type_size(e.type, &size), MPI_SUCCESS);
    ASSERT_EQ(MPI_Type_get_extent(e.type, &lb, &extent), MPI_SUCCESS);
    EXPECT_EQ(size, e.size);
    EXPECT_EQ(lb, 0);
    EXPECT_EQ(extent, e.extent);
    EXPECT_EQ(check_usable(e.type), MPI_SUCCESS);  // predefined types come committed
  }
  EXPECT_EQ(kStaticInt, MPI_INT);
  EXPECT_EQ(MPI_LONG_LONG_INT, MPI_LONG_LONG);
}

// Packs `count` elements of `type` from `src` whole, and checks the ints picked are `picks`
// (indexes into src); then unpacks into a zeroed buffer and checks exactly those are written.
void expect_layout(MPI_Datatype type, int count, const std::vector<int>& src, std::ptrdiff_t origin,
                   const std::vector<int>& picks) {
  std::vector<std::byte> packed(packed_size(static_cast<std::size_t>(count), *type));
  ASSERT_EQ(packed.size(), picks.size() * sizeof(int));
  ASSERT_EQ(pack(src.data() + origin, static_cast<std::size_t>(count), *type, 0, packed),
            packed.size());
  std::vector<int> got(picks.size());
  std::memcpy(got.data(), packed.data(), packed.size());
  std::vector<int> want;
  for (int p : picks)
    want.push_back(src[static_cast<std::size_t>(p)]);
  EXPECT_EQ(got, want);

  std::vector<int> back(src.size(), 0);
  ASSERT_EQ(unpack(packed, back.data() + origin, static_cast<std::size_t>(count), *type, 0),
            packed.size());
  std::vector<int> expected(src.size(), 0);
  for (int p : picks)
    expected[static_cast<std::size_t>(p)] = src[static_cast<std::size_t>(p)];
  EXPECT_EQ(back, expected);
}

std::vector<int> iota_from(int first, std::size_t n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(MpiDatatype, ContiguousIsDenseAndOneCopy) {
  MPI_Datatype four = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_contiguous(4, MPI_INT, &four), MPI_SUCCESS);
  EXPECT_EQ(check_usable(four), MPI_ERR_TYPE);  // not committed yet
  ASSERT_EQ(MPI_Type_commit(&four), MPI_SUCCESS);
  EXPECT_EQ(check_usable(four), MPI_SUCCESS);
  EXPECT_TRUE(four->dense);
  int size = 0;
  MPI_Aint lb = -1, extent = 0;
  ASSERT_EQ(MPI_Type_size(four, &size), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_get_extent(four, &lb, &extent), MPI_SUCCESS);
  EXPECT_EQ(size, 16);
  EXPECT_EQ(lb, 0);
  EXPECT_EQ(extent, 16);
  expect_layout(four, 2, iota_from(100, 8), 0, {0, 1, 2, 3, 4, 5, 6, 7});
  ASSERT_EQ(MPI_Type_free(&four), MPI_SUCCESS);
  EXPECT_EQ(four, MPI_DATATYPE_NULL);
}

TEST(MpiDatatype, VectorLayoutByHand) {
  // 3 blocks of 2 ints, block starts 4 ints apart: ints 0 1 . . 4 5 . . 8 9; extent 10 ints.
  MPI_Datatype v = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_vector(3, 2, 4, MPI_INT, &v), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_commit(&v), MPI_SUCCESS);
  int size = 0;
  MPI_Aint lb = -1, extent = 0;
  ASSERT_EQ(MPI_Type_size(v, &size), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_get_extent(v, &lb, &extent), MPI_SUCCESS);
  EXPECT_EQ(size, 24);
  EXPECT_EQ(lb, 0);
  EXPECT_EQ(extent, 40);
  EXPECT_FALSE(v->dense);
  // The second element starts one extent (10 ints) later.
  expect_layout(v, 2, iota_from(0, 24), 0, {0, 1, 4, 5, 8, 9, 10, 11, 14, 15, 18, 19});
  ASSERT_EQ(MPI_Type_free(&v), MPI_SUCCESS);
}

TEST(MpiDatatype, VectorWithStrideEqualToBlockIsDense) {
  MPI_Datatype v = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_vector(3, 2, 2, MPI_INT, &v), MPI_SUCCESS);
  EXPECT_TRUE(v->dense);
  EXPECT_EQ(v->extent, 24);
  ASSERT_EQ(MPI_Type_commit(&v), MPI_SUCCESS);
  expect_layout(v, 2, iota_from(0, 12), 0, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  ASSERT_EQ(MPI_Type_free(&v), MPI_SUCCESS);
}

TEST(MpiDatatype, NegativeStride) {
  // Blocks at 0, -2, -4 ints: lb = -16 bytes, ub = 4, extent 20; packed in block order.
  MPI_Datatype v = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_vector(3, 1, -2, MPI_INT, &v), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_commit(&v), MPI_SUCCESS);
  MPI_Aint lb = 0, extent = 0;
  ASSERT_EQ(MPI_Type_get_extent(v, &lb, &extent), MPI_SUCCESS);
  EXPECT_EQ(lb, -16);
  EXPECT_EQ(extent, 20);
  EXPECT_FALSE(v->dense);
  // Two elements from int 4: the first at 4, 2, 0; the second one extent (5 ints) on: 9, 7, 5.
  expect_layout(v, 2, iota_from(50, 12), 4, {4, 2, 0, 9, 7, 5});
  ASSERT_EQ(MPI_Type_free(&v), MPI_SUCCESS);
}

TEST(MpiDatatype, NestedVectorOfContiguous) {
  MPI_Datatype pair = MPI_DATATYPE_NULL, v = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_contiguous(2, MPI_INT, &pair), MPI_SUCCESS);
  // 3 blocks of one pair, 3 pairs apart: ints 0 1 . . . . 6 7 . . . . 12 13; extent 14 ints.
  ASSERT_EQ(MPI_Type_vector(3, 1, 3, pair, &v), MPI_SUCCESS);
  // Freeing the inner type's handle leaves the outer type whole (MPI 3.1 §4.1.9).
  ASSERT_EQ(MPI_Type_free(&pair), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_commit(&v), MPI_SUCCESS);
  EXPECT_EQ(v->size, 24);
  EXPECT_EQ(v->extent, 56);
  expect_layout(v, 2, iota_from(0, 28), 0, {0, 1, 6, 7, 12, 13, 14, 15, 20, 21, 26, 27});
  ASSERT_EQ(MPI_Type_free(&v), MPI_SUCCESS);
}

TEST(MpiDatatype, ContiguousOfVectorOfVector) {
  MPI_Datatype inner = MPI_DATATYPE_NULL, outer = MPI_DATATYPE_NULL, row = MPI_DATATYPE_NULL;
  // inner: ints 0 . 2 (extent 3 ints); outer: 2 inners 4 inners apart: 0 2 12 14 (extent 15);
  // row: 2 outers: 0 2 12 14 | 15 17 27 29.
  ASSERT_EQ(MPI_Type_vector(2, 1, 2, MPI_INT, &inner), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_vector(2, 1, 4, inner, &outer), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_contiguous(2, outer, &row), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_commit(&row), MPI_SUCCESS);
  EXPECT_EQ(outer->extent, 15 * 4);
  EXPECT_EQ(row->extent, 30 * 4);
  expect_layout(row, 1, iota_from(0, 32), 0, {0, 2, 12, 14, 15, 17, 27, 29});
  for (MPI_Datatype* t : {&inner, &outer, &row})
    ASSERT_EQ(MPI_Type_free(t), MPI_SUCCESS);
}

TEST(MpiDatatype, PiecewisePackMatchesWholePack) {
  MPI_Datatype v = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_vector(4, 3, -5, MPI_SHORT, &v), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_commit(&v), MPI_SUCCESS);
  std::vector<short> src(80);
  std::iota(src.begin(), src.end(), short{1});
  const short* origin = src.data() + 40;
  std::vector<std::byte> whole(packed_size(3, *v));
  ASSERT_EQ(pack(origin, 3, *v, 0, whole), whole.size());
  for (std::size_t chunk : {1u, 3u, 5u, 7u, 64u}) {
    SCOPED_TRACE(chunk);
    std::vector<std::byte> pieces(whole.size());
    for (std::size_t at = 0; at < whole.size(); at += chunk) {
      std::size_t n = std::min(chunk, whole.size() - at);
      ASSERT_EQ(pack(origin, 3, *v, at, std::span(pieces).subspan(at, n)), n);
    }
    EXPECT_EQ(pieces, whole);
    // And back, piece by piece, cutting elements anywhere.
    std::vector<short> back(80, 0);
    for (std::size_t at = 0; at < whole.size(); at += chunk) {
      std::size_t n = std::min(chunk, whole.size() - at);
      ASSERT_EQ(unpack(std::span(whole).subspan(at, n), back.data() + 40, 3, *v, at), n);
    }
    std::vector<std::byte> again(whole.size());
    ASSERT_EQ(pack(back.data() + 40, 3, *v, 0, again), again.size());
    EXPECT_EQ(again, whole);
  }
  ASSERT_EQ(MPI_Type_free(&v), MPI_SUCCESS);
}

TEST(MpiDatatype, ShortAndLongPackedStreams) {
  MPI_Datatype v = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_vector(2, 1, 2, MPI_INT, &v), MPI_SUCCESS);  // ints 0 . 2
  ASSERT_EQ(MPI_Type_commit(&v), MPI_SUCCESS);
  // A message shorter than the receive: 6 bytes fill int 0 and half of int 2; the rest stays.
  const int values[2] = {0x11111111, 0x22222222};
  std::vector<std::byte> msg(sizeof values);
  std::memcpy(msg.data(), values, sizeof values);
  int buf[6] = {-1, -1, -1, -1, -1, -1};
  EXPECT_EQ(unpack(std::span(msg).first(6), buf, 2, *v, 0), 6u);
  EXPECT_EQ(buf[0], 0x11111111);
  EXPECT_EQ(buf[1], -1);
  EXPECT_EQ(buf[2] & 0xffff, 0x2222);
  EXPECT_EQ(buf[3], -1);
  // A message longer than the elements: only what fits is consumed (the caller truncates).
  std::vector<std::byte> big(100, std::byte{0x33});
  EXPECT_EQ(unpack(big, buf, 1, *v, 0), 8u);
  EXPECT_EQ(unpack(big, buf, 1, *v, 8), 0u);
  // Packing past the end gives nothing.
  std::vector<std::byte> out(4);
  EXPECT_EQ(pack(buf, 1, *v, 8, out), 0u);
  ASSERT_EQ(MPI_Type_free(&v), MPI_SUCCESS);
}

TEST(MpiDatatype, PairTypesPackWithoutPadding) {
  struct DoubleInt {
    double value;
    int index;
  };
  DoubleInt src[2] = {{1.5, 7}, {-2.25, 9}};
  std::vector<std::byte> packed(packed_size(2, *MPI_DOUBLE_INT));
  ASSERT_EQ(packed.size(), 24u);
  ASSERT_EQ(pack(src, 2, *MPI_DOUBLE_INT, 0, packed), 24u);
  double d = 0;
  int i = 0;
  std::memcpy(&d, packed.data() + 12, sizeof d);
  std::memcpy(&i, packed.data() + 20, sizeof i);
  EXPECT_EQ(d, -2.25);
  EXPECT_EQ(i, 9);
  DoubleInt back[2] = {};
  ASSERT_EQ(unpack(packed, back, 2, *MPI_DOUBLE_INT, 0), 24u);
  EXPECT_EQ(back[0].value, 1.5);
  EXPECT_EQ(back[0].index, 7);
  EXPECT_EQ(back[1].value, -2.25);
  EXPECT_EQ(back[1].index, 9);
}

TEST(MpiDatatype, EmptyTypes) {
  MPI_Datatype none = MPI_DATATYPE_NULL, blockless = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_contiguous(0, MPI_INT, &none), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_vector(3, 0, 7, MPI_INT, &blockless), MPI_SUCCESS);
  for (MPI_Datatype t : {none, blockless}) {
    int size = -1;
    MPI_Aint lb = -1, extent = -1;
    ASSERT_EQ(MPI_Type_size(t, &size), MPI_SUCCESS);
    ASSERT_EQ(MPI_Type_get_extent(t, &lb, &extent), MPI_SUCCESS);
    EXPECT_EQ(size, 0);
    EXPECT_EQ(lb, 0);
    EXPECT_EQ(extent, 0);
    std::byte out[4];
    EXPECT_EQ(pack(nullptr, 5, *t, 0, out), 0u);
  }
  ASSERT_EQ(MPI_Type_free(&none), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_free(&blockless), MPI_SUCCESS);
}

TEST(MpiDatatype, BadArguments) {
  MPI_Datatype t = MPI_DATATYPE_NULL;
  EXPECT_EQ(MPI_Type_contiguous(-1, MPI_INT, &t), MPI_ERR_COUNT);
  EXPECT_EQ(MPI_Type_vector(-1, 1, 1, MPI_INT, &t), MPI_ERR_COUNT);
  EXPECT_EQ(MPI_Type_vector(1, -1, 1, MPI_INT, &t), MPI_ERR_COUNT);
  EXPECT_EQ(MPI_Type_vector(1, 1, 1, MPI_DATATYPE_NULL, &t), MPI_ERR_TYPE);
  EXPECT_EQ(MPI_Type_vector(1, 1, 1, MPI_INT, nullptr), MPI_ERR_ARG);
  EXPECT_EQ(t, MPI_DATATYPE_NULL);  // nothing created on an error
  // The hook (the runtime's error handler) hears what was wrong.
  static std::string why;
  set_error_hook([](int code, const char*, const char* reason) {
    why = reason;
    return code;
  });
  EXPECT_EQ(MPI_Type_contiguous(-3, MPI_INT, &t), MPI_ERR_COUNT);
  EXPECT_EQ(why, "negative count or block length");
  EXPECT_EQ(MPI_Type_contiguous(3, MPI_DATATYPE_NULL, &t), MPI_ERR_TYPE);
  EXPECT_EQ(why, "oldtype is not a datatype (null or freed)");
  EXPECT_EQ(MPI_Type_contiguous(3, MPI_INT, nullptr), MPI_ERR_ARG);
  EXPECT_EQ(why, "newtype is NULL");
  set_error_hook(nullptr);
  EXPECT_EQ(MPI_Type_commit(nullptr), MPI_ERR_ARG);
  EXPECT_EQ(MPI_Type_commit(&t), MPI_ERR_TYPE);
  EXPECT_EQ(MPI_Type_free(&t), MPI_ERR_TYPE);
  EXPECT_EQ(MPI_Type_free(nullptr), MPI_ERR_ARG);
  MPI_Datatype predefined = MPI_DOUBLE;
  EXPECT_EQ(MPI_Type_free(&predefined), MPI_ERR_TYPE);
  EXPECT_EQ(predefined, MPI_DOUBLE);
  int size = 0;
  EXPECT_EQ(MPI_Type_size(MPI_DATATYPE_NULL, &size), MPI_ERR_TYPE);
  EXPECT_EQ(MPI_Type_size(MPI_INT, nullptr), MPI_ERR_ARG);
  MPI_Aint lb = 0;
  EXPECT_EQ(MPI_Type_get_extent(MPI_INT, &lb, nullptr), MPI_ERR_ARG);
  // Not a datatype at all: a zeroed object fails the magic check.
  nexo_mpi_datatype fake;
  fake.magic = 0;
  EXPECT_EQ(MPI_Type_size(&fake, &size), MPI_ERR_TYPE);
}

TEST(MpiDatatype, FreedHandleIsRefusedWhileTheTypeLivesOn) {
  MPI_Datatype inner = MPI_DATATYPE_NULL, outer = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_contiguous(2, MPI_INT, &inner), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_vector(2, 1, 2, inner, &outer), MPI_SUCCESS);
  MPI_Datatype copy = inner;
  ASSERT_EQ(MPI_Type_free(&inner), MPI_SUCCESS);
  EXPECT_EQ(MPI_Type_free(&copy), MPI_ERR_TYPE);  // freed once already (outer keeps it alive)
  int size = 0;
  EXPECT_EQ(MPI_Type_size(copy, &size), MPI_ERR_TYPE);
  ASSERT_EQ(MPI_Type_free(&outer), MPI_SUCCESS);
}

TEST(MpiDatatype, RuntimeReferenceOutlivesTheHandle) {
  MPI_Datatype t = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_vector(2, 1, 3, MPI_INT, &t), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_commit(&t), MPI_SUCCESS);
  MPI_Datatype held = t;
  retain(held);  // as a pending request would
  ASSERT_EQ(MPI_Type_free(&t), MPI_SUCCESS);
  int src[4] = {1, 2, 3, 4};
  std::byte out[8];
  EXPECT_EQ(pack(src, 1, *held, 0, out), 8u);  // still usable by the request
  release(held);
}

TEST(MpiDatatype, OverflowAndHugeSizes) {
  MPI_Datatype big = MPI_DATATYPE_NULL, huge = MPI_DATATYPE_NULL;
  // 2^16 blocks of 2^16 ints: 16 GiB of data, more than an int can say.
  ASSERT_EQ(MPI_Type_vector(65536, 65536, 65536, MPI_INT, &big), MPI_SUCCESS);
  int size = 0;
  ASSERT_EQ(MPI_Type_size(big, &size), MPI_SUCCESS);
  EXPECT_EQ(size, MPI_UNDEFINED);
  EXPECT_EQ(big->size, std::int64_t{1} << 34);
  // Its vector of INT_MAX blocks of INT_MAX elements overflows 64 bits.
  EXPECT_EQ(MPI_Type_vector(INT_MAX, INT_MAX, INT_MAX, big, &huge), MPI_ERR_ARG);
  EXPECT_EQ(huge, MPI_DATATYPE_NULL);
  ASSERT_EQ(MPI_Type_free(&big), MPI_SUCCESS);
}

TEST(MpiDatatype, GetCount) {
  MPI_Status status{};
  int count = -5;
  status.nexo_count = 12;
  ASSERT_EQ(MPI_Get_count(&status, MPI_INT, &count), MPI_SUCCESS);
  EXPECT_EQ(count, 3);
  ASSERT_EQ(MPI_Get_count(&status, MPI_DOUBLE, &count), MPI_SUCCESS);
  EXPECT_EQ(count, MPI_UNDEFINED);  // one and a half doubles
  status.nexo_count = 0;
  ASSERT_EQ(MPI_Get_count(&status, MPI_DOUBLE, &count), MPI_SUCCESS);
  EXPECT_EQ(count, 0);

  MPI_Datatype v = MPI_DATATYPE_NULL, empty = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_vector(3, 2, 4, MPI_INT, &v), MPI_SUCCESS);  // 24 bytes of data
  ASSERT_EQ(MPI_Type_commit(&v), MPI_SUCCESS);
  set_status_count(&status, 48);
  ASSERT_EQ(MPI_Get_count(&status, v, &count), MPI_SUCCESS);
  EXPECT_EQ(count, 2);
  set_status_count(&status, 28);  // one element and a partial one
  ASSERT_EQ(MPI_Get_count(&status, v, &count), MPI_SUCCESS);
  EXPECT_EQ(count, MPI_UNDEFINED);
  ASSERT_EQ(MPI_Type_contiguous(0, MPI_INT, &empty), MPI_SUCCESS);
  ASSERT_EQ(MPI_Get_count(&status, empty, &count), MPI_SUCCESS);
  EXPECT_EQ(count, 0);  // a zero-size type counts zero
  // More elements than an int holds.
  set_status_count(&status, (std::int64_t{INT_MAX} + 1) * 4);
  ASSERT_EQ(MPI_Get_count(&status, MPI_INT, &count), MPI_SUCCESS);
  EXPECT_EQ(count, MPI_UNDEFINED);

  EXPECT_EQ(MPI_Get_count(MPI_STATUS_IGNORE, MPI_INT, &count), MPI_ERR_ARG);
  EXPECT_EQ(MPI_Get_count(&status, MPI_DATATYPE_NULL, &count), MPI_ERR_TYPE);
  EXPECT_EQ(MPI_Get_count(&status, MPI_INT, nullptr), MPI_ERR_ARG);
  ASSERT_EQ(MPI_Type_free(&v), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_free(&empty), MPI_SUCCESS);
}

}  // namespace
}  // namespace nexo::mpi
