// The tcp:// frame, shared by both ends of the transport.
//
// Byte layout (integers big-endian):
//   offset 0  u32  length: the bytes after this field (kind, id, payload)
//   offset 4  u8   kind: 0 data; 1 data to acknowledge; 2 acknowledgement
//   offset 5  u64  id, kinds 1 and 2 only: the sender's number for the message
//   then           payload, kinds 0 and 1
// The receiver acknowledges a kind-1 frame when a receive takes its message:
// that acknowledgement is what a synchronous send waits for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "nexo/base/bytes.hpp"

namespace nexo::msg::frame {

enum Kind : std::uint8_t { kData = 0, kDataToAck = 1, kAck = 2 };

constexpr std::size_t kLengthField = 4;
constexpr std::size_t header_size(Kind kind) {
  return kLengthField + 1 + (kind == kData ? 0 : 8);
}

constexpr std::size_t kMaxHeaderSize = header_size(kDataToAck);

// Writes the header of a frame of `kind` carrying `payload_size` bytes at `out`
// (room for header_size(kind) bytes, the payload to follow it); returns its size.
inline std::size_t write_header(std::byte* out, Kind kind, std::uint64_t id,
                                std::size_t payload_size) noexcept {
  const std::size_t size = header_size(kind);
  const auto length = static_cast<std::uint32_t>(size - kLengthField + payload_size);
  for (std::size_t i = 0; i < kLengthField; ++i)
    out[i] = static_cast<std::byte>(length >> (8 * (kLengthField - 1 - i)));
  out[kLengthField] = static_cast<std::byte>(kind);
  if (kind != kData) {
    for (std::size_t i = 0; i < 8; ++i)
      out[kLengthField + 1 + i] = static_cast<std::byte>(id >> (8 * (7 - i)));
  }
  return size;
}

// Appends a whole frame to `out`.
void append(Bytes& out, Kind kind, std::uint64_t id, std::span<const std::byte> payload);

struct Parsed {
  Kind kind = kData;
  std::uint64_t id = 0;
  std::span<const std::byte> payload;
  // Bytes of input the frame occupies. Also set on need_more once the header
  // has arrived (and passed its checks): the whole frame's size; 0 before.
  std::size_t size = 0;
};

enum class Status { complete, need_more, malformed };

// Parses the frame at the front of `input`, refusing payloads over `max_payload`
// before they arrive (the length field alone decides). On malformed, `why` says
// what was wrong. Reads only `input`, never past it; any bytes are safe.
Status parse(std::span<const std::byte> input, std::size_t max_payload, Parsed& out,
             std::string& why);

}  // namespace nexo::msg::frame
