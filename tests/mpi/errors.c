/* errors: under MPI_ERRORS_RETURN, invalid arguments come back as error codes of the right class
 * (rank, tag, count, communicator, datatype, root and op arguments) and a truncated receive
 * as MPI_ERR_TRUNCATE; Error_class maps every code to its class, Error_string names each with a
 * non-empty string; the job goes on working after every error. */
#include <string.h>

#include "check.h"

static int class_of(int code) {
  int cls = -1;
  CHECK_MPI(MPI_Error_class(code, &cls));
  return cls;
}

/* code must be an error of class expected, with a non-empty string. */
#define CHECK_ERROR(call, expected)                                                  \
  do {                                                                               \
    int code_ = (call);                                                              \
    char text_[MPI_MAX_ERROR_STRING];                                                \
    int len_ = -1;                                                                   \
    CHECK(code_ != MPI_SUCCESS);                                                     \
    CHECK(class_of(code_) == (expected));                                            \
    CHECK_MPI(MPI_Error_string(code_, text_, &len_));                                \
    CHECK(len_ > 0 && len_ < MPI_MAX_ERROR_STRING && (size_t)len_ == strlen(text_)); \
  } while (0)

static void invalid_arguments(int size) {
  int x = 1, buf[4] = {0, 0, 0, 0};
  MPI_Request req = MPI_REQUEST_NULL;
  CHECK_ERROR(MPI_Send(&x, 1, MPI_INT, size, 0, MPI_COMM_WORLD), MPI_ERR_RANK);
  CHECK_ERROR(MPI_Send(&x, 1, MPI_INT, -5, 0, MPI_COMM_WORLD), MPI_ERR_RANK);
  CHECK_ERROR(MPI_Recv(buf, 1, MPI_INT, size + 3, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
              MPI_ERR_RANK);
  CHECK_ERROR(MPI_Isend(&x, 1, MPI_INT, size, 0, MPI_COMM_WORLD, &req), MPI_ERR_RANK);
  CHECK(req == MPI_REQUEST_NULL);
  CHECK_ERROR(MPI_Send(&x, 1, MPI_INT, 0, -7, MPI_COMM_WORLD), MPI_ERR_TAG);
  /* ANY_TAG is for receives only. */
  CHECK_ERROR(MPI_Send(&x, 1, MPI_INT, 0, MPI_ANY_TAG, MPI_COMM_WORLD), MPI_ERR_TAG);
  CHECK_ERROR(MPI_Irecv(buf, 1, MPI_INT, 0, -7, MPI_COMM_WORLD, &req), MPI_ERR_TAG);
  CHECK_ERROR(MPI_Send(&x, -1, MPI_INT, 0, 0, MPI_COMM_WORLD), MPI_ERR_COUNT);
  CHECK_ERROR(MPI_Recv(buf, -2, MPI_INT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE), MPI_ERR_COUNT);
  /* An error with an invalid communicator is raised on COMM_WORLD, whose handler returns. */
  CHECK_ERROR(MPI_Send(&x, 1, MPI_INT, 0, 0, MPI_COMM_NULL), MPI_ERR_COMM);
  CHECK_ERROR(MPI_Barrier(MPI_COMM_NULL), MPI_ERR_COMM);
  CHECK_ERROR(MPI_Send(&x, 1, MPI_DATATYPE_NULL, 0, 0, MPI_COMM_WORLD), MPI_ERR_TYPE);
  CHECK_ERROR(MPI_Bcast(buf, 1, MPI_INT, size, MPI_COMM_WORLD), MPI_ERR_ROOT);
  CHECK_ERROR(MPI_Reduce(&x, buf, 1, MPI_INT, MPI_OP_NULL, 0, MPI_COMM_WORLD), MPI_ERR_OP);
  CHECK_ERROR(MPI_Allreduce(&x, buf, 1, MPI_INT, MPI_OP_NULL, MPI_COMM_WORLD), MPI_ERR_OP);
}

/* 10 ints into room for 4: MPI_ERR_TRUNCATE, and the connection to the sender still works. */
static void truncation(int rank, int size) {
  int next = (rank + 1) % size, prev = (rank + size - 1) % size, out[10], in[10], i, code;
  MPI_Request req;
  MPI_Status st;
  for (i = 0; i < 10; ++i)
    out[i] = rank * 100 + i;
  CHECK_MPI(MPI_Isend(out, 10, MPI_INT, next, 3, MPI_COMM_WORLD, &req));
  code = MPI_Recv(in, 4, MPI_INT, prev, 3, MPI_COMM_WORLD, &st);
  CHECK(code != MPI_SUCCESS && class_of(code) == MPI_ERR_TRUNCATE);
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));

  /* The same through Irecv and Wait. */
  CHECK_MPI(MPI_Isend(out, 10, MPI_INT, next, 4, MPI_COMM_WORLD, &req));
  {
    MPI_Request rreq;
    CHECK_MPI(MPI_Irecv(in, 2, MPI_INT, prev, 4, MPI_COMM_WORLD, &rreq));
    code = MPI_Wait(&rreq, &st);
    CHECK(code != MPI_SUCCESS && class_of(code) == MPI_ERR_TRUNCATE);
  }
  CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));

  /* Nothing is broken: a message of the right size goes through. */
  CHECK_MPI(MPI_Sendrecv(out, 10, MPI_INT, next, 5, in, 10, MPI_INT, prev, 5, MPI_COMM_WORLD, &st));
  for (i = 0; i < 10; ++i)
    CHECK(in[i] == prev * 100 + i);
}

