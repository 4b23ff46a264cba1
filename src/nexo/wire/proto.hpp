// The Protocol Buffers wire format (proto3), byte-for-byte as libprotobuf writes it.
//
// A message is a run of fields, each a key and a value, in ascending field-number
// order (the description's numbers, sorted at compile time):
//
//   key       varint (field_number << 3 | wire_type)
//   wire type 0 VARINT  little-endian base-128, 7 bits a byte, high bit "more"; <= 10 bytes
//             1 I64     8 bytes little-endian
//             2 LEN     varint length, then that many bytes
//             3 SGROUP / 4 EGROUP   (deprecated groups: skipped when unknown)
//             5 I32     4 bytes little-endian
//
// The value kinds of describe.hpp, and the .proto type each stands for:
//
//   bool                        bool       VARINT 0 or 1
//   int8, int16, int32          int32      VARINT, sign-extended to 64 bits (-1 is 10 bytes)
//   uint8, uint16, uint32       uint32     VARINT
//   int64 / uint64              int64 / uint64   VARINT
//     option sint               sint32 / sint64  VARINT of the zigzag value (n<<1 ^ n>>63)
//     option fixed              fixed32/64, sfixed32/64  I32 / I64 (8-, 16-bit types: 32)
//   float / double              float / double   I32 / I64 (IEEE 754 bits)
//   enum                        enum       VARINT of its integer (int32 semantics)
//   std::string                 string     LEN, UTF-8 (checked on decode)
//   Bytes                       bytes      LEN
//   described type              message    LEN, its fields; always written (empty: 2 bytes)
//   vector/array of scalars     repeated, packed: one LEN of the values back to back
//   vector/array of others      repeated string/bytes/message: one field per element
//   optional<T>                 proto3 `optional T`: written when present, even if zero
//   map<K, V>                   map<K, V>: one LEN entry per pair {key = 1, value = 2},
//                               in key order (libprotobuf's deterministic order), both
//                               key and value always written
//
// Proto3 default omission: a plain scalar equal to zero (a float or double whose bits
// are zero: -0.0 is written), an empty string, bytes or repeated field is not written.
//
// Decoding (nexo's policies, after the protobuf spec):
//   * a field missing from the input is zero/empty; decoding into a used object resets it
//     (the storage of strings, vectors and repeated messages is reused);
//   * unknown fields of every wire type are skipped, groups included (depth-limited);
//   * a repeated scalar accepts packed and unpacked occurrences, concatenated; a std::array
//     takes at most N values per message (the rest stay zero), more is an error;
//   * a singular scalar or string occurring twice: the last wins; a message occurring
//     twice: the second merges into the first; a map key occurring twice: the last wins;
//   * errors, each with its byte offset: a known field with the wrong wire type, a varint
//     of more than 10 bytes, truncation, a length past the end of its message, field
//     number 0 or above 2^29-1, wire types 6 and 7, an end-group without its start, a
//     value out of range of a narrow C++ type (an int8 field reading 300), invalid UTF-8
//     in a string, and every broken limit (depth, string length, element count, size).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "nexo/base/result.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"

namespace nexo::wire::proto {

// Wire types.
enum WireType : unsigned { varint = 0, i64 = 1, len = 2, sgroup = 3, egroup = 4, i32 = 5 };

inline constexpr std::uint32_t kMaxFieldNumber = (1u << 29) - 1;

namespace detail {

static_assert(std::endian::native == std::endian::little, "proto: little-endian hosts only");

// How a scalar of C++ type T with options O travels.
template <class T, FieldOption O>
struct ScalarWire {
  using C = carried_t<T>;
  static constexpr bool is_bool = std::is_same_v<T, bool>;
  static constexpr bool is_real = std::is_floating_point_v<T>;
  static constexpr bool is_signed = std::is_signed_v<C> && !is_real;
  static constexpr bool wide = sizeof(C) == 8;
  static constexpr bool plain_int = !is_bool && !is_real && !std::is_enum_v<T>;
  static constexpr bool zigzag = plain_int && is_signed && (O & sint) != 0;
  static constexpr bool fixed = is_real || (plain_int && (O & FieldOption::fixed) != 0);
  static constexpr std::size_t size = fixed ? (wide ? 8 : 4) : 0;
  static constexpr unsigned wire_type = fixed ? (wide ? i64 : i32) : varint;
  using Bits = std::conditional_t<wide, std::uint64_t, std::uint32_t>;
  // The protobuf integer a value is read as before it is narrowed to C.
  using Wide = std::conditional_t<is_signed, std::make_signed_t<Bits>, Bits>;
  // The C++ type can be copied to and from the wire as it is.
  static constexpr bool raw = fixed && sizeof(T) == size;

