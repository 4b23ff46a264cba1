// The rudp:// codec against packet.hpp: the byte layout, a round trip of every
// type, every ParseError from a crafted datagram, and corruption and
// truncation always caught.
#include "nexo/reliable/packet.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "nexo/reliable/checksum.hpp"

namespace nexo::reliable {
namespace {

const Bytes kPayload = to_bytes("hello, rudp");

Bytes encode(const Packet& packet) {
  Bytes out;
  write(packet, out);
  return out;
}

// Parses a copy of exactly `datagram.size()` bytes, so that a sanitizer build
// catches any read past the end. (The parsed packet is dropped: its payload
// would point into the copy.)
ParseError parse_copy(std::span<const std::byte> datagram) {
  const Bytes copy(datagram.begin(), datagram.end());
  Packet ignored;
  return parse(copy, ignored);
}

void put_u32(Bytes& d, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    d[at + i] = static_cast<std::byte>(v >> (24 - 8 * i));
}

// Recomputes the CRC after a test has edited a datagram, so that the edit
// reaches the checks that come after the checksum.
void reseal(Bytes& d) {
  put_u32(d, d.size() - kCrcSize, crc32c(std::span<const std::byte>(d).first(d.size() - kCrcSize)));
}

// The encoding of `packet` with its body `delta` bytes longer (zeros) or shorter, resealed.
Bytes with_body_resized(const Packet& packet, std::ptrdiff_t delta) {
  Bytes d = encode(packet);
  d.resize(static_cast<std::size_t>(static_cast<std::ptrdiff_t>(d.size() - kCrcSize) + delta));
  d.resize(d.size() + kCrcSize);
  reseal(d);
  return d;
}

Packet make(Type type, std::uint32_t connection = 0x0A0B0C0D) {
  Packet p;
  p.type = type;
  p.connection = connection;
  return p;
}

Packet sample_init() {
  Packet p = make(Type::init, 0);
  p.handshake = {0x11223344, 0xFFFFFFF0, 256, 1400};
  return p;
}
Packet sample_cookie() {
  Packet p = make(Type::cookie);
  p.cookie = {0x0102030405060708, 0xF0E0D0C0B0A09080};
  return p;
}
Packet sample_cookie_echo() {
  Packet p = make(Type::cookie_echo, 0);
  p.handshake = {0x11223344, 0xFFFFFFF0, 256, 1400};
  p.cookie = {0x0102030405060708, 0xF0E0D0C0B0A09080};
  return p;
}
Packet sample_accept() {
  Packet p = make(Type::accept, 0x11223344);
  p.handshake = {0x55667788, 7, 64, 1200};
  return p;
}
Packet sample_data() {
  Packet p = make(Type::data);
  p.flags = kUnordered;
  p.seq = 0x80000001;
  p.frag_index = 2;
  p.frag_count = 3;
  p.ack = 0x12345678;
  p.window = 99;
  p.payload = kPayload;
  return p;
}
Packet sample_ack() {
  Packet p = make(Type::ack);
  p.ack = 100;
  p.window = 32;
  p.sack_count = 3;
  p.sack[0] = {102, 105};
  p.sack[1] = {110, 111};
  p.sack[2] = {0xFFFFFFF0, 0x10};  // across the wrap
  return p;
}

std::vector<Packet> samples() {
  return {sample_init(),    sample_cookie(),         sample_cookie_echo(),
          sample_accept(),  sample_data(),           sample_ack(),
          make(Type::ping), make(Type::close, 0x42), make(Type::close_ack, 0xFFFFFFFF)};
}

void expect_same(const Packet& a, const Packet& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.connection, b.connection);
  EXPECT_EQ(a.handshake.id, b.handshake.id);
  EXPECT_EQ(a.handshake.initial_seq, b.handshake.initial_seq);
  EXPECT_EQ(a.handshake.window, b.handshake.window);
  EXPECT_EQ(a.handshake.max_payload, b.handshake.max_payload);
  EXPECT_EQ(a.cookie.issued_at, b.cookie.issued_at);
  EXPECT_EQ(a.cookie.mac, b.cookie.mac);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.frag_index, b.frag_index);
  EXPECT_EQ(a.frag_count, b.frag_count);
  EXPECT_EQ(a.ack, b.ack);
  EXPECT_EQ(a.window, b.window);
  EXPECT_EQ(a.sack_count, b.sack_count);
  for (std::size_t i = 0; i < kMaxSack; ++i) {
    EXPECT_EQ(a.sack[i].start, b.sack[i].start) << "block " << i;
    EXPECT_EQ(a.sack[i].end, b.sack[i].end) << "block " << i;
  }
  EXPECT_TRUE(std::ranges::equal(a.payload, b.payload));
}

