// Types, constants and helpers shared by the writer and the reader of java.hpp. Internal
// but for supports<T>() and the TC_* constants.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "nexo/wire/describe.hpp"

namespace nexo::wire::java {

// Stream constants of java.io.ObjectStreamConstants.
inline constexpr std::uint32_t kBaseWireHandle = 0x7E0000;
enum Tc : unsigned char {
  TC_NULL = 0x70,
  TC_REFERENCE = 0x71,
  TC_CLASSDESC = 0x72,
  TC_OBJECT = 0x73,
  TC_STRING = 0x74,
  TC_ARRAY = 0x75,
  TC_CLASS = 0x76,
  TC_BLOCKDATA = 0x77,
  TC_ENDBLOCKDATA = 0x78,
  TC_RESET = 0x79,
  TC_BLOCKDATALONG = 0x7A,
  TC_EXCEPTION = 0x7B,
  TC_LONGSTRING = 0x7C,
  TC_PROXYCLASSDESC = 0x7D,
  TC_ENUM = 0x7E,
};
inline constexpr unsigned char SC_WRITE_METHOD = 0x01;
inline constexpr unsigned char SC_SERIALIZABLE = 0x02;
inline constexpr unsigned char SC_EXTERNALIZABLE = 0x04;
inline constexpr unsigned char SC_ENUM = 0x10;

// True when T can be marshalled to Java (see the mapping at the top of this file).
template <class T, int Depth = 0>
constexpr bool supports() {
  if constexpr (Depth > 16) {
    return true;  // a recursive type (Node -> shared_ptr<Node>): checked above already
  } else if constexpr (Scalar<T> || String<T> || Blob<T>) {
    return true;
  } else if constexpr (Vector<T> || Array<T>) {
    return supports<typename T::value_type, Depth + 1>();
  } else if constexpr (Optional<T>) {
    using V = typename T::value_type;
    return !Scalar<V> && !Optional<V> && supports<V, Depth + 1>();
  } else if constexpr (SharedPtr<T> || WeakPtr<T>) {
    return supports<typename T::element_type, Depth + 1>();
  } else if constexpr (Described<T>) {
    if constexpr (description_of<T>.java_class.name.empty()) {
      return false;
    } else {
      return all_fields<T>([](auto i) {
        return supports<typename decltype(field_of<T, decltype(i)::value>)::value_type,
                        Depth + 1>();
      });
    }
  } else {
    return false;
  }
}

// A described type, or a shared_ptr to one (to write a graph whose root is shared).
template <class T>
concept Root = (Described<T> || (SharedPtr<T> && Described<typename T::element_type>));

namespace detail {

// ---------------------------------------------------------------------------
// Helpers in java.cpp.

// The serialVersionUID the JVM computes for an array class of a public component.
std::int64_t array_serial_version_uid(std::string_view class_name);
// Modified UTF-8 length of UTF-8 text (a bad byte counts as U+FFFD).
std::size_t mutf8_length(std::string_view text) noexcept;
// Writes the modified UTF-8 of `text` (mutf8_length(text) bytes) at p.
void mutf8_encode(std::string_view text, std::byte* p) noexcept;
// Decodes modified UTF-8 into `out` (UTF-8); returns the offset of the first bad byte,
// or n when all is well.
std::size_t mutf8_decode(const unsigned char* p, std::size_t n, std::string& out);
// `bytes` as printable text for an error message (shortened, \xNN for the rest).
std::string printable(const unsigned char* p, std::size_t n);
// "TC_OBJECT" for a known type code, "" otherwise.
std::string_view tc_name(unsigned char code) noexcept;
// "handle 0x7e0002".
std::string handle_name(std::uint32_t handle);

// True when every byte is 01..7F (modified UTF-8 is then the bytes themselves).
inline bool plain_ascii(const unsigned char* p, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (((w | ((w - 0x0101010101010101ull) & ~w)) & 0x8080808080808080ull) != 0) return false;
  }
  for (; i < n; ++i)
    if (p[i] == 0 || p[i] >= 0x80) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Types: codes, wire representation, signatures, class descriptors.

template <class T>
inline constexpr char type_key = 0;  // &type_key<T> identifies T at run time

template <class M>
constexpr std::size_t prim_size() {
  if constexpr (std::is_enum_v<M>) {
    return sizeof(M) <= 4 ? 4 : 8;
  } else {
    return sizeof(M);
  }
}

// The same-width unsigned integer a primitive travels as.
template <class M>
using bits_t = std::conditional_t<
    prim_size<M>() == 1, std::uint8_t,
    std::conditional_t<prim_size<M>() == 2, std::uint16_t,
                       std::conditional_t<prim_size<M>() == 4, std::uint32_t, std::uint64_t>>>;

template <class M>
constexpr char prim_code() {
  if constexpr (std::is_same_v<M, bool>)
    return 'Z';
  else if constexpr (std::is_same_v<M, char16_t>)
    return 'C';
  else if constexpr (std::is_same_v<M, float>)
    return 'F';
  else if constexpr (std::is_same_v<M, double>)
    return 'D';
  else if constexpr (prim_size<M>() == 1)
    return 'B';
  else if constexpr (prim_size<M>() == 2)
    return 'S';
  else if constexpr (prim_size<M>() == 4)
    return 'I';
  else
    return 'J';
}

template <class M>
constexpr char type_code() {
  static_assert(!is_map<M>::value,
                "java: std::map is not supported (java.util.HashMap writes custom data)");
  if constexpr (Scalar<M>) {
    static_assert(sizeof(M) <= 8 && !std::is_same_v<M, long double>, "java: no such primitive");
    return prim_code<M>();
  } else if constexpr (Blob<M> || Vector<M> || Array<M>) {
    return '[';
  } else if constexpr (Optional<M>) {
    static_assert(!Scalar<typename M::value_type>,
                  "java: std::optional of a primitive is not supported (a Java primitive "
                  "cannot be null)");
    return type_code<typename M::value_type>();
  } else {
    static_assert(String<M> || SharedPtr<M> || WeakPtr<M> || Described<M>,
                  "java: this type cannot be marshalled");
    return 'L';
  }
}

template <class M>
constexpr bits_t<M> to_bits(M v) noexcept {
  if constexpr (std::is_same_v<M, bool>)
    return v ? 1 : 0;
  else if constexpr (std::is_floating_point_v<M>)
    return std::bit_cast<bits_t<M>>(v);
  else if constexpr (std::is_enum_v<M>)
    return static_cast<bits_t<M>>(static_cast<carried_t<M>>(v));
  else
    return static_cast<bits_t<M>>(v);
}
template <class M>
constexpr M from_bits(bits_t<M> b) noexcept {
  if constexpr (std::is_same_v<M, bool>)
    return b != 0;
  else if constexpr (std::is_floating_point_v<M>)
    return std::bit_cast<M>(b);
  else if constexpr (std::is_enum_v<M>)
    return static_cast<M>(static_cast<carried_t<M>>(static_cast<std::make_signed_t<bits_t<M>>>(b)));
  else
    return static_cast<M>(b);
}
template <class U>
constexpr U big_endian(U v) noexcept {
  if constexpr (std::endian::native == std::endian::big || sizeof(U) == 1)
    return v;
  else if constexpr (sizeof(U) == 2)
    return __builtin_bswap16(v);
  else if constexpr (sizeof(U) == 4)
    return __builtin_bswap32(v);
  else
    return __builtin_bswap64(v);
}

template <Described T>
constexpr std::string_view java_name() {
  static_assert(!description_of<T>.java_class.name.empty(),
                "java: the description needs .java(class_name, serialVersionUID)");
  return description_of<T>.java_class.name;
}

std::string slashed(std::string_view dotted);

// The field type string ("I", "Ljava/lang/String;", "[LRecord;"), built once per type.
template <class M>
const std::string& signature();
template <class M>
std::string make_signature() {
  if constexpr (Scalar<M>) {
    return std::string(1, prim_code<M>());
  } else if constexpr (String<M>) {
    return "Ljava/lang/String;";
  } else if constexpr (Blob<M>) {
    return "[B";
  } else if constexpr (Vector<M> || Array<M>) {
    return "[" + signature<typename M::value_type>();
  } else if constexpr (Optional<M>) {
    return signature<typename M::value_type>();
  } else if constexpr (SharedPtr<M> || WeakPtr<M>) {
    return "L" + slashed(java_name<typename M::element_type>()) + ";";
  } else {
    return "L" + slashed(java_name<M>()) + ";";
  }
}
template <class M>
const std::string& signature() {
  static const std::string s = make_signature<M>();
  return s;
}

// One field of a class descriptor.
struct FieldInfo {
  std::string head;       // type code and utf name, as written
  std::string signature;  // the type string (object fields), else empty
  std::string name;       // modified UTF-8
  char code;
};

// A class descriptor as nexo writes it, and what the reader matches against.
struct ClassInfo {
  std::string name;                 // as in the stream: "Person", "[D", "[LRecord;"
  std::int64_t uid = 0;             // serialVersionUID
  bool check_uid = true;            // false for arrays
  std::string head;                 // utf name, uid, flags, field count
  std::vector<FieldInfo> fields;    // in java.io's order (primitives, then by name)
  std::vector<FieldInfo> declared;  // in declaration order (the reader's index)
};
void finish_class_info(ClassInfo& info);  // builds head and the field heads

// The order java.io writes T's fields in: primitives first, each group sorted by name.
template <Described T>
constexpr auto java_order = [] {
  constexpr std::size_t n = field_count<T>;
  std::array<std::size_t, n> order{};
  std::array<bool, n> prim{};
  std::array<std::string_view, n> names{};
  for_each_field<T>([&](auto i) {
    constexpr auto f = field_of<T, decltype(i)::value>;
    prim[i] = Scalar<typename decltype(f)::value_type>;
    names[i] = f.name;
  });
  for (std::size_t k = 0; k < n; ++k)
    order[k] = k;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (prim[a] != prim[b]) return prim[a];
    return names[a] < names[b];
  });
  return order;
}();

