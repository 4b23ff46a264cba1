// The membership packets (JOIN .. STATE) against packet.hpp: round trips at
// their edges, byte layout of one, every refusal (collected into
// packet_test.cpp's EveryRefusalHasItsOwnError), and the encoders' refusals.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nexo/group/packet.hpp"
#include "nexo/reliable/checksum.hpp"

namespace nexo::group {

struct Case {
  std::string name;
  Bytes datagram;
  ParseError want;
};

namespace {

constexpr std::size_t kBodyAt = kHeaderSize;

Header header(Type type) {
  return {type, group_tag("chat"), 0x1122334455667788, {7, 0}};
}

void put(Bytes& d, std::size_t at, std::uint64_t v, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i)
    d[at + i] = static_cast<std::byte>(v >> (8 * (size - 1 - i)));
}

Bytes reseal(Bytes d) {
  put(d, d.size() - kCrcSize,
      reliable::crc32c(std::span<const std::byte>(d).first(d.size() - kCrcSize)), kCrcSize);
  return d;
}

Bytes edited(Bytes d, std::size_t at, std::uint64_t v, std::size_t size) {
  put(d, at, v, size);
  return reseal(std::move(d));
}

Bytes with_body_size(Bytes d, std::size_t body_size) {
  d.resize(kHeaderSize + body_size + kCrcSize);
  return reseal(std::move(d));
}

std::size_t body_size(const Bytes& d) {
  return d.size() - kHeaderSize - kCrcSize;
}

Packet decoded(const Bytes& d) {
  Packet packet;
  EXPECT_EQ(decode(d, packet), ParseError::none);
  return packet;
}

ParseError decode_copy(std::span<const std::byte> datagram) {
  const Bytes copy(datagram.begin(), datagram.end());
  Packet ignored;
  return decode(copy, ignored);
}

Bytes hello(Type type = Type::join, std::string_view contact = "10.0.0.1:5000") {
  Bytes out;
  EXPECT_TRUE(encode_hello(out, header(type), as_bytes(contact), type == Type::announce ? 3 : 0));
  return out;
}
Bytes leave_packet() {
  Bytes out;
  EXPECT_TRUE(encode_leave(out, header(Type::leave)));
  return out;
}
Bytes probe(Type type = Type::probe, std::uint64_t nonce = 99) {
  Bytes out;
  EXPECT_TRUE(encode_probe(out, header(type), nonce));
  return out;
}
Bytes flush(std::uint64_t new_view = 8, std::uint64_t merge_into = 0) {
  Bytes out;
  EXPECT_TRUE(encode_flush(out, header(Type::flush), new_view, merge_into));
  return out;
}
Bytes flush_ok(std::vector<DigestEntry> d = {{2, 10}, {5, 0}, {9, 3}}) {
  Bytes out;
  EXPECT_TRUE(encode_flush_ok(out, header(Type::flush_ok), 8, d));
  return out;
}
Bytes cut(std::vector<CutEntry> c = {{2, 10, 5}, {5, 1, 2}, {9, 3, 9}}) {
  Bytes out;
  EXPECT_TRUE(encode_cut(out, header(Type::cut), 8, c));
  return out;
}
Bytes view_number(Type type = Type::flush_done, std::uint64_t v = 8) {
  Bytes out;
  EXPECT_TRUE(encode_view_number(out, header(type), v));
  return out;
}
Bytes roster(Type type = Type::view) {
  const std::string a = "a:1", c = "ccc:3";
  const std::vector<RosterMember> members = {{5, as_bytes(a)}, {2, {}}, {9, as_bytes(c)}};
  Bytes out;
  EXPECT_TRUE(encode_roster(out, header(type), 8, members));
  return out;
}
Bytes state(std::uint32_t total = 100, std::uint32_t offset = 90,
            std::string_view chunk = "0123456789") {
  Bytes out;
  EXPECT_TRUE(encode_state(out, header(Type::state), 8, total, offset, as_bytes(chunk)));
  return out;
}

std::vector<RosterMember> roster_members(const Roster& r) {
  std::vector<RosterMember> out;
  std::size_t at = 0;
  for (std::size_t i = 0; i < r.count; ++i) {
    RosterEntry e;
    at = r.next(at, e);
    out.push_back({e.member, e.contact});
  }
  return out;
}

}  // namespace

