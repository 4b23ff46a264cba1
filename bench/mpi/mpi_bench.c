/* mpi_bench.c — the one MPI program bench_mpi compiles against every MPI it
 * compares (nexo with nexocc, Open MPI with mpicc.openmpi, MPICH with
 * mpicc.mpich), so that every column of its table runs the same code. It uses
 * only standard MPI calls that nexo's mpi.h declares.
 *
 * With 2 ranks it measures, in this order:
 *   latency_us SIZE       one-way latency = round trip / 2 of a Send/Recv
 *                         ping-pong between ranks 0 and 1, at 8 B and 64 KiB;
 *   bandwidth_MBps SIZE   rank 0 posts a window of 64 Isend of SIZE bytes,
 *                         rank 1 64 Irecv into 64 distinct buffers (pending
 *                         receives must not share a buffer), both Waitall, then
 *                         rank 1 sends a 4-byte ack; MB/s = 64 x SIZE / time of
 *                         one window (ack included), 10^6 bytes, at 1 and 4 MiB;
 *   barrier_us RANKS      time per MPI_Barrier, the slowest rank's;
 *   allreduce_us RANKS    time per MPI_Allreduce of 8 doubles (MPI_SUM), the
 *                         slowest rank's; the sum is checked once.
 * With any other number of ranks, only barrier_us and allreduce_us.
 *
 * Every measurement: a warm-up (up to --warmup iterations, in batches of 1, 2,
 * 4, ..., stopped after a quarter of --target-ms), whose fastest batch (per
 * iteration: a batch the scheduler preempted does not count) rank 0 uses to choose the iterations
 * of a repetition so that one lasts about
 * --target-ms (at most --iters, at least 1; broadcast to all ranks), then
 * --reps repetitions, and the median repetition is printed. Rank 0 prints one
 * line per figure, "NAME PARAM VALUE iters N", plus "ranks N" and "mpi V.S"
 * first and "done" last; anything else it prints starts with "error".
 * Exit status 0, or 1 after an error (a wrong allreduce sum, a bad argument).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kWindow = 64, kMaxReps = 101, kReduceCount = 8 };

struct options {
  int warmup;      /* warm-up iterations of every measurement */
  int iters;       /* the most iterations of one repetition */
  int reps;        /* repetitions, odd: the median is one of them */
  double target_s; /* the time one repetition aims at */
};

static int rank, size;

