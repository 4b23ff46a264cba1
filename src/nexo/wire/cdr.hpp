// CORBA Common Data Representation (plain CDR, as in GIOP 1.2 and DDS XCDR1).
//
// The byte layout, by value kind (all multi-byte values in the stream's byte order):
//
//   bool, int8, uint8           1 byte (bool is 0 or 1)
//   int16, uint16               2 bytes, aligned to 2
//   int32, uint32, float, enum  4 bytes, aligned to 4 (an enum is its value as uint32)
//   int64, uint64, double       8 bytes, aligned to 8
//   string                      uint32 length counting the terminating NUL, the bytes, NUL
//   sequence<T> (vector, Bytes) uint32 element count, then the elements
//   array<T, N>                 the N elements, no count
//   struct                      its fields in order, each aligned as itself (no padding
//                               after the last field)
//   map<K, V>                   uint32 pair count, then key, value, key, value ...
//   optional<T>                 bool present, then T when present (nexo's choice: plain CDR
//                               has no optional; XCDR1 would use a parameter list)
//
// Alignment ("natural alignment") is relative to the start of the CDR stream: padding
// bytes (zero) are inserted before a value until its offset from the origin is a
// multiple of its size. The sender writes in its own byte order and says which (the
// GIOP header flag, or the encapsulation header below); the receiver swaps only if that
// order is not its own: "receiver makes it right".
//
// An encapsulation (encode_encapsulated) starts with a 4-byte header, as in DDS:
//   00 00  big-endian plain CDR   |  00 01  little-endian plain CDR
//   xx xx  options (the low two bits: padding bytes at the end), written as 00 00
// and the alignment origin is the first byte after the header.
//
// Byte-for-byte identical to eProsima Fast-CDR 1.x (CORBA_CDR mode for the plain body,
// DDS_CDR mode for encapsulations), in both byte orders; tests link Fast-CDR to check.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "nexo/base/result.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/text.hpp"

namespace nexo::wire::cdr {

enum class Endian : std::uint8_t { big = 0, little = 1 };
inline constexpr Endian native_endian =
    std::endian::native == std::endian::little ? Endian::little : Endian::big;

namespace detail {

template <class T>
constexpr T byteswap(T v) noexcept {
  if constexpr (sizeof(T) == 1) {
    return v;
  } else {
    using U = std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                 std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>;
    U u = std::bit_cast<U>(v);
    if constexpr (sizeof(T) == 2) u = __builtin_bswap16(u);
    if constexpr (sizeof(T) == 4) u = __builtin_bswap32(u);
    if constexpr (sizeof(T) == 8) u = __builtin_bswap64(u);
    return std::bit_cast<T>(u);
  }
}

// The wire type of a scalar: enums travel as uint32, bool as one byte.
template <class T>
using wire_scalar_t = std::conditional_t<std::is_enum_v<T>, std::uint32_t, T>;

// The fewest bytes one T takes on the wire (bounds a count read from the input).
template <class T>
constexpr std::size_t min_size() {
  if constexpr (Scalar<T>) {
    return sizeof(wire_scalar_t<T>);
  } else if constexpr (String<T> || Blob<T> || Vector<T> || Map<T>) {
    return 4;
  } else if constexpr (Optional<T>) {
    return 1;
  } else if constexpr (Array<T>) {
    return std::tuple_size_v<T> * min_size<typename T::value_type>();
  } else {
    std::size_t total = 0;
    for_each_field<T>([&](auto i) {
      total += min_size<typename decltype(field_of<T, decltype(i)::value>)::value_type>();
    });
    return total;
  }
}

template <class Out, bool Swap>
class Encoder {
 public:
  explicit Encoder(Out& out) : out_(out), origin_(out.size()) {}

  template <class T>
  void value(const T& v, std::string_view label) {
    static_assert(is_wire_type<T>(), "cdr: this type cannot be marshalled");
    if constexpr (Scalar<T>) {
      scalar(static_cast<wire_scalar_t<T>>(v), label);
    } else if constexpr (String<T>) {
      string(v, label);
    } else if constexpr (Blob<T>) {
      length(static_cast<std::uint32_t>(v.size()), label);
      raw(v.data(), v.size(), label);
    } else if constexpr (Vector<T>) {
      length(static_cast<std::uint32_t>(v.size()), label);
      elements(v.data(), v.size(), label);
    } else if constexpr (Array<T>) {
      elements(v.data(), v.size(), label);
    } else if constexpr (Optional<T>) {
      scalar(static_cast<bool>(v.has_value()), label);
      if (v) value(*v, label);
    } else if constexpr (Map<T>) {
      length(static_cast<std::uint32_t>(v.size()), label);
      for (const auto& [key, mapped] : v) {
        value(key, label);
        value(mapped, label);
      }
    } else {
      static_assert(Described<T>, "cdr: shared_ptr/weak_ptr fields are Java-only");
      out_.enter(label);
      for_each_field<T>([&](auto i) {
        constexpr auto f = field_of<T, decltype(i)::value>;
        value(f.get(v), f.name);
      });
      out_.leave();
    }
  }

