// The wire format of group/'s protocol packets (version 2): one UDP datagram
// per packet, or several packets in one datagram (a bundle, bundle.hpp), over
// IP multicast or unicast fan-out alike.
//
// Every integer is big-endian. Every packet:
//
//   offset  size  field
//   0       2     magic: 0x4E 0x47 ("NG")
//   2       1     version: 2
//   3       1     type (Type below; DATA 1, NAK 2, HEARTBEAT 3)
//   4       8     group: the group's tag, group_tag(name) (packets of another
//                 group on the same address are told apart by it)
//   12      8     sender: the member id of the packet's sender (nonzero)
//   20      8     view: the id of the view the sender is in
//   28      8     view creator: that view's creator, its coordinator
//                 (members[0]); with the id, the view's identity (ViewId)
//   36      ...   body, by type (below)
//   end-4   4     CRC32C (Castagnoli) of every byte before it
//
// Bodies:
//   DATA       seq u64 (>= 1: the sender's number for the message),
//              flags u8 (bit 0: a retransmission; bit 1: a control message,
//              which the ordering layer consumes and the application never
//              sees; the other bits are 0),
//              meta_len u16, meta[meta_len] (ordering metadata, opaque here),
//              payload_len u32, payload[payload_len]; the lengths fill the
//              packet exactly
//   NAK        target u64 (nonzero: the member whose messages are missing),
//              count u16 (1..kMaxNakRanges), then count ranges of
//              (first u64, last u64): the missing sequence numbers
//              first..last, 1 <= first <= last, in increasing order, neither
//              overlapping nor touching (each first > the previous last + 1)
//   HEARTBEAT  highest_sent u64 (the highest seq the packet's sender has sent;
//              0: none yet), count u16 (0..kMaxDigest), then count entries of
//              (member u64 nonzero, delivered_through u64): the packet's
//              sender has delivered every message of `member` with seq up to
//              and including delivered_through; members strictly increasing
//
// A datagram is refused, with its own ParseError, when it is shorter than a
// header and checksum or longer than kMaxPacket, has another magic, version
// or type, fails its checksum, or breaks any rule above (a byte after the last
// field included).
//
// Membership bodies (group::Endpoint's protocol; a "contact" is contact_len u8
// (0..kMaxContactBytes) then contact[contact_len]; a "roster" is count u16
// (1..kMaxViewMembers) then count entries of (member u64 nonzero, contact), in
// view order; new_view is nonzero wherever it appears):
//   JOIN       contact (the joiner's, multicast until a view takes it in)
//   LEAVE      empty (to the coordinator, until a FLUSH answers it)
//   PROBE      nonce u64 (any value: "are you alive, in my view?")
//   PROBE_ACK  nonce u64 (the probe's, echoed)
//   FLUSH      new_view u64, merge_into u64 (0, or the coordinator of the
//              view this one merges into once flushed)
//   FLUSH_OK   new_view u64, count u16 (0..kMaxViewMembers), then count entries
//              of (member u64 nonzero, delivered_through u64), members strictly
//              increasing: what the sender delivered of each sender of the view
//   CUT        new_view u64, count u16 (0..kMaxViewMembers), then count entries
//              of (member u64 nonzero, through u64, holder u64 nonzero), members
//              strictly increasing: deliver `member`'s messages through
//              `through`; `holder` has them all
//   FLUSH_DONE new_view u64 (every message of the cut delivered)
//   VIEW       new_view u64, roster (the new view's members, members[0] its
//              coordinator)
//   VIEW_ACK   new_view u64 (the view is installed)
//   MERGE      new_view u64 (the flushed view's next id), roster (its members,
//              who move into the receiver's view)
//   ANNOUNCE   size u16 (1..kMaxViewMembers: its view's members), contact (a
//              coordinator's, so that other views find it and merge)
//   STATE      new_view u64, total u32, offset u32, chunk_len u16, chunk
//              [chunk_len]; offset + chunk_len <= total (a piece of the group's
//              state for the joiners of new_view)
//   REFUSE     joiner u64 (nonzero: the member whose JOIN is refused), size
//              u16 (1..kMaxViewMembers: the refusing view's members): a view
//              with the joiner would not fit one VIEW packet
// Rosters are bounded by kMaxPacket too: 1024 members with 64-byte contacts do
// not fit (the encoder says too_large; roster_packet_size() says how large
// one is, and a coordinator refuses the JOIN that would make its view's
// roster too large); duplicates in a roster are the receiver's to refuse
// (decode() does no O(n^2) work).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"

