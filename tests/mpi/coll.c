/* coll: every collective of the subset, with MPI_IN_PLACE wherever MPI 3.1 allows it, each from
 * two roots (0 and the last) where it has one. Values encode (rank, index) so that a block in the
 * wrong place shows. Barrier, Bcast, Reduce, Allreduce, Gather, Gatherv, Scatter, Scatterv,
 * Allgather, Allgatherv, Alltoall, Scan, Reduce_scatter_block. */
#include <string.h>

#include "check.h"

/* kVMax: room for v_layout's blocks with kMaxRanks ranks. */
enum { kN = 5, kMaxRanks = 16, kVMax = kMaxRanks * (kMaxRanks + 5) };

static int rank, size;

static int value(int r, int i) {
  return r * 1000 + i;
}

static void barrier(void) {
  int i;
  for (i = 0; i < 10; ++i)
    CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
}

static void bcast(int root) {
  int buf[kN], i;
  for (i = 0; i < kN; ++i)
    buf[i] = rank == root ? value(root, i) : -1;
  CHECK_MPI(MPI_Bcast(buf, kN, MPI_INT, root, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i)
    CHECK(buf[i] == value(root, i));
}

static void reduce(int root) {
  int send[kN], recv[kN], i, r, expect;
  for (i = 0; i < kN; ++i)
    send[i] = value(rank, i);
  for (i = 0; i < kN; ++i)
    recv[i] = -1;
  CHECK_MPI(MPI_Reduce(send, recv, kN, MPI_INT, MPI_SUM, root, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i) {
    for (expect = 0, r = 0; r < size; ++r)
      expect += value(r, i);
    CHECK(rank == root ? recv[i] == expect : recv[i] == -1);
  }
  /* In place at the root: its recvbuf holds its contribution and receives the result. */
  if (rank == root) {
    for (i = 0; i < kN; ++i)
      recv[i] = value(rank, i);
    CHECK_MPI(MPI_Reduce(MPI_IN_PLACE, recv, kN, MPI_INT, MPI_SUM, root, MPI_COMM_WORLD));
    for (i = 0; i < kN; ++i) {
      for (expect = 0, r = 0; r < size; ++r)
        expect += value(r, i);
      CHECK(recv[i] == expect);
    }
  } else {
    CHECK_MPI(MPI_Reduce(send, NULL, kN, MPI_INT, MPI_SUM, root, MPI_COMM_WORLD));
  }
}

static void allreduce(void) {
  int send[kN], recv[kN], i, r, expect;
  for (i = 0; i < kN; ++i)
    send[i] = value(rank, i);
  CHECK_MPI(MPI_Allreduce(send, recv, kN, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i) {
    for (expect = 0, r = 0; r < size; ++r)
      expect += value(r, i);
    CHECK(recv[i] == expect);
  }
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, send, kN, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i)
    CHECK(send[i] == value(size - 1, i));
}

static void gather(int root) {
  int send[kN], recv[kN * kMaxRanks], i, r;
  for (i = 0; i < kN; ++i)
    send[i] = value(rank, i);
  for (i = 0; i < kN * size; ++i)
    recv[i] = -1;
  CHECK_MPI(MPI_Gather(send, kN, MPI_INT, recv, kN, MPI_INT, root, MPI_COMM_WORLD));
  if (rank == root) {
    for (r = 0; r < size; ++r)
      for (i = 0; i < kN; ++i)
        CHECK(recv[r * kN + i] == value(r, i));
  } else {
    CHECK(recv[0] == -1);
  }
  /* In place: the root's own block is already in its place in recvbuf. */
  if (rank == root) {
    for (i = 0; i < kN * size; ++i)
      recv[i] = -1;
    for (i = 0; i < kN; ++i)
      recv[root * kN + i] = value(root, i);
    CHECK_MPI(MPI_Gather(MPI_IN_PLACE, kN, MPI_INT, recv, kN, MPI_INT, root, MPI_COMM_WORLD));
    for (r = 0; r < size; ++r)
      for (i = 0; i < kN; ++i)
        CHECK(recv[r * kN + i] == value(r, i));
  } else {
    CHECK_MPI(MPI_Gather(send, kN, MPI_INT, NULL, 0, MPI_INT, root, MPI_COMM_WORLD));
  }
}

/* Rank r contributes r + 1 ints, placed in reverse rank order with a gap of 2 between blocks. */
static void v_layout(int* counts, int* displs, int* total) {
  int r, at = 0;
  for (r = size - 1; r >= 0; --r) {
    counts[r] = r + 1;
    displs[r] = at;
    at += counts[r] + 2;
  }
  *total = at;
}

static void gatherv(int root) {
  int counts[kMaxRanks], displs[kMaxRanks], total, send[kMaxRanks], recv[kVMax], i, r;
  v_layout(counts, displs, &total);
  for (i = 0; i <= rank; ++i)
    send[i] = value(rank, i);
  for (i = 0; i < total; ++i)
    recv[i] = -1;
  CHECK_MPI(
      MPI_Gatherv(send, rank + 1, MPI_INT, recv, counts, displs, MPI_INT, root, MPI_COMM_WORLD));
  if (rank == root) {
    for (r = 0; r < size; ++r) {
      for (i = 0; i < counts[r]; ++i)
        CHECK(recv[displs[r] + i] == value(r, i));
      CHECK(recv[displs[r] + counts[r]] == -1 && recv[displs[r] + counts[r] + 1] == -1);
    }
    for (i = 0; i < total; ++i)
      recv[i] = -1;
    for (i = 0; i <= rank; ++i)
      recv[displs[rank] + i] = value(rank, i);
    CHECK_MPI(
        MPI_Gatherv(MPI_IN_PLACE, 0, MPI_INT, recv, counts, displs, MPI_INT, root, MPI_COMM_WORLD));
    for (r = 0; r < size; ++r)
      for (i = 0; i < counts[r]; ++i)
        CHECK(recv[displs[r] + i] == value(r, i));
  } else {
    CHECK_MPI(
        MPI_Gatherv(send, rank + 1, MPI_INT, NULL, NULL, NULL, MPI_INT, root, MPI_COMM_WORLD));
  }
}

static void scatter(int root) {
  int send[kN * kMaxRanks], recv[kN], i, r;
  if (rank == root)
    for (r = 0; r < size; ++r)
      for (i = 0; i < kN; ++i)
        send[r * kN + i] = value(r, i);
  for (i = 0; i < kN; ++i)
    recv[i] = -1;
  CHECK_MPI(MPI_Scatter(send, kN, MPI_INT, recv, kN, MPI_INT, root, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i)
    CHECK(recv[i] == value(rank, i));
  /* In place: the root keeps its block where it is in sendbuf. */
  if (rank == root) {
    CHECK_MPI(MPI_Scatter(send, kN, MPI_INT, MPI_IN_PLACE, kN, MPI_INT, root, MPI_COMM_WORLD));
    for (i = 0; i < kN; ++i)
      CHECK(send[root * kN + i] == value(root, i));
  } else {
    for (i = 0; i < kN; ++i)
      recv[i] = -1;
    CHECK_MPI(MPI_Scatter(NULL, 0, MPI_INT, recv, kN, MPI_INT, root, MPI_COMM_WORLD));
    for (i = 0; i < kN; ++i)
      CHECK(recv[i] == value(rank, i));
  }
}

static void scatterv(int root) {
  int counts[kMaxRanks], displs[kMaxRanks], total, send[kVMax], recv[kMaxRanks + 1], i, r;
  v_layout(counts, displs, &total);
  if (rank == root)
    for (r = 0; r < size; ++r)
      for (i = 0; i < counts[r]; ++i)
        send[displs[r] + i] = value(r, i);
  for (i = 0; i <= kMaxRanks; ++i)
    recv[i] = -1;
  CHECK_MPI(
      MPI_Scatterv(send, counts, displs, MPI_INT, recv, rank + 1, MPI_INT, root, MPI_COMM_WORLD));
  for (i = 0; i <= rank; ++i)
    CHECK(recv[i] == value(rank, i));
  CHECK(recv[rank + 1] == -1);
  if (rank == root) {
    CHECK_MPI(MPI_Scatterv(send, counts, displs, MPI_INT, MPI_IN_PLACE, 0, MPI_INT, root,
                           MPI_COMM_WORLD));
    for (i = 0; i <= rank; ++i)
      CHECK(send[displs[rank] + i] == value(rank, i));
  } else {
    for (i = 0; i <= kMaxRanks; ++i)
      recv[i] = -1;
    CHECK_MPI(
        MPI_Scatterv(NULL, NULL, NULL, MPI_INT, recv, rank + 1, MPI_INT, root, MPI_COMM_WORLD));
    for (i = 0; i <= rank; ++i)
      CHECK(recv[i] == value(rank, i));
  }
}

static void allgather(void) {
  int send[kN], recv[kN * kMaxRanks], i, r;
  for (i = 0; i < kN; ++i)
    send[i] = value(rank, i);
  for (i = 0; i < kN * size; ++i)
    recv[i] = -1;
  CHECK_MPI(MPI_Allgather(send, kN, MPI_INT, recv, kN, MPI_INT, MPI_COMM_WORLD));
  for (r = 0; r < size; ++r)
    for (i = 0; i < kN; ++i)
      CHECK(recv[r * kN + i] == value(r, i));
  for (i = 0; i < kN * size; ++i)
    recv[i] = -1;
  for (i = 0; i < kN; ++i)
    recv[rank * kN + i] = value(rank, i);
  CHECK_MPI(MPI_Allgather(MPI_IN_PLACE, 0, MPI_INT, recv, kN, MPI_INT, MPI_COMM_WORLD));
  for (r = 0; r < size; ++r)
    for (i = 0; i < kN; ++i)
      CHECK(recv[r * kN + i] == value(r, i));
}

static void allgatherv(void) {
  int counts[kMaxRanks], displs[kMaxRanks], total, send[kMaxRanks], recv[kVMax], i, r;
  v_layout(counts, displs, &total);
  for (i = 0; i <= rank; ++i)
    send[i] = value(rank, i);
  for (i = 0; i < total; ++i)
    recv[i] = -1;
  CHECK_MPI(MPI_Allgatherv(send, rank + 1, MPI_INT, recv, counts, displs, MPI_INT, MPI_COMM_WORLD));
  for (r = 0; r < size; ++r) {
    for (i = 0; i < counts[r]; ++i)
      CHECK(recv[displs[r] + i] == value(r, i));
    CHECK(recv[displs[r] + counts[r]] == -1);
  }
  for (i = 0; i < total; ++i)
    recv[i] = -1;
  for (i = 0; i <= rank; ++i)
    recv[displs[rank] + i] = value(rank, i);
  CHECK_MPI(
      MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_INT, recv, counts, displs, MPI_INT, MPI_COMM_WORLD));
  for (r = 0; r < size; ++r)
    for (i = 0; i < counts[r]; ++i)
      CHECK(recv[displs[r] + i] == value(r, i));
}

/* Block d of rank s's sendbuf goes to rank d as block s: value(s, d * kN + i). */
static void alltoall(void) {
  int send[kN * kMaxRanks], recv[kN * kMaxRanks], i, r;
  for (r = 0; r < size; ++r)
    for (i = 0; i < kN; ++i)
      send[r * kN + i] = value(rank, r * kN + i);
  for (i = 0; i < kN * size; ++i)
    recv[i] = -1;
  CHECK_MPI(MPI_Alltoall(send, kN, MPI_INT, recv, kN, MPI_INT, MPI_COMM_WORLD));
  for (r = 0; r < size; ++r)
    for (i = 0; i < kN; ++i)
      CHECK(recv[r * kN + i] == value(r, rank * kN + i));
  /* In place (MPI 2.2 and later): the result replaces the sendbuf that recvbuf is. */
  CHECK_MPI(MPI_Alltoall(MPI_IN_PLACE, 0, MPI_INT, send, kN, MPI_INT, MPI_COMM_WORLD));
  for (r = 0; r < size; ++r)
    for (i = 0; i < kN; ++i)
      CHECK(send[r * kN + i] == value(r, rank * kN + i));
}

static void scan(void) {
  int send[kN], recv[kN], i, r, expect;
  for (i = 0; i < kN; ++i)
    send[i] = value(rank, i);
  CHECK_MPI(MPI_Scan(send, recv, kN, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i) {
    for (expect = 0, r = 0; r <= rank; ++r)
      expect += value(r, i);
    CHECK(recv[i] == expect);
  }
  CHECK_MPI(MPI_Scan(MPI_IN_PLACE, send, kN, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i)
    CHECK(send[i] == recv[i]);
}

/* Every rank contributes size blocks of kN; rank r gets the sum of everyone's block r. */
static void reduce_scatter_block(void) {
  int send[kN * kMaxRanks], recv[kN], i, b, r, expect;
  for (b = 0; b < size; ++b)
    for (i = 0; i < kN; ++i)
      send[b * kN + i] = value(rank, b * kN + i);
  CHECK_MPI(MPI_Reduce_scatter_block(send, recv, kN, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i) {
    for (expect = 0, r = 0; r < size; ++r)
      expect += value(r, rank * kN + i);
    CHECK(recv[i] == expect);
  }
  /* In place: the result lands at the start of the buffer. */
  CHECK_MPI(MPI_Reduce_scatter_block(MPI_IN_PLACE, send, kN, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  for (i = 0; i < kN; ++i)
    CHECK(send[i] == recv[i]);
}

/* Larger than any small-message path: 200,000 doubles through Allreduce and Bcast. */
static void large(void) {
  enum { kLarge = 200000 };
  double* a = malloc(sizeof(double) * kLarge);
  double* b = malloc(sizeof(double) * kLarge);
  int i;
  CHECK(a && b);
  for (i = 0; i < kLarge; ++i)
    a[i] = (double)(rank + 1) * (i % 1000);
  CHECK_MPI(MPI_Allreduce(a, b, kLarge, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  for (i = 0; i < kLarge; ++i)
    CHECK(b[i] == (double)(size * (size + 1) / 2) * (i % 1000));
  if (rank == size - 1) memcpy(b, a, sizeof(double) * kLarge);
  CHECK_MPI(MPI_Bcast(b, kLarge, MPI_DOUBLE, size - 1, MPI_COMM_WORLD));
  for (i = 0; i < kLarge; ++i)
    CHECK(b[i] == (double)size * (i % 1000));
  free(a);
  free(b);
}

int main(int argc, char** argv) {
  int root;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  CHECK(size <= kMaxRanks);
  barrier();
  for (root = 0; root < size; root += (size > 1 ? size - 1 : 1)) {
    bcast(root);
    reduce(root);
    gather(root);
    gatherv(root);
    scatter(root);
    scatterv(root);
  }
  allreduce();
  allgather();
  allgatherv();
  alltoall();
  scan();
  reduce_scatter_block();
  large();
  barrier();
  return pass_and_finalize("coll");
}
