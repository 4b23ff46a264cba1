/* env: the environment calls. Initialized and Finalized before, during and after; Init_thread's
 * provided level; Get_processor_name; Get_version; Wtime monotonic and Wtick positive; rank and
 * size of COMM_WORLD and COMM_SELF; the default error handler. */
#include <string.h>

#include "check.h"

int main(int argc, char** argv) {
  int flag = -1, provided = -1, version = 0, subversion = -1, len = -1, rank, size;
  char name[MPI_MAX_PROCESSOR_NAME];
  double previous, now, tick;
  MPI_Errhandler handler = MPI_ERRHANDLER_NULL;
  int i;

  /* Both are callable before MPI_Init (MPI 3.1, 8.7). */
  CHECK(MPI_Initialized(&flag) == MPI_SUCCESS && flag == 0);
  CHECK(MPI_Finalized(&flag) == MPI_SUCCESS && flag == 0);
  /* Get_version is callable at any time. */
  CHECK(MPI_Get_version(&version, &subversion) == MPI_SUCCESS);
  CHECK(version == MPI_VERSION && subversion == MPI_SUBVERSION && version >= 3);

  CHECK_MPI(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided));
  CHECK(provided >= MPI_THREAD_SINGLE && provided <= MPI_THREAD_MULTIPLE);
  CHECK(MPI_Initialized(&flag) == MPI_SUCCESS && flag == 1);
  CHECK(MPI_Finalized(&flag) == MPI_SUCCESS && flag == 0);

  rank = world_rank();
  size = world_size();
  CHECK(size >= 1 && rank >= 0 && rank < size);
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_SELF, &i));
  CHECK(i == 0);
  CHECK_MPI(MPI_Comm_size(MPI_COMM_SELF, &i));
  CHECK(i == 1);

  /* Every rank agrees on the thread level (it is the job's, not a rank's choice). */
  {
    int levels[2] = {provided, -provided}, extremes[2];
    CHECK_MPI(MPI_Allreduce(levels, extremes, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    CHECK(extremes[0] == provided && -extremes[1] == provided);
  }

  memset(name, 0, sizeof name);
  CHECK_MPI(MPI_Get_processor_name(name, &len));
  CHECK(len > 0 && len < MPI_MAX_PROCESSOR_NAME);
  CHECK((size_t)len == strlen(name));

  /* The default error handler of COMM_WORLD is ERRORS_ARE_FATAL. */
  CHECK_MPI(MPI_Comm_get_errhandler(MPI_COMM_WORLD, &handler));
  CHECK(handler == MPI_ERRORS_ARE_FATAL);

  tick = MPI_Wtick();
  CHECK(tick > 0.0 && tick < 1.0);
  previous = MPI_Wtime();
  for (i = 0; i < 100000; ++i) {
    now = MPI_Wtime();
    CHECK(now >= previous);
    previous = now;
  }
  /* Time does not go back across a blocking call. */
  now = MPI_Wtime();
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
  CHECK(MPI_Wtime() >= now);

  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
  if (rank == 0) {
    printf("PASS env\n");
    fflush(stdout);
  }
  CHECK_MPI(MPI_Finalize());
  CHECK(MPI_Initialized(&flag) == MPI_SUCCESS && flag == 1);
  CHECK(MPI_Finalized(&flag) == MPI_SUCCESS && flag == 1);
  CHECK(MPI_Get_version(&version, &subversion) == MPI_SUCCESS && version == MPI_VERSION);
  return 0;
}
