/* mpi.h: nexo's C interface to the Message Passing Interface subset of issue 14 (MPI 3.1 names and
 * semantics). Usable from C11 and from C++ (every declaration has C linkage).
 *
 * Handles. Every handle is a pointer to an incomplete struct, one struct per kind of object
 * (MPI_Comm, MPI_Datatype, MPI_Op, MPI_Request, MPI_Errhandler):
 *   - mixing kinds (a communicator where a datatype belongs) is a compile-time diagnostic, not a
 *     run-time surprise;
 *   - the runtime reaches an object's fields with one load, no table lookup or handle decoding;
 *   - a predefined handle (MPI_COMM_WORLD, MPI_INT, MPI_SUM, ...) is the address of an object
 *     defined in libnexo_mpi: an address constant, so it may initialise a static variable in C
 *     and in C++, as MPI programs expect (`static MPI_Datatype t = MPI_INT;`). Like Open MPI's,
 *     and unlike MPICH's integer handles, they are not integer constant expressions: they cannot
 *     be `case` labels or appear in `#if`;
 *   - a null handle (MPI_COMM_NULL, MPI_DATATYPE_NULL, MPI_OP_NULL, MPI_REQUEST_NULL,
 *     MPI_ERRHANDLER_NULL) is the null pointer.
 * The structs' names (nexo_mpi_*) and the objects behind the predefined handles are not part of
 * the interface: programs use only the MPI_ names.
 */
#ifndef NEXO_MPI_MPI_H
#define NEXO_MPI_MPI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
/* A null handle of type T, without an old-style cast in C++ (nexo builds with -Wold-style-cast). */
#define NEXO_MPI_NULL_(T) (static_cast<T>(0))
#else
#define NEXO_MPI_NULL_(T) ((T)0)
#endif

/* ---- Version ---- */
#define MPI_VERSION 3
#define MPI_SUBVERSION 1

/* ---- Integer types ---- */
typedef ptrdiff_t MPI_Aint;  /* an address or a difference of addresses, in bytes */
typedef long long MPI_Count; /* a byte count that may exceed int */

/* ---- Handles (see the top of this file) ---- */
typedef struct nexo_mpi_comm* MPI_Comm;
typedef struct nexo_mpi_datatype* MPI_Datatype;
typedef struct nexo_mpi_op* MPI_Op;
typedef struct nexo_mpi_request* MPI_Request;
typedef struct nexo_mpi_errhandler* MPI_Errhandler;

/* ---- Status ---- */
/* The three MPI_ fields are public (MPI standard); the nexo_ fields are private to the library:
 * the received size in bytes (read through MPI_Get_count) and whether the request was cancelled
 * (read through MPI_Test_cancelled). */
typedef struct MPI_Status {
  int MPI_SOURCE;
  int MPI_TAG;
  int MPI_ERROR;
  int nexo_cancelled;
  MPI_Count nexo_count;
} MPI_Status;

#define MPI_STATUS_IGNORE NEXO_MPI_NULL_(MPI_Status*)
#define MPI_STATUSES_IGNORE NEXO_MPI_NULL_(MPI_Status*)

/* ---- Special values ---- */
#define MPI_ANY_SOURCE (-1)
#define MPI_ANY_TAG (-1)
#define MPI_PROC_NULL (-2)
#define MPI_ROOT (-3)
#define MPI_UNDEFINED (-32766)
#define MPI_MAX_PROCESSOR_NAME 256
#define MPI_MAX_ERROR_STRING 256
/* Bytes of bookkeeping per message that MPI_Bsend may keep in the attached buffer: size the buffer
 * as the sum over pending messages of (packed size + MPI_BSEND_OVERHEAD). */
#define MPI_BSEND_OVERHEAD 128

/* MPI_BOTTOM is address zero; MPI_IN_PLACE is a distinct address no user buffer can have. */
extern char nexo_mpi_in_place;
#define MPI_BOTTOM NEXO_MPI_NULL_(void*)
#define MPI_IN_PLACE (&nexo_mpi_in_place)

/* ---- Thread support levels (ordered: SINGLE < FUNNELED < SERIALIZED < MULTIPLE) ---- */
#define MPI_THREAD_SINGLE 0
#define MPI_THREAD_FUNNELED 1
#define MPI_THREAD_SERIALIZED 2
#define MPI_THREAD_MULTIPLE 3