  static bool is_default(T v) noexcept {
    if constexpr (is_real)
      return std::bit_cast<Bits>(v) == 0;
    else
      return static_cast<C>(v) == 0;
  }
  static std::uint64_t to_varint(T v) noexcept {
    if constexpr (is_bool) {
      return v ? 1 : 0;
    } else if constexpr (zigzag) {
      auto x = static_cast<Wide>(static_cast<C>(v));
      return static_cast<Bits>((static_cast<Bits>(x) << 1) ^
                               static_cast<Bits>(x >> (sizeof(Bits) * 8 - 1)));
    } else if constexpr (is_signed) {
      return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<C>(v)));
    } else {
      return static_cast<std::uint64_t>(static_cast<C>(v));
    }
  }
  static Bits to_fixed(T v) noexcept {
    if constexpr (is_real)
      return std::bit_cast<Bits>(v);
    else
      return static_cast<Bits>(static_cast<Wide>(static_cast<C>(v)));
  }
  // From the wire; false when the value does not fit C (a narrow type).
  static bool from_varint(std::uint64_t w, T& v) noexcept {
    if constexpr (is_bool) {
      v = w != 0;
      return true;
    } else if constexpr (zigzag) {
      auto u = static_cast<Bits>(w);
      return narrow(static_cast<Wide>((u >> 1) ^ (~(u & 1) + 1)), v);
    } else {
      return narrow(static_cast<Wide>(static_cast<Bits>(w)), v);  // protobuf truncates
    }
  }
  static bool from_fixed(Bits b, T& v) noexcept {
    if constexpr (is_real) {
      v = std::bit_cast<T>(b);
      return true;
    } else {
      return narrow(static_cast<Wide>(b), v);
    }
  }
  static bool narrow(Wide x, T& v) noexcept {
    if constexpr (sizeof(C) < sizeof(Wide)) {
      if (x < static_cast<Wide>(std::numeric_limits<C>::min()) ||
          x > static_cast<Wide>(std::numeric_limits<C>::max()))
        return false;
    }
    v = static_cast<T>(static_cast<C>(x));
    return true;
  }
};

// What a field may be here (protobuf has no repeated repeated, no optional repeated...).
template <class T>
constexpr bool is_element() {  // what may be repeated, optional, or a map's value
  return Scalar<T> || String<T> || Blob<T> || (Described<T> && is_wire_type<T>());
}
template <class T>
constexpr bool is_proto_field() {
  if constexpr (Vector<T> || Array<T> || Optional<T>)
    return is_element<typename T::value_type>();
  else if constexpr (Map<T>)
    return is_element<typename T::mapped_type>();
  else
    return is_element<T>();
}

// A repeated scalar field (written packed).
template <class M>
constexpr bool is_packed() {
  if constexpr (Vector<M> || Array<M>)
    return Scalar<typename M::value_type>;
  else
    return false;
}

