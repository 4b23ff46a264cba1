// Bundles: the framing check and the writer (bundle.hpp has the layout).
#include "nexo/group/bundle.hpp"

#include <cassert>
#include <cstring>

namespace nexo::group {

bool is_bundle(std::span<const std::byte> datagram) noexcept {
  return datagram.size() >= 2 && datagram[0] == kBundleMagic[0] && datagram[1] == kBundleMagic[1];
}

namespace bundle_detail {

ParseError check(std::span<const std::byte> datagram) noexcept {
  if (datagram.size() < kBundleHeader + kBundleEntryHeader) return ParseError::too_short;
  if (datagram.size() > kMaxPacket) return ParseError::too_large;
  if (std::to_integer<std::uint8_t>(datagram[2]) != kVersion) return ParseError::bad_version;
  if (datagram[3] != std::byte{0}) return ParseError::bad_bundle;
  std::size_t at = kBundleHeader;
  while (at < datagram.size()) {
    if (datagram.size() - at < kBundleEntryHeader) return ParseError::bad_bundle;
    const std::size_t length = entry_length(datagram, at);
    if (length < kHeaderSize + kCrcSize) return ParseError::bad_bundle;
    if (datagram.size() - at - kBundleEntryHeader < length) return ParseError::bad_bundle;
    at += kBundleEntryHeader + length;
  }
  return ParseError::none;
}

}  // namespace bundle_detail

BundleWriter::BundleWriter(std::size_t limit) : limit_(std::min(limit, kMaxPacket)) {
  buffer_.reserve(limit_);
  clear();
}

bool BundleWriter::fits(std::size_t packet_size) const noexcept {
  return count_ == 0 || buffer_.size() + kBundleEntryHeader + packet_size <= limit_;
}

void BundleWriter::add(std::span<const std::byte> packet) {
  assert(fits(packet.size()));
  const std::size_t at = buffer_.size();
  buffer_.resize(at + kBundleEntryHeader + packet.size());
  // A lone packet too large for a bundle entry is only ever sent bare
  // (datagram()): its length field is never read.
  const auto length = static_cast<std::uint16_t>(std::min<std::size_t>(packet.size(), 0xFFFF));
  buffer_[at] = static_cast<std::byte>(length >> 8);
  buffer_[at + 1] = static_cast<std::byte>(length & 0xFF);
  if (!packet.empty()) std::memcpy(buffer_.data() + at + kBundleEntryHeader, packet.data(), packet.size());
  ++count_;
}

std::span<const std::byte> BundleWriter::datagram() const noexcept {
  const std::span<const std::byte> all(buffer_);
  if (count_ == 1) return all.subspan(kBundleHeader + kBundleEntryHeader);
  return all;
}

void BundleWriter::clear() noexcept {
  buffer_.resize(kBundleHeader);
  buffer_[0] = kBundleMagic[0];
  buffer_[1] = kBundleMagic[1];
  buffer_[2] = std::byte{kVersion};
  buffer_[3] = std::byte{0};
  count_ = 0;
}

}  // namespace nexo::group
