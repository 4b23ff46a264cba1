// Error classes and their strings, error handlers as objects, and the hook through which every
// MPI function of nexo reports an error: the C functions return the code after calling
// raise_error(), which the runtime points at the error handler of MPI_COMM_WORLD (MPI 3.1 §8.3:
// errors not tied to a communicator are raised there). Until the runtime installs its hook,
// raise_error() returns the code (as MPI_ERRORS_RETURN would).
#pragma once

#include <mpi.h>

#include <cstdint>

namespace nexo::mpi {

inline constexpr std::uint32_t kErrhandlerMagic = 0x4e58'4548;  // "NXEH"

// The text of an error class (MPI_SUCCESS .. MPI_ERR_LASTCODE), or nullptr for another value.
// Every text is shorter than MPI_MAX_ERROR_STRING.
const char* error_class_text(int error_class);

// Called with the code, the MPI function's name and why; returns the code the function returns.
// A handler that aborts does not return.
using ErrorHook = int (*)(int code, const char* function, const char* why);

// Installs `hook` (nullptr: back to returning the code). Not thread-safe: call before MPI calls
// run on other threads (from MPI_Init).
void set_error_hook(ErrorHook hook);

// Reports an error of `function`: returns the hook's answer.
int raise_error(int code, const char* function, const char* why);

}  // namespace nexo::mpi

// The object an MPI_Errhandler points to (global: the C header names it).
struct nexo_mpi_errhandler {
  std::uint32_t magic = nexo::mpi::kErrhandlerMagic;
  bool fatal = true;  // MPI_ERRORS_ARE_FATAL aborts the job; MPI_ERRORS_RETURN returns the code
};

namespace nexo::mpi {

// True when `handler` is MPI_ERRORS_ARE_FATAL or MPI_ERRORS_RETURN.
inline bool is_errhandler(MPI_Errhandler handler) {
  return handler != MPI_ERRHANDLER_NULL && handler->magic == kErrhandlerMagic;
}

}  // namespace nexo::mpi
