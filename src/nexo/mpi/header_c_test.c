/* mpi.h from C11: the functions that need no runtime, called as a C program calls them. Exits 0
 * when every check holds, 1 after printing the failed ones. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Predefined handles as static initialisers (address constants). */
static MPI_Datatype int_type = MPI_INT;
static MPI_Op sum_op = MPI_SUM;

static void max_abs(void* in, void* inout, int* len, MPI_Datatype* type) {
  const int* a = (const int*)in;
  int* b = (int*)inout;
  int i;
  (void)type;
  for (i = 0; i < *len; ++i) {
    int x = a[i] < 0 ? -a[i] : a[i];
    int y = b[i] < 0 ? -b[i] : b[i];
    b[i] = x > y ? x : y;
  }
}

int main(void) {
  int version = 0, subversion = 0, size = 0, count = 0, len = 0, cls = 0;
  MPI_Aint lb = -1, extent = -1;
  MPI_Datatype column = MPI_DATATYPE_NULL, predefined = MPI_INT;
  MPI_Op op = MPI_OP_NULL;
  MPI_Status status;
  char text[MPI_MAX_ERROR_STRING];
  double t0, t1;

  CHECK(MPI_Get_version(&version, &subversion) == MPI_SUCCESS);
  CHECK(version == 3 && subversion == 1);

  CHECK(MPI_Type_size(int_type, &size) == MPI_SUCCESS && size == (int)sizeof(int));
  CHECK(MPI_Type_size(MPI_DOUBLE_INT, &size) == MPI_SUCCESS && size == 12);
  CHECK(MPI_Type_get_extent(MPI_DOUBLE_INT, &lb, &extent) == MPI_SUCCESS);
  CHECK(lb == 0 && extent == 16);

  /* A column of a 4 x 5 matrix of doubles. */
  CHECK(MPI_Type_vector(4, 1, 5, MPI_DOUBLE, &column) == MPI_SUCCESS);
  CHECK(MPI_Type_commit(&column) == MPI_SUCCESS);
  CHECK(MPI_Type_size(column, &size) == MPI_SUCCESS && size == 32);
  CHECK(MPI_Type_get_extent(column, &lb, &extent) == MPI_SUCCESS);
  CHECK(lb == 0 && extent == (3 * 5 + 1) * 8);
  CHECK(MPI_Type_free(&column) == MPI_SUCCESS && column == MPI_DATATYPE_NULL);
  CHECK(MPI_Type_free(&predefined) == MPI_ERR_TYPE && predefined == MPI_INT);

  memset(&status, 0, sizeof status);
  status.nexo_count = 12;
  CHECK(MPI_Get_count(&status, MPI_INT, &count) == MPI_SUCCESS && count == 3);
  CHECK(MPI_Get_count(&status, MPI_DOUBLE, &count) == MPI_SUCCESS && count == MPI_UNDEFINED);

  CHECK(MPI_Op_create(max_abs, 1, &op) == MPI_SUCCESS && op != MPI_OP_NULL);
  CHECK(MPI_Op_free(&op) == MPI_SUCCESS && op == MPI_OP_NULL);
  CHECK(MPI_Op_free(&sum_op) == MPI_ERR_OP && sum_op == MPI_SUM);

  CHECK(MPI_Error_class(MPI_ERR_TRUNCATE, &cls) == MPI_SUCCESS && cls == MPI_ERR_TRUNCATE);
  CHECK(MPI_Error_string(MPI_ERR_RANK, text, &len) == MPI_SUCCESS);
  CHECK(len > 0 && len < MPI_MAX_ERROR_STRING && (int)strlen(text) == len);
  CHECK(strstr(text, "rank") != NULL);

  t0 = MPI_Wtime();
  t1 = MPI_Wtime();
  CHECK(t1 >= t0 && t0 > 0.0);
  CHECK(MPI_Wtick() > 0.0 && MPI_Wtick() <= 1e-3);

  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("mpi.h from C11: all checks passed\n");
  return 0;
}