void append_membership_refusals(std::vector<Case>& cases) {
  const std::size_t list = kBodyAt + 8;  // FLUSH_OK / CUT / roster count
  const std::vector<Case> more = {
      {"JOIN contact 65 bytes", edited(hello(Type::join, std::string(64, 'x')), kBodyAt, 65, 1),
       ParseError::bad_contact},
      {"JOIN contact_len past the end", edited(hello(), kBodyAt, 14, 1),
       ParseError::truncated_body},
      {"ANNOUNCE size 0", edited(hello(Type::announce), kBodyAt, 0, 2),
       ParseError::bad_roster_count},
      {"ANNOUNCE size 1025", edited(hello(Type::announce), kBodyAt, 1025, 2),
       ParseError::bad_roster_count},
      {"ANNOUNCE a byte after",
       with_body_size(hello(Type::announce), body_size(hello(Type::announce)) + 1),
       ParseError::trailing_bytes},
      {"LEAVE a byte after", with_body_size(leave_packet(), 1), ParseError::trailing_bytes},
      {"PROBE empty", with_body_size(probe(), 7), ParseError::truncated_body},
      {"FLUSH new_view 0", edited(flush(), kBodyAt, 0, 8), ParseError::zero_view},
      {"FLUSH_DONE new_view 0", edited(view_number(), kBodyAt, 0, 8), ParseError::zero_view},
      {"FLUSH_OK count 1025", edited(flush_ok(), list, kMaxViewMembers + 1, 2),
       ParseError::bad_entry_count},
      {"FLUSH_OK count one too many", edited(flush_ok(), list, 4, 2), ParseError::truncated_body},
      {"FLUSH_OK count one too few", edited(flush_ok(), list, 2, 2), ParseError::trailing_bytes},
      {"FLUSH_OK member 0", edited(flush_ok(), list + 2, 0, 8), ParseError::zero_member},
      {"FLUSH_OK members decreasing", edited(flush_ok(), list + 2 + 16, 1, 8),
       ParseError::unordered_digest},
      {"CUT holder 0", edited(cut(), list + 2 + 24 + 16, 0, 8), ParseError::zero_holder},
      {"CUT members repeated", edited(cut(), list + 2 + 24, 2, 8), ParseError::unordered_digest},
      {"CUT new_view 0", edited(cut(), kBodyAt, 0, 8), ParseError::zero_view},
      {"VIEW roster count 0", edited(roster(), list, 0, 2), ParseError::bad_roster_count},
      {"VIEW roster count 1025", edited(roster(), list, kMaxViewMembers + 1, 2),
       ParseError::bad_roster_count},
      {"VIEW roster count one too many", edited(roster(), list, 4, 2), ParseError::truncated_body},
      {"VIEW roster count one too few", edited(roster(), list, 2, 2), ParseError::trailing_bytes},
      {"VIEW member 0", edited(roster(), list + 2, 0, 8), ParseError::zero_member},
      {"MERGE contact 200", edited(roster(Type::merge), list + 2 + 8, 200, 1),
       ParseError::bad_contact},
      {"VIEW new_view 0", edited(roster(), kBodyAt, 0, 8), ParseError::zero_view},
      {"STATE chunk beyond total", edited(state(), kBodyAt + 8, 99, 4), ParseError::bad_chunk},
      {"STATE offset wraps", edited(state(), kBodyAt + 12, 0xFFFFFFFF, 4), ParseError::bad_chunk},
      {"STATE chunk_len past the end", edited(state(100, 0), kBodyAt + 16, 11, 2),
       ParseError::truncated_body},
      {"STATE a byte after", with_body_size(state(), body_size(state()) + 1),
       ParseError::trailing_bytes},
  };
  cases.insert(cases.end(), more.begin(), more.end());
}

