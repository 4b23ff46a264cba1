#include "nexo/wire/decode.hpp"

#include <utility>

namespace nexo::wire {

Error DecodeError::to_error(std::string_view format) const {
  return Error(kind, std::string(format) + ": at byte " + std::to_string(offset) + ": " + reason);
}

bool DecodeState::fail(std::string reason) {
  return fail_at(in.offset(), std::move(reason));
}

bool DecodeState::fail_at(std::size_t offset, std::string reason, ErrorKind kind) {
  if (!error.failed()) {
    error.offset = offset;
    error.kind = kind;
    error.reason = std::move(reason);
  }
  return false;
}

bool DecodeState::fail_limit(std::string_view what, std::string_view limit_name,
                             std::size_t limit_value) {
  return fail_at(in.offset(),
                 std::string(what) + " exceeds limit " + std::string(limit_name) + " = " +
                     std::to_string(limit_value),
                 ErrorKind::too_large);
}

bool DecodeState::fail_need(std::size_t n, std::string_view what) {
  return fail("truncated: " + std::string(what) + " needs " + std::to_string(n) + " bytes, " +
              std::to_string(in.left()) + " left");
}

namespace {

// Why a count or length n read from the input cannot be: beyond its limit (too_large), or
// more than the `left` bytes can hold (malformed). `what` ends with " count " or " length ".
std::pair<std::string, ErrorKind> bad_size(std::string what, std::uint64_t n,
                                           std::string_view limit_name, std::size_t limit,
                                           std::size_t left) {
  what += std::to_string(n);
  if (n > limit)
    return {what + " exceeds limit " + std::string(limit_name) + " = " + std::to_string(limit),
            ErrorKind::too_large};
  return {what + " runs past the end (" + std::to_string(left) + " bytes left)",
          ErrorKind::malformed};
}

}  // namespace

bool DecodeState::fail_count(std::uint64_t count, std::string_view what, std::size_t at) {
  if (at == kHere) at = in.offset();
  auto [reason, kind] = bad_size(std::string(what) + " count ", count, "max_elements",
                                 limits.max_elements, in.left());
  return fail_at(at, std::move(reason), kind);
}

bool DecodeState::fail_length(std::uint64_t length, std::string_view what, std::size_t at) {
  if (at == kHere) at = in.offset();
  auto [reason, kind] =
      bad_size(std::string(what) + " length ", length, "max_string", limits.max_string, in.left());
  return fail_at(at, std::move(reason), kind);
}

bool DecodeState::fail_decoded(std::uint64_t count, std::size_t size, std::string_view what,
                               std::size_t at) {
  if (at == kHere) at = in.offset();
  std::string amount = size == 1 ? std::to_string(count) + (count == 1 ? " byte" : " bytes")
                                 : std::to_string(count) + (count == 1 ? " element" : " elements") +
                                       " of " + std::to_string(size) + " bytes";
  return fail_at(at,
                 std::string(what) + ": " + amount +
                     " would take the decoded value past limit max_decoded = " +
                     std::to_string(limits.max_decoded) + " (" + std::to_string(decoded) +
                     " bytes so far)",
                 ErrorKind::too_large);
}

bool DecodeState::fail_size() {
  return fail_at(0,
                 "input of " + std::to_string(in.size()) +
                     " bytes exceeds limit max_bytes = " + std::to_string(limits.max_bytes),
                 ErrorKind::too_large);
}

std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end,
                          std::uint32_t& cp) noexcept {
  const unsigned char c = p[0];
  std::size_t len;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1fu;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0fu;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07u;
  } else {
    return 0;  // a continuation byte, an overlong lead (c0, c1) or beyond U+10FFFF
  }
  if (static_cast<std::size_t>(end - p) < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((p[k] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[k] & 0x3fu);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

std::size_t utf8_invalid_at(std::string_view text) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Eight ASCII bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, s + i, 8);
      if ((word & 0x8080808080808080ull) != 0) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::uint32_t cp;
    std::size_t len = utf8_sequence(s + i, s + n, cp);
    if (len == 0) return i;
    i += len;
  }
  return n;
}

}  // namespace nexo::wire