/* ---- Error classes (every error code nexo returns is one of its classes) ---- */
#define MPI_SUCCESS 0
#define MPI_ERR_BUFFER 1     /* invalid buffer pointer, or no room in the attached Bsend buffer */
#define MPI_ERR_COUNT 2      /* invalid count */
#define MPI_ERR_TYPE 3       /* invalid datatype */
#define MPI_ERR_TAG 4        /* invalid tag */
#define MPI_ERR_COMM 5       /* invalid communicator */
#define MPI_ERR_RANK 6       /* invalid rank */
#define MPI_ERR_REQUEST 7    /* invalid request */
#define MPI_ERR_ROOT 8       /* invalid root */
#define MPI_ERR_GROUP 9      /* invalid group */
#define MPI_ERR_OP 10        /* invalid operation, or operation not defined for the datatype */
#define MPI_ERR_ARG 11       /* invalid argument of some other kind */
#define MPI_ERR_UNKNOWN 12   /* unknown error */
#define MPI_ERR_TRUNCATE 13  /* message truncated on receive */
#define MPI_ERR_OTHER 14     /* known error not in this list */
#define MPI_ERR_INTERN 15    /* internal error */
#define MPI_ERR_IN_STATUS 16 /* error code is in the status */
#define MPI_ERR_PENDING 17   /* pending request */
#define MPI_ERR_NO_MEM 18    /* out of memory */
#define MPI_ERR_LASTCODE 18  /* the last error code */

/* ---- Error handlers ---- */
extern struct nexo_mpi_errhandler nexo_mpi_errors_are_fatal;
extern struct nexo_mpi_errhandler nexo_mpi_errors_return;
#define MPI_ERRHANDLER_NULL NEXO_MPI_NULL_(MPI_Errhandler)
#define MPI_ERRORS_ARE_FATAL (&nexo_mpi_errors_are_fatal)
#define MPI_ERRORS_RETURN (&nexo_mpi_errors_return)

/* ---- Communicators (defined by the runtime) ---- */
extern struct nexo_mpi_comm nexo_mpi_comm_world;
extern struct nexo_mpi_comm nexo_mpi_comm_self;
#define MPI_COMM_NULL NEXO_MPI_NULL_(MPI_Comm)
#define MPI_COMM_WORLD (&nexo_mpi_comm_world)
#define MPI_COMM_SELF (&nexo_mpi_comm_self)

/* ---- Requests ---- */
#define MPI_REQUEST_NULL NEXO_MPI_NULL_(MPI_Request)

/* ---- Datatypes ---- */
extern struct nexo_mpi_datatype nexo_mpi_type_char, nexo_mpi_type_signed_char,
    nexo_mpi_type_unsigned_char, nexo_mpi_type_byte, nexo_mpi_type_short,
    nexo_mpi_type_unsigned_short, nexo_mpi_type_int, nexo_mpi_type_unsigned, nexo_mpi_type_long,
    nexo_mpi_type_unsigned_long, nexo_mpi_type_long_long, nexo_mpi_type_unsigned_long_long,
    nexo_mpi_type_float, nexo_mpi_type_double, nexo_mpi_type_long_double, nexo_mpi_type_c_bool,
    nexo_mpi_type_int8_t, nexo_mpi_type_int16_t, nexo_mpi_type_int32_t, nexo_mpi_type_int64_t,
    nexo_mpi_type_uint8_t, nexo_mpi_type_uint16_t, nexo_mpi_type_uint32_t, nexo_mpi_type_uint64_t,
    nexo_mpi_type_float_int, nexo_mpi_type_double_int, nexo_mpi_type_long_int, nexo_mpi_type_2int,
    nexo_mpi_type_short_int, nexo_mpi_type_long_double_int;
