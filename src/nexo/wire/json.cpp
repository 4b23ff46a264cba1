// JSON: the string writer, base64, and the reader's slow paths (escapes, exact integers
// written with a fraction or an exponent, skipping unknown values, error messages).
#include "nexo/wire/json.hpp"

#include <algorithm>

namespace nexo::wire::json::detail {

namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

// The escape of a byte that needs one ('"', '\', control characters), else 0.
char short_escape(unsigned char c) {
  switch (c) {
    case '"':
      return '"';
    case '\\':
      return '\\';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    default:
      return 0;
  }
}

namespace {

// A byte the writer must look at: one to escape, or a non-ASCII byte (checked as UTF-8).
bool needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

std::uint64_t escape_mask(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  std::uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
  return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & highs;
}

// The first byte of s (from `from`) that needs escaping or is not ASCII, or s.size().
std::size_t next_escape(std::string_view s, std::size_t from) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = from;
  while (i + 8 <= s.size()) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (std::uint64_t m = escape_mask(w); m != 0)
      return i + static_cast<std::size_t>(__builtin_ctzll(m)) / 8;
    i += 8;
  }
  while (i < s.size() && !needs_escape(p[i]))
    ++i;
  return i;
}

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Up to 32 bytes of a number's text, for messages.
std::string excerpt(const NumberText& n) {
  std::size_t len = static_cast<std::size_t>(n.end - n.begin);
  std::string s(reinterpret_cast<const char*>(n.begin), std::min<std::size_t>(len, 32));
  if (len > 32) s += "...";
  return s;
}

std::string prefix(std::string_view label) {
  return std::string(label) + ": ";
}

// What a value starting with c is, for "expected X, found Y".
std::string describe_byte(unsigned char c) {
  switch (c) {
    case '{':
      return "an object";
    case '[':
      return "an array";
    case '"':
      return "a string";
    default:
      break;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return "a number";
  if (c > 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  char hex[8] = {'b', 'y', 't', 'e', ' ', kHex[c >> 4], kHex[c & 15], 0};
  return hex;
}

// Appends code point cp (<= U+10FFFF, not a surrogate) as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// The exponent of a number that follows the grammar, q at its 'e' or 'E' (or at its end:
// 0), clamped to +-2^40 so that no sum with a digit count overflows.
std::int64_t exponent_of(const unsigned char* q, const unsigned char* end) {
  if (q == end) return 0;
  ++q;
  bool negative = *q == '-';
  if (*q == '-' || *q == '+') ++q;
  std::int64_t exponent = 0;
  for (; q != end; ++q)
    exponent = std::min<std::int64_t>(exponent * 10 + (*q - '0'), 1LL << 40);
  return negative ? -exponent : exponent;
}

}  // namespace

// ---------------------------------------------------------------------------
// Writing.

void write_string(Buffer& out, std::string_view s) {
  std::size_t i = next_escape(s, 0);
  if (i == s.size()) {  // nothing to escape: one copy
    std::byte* p = out.extend(s.size() + 2);
    p[0] = std::byte{'"'};
    if (!s.empty()) std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = std::byte{'"'};
    return;
  }
  out.push_back('"');
  const auto* bytes = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t from = 0;
  while (i < s.size()) {
    auto c = bytes[i];
    if (c >= 0x80) {
      std::uint32_t cp;
      std::size_t len = utf8_sequence(bytes + i, bytes + s.size(), cp);
      if (len != 0) {  // well-formed UTF-8 is copied as it is
        i = next_escape(s, i + len);
        continue;
      }
      out.append(s.data() + from, i - from);
      out.append("\xef\xbf\xbd", 3);  // not UTF-8: U+FFFD, the replacement character
    } else {
      out.append(s.data() + from, i - from);
      if (char e = short_escape(c); e != 0) {
        char esc[2] = {'\\', e};
        out.append(esc, 2);
      } else {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(esc, 6);
      }
    }
    from = i + 1;
    i = next_escape(s, from);
  }
  out.append(s.data() + from, s.size() - from);
  out.push_back('"');
}

void write_base64(Buffer& out, const std::byte* data, std::size_t n) {
  std::size_t len = (n + 2) / 3 * 4;
  auto* p = reinterpret_cast<char*>(out.extend(len + 2));
  *p++ = '"';
  const auto* d = reinterpret_cast<const unsigned char*>(data);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v = (std::uint32_t{d[i]} << 16) | (std::uint32_t{d[i + 1]} << 8) | d[i + 2];
    *p++ = kBase64[v >> 18];
    *p++ = kBase64[(v >> 12) & 63];
    *p++ = kBase64[(v >> 6) & 63];
    *p++ = kBase64[v & 63];
  }
  if (n - i == 1) {
    std::uint32_t v = std::uint32_t{d[i]} << 16;
    *p++ = kBase64[v >> 18];
    *p++ = kBase64[(v >> 12) & 63];
    *p++ = '=';
    *p++ = '=';
  } else if (n - i == 2) {
    std::uint32_t v = (std::uint32_t{d[i]} << 16) | (std::uint32_t{d[i + 1]} << 8);
    *p++ = kBase64[v >> 18];
    *p++ = kBase64[(v >> 12) & 63];
    *p++ = kBase64[(v >> 6) & 63];
    *p++ = '=';
  }
  *p = '"';
}

