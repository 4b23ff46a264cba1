// The XML reader (see xml.hpp for what it accepts and refuses): the XML syntax on raw
// pointers (Reader, its slow paths in xml.cpp), and the Decoder that reads straight into
// the described type, no DOM.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/xml_writer.hpp"  // item_name, is_text_kind: the mapping both sides share

namespace nexo::wire::xml::detail {

// Byte classes, defined in xml.cpp. kText: 0 for a byte copied as is in text content
// (tab, LF, printable ASCII but < & > ), else 1. kAttr: the same in attribute values
// (special: " ' < & tab LF CR). kName: 1 name start, 2 name character.
extern const std::array<std::uint8_t, 256> kText;
extern const std::array<std::uint8_t, 256> kAttr;
extern const std::array<std::uint8_t, 256> kName;

// The length of the UTF-8 sequence at p (lead byte >= 0x80) if it encodes an XML 1.0
// character (not a surrogate, not U+FFFE/U+FFFF), else 0.
std::size_t xml_char_length(const unsigned char* p, const unsigned char* end) noexcept;

// Decodes base64 text (whitespace skipped); returns false with `bad` at the bad byte.
bool base64_decode(std::string_view text, ByteBuffer& out, std::size_t& bad);

// The non-template half of the decoder: the XML syntax, on raw pointers.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const Limits& limits) noexcept
      : st_(bytes, limits), begin_(st_.in.begin()), p_(begin_), end_(st_.in.end()) {}

  DecodeState& state() noexcept { return st_; }
  std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
  std::size_t offset(const unsigned char* at) const noexcept {
    return static_cast<std::size_t>(at - begin_);
  }

  bool fail_at(const unsigned char* at, std::string reason) {
    return st_.fail_at(static_cast<std::size_t>(at - begin_), std::move(reason));
  }
  bool fail(std::string reason) { return fail_at(p_, std::move(reason)); }
  // One nesting level deeper (checked against max_depth); pair with st_.leave().
  bool enter() {
    st_.in.seek(offset());
    return st_.enter();
  }
  bool fail_limit(std::string_view what, std::string_view name, std::size_t value) {
    st_.in.seek(offset());
    return st_.fail_limit(what, name, value);
  }

  // BOM, XML declaration, comments, PIs up to the root; consumes the root's '<'.
  bool prolog();
  // After the root: only comments, PIs and whitespace until the end.
  bool epilog();

