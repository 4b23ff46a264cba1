// A human-readable view of any described value, for people (the CLI, the tour, test
// failure messages); it is not a wire format and there is no parser for it.
//
//   person {
//     name: "Smith"
//     place: "London"
//     year: 1984
//   }
//
// Strings are quoted with C escapes (non-ASCII UTF-8 is kept), byte buffers are hex,
// sequences of scalars are [a, b, c], nested values are indented blocks, an empty
// optional prints as (none), doubles in their shortest round-trip form.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>

#include "nexo/wire/describe.hpp"

namespace nexo::wire {

namespace detail {

inline void text_quote(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x",
                        static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

template <class T>
void text_scalar(std::string& out, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    out += std::to_string(static_cast<std::underlying_type_t<T>>(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) {
      out += "nan";
    } else if (std::isinf(v)) {
      out += v < 0 ? "-inf" : "inf";
    } else {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
      out.append(buf, end);
    }
  } else {
    out += std::to_string(+v);  // unary plus: int8_t prints as a number, not a character
  }
}

template <class T>
void text_value(std::string& out, const T& v, int depth) {
  auto indent = [&](int d) { out.append(static_cast<std::size_t>(d) * 2, ' '); };
  if constexpr (Scalar<T>) {
    text_scalar(out, v);
  } else if constexpr (String<T>) {
    text_quote(out, v);
  } else if constexpr (Blob<T>) {
    out += "0x";
    char buf[4];
    for (std::byte b : v) {
      std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(b));
      out += buf;
    }
    if (v.empty()) out += "(empty)";
  } else if constexpr (Vector<T> || Array<T>) {
    using E = typename T::value_type;
    if constexpr (Scalar<E> || String<E>) {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ", ";
        first = false;
        text_value(out, e, depth);
      }
      out += ']';
    } else {
      out += "[\n";
      for (const auto& e : v) {
        indent(depth + 1);
        text_value(out, e, depth + 1);
        out += '\n';
      }
      indent(depth);
      out += ']';
    }
  } else if constexpr (Optional<T>) {
    if (v) {
      text_value(out, *v, depth);
    } else {
      out += "(none)";
    }
  } else if constexpr (Map<T>) {
    out += "{\n";
    for (const auto& [key, mapped] : v) {
      indent(depth + 1);
      text_value(out, key, depth + 1);
      out += ": ";
      text_value(out, mapped, depth + 1);
      out += '\n';
    }
    indent(depth);
    out += '}';
  } else if constexpr (SharedPtr<T>) {
    if (v) {
      text_value(out, *v, depth);
    } else {
      out += "(null)";
    }
  } else if constexpr (WeakPtr<T>) {
    out += v.expired() ? "(null)" : "(reference)";
  } else {
    out += description_of<T>.name;
    out += " {\n";
    for_each_field<T>([&](auto i) {
      constexpr auto f = field_of<T, decltype(i)::value>;
      indent(depth + 1);
      out += f.name;
      out += ": ";
      text_value(out, f.get(v), depth + 1);
      out += '\n';
    });
    indent(depth);
    out += '}';
  }
}

}  // namespace detail

// The value as indented text (see the top of this file).
template <class T>
std::string to_text(const T& value) {
  std::string out;
  detail::text_value(out, value, 0);
  out += '\n';
  return out;
}

}  // namespace nexo::wire
