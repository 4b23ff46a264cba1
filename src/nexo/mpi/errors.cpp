// Error classes and strings, the error hook, MPI_Get_version, MPI_Wtime and MPI_Wtick.
#include "nexo/mpi/errors.hpp"

#include <time.h>

#include <cstdio>
#include <cstring>

namespace nexo::mpi {
namespace {

// Indexed by class: MPI_SUCCESS (0) .. MPI_ERR_LASTCODE.
constexpr const char* kClassText[] = {
    "MPI_SUCCESS: no error",
    "MPI_ERR_BUFFER: invalid buffer pointer, or no room left in the attached Bsend buffer",
    "MPI_ERR_COUNT: invalid count argument",
    "MPI_ERR_TYPE: invalid datatype (null, freed, not committed, or not allowed here)",
    "MPI_ERR_TAG: invalid tag argument",
    "MPI_ERR_COMM: invalid communicator",
    "MPI_ERR_RANK: invalid rank",
    "MPI_ERR_REQUEST: invalid request handle",
    "MPI_ERR_ROOT: invalid root",
    "MPI_ERR_GROUP: invalid group",
    "MPI_ERR_OP: invalid reduction operation, or one not defined for the datatype",
    "MPI_ERR_ARG: invalid argument",
    "MPI_ERR_UNKNOWN: unknown error",
    "MPI_ERR_TRUNCATE: message truncated: the receive buffer is smaller than the message",
    "MPI_ERR_OTHER: known error not in this list",
    "MPI_ERR_INTERN: internal error in the MPI library",
    "MPI_ERR_IN_STATUS: error code is in the status",
    "MPI_ERR_PENDING: pending request, not completed",
    "MPI_ERR_NO_MEM: out of memory",
};
static_assert(sizeof(kClassText) / sizeof(kClassText[0]) == MPI_ERR_LASTCODE + 1,
              "one text per error class");

ErrorHook g_hook = nullptr;

}  // namespace

const char* error_class_text(int error_class) {
  if (error_class < MPI_SUCCESS || error_class > MPI_ERR_LASTCODE) return nullptr;
  return kClassText[error_class];
}

void set_error_hook(ErrorHook hook) {
  g_hook = hook;
}

int raise_error(int code, const char* function, const char* why) {
  return g_hook != nullptr ? g_hook(code, function, why) : code;
}

}  // namespace nexo::mpi

constinit nexo_mpi_errhandler nexo_mpi_errors_are_fatal{nexo::mpi::kErrhandlerMagic, true};
constinit nexo_mpi_errhandler nexo_mpi_errors_return{nexo::mpi::kErrhandlerMagic, false};
char nexo_mpi_in_place = 0;

using nexo::mpi::raise_error;

int MPI_Error_class(int errorcode, int* errorclass) {
  if (errorclass == nullptr)
    return raise_error(MPI_ERR_ARG, "MPI_Error_class", "errorclass is NULL");
  if (nexo::mpi::error_class_text(errorcode) == nullptr) {
    return raise_error(MPI_ERR_ARG, "MPI_Error_class", "not an error code");
  }
  *errorclass = errorcode;  // nexo's error codes are its classes
  return MPI_SUCCESS;
}

int MPI_Error_string(int errorcode, char* string, int* resultlen) {
  if (string == nullptr || resultlen == nullptr) {
    return raise_error(MPI_ERR_ARG, "MPI_Error_string", "string or resultlen is NULL");
  }
  const char* text = nexo::mpi::error_class_text(errorcode);
  int rc = MPI_SUCCESS;
  char unknown[64];
  if (text == nullptr) {
    std::snprintf(unknown, sizeof unknown, "invalid error code %d", errorcode);
    text = unknown;
    rc = MPI_ERR_ARG;
  }
  std::size_t n = std::strlen(text);
  if (n > MPI_MAX_ERROR_STRING - 1) n = MPI_MAX_ERROR_STRING - 1;
  std::memcpy(string, text, n);
  string[n] = '\0';
  *resultlen = static_cast<int>(n);
  return rc == MPI_SUCCESS ? rc : raise_error(rc, "MPI_Error_string", "not an error code");
}

int MPI_Get_version(int* version, int* subversion) {
  if (version == nullptr || subversion == nullptr) {
    return raise_error(MPI_ERR_ARG, "MPI_Get_version", "version or subversion is NULL");
  }
  *version = MPI_VERSION;
  *subversion = MPI_SUBVERSION;
  return MPI_SUCCESS;
}

// CLOCK_MONOTONIC: never steps back with the wall clock, so differences are durations.
double MPI_Wtime(void) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

double MPI_Wtick(void) {
  timespec res{};
  if (clock_getres(CLOCK_MONOTONIC, &res) != 0 || (res.tv_sec == 0 && res.tv_nsec == 0)) {
    return 1e-9;
  }
  return static_cast<double>(res.tv_sec) + static_cast<double>(res.tv_nsec) * 1e-9;
}
