// The reduction kernels, MPI_Op_create and MPI_Op_free.
#include "nexo/mpi/op.hpp"

#include <climits>
#include <cstring>
#include <memory>
#include <type_traits>

#include "nexo/mpi/datatype.hpp"
#include "nexo/mpi/errors.hpp"

using nexo::mpi::OpId;

#define NEXO_MPI_OP(var, id, name)                           \
  constinit nexo_mpi_op var {                                \
    nexo::mpi::kOpMagic, OpId::id, true, true, nullptr, name \
  }
NEXO_MPI_OP(nexo_mpi_op_max, max, "MPI_MAX");
NEXO_MPI_OP(nexo_mpi_op_min, min, "MPI_MIN");
NEXO_MPI_OP(nexo_mpi_op_sum, sum, "MPI_SUM");
NEXO_MPI_OP(nexo_mpi_op_prod, prod, "MPI_PROD");
NEXO_MPI_OP(nexo_mpi_op_land, land, "MPI_LAND");
NEXO_MPI_OP(nexo_mpi_op_band, band, "MPI_BAND");
NEXO_MPI_OP(nexo_mpi_op_lor, lor, "MPI_LOR");
NEXO_MPI_OP(nexo_mpi_op_bor, bor, "MPI_BOR");
NEXO_MPI_OP(nexo_mpi_op_lxor, lxor, "MPI_LXOR");
NEXO_MPI_OP(nexo_mpi_op_bxor, bxor, "MPI_BXOR");
NEXO_MPI_OP(nexo_mpi_op_maxloc, maxloc, "MPI_MAXLOC");
NEXO_MPI_OP(nexo_mpi_op_minloc, minloc, "MPI_MINLOC");
#undef NEXO_MPI_OP

namespace nexo::mpi {
namespace {

enum class TypeClass { integer, floating, logical, byte, pair, none };

TypeClass class_of(BasicId id) {
  switch (id) {
    case BasicId::char_:
      return TypeClass::none;
    case BasicId::byte:
      return TypeClass::byte;
    case BasicId::c_bool:
      return TypeClass::logical;
    case BasicId::float_:
    case BasicId::double_:
    case BasicId::long_double:
      return TypeClass::floating;
    case BasicId::float_int:
    case BasicId::double_int:
    case BasicId::long_int:
    case BasicId::two_int:
    case BasicId::short_int:
    case BasicId::long_double_int:
      return TypeClass::pair;
    default:
      return TypeClass::integer;
  }
}

bool allowed(OpId op, TypeClass c) {
  switch (op) {
    case OpId::max:
    case OpId::min:
    case OpId::sum:
    case OpId::prod:
      return c == TypeClass::integer || c == TypeClass::floating;
    case OpId::land:
    case OpId::lor:
    case OpId::lxor:
      return c == TypeClass::integer || c == TypeClass::logical;
    case OpId::band:
    case OpId::bor:
    case OpId::bxor:
      return c == TypeClass::integer || c == TypeClass::byte;
    case OpId::maxloc:
    case OpId::minloc:
      return c == TypeClass::pair;
    case OpId::user:
      return true;
  }
  return false;
}

// Integer arithmetic in the unsigned type the operands promote to: wraps instead of overflowing
// (unsigned short * unsigned short would overflow int).
template <class T>
using Wide = std::make_unsigned_t<decltype(T{} + T{})>;

template <class T>
void integer_kernel(OpId op, const T* in, T* io, std::size_t n) {
  using W = Wide<T>;
  for (std::size_t i = 0; i < n; ++i) {
    T a = in[i], b = io[i];
    switch (op) {
      case OpId::max:
        io[i] = a > b ? a : b;
        break;
      case OpId::min:
        io[i] = a < b ? a : b;
        break;
      case OpId::sum:
        io[i] = static_cast<T>(static_cast<W>(a) + static_cast<W>(b));
        break;
      case OpId::prod:
        io[i] = static_cast<T>(static_cast<W>(a) * static_cast<W>(b));
        break;
      case OpId::land:
        io[i] = static_cast<T>(a != 0 && b != 0);
        break;
      case OpId::lor:
        io[i] = static_cast<T>(a != 0 || b != 0);
        break;
      case OpId::lxor:
        io[i] = static_cast<T>((a != 0) != (b != 0));
        break;
      case OpId::band:
        io[i] = static_cast<T>(a & b);
        break;
      case OpId::bor:
        io[i] = static_cast<T>(a | b);
        break;
      case OpId::bxor:
        io[i] = static_cast<T>(a ^ b);
        break;
      default:
        return;  // refused by allowed()
    }
  }
}

template <class T>
void floating_kernel(OpId op, const T* in, T* io, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    T a = in[i], b = io[i];
    switch (op) {
      case OpId::max:
        io[i] = a > b ? a : b;
        break;
      case OpId::min:
        io[i] = a < b ? a : b;
        break;
      case OpId::sum:
        io[i] = a + b;
        break;
      case OpId::prod:
        io[i] = a * b;
        break;
      default:
        return;
    }
  }
}

// MPI_C_BOOL is read as a byte: a bool object holding another value than 0 or 1 would be
// undefined behaviour in C++, and any non-zero byte is true.
void logical_kernel(OpId op, const unsigned char* in, unsigned char* io, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    bool a = in[i] != 0, b = io[i] != 0;
    io[i] = static_cast<unsigned char>(op == OpId::land  ? (a && b)
                                       : op == OpId::lor ? (a || b)
                                                         : (a != b));
  }
}

