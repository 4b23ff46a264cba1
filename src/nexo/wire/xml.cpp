// XML: the syntax half of the reader, escaping, base64 and numbers (see xml.hpp).
#include "nexo/wire/xml.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "nexo/wire/shortest.hpp"

namespace nexo::wire::xml::detail {

namespace {

constexpr bool is_control(unsigned c) {
  return c < 0x20 && c != '\t' && c != '\n' && c != '\r';
}

constexpr std::array<std::uint8_t, 256> make_text() {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c)
    t[c] = (c >= 0x80 || is_control(c) || c == '<' || c == '&' || c == '>' || c == '\r') ? 1 : 0;
  return t;
}
constexpr std::array<std::uint8_t, 256> make_attr() {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c)
    t[c] = (c >= 0x80 || c < 0x20 || c == '<' || c == '&' || c == '"' || c == '\'') ? 1 : 0;
  return t;
}
constexpr std::array<std::uint8_t, 256> make_name() {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    bool start =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
    bool rest = start || (c >= '0' && c <= '9') || c == '-' || c == '.';
    t[c] = static_cast<std::uint8_t>((start ? 1 : 0) | (rest ? 2 : 0));
  }
  return t;
}

constexpr std::string_view kDoctype =
    "DOCTYPE is not accepted: nexo's XML reader expands no DTD entities and fetches nothing "
    "external";

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void append_utf8(std::string& s, std::uint32_t cp) {
  char b[4];
  std::size_t n;
  if (cp < 0x80) {
    b[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    b[0] = static_cast<char>(0xc0 | (cp >> 6));
    b[1] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = static_cast<char>(0xe0 | (cp >> 12));
    b[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    b[2] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    b[0] = static_cast<char>(0xf0 | (cp >> 18));
    b[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    b[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    b[3] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 4;
  }
  s.append(b, n);
}

bool is_xml_char(std::uint32_t cp) {
  return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
         (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

std::string hex_code(std::uint32_t cp) {
  char b[16];
  std::snprintf(b, sizeof b, "U+%04X", cp);
  return b;
}

// A short, printable quote of the input at p for error messages.
std::string quote_at(const unsigned char* p, const unsigned char* end) {
  if (p == end) return "the end";
  unsigned char c = *p;
  if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  char b[16];
  std::snprintf(b, sizeof b, "byte 0x%02x", c);
  return b;
}

}  // namespace

extern const std::array<std::uint8_t, 256> kText = make_text();
extern const std::array<std::uint8_t, 256> kAttr = make_attr();
extern const std::array<std::uint8_t, 256> kName = make_name();

std::size_t xml_char_length(const unsigned char* p, const unsigned char* end) noexcept {
  std::uint32_t cp = 0;
  std::size_t len = utf8_sequence(p, end, cp);
  // XML 1.0 (Char) also leaves out U+FFFE and U+FFFF.
  return (cp == 0xfffe || cp == 0xffff) ? 0 : len;
}

std::size_t escape(std::string_view text, char* to, bool attribute, std::size_t& bad) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  const auto& table = attribute ? kAttr : kText;
  char* q = to;
  std::size_t i = 0;
  while (i < n) {
    std::size_t start = i;
    while (i < n && table[s[i]] == 0)
      ++i;
    std::memcpy(q, s + start, i - start);
    q += i - start;
    if (i == n) break;
    std::string_view ref;
    switch (s[i]) {
      case '<':
        ref = "&lt;";
        break;
      case '>':
        ref = "&gt;";
        break;
      case '&':
        ref = "&amp;";
        break;
      case '"':
        ref = "&quot;";
        break;
      case '\'':
        ref = "'";
        break;
      case '\t':
        ref = "&#9;";
        break;
      case '\n':
        ref = "&#10;";
        break;
      case '\r':
        ref = "&#13;";
        break;
      default: {
        std::size_t len = s[i] >= 0x80 ? xml_char_length(s + i, s + n) : 0;
        if (len == 0) {
          bad = i;
          return 0;
        }
        std::memcpy(q, s + i, len);
        q += len;
        i += len;
        continue;
      }
    }
    std::memcpy(q, ref.data(), ref.size());
    q += ref.size();
    ++i;
  }
  return static_cast<std::size_t>(q - to);
}

std::string unwritable(std::string_view s, std::size_t bad) {
  auto c = static_cast<unsigned char>(s[bad]);
  if (c < 0x80) return "character " + hex_code(c) + " is not allowed in XML 1.0";
  std::string_view rest = s.substr(bad, 4);
  std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
  if (rest.size() >= n && utf8_invalid_at(rest.substr(0, n)) == n) {
    std::uint32_t cp = ((c & 0x0f) << 12) | ((static_cast<unsigned char>(rest[1]) & 0x3f) << 6) |
                       (static_cast<unsigned char>(rest[2]) & 0x3f);
    return "character " + hex_code(cp) + " is not allowed in XML 1.0";
  }
  return "invalid UTF-8";
}

std::size_t base64_encode(const std::byte* data, std::size_t n, char* to) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(data);
  char* q = to;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t w = (s[i] << 16) | (s[i + 1] << 8) | s[i + 2];
    *q++ = kBase64[w >> 18];
    *q++ = kBase64[(w >> 12) & 63];
    *q++ = kBase64[(w >> 6) & 63];
    *q++ = kBase64[w & 63];
  }
  if (i < n) {
    std::uint32_t w = s[i] << 16;
    if (i + 1 < n) w |= s[i + 1] << 8;
    *q++ = kBase64[w >> 18];
    *q++ = kBase64[(w >> 12) & 63];
    *q++ = i + 1 < n ? kBase64[(w >> 6) & 63] : '=';
    *q++ = '=';
  }
  return static_cast<std::size_t>(q - to);
}

bool base64_decode(std::string_view text, ByteBuffer& out, std::size_t& bad) {
  out.clear();
  out.reserve(text.size() / 4 * 3);
  std::uint32_t w = 0;
  int bits = 0;
  int quads = 0;  // characters of the current group of four (with padding)
  int padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=' && quads >= 2)
      v = -1;
    else {
      bad = i;
      return false;
    }
    if (padding != 0 && v >= 0) {  // data after padding
      bad = i;
      return false;
    }
    quads = (quads + 1) % 4;
    if (v < 0) {
      ++padding;
      continue;
    }
    w = (w << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::byte>((w >> bits) & 0xff));
    }
  }
  if (quads != 0 || (w & ((1u << bits) - 1)) != 0) {  // incomplete group, or stray bits
    bad = text.size();
    return false;
  }
  return true;
}

