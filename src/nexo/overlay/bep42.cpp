#include "nexo/overlay/bep42.hpp"

#include <array>
#include <cstddef>

#include "nexo/reliable/checksum.hpp"

namespace nexo::overlay {
namespace {

constexpr std::array<std::uint8_t, 4> kMaskV4{0x03, 0x0f, 0x3f, 0xff};
constexpr std::array<std::uint8_t, 8> kMaskV6{0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff};

// The top 21 bits of an id or a crc.
constexpr std::uint32_t kPrefixMask = 0xfffff800U;

}  // namespace

bool bep42_exempt(const net::InetAddress& address) noexcept {
  const net::InetAddress a = address.unmapped();
  const auto b = a.bytes();
  if (a.is_v4()) {
    return b[0] == 127 || b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
           (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254);
  }
  return a.is_loopback() || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || (b[0] & 0xfe) == 0xfc;
}

std::uint32_t bep42_crc(const net::InetAddress& address, std::uint8_t rand) noexcept {
  const net::InetAddress a = address.unmapped();
  const auto ip = a.bytes();
  std::array<std::byte, 8> masked{};
  const std::size_t n = a.is_v4() ? kMaskV4.size() : kMaskV6.size();
  const std::uint8_t* mask = a.is_v4() ? kMaskV4.data() : kMaskV6.data();
  for (std::size_t i = 0; i < n; ++i)
    masked[i] = static_cast<std::byte>(ip[i] & mask[i]);
  masked[0] |= static_cast<std::byte>((rand & 7) << 5);
  return reliable::crc32c(std::span(masked.data(), n));
}

NodeId bep42_node_id(const net::InetAddress& address, std::uint8_t rand,
                     fault::Random& rng) noexcept {
  const std::uint32_t crc = bep42_crc(address, rand);
  NodeId::Bytes raw = NodeId::random(rng).bytes();
  raw[0] = static_cast<std::uint8_t>(crc >> 24);
  raw[1] = static_cast<std::uint8_t>(crc >> 16);
  raw[2] = static_cast<std::uint8_t>(((crc >> 8) & 0xf8) | (raw[2] & 0x07));
  raw[19] = rand;
  return NodeId(raw);
}

bool bep42_valid(const NodeId& id, const net::InetAddress& address) noexcept {
  if (bep42_exempt(address)) return true;
  const auto& b = id.bytes();
  const std::uint32_t prefix =
      (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8);
  return ((prefix ^ bep42_crc(address, b[19])) & kPrefixMask) == 0;
}

}  // namespace nexo::overlay
