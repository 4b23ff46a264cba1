#include "nexo/mpi/op.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "nexo/mpi/datatype.hpp"

namespace nexo::mpi {
namespace {

constinit MPI_Op kStaticSum = MPI_SUM;

const std::vector<MPI_Op>& all_ops() {
  static const std::vector<MPI_Op> ops = {MPI_MAX,  MPI_MIN,  MPI_SUM,    MPI_PROD,
                                          MPI_LAND, MPI_LOR,  MPI_LXOR,   MPI_BAND,
                                          MPI_BOR,  MPI_BXOR, MPI_MAXLOC, MPI_MINLOC};
  return ops;
}

const std::vector<MPI_Datatype> kIntegers = {MPI_SIGNED_CHAR, MPI_UNSIGNED_CHAR,
                                             MPI_SHORT,       MPI_UNSIGNED_SHORT,
                                             MPI_INT,         MPI_UNSIGNED,
                                             MPI_LONG,        MPI_UNSIGNED_LONG,
                                             MPI_LONG_LONG,   MPI_UNSIGNED_LONG_LONG,
                                             MPI_INT8_T,      MPI_INT16_T,
                                             MPI_INT32_T,     MPI_INT64_T,
                                             MPI_UINT8_T,     MPI_UINT16_T,
                                             MPI_UINT32_T,    MPI_UINT64_T};
const std::vector<MPI_Datatype> kFloats = {MPI_FLOAT, MPI_DOUBLE, MPI_LONG_DOUBLE};
const std::vector<MPI_Datatype> kPairs = {MPI_FLOAT_INT, MPI_DOUBLE_INT, MPI_LONG_INT,
                                          MPI_2INT,      MPI_SHORT_INT,  MPI_LONG_DOUBLE_INT};

// The table of MPI 3.1 §5.9.2, written out here independently of op.cpp's.
std::set<MPI_Datatype> allowed_types(MPI_Op op) {
  std::set<MPI_Datatype> s(kIntegers.begin(), kIntegers.end());
  if (op == MPI_MAX || op == MPI_MIN || op == MPI_SUM || op == MPI_PROD) {
    s.insert(kFloats.begin(), kFloats.end());
  } else if (op == MPI_LAND || op == MPI_LOR || op == MPI_LXOR) {
    s.insert(MPI_C_BOOL);
  } else if (op == MPI_BAND || op == MPI_BOR || op == MPI_BXOR) {
    s.insert(MPI_BYTE);
  } else {  // MAXLOC, MINLOC
    s = std::set<MPI_Datatype>(kPairs.begin(), kPairs.end());
  }
  return s;
}

TEST(MpiOp, EveryOpTypeCombinationAllowedOrRefused) {
  std::vector<MPI_Datatype> every = kIntegers;
  every.insert(every.end(), kFloats.begin(), kFloats.end());
  every.insert(every.end(), kPairs.begin(), kPairs.end());
  every.insert(every.end(), {MPI_CHAR, MPI_BYTE, MPI_C_BOOL});
  ASSERT_EQ(every.size(), 30u);
  int checked = 0;
  for (MPI_Op op : all_ops()) {
    std::set<MPI_Datatype> ok = allowed_types(op);
    for (MPI_Datatype type : every) {
      SCOPED_TRACE(std::string(op->name) + " on " + type->name);
      int want = ok.count(type) != 0 ? MPI_SUCCESS : MPI_ERR_OP;
      EXPECT_EQ(check_op(op, type), want);
      // apply_op agrees, and writes nothing when it refuses.
      alignas(16) std::byte in[64] = {}, io[64];
      std::memset(io, 0x5a, sizeof io);
      EXPECT_EQ(apply_op(op, in, io, 1, type), want);
      if (want != MPI_SUCCESS) {
        for (std::byte b : io)
          ASSERT_EQ(b, std::byte{0x5a});
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 12 * 30);
  EXPECT_EQ(kStaticSum, MPI_SUM);
}

TEST(MpiOp, InvalidHandles) {
  int a = 1, b = 2;
  EXPECT_EQ(check_op(MPI_OP_NULL, MPI_INT), MPI_ERR_OP);
  EXPECT_EQ(check_op(MPI_SUM, MPI_DATATYPE_NULL), MPI_ERR_TYPE);
  EXPECT_EQ(apply_op(MPI_OP_NULL, &a, &b, 1, MPI_INT), MPI_ERR_OP);
  EXPECT_EQ(b, 2);
}

// Checks every allowed integer op on T against arithmetic done here.
template <class T>
void check_integer_ops(MPI_Datatype type) {
  SCOPED_TRACE(type->name);
  const std::vector<T> a = {0, 1, 5, 7, 12, static_cast<T>(-3)};
  const std::vector<T> b = {3, 1, 2, 0, 10, 4};
  auto run = [&](MPI_Op op) {
    std::vector<T> io = b;
    EXPECT_EQ(apply_op(op, a.data(), io.data(), a.size(), type), MPI_SUCCESS);
    return io;
  };
  std::vector<T> want(a.size());
  auto expect = [&](MPI_Op op, auto f) {
    for (std::size_t i = 0; i < a.size(); ++i)
      want[i] = static_cast<T>(f(a[i], b[i]));
    EXPECT_EQ(run(op), want) << op->name;
  };
  using W = std::make_unsigned_t<decltype(T{} + T{})>;
  expect(MPI_MAX, [](T x, T y) { return x > y ? x : y; });
  expect(MPI_MIN, [](T x, T y) { return x < y ? x : y; });
  expect(MPI_SUM, [](T x, T y) { return static_cast<W>(x) + static_cast<W>(y); });
  expect(MPI_PROD, [](T x, T y) { return static_cast<W>(x) * static_cast<W>(y); });
  expect(MPI_LAND, [](T x, T y) { return x != 0 && y != 0; });
  expect(MPI_LOR, [](T x, T y) { return x != 0 || y != 0; });
  expect(MPI_LXOR, [](T x, T y) { return (x != 0) != (y != 0); });
  expect(MPI_BAND, [](T x, T y) { return x & y; });
  expect(MPI_BOR, [](T x, T y) { return x | y; });
  expect(MPI_BXOR, [](T x, T y) { return x ^ y; });
}

TEST(MpiOp, IntegerOps) {
  check_integer_ops<signed char>(MPI_SIGNED_CHAR);
  check_integer_ops<unsigned char>(MPI_UNSIGNED_CHAR);
  check_integer_ops<short>(MPI_SHORT);
  check_integer_ops<unsigned short>(MPI_UNSIGNED_SHORT);
  check_integer_ops<int>(MPI_INT);
  check_integer_ops<unsigned>(MPI_UNSIGNED);
  check_integer_ops<long>(MPI_LONG);
  check_integer_ops<unsigned long>(MPI_UNSIGNED_LONG);
  check_integer_ops<long long>(MPI_LONG_LONG);
  check_integer_ops<unsigned long long>(MPI_UNSIGNED_LONG_LONG);
  check_integer_ops<std::int8_t>(MPI_INT8_T);
  check_integer_ops<std::int16_t>(MPI_INT16_T);
  check_integer_ops<std::int32_t>(MPI_INT32_T);
  check_integer_ops<std::int64_t>(MPI_INT64_T);
  check_integer_ops<std::uint8_t>(MPI_UINT8_T);
  check_integer_ops<std::uint16_t>(MPI_UINT16_T);
  check_integer_ops<std::uint32_t>(MPI_UINT32_T);
  check_integer_ops<std::uint64_t>(MPI_UINT64_T);
}

TEST(MpiOp, IntegerOverflowWraps) {
  int a = INT_MAX, b = 1;
  ASSERT_EQ(apply_op(MPI_SUM, &a, &b, 1, MPI_INT), MPI_SUCCESS);
  EXPECT_EQ(b, INT_MIN);
  std::uint16_t x = 65535, y = 65535;  // promotes to int: the product would overflow int
  ASSERT_EQ(apply_op(MPI_PROD, &x, &y, 1, MPI_UINT16_T), MPI_SUCCESS);
  EXPECT_EQ(y, 1);
  long long p = LLONG_MAX, q = 2;
  ASSERT_EQ(apply_op(MPI_PROD, &p, &q, 1, MPI_LONG_LONG), MPI_SUCCESS);
  EXPECT_EQ(q, -2);
}

template <class T>
void check_float_ops(MPI_Datatype type) {
  SCOPED_TRACE(type->name);
  const T a[3] = {1.5, -2, 0.25};
  const T b[3] = {2, -4, 0.5};
  auto run = [&](MPI_Op op) {
    std::vector<T> io(b, b + 3);
    EXPECT_EQ(apply_op(op, a, io.data(), 3, type), MPI_SUCCESS);
    return io;
  };
  EXPECT_EQ(run(MPI_MAX), (std::vector<T>{2, -2, 0.5}));
  EXPECT_EQ(run(MPI_MIN), (std::vector<T>{1.5, -4, 0.25}));
  EXPECT_EQ(run(MPI_SUM), (std::vector<T>{3.5, -6, 0.75}));
  EXPECT_EQ(run(MPI_PROD), (std::vector<T>{3, 8, 0.125}));
}

TEST(MpiOp, FloatingOps) {
  check_float_ops<float>(MPI_FLOAT);
  check_float_ops<double>(MPI_DOUBLE);
  check_float_ops<long double>(MPI_LONG_DOUBLE);
}

TEST(MpiOp, LogicalOpsOnCBool) {
  // Any non-zero byte is true; the result is 0 or 1.
  const unsigned char a[4] = {0, 0, 2, 1};
  const unsigned char b[4] = {0, 1, 0, 7};
  auto run = [&](MPI_Op op) {
    std::vector<unsigned char> io(b, b + 4);
    EXPECT_EQ(apply_op(op, a, io.data(), 4, MPI_C_BOOL), MPI_SUCCESS);
    return io;
  };
  EXPECT_EQ(run(MPI_LAND), (std::vector<unsigned char>{0, 0, 0, 1}));
  EXPECT_EQ(run(MPI_LOR), (std::vector<unsigned char>{0, 1, 1, 1}));
  EXPECT_EQ(run(MPI_LXOR), (std::vector<unsigned char>{0, 1, 1, 0}));
}

TEST(MpiOp, BitwiseOpsOnByte) {
  const unsigned char a[2] = {0xf0, 0x0f};
  auto run = [&](MPI_Op op) {
    std::vector<unsigned char> io = {0xcc, 0xff};
    EXPECT_EQ(apply_op(op, a, io.data(), 2, MPI_BYTE), MPI_SUCCESS);
    return io;
  };
  EXPECT_EQ(run(MPI_BAND), (std::vector<unsigned char>{0xc0, 0x0f}));
  EXPECT_EQ(run(MPI_BOR), (std::vector<unsigned char>{0xfc, 0xff}));
  EXPECT_EQ(run(MPI_BXOR), (std::vector<unsigned char>{0x3c, 0xf0}));
}

template <class T>
struct Pair {
  T value;
  int index;
  bool operator==(const Pair&) const = default;
};

// MAXLOC and MINLOC: the winning value with its index; on a tie the lower index, whichever
// operand holds it.
template <class T>
void check_loc(MPI_Datatype type) {
  SCOPED_TRACE(type->name);
  ASSERT_EQ(static_cast<std::size_t>(type->extent), sizeof(Pair<T>));
  const Pair<T> in[5] = {{5, 1}, {2, 2}, {3, 0}, {3, 9}, {7, 4}};
  const Pair<T> init[5] = {{4, 3}, {6, 8}, {3, 5}, {3, 1}, {7, 4}};
  std::vector<Pair<T>> io(init, init + 5);
  ASSERT_EQ(apply_op(MPI_MAXLOC, in, io.data(), 5, type), MPI_SUCCESS);
  EXPECT_EQ(io, (std::vector<Pair<T>>{{5, 1}, {6, 8}, {3, 0}, {3, 1}, {7, 4}}));
  io.assign(init, init + 5);
  ASSERT_EQ(apply_op(MPI_MINLOC, in, io.data(), 5, type), MPI_SUCCESS);
  EXPECT_EQ(io, (std::vector<Pair<T>>{{4, 3}, {2, 2}, {3, 0}, {3, 1}, {7, 4}}));
}

TEST(MpiOp, MaxlocMinlocWithTies) {
  check_loc<float>(MPI_FLOAT_INT);
  check_loc<double>(MPI_DOUBLE_INT);
  check_loc<long>(MPI_LONG_INT);
  check_loc<int>(MPI_2INT);
  check_loc<short>(MPI_SHORT_INT);
  check_loc<long double>(MPI_LONG_DOUBLE_INT);
}

TEST(MpiOp, DerivedTypeTouchesOnlyItsElements) {
  MPI_Datatype every_other = MPI_DATATYPE_NULL;
  ASSERT_EQ(MPI_Type_vector(3, 1, 2, MPI_INT, &every_other), MPI_SUCCESS);  // ints 0 2 4
  ASSERT_EQ(MPI_Type_commit(&every_other), MPI_SUCCESS);
  // Two elements (extent 5 ints): ints 0 2 4 5 7 9.
  const int in[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  int io[10] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
  ASSERT_EQ(apply_op(MPI_SUM, in, io, 2, every_other), MPI_SUCCESS);
  EXPECT_EQ(std::vector<int>(io, io + 10),
            (std::vector<int>{11, 20, 31, 40, 51, 61, 70, 81, 90, 101}));
  EXPECT_EQ(check_op(MPI_MAXLOC, every_other), MPI_ERR_OP);  // its leaf is MPI_INT
  ASSERT_EQ(MPI_Type_free(&every_other), MPI_SUCCESS);

  MPI_Datatype pairs = MPI_DATATYPE_NULL;  // a vector of padded pairs
  ASSERT_EQ(MPI_Type_vector(2, 1, 2, MPI_DOUBLE_INT, &pairs), MPI_SUCCESS);
  ASSERT_EQ(MPI_Type_commit(&pairs), MPI_SUCCESS);
  const Pair<double> pin[3] = {{9, 1}, {0, 0}, {1, 2}};
  Pair<double> pio[3] = {{3, 0}, {5, 5}, {4, 4}};
  ASSERT_EQ(apply_op(MPI_MAXLOC, pin, pio, 1, pairs), MPI_SUCCESS);
  EXPECT_EQ(pio[0], (Pair<double>{9, 1}));
  EXPECT_EQ(pio[1], (Pair<double>{5, 5}));  // the gap
  EXPECT_EQ(pio[2], (Pair<double>{4, 4}));
  ASSERT_EQ(MPI_Type_free(&pairs), MPI_SUCCESS);
}

int g_calls = 0;
int g_last_len = 0;
MPI_Datatype g_last_type = MPI_DATATYPE_NULL;

void max_abs(void* in, void* inout, int* len, MPI_Datatype* type) {
  ++g_calls;
  g_last_len = *len;
  g_last_type = *type;
  const int* a = static_cast<const int*>(in);
  int* b = static_cast<int*>(inout);
  for (int i = 0; i < *len; ++i) {
    int x = a[i] < 0 ? -a[i] : a[i];
    int y = b[i] < 0 ? -b[i] : b[i];
    b[i] = x > y ? x : y;
  }
}

TEST(MpiOp, UserOp) {
  MPI_Op op = MPI_OP_NULL, nc = MPI_OP_NULL;
  ASSERT_EQ(MPI_Op_create(max_abs, 1, &op), MPI_SUCCESS);
  ASSERT_EQ(MPI_Op_create(max_abs, 0, &nc), MPI_SUCCESS);
  EXPECT_TRUE(is_commutative(op));
  EXPECT_FALSE(is_commutative(nc));
  for (MPI_Op predefined : all_ops())
    EXPECT_TRUE(is_commutative(predefined));
  // A user op takes any type, MPI_CHAR included.
  EXPECT_EQ(check_op(op, MPI_CHAR), MPI_SUCCESS);
  const int in[3] = {-7, 2, 0};
  int io[3] = {3, -5, 0};
  g_calls = 0;
  ASSERT_EQ(apply_op(op, in, io, 3, MPI_INT), MPI_SUCCESS);
  EXPECT_EQ(g_calls, 1);
  EXPECT_EQ(g_last_len, 3);
  EXPECT_EQ(g_last_type, MPI_INT);
  EXPECT_EQ(std::vector<int>(io, io + 3), (std::vector<int>{7, 5, 0}));
  ASSERT_EQ(MPI_Op_free(&op), MPI_SUCCESS);
  EXPECT_EQ(op, MPI_OP_NULL);
  ASSERT_EQ(MPI_Op_free(&nc), MPI_SUCCESS);
}

TEST(MpiOp, CreateAndFreeErrors) {
  MPI_Op op = MPI_OP_NULL;
  EXPECT_EQ(MPI_Op_create(nullptr, 1, &op), MPI_ERR_ARG);
  EXPECT_EQ(MPI_Op_create(max_abs, 1, nullptr), MPI_ERR_ARG);
  EXPECT_EQ(MPI_Op_free(nullptr), MPI_ERR_ARG);
  EXPECT_EQ(MPI_Op_free(&op), MPI_ERR_OP);
  for (MPI_Op predefined : all_ops()) {
    MPI_Op copy = predefined;
    EXPECT_EQ(MPI_Op_free(&copy), MPI_ERR_OP);
    EXPECT_EQ(copy, predefined);
  }
}

}  // namespace
}  // namespace nexo::mpi
