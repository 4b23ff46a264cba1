// libFuzzer target for group/'s packet codec: decode() never reads outside the
// datagram, and whatever decodes re-encodes (encode_data/_nak/_heartbeat from
// the decoded fields, membership bodies included) to the very same bytes: every valid packet has
// one encoding. Each input is tried as it came (mostly stopped by the checksum) and with the magic,
// version and CRC fixed up, so that the fuzzer reaches the body checks. Bundles (bundle.hpp) too:
// the input as it came and with a bundle's magic and version, their entries each tried as above.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "nexo/group/bundle.hpp"
#include "nexo/group/packet.hpp"
#include "nexo/reliable/checksum.hpp"

namespace {

using namespace nexo::group;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

// The membership bodies (JOIN .. STATE), from their decoded fields.
nexo::Result<void> reencode_membership(const Packet& packet, nexo::Bytes& out) {
  const Header& h = packet.header;
  if (const auto* hello = std::get_if<Hello>(&packet.body))
    return encode_hello(out, h, hello->contact, hello->size);
  if (std::holds_alternative<Leave>(packet.body)) return encode_leave(out, h);
  if (const auto* probe = std::get_if<Probe>(&packet.body))
    return encode_probe(out, h, probe->nonce);
  if (const auto* f = std::get_if<Flush>(&packet.body))
    return encode_flush(out, h, f->new_view, f->merge_into);
  if (const auto* ok = std::get_if<FlushOk>(&packet.body)) {
    std::vector<DigestEntry> entries;
    for (std::size_t i = 0; i < ok->count; ++i)
      entries.push_back(ok->entry(i));
    return encode_flush_ok(out, h, ok->new_view, entries);
  }
  if (const auto* cut = std::get_if<Cut>(&packet.body)) {
    std::vector<CutEntry> entries;
    for (std::size_t i = 0; i < cut->count; ++i)
      entries.push_back(cut->entry(i));
    return encode_cut(out, h, cut->new_view, entries);
  }
  if (const auto* n = std::get_if<ViewNumber>(&packet.body))
    return encode_view_number(out, h, n->new_view);
  if (const auto* r = std::get_if<Roster>(&packet.body)) {
    std::vector<RosterMember> members;
    std::size_t at = 0;
    for (std::size_t i = 0; i < r->count; ++i) {
      RosterEntry e;
      at = r->next(at, e);
      members.push_back({e.member, e.contact});
    }
    return encode_roster(out, h, r->new_view, members);
  }
  if (const auto* r = std::get_if<Refuse>(&packet.body))
    return encode_refuse(out, h, r->joiner, r->size);
  const auto& s = std::get<StateChunk>(packet.body);
  return encode_state(out, h, s.new_view, s.total, s.offset, s.chunk);
}

nexo::Result<void> reencode(const Packet& packet, nexo::Bytes& out) {
  if (const auto* data = std::get_if<Data>(&packet.body))
    return encode_data(out, packet.header, data->seq,
                       static_cast<std::uint8_t>((data->retransmission ? kRetransmission : 0) |
                                                 (data->control ? kControl : 0)),
                       data->meta, data->payload);
  if (const auto* nak = std::get_if<Nak>(&packet.body))
    return encode_nak(out, packet.header, nak->target, nak->ranges());
  if (const auto* heartbeat = std::get_if<Heartbeat>(&packet.body)) {
    std::vector<DigestEntry> digest;
    for (std::size_t i = 0; i < heartbeat->count; ++i)
      digest.push_back(heartbeat->entry(i));
    return encode_heartbeat(out, packet.header, heartbeat->highest_sent, digest);
  }
  return reencode_membership(packet, out);
}

void round_trip(std::span<const std::byte> datagram) {
  Packet packet;
  if (decode(datagram, packet) != ParseError::none) return;
  nexo::Bytes again;
  check(reencode(packet, again).has_value());
  check(std::ranges::equal(again, datagram));
}

// A bundle: every packet for_each_packet hands out lies inside the datagram;
// a valid bundle of two or more packets is what BundleWriter makes of them.
void bundle_round_trip(std::span<const std::byte> datagram) {
  BundleWriter writer(kMaxPacket);
  std::size_t count = 0;
  const ParseError e = for_each_packet(datagram, [&](std::span<const std::byte> packet) {
    check(packet.data() >= datagram.data() &&
          packet.data() + packet.size() <= datagram.data() + datagram.size());
    round_trip(packet);
    check(writer.fits(packet.size()));
    writer.add(packet);
    ++count;
  });
  if (e != ParseError::none || !is_bundle(datagram)) return;
  check(count >= 1);
  if (count >= 2) check(std::ranges::equal(writer.datagram(), datagram));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  round_trip(input);
  bundle_round_trip(input);
  if (size >= kBundleHeader) {  // the same bytes framed as a bundle's
    nexo::Bytes framed(input.begin(), input.end());
    framed[0] = kBundleMagic[0];
    framed[1] = kBundleMagic[1];
    framed[2] = std::byte{kVersion};
    bundle_round_trip(framed);
  }
  if (size < kHeaderSize + kCrcSize || size > kMaxPacket) return 0;
  nexo::Bytes sealed(input.begin(), input.end());
  sealed[0] = kMagic[0];
  sealed[1] = kMagic[1];
  sealed[2] = std::byte{kVersion};
  const std::uint32_t crc =
      nexo::reliable::crc32c(std::span<const std::byte>(sealed).first(size - kCrcSize));
  for (std::size_t i = 0; i < kCrcSize; ++i)
    sealed[size - kCrcSize + i] = static_cast<std::byte>(crc >> (24 - 8 * i));
  round_trip(sealed);
  return 0;
}
