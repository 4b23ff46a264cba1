#include "nexo/group/packet.hpp"

#include <cassert>
#include <cstring>
#include <limits>
#include <string>

#include "nexo/base/big_endian.hpp"
#include "nexo/group/packet_codec.hpp"
#include "nexo/reliable/checksum.hpp"

namespace nexo::group {
namespace {

constexpr std::size_t kDataFixedSize = 8 + 1 + 2;  // seq, flags, meta_len (then meta)
constexpr std::size_t kPayloadLengthSize = 4;
constexpr std::size_t kListFixedSize = 8 + 2;  // NAK target / HEARTBEAT highest_sent, count
constexpr std::size_t kPairSize = 16;          // a range or a digest entry: two u64

static_assert(kDataOverhead == kHeaderSize + kDataFixedSize + kPayloadLengthSize + kCrcSize);
// meta_len (u16) holds any meta that fits in a packet.
static_assert(kMaxPacket - kDataOverhead <= std::numeric_limits<std::uint16_t>::max());
static_assert(kHeaderSize + kListFixedSize + kPairSize * kMaxDigest + kCrcSize <= kMaxPacket);

using codec::Reader;
using codec::Writer;
using codec::check_header;
using codec::invalid;
using codec::seal;
using codec::start;

bool known_type(std::uint8_t type) noexcept {
  return type >= static_cast<std::uint8_t>(Type::data) && type <= kLastType;
}

// A range may follow `previous` only from previous.last + 2 on (no overlap, no
// touching). `first` >= 1, so first - 1 cannot wrap, and nothing can follow a
// range ending at the largest u64.
bool follows(const SeqRange& previous, std::uint64_t first) noexcept {
  return first - 1 > previous.last;
}

// ---- decoding, one function per body ------------------------------------------

// `count` pairs of u64 must fill the rest of the body exactly.
ParseError check_pairs_fill(const Reader& in, std::size_t count) noexcept {
  if (in.remaining() < count * kPairSize) return ParseError::truncated_body;
  if (in.remaining() > count * kPairSize) return ParseError::trailing_bytes;
  return ParseError::none;
}

ParseError decode_data(Reader in, Data& out) noexcept {
  if (in.remaining() < kDataFixedSize) return ParseError::truncated_body;
  out.seq = in.u64();
  const std::uint8_t flags = in.u8();
  const std::size_t meta_len = in.u16();
  if (out.seq == 0) return ParseError::zero_seq;
  if ((flags & ~(kRetransmission | kControl)) != 0) return ParseError::bad_flags;
  out.retransmission = (flags & kRetransmission) != 0;
  out.control = (flags & kControl) != 0;
  if (in.remaining() < meta_len + kPayloadLengthSize) return ParseError::truncated_body;
  out.meta = in.take(meta_len);
  const std::size_t payload_len = in.u32();
  if (in.remaining() < payload_len) return ParseError::truncated_body;
  out.payload = in.take(payload_len);
  return in.remaining() == 0 ? ParseError::none : ParseError::trailing_bytes;
}

ParseError decode_nak(Reader in, Nak& out) noexcept {
  if (in.remaining() < kListFixedSize) return ParseError::truncated_body;
  out.target = in.u64();
  out.count = in.u16();
  if (out.target == 0) return ParseError::zero_target;
  if (out.count == 0 || out.count > kMaxNakRanges) return ParseError::bad_range_count;
  if (const ParseError error = check_pairs_fill(in, out.count); error != ParseError::none)
    return error;
  for (std::size_t i = 0; i < out.count; ++i) {
    SeqRange& range = out.range_array[i];
    range.first = in.u64();
    range.last = in.u64();
    if (range.first == 0 || range.first > range.last) return ParseError::bad_range;
    if (i > 0 && !follows(out.range_array[i - 1], range.first)) return ParseError::unordered_ranges;
  }
  return ParseError::none;
}

ParseError decode_heartbeat(Reader in, Heartbeat& out) noexcept {
  if (in.remaining() < kListFixedSize) return ParseError::truncated_body;
  out.highest_sent = in.u64();
  out.count = in.u16();
  if (out.count > kMaxDigest) return ParseError::bad_digest_count;
  if (const ParseError error = check_pairs_fill(in, out.count); error != ParseError::none)
    return error;
  out.raw_entries = in.take(out.count * kPairSize);
  Reader entries(out.raw_entries);
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < out.count; ++i) {
    const std::uint64_t member = entries.u64();
    entries.u64();  // delivered_through: any value
    if (member == 0) return ParseError::zero_member;
    if (member <= previous) return ParseError::unordered_digest;
    previous = member;
  }
  return ParseError::none;
}

// ---- encoding -------------------------------------------------------------------

Result<void> check_ranges(std::span<const SeqRange> ranges) {
  if (ranges.empty() || ranges.size() > kMaxNakRanges)
    return invalid("nak", std::to_string(ranges.size()) + " ranges (1.." +
                              std::to_string(kMaxNakRanges) + ")");
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const SeqRange& range = ranges[i];
    if (range.first == 0 || range.first > range.last)
      return invalid("nak", "range " + std::to_string(i) + " is " + std::to_string(range.first) +
                                ".." + std::to_string(range.last) + " (1 <= first <= last)");
    if (i > 0 && !follows(ranges[i - 1], range.first))
      return invalid(
          "nak", "range " + std::to_string(i) + " overlaps, touches or precedes the one before it");
  }
  return ok();
}