std::size_t format_real(double v, char* to) noexcept {
  if (std::isnan(v)) {
    std::memcpy(to, "NaN", 3);
    return 3;
  }
  if (std::isinf(v)) {
    std::memcpy(to, v < 0 ? "-INF" : "INF", v < 0 ? 4 : 3);
    return v < 0 ? 4 : 3;
  }
  return static_cast<std::size_t>(format_shortest(v, to) - to);
}

std::size_t format_real(float v, char* to) noexcept {
  if (std::isnan(v) || std::isinf(v)) return format_real(static_cast<double>(v), to);
  return static_cast<std::size_t>(format_shortest(v, to) - to);
}

bool parse_bool(std::string_view t, bool& v) {
  if (t == "true" || t == "1") {
    v = true;
    return true;
  }
  if (t == "false" || t == "0") {
    v = false;
    return true;
  }
  return false;
}

template <class F>
static bool parse_float(std::string_view t, F& v) {
  if (t == "NaN") {
    v = std::numeric_limits<F>::quiet_NaN();
    return true;
  }
  if (t == "INF" || t == "+INF" || t == "-INF") {
    v = t[0] == '-' ? -std::numeric_limits<F>::infinity() : std::numeric_limits<F>::infinity();
    return true;
  }
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  std::string_view digits = !t.empty() && t[0] == '-' ? t.substr(1) : t;
  if (digits.empty() || !((digits[0] >= '0' && digits[0] <= '9') || digits[0] == '.')) return false;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  return ec == std::errc{} && end == t.data() + t.size();
}

bool parse_real(std::string_view t, double& v) {
  return parse_float(t, v);
}
bool parse_real(std::string_view t, float& v) {
  return parse_float(t, v);
}

std::string_view trim(std::string_view t) noexcept {
  while (!t.empty() && Reader::is_space(static_cast<unsigned char>(t.front())))
    t.remove_prefix(1);
  while (!t.empty() && Reader::is_space(static_cast<unsigned char>(t.back())))
    t.remove_suffix(1);
  return t;
}

