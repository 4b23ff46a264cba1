// libFuzzer target for the rudp:// codec: parse() never reads outside the
// datagram, and whatever parses re-encodes with write() to a packet that parses
// to the same fields (and to the same bytes, but for INIT's padding).
// Each input is tried as it came (mostly stopped by the checksum) and with the
// version and CRC fixed up, so that the fuzzer reaches the body checks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "nexo/reliable/checksum.hpp"
#include "nexo/reliable/packet.hpp"

namespace {

using namespace nexo::reliable;

bool same_fields(const Packet& a, const Packet& b) {
  if (a.type != b.type || a.flags != b.flags || a.connection != b.connection) return false;
  if (a.handshake.id != b.handshake.id || a.handshake.initial_seq != b.handshake.initial_seq ||
      a.handshake.window != b.handshake.window ||
      a.handshake.max_payload != b.handshake.max_payload)
    return false;
  if (a.cookie.issued_at != b.cookie.issued_at || a.cookie.mac != b.cookie.mac) return false;
  if (a.seq != b.seq || a.frag_index != b.frag_index || a.frag_count != b.frag_count ||
      a.ack != b.ack || a.window != b.window || a.sack_count != b.sack_count)
    return false;
  for (std::size_t i = 0; i < kMaxSack; ++i)
    if (a.sack[i].start != b.sack[i].start || a.sack[i].end != b.sack[i].end) return false;
  return std::ranges::equal(a.payload, b.payload);
}

void check(bool condition) {
  if (!condition) __builtin_trap();
}

void round_trip(std::span<const std::byte> datagram) {
  Packet first;
  if (parse(datagram, first) != ParseError::none) return;
  nexo::Bytes again;
  write(first, again);
  check(again.size() == encoded_size(first));
  check(again.size() == datagram.size());  // every valid packet has its one size
  Packet second;
  check(parse(again, second) == ParseError::none);
  check(same_fields(first, second));
  if (first.type != Type::init) check(std::ranges::equal(again, datagram));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  round_trip(input);
  if (size < kHeaderSize + kCrcSize) return 0;
  nexo::Bytes sealed(input.begin(), input.end());
  sealed[0] = std::byte{kVersion};
  const std::uint32_t crc = crc32c(std::span<const std::byte>(sealed).first(size - kCrcSize));
  for (std::size_t i = 0; i < kCrcSize; ++i)
    sealed[size - kCrcSize + i] = static_cast<std::byte>(crc >> (24 - 8 * i));
  round_trip(sealed);
  return 0;
}