Result<void> check_digest(std::span<const DigestEntry> digest) {
  if (digest.size() > kMaxDigest)
    return invalid("heartbeat", std::to_string(digest.size()) + " digest entries (at most " +
                                    std::to_string(kMaxDigest) + ")");
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    if (digest[i].member == 0)
      return invalid("heartbeat", "digest entry " + std::to_string(i) + " has member id 0");
    if (digest[i].member <= previous)
      return invalid("heartbeat",
                     "digest entry " + std::to_string(i) + ": members not strictly increasing");
    previous = digest[i].member;
  }
  return ok();
}

}  // namespace

namespace codec {

Error invalid(std::string_view type, std::string what) {
  return Error(ErrorKind::invalid_argument,
               "group " + std::string(type) + " packet: " + std::move(what));
}

// The checks every encoder makes of the header.
Result<void> check_header(const Header& header, Type type) {
  if (header.type != type)
    return invalid(to_string(type), "header.type is " + std::string(to_string(header.type)));
  if (header.sender == 0) return invalid(to_string(type), "sender member id 0");
  return ok();
}

// Sizes `out` to `size` bytes and writes the header; the body follows.
Writer start(Bytes& out, const Header& header, std::size_t size) {
  out.resize(size);  // within capacity when `out` is warm: no allocation
  Writer writer(out.data());
  writer.bytes(kMagic);
  writer.u8(kVersion);
  writer.u8(static_cast<std::uint8_t>(header.type));
  writer.u64(header.group);
  writer.u64(header.sender);
  writer.u64(header.view.id);
  writer.u64(header.view.creator);
  return writer;
}

// Writes the CRC of everything before it, in the last kCrcSize bytes.
void seal(Bytes& out, const Writer& writer) {
  const std::size_t checked = out.size() - kCrcSize;
  assert(writer.position() == out.data() + checked);
  (void)writer;
  Writer(out.data() + checked)
      .u32(reliable::crc32c(std::span<const std::byte>(out).first(checked)));
}

}  // namespace codec

std::string_view to_string(Type type) noexcept {
  switch (type) {
    case Type::data:
      return "data";
    case Type::nak:
      return "nak";
    case Type::heartbeat:
      return "heartbeat";
    case Type::join:
      return "join";
    case Type::leave:
      return "leave";
    case Type::probe:
      return "probe";
    case Type::probe_ack:
      return "probe_ack";
    case Type::flush:
      return "flush";
    case Type::flush_ok:
      return "flush_ok";
    case Type::cut:
      return "cut";
    case Type::flush_done:
      return "flush_done";
    case Type::view:
      return "view";
    case Type::view_ack:
      return "view_ack";
    case Type::merge:
      return "merge";
    case Type::announce:
      return "announce";
    case Type::state:
      return "state";
    case Type::refuse:
      return "refuse";
  }
  return "unknown";
}

DigestEntry Heartbeat::entry(std::size_t i) const noexcept {
  assert(i < count && (i + 1) * kPairSize <= raw_entries.size());
  Reader in(raw_entries.subspan(i * kPairSize, kPairSize));
  DigestEntry entry;
  entry.member = in.u64();
  entry.delivered_through = in.u64();
  return entry;
}

