// The JSON writer (see json.hpp for the text it writes): one pass over the value,
// compact or pretty, keys as compile-time constants.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/shortest.hpp"

namespace nexo::wire::json::detail {

// Appends s as a JSON string (quotes included), escaping what RFC 8259 requires.
void write_string(Buffer& out, std::string_view s);
// The same, escaped as libprotobuf's JSON printer does (the proto3 mapping): also '<',
// '>', DEL and the C1 controls, and the invisible formatting characters JavaScript
// mishandles (U+00AD, U+200B..U+200F, U+2028..U+202E, U+FEFF, ...), as \uXXXX.
void write_string_proto3(Buffer& out, std::string_view s);
// The short escape of a byte ('"', '\\', \b \f \n \r \t), else 0.
char short_escape(unsigned char c);
// Appends bytes as a base64 JSON string (standard alphabet, padded).
void write_base64(Buffer& out, const std::byte* data, std::size_t n);
// Writes a finite v as libprotobuf's JSON printer does (printf "%.15g", or "%.17g" when
// that does not read back; "%.6g" / "%.9g" for a float) at p (room for 32); returns the end.
char* format_proto3(double v, char* p);
char* format_proto3(float v, char* p);

// The proto3 JSON name of a field (protoc's json_name): the name in lowerCamelCase, each
// '_' dropped and the letter after it upper-cased ("maybe_wide" -> "maybeWide").
constexpr std::size_t json_name_size(std::string_view name) {
  std::size_t n = 0;
  for (char c : name)
    n += c != '_';
  return n;
}
template <class T, std::size_t I>
struct JsonName {
  static constexpr std::string_view proto_name = field_of<T, I>.name;
  static constexpr auto chars = [] {
    std::array<char, json_name_size(proto_name)> a{};
    std::size_t k = 0;
    bool upper = false;
    for (char c : proto_name) {
      if (c == '_') {
        upper = true;
        continue;
      }
      a[k++] = upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      upper = false;
    }
    return a;
  }();
  static constexpr std::string_view name{chars.data(), chars.size()};
};

// True when a field name can be matched byte for byte (no quote, backslash or control
// character): the decoder compares keys in place.
constexpr bool plain_name(std::string_view name) {
  for (char c : name)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

// ,"name":  as one constant per field, written with one copy (the proto3 JSON name
// with Proto3).
template <class T, std::size_t I, bool Proto3 = false>
struct KeyText {
  static constexpr std::string_view name =
      Proto3 ? JsonName<T, I>::name : field_of<T, I>.name;
  static constexpr auto chars = [] {
    std::array<char, name.size() + 4> a{};
    a[0] = ',';
    a[1] = '"';
    for (std::size_t k = 0; k < name.size(); ++k)
      a[2 + k] = name[k];
    a[2 + name.size()] = '"';
    a[3 + name.size()] = ':';
    return a;
  }();
};

// True when none of the fields before the I-th may be left out (so whether a comma
// precedes field I is known at compile time).
template <class T, std::size_t I>
constexpr bool none_optional_before() {
  bool none = true;
  for_each_field<T>([&](auto i) {
    using M = typename decltype(field_of<T, decltype(i)::value>)::value_type;
    if (decltype(i)::value < I && Optional<M>) none = false;
  });
  return none;
}

// Whether a field without presence holds its default (the proto3 mapping leaves it out):
// zero (all bits: -0.0 is written), false, empty.
template <class M>
bool is_proto3_default(const M& m) {
  if constexpr (std::is_floating_point_v<M>) {
    std::conditional_t<sizeof(M) == 8, std::uint64_t, std::uint32_t> bits;
    std::memcpy(&bits, &m, sizeof bits);
    return bits == 0;
  } else if constexpr (Scalar<M>) {
    return m == M{};
  } else if constexpr (String<M> || Blob<M> || Vector<M> || Map<M>) {
    return m.empty();
  } else {
    return false;  // std::array (written whole), nested messages (always present)
  }
}

// Proto3: protobuf's canonical JSON mapping (see json.hpp).
template <class Out, bool Pretty, bool Proto3 = false>
class Encoder {
 public:
  explicit Encoder(Out& out) : out_(out) {}

  template <class T>
  void value(const T& v, std::string_view label) {
    static_assert(is_wire_type<T>(), "json: this type cannot be marshalled");
    if constexpr (std::is_same_v<T, bool>) {
      std::size_t begin = out_.size();
      if (v) {
        out_.append("true", 4);
      } else {
        out_.append("false", 5);
      }
      out_.note(begin, Part::value, label);
    } else if constexpr (Enum<T>) {
      if constexpr (Proto3 && NamedEnum<T>) {
        std::string_view name = enum_name(v);
        if (!name.empty()) {
          std::size_t begin = out_.size();
          write_string(out_, name);
          out_.note(begin, Part::value, label);
          return;
        }
      }
      integer(static_cast<carried_t<T>>(v), label);
    } else if constexpr (Integer<T>) {
      if constexpr (Proto3 && sizeof(T) == 8) {  // int64, uint64: a string (JavaScript)
        std::size_t begin = out_.size();
        char* p = reinterpret_cast<char*>(out_.room(24));
        p[0] = '"';
        char* e = std::to_chars(p + 1, p + 23, v).ptr;
        *e++ = '"';
        out_.commit(static_cast<std::size_t>(e - p));
        out_.note(begin, Part::value, label);
      } else {
        integer(v, label);
      }
    } else if constexpr (std::is_floating_point_v<T>) {
      real(v, label);
    } else if constexpr (String<T>) {
      std::size_t begin = out_.size();
      text(v);
      out_.note(begin, Part::value, label);
    } else if constexpr (Blob<T>) {
      std::size_t begin = out_.size();
      write_base64(out_, v.data(), v.size());
      out_.note(begin, Part::value, label);
    } else if constexpr (Vector<T> || Array<T>) {
      sequence(v, label);
    } else if constexpr (Optional<T>) {
      if (v) value(*v, label);  // an empty optional is left out by object()
    } else if constexpr (Map<T>) {
      map(v, label);
    } else {
      static_assert(Described<T>, "json: shared_ptr/weak_ptr fields are Java-only");
      object(v, label);
    }
  }

 private:
  void text(std::string_view s) {
    if constexpr (Proto3) {
      write_string_proto3(out_, s);
    } else {
      write_string(out_, s);
    }
  }
  void punct(char c) {
    std::size_t begin = out_.size();
    out_.push_back(c);
    out_.note(begin, Part::structure);
  }
  // Pretty: a newline and the indent of the current depth.
  void newline() {
    if constexpr (Pretty) {
      std::byte* p = out_.extend(1 + 2 * depth_);
      p[0] = std::byte{'\n'};
      std::memset(p + 1, ' ', 2 * depth_);
    }
  }
  void open(char c, std::string_view label) {
    punct(c);
    out_.enter(label);
    ++depth_;
  }
  void close(char c, bool empty) {
    --depth_;
    out_.leave();
    if (!empty) newline();
    punct(c);
  }

  template <class I>
  void integer(I v, std::string_view label) {
    std::size_t begin = out_.size();
    char* p = reinterpret_cast<char*>(out_.room(24));
    char* e = std::to_chars(p, p + 24, v).ptr;
    out_.commit(static_cast<std::size_t>(e - p));
    out_.note(begin, Part::value, label);
  }

  template <class F>
  void real(F v, std::string_view label) {
    std::size_t begin = out_.size();
    if (v == v && v - v == 0) [[likely]] {
      char* p = reinterpret_cast<char*>(out_.room(32));
      char* e = Proto3 ? format_proto3(v, p) : format_shortest(v, p);
      out_.commit(static_cast<std::size_t>(e - p));
    } else if (v != v) {
      out_.append("\"NaN\"", 5);
    } else if (v > 0) {
      out_.append("\"Infinity\"", 10);
    } else {
      out_.append("\"-Infinity\"", 11);
    }
    out_.note(begin, Part::value, label);
  }

  template <class S>
  void sequence(const S& v, std::string_view label) {
    open('[', label);
    bool first = true;
    for (const auto& e : v) {
      if (!first) punct(',');
      first = false;
      newline();
      if constexpr (std::is_same_v<typename S::value_type, bool>) {
        value(static_cast<bool>(e), label);
      } else {
        value(e, label);
      }
    }
    close(']', first);
  }

  template <class M>
  void map(const M& v, std::string_view label) {
    open('{', label);
    bool first = true;
    for (const auto& [key, mapped] : v) {
      if (!first) punct(',');
      first = false;
      newline();
      std::size_t begin = out_.size();
      if constexpr (String<typename M::key_type>) {
        text(key);
      } else {
        char digits[24];
        char* e = std::to_chars(digits, digits + sizeof digits, key).ptr;
        write_string(out_, std::string_view(digits, static_cast<std::size_t>(e - digits)));
      }
      out_.note(begin, Part::tag, label);
      colon();
      value(mapped, label);
    }
    close('}', first);
  }

  void colon() {
    std::size_t begin = out_.size();
    if constexpr (Pretty) {
      out_.append(": ", 2);
    } else {
      out_.push_back(':');
    }
    out_.note(begin, Part::structure);
  }

  // Writes the key of field I of T, preceded by a comma when `comma`.
  template <class T, std::size_t I>
  void key(bool comma) {
    using K = KeyText<T, I, Proto3>;
    if constexpr (Pretty || Out::annotating) {
      if (comma) punct(',');
      newline();
      std::size_t begin = out_.size();
      out_.append(K::chars.data() + 1, K::name.size() + 2);
      out_.note(begin, Part::tag, K::name);
      colon();
    } else {
      std::size_t skip = comma ? 0 : 1;
      out_.append(K::chars.data() + skip, K::chars.size() - skip);
    }
  }

  template <class T>
  void object(const T& v, std::string_view label) {
    open('{', label);
    bool first = true;
    for_each_field<T>([&](auto i) {
      constexpr std::size_t I = decltype(i)::value;
      constexpr auto f = field_of<T, I>;
      static_assert(plain_name(f.name), "json: a field name may not need escaping");
      using M = typename decltype(f)::value_type;
      const M& m = f.get(v);
      if constexpr (Optional<M>) {
        if (!m) return;
      } else if constexpr (Proto3) {
        if (is_proto3_default(m)) return;
      }
      if constexpr (!Proto3 && none_optional_before<T, I>()) {
        key<T, I>(I != 0);
      } else {
        key<T, I>(!first);
      }
      first = false;
      value(m, f.name);
    });
    close('}', first);
  }

  Out& out_;
  std::size_t depth_ = 0;
};

}  // namespace nexo::wire::json::detail
