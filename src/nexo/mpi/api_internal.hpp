// What the C API files share: argument checks that report through a communicator's error
// handler, the mapping of buffers and datatypes to the engine's bytes, and the requests the
// runtime completes on the program's behalf (MPI_Request_free, buffered sends).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <span>
#include <string>

#include "nexo/base/bytes.hpp"
#include "nexo/mpi/runtime.hpp"

namespace nexo::mpi {

// A valid, live communicator handle.
inline bool is_comm(MPI_Comm comm) {
  return comm != MPI_COMM_NULL && comm->magic == kCommMagic;
}

// Reports error `code` of MPI function `function` on `comm` (MPI_COMM_WORLD's handler when comm
// is not valid): MPI_ERRORS_ARE_FATAL prints "nexo MPI: rank R: FUNCTION: CLASS: why" and ends
// the job; MPI_ERRORS_RETURN returns the code.
int comm_error(MPI_Comm comm, int code, const char* function, const std::string& why);

// MPI_SUCCESS when MPI is initialized and not finalized; otherwise the error, reported.
int check_initialized(const char* function);

// Checks (comm, count, type, buffer): MPI_SUCCESS or the reported error.
int check_buffer(MPI_Comm comm, const void* buf, int count, MPI_Datatype type,
                 const char* function);

// A point-to-point peer: `rank` of `comm` (or PROC_NULL, or ANY_SOURCE when `any` allowed).
int check_rank(MPI_Comm comm, int rank, bool any, const char* function);
int check_tag(MPI_Comm comm, int tag, bool any, const char* function);

// The contiguous bytes `count` elements of a dense `type` occupy at `buf`, or an empty optional
// for a type that must be packed.
std::optional<std::span<std::byte>> dense_bytes(const void* buf, std::size_t count,
                                                MPI_Datatype type);

// Reports a failure of the runtime itself (a transport broke, a peer sent garbage) and ends
// the job: MPI cannot go on.
[[noreturn]] void runtime_failure(const char* function, const Error& error);

// Progress until done() (reporting a runtime failure).
void wait_until(const char* function, const std::function<bool()>& done);

// Internal collectives used by the runtime itself (communicator creation, finalize), on the
// communicator's collective context: every rank sends its `mine` bytes to all and receives all
// (out[r] is rank r's, each `mine.size()` bytes).
void exchange_all(MPI_Comm comm, std::span<const std::byte> mine, std::span<std::byte> out,
                  const char* function);

// Requests the runtime finishes for the program (MPI_Request_free of an active request, a
// buffered send's own request): polled by every wait, drained by MPI_Finalize.
void adopt_request(MPI_Request request, std::size_t bsend_offset = SIZE_MAX);
void reap_adopted();
bool adopted_empty();

// Communicator reference counting: a request keeps its communicator alive.
void retain_comm(MPI_Comm comm);
void release_comm(MPI_Comm comm);

}  // namespace nexo::mpi
