// The XML writer (see xml.hpp for the mapping): one pass over the value, text escaped
// and checked on the way out, compact or pretty.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/describe.hpp"

namespace nexo::wire::xml {

// How encode() writes the document (part of the public API of xml.hpp).
struct WriteOptions {
  std::string_view namespace_uri;  // non-empty: xmlns="..." on the root element
  bool pretty = false;             // indent nested elements by two spaces, one per line
  bool declaration = false;        // start with <?xml version="1.0" encoding="UTF-8"?>
};

namespace detail {

// Writes s escaped into `to` (room for 6 * s.size() bytes); returns the bytes written,
// or sets `bad` to the offset of a byte that cannot be written and returns 0.
std::size_t escape(std::string_view s, char* to, bool attribute, std::size_t& bad) noexcept;
// Why the byte at s[bad] cannot be written: "character U+0001 is not allowed in XML 1.0".
std::string unwritable(std::string_view s, std::size_t bad);

std::size_t base64_encode(const std::byte* data, std::size_t n, char* to) noexcept;

// Writes a double or float in shortest round-trip form (NaN, INF, -INF); <= 32 bytes.
std::size_t format_real(double v, char* to) noexcept;
std::size_t format_real(float v, char* to) noexcept;

// The name of the element that holds one item of a sequence of T.
template <class T>
constexpr std::string_view item_name() {
  if constexpr (Optional<T>) {
    return item_name<typename T::value_type>();
  } else if constexpr (Described<T>) {
    return description_of<T>.name;
  } else {
    return "item";
  }
}

template <class T>
constexpr bool is_text_kind = Scalar<T> || String<T> || Blob<T>;

template <class T>
constexpr bool attribute_ok = Scalar<T> || String<T>;
template <class T>
requires Optional<T>
constexpr bool attribute_ok<T> = Scalar<typename T::value_type> || String<typename T::value_type>;

struct NoExtra {
  template <class Out>
  void operator()(Out&) const {}
};

template <class Out>
class Encoder {
 public:
  Encoder(Out& out, const WriteOptions& options) : out_(out), options_(options) {}

  const std::string& error() const { return error_; }

  template <class T>
  void root(const T& v) {
    if (options_.declaration) {
      std::size_t begin = out_.size();
      out_.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
      if (options_.pretty) out_.push_back('\n');
      out_.note(begin, Part::header, "XML declaration");
    }
    std::string_view name = description_of<T>.name;
    if (options_.namespace_uri.empty()) {
      element(name, v, NoExtra{});
    } else {
      element(name, v, [&](Out& o) {
        o.append(" xmlns=\"");
        attribute_text(options_.namespace_uri, "xmlns");
        o.push_back('"');
      });
    }
    if (options_.pretty) out_.push_back('\n');
  }

 private:
  template <class V, class Extra>
  void element(std::string_view name, const V& v, Extra&& extra) {
    if constexpr (Optional<V>) {
      if (v) return element(name, *v, extra);
      std::size_t begin = out_.size();
      indent();
      out_.push_back('<');
      out_.append(name);
      extra(out_);
      out_.append(" nil=\"true\"/>");
      out_.note(begin, Part::tag, name);
    } else if constexpr (is_text_kind<V> && std::is_same_v<std::decay_t<Extra>, NoExtra> &&
                         !Out::annotating) {
      indent();
      text_element(name, v);
    } else {
      std::size_t begin = out_.size();
      indent();
      out_.push_back('<');
      out_.append(name);
      if constexpr (Described<V>) attribute_fields(v);
      extra(out_);
      out_.push_back('>');
      out_.note(begin, Part::tag, name);
      bool children = content(v, name);
      begin = out_.size();
      if (children && options_.pretty) newline(depth_);
      out_.append("</");
      out_.append(name);
      out_.push_back('>');
      out_.note(begin, Part::tag, name);
    }
  }

  // <name>text</name> in one reservation (the hot path for numbers).
  template <class V>
  void text_element(std::string_view name, const V& v) {
    if constexpr (String<V>) {
      char* p = reinterpret_cast<char*>(out_.room(2 * name.size() + 5 + 6 * v.size()));
      char* q = open_tag(p, name);
      std::size_t bad = 0;
      std::size_t n = escape(v, q, false, bad);
      if (n == 0 && !v.empty()) refuse(name, v, bad);
      q = close_tag(q + n, name);
      out_.commit(static_cast<std::size_t>(q - p));
    } else if constexpr (Blob<V>) {
      char* p = reinterpret_cast<char*>(out_.room(2 * name.size() + 9 + 4 * (v.size() / 3)));
      char* q = open_tag(p, name);
      q += base64_encode(v.data(), v.size(), q);
      q = close_tag(q, name);
      out_.commit(static_cast<std::size_t>(q - p));
    } else {
      char* p = reinterpret_cast<char*>(out_.room(2 * name.size() + 5 + 32));
      char* q = close_tag(scalar(open_tag(p, name), v), name);
      out_.commit(static_cast<std::size_t>(q - p));
    }
  }

  static char* open_tag(char* p, std::string_view name) {
    *p++ = '<';
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = '>';
    return p;
  }
  static char* close_tag(char* p, std::string_view name) {
    *p++ = '<';
    *p++ = '/';
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = '>';
    return p;
  }

