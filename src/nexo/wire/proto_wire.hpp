// The protobuf wire format, the parts its encoder and decoder share: how each scalar
// travels (ScalarWire), which fields protobuf can carry, the field-number order, varints.
// See proto.hpp for the layout.
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

#include "nexo/wire/describe.hpp"

namespace nexo::wire::proto::detail {

// Wire types.
enum WireType : unsigned { varint = 0, i64 = 1, len = 2, sgroup = 3, egroup = 4, i32 = 5 };

inline constexpr std::uint32_t kMaxFieldNumber = (1u << 29) - 1;

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

}  // namespace nexo::wire::proto::detail