// Field indices of T sorted by field number; checks the numbers at compile time.
template <Described T>
constexpr auto make_number_order() {
  constexpr std::size_t n = field_count<T>;
  std::array<std::size_t, n> order{};
  std::array<std::uint32_t, n> number{};
  for_each_field<T>([&](auto i) {
    order[i] = i;
    number[i] = field_of<T, decltype(i)::value>.number;
  });
  for (std::size_t a = 1; a < n; ++a)  // insertion sort: n is small
    for (std::size_t b = a; b > 0 && number[order[b]] < number[order[b - 1]]; --b)
      std::swap(order[b], order[b - 1]);
  return order;
}
template <Described T>
constexpr bool numbers_valid() {
  constexpr auto order = make_number_order<T>();
  for (std::size_t k = 0; k < order.size(); ++k) {
    std::uint32_t num = 0;
    for_each_field<T>([&](auto i) {
      if (i == order[k]) num = field_of<T, decltype(i)::value>.number;
    });
    if (num == 0 || num > kMaxFieldNumber || (num >= 19000 && num <= 19999)) return false;
    if (k > 0) {
      std::uint32_t prev = 0;
      for_each_field<T>([&](auto i) {
        if (i == order[k - 1]) prev = field_of<T, decltype(i)::value>.number;
      });
      if (prev == num) return false;
    }
  }
  return true;
}
template <Described T>
inline constexpr auto number_order = make_number_order<T>();

constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  return static_cast<std::size_t>((std::bit_width(v | 1) * 9 + 64) / 64);
}
inline std::size_t put_varint(std::byte* p, std::uint64_t v) noexcept {
  std::size_t n = 0;
  while (v >= 0x80) {
    p[n++] = static_cast<std::byte>(v | 0x80);
    v >>= 7;
  }
  p[n++] = static_cast<std::byte>(v);
  return n;
}

constexpr std::uint64_t key_of(std::uint32_t number, unsigned wire_type) {
  return (static_cast<std::uint64_t>(number) << 3) | wire_type;
}

std::string key_label(std::uint32_t number, std::string_view name, unsigned wire_type);
std::string wire_type_name(unsigned wire_type);

template <class Out>
class Encoder {
 public:
  explicit Encoder(Out& out) : out_(out) {}

