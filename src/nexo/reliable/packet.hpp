// The rudp:// wire format (version 1): one UDP datagram per packet.
//
// Every integer is big-endian. Every packet:
//
//   offset  size  field
//   0       1     version: 0xA1
//   1       1     type (Type below)
//   2       2     flags (DATA: kUnordered, kBundle)
//   4       4     connection: the RECEIVER's id for this connection (0 before
//                 the receiver has one: INIT, COOKIE_ECHO)
//   8       ...   body, by type (below)
//   end-4   4     CRC32C (Castagnoli) of every byte before it
//
// Bodies:
//   INIT         id u32, initial_seq u32, window u32, max_payload u16, then
//                zero padding to kInitSize bytes in all (the server answers an
//                unvalidated address with at most 3x what it received, so the
//                client pays for the answer up front, as QUIC's Initial does)
//   COOKIE       cookie (issued_at u64, mac u64)
//   COOKIE_ECHO  id u32, initial_seq u32, window u32, max_payload u16, cookie
//   ACCEPT       id u32, initial_seq u32, window u32, max_payload u16
//   DATA         seq u32, frag_index u32, frag_count u32, ack u32, window u32,
//                payload (the rest): a fragment of one message, or with
//                kBundle (frag_count 1) two or more whole messages, each a
//                u16 length and its bytes, filling the payload exactly
//   ACK          ack u32, window u32, sack_count u8, then sack_count blocks of
//                (start u32, end u32): sequence ranges [start, end) received
//                above `ack`; at most kMaxSack
//   PING         (empty: asks for an ACK; keepalive and window probe)
//   CLOSE        (empty)
//   CLOSE_ACK    (empty)
//
// `ack` is cumulative: the next sequence number the sender of the packet
// expects. `window` is how many more packets it can buffer beyond `ack`.
// Sequence numbers wrap: compare them with seq_before() (serial arithmetic).
// A message of frag_count packets occupies seq - frag_index ..
// seq - frag_index + frag_count - 1.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "nexo/base/bytes.hpp"

namespace nexo::reliable {

inline constexpr std::uint8_t kVersion = 0xA1;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kCrcSize = 4;
inline constexpr std::size_t kInitSize = 64;  // an INIT is padded to this
inline constexpr std::size_t kMaxSack = 16;
inline constexpr std::size_t kDataOverhead = kHeaderSize + 20 + kCrcSize;
inline constexpr std::uint16_t kUnordered = 1;  // DATA flag: deliver as soon as whole
inline constexpr std::uint16_t kBundle = 2;     // DATA flag: several small messages in one packet
inline constexpr std::size_t kBundleLengthSize = 2;

enum class Type : std::uint8_t {
  init = 1,
  cookie = 2,
  cookie_echo = 3,
  accept = 4,
  data = 5,
  ack = 6,
  ping = 7,
  close = 8,
  close_ack = 9,
};
std::string_view to_string(Type type) noexcept;

// Wrap-safe: a is before b (RFC 1982 serial-number arithmetic, 32 bits).
constexpr bool seq_before(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b) < 0;
}

struct Handshake {
  std::uint32_t id = 0;           // the sender's own connection id (nonzero)
  std::uint32_t initial_seq = 0;  // its first DATA sequence number
  std::uint32_t window = 0;       // packets it can buffer
  std::uint16_t max_payload = 0;  // the largest DATA payload it accepts
};

struct Cookie {
  std::uint64_t issued_at = 0;  // the server's clock, milliseconds
  std::uint64_t mac = 0;        // keyed hash over the client's address, its handshake and issued_at
};

struct SackBlock {
  std::uint32_t start = 0, end = 0;  // [start, end)
};

// A parsed packet. `payload` points into the datagram it was parsed from.
struct Packet {
  Type type = Type::ping;
  std::uint16_t flags = 0;
  std::uint32_t connection = 0;
  Handshake handshake;                                    // INIT, COOKIE_ECHO, ACCEPT
  Cookie cookie;                                          // COOKIE, COOKIE_ECHO
  std::uint32_t seq = 0, frag_index = 0, frag_count = 0;  // DATA
  std::uint32_t ack = 0, window = 0;                      // DATA, ACK
  std::uint8_t sack_count = 0;                            // ACK
  std::array<SackBlock, kMaxSack> sack{};
  std::span<const std::byte> payload;  // DATA
};

// Why a datagram is not a packet (each is counted by the endpoint).
enum class ParseError : std::uint8_t {
  none,
  too_short,     // shorter than a header and checksum
  bad_version,   // not 0xA1
  bad_checksum,  // CRC32C mismatch: corrupted on the way (treated as lost)
  unknown_type,
  bad_length,    // the body is shorter (or, for fixed bodies, longer) than its type needs
  bad_fragment,  // frag_count 0, or frag_index >= frag_count
  bad_sack,      // more than kMaxSack blocks, or a block with end not after start
  bad_bundle,    // a bundle that is fragmented, holds fewer than two messages, or whose
                 // lengths do not fill its payload exactly
};
std::string_view to_string(ParseError error) noexcept;

// Parses one datagram. On error `out` is unspecified. Never reads outside
// `datagram`, never allocates.
ParseError parse(std::span<const std::byte> datagram, Packet& out) noexcept;

// Calls `each(message)` for every message of a bundle's payload, in order;
// false (after calling it for the well-formed ones) when a length runs past
// the end. Never reads outside `payload`.
template <class Each>
bool for_each_bundled(std::span<const std::byte> payload, Each&& each) {
  while (!payload.empty()) {
    if (payload.size() < kBundleLengthSize) return false;
    const std::size_t length =
        (std::to_integer<std::size_t>(payload[0]) << 8) | std::to_integer<std::size_t>(payload[1]);
    if (payload.size() - kBundleLengthSize < length) return false;
    each(payload.subspan(kBundleLengthSize, length));
    payload = payload.subspan(kBundleLengthSize + length);
  }
  return true;
}

// Appends the packet (header, body, DATA payload, CRC32C) to `out`.
// `packet.payload` is copied for DATA; INIT is padded to kInitSize.
void write(const Packet& packet, Bytes& out);

// The encoded size of `packet`.
std::size_t encoded_size(const Packet& packet) noexcept;

}  // namespace nexo::reliable