template <class T>
struct Pair {
  T value;
  int index;
};

// MAXLOC: the larger value with its index; on equal values the lower index (MPI 3.1 §5.9.4).
template <class T>
void loc_kernel(OpId op, const Pair<T>* in, Pair<T>* io, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const Pair<T>& a = in[i];
    Pair<T>& b = io[i];
    bool a_wins = op == OpId::maxloc ? a.value > b.value : a.value < b.value;
    if (a_wins) {
      b = a;
    } else if (a.value == b.value && a.index < b.index) {
      b.index = a.index;
    }
  }
}

template <class T>
void typed(OpId op, const std::byte* in, std::byte* io, std::size_t n) {
  const T* a = reinterpret_cast<const T*>(in);
  T* b = reinterpret_cast<T*>(io);
  if constexpr (std::is_floating_point_v<T>) {
    floating_kernel(op, a, b, n);
  } else {
    integer_kernel(op, a, b, n);
  }
}

template <class T>
void typed_pair(OpId op, const std::byte* in, std::byte* io, std::size_t n) {
  loc_kernel(op, reinterpret_cast<const Pair<T>*>(in), reinterpret_cast<Pair<T>*>(io), n);
}

// One run of n leaf elements at in and io.
void run(OpId op, BasicId leaf, const std::byte* in, std::byte* io, std::size_t n) {
  auto* ui = reinterpret_cast<const unsigned char*>(in);
  auto* uo = reinterpret_cast<unsigned char*>(io);
  switch (leaf) {
    case BasicId::char_:
      return;  // no predefined op (refused by allowed())
    case BasicId::byte:
      return integer_kernel(op, ui, uo, n);
    case BasicId::c_bool:
      return logical_kernel(op, ui, uo, n);
    case BasicId::signed_char:
      return typed<signed char>(op, in, io, n);
    case BasicId::unsigned_char:
      return typed<unsigned char>(op, in, io, n);
    case BasicId::short_:
      return typed<short>(op, in, io, n);
    case BasicId::unsigned_short:
      return typed<unsigned short>(op, in, io, n);
    case BasicId::int_:
      return typed<int>(op, in, io, n);
    case BasicId::unsigned_:
      return typed<unsigned>(op, in, io, n);
    case BasicId::long_:
      return typed<long>(op, in, io, n);
    case BasicId::unsigned_long:
      return typed<unsigned long>(op, in, io, n);
    case BasicId::long_long:
      return typed<long long>(op, in, io, n);
    case BasicId::unsigned_long_long:
      return typed<unsigned long long>(op, in, io, n);
    case BasicId::float_:
      return typed<float>(op, in, io, n);
    case BasicId::double_:
      return typed<double>(op, in, io, n);
    case BasicId::long_double:
      return typed<long double>(op, in, io, n);
    case BasicId::int8:
      return typed<std::int8_t>(op, in, io, n);
    case BasicId::int16:
      return typed<std::int16_t>(op, in, io, n);
    case BasicId::int32:
      return typed<std::int32_t>(op, in, io, n);
    case BasicId::int64:
      return typed<std::int64_t>(op, in, io, n);
    case BasicId::uint8:
      return typed<std::uint8_t>(op, in, io, n);
    case BasicId::uint16:
      return typed<std::uint16_t>(op, in, io, n);
    case BasicId::uint32:
      return typed<std::uint32_t>(op, in, io, n);
    case BasicId::uint64:
      return typed<std::uint64_t>(op, in, io, n);
    case BasicId::float_int:
      return typed_pair<float>(op, in, io, n);
    case BasicId::double_int:
      return typed_pair<double>(op, in, io, n);
    case BasicId::long_int:
      return typed_pair<long>(op, in, io, n);
    case BasicId::two_int:
      return typed_pair<int>(op, in, io, n);
    case BasicId::short_int:
      return typed_pair<short>(op, in, io, n);
    case BasicId::long_double_int:
      return typed_pair<long double>(op, in, io, n);
  }
}

}  // namespace

