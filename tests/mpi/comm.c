/* comm: communicators isolate traffic.
 *   - Comm_dup: the same ranks, a new context; a message on the duplicate with the same source and
 *     tag is never taken by a receive on COMM_WORLD (sent first on the duplicate, received second);
 *   - Comm_split by parity with the key reversing the order: the sizes and ranks the standard
 *     defines, a ring and an Allreduce inside each half, the same tags on both halves and on
 *     COMM_WORLD at once, wildcard receives on the split never seeing world traffic;
 *   - Comm_split with MPI_UNDEFINED gives COMM_NULL;
 *   - a duplicate of a split; error handlers inherited by Comm_dup;
 *   - Comm_free sets the handle to COMM_NULL;
 *   - COMM_SELF: a message to oneself. */
#include "check.h"

/* On both communicators, the same source and tag: the duplicate's first, received last. */
static void dup_isolates(int rank, int size, MPI_Comm dup) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size, dup_rank, dup_size;
  int on_dup = 1000 + rank, on_world = 2000 + rank, in = -1;
  MPI_Request reqs[2];
  MPI_Status st;
  CHECK_MPI(MPI_Comm_rank(dup, &dup_rank));
  CHECK_MPI(MPI_Comm_size(dup, &dup_size));
  CHECK(dup_rank == rank && dup_size == size);

  CHECK_MPI(MPI_Isend(&on_dup, 1, MPI_INT, next, 5, dup, &reqs[0]));
  CHECK_MPI(MPI_Isend(&on_world, 1, MPI_INT, next, 5, MPI_COMM_WORLD, &reqs[1]));
  CHECK_MPI(MPI_Recv(&in, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st));
  CHECK(in == 2000 + prev && st.MPI_SOURCE == prev && st.MPI_TAG == 5);
  CHECK_MPI(MPI_Recv(&in, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, dup, &st));
  CHECK(in == 1000 + prev && st.MPI_SOURCE == prev && st.MPI_TAG == 5);
  CHECK_MPI(MPI_Waitall(2, reqs, MPI_STATUSES_IGNORE));
}

/* Halves by parity; key = -rank, so a half's ranks run in reverse world order. */
static void split_isolates(int rank, int size) {
  int color = rank % 2, half_rank = -1, half_size = -1, expect_size, expect_rank, i;
  int half_next, half_prev, in_world = -1, in_half = -1, out_world = rank, out_half = rank + 500;
  int sum = -1, expect_sum = 0;
  MPI_Comm half = MPI_COMM_NULL, half_dup = MPI_COMM_NULL;
  MPI_Request reqs[2];
  MPI_Status st;

  CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, color, -rank, &half));
  CHECK(half != MPI_COMM_NULL);
  CHECK_MPI(MPI_Comm_size(half, &half_size));
  CHECK_MPI(MPI_Comm_rank(half, &half_rank));
  expect_size = (size - color + 1) / 2; /* ranks color, color + 2, ... below size */
  expect_rank = 0;
  for (i = color; i < size; i += 2)
    if (i > rank) ++expect_rank;
  CHECK(half_size == expect_size && half_rank == expect_rank);

  /* The world rank of my half's next and previous: half ranks count down in world rank. */
  half_next = (half_rank + 1) % half_size;
  half_prev = (half_rank + half_size - 1) % half_size;

  /* The same tag on the half and on the world; a wildcard receive on the half takes only the
   * half's message, even though the world's was sent first. */
  CHECK_MPI(MPI_Isend(&out_world, 1, MPI_INT, (rank + 1) % size, 7, MPI_COMM_WORLD, &reqs[0]));
  CHECK_MPI(MPI_Isend(&out_half, 1, MPI_INT, half_next, 7, half, &reqs[1]));
  CHECK_MPI(MPI_Recv(&in_half, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, half, &st));
  CHECK(st.MPI_SOURCE == half_prev && st.MPI_TAG == 7);
  /* half rank h is world rank: the (half_size - 1 - h)-th of color, color + 2, ... */
  CHECK(in_half == 500 + color + 2 * (half_size - 1 - half_prev));
  CHECK_MPI(MPI_Recv(&in_world, 1, MPI_INT, MPI_ANY_SOURCE, 7, MPI_COMM_WORLD, &st));
  CHECK(in_world == (rank + size - 1) % size && st.MPI_SOURCE == in_world);
  CHECK_MPI(MPI_Waitall(2, reqs, MPI_STATUSES_IGNORE));

  /* A collective inside each half: the sum of its world ranks. */
  for (i = color; i < size; i += 2)
    expect_sum += i;
  CHECK_MPI(MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, half));
  CHECK(sum == expect_sum);

  /* A duplicate of the half: same shape, its own context. */
  CHECK_MPI(MPI_Comm_dup(half, &half_dup));
  CHECK_MPI(MPI_Comm_rank(half_dup, &i));
  CHECK(i == half_rank);
  CHECK_MPI(MPI_Bcast(&sum, 1, MPI_INT, 0, half_dup));
  CHECK(sum == expect_sum);

  CHECK_MPI(MPI_Comm_free(&half_dup));
  CHECK(half_dup == MPI_COMM_NULL);
  CHECK_MPI(MPI_Comm_free(&half));
  CHECK(half == MPI_COMM_NULL);
}

