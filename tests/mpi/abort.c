/* abort: MPI_Abort ends the whole job. The last rank calls MPI_Abort(MPI_COMM_WORLD, 7) while every
 * other rank blocks in a receive that nothing will ever match; the launcher must end them and exit
 * with status 7 (the harness checks the status: this program never prints PASS). Alone, rank 0
 * aborts at once. */
#include "check.h"

int main(int argc, char** argv) {
  int rank, size, x = 0;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  /* Every rank is up before the abort, so the others are surely blocked when it comes. */
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
  if (rank == size - 1) {
    fprintf(stderr, "abort: rank %d calls MPI_Abort(MPI_COMM_WORLD, 7)\n", rank);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 7);
    check_failed(__FILE__, __LINE__, "MPI_Abort returned");
  }
  CHECK_MPI(MPI_Recv(&x, 1, MPI_INT, MPI_ANY_SOURCE, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
  check_failed(__FILE__, __LINE__, "a receive that nothing matches returned");
  return 1;
}
