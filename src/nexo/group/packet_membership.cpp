// The membership packets' codec (JOIN .. REFUSE; layouts in packet.hpp): one
// decoder and one encoder per body, with the same rules as DATA, NAK and
// HEARTBEAT: every violation its own ParseError, no read outside the
// datagram, no allocation while decoding.
#include <cassert>
#include <string>

#include "nexo/group/packet.hpp"
#include "nexo/group/packet_codec.hpp"

namespace nexo::group {
namespace {

using codec::Reader;
using codec::Writer;

constexpr std::size_t kU64 = 8;
constexpr std::size_t kCountSize = 2;
constexpr std::size_t kDigestEntrySize = 16;
constexpr std::size_t kCutEntrySize = 24;
constexpr std::size_t kStateFixedSize = 8 + 4 + 4 + 2;

static_assert(kHeaderSize + kU64 + kCountSize + kCutEntrySize * kMaxViewMembers + kCrcSize <=
              kMaxPacket);

ParseError rest_is_empty(const Reader& in) noexcept {
  return in.remaining() == 0 ? ParseError::none : ParseError::trailing_bytes;
}

// A contact: len u8, then len bytes.
ParseError read_contact(Reader& in, std::span<const std::byte>& out) noexcept {
  if (in.remaining() < 1) return ParseError::truncated_body;
  const std::size_t len = in.u8();
  if (len > kMaxContactBytes) return ParseError::bad_contact;
  if (in.remaining() < len) return ParseError::truncated_body;
  out = in.take(len);
  return ParseError::none;
}

ParseError decode_hello(Reader in, Hello& out, bool announce) noexcept {
  out.size = 0;
  if (announce) {
    if (in.remaining() < kCountSize) return ParseError::truncated_body;
    out.size = in.u16();
    if (out.size == 0 || out.size > kMaxViewMembers) return ParseError::bad_roster_count;
  }
  if (const ParseError e = read_contact(in, out.contact); e != ParseError::none) return e;
  return rest_is_empty(in);
}

ParseError decode_refuse(Reader in, Refuse& out) noexcept {
  if (in.remaining() < kU64 + kCountSize) return ParseError::truncated_body;
  out.joiner = in.u64();
  if (out.joiner == 0) return ParseError::zero_member;
  out.size = in.u16();
  if (out.size == 0 || out.size > kMaxViewMembers) return ParseError::bad_roster_count;
  return rest_is_empty(in);
}

ParseError decode_probe(Reader in, Probe& out) noexcept {
  if (in.remaining() < kU64) return ParseError::truncated_body;
  out.nonce = in.u64();
  return rest_is_empty(in);
}

ParseError decode_flush(Reader in, Flush& out) noexcept {
  if (in.remaining() < 2 * kU64) return ParseError::truncated_body;
  out.new_view = in.u64();
  out.merge_into = in.u64();
  if (out.new_view == 0) return ParseError::zero_view;
  return rest_is_empty(in);
}

ParseError decode_view_number(Reader in, ViewNumber& out) noexcept {
  if (in.remaining() < kU64) return ParseError::truncated_body;
  out.new_view = in.u64();
  if (out.new_view == 0) return ParseError::zero_view;
  return rest_is_empty(in);
}

// new_view, count, then count entries of `entry_size` bytes whose first u64 is
// a member id, nonzero and strictly increasing; for CUT the third u64 (holder)
// is nonzero too.
ParseError read_entries(Reader& in, std::size_t entry_size, std::uint64_t& new_view,
                        std::size_t& count, std::span<const std::byte>& raw) noexcept {
  if (in.remaining() < kU64 + kCountSize) return ParseError::truncated_body;
  new_view = in.u64();
  count = in.u16();
  if (new_view == 0) return ParseError::zero_view;
  if (count > kMaxViewMembers) return ParseError::bad_entry_count;
  if (in.remaining() < count * entry_size) return ParseError::truncated_body;
  if (in.remaining() > count * entry_size) return ParseError::trailing_bytes;
  raw = in.take(count * entry_size);
  Reader entries(raw);
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t member = entries.u64();
    entries.u64();
    if (member == 0) return ParseError::zero_member;
    if (member <= previous) return ParseError::unordered_digest;
    previous = member;
    if (entry_size == kCutEntrySize && entries.u64() == 0) return ParseError::zero_holder;
  }
  return ParseError::none;
}

ParseError decode_flush_ok(Reader in, FlushOk& out) noexcept {
  return read_entries(in, kDigestEntrySize, out.new_view, out.count, out.raw_entries);
}

ParseError decode_cut(Reader in, Cut& out) noexcept {
  return read_entries(in, kCutEntrySize, out.new_view, out.count, out.raw_entries);
}

ParseError decode_roster(Reader in, Roster& out) noexcept {
  if (in.remaining() < kU64 + kCountSize) return ParseError::truncated_body;
  out.new_view = in.u64();
  out.count = in.u16();
  if (out.new_view == 0) return ParseError::zero_view;
  if (out.count == 0 || out.count > kMaxViewMembers) return ParseError::bad_roster_count;
  const std::size_t start = in.remaining();
  Reader walk = in;
  for (std::size_t i = 0; i < out.count; ++i) {
    if (walk.remaining() < kU64) return ParseError::truncated_body;
    if (walk.u64() == 0) return ParseError::zero_member;
    std::span<const std::byte> contact;
    if (const ParseError e = read_contact(walk, contact); e != ParseError::none) return e;
  }
  out.raw_entries = in.take(start - walk.remaining());
  return rest_is_empty(walk);
}

ParseError decode_state(Reader in, StateChunk& out) noexcept {
  if (in.remaining() < kStateFixedSize) return ParseError::truncated_body;
  out.new_view = in.u64();
  out.total = in.u32();
  out.offset = in.u32();
  const std::size_t len = in.u16();
  if (out.new_view == 0) return ParseError::zero_view;
  if (std::uint64_t{out.offset} + len > out.total) return ParseError::bad_chunk;
  if (in.remaining() < len) return ParseError::truncated_body;
  out.chunk = in.take(len);
  return rest_is_empty(in);
}

// ---- encoding ---------------------------------------------------------------------

Result<void> check_type(const Header& header, Type a, Type b) {
  return codec::check_header(header, header.type == b ? b : a);
}

Result<void> check_contact(std::string_view type, std::span<const std::byte> contact) {
  if (contact.size() > kMaxContactBytes)
    return codec::invalid(type, "contact of " + std::to_string(contact.size()) +
                                    " bytes (at most " + std::to_string(kMaxContactBytes) + ")");
  return ok();
}

void write_contact(Writer& w, std::span<const std::byte> contact) {
  w.u8(static_cast<std::uint8_t>(contact.size()));
  w.bytes(contact);
}

Result<void> check_new_view(std::string_view type, std::uint64_t new_view) {
  if (new_view == 0) return codec::invalid(type, "new_view 0");
  return ok();
}

// Members of a FLUSH_OK or CUT: at most kMaxViewMembers, nonzero, increasing.
template <typename Entry>
Result<void> check_entries(std::string_view type, std::span<const Entry> entries) {
  if (entries.size() > kMaxViewMembers)
    return codec::invalid(type, std::to_string(entries.size()) + " entries (at most " +
                                    std::to_string(kMaxViewMembers) + ")");
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].member == 0)
      return codec::invalid(type, "entry " + std::to_string(i) + " has member id 0");
    if (entries[i].member <= previous)
      return codec::invalid(type,
                            "entry " + std::to_string(i) + ": members not strictly increasing");
    previous = entries[i].member;
  }
  return ok();
}

}  // namespace

