// The bencode reader (see bencode.hpp): the strict token-level rules (integers, string
// lengths, key order, ends of containers, skipping a value), shared by the value tree's
// decoder and the described types' decoder. The first error is kept in its DecodeState;
// every call returns false from then on up the call chain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "nexo/wire/decode.hpp"

namespace nexo::wire::bencode::detail {

// An integer as read: its sign and magnitude (BEP 3 integers are unbounded; nexo reads up
// to 64 bits of magnitude, enough for int64 and uint64).
struct Integer {
  bool negative = false;
  std::uint64_t magnitude = 0;
};

class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const Limits& limits) : st_(bytes, limits) {}

  DecodeState& state() noexcept { return st_; }
  const Limits& limits() const noexcept { return st_.limits; }
  std::size_t offset() const noexcept { return st_.in.offset(); }

  // The first byte of the next value: 'i', 'l', 'd', or '0'..'9' (a string). Fails at the
  // end of the input and at any other byte ("expected a value, found ...").
  bool peek_value(unsigned char& c);
  // Checks that the next value (already peeked as `c`) is `want` (one of "iLds": 's' for
  // a string); else fails "<label>: expected <want>, found <what c starts>".
  bool expect(unsigned char c, char want, std::string_view label);

  // 'i' ... 'e' (the 'i' peeked); canonical, at most 64 bits of magnitude.
  bool read_integer(Integer& n);
  // A byte string (its first digit peeked): a view into the input, checked against
  // max_string and the bytes left.
  bool read_string(std::string_view& s);
  // Opens a list or dictionary ('l' or 'd' peeked): one nesting level (max_depth).
  bool open();
  // Before each item of an open container: consumes its 'e' and closes it (more = false),
  // or finds an item next (more = true). `opened_at` is the container's offset (for a
  // missing 'e'); `count` the items so far, checked against max_elements.
  bool next(std::size_t opened_at, std::size_t count, bool& more);
  // A dictionary key: a byte string above `prev` (the key before it; none for the first).
  bool read_key(std::string_view& key, const std::string_view* prev);
  // Reads past one value of any kind, checking it as strictly as a decode would.
  bool skip_value();
  // Checks that nothing follows the top value.
  bool finish();

  // Records an error at `at` (a byte offset): "<reason>" (malformed).
  bool fail_at(std::size_t at, std::string reason) { return st_.fail_at(at, std::move(reason)); }

 private:
  // Reads a run of decimal digits into n (overflow: beyond 64 bits); returns how many.
  std::size_t digits(std::uint64_t& n, bool& overflow);

  DecodeState st_;
};

// What a value starting with byte c is: "an integer", "a byte string", "a list", "a
// dictionary", "'x'", "byte 0x07".
std::string starts(unsigned char c);
// A byte string for messages: quoted, non-printable bytes as \xNN, cut after 40 bytes.
std::string quote(std::string_view bytes);
// The text of an integer ("-12", "18446744073709551615").
std::string integer_text(const Integer& n);

}  // namespace nexo::wire::bencode::detail
