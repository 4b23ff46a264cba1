/* completion: many Irecv completing out of order, and every completion call.
 *   - kMany Irecv posted with distinct tags; the previous rank sends the last tag alone and waits
 *     for an acknowledgement, so Waitany must return that last index first; then it sends the
 *     rest in a scrambled order, completed with Waitany, Waitsome, Testany and Testall in turn;
 *     every status names the right tag and every buffer holds its tag's value;
 *   - Waitall with REQUEST_NULL entries; the calls on arrays of only null requests (Waitany's index
 *     MPI_UNDEFINED, Waitsome's outcount MPI_UNDEFINED, Testall's flag true, Test's empty status);
 *   - Request_free of a send request that is still going (the message still arrives);
 *   - Cancel of a receive that nothing matches: it completes, Test_cancelled says true, and a
 *     later message with its tag goes to the next receive; Cancel racing a matching message: the
 *     receive is either cancelled (and the message left for the next receive) or completed.
 * Every rank sends to the next and receives from the previous around a ring (itself when alone). */
#include <string.h>

#include "check.h"

enum { kMany = 64 };

static int next_rank, prev_rank;

/* The sender's scrambled order of tags 0..kMany-2 (the last tag went first, alone). */
static int scrambled(int i) {
  return (i * 37 + 11) % (kMany - 1);
}

static void out_of_order(void) {
  int in[kMany], out[kMany], done[kMany], i, index = -1, outcount = -1, flag = 0, completed;
  int indices[kMany], ack = 1, got_ack = 0;
  MPI_Request rreqs[kMany], sreqs[kMany], ack_req;
  MPI_Status st, sts[kMany];

  memset(done, 0, sizeof done);
  for (i = 0; i < kMany; ++i) {
    in[i] = -1;
    CHECK_MPI(MPI_Irecv(&in[i], 1, MPI_INT, prev_rank, i, MPI_COMM_WORLD, &rreqs[i]));
  }
  /* The ack from the next rank is posted before anything waits, so a rank alone can take it. */
  CHECK_MPI(MPI_Irecv(&got_ack, 1, MPI_INT, next_rank, 999, MPI_COMM_WORLD, &ack_req));
  for (i = 0; i < kMany; ++i)
    out[i] = 1000 + i;
  CHECK_MPI(MPI_Isend(&out[kMany - 1], 1, MPI_INT, next_rank, kMany - 1, MPI_COMM_WORLD,
                      &sreqs[kMany - 1]));

  /* The previous rank sends the rest only after my ack: the last tag completes first. */
  CHECK_MPI(MPI_Waitany(kMany, rreqs, &index, &st));
  CHECK(index == kMany - 1 && st.MPI_TAG == kMany - 1 && st.MPI_SOURCE == prev_rank);
  CHECK(in[kMany - 1] == 1000 + kMany - 1 && rreqs[kMany - 1] == MPI_REQUEST_NULL);
  done[kMany - 1] = 1;
  CHECK_MPI(MPI_Send(&ack, 1, MPI_INT, prev_rank, 999, MPI_COMM_WORLD));
  CHECK_MPI(MPI_Wait(&ack_req, MPI_STATUS_IGNORE));
  CHECK(got_ack == 1);

  for (i = 0; i < kMany - 1; ++i)
    CHECK_MPI(MPI_Isend(&out[scrambled(i)], 1, MPI_INT, next_rank, scrambled(i), MPI_COMM_WORLD,
                        &sreqs[scrambled(i)]));

  /* A quarter with Waitany. */
  for (completed = 1; completed < kMany / 4; ++completed) {
    CHECK_MPI(MPI_Waitany(kMany, rreqs, &index, &st));
    CHECK(index >= 0 && index < kMany && !done[index] && st.MPI_TAG == index);
    CHECK(in[index] == 1000 + index && rreqs[index] == MPI_REQUEST_NULL);
    done[index] = 1;
  }
  /* A quarter or more with Waitsome. */
  while (completed < kMany / 2) {
    CHECK_MPI(MPI_Waitsome(kMany, rreqs, &outcount, indices, sts));
    CHECK(outcount >= 1 && outcount <= kMany - completed);
    for (i = 0; i < outcount; ++i) {
      int k = indices[i];
      CHECK(k >= 0 && k < kMany && !done[k] && sts[i].MPI_TAG == k && in[k] == 1000 + k);
      CHECK(rreqs[k] == MPI_REQUEST_NULL);
      done[k] = 1;
    }
    completed += outcount;
  }
  /* Some with Testany (it moves the messages on while it polls). */
  while (completed < 3 * kMany / 4) {
    CHECK_MPI(MPI_Testany(kMany, rreqs, &index, &flag, &st));
    if (!flag) {
      CHECK(index == MPI_UNDEFINED);
      continue;
    }
    CHECK(index >= 0 && index < kMany && !done[index] && st.MPI_TAG == index);
    CHECK(in[index] == 1000 + index);
    done[index] = 1;
    ++completed;
  }
  /* The rest with Testall. */
  do {
    CHECK_MPI(MPI_Testall(kMany, rreqs, &flag, sts));
  } while (!flag);
  for (i = 0; i < kMany; ++i) {
    CHECK(rreqs[i] == MPI_REQUEST_NULL && in[i] == 1000 + i);
    if (!done[i]) CHECK(sts[i].MPI_TAG == i && sts[i].MPI_SOURCE == prev_rank);
  }
  CHECK_MPI(MPI_Waitall(kMany, sreqs, MPI_STATUSES_IGNORE));
}

