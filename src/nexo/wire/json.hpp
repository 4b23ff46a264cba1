// JSON (RFC 8259): a described type as a JSON object, written and read by nexo.
//
// The text, by value kind (compact by default; WriteOptions::pretty indents by 2):
//
//   described type    an object, its fields in declaration order, keyed by field name:
//                     {"name":"Smith","place":"London","year":1984}
//   bool              true / false
//   integers, enums   a JSON number, exact in all 64 bits (an enum is its integer);
//                     read: also a string holding the number ("-12"), as protobuf writes
//                     64-bit integers, and an enum's name where it has names
//   float, double     the shortest text that reads back to the same bits (std::to_chars):
//                     0.1, -0, 1e+300, 5e-324; a float is shortest as a float
//   NaN, infinities   JSON has no such numbers. Policy (the protobuf JSON mapping's):
//                     the strings "NaN", "Infinity" and "-Infinity", written and read;
//                     a NaN's sign and payload are not kept
//   std::string       a JSON string. Written: '"', '\' and the control characters
//                     escaped (\b \f \n \r \t, else \u00XX), every other byte as is; a
//                     byte that does not begin well-formed UTF-8 is written as U+FFFD
//                     (the replacement character), so the output is always valid JSON.
//                     Read: every RFC escape, surrogate pairs joined; a lone surrogate,
//                     an unescaped control character and invalid UTF-8 are errors
//   Bytes             a string of base64, standard alphabet, padded ("AAH+/w=="); read
//                     strictly: padding required, no whitespace, unused bits zero
//   vector, array     a JSON array; a std::array<T, N> reads exactly N elements
//   optional          the value, or the key left out when empty; reads null or absence
//                     as empty
//   map               an object; integer keys as decimal strings ({"-2":"minus two"})
//
// Reading (decode):
//   - keys may come in any order; an unknown key is skipped with its value (any JSON,
//     checked as strictly as the rest, nested no deeper than max_depth);
//   - a missing key gives the field its default (its value in a T{});
//   - a key given twice in one object is an error (also in maps);
//   - integer fields: the number's exact value must be an integer in the field's range,
//     decided on the text (never through a double): 1e3, 2.50e1 and
//     1.8446744073709551615e19 (2^64-1) are accepted; 1.5, 1e-1 and 2^64 are errors;
//   - float/double fields: correctly rounded (std::from_chars); a finite number beyond
//     the type's range is an error, one below its smallest subnormal reads as 0;
//   - null is accepted only for an optional; no other type conversions;
//   - whitespace (space, tab, CR, LF) wherever the RFC allows it; anything but
//     whitespace after the value is an error.
// Every error names the byte offset and the field: "json: at byte 38: year: 1.5 is not
// an integer". A broken Limits bound names the bound (kind too_large).
#pragma once

#include <array>
#include <bitset>
#include <charconv>
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
#include "nexo/wire/json_reader.hpp"
#include "nexo/wire/json_writer.hpp"

namespace nexo::wire::json {

// Which JSON form of a value: nexo's (above), or protobuf's canonical proto3 JSON mapping
// (what libprotobuf's MessageToJsonString writes and JsonStringToMessage reads), where
// the type is read as the message testdata/examples.proto shows for it:
//   keys      the field's JSON name, lowerCamelCase ("maybe_wide" -> "maybeWide"); read:
//             that or the field's own name
//   defaults  a field without presence that holds its default (0, false, "", empty
//             sequence or map) is left out; an optional is written when it holds a value,
//             even a zero; a nested described type is always written
//   integers  64-bit ones (int64, uint64, sint64, fixed64, sfixed64) as decimal strings
//             ("-9223372036854775807"), the others as numbers; read: either
//   float     as libprotobuf prints them: printf %.15g, or %.17g when that does not read
//             back (%.6g / %.9g for a float), so 0.1 and 3.14159274; NaN and infinities
//             as "NaN", "Infinity", "-Infinity"; read: a number or a string of one
//   enums     by name when the enum has names (describe.hpp), else the number; read:
//             either
//   bytes     standard base64, padded; read: standard or URL-safe, padding optional
//   maps      an object, keys as strings (integer keys in decimal)
//   null      read as the field's default, for any field
// Both mappings read a 64-bit (or any) integer written as a JSON string, as protobuf and
// JavaScript write them.
enum class Mapping : std::uint8_t { nexo, proto3 };

// How encode() lays the text out.
struct WriteOptions {
  bool pretty = false;  // newlines and an indent of 2 (for people); compact when false
  Mapping mapping = Mapping::nexo;
};

// Appends v as JSON text to `out` (compact unless options.pretty). Never fails
// (allocation failure throws std::bad_alloc). Strings are written as they are: they
// must hold UTF-8 for the text to be valid JSON.
template <Described T, class Out>
void encode(const T& v, Out& out, WriteOptions options = {}) {
  constexpr std::string_view name = description_of<T>.name;
  if (options.mapping == Mapping::proto3) {
    if (options.pretty) {
      detail::Encoder<Out, true, true>(out).value(v, name);
    } else {
      detail::Encoder<Out, false, true>(out).value(v, name);
    }
  } else if (options.pretty) {
    detail::Encoder<Out, true>(out).value(v, name);
  } else {
    detail::Encoder<Out, false>(out).value(v, name);
  }
}

// Reads v from JSON text; the whole input must be one object (whitespace around it
// allowed). Fields whose keys are missing get their defaults. On error v holds what was
// read so far.
template <Described T>
Result<void> decode(std::span<const std::byte> bytes, T& v, const Limits& limits = {},
                    Mapping mapping = Mapping::nexo) {
  detail::Reader r(bytes, limits, mapping == Mapping::proto3);
  if (!r.state().check_size() || !detail::read(r, v, description_of<T>.name) || !r.trailing())
    return r.state().error.to_error("json");
  return ok();
}

template <Described T>
Result<T> decode(std::span<const std::byte> bytes, const Limits& limits = {},
                 Mapping mapping = Mapping::nexo) {
  T v{};
  if (auto r = decode(bytes, v, limits, mapping); !r) return std::move(r).error();
  return v;
}

// The same, from text.
template <Described T>
Result<void> decode(std::string_view text, T& v, const Limits& limits = {},
                    Mapping mapping = Mapping::nexo) {
  return decode(std::as_bytes(std::span<const char>(text.data(), text.size())), v, limits,
                mapping);
}
template <Described T>
Result<T> decode(std::string_view text, const Limits& limits = {},
                 Mapping mapping = Mapping::nexo) {
  return decode<T>(std::as_bytes(std::span<const char>(text.data(), text.size())), limits,
                   mapping);
}

}  // namespace nexo::wire::json