std::string_view to_string(ParseError error) noexcept {
  switch (error) {
    case ParseError::none:
      return "none";
    case ParseError::too_short:
      return "too_short";
    case ParseError::too_large:
      return "too_large";
    case ParseError::bad_magic:
      return "bad_magic";
    case ParseError::bad_version:
      return "bad_version";
    case ParseError::bad_checksum:
      return "bad_checksum";
    case ParseError::unknown_type:
      return "unknown_type";
    case ParseError::zero_sender:
      return "zero_sender";
    case ParseError::truncated_body:
      return "truncated_body";
    case ParseError::trailing_bytes:
      return "trailing_bytes";
    case ParseError::zero_seq:
      return "zero_seq";
    case ParseError::bad_flags:
      return "bad_flags";
    case ParseError::zero_target:
      return "zero_target";
    case ParseError::bad_range_count:
      return "bad_range_count";
    case ParseError::bad_range:
      return "bad_range";
    case ParseError::unordered_ranges:
      return "unordered_ranges";
    case ParseError::bad_digest_count:
      return "bad_digest_count";
    case ParseError::zero_member:
      return "zero_member";
    case ParseError::unordered_digest:
      return "unordered_digest";
    case ParseError::bad_contact:
      return "bad_contact";
    case ParseError::zero_view:
      return "zero_view";
    case ParseError::bad_entry_count:
      return "bad_entry_count";
    case ParseError::zero_holder:
      return "zero_holder";
    case ParseError::bad_roster_count:
      return "bad_roster_count";
    case ParseError::bad_chunk:
      return "bad_chunk";
    case ParseError::bad_bundle:
      return "bad_bundle";
  }
  return "unknown";
}

std::string_view describe(ParseError error) noexcept {
  switch (error) {
    case ParseError::none:
      return "a valid packet";
    case ParseError::too_short:
      return "datagram: shorter than a header and checksum (32 bytes)";
    case ParseError::too_large:
      return "datagram: longer than 65507 bytes";
    case ParseError::bad_magic:
      return "magic: not \"NG\"";
    case ParseError::bad_version:
      return "version: not 1";
    case ParseError::bad_checksum:
      return "CRC32C: does not match the bytes before it";
    case ParseError::unknown_type:
      return "type: not one of DATA (1) .. STATE (16)";
    case ParseError::zero_sender:
      return "sender: member id 0";
    case ParseError::truncated_body:
      return "body: ends before a field of its type (or a length)";
    case ParseError::trailing_bytes:
      return "body: bytes after its last field";
    case ParseError::zero_seq:
      return "DATA seq: 0 (sequence numbers start at 1)";
    case ParseError::bad_flags:
      return "DATA flags: a reserved bit (2..7) is set";
    case ParseError::zero_target:
      return "NAK target: member id 0";
    case ParseError::bad_range_count:
      return "NAK count: 0 or more than 32 ranges";
    case ParseError::bad_range:
      return "NAK range: first is 0 or after last";
    case ParseError::unordered_ranges:
      return "NAK ranges: not increasing, or overlapping or touching the one before";
    case ParseError::bad_digest_count:
      return "HEARTBEAT count: more than 1024 digest entries";
    case ParseError::zero_member:
      return "HEARTBEAT/FLUSH_OK/CUT entry, roster entry or REFUSE joiner: member id 0";
    case ParseError::unordered_digest:
      return "HEARTBEAT/FLUSH_OK/CUT entries: members not strictly increasing";
    case ParseError::bad_contact:
      return "contact: longer than 64 bytes";
    case ParseError::zero_view:
      return "membership body: new_view 0";
    case ParseError::bad_entry_count:
      return "FLUSH_OK/CUT count: more than 1024 entries";
    case ParseError::zero_holder:
      return "CUT entry: holder member id 0";
    case ParseError::bad_roster_count:
      return "VIEW/MERGE roster count or ANNOUNCE/REFUSE size: 0 or more than 1024 members";
    case ParseError::bad_chunk:
      return "STATE chunk: offset + chunk_len beyond total";
    case ParseError::bad_bundle:
      return "bundle: a nonzero reserved byte, an entry shorter than a packet, or lengths that "
             "do not fill the datagram exactly";
  }
  return "unknown parse error";
}

bool peek_origin(std::span<const std::byte> datagram, std::uint64_t& group,
                 std::uint64_t& sender) noexcept {
  if (datagram.size() < kHeaderSize + kCrcSize) return false;
  if (datagram[0] != kMagic[0] || datagram[1] != kMagic[1]) return false;
  if (std::to_integer<std::uint8_t>(datagram[2]) != kVersion) return false;
  Reader header(datagram.first(kHeaderSize));
  header.take(4);  // magic, version, type
  group = header.u64();
  sender = header.u64();
  return true;
}

