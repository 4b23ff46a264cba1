#include "nexo/reliable/packet.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "nexo/base/big_endian.hpp"
#include "nexo/reliable/checksum.hpp"

namespace nexo::reliable {
namespace {

constexpr std::size_t kHandshakeSize = 14;  // id, initial_seq, window, max_payload
constexpr std::size_t kCookieSize = 16;     // issued_at, mac
constexpr std::size_t kDataBodySize = 20;   // seq, frag_index, frag_count, ack, window
constexpr std::size_t kAckBodySize = 9;     // ack, window, sack_count (then the blocks)
constexpr std::size_t kSackBlockSize = 8;   // start, end
constexpr std::size_t kInitBodySize = kInitSize - kHeaderSize - kCrcSize;

static_assert(kDataOverhead == kHeaderSize + kDataBodySize + kCrcSize);
static_assert(kInitBodySize >= kHandshakeSize);

using Reader = BigEndianReader;
using Writer = BigEndianWriter;

bool known_type(std::uint8_t type) noexcept {
  return type >= static_cast<std::uint8_t>(Type::init) &&
         type <= static_cast<std::uint8_t>(Type::close_ack);
}

// The SACK blocks write() encodes: the array holds at most kMaxSack.
std::size_t sack_blocks(const Packet& packet) noexcept {
  return std::min<std::size_t>(packet.sack_count, kMaxSack);
}

std::size_t body_size(const Packet& packet) noexcept {
  switch (packet.type) {
    case Type::init:
      return kInitBodySize;
    case Type::cookie:
      return kCookieSize;
    case Type::cookie_echo:
      return kHandshakeSize + kCookieSize;
    case Type::accept:
      return kHandshakeSize;
    case Type::data:
      return kDataBodySize + packet.payload.size();
    case Type::ack:
      return kAckBodySize + kSackBlockSize * sack_blocks(packet);
    case Type::ping:
    case Type::close:
    case Type::close_ack:
      return 0;
  }
  return 0;
}

// ---- parsing, one function per body ------------------------------------------

void read_handshake(Reader& in, Handshake& handshake) noexcept {
  handshake.id = in.u32();
  handshake.initial_seq = in.u32();
  handshake.window = in.u32();
  handshake.max_payload = in.u16();
}

void read_cookie(Reader& in, Cookie& cookie) noexcept {
  cookie.issued_at = in.u64();
  cookie.mac = in.u64();
}

ParseError parse_init(Reader in, Packet& out) noexcept {
  if (in.remaining() != kInitBodySize) return ParseError::bad_length;
  read_handshake(in, out.handshake);  // the padding that follows is not checked
  return ParseError::none;
}

ParseError parse_cookie(Reader in, Packet& out) noexcept {
  if (in.remaining() != kCookieSize) return ParseError::bad_length;
  read_cookie(in, out.cookie);
  return ParseError::none;
}

ParseError parse_cookie_echo(Reader in, Packet& out) noexcept {
  if (in.remaining() != kHandshakeSize + kCookieSize) return ParseError::bad_length;
  read_handshake(in, out.handshake);
  read_cookie(in, out.cookie);
  return ParseError::none;
}

ParseError parse_accept(Reader in, Packet& out) noexcept {
  if (in.remaining() != kHandshakeSize) return ParseError::bad_length;
  read_handshake(in, out.handshake);
  return ParseError::none;
}

ParseError parse_data(Reader in, Packet& out) noexcept {
  if (in.remaining() < kDataBodySize) return ParseError::bad_length;
  out.seq = in.u32();
  out.frag_index = in.u32();
  out.frag_count = in.u32();
  out.ack = in.u32();
  out.window = in.u32();
  out.payload = in.rest();
  if (out.frag_count == 0 || out.frag_index >= out.frag_count) return ParseError::bad_fragment;
  if (out.flags & kBundle) {
    if (out.frag_count != 1) return ParseError::bad_bundle;
    std::size_t messages = 0;
    if (!for_each_bundled(out.payload, [&](std::span<const std::byte>) { ++messages; }) ||
        messages < 2)
      return ParseError::bad_bundle;
  }
  return ParseError::none;
}

ParseError parse_ack(Reader in, Packet& out) noexcept {
  if (in.remaining() < kAckBodySize) return ParseError::bad_length;
  out.ack = in.u32();
  out.window = in.u32();
  out.sack_count = in.u8();
  if (in.remaining() != kSackBlockSize * out.sack_count) return ParseError::bad_length;
  if (out.sack_count > kMaxSack) return ParseError::bad_sack;
  for (std::size_t i = 0; i < out.sack_count; ++i) {
    SackBlock& block = out.sack[i];
    block.start = in.u32();
    block.end = in.u32();
    if (!seq_before(block.start, block.end)) return ParseError::bad_sack;  // also start == end
  }
  return ParseError::none;
}

ParseError parse_empty(Reader in) noexcept {
  return in.remaining() == 0 ? ParseError::none : ParseError::bad_length;
}

// ---- writing -------------------------------------------------------------------------

void write_handshake(Writer& out, const Handshake& handshake) noexcept {
  out.u32(handshake.id);
  out.u32(handshake.initial_seq);
  out.u32(handshake.window);
  out.u16(handshake.max_payload);
}

void write_cookie(Writer& out, const Cookie& cookie) noexcept {
  out.u64(cookie.issued_at);
  out.u64(cookie.mac);
}

// Writes the body; INIT's padding is left as the caller zeroed it.
void write_body(Writer& out, const Packet& packet) noexcept {
  switch (packet.type) {
    case Type::init:
    case Type::accept:
      write_handshake(out, packet.handshake);
      break;
    case Type::cookie:
      write_cookie(out, packet.cookie);
      break;
    case Type::cookie_echo:
      write_handshake(out, packet.handshake);
      write_cookie(out, packet.cookie);
      break;
    case Type::data:
      out.u32(packet.seq);
      out.u32(packet.frag_index);
      out.u32(packet.frag_count);
      out.u32(packet.ack);
      out.u32(packet.window);
      out.bytes(packet.payload);
      break;
    case Type::ack:
      out.u32(packet.ack);
      out.u32(packet.window);
      out.u8(static_cast<std::uint8_t>(sack_blocks(packet)));
      for (std::size_t i = 0; i < sack_blocks(packet); ++i) {
        out.u32(packet.sack[i].start);
        out.u32(packet.sack[i].end);
      }
      break;
    case Type::ping:
    case Type::close:
    case Type::close_ack:
      break;
  }
}

}  // namespace

std::string_view to_string(Type type) noexcept {
  switch (type) {
    case Type::init:
      return "init";
    case Type::cookie:
      return "cookie";
    case Type::cookie_echo:
      return "cookie_echo";
    case Type::accept:
      return "accept";
    case Type::data:
      return "data";
    case Type::ack:
      return "ack";
    case Type::ping:
      return "ping";
    case Type::close:
      return "close";
    case Type::close_ack:
      return "close_ack";
  }
  return "unknown";
}

std::string_view to_string(ParseError error) noexcept {
  switch (error) {
    case ParseError::none:
      return "none";
    case ParseError::too_short:
      return "too_short";
    case ParseError::bad_version:
      return "bad_version";
    case ParseError::bad_checksum:
      return "bad_checksum";
    case ParseError::unknown_type:
      return "unknown_type";
    case ParseError::bad_length:
      return "bad_length";
    case ParseError::bad_fragment:
      return "bad_fragment";
    case ParseError::bad_sack:
      return "bad_sack";
    case ParseError::bad_bundle:
      return "bad_bundle";
  }
  return "unknown";
}

ParseError parse(std::span<const std::byte> datagram, Packet& out) noexcept {
  if (datagram.size() < kHeaderSize + kCrcSize) return ParseError::too_short;
  if (std::to_integer<std::uint8_t>(datagram[0]) != kVersion) return ParseError::bad_version;
  const std::size_t checked = datagram.size() - kCrcSize;
  if (crc32c(datagram.first(checked)) != Reader(datagram.subspan(checked)).u32())
    return ParseError::bad_checksum;

  Reader header(datagram.first(kHeaderSize));
  header.u8();  // the version, checked above
  const std::uint8_t type = header.u8();
  if (!known_type(type)) return ParseError::unknown_type;
  out = Packet{};
  out.type = static_cast<Type>(type);
  out.flags = header.u16();
  out.connection = header.u32();

  const Reader body(datagram.subspan(kHeaderSize, checked - kHeaderSize));
  switch (out.type) {
    case Type::init:
      return parse_init(body, out);
    case Type::cookie:
      return parse_cookie(body, out);
    case Type::cookie_echo:
      return parse_cookie_echo(body, out);
    case Type::accept:
      return parse_accept(body, out);
    case Type::data:
      return parse_data(body, out);
    case Type::ack:
      return parse_ack(body, out);
    case Type::ping:
    case Type::close:
    case Type::close_ack:
      return parse_empty(body);
  }
  return ParseError::unknown_type;
}

void write(const Packet& packet, Bytes& out) {
  const std::size_t start = out.size();
  const std::size_t size = encoded_size(packet);
  out.resize(start + size);  // zero-filled: INIT's padding
  std::byte* const begin = out.data() + start;
  Writer writer(begin);
  writer.u8(kVersion);
  writer.u8(static_cast<std::uint8_t>(packet.type));
  writer.u16(packet.flags);
  writer.u32(packet.connection);
  write_body(writer, packet);
  assert(packet.type == Type::init || writer.position() == begin + size - kCrcSize);
  Writer(begin + size - kCrcSize).u32(crc32c({begin, size - kCrcSize}));
}

std::size_t encoded_size(const Packet& packet) noexcept {
  return kHeaderSize + body_size(packet) + kCrcSize;
}

}  // namespace nexo::reliable
