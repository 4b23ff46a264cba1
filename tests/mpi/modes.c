/* modes: the send modes and what each promises.
 *   - Ssend/Issend does not complete before the matching receive is posted: the receiver posts it
 *     only after a signal the sender sends after testing, so every Test before must say false
 *     (for sizes 0, 8 and 1 MiB);
 *   - Bsend/Ibsend completes locally with no receive posted (the receiver waits for a signal sent
 *     after them), the send buffer is reusable at once, Buffer_detach waits for delivery and
 *     returns the attached buffer;
 *   - Rsend/Irsend with the receive posted first (the receiver says so with a message);
 *   - Sendrecv around a ring and as a non-periodic shift with PROC_NULL at the ends;
 *   - Isend, Issend and Ibsend completing together with Waitall.
 * Ranks pair up (0-1, 2-3); a rank without a partner (the last of an odd count) plays both sides
 * with itself, using only calls that are valid against oneself. */
#include <string.h>

#include "check.h"

enum { kSender, kReceiver, kSelf };

static int pattern_ok(const unsigned char* buf, int n, int seed) {
  int j;
  for (j = 0; j < n; ++j)
    if (buf[j] != (unsigned char)(j * 13 + seed)) return 0;
  return 1;
}

static void fill(unsigned char* buf, int n, int seed) {
  int j;
  for (j = 0; j < n; ++j)
    buf[j] = (unsigned char)(j * 13 + seed);
}

