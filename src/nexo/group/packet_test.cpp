// group/'s packet codec against packet.hpp: the byte layout, round trips of
// each type at its edges, every ParseError from a crafted datagram, corruption
// and truncation always caught, and the encoders' refusals.
#include "nexo/group/packet.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "nexo/reliable/checksum.hpp"

namespace nexo::group {
namespace {

constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kSender = 0x1122334455667788;
constexpr std::uint64_t kCreator = 0x99AABBCCDDEEFF00;
constexpr std::size_t kBodyAt = kHeaderSize;  // the body's offset

Header header(Type type) {
  return {type, group_tag("chat"), kSender, {0x0000000100000002, kCreator}};
}

Bytes data_packet(std::uint64_t seq = 5, bool retransmission = false, std::string_view meta = "mm",
                  std::string_view payload = "hello, group") {
  Bytes out;
  EXPECT_TRUE(
      encode_data(out, header(Type::data), seq, retransmission, as_bytes(meta), as_bytes(payload)));
  return out;
}

Bytes nak_packet(std::vector<SeqRange> ranges = {{3, 4}, {9, 9}, {20, 100}},
                 std::uint64_t target = 42) {
  Bytes out;
  EXPECT_TRUE(encode_nak(out, header(Type::nak), target, ranges));
  return out;
}

Bytes heartbeat_packet(std::vector<DigestEntry> digest = {{2, 10}, {7, 0}, {kMax64, kMax64}},
                       std::uint64_t highest_sent = 99) {
  Bytes out;
  EXPECT_TRUE(encode_heartbeat(out, header(Type::heartbeat), highest_sent, digest));
  return out;
}

// Decodes a copy of exactly `datagram.size()` bytes, so that a sanitizer build
// catches a read past the end. (The packet is dropped: its spans would point
// into the copy.)
ParseError decode_copy(std::span<const std::byte> datagram) {
  const Bytes copy(datagram.begin(), datagram.end());
  Packet ignored;
  return decode(copy, ignored);
}

void put(Bytes& d, std::size_t at, std::uint64_t v, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i)
    d[at + i] = static_cast<std::byte>(v >> (8 * (size - 1 - i)));
}
void put_u64(Bytes& d, std::size_t at, std::uint64_t v) {
  put(d, at, v, 8);
}

// Recomputes the CRC after a test has edited a datagram, so that the edit
// reaches the checks that come after the checksum.
Bytes reseal(Bytes d) {
  put(d, d.size() - kCrcSize,
      reliable::crc32c(std::span<const std::byte>(d).first(d.size() - kCrcSize)), kCrcSize);
  return d;
}

// `d` with its body cut to `body_size` bytes, or grown with zeros to it, resealed.
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

TEST(GroupTag, IsFnv1a64OfTheName) {
  static_assert(group_tag("") == 0xcbf29ce484222325);  // the published test vectors
  EXPECT_EQ(group_tag("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(group_tag("foobar"), 0x85944171f73967e8ULL);
  EXPECT_NE(group_tag("chat"), group_tag("chat2"));
}

TEST(GroupPacket, DataByteLayout) {
  const Bytes d = data_packet(0x0102030405060708, true, "M", "xy");
  Bytes want = {std::byte{'N'}, std::byte{'G'}, std::byte{2}, std::byte{1}};
  auto append = [&](std::uint64_t v, std::size_t size) {
    want.resize(want.size() + size);
    put(want, want.size() - size, v, size);
  };
  append(group_tag("chat"), 8);
  append(kSender, 8);
  append(0x0000000100000002, 8);  // the view: its id,
  append(kCreator, 8);            // its creator
  append(0x0102030405060708, 8);
  append(1, 1);  // retransmission
  append(1, 2);
  want.push_back(std::byte{'M'});
  append(2, 4);
  want.push_back(std::byte{'x'});
  want.push_back(std::byte{'y'});
  append(reliable::crc32c(want), 4);
  EXPECT_EQ(d, want);
  EXPECT_EQ(d.size(), kDataOverhead + 3);
}

TEST(GroupPacket, DataControlFlagRoundTrips) {
  for (const std::uint8_t flags : {kControl, static_cast<std::uint8_t>(kControl | kRetransmission)}) {
    Bytes out;
    ASSERT_TRUE(encode_data(out, header(Type::data), 3, flags, {}, as_bytes("x")));
    const Packet packet = decoded(out);
    const auto& data = std::get<Data>(packet.body);
    EXPECT_TRUE(data.control);
    EXPECT_EQ(data.retransmission, (flags & kRetransmission) != 0);
  }
  Bytes out;
  ASSERT_TRUE(encode_data(out, header(Type::data), 3, 0, {}, as_bytes("x")));
  const Packet plain = decoded(out);
  EXPECT_FALSE(std::get<Data>(plain.body).control);
  const Result<void> reserved = encode_data(out, header(Type::data), 3, 4, {}, as_bytes("x"));
  ASSERT_FALSE(reserved);
  EXPECT_EQ(reserved.error().kind(), ErrorKind::invalid_argument);
}

TEST(GroupPacket, DataRoundTrip) {
  for (const bool retransmission : {false, true}) {
    const Bytes d = data_packet(kMax64, retransmission, "meta", "payload");
    const Packet p = decoded(d);
    EXPECT_EQ(p.header.type, Type::data);
    EXPECT_EQ(p.header.group, group_tag("chat"));
    EXPECT_EQ(p.header.sender, kSender);
    EXPECT_EQ(p.header.view, (ViewId{0x0000000100000002u, kCreator}));
    const auto& data = std::get<Data>(p.body);
    EXPECT_EQ(data.seq, kMax64);
    EXPECT_EQ(data.retransmission, retransmission);
    EXPECT_EQ(as_text(data.meta), "meta");
    EXPECT_EQ(as_text(data.payload), "payload");
    EXPECT_EQ(data.payload.data(), d.data() + d.size() - kCrcSize - 7);  // points into d
  }
}

TEST(GroupPacket, DataEmptyMetaAndPayload) {
  const Bytes d = data_packet(1, false, "", "");
  EXPECT_EQ(d.size(), kDataOverhead);
  const auto data = std::get<Data>(decoded(d).body);
  EXPECT_EQ(data.seq, 1u);
  EXPECT_TRUE(data.meta.empty());
  EXPECT_TRUE(data.payload.empty());
}

TEST(GroupPacket, DataLargestPacket) {
  const std::size_t room = kMaxPacket - kDataOverhead;
  const std::string meta(1000, 'm');
  const std::string payload(room - meta.size(), 'p');
  const Bytes d = data_packet(7, false, meta, payload);
  EXPECT_EQ(d.size(), kMaxPacket);
  const auto data = std::get<Data>(decoded(d).body);
  EXPECT_EQ(as_text(data.meta), meta);
  EXPECT_EQ(as_text(data.payload), payload);

  const std::string all_meta(room, 'm');  // meta alone may fill the packet too
  EXPECT_EQ(std::get<Data>(decoded(data_packet(7, false, all_meta, "")).body).meta.size(), room);
}

TEST(GroupPacket, NakRoundTrip) {
  const Packet p = decoded(nak_packet());
  EXPECT_EQ(p.header.type, Type::nak);
  EXPECT_EQ(p.header.sender, kSender);
  const auto& nak = std::get<Nak>(p.body);
  EXPECT_EQ(nak.target, 42u);
  ASSERT_EQ(nak.ranges().size(), 3u);
  EXPECT_EQ(nak.ranges()[0].first, 3u);
  EXPECT_EQ(nak.ranges()[0].last, 4u);
  EXPECT_EQ(nak.ranges()[1].first, 9u);
  EXPECT_EQ(nak.ranges()[1].last, 9u);
  EXPECT_EQ(nak.ranges()[2].first, 20u);
  EXPECT_EQ(nak.ranges()[2].last, 100u);
}

TEST(GroupPacket, NakMaxRangesAtTheEdgesOfU64) {
  std::vector<SeqRange> ranges;
  for (std::uint64_t i = 0; i < kMaxNakRanges - 1; ++i)
    ranges.push_back({1 + 3 * i, 2 + 3 * i});
  ranges.push_back({ranges.back().last + 2, kMax64});
  const Bytes d = nak_packet(ranges, kMax64);
  EXPECT_EQ(d.size(), kHeaderSize + 10 + 16 * kMaxNakRanges + kCrcSize);
  const Nak nak = std::get<Nak>(decoded(d).body);
  EXPECT_EQ(nak.target, kMax64);
  ASSERT_EQ(nak.count, kMaxNakRanges);
  for (std::size_t i = 0; i < kMaxNakRanges; ++i) {
    EXPECT_EQ(nak.ranges()[i].first, ranges[i].first) << i;
    EXPECT_EQ(nak.ranges()[i].last, ranges[i].last) << i;
  }
}

TEST(GroupPacket, HeartbeatRoundTrip) {
  const Bytes d = heartbeat_packet();
  const Packet p = decoded(d);
  EXPECT_EQ(p.header.type, Type::heartbeat);
  const auto& hb = std::get<Heartbeat>(p.body);
  EXPECT_EQ(hb.highest_sent, 99u);
  ASSERT_EQ(hb.count, 3u);
  EXPECT_EQ(hb.entry(0).member, 2u);
  EXPECT_EQ(hb.entry(0).delivered_through, 10u);
  EXPECT_EQ(hb.entry(1).member, 7u);
  EXPECT_EQ(hb.entry(1).delivered_through, 0u);
  EXPECT_EQ(hb.entry(2).member, kMax64);
  EXPECT_EQ(hb.entry(2).delivered_through, kMax64);
}

TEST(GroupPacket, HeartbeatEmptyAndMaxDigest) {
  const Heartbeat empty = std::get<Heartbeat>(decoded(heartbeat_packet({}, 0)).body);
  EXPECT_EQ(empty.highest_sent, 0u);
  EXPECT_EQ(empty.count, 0u);

  std::vector<DigestEntry> digest;
  for (std::uint64_t i = 1; i <= kMaxDigest; ++i)
    digest.push_back({i * 1000, i * i});
  const Bytes d = heartbeat_packet(digest, kMax64);
  EXPECT_EQ(d.size(), kHeaderSize + 10 + 16 * kMaxDigest + kCrcSize);
  const Packet p = decoded(d);
  const auto& hb = std::get<Heartbeat>(p.body);
  EXPECT_EQ(hb.highest_sent, kMax64);
  ASSERT_EQ(hb.count, kMaxDigest);
  for (std::size_t i = 0; i < kMaxDigest; ++i) {
    EXPECT_EQ(hb.entry(i).member, digest[i].member) << i;
    EXPECT_EQ(hb.entry(i).delivered_through, digest[i].delivered_through) << i;
  }
}

// ---- refusals -----------------------------------------------------------------

}  // namespace

struct Case {
  std::string name;
  Bytes datagram;
  ParseError want;
};
// The refusals of the membership bodies (JOIN .. STATE).
void append_membership_refusals(std::vector<Case>& cases);

namespace {

// NAK / HEARTBEAT body offsets: target or highest_sent, count, then pairs.
constexpr std::size_t kCountAt = kBodyAt + 8;
constexpr std::size_t kPairsAt = kBodyAt + 10;
constexpr std::size_t kFlagsAt = kBodyAt + 8;

Bytes edited(Bytes d, std::size_t at, std::uint64_t v, std::size_t size) {
  put(d, at, v, size);
  return reseal(std::move(d));
}

std::vector<Case> refusal_cases() {
  const Bytes data = data_packet(), nak = nak_packet(), hb = heartbeat_packet();
  std::vector<Case> cases = {
      {"39 bytes", Bytes(kHeaderSize + kCrcSize - 1), ParseError::too_short},
      {"empty", Bytes(), ParseError::too_short},
      {"65508 bytes", Bytes(kMaxPacket + 1), ParseError::too_large},
      {"magic NH", edited(data, 1, 'H', 1), ParseError::bad_magic},
      {"magic 0G", edited(data, 0, 0, 1), ParseError::bad_magic},
      {"version 1 (no view creator)", edited(data, 2, 1, 1), ParseError::bad_version},
      {"version 3", edited(data, 2, 3, 1), ParseError::bad_version},
      {"version 0", edited(data, 2, 0, 1), ParseError::bad_version},
      {"a valid DATA", data, ParseError::none},
      {"type 0", edited(data, 3, 0, 1), ParseError::unknown_type},
      {"type 18", edited(data, 3, 18, 1), ParseError::unknown_type},
      {"type 255", edited(data, 3, 255, 1), ParseError::unknown_type},
      {"sender 0", edited(hb, 12, 0, 8), ParseError::zero_sender},
      {"DATA body empty", with_body_size(data, 0), ParseError::truncated_body},
      {"DATA meta_len past the end", edited(data, kFlagsAt + 1, 0xFFFF, 2),
       ParseError::truncated_body},
      {"DATA payload_len one too many", edited(data, kFlagsAt + 5, 13, 4),
       ParseError::truncated_body},
      {"DATA payload_len one too few", edited(data, kFlagsAt + 5, 11, 4),
       ParseError::trailing_bytes},
      {"DATA a byte after the payload", with_body_size(data, body_size(data) + 1),
       ParseError::trailing_bytes},
      {"NAK a byte after the ranges", with_body_size(nak, body_size(nak) + 1),
       ParseError::trailing_bytes},
      {"NAK count one too many", edited(nak, kCountAt, 4, 2), ParseError::truncated_body},
      {"NAK count one too few", edited(nak, kCountAt, 2, 2), ParseError::trailing_bytes},
      {"HEARTBEAT a byte after the digest", with_body_size(hb, body_size(hb) + 1),
       ParseError::trailing_bytes},
      {"HEARTBEAT count one too many", edited(hb, kCountAt, 4, 2), ParseError::truncated_body},
      {"DATA seq 0", edited(data, kBodyAt, 0, 8), ParseError::zero_seq},
      {"NAK target 0", edited(nak, kBodyAt, 0, 8), ParseError::zero_target},
      {"NAK count 0", edited(nak, kCountAt, 0, 2), ParseError::bad_range_count},
      {"NAK count 33", edited(nak, kCountAt, 33, 2), ParseError::bad_range_count},
      {"NAK count 65535", edited(nak, kCountAt, 0xFFFF, 2), ParseError::bad_range_count},
      {"NAK range first 0", edited(nak, kPairsAt, 0, 8), ParseError::bad_range},
      {"NAK range first after last", edited(nak, kPairsAt + 16, 10, 8), ParseError::bad_range},
      {"NAK range touching the one before", edited(nak, kPairsAt + 16, 5, 8),
       ParseError::unordered_ranges},
      {"NAK range overlapping the one before", edited(nak, kPairsAt + 16, 4, 8),
       ParseError::unordered_ranges},
      {"NAK range before the one before", edited(nak, kPairsAt + 32, 1, 8),
       ParseError::unordered_ranges},
      {"HEARTBEAT count 1025", edited(hb, kCountAt, kMaxDigest + 1, 2),
       ParseError::bad_digest_count},
      {"HEARTBEAT member 0", edited(hb, kPairsAt, 0, 8), ParseError::zero_member},
      {"HEARTBEAT member repeated", edited(hb, kPairsAt + 16, 2, 8), ParseError::unordered_digest},
      {"HEARTBEAT member decreasing", edited(hb, kPairsAt + 32, 3, 8),
       ParseError::unordered_digest},
  };
  append_membership_refusals(cases);  // packet_membership_test.cpp
  for (int bit = 2; bit < 8; ++bit)
    cases.push_back({"DATA flags bit " + std::to_string(bit), edited(data, kFlagsAt, 1u << bit, 1),
                     ParseError::bad_flags});
  Bytes bad_crc = data;
  bad_crc.back() ^= std::byte{1};
  cases.push_back({"CRC's last bit", bad_crc, ParseError::bad_checksum});
  // After a range ending at the largest u64 nothing may follow (first - 1 must not wrap).
  Bytes after_max = nak;
  put_u64(after_max, kPairsAt + 24, kMax64);  // range 1: 9..2^64-1
  put_u64(after_max, kPairsAt + 32, kMax64);  // range 2: 2^64-1..2^64-1
  put_u64(after_max, kPairsAt + 40, kMax64);
  cases.push_back(
      {"NAK range after one ending at 2^64-1", reseal(after_max), ParseError::unordered_ranges});
  return cases;
}

TEST(GroupPacket, EveryRefusalHasItsOwnError) {
  std::set<ParseError> seen;
  for (const Case& c : refusal_cases()) {
    EXPECT_EQ(decode_copy(c.datagram), c.want)
        << c.name << ": got " << to_string(decode_copy(c.datagram)) << ", want "
        << to_string(c.want);
    seen.insert(c.want);
  }
  seen.insert(ParseError::bad_bundle);  // a bundle's framing: bundle_test.cpp's cases
  for (std::size_t i = 0; i < kParseErrorCount; ++i)
    EXPECT_TRUE(seen.count(static_cast<ParseError>(i)))
        << "no case for " << to_string(static_cast<ParseError>(i));
}

TEST(GroupPacket, EveryFlippedBitIsCaught) {
  for (const Bytes& valid : {data_packet(), nak_packet(), heartbeat_packet()}) {
    for (std::size_t bit = 0; bit < valid.size() * 8; ++bit) {
      Bytes d = valid;
      d[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
      const ParseError want = bit < 16   ? ParseError::bad_magic
                              : bit < 24 ? ParseError::bad_version
                                         : ParseError::bad_checksum;
      EXPECT_EQ(decode_copy(d), want) << "bit " << bit;
    }
  }
}

TEST(GroupPacket, TruncationAtEveryLengthIsRefused) {
  for (const Bytes& valid : {data_packet(), nak_packet(), heartbeat_packet(),
                             heartbeat_packet({}, 0), data_packet(1, false, "", "")}) {
    ASSERT_EQ(decode_copy(valid), ParseError::none);
    for (std::size_t n = 0; n < valid.size(); ++n)
      EXPECT_NE(decode_copy(std::span(valid).first(n)), ParseError::none) << n;
    // Cut inside the body and resealed, so that the body checks see it.
    for (std::size_t n = 0; n < body_size(valid); ++n)
      EXPECT_EQ(decode_copy(with_body_size(valid, n)), ParseError::truncated_body) << n;
  }
}

TEST(GroupPacket, TrailingByteIsRefused) {
  for (Bytes d : {data_packet(), nak_packet(), heartbeat_packet(), heartbeat_packet({}, 0)}) {
    d.insert(d.end() - kCrcSize, std::byte{0});
    EXPECT_EQ(decode_copy(reseal(d)), ParseError::trailing_bytes);
  }
}

TEST(GroupPacket, ParseErrorNamesAreDistinct) {
  std::set<std::string_view> names, descriptions;
  for (std::size_t i = 0; i < kParseErrorCount; ++i) {
    const auto error = static_cast<ParseError>(i);
    EXPECT_TRUE(names.insert(to_string(error)).second) << to_string(error);
    EXPECT_TRUE(descriptions.insert(describe(error)).second) << describe(error);
  }
  EXPECT_EQ(describe(ParseError::bad_range), "NAK range: first is 0 or after last");
  EXPECT_EQ(to_string(static_cast<ParseError>(kParseErrorCount)), "unknown");
}

// ---- encoder refusals -------------------------------------------------------------

void expect_refused(const Result<void>& result, ErrorKind kind, std::string_view mentions) {
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), kind) << result.error().to_string();
  EXPECT_NE(result.error().message().find(mentions), std::string::npos) << result.error().message();
}

TEST(GroupPacketEncode, RefusesBrokenRulesAndLeavesOutUnchanged) {
  const Bytes before = to_bytes("untouched");
  Bytes out = before;
  const auto ia = ErrorKind::invalid_argument;
  const std::span<const std::byte> none;
  Header no_sender = header(Type::data);
  no_sender.sender = 0;
  expect_refused(encode_data(out, no_sender, 1, false, none, none), ia, "sender");
  expect_refused(encode_data(out, header(Type::nak), 1, false, none, none), ia, "header.type");
  expect_refused(encode_data(out, header(Type::data), 0, false, none, none), ia, "seq 0");

  const Header nak = header(Type::nak);
  const std::vector<SeqRange> one = {{1, 2}};
  expect_refused(encode_nak(out, nak, 0, one), ia, "target");
  expect_refused(encode_nak(out, nak, 9, {}), ia, "0 ranges");
  expect_refused(encode_nak(out, nak, 9, std::vector<SeqRange>(33, {1, 1})), ia, "33 ranges");
  expect_refused(encode_nak(out, nak, 9, std::vector<SeqRange>{{0, 1}}), ia, "range 0");
  expect_refused(encode_nak(out, nak, 9, std::vector<SeqRange>{{1, 2}, {5, 4}}), ia, "range 1");
  expect_refused(encode_nak(out, nak, 9, std::vector<SeqRange>{{1, 2}, {3, 4}}), ia, "touches");
  expect_refused(encode_nak(out, nak, 9, std::vector<SeqRange>{{5, 6}, {1, 2}}), ia, "range 1");
  expect_refused(encode_nak(out, nak, 9, std::vector<SeqRange>{{1, kMax64}, {kMax64, kMax64}}), ia,
                 "range 1");
  expect_refused(encode_nak(out, header(Type::heartbeat), 9, one), ia, "header.type");

  const Header hb = header(Type::heartbeat);
  expect_refused(encode_heartbeat(out, hb, 0, std::vector<DigestEntry>(kMaxDigest + 1)), ia,
                 "1025 digest entries");
  expect_refused(encode_heartbeat(out, hb, 0, std::vector<DigestEntry>{{0, 1}}), ia, "member id 0");
  expect_refused(encode_heartbeat(out, hb, 0, std::vector<DigestEntry>{{3, 1}, {3, 1}}), ia,
                 "strictly increasing");
  expect_refused(encode_heartbeat(out, hb, 0, std::vector<DigestEntry>{{3, 1}, {2, 1}}), ia,
                 "entry 1");
  EXPECT_EQ(out, before);
}

TEST(GroupPacketEncode, RefusesPacketsOverTheLimit) {
  // 65,452 bytes: kMaxPacket less the 36-byte header and the rest of DATA's 19.
  const std::size_t room = kMaxPacket - kDataOverhead;
  const Bytes big(room + 1), meta(room);
  Bytes out;
  const Header h = header(Type::data);
  const std::span<const std::byte> none;
  expect_refused(encode_data(out, h, 1, false, none, big), ErrorKind::too_large, "65453");
  expect_refused(encode_data(out, h, 1, false, big, none), ErrorKind::too_large, "65453");
  expect_refused(encode_data(out, h, 1, false, meta, std::span(big).first(1)), ErrorKind::too_large,
                 "at most 65452");
  const Bytes huge_meta(70000);  // more than meta_len can say
  expect_refused(encode_data(out, h, 1, false, huge_meta, none), ErrorKind::too_large, "70000");
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(encode_data(out, h, 1, false, meta, none));
  EXPECT_EQ(out.size(), kMaxPacket);
}

TEST(GroupPacketEncode, OverwritesOutReusingItsCapacity) {
  Bytes out;
  ASSERT_TRUE(encode_data(out, header(Type::data), 1, false, {}, Bytes(1000)));
  const std::byte* const storage = out.data();
  ASSERT_TRUE(encode_nak(out, header(Type::nak), 3, std::vector<SeqRange>{{1, 1}}));
  EXPECT_EQ(out.data(), storage);
  EXPECT_EQ(out, nak_packet({{1, 1}}, 3));  // the whole of out, nothing left of the DATA
}

}  // namespace
}  // namespace nexo::group

namespace nexo::group {
namespace {

// peek_origin reads group and sender without the checksum (a member sets its
// own looped-back packets aside with it), and refuses what is not a packet.
TEST(GroupPacket, PeekOriginReadsGroupAndSenderOnly) {
  Bytes out;
  ASSERT_TRUE(encode_data(out, header(Type::data), 5, 0, {}, as_bytes("x")));
  std::uint64_t group = 0, sender = 0;
  ASSERT_TRUE(peek_origin(out, group, sender));
  EXPECT_EQ(group, header(Type::data).group);
  EXPECT_EQ(sender, header(Type::data).sender);
  out[out.size() - 1] ^= std::byte{1};  // a broken checksum: peeking does not look
  EXPECT_TRUE(peek_origin(out, group, sender));
  EXPECT_FALSE(peek_origin(std::span<const std::byte>(out).first(kHeaderSize), group, sender));
  Bytes wrong = out;
  wrong[0] = std::byte{'X'};
  EXPECT_FALSE(peek_origin(wrong, group, sender));
  wrong = out;
  wrong[2] = std::byte{99};
  EXPECT_FALSE(peek_origin(wrong, group, sender));
}

}  // namespace
}  // namespace nexo::group