bool is_op(MPI_Op op) {
  return op != MPI_OP_NULL && op->magic == kOpMagic;
}

int check_op(MPI_Op op, MPI_Datatype type) {
  if (!is_op(op)) return MPI_ERR_OP;
  if (!is_datatype(type)) return MPI_ERR_TYPE;
  return allowed(op->id, class_of(leaf_of(*type).leaf_id)) ? MPI_SUCCESS : MPI_ERR_OP;
}

bool is_commutative(MPI_Op op) {
  return op->commutative;
}

int apply_op(MPI_Op op, const void* in, void* inout, std::size_t count, MPI_Datatype type) {
  int rc = check_op(op, type);
  if (rc != MPI_SUCCESS || count == 0) return rc;
  if (op->id == OpId::user) {
    // The user function takes non-const buffers (MPI's signature); it must not write invec.
    auto* a = static_cast<std::byte*>(const_cast<void*>(in));
    auto* b = static_cast<std::byte*>(inout);
    while (count > 0) {
      int n = count > INT_MAX ? INT_MAX : static_cast<int>(count);
      MPI_Datatype t = type;
      op->user_fn(a, b, &n, &t);
      count -= static_cast<std::size_t>(n);
      a += static_cast<std::ptrdiff_t>(n) * type->extent;
      b += static_cast<std::ptrdiff_t>(n) * type->extent;
    }
    return MPI_SUCCESS;
  }
  const auto* a = static_cast<const std::byte*>(in);
  auto* b = static_cast<std::byte*>(inout);
  BasicId leaf = leaf_of(*type).leaf_id;
  for_each_leaf_run(*type, count, 0, [&](std::int64_t disp, std::size_t n) {
    run(op->id, leaf, a + disp, b + disp, n);
  });
  return MPI_SUCCESS;
}

}  // namespace nexo::mpi

using nexo::mpi::raise_error;

int MPI_Op_create(MPI_User_function* user_fn, int commute, MPI_Op* op) {
  if (user_fn == nullptr || op == nullptr) {
    return raise_error(MPI_ERR_ARG, "MPI_Op_create", "user_fn or op is NULL");
  }
  auto created = std::make_unique<nexo_mpi_op>();
  created->commutative = commute != 0;
  created->user_fn = user_fn;
  *op = created.release();
  return MPI_SUCCESS;
}

int MPI_Op_free(MPI_Op* op) {
  if (op == nullptr) return raise_error(MPI_ERR_ARG, "MPI_Op_free", "op is NULL");
  if (!nexo::mpi::is_op(*op)) return raise_error(MPI_ERR_OP, "MPI_Op_free", "not an operation");
  if ((*op)->predefined) {
    return raise_error(MPI_ERR_OP, "MPI_Op_free", "a predefined operation cannot be freed");
  }
  (*op)->magic = 0;
  std::unique_ptr<nexo_mpi_op> gone(*op);
  *op = MPI_OP_NULL;
  return MPI_SUCCESS;
}