namespace nexo::group {

inline constexpr std::byte kMagic[2] = {std::byte{0x4E}, std::byte{0x47}};  // "NG"
inline constexpr std::uint8_t kVersion = 2;  // 1: headers without the view's creator
inline constexpr std::size_t kHeaderSize = 36;
inline constexpr std::size_t kCrcSize = 4;
inline constexpr std::size_t kMaxPacket = 65507;  // the largest UDP payload over IPv4
inline constexpr std::size_t kMaxNakRanges = 32;
inline constexpr std::size_t kMaxDigest = 1024;
inline constexpr std::size_t kMaxViewMembers = 1024;  // roster, FLUSH_OK and CUT entries
inline constexpr std::size_t kMaxContactBytes = 64;   // == kMaxContact (endpoint.hpp)
inline constexpr std::uint8_t kRetransmission = 1;  // DATA flag bit 0
inline constexpr std::uint8_t kControl = 2;         // DATA flag bit 1
// Bytes of a DATA packet besides its meta and payload: header, seq, flags,
// meta_len, payload_len, CRC. meta.size() + payload.size() <= kMaxPacket - this.
inline constexpr std::size_t kDataOverhead = kHeaderSize + 8 + 1 + 2 + 4 + kCrcSize;

// The packet types. An enum rather than a closed set: later steps add more,
// and a datagram of a type this build does not know is unknown_type.
enum class Type : std::uint8_t {
  data = 1,
  nak = 2,
  heartbeat = 3,
  join = 4,
  leave = 5,
  probe = 6,
  probe_ack = 7,
  flush = 8,
  flush_ok = 9,
  cut = 10,
  flush_done = 11,
  view = 12,
  view_ack = 13,
  merge = 14,
  announce = 15,
  state = 16,
  refuse = 17,
};
inline constexpr std::uint8_t kLastType = 17;
// "data", "nak", "heartbeat", "join", ..., "flush_ok", ... ("unknown" for a
// value outside the enum).
std::string_view to_string(Type type) noexcept;

// The tag of a group named `name`: the 64-bit FNV-1a hash of its bytes
// (offset basis 0xcbf29ce484222325, prime 0x100000001b3). Two groups whose names
// collide share a tag; the view and member ids still keep their traffic apart.
constexpr std::uint64_t group_tag(std::string_view name) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// A view's identity: its id and its creator, the coordinator that installed
// it (the view's members[0]). Ids alone are not unique: the two sides of a
// partition each install their own next view, and both may take the same id;
// their coordinators differ (each side's is one of its own members), so
// their identities do. A packet belongs to a view when its identity matches,
// never its id alone (JGroups' ViewId is the same pair). Ids still order
// views: a merged view's id exceeds those of the views it merges.
struct ViewId {
  std::uint64_t id = 0;       // 0: no view yet (a joiner)
  std::uint64_t creator = 0;  // 0 with id 0
  friend bool operator==(const ViewId&, const ViewId&) = default;
};

// The fields every packet starts with (offsets 3..35).
struct Header {
  Type type = Type::data;
  std::uint64_t group = 0;   // group_tag() of the group's name
  std::uint64_t sender = 0;  // the sending member's id, nonzero
  ViewId view;               // the view the sender is in
};

// The sequence numbers first..last, both included.
struct SeqRange {
  std::uint64_t first = 0, last = 0;
};

// `member`'s messages up to and including `delivered_through` are delivered.
struct DigestEntry {
  std::uint64_t member = 0, delivered_through = 0;
};

// A DATA body. The spans point into the datagram it was decoded from.
struct Data {
  std::uint64_t seq = 0;
  bool retransmission = false;
  bool control = false;
  std::span<const std::byte> meta;
  std::span<const std::byte> payload;
};

// A NAK body: `target`'s messages of these ranges are missing.
struct Nak {
  std::uint64_t target = 0;
  std::size_t count = 0;  // 1..kMaxNakRanges
  std::array<SeqRange, kMaxNakRanges> range_array{};

  std::span<const SeqRange> ranges() const noexcept { return {range_array.data(), count}; }
};

// A HEARTBEAT body. The digest entries stay in the datagram, read by entry(i).
struct Heartbeat {
  std::uint64_t highest_sent = 0;          // 0: the sender has sent nothing yet
  std::size_t count = 0;                   // 0..kMaxDigest
  std::span<const std::byte> raw_entries;  // count * 16 bytes, validated by decode()