// ---------------------------------------------------------------------------
// Reading: messages.

bool Reader::truncated(std::string_view label) {
  return fail("truncated: " + prefix(label) + "a value is expected, the input ends");
}

// What the value at p_ is: its kind, or the byte there.
std::string Reader::found() const {
  auto left = static_cast<std::size_t>(end_ - p_);
  auto is = [&](std::string_view word) {
    return left >= word.size() && std::memcmp(p_, word.data(), word.size()) == 0;
  };
  if (is("true") || is("false")) return "a boolean";
  if (is("null")) return "null";
  return describe_byte(*p_);
}

bool Reader::wrong_type(std::string_view label, std::string_view expected) {
  return fail(prefix(label) + "expected " + std::string(expected) + ", found " + found());
}

bool Reader::expected(std::string_view what, std::string_view label) {
  skip_ws();
  if (p_ == end_) return fail("truncated: " + prefix(label) + std::string(what) + " is expected");
  return fail(prefix(label) + "expected " + std::string(what) + ", found " + found());
}

bool Reader::bad_separator(char closer, std::string_view label) {
  return expected(closer == '}' ? "',' or '}'" : "',' or ']'", label);
}

bool Reader::duplicate_key(const unsigned char* at, std::string_view key, std::string_view label) {
  return fail_at(at, prefix(label) + "duplicate key \"" + std::string(key.substr(0, 40)) + "\"");
}

bool Reader::trailing() {
  skip_ws();
  if (p_ == end_) return true;
  return fail("unexpected " + found() + " after the value");
}

bool Reader::string_too_long(std::size_t n, std::string_view label) {
  return fail_limit(std::string(label) + " string length " + std::to_string(n), "max_string",
                    st_.limits.max_string);
}

bool Reader::bad_utf8(const unsigned char* at, std::string_view label) {
  return fail_at(at, prefix(label) + "invalid UTF-8 in a string");
}

bool Reader::bad_quoted_number(const unsigned char* at, std::string_view label) {
  return fail_at(at, prefix(label) + "a number in a string must be the whole string");
}

bool Reader::bad_number(const unsigned char* at, std::string_view label) {
  if (at == end_) return fail_at(at, "truncated: " + prefix(label) + "the number ends early");
  if (digit(*at)) return fail_at(at, prefix(label) + "a number may not have leading zeros");
  return fail_at(at,
                 prefix(label) + "a digit is expected in a number, found " + describe_byte(*at));
}

bool Reader::out_of_range(const NumberText& n, std::string_view label, std::string_view type) {
  return fail_at(n.begin, prefix(label) + excerpt(n) + " is out of range for " + std::string(type));
}

// ---------------------------------------------------------------------------
// Reading: numbers.