  // Reads an element or attribute name at the cursor.
  bool name(std::string_view& out) {
    const unsigned char* start = p_;
    if (p_ == end_ || (kName[*p_] & 1) == 0) return bad_name();
    while (p_ != end_ && (kName[*p_] & 2) != 0) {
      if (*p_ >= 0x80) {
        std::size_t n = xml_char_length(p_, end_);
        if (n == 0) return bad_utf8(p_);
        p_ += n;
      } else {
        ++p_;
      }
    }
    out = {reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start)};
    return true;
  }

  // The attributes of a start tag whose name was just read, up to '>' or '/>'
  // (`empty`). fn(name, value) -> bool (false: an error was recorded); the value's
  // references are expanded and its whitespace normalized; it lives until the next call.
  template <class Fn>
  bool attributes(bool& empty, Fn&& fn) {
    for (;;) {
      const unsigned char* before = p_;
      while (p_ != end_ && is_space(*p_))
        ++p_;
      if (p_ == end_) return truncated("a start tag");
      if (*p_ == '>') {
        ++p_;
        empty = false;
        return true;
      }
      if (*p_ == '/') {
        if (p_ + 1 == end_) return truncated("a start tag");
        if (p_[1] != '>') return fail("expected '>' after '/' in a start tag");
        p_ += 2;
        empty = true;
        return true;
      }
      if (p_ == before) return fail("expected whitespace, '>' or '/>' in a start tag");
      std::string_view name, value;
      if (!attribute(name, value) || !fn(name, value)) return false;
    }
  }

  // In element content: skips whitespace, comments and PIs. Returns 1 at a child
  // element (its '<' consumed, at its name), 2 at an end tag (its '</' consumed),
  // 0 on error. Text there is an error: `parent` holds elements.
  int next(std::string_view parent) {
    for (;;) {
      while (p_ != end_ && is_space(*p_))
        ++p_;
      if (p_ + 1 >= end_) return unclosed(parent), 0;
      if (*p_ != '<') return text_in_elements(parent), 0;
      if (p_[1] == '/') {
        p_ += 2;
        return 2;
      }
      if (p_[1] != '!' && p_[1] != '?') {
        ++p_;
        return 1;
      }
      if (!markup(parent)) return 0;
    }
  }

  // After '</': the end tag of `qname`.
  bool end_tag(std::string_view qname) {
    if (static_cast<std::size_t>(end_ - p_) > qname.size() &&
        std::memcmp(p_, qname.data(), qname.size()) == 0 && p_[qname.size()] == '>') {
      p_ += qname.size() + 1;
      return true;
    }
    return end_tag_slow(qname);
  }

  // The text content of `qname` (start tag read, not empty) through its end tag.
  // Returns a view into the input when the text needs no expansion, else into `buf`.
  bool text(std::string& buf, std::string_view& out, std::string_view qname) {
    const unsigned char* start = p_;
    while (p_ != end_ && kText[*p_] == 0)
      ++p_;
    if (end_ - p_ >= 2 && p_[0] == '<' && p_[1] == '/') {
      out = {reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start)};
      p_ += 2;
      return end_tag(qname);
    }
    buf.assign(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
    if (!text_slow(&buf, qname)) return false;
    out = buf;
    return end_tag(qname);
  }

  // Skips the rest of an element whose start tag (named qname, not empty) was read.
  bool skip_content(std::string_view qname);
  // Skips an unknown element whose name was just read.
  bool skip_element(std::string_view qname);

  static bool is_space(unsigned char c) noexcept {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
  }

 protected:
  bool attribute(std::string_view& name, std::string_view& value);
  bool attribute_value_slow(const unsigned char* start, unsigned char quote,
                            std::string_view& value);
  // Text content up to a '<' that starts an end tag; appends to *buf when given.
  bool text_slow(std::string* buf, std::string_view qname);
  bool char_data(std::string* buf);
  bool text_char(std::string* buf);  // CR, UTF-8, else a forbidden character
  bool reference(std::string* buf);
  bool markup(std::string_view parent);  // <!-- -->, <?pi?>; refuses <!DOCTYPE and <![CDATA[
  bool comment();
  bool processing_instruction();
  bool cdata(std::string* buf);
  bool declaration();
  bool end_tag_slow(std::string_view qname);
  bool bad_name();
  bool bad_utf8(const unsigned char* at);
  bool truncated(std::string_view what);
  bool unclosed(std::string_view qname);
  bool text_in_elements(std::string_view parent);

  DecodeState st_;
  const unsigned char* begin_;
  const unsigned char* p_;
  const unsigned char* end_;
  std::string attr_buf_;
  std::string scratch_;
  std::vector<std::string_view> open_;  // skip_element's stack of open tags
};

// Parses a text value (element content or attribute value) into v.
template <class V>
bool parse_text(Reader& r, V& v, std::string_view text, std::string_view label, std::size_t offset);

bool parse_bool(std::string_view text, bool& v);
template <class V>
bool parse_int(std::string_view text, V& v) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty() || text[0] == '+') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc{} && end == text.data() + text.size();
}
bool parse_real(std::string_view text, double& v);
bool parse_real(std::string_view text, float& v);
std::string_view trim(std::string_view text) noexcept;
std::string bad_value(std::string_view label, std::string_view text, std::string_view type);