DigestEntry FlushOk::entry(std::size_t i) const noexcept {
  assert(i < count);
  Reader in(raw_entries.subspan(i * kDigestEntrySize, kDigestEntrySize));
  DigestEntry e;
  e.member = in.u64();
  e.delivered_through = in.u64();
  return e;
}

CutEntry Cut::entry(std::size_t i) const noexcept {
  assert(i < count);
  Reader in(raw_entries.subspan(i * kCutEntrySize, kCutEntrySize));
  CutEntry e;
  e.member = in.u64();
  e.through = in.u64();
  e.holder = in.u64();
  return e;
}

std::size_t Roster::next(std::size_t offset, RosterEntry& out) const noexcept {
  Reader in(raw_entries.subspan(offset));
  out.member = in.u64();
  const std::size_t len = in.u8();
  out.contact = in.take(len);
  return offset + kU64 + 1 + len;
}

namespace codec {

ParseError decode_membership(Type type, Reader body, Packet& out) noexcept {
  switch (type) {
    case Type::join:
    case Type::announce:
      return decode_hello(body, out.body.emplace<Hello>(), type == Type::announce);
    case Type::leave:
      out.body.emplace<Leave>();
      return rest_is_empty(body);
    case Type::probe:
    case Type::probe_ack:
      return decode_probe(body, out.body.emplace<Probe>());
    case Type::flush:
      return decode_flush(body, out.body.emplace<Flush>());
    case Type::flush_ok:
      return decode_flush_ok(body, out.body.emplace<FlushOk>());
    case Type::cut:
      return decode_cut(body, out.body.emplace<Cut>());
    case Type::flush_done:
    case Type::view_ack:
      return decode_view_number(body, out.body.emplace<ViewNumber>());
    case Type::view:
    case Type::merge:
      return decode_roster(body, out.body.emplace<Roster>());
    case Type::state:
      return decode_state(body, out.body.emplace<StateChunk>());
    case Type::refuse:
      return decode_refuse(body, out.body.emplace<Refuse>());
    case Type::data:
    case Type::nak:
    case Type::heartbeat:
      break;
  }
  return ParseError::unknown_type;
}

}  // namespace codec