// The exact value of an integer written with a fraction or an exponent (or with 20 or
// more digits), computed on the digits: sig x 10^t with sig's trailing zeros moved into t.
bool Reader::exact_integer(const NumberText& n, std::uint64_t& magnitude, std::string_view label) {
  const unsigned char* q = n.begin + n.negative;
  const unsigned char* int_begin = q;
  while (q != n.end && digit(*q))
    ++q;
  const unsigned char* int_end = q;
  const unsigned char* frac_begin = q;
  const unsigned char* frac_end = q;
  if (q != n.end && *q == '.') {
    frac_begin = ++q;
    while (q != n.end && digit(*q))
      ++q;
    frac_end = q;
  }
  std::int64_t exponent = exponent_of(q, n.end);
  // The digits D = int digits then fraction digits; value = D x 10^(exponent - frac).
  const auto int_len = static_cast<std::int64_t>(int_end - int_begin);
  const auto total = int_len + static_cast<std::int64_t>(frac_end - frac_begin);
  auto at = [&](std::int64_t k) { return k < int_len ? int_begin[k] : frac_begin[k - int_len]; };
  std::int64_t first = 0;
  while (first < total && at(first) == '0')
    ++first;
  if (first == total) {  // zero, whatever the exponent
    magnitude = 0;
    return true;
  }
  std::int64_t last = total - 1;
  while (at(last) == '0')
    --last;
  std::int64_t t = exponent - (total - int_len) + (total - 1 - last);
  std::int64_t significant = last - first + 1;
  if (t < 0) return fail_at(n.begin, prefix(label) + excerpt(n) + " is not an integer");
  if (significant + t > 20) return out_of_range(n, label, "a 64-bit integer");
  std::uint64_t v = 0;
  for (std::int64_t k = first; k <= last; ++k) {
    if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, at(k) - '0', &v))
      return out_of_range(n, label, "a 64-bit integer");
  }
  for (std::int64_t k = 0; k < t; ++k)
    if (__builtin_mul_overflow(v, 10u, &v)) return out_of_range(n, label, "a 64-bit integer");
  magnitude = v;
  return true;
}