template <class V>
constexpr std::string_view type_name() {
  if constexpr (std::is_same_v<V, bool>)
    return "bool";
  else if constexpr (std::is_floating_point_v<V>)
    return sizeof(V) == 4 ? "float" : "double";
  else if constexpr (std::is_signed_v<V>)
    return sizeof(V) == 1 ? "int8" : sizeof(V) == 2 ? "int16" : sizeof(V) == 4 ? "int32" : "int64";
  else
    return sizeof(V) == 1   ? "uint8"
           : sizeof(V) == 2 ? "uint16"
           : sizeof(V) == 4 ? "uint32"
                            : "uint64";
}

template <class V>
bool parse_text(Reader& r, V& v, std::string_view text, std::string_view label,
                std::size_t offset) {
  auto& st = r.state();
  if constexpr (String<V>) {
    if (text.size() > st.limits.max_string) {
      st.in.seek(offset);
      return st.fail_limit(
          "string " + std::string(label) + " length " + std::to_string(text.size()), "max_string",
          st.limits.max_string);
    }
    if (!st.charge(text.size(), 1, label, offset)) return false;
    if (text.data() != v.data()) v.assign(text);
    return true;
  } else if constexpr (Blob<V>) {
    std::size_t bad = 0;
    if (!base64_decode(text, v, bad)) return st.fail_at(offset, bad_value(label, text, "base64"));
    if (v.size() > st.limits.max_string) {
      st.in.seek(offset);
      return st.fail_limit("bytes " + std::string(label) + " length " + std::to_string(v.size()),
                           "max_string", st.limits.max_string);
    }
    // Charged once decoded: fewer bytes than the text's, so no more than the input.
    return st.charge(v.size(), 1, label, offset);
  } else if constexpr (Enum<V>) {
    carried_t<V> n{};
    if (!parse_text(r, n, text, label, offset)) return false;
    v = static_cast<V>(n);
    return true;
  } else {
    std::string_view t = trim(text);
    bool ok;
    if constexpr (std::is_same_v<V, bool>) {
      ok = parse_bool(t, v);
    } else if constexpr (std::is_floating_point_v<V>) {
      ok = parse_real(t, v);
    } else {
      ok = parse_int(t, v);
    }
    if (!ok) return st.fail_at(offset, bad_value(label, text, type_name<V>()));
    return true;
  }
}

// Attribute hooks: who else wants the attributes of an element (beside its type).
struct NoHook {
  bool attr(Reader&, std::string_view, std::string_view) { return true; }
  bool done(Reader&) { return true; }
  bool skip() const { return false; }
};

// Catches nil="true" for an optional item or map value.
template <class Inner>
struct NilHook {
  Inner& inner;
  bool nil = false;
  bool attr(Reader& r, std::string_view name, std::string_view value) {
    if (name == "nil") {
      nil = trim(value) == "true" || trim(value) == "1";
      return true;
    }
    return inner.attr(r, name, value);
  }
  bool done(Reader& r) { return inner.done(r); }
  bool skip() const { return nil || inner.skip(); }
};

// Catches key="..." of a map entry.
struct KeyHook {
  std::string key;
  std::size_t offset = 0;
  bool found = false;
  bool attr(Reader& r, std::string_view name, std::string_view value) {
    if (name != "key") return true;
    key.assign(value);
    offset = r.offset();
    found = true;
    return true;
  }
  bool done(Reader&) { return true; }
  bool skip() const { return false; }
};

// The root's namespace declarations, checked against the one expected.
struct RootHook {
  std::string_view expected;
  std::string_view prefix;  // the root's prefix, "" when none
  std::string uri;
  bool declared = false;
  std::size_t offset = 0;
  bool attr(Reader&, std::string_view name, std::string_view value);
  bool done(Reader& r);
  bool skip() const { return false; }
};

class Decoder : public Reader {
 public:
  using Reader::Reader;