namespace {

TEST(GroupMembershipPacket, HelloAndProbeRoundTrip) {
  for (Type t : {Type::join, Type::announce}) {
    const Bytes bytes = hello(t, "h:1");  // the spans point into it
    const Packet p = decoded(bytes);
    EXPECT_EQ(p.header.type, t);
    EXPECT_EQ(as_text(std::get<Hello>(p.body).contact), "h:1");
    EXPECT_EQ(std::get<Hello>(p.body).size, t == Type::announce ? 3u : 0u);
  }
  EXPECT_TRUE(std::get<Hello>(decoded(hello(Type::join, "")).body).contact.empty());
  const std::string max(kMaxContactBytes, 'c');
  const Bytes longest = hello(Type::join, max);
  EXPECT_EQ(std::get<Hello>(decoded(longest).body).contact.size(), max.size());
  for (Type t : {Type::probe, Type::probe_ack})
    EXPECT_EQ(std::get<Probe>(decoded(probe(t, ~0ULL)).body).nonce, ~0ULL);
  Bytes leave;
  ASSERT_TRUE(encode_leave(leave, header(Type::leave)));
  EXPECT_EQ(leave.size(), kHeaderSize + kCrcSize);
  EXPECT_TRUE(std::holds_alternative<Leave>(decoded(leave).body));
}

TEST(GroupMembershipPacket, FlushByteLayout) {
  const Bytes d = flush(0x0102030405060708, 9);
  ASSERT_EQ(d.size(), kHeaderSize + 16 + kCrcSize);
  EXPECT_EQ(std::to_integer<int>(d[3]), 8);  // type FLUSH
  EXPECT_EQ(std::to_integer<int>(d[kBodyAt]), 1);
  EXPECT_EQ(std::to_integer<int>(d[kBodyAt + 7]), 8);
  EXPECT_EQ(std::to_integer<int>(d[kBodyAt + 15]), 9);
  const auto f = std::get<Flush>(decoded(d).body);
  EXPECT_EQ(f.new_view, 0x0102030405060708u);
  EXPECT_EQ(f.merge_into, 9u);
}

TEST(GroupMembershipPacket, FlushOkCutAndViewNumberRoundTrip) {
  const Bytes ok_bytes = flush_ok(), cut_bytes = cut();  // the entries stay in them
  const auto ok_body = std::get<FlushOk>(decoded(ok_bytes).body);
  ASSERT_EQ(ok_body.count, 3u);
  EXPECT_EQ(ok_body.entry(2).member, 9u);
  EXPECT_EQ(ok_body.entry(0).delivered_through, 10u);
  EXPECT_EQ(std::get<FlushOk>(decoded(flush_ok({})).body).count, 0u);
  const auto c = std::get<Cut>(decoded(cut_bytes).body);
  ASSERT_EQ(c.count, 3u);
  EXPECT_EQ(c.entry(1).member, 5u);
  EXPECT_EQ(c.entry(1).through, 1u);
  EXPECT_EQ(c.entry(1).holder, 2u);
  std::vector<CutEntry> big;
  for (std::uint64_t i = 1; i <= kMaxViewMembers; ++i)
    big.push_back({i, i * 7, i});
  const Bytes big_bytes = cut(big);
  const auto full = std::get<Cut>(decoded(big_bytes).body);
  ASSERT_EQ(full.count, kMaxViewMembers);
  EXPECT_EQ(full.entry(kMaxViewMembers - 1).through, kMaxViewMembers * 7);
  for (Type t : {Type::flush_done, Type::view_ack})
    EXPECT_EQ(std::get<ViewNumber>(decoded(view_number(t, 5)).body).new_view, 5u);
}

TEST(GroupMembershipPacket, RosterRoundTripsInViewOrder) {
  for (Type t : {Type::view, Type::merge}) {
    const Bytes bytes = roster(t);
    const Packet p = decoded(bytes);
    EXPECT_EQ(p.header.type, t);
    const auto& r = std::get<Roster>(p.body);
    EXPECT_EQ(r.new_view, 8u);
    const auto members = roster_members(r);
    ASSERT_EQ(members.size(), 3u);
    EXPECT_EQ(members[0].member, 5u);
    EXPECT_EQ(as_text(members[0].contact), "a:1");
    EXPECT_EQ(members[1].member, 2u);
    EXPECT_TRUE(members[1].contact.empty());
    EXPECT_EQ(as_text(members[2].contact), "ccc:3");
  }
  // 1024 members with 40-byte contacts fit; with 64-byte ones they do not.
  const std::string c40(40, 'x'), c64(64, 'x');
  std::vector<RosterMember> many;
  for (std::uint64_t i = 1; i <= kMaxViewMembers; ++i)
    many.push_back({i, as_bytes(c40)});
  Bytes out;
  ASSERT_TRUE(encode_roster(out, header(Type::view), 3, many));
  EXPECT_EQ(roster_members(std::get<Roster>(decoded(out).body)).size(), kMaxViewMembers);
  for (auto& m : many)
    m.contact = as_bytes(c64);
  const auto refused = encode_roster(out, header(Type::view), 3, many);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::too_large);
}

