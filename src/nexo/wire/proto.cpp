// The protobuf wire format: the parts of the decoder that need no type (varints,
// lengths, skipping unknown fields, the error texts). See proto.hpp.
#include "nexo/wire/proto.hpp"

namespace nexo::wire::proto::detail {

std::string wire_type_name(unsigned wire_type) {
  static constexpr std::string_view kNames[] = {"VARINT", "I64", "LEN", "SGROUP",
                                                "EGROUP", "I32", "6",   "7"};
  return std::to_string(wire_type) + " (" + std::string(kNames[wire_type & 7]) + ")";
}

std::string key_label(std::uint32_t number, std::string_view name, unsigned wire_type) {
  return "field " + std::to_string(number) + " " + std::string(name) + ", wire type " +
         std::to_string(wire_type);
}

bool Decoder::read_varint_slow(std::uint64_t& out, std::string_view what) {
  std::uint64_t r = 0;
  const std::ptrdiff_t left = end_ - p_;
  for (std::ptrdiff_t i = 0; i < 10; ++i) {
    if (i >= left)
      return fail(p_, "truncated: " + std::string(what) + " varint runs past the end (" +
                          std::to_string(left) + " bytes left)");
    const unsigned b = p_[i];
    r |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      p_ += i + 1;
      out = r;
      return true;
    }
  }
  return fail(p_, std::string(what) + " varint is longer than 10 bytes");
}

bool Decoder::length_past_end(const unsigned char* at, std::uint64_t n, std::string_view what) {
  return fail(at, std::string(what) + " length " + std::to_string(n) + " runs past the end (" +
                      std::to_string(end_ - p_) + " bytes left)");
}

bool Decoder::truncated(std::string_view what, std::size_t n) {
  return fail(p_, "truncated: " + std::string(what) + " needs " + std::to_string(n) + " bytes, " +
                      std::to_string(end_ - p_) + " left");
}

bool Decoder::wrong_type(const unsigned char* at, std::uint32_t number, std::string_view name,
                         unsigned got, unsigned want) {
  return fail(at, "field " + std::to_string(number) + " " + std::string(name) + " has wire type " +
                      wire_type_name(got) + ", expected " + wire_type_name(want));
}

bool Decoder::check_utf8_slow(const unsigned char* at, std::size_t n, std::string_view name) {
  std::size_t bad = utf8_invalid_at({reinterpret_cast<const char*>(at), n});
  if (bad == n) return true;
  return fail(at + bad, "string " + std::string(name) + " is not valid UTF-8");
}

bool Decoder::skip(unsigned wire_type, std::uint64_t number, const unsigned char* at) {
  if (number == 0) return fail(at, "field number 0");
  if (number > kMaxFieldNumber)
    return fail(at, "field number " + std::to_string(number) + " is above 2^29-1");
  switch (wire_type) {
    case varint: {
      std::uint64_t ignored;
      return read_varint(ignored, "unknown field");
    }
    case i64:
    case i32: {
      const std::size_t n = wire_type == i64 ? 8 : 4;
      if (static_cast<std::size_t>(end_ - p_) < n) return truncated("unknown field", n);
      p_ += n;
      return true;
    }
    case len: {
      std::size_t n = 0;
      if (!read_length(n, "unknown field")) return false;
      p_ += n;
      return true;
    }
    case sgroup:
      return skip_group(number, at);
    case egroup:
      return fail(at, "end-group of field " + std::to_string(number) + " without a start-group");
    default:
      return fail(at, "wire type " + std::to_string(wire_type) + " is not a protobuf wire type");
  }
}

bool Decoder::skip_group(std::uint64_t number, const unsigned char* at) {
  if (!enter(at)) return false;
  while (p_ < end_) {
    const unsigned char* f_at = p_;
    std::uint64_t k;
    if (!read_varint(k, "key")) return false;
    if ((k & 7) == egroup) {
      if (k >> 3 != number)
        return fail(f_at, "end-group of field " + std::to_string(k >> 3) +
                              " inside the group of field " + std::to_string(number));
      --st_.depth;
      return true;
    }
    if (!skip(static_cast<unsigned>(k & 7), k >> 3, f_at)) return false;
  }
  return fail(at, "truncated: the group of field " + std::to_string(number) + " has no end-group");
}

}  // namespace nexo::wire::proto::detail