  // The i-th digest entry, i < count (checked by an assert only).
  DigestEntry entry(std::size_t i) const noexcept;
};

// JOIN and ANNOUNCE: a contact (pointing into the datagram); ANNOUNCE's size.
struct Hello {
  std::span<const std::byte> contact;
  std::size_t size = 0;  // ANNOUNCE: the announcing coordinator's view size; JOIN: 0
};
// LEAVE: no fields.
struct Leave {};
// PROBE and PROBE_ACK.
struct Probe {
  std::uint64_t nonce = 0;
};
// FLUSH.
struct Flush {
  std::uint64_t new_view = 0;
  std::uint64_t merge_into = 0;  // 0: none
};
// FLUSH_OK: what the sender delivered of each sender, read by entry(i).
struct FlushOk {
  std::uint64_t new_view = 0;
  std::size_t count = 0;                   // 0..kMaxViewMembers
  std::span<const std::byte> raw_entries;  // count * 16 bytes, validated by decode()
  DigestEntry entry(std::size_t i) const noexcept;  // i < count
};
struct CutEntry {
  std::uint64_t member = 0, through = 0, holder = 0;
};
// CUT: the flush's cut, read by entry(i).
struct Cut {
  std::uint64_t new_view = 0;
  std::size_t count = 0;                   // 0..kMaxViewMembers
  std::span<const std::byte> raw_entries;  // count * 24 bytes, validated by decode()
  CutEntry entry(std::size_t i) const noexcept;  // i < count
};
// FLUSH_DONE and VIEW_ACK.
struct ViewNumber {
  std::uint64_t new_view = 0;
};
struct RosterEntry {
  std::uint64_t member = 0;
  std::span<const std::byte> contact;
};
// VIEW and MERGE: a view id and a roster. The entries stay in the datagram:
// walk them with next().
struct Roster {
  std::uint64_t new_view = 0;
  std::size_t count = 0;                   // 1..kMaxViewMembers
  std::span<const std::byte> raw_entries;  // validated by decode()
  // Reads the entry at byte `offset` of raw_entries (0 for the first) into
  // `out` and returns the offset of the next one.
  std::size_t next(std::size_t offset, RosterEntry& out) const noexcept;
};
// REFUSE: `joiner` may not join (its view would not fit one VIEW packet).
struct Refuse {
  std::uint64_t joiner = 0;
  std::size_t size = 0;  // the refusing view's members, 1..kMaxViewMembers
};
// STATE: one chunk of the group's state.
struct StateChunk {
  std::uint64_t new_view = 0;
  std::uint32_t total = 0, offset = 0;
  std::span<const std::byte> chunk;
};

// A decoded packet: its header and the body of header.type.
struct Packet {
  Header header;
  std::variant<Data, Nak, Heartbeat, Hello, Leave, Probe, Flush, FlushOk, Cut, ViewNumber, Roster,
               StateChunk, Refuse>
      body;
};

// Why a datagram was refused: one counter each. Stable names via to_string().
enum class ParseError : std::uint8_t {
  none,
  too_short,         // shorter than a header and checksum
  too_large,         // longer than kMaxPacket
  bad_magic,         // not "NG"
  bad_version,       // not 1
  bad_checksum,      // CRC32C mismatch: corrupted on the way (treat as lost)
  unknown_type,      // a type this build does not know
  zero_sender,       // sender member id 0
  truncated_body,    // the body ends before a field its type needs
  trailing_bytes,    // bytes after the body's last field
  zero_seq,          // DATA seq 0
  bad_flags,         // DATA flags with a reserved bit (2..7) set
  zero_target,       // NAK target 0
  bad_range_count,   // NAK count 0 or above kMaxNakRanges
  bad_range,         // NAK range with first 0 or first > last
  unordered_ranges,  // NAK ranges out of order, overlapping or touching
  bad_digest_count,  // HEARTBEAT count above kMaxDigest
  zero_member,       // HEARTBEAT entry, roster entry or REFUSE joiner with member 0
  unordered_digest,  // HEARTBEAT, FLUSH_OK or CUT members not strictly increasing
  bad_contact,       // a contact longer than kMaxContactBytes
  zero_view,         // a membership body's new_view 0
  bad_entry_count,   // FLUSH_OK or CUT count above kMaxViewMembers
  zero_holder,       // CUT entry with holder 0
  bad_roster_count,  // VIEW or MERGE roster count, ANNOUNCE or REFUSE size: 0 or above
                     // kMaxViewMembers
  bad_chunk,         // STATE offset + chunk_len beyond total
  bad_bundle,        // a bundle (bundle.hpp) whose entries do not fill it exactly
};
inline constexpr std::size_t kParseErrorCount =
    static_cast<std::size_t>(ParseError::bad_bundle) + 1;

// The stable name of `error` ("bad_checksum"): counter and CLI labels.
std::string_view to_string(ParseError error) noexcept;
// A sentence naming the field and the rule it broke
// ("NAK range: first is 0 or after last").
std::string_view describe(ParseError error) noexcept;

// Decodes one datagram. On none, `out` holds the packet, its spans pointing
// into `datagram` (which must outlive them); on an error `out` is unspecified.
// Never reads outside `datagram`, never allocates, never throws.
ParseError decode(std::span<const std::byte> datagram, Packet& out) noexcept;
// The group and sender of a packet, read without checking anything but its
// length, magic and version (not its checksum): for a receiver to set aside
// its own multicast, looped back, before paying for the checksum. False if
// the packet is too short or not ours in magic or version.
bool peek_origin(std::span<const std::byte> datagram, std::uint64_t& group,
                 std::uint64_t& sender) noexcept;

// The encoders replace the contents of `out` with one whole packet (header,
// body, CRC), reusing its capacity: a warm `out` is not reallocated. `header.type`
// must be the encoder's own type. They fail, leaving `out` unchanged, with
//   invalid_argument  a rule of the format is broken (sender 0, seq 0, target 0,
//                     0 or unordered ranges, member 0, unordered digest, the
//                     wrong header.type, ...); the message names the field;
//   too_large         the packet would exceed kMaxPacket.
// What decode() accepts, these re-encode to the same bytes.

// A DATA packet: message `seq` (>= 1) of header.sender, with `meta` and `payload`;
// `flags` is a combination of kRetransmission and kControl (others: invalid_argument).
Result<void> encode_data(Bytes& out, const Header& header, std::uint64_t seq, std::uint8_t flags,
                         std::span<const std::byte> meta, std::span<const std::byte> payload);

// A NAK packet asking `target` (nonzero) for the messages of `ranges`
// (1..kMaxNakRanges ranges, each 1 <= first <= last, increasing, not touching).
Result<void> encode_nak(Bytes& out, const Header& header, std::uint64_t target,
                        std::span<const SeqRange> ranges);

// A HEARTBEAT packet: `highest_sent` and a digest of 0..kMaxDigest entries,
// members nonzero and strictly increasing.
Result<void> encode_heartbeat(Bytes& out, const Header& header, std::uint64_t highest_sent,
                              std::span<const DigestEntry> digest);

// Membership packets (layouts above). The same contract as the encoders above;
// contacts over kMaxContactBytes, new_view 0, member or holder 0, unordered
// entries and lists over their bounds are invalid_argument.
struct RosterMember {
  std::uint64_t member = 0;
  std::span<const std::byte> contact;
};
// JOIN or ANNOUNCE (header.type says which); `size` is ANNOUNCE's (1..kMaxViewMembers),
// ignored for JOIN.
Result<void> encode_hello(Bytes& out, const Header& header, std::span<const std::byte> contact,
                          std::size_t size = 0);
Result<void> encode_leave(Bytes& out, const Header& header);
// PROBE or PROBE_ACK (header.type says which).
Result<void> encode_probe(Bytes& out, const Header& header, std::uint64_t nonce);
Result<void> encode_flush(Bytes& out, const Header& header, std::uint64_t new_view,
                          std::uint64_t merge_into);
Result<void> encode_flush_ok(Bytes& out, const Header& header, std::uint64_t new_view,
                             std::span<const DigestEntry> delivered);
Result<void> encode_cut(Bytes& out, const Header& header, std::uint64_t new_view,
                        std::span<const CutEntry> cut);
// FLUSH_DONE or VIEW_ACK (header.type says which).
Result<void> encode_view_number(Bytes& out, const Header& header, std::uint64_t new_view);
// The bytes of a VIEW or MERGE packet of members whose contacts are
// `contact_bytes` long in all: a view's roster must fit one packet
// (kMaxPacket), which bounds a view to fewer than kMaxViewMembers members
// when their contacts are long (1024 members of 64-byte contacts do not fit;
// of 19-byte ones, an IPv6 address and port, they do).
constexpr std::size_t roster_packet_size(std::size_t members, std::size_t contact_bytes) noexcept {
  return kHeaderSize + 8 + 2 + members * (8 + 1) + contact_bytes + kCrcSize;
}
// VIEW or MERGE (header.type says which): 1..kMaxViewMembers members.
Result<void> encode_roster(Bytes& out, const Header& header, std::uint64_t new_view,
                           std::span<const RosterMember> members);
// REFUSE of `joiner` (nonzero) by a view of `size` (1..kMaxViewMembers) members.
Result<void> encode_refuse(Bytes& out, const Header& header, std::uint64_t joiner,
                           std::size_t size);
Result<void> encode_state(Bytes& out, const Header& header, std::uint64_t new_view,
                          std::uint32_t total, std::uint32_t offset,
                          std::span<const std::byte> chunk);

}  // namespace nexo::group