std::string bad_value(std::string_view label, std::string_view text, std::string_view type) {
  std::string_view shown = text.substr(0, 40);
  while (!shown.empty() && utf8_invalid_at(shown) != shown.size())
    shown.remove_suffix(1);
  return std::string(label) + ": \"" + std::string(shown) +
         (shown.size() < text.size() ? "..." : "") + "\" is not a valid " + std::string(type);
}

bool RootHook::attr(Reader& r, std::string_view name, std::string_view value) {
  bool ours = prefix.empty() ? name == "xmlns"
                             : name.size() == 6 + prefix.size() && name.starts_with("xmlns:") &&
                                   name.substr(6) == prefix;
  if (ours) {
    uri.assign(value);
    declared = true;
    offset = r.offset();
  }
  return true;
}

bool RootHook::done(Reader& r) {
  if (!prefix.empty() && !declared)
    return r.fail("the root's prefix " + std::string(prefix) + " is not declared");
  if (uri == expected) return true;
  std::string in = uri.empty() ? "in no namespace" : "in namespace \"" + uri + "\"";
  std::string want = expected.empty() ? "none" : "\"" + std::string(expected) + "\"";
  return r.state().fail_at(declared ? offset : r.offset(),
                           "the root element is " + in + ", expected " + want);
}

// ---------------------------------------------------------------------------
// Reader

bool Reader::bad_name() {
  if (p_ == end_) return truncated("a name");
  return fail("expected a name, found " + quote_at(p_, end_));
}

bool Reader::bad_utf8(const unsigned char* at) {
  return fail_at(at, "invalid UTF-8");
}

bool Reader::truncated(std::string_view what) {
  return fail("truncated: " + std::string(what) + " is not complete");
}

bool Reader::unclosed(std::string_view qname) {
  p_ = end_;
  return fail("truncated: element <" + std::string(qname) + "> is not closed");
}

bool Reader::text_in_elements(std::string_view parent) {
  if (*p_ == '&' || (kText[*p_] == 0 && *p_ != '>'))
    return fail("text is not allowed in <" + std::string(parent) + ">, which holds elements");
  return fail("unexpected " + quote_at(p_, end_) + " in <" + std::string(parent) + ">");
}

// Starts-with for the markup openers; a strict prefix at the end of input is truncation.
static int opens(const unsigned char* p, const unsigned char* end, std::string_view s) {
  std::size_t left = static_cast<std::size_t>(end - p);
  if (left >= s.size()) return std::memcmp(p, s.data(), s.size()) == 0 ? 1 : 0;
  return std::memcmp(p, s.data(), left) == 0 ? -1 : 0;
}

bool Reader::prolog() {
  if (end_ - p_ >= 3 && p_[0] == 0xef && p_[1] == 0xbb && p_[2] == 0xbf) p_ += 3;
  if (end_ - p_ >= 6 && std::memcmp(p_, "<?xml", 5) == 0 && is_space(p_[5])) {
    p_ += 6;
    if (!declaration()) return false;
  }
  for (;;) {
    while (p_ != end_ && is_space(*p_))
      ++p_;
    if (p_ == end_) return fail("truncated: the document has no root element");
    if (*p_ != '<') return fail("expected the root element, found " + quote_at(p_, end_));
    if (p_ + 1 == end_) return truncated("a start tag");
    if (p_[1] == '!' || p_[1] == '?') {
      if (!markup("")) return false;
      continue;
    }
    ++p_;
    return true;
  }
}

bool Reader::epilog() {
  for (;;) {
    while (p_ != end_ && is_space(*p_))
      ++p_;
    if (p_ == end_) return true;
    if (*p_ == '<' && p_ + 1 != end_ && (p_[1] == '!' || p_[1] == '?')) {
      if (!markup("")) return false;
      continue;
    }
    return fail("content after the root element");
  }
}

