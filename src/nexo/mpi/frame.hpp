// The frames of mpi/'s point-to-point protocol: what one rank sends another.
//
// A rank's traffic to another rank is a stream of frames; a transport (shm
// rings, TCP) moves whole frames opaquely and never parses them. Every integer
// is little-endian (every host nexo runs MPI on is; the bytes are copied, not
// swapped). Every frame starts with a fixed 40-byte header:
//
//   offset  size  field
//   0       1     kind (FrameKind below; EAGER 1 .. FIN 6)
//   1       1     flags (kSynchronous, kHasPull; other bits 0)
//   2       2     reserved, 0
//   4       4     context: the communicator's context id (u32)
//   8       4     source: the sending rank (i32, >= 0)
//   12      4     tag (i32, >= 0)
//   16      8     size (u64): EAGER, RTS: the message's size in bytes; CTS: the
//                 bytes the receiver wants (<= the message's size: the rest
//                 would be truncated); DATA: the bytes the receiver expects in
//                 all; SYNC_ACK, FIN: 0
//   24      8     sender request id (u64, nonzero): the send's id at its sender
//   32      8     receiver request id (u64): CTS, DATA: the receive's id at the
//                 receiver (nonzero); other kinds: 0
//   40      ...   body, by kind:
//     EAGER     the message's bytes, exactly `size` of them
//     RTS       empty; or with kHasPull, pid u64 then address u64: where the
//               sender's buffer lies, for a single-copy pull by the receiver
//     CTS       empty
//     DATA      offset u64 (where the chunk starts in the message), then the
//               chunk (at least 1 byte, offset + chunk <= size)
//     SYNC_ACK  empty (the receiver matched a synchronous EAGER)
//     FIN       empty (the receiver pulled an RTS's bytes itself)
//
// kSynchronous is allowed on EAGER and RTS only (the sender wants to know when
// the receive matched); kHasPull on RTS only. decode_frame() refuses, with a
// malformed Error naming the rule, any frame that breaks a rule above; it
// never reads outside the bytes given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "nexo/base/result.hpp"

namespace nexo::mpi {

enum class FrameKind : std::uint8_t {
  eager = 1,     // a whole small message
  rts = 2,       // request to send: the envelope of a large message
  cts = 3,       // clear to send: the receive matched, send the bytes
  data = 4,      // a chunk of a large message
  sync_ack = 5,  // a synchronous eager send was matched
  fin = 6,       // the receiver pulled the bytes; the send is complete
};

// "EAGER", "RTS", ...
std::string_view to_string(FrameKind kind) noexcept;

inline constexpr std::uint8_t kSynchronous = 0x01;
inline constexpr std::uint8_t kHasPull = 0x02;

inline constexpr std::size_t kFrameHeaderSize = 40;
inline constexpr std::size_t kPullSize = 16;       // RTS body with kHasPull
inline constexpr std::size_t kDataOffsetSize = 8;  // DATA body before the chunk

// Where a sender's buffer lies in its process, for a transport's single-copy
// pull (e.g. process_vm_readv).
struct PullAddress {
  std::uint64_t pid = 0;
  std::uint64_t address = 0;
  friend bool operator==(const PullAddress&, const PullAddress&) = default;
};

// One decoded frame. `payload` views the decoded bytes (EAGER: the message;
// DATA: the chunk; else empty) and lives as long as they do.
struct Frame {
  FrameKind kind = FrameKind::eager;
  std::uint8_t flags = 0;
  std::uint32_t context = 0;
  std::int32_t source = 0;
  std::int32_t tag = 0;
  std::uint64_t size = 0;
  std::uint64_t sender_request = 0;
  std::uint64_t receiver_request = 0;
  std::optional<PullAddress> pull;  // RTS with kHasPull
  std::uint64_t offset = 0;         // DATA
  std::span<const std::byte> payload;

  bool synchronous() const noexcept { return (flags & kSynchronous) != 0; }
};

// Bytes encode_frame() writes for `frame`.
std::size_t encoded_size(const Frame& frame) noexcept;

// Writes `frame` (which must follow the rules above: `flags` and `pull` agree,
// `payload` is the body) into `out`; returns the bytes written. Fails with
// too_large, writing nothing, when `out` is shorter than encoded_size(frame).
Result<std::size_t> encode_frame(const Frame& frame, std::span<std::byte> out);

// Parses one whole frame (exactly `bytes`); the Frame views `bytes`.
// Errors: malformed, naming the field and the rule it breaks.
Result<Frame> decode_frame(std::span<const std::byte> bytes);

}  // namespace nexo::mpi