static int compare_doubles(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(double* values, int count) {
  qsort(values, (size_t)count, sizeof *values, compare_doubles);
  return values[count / 2];
}

/* --- the measured operations: each runs `n` iterations ----------------------- */

static void pingpong(char* buf, int bytes, int n) {
  for (int i = 0; i < n; ++i) {
    if (rank == 0) {
      MPI_Send(buf, bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
      MPI_Recv(buf, bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(buf, bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf, bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
    }
  }
}

static char* send_buf;
static char* recv_bufs[kWindow];

static void window(int bytes, int n) {
  MPI_Request requests[kWindow];
  int ack = 0;
  for (int i = 0; i < n; ++i) {
    if (rank == 0) {
      for (int w = 0; w < kWindow; ++w)
        MPI_Isend(send_buf, bytes, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &requests[w]);
      MPI_Waitall(kWindow, requests, MPI_STATUSES_IGNORE);
      MPI_Recv(&ack, 1, MPI_INT, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      for (int w = 0; w < kWindow; ++w)
        MPI_Irecv(recv_bufs[w], bytes, MPI_BYTE, 0, 2, MPI_COMM_WORLD, &requests[w]);
      MPI_Waitall(kWindow, requests, MPI_STATUSES_IGNORE);
      MPI_Send(&ack, 1, MPI_INT, 0, 3, MPI_COMM_WORLD);
    }
  }
}

static void barriers(int n) {
  for (int i = 0; i < n; ++i)
    MPI_Barrier(MPI_COMM_WORLD);
}

static double reduce_in[kReduceCount], reduce_out[kReduceCount];

static void allreduces(int n) {
  for (int i = 0; i < n; ++i)
    MPI_Allreduce(reduce_in, reduce_out, kReduceCount, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

/* --- timing ------------------------------------------------------------------ */

/* Runs `op` (with `arg` where it takes one) for a warm-up, then o->reps
 * repetitions; returns the median seconds per iteration, the slowest rank's
 * per repetition, and stores the iterations of a repetition in *iters. */
static double measure(const struct options* o, void (*op)(int, int), int arg, int* iters) {
  double total_warmup_s = 0;
  /* Warm-up in batches of 1, 2, 4, ... iterations, until o->warmup have run or
   * they took a quarter of o->target_s (4 MiB windows over TCP are slow); after
   * each batch rank 0 says whether to go on, so that every rank runs the same. */
  double per_iter = 0;
  for (int done = 0, batch = 1, more = 1; more; done += batch, batch *= 2) {
    if (batch > o->warmup - done) batch = o->warmup - done;
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    op(arg, batch);
    const double now = MPI_Wtime();
    const double this_batch = (now - start) / batch;
    /* the first batch pays for connections and first touches: it counts only alone */
    if (done <= 1 || this_batch < per_iter) per_iter = this_batch;
    total_warmup_s += now - start;
    more = done + batch < o->warmup && (done == 0 || total_warmup_s < o->target_s / 4);
    MPI_Bcast(&more, 1, MPI_INT, 0, MPI_COMM_WORLD);
  }
  int n = o->iters;
  if (per_iter > 0 && o->target_s / per_iter < n) n = (int)(o->target_s / per_iter);
  if (n < 1) n = 1;
  MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD); /* rank 0's choice, so all agree */
  *iters = n;
  double seconds[kMaxReps];
  for (int r = 0; r < o->reps; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    op(arg, n);
    double mine = (MPI_Wtime() - start) / n, slowest = 0;
    MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    seconds[r] = slowest;
  }
  return median(seconds, o->reps);
}

static char* pingpong_buf;
static void pingpong_op(int bytes, int n) {
  pingpong(pingpong_buf, bytes, n);
}
static void window_op(int bytes, int n) {
  window(bytes, n);
}
static void barrier_op(int unused, int n) {
  (void)unused;
  barriers(n);
}
static void allreduce_op(int unused, int n) {
  (void)unused;
  allreduces(n);
}

/* --- the runs ---------------------------------------------------------------- */

static int run_point_to_point(const struct options* o) {
  static const int latency_sizes[] = {8, 64 * 1024};
  static const int bandwidth_sizes[] = {1024 * 1024, 4 * 1024 * 1024};
  const int largest = bandwidth_sizes[1];
  pingpong_buf = malloc((size_t)latency_sizes[1]);
  send_buf = malloc((size_t)largest);
  int ok = pingpong_buf != NULL && send_buf != NULL;
  for (int w = 0; w < kWindow; ++w) {
    recv_bufs[w] = rank == 1 ? malloc((size_t)largest) : NULL;
    if (rank == 1 && recv_bufs[w] == NULL)
      ok = 0;
    else if (recv_bufs[w] != NULL)
      memset(recv_bufs[w], 0, (size_t)largest); /* touched: no page faults timed */
  }
  if (ok) {
    memset(pingpong_buf, 1, (size_t)latency_sizes[1]);
    memset(send_buf, 2, (size_t)largest);
  }
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  if (all_ok) {
    for (int i = 0; i < 2; ++i) {
      int iters = 0;
      const double s = measure(o, pingpong_op, latency_sizes[i], &iters);
      if (rank == 0) printf("latency_us %d %.4f iters %d\n", latency_sizes[i], s / 2 * 1e6, iters);
      fflush(stdout);
    }
    for (int i = 0; i < 2; ++i) {
      int iters = 0;
      const double s = measure(o, window_op, bandwidth_sizes[i], &iters);
      if (rank == 0)
        printf("bandwidth_MBps %d %.1f iters %d\n", bandwidth_sizes[i],
               (double)kWindow * bandwidth_sizes[i] / s / 1e6, iters);
      fflush(stdout);
    }
  } else if (rank == 0) {
    printf("error: out of memory for the bandwidth buffers (%d x %d bytes)\n", kWindow, largest);
  }
  for (int w = 0; w < kWindow; ++w)
    free(recv_bufs[w]);
  free(send_buf);
  free(pingpong_buf);
  return all_ok;
}

static int run_collectives(const struct options* o) {
  for (int i = 0; i < kReduceCount; ++i)
    reduce_in[i] = rank + i;
  int iters = 0;
  double s = measure(o, barrier_op, 0, &iters);
  if (rank == 0) printf("barrier_us %d %.4f iters %d\n", size, s * 1e6, iters);
  fflush(stdout);
  s = measure(o, allreduce_op, 0, &iters);
  /* sum over ranks of (rank + i) = size (size - 1) / 2 + size i, exact in doubles */
  int ok = 1;
  for (int i = 0; i < kReduceCount; ++i)
    if (reduce_out[i] != size * (size - 1) / 2.0 + (double)size * i) ok = 0;
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  if (rank == 0) {
    if (all_ok) {
      printf("allreduce_us %d %.4f iters %d\n", size, s * 1e6, iters);
    } else {
      printf("error: MPI_Allreduce of 8 doubles returned a wrong sum on some rank\n");
    }
  }
  fflush(stdout);
  return all_ok;
}

/* --name=N with N an integer in [min, max]; 0 if `arg` is not that flag. */
static int int_flag(const char* arg, const char* name, int min, int max, int* out, int* bad) {
  const size_t len = strlen(name);
  if (strncmp(arg, name, len) != 0 || arg[len] != '=') return 0;
  char* end = NULL;
  const long v = strtol(arg + len + 1, &end, 10);
  if (*end != '\0' || end == arg + len + 1 || v < min || v > max)
    *bad = 1;
  else
    *out = (int)v;
  return 1;
}

static int parse(int argc, char** argv, struct options* o) {
  int bad = 0, target_ms = 200;
  for (int i = 1; i < argc && !bad; ++i) {
    if (int_flag(argv[i], "--warmup", 1, 1000000, &o->warmup, &bad)) continue;
    if (int_flag(argv[i], "--iters", 1, 100000000, &o->iters, &bad)) continue;
    if (int_flag(argv[i], "--reps", 1, kMaxReps, &o->reps, &bad)) continue;
    if (int_flag(argv[i], "--target-ms", 1, 600000, &target_ms, &bad)) continue;
    bad = 1;
    if (rank == 0) fprintf(stderr, "mpi_bench: unknown argument '%s'\n", argv[i]);
  }
  if (bad && rank == 0)
    fprintf(stderr,
            "usage: mpi_bench [--warmup=N (1..1000000)] [--iters=N (most per repetition)] "
            "[--reps=N (1..%d)] [--target-ms=N (per repetition)]\n",
            kMaxReps);
  o->target_s = target_ms / 1e3;
  return !bad;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  struct options o = {100, 100000, 5, 0.2};
  int ok = parse(argc, argv, &o);
  if (ok) {
    int version = 0, subversion = 0;
    MPI_Get_version(&version, &subversion);
    if (rank == 0) printf("ranks %d\nmpi %d.%d\n", size, version, subversion);
    fflush(stdout);
    if (size == 2) ok = run_point_to_point(&o);
    if (ok) ok = run_collectives(&o);
    if (ok && rank == 0) printf("done\n");
  }
  fflush(stdout);
  MPI_Finalize();
  return ok ? 0 : 1;
}
