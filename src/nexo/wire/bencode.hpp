// Bencode (BEP 3), the encoding of BitTorrent's metainfo files and of the Mainline DHT's
// KRPC messages (BEP 5): a value tree, and described types to and from it.
//
// The bytes, four kinds of value, each introduced by its first byte:
//
//   integer      'i' decimal 'e'            i42e  i-7e  i0e
//   byte string  decimal length ':' bytes   4:spam  0:      (any bytes: not text)
//   list         'l' values 'e'             l4:spami42ee
//   dictionary   'd' (key value)* 'e'       d3:cow3:moo4:spam4:eggse
//                keys are byte strings, in ascending order as raw bytes (memcmp)
//
// Every value has exactly one encoding, and nexo reads only that one (BEP 3 requires the
// canonical form; KRPC peers compare bytes, and a hash of the bytes names a torrent).
// Refused, each with its byte offset ("bencode: at byte 17: integer has a leading zero"):
//   * an integer with a leading zero (i03e), negative zero (i-0e), no digits (ie, i-e),
//     anything but digits between 'i' and 'e', or beyond 64 bits (the tree holds int64);
//   * a string length with a leading zero (03:abc) or without its ':';
//   * dictionary keys that are not byte strings, out of order, or given twice;
//   * a list or dictionary without its 'e', a byte that starts no value, truncation;
//   * bytes after the top value (decode_prefix() stops there instead, for streams);
//   * every broken Limits bound (kind too_large): nesting (max_depth), the input
//     (max_bytes), one string (max_string), the items of one list or dictionary
//     (max_elements), and the memory of the decoded value (max_decoded: each item is
//     charged its node's size, each string its bytes, before it is allocated). Every item
//     takes at least 2 input bytes, so the items of one input number at most half of it.
// The decoder recurses once per nesting level, never deeper than max_depth; it never
// reads past its input.
//
// Described types (describe.hpp), by value kind:
//
//   bool                 i0e / i1e; read: only 0 or 1
//   integers, enums      an integer (an enum is its underlying integer); read: checked
//                        against the C++ type's range. uint64 carries all 64 bits
//                        (BEP 3 integers are unbounded; the tree's int64 is nexo's limit)
//   std::string, Bytes   a byte string, as is (a std::string is not checked as UTF-8)
//   vector, array        a list; a std::array<T, N> reads exactly N elements
//   map                  a dictionary; integer keys as their decimal text (sorted as
//                        bytes, so "-2" < "1" < "10" < "2"); read strictly canonical
//   described type       a dictionary keyed by field name, in byte order of the names
//                        whatever the declaration order
//   std::optional        (a struct field only) the key left out when empty
//   bencode::Value       any value, as the tree holds it (a KRPC message's "a" or "r"
//                        dictionary, whose keys depend on the query)
//   float, double        bencode has none: a compile error (static_assert), and
//                        supports<T>() is false
// Reading a described type: unknown keys are skipped (checked as strictly as the rest:
// KRPC messages carry keys a node does not know); a missing key is an error naming it,
// except for an optional field, which is then empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"

namespace nexo::wire::bencode {

class Value;

// A dictionary: byte-string keys, kept in ascending byte order (its encoding order), each
// at most once. Keys are std::string for easy comparison with literals ("id", "q"), but
// hold any bytes. A value type: copyable, movable; not thread-safe.
class Dict {
 public:
  using Entry = std::pair<std::string, Value>;
  using const_iterator = std::vector<Entry>::const_iterator;

  Dict() = default;
  // The entries in any order; a key given twice keeps its last value.
  Dict(std::initializer_list<Entry> entries);

  // (Defined below Value: an entry's size is known only there.)
  std::size_t size() const noexcept;
  bool empty() const noexcept;
  const_iterator begin() const noexcept;
  const_iterator end() const noexcept;

  // The value of `key`, or nullptr (valid until the dictionary changes).
  const Value* find(std::string_view key) const noexcept;
  Value* find(std::string_view key) noexcept;
  // Sets `key` to `value`, in its place in the order; returns the stored value.
  Value& insert_or_assign(std::string key, Value value);
  // Removes `key`; false if it was not there.
  bool erase(std::string_view key);
  // Appends an entry whose key is above every key held (the decoder's path: its input is
  // already in order); false, and nothing changes, otherwise.
  bool append(std::string key, Value value);

  bool operator==(const Dict& other) const;

 private:
  std::vector<Entry> entries_;
};

// One bencode value: an integer, a byte string, a list or a dictionary. A value type
// (copies are deep); not thread-safe. Destroying a tree recurses once per nesting level.
class Value {
 public:
  using List = std::vector<Value>;
  enum class Kind : std::uint8_t { integer, string, list, dict };

