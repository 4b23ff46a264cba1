#include "nexo/wire/cdr.hpp"

#include <gtest/gtest.h>

#include "nexo/wire/examples.hpp"

namespace nexo::wire {
namespace {

using cdr::Endian;
using examples::Everything;
using examples::Large;
using examples::Person;

std::vector<std::uint8_t> octets(const Buffer& b) {
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p, p + b.size()};
}

std::span<const std::byte> view(const std::vector<std::uint8_t>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

TEST(Cdr, PersonLittleEndianLayout) {
  Buffer b;
  cdr::encode(examples::make_person(), b, Endian::little);
  std::vector<std::uint8_t> want = {
      6,    0,    0, 0, 'S', 'm', 'i', 't', 'h', 0,       // name: length 6 (with NUL)
      0,    0,                                            // padding to 12
      7,    0,    0, 0, 'L', 'o', 'n', 'd', 'o', 'n', 0,  // place
      0,                                                  // padding to 24
      0xc0, 0x07, 0, 0};                                  // year 1984
  EXPECT_EQ(octets(b), want);
}

TEST(Cdr, PersonBigEndianLayout) {
  Buffer b;
  cdr::encode(examples::make_person(), b, Endian::big);
  std::vector<std::uint8_t> want = {0, 0, 0,   6,   'S', 'm', 'i', 't', 'h', 0, 0, 0, 0,    0,
                                    0, 7, 'L', 'o', 'n', 'd', 'o', 'n', 0,   0, 0, 0, 0x07, 0xc0};
  EXPECT_EQ(octets(b), want);
}

struct Aligned {
  std::uint8_t a = 0;
  double b = 0;
  std::int16_t c = 0;
  std::int64_t d = 0;
  bool e = false;
  float f = 0;
};
constexpr auto nexo_wire_describe(const Aligned*) {
  return describe<Aligned>("aligned")
      .field("a", &Aligned::a)
      .field("b", &Aligned::b)
      .field("c", &Aligned::c)
      .field("d", &Aligned::d)
      .field("e", &Aligned::e)
      .field("f", &Aligned::f);
}

TEST(Cdr, NaturalAlignmentRelativeToTheStreamStart) {
  Buffer b;
  b.append("xyz");  // a framing header before the CDR stream: alignment ignores it
  cdr::encode(Aligned{1, 1.0, -2, 3, true, 0.5f}, b, Endian::big);
  auto o = octets(b);
  std::vector<std::uint8_t> want = {'x',  'y',  'z', 1, 0, 0, 0, 0, 0, 0, 0,  // a, pad to 8
                                    0x3f, 0xf0, 0,   0, 0, 0, 0, 0,           // b at 8
                                    0xff, 0xfe, 0,   0, 0, 0, 0, 0,           // c at 16, pad
                                    0,    0,    0,   0, 0, 0, 0, 3,           // d at 24
                                    1,    0,    0,   0,                       // e at 32, pad
                                    0x3f, 0,    0,   0};                      // f at 36
  EXPECT_EQ(o, want);
}

TEST(Cdr, EverythingRoundTripsInBothOrders) {
  Everything e = examples::make_everything();
  for (Endian order : {Endian::little, Endian::big}) {
    Buffer b;
    cdr::encode(e, b, order);
    auto back = cdr::decode<Everything>(b.bytes(), order);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, e);
  }
  Large large = examples::make_large();
  Buffer b;
  cdr::encode(large, b, Endian::big);
  auto back = cdr::decode<Large>(b.bytes(), Endian::big);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, large);
}

TEST(Cdr, EncapsulationCarriesTheByteOrder) {
  Person p = examples::make_person();
  for (Endian order : {Endian::little, Endian::big}) {
    Buffer b;
    cdr::encode_encapsulated(p, b, order);
    ASSERT_GE(b.size(), 4u);
    EXPECT_EQ(b.data()[1], std::byte{static_cast<unsigned char>(order)});
    auto back = cdr::decode_encapsulated<Person>(b.bytes());  // no order given: the flag says
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, p);
  }
  std::vector<std::uint8_t> bad = {0, 7, 0, 0};
  auto r = cdr::decode_encapsulated<Person>(view(bad));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not plain CDR"), std::string::npos);
}

