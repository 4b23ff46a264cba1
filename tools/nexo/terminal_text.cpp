#include "terminal_text.hpp"

#include <cstdint>
#include <cstdio>
#include <iostream>

#include "nexo/wire/decode.hpp"

namespace nexo::tool {
namespace {

// Code points that are well-formed but change how a terminal shows the line.
bool is_hidden_control(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0x061c ||
         cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

void append_ascii(std::string& out, unsigned char c) {
  switch (c) {
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (c < 0x20 || c == 0x7f) {
    char cell[5];
    std::snprintf(cell, sizeof cell, "\\x%02x", static_cast<unsigned>(c));
    out += cell;
  } else {
    out += static_cast<char>(c);
  }
}

std::string escape(std::string_view text, bool keep_newlines) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    if (*p < 0x80) {
      if (keep_newlines && *p == '\n')
        out += '\n';
      else
        append_ascii(out, *p);
      ++p;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t n = wire::utf8_sequence(p, end, cp);
    char cell[16];
    if (n == 0) {  // not UTF-8: the byte itself, escaped
      std::snprintf(cell, sizeof cell, "\\x%02x", static_cast<unsigned>(*p));
      out += cell;
      ++p;
    } else if (is_hidden_control(cp)) {
      std::snprintf(cell, sizeof cell, "\\u{%04x}", static_cast<unsigned>(cp));
      out += cell;
      p += n;
    } else {
      out.append(reinterpret_cast<const char*>(p), n);
      p += n;
    }
  }
  return out;
}

}  // namespace

std::string printable(std::string_view text) {
  return escape(text, false);
}

std::string printable_lines(std::string_view text) {
  return escape(text, true);
}

int report_failure(std::string_view command, std::string_view message) {
  std::cerr << "nexo " << command << ": " << printable(message) << '\n';
  return 1;
}

}  // namespace nexo::tool