namespace {

// Whether a number that from_chars found out of range is tiny (rounds to zero) rather
// than huge: the decimal exponent of its first significant digit is negative.
bool tiny(const NumberText& n) {
  const unsigned char* q = n.begin + n.negative;
  std::int64_t k = 0, first = -1, int_digits = 0;
  bool point = false;
  for (; q != n.end && *q != 'e' && *q != 'E'; ++q) {
    if (*q == '.') {
      point = true;
      continue;
    }
    if (!point) ++int_digits;
    if (first < 0 && *q != '0') first = k;
    ++k;
  }
  std::int64_t exponent = exponent_of(q, n.end);
  return first < 0 || exponent + int_digits - 1 - first < 0;
}

template <class F>
bool real_out_of_range(Reader& r, const NumberText& n, F& v, std::string_view label,
                       std::string_view type) {
  if (tiny(n)) {
    v = n.negative ? -F{0} : F{0};
    return true;
  }
  return r.fail_at(n.begin,
                   prefix(label) + excerpt(n) + " is out of range for " + std::string(type));
}

template <class F>
bool parse_non_finite(std::string_view text, F& v) {
  if (text == "NaN") {
    v = std::numeric_limits<F>::quiet_NaN();
  } else if (text == "Infinity") {
    v = std::numeric_limits<F>::infinity();
  } else if (text == "-Infinity") {
    v = -std::numeric_limits<F>::infinity();
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool Reader::out_of_range_real(const NumberText& n, double& v, std::string_view label) {
  return real_out_of_range(*this, n, v, label, "double");
}
bool Reader::out_of_range_real(const NumberText& n, float& v, std::string_view label) {
  return real_out_of_range(*this, n, v, label, "float");
}

bool Reader::non_finite(double& v, std::string_view label) {
  const unsigned char* at = p_;
  if (!string(scratch_, label, false)) return false;
  if (parse_non_finite(scratch_, v)) return true;
  return fail_at(at, prefix(label) +
                         "expected a number, found a string other than \"NaN\", \"Infinity\" "
                         "and \"-Infinity\"");
}
bool Reader::non_finite(float& v, std::string_view label) {
  double d;
  if (!non_finite(d, label)) return false;
  v = static_cast<float>(d);
  return true;
}

// ---------------------------------------------------------------------------
// Reading: strings, literals, base64.

// The string from its opening quote at p_, where the fast scan stopped at q (an escape,
// a control character or the end).
bool Reader::string_slow(std::string& out, std::string_view label, const unsigned char* q,
                         bool charged) {
  const unsigned char* s = p_ + 1;
  out.clear();
  const unsigned char* run = s;
  for (;;) {
    while (q != end_ && *q != '"' && *q != '\\' && *q >= 0x20)
      ++q;
    std::size_t n = static_cast<std::size_t>(q - run);
    std::size_t bad = utf8_invalid_at({reinterpret_cast<const char*>(run), n});
    if (bad != n) return bad_utf8(run + bad, label);
    if (out.size() + n > st_.limits.max_string) return string_too_long(out.size() + n, label);
    out.append(reinterpret_cast<const char*>(run), n);
    if (q == end_) {
      p_ = q;
      return fail("truncated: " + prefix(label) + "a string has no closing quote");
    }
    if (*q == '"') {
      // Charged once whole: until then max_string bounds what was allocated.
      if (charged && !st_.charge(out.size(), 1, label, offset(s - 1))) return false;
      p_ = q + 1;
      return true;
    }
    if (*q != '\\') {
      p_ = q;
      return fail(prefix(label) + "control character " + describe_byte(*q) +
                  " must be escaped in a string");
    }
    p_ = q;
    if (!escape(out, label)) return false;
    if (out.size() > st_.limits.max_string) return string_too_long(out.size(), label);
    q = run = p_;
  }
}

// One escape at p_ (the backslash), appended to out; p_ moves past it.
bool Reader::escape(std::string& out, std::string_view label) {
  auto hex4 = [&](const unsigned char* h, std::uint32_t& v) {
    v = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned char c = h[k];
      int d = digit(c)                                   ? c - '0'
              : ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ? (c | 0x20) - 'a' + 10
                                                         : -1;
      if (d < 0) return false;
      v = v * 16 + static_cast<std::uint32_t>(d);
    }
    return true;
  };
  if (end_ - p_ < 2) return fail("truncated: " + prefix(label) + "an escape ends early");
  unsigned char c = p_[1];
  if (c != 'u') {
    char e;
    switch (c) {
      case '"':
        e = '"';
        break;
      case '\\':
        e = '\\';
        break;
      case '/':
        e = '/';
        break;
      case 'b':
        e = '\b';
        break;
      case 'f':
        e = '\f';
        break;
      case 'n':
        e = '\n';
        break;
      case 'r':
        e = '\r';
        break;
      case 't':
        e = '\t';
        break;
      default:
        return fail(prefix(label) + "invalid escape \\" + describe_byte(c));
    }
    out += e;
    p_ += 2;
    return true;
  }
  if (end_ - p_ < 6) return fail("truncated: " + prefix(label) + "a \\u escape ends early");
  std::uint32_t cp;
  if (!hex4(p_ + 2, cp)) return fail(prefix(label) + "a \\u escape needs 4 hex digits");
  if (cp >= 0xdc00 && cp <= 0xdfff)
    return fail(prefix(label) + "a low surrogate \\u escape without a high one before it");
  if (cp >= 0xd800 && cp <= 0xdbff) {
    std::uint32_t low;
    if (end_ - p_ < 12 || p_[6] != '\\' || p_[7] != 'u' || !hex4(p_ + 8, low) || low < 0xdc00 ||
        low > 0xdfff)
      return fail(prefix(label) + "a high surrogate \\u escape not followed by a low one");
    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    p_ += 6;
  }
  append_utf8(out, cp);
  p_ += 6;
  return true;
}

bool Reader::boolean(bool& v, std::string_view label) {
  unsigned char c = 0;
  if (!peek(c, label)) return false;
  std::size_t left = static_cast<std::size_t>(end_ - p_);
  if (c == 't' && left >= 4 && std::memcmp(p_, "true", 4) == 0) {
    v = true;
    p_ += 4;
    return true;
  }
  if (c == 'f' && left >= 5 && std::memcmp(p_, "false", 5) == 0) {
    v = false;
    p_ += 5;
    return true;
  }
  if (c == 't' || c == 'f')
    return fail("truncated or misspelt: " + prefix(label) + "true or false");
  return wrong_type(label, "true or false");
}

bool Reader::null() {
  skip_ws();
  if (end_ - p_ >= 4 && std::memcmp(p_, "null", 4) == 0) {
    p_ += 4;
    return true;
  }
  return false;
}

bool Reader::blob(ByteBuffer& v, std::string_view label) {
  unsigned char c = 0;
  if (!peek(c, label)) return false;
  if (c != '"') return wrong_type(label, "a base64 string");
  const unsigned char* at = p_ + 1;
  if (!string(scratch_, label, false)) return false;
  if (proto3_) {
    // The proto3 mapping reads the URL-safe alphabet too, and padding may be left out.
    for (char& ch : scratch_) {
      if (ch == '-') ch = '+';
      if (ch == '_') ch = '/';
    }
    if (scratch_.size() % 4 != 1)
      while (scratch_.size() % 4 != 0)
        scratch_.push_back('=');
  }
  const auto* s = reinterpret_cast<const unsigned char*>(scratch_.data());
  const std::size_t n = scratch_.size();
  auto bad = [&](std::size_t i, std::string_view why) {
    return fail_at(at + std::min(i, n), prefix(label) + "base64: " + std::string(why));
  };
  if (n % 4 != 0) return bad(n, "the length is not a multiple of 4 (padding is required)");
  std::size_t pad = n == 0 ? 0 : (s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
  if (!st_.charge(n / 4 * 3 - pad, 1, label, offset(at - 1))) return false;
  v.resize(n / 4 * 3 - pad);
  auto* out = reinterpret_cast<unsigned char*>(v.data());
  std::size_t o = 0;
  for (std::size_t i = 0; i < n; i += 4) {
    bool last = i + 4 == n;
    std::uint32_t acc = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      int d = base64_value(s[i + k]);
      if (d < 0) {
        if (!(last && s[i + k] == '=' && k >= 4 - pad)) return bad(i + k, "not a base64 digit");
        d = 0;
      }
      acc = (acc << 6) | static_cast<std::uint32_t>(d);
    }
    if (last && pad != 0 && (acc & (pad == 2 ? 0xffffu : 0xffu)) != 0)
      return bad(i + 3 - pad, "unused bits are not zero");
    out[o++] = static_cast<unsigned char>(acc >> 16);
    if (!last || pad < 2) out[o++] = static_cast<unsigned char>(acc >> 8);
    if (!last || pad < 1) out[o++] = static_cast<unsigned char>(acc);
  }
  return true;
}

// ---------------------------------------------------------------------------
// Reading: skipping a value of an unknown key.

bool Reader::skip_value(std::string_view label) {
  unsigned char c = 0;
  if (!peek(c, label)) return false;
  switch (c) {
    case '{':
      return skip_container('}', label);
    case '[':
      return skip_container(']', label);
    case '"':
      return string(scratch_, label, false);
    case 't':
    case 'f': {
      bool b;
      return boolean(b, label);
    }
    case 'n':
      if (null()) return true;
      return fail("truncated or misspelt: " + prefix(label) + "null");
    default:
      break;
  }
  if (c == '-' || digit(c)) {
    NumberText n;
    return number(n, label);
  }
  return fail(prefix(label) + "expected a value, found " + describe_byte(c));
}

bool Reader::skip_container(char closer, std::string_view label) {
  ++p_;
  if (!enter()) return false;
  bool more = !next_is(closer);
  while (more) {
    if (closer == '}') {
      unsigned char c = 0;
      if (!peek(c, label)) return false;
      if (c != '"') return expected("a key string", label);
      if (!string(scratch_, label, false) || !colon(label)) return false;
    }
    if (!skip_value(label) || !separator(closer, more, label)) return false;
  }
  leave();
  return true;
}

}  // namespace nexo::wire::json::detail