// ---- layout ------------------------------------------------------------------------

TEST(PacketLayout, DataIsBigEndianWithTheCrcLast) {
  Packet p = make(Type::data, 0x01020304);
  p.flags = kUnordered;
  p.seq = 0x05060708;
  p.frag_count = 1;
  p.ack = 0x0A0B0C0D;
  p.window = 0x10;
  const Bytes payload = to_bytes("xy");
  p.payload = payload;
  const Bytes d = encode(p);
  const std::vector<std::uint8_t> head = {
      0xA1, 0x05, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04,  // version, type, flags, connection
      0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x00,  // seq, frag_index
      0x00, 0x00, 0x00, 0x01, 0x0A, 0x0B, 0x0C, 0x0D,  // frag_count, ack
      0x00, 0x00, 0x00, 0x10, 'x',  'y'};              // window, payload
  ASSERT_EQ(d.size(), head.size() + kCrcSize);
  ASSERT_EQ(d.size(), kDataOverhead + 2);
  for (std::size_t i = 0; i < head.size(); ++i)
    EXPECT_EQ(std::to_integer<std::uint8_t>(d[i]), head[i]) << "byte " << i;
  const std::uint32_t crc = crc32c(std::span<const std::byte>(d).first(head.size()));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(std::to_integer<std::uint32_t>(d[head.size() + i]), (crc >> (24 - 8 * i)) & 0xFF);
}

TEST(PacketLayout, InitIsPaddedWithZerosToKInitSize) {
  const Bytes d = encode(sample_init());
  ASSERT_EQ(d.size(), kInitSize);
  for (std::size_t i = kHeaderSize + 14; i < kInitSize - kCrcSize; ++i)
    EXPECT_EQ(d[i], std::byte{0}) << "byte " << i;
}

TEST(PacketLayout, AckCarriesCountThenBlocks) {
  const Bytes d = encode(sample_ack());
  ASSERT_EQ(d.size(), kHeaderSize + 9 + 3 * 8 + kCrcSize);
  EXPECT_EQ(d[16], std::byte{3});
  EXPECT_EQ(d[17 + 16], std::byte{0xFF});  // sack[2].start = 0xFFFFFFF0
  EXPECT_EQ(d[17 + 19], std::byte{0xF0});
}

TEST(PacketLayout, EncodedSizes) {
  EXPECT_EQ(encoded_size(sample_init()), kInitSize);
  EXPECT_EQ(encoded_size(sample_cookie()), 12u + 16);
  EXPECT_EQ(encoded_size(sample_cookie_echo()), 12u + 30);
  EXPECT_EQ(encoded_size(sample_accept()), 12u + 14);
  EXPECT_EQ(encoded_size(sample_data()), kDataOverhead + kPayload.size());
  EXPECT_EQ(encoded_size(sample_ack()), 12u + 9 + 24);
  EXPECT_EQ(encoded_size(make(Type::ping)), 12u);
  EXPECT_EQ(encoded_size(make(Type::close)), 12u);
  EXPECT_EQ(encoded_size(make(Type::close_ack)), 12u);
}

// ---- round trip --------------------------------------------------------------------

TEST(PacketRoundTrip, EveryType) {
  for (const Packet& p : samples()) {
    SCOPED_TRACE(to_string(p.type));
    const Bytes d = encode(p);
    EXPECT_EQ(d.size(), encoded_size(p));
    Packet back;
    ASSERT_EQ(parse(d, back), ParseError::none);
    expect_same(p, back);
  }
}