TEST(GroupMembershipPacket, RosterPacketSizeIsTheEncodedSizeAndBoundsTheView) {
  const std::string a = "a:1", c = "ccc:3";
  const std::vector<RosterMember> members = {{5, as_bytes(a)}, {2, {}}, {9, as_bytes(c)}};
  Bytes out;
  ASSERT_TRUE(encode_roster(out, header(Type::view), 8, members));
  EXPECT_EQ(out.size(), roster_packet_size(3, a.size() + c.size()));
  // The largest view of 64-byte contacts: 896 members fit one packet, 897 do not.
  const std::string c64(64, 'x');
  std::vector<RosterMember> many;
  while (roster_packet_size(many.size() + 1, 64 * (many.size() + 1)) <= kMaxPacket)
    many.push_back({many.size() + 1, as_bytes(c64)});
  EXPECT_EQ(many.size(), 896u);
  ASSERT_TRUE(encode_roster(out, header(Type::view), 8, many));
  EXPECT_LE(out.size(), kMaxPacket);
  many.push_back({many.size() + 1, as_bytes(c64)});
  const auto refused = encode_roster(out, header(Type::view), 8, many);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::too_large);
}

TEST(GroupMembershipPacket, RefuseRoundTripsAndItsRulesHold) {
  Bytes out;
  ASSERT_TRUE(encode_refuse(out, header(Type::refuse), 0xABCDEF, 896));
  const auto r = std::get<Refuse>(decoded(out).body);
  EXPECT_EQ(r.joiner, 0xABCDEFu);
  EXPECT_EQ(r.size, 896u);
  EXPECT_EQ(to_string(Type::refuse), "refuse");
  EXPECT_EQ(decode_copy(edited(out, kBodyAt, 0, 8)), ParseError::zero_member);
  EXPECT_EQ(decode_copy(edited(out, kBodyAt + 8, 0, 2)), ParseError::bad_roster_count);
  EXPECT_EQ(decode_copy(edited(out, kBodyAt + 8, kMaxViewMembers + 1, 2)),
            ParseError::bad_roster_count);
  for (std::size_t n = 0; n < body_size(out); ++n)
    EXPECT_EQ(decode_copy(with_body_size(out, n)), ParseError::truncated_body) << n;
  const Bytes before = out;
  EXPECT_FALSE(encode_refuse(out, header(Type::refuse), 0, 3));
  EXPECT_FALSE(encode_refuse(out, header(Type::refuse), 4, 0));
  EXPECT_FALSE(encode_refuse(out, header(Type::join), 4, 3));
  EXPECT_EQ(out, before);
}

