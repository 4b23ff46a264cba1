// Reduction operations behind MPI_Op: the predefined ones on the types MPI 3.1 §5.9.2 allows,
// and user operations (MPI_Op_create).
//
// Allowed combinations (anything else is MPI_ERR_OP):
//   MPI_MAX, MPI_MIN          C integers, floating point
//   MPI_SUM, MPI_PROD         C integers, floating point
//   MPI_LAND, MPI_LOR, MPI_LXOR  C integers, MPI_C_BOOL
//   MPI_BAND, MPI_BOR, MPI_BXOR  C integers, MPI_BYTE
//   MPI_MAXLOC, MPI_MINLOC    the pair types (MPI_FLOAT_INT ... MPI_LONG_DOUBLE_INT)
// "C integers" are the signed and unsigned char, short, int, long, long long and the
// fixed-width types; MPI_CHAR (a character, not a number) takes no predefined operation.
// A derived datatype takes the operations its leaf type takes, applied element by element.
// Integer sums and products wrap modulo 2^bits (no undefined behaviour on overflow).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>

namespace nexo::mpi {

enum class OpId : std::uint8_t {
  max,
  min,
  sum,
  prod,
  land,
  band,
  lor,
  bor,
  lxor,
  bxor,
  maxloc,
  minloc,
  user
};

inline constexpr std::uint32_t kOpMagic = 0x4e58'4f50;  // "NXOP"

}  // namespace nexo::mpi

// The object an MPI_Op points to (global: the C header names it).
struct nexo_mpi_op {
  std::uint32_t magic = nexo::mpi::kOpMagic;
  nexo::mpi::OpId id = nexo::mpi::OpId::user;
  bool predefined = false;
  bool commutative = true;
  MPI_User_function* user_fn = nullptr;
  const char* name = "user";
};

namespace nexo::mpi {

// True when `op` is a valid handle (predefined, or created and not yet freed).
bool is_op(MPI_Op op);

// MPI_SUCCESS when `op` may reduce `type`; MPI_ERR_OP for an invalid op or a predefined op the
// type does not take; MPI_ERR_TYPE for an invalid type. Collectives check before they
// communicate, so that every rank fails the same way.
int check_op(MPI_Op op, MPI_Datatype type);

// Whether the order of the operands may change (predefined: all; user: as created).
// Collectives with a non-commutative op combine in rank order.
bool is_commutative(MPI_Op op);

// inout[i] = in[i] op inout[i] for `count` elements of `type`, both buffers in the type's
// layout. Returns check_op()'s verdict; nothing is written unless it is MPI_SUCCESS.
// MAXLOC/MINLOC on equal values keep the lower index. A user op is called with int counts
// (in pieces if count exceeds INT_MAX) and the handle `type`.
int apply_op(MPI_Op op, const void* in, void* inout, std::size_t count, MPI_Datatype type);

}  // namespace nexo::mpi