  // The fields of v, in field-number order (a message's body, without key or length).
  template <Described T>
  void body(const T& v) {
    static_assert(numbers_valid<T>(),
                  "proto: field numbers must be distinct, in 1..2^29-1, not 19000..19999");
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (field<T, number_order<T>[K]>(v), ...);
    }
    (std::make_index_sequence<field_count<T>>{});
  }

 private:
  template <class T, std::size_t I>
  void field(const T& v) {
    constexpr auto f = field_of<T, I>;
    using M = typename decltype(f)::value_type;
    static_assert(is_proto_field<M>(), "proto: this field type has no protobuf form");
    const M& x = f.get(v);
    if constexpr (Scalar<M>) {
      if (!ScalarWire<M, f.options>::is_default(x)) element<f.number, f.options>(x, f.name);
    } else if constexpr (String<M> || Blob<M>) {
      if (!x.empty()) element<f.number, f.options>(x, f.name);
    } else if constexpr (is_packed<M>()) {
      if (!x.empty()) packed<f.number, f.options>(x, f.name);
    } else if constexpr (Vector<M> || Array<M>) {
      for (const auto& e : x)
        element<f.number, f.options>(e, f.name);
    } else if constexpr (Optional<M>) {
      if (x) element<f.number, f.options>(*x, f.name);
    } else if constexpr (Map<M>) {
      for (const auto& [key, mapped] : x)
        entry<f.number>(key, mapped, f.name);
    } else {
      element<f.number, f.options>(x, f.name);
    }
  }

  template <std::uint32_t N, unsigned W>
  void key(std::string_view name) {
    constexpr std::uint64_t k = key_of(N, W);
    std::size_t begin = out_.size();
    if constexpr (k < 0x80) {
      out_.push_back(static_cast<std::byte>(k));
    } else {
      out_.commit(put_varint(out_.room(10), k));
    }
    if constexpr (Out::annotating) out_.note(begin, Part::tag, key_label(N, name, W));
  }

  void length(std::size_t n, std::string_view name) {
    std::size_t begin = out_.size();
    if (n < 0x80)
      out_.push_back(static_cast<std::byte>(n));
    else
      out_.commit(put_varint(out_.room(10), n));
    if constexpr (Out::annotating) out_.note(begin, Part::length, std::string(name) + " length");
  }

  template <class E, FieldOption O>
  void scalar(E x) {
    using S = ScalarWire<E, O>;
    if constexpr (S::fixed) {
      auto bits = S::to_fixed(x);
      std::memcpy(out_.extend(sizeof(bits)), &bits, sizeof(bits));
    } else {
      out_.commit(put_varint(out_.room(10), S::to_varint(x)));
    }
  }

  // One value with its key, always written.
  template <std::uint32_t N, FieldOption O, class E>
  void element(const E& x, std::string_view name) {
    if constexpr (Scalar<E>) {
      key<N, ScalarWire<E, O>::wire_type>(name);
      std::size_t begin = out_.size();
      scalar<E, O>(x);
      out_.note(begin, Part::value, name);
    } else if constexpr (String<E> || Blob<E>) {
      key<N, len>(name);
      length(x.size(), name);
      std::size_t begin = out_.size();
      out_.append(x.data(), x.size());
      out_.note(begin, Part::value, name);
    } else {
      key<N, len>(name);
      nested(name, [&](auto& e) { e.body(x); });
    }
  }

  template <std::uint32_t N, FieldOption O, class V>
  void packed(const V& x, std::string_view name) {
    using E = typename V::value_type;
    using S = ScalarWire<E, O>;
    key<N, len>(name);
    std::size_t bytes = 0;
    if constexpr (S::fixed) {
      bytes = x.size() * S::size;
    } else {
      for (const auto& e : x)
        bytes += varint_size(S::to_varint(e));
    }
    length(bytes, name);
    std::size_t begin = out_.size();
    if constexpr (S::raw) {
      out_.append(x.data(), bytes);
    } else if constexpr (S::fixed) {
      std::byte* p = out_.extend(bytes);
      for (const auto& e : x) {
        auto bits = S::to_fixed(e);
        std::memcpy(p, &bits, sizeof(bits));
        p += sizeof(bits);
      }
    } else {
      std::byte* p = out_.extend(bytes);
      for (const auto& e : x)
        p += put_varint(p, S::to_varint(e));
    }
    if constexpr (Out::annotating)
      out_.note(begin, Part::value,
                std::string(name) + " (" + std::to_string(x.size()) + " packed values)");
  }

  template <std::uint32_t N, class K, class V>
  void entry(const K& k, const V& v, std::string_view name) {
    key<N, len>(name);
    nested(name, [&](auto& e) {
      e.template element<1, none>(k, "key");
      e.template element<2, none>(v, "value");
    });
  }

  // A length-delimited body. The fast path reserves one byte for the length and moves
  // the body when it turns out longer than 127 bytes; the annotating path encodes the
  // body twice (once to learn its length) so that its notes stay where they are.
  template <class Fn>
  void nested(std::string_view name, Fn&& write) {
    if constexpr (Out::annotating) {
      Buffer scratch;
      Encoder<Buffer> sizer(scratch);
      write(sizer);
      length(scratch.size(), name);
      out_.enter(name);
      write(*this);
      out_.leave();
    } else {
      std::size_t at = out_.size();
      out_.extend(1);
      write(*this);
      std::size_t n = out_.size() - at - 1;
      if (n < 0x80) {
        out_.data()[at] = static_cast<std::byte>(n);
        return;
      }
      std::size_t extra = varint_size(n) - 1;
      out_.extend(extra);
      std::byte* p = out_.data() + at;
      std::memmove(p + 1 + extra, p + 1, n);
      put_varint(p, n);
    }
  }

  template <class>
  friend class Encoder;
  Out& out_;
};