  template <Described T>
  bool root(T& v, std::string_view expected_ns) {
    if (!st_.check_size() || !prolog()) return false;
    const unsigned char* at = p_ - 1;
    std::string_view qname;
    if (!name(qname)) return false;
    std::string_view local = qname;
    if (auto colon = qname.find(':'); colon != std::string_view::npos) {
      prefix_ = qname.substr(0, colon);
      local = qname.substr(colon + 1);
    }
    if (local != description_of<T>.name)
      return fail_at(at, "root element is <" + std::string(qname) + ">, expected <" +
                             std::string(description_of<T>.name) + ">");
    RootHook hook{expected_ns, prefix_, {}, false, 0};
    return element(v, qname, description_of<T>.name, hook) && epilog();
  }

  // After an element's name: its attributes, content and end tag, into v.
  template <class V, class Hook>
  bool element(V& v, std::string_view qname, std::string_view label, Hook& hook) {
    if constexpr (Optional<V>) {
      static_assert(!Optional<typename V::value_type>, "xml: optional<optional<T>>");
      if (!v) v.emplace();
      NilHook<Hook> nil{hook};
      if (!element(*v, qname, label, nil)) return false;
      if (nil.nil) v.reset();
      return true;
    } else if constexpr (Described<V>) {
      return object(v, qname, hook);
    } else {
      bool empty = false;
      if (!attributes(empty, [&](std::string_view n, std::string_view value) {
            return hook.attr(*this, n, value);
          }))
        return false;
      if (!hook.done(*this)) return false;
      if (hook.skip()) return empty || skip_content(qname);
      return content(v, qname, label, empty);
    }
  }

 private:
  template <class V>
  bool content(V& v, std::string_view qname, std::string_view label, bool empty) {
    if constexpr (is_text_kind<V>) {
      std::size_t at = offset();
      std::string_view t;
      if (!empty) {
        std::string& buf = [&]() -> std::string& {
          if constexpr (String<V>)
            return v;
          else
            return scratch_;
        }();
        if (!text(buf, t, qname)) return false;
      }
      return parse_text(*this, v, t, label, at);
    } else if constexpr (Vector<V> || Array<V>) {
      return sequence(v, qname, label, empty);
    } else {
      static_assert(Map<V>, "xml: shared_ptr/weak_ptr fields are Java-only");
      return map(v, qname, label, empty);
    }
  }

  // Splits a child's name: its local name when it is in our namespace, else "".
  std::string_view local_name(std::string_view qname) const {
    auto colon = qname.find(':');
    if (colon == std::string_view::npos) return qname;
    if (qname.substr(0, colon) != prefix_ || prefix_.empty()) return {};
    return qname.substr(colon + 1);
  }

  template <class V>
  bool sequence(V& v, std::string_view qname, std::string_view label, bool empty) {
    using E = typename V::value_type;
    if (!enter()) return false;
    std::size_t n = 0;
    while (!empty) {
      int k = next(qname);
      if (k == 0) return false;
      if (k == 2) {
        if (!end_tag(qname)) return false;
        break;
      }
      const unsigned char* at = p_ - 1;
      std::string_view child;
      if (!name(child)) return false;
      if (local_name(child) != item_name<E>()) {
        if (!skip_element(child)) return false;
        continue;
      }
      NoHook hook;
      if constexpr (Array<V>) {
        if (n == v.size())
          return fail_at(
              at, std::string(label) + " has more than " + std::to_string(v.size()) + " items");
        if (!element(v[n], child, label, hook)) return false;
      } else {
        if (n == v.size()) {
          if (n >= st_.limits.max_elements)
            return fail_limit(std::string(label) + " count", "max_elements",
                              st_.limits.max_elements);
          if (!st_.charge(1, sizeof(E), label, offset(at))) return false;
          v.emplace_back();
        }
        if constexpr (std::is_same_v<E, bool>) {
          bool b = false;
          if (!element(b, child, label, hook)) return false;
          v[n] = b;
        } else {
          if (!element(v[n], child, label, hook)) return false;
        }
      }
      ++n;
    }
    st_.leave();
    if constexpr (Array<V>) {
      if (n != v.size())
        return fail(std::string(label) + " has " + std::to_string(n) + " items, expected " +
                    std::to_string(v.size()));
    } else {
      v.resize(n);
    }
    return true;
  }

