#include "nexo/wire/proto.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "nexo/wire/examples.hpp"

namespace nexo::wire {
namespace {

using examples::Everything;
using examples::Large;
using examples::Person;
using examples::Point;
using Bytes = std::vector<std::uint8_t>;

template <class T>
Bytes encoded(const T& v) {
  Buffer b;
  proto::encode(v, b);
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p, p + b.size()};
}

std::span<const std::byte> view(const Bytes& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes text(std::string_view s) {
  return {s.begin(), s.end()};
}

// Decodes and returns the error text ("" when it decodes).
template <class T>
std::string decode_error(const Bytes& b, const Limits& limits = {}) {
  T v{};
  auto r = proto::decode(view(b), v, limits);
  return r ? std::string() : r.error().message();
}

struct Widths {
  std::uint32_t u32 = 0;
  std::uint64_t u64 = 0;
  std::int32_t i32 = 0;
  std::int8_t i8 = 0;
  std::int64_t s64 = 0;
  bool operator==(const Widths&) const = default;
};
constexpr auto nexo_wire_describe(const Widths*) {
  return describe<Widths>("widths")
      .field("u32", &Widths::u32)
      .field("u64", &Widths::u64)
      .field("i32", &Widths::i32)
      .field("i8", &Widths::i8)
      .field("s64", &Widths::s64, sint);
}

// Declared in another order than its field numbers.
struct Shuffled {
  std::int32_t c = 0;
  std::int32_t a = 0;
  std::int32_t b = 0;
  bool operator==(const Shuffled&) const = default;
};
constexpr auto nexo_wire_describe(const Shuffled*) {
  return describe<Shuffled>("shuffled")
      .field("c", &Shuffled::c, 300)
      .field("a", &Shuffled::a, 1)
      .field("b", &Shuffled::b, 16);
}

// A recursive type, for nesting limits.
struct Tree {
  std::vector<Tree> kids;
  std::string name;
  bool operator==(const Tree&) const = default;
};
constexpr auto nexo_wire_describe(const Tree*) {
  return describe<Tree>("tree").field("kids", &Tree::kids).field("name", &Tree::name);
}

struct Holder {
  Person person;
  std::optional<Point> where;
  std::map<std::int32_t, Point> points;
  bool operator==(const Holder&) const = default;
};
constexpr auto nexo_wire_describe(const Holder*) {
  return describe<Holder>("holder")
      .field("person", &Holder::person)
      .field("where", &Holder::where)
      .field("points", &Holder::points);
}

TEST(Proto, PersonBytes) {
  Bytes want = cat({{0x0a, 5}, text("Smith"), {0x12, 6}, text("London"), {0x18, 0xc0, 0x0f}});
  EXPECT_EQ(encoded(examples::make_person()), want);
}

TEST(Proto, VarintBoundaries) {
  struct Case {
    std::uint64_t value;
    Bytes bytes;
  };
  const Case cases[] = {
      {1, {0x01}},
      {127, {0x7f}},
      {128, {0x80, 0x01}},
      {16383, {0xff, 0x7f}},
      {16384, {0x80, 0x80, 0x01}},
      {0xffffffffu, {0xff, 0xff, 0xff, 0xff, 0x0f}},
      {1ull << 63, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
      {~0ull, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
  };
  for (const auto& c : cases) {
    Widths w;
    w.u64 = c.value;
    EXPECT_EQ(encoded(w), cat({{0x10}, c.bytes})) << c.value;
    EXPECT_EQ(proto::decode<Widths>(view(encoded(w))).value(), w);
  }
}

TEST(Proto, NegativeInt32IsATenByteVarint) {
  Widths w;
  w.i32 = -1;
  w.i8 = -100;
  Bytes want = {0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                0x20, 0x9c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  EXPECT_EQ(encoded(w), want);
  EXPECT_EQ(proto::decode<Widths>(view(want)).value(), w);
}

TEST(Proto, ZigzagForSint) {
  EXPECT_EQ(encoded(Point{-1, 1}), (Bytes{0x08, 0x01, 0x10, 0x02}));
  EXPECT_EQ(encoded(Point{-2147483647 - 1, 2147483647}),
            (Bytes{0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0xfe, 0xff, 0xff, 0xff, 0x0f}));
  Widths w;
  w.s64 = -9876543210LL;  // zigzag 19753086419
  EXPECT_EQ(encoded(w), (Bytes{0x28, 0xd3, 0xdb, 0x80, 0xcb, 0x49}));
  EXPECT_EQ(proto::decode<Widths>(view(encoded(w))).value(), w);
}

TEST(Proto, FixedAndFloatingPoint) {
  Everything e{};
  e.position = {0, 0, 0};
  e.f32 = 0x01020304u;
  e.sf64 = -1;
  e.real32 = 1.0f;
  e.real64 = -0.0;                                                     // bits not zero: written
  Bytes want = {0x65, 0x04, 0x03, 0x02, 0x01,                          // 12 fixed32
                0x69, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // 13 sfixed64
                0x75, 0x00, 0x00, 0x80, 0x3f,                          // 14 float
                0x79, 0, 0, 0, 0, 0, 0, 0, 0x80,                       // 15 double -0.0
                0xaa, 0x01, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0,                  // 21 position: always 3
                                    // values
                0xd2, 0x01, 0x00};  // 26 origin: always written
  EXPECT_EQ(encoded(e), want);
}

TEST(Proto, DefaultsAreOmittedButMessagesAndArraysAreNot) {
  Bytes want = {0xaa, 0x01, 24};
  want.resize(want.size() + 24, 0);
  want.insert(want.end(), {0xd2, 0x01, 0x00});
  EXPECT_EQ(encoded(Everything{}), want);
  EXPECT_EQ(encoded(Person{}), Bytes{});
  EXPECT_EQ(proto::decode<Everything>(view(want)).value(), Everything{});
}

TEST(Proto, PackedRepeatedAndRepeatedStrings) {
  Everything e{};
  e.numbers = {1, -1, 300};
  e.words = {"a", ""};
  Bytes got = encoded(e);
  Bytes want = {0x9a, 0x01, 13,   0x01, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xac, 0x02,  // 19 numbers, packed
                0xa2, 0x01, 1,    'a',  0xa2, 0x01, 0};          // 20 words: one field each, "" too
  EXPECT_EQ(Bytes(got.begin(), got.begin() + static_cast<long>(want.size())), want);
}

TEST(Proto, MapsInKeyOrderWithKeyAndValueAlwaysWritten) {
  Everything e{};
  e.counts = {{"b", 0}, {"a", -1}};
  e.names = {{2, ""}, {-2, "x"}};
  Bytes got = encoded(e);
  Bytes want = {0xc2, 0x01, 14,   0x0a, 1,    'a',  0x10, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,  // counts {"a": -1}
                0xc2, 0x01, 5,    0x0a, 1,    'b',  0x10, 0,     // counts {"b": 0}
                0xca, 0x01, 14,   0x08, 0xfe, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xff, 0x01, 0x12, 1,    'x',  // names {-2: "x"}
                0xca, 0x01, 4,    0x08, 2,    0x12, 0};         // names {2: ""}
  std::size_t at = 3 + 24;                                      // after position
  ASSERT_GE(got.size(), at + want.size());
  EXPECT_EQ(
      Bytes(got.begin() + static_cast<long>(at), got.begin() + static_cast<long>(at + want.size())),
      want);
  EXPECT_EQ(proto::decode<Everything>(view(got)).value(), e);
}

TEST(Proto, OptionalWrittenWhenPresentEvenIfZero) {
  Everything e{};
  e.maybe = 0;
  e.nickname = "";
  Bytes got = encoded(e);
  Bytes want = {0xb0, 0x01, 0x00, 0xba, 0x01, 0x00};
  EXPECT_EQ(Bytes(got.begin() + 27, got.begin() + 33), want);
  Everything back = proto::decode<Everything>(view(got)).value();
  ASSERT_TRUE(back.maybe.has_value());
  ASSERT_TRUE(back.nickname.has_value());
  EXPECT_EQ(back, e);
}

TEST(Proto, FieldsInNumberOrder) {
  EXPECT_EQ(encoded(Shuffled{3, 1, 2}), (Bytes{0x08, 1, 0x80, 0x01, 2, 0xe0, 0x12, 3}));
  EXPECT_EQ(proto::decode<Shuffled>(view(encoded(Shuffled{3, 1, 2}))).value(), (Shuffled{3, 1, 2}));
}

TEST(Proto, ExamplesRoundTrip) {
  EXPECT_EQ(proto::decode<Person>(view(encoded(examples::make_person()))).value(),
            examples::make_person());
  EXPECT_EQ(proto::decode<Large>(view(encoded(examples::make_large()))).value(),
            examples::make_large());
  EXPECT_EQ(proto::decode<Everything>(view(encoded(examples::make_everything()))).value(),
            examples::make_everything());
}

TEST(Proto, LongNestedMessagesGetLongLengths) {
  for (std::size_t n : {120u, 125u, 126u, 127u, 200u, 16383u, 20000u}) {
    Holder h;
    h.person.name = std::string(n, 'x');
    Bytes got = encoded(h);
    std::size_t body = 1 + proto::detail::varint_size(n) + n;
    ASSERT_EQ(got.size(), 1 + proto::detail::varint_size(body) + body) << n;
    EXPECT_EQ(got[0], 0x0a);
    EXPECT_EQ(proto::decode<Holder>(view(got)).value(), h) << n;
    AnnotatedBuffer annotated;
    proto::encode(h, annotated);
    EXPECT_EQ(Bytes(reinterpret_cast<const std::uint8_t*>(annotated.data()),
                    reinterpret_cast<const std::uint8_t*>(annotated.data()) + annotated.size()),
              got);
  }
}

TEST(Proto, AnnotatedBufferNotesKeysLengthsAndValues) {
  AnnotatedBuffer b;
  proto::encode(examples::make_everything(), b);
  EXPECT_EQ(Bytes(reinterpret_cast<const std::uint8_t*>(b.data()),
                  reinterpret_cast<const std::uint8_t*>(b.data()) + b.size()),
            encoded(examples::make_everything()));
  AnnotatedBuffer p;
  proto::encode(examples::make_person(), p);
  ASSERT_GE(p.notes().size(), 3u);
  EXPECT_EQ(p.notes()[0].part, Part::tag);
  EXPECT_EQ(p.notes()[0].label, "field 1 name, wire type 2");
  EXPECT_EQ(p.notes()[1].part, Part::length);
  EXPECT_EQ(p.notes()[2].part, Part::value);
  EXPECT_EQ(p.notes()[2].begin, 2u);
  EXPECT_EQ(p.notes()[2].end, 7u);
  bool nested_deeper = false;
  for (const auto& n : b.notes())
    nested_deeper |= n.label.starts_with("x = ") && n.depth == 2;
  EXPECT_TRUE(nested_deeper);
}

// A prefix of a valid encoding decodes only when it ends where a top-level field
// starts (the annotated encoding says where, independently of the decoder); every
// other prefix cuts a field and is an error.
template <class T>
void check_prefixes(const T& value) {
  Bytes full = encoded(value);
  AnnotatedBuffer annotated;
  proto::encode(value, annotated);
  std::set<std::size_t> boundaries = {0};
  for (const auto& n : annotated.notes())
    if (n.depth == 1 && n.part == Part::tag) boundaries.insert(n.begin);
  std::set<std::size_t> accepted;
  for (std::size_t n = 0; n < full.size(); ++n) {
    Bytes prefix(full.begin(), full.begin() + static_cast<long>(n));
    T v{};
    auto r = proto::decode(view(prefix), v);
    if (r) {
      accepted.insert(n);
    } else {
      EXPECT_NE(r.error().message().find("protobuf: at byte"), std::string::npos);
    }
  }
  EXPECT_EQ(accepted, boundaries);
}

TEST(Proto, EveryTruncationIsAnErrorOrAFieldBoundary) {
  check_prefixes(examples::make_person());
  check_prefixes(examples::make_everything());
  check_prefixes(examples::make_large());
}

TEST(Proto, HostileLengths) {
  // A string length of 2^32-1 with 1 byte left.
  EXPECT_NE(decode_error<Person>({0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'})
                .find("at byte 1: name length 4294967295 runs past the end (1 bytes left)"),
            std::string::npos);
  // 2^63 as a length.
  EXPECT_NE(decode_error<Person>({0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
                .find("runs past the end"),
            std::string::npos);
  // A nested length longer than the message around it.
  EXPECT_NE(decode_error<Holder>({0x0a, 2, 0x0a, 5, 'S', 'm', 'i', 't', 'h'})
                .find("at byte 3: name length 5 runs past the end (0 bytes left)"),
            std::string::npos);
  // Packed doubles whose length is not a multiple of 8.
  EXPECT_NE(decode_error<Large>({0x42, 7, 0, 0, 0, 0, 0, 0, 0}).find("not a multiple of 8"),
            std::string::npos);
  // A varint of 11 bytes.
  EXPECT_NE(
      decode_error<Person>({0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
          .find("at byte 1: year varint is longer than 10 bytes"),
      std::string::npos);
  EXPECT_NE(decode_error<Person>({0x18, 0x80}).find("truncated"), std::string::npos);
  EXPECT_NE(decode_error<Person>({0x00, 0x00}).find("at byte 0: field number 0"),
            std::string::npos);
  EXPECT_NE(decode_error<Person>({0x26}).find("wire type 6 is not"), std::string::npos);
  EXPECT_NE(decode_error<Person>({0x27}).find("wire type 7 is not"), std::string::npos);
  EXPECT_NE(decode_error<Person>({0x24}).find("end-group of field 4 without a start-group"),
            std::string::npos);
  EXPECT_NE(decode_error<Person>({0x23, 0x08, 0x01}).find("has no end-group"), std::string::npos);
  EXPECT_NE(decode_error<Person>({0x23, 0x2c})
                .find("end-group of field 5 inside the group of "
                      "field 4"),
            std::string::npos);
  EXPECT_NE(decode_error<Person>({0xf8, 0xff, 0xff, 0xff, 0x7f, 0x00}).find("above 2^29-1"),
            std::string::npos);
  EXPECT_NE(decode_error<Person>({0x21, 1, 2, 3}).find("truncated: unknown field needs 8 bytes"),
            std::string::npos);
}

TEST(Proto, ErrorsNameTheFieldAndOffset) {
  EXPECT_EQ(decode_error<Person>({0x18, 1, 0x08, 1}),
            "protobuf: at byte 2: field 1 name has wire type 0 (VARINT), expected 2 (LEN)");
  EXPECT_EQ(decode_error<Person>({0x0a, 2, 0xc3, 0x28}),
            "protobuf: at byte 2: string name is not valid UTF-8");
  // 300 does not fit an int8 field (i8 is field 2 of Everything).
  EXPECT_EQ(decode_error<Everything>({0x10, 0xac, 0x02}),
            "protobuf: at byte 1: value of i8 is out of range of its C++ type");
}

TEST(Proto, LimitsAreNamed) {
  Tree t;
  Tree* at = &t;
  for (int k = 0; k < 100; ++k) {
    at->kids.emplace_back();
    at = &at->kids.back();
  }
  Bytes deep = encoded(t);
  auto err = decode_error<Tree>(deep);
  EXPECT_NE(err.find("nesting exceeds limit max_depth = 64"), std::string::npos) << err;
  EXPECT_EQ(decode_error<Tree>(deep, Limits{.max_depth = 100}), "");
  // Groups of an unknown field nest too.
  Bytes groups(200, 0x23);  // start-group of field 4, 200 times
  EXPECT_NE(decode_error<Person>(groups).find("max_depth"), std::string::npos);

  EXPECT_NE(decode_error<Person>(encoded(Person{"abcdef", "", 0}), Limits{.max_string = 5})
                .find("name length 6 exceeds limit max_string = 5"),
            std::string::npos);
  Large l;
  l.samples.assign(10, 1.0);
  EXPECT_NE(decode_error<Large>(encoded(l), Limits{.max_elements = 9})
                .find("exceeds limit max_elements = 9"),
            std::string::npos);
  EXPECT_NE(decode_error<Large>(encoded(l), Limits{.max_bytes = 10}).find("max_bytes"),
            std::string::npos);
}

TEST(Proto, UnknownFieldsOfEveryWireTypeAreSkipped) {
  Bytes with_unknown = cat({
      {0x50, 0x96, 0x01},  // 10: varint 150
      {0x0a, 5},
      text("Smith"),                                       // name
      {0x59, 1, 2, 3, 4, 5, 6, 7, 8},                      // 11: i64
      {0x62, 3, 'a', 'b', 'c'},                            // 12: len
      {0x6b, 0x08, 0x01, 0x13, 0x12, 1, 'z', 0x14, 0x6c},  // 13: group, a group inside
      {0x12, 6},
      text("London"),                        // place
      {0x75, 1, 2, 3, 4},                    // 14: i32
      {0x18, 0xc0, 0x0f},                    // year
      {0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01},  // 2^29-1: varint
  });
  EXPECT_EQ(proto::decode<Person>(view(with_unknown)).value(), examples::make_person());
}

TEST(Proto, LastOneWinsAndMessagesMerge) {
  Bytes twice = {0x18, 1, 0x0a, 1, 'a', 0x18, 2, 0x0a, 1, 'b'};
  EXPECT_EQ(proto::decode<Person>(view(twice)).value(), (Person{"b", "", 2}));
  // person {name: "a" year: 7}, then person {place: "p"}: merged.
  Bytes merge = {0x0a, 5,    0x0a, 1,    'a', 0x18, 7, 0x0a, 3, 0x12, 1,
                 'p',  0x12, 2,    0x08, 3,   0x12, 2, 0x10, 4};  // where {x: -2}, where {y: 2}
  Holder h = proto::decode<Holder>(view(merge)).value();
  EXPECT_EQ(h.person, (Person{"a", "p", 7}));
  EXPECT_EQ(h.where, (Point{-2, 2}));
  // A repeated scalar: packed and unpacked occurrences concatenate.
  Bytes mixed = {0x98, 0x01, 5, 0x9a, 0x01, 2, 6, 7, 0x98, 0x01, 8};
  EXPECT_EQ(proto::decode<Everything>(view(mixed)).value().numbers,
            (std::vector<std::int32_t>{5, 6, 7, 8}));
  // A map key twice: the last value wins; an entry without key or value holds defaults.
  Bytes keys = {0x1a, 4, 0x08, 1, 0x12, 0, 0x1a, 6, 0x08, 1, 0x12, 2, 0x08, 4, 0x1a, 0};
  Holder m = proto::decode<Holder>(view(keys)).value();
  EXPECT_EQ(m.points, (std::map<std::int32_t, Point>{{0, Point{}}, {1, Point{2, 0}}}));
  // An array takes at most its size.
  Bytes four = {0xaa, 0x01, 32};
  four.resize(four.size() + 32, 0);
  EXPECT_NE(decode_error<Everything>(four).find("position has more than 3 elements"),
            std::string::npos);
}

TEST(Proto, EmptyPackedFieldsDecode) {  // found by proto_fuzz: a zero-length copy
  Large l = examples::make_large();
  ASSERT_TRUE(proto::decode(view(Bytes{0x42, 0x00}), l));
  EXPECT_EQ(l, Large{});
  Large fresh;
  ASSERT_TRUE(proto::decode(view(Bytes{0x42, 0x00}), fresh));
  EXPECT_TRUE(fresh.samples.empty());
}

TEST(Proto, DecodingIntoAUsedObjectResetsAbsentFields) {
  Everything v = examples::make_everything();
  ASSERT_TRUE(proto::decode(view(encoded(Person{})), v));
  EXPECT_EQ(v, Everything{});
  Large l = examples::make_large();
  Large small;
  small.records.resize(2);
  small.records[1].label = "x";
  ASSERT_TRUE(proto::decode(view(encoded(small)), l));
  EXPECT_EQ(l, small);
}

}  // namespace
}  // namespace nexo::wire