static void null_requests(void) {
  MPI_Request reqs[3] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  int index = 5, outcount = 5, flag = 0, indices[3], x = 3, y = 0;
  MPI_Status st, sts[3];

  CHECK_MPI(MPI_Waitany(3, reqs, &index, &st));
  CHECK(index == MPI_UNDEFINED);
  CHECK_MPI(MPI_Testany(3, reqs, &index, &flag, &st));
  CHECK(index == MPI_UNDEFINED && flag == 1);
  CHECK_MPI(MPI_Waitsome(3, reqs, &outcount, indices, sts));
  CHECK(outcount == MPI_UNDEFINED);
  CHECK_MPI(MPI_Testall(3, reqs, &flag, sts));
  CHECK(flag == 1);
  CHECK_MPI(MPI_Waitall(0, reqs, MPI_STATUSES_IGNORE));
  /* Test of a null request: flag true and an empty status (MPI 3.1, 3.7.3). */
  flag = 0;
  CHECK_MPI(MPI_Test(&reqs[0], &flag, &st));
  CHECK(flag == 1 && st.MPI_SOURCE == MPI_ANY_SOURCE && st.MPI_TAG == MPI_ANY_TAG);
  CHECK_MPI(MPI_Wait(&reqs[0], &st));
  CHECK(st.MPI_SOURCE == MPI_ANY_SOURCE && st.MPI_TAG == MPI_ANY_TAG);

  /* Waitall with a null request among live ones. */
  CHECK_MPI(MPI_Irecv(&y, 1, MPI_INT, prev_rank, 50, MPI_COMM_WORLD, &reqs[0]));
  CHECK_MPI(MPI_Isend(&x, 1, MPI_INT, next_rank, 50, MPI_COMM_WORLD, &reqs[2]));
  CHECK_MPI(MPI_Waitall(3, reqs, sts));
  CHECK(y == 3 && sts[0].MPI_TAG == 50 && sts[0].MPI_SOURCE == prev_rank);
}

static void request_free(void) {
  static int big[100000];
  int i, sum_ok = 1;
  MPI_Request req;
  for (i = 0; i < 100000; ++i)
    big[i] = i ^ 0x5a5a;
  CHECK_MPI(MPI_Isend(big, 100000, MPI_INT, next_rank, 60, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Request_free(&req));
  CHECK(req == MPI_REQUEST_NULL);
  {
    int* in = malloc(sizeof(int) * 100000);
    CHECK(in);
    CHECK_MPI(MPI_Recv(in, 100000, MPI_INT, prev_rank, 60, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    for (i = 0; i < 100000; ++i)
      sum_ok &= in[i] == (i ^ 0x5a5a);
    CHECK(sum_ok);
    free(in);
  }
  /* The freed send is known complete once its receiver says it received: only then may `big`
   * change. The barrier is that word here. */
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
}

static void cancel(void) {
  int x = -1, y = 77, flag = -1, z = -1;
  MPI_Request req, sreq;
  MPI_Status st;

  /* Nothing is ever sent with tag 70 before the cancel completes. */
  CHECK_MPI(MPI_Irecv(&x, 1, MPI_INT, prev_rank, 70, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Cancel(&req));
  CHECK_MPI(MPI_Wait(&req, &st));
  CHECK(req == MPI_REQUEST_NULL);
  CHECK_MPI(MPI_Test_cancelled(&st, &flag));
  CHECK(flag == 1 && x == -1);
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD)); /* every rank's cancel is done before the sends */

  /* A message with that tag now goes to the next receive, not the cancelled one. */
  CHECK_MPI(MPI_Isend(&y, 1, MPI_INT, next_rank, 70, MPI_COMM_WORLD, &sreq));
  CHECK_MPI(MPI_Irecv(&z, 1, MPI_INT, prev_rank, 70, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Wait(&req, &st));
  CHECK(z == 77 && x == -1);
  CHECK_MPI(MPI_Test_cancelled(&st, &flag));
  CHECK(flag == 0);
  CHECK_MPI(MPI_Wait(&sreq, MPI_STATUS_IGNORE));

  /* Cancel racing a matching message: either the cancel wins (the receive is cancelled and the
   * message goes to the next receive) or the receive completes, never both (MPI 3.1, 3.8.4). */
  z = -1;
  CHECK_MPI(MPI_Irecv(&z, 1, MPI_INT, prev_rank, 71, MPI_COMM_WORLD, &req));
  CHECK_MPI(MPI_Isend(&y, 1, MPI_INT, next_rank, 71, MPI_COMM_WORLD, &sreq));
  CHECK_MPI(MPI_Cancel(&req));
  CHECK_MPI(MPI_Wait(&req, &st));
  CHECK_MPI(MPI_Test_cancelled(&st, &flag));
  if (flag) {
    CHECK(z == -1);
    CHECK_MPI(MPI_Recv(&z, 1, MPI_INT, prev_rank, 71, MPI_COMM_WORLD, &st));
  }
  CHECK(z == 77 && st.MPI_SOURCE == prev_rank && st.MPI_TAG == 71);
  CHECK_MPI(MPI_Wait(&sreq, MPI_STATUS_IGNORE));
}

int main(int argc, char** argv) {
  int rank, size;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  next_rank = (rank + 1) % size;
  prev_rank = (rank + size - 1) % size;
  out_of_order();
  null_requests();
  request_free();
  cancel();
  return pass_and_finalize("completion");
}
