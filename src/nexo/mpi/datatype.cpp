// The predefined datatypes, MPI_Type_* and MPI_Get_count, and the pack/unpack walk.
#include "nexo/mpi/datatype.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>

#include "nexo/mpi/errors.hpp"

namespace nexo::mpi {
namespace {

template <class T>
constexpr Datatype basic_type(BasicId id, const char* name) {
  Datatype t;
  t.kind = TypeKind::basic;
  t.leaf_id = id;
  t.predefined = true;
  t.committed = true;
  t.size = sizeof(T);
  t.extent = sizeof(T);
  t.alignment = alignof(T);
  t.name = name;
  return t;
}

template <class T>
struct Pair {
  T value;
  int index;
};

// MPI defines the pair types as C structs: the size counts the two members only, the extent
// includes the padding the struct has (MPI_DOUBLE_INT: size 12, extent 16).
template <class T>
constexpr Datatype pair_type(BasicId id, const char* name) {
  Datatype t;
  t.kind = TypeKind::pair;
  t.leaf_id = id;
  t.predefined = true;
  t.committed = true;
  t.size = sizeof(T) + sizeof(int);
  t.extent = sizeof(Pair<T>);
  t.alignment = alignof(Pair<T>);
  t.dense = t.size == t.extent;
  t.value_size = sizeof(T);
  t.index_offset = offsetof(Pair<T>, index);
  t.name = name;
  return t;
}

}  // namespace
}  // namespace nexo::mpi

using nexo::mpi::basic_type;
using nexo::mpi::BasicId;
using nexo::mpi::pair_type;

// The objects behind the predefined handles of mpi.h. constinit: they are ready before any
// static initialiser of a program that refers to them runs.
#define NEXO_MPI_BASIC(var, T, id, name) \
  constinit nexo_mpi_datatype var = basic_type<T>(BasicId::id, name)
#define NEXO_MPI_PAIR(var, T, id, name) \
  constinit nexo_mpi_datatype var = pair_type<T>(BasicId::id, name)

NEXO_MPI_BASIC(nexo_mpi_type_char, char, char_, "MPI_CHAR");
NEXO_MPI_BASIC(nexo_mpi_type_signed_char, signed char, signed_char, "MPI_SIGNED_CHAR");
NEXO_MPI_BASIC(nexo_mpi_type_unsigned_char, unsigned char, unsigned_char, "MPI_UNSIGNED_CHAR");
NEXO_MPI_BASIC(nexo_mpi_type_byte, unsigned char, byte, "MPI_BYTE");
NEXO_MPI_BASIC(nexo_mpi_type_short, short, short_, "MPI_SHORT");
NEXO_MPI_BASIC(nexo_mpi_type_unsigned_short, unsigned short, unsigned_short, "MPI_UNSIGNED_SHORT");
NEXO_MPI_BASIC(nexo_mpi_type_int, int, int_, "MPI_INT");
NEXO_MPI_BASIC(nexo_mpi_type_unsigned, unsigned, unsigned_, "MPI_UNSIGNED");
NEXO_MPI_BASIC(nexo_mpi_type_long, long, long_, "MPI_LONG");
NEXO_MPI_BASIC(nexo_mpi_type_unsigned_long, unsigned long, unsigned_long, "MPI_UNSIGNED_LONG");
NEXO_MPI_BASIC(nexo_mpi_type_long_long, long long, long_long, "MPI_LONG_LONG");
NEXO_MPI_BASIC(nexo_mpi_type_unsigned_long_long, unsigned long long, unsigned_long_long,
               "MPI_UNSIGNED_LONG_LONG");