TEST(PacketRoundTrip, PayloadPointsIntoTheDatagram) {
  const Bytes d = encode(sample_data());
  Packet back;
  ASSERT_EQ(parse(d, back), ParseError::none);
  EXPECT_EQ(back.payload.data(), d.data() + kDataOverhead - kCrcSize);
  EXPECT_EQ(back.payload.size(), kPayload.size());
}

TEST(PacketRoundTrip, EdgeValues) {
  Packet empty = sample_data();
  empty.payload = {};
  Packet last_fragment = sample_data();
  last_fragment.frag_index = 0xFFFFFFFE;
  last_fragment.frag_count = 0xFFFFFFFF;
  Packet no_sack = sample_ack();
  no_sack.sack_count = 0;
  no_sack.sack = {};
  Packet full_sack = sample_ack();
  full_sack.sack_count = kMaxSack;
  for (std::uint32_t i = 0; i < kMaxSack; ++i)
    full_sack.sack[i] = {0xFFFFFFF8 + 4 * i, 0xFFFFFFFA + 4 * i};
  Packet all_ones = sample_cookie_echo();
  all_ones.flags = 0xFFFF;
  all_ones.connection = 0xFFFFFFFF;
  all_ones.handshake = {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF};
  all_ones.cookie = {~std::uint64_t{0}, ~std::uint64_t{0}};
  for (const Packet& p : {empty, last_fragment, no_sack, full_sack, all_ones}) {
    SCOPED_TRACE(to_string(p.type));
    const Bytes d = encode(p);
    EXPECT_EQ(d.size(), encoded_size(p));
    Packet back;
    ASSERT_EQ(parse(d, back), ParseError::none);
    expect_same(p, back);
  }
}

TEST(PacketRoundTrip, RandomDataAndAckPackets) {
  const std::uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);
  auto u32 = [&] { return static_cast<std::uint32_t>(random()); };
  Bytes payload(2000);
  for (auto& b : payload)
    b = static_cast<std::byte>(random());
  for (int i = 0; i < 500; ++i) {
    Packet p = make(i % 2 ? Type::data : Type::ack, u32());
    p.flags = static_cast<std::uint16_t>(random());
    p.ack = u32();
    p.window = u32();
    if (p.type == Type::data) {
      p.flags &= static_cast<std::uint16_t>(~kBundle);  // a bundle's payload has a form: below
      p.seq = u32();
      p.frag_count = 1 + u32() % 1000;
      p.frag_index = u32() % p.frag_count;
      p.payload = std::span<const std::byte>(payload).first(random() % payload.size());
    } else {
      p.sack_count = static_cast<std::uint8_t>(random() % (kMaxSack + 1));
      for (std::size_t b = 0; b < p.sack_count; ++b) {
        const std::uint32_t start = u32();
        p.sack[b] = {start, start + 1 + u32() % 0x7FFFFFFF};
      }
    }
    const Bytes d = encode(p);
    ASSERT_EQ(d.size(), encoded_size(p));
    Packet back;
    ASSERT_EQ(parse(d, back), ParseError::none) << "packet " << i;
    expect_same(p, back);
  }
}

TEST(PacketWrite, AppendsAndChecksumsOnlyItsOwnBytes) {
  Bytes out = to_bytes("prefix");
  write(sample_ack(), out);
  const std::size_t first_end = out.size();
  write(sample_data(), out);
  EXPECT_EQ(as_text(std::span<const std::byte>(out).first(6)), "prefix");
  const std::span<const std::byte> all(out);
  Packet ack, data;
  ASSERT_EQ(parse(all.subspan(6, first_end - 6), ack), ParseError::none);
  ASSERT_EQ(parse(all.subspan(first_end), data), ParseError::none);
  expect_same(sample_ack(), ack);
  expect_same(sample_data(), data);
}