#define MPI_DATATYPE_NULL NEXO_MPI_NULL_(MPI_Datatype)
#define MPI_CHAR (&nexo_mpi_type_char)
#define MPI_SIGNED_CHAR (&nexo_mpi_type_signed_char)
#define MPI_UNSIGNED_CHAR (&nexo_mpi_type_unsigned_char)
#define MPI_BYTE (&nexo_mpi_type_byte)
#define MPI_SHORT (&nexo_mpi_type_short)
#define MPI_UNSIGNED_SHORT (&nexo_mpi_type_unsigned_short)
#define MPI_INT (&nexo_mpi_type_int)
#define MPI_UNSIGNED (&nexo_mpi_type_unsigned)
#define MPI_LONG (&nexo_mpi_type_long)
#define MPI_UNSIGNED_LONG (&nexo_mpi_type_unsigned_long)
#define MPI_LONG_LONG (&nexo_mpi_type_long_long)
#define MPI_LONG_LONG_INT MPI_LONG_LONG
#define MPI_UNSIGNED_LONG_LONG (&nexo_mpi_type_unsigned_long_long)
#define MPI_FLOAT (&nexo_mpi_type_float)
#define MPI_DOUBLE (&nexo_mpi_type_double)
#define MPI_LONG_DOUBLE (&nexo_mpi_type_long_double)
#define MPI_C_BOOL (&nexo_mpi_type_c_bool)
#define MPI_INT8_T (&nexo_mpi_type_int8_t)
#define MPI_INT16_T (&nexo_mpi_type_int16_t)
#define MPI_INT32_T (&nexo_mpi_type_int32_t)
#define MPI_INT64_T (&nexo_mpi_type_int64_t)
#define MPI_UINT8_T (&nexo_mpi_type_uint8_t)
#define MPI_UINT16_T (&nexo_mpi_type_uint16_t)
#define MPI_UINT32_T (&nexo_mpi_type_uint32_t)
#define MPI_UINT64_T (&nexo_mpi_type_uint64_t)
/* The pair types of MPI_MAXLOC and MPI_MINLOC: struct { value; int index; } in C layout. */
#define MPI_FLOAT_INT (&nexo_mpi_type_float_int)
#define MPI_DOUBLE_INT (&nexo_mpi_type_double_int)
#define MPI_LONG_INT (&nexo_mpi_type_long_int)
#define MPI_2INT (&nexo_mpi_type_2int)
#define MPI_SHORT_INT (&nexo_mpi_type_short_int)
#define MPI_LONG_DOUBLE_INT (&nexo_mpi_type_long_double_int)

/* ---- Reduction operations ---- */
extern struct nexo_mpi_op nexo_mpi_op_max, nexo_mpi_op_min, nexo_mpi_op_sum, nexo_mpi_op_prod,
    nexo_mpi_op_land, nexo_mpi_op_band, nexo_mpi_op_lor, nexo_mpi_op_bor, nexo_mpi_op_lxor,
    nexo_mpi_op_bxor, nexo_mpi_op_maxloc, nexo_mpi_op_minloc;
#define MPI_OP_NULL NEXO_MPI_NULL_(MPI_Op)
#define MPI_MAX (&nexo_mpi_op_max)
#define MPI_MIN (&nexo_mpi_op_min)
#define MPI_SUM (&nexo_mpi_op_sum)
#define MPI_PROD (&nexo_mpi_op_prod)
#define MPI_LAND (&nexo_mpi_op_land)
#define MPI_BAND (&nexo_mpi_op_band)
#define MPI_LOR (&nexo_mpi_op_lor)
#define MPI_BOR (&nexo_mpi_op_bor)
#define MPI_LXOR (&nexo_mpi_op_lxor)
#define MPI_BXOR (&nexo_mpi_op_bxor)
#define MPI_MAXLOC (&nexo_mpi_op_maxloc)
#define MPI_MINLOC (&nexo_mpi_op_minloc)

/* A user reduction: combines invec into inoutvec element-wise, *len elements of *datatype. */
typedef void MPI_User_function(void* invec, void* inoutvec, int* len, MPI_Datatype* datatype);

/* ---- Functions ----
 * All implemented by libnexo_mpi (compile and link with nexocc / nexocxx, run with nexorun).
 * MPI_Initialized, MPI_Finalized, datatypes, ops, error strings, MPI_Get_version, MPI_Wtime,
 * MPI_Wtick, MPI_Get_count, MPI_Test_cancelled and MPI_Get_processor_name work
 * before MPI_Init too; every other call needs MPI_Init first (and fails through
 * MPI_COMM_WORLD's error handler otherwise). */

/* Environment */
int MPI_Init(int* argc, char*** argv);
int MPI_Init_thread(int* argc, char*** argv, int required, int* provided);
int MPI_Finalize(void);
int MPI_Initialized(int* flag);
int MPI_Finalized(int* flag);
int MPI_Abort(MPI_Comm comm, int errorcode);
double MPI_Wtime(void);
double MPI_Wtick(void);
int MPI_Get_processor_name(char* name, int* resultlen);
int MPI_Get_version(int* version, int* subversion);
int MPI_Error_string(int errorcode, char* string, int* resultlen);
int MPI_Error_class(int errorcode, int* errorclass);
int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler);
int MPI_Comm_get_errhandler(MPI_Comm comm, MPI_Errhandler* errhandler);

