/* order: non-overtaking (MPI 3.1, 3.5) per sender, communicator and tag, over many messages, and
 * the wildcards: ANY_SOURCE, ANY_TAG, both, in blocking and pre-posted receives, with the status
 * fields they fill in; messages of mixed sizes (eager and rendezvous in most implementations) keep
 * their order; PROC_NULL. Every rank sends to rank 0 (itself included, through Isend). */
#include <string.h>

#include "check.h"

enum { kMany = 1000, kTagged = 200, kPosted = 50 };

/* Every rank sends kMany (rank, i) pairs to rank 0 on one tag; rank 0 takes them with ANY_SOURCE
 * and ANY_TAG and sees each sender's pairs in order. */
static void many_to_root(int rank, int size) {
  static int out[kMany][2];
  static MPI_Request reqs[kMany];
  int i;
  for (i = 0; i < kMany; ++i) {
    out[i][0] = rank;
    out[i][1] = i;
    CHECK_MPI(MPI_Isend(out[i], 2, MPI_INT, 0, 1, MPI_COMM_WORLD, &reqs[i]));
  }
  if (rank == 0) {
    int next[64] = {0}, in[2], count;
    MPI_Status st;
    CHECK(size <= 64);
    for (i = 0; i < kMany * size; ++i) {
      CHECK_MPI(MPI_Recv(in, 2, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st));
      CHECK(st.MPI_SOURCE >= 0 && st.MPI_SOURCE < size && st.MPI_TAG == 1);
      CHECK(in[0] == st.MPI_SOURCE);
      CHECK(in[1] == next[in[0]]);
      CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
      CHECK(count == 2);
      ++next[in[0]];
    }
    for (i = 0; i < size; ++i)
      CHECK(next[i] == kMany);
  }
  CHECK_MPI(MPI_Waitall(kMany, reqs, MPI_STATUSES_IGNORE));
  for (i = 0; i < kMany; ++i)
    CHECK(reqs[i] == MPI_REQUEST_NULL);
  /* The next phase's messages must not meet this phase's ANY_TAG receives. */
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
}

/* Two tags interleaved: rank 0 takes one sender's tag 11 first, then its tag 10 (a tag may overtake
 * another), each in order; then tags 20..24 from one source with ANY_TAG come in send order. */
static void tags(int rank, int size) {
  static int out[kTagged];
  static MPI_Request reqs[kTagged];
  int i, src, in;
  MPI_Status st;
  for (i = 0; i < kTagged; ++i) {
    out[i] = i;
    CHECK_MPI(MPI_Isend(&out[i], 1, MPI_INT, 0, 10 + i % 2, MPI_COMM_WORLD, &reqs[i]));
  }
  if (rank == 0) {
    for (src = 0; src < size; ++src) {
      for (i = 1; i < kTagged; i += 2) {
        CHECK_MPI(MPI_Recv(&in, 1, MPI_INT, src, 11, MPI_COMM_WORLD, &st));
        CHECK(in == i && st.MPI_SOURCE == src && st.MPI_TAG == 11);
      }
      for (i = 0; i < kTagged; i += 2) {
        CHECK_MPI(MPI_Recv(&in, 1, MPI_INT, src, 10, MPI_COMM_WORLD, &st));
        CHECK(in == i && st.MPI_SOURCE == src && st.MPI_TAG == 10);
      }
    }
  }
  CHECK_MPI(MPI_Waitall(kTagged, reqs, MPI_STATUSES_IGNORE));

  for (i = 0; i < kTagged; ++i)
    CHECK_MPI(MPI_Isend(&out[i], 1, MPI_INT, 0, 20 + i % 5, MPI_COMM_WORLD, &reqs[i]));
  if (rank == 0) {
    for (src = size - 1; src >= 0; --src) {
      for (i = 0; i < kTagged; ++i) {
        CHECK_MPI(MPI_Recv(&in, 1, MPI_INT, src, MPI_ANY_TAG, MPI_COMM_WORLD, &st));
        CHECK(in == i && st.MPI_SOURCE == src && st.MPI_TAG == 20 + i % 5);
      }
    }
  }
  CHECK_MPI(MPI_Waitall(kTagged, reqs, MPI_STATUSES_IGNORE));
}

/* Pre-posted wildcard receives: every rank posts size * kPosted Irecv(ANY_SOURCE, tag 30), then
 * every rank sends kPosted numbered messages to every rank. Receives match in the order they were
 * posted, so along the request array each source's numbers increase. */
