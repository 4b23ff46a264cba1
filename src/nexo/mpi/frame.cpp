#include "nexo/mpi/frame.hpp"

#include <cstring>
#include <string>

namespace nexo::mpi {
namespace {

template <class T>
void put(std::byte*& at, T value) noexcept {
  std::memcpy(at, &value, sizeof value);  // little-endian hosts only (frame.hpp)
  at += sizeof value;
}

template <class T>
T get(const std::byte* at) noexcept {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

Error malformed(FrameKind kind, std::string_view what) {
  return Error(ErrorKind::malformed,
               std::string("mpi frame ") + std::string(to_string(kind)) + ": " + std::string(what));
}

std::size_t body_prefix(const Frame& frame) noexcept {
  if (frame.kind == FrameKind::rts && frame.pull) return kPullSize;
  if (frame.kind == FrameKind::data) return kDataOffsetSize;
  return 0;
}

// The rules of frame.hpp for each kind, on a frame whose header is read.
Result<void> check_kind(const Frame& f, std::size_t body_size) {
  const bool empty = body_size == 0;
  const bool has_receiver = f.receiver_request != 0;
  switch (f.kind) {
    case FrameKind::eager:
      if (f.flags & kHasPull) return malformed(f.kind, "pull flag on a frame that is not RTS");
      if (has_receiver) return malformed(f.kind, "receiver request id must be 0");
      if (body_size != f.size) return malformed(f.kind, "body length differs from the size field");
      return ok();
    case FrameKind::rts:
      if (has_receiver) return malformed(f.kind, "receiver request id must be 0");
      if (body_size != ((f.flags & kHasPull) ? kPullSize : 0))
        return malformed(f.kind, "body length does not match the pull flag");
      return ok();
    case FrameKind::cts:
    case FrameKind::data:
      if (f.flags != 0) return malformed(f.kind, "flags must be 0");
      if (!has_receiver) return malformed(f.kind, "receiver request id is 0");
      if (f.kind == FrameKind::cts) {
        return empty ? ok() : malformed(f.kind, "body must be empty");
      }
      if (body_size <= kDataOffsetSize) return malformed(f.kind, "no chunk after the offset");
      return ok();
    case FrameKind::sync_ack:
    case FrameKind::fin:
      if (f.flags != 0) return malformed(f.kind, "flags must be 0");
      if (has_receiver) return malformed(f.kind, "receiver request id must be 0");
      if (f.size != 0) return malformed(f.kind, "size must be 0");
      return empty ? ok() : malformed(f.kind, "body must be empty");
  }
  return malformed(f.kind, "unknown kind");
}

}  // namespace

std::string_view to_string(FrameKind kind) noexcept {
  switch (kind) {
    case FrameKind::eager:
      return "EAGER";
    case FrameKind::rts:
      return "RTS";
    case FrameKind::cts:
      return "CTS";
    case FrameKind::data:
      return "DATA";
    case FrameKind::sync_ack:
      return "SYNC_ACK";
    case FrameKind::fin:
      return "FIN";
  }
  return "UNKNOWN";
}

std::size_t encoded_size(const Frame& frame) noexcept {
  return kFrameHeaderSize + body_prefix(frame) + frame.payload.size();
}

Result<std::size_t> encode_frame(const Frame& frame, std::span<std::byte> out) {
  const std::size_t size = encoded_size(frame);
  if (out.size() < size) {
    return Error(ErrorKind::too_large, "mpi frame " + std::string(to_string(frame.kind)) + ": " +
                                           std::to_string(size) + " bytes do not fit a buffer of " +
                                           std::to_string(out.size()));
  }
  std::byte* at = out.data();
  put<std::uint8_t>(at, static_cast<std::uint8_t>(frame.kind));
  put<std::uint8_t>(at, frame.flags);
  put<std::uint16_t>(at, 0);
  put<std::uint32_t>(at, frame.context);
  put<std::int32_t>(at, frame.source);
  put<std::int32_t>(at, frame.tag);
  put<std::uint64_t>(at, frame.size);
  put<std::uint64_t>(at, frame.sender_request);
  put<std::uint64_t>(at, frame.receiver_request);
  if (frame.kind == FrameKind::rts && frame.pull) {
    put<std::uint64_t>(at, frame.pull->pid);
    put<std::uint64_t>(at, frame.pull->address);
  } else if (frame.kind == FrameKind::data) {
    put<std::uint64_t>(at, frame.offset);
  }
  if (!frame.payload.empty()) std::memcpy(at, frame.payload.data(), frame.payload.size());
  return size;
}

Result<Frame> decode_frame(std::span<const std::byte> bytes) {
  if (bytes.size() < kFrameHeaderSize) {
    return Error(ErrorKind::malformed, "mpi frame: " + std::to_string(bytes.size()) +
                                           " bytes, shorter than the 40-byte header");
  }
  const std::byte* at = bytes.data();
  const auto kind = get<std::uint8_t>(at);
  if (kind < 1 || kind > 6) {
    return Error(ErrorKind::malformed, "mpi frame: unknown kind " + std::to_string(kind));
  }
  Frame f;
  f.kind = static_cast<FrameKind>(kind);
  f.flags = get<std::uint8_t>(at + 1);
  if (get<std::uint16_t>(at + 2) != 0) return malformed(f.kind, "reserved bytes are not 0");
  if ((f.flags & ~(kSynchronous | kHasPull)) != 0) return malformed(f.kind, "unknown flag bits");
  if ((f.flags & kSynchronous) && f.kind != FrameKind::eager && f.kind != FrameKind::rts)
    return malformed(f.kind, "synchronous flag on a frame that is not EAGER or RTS");
  f.context = get<std::uint32_t>(at + 4);
  f.source = get<std::int32_t>(at + 8);
  f.tag = get<std::int32_t>(at + 12);
  f.size = get<std::uint64_t>(at + 16);
  f.sender_request = get<std::uint64_t>(at + 24);
  f.receiver_request = get<std::uint64_t>(at + 32);
  if (f.source < 0) return malformed(f.kind, "negative source rank");
  if (f.tag < 0) return malformed(f.kind, "negative tag");
  if (f.sender_request == 0) return malformed(f.kind, "sender request id is 0");
  const std::span<const std::byte> body = bytes.subspan(kFrameHeaderSize);
  if (auto checked = check_kind(f, body.size()); !checked) return std::move(checked).error();
  if (f.kind == FrameKind::eager) {
    f.payload = body;
  } else if (f.kind == FrameKind::rts && (f.flags & kHasPull)) {
    f.pull = PullAddress{get<std::uint64_t>(body.data()), get<std::uint64_t>(body.data() + 8)};
  } else if (f.kind == FrameKind::data) {
    f.offset = get<std::uint64_t>(body.data());
    f.payload = body.subspan(kDataOffsetSize);
    if (f.offset > f.size || f.payload.size() > f.size - f.offset)
      return malformed(f.kind, "chunk ends past the size field");
  }
  return f;
}

}  // namespace nexo::mpi