class Decoder {
 public:
  Decoder(std::span<const std::byte> bytes, const Limits& limits)
      : st_(bytes, limits), base_(st_.in.begin()), p_(base_), end_(st_.in.end()) {}

  DecodeState& state() { return st_; }

  // Reads the fields of a message up to the current end. `fresh`: v holds nothing of
  // this message yet (fields not met are reset); otherwise what is met merges into v.
  template <Described T>
  bool message(T& v, bool fresh);

 private:
  template <std::size_t N>
  struct Seen {
    std::array<bool, N> seen{};
    std::array<std::size_t, N> used{};  // elements of a repeated field read so far
  };

  bool fail(const unsigned char* at, std::string reason) {
    return st_.fail_at(static_cast<std::size_t>(at - base_), std::move(reason));
  }
  bool fail_limit(const unsigned char* at, std::string what, std::string_view name,
                  std::size_t value) {
    st_.in.seek(static_cast<std::size_t>(at - base_));
    return st_.fail_limit(what, name, value);
  }
  bool enter(const unsigned char* at) {
    if (st_.depth + 1 > st_.limits.max_depth)
      return fail_limit(at, "nesting", "max_depth", st_.limits.max_depth);
    ++st_.depth;
    return true;
  }

  bool read_varint(std::uint64_t& out, std::string_view what) {
    if (end_ - p_ >= 2) [[likely]] {  // one or two bytes: most keys, lengths and values
      if (p_[0] < 0x80) {
        out = *p_++;
        return true;
      }
      if (p_[1] < 0x80) {
        out = (p_[0] & 0x7fu) | (static_cast<std::uint64_t>(p_[1]) << 7);
        p_ += 2;
        return true;
      }
    }
    return read_varint_slow(out, what);
  }
  bool read_varint_slow(std::uint64_t& out, std::string_view what);
  // A LEN prefix: the length, checked against the rest of the enclosing message.
  bool read_length(std::size_t& n, std::string_view what) {
    const unsigned char* at = p_;
    std::uint64_t w = 0;
    if (!read_varint(w, what)) return false;
    if (w > static_cast<std::size_t>(end_ - p_)) [[unlikely]]
      return length_past_end(at, w, what);
    n = static_cast<std::size_t>(w);
    return true;
  }
  bool length_past_end(const unsigned char* at, std::uint64_t n, std::string_view what);
  template <class Bits>
  bool read_fixed(Bits& out, std::string_view what) {
    if (static_cast<std::size_t>(end_ - p_) < sizeof(Bits)) return truncated(what, sizeof(Bits));
    std::memcpy(&out, p_, sizeof(Bits));
    p_ += sizeof(Bits);
    return true;
  }
  bool truncated(std::string_view what, std::size_t n);
  bool wrong_type(const unsigned char* at, std::uint32_t number, std::string_view name,
                  unsigned got, unsigned want);
  bool skip(unsigned wire_type, std::uint64_t number, const unsigned char* at);
  bool skip_group(std::uint64_t number, const unsigned char* at);
  // Checks UTF-8: a fast pass for ASCII, the full check only when a byte is >= 0x80.
  bool check_utf8(const unsigned char* at, std::size_t n, std::string_view name) {
    std::uint64_t high = 0;
    std::size_t k = 0;
    for (; k + 8 <= n; k += 8) {
      std::uint64_t word;
      std::memcpy(&word, at + k, 8);
      high |= word;
    }
    for (; k < n; ++k)
      high |= at[k];
    if ((high & 0x8080808080808080ull) == 0) return true;
    return check_utf8_slow(at, n, name);
  }
  bool check_utf8_slow(const unsigned char* at, std::size_t n, std::string_view name);

