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
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"

namespace nexo::wire::xml {

struct WriteOptions {
  std::string_view namespace_uri;  // non-empty: xmlns="..." on the root element
  bool pretty = false;             // indent nested elements by two spaces, one per line
  bool declaration = false;        // start with <?xml version="1.0" encoding="UTF-8"?>
};

struct ReadOptions {
  std::string_view namespace_uri;  // the root's namespace; empty: the root has none
};

namespace detail {

// Byte classes, defined in xml.cpp. kText: 0 for a byte copied as is in text content
// (tab, LF, printable ASCII but < & > ), else 1. kAttr: the same in attribute values
// (special: " ' < & tab LF CR). kName: 1 name start, 2 name character.
extern const std::array<std::uint8_t, 256> kText;
extern const std::array<std::uint8_t, 256> kAttr;
extern const std::array<std::uint8_t, 256> kName;

// The length of the UTF-8 sequence at p (lead byte >= 0x80) if it encodes an XML 1.0
// character (not a surrogate, not U+FFFE/U+FFFF), else 0.
std::size_t xml_char_length(const unsigned char* p, const unsigned char* end) noexcept;

// Writes s escaped into `to` (room for 6 * s.size() bytes); returns the bytes written,
// or sets `bad` to the offset of a byte that cannot be written and returns 0.
std::size_t escape(std::string_view s, char* to, bool attribute, std::size_t& bad) noexcept;
// Why the byte at s[bad] cannot be written: "character U+0001 is not allowed in XML 1.0".
std::string unwritable(std::string_view s, std::size_t bad);

std::size_t base64_encode(const std::byte* data, std::size_t n, char* to) noexcept;
// Decodes base64 text (whitespace skipped); returns false with `bad` at the bad byte.
bool base64_decode(std::string_view text, ByteBuffer& out, std::size_t& bad);

// Writes a double or float in shortest round-trip form (NaN, INF, -INF); <= 32 bytes.
std::size_t format_real(double v, char* to) noexcept;
std::size_t format_real(float v, char* to) noexcept;

// The non-template half of the decoder: the XML syntax, on raw pointers.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const Limits& limits) noexcept
      : st_(bytes, limits), begin_(st_.in.begin()), p_(begin_), end_(st_.in.end()) {}

  DecodeState& state() noexcept { return st_; }
  std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }

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
    return true;
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

}  // namespace detail

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