 private:
  void align(std::size_t n) {
    std::size_t pad = (n - (out_.size() - origin_) % n) % n;
    if (pad != 0) {
      std::size_t begin = out_.size();
      std::memset(out_.extend(pad), 0, pad);
      out_.note(begin, Part::padding);
    }
  }

  template <class W>
  void scalar(W v, std::string_view label) {
    align(sizeof(W));
    std::size_t begin = out_.size();
    if constexpr (Out::annotating) {
      std::string text(label);
      text += " = ";
      wire::detail::text_scalar(text, v);
      out_.note_range(begin, begin + sizeof(W), Part::value, text);
    }
    if constexpr (Swap) v = byteswap(v);
    std::memcpy(out_.extend(sizeof(W)), &v, sizeof(W));
  }

  void length(std::uint32_t n, std::string_view label) {
    align(4);
    std::size_t begin = out_.size();
    if constexpr (Swap) n = byteswap(n);
    std::memcpy(out_.extend(4), &n, 4);
    if constexpr (Out::annotating) out_.note(begin, Part::length, std::string(label) + " length");
  }

  void raw(const void* p, std::size_t n, std::string_view label) {
    std::size_t begin = out_.size();
    out_.append(p, n);
    out_.note(begin, Part::value, label);
  }

  void string(const std::string& s, std::string_view label) {
    // One bounds check for length, bytes and NUL.
    std::size_t pad = (4 - (out_.size() - origin_) % 4) % 4;
    std::size_t begin = out_.size();
    std::byte* p = out_.extend(pad + 4 + s.size() + 1);
    std::memset(p, 0, pad);
    std::uint32_t n = static_cast<std::uint32_t>(s.size() + 1);
    if constexpr (Swap) n = byteswap(n);
    std::memcpy(p + pad, &n, 4);
    std::memcpy(p + pad + 4, s.data(), s.size());
    p[pad + 4 + s.size()] = std::byte{0};
    if constexpr (Out::annotating) {
      if (pad != 0) out_.note_range(begin, begin + pad, Part::padding, "");
      out_.note_range(begin + pad, begin + pad + 4, Part::length,
                      std::string(label) + " length (with NUL)");
      out_.note_range(begin + pad + 4, out_.size(), Part::value, label);
    }
  }

  template <class E>
  void elements(const E* data, std::size_t n, std::string_view label) {
    if constexpr (Scalar<E> && !std::is_enum_v<E> && !std::is_same_v<E, bool>) {
      if (n == 0) return;
      align(sizeof(E));
      std::size_t begin = out_.size();
      std::byte* p = out_.extend(n * sizeof(E));
      if constexpr (Swap && sizeof(E) > 1) {
        for (std::size_t k = 0; k < n; ++k) {
          E v = byteswap(data[k]);
          std::memcpy(p + k * sizeof(E), &v, sizeof(E));
        }
      } else {
        std::memcpy(p, data, n * sizeof(E));
      }
      out_.note(begin, Part::value, label);
    } else {
      for (std::size_t k = 0; k < n; ++k)
        value(data[k], label);
    }
  }

  Out& out_;
  std::size_t origin_;
};

template <bool Swap>
class Decoder {
 public:
  Decoder(std::span<const std::byte> bytes, const Limits& limits, std::size_t origin = 0)
      : st_(bytes, limits), origin_(origin) {}

  DecodeState& state() { return st_; }

