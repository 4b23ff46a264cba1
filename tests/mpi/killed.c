/* A rank killed mid-job (nexo's launcher test, not a portable MPI program: it kills itself with
 * SIGKILL). After a barrier the last rank dies while the others wait in MPI_Recv for a message it
 * will never send: the launcher must end the job, naming that rank, and exit 128 + 9. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == size - 1) {
    fflush(stdout);
    kill(getpid(), SIGKILL);
  }
  int never = 0;
  MPI_Recv(&never, 1, MPI_INT, size - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  printf("FAIL: rank %d received from a dead rank\n", rank);
  MPI_Finalize();
  return 1;
}