NEXO_MPI_BASIC(nexo_mpi_type_float, float, float_, "MPI_FLOAT");
NEXO_MPI_BASIC(nexo_mpi_type_double, double, double_, "MPI_DOUBLE");
NEXO_MPI_BASIC(nexo_mpi_type_long_double, long double, long_double, "MPI_LONG_DOUBLE");
NEXO_MPI_BASIC(nexo_mpi_type_c_bool, bool, c_bool, "MPI_C_BOOL");
NEXO_MPI_BASIC(nexo_mpi_type_int8_t, std::int8_t, int8, "MPI_INT8_T");
NEXO_MPI_BASIC(nexo_mpi_type_int16_t, std::int16_t, int16, "MPI_INT16_T");
NEXO_MPI_BASIC(nexo_mpi_type_int32_t, std::int32_t, int32, "MPI_INT32_T");
NEXO_MPI_BASIC(nexo_mpi_type_int64_t, std::int64_t, int64, "MPI_INT64_T");
NEXO_MPI_BASIC(nexo_mpi_type_uint8_t, std::uint8_t, uint8, "MPI_UINT8_T");
NEXO_MPI_BASIC(nexo_mpi_type_uint16_t, std::uint16_t, uint16, "MPI_UINT16_T");
NEXO_MPI_BASIC(nexo_mpi_type_uint32_t, std::uint32_t, uint32, "MPI_UINT32_T");
NEXO_MPI_BASIC(nexo_mpi_type_uint64_t, std::uint64_t, uint64, "MPI_UINT64_T");
NEXO_MPI_PAIR(nexo_mpi_type_float_int, float, float_int, "MPI_FLOAT_INT");
NEXO_MPI_PAIR(nexo_mpi_type_double_int, double, double_int, "MPI_DOUBLE_INT");
NEXO_MPI_PAIR(nexo_mpi_type_long_int, long, long_int, "MPI_LONG_INT");
NEXO_MPI_PAIR(nexo_mpi_type_2int, int, two_int, "MPI_2INT");
NEXO_MPI_PAIR(nexo_mpi_type_short_int, short, short_int, "MPI_SHORT_INT");
NEXO_MPI_PAIR(nexo_mpi_type_long_double_int, long double, long_double_int, "MPI_LONG_DOUBLE_INT");

#undef NEXO_MPI_BASIC
#undef NEXO_MPI_PAIR

