/* types: derived datatypes (Type_contiguous, Type_vector, a vector of a contiguous type) in
 * point-to-point and in collectives: the size and extent the standard defines, a matrix column sent
 * and received as a vector (the rest of the matrix untouched), two vectors in a row (the second
 * starting one extent after the first), Get_count in derived and basic units, Bcast of a column,
 * Gather of columns into rows, Type_free. */
#include <string.h>

#include "check.h"

enum { kRows = 4, kCols = 5 };

static int rank, size, next_rank, prev_rank;

static double element(int who, int row, int col) {
  return who * 100.0 + row * 10.0 + col;
}

static void fill_matrix(double m[kRows][kCols], int who) {
  int row, col;
  for (row = 0; row < kRows; ++row)
    for (col = 0; col < kCols; ++col)
      m[row][col] = element(who, row, col);
}

static void sizes_and_extents(void) {
  MPI_Datatype triple = MPI_DATATYPE_NULL, strided = MPI_DATATYPE_NULL;
  MPI_Datatype nested = MPI_DATATYPE_NULL;
  MPI_Aint lb = -1, extent = -1;
  int type_size = -1;
  CHECK_MPI(MPI_Type_contiguous(3, MPI_INT, &triple));
  CHECK_MPI(MPI_Type_commit(&triple));
  CHECK_MPI(MPI_Type_size(triple, &type_size));
  CHECK_MPI(MPI_Type_get_extent(triple, &lb, &extent));
  CHECK(type_size == 3 * (int)sizeof(int) && lb == 0 && extent == 3 * (MPI_Aint)sizeof(int));

  CHECK_MPI(MPI_Type_vector(3, 2, 4, MPI_INT, &strided));
  CHECK_MPI(MPI_Type_commit(&strided));
  CHECK_MPI(MPI_Type_size(strided, &type_size));
  CHECK_MPI(MPI_Type_get_extent(strided, &lb, &extent));
  CHECK(type_size == 6 * (int)sizeof(int) && lb == 0 && extent == 10 * (MPI_Aint)sizeof(int));

  /* Two triples, then a gap of one triple: stride counts in oldtype extents. */
  CHECK_MPI(MPI_Type_vector(2, 1, 2, triple, &nested));
  CHECK_MPI(MPI_Type_commit(&nested));
  CHECK_MPI(MPI_Type_size(nested, &type_size));
  CHECK_MPI(MPI_Type_get_extent(nested, &lb, &extent));
  CHECK(type_size == 6 * (int)sizeof(int) && extent == 9 * (MPI_Aint)sizeof(int));

  CHECK_MPI(MPI_Type_free(&nested));
  CHECK_MPI(MPI_Type_free(&strided));
  CHECK_MPI(MPI_Type_free(&triple));
  CHECK(nested == MPI_DATATYPE_NULL && strided == MPI_DATATYPE_NULL && triple == MPI_DATATYPE_NULL);
}

/* Column 2 of my matrix to the next rank as a vector; it arrives as 4 contiguous doubles. Then the
 * other way: 4 contiguous doubles into column 3 of a matrix, as a vector. */
