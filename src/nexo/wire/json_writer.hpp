// The JSON writer (see json.hpp for the text it writes): one pass over the value,
// compact or pretty, keys as compile-time constants.
#pragma once

#include <array>
#include <charconv>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/shortest.hpp"

namespace nexo::wire::json::detail {

// Appends s as a JSON string (quotes included), escaping what RFC 8259 requires.
void write_string(Buffer& out, std::string_view s);
// Appends bytes as a base64 JSON string (standard alphabet, padded).
void write_base64(Buffer& out, const std::byte* data, std::size_t n);

// True when a field name can be matched byte for byte (no quote, backslash or control
// character): the decoder compares keys in place.
constexpr bool plain_name(std::string_view name) {
  for (char c : name)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

// ,"name":  as one constant per field, written with one copy.
template <class T, std::size_t I>
struct KeyText {
  static constexpr std::string_view name = field_of<T, I>.name;
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

template <class Out, bool Pretty>
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
      integer(static_cast<carried_t<T>>(v), label);
    } else if constexpr (Integer<T>) {
      integer(v, label);
    } else if constexpr (std::is_floating_point_v<T>) {
      real(v, label);
    } else if constexpr (String<T>) {
      std::size_t begin = out_.size();
      write_string(out_, v);
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
      char* e = format_shortest(v, p);
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
        write_string(out_, key);
      } else {
        char text[24];
        char* e = std::to_chars(text, text + sizeof text, key).ptr;
        write_string(out_, std::string_view(text, static_cast<std::size_t>(e - text)));
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
    using K = KeyText<T, I>;
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
      }
      if constexpr (none_optional_before<T, I>()) {
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
