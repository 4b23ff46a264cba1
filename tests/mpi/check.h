/* check.h: the one check macro of the self-checking MPI programs in tests/mpi/.
 *
 * Every program here is plain C11 against the subset of nexo's mpi.h, so that the same source
 * builds with Open MPI's mpicc (proving the program is correct MPI) and with nexo (testing nexo).
 * A failed check prints "FAIL file:line what (rank r)" to stderr and ends the whole job with
 * MPI_Abort(MPI_COMM_WORLD, 1): the launcher's exit status is the verdict. On success rank 0
 * prints one "PASS name" line (pass_and_finalize). */
#ifndef NEXO_TESTS_MPI_CHECK_H
#define NEXO_TESTS_MPI_CHECK_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static inline void check_failed(const char* file, int line, const char* what) {
  int initialized = 0, finalized = 0, rank = -1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  fprintf(stderr, "FAIL %s:%d %s (rank %d)\n", file, line, what, rank);
  fflush(stderr);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}

/* CHECK(cond): cond must hold. */
#define CHECK(cond)                                       \
  do {                                                    \
    if (!(cond)) check_failed(__FILE__, __LINE__, #cond); \
  } while (0)

/* CHECK_MPI(call): an MPI call that must return MPI_SUCCESS. */
#define CHECK_MPI(call)                                                 \
  do {                                                                  \
    if ((call) != MPI_SUCCESS) check_failed(__FILE__, __LINE__, #call); \
  } while (0)

static inline int world_rank(void) {
  int rank = -1;
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  return rank;
}

static inline int world_size(void) {
  int size = -1;
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
  return size;
}

/* Every rank got here with every check held: rank 0 says so, and all finalize. The barrier makes
 * the PASS line come after every rank's checks. */
static inline int pass_and_finalize(const char* name) {
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
  if (world_rank() == 0) {
    printf("PASS %s\n", name);
    fflush(stdout);
  }
  CHECK_MPI(MPI_Finalize());
  return 0;
}

#endif /* NEXO_TESTS_MPI_CHECK_H */
