// NodeId — a 160-bit Kademlia / Mainline DHT identifier (BEP 5): node ids,
// info-hashes and item keys share one space, and closeness in it is the XOR
// metric: d(a, b) = a XOR b read as an unsigned big-endian integer.
//
//   NodeId own = NodeId::random(rng);
//   Distance d = distance(own, target);           // ordered: smaller is closer
//   if (closer_to(target, a, b)) ...              // a strictly closer than b
//   int shared = common_prefix_length(own, x);    // 0..160, the bucket index
//
// Bit 0 is the most significant bit of byte 0 (the order of the distance and
// of Kademlia's buckets). Values; thread-safe as any immutable value.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "nexo/base/result.hpp"
#include "nexo/fault/random.hpp"
#include "nexo/overlay/sha1.hpp"

namespace nexo::overlay {

inline constexpr std::size_t kNodeIdBytes = 20;
inline constexpr int kNodeIdBits = 160;

// The XOR of two ids, ordered as the unsigned 160-bit integer it spells.
class Distance {
 public:
  using Bytes = std::array<std::uint8_t, kNodeIdBytes>;

  constexpr Distance() noexcept = default;  // zero: an id's distance to itself
  constexpr explicit Distance(const Bytes& bytes) noexcept : bytes_(bytes) {}

  const Bytes& bytes() const noexcept { return bytes_; }
  // The number of leading zero bits (160 for the zero distance): the length
  // of the prefix the two ids share.
  int leading_zeros() const noexcept;

  friend bool operator==(const Distance&, const Distance&) noexcept = default;
  friend auto operator<=>(const Distance&, const Distance&) noexcept = default;

 private:
  Bytes bytes_{};
};

class NodeId {
 public:
  using Bytes = std::array<std::uint8_t, kNodeIdBytes>;

  constexpr NodeId() noexcept = default;  // all zero bits
  constexpr explicit NodeId(const Bytes& bytes) noexcept : bytes_(bytes) {}

  // A SHA-1 digest as an id (an info-hash, an item key, a topic key).
  static NodeId from_digest(const Sha1Digest& digest) noexcept { return NodeId(digest); }
  // Exactly 20 raw bytes (the `id`, `target`, `info_hash` of a KRPC message).
  // Errors: malformed naming the length found.
  static Result<NodeId> from_bytes(std::span<const std::byte> bytes);
  static Result<NodeId> from_bytes(std::string_view bytes);
  // 40 hex digits, either case. Errors: invalid_argument naming the text and
  // the first offending position.
  static Result<NodeId> from_hex(std::string_view hex);

  // 160 random bits.
  static NodeId random(fault::Random& rng) noexcept;
  // The first `prefix` bits (0..160) of `base`, the rest random.
  static NodeId random_with_prefix(const NodeId& base, int prefix, fault::Random& rng) noexcept;
  // A random id sharing exactly `prefix` (0..159) leading bits with `base`:
  // those bits copied, the next one flipped, the rest random. It falls in the
  // routing-table bucket at depth `prefix` of a table whose own id is `base`,
  // so it is that bucket's refresh target (BEP 5).
  static NodeId random_in_bucket(const NodeId& base, int prefix, fault::Random& rng) noexcept;

  const Bytes& bytes() const noexcept { return bytes_; }
  std::span<const std::byte> as_bytes() const noexcept { return std::as_bytes(std::span(bytes_)); }
  // The raw 20 bytes as a string (a bencoded byte string's form).
  std::string to_byte_string() const {
    return std::string(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
  }
  // 40 lowercase hex digits.
  std::string to_hex() const;

  // Bit `index` (0..159), 0 being the most significant.
  bool bit(int index) const noexcept;
  void set_bit(int index, bool value) noexcept;

  friend bool operator==(const NodeId&, const NodeId&) noexcept = default;
  // The order of the 160-bit unsigned integers (byte-wise, big-endian).
  friend auto operator<=>(const NodeId&, const NodeId&) noexcept = default;

 private:
  Bytes bytes_{};
};

// a XOR b.
Distance distance(const NodeId& a, const NodeId& b) noexcept;
// The number of leading bits a and b share (160 when equal).
int common_prefix_length(const NodeId& a, const NodeId& b) noexcept;
// True when `a` is strictly closer to `target` than `b` (XOR metric). Two
// distinct ids are never at the same distance from a target, so for a != b
// exactly one of closer_to(t, a, b) and closer_to(t, b, a) holds.
bool closer_to(const NodeId& target, const NodeId& a, const NodeId& b) noexcept;

}  // namespace nexo::overlay

// Hashing (for unordered containers): ids are uniformly distributed, so their
// first 8 bytes are a good hash as they stand.
template <>
struct std::hash<nexo::overlay::NodeId> {
  std::size_t operator()(const nexo::overlay::NodeId& id) const noexcept {
    std::size_t h = 0;
    for (std::size_t i = 0; i < sizeof(std::size_t); ++i)
      h = (h << 8) | id.bytes()[i];
    return h;
  }
};
