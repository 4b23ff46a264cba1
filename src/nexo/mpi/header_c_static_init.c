/* Compiled only (the runtime defines the communicators): every predefined handle and constant
 * of mpi.h is usable where C requires a constant, in a static initialiser. */
#include <mpi.h>

static MPI_Comm comms[] = {MPI_COMM_WORLD, MPI_COMM_SELF, MPI_COMM_NULL};
static MPI_Datatype types[] = {MPI_CHAR,
                               MPI_SIGNED_CHAR,
                               MPI_UNSIGNED_CHAR,
                               MPI_BYTE,
                               MPI_SHORT,
                               MPI_UNSIGNED_SHORT,
                               MPI_INT,
                               MPI_UNSIGNED,
                               MPI_LONG,
                               MPI_UNSIGNED_LONG,
                               MPI_LONG_LONG,
                               MPI_LONG_LONG_INT,
                               MPI_UNSIGNED_LONG_LONG,
                               MPI_FLOAT,
                               MPI_DOUBLE,
                               MPI_LONG_DOUBLE,
                               MPI_C_BOOL,
                               MPI_INT8_T,
                               MPI_INT16_T,
                               MPI_INT32_T,
                               MPI_INT64_T,
                               MPI_UINT8_T,
                               MPI_UINT16_T,
                               MPI_UINT32_T,
                               MPI_UINT64_T,
                               MPI_FLOAT_INT,
                               MPI_DOUBLE_INT,
                               MPI_LONG_INT,
                               MPI_2INT,
                               MPI_SHORT_INT,
                               MPI_LONG_DOUBLE_INT,
                               MPI_DATATYPE_NULL};
static MPI_Op ops[] = {MPI_MAX, MPI_MIN,  MPI_SUM,  MPI_PROD,   MPI_LAND,   MPI_BAND,   MPI_LOR,
                       MPI_BOR, MPI_LXOR, MPI_BXOR, MPI_MAXLOC, MPI_MINLOC, MPI_OP_NULL};
static MPI_Errhandler handlers[] = {MPI_ERRORS_ARE_FATAL, MPI_ERRORS_RETURN, MPI_ERRHANDLER_NULL};
static MPI_Request request = MPI_REQUEST_NULL;
static MPI_Status* ignore[] = {MPI_STATUS_IGNORE, MPI_STATUSES_IGNORE};
static const void* in_place = MPI_IN_PLACE;
static const void* bottom = MPI_BOTTOM;
static const int ints[] = {
    MPI_ANY_SOURCE,         MPI_ANY_TAG,           MPI_PROC_NULL,       MPI_UNDEFINED,
    MPI_MAX_PROCESSOR_NAME, MPI_MAX_ERROR_STRING,  MPI_BSEND_OVERHEAD,  MPI_THREAD_SINGLE,
    MPI_THREAD_FUNNELED,    MPI_THREAD_SERIALIZED, MPI_THREAD_MULTIPLE, MPI_VERSION,
    MPI_SUBVERSION};

/* Integer constants are integer constant expressions: usable in #if and case labels. */
#if MPI_VERSION != 3 || MPI_SUBVERSION != 1
#error "mpi.h announces MPI 3.1"
#endif
#if MPI_SUCCESS != 0 || MPI_ERR_LASTCODE < MPI_ERR_NO_MEM
#error "error classes out of order"
#endif
_Static_assert(MPI_THREAD_SINGLE < MPI_THREAD_FUNNELED &&
                   MPI_THREAD_FUNNELED < MPI_THREAD_SERIALIZED &&
                   MPI_THREAD_SERIALIZED < MPI_THREAD_MULTIPLE,
               "thread levels are ordered");

int nexo_mpi_static_init_touch(void);
int nexo_mpi_static_init_touch(void) {
  switch (ints[0]) {
    case MPI_ANY_SOURCE:
      break;
    case MPI_PROC_NULL:
      break;
    default:
      break;
  }
  return comms[0] != 0 && types[0] != 0 && ops[0] != 0 && handlers[0] != 0 && request == 0 &&
         ignore[0] == 0 && in_place != bottom;
}
