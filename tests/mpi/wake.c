/* wake: a rank asleep in its transport is woken by the next message. Rank 0 and the last rank play
 * ping-pong, and each waits 3 ms before it sends, so that the other's spin runs out and it sleeps
 * (in the futex, in epoll, or, in a job with both transports, on its doorbell that the TCP watcher
 * rings); the messages cycle through 8 bytes (the fast path), 1,000 (the ring) and 100,000
 * (rendezvous: the sleeper must also wake for CTS, DATA or FIN). The other ranks sleep in the
 * final barrier the whole time. The tests run it with NEXO_MPI_SLEEP_MS=600000: a lost wake-up
 * then hangs the job until the test's timeout fails it, instead of costing a bounded sleep. */
#define _POSIX_C_SOURCE 199309L
#include <string.h>
#include <time.h>

#include "check.h"

enum { kRounds = 24, kLargest = 100000 };

static void pause_3ms(void) {
  struct timespec t = {0, 3 * 1000 * 1000};
  while (nanosleep(&t, &t) != 0) {
  }
}

static void fill(unsigned char* buf, int n, int seed) {
  int i;
  for (i = 0; i < n; ++i)
    buf[i] = (unsigned char)(i * 7 + seed);
}

static void expect(const unsigned char* buf, int n, int seed) {
  int i;
  for (i = 0; i < n; ++i)
    CHECK(buf[i] == (unsigned char)(i * 7 + seed));
}

int main(int argc, char** argv) {
  static const int sizes[3] = {8, 1000, kLargest};
  unsigned char* buf;
  int rank, size, round, last, n, count;
  MPI_Status st;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  last = size - 1;
  buf = malloc(kLargest);
  CHECK(buf);
  if (size > 1 && (rank == 0 || rank == last)) {
    for (round = 0; round < kRounds; ++round) {
      n = sizes[round % 3];
      if (rank == 0) {
        pause_3ms();
        fill(buf, n, round);
        CHECK_MPI(MPI_Send(buf, n, MPI_BYTE, last, round, MPI_COMM_WORLD));
        memset(buf, 0, (size_t)n);
        CHECK_MPI(MPI_Recv(buf, n, MPI_BYTE, last, round, MPI_COMM_WORLD, &st));
        expect(buf, n, round + 1);
      } else {
        CHECK_MPI(MPI_Recv(buf, n, MPI_BYTE, 0, round, MPI_COMM_WORLD, &st));
        expect(buf, n, round);
        pause_3ms();
        fill(buf, n, round + 1);
        CHECK_MPI(MPI_Send(buf, n, MPI_BYTE, 0, round, MPI_COMM_WORLD));
      }
      CHECK_MPI(MPI_Get_count(&st, MPI_BYTE, &count));
      CHECK(count == n);
    }
  }
  free(buf);
  return pass_and_finalize("wake");
}
