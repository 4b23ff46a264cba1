// Bundles: several group/ packets in one datagram. A sender's packets that
// leave together for one destination (the messages an application handed
// over while the last datagram was being sent, their heartbeat, ...) go out
// as one datagram instead of one each: the kernel's per-datagram work (a
// system call's share, an skb, one copy per member on a host, a wake-up) is
// paid once per bundle. JGroups' transport bundles the same way. Nothing
// waits to fill a bundle: a driver bundles what is queued when it sends, so a
// lone message leaves at once, alone, as a bare packet.
//
// Layout (big-endian):
//
//   offset  size  field
//   0       2     magic: 0x4E 0x42 ("NB"; a packet's is "NG")
//   2       1     version: 2 (kVersion, as packets)
//   3       1     reserved: 0
//   4       ...   entries to the datagram's end, at least one, each
//                 length u16 (kHeaderSize + kCrcSize .. kMaxPacket - 6) and
//                 the packet's bytes (a whole packet of packet.hpp, its own
//                 CRC32C included)
//
// A bundle has no checksum of its own: every packet in it has one. A damaged
// length either breaks the framing (the lengths no longer fill the datagram
// exactly: the whole datagram is refused, bad_bundle) or moves the boundary
// between two packets, whose checksums then fail. A decoder that knows no
// bundles (there is none: every version has them) would refuse one as bad_magic.
//
// The bundle is the unit of loss: a dropped datagram drops every packet in
// it, and each is repaired as any lost packet is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "nexo/base/bytes.hpp"
#include "nexo/group/packet.hpp"

namespace nexo::group {

inline constexpr std::byte kBundleMagic[2] = {std::byte{0x4E}, std::byte{0x42}};  // "NB"
inline constexpr std::size_t kBundleHeader = 4;
inline constexpr std::size_t kBundleEntryHeader = 2;  // the length
// The default largest bundle: 8 KiB, the size of a jumbo frame's payload
// (a bundle larger than the path's MTU is fragmented by IP, and the loss of
// any fragment loses it whole).
inline constexpr std::size_t kDefaultBundleBytes = 8192;

// Whether `datagram` starts as a bundle does (magic "NB").
bool is_bundle(std::span<const std::byte> datagram) noexcept;

// Checks a bundle's framing, then calls on_packet(bytes) for each packet in
// it, in order (the bytes point into `datagram`; decode() checks each). A
// datagram that is no bundle is passed to on_packet whole. Returns none, or,
// without calling on_packet at all: too_short (fewer than the header and one
// length), too_large (over kMaxPacket), bad_version, bad_bundle (a nonzero
// reserved byte, an entry shorter than a packet's header and checksum, or
// lengths that do not fill the datagram exactly).
template <typename OnPacket>
ParseError for_each_packet(std::span<const std::byte> datagram, OnPacket&& on_packet);

// Packs packets into one bundle of at most `limit` bytes. Thread contract: none.
class BundleWriter {
 public:
  // `limit`: the largest datagram (bundle) to make, at most kMaxPacket; a
  // packet too large to share one still goes out, alone (datagram()).
  explicit BundleWriter(std::size_t limit = kDefaultBundleBytes);

  // Whether `packet_size` more bytes of packet join this bundle within the
  // limit. Always true when the bundle is empty.
  bool fits(std::size_t packet_size) const noexcept;
  // Adds a packet (the caller checked fits(); a packet over kMaxPacket -
  // kBundleHeader - kBundleEntryHeader bytes is only ever alone).
  void add(std::span<const std::byte> packet);
  bool empty() const noexcept { return count_ == 0; }
  std::size_t count() const noexcept { return count_; }
  // The datagram to send: the packet itself when there is one (a bare packet,
  // no bundle framing), the bundle when there are more.
  std::span<const std::byte> datagram() const noexcept;
  // Empties it (the buffer's capacity is kept).
  void clear() noexcept;
  std::size_t limit() const noexcept { return limit_; }

 private:
  std::size_t limit_;
  Bytes buffer_;  // header, then entries
  std::size_t count_ = 0;
};

// --- implementation -----------------------------------------------------------------------------

namespace bundle_detail {
// The framing check of for_each_packet (none, or the error).
ParseError check(std::span<const std::byte> datagram) noexcept;
inline std::size_t entry_length(std::span<const std::byte> datagram, std::size_t at) noexcept {
  return std::to_integer<std::size_t>(datagram[at]) << 8 | std::to_integer<std::size_t>(datagram[at + 1]);
}
}  // namespace bundle_detail

template <typename OnPacket>
ParseError for_each_packet(std::span<const std::byte> datagram, OnPacket&& on_packet) {
  if (!is_bundle(datagram)) {
    on_packet(datagram);
    return ParseError::none;
  }
  if (const ParseError e = bundle_detail::check(datagram); e != ParseError::none) return e;
  for (std::size_t at = kBundleHeader; at < datagram.size();) {
    const std::size_t length = bundle_detail::entry_length(datagram, at);
    on_packet(datagram.subspan(at + kBundleEntryHeader, length));
    at += kBundleEntryHeader + length;
  }
  return ParseError::none;
}

}  // namespace nexo::group