bool Reader::markup(std::string_view parent) {
  if (p_[1] == '?') {
    p_ += 2;
    return processing_instruction();
  }
  int o;
  if ((o = opens(p_, end_, "<!--")) != 0) {
    if (o < 0) return truncated("a comment");
    p_ += 4;
    return comment();
  }
  if ((o = opens(p_, end_, "<!DOCTYPE")) != 0) return fail(std::string(kDoctype));
  if ((o = opens(p_, end_, "<![CDATA[")) != 0) {
    if (o < 0) return truncated("a CDATA section");
    if (parent.empty()) return fail("a CDATA section is not allowed outside the root element");
    return fail("a CDATA section is not allowed in <" + std::string(parent) +
                ">, which holds elements");
  }
  return fail("unknown markup '<!'");
}

bool Reader::declaration() {
  bool version = false;
  for (;;) {
    while (p_ != end_ && is_space(*p_))
      ++p_;
    if (end_ - p_ < 2) return truncated("the XML declaration");
    if (p_[0] == '?' && p_[1] == '>') {
      p_ += 2;
      if (!version) return fail("the XML declaration has no version");
      return true;
    }
    const unsigned char* at = p_;
    std::string_view name, value;
    if (!attribute(name, value)) return false;
    if (name == "version") {
      if (value.size() < 3 || !value.starts_with("1."))
        return fail_at(at, "XML version must be 1.x");
      version = true;
    } else if (name == "encoding") {
      if (value.size() != 5 || (value[0] | 0x20) != 'u' || (value[1] | 0x20) != 't' ||
          (value[2] | 0x20) != 'f' || value[3] != '-' || value[4] != '8')
        return fail_at(at, "encoding " + std::string(value) + " is not supported (UTF-8 only)");
    } else if (name == "standalone") {
      if (value != "yes" && value != "no") return fail_at(at, "standalone must be yes or no");
    } else {
      return fail_at(at,
                     "unknown pseudo-attribute " + std::string(name) + " in the XML declaration");
    }
  }
}

bool Reader::comment() {
  for (;;) {
    if (p_ == end_) return truncated("a comment");
    unsigned char c = *p_;
    if (c == '-') {
      if (end_ - p_ < 3) return truncated("a comment");
      if (p_[1] == '-') {
        if (p_[2] != '>') return fail("'--' is not allowed inside a comment");
        p_ += 3;
        return true;
      }
      ++p_;
    } else if (c >= 0x80) {
      std::size_t n = xml_char_length(p_, end_);
      if (n == 0) return bad_utf8(p_);
      p_ += n;
    } else if (is_control(c)) {
      return fail("character " + hex_code(c) + " is not allowed in XML");
    } else {
      ++p_;
    }
  }
}

bool Reader::processing_instruction() {
  const unsigned char* at = p_ - 2;
  std::string_view target;
  if (!name(target)) return false;
  if (target.size() == 3 && (target[0] | 0x20) == 'x' && (target[1] | 0x20) == 'm' &&
      (target[2] | 0x20) == 'l')
    return fail_at(at, "an XML declaration is allowed only at the very start");
  if (p_ != end_ && *p_ != '?' && !is_space(*p_))
    return fail("expected whitespace or '?>' after the processing instruction's target");
  for (;;) {
    if (p_ == end_) return truncated("a processing instruction");
    unsigned char c = *p_;
    if (c == '?') {
      if (p_ + 1 == end_) return truncated("a processing instruction");
      if (p_[1] == '>') {
        p_ += 2;
        return true;
      }
      ++p_;
    } else if (c >= 0x80) {
      std::size_t n = xml_char_length(p_, end_);
      if (n == 0) return bad_utf8(p_);
      p_ += n;
    } else if (is_control(c)) {
      return fail("character " + hex_code(c) + " is not allowed in XML");
    } else {
      ++p_;
    }
  }
}

