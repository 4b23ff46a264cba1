#include "nexo/overlay/node_id.hpp"

#include <bit>
#include <cassert>
#include <cstring>

#include "nexo/base/bytes.hpp"

namespace nexo::overlay {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Fills bytes_[first..] with random bits: whole 64-bit draws, 8 bytes at a time.
void fill_random(NodeId::Bytes& bytes, std::size_t first, fault::Random& rng) noexcept {
  for (std::size_t i = first; i < bytes.size(); i += 8) {
    std::uint64_t word = rng.next();
    for (std::size_t j = i; j < bytes.size() && j < i + 8; ++j, word >>= 8)
      bytes[j] = static_cast<std::uint8_t>(word);
  }
}

}  // namespace

int Distance::leading_zeros() const noexcept {
  for (std::size_t i = 0; i < bytes_.size(); ++i)
    if (bytes_[i] != 0) return static_cast<int>(i) * 8 + std::countl_zero(bytes_[i]);
  return kNodeIdBits;
}

Result<NodeId> NodeId::from_bytes(std::span<const std::byte> bytes) {
  if (bytes.size() != kNodeIdBytes)
    return Error(ErrorKind::malformed,
                 "node id: " + std::to_string(bytes.size()) + " bytes, a node id has 20");
  Bytes raw;
  std::memcpy(raw.data(), bytes.data(), raw.size());
  return NodeId(raw);
}

Result<NodeId> NodeId::from_bytes(std::string_view bytes) {
  return from_bytes(nexo::as_bytes(bytes));
}

Result<NodeId> NodeId::from_hex(std::string_view hex) {
  if (hex.size() != 2 * kNodeIdBytes)
    return Error(ErrorKind::invalid_argument, "node id \"" + std::string(hex) +
                                                  "\": " + std::to_string(hex.size()) +
                                                  " characters, expected 40 hex digits");
  Bytes raw;
  for (std::size_t i = 0; i < hex.size(); ++i) {
    const int v = hex_value(hex[i]);
    if (v < 0)
      return Error(
          ErrorKind::invalid_argument,
          "node id \"" + std::string(hex) + "\": not a hex digit at position " + std::to_string(i));
    raw[i / 2] = static_cast<std::uint8_t>(i % 2 == 0 ? v << 4 : raw[i / 2] | v);
  }
  return NodeId(raw);
}

NodeId NodeId::random(fault::Random& rng) noexcept {
  Bytes raw;
  fill_random(raw, 0, rng);
  return NodeId(raw);
}

NodeId NodeId::random_with_prefix(const NodeId& base, int prefix, fault::Random& rng) noexcept {
  assert(prefix >= 0 && prefix <= kNodeIdBits);
  NodeId id = random(rng);
  const auto whole = static_cast<std::size_t>(prefix / 8);
  std::memcpy(id.bytes_.data(), base.bytes_.data(), whole);
  if (const int rest = prefix % 8; rest != 0) {
    const auto keep = static_cast<std::uint8_t>(0xff << (8 - rest));
    id.bytes_[whole] =
        static_cast<std::uint8_t>((base.bytes_[whole] & keep) | (id.bytes_[whole] & ~keep));
  }
  return id;
}

NodeId NodeId::random_in_bucket(const NodeId& base, int prefix, fault::Random& rng) noexcept {
  assert(prefix >= 0 && prefix < kNodeIdBits);
  NodeId id = random_with_prefix(base, prefix, rng);
  id.set_bit(prefix, !base.bit(prefix));
  return id;
}

std::string NodeId::to_hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(2 * kNodeIdBytes, '0');
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    text[2 * i] = kDigits[bytes_[i] >> 4];
    text[2 * i + 1] = kDigits[bytes_[i] & 0xf];
  }
  return text;
}

bool NodeId::bit(int index) const noexcept {
  assert(index >= 0 && index < kNodeIdBits);
  return ((bytes_[static_cast<std::size_t>(index / 8)] >> (7 - index % 8)) & 1) != 0;
}

void NodeId::set_bit(int index, bool value) noexcept {
  assert(index >= 0 && index < kNodeIdBits);
  auto& byte = bytes_[static_cast<std::size_t>(index / 8)];
  const auto mask = static_cast<std::uint8_t>(0x80 >> (index % 8));
  byte = static_cast<std::uint8_t>(value ? byte | mask : byte & ~mask);
}

Distance distance(const NodeId& a, const NodeId& b) noexcept {
  Distance::Bytes d;
  for (std::size_t i = 0; i < d.size(); ++i)
    d[i] = static_cast<std::uint8_t>(a.bytes()[i] ^ b.bytes()[i]);
  return Distance(d);
}

int common_prefix_length(const NodeId& a, const NodeId& b) noexcept {
  for (std::size_t i = 0; i < kNodeIdBytes; ++i)
    if (const auto x = static_cast<std::uint8_t>(a.bytes()[i] ^ b.bytes()[i]); x != 0)
      return static_cast<int>(i) * 8 + std::countl_zero(x);
  return kNodeIdBits;
}

bool closer_to(const NodeId& target, const NodeId& a, const NodeId& b) noexcept {
  // The first byte where a and b differ decides: whichever agrees more with
  // the target there is closer (higher bytes gave both the same distance).
  for (std::size_t i = 0; i < kNodeIdBytes; ++i) {
    const auto da = static_cast<std::uint8_t>(a.bytes()[i] ^ target.bytes()[i]);
    const auto db = static_cast<std::uint8_t>(b.bytes()[i] ^ target.bytes()[i]);
    if (da != db) return da < db;
  }
  return false;
}

}  // namespace nexo::overlay
