/* probe: Probe then Recv with the size learnt from Get_count (the receiver does not know how much
 * comes); Probe with wildcards, then a Recv naming the status's source and tag; Iprobe false while
 * nothing can have been sent, then true; a probed message is still the one received next (Probe
 * does not consume it); Get_count MPI_UNDEFINED for a size that is no whole number of elements;
 * Probe and Iprobe of PROC_NULL. */
#include <string.h>

#include "check.h"

/* Each rank sends to the next a message of a length only it knows: (rank + 1) * 1000 + 7 ints. */
static void probe_then_recv(int rank, int size) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size, n = (rank + 1) * 1000 + 7;
  int* out = malloc(sizeof(int) * (size_t)n);
  int *in, count = -1, i;
  MPI_Request req;
  MPI_Status st, again;
  CHECK(out);
  for (i = 0; i < n; ++i)
    out[i] = rank * 1000000 + i;
  CHECK_MPI(MPI_Isend(out, n, MPI_INT, next, 5, MPI_COMM_WORLD, &req));

  CHECK_MPI(MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st));
  CHECK(st.MPI_SOURCE == prev && st.MPI_TAG == 5);
  CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
  CHECK(count == (prev + 1) * 1000 + 7);
  /* Probing again finds the same message: Probe does not receive it. */
  CHECK_MPI(MPI_Probe(prev, 5, MPI_COMM_WORLD, &again));
  CHECK(again.MPI_SOURCE == prev && again.MPI_TAG == 5);
  CHECK_MPI(MPI_Get_count(&again, MPI_INT, &i));
  CHECK(i == count);
  in = malloc(sizeof(int) * (size_t)count);
  CHECK(in);
  CHECK_MPI(MPI_Recv(in, count, MPI_INT, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, &again));
  CHECK_MPI(MPI_Get_count(&again, MPI_INT, &i));
  CHECK(i == count);
  for (i = 0; i < count; ++i)
    CHECK(in[i] == prev * 1000000 + i);
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
  free(in);
  free(out);
}

/* Iprobe is false for a tag nothing is sent with before a barrier, and turns true (Iprobe makes
 * progress) once the previous rank has sent it. */
static void iprobe(int rank, int size) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size, flag = 1, x = rank, y = -1, count;
  int polls = 0;
  MPI_Request req;
  MPI_Status st;
  CHECK_MPI(MPI_Iprobe(MPI_ANY_SOURCE, 8, MPI_COMM_WORLD, &flag, &st));
  CHECK(flag == 0);
  CHECK_MPI(MPI_Iprobe(prev, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st));
  CHECK(flag == 0);
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
  CHECK_MPI(MPI_Isend(&x, 1, MPI_INT, next, 8, MPI_COMM_WORLD, &req));
  do {
    CHECK_MPI(MPI_Iprobe(MPI_ANY_SOURCE, 8, MPI_COMM_WORLD, &flag, &st));
    ++polls;
  } while (!flag);
  CHECK(polls >= 1 && st.MPI_SOURCE == prev && st.MPI_TAG == 8);
  CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
  CHECK(count == 1);
  /* Iprobe with the exact source and tag sees it too, and it is still there. */
  CHECK_MPI(MPI_Iprobe(prev, 8, MPI_COMM_WORLD, &flag, &st));
  CHECK(flag == 1);
  CHECK_MPI(MPI_Recv(&y, 1, MPI_INT, prev, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
  CHECK(y == prev);
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
}

/* 7 bytes are not a whole number of ints: Get_count says MPI_UNDEFINED; as bytes, 7. */
static void count_undefined(int rank, int size) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size, count = 0;
  char out[7] = "abcdef", in[8];
  MPI_Request req;
  MPI_Status st;
  CHECK_MPI(MPI_Isend(out, 7, MPI_CHAR, next, 9, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Probe(prev, 9, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
  CHECK(count == MPI_UNDEFINED);
  CHECK_MPI(MPI_Get_count(&st, MPI_CHAR, &count));
  CHECK(count == 7);
  CHECK_MPI(MPI_Recv(in, 8, MPI_CHAR, prev, 9, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Get_count(&st, MPI_SHORT, &count));
  CHECK(count == MPI_UNDEFINED);
  CHECK(memcmp(in, "abcdef", 7) == 0);
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
}

static void proc_null(void) {
  int flag = 0, count = -1;
  MPI_Status st;
  CHECK_MPI(MPI_Probe(MPI_PROC_NULL, 3, MPI_COMM_WORLD, &st));
  CHECK(st.MPI_SOURCE == MPI_PROC_NULL && st.MPI_TAG == MPI_ANY_TAG);
  CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
  CHECK(count == 0);
  CHECK_MPI(MPI_Iprobe(MPI_PROC_NULL, 3, MPI_COMM_WORLD, &flag, &st));
  CHECK(flag == 1 && st.MPI_SOURCE == MPI_PROC_NULL && st.MPI_TAG == MPI_ANY_TAG);
}

int main(int argc, char** argv) {
  int rank, size;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  probe_then_recv(rank, size);
  iprobe(rank, size);
  count_undefined(rank, size);
  proc_null();
  return pass_and_finalize("probe");
}
