// The input side of every decoder: the limits, the error, and a bounds-checked cursor.
//
// One Limits object serves every decoder and is on by default. A decoder that meets
// bytes it cannot accept stops at once and reports the byte offset and the reason:
//
//   [malformed] cdr: at byte 12: string length 4294967295 runs past the end (4 bytes left)
//   [too_large] json: at byte 40: nesting deeper than limit max_depth = 64
//
// Decoders never read past their input, and never allocate more than the limits allow:
// a count read from the input is checked against the bytes that remain (each element
// takes at least one byte on the wire), and the memory the decoded value will take is
// charged to max_decoded before it is allocated. The input bytes alone do not bound that
// memory: an empty protobuf sub-message is 2 bytes on the wire and sizeof(T) in a
// vector, an absent CDR optional<array<double, 1000>> 1 byte and 8 KB. A decode that
// would go past max_decoded stops with the field, the offset and the limit:
//
//   [too_large] proto: at byte 2: records: 1 element of 104 bytes would take the decoded
//   value past limit max_decoded = 1048576 (1048528 bytes so far)
//
// What is charged: each element of a vector (sizeof the element, as it is read, so a
// vector's spare capacity is not counted), the bytes of each string and byte buffer,
// each map entry (its key and value plus kMapNodeOverhead), and each shared object of
// Java serialization (its size plus kSharedOverhead). The value handed to decode() is
// not charged, nor what a std::optional or std::array holds inside its parent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"

namespace nexo::wire {

// Bounds on what a decoder accepts; exceeding one is an error naming it.
struct Limits {
  std::size_t max_depth = 64;            // nested structs, sequences, maps, objects
  std::size_t max_bytes = 64u << 20;     // the whole input
  std::size_t max_elements = 16u << 20;  // elements of one sequence, array or map
  std::size_t max_string = 16u << 20;    // bytes of one string or byte buffer
  std::size_t max_handles = 1u << 20;    // Java: objects, classes and strings in a stream
  std::size_t max_decoded = 256u << 20;  // memory of the decoded value (see above)
};

// What a std::map node costs beyond its key and value (links, colour), and a shared
// object beyond itself (the control block of make_shared): charged to max_decoded.
inline constexpr std::size_t kMapNodeOverhead = 32;
inline constexpr std::size_t kSharedOverhead = 16;

// The first error a decoder met: where and why. Decoders keep it in their state and
// return false up the call chain; the public entry points turn it into a nexo::Error.
struct DecodeError {
  std::size_t offset = 0;
  ErrorKind kind = ErrorKind::malformed;  // malformed, or too_large for a broken limit
  std::string reason;

  bool failed() const noexcept { return !reason.empty(); }
  // "[malformed] <format>: at byte <offset>: <reason>"
  Error to_error(std::string_view format) const;
};

// A cursor over the input. Every read checks the bytes left first.
class Input {
 public:
  explicit Input(std::span<const std::byte> bytes) noexcept
      : begin_(reinterpret_cast<const unsigned char*>(bytes.data())),
        pos_(begin_),
        end_(begin_ + bytes.size()) {}

  std::size_t offset() const noexcept { return static_cast<std::size_t>(pos_ - begin_); }
  std::size_t left() const noexcept { return static_cast<std::size_t>(end_ - pos_); }
  std::size_t size() const noexcept { return static_cast<std::size_t>(end_ - begin_); }
  bool at_end() const noexcept { return pos_ == end_; }
  const unsigned char* pos() const noexcept { return pos_; }
  const unsigned char* begin() const noexcept { return begin_; }
  const unsigned char* end() const noexcept { return end_; }

  bool has(std::size_t n) const noexcept { return left() >= n; }
  // Moves on n bytes; the caller checked has(n).
  void skip(std::size_t n) noexcept { pos_ += n; }
  void seek(std::size_t offset) noexcept { pos_ = begin_ + offset; }
  // Copies n bytes out and moves on; the caller checked has(n).
  void copy(void* to, std::size_t n) noexcept {
    if (n != 0) std::memcpy(to, pos_, n);
    pos_ += n;
  }
  unsigned char peek() const noexcept { return *pos_; }
  unsigned char next() noexcept { return *pos_++; }