static void classes_and_strings(void) {
  int cls, len;
  char text[MPI_MAX_ERROR_STRING];
  static const int classes[] = {MPI_SUCCESS,       MPI_ERR_BUFFER,   MPI_ERR_COUNT, MPI_ERR_TYPE,
                                MPI_ERR_TAG,       MPI_ERR_COMM,     MPI_ERR_RANK,  MPI_ERR_REQUEST,
                                MPI_ERR_ROOT,      MPI_ERR_GROUP,    MPI_ERR_OP,    MPI_ERR_ARG,
                                MPI_ERR_UNKNOWN,   MPI_ERR_TRUNCATE, MPI_ERR_OTHER, MPI_ERR_INTERN,
                                MPI_ERR_IN_STATUS, MPI_ERR_PENDING,  MPI_ERR_NO_MEM};
  size_t i, j;
  for (i = 0; i < sizeof classes / sizeof classes[0]; ++i) {
    CHECK_MPI(MPI_Error_class(classes[i], &cls));
    CHECK(cls == classes[i]);
    len = -1;
    memset(text, 0, sizeof text);
    CHECK_MPI(MPI_Error_string(classes[i], text, &len));
    CHECK(len > 0 && len < MPI_MAX_ERROR_STRING && (size_t)len == strlen(text));
    for (j = 0; j < i; ++j)
      CHECK(classes[j] != classes[i]);
  }
  CHECK(MPI_ERR_LASTCODE >= MPI_ERR_NO_MEM);
}

int main(int argc, char** argv) {
  int rank, size, sum = 0;
  MPI_Errhandler handler = MPI_ERRHANDLER_NULL;
  CHECK_MPI(MPI_Init(&argc, &argv));
  rank = world_rank();
  size = world_size();
  CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  CHECK_MPI(MPI_Comm_get_errhandler(MPI_COMM_WORLD, &handler));
  CHECK(handler == MPI_ERRORS_RETURN);
  classes_and_strings();
  invalid_arguments(size);
  truncation(rank, size);
  /* Every rank still takes part in a collective after its errors. */
  CHECK_MPI(MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  CHECK(sum == size * (size - 1) / 2);
  return pass_and_finalize("errors");
}
