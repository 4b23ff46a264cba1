// The formats of wire/ by name, for the tool and the tour: one place maps
// "cdr", "cdr-be", "proto", "json", "xml", "java", "bencode" to the codecs.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/wire/bencode.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/cdr.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/java.hpp"
#include "nexo/wire/json.hpp"
#include "nexo/wire/proto.hpp"
#include "nexo/wire/xml.hpp"

namespace nexo::tool {

// The names `--format` accepts, in the order the tour shows them.
inline const std::vector<std::string>& known_formats() {
  static const std::vector<std::string> names = {"cdr", "cdr-be", "proto",  "json",
                                                 "xml", "java",   "bencode"};
  return names;
}

// What a format is, in a few words (for --help and the tour).
inline std::string_view wire_format_title(std::string_view format) {
  if (format == "cdr") return "CORBA CDR, little-endian, in an encapsulation (byte-order flag)";
  if (format == "cdr-be") return "CORBA CDR, big-endian, in an encapsulation (byte-order flag)";
  if (format == "proto") return "Protocol Buffers wire format (proto3), field numbers as tags";
  if (format == "java") return "Java object serialization (java.io stream protocol)";
  if (format == "json") return "JSON (RFC 8259), UTF-8 text";
  if (format == "xml") return "XML 1.0, an element per field, UTF-8 text";
  if (format == "bencode") return "BitTorrent encoding (BEP 3), canonical form only";
  return "";
}

// Whether a format is text (printed as such by nexo marshal, beside the dump).
inline bool wire_format_is_text(std::string_view format) {
  return format == "json" || format == "xml";
}

inline Error unknown_format(std::string_view format) {
  std::string known;
  for (const auto& n : known_formats())
    known += (known.empty() ? "" : ", ") + n;
  return Error(ErrorKind::invalid_argument,
               "unknown format '" + std::string(format) + "' (known: " + known + ")");
}

inline Error java_cannot(std::string_view type) {
  return Error(ErrorKind::invalid_argument,
               "java: type '" + std::string(type) +
                   "' has a field Java serialization does not carry (a map, or an optional "
                   "primitive)");
}

inline Error bencode_cannot(std::string_view type) {
  return Error(ErrorKind::invalid_argument,
               "bencode: type '" + std::string(type) +
                   "' has a field bencode does not carry (a float or double)");
}

// Encodes v in `format`, appending to out (a Buffer or an AnnotatedBuffer).
template <class T, class Out>
Result<void> encode_as(std::string_view format, const T& v, Out& out, bool pretty = false) {
  if (format == "cdr") {
    wire::cdr::encode_encapsulated(v, out, wire::cdr::Endian::little);
    return ok();
  }
  if (format == "cdr-be") {
    wire::cdr::encode_encapsulated(v, out, wire::cdr::Endian::big);
    return ok();
  }
  if (format == "proto") {
    wire::proto::encode(v, out);
    return ok();
  }
  if (format == "json") {
    wire::json::WriteOptions options;
    options.pretty = pretty;
    wire::json::encode(v, out, options);
    return ok();
  }
  if (format == "xml") {
    wire::xml::WriteOptions options;
    options.pretty = pretty;
    return wire::xml::encode(v, out, options);
  }
  if (format == "java") {
    if constexpr (wire::java::supports<T>()) {
      wire::java::encode(v, out);
      return ok();
    } else {
      return java_cannot(wire::description_of<T>.name);
    }
  }
  if (format == "bencode") {
    if constexpr (wire::bencode::supports<T>()) {
      wire::bencode::encode(v, out);
      return ok();
    } else {
      return bencode_cannot(wire::description_of<T>.name);
    }
  }
  return unknown_format(format);
}

// Decodes v from bytes in `format`. A CDR encapsulation carries its byte order, so
// "cdr" and "cdr-be" both read either order.
template <class T>
Result<void> decode_as(std::string_view format, std::span<const std::byte> bytes, T& v,
                       const wire::Limits& limits = {}) {
  if (format == "cdr" || format == "cdr-be")
    return wire::cdr::decode_encapsulated(bytes, v, limits);
  if (format == "proto") return wire::proto::decode(bytes, v, limits);
  if (format == "json") return wire::json::decode(bytes, v, limits);
  if (format == "java") {
    if constexpr (wire::java::supports<T>()) {
      return wire::java::decode(bytes, v, limits);
    } else {
      return java_cannot(wire::description_of<T>.name);
    }
  }
  if (format == "xml") return wire::xml::decode(bytes, v, wire::xml::ReadOptions{}, limits);
  if (format == "bencode") {
    if constexpr (wire::bencode::supports<T>()) {
      return wire::bencode::decode(bytes, v, limits);
    } else {
      return bencode_cannot(wire::description_of<T>.name);
    }
  }
  return unknown_format(format);
}

}  // namespace nexo::tool