  template <class T>
  bool value(T& v, std::string_view label) {
    static_assert(is_wire_type<T>(), "cdr: this type cannot be marshalled");
    if constexpr (std::is_same_v<T, bool>) {
      if (!align(1) || !st_.need(1, label)) return false;
      unsigned char c = st_.in.next();
      if (c > 1)
        return st_.fail_at(st_.in.offset() - 1, "bool " + std::string(label) + " is " +
                                                    std::to_string(c) + ", not 0 or 1");
      v = c != 0;
      return true;
    } else if constexpr (Scalar<T>) {
      wire_scalar_t<T> w;
      if (!scalar(w, label)) return false;
      if constexpr (std::is_enum_v<T> && std::is_signed_v<carried_t<T>>) {
        // Written as the value's low 32 bits: a negative value of a 64-bit enum
        // sign-extends back (Fast-CDR's generated code writes (uint32_t)value).
        v = static_cast<T>(static_cast<std::int32_t>(w));
      } else {
        v = static_cast<T>(w);
      }
      return true;
    } else if constexpr (String<T>) {
      return string(v, label);
    } else if constexpr (Blob<T>) {
      std::uint32_t n;
      if (!scalar(n, label) || !st_.check_length(n, label, st_.in.offset() - 4) ||
          !st_.charge(n, 1, label, st_.in.offset() - 4))
        return false;
      v.resize(n);
      st_.in.copy(v.data(), n);
      return true;
    } else if constexpr (Vector<T>) {
      std::uint32_t n;
      if (!scalar(n, label)) return false;
      using E = typename T::value_type;
      const std::size_t at = st_.in.offset() - 4;
      if (!st_.check_count(n, std::max<std::size_t>(1, min_size<E>()), label, at) ||
          !st_.charge(n, sizeof(E), label, at))
        return false;
      v.resize(n);
      return elements(v.data(), n, label);
    } else if constexpr (Array<T>) {
      return elements(v.data(), v.size(), label);
    } else if constexpr (Optional<T>) {
      bool present;
      if (!value(present, label)) return false;
      if (!present) {
        v.reset();
        return true;
      }
      if (!v) v.emplace();
      return value(*v, label);
    } else if constexpr (Map<T>) {
      std::uint32_t n;
      if (!scalar(n, label)) return false;
      constexpr std::size_t pair_size =
          min_size<typename T::key_type>() + min_size<typename T::mapped_type>();
      if (!st_.check_count(n, std::max<std::size_t>(1, pair_size), label, st_.in.offset() - 4) ||
          !st_.charge(n, sizeof(typename T::value_type) + kMapNodeOverhead, label,
                      st_.in.offset() - 4))
        return false;
      v.clear();
      for (std::uint32_t k = 0; k < n; ++k) {
        typename T::key_type key{};
        std::size_t at = st_.in.offset();
        if (!value(key, label)) return false;
        auto [it, inserted] = v.try_emplace(std::move(key));
        if (!inserted) return st_.fail_at(at, "duplicate key in map " + std::string(label));
        if (!value(it->second, label)) return false;
      }
      return true;
    } else {
      if (!st_.enter()) return false;
      bool ok = all_fields<T>([&](auto i) {
        constexpr auto f = field_of<T, decltype(i)::value>;
        return value(f.get(v), f.name);
      });
      st_.leave();
      return ok;
    }
  }

  // Checks nothing is left after the value (up to `padding` trailing bytes allowed).
  bool finish(std::size_t padding = 0) {
    if (st_.in.left() > padding)
      return st_.fail(std::to_string(st_.in.left()) + " bytes left over after the value");
    return true;
  }

 private:
  bool align(std::size_t n) {
    std::size_t pad = (n - (st_.in.offset() - origin_) % n) % n;
    if (pad == 0) return true;
    if (!st_.need(pad, "alignment padding")) return false;
    st_.in.skip(pad);
    return true;
  }

  template <class W>
  bool scalar(W& w, std::string_view label) {
    if (!align(sizeof(W)) || !st_.need(sizeof(W), label)) return false;
    st_.in.copy(&w, sizeof(W));
    if constexpr (Swap) w = byteswap(w);
    return true;
  }

  bool string(std::string& s, std::string_view label) {
    std::uint32_t n;
    if (!scalar(n, label)) return false;
    if (n == 0) {  // not valid CDR, but written by some ORBs for an empty string
      s.clear();
      return true;
    }
    if (!st_.check_length(n, label, st_.in.offset() - 4) ||
        !st_.charge(n, 1, label, st_.in.offset() - 4))
      return false;
    const char* p = reinterpret_cast<const char*>(st_.in.pos());
    if (p[n - 1] != '\0')
      return st_.fail_at(st_.in.offset() + n - 1,
                         "string " + std::string(label) + " does not end with NUL");
    s.assign(p, n - 1);
    st_.in.skip(n);
    return true;
  }