Result<void> encode_hello(Bytes& out, const Header& header, std::span<const std::byte> contact,
                          std::size_t size) {
  if (auto c = check_type(header, Type::join, Type::announce); !c) return c;
  if (auto c = check_contact(to_string(header.type), contact); !c) return c;
  const bool announce = header.type == Type::announce;
  if (announce && (size == 0 || size > kMaxViewMembers))
    return codec::invalid("announce", "size " + std::to_string(size) + " (1.." +
                                          std::to_string(kMaxViewMembers) + ")");
  Writer w = codec::start(
      out, header, kHeaderSize + (announce ? kCountSize : 0) + 1 + contact.size() + kCrcSize);
  if (announce) w.u16(static_cast<std::uint16_t>(size));
  write_contact(w, contact);
  codec::seal(out, w);
  return ok();
}

Result<void> encode_leave(Bytes& out, const Header& header) {
  if (auto c = codec::check_header(header, Type::leave); !c) return c;
  codec::seal(out, codec::start(out, header, kHeaderSize + kCrcSize));
  return ok();
}

Result<void> encode_probe(Bytes& out, const Header& header, std::uint64_t nonce) {
  if (auto c = check_type(header, Type::probe, Type::probe_ack); !c) return c;
  Writer w = codec::start(out, header, kHeaderSize + kU64 + kCrcSize);
  w.u64(nonce);
  codec::seal(out, w);
  return ok();
}

Result<void> encode_flush(Bytes& out, const Header& header, std::uint64_t new_view,
                          std::uint64_t merge_into) {
  if (auto c = codec::check_header(header, Type::flush); !c) return c;
  if (auto c = check_new_view("flush", new_view); !c) return c;
  Writer w = codec::start(out, header, kHeaderSize + 2 * kU64 + kCrcSize);
  w.u64(new_view);
  w.u64(merge_into);
  codec::seal(out, w);
  return ok();
}

Result<void> encode_flush_ok(Bytes& out, const Header& header, std::uint64_t new_view,
                             std::span<const DigestEntry> delivered) {
  if (auto c = codec::check_header(header, Type::flush_ok); !c) return c;
  if (auto c = check_new_view("flush_ok", new_view); !c) return c;
  if (auto c = check_entries("flush_ok", delivered); !c) return c;
  Writer w = codec::start(
      out, header,
      kHeaderSize + kU64 + kCountSize + kDigestEntrySize * delivered.size() + kCrcSize);
  w.u64(new_view);
  w.u16(static_cast<std::uint16_t>(delivered.size()));
  for (const DigestEntry& e : delivered) {
    w.u64(e.member);
    w.u64(e.delivered_through);
  }
  codec::seal(out, w);
  return ok();
}