/* Communicators */
int MPI_Comm_rank(MPI_Comm comm, int* rank);
int MPI_Comm_size(MPI_Comm comm, int* size);
int MPI_Comm_dup(MPI_Comm comm, MPI_Comm* newcomm);
int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm* newcomm);
int MPI_Comm_free(MPI_Comm* comm);

/* Point to point */
int MPI_Send(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
int MPI_Ssend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
int MPI_Bsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
/* Rsend: the matching receive must already be posted; without one the program is erroneous (MPI
 * standard) and its outcome undefined. */
int MPI_Rsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
int MPI_Buffer_attach(void* buffer, int size);
/* buffer_addr is a void** passed as void*, as the standard declares it. */
int MPI_Buffer_detach(void* buffer_addr, int* size);
int MPI_Recv(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
             MPI_Status* status);
int MPI_Sendrecv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag,
                 void* recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag,
                 MPI_Comm comm, MPI_Status* status);
int MPI_Isend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
              MPI_Request* request);
int MPI_Issend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
               MPI_Request* request);
int MPI_Ibsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
               MPI_Request* request);
int MPI_Irsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
               MPI_Request* request);
int MPI_Irecv(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
              MPI_Request* request);

/* Completion */
int MPI_Wait(MPI_Request* request, MPI_Status* status);
int MPI_Waitall(int count, MPI_Request array_of_requests[], MPI_Status array_of_statuses[]);
int MPI_Waitany(int count, MPI_Request array_of_requests[], int* index, MPI_Status* status);
int MPI_Waitsome(int incount, MPI_Request array_of_requests[], int* outcount,
                 int array_of_indices[], MPI_Status array_of_statuses[]);
int MPI_Test(MPI_Request* request, int* flag, MPI_Status* status);
int MPI_Testall(int count, MPI_Request array_of_requests[], int* flag,
                MPI_Status array_of_statuses[]);
int MPI_Testany(int count, MPI_Request array_of_requests[], int* index, int* flag,
                MPI_Status* status);
int MPI_Request_free(MPI_Request* request);
int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status* status);
int MPI_Iprobe(int source, int tag, MPI_Comm comm, int* flag, MPI_Status* status);
/* The number of whole elements of datatype the status's message held; MPI_UNDEFINED when the
 * byte count is not a multiple of the datatype's size (or the count does not fit an int). */
int MPI_Get_count(const MPI_Status* status, MPI_Datatype datatype, int* count);
int MPI_Cancel(MPI_Request* request);
int MPI_Test_cancelled(const MPI_Status* status, int* flag);

/* Datatypes */
int MPI_Type_contiguous(int count, MPI_Datatype oldtype, MPI_Datatype* newtype);
int MPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype oldtype,
                    MPI_Datatype* newtype);
int MPI_Type_commit(MPI_Datatype* datatype);
int MPI_Type_free(MPI_Datatype* datatype);
int MPI_Type_size(MPI_Datatype datatype, int* size);
int MPI_Type_get_extent(MPI_Datatype datatype, MPI_Aint* lb, MPI_Aint* extent);

/* Collectives */
int MPI_Barrier(MPI_Comm comm);
int MPI_Bcast(void* buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm);
int MPI_Reduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
               int root, MPI_Comm comm);
int MPI_Allreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                  MPI_Comm comm);
int MPI_Gather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
               int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
int MPI_Gatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                MPI_Comm comm);
int MPI_Scatter(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
int MPI_Scatterv(const void* sendbuf, const int sendcounts[], const int displs[],
                 MPI_Datatype sendtype, void* recvbuf, int recvcount, MPI_Datatype recvtype,
                 int root, MPI_Comm comm);
int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
int MPI_Allgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                   const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                   MPI_Comm comm);
int MPI_Alltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                 int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
int MPI_Scan(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
             MPI_Comm comm);
int MPI_Reduce_scatter_block(const void* sendbuf, void* recvbuf, int recvcount,
                             MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);

/* Reduction operations */
int MPI_Op_create(MPI_User_function* user_fn, int commute, MPI_Op* op);
int MPI_Op_free(MPI_Op* op);

#ifdef __cplusplus
}
#endif

#endif /* NEXO_MPI_MPI_H */