  // One scalar value of the field's wire type (already checked).
  template <class E, FieldOption O>
  bool scalar(E& x, std::string_view name) {
    using S = ScalarWire<E, O>;
    const unsigned char* at = p_;
    bool fits;
    if constexpr (S::fixed) {
      typename S::Bits bits = 0;
      if (!read_fixed(bits, name)) return false;
      fits = S::from_fixed(bits, x);
    } else {
      std::uint64_t w = 0;
      if (!read_varint(w, name)) return false;
      fits = S::from_varint(w, x);
    }
    if (!fits)
      return fail(at, "value of " + std::string(name) + " is out of range of its C++ type");
    return true;
  }

  template <class S>
  bool text(S& x, std::string_view name) {
    std::size_t n = 0;
    const unsigned char* at = p_;
    if (!read_length(n, name)) return false;
    if (n > st_.limits.max_string)
      return fail_limit(at, std::string(name) + " length " + std::to_string(n), "max_string",
                        st_.limits.max_string);
    if constexpr (String<S>) {
      if (!check_utf8(p_, n, name)) return false;
      if (x.size() != n) x.resize(n);  // cheaper than assign() into a used string
      std::memcpy(x.data(), p_, n);
    } else {
      x.assign(reinterpret_cast<const std::byte*>(p_), reinterpret_cast<const std::byte*>(p_) + n);
    }
    p_ += n;
    return true;
  }

  // A length-delimited nested message.
  template <Described T>
  bool nested(T& x, bool fresh, std::string_view name) {
    const unsigned char* at = p_;
    std::size_t n = 0;
    if (!read_length(n, name) || !enter(at)) return false;
    const unsigned char* outer = end_;
    end_ = p_ + n;
    bool ok = message(x, fresh);
    end_ = outer;
    --st_.depth;
    return ok;
  }

  // One value (not repeated): a scalar, string, bytes or message, checking the wire type.
  template <std::uint32_t N, FieldOption O, class E>
  bool element(E& x, unsigned wt, const unsigned char* at, bool fresh, std::string_view name) {
    if constexpr (Scalar<E>) {
      constexpr unsigned want = ScalarWire<E, O>::wire_type;
      if (wt != want) return wrong_type(at, N, name, wt, want);
      return scalar<E, O>(x, name);
    } else {
      if (wt != len) return wrong_type(at, N, name, wt, len);
      if constexpr (Described<E>)
        return nested(x, fresh, name);
      else
        return text(x, name);
    }
  }

  bool count_limit(const unsigned char* at, std::size_t count, std::string_view name) {
    if (count <= st_.limits.max_elements) return true;
    return fail_limit(at, std::string(name) + " count " + std::to_string(count), "max_elements",
                      st_.limits.max_elements);
  }

  template <std::uint32_t N, FieldOption O, class V>
  bool repeated_scalar(V& x, unsigned wt, const unsigned char* at, std::size_t& used, bool restart,
                       std::string_view name);
  template <std::uint32_t N, class M>
  bool map_entry(M& x, unsigned wt, const unsigned char* at, std::string_view name);

  template <class T, std::size_t I>
  bool on_field(T& v, unsigned wt, const unsigned char* at, Seen<field_count<T>>& s, bool fresh);
  template <class T, std::size_t I>
  void finish_field(T& v, Seen<field_count<T>>& s, bool fresh);

  DecodeState st_;
  const unsigned char* base_;
  const unsigned char* p_;
  const unsigned char* end_;  // the end of the message being read
};

// Resets a value to what an absent field decodes to.
template <class M>
void reset(M& x) {
  if constexpr (Scalar<M>) {
    x = M{};
  } else if constexpr (Array<M>) {
    for (auto& e : x)
      reset(e);
  } else if constexpr (Optional<M>) {
    x.reset();
  } else if constexpr (Described<M>) {
    for_each_field<M>([&](auto i) { reset(field_of<M, decltype(i)::value>.get(x)); });
  } else {
    x.clear();
  }
}