TEST(PacketParse, ResetsFieldsOfAnEarlierPacket) {
  const Bytes data = encode(sample_data());
  const Bytes ping = encode(make(Type::ping));
  Packet p;
  ASSERT_EQ(parse(data, p), ParseError::none);
  ASSERT_EQ(parse(ping, p), ParseError::none);
  expect_same(make(Type::ping), p);
}

// ---- every ParseError --------------------------------------------------------------

TEST(PacketParseError, TooShort) {
  const Bytes d = encode(make(Type::ping));
  for (std::size_t n = 0; n < kHeaderSize + kCrcSize; ++n)
    EXPECT_EQ(parse_copy(std::span<const std::byte>(d).first(n)), ParseError::too_short) << n;
  Bytes wrong_version(3, std::byte{0x55});
  EXPECT_EQ(parse_copy(wrong_version), ParseError::too_short);  // length is checked first
}

TEST(PacketParseError, BadVersion) {
  for (std::uint8_t version : {0x00, 0xA0, 0xA2, 0xFF}) {
    Bytes d = encode(sample_data());
    d[0] = std::byte{version};
    reseal(d);
    EXPECT_EQ(parse_copy(d), ParseError::bad_version) << int{version};
    d.back() ^= std::byte{1};
    EXPECT_EQ(parse_copy(d), ParseError::bad_version) << "before the checksum";
  }
}

TEST(PacketParseError, BadChecksum) {
  Bytes d = encode(sample_ack());
  d.back() ^= std::byte{0x80};
  EXPECT_EQ(parse_copy(d), ParseError::bad_checksum);
  Bytes unknown = encode(make(Type::ping));
  unknown[1] = std::byte{0x77};  // not resealed: the checksum is checked before the type
  EXPECT_EQ(parse_copy(unknown), ParseError::bad_checksum);
}

TEST(PacketParseError, UnknownType) {
  for (std::uint8_t type : {0, 10, 0x7F, 0xFF}) {
    Bytes d = encode(make(Type::ping));
    d[1] = std::byte{type};
    reseal(d);
    EXPECT_EQ(parse_copy(d), ParseError::unknown_type) << int{type};
  }
  // The type is checked before the length.
  Bytes d = encode(sample_data());
  d[1] = std::byte{0};
  reseal(d);
  EXPECT_EQ(parse_copy(d), ParseError::unknown_type);
}

TEST(PacketParseError, FixedBodiesOneByteLongerOrShorter) {
  for (const Packet& p : samples()) {
    if (p.type == Type::data || p.type == Type::ack) continue;
    SCOPED_TRACE(to_string(p.type));
    EXPECT_EQ(parse_copy(with_body_resized(p, +1)), ParseError::bad_length);
    EXPECT_EQ(parse_copy(with_body_resized(p, +8)), ParseError::bad_length);
    if (encoded_size(p) > kHeaderSize + kCrcSize) {
      EXPECT_EQ(parse_copy(with_body_resized(p, -1)), ParseError::bad_length);
    }
  }
}

TEST(PacketParseError, InitWithoutItsPadding) {
  Packet p = sample_init();
  // An INIT whose body holds only the handshake: the padding is required.
  const Bytes bare =
      with_body_resized(p, -static_cast<std::ptrdiff_t>(kInitSize - kHeaderSize - 14 - kCrcSize));
  EXPECT_EQ(bare.size(), kHeaderSize + 14 + kCrcSize);
  EXPECT_EQ(parse_copy(bare), ParseError::bad_length);
  // The padding's content is not checked.
  Bytes d = encode(p);
  std::fill(d.begin() + kHeaderSize + 14, d.end() - kCrcSize, std::byte{0xEE});
  reseal(d);
  Packet back;
  ASSERT_EQ(parse(d, back), ParseError::none);
  expect_same(p, back);
}

TEST(PacketParseError, DataShorterThanItsBody) {
  Packet p = sample_data();
  p.payload = {};
  EXPECT_EQ(parse_copy(encode(p)), ParseError::none);
  EXPECT_EQ(parse_copy(with_body_resized(p, -1)), ParseError::bad_length);
  EXPECT_EQ(parse_copy(with_body_resized(p, -20)), ParseError::bad_length);
}

