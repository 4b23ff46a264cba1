// JSON's proto3 mapping (json.hpp): numbers and strings written as libprotobuf's JSON
// printer writes them.
#include <charconv>
#include <cstdio>

#include "nexo/wire/json.hpp"

namespace nexo::wire::json::detail {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Whether libprotobuf's JSON printer writes code point cp (>= 0x7f) as an escape: DEL,
// the C1 controls and the formatting characters it lists for JavaScript's sake.
bool proto3_escapes(std::uint32_t cp) {
  return cp < 0xa0 || cp == 0xad || (cp >= 0x600 && cp <= 0x603) || cp == 0x6dd ||
         cp == 0x70f || cp == 0x17b4 || cp == 0x17b5 || (cp >= 0x200b && cp <= 0x200f) ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) ||
         (cp >= 0x206a && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
         cp == 0xe0001 || (cp >= 0x1d173 && cp <= 0x1d17a) || (cp >= 0xe0020 && cp <= 0xe007f);
}

void append_u_escape(Buffer& out, std::uint32_t unit) {
  char esc[6] = {'\\', 'u', kHex[(unit >> 12) & 15], kHex[(unit >> 8) & 15],
                 kHex[(unit >> 4) & 15], kHex[unit & 15]};
  out.append(esc, 6);
}

// printf "%.<digits>g" of v at p; then, if that does not read back to v, "%.<more>g".
template <class F>
char* format_g(F v, char* p, int digits, int more) {
  int n = std::snprintf(p, 32, "%.*g", digits, static_cast<double>(v));
  F back{};
  auto r = std::from_chars(p, p + n, back);
  if (r.ec != std::errc{} || back != v)
    n = std::snprintf(p, 32, "%.*g", more, static_cast<double>(v));
  return p + n;
}

}  // namespace

char* format_proto3(double v, char* p) {
  return format_g(v, p, 15, 17);
}
char* format_proto3(float v, char* p) {
  return format_g(v, p, 6, 9);
}

void write_string_proto3(Buffer& out, std::string_view s) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  out.push_back('"');
  std::size_t from = 0;
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = bytes[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>') {
      ++i;
      continue;
    }
    std::uint32_t cp = c;
    std::size_t len = 1;
    if (c >= 0x80) {
      len = utf8_sequence(bytes + i, bytes + n, cp);
      if (len == 0) {  // not UTF-8: U+FFFD, as write_string()
        out.append(s.data() + from, i - from);
        out.append("\xef\xbf\xbd", 3);
        from = ++i;
        continue;
      }
      if (!proto3_escapes(cp)) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + from, i - from);
    if (char e = c < 0x80 ? short_escape(c) : 0; e != 0) {
      char esc[2] = {'\\', e};
      out.append(esc, 2);
    } else if (cp >= 0x10000) {  // as a UTF-16 surrogate pair
      append_u_escape(out, 0xd800 + ((cp - 0x10000) >> 10));
      append_u_escape(out, 0xdc00 + ((cp - 0x10000) & 0x3ff));
    } else {
      append_u_escape(out, cp);
    }
    i += len;
    from = i;
  }
  out.append(s.data() + from, n - from);
  out.push_back('"');
}

}  // namespace nexo::wire::json::detail