namespace nexo::mpi {
namespace {

bool mul(std::int64_t a, std::int64_t b, std::int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
bool add(std::int64_t a, std::int64_t b, std::int64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// Fills in size, bounds and density of vector(count, blocklength, stride) of `old`; false when
// a figure overflows 64 bits.
bool lay_out_vector(std::int64_t count, std::int64_t blocklength, std::int64_t stride,
                    const Datatype& old, Datatype* t) {
  std::int64_t elements = 0;
  if (!mul(count, blocklength, &elements) || !mul(elements, old.size, &t->size)) return false;
  if (!mul(stride, old.extent, &t->stride_bytes)) return false;
  if (count == 0 || blocklength == 0) {  // an empty typemap: lb = ub = 0
    t->lb = 0;
    t->extent = 0;
    t->dense = true;
    return true;
  }
  // Element j of block i starts at (i * stride + j) * old.extent and spans [lb, ub) of old.
  std::int64_t last_block = 0, block_span = 0, ub = 0;
  if (!mul(count - 1, t->stride_bytes, &last_block)) return false;
  if (!mul(blocklength - 1, old.extent, &block_span)) return false;
  std::int64_t first = std::min<std::int64_t>(0, last_block);
  std::int64_t last = std::max<std::int64_t>(0, last_block);
  if (!add(first, old.lb, &t->lb)) return false;
  if (!add(last, block_span, &ub) || !add(ub, old.lb, &ub) || !add(ub, old.extent, &ub)) {
    return false;
  }
  if (!add(ub, -t->lb, &t->extent)) return false;
  t->dense = old.dense && (count == 1 || stride == blocklength);
  return true;
}

// The walk of pack and unpack: visits the byte runs of the packed bytes [skip, skip + want) of
// `count` elements of `t` at displacement `disp`, calling fn(displacement, length) in packed
// order. Returns the bytes visited. Whole elements and blocks before `skip` are stepped over by
// arithmetic, so a piecewise pack costs no more than a whole one.
template <class Fn>
std::size_t walk(const Datatype& t, std::size_t count, std::int64_t disp, std::size_t skip,
                 std::size_t want, Fn& fn);

template <class Fn>
std::size_t walk_element(const Datatype& t, std::int64_t base, std::size_t skip, std::size_t want,
                         Fn& fn) {
  std::size_t done = 0;
  if (t.kind == TypeKind::pair) {
    const std::int64_t offsets[2] = {0, t.index_offset};
    const std::size_t lengths[2] = {static_cast<std::size_t>(t.value_size), sizeof(int)};
    for (int f = 0; f < 2 && done < want; ++f) {
      if (skip >= lengths[f]) {
        skip -= lengths[f];
        continue;
      }
      std::size_t n = std::min(lengths[f] - skip, want - done);
      fn(base + offsets[f] + static_cast<std::int64_t>(skip), n);
      done += n;
      skip = 0;
    }
    return done;
  }
  // A vector (a basic type is dense and never gets here).
  auto block = static_cast<std::size_t>(t.blocklength * t.child->size);
  auto i = static_cast<std::int64_t>(skip / block);
  skip -= static_cast<std::size_t>(i) * block;
  for (; i < t.count && done < want; ++i, skip = 0) {
    done += walk(*t.child, static_cast<std::size_t>(t.blocklength), base + i * t.stride_bytes, skip,
                 want - done, fn);
  }
  return done;
}

template <class Fn>
std::size_t walk(const Datatype& t, std::size_t count, std::int64_t disp, std::size_t skip,
                 std::size_t want, Fn& fn) {
  std::size_t total = packed_size(count, t);
  if (want == 0 || skip >= total) return 0;
  if (t.dense) {
    std::size_t n = std::min(total - skip, want);
    fn(disp + t.lb + static_cast<std::int64_t>(skip), n);
    return n;
  }
  auto size = static_cast<std::size_t>(t.size);
  std::size_t k = skip / size;
  skip -= k * size;
  std::size_t done = 0;
  for (; k < count && done < want; ++k, skip = 0) {
    done += walk_element(t, disp + static_cast<std::int64_t>(k) * t.extent, skip, want - done, fn);
  }
  return done;
}

}  // namespace

bool is_datatype(MPI_Datatype type) {
  return type != MPI_DATATYPE_NULL && type->magic == kDatatypeMagic && !type->freed;
}

int check_usable(MPI_Datatype type) {
  return is_datatype(type) && type->committed ? MPI_SUCCESS : MPI_ERR_TYPE;
}

int make_vector(std::int64_t count, std::int64_t blocklength, std::int64_t stride, MPI_Datatype old,
                MPI_Datatype* out) {
  if (out == nullptr) return MPI_ERR_ARG;
  if (count < 0 || blocklength < 0) return MPI_ERR_COUNT;
  if (!is_datatype(old)) return MPI_ERR_TYPE;
  auto t = std::make_unique<Datatype>();
  t->kind = TypeKind::vector;
  t->leaf = &leaf_of(*old);
  t->leaf_id = t->leaf->leaf_id;
  t->alignment = old->alignment;
  t->count = count;
  t->blocklength = blocklength;
  t->child = old;
  t->name = "derived";
  if (!lay_out_vector(count, blocklength, stride, *old, t.get())) return MPI_ERR_ARG;
  retain(old);
  *out = t.release();
  return MPI_SUCCESS;
}

void retain(MPI_Datatype type) {
  if (!type->predefined) ++type->refs;
}

void release(MPI_Datatype type) {
  while (type != nullptr && !type->predefined && --type->refs == 0) {
    MPI_Datatype child = type->child;
    type->magic = 0;  // a stale handle is then refused, as long as the memory is not reused
    std::unique_ptr<Datatype> gone(type);
    type = child;
  }
}

std::size_t packed_size(std::size_t count, const Datatype& type) {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, static_cast<std::size_t>(type.size), &bytes)) return SIZE_MAX;
  return bytes;
}

std::size_t pack(const void* buf, std::size_t count, const Datatype& type, std::size_t offset,
                 std::span<std::byte> out) {
  const auto* base = static_cast<const std::byte*>(buf);
  std::byte* to = out.data();
  auto copy = [&](std::int64_t disp, std::size_t n) {
    std::memcpy(to, base + disp, n);
    to += n;
  };
  return walk(type, count, 0, offset, out.size(), copy);
}

std::size_t unpack(std::span<const std::byte> in, void* buf, std::size_t count,
                   const Datatype& type, std::size_t offset) {
  auto* base = static_cast<std::byte*>(buf);
  const std::byte* from = in.data();
  auto copy = [&](std::int64_t disp, std::size_t n) {
    std::memcpy(base + disp, from, n);
    from += n;
  };
  return walk(type, count, 0, offset, in.size(), copy);
}

}  // namespace nexo::mpi