TEST(PacketParseError, AckLengthDisagreesWithItsCount) {
  Packet p = sample_ack();
  EXPECT_EQ(parse_copy(with_body_resized(p, -1)), ParseError::bad_length);   // a cut block
  EXPECT_EQ(parse_copy(with_body_resized(p, -8)), ParseError::bad_length);   // a missing block
  EXPECT_EQ(parse_copy(with_body_resized(p, +8)), ParseError::bad_length);   // an extra block
  EXPECT_EQ(parse_copy(with_body_resized(p, -25)), ParseError::bad_length);  // no sack_count
  Packet none = sample_ack();
  none.sack_count = 0;
  EXPECT_EQ(parse_copy(with_body_resized(none, +1)), ParseError::bad_length);
  Bytes d = encode(none);
  d[16] = std::byte{1};  // says one block, carries none
  reseal(d);
  EXPECT_EQ(parse_copy(d), ParseError::bad_length);
}

TEST(PacketParseError, BadFragment) {
  struct Case {
    std::uint32_t index, count;
  };
  for (const Case c : {Case{0, 0}, Case{3, 3}, Case{4, 3}, Case{0xFFFFFFFF, 0xFFFFFFFF}}) {
    Bytes d = encode(sample_data());
    put_u32(d, 12, c.index);
    put_u32(d, 16, c.count);
    reseal(d);
    EXPECT_EQ(parse_copy(d), ParseError::bad_fragment) << c.index << " of " << c.count;
  }
  Bytes short_and_bad =
      with_body_resized(sample_data(), -static_cast<std::ptrdiff_t>(kPayload.size() + 1));
  put_u32(short_and_bad, 16, 0);
  reseal(short_and_bad);
  EXPECT_EQ(parse_copy(short_and_bad), ParseError::bad_length);  // length before fragments
}

TEST(PacketParseError, BadSack) {
  // More than kMaxSack blocks, the datagram as long as its count says.
  Packet p = sample_ack();
  p.sack_count = 0;
  Bytes d = with_body_resized(p, static_cast<std::ptrdiff_t>(8 * (kMaxSack + 1)));
  d[16] = std::byte{kMaxSack + 1};
  for (std::size_t b = 0; b <= kMaxSack; ++b)
    put_u32(d, 17 + 8 * b + 4, 1);  // each [0, 1)
  reseal(d);
  EXPECT_EQ(parse_copy(d), ParseError::bad_sack);
  d[16] = std::byte{0xFF};
  reseal(d);
  EXPECT_EQ(parse_copy(d), ParseError::bad_length);  // length is checked before the count

  struct Case {
    std::uint32_t start, end;
  };
  for (const Case c : {Case{5, 5}, Case{6, 5}, Case{0x10, 0xFFFFFFF0}, Case{0, 0x80000001}}) {
    Packet bad = sample_ack();
    bad.sack[1] = {c.start, c.end};
    EXPECT_EQ(parse_copy(encode(bad)), ParseError::bad_sack) << c.start << ".." << c.end;
  }
}

// A bundle's payload: each message a u16 length and its bytes.
Bytes bundle_of(std::initializer_list<std::string_view> messages) {
  Bytes out;
  for (std::string_view m : messages) {
    out.push_back(static_cast<std::byte>(m.size() >> 8));
    out.push_back(static_cast<std::byte>(m.size()));
    for (char c : m)
      out.push_back(static_cast<std::byte>(c));
  }
  return out;
}

TEST(PacketBundle, RoundTripsAndSplitsIntoItsMessages) {
  const std::string big(300, 'x');
  const Bytes payload = bundle_of({"one", "", big, "four"});
  Packet p = sample_data();
  p.flags = kBundle;
  p.frag_index = 0;
  p.frag_count = 1;
  p.payload = payload;
  const Bytes d = encode(p);
  Packet back;
  ASSERT_EQ(parse(d, back), ParseError::none);
  expect_same(p, back);
  std::vector<std::string> got;
  EXPECT_TRUE(for_each_bundled(back.payload, [&](std::span<const std::byte> m) {
    got.emplace_back(reinterpret_cast<const char*>(m.data()), m.size());
  }));
  EXPECT_EQ(got, (std::vector<std::string>{"one", "", big, "four"}));
}

