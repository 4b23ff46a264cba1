#include "nexo/msg/frame.hpp"

namespace nexo::msg::frame {
namespace {

void put_be(Bytes& out, std::uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::byte>((value >> shift) & 0xff));
  }
}

std::uint64_t get_be(std::span<const std::byte> in, std::size_t at, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value = (value << 8) | std::to_integer<std::uint64_t>(in[at + i]);
  return value;
}

}  // namespace

void append(Bytes& out, Kind kind, std::uint64_t id, std::span<const std::byte> payload) {
  const std::size_t after_length = header_size(kind) - kLengthField + payload.size();
  out.reserve(out.size() + kLengthField + after_length);
  put_be(out, after_length, 4);
  out.push_back(static_cast<std::byte>(kind));
  if (kind != kData) put_be(out, id, 8);
  out.insert(out.end(), payload.begin(), payload.end());
}

Status parse(std::span<const std::byte> input, std::size_t max_payload, Parsed& out,
             std::string& why) {
  out.size = 0;
  if (input.size() < kLengthField + 1) return Status::need_more;
  const std::uint64_t length = get_be(input, 0, 4);
  const auto kind = std::to_integer<std::uint8_t>(input[4]);
  if (kind > kAck) {
    why = "unknown frame kind " + std::to_string(kind);
    return Status::malformed;
  }
  const std::size_t fixed = header_size(static_cast<Kind>(kind)) - kLengthField;
  if (length < fixed || (kind == kAck && length != fixed)) {
    why = "frame length " + std::to_string(length) + " does not fit kind " + std::to_string(kind);
    return Status::malformed;
  }
  if (length - fixed > max_payload) {
    why = "frame of " + std::to_string(length - fixed) + " bytes exceeds the limit of " +
          std::to_string(max_payload);
    return Status::malformed;
  }
  if (input.size() < kLengthField + length) {
    out.size = kLengthField + length;
    return Status::need_more;
  }
  out.kind = static_cast<Kind>(kind);
  out.id = kind == kData ? 0 : get_be(input, 5, 8);
  out.payload = input.subspan(kLengthField + fixed, length - fixed);
  out.size = kLengthField + length;
  return Status::complete;
}

}  // namespace nexo::msg::frame