// The byte at p_ in text or a CDATA section when it is none of their markup: a CR (read
// as LF, CR LF as one LF), the lead byte of a UTF-8 sequence (checked), else a character
// XML forbids (an error).
bool Reader::text_char(std::string* buf) {
  unsigned char c = *p_;
  if (c == '\r') {
    if (buf) buf->push_back('\n');
    ++p_;
    if (p_ != end_ && *p_ == '\n') ++p_;
    return true;
  }
  if (c >= 0x80) {
    std::size_t n = xml_char_length(p_, end_);
    if (n == 0) return bad_utf8(p_);
    if (buf) buf->append(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  return fail("character " + hex_code(c) + " is not allowed in XML");
}

bool Reader::cdata(std::string* buf) {
  for (;;) {
    const unsigned char* start = p_;
    while (p_ != end_ && *p_ < 0x80 && *p_ != ']' && *p_ != '\r' && !is_control(*p_))
      ++p_;
    if (buf)
      buf->append(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
    if (p_ == end_) return truncated("a CDATA section");
    unsigned char c = *p_;
    if (c == ']') {
      if (end_ - p_ >= 3 && p_[1] == ']' && p_[2] == '>') {
        p_ += 3;
        return true;
      }
      if (buf) buf->push_back(']');
      ++p_;
    } else if (!text_char(buf)) {
      return false;
    }
  }
}

bool Reader::reference(std::string* buf) {
  const unsigned char* at = p_;
  const unsigned char* p = p_ + 1;
  if (p != end_ && *p == '#') {
    ++p;
    bool hex = p != end_ && *p == 'x';
    if (hex) ++p;
    std::uint32_t cp = 0;
    const unsigned char* digits = p;
    for (; p != end_ && p - digits < 16; ++p) {
      unsigned d;
      unsigned char c = *p;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        d = (c | 0x20) - 'a' + 10;
      else
        break;
      cp = cp * (hex ? 16 : 10) + d;
      if (cp > 0x10ffff) cp = 0x110000;  // stays invalid
    }
    if (p == end_) return truncated("a character reference");
    if (p == digits || *p != ';') return fail_at(at, "malformed character reference");
    if (!is_xml_char(cp))
      return fail_at(at, "character reference to " + hex_code(cp) + ", not an XML character");
    if (buf) append_utf8(*buf, cp);
    p_ = p + 1;
    return true;
  }
  const unsigned char* name = p;
  while (p != end_ && p - name < 32 && (kName[*p] & 2) != 0 && *p < 0x80)
    ++p;
  if (p == end_) return truncated("an entity reference");
  std::string_view n(reinterpret_cast<const char*>(name), static_cast<std::size_t>(p - name));
  if (*p != ';' || n.empty())
    return fail_at(at, "'&' must start a reference (&name; or &#number;)");
  char c;
  if (n == "lt")
    c = '<';
  else if (n == "gt")
    c = '>';
  else if (n == "amp")
    c = '&';
  else if (n == "quot")
    c = '"';
  else if (n == "apos")
    c = '\'';
  else
    return fail_at(at, "undefined entity &" + std::string(n) +
                           "; (only the five predefined entities are known; no DTD)");
  if (buf) buf->push_back(c);
  p_ = p + 1;
  return true;
}

bool Reader::char_data(std::string* buf) {
  while (p_ != end_) {
    const unsigned char* start = p_;
    while (p_ != end_ && kText[*p_] == 0)
      ++p_;
    if (buf)
      buf->append(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
    if (p_ == end_) return true;
    unsigned char c = *p_;
    if (c == '<') return true;
    if (c == '&') {
      if (!reference(buf)) return false;
    } else if (c == '>') {
      if (p_ - begin_ >= 2 && p_[-1] == ']' && p_[-2] == ']')
        return fail("']]>' is not allowed in text");
      if (buf) buf->push_back('>');
      ++p_;
    } else if (!text_char(buf)) {
      return false;
    }
  }
  return true;
}

bool Reader::text_slow(std::string* buf, std::string_view qname) {
  for (;;) {
    if (!char_data(buf)) return false;
    if (p_ == end_) return unclosed(qname);
    if (p_ + 1 == end_) return unclosed(qname);
    if (p_[1] == '/') {
      p_ += 2;
      return true;
    }
    if (p_[1] == '?') {
      p_ += 2;
      if (!processing_instruction()) return false;
      continue;
    }
    if (p_[1] != '!')
      return fail("an element is not allowed in <" + std::string(qname) + ">, which holds text");
    int o;
    if ((o = opens(p_, end_, "<!--")) != 0) {
      if (o < 0) return truncated("a comment");
      p_ += 4;
      if (!comment()) return false;
    } else if ((o = opens(p_, end_, "<![CDATA[")) != 0) {
      if (o < 0) return truncated("a CDATA section");
      p_ += 9;
      if (!cdata(buf)) return false;
    } else if (opens(p_, end_, "<!DOCTYPE") != 0) {
      return fail(std::string(kDoctype));
    } else {
      return fail("unknown markup '<!'");
    }
  }
}

bool Reader::end_tag_slow(std::string_view qname) {
  const unsigned char* at = p_ - 2;
  std::string_view n;
  if (!name(n)) return false;
  if (n != qname)
    return fail_at(at,
                   "end tag </" + std::string(n) + "> does not match <" + std::string(qname) + ">");
  while (p_ != end_ && is_space(*p_))
    ++p_;
  if (p_ == end_) return truncated("an end tag");
  if (*p_ != '>') return fail("expected '>' in an end tag, found " + quote_at(p_, end_));
  ++p_;
  return true;
}

bool Reader::attribute(std::string_view& name, std::string_view& value) {
  if (!this->name(name)) return false;
  while (p_ != end_ && is_space(*p_))
    ++p_;
  if (p_ == end_) return truncated("an attribute");
  if (*p_ != '=') return fail("expected '=' after attribute " + std::string(name));
  ++p_;
  while (p_ != end_ && is_space(*p_))
    ++p_;
  if (p_ == end_) return truncated("an attribute");
  unsigned char quote = *p_;
  if (quote != '"' && quote != '\'')
    return fail("an attribute value must be quoted, found " + quote_at(p_, end_));
  const unsigned char* start = ++p_;
  while (p_ != end_ && kAttr[*p_] == 0)
    ++p_;
  if (p_ != end_ && *p_ == quote) {
    value = {reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start)};
    ++p_;
    return true;
  }
  return attribute_value_slow(start, quote, value);
}

bool Reader::attribute_value_slow(const unsigned char* start, unsigned char quote,
                                  std::string_view& value) {
  attr_buf_.assign(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
  for (;;) {
    if (p_ == end_) return truncated("an attribute value");
    unsigned char c = *p_;
    if (c == quote) {
      ++p_;
      value = attr_buf_;
      return true;
    }
    if (c == '<') return fail("'<' is not allowed in an attribute value");
    if (c == '&') {
      if (!reference(&attr_buf_)) return false;
    } else if (c == '\t' || c == '\n' || c == '\r') {
      attr_buf_.push_back(' ');
      ++p_;
      if (c == '\r' && p_ != end_ && *p_ == '\n') ++p_;
    } else if (c == '"' || c == '\'') {
      attr_buf_.push_back(static_cast<char>(c));
      ++p_;
    } else if (c >= 0x80) {
      std::size_t n = xml_char_length(p_, end_);
      if (n == 0) return bad_utf8(p_);
      attr_buf_.append(reinterpret_cast<const char*>(p_), n);
      p_ += n;
    } else if (c < 0x20) {
      return fail("character " + hex_code(c) + " is not allowed in XML");
    } else {
      const unsigned char* run = p_;
      while (p_ != end_ && kAttr[*p_] == 0)
        ++p_;
      attr_buf_.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p_ - run));
    }
  }
}

bool Reader::skip_element(std::string_view qname) {
  bool empty = false;
  if (!attributes(empty, [](std::string_view, std::string_view) { return true; })) return false;
  return empty || skip_content(qname);
}

bool Reader::skip_content(std::string_view qname) {
  open_.clear();
  open_.push_back(qname);
  while (!open_.empty()) {
    if (!char_data(nullptr)) return false;
    if (p_ == end_ || p_ + 1 == end_) return unclosed(open_.back());
    if (p_[1] == '/') {
      p_ += 2;
      if (!end_tag(open_.back())) return false;
      open_.pop_back();
      continue;
    }
    if (p_[1] == '?' || p_[1] == '!') {
      int o = opens(p_, end_, "<![CDATA[");
      if (o > 0) {
        p_ += 9;
        if (!cdata(nullptr)) return false;
      } else if (o < 0) {
        return truncated("a CDATA section");
      } else if (!markup(open_.back())) {
        return false;
      }
      continue;
    }
    ++p_;
    std::string_view child;
    if (!name(child)) return false;
    bool empty = false;
    if (!attributes(empty, [](std::string_view, std::string_view) { return true; })) return false;
    if (empty) continue;
    if (st_.depth + open_.size() >= st_.limits.max_depth)
      return fail_limit("nesting", "max_depth", st_.limits.max_depth);
    open_.push_back(child);
  }
  return true;
}

}  // namespace nexo::wire::xml::detail