Result<void> encode_cut(Bytes& out, const Header& header, std::uint64_t new_view,
                        std::span<const CutEntry> cut) {
  if (auto c = codec::check_header(header, Type::cut); !c) return c;
  if (auto c = check_new_view("cut", new_view); !c) return c;
  if (auto c = check_entries("cut", cut); !c) return c;
  for (std::size_t i = 0; i < cut.size(); ++i)
    if (cut[i].holder == 0)
      return codec::invalid("cut", "entry " + std::to_string(i) + " has holder 0");
  Writer w = codec::start(out, header,
                          kHeaderSize + kU64 + kCountSize + kCutEntrySize * cut.size() + kCrcSize);
  w.u64(new_view);
  w.u16(static_cast<std::uint16_t>(cut.size()));
  for (const CutEntry& e : cut) {
    w.u64(e.member);
    w.u64(e.through);
    w.u64(e.holder);
  }
  codec::seal(out, w);
  return ok();
}

Result<void> encode_refuse(Bytes& out, const Header& header, std::uint64_t joiner,
                           std::size_t size) {
  if (auto c = codec::check_header(header, Type::refuse); !c) return c;
  if (joiner == 0) return codec::invalid("refuse", "joiner 0");
  if (size == 0 || size > kMaxViewMembers)
    return codec::invalid(
        "refuse", "size " + std::to_string(size) + " (1.." + std::to_string(kMaxViewMembers) + ")");
  Writer w = codec::start(out, header, kHeaderSize + kU64 + kCountSize + kCrcSize);
  w.u64(joiner);
  w.u16(static_cast<std::uint16_t>(size));
  codec::seal(out, w);
  return ok();
}

Result<void> encode_view_number(Bytes& out, const Header& header, std::uint64_t new_view) {
  if (auto c = check_type(header, Type::flush_done, Type::view_ack); !c) return c;
  if (auto c = check_new_view(to_string(header.type), new_view); !c) return c;
  Writer w = codec::start(out, header, kHeaderSize + kU64 + kCrcSize);
  w.u64(new_view);
  codec::seal(out, w);
  return ok();
}

Result<void> encode_roster(Bytes& out, const Header& header, std::uint64_t new_view,
                           std::span<const RosterMember> members) {
  if (auto c = check_type(header, Type::view, Type::merge); !c) return c;
  const std::string_view type = to_string(header.type);
  if (auto c = check_new_view(type, new_view); !c) return c;
  if (members.empty() || members.size() > kMaxViewMembers)
    return codec::invalid(type, std::to_string(members.size()) + " members (1.." +
                                    std::to_string(kMaxViewMembers) + ")");
  std::size_t size = kHeaderSize + kU64 + kCountSize + kCrcSize;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (members[i].member == 0)
      return codec::invalid(type, "member " + std::to_string(i) + " has id 0");
    if (auto c = check_contact(type, members[i].contact); !c) return c;
    size += kU64 + 1 + members[i].contact.size();
  }
  if (size > kMaxPacket)
    return Error(ErrorKind::too_large, "group " + std::string(type) +
                                           " packet: " + std::to_string(members.size()) +
                                           " members take " + std::to_string(size) +
                                           " bytes (at most " + std::to_string(kMaxPacket) + ")");
  Writer w = codec::start(out, header, size);
  w.u64(new_view);
  w.u16(static_cast<std::uint16_t>(members.size()));
  for (const RosterMember& m : members) {
    w.u64(m.member);
    write_contact(w, m.contact);
  }
  codec::seal(out, w);
  return ok();
}

Result<void> encode_state(Bytes& out, const Header& header, std::uint64_t new_view,
                          std::uint32_t total, std::uint32_t offset,
                          std::span<const std::byte> chunk) {
  if (auto c = codec::check_header(header, Type::state); !c) return c;
  if (auto c = check_new_view("state", new_view); !c) return c;
  constexpr std::size_t kRoom = kMaxPacket - kHeaderSize - kStateFixedSize - kCrcSize;
  if (chunk.size() > kRoom)
    return Error(ErrorKind::too_large, "group state packet: a chunk of " +
                                           std::to_string(chunk.size()) + " bytes (at most " +
                                           std::to_string(kRoom) + ")");
  if (std::uint64_t{offset} + chunk.size() > total)
    return codec::invalid("state", "offset + chunk beyond total");
  Writer w = codec::start(out, header, kHeaderSize + kStateFixedSize + chunk.size() + kCrcSize);
  w.u64(new_view);
  w.u32(total);
  w.u32(offset);
  w.u16(static_cast<std::uint16_t>(chunk.size()));
  w.bytes(chunk);
  codec::seal(out, w);
  return ok();
}

}  // namespace nexo::group