 private:
  const unsigned char* begin_;
  const unsigned char* pos_;
  const unsigned char* end_;
};

// Common state of a decoder: the input, the limits, the depth and the first error.
struct DecodeState {
  Input in;
  Limits limits;  // a copy: a decoder never outlives a temporary Limits
  std::size_t depth = 0;
  std::size_t decoded = 0;  // bytes charged to limits.max_decoded so far
  DecodeError error;

  DecodeState(std::span<const std::byte> bytes, const Limits& l) noexcept : in(bytes), limits(l) {}

  // Records the first error (at the current offset unless given) and returns false.
  // The failure paths are out of line and cold: the checks below inline to a compare.
  [[gnu::cold]] bool fail(std::string reason);
  [[gnu::cold]] bool fail_at(std::size_t offset, std::string reason,
                             ErrorKind kind = ErrorKind::malformed);
  // A broken limit: "<what> exceeds limit <limit_name> = <limit_value>" (too_large).
  [[gnu::cold]] bool fail_limit(std::string_view what, std::string_view limit_name,
                                std::size_t limit_value);

  // Checks there are n more bytes; else fails "truncated: <what> needs n bytes, k left".
  bool need(std::size_t n, std::string_view what) {
    if (in.has(n)) [[likely]]
      return true;
    return fail_need(n, what);
  }
  // Enters one nesting level (checked against max_depth); pair with leave().
  bool enter() {
    if (++depth <= limits.max_depth) [[likely]]
      return true;
    return fail_limit("nesting", "max_depth", limits.max_depth);
  }
  void leave() noexcept { --depth; }
  // Checks an element count read from the input: within max_elements, and no more than
  // the bytes left allow at `min_size` bytes per element (the allocation bound). `at` is
  // where the count was read (the error's offset; default: the current offset).
  bool check_count(std::uint64_t count, std::size_t min_size, std::string_view what,
                   std::size_t at = kHere) {
    if (count <= limits.max_elements && (min_size == 0 || count <= in.left() / min_size)) [[likely]]
      return true;
    return fail_count(count, what, at);
  }
  // Checks a string or byte-buffer length read from the input (at `at`, as above).
  bool check_length(std::uint64_t length, std::string_view what, std::size_t at = kHere) {
    if (length <= limits.max_string && length <= in.left()) [[likely]]
      return true;
    return fail_length(length, what, at);
  }
  static constexpr std::size_t kHere = static_cast<std::size_t>(-1);
  // Charges `count` elements of `size` (> 0) bytes each to the decoded value, before
  // they are allocated: fails (too_large, naming `what` and max_decoded, at `at`) when
  // they would take it past limits.max_decoded. One compare when `size` is a constant.
  bool charge(std::uint64_t count, std::size_t size, std::string_view what,
              std::size_t at = kHere) {
    const std::size_t room = limits.max_decoded - decoded;
    if (count <= room / size) [[likely]] {
      decoded += static_cast<std::size_t>(count) * size;
      return true;
    }
    return fail_decoded(count, size, what, at);
  }
  // Checks the input size against max_bytes (call first).
  bool check_size() {
    if (in.size() <= limits.max_bytes) [[likely]]
      return true;
    return fail_size();
  }

 private:
  [[gnu::cold]] bool fail_need(std::size_t n, std::string_view what);
  [[gnu::cold]] bool fail_count(std::uint64_t count, std::string_view what, std::size_t at);
  [[gnu::cold]] bool fail_length(std::uint64_t length, std::string_view what, std::size_t at);
  [[gnu::cold]] bool fail_size();
  [[gnu::cold]] bool fail_decoded(std::uint64_t count, std::size_t size, std::string_view what,
                                  std::size_t at);
};

// The length (2, 3 or 4) of the well-formed multi-byte UTF-8 sequence starting at p
// (p < end, *p >= 0x80), with its code point in `cp`; 0 if it is malformed (a stray
// continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut short).
std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end,
                          std::uint32_t& cp) noexcept;

// Checks that `text` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
// Returns the offset of the first bad byte, or text.size() when it is valid.
std::size_t utf8_invalid_at(std::string_view text) noexcept;

}  // namespace nexo::wire
