// XML 1.0: one element per field, in the style of
//   <person><name>Smith</name><place>London</place><year>1984</year></person>
//
// The mapping, by value kind (UTF-8 throughout; compact unless WriteOptions::pretty):
//
//   described type   the root: an element named by the description (`person`); a field:
//                    an element named by the field, holding one child element per field,
//                    in declaration order. A field with option `attribute` (a scalar, a
//                    string, or an optional of these) is an attribute of the type's element.
//   bool             true / false (read: also 1 / 0, as xs:boolean)
//   integers, enums  decimal (an enum is its underlying integer); read: optional sign
//   float, double    shortest round-trip text (std::to_chars), parsed back exactly
//                    (std::from_chars); NaN, INF and -INF as in xs:double (read: +INF too)
//   string           the text, escaped: & < > as &amp; &lt; &gt;, and a carriage return
//                    as &#13; (a reader turns a literal CR into LF). In an attribute,
//                    " & < are escaped and tab, LF, CR become &#9; &#10; &#13;.
//   Bytes            base64 (xs:base64Binary, with padding; read: whitespace allowed)
//   vector, array    one child element per item: <samples><item>1.5</item>...</samples>;
//                    an item of a described type is named by its description:
//                    <records><record>...</record>...</records>
//   optional         a field: the element when present, nothing when empty. An item or
//                    map value: the element, or <item nil="true"/> when empty.
//   map              <counts><entry key="apples">3</entry>...</counts>
//
// Scalars and strings are read with the whitespace of xs:* types: a number, bool or
// base64 value may be surrounded by whitespace; a string keeps its text exactly.
//
// Writing: a string must be valid UTF-8 made of XML 1.0 characters. A control
// character other than tab, LF and CR (or U+FFFE, U+FFFF) cannot appear in XML 1.0,
// not even as a reference, so encode() refuses it with an error naming the field.
// WriteOptions::namespace_uri puts xmlns="..." on the root; `declaration` writes
// <?xml version="1.0" encoding="UTF-8"?> first; `pretty` indents by two spaces.
//
// Reading (nexo's own reader, straight into the struct; no DOM):
//   accepts   a UTF-8 BOM, the XML declaration (encoding UTF-8 only), comments,
//             processing instructions, CDATA sections, whitespace between elements,
//             <x/>, the five predefined entities, decimal and hex character references
//             to XML characters, attributes in either quote, CR LF line ends.
//   refuses   any DOCTYPE (so no entity expansion, nothing fetched: the billion laughs
//             and XXE documents fail at their DOCTYPE), undefined entities, mismatched
//             or unclosed tags, invalid UTF-8, characters XML forbids, text where
//             elements are expected, wrong types, out-of-range numbers, nesting deeper
//             than Limits::max_depth, a root element with another name, a root in
//             another namespace than ReadOptions::namespace_uri (empty: no namespace),
//             and a field element given twice.
//   skips     unknown elements (checked for well-formedness, depth-limited) and unknown
//             attributes; child elements with a prefix other than the root's.
//   keeps     fields whose element is absent keep their value, except optionals,
//             which become empty (absent means empty).
// Namespaces: declared on the root only; a prefixed root (<p:person xmlns:p="...">)
// expects its children as p:name or unprefixed. Duplicate attributes are not detected
// unless they are attribute fields.
#pragma once

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/xml_reader.hpp"
#include "nexo/wire/xml_writer.hpp"

namespace nexo::wire::xml {

// WriteOptions (namespace_uri, pretty, declaration), what encode() takes, is declared in
// xml_writer.hpp beside the writer it configures.

// What decode() takes beside the limits.
struct ReadOptions {
  std::string_view namespace_uri;  // the root's namespace; empty: the root has none
};

// Appends v as an XML document to `out`. Fails (invalid_argument, `out` unchanged) when
// a string holds invalid UTF-8 or a character XML 1.0 cannot carry.
template <Described T, class Out>
Result<void> encode(const T& v, Out& out, const WriteOptions& options = {}) {
  static_assert(is_wire_type<T>(), "xml: this type cannot be marshalled");
  std::size_t begin = out.size();
  detail::Encoder<Out> e(out, options);
  e.root(v);
  if (!e.error().empty()) {
    out.truncate(begin);
    return Error(ErrorKind::invalid_argument, "xml: " + e.error());
  }
  return ok();
}

// Reads v from the XML document `bytes` (see the top of this file for what is accepted).
// On error v holds what was read so far.
template <Described T>
Result<void> decode(std::span<const std::byte> bytes, T& v, const ReadOptions& options = {},
                    const Limits& limits = {}) {
  static_assert(is_wire_type<T>(), "xml: this type cannot be marshalled");
  detail::Decoder d(bytes, limits);
  if (!d.root(v, options.namespace_uri)) return d.state().error.to_error("xml");
  return ok();
}

template <Described T>
Result<T> decode(std::span<const std::byte> bytes, const ReadOptions& options = {},
                 const Limits& limits = {}) {
  T v{};
  if (auto r = decode(bytes, v, options, limits); !r) return std::move(r).error();
  return v;
}

// The same, for text.
template <Described T>
Result<void> decode(std::string_view text, T& v, const ReadOptions& options = {},
                    const Limits& limits = {}) {
  return decode(std::as_bytes(std::span(text.data(), text.size())), v, options, limits);
}

template <Described T>
Result<T> decode(std::string_view text, const ReadOptions& options = {},
                 const Limits& limits = {}) {
  return decode<T>(std::as_bytes(std::span(text.data(), text.size())), options, limits);
}

}  // namespace nexo::wire::xml