/* Ranks that pass MPI_UNDEFINED get COMM_NULL; the others a communicator of the rest. */
static void split_undefined(int rank, int size) {
  MPI_Comm sub = MPI_COMM_WORLD;
  int sub_size = -1;
  CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : 3, rank, &sub));
  if (rank == 0) {
    CHECK(sub == MPI_COMM_NULL);
  } else {
    CHECK(sub != MPI_COMM_NULL);
    CHECK_MPI(MPI_Comm_size(sub, &sub_size));
    CHECK(sub_size == size - 1);
    CHECK_MPI(MPI_Barrier(sub));
    CHECK_MPI(MPI_Comm_free(&sub));
  }
}

/* Comm_dup copies the error handler (MPI 3.1, 8.3.1). */
static void dup_inherits_errhandler(void) {
  MPI_Comm a = MPI_COMM_NULL, b = MPI_COMM_NULL;
  MPI_Errhandler handler = MPI_ERRHANDLER_NULL;
  CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &a));
  CHECK_MPI(MPI_Comm_set_errhandler(a, MPI_ERRORS_RETURN));
  CHECK_MPI(MPI_Comm_dup(a, &b));
  CHECK_MPI(MPI_Comm_get_errhandler(b, &handler));
  CHECK(handler == MPI_ERRORS_RETURN);
  CHECK_MPI(MPI_Comm_get_errhandler(MPI_COMM_WORLD, &handler));
  CHECK(handler == MPI_ERRORS_ARE_FATAL);
  CHECK_MPI(MPI_Comm_free(&b));
  CHECK_MPI(MPI_Comm_free(&a));
}

static void self(void) {
  int out = 17, in = 0, rank = -1;
  MPI_Request req;
  MPI_Status st;
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_SELF, &rank));
  CHECK(rank == 0);
  CHECK_MPI(MPI_Isend(&out, 1, MPI_INT, 0, 3, MPI_COMM_SELF, &req));
  CHECK_MPI(MPI_Recv(&in, 1, MPI_INT, 0, 3, MPI_COMM_SELF, &st));
  CHECK(in == 17 && st.MPI_SOURCE == 0);
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
  CHECK_MPI(MPI_Allreduce(&out, &in, 1, MPI_INT, MPI_SUM, MPI_COMM_SELF));
  CHECK(in == 17);
}

int main(int argc, char** argv) {
  int rank, size, round;
  MPI_Comm dup = MPI_COMM_NULL;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
  CHECK(dup != MPI_COMM_NULL && dup != MPI_COMM_WORLD);
  for (round = 0; round < 3; ++round)
    dup_isolates(rank, size, dup);
  CHECK_MPI(MPI_Comm_free(&dup));
  CHECK(dup == MPI_COMM_NULL);
  /* Many communicators made and freed in turn (context ids are reused or not: either is fine). */
  for (round = 0; round < 20; ++round)
    split_isolates(rank, size);
  split_undefined(rank, size);
  dup_inherits_errhandler();
  self();
  return pass_and_finalize("comm");
}