  template <class E>
  bool elements(E* data, std::size_t n, std::string_view label) {
    if constexpr (Scalar<E> && !std::is_enum_v<E> && !std::is_same_v<E, bool>) {
      if (n == 0) return true;
      if (!align(sizeof(E)) || !st_.need(n * sizeof(E), label)) return false;
      st_.in.copy(data, n * sizeof(E));
      if constexpr (Swap && sizeof(E) > 1)
        for (std::size_t k = 0; k < n; ++k)
          data[k] = byteswap(data[k]);
      return true;
    } else {
      for (std::size_t k = 0; k < n; ++k)
        if (!value(data[k], label)) return false;
      return true;
    }
  }

  DecodeState st_;
  std::size_t origin_;
};

}  // namespace detail

// Appends v in plain CDR to `out`, in byte order `order`, aligned relative to where it
// starts. Never fails (allocation failure throws std::bad_alloc).
template <Described T, class Out>
void encode(const T& v, Out& out, Endian order = native_endian) {
  if (order == native_endian) {
    detail::Encoder<Out, false>(out).value(v, description_of<T>.name);
  } else {
    detail::Encoder<Out, true>(out).value(v, description_of<T>.name);
  }
}

// Reads v from `bytes`, plain CDR in byte order `order`; the whole input must be the
// value. On error v holds what was read so far.
template <Described T>
Result<void> decode(std::span<const std::byte> bytes, T& v, Endian order = native_endian,
                    const Limits& limits = {}) {
  auto run = [&](auto& d) -> Result<void> {
    if (!d.state().check_size() || !d.value(v, description_of<T>.name) || !d.finish())
      return d.state().error.to_error("cdr");
    return ok();
  };
  if (order == native_endian) {
    detail::Decoder<false> d(bytes, limits);
    return run(d);
  }
  detail::Decoder<true> d(bytes, limits);
  return run(d);
}

template <Described T>
Result<T> decode(std::span<const std::byte> bytes, Endian order = native_endian,
                 const Limits& limits = {}) {
  T v{};
  if (auto r = decode(bytes, v, order, limits); !r) return std::move(r).error();
  return v;
}

// Appends a 4-byte encapsulation header (byte-order flag) and then v in CDR.
template <Described T, class Out>
void encode_encapsulated(const T& v, Out& out, Endian order = native_endian) {
  std::size_t begin = out.size();
  std::byte* h = out.extend(4);
  h[0] = std::byte{0};
  h[1] = std::byte{static_cast<unsigned char>(order)};
  h[2] = std::byte{0};
  h[3] = std::byte{0};
  out.note(begin, Part::header,
           order == Endian::little ? "encapsulation: CDR little-endian"
                                   : "encapsulation: CDR big-endian");
  encode(v, out, order);
}

// Reads an encapsulation: the header says the byte order, and the decoder swaps only
// when that order is not this machine's.
template <Described T>
Result<void> decode_encapsulated(std::span<const std::byte> bytes, T& v,
                                 const Limits& limits = {}) {
  if (bytes.size() < 4)
    return DecodeError{
        0, ErrorKind::malformed,
        "truncated: encapsulation header needs 4 bytes, " + std::to_string(bytes.size()) + " left"}
        .to_error("cdr");
  auto kind = static_cast<unsigned>(bytes[1]);
  if (bytes[0] != std::byte{0} || kind > 1)
    return DecodeError{0, ErrorKind::malformed,
                       "encapsulation kind " + std::to_string(static_cast<unsigned>(bytes[0])) +
                           "," + std::to_string(kind) +
                           " is not plain CDR (00 00 big-endian or 00 01 little-endian)"}
        .to_error("cdr");
  std::size_t padding = static_cast<unsigned>(bytes[3]) & 3u;
  auto run = [&](auto& d) -> Result<void> {
    d.state().in.skip(4);
    if (!d.state().check_size() || !d.value(v, description_of<T>.name) || !d.finish(padding))
      return d.state().error.to_error("cdr");
    return ok();
  };
  if (static_cast<Endian>(kind) == native_endian) {
    detail::Decoder<false> d(bytes, limits, 4);
    return run(d);
  }
  detail::Decoder<true> d(bytes, limits, 4);
  return run(d);
}

template <Described T>
Result<T> decode_encapsulated(std::span<const std::byte> bytes, const Limits& limits = {}) {
  T v{};
  if (auto r = decode_encapsulated(bytes, v, limits); !r) return std::move(r).error();
  return v;
}

}  // namespace nexo::wire::cdr