  // The integer 0.
  Value() noexcept = default;
  // An integer (64-bit unsigned does not fit: convert it first).
  template <class I>
  requires std::is_integral_v<I> &&
      (!std::is_same_v<I, bool>)&&(std::is_signed_v<I> || sizeof(I) < sizeof(std::int64_t))
          Value(I n) noexcept  // NOLINT
      : v_(static_cast<std::int64_t>(n)) {}
  // A byte string.
  Value(std::string s) noexcept : v_(std::move(s)) {}                   // NOLINT
  Value(std::string_view s) : v_(std::string(s)) {}                     // NOLINT
  Value(const char* s) : v_(std::string(s)) {}                          // NOLINT
  Value(std::span<const std::byte> b) : v_(std::string(as_text(b))) {}  // NOLINT
  Value(List l) noexcept : v_(std::move(l)) {}                          // NOLINT
  Value(Dict d) noexcept : v_(std::move(d)) {}                          // NOLINT

  Kind kind() const noexcept { return static_cast<Kind>(v_.index()); }
  bool is_integer() const noexcept { return kind() == Kind::integer; }
  bool is_string() const noexcept { return kind() == Kind::string; }
  bool is_list() const noexcept { return kind() == Kind::list; }
  bool is_dict() const noexcept { return kind() == Kind::dict; }

  // Unchecked access: the kind must match (else std::bad_variant_access, a programming
  // error). For input from the network, use the checked as_*() and get_*() below.
  std::int64_t integer() const { return std::get<std::int64_t>(v_); }
  const std::string& string() const { return std::get<std::string>(v_); }
  std::string& string() { return std::get<std::string>(v_); }
  const List& list() const { return std::get<List>(v_); }
  List& list() { return std::get<List>(v_); }
  const Dict& dict() const { return std::get<Dict>(v_); }
  Dict& dict() { return std::get<Dict>(v_); }
  // A byte string's bytes (the kind must be string).
  std::span<const std::byte> bytes() const { return as_bytes(string()); }

  // Checked access: the value, or a malformed error "expected a list, found an integer".
  // Pointers live as long as this value is unchanged.
  Result<std::int64_t> as_integer() const;
  Result<std::string_view> as_string() const;
  Result<const List*> as_list() const;
  Result<const Dict*> as_dict() const;

  // This dictionary's value of `key`; nullptr when absent or when this is not a dict.
  const Value* find(std::string_view key) const noexcept;
  // Checked access to a key of this dictionary (the KRPC path): the value, or a
  // malformed error "missing key \"t\"", "key \"t\": expected a byte string, found an
  // integer", or "expected a dictionary, found a list" when this is not one.
  Result<std::int64_t> get_integer(std::string_view key) const;
  Result<std::string_view> get_string(std::string_view key) const;
  Result<const List*> get_list(std::string_view key) const;
  Result<const Dict*> get_dict(std::string_view key) const;

  bool operator==(const Value& other) const = default;

 private:
  Result<const Value*> get(std::string_view key, Kind kind) const;

  std::variant<std::int64_t, std::string, List, Dict> v_;
};

using List = Value::List;

// "an integer", "a byte string", "a list", "a dictionary".
std::string_view kind_name(Value::Kind kind) noexcept;

// Reads one value, the whole input (bytes after it are an error). Never reads past the
// input; allocates no more than `limits` allow. Errors: malformed or too_large, with the
// byte offset and the rule ("bencode: at byte 3: integer has a leading zero").
Result<Value> decode(std::span<const std::byte> bytes, const Limits& limits = {});
Result<Value> decode(std::string_view text, const Limits& limits = {});

// A value read from the front of a stream, and how many bytes it took.
struct Prefix {
  Value value;
  std::size_t size = 0;
};
// Reads the value at the front of `bytes`, ignoring what follows it (for a stream of
// values back to back). An input that ends inside the value is a malformed error
// ("truncated: ..."); wait for more bytes and try again.
Result<Prefix> decode_prefix(std::span<const std::byte> bytes, const Limits& limits = {});

namespace detail {
class Reader;
// Reads one value into `out` (the tree decoder, for a Value field of a described type).
bool read_value(Reader& r, Value& out);
}  // namespace detail

// Appends the canonical encoding of v to `out`. Never fails (allocation failure throws
// std::bad_alloc). Recurses once per nesting level of v.
void encode(const Value& v, Buffer& out);
// The canonical encoding of v.
Bytes encode(const Value& v);

// ---------------------------------------------------------------------------
// Inline definitions that need Value complete.

inline Dict::Dict(std::initializer_list<Entry> entries) {
  for (const Entry& e : entries)
    insert_or_assign(e.first, e.second);
}

inline bool Dict::operator==(const Dict& other) const {
  return entries_ == other.entries_;
}

inline std::size_t Dict::size() const noexcept {
  return entries_.size();
}
inline bool Dict::empty() const noexcept {
  return entries_.empty();
}
inline Dict::const_iterator Dict::begin() const noexcept {
  return entries_.begin();
}
inline Dict::const_iterator Dict::end() const noexcept {
  return entries_.end();
}

}  // namespace nexo::wire::bencode

#include "nexo/wire/bencode_described.hpp"  // described types: encode(T, out), decode<T>()