TEST(PacketParseError, BadBundle) {
  const Bytes two = bundle_of({"ab", "cd"});
  Bytes overrun = two;
  overrun[5] = std::byte{9};  // the second says 9 bytes, 2 follow
  Bytes trailing = two;
  trailing.push_back(std::byte{0});  // half a length
  struct Case {
    const char* what;
    Bytes payload;
    std::uint32_t frag_count;
  };
  const Case cases[] = {
      {"fragmented", two, 2},
      {"one message", bundle_of({"alone"}), 1},
      {"empty", Bytes{}, 1},
      {"length past the end", overrun, 1},
      {"a byte left over", trailing, 1},
  };
  for (const Case& c : cases) {
    Packet p = sample_data();
    p.flags = kBundle | kUnordered;
    p.frag_index = 0;
    p.frag_count = c.frag_count;
    p.payload = c.payload;
    EXPECT_EQ(parse_copy(encode(p)), ParseError::bad_bundle) << c.what;
  }
}

// ---- corruption and truncation -----------------------------------------------------

TEST(PacketCorruption, EverySingleBitFlipOfADataPacketIsCaught) {
  const Bytes good = encode(sample_data());
  for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
    Bytes d = good;
    d[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    const ParseError expected = bit < 8 ? ParseError::bad_version : ParseError::bad_checksum;
    EXPECT_EQ(parse_copy(d), expected) << "bit " << bit;
  }
}

TEST(PacketCorruption, EverySingleBitFlipOfEveryTypeIsCaught) {
  for (const Packet& p : samples()) {
    SCOPED_TRACE(to_string(p.type));
    const Bytes good = encode(p);
    for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
      Bytes d = good;
      d[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
      const ParseError e = parse_copy(d);
      EXPECT_TRUE(e == ParseError::bad_version || e == ParseError::bad_checksum)
          << "bit " << bit << ": " << to_string(e);
    }
  }
}

TEST(PacketTruncation, EveryPrefixOfEveryTypeIsAnError) {
  for (const Packet& p : samples()) {
    SCOPED_TRACE(to_string(p.type));
    const Bytes good = encode(p);
    for (std::size_t n = 0; n < good.size(); ++n)
      EXPECT_NE(parse_copy(std::span<const std::byte>(good).first(n)), ParseError::none) << n;
  }
}

// ---- names and sequence numbers ----------------------------------------------------

TEST(PacketNames, EveryTypeAndErrorHasADistinctName) {
  std::set<std::string_view> names;
  for (int t = 1; t <= 9; ++t)
    names.insert(to_string(static_cast<Type>(t)));
  EXPECT_EQ(names.size(), 9u);
  EXPECT_EQ(to_string(Type::cookie_echo), "cookie_echo");
  EXPECT_EQ(to_string(static_cast<Type>(0)), "unknown");
  names.clear();
  for (int e = 0; e <= 7; ++e)
    names.insert(to_string(static_cast<ParseError>(e)));
  EXPECT_EQ(names.size(), 8u);
  EXPECT_EQ(to_string(ParseError::bad_checksum), "bad_checksum");
  EXPECT_EQ(to_string(ParseError::none), "none");
}

TEST(SeqBefore, WrapsAround) {
  static_assert(seq_before(0xFFFFFFF0, 0x10));
  static_assert(!seq_before(0x10, 0xFFFFFFF0));
  EXPECT_TRUE(seq_before(0, 1));
  EXPECT_FALSE(seq_before(1, 0));
  EXPECT_FALSE(seq_before(7, 7));
  EXPECT_TRUE(seq_before(0xFFFFFFFF, 0));
  EXPECT_TRUE(seq_before(0, 0x7FFFFFFF));
  EXPECT_FALSE(seq_before(0, 0x80000001));  // more than half the space ahead is behind
  EXPECT_TRUE(seq_before(0x80000001, 0));
}

}  // namespace
}  // namespace nexo::reliable