template <class M>
ClassInfo make_class_info() {
  ClassInfo info;
  if constexpr (Described<M>) {
    info.name = std::string(java_name<M>());
    info.uid = description_of<M>.java_class.serial_version_uid;
    for_each_field<M>([&](auto i) {
      constexpr auto f = field_of<M, decltype(i)::value>;
      using F = typename decltype(f)::value_type;
      FieldInfo fi;
      fi.name = std::string(f.name);
      fi.code = type_code<F>();
      if constexpr (!Scalar<F>) fi.signature = signature<F>();
      info.declared.push_back(std::move(fi));
    });
    for (std::size_t k : java_order<M>)
      info.fields.push_back(info.declared[k]);
  } else {
    info.name = signature<M>();
    std::replace(info.name.begin(), info.name.end(), '/', '.');
    info.uid = array_serial_version_uid(info.name);
    info.check_uid = false;
  }
  finish_class_info(info);
  return info;
}
template <class M>
const ClassInfo& class_info() {
  static const ClassInfo info = make_class_info<M>();
  return info;
}

// A few names and their handles; the inline part avoids allocating for small graphs.
class HandleTable {
 public:
  HandleTable() {}  // small_ stays uninitialized: only [0, size_) is ever read
  // The handle of `key`; `id` (the key's static storage) is tried first, as a shortcut.
  const std::uint32_t* find(std::string_view key, const void* id = nullptr) const noexcept {
    if (id != nullptr)
      for (std::size_t k = 0; k < size_; ++k)
        if (small_[k].id == id) return &small_[k].handle;
    for (std::size_t k = 0; k < size_; ++k)
      if (small_[k].key == key) return &small_[k].handle;
    for (const auto& e : more_)
      if (e.key == key) return &e.handle;
    return nullptr;
  }
  void add(std::string_view key, std::uint32_t handle, const void* id = nullptr) {
    Entry& e = size_ < small_.size() ? small_[size_++] : more_.emplace_back();
    e.key = key;  // member by member: a temporary Entry stalls store forwarding
    e.id = id;
    e.handle = handle;
  }

 private:
  struct Entry {
    std::string_view key;
    const void* id;
    std::uint32_t handle;
  };
  std::array<Entry, 16> small_;
  std::size_t size_ = 0;
  std::vector<Entry> more_;
};

}  // namespace detail
}  // namespace nexo::wire::java