  // Writes a scalar's text at p (<= 32 bytes); returns the end.
  template <class V>
  static char* scalar(char* p, const V& v) {
    if constexpr (std::is_same_v<V, bool>) {
      std::memcpy(p, v ? "true" : "false", v ? 4 : 5);
      return p + (v ? 4 : 5);
    } else if constexpr (std::is_floating_point_v<V>) {
      return p + format_real(v, p);
    } else if constexpr (Enum<V>) {
      return std::to_chars(p, p + 32, static_cast<carried_t<V>>(v)).ptr;
    } else if constexpr (sizeof(V) == 1) {
      return std::to_chars(p, p + 32, static_cast<int>(v)).ptr;
    } else {
      return std::to_chars(p, p + 32, v).ptr;
    }
  }

  // The content of an element; returns whether it wrote child elements.
  template <class V>
  bool content(const V& v, std::string_view label) {
    if constexpr (is_text_kind<V>) {
      std::size_t begin = out_.size();
      if constexpr (String<V>) {
        text(v, label, false);
      } else if constexpr (Blob<V>) {
        char* p = reinterpret_cast<char*>(out_.room(4 + 4 * (v.size() / 3)));
        out_.commit(base64_encode(v.data(), v.size(), p));
      } else {
        char* p = reinterpret_cast<char*>(out_.room(32));
        out_.commit(static_cast<std::size_t>(scalar(p, v) - p));
      }
      out_.note(begin, Part::value, label);
      return false;
    } else if constexpr (Vector<V> || Array<V>) {
      ++depth_;
      for (const auto& item : v)
        element(item_name<typename V::value_type>(), item, NoExtra{});
      --depth_;
      return !v.empty();
    } else if constexpr (Map<V>) {
      ++depth_;
      for (const auto& pair : v) {
        const auto& key = pair.first;
        element("entry", pair.second, [&](Out& o) {
          o.append(" key=\"");
          if constexpr (String<typename V::key_type>) {
            attribute_text(key, "key");
          } else {
            char* p = reinterpret_cast<char*>(o.room(32));
            o.commit(static_cast<std::size_t>(scalar(p, key) - p));
          }
          o.push_back('"');
        });
      }
      --depth_;
      return !v.empty();
    } else {
      static_assert(Described<V>, "xml: shared_ptr/weak_ptr fields are Java-only");
      ++depth_;
      bool children = false;
      for_each_field<V>([&](auto i) {
        constexpr auto f = field_of<V, decltype(i)::value>;
        using M = typename decltype(f)::value_type;
        if constexpr (!f.has(FieldOption::attribute)) {
          if constexpr (Optional<M>) {
            if (!f.get(v)) return;
          }
          children = true;
          element(f.name, f.get(v), NoExtra{});
        }
      });
      --depth_;
      return children;
    }
  }

  template <class V>
  void attribute_fields(const V& v) {
    for_each_field<V>([&](auto i) {
      constexpr auto f = field_of<V, decltype(i)::value>;
      using M = typename decltype(f)::value_type;
      if constexpr (f.has(FieldOption::attribute)) {
        static_assert(attribute_ok<M>, "xml: an attribute field must be a scalar or a string");
        if constexpr (Optional<M>) {
          if (f.get(v)) attribute(f.name, *f.get(v));
        } else {
          attribute(f.name, f.get(v));
        }
      }
    });
  }

  template <class V>
  void attribute(std::string_view name, const V& v) {
    std::size_t begin = out_.size();
    out_.push_back(' ');
    out_.append(name);
    out_.append("=\"");
    out_.note(begin, Part::tag, name);
    begin = out_.size();
    if constexpr (String<V>) {
      attribute_text(v, name);
    } else {
      char* p = reinterpret_cast<char*>(out_.room(32));
      out_.commit(static_cast<std::size_t>(scalar(p, v) - p));
    }
    out_.note(begin, Part::value, name);
    out_.push_back('"');
  }

  void attribute_text(std::string_view s, std::string_view label) { text(s, label, true); }

  void text(std::string_view s, std::string_view label, bool in_attribute) {
    char* p = reinterpret_cast<char*>(out_.room(6 * s.size()));
    std::size_t bad = 0;
    std::size_t n = escape(s, p, in_attribute, bad);
    if (n == 0 && !s.empty()) refuse(label, s, bad);
    out_.commit(n);
  }

  void refuse(std::string_view label, std::string_view s, std::size_t bad) {
    if (error_.empty())
      error_ = "cannot write " + std::string(label) + ": byte " + std::to_string(bad) +
               " of the string: " + unwritable(s, bad);
  }

  void indent() {
    if (options_.pretty && depth_ > 0) newline(depth_);
  }
  void newline(int depth) {
    char* p = reinterpret_cast<char*>(out_.extend(1 + 2 * static_cast<std::size_t>(depth)));
    *p = '\n';
    std::memset(p + 1, ' ', 2 * static_cast<std::size_t>(depth));
  }

  Out& out_;
  const WriteOptions& options_;
  int depth_ = 0;
  std::string error_;
};

}  // namespace detail
}  // namespace nexo::wire::xml
