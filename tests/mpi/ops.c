/* ops: every predefined reduction op on the types it is defined for (SUM, PROD, MAX, MIN, LAND,
 * LOR, LXOR, BAND, BOR, BXOR; MAXLOC and MINLOC on every pair type, ties going to the lowest
 * index), and user ops from Op_create: a commutative one, and a non-commutative one
 * (concatenation of rank lists) whose result shows that Reduce (to two roots), Allreduce and Scan
 * combine in rank order. */
#include <string.h>

#include "check.h"

enum { kMaxRanks = 16 };

static int rank, size;

static void arithmetic(void) {
  int i_in[3] = {rank + 1, -rank, (rank % 3) + 1}, i_out[3], r;
  int sum_r = 0, prod = 1, min_neg = 0;
  double d_in[2] = {0.5 * rank, rank - 1.25}, d_out[2];
  float f_in = (float)rank * 2.0f, f_out;
  long l_in = 1L << rank, l_out;
  unsigned u_in = 100u - (unsigned)rank, u_out;
  long long ll_in = (long long)rank * 3000000000LL, ll_out;
  short s_in = (short)(-rank), s_out;
  unsigned char uc_in = (unsigned char)(200 + rank), uc_out;
  for (r = 0; r < size; ++r) {
    sum_r += r;
    prod *= (r % 3) + 1;
    if (-r < min_neg) min_neg = -r;
  }

  CHECK_MPI(MPI_Allreduce(i_in, i_out, 3, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  CHECK(i_out[0] == sum_r + size && i_out[1] == -sum_r);
  CHECK_MPI(MPI_Allreduce(i_in, i_out, 3, MPI_INT, MPI_PROD, MPI_COMM_WORLD));
  CHECK(i_out[2] == prod);
  CHECK_MPI(MPI_Allreduce(i_in, i_out, 3, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  CHECK(i_out[0] == size && i_out[1] == 0);
  CHECK_MPI(MPI_Allreduce(i_in, i_out, 3, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
  CHECK(i_out[0] == 1 && i_out[1] == min_neg && i_out[2] == 1);

  CHECK_MPI(MPI_Allreduce(d_in, d_out, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  CHECK(d_out[0] == 0.5 * sum_r && d_out[1] == sum_r - 1.25 * size);
  CHECK_MPI(MPI_Allreduce(d_in, d_out, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  CHECK(d_out[0] == 0.5 * (size - 1) && d_out[1] == size - 1 - 1.25);
  CHECK_MPI(MPI_Allreduce(d_in, d_out, 2, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD));
  CHECK(d_out[0] == 0.0 && d_out[1] == -1.25);
  CHECK_MPI(MPI_Allreduce(d_in, d_out, 1, MPI_DOUBLE, MPI_PROD, MPI_COMM_WORLD));
  CHECK(d_out[0] == 0.0);
  d_in[0] = rank % 2 ? -2.0 : 0.5;
  CHECK_MPI(MPI_Allreduce(d_in, d_out, 1, MPI_DOUBLE, MPI_PROD, MPI_COMM_WORLD));
  {
    double expect = 1.0;
    for (r = 0; r < size; ++r)
      expect *= r % 2 ? -2.0 : 0.5;
    CHECK(d_out[0] == expect);
  }

  CHECK_MPI(MPI_Allreduce(&f_in, &f_out, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
  CHECK(f_out == 2.0f * (float)sum_r);
  CHECK_MPI(MPI_Allreduce(&l_in, &l_out, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD));
  CHECK(l_out == (1L << size) - 1);
  CHECK_MPI(MPI_Allreduce(&u_in, &u_out, 1, MPI_UNSIGNED, MPI_MIN, MPI_COMM_WORLD));
  CHECK(u_out == 100u - (unsigned)(size - 1));
  CHECK_MPI(MPI_Allreduce(&ll_in, &ll_out, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD));
  CHECK(ll_out == (long long)sum_r * 3000000000LL);
  CHECK_MPI(MPI_Allreduce(&s_in, &s_out, 1, MPI_SHORT, MPI_MIN, MPI_COMM_WORLD));
  CHECK(s_out == -(size - 1));
  CHECK_MPI(MPI_Allreduce(&uc_in, &uc_out, 1, MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD));
  CHECK(uc_out == 200 + size - 1);
}

static void logical_and_bitwise(void) {
  int all_true = 7, one_true = rank == size - 1, odd = rank % 2, out;
  unsigned bit = 1u << rank, mask = 0xF00u | (1u << rank), u_out;
  int odd_count = size / 2;

  /* A logical result is true or false as C reads an int: with one rank, Open MPI returns the
   * input 7 unchanged, which is true. */
  CHECK_MPI(MPI_Allreduce(&all_true, &out, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
  CHECK(out != 0);
  CHECK_MPI(MPI_Allreduce(&one_true, &out, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
  CHECK(out == (size == 1));
  CHECK_MPI(MPI_Allreduce(&one_true, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD));
  CHECK(out == 1);
  CHECK_MPI(MPI_Allreduce(&odd, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD));
  CHECK(out == (size > 1));
  CHECK_MPI(MPI_Allreduce(&odd, &out, 1, MPI_INT, MPI_LXOR, MPI_COMM_WORLD));
  CHECK(out == odd_count % 2);

  CHECK_MPI(MPI_Allreduce(&bit, &u_out, 1, MPI_UNSIGNED, MPI_BOR, MPI_COMM_WORLD));
  CHECK(u_out == (1u << size) - 1);
  CHECK_MPI(MPI_Allreduce(&mask, &u_out, 1, MPI_UNSIGNED, MPI_BAND, MPI_COMM_WORLD));
  CHECK(u_out == (size == 1 ? 0xF01u : 0xF00u));
  CHECK_MPI(MPI_Allreduce(&mask, &u_out, 1, MPI_UNSIGNED, MPI_BXOR, MPI_COMM_WORLD));
  CHECK(u_out == ((size % 2 ? 0xF00u : 0u) | ((1u << size) - 1)));
}

/* MAXLOC and MINLOC on two elements: the first, rank % 2, ties across ranks (the lowest index
 * wins); the second, loc_value(rank), has one extreme each way at ranks that move with the size. */
static int loc_value(int r) {
  return (r * 7 + 3) % 5 - 2;
}

#define LOC_TEST(pair_type, value_type, mpi_type)                                \
  do {                                                                           \
    pair_type in[2], out[2];                                                     \
    int r_, max_at_ = 0, min_at_ = 0;                                            \
    for (r_ = 1; r_ < size; ++r_) {                                              \
      if (loc_value(r_) > loc_value(max_at_)) max_at_ = r_;                      \
      if (loc_value(r_) < loc_value(min_at_)) min_at_ = r_;                      \
    }                                                                            \
    in[0].value = (value_type)(rank % 2);                                        \
    in[0].index = rank;                                                          \
    in[1].value = (value_type)loc_value(rank);                                   \
    in[1].index = 10 + rank;                                                     \
    CHECK_MPI(MPI_Allreduce(in, out, 2, mpi_type, MPI_MAXLOC, MPI_COMM_WORLD));  \
    CHECK(out[0].value == (value_type)(size > 1) && out[0].index == (size > 1)); \
    CHECK(out[1].value == (value_type)loc_value(max_at_));                       \
    CHECK(out[1].index == 10 + max_at_);                                         \
    CHECK_MPI(MPI_Allreduce(in, out, 2, mpi_type, MPI_MINLOC, MPI_COMM_WORLD));  \
    CHECK(out[0].value == (value_type)0 && out[0].index == 0);                   \
    CHECK(out[1].value == (value_type)loc_value(min_at_));                       \
    CHECK(out[1].index == 10 + min_at_);                                         \
  } while (0)

struct int_int {
  int value;
  int index;
};
struct double_int {
  double value;
  int index;
};
struct float_int {
  float value;
  int index;
};
struct long_int {
  long value;
  int index;
};
struct short_int {
  short value;
  int index;
};
struct long_double_int {
  long double value;
  int index;
};

static void loc(void) {
  LOC_TEST(struct int_int, int, MPI_2INT);
  LOC_TEST(struct double_int, double, MPI_DOUBLE_INT);
  LOC_TEST(struct float_int, float, MPI_FLOAT_INT);
  LOC_TEST(struct long_int, long, MPI_LONG_INT);
  LOC_TEST(struct short_int, short, MPI_SHORT_INT);
  LOC_TEST(struct long_double_int, long double, MPI_LONG_DOUBLE_INT);
}

/* A commutative user op: the larger absolute value. */
static void max_abs(void* in, void* inout, int* len, MPI_Datatype* type) {
  const int* a = in;
  int* b = inout;
  int i;
  (void)type;
  for (i = 0; i < *len; ++i) {
    int x = a[i] < 0 ? -a[i] : a[i], y = b[i] < 0 ? -b[i] : b[i];
    b[i] = x > y ? x : y;
  }
}

/* A non-commutative user op: an element is a list of ranks (length, then the ranks); the result
 * is in's list followed by inout's, in inout. MPI calls it as inout = in op inout with in from the
 * lower ranks, so the combined list of a reduction is 0, 1, ..., size - 1. */
typedef struct {
  int length;
  int ranks[kMaxRanks];
} RankList;

static void concat(void* in, void* inout, int* len, MPI_Datatype* type) {
  const RankList* a = in;
  RankList* b = inout;
  int i, j;
  (void)type;
  for (i = 0; i < *len; ++i) {
    RankList joined;
    joined.length = a[i].length + b[i].length;
    for (j = 0; j < a[i].length; ++j)
      joined.ranks[j] = a[i].ranks[j];
    for (j = 0; j < b[i].length; ++j)
      joined.ranks[a[i].length + j] = b[i].ranks[j];
    for (j = joined.length; j < kMaxRanks; ++j)
      joined.ranks[j] = -1;
    b[i] = joined;
  }
}

static int is_rank_sequence(const RankList* list, int n) {
  int j;
  if (list->length != n) return 0;
  for (j = 0; j < n; ++j)
    if (list->ranks[j] != j) return 0;
  return 1;
}

static void user_ops(void) {
  int in[2] = {rank % 2 ? -rank * 10 : rank, 3}, out[2], root;
  MPI_Op op = MPI_OP_NULL;
  MPI_Datatype list_type = MPI_DATATYPE_NULL;
  RankList mine[2], result[2];
  int j, expect_abs = 0;

  CHECK_MPI(MPI_Op_create(max_abs, 1, &op));
  CHECK(op != MPI_OP_NULL);
  CHECK_MPI(MPI_Allreduce(in, out, 2, MPI_INT, op, MPI_COMM_WORLD));
  for (j = 0; j < size; ++j) {
    int a = j % 2 ? j * 10 : j;
    if (a > expect_abs) expect_abs = a;
  }
  CHECK(out[0] == expect_abs && out[1] == 3);
  CHECK_MPI(MPI_Op_free(&op));
  CHECK(op == MPI_OP_NULL);

  CHECK(size <= kMaxRanks);
  CHECK_MPI(MPI_Type_contiguous(1 + kMaxRanks, MPI_INT, &list_type));
  CHECK_MPI(MPI_Type_commit(&list_type));
  CHECK_MPI(MPI_Op_create(concat, 0, &op));
  for (j = 0; j < 2; ++j) {
    memset(&mine[j], 0xff, sizeof mine[j]);
    mine[j].length = 1;
    mine[j].ranks[0] = rank;
  }
  CHECK_MPI(MPI_Allreduce(mine, result, 2, list_type, op, MPI_COMM_WORLD));
  CHECK(is_rank_sequence(&result[0], size) && is_rank_sequence(&result[1], size));
  for (root = 0; root < size; root += (size > 1 ? size - 1 : 1)) {
    memset(result, 0, sizeof result);
    CHECK_MPI(MPI_Reduce(mine, result, 2, list_type, op, root, MPI_COMM_WORLD));
    if (rank == root)
      CHECK(is_rank_sequence(&result[0], size) && is_rank_sequence(&result[1], size));
  }
  CHECK_MPI(MPI_Scan(mine, result, 2, list_type, op, MPI_COMM_WORLD));
  CHECK(is_rank_sequence(&result[0], rank + 1) && is_rank_sequence(&result[1], rank + 1));
  CHECK_MPI(MPI_Op_free(&op));
  CHECK_MPI(MPI_Type_free(&list_type));
}

int main(int argc, char** argv) {
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  arithmetic();
  logical_and_bitwise();
  loc();
  user_ops();
  return pass_and_finalize("ops");
}