ParseError decode(std::span<const std::byte> datagram, Packet& out) noexcept {
  if (datagram.size() < kHeaderSize + kCrcSize) return ParseError::too_short;
  if (datagram.size() > kMaxPacket) return ParseError::too_large;
  if (datagram[0] != kMagic[0] || datagram[1] != kMagic[1]) return ParseError::bad_magic;
  if (std::to_integer<std::uint8_t>(datagram[2]) != kVersion) return ParseError::bad_version;
  const std::size_t checked = datagram.size() - kCrcSize;
  if (reliable::crc32c(datagram.first(checked)) != Reader(datagram.subspan(checked)).u32())
    return ParseError::bad_checksum;

  Reader header(datagram.first(kHeaderSize));
  header.take(3);  // magic and version, checked above
  const std::uint8_t type = header.u8();
  if (!known_type(type)) return ParseError::unknown_type;
  out.header.type = static_cast<Type>(type);
  out.header.group = header.u64();
  out.header.sender = header.u64();
  out.header.view.id = header.u64();
  out.header.view.creator = header.u64();
  if (out.header.sender == 0) return ParseError::zero_sender;

  const Reader body(datagram.subspan(kHeaderSize, checked - kHeaderSize));
  switch (out.header.type) {
    case Type::data:
      return decode_data(body, out.body.emplace<Data>());
    case Type::nak:
      return decode_nak(body, out.body.emplace<Nak>());
    case Type::heartbeat:
      return decode_heartbeat(body, out.body.emplace<Heartbeat>());
    default:
      return codec::decode_membership(out.header.type, body, out);
  }
}

Result<void> encode_data(Bytes& out, const Header& header, std::uint64_t seq, std::uint8_t flags,
                         std::span<const std::byte> meta, std::span<const std::byte> payload) {
  if (auto checked = check_header(header, Type::data); !checked) return checked;
  if (seq == 0) return invalid("data", "seq 0 (sequence numbers start at 1)");
  if ((flags & ~(kRetransmission | kControl)) != 0)
    return invalid("data", "flags with a reserved bit (2..7) set");
  constexpr std::size_t kRoom = kMaxPacket - kDataOverhead;  // for meta and payload together
  if (meta.size() > kRoom || payload.size() > kRoom - meta.size())
    return Error(ErrorKind::too_large, "group data packet: meta of " + std::to_string(meta.size()) +
                                           " and payload of " + std::to_string(payload.size()) +
                                           " bytes (at most " + std::to_string(kRoom) +
                                           " together)");
  Writer writer = start(out, header, kDataOverhead + meta.size() + payload.size());
  writer.u64(seq);
  writer.u8(flags);
  writer.u16(static_cast<std::uint16_t>(meta.size()));
  writer.bytes(meta);
  writer.u32(static_cast<std::uint32_t>(payload.size()));
  writer.bytes(payload);
  seal(out, writer);
  return ok();
}

Result<void> encode_nak(Bytes& out, const Header& header, std::uint64_t target,
                        std::span<const SeqRange> ranges) {
  if (auto checked = check_header(header, Type::nak); !checked) return checked;
  if (target == 0) return invalid("nak", "target member id 0");
  if (auto checked = check_ranges(ranges); !checked) return checked;
  Writer writer =
      start(out, header, kHeaderSize + kListFixedSize + kPairSize * ranges.size() + kCrcSize);
  writer.u64(target);
  writer.u16(static_cast<std::uint16_t>(ranges.size()));
  for (const SeqRange& range : ranges) {
    writer.u64(range.first);
    writer.u64(range.last);
  }
  seal(out, writer);
  return ok();
}

Result<void> encode_heartbeat(Bytes& out, const Header& header, std::uint64_t highest_sent,
                              std::span<const DigestEntry> digest) {
  if (auto checked = check_header(header, Type::heartbeat); !checked) return checked;
  if (auto checked = check_digest(digest); !checked) return checked;
  Writer writer =
      start(out, header, kHeaderSize + kListFixedSize + kPairSize * digest.size() + kCrcSize);
  writer.u64(highest_sent);
  writer.u16(static_cast<std::uint16_t>(digest.size()));
  for (const DigestEntry& entry : digest) {
    writer.u64(entry.member);
    writer.u64(entry.delivered_through);
  }
  seal(out, writer);
  return ok();
}

}  // namespace nexo::group