/* Issend, then Test many times: false, since the receive is posted only after the signal. */
static void ssend_waits_for_receive(int peer, int role, int n) {
  unsigned char* out = malloc((size_t)n + 1);
  unsigned char* in = malloc((size_t)n + 1);
  int signal = 1, flag = 1, i;
  MPI_Request data_req, signal_req;
  CHECK(out && in);
  fill(out, n, n % 251);
  if (role != kReceiver) {
    CHECK_MPI(MPI_Issend(out, n, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &data_req));
    for (i = 0; i < 1000; ++i) {
      CHECK_MPI(MPI_Test(&data_req, &flag, MPI_STATUS_IGNORE));
      CHECK(flag == 0);
    }
    CHECK_MPI(MPI_Isend(&signal, 1, MPI_INT, peer, 2, MPI_COMM_WORLD, &signal_req));
  }
  if (role != kSender) {
    int got = 0;
    CHECK_MPI(MPI_Recv(&got, 1, MPI_INT, peer, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    CHECK(got == 1);
    memset(in, 0, (size_t)n + 1);
    CHECK_MPI(MPI_Recv(in, n, MPI_BYTE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    CHECK(pattern_ok(in, n, n % 251));
  }
  if (role != kReceiver) {
    CHECK_MPI(MPI_Wait(&data_req, MPI_STATUS_IGNORE));
    CHECK_MPI(MPI_Wait(&signal_req, MPI_STATUS_IGNORE));
  }
  free(out);
  free(in);
}

/* Bsend and Ibsend complete with nothing posted at the receiver. */
static void bsend_without_receiver(int peer, int role) {
  static const int sizes[] = {0, 1, 100, 70000, 1 << 20};
  enum { kCount = sizeof sizes / sizeof sizes[0] };
  int buffer_size = 0, i, detached_size = -1, signal = 1;
  unsigned char* out = malloc(1 << 20);
  unsigned char* in = malloc(1 << 20);
  char* buffer;
  void* detached = NULL;
  MPI_Request req, signal_req;
  CHECK(out && in);
  for (i = 0; i < kCount; ++i)
    buffer_size += sizes[i] + MPI_BSEND_OVERHEAD;
  buffer_size += 1000 + MPI_BSEND_OVERHEAD; /* the Ibsend */
  buffer = malloc((size_t)buffer_size);
  CHECK(buffer);
  if (role != kReceiver) {
    CHECK_MPI(MPI_Buffer_attach(buffer, buffer_size));
    for (i = 0; i < kCount; ++i) {
      fill(out, sizes[i], i);
      CHECK_MPI(MPI_Bsend(out, sizes[i], MPI_BYTE, peer, 3, MPI_COMM_WORLD));
      memset(out, 0xEE, (size_t)sizes[i]); /* the message was copied: reusable at once */
    }
    fill(out, 1000, 99);
    CHECK_MPI(MPI_Ibsend(out, 1000, MPI_BYTE, peer, 3, MPI_COMM_WORLD, &req));
    CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
    memset(out, 0xEE, 1000);
    CHECK_MPI(MPI_Isend(&signal, 1, MPI_INT, peer, 4, MPI_COMM_WORLD, &signal_req));
  }
  if (role != kSender) {
    int got = 0, count = -1;
    MPI_Status st;
    CHECK_MPI(MPI_Recv(&got, 1, MPI_INT, peer, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    CHECK(got == 1);
    for (i = 0; i < kCount; ++i) {
      CHECK_MPI(MPI_Recv(in, 1 << 20, MPI_BYTE, peer, 3, MPI_COMM_WORLD, &st));
      CHECK_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
      CHECK(count == sizes[i] && pattern_ok(in, count, i));
    }
    CHECK_MPI(MPI_Recv(in, 1 << 20, MPI_BYTE, peer, 3, MPI_COMM_WORLD, &st));
    CHECK_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
    CHECK(count == 1000 && pattern_ok(in, count, 99));
  }
  if (role != kReceiver) {
    CHECK_MPI(MPI_Wait(&signal_req, MPI_STATUS_IGNORE));
    CHECK_MPI(MPI_Buffer_detach(&detached, &detached_size));
    CHECK(detached == buffer && detached_size == buffer_size);
  }
  free(buffer);
  free(out);
  free(in);
}

/* Rsend and Irsend after the receiver has posted its receives and said so. */
static void rsend_to_posted_receive(int peer, int role) {
  enum { kLarge = 1 << 20 };
  unsigned char* out = malloc(kLarge);
  unsigned char* in = malloc(kLarge);
  int small_out = 42, small_in = 0, ready = 1;
  MPI_Request reqs[3];
  CHECK(out && in);
  fill(out, kLarge, 7);
  if (role != kSender) {
    CHECK_MPI(MPI_Irecv(&small_in, 1, MPI_INT, peer, 5, MPI_COMM_WORLD, &reqs[0]));
    CHECK_MPI(MPI_Irecv(in, kLarge, MPI_BYTE, peer, 6, MPI_COMM_WORLD, &reqs[1]));
    CHECK_MPI(MPI_Isend(&ready, 1, MPI_INT, peer, 7, MPI_COMM_WORLD, &reqs[2]));
  }
  if (role != kReceiver) {
    int got = 0;
    MPI_Request req;
    CHECK_MPI(MPI_Recv(&got, 1, MPI_INT, peer, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    CHECK(got == 1);
    CHECK_MPI(MPI_Rsend(&small_out, 1, MPI_INT, peer, 5, MPI_COMM_WORLD));
    CHECK_MPI(MPI_Irsend(out, kLarge, MPI_BYTE, peer, 6, MPI_COMM_WORLD, &req));
    CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
  }
  if (role != kSender) {
    CHECK_MPI(MPI_Waitall(3, reqs, MPI_STATUSES_IGNORE));
    CHECK(small_in == 42 && pattern_ok(in, kLarge, 7));
  }
  free(out);
  free(in);
}

static void sendrecv(int rank, int size) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  int out[3] = {rank, rank * 2, rank * 3}, in[3] = {-1, -1, -1};
  int left = rank > 0 ? rank - 1 : MPI_PROC_NULL,
      right = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
  MPI_Status st;
  CHECK_MPI(MPI_Sendrecv(out, 3, MPI_INT, next, 8, in, 3, MPI_INT, prev, 8, MPI_COMM_WORLD, &st));
  CHECK(in[0] == prev && in[1] == prev * 2 && in[2] == prev * 3);
  CHECK(st.MPI_SOURCE == prev && st.MPI_TAG == 8);
  /* Shift right: the first rank receives from PROC_NULL (buffer untouched), the last sends to it.
   */
  in[0] = -7;
  CHECK_MPI(MPI_Sendrecv(&out[0], 1, MPI_INT, right, 9, &in[0], 1, MPI_INT, left, MPI_ANY_TAG,
                         MPI_COMM_WORLD, &st));
  if (left == MPI_PROC_NULL) {
    CHECK(in[0] == -7 && st.MPI_SOURCE == MPI_PROC_NULL && st.MPI_TAG == MPI_ANY_TAG);
  } else {
    CHECK(in[0] == left && st.MPI_SOURCE == left && st.MPI_TAG == 9);
  }
}

/* Isend, Issend and Ibsend to the next rank, completed together with the receives. */
static void nonblocking_modes(int rank, int size) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size, i;
  int out[3] = {rank + 100, rank + 200, rank + 300}, in[3] = {0, 0, 0};
  int buffer_size = (int)sizeof(int) + MPI_BSEND_OVERHEAD, detached_size;
  void* buffer = malloc((size_t)buffer_size);
  void* detached;
  MPI_Request reqs[6];
  MPI_Status st[6];
  CHECK(buffer);
  CHECK_MPI(MPI_Buffer_attach(buffer, buffer_size));
  for (i = 0; i < 3; ++i)
    CHECK_MPI(MPI_Irecv(&in[i], 1, MPI_INT, prev, 20 + i, MPI_COMM_WORLD, &reqs[i]));
  CHECK_MPI(MPI_Isend(&out[0], 1, MPI_INT, next, 20, MPI_COMM_WORLD, &reqs[3]));
  CHECK_MPI(MPI_Issend(&out[1], 1, MPI_INT, next, 21, MPI_COMM_WORLD, &reqs[4]));
  CHECK_MPI(MPI_Ibsend(&out[2], 1, MPI_INT, next, 22, MPI_COMM_WORLD, &reqs[5]));
  CHECK_MPI(MPI_Waitall(6, reqs, st));
  for (i = 0; i < 3; ++i) {
    CHECK(in[i] == prev + 100 * (i + 1));
    CHECK(st[i].MPI_SOURCE == prev && st[i].MPI_TAG == 20 + i);
  }
  for (i = 0; i < 6; ++i)
    CHECK(reqs[i] == MPI_REQUEST_NULL);
  CHECK_MPI(MPI_Buffer_detach(&detached, &detached_size));
  CHECK(detached == buffer && detached_size == buffer_size);
  free(buffer);
}

int main(int argc, char** argv) {
  int rank, size, peer, round, role;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  peer = (rank ^ 1) < size ? rank ^ 1 : rank;
  /* Round 0: the even rank of a pair sends; round 1: the odd one. */
  for (round = 0; round < 2; ++round) {
    if (peer == rank) {
      role = kSelf;
    } else {
      role = ((rank & 1) == round) ? kSender : kReceiver;
    }
    ssend_waits_for_receive(peer, role, 0);
    ssend_waits_for_receive(peer, role, 8);
    ssend_waits_for_receive(peer, role, 1 << 20);
    bsend_without_receiver(peer, role);
    rsend_to_posted_receive(peer, role);
  }
  sendrecv(rank, size);
  nonblocking_modes(rank, size);
  return pass_and_finalize("modes");
}