template <Described T>
bool Decoder::message(T& v, bool fresh) {
  Seen<field_count<T>> s;
  for_each_field<T>([&](auto i) {
    using M = typename decltype(field_of<T, decltype(i)::value>)::value_type;
    if constexpr (Vector<M>)
      if (!fresh) s.used[i] = field_of<T, decltype(i)::value>.get(v).size();
  });
  while (p_ < end_) {
    const unsigned char* at = p_;
    std::uint64_t k;
    if (!read_varint(k, "key")) return false;
    const unsigned wt = static_cast<unsigned>(k & 7);
    const std::uint64_t number = k >> 3;
    bool ok = true;
    bool known = [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (
          (field_of<T, I>.number == number && (ok = on_field<T, I>(v, wt, at, s, fresh), true)) ||
          ...);
    }
    (std::make_index_sequence<field_count<T>>{});
    if (!known) ok = skip(wt, number, at);
    if (!ok) return false;
  }
  for_each_field<T>([&](auto i) { finish_field<T, decltype(i)::value>(v, s, fresh); });
  return true;
}

template <class T, std::size_t I>
bool Decoder::on_field(T& v, unsigned wt, const unsigned char* at, Seen<field_count<T>>& s,
                       bool fresh) {
  constexpr auto f = field_of<T, I>;
  using M = typename decltype(f)::value_type;
  static_assert(is_proto_field<M>(), "proto: this field type has no protobuf form");
  M& x = f.get(v);
  const bool first = !s.seen[I];
  s.seen[I] = true;
  if constexpr (is_packed<M>()) {
    return repeated_scalar<f.number, f.options>(x, wt, at, s.used[I], first && fresh, f.name);
  } else if constexpr (Vector<M> || Array<M>) {
    std::size_t& used = s.used[I];
    if constexpr (Array<M>) {
      if (used == x.size())
        return fail(
            at, std::string(f.name) + " has more than " + std::to_string(x.size()) + " elements");
      return element<f.number, f.options>(x[used++], wt, at, true, f.name);
    } else {
      if (!count_limit(at, used + 1, f.name)) return false;
      if (used == x.size()) x.emplace_back();
      return element<f.number, f.options>(x[used++], wt, at, true, f.name);
    }
  } else if constexpr (Optional<M>) {
    bool fresh_value = !x.has_value() || (fresh && first);
    if (!x) x.emplace();
    return element<f.number, f.options>(*x, wt, at, fresh_value, f.name);
  } else if constexpr (Map<M>) {
    if (first && fresh) x.clear();
    return map_entry<f.number>(x, wt, at, f.name);
  } else {
    return element<f.number, f.options>(x, wt, at, fresh && first, f.name);
  }
}

template <class T, std::size_t I>
void Decoder::finish_field(T& v, Seen<field_count<T>>& s, bool fresh) {
  constexpr auto f = field_of<T, I>;
  using M = typename decltype(f)::value_type;
  M& x = f.get(v);
  if constexpr (Vector<M> && !is_packed<M>()) {
    if (s.used[I] < x.size()) x.resize(s.used[I]);
  } else if constexpr (Array<M>) {
    if (s.seen[I]) {
      for (std::size_t k = s.used[I]; k < x.size(); ++k)
        reset(x[k]);
    } else if (fresh) {
      reset(x);
    }
  } else {
    if (fresh && !s.seen[I]) reset(x);
  }
}

