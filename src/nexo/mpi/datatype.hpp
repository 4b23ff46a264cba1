// The datatype engine behind MPI_Datatype: the predefined types, the derived ones
// (MPI_Type_contiguous, MPI_Type_vector, nested to any depth), and the walk that packs `count`
// elements of a type from a user buffer into contiguous bytes and unpacks them back.
//
// A type is a typemap: a list of (basic type, displacement) pairs. Its size is the bytes of data
// it holds; its lower bound and extent describe the span one element occupies, so that element k
// of an array starts k * extent bytes after element 0 (MPI 3.1 §4.1). A derived type here is
// always homogeneous: every basic element is of one leaf type (basic or pair), which is what the
// reductions need.
//
// A type is *dense* when its data fills [lb, lb + size) with no hole and extent == size: then
// `count` elements are count * size bytes from buf + lb, and pack and unpack are one memcpy.
// The predefined basic types, MPI_FLOAT_INT and MPI_2INT, contiguous types of dense types and
// vectors whose stride equals their block length are dense.
//
// Lifetime: a derived type is created by a constructor with one reference (the user's handle);
// each type built on it holds a reference too, and so may the runtime while a request uses it
// (retain/release). MPI_Type_free drops the handle's reference; the type goes when the last one
// does. Predefined types live in static storage and are never freed.
//
// Threads: creating and freeing types is not thread-safe (the reference counts are plain ints);
// packing and unpacking a committed type may run on any number of threads at once.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace nexo::mpi {

enum class TypeKind : std::uint8_t {
  basic,   // one C scalar
  pair,    // struct { value; int index; } of MAXLOC/MINLOC
  vector,  // count blocks of blocklength child elements, stride_bytes apart (contiguous too)
};

// The C type behind a leaf (basic or pair) type; the reductions dispatch on it.
enum class BasicId : std::uint8_t {
  char_,
  signed_char,
  unsigned_char,
  byte,
  short_,
  unsigned_short,
  int_,
  unsigned_,
  long_,
  unsigned_long,
  long_long,
  unsigned_long_long,
  float_,
  double_,
  long_double,
  c_bool,
  int8,
  int16,
  int32,
  int64,
  uint8,
  uint16,
  uint32,
  uint64,
  float_int,
  double_int,
  long_int,
  two_int,
  short_int,
  long_double_int,
};

inline constexpr std::uint32_t kDatatypeMagic = 0x4e58'4454;  // "NXDT"

}  // namespace nexo::mpi

// The object an MPI_Datatype points to (global: the C header names it).
struct nexo_mpi_datatype {
  std::uint32_t magic = nexo::mpi::kDatatypeMagic;
  nexo::mpi::TypeKind kind = nexo::mpi::TypeKind::basic;
  nexo::mpi::BasicId leaf_id = nexo::mpi::BasicId::byte;  // of the leaf type
  bool predefined = false;
  bool committed = false;
  bool dense = true;
  bool freed = false;       // MPI_Type_free was called on the handle (the type may live on)
  int refs = 1;             // derived types only
  std::int64_t size = 0;    // bytes of data in one element
  std::int64_t lb = 0;      // lower bound of one element, relative to its start
  std::int64_t extent = 0;  // ub - lb
  std::size_t alignment = 1;
  const nexo_mpi_datatype* leaf = nullptr;  // the basic or pair type of every element
  // pair: the value is at offset 0, the int index at index_offset.
  std::int64_t value_size = 0;
  std::int64_t index_offset = 0;
  // vector (MPI_Type_contiguous(n, t) is vector(1, n, n, t)).
  std::int64_t count = 0;
  std::int64_t blocklength = 0;
  std::int64_t stride_bytes = 0;
  nexo_mpi_datatype* child = nullptr;
  const char* name = "";
};

namespace nexo::mpi {

using Datatype = nexo_mpi_datatype;

// True when `type` is a valid handle: predefined, or derived and not yet freed by the user.
bool is_datatype(MPI_Datatype type);

// The basic or pair type every element of `type` is made of.
inline const Datatype& leaf_of(const Datatype& type) {
  return type.leaf != nullptr ? *type.leaf : type;
}

// MPI_SUCCESS when `type` may be used in communication (valid and committed), otherwise
// MPI_ERR_TYPE.
int check_usable(MPI_Datatype type);

// Builds vector(count, blocklength, stride) of `old` (strides in elements of old's extent;
// negative allowed). MPI_ERR_COUNT for a negative count or block length, MPI_ERR_TYPE for an
// invalid `old`, MPI_ERR_ARG if the type's span overflows 64 bits.
int make_vector(std::int64_t count, std::int64_t blocklength, std::int64_t stride, MPI_Datatype old,
                MPI_Datatype* out);

// A reference for the runtime while a request uses a derived type (no-op for predefined ones).
void retain(MPI_Datatype type);
void release(MPI_Datatype type);

// Bytes `count` elements of `type` pack into (saturates at SIZE_MAX).
std::size_t packed_size(std::size_t count, const Datatype& type);

// Copies the packed bytes [offset, offset + out.size()) of `count` elements of `type` laid out
// from `buf` into `out`; stops at the end of the data. Returns the bytes copied. An offset lets a
// message be packed piecewise (frames of a rendezvous); a short copy cuts an element anywhere.
std::size_t pack(const void* buf, std::size_t count, const Datatype& type, std::size_t offset,
                 std::span<std::byte> out);

// The inverse: scatters `in`, the packed bytes [offset, offset + in.size()) of `count` elements,
// into `buf`. Returns the bytes consumed (less than in.size() when the elements end first: the
// caller reports MPI_ERR_TRUNCATE).
std::size_t unpack(std::span<const std::byte> in, void* buf, std::size_t count,
                   const Datatype& type, std::size_t offset);

// Calls fn(displacement, n) for each run of n consecutive leaf elements (n * leaf->extent bytes
// from displacement, relative to the buffer) of `count` elements of `type`, in typemap order.
// The reductions apply their kernels run by run.
template <class Fn>
void for_each_leaf_run(const Datatype& type, std::size_t count, std::int64_t disp, Fn&& fn);

// The number of bytes a received message held, for MPI_Get_count (the runtime sets it).
inline void set_status_count(MPI_Status* status, std::int64_t bytes) {
  if (status != MPI_STATUS_IGNORE) status->nexo_count = bytes;
}

// ---- implementation of the template ----

template <class Fn>
void for_each_leaf_run(const Datatype& type, std::size_t count, std::int64_t disp, Fn&& fn) {
  if (count == 0 || type.size == 0) return;
  if (type.kind != TypeKind::vector) {
    fn(disp, count);
    return;
  }
  if (type.dense && type.leaf->dense) {
    fn(disp + type.lb, count * static_cast<std::size_t>(type.size / type.leaf->size));
    return;
  }
  for (std::size_t k = 0; k < count; ++k) {
    std::int64_t base = disp + static_cast<std::int64_t>(k) * type.extent;
    for (std::int64_t i = 0; i < type.count; ++i) {
      for_each_leaf_run(*type.child, static_cast<std::size_t>(type.blocklength),
                        base + i * type.stride_bytes, fn);
    }
  }
}

}  // namespace nexo::mpi