// ---- The C functions ----

using nexo::mpi::is_datatype;
using nexo::mpi::raise_error;

namespace {

// Reports a type constructor's failure with what was wrong.
int constructor_error(int rc, const char* function, const MPI_Datatype* newtype) {
  const char* why = rc == MPI_ERR_COUNT  ? "negative count or block length"
                    : rc == MPI_ERR_TYPE ? "oldtype is not a datatype (null or freed)"
                    : newtype == nullptr ? "newtype is NULL"
                                         : "the type's extent or size overflows 64 bits";
  return raise_error(rc, function, why);
}

}  // namespace

int MPI_Type_contiguous(int count, MPI_Datatype oldtype, MPI_Datatype* newtype) {
  int rc = nexo::mpi::make_vector(1, count, count, oldtype, newtype);
  return rc == MPI_SUCCESS ? rc : constructor_error(rc, "MPI_Type_contiguous", newtype);
}

int MPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype oldtype,
                    MPI_Datatype* newtype) {
  int rc = nexo::mpi::make_vector(count, blocklength, stride, oldtype, newtype);
  return rc == MPI_SUCCESS ? rc : constructor_error(rc, "MPI_Type_vector", newtype);
}

int MPI_Type_commit(MPI_Datatype* datatype) {
  if (datatype == nullptr) return raise_error(MPI_ERR_ARG, "MPI_Type_commit", "datatype is NULL");
  if (!is_datatype(*datatype)) {
    return raise_error(MPI_ERR_TYPE, "MPI_Type_commit", "not a datatype");
  }
  (*datatype)->committed = true;
  return MPI_SUCCESS;
}

int MPI_Type_free(MPI_Datatype* datatype) {
  if (datatype == nullptr) return raise_error(MPI_ERR_ARG, "MPI_Type_free", "datatype is NULL");
  if (!is_datatype(*datatype)) return raise_error(MPI_ERR_TYPE, "MPI_Type_free", "not a datatype");
  if ((*datatype)->predefined) {
    return raise_error(MPI_ERR_TYPE, "MPI_Type_free", "a predefined datatype cannot be freed");
  }
  (*datatype)->freed = true;
  nexo::mpi::release(*datatype);
  *datatype = MPI_DATATYPE_NULL;
  return MPI_SUCCESS;
}

int MPI_Type_size(MPI_Datatype datatype, int* size) {
  if (!is_datatype(datatype)) return raise_error(MPI_ERR_TYPE, "MPI_Type_size", "not a datatype");
  if (size == nullptr) return raise_error(MPI_ERR_ARG, "MPI_Type_size", "size is NULL");
  *size = datatype->size > INT_MAX ? MPI_UNDEFINED : static_cast<int>(datatype->size);
  return MPI_SUCCESS;
}

int MPI_Type_get_extent(MPI_Datatype datatype, MPI_Aint* lb, MPI_Aint* extent) {
  if (!is_datatype(datatype)) {
    return raise_error(MPI_ERR_TYPE, "MPI_Type_get_extent", "not a datatype");
  }
  if (lb == nullptr || extent == nullptr) {
    return raise_error(MPI_ERR_ARG, "MPI_Type_get_extent", "lb or extent is NULL");
  }
  *lb = datatype->lb;
  *extent = datatype->extent;
  return MPI_SUCCESS;
}

int MPI_Get_count(const MPI_Status* status, MPI_Datatype datatype, int* count) {
  if (status == nullptr) return raise_error(MPI_ERR_ARG, "MPI_Get_count", "status is NULL");
  if (!is_datatype(datatype)) return raise_error(MPI_ERR_TYPE, "MPI_Get_count", "not a datatype");
  if (count == nullptr) return raise_error(MPI_ERR_ARG, "MPI_Get_count", "count is NULL");
  MPI_Count bytes = status->nexo_count;
  if (datatype->size == 0) {
    *count = 0;  // MPI 3.1 §3.2.5: a zero-size datatype gives a count of zero
  } else if (bytes < 0 || bytes % datatype->size != 0 || bytes / datatype->size > INT_MAX) {
    *count = MPI_UNDEFINED;
  } else {
    *count = static_cast<int>(bytes / datatype->size);
  }
  return MPI_SUCCESS;
}