TEST(GroupMembershipPacket, StateRoundTrip) {
  const Bytes bytes = state();
  const auto s = std::get<StateChunk>(decoded(bytes).body);
  EXPECT_EQ(s.total, 100u);
  EXPECT_EQ(s.offset, 90u);
  EXPECT_EQ(as_text(s.chunk), "0123456789");
  const auto empty = std::get<StateChunk>(decoded(state(0, 0, "")).body);
  EXPECT_EQ(empty.total, 0u);
}

TEST(GroupMembershipPacket, TruncationAtEveryLengthIsRefused) {
  for (const Bytes& valid : {hello(), probe(), flush(), flush_ok(), cut(), view_number(), roster(),
                             roster(Type::merge), state()}) {
    for (std::size_t n = 0; n < body_size(valid); ++n)
      EXPECT_EQ(decode_copy(with_body_size(valid, n)), ParseError::truncated_body)
          << to_string(decoded(valid).header.type) << " body cut to " << n;
  }
}

void expect_refused(const Result<void>& result, ErrorKind kind, std::string_view mentions) {
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), kind) << result.error().to_string();
  EXPECT_NE(result.error().message().find(mentions), std::string::npos) << result.error().message();
}

TEST(GroupMembershipPacketEncode, RefusesBrokenRulesAndLeavesOutUnchanged) {
  const Bytes before = to_bytes("untouched");
  Bytes out = before;
  const auto ia = ErrorKind::invalid_argument;
  const Bytes long_contact(kMaxContactBytes + 1);
  expect_refused(encode_hello(out, header(Type::join), long_contact), ia, "contact of 65");
  expect_refused(encode_hello(out, header(Type::leave), {}), ia, "header.type");
  expect_refused(encode_leave(out, header(Type::join)), ia, "header.type");
  expect_refused(encode_hello(out, header(Type::announce), {}, 0), ia, "size 0");
  expect_refused(encode_probe(out, header(Type::flush), 1), ia, "header.type");
  expect_refused(encode_flush(out, header(Type::flush), 0, 0), ia, "new_view 0");
  expect_refused(
      encode_flush_ok(out, header(Type::flush_ok), 3, std::vector<DigestEntry>{{3, 1}, {3, 1}}), ia,
      "strictly increasing");
  expect_refused(encode_flush_ok(out, header(Type::flush_ok), 3,
                                 std::vector<DigestEntry>(kMaxViewMembers + 1)),
                 ia, "1025 entries");
  expect_refused(encode_cut(out, header(Type::cut), 3, std::vector<CutEntry>{{0, 1, 1}}), ia,
                 "member id 0");
  expect_refused(encode_cut(out, header(Type::cut), 3, std::vector<CutEntry>{{4, 1, 0}}), ia,
                 "holder 0");
  expect_refused(encode_view_number(out, header(Type::view_ack), 0), ia, "new_view 0");
  expect_refused(encode_roster(out, header(Type::view), 3, {}), ia, "0 members");
  expect_refused(encode_roster(out, header(Type::merge), 3, std::vector<RosterMember>{{0, {}}}), ia,
                 "id 0");
  expect_refused(
      encode_roster(out, header(Type::view), 3, std::vector<RosterMember>{{1, long_contact}}), ia,
      "contact of 65");
  expect_refused(encode_state(out, header(Type::state), 3, 5, 4, to_bytes("ab")), ia,
                 "beyond total");
  Header no_sender = header(Type::probe);
  no_sender.sender = 0;
  expect_refused(encode_probe(out, no_sender, 1), ia, "sender");
  EXPECT_EQ(out, before);
}

}  // namespace
}  // namespace nexo::group