static void column_p2p(MPI_Datatype column) {
  double mine[kRows][kCols], theirs[kRows][kCols], flat[kRows];
  int row, col, count = -1;
  MPI_Request req;
  MPI_Status st;
  fill_matrix(mine, rank);
  CHECK_MPI(MPI_Isend(&mine[0][2], 1, column, next_rank, 1, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Recv(flat, kRows, MPI_DOUBLE, prev_rank, 1, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
  for (row = 0; row < kRows; ++row)
    CHECK(flat[row] == element(prev_rank, row, 2));
  CHECK_MPI(MPI_Get_count(&st, column, &count));
  CHECK(count == 1);
  CHECK_MPI(MPI_Get_count(&st, MPI_DOUBLE, &count));
  CHECK(count == kRows);

  for (row = 0; row < kRows; ++row)
    flat[row] = -1.0 - row;
  for (row = 0; row < kRows; ++row)
    for (col = 0; col < kCols; ++col)
      theirs[row][col] = 0.5;
  CHECK_MPI(MPI_Isend(flat, kRows, MPI_DOUBLE, next_rank, 2, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Recv(&theirs[0][3], 1, column, prev_rank, 2, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
  for (row = 0; row < kRows; ++row)
    for (col = 0; col < kCols; ++col)
      CHECK(theirs[row][col] == (col == 3 ? -1.0 - row : 0.5));
}

/* Two vectors of 3 blocks of 2 ints with stride 4: ints 0,1,4,5,8,9 then 10,11,14,15,18,19. */
static void two_vectors(void) {
  MPI_Datatype strided = MPI_DATATYPE_NULL, triple = MPI_DATATYPE_NULL;
  int out[20], in[12], i, count = -1;
  static const int picked[12] = {0, 1, 4, 5, 8, 9, 10, 11, 14, 15, 18, 19};
  MPI_Request req;
  MPI_Status st;
  for (i = 0; i < 20; ++i)
    out[i] = rank * 1000 + i;
  CHECK_MPI(MPI_Type_vector(3, 2, 4, MPI_INT, &strided));
  CHECK_MPI(MPI_Type_commit(&strided));
  CHECK_MPI(MPI_Type_contiguous(3, MPI_INT, &triple));
  CHECK_MPI(MPI_Type_commit(&triple));
  CHECK_MPI(MPI_Isend(out, 2, strided, next_rank, 3, MPI_COMM_WORLD, &req));
  /* Received as 4 triples: the type maps differ, the signatures (12 ints) match. */
  CHECK_MPI(MPI_Recv(in, 4, triple, prev_rank, 3, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
  for (i = 0; i < 12; ++i)
    CHECK(in[i] == prev_rank * 1000 + picked[i]);
  CHECK_MPI(MPI_Get_count(&st, triple, &count));
  CHECK(count == 4);
  CHECK_MPI(MPI_Get_count(&st, strided, &count));
  CHECK(count == 2);
  CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
  CHECK(count == 12);
  CHECK_MPI(MPI_Type_free(&triple));
  CHECK_MPI(MPI_Type_free(&strided));
}

/* Bcast of a column from the last rank; Gather of every rank's column 1 into rows at rank 0. */
static void column_collectives(MPI_Datatype column) {
  double m[kRows][kCols], gathered[16][kRows];
  int row, col, r;
  fill_matrix(m, rank);
  CHECK_MPI(MPI_Bcast(&m[0][4], 1, column, size - 1, MPI_COMM_WORLD));
  for (row = 0; row < kRows; ++row)
    for (col = 0; col < kCols; ++col)
      CHECK(m[row][col] == element(col == 4 ? size - 1 : rank, row, col));

  CHECK(size <= 16);
  fill_matrix(m, rank);
  CHECK_MPI(MPI_Gather(&m[0][1], 1, column, gathered, kRows, MPI_DOUBLE, 0, MPI_COMM_WORLD));
  if (rank == 0)
    for (r = 0; r < size; ++r)
      for (row = 0; row < kRows; ++row)
        CHECK(gathered[r][row] == element(r, row, 1));
}

int main(int argc, char** argv) {
  MPI_Datatype column = MPI_DATATYPE_NULL;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  next_rank = (rank + 1) % size;
  prev_rank = (rank + size - 1) % size;
  sizes_and_extents();
  CHECK_MPI(MPI_Type_vector(kRows, 1, kCols, MPI_DOUBLE, &column));
  CHECK_MPI(MPI_Type_commit(&column));
  column_p2p(column);
  two_vectors();
  column_collectives(column);
  CHECK_MPI(MPI_Type_free(&column));
  return pass_and_finalize("types");
}