template <std::uint32_t N, FieldOption O, class V>
bool Decoder::repeated_scalar(V& x, unsigned wt, const unsigned char* at, std::size_t& used,
                              bool restart, std::string_view name) {
  using E = typename V::value_type;
  using S = ScalarWire<E, O>;
  if constexpr (Vector<V>) {  // the first occurrence in a fresh message replaces the values
    if (restart && !(S::raw && wt == len)) x.clear();
  }
  auto put = [&](const unsigned char* e_at, E e) {
    if constexpr (Array<V>) {
      if (used == x.size())
        return fail(e_at,
                    std::string(name) + " has more than " + std::to_string(x.size()) + " elements");
      x[used++] = e;
    } else {
      if (!count_limit(e_at, x.size() + 1, name)) return false;
      x.push_back(e);
    }
    return true;
  };
  if (wt == S::wire_type) {  // one unpacked value
    E e{};
    return scalar<E, O>(e, name) && put(at, e);
  }
  if (wt != len) return wrong_type(at, N, name, wt, len);
  std::size_t n = 0;
  if (!read_length(n, name)) return false;
  const unsigned char* stop = p_ + n;
  if constexpr (S::fixed) {
    if (n % S::size != 0)
      return fail(at, std::string(name) + ": packed length " + std::to_string(n) +
                          " is not a multiple of " + std::to_string(S::size));
    if constexpr (S::raw && Vector<V>) {  // copied as they are (little-endian host)
      std::size_t old = restart ? 0 : x.size();
      if (!count_limit(at, old + n / S::size, name)) return false;
      x.resize(old + n / S::size);
      if (n != 0) std::memcpy(x.data() + old, p_, n);
      p_ = stop;
      return true;
    }
  }
  const unsigned char* outer = end_;
  end_ = stop;
  bool ok = true;
  while (ok && p_ < end_) {
    const unsigned char* e_at = p_;
    E e{};
    ok = scalar<E, O>(e, name) && put(e_at, e);
  }
  end_ = outer;
  return ok;
}

template <std::uint32_t N, class M>
bool Decoder::map_entry(M& x, unsigned wt, const unsigned char* at, std::string_view name) {
  using K = typename M::key_type;
  using V = typename M::mapped_type;
  if (wt != len) return wrong_type(at, N, name, wt, len);
  std::size_t n = 0;
  if (!read_length(n, name) || !enter(at)) return false;
  const unsigned char* outer = end_;
  end_ = p_ + n;
  K key{};
  V value{};
  bool value_seen = false;
  bool ok = true;
  while (ok && p_ < end_) {
    const unsigned char* f_at = p_;
    std::uint64_t k;
    if (!read_varint(k, "key")) return false;
    const unsigned fwt = static_cast<unsigned>(k & 7);
    if (k >> 3 == 1) {
      ok = element<1, none>(key, fwt, f_at, true, "map key");
    } else if (k >> 3 == 2) {
      ok = element<2, none>(value, fwt, f_at, !value_seen, "map value");
      value_seen = true;
    } else {
      ok = skip(fwt, k >> 3, f_at);
    }
  }
  end_ = outer;
  --st_.depth;
  if (!ok) return false;
  x.insert_or_assign(std::move(key), std::move(value));  // a repeated key: the last wins
  return count_limit(at, x.size(), name);
}

}  // namespace detail

// Appends v's fields to `out` in the protobuf wire format (a top-level message has no
// length of its own: frame it if it travels with others). Deterministic: equal values
// give equal bytes. Never fails (allocation failure throws std::bad_alloc).
template <Described T, class Out>
void encode(const T& v, Out& out) {
  out.enter(description_of<T>.name);
  detail::Encoder<Out>(out).body(v);
  out.leave();
}

// Reads v from `bytes`, one whole message. Fields absent from the input are reset, so a
// used object may be passed (its storage is reused). On error v holds what was read so
// far; the error says "protobuf: at byte N: <reason>".
template <Described T>
Result<void> decode(std::span<const std::byte> bytes, T& v, const Limits& limits = {}) {
  detail::Decoder d(bytes, limits);
  if (!d.state().check_size() || !d.message(v, true)) return d.state().error.to_error("protobuf");
  return ok();
}

template <Described T>
Result<T> decode(std::span<const std::byte> bytes, const Limits& limits = {}) {
  T v{};
  if (auto r = decode(bytes, v, limits); !r) return std::move(r).error();
  return v;
}

}  // namespace nexo::wire::proto
