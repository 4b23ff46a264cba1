/* sizes: zero-length messages (every send mode, NULL and real buffers, a receive buffer left
 * untouched, Get_count 0, collectives of count 0) and messages over 16 MiB, their content checked
 * byte by byte: around a ring with Isend/Recv, as ints with Sendrecv, with Ssend, and through
 * Bcast. */
#include <string.h>

#include "check.h"

enum { kBig = (17 << 20) + 5 }; /* 17 MiB and an odd tail: no power of two, no whole page */

/* A byte pattern that differs per sender and shows a misplaced chunk anywhere in 16 MiB. */
static unsigned char pattern(size_t j, int sender) {
  return (unsigned char)(j ^ (j >> 8) ^ (j >> 16) ^ (j >> 24) ^ (size_t)(sender * 29 + 1));
}

static void fill(unsigned char* buf, size_t n, int sender) {
  size_t j;
  for (j = 0; j < n; ++j)
    buf[j] = pattern(j, sender);
}

static size_t first_mismatch(const unsigned char* buf, size_t n, int sender) {
  size_t j;
  for (j = 0; j < n; ++j)
    if (buf[j] != pattern(j, sender)) return j;
  return n;
}

static void zero_length(int rank, int size) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size, count = -1, flag = 0;
  int marker[4] = {11, 22, 33, 44}, empty = 0;
  MPI_Request reqs[2];
  MPI_Status st;

  /* NULL buffer, count 0, around the ring. */
  CHECK_MPI(MPI_Irecv(NULL, 0, MPI_INT, prev, 1, MPI_COMM_WORLD, &reqs[0]));
  CHECK_MPI(MPI_Isend(NULL, 0, MPI_INT, next, 1, MPI_COMM_WORLD, &reqs[1]));
  CHECK_MPI(MPI_Wait(&reqs[0], &st));
  CHECK(st.MPI_SOURCE == prev && st.MPI_TAG == 1);
  CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
  CHECK(count == 0);
  CHECK_MPI(MPI_Wait(&reqs[1], MPI_STATUS_IGNORE));

  /* A zero-length message into a 4-int buffer leaves the buffer as it was. */
  CHECK_MPI(MPI_Irecv(marker, 4, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &reqs[0]));
  CHECK_MPI(MPI_Isend(&empty, 0, MPI_INT, next, 2, MPI_COMM_WORLD, &reqs[1]));
  CHECK_MPI(MPI_Waitall(2, reqs, MPI_STATUSES_IGNORE));
  CHECK(marker[0] == 11 && marker[1] == 22 && marker[2] == 33 && marker[3] == 44);

  /* Synchronous mode and Sendrecv with count 0. */
  CHECK_MPI(MPI_Irecv(marker, 4, MPI_INT, prev, 3, MPI_COMM_WORLD, &reqs[0]));
  CHECK_MPI(MPI_Issend(&empty, 0, MPI_INT, next, 3, MPI_COMM_WORLD, &reqs[1]));
  CHECK_MPI(MPI_Waitall(2, reqs, MPI_STATUSES_IGNORE));
  CHECK_MPI(
      MPI_Sendrecv(&empty, 0, MPI_INT, next, 4, marker, 4, MPI_INT, prev, 4, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
  CHECK(count == 0 && st.MPI_SOURCE == prev && st.MPI_TAG == 4);
  CHECK(marker[0] == 11 && marker[3] == 44);

  /* Probe sees a zero-length message with count 0. */
  CHECK_MPI(MPI_Isend(NULL, 0, MPI_BYTE, next, 5, MPI_COMM_WORLD, &reqs[1]));
  CHECK_MPI(MPI_Probe(prev, 5, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Get_count(&st, MPI_DOUBLE, &count));
  CHECK(count == 0);
  CHECK_MPI(MPI_Recv(NULL, 0, MPI_BYTE, prev, 5, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Test(&reqs[1], &flag, MPI_STATUS_IGNORE));
  if (!flag) CHECK_MPI(MPI_Wait(&reqs[1], MPI_STATUS_IGNORE));

  /* Collectives with count 0. */
  CHECK_MPI(MPI_Bcast(marker, 0, MPI_INT, 0, MPI_COMM_WORLD));
  CHECK_MPI(MPI_Allreduce(marker, marker + 2, 0, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  CHECK(marker[0] == 11 && marker[1] == 22 && marker[2] == 33 && marker[3] == 44);
}

static void big(int rank, int size) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size, count = -1, root;
  unsigned char* out = malloc(kBig);
  unsigned char* in = malloc(kBig + 100);
  MPI_Request req;
  MPI_Status st;
  CHECK(out && in);
  fill(out, kBig, rank);

  /* Around the ring, into a larger buffer: the count is the message's. */
  memset(in, 0, kBig + 100);
  CHECK_MPI(MPI_Isend(out, kBig, MPI_BYTE, next, 10, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Recv(in, kBig + 100, MPI_BYTE, prev, 10, MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
  CHECK(count == kBig);
  CHECK(first_mismatch(in, kBig, prev) == kBig);
  CHECK(in[kBig] == 0 && in[kBig + 99] == 0);
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));

  /* As ints, with Sendrecv the other way round. */
  memset(in, 0, kBig);
  CHECK_MPI(MPI_Sendrecv(out, kBig / 4, MPI_INT, prev, 11, in, kBig / 4, MPI_INT, next, 11,
                         MPI_COMM_WORLD, &st));
  CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
  CHECK(count == kBig / 4);
  CHECK(first_mismatch(in, (size_t)(kBig / 4) * 4, next) == (size_t)(kBig / 4) * 4);

  /* Synchronous mode, over the rendezvous path of most implementations. */
  memset(in, 0, kBig);
  CHECK_MPI(MPI_Irecv(in, kBig, MPI_BYTE, prev, 12, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Ssend(out, kBig, MPI_BYTE, next, 12, MPI_COMM_WORLD));
  CHECK_MPI(MPI_Wait(&req, &st));
  CHECK(first_mismatch(in, kBig, prev) == kBig);

  /* Bcast of the big buffer from the last rank and from rank 0. */
  for (root = size - 1; root >= 0; root -= (size > 1 ? size - 1 : 1)) {
    if (rank == root) {
      memcpy(in, out, kBig);
    } else {
      memset(in, 0, kBig);
    }
    CHECK_MPI(MPI_Bcast(in, kBig, MPI_BYTE, root, MPI_COMM_WORLD));
    CHECK(first_mismatch(in, kBig, root) == kBig);
  }
  free(out);
  free(in);
}

int main(int argc, char** argv) {
  int rank, size;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  zero_length(rank, size);
  big(rank, size);
  return pass_and_finalize("sizes");
}