static void preposted(int rank, int size) {
  int n = size * kPosted, i, dest, next[64] = {0};
  int* in = malloc(sizeof(int) * (size_t)n);
  int* out = malloc(sizeof(int) * (size_t)n);
  MPI_Request* rreqs = malloc(sizeof(MPI_Request) * (size_t)n);
  MPI_Request* sreqs = malloc(sizeof(MPI_Request) * (size_t)n);
  MPI_Status* st = malloc(sizeof(MPI_Status) * (size_t)n);
  CHECK(in && out && rreqs && sreqs && st && size <= 64);
  for (i = 0; i < n; ++i)
    CHECK_MPI(MPI_Irecv(&in[i], 1, MPI_INT, MPI_ANY_SOURCE, 30, MPI_COMM_WORLD, &rreqs[i]));
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD)); /* every receive is posted before any send */
  for (i = 0; i < kPosted; ++i) {
    for (dest = 0; dest < size; ++dest) {
      out[i * size + dest] = rank * 100000 + i;
      CHECK_MPI(MPI_Isend(&out[i * size + dest], 1, MPI_INT, dest, 30, MPI_COMM_WORLD,
                          &sreqs[i * size + dest]));
    }
  }
  CHECK_MPI(MPI_Waitall(n, rreqs, st));
  for (i = 0; i < n; ++i) {
    int src = st[i].MPI_SOURCE;
    CHECK(src >= 0 && src < size && st[i].MPI_TAG == 30);
    CHECK(in[i] == src * 100000 + next[src]);
    ++next[src];
  }
  for (i = 0; i < size; ++i)
    CHECK(next[i] == kPosted);
  CHECK_MPI(MPI_Waitall(n, sreqs, MPI_STATUSES_IGNORE));
  free(in);
  free(out);
  free(rreqs);
  free(sreqs);
  free(st);
}

/* Sizes across any eager/rendezvous switch, one tag, in a row: they arrive in send order. */
static void mixed_sizes(int rank, int size) {
  static const int sizes[] = {1 << 20, 8, 65536, 0, 300000, 1, 4 << 20, 16, 0, 1 << 16};
  enum { kSizes = sizeof sizes / sizeof sizes[0] };
  MPI_Request reqs[kSizes];
  unsigned char* out = malloc(4 << 20);
  unsigned char* in = malloc(4 << 20);
  int i, j, src, count;
  MPI_Status st;
  CHECK(out && in);
  for (j = 0; j < (4 << 20); ++j)
    out[j] = (unsigned char)(j * 7 + rank);
  for (i = 0; i < kSizes; ++i)
    CHECK_MPI(MPI_Isend(out, sizes[i], MPI_BYTE, 0, 40, MPI_COMM_WORLD, &reqs[i]));
  if (rank == 0) {
    for (src = 0; src < size; ++src) {
      for (i = 0; i < kSizes; ++i) {
        CHECK_MPI(MPI_Recv(in, 4 << 20, MPI_BYTE, src, MPI_ANY_TAG, MPI_COMM_WORLD, &st));
        CHECK_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
        CHECK(count == sizes[i] && st.MPI_SOURCE == src && st.MPI_TAG == 40);
        for (j = 0; j < count; ++j)
          CHECK(in[j] == (unsigned char)(j * 7 + src));
      }
    }
  }
  CHECK_MPI(MPI_Waitall(kSizes, reqs, MPI_STATUSES_IGNORE));
  free(out);
  free(in);
}

/* PROC_NULL: a send to it succeeds at once, a receive from it returns source PROC_NULL, tag
 * ANY_TAG and count 0 (MPI 3.1, 3.11). */
static void proc_null(void) {
  int x = 5, count = -1;
  MPI_Status st;
  CHECK_MPI(MPI_Send(&x, 1, MPI_INT, MPI_PROC_NULL, 3, MPI_COMM_WORLD));
  CHECK_MPI(MPI_Recv(&x, 1, MPI_INT, MPI_PROC_NULL, 3, MPI_COMM_WORLD, &st));
  CHECK(x == 5 && st.MPI_SOURCE == MPI_PROC_NULL && st.MPI_TAG == MPI_ANY_TAG);
  CHECK_MPI(MPI_Get_count(&st, MPI_INT, &count));
  CHECK(count == 0);
}

int main(int argc, char** argv) {
  int rank, size;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  many_to_root(rank, size);
  tags(rank, size);
  preposted(rank, size);
  mixed_sizes(rank, size);
  proc_null();
  return pass_and_finalize("order");
}