TEST(Cdr, EveryTruncationIsAnErrorWithAnOffset) {
  Buffer b;
  cdr::encode(examples::make_everything(), b, Endian::little);
  for (std::size_t n = 0; n < b.size(); ++n) {
    auto r = cdr::decode<Everything>(b.bytes().first(n), Endian::little);
    ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().kind(), ErrorKind::malformed);
    EXPECT_NE(r.error().message().find("cdr: at byte "), std::string::npos);
  }
}

TEST(Cdr, HostileLengthsAreRefusedBeforeAllocating) {
  // A sequence claiming 2^32-1 doubles in a 12-byte input.
  std::vector<std::uint8_t> seq = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
  auto r = cdr::decode<Large>(view(seq));
  ASSERT_FALSE(r);
  std::vector<std::uint8_t> str = {0xff, 0xff, 0xff, 0x7f, 'a'};
  auto s = cdr::decode<Person>(view(str), Endian::little);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::too_large);
  EXPECT_EQ(s.error().message(),
            "cdr: at byte 0: name length 2147483647 exceeds limit max_string = 16777216");
  auto s2 = cdr::decode<Person>(view(str), Endian::little, Limits{.max_string = 1u << 31});
  ASSERT_FALSE(s2);
  EXPECT_EQ(s2.error().message(),
            "cdr: at byte 0: name length 2147483647 runs past the end (1 bytes left)");
}

TEST(Cdr, BadValuesNameTheirOffset) {
  std::vector<std::uint8_t> no_nul = {3, 0, 0, 0, 'a', 'b', 'c'};
  auto r = cdr::decode<Person>(view(no_nul), Endian::little);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "cdr: at byte 6: string name does not end with NUL");

  Buffer b;
  cdr::encode(Aligned{}, b, Endian::little);
  auto o = octets(b);
  o[32] = 2;  // bool e
  auto a = cdr::decode<Aligned>(view(o), Endian::little);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message(), "cdr: at byte 32: bool e is 2, not 0 or 1");

  o[32] = 1;
  o.push_back(0);
  auto extra = cdr::decode<Aligned>(view(o), Endian::little);
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().message(), "cdr: at byte 40: 1 bytes left over after the value");
}

TEST(Cdr, DuplicateMapKeysAreRefused) {
  Everything e;
  e.names = {{5, "x"}, {6, "y"}};
  Buffer b;
  cdr::encode(e, b, Endian::little);
  // Rewrite key 6 as 5 (both keys are 4-byte little-endian ints after the count).
  auto o = octets(b);
  for (std::size_t i = 0; i + 4 <= o.size(); ++i) {
    if (o[i] == 6 && o[i + 1] == 0 && o[i + 2] == 0 && o[i + 3] == 0 && i >= 4 &&
        o[i + 4] == 2) {  // key 6 followed by "y" string length 2
      o[i] = 5;
      break;
    }
  }
  auto r = cdr::decode<Everything>(view(o), Endian::little);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("duplicate key in map names"), std::string::npos)
      << r.error().message();
}

struct Deep;
struct Deep {
  std::vector<Deep> children;
};
constexpr auto nexo_wire_describe(const Deep*) {
  return describe<Deep>("deep").field("children", &Deep::children);
}

TEST(Cdr, NestingDeeperThanTheLimitIsRefused) {
  // Each level: a sequence count of 1. 100 levels, limit 64.
  std::vector<std::uint8_t> in;
  for (int i = 0; i < 100; ++i)
    in.insert(in.end(), {1, 0, 0, 0});
  in.insert(in.end(), {0, 0, 0, 0});
  auto r = cdr::decode<Deep>(view(in), Endian::little);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::too_large);
  EXPECT_NE(r.error().message().find("nesting exceeds limit max_depth = 64"), std::string::npos)
      << r.error().message();
  auto fine = cdr::decode<Deep>(view(in), Endian::little, Limits{.max_depth = 200});
  EXPECT_TRUE(fine) << fine.error().to_string();
}

TEST(Cdr, AnnotatedEncodingNamesPaddingLengthsAndFields) {
  AnnotatedBuffer b;
  cdr::encode(examples::make_person(), b, Endian::little);
  Buffer plain;
  cdr::encode(examples::make_person(), plain, Endian::little);
  EXPECT_EQ(octets(b), octets(plain));
  std::string dump = annotated_dump(b.bytes(), b.notes());
  EXPECT_NE(dump.find("length    name length (with NUL)"), std::string::npos) << dump;
  EXPECT_NE(dump.find("padding"), std::string::npos) << dump;
  EXPECT_NE(dump.find("value     year"), std::string::npos) << dump;
}

}  // namespace
}  // namespace nexo::wire