  template <class V>
  bool map(V& v, std::string_view qname, std::string_view label, bool empty) {
    if (!enter()) return false;
    v.clear();
    while (!empty) {
      int k = next(qname);
      if (k == 0) return false;
      if (k == 2) {
        if (!end_tag(qname)) return false;
        break;
      }
      const unsigned char* at = p_ - 1;
      std::string_view child;
      if (!name(child)) return false;
      if (local_name(child) != "entry") {
        if (!skip_element(child)) return false;
        continue;
      }
      if (v.size() >= st_.limits.max_elements)
        return fail_limit(std::string(label) + " count", "max_elements", st_.limits.max_elements);
      if (!st_.charge(1, sizeof(typename V::value_type) + kMapNodeOverhead, label, offset(at)))
        return false;
      KeyHook hook;
      typename V::mapped_type mapped{};
      if (!element(mapped, child, label, hook)) return false;
      if (!hook.found) return fail_at(at, "an entry of " + std::string(label) + " has no key");
      typename V::key_type key{};
      if (!parse_text(*this, key, hook.key, label, hook.offset)) return false;
      if (!v.try_emplace(std::move(key), std::move(mapped)).second)
        return fail_at(at, "duplicate key in map " + std::string(label));
    }
    st_.leave();
    return true;
  }

  template <class T, class Hook>
  bool object(T& v, std::string_view qname, Hook& hook) {
    static_assert(field_count<T> <= 64, "xml: at most 64 fields per type");
    std::uint64_t seen = 0;
    bool empty = false;
    if (!attributes(empty, [&](std::string_view n, std::string_view value) {
          bool matched = false;
          bool ok = all_fields<T>([&](auto i) {
            constexpr auto f = field_of<T, decltype(i)::value>;
            if constexpr (f.has(FieldOption::attribute)) {
              if (matched || n != f.name) return true;
              matched = true;
              constexpr std::uint64_t bit = std::uint64_t{1} << decltype(i)::value;
              if (seen & bit) return fail("duplicate attribute " + std::string(n));
              seen |= bit;
              auto& field = f.get(v);
              if constexpr (Optional<typename decltype(f)::value_type>) {
                if (!field) field.emplace();
                return parse_text(*this, *field, value, f.name, offset());
              } else {
                return parse_text(*this, field, value, f.name, offset());
              }
            }
            return true;
          });
          return ok && (matched || hook.attr(*this, n, value));
        }))
      return false;
    if (!hook.done(*this)) return false;
    if (hook.skip()) return empty || skip_content(qname);
    if (!enter()) return false;
    while (!empty) {
      int k = next(qname);
      if (k == 0) return false;
      if (k == 2) {
        if (!end_tag(qname)) return false;
        break;
      }
      const unsigned char* at = p_ - 1;
      std::string_view child;
      if (!name(child)) return false;
      std::string_view local = local_name(child);
      bool matched = false;
      bool ok = all_fields<T>([&](auto i) {
        constexpr auto f = field_of<T, decltype(i)::value>;
        if constexpr (!f.has(FieldOption::attribute)) {
          if (matched || local != f.name) return true;
          matched = true;
          constexpr std::uint64_t bit = std::uint64_t{1} << decltype(i)::value;
          if (seen & bit)
            return fail_at(at, "duplicate element <" + std::string(child) + "> in <" +
                                   std::string(qname) + ">");
          seen |= bit;
          NoHook none;
          return element(f.get(v), child, f.name, none);
        }
        return true;
      });
      if (!ok) return false;
      if (!matched && !skip_element(child)) return false;
    }
    st_.leave();
    for_each_field<T>([&](auto i) {
      constexpr auto f = field_of<T, decltype(i)::value>;
      if constexpr (Optional<typename decltype(f)::value_type>) {
        if ((seen & (std::uint64_t{1} << decltype(i)::value)) == 0) f.get(v).reset();
      }
    });
    return true;
  }

  std::string_view prefix_;
};

}  // namespace nexo::wire::xml::detail
