// nexo's CDR against eProsima Fast-CDR, byte for byte, in both byte orders: the same
// values serialized by Fast-CDR (field by field, as its generated code does) and by nexo
// from the one description must give identical bytes, and each must read the other's.
#include "nexo/wire/cdr.hpp"

#include <fastcdr/Cdr.h>
#include <fastcdr/FastBuffer.h>
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/testdata/fastcdr_examples.hpp"

namespace nexo::wire {
namespace {

namespace fc = eprosima::fastcdr;
using cdr::Endian;
using examples::Everything;
using examples::Large;
using examples::Person;

using testdata::get;
using testdata::put;

template <class T>
std::vector<std::uint8_t> fastcdr_bytes(const T& v, Endian order, bool encapsulated) {
  std::vector<char> storage(1 << 20);
  fc::FastBuffer fb(storage.data(), storage.size());
  fc::Cdr c(fb, order == Endian::little ? fc::Cdr::LITTLE_ENDIANNESS : fc::Cdr::BIG_ENDIANNESS,
            encapsulated ? fc::Cdr::DDS_CDR : fc::Cdr::CORBA_CDR);
  if (encapsulated) c.serialize_encapsulation();
  put(c, v);
  return {storage.data(), storage.data() + c.getSerializedDataLength()};
}

template <class T>
std::vector<std::uint8_t> nexo_bytes(const T& v, Endian order, bool encapsulated) {
  Buffer b;
  if (encapsulated) {
    cdr::encode_encapsulated(v, b, order);
  } else {
    cdr::encode(v, b, order);
  }
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p, p + b.size()};
}

template <class T>
void expect_identical(const T& v) {
  for (Endian order : {Endian::little, Endian::big}) {
    for (bool encapsulated : {false, true}) {
      SCOPED_TRACE(std::string(order == Endian::little ? "little" : "big") +
                   (encapsulated ? "-endian encapsulation" : "-endian plain"));
      EXPECT_EQ(nexo_bytes(v, order, encapsulated), fastcdr_bytes(v, order, encapsulated));
    }
  }
}

TEST(CdrFastCdr, PersonIsByteForByteIdentical) {
  expect_identical(examples::make_person());
}
TEST(CdrFastCdr, LargeIsByteForByteIdentical) {
  expect_identical(examples::make_large());
}
TEST(CdrFastCdr, EverythingIsByteForByteIdentical) {
  expect_identical(examples::make_everything());
  expect_identical(Everything{});  // empty strings, sequences and maps
}

// Optionals and enums, each written by Fast-CDR's own calls rather than by the shared
// put() of testdata/. Fast-CDR 1.0.26 (the version here) has no optional type and no enum
// overload: its generated code writes an enum as serialize(uint32_t), whatever the C++
// enum's underlying type, and an optional member as serialize(bool present) followed by
// serialize(value) when present, each call aligning as Fast-CDR does. The values are
// chosen so that alignment after the presence flag matters (an int64 needs 7 padding
// bytes after its flag, a double the same, a nested struct of int16s one).
enum class Small : std::uint8_t { off = 0, on = 200 };
enum class Wide : std::int64_t { low = -1, high = 0x7fffffff };
enum class Signed : std::int16_t { minus = -3, plus = 3 };

struct Pair16 {
  std::int16_t a = 0;
  std::int16_t b = 0;
  bool operator==(const Pair16&) const = default;
};
constexpr auto nexo_wire_describe(const Pair16*) {
  return describe<Pair16>("pair16").field("a", &Pair16::a).field("b", &Pair16::b);
}

struct Optionals {
  std::optional<std::int64_t> big;
  std::optional<double> real;
  std::optional<std::string> text;
  std::optional<Pair16> pair;
  std::optional<std::vector<std::int16_t>> shorts;
  std::uint8_t tail = 0;  // what follows an absent optional starts right after its flag
  Small small = Small::off;
  Wide wide = Wide::low;
  Signed sign = Signed::minus;
  examples::Color color = examples::Color::red;
  std::vector<examples::Color> colors;
  std::array<Small, 3> smalls{};
  std::optional<Wide> maybe_wide;
  bool operator==(const Optionals&) const = default;
};
constexpr auto nexo_wire_describe(const Optionals*) {
  return describe<Optionals>("optionals")
      .field("big", &Optionals::big)
      .field("real", &Optionals::real)
      .field("text", &Optionals::text)
      .field("pair", &Optionals::pair)
      .field("shorts", &Optionals::shorts)
      .field("tail", &Optionals::tail)
      .field("small", &Optionals::small)
      .field("wide", &Optionals::wide)
      .field("sign", &Optionals::sign)
      .field("color", &Optionals::color)
      .field("colors", &Optionals::colors)
      .field("smalls", &Optionals::smalls)
      .field("maybe_wide", &Optionals::maybe_wide);
}

template <class E>
std::uint32_t as_fastcdr_enum(E e) {
  return static_cast<std::uint32_t>(e);  // what Fast-CDR's generated code does
}

template <class T, class Write>
void fastcdr_optional(fc::Cdr& c, const std::optional<T>& o, Write write) {
  c.serialize(o.has_value());
  if (o) write(*o);
}

void fastcdr_put(fc::Cdr& c, const Optionals& v) {
  fastcdr_optional(c, v.big, [&](std::int64_t x) { c.serialize(x); });
  fastcdr_optional(c, v.real, [&](double x) { c.serialize(x); });
  fastcdr_optional(c, v.text, [&](const std::string& x) { c.serialize(x); });
  fastcdr_optional(c, v.pair, [&](const Pair16& x) { c.serialize(x.a).serialize(x.b); });
  fastcdr_optional(c, v.shorts, [&](const std::vector<std::int16_t>& x) { c.serialize(x); });
  c.serialize(v.tail);
  c.serialize(as_fastcdr_enum(v.small));
  c.serialize(as_fastcdr_enum(v.wide));
  c.serialize(as_fastcdr_enum(v.sign));
  c.serialize(as_fastcdr_enum(v.color));
  std::vector<std::uint32_t> colors;
  for (auto e : v.colors)
    colors.push_back(as_fastcdr_enum(e));
  c.serializeSequence(colors.data(), colors.size());
  std::array<std::uint32_t, 3> smalls{};
  for (std::size_t k = 0; k < 3; ++k)
    smalls[k] = as_fastcdr_enum(v.smalls[k]);
  c.serializeArray(smalls.data(), smalls.size());
  fastcdr_optional(c, v.maybe_wide, [&](Wide x) { c.serialize(as_fastcdr_enum(x)); });
}

// Reads what fastcdr_put() writes, with Fast-CDR's own calls.
void fastcdr_get(fc::Cdr& c, Optionals& v) {
  auto optional = [&](auto& o, auto read) {
    bool present = false;
    c.deserialize(present);
    if (present) {
      o.emplace();
      read(*o);
    } else {
      o.reset();
    }
  };
  optional(v.big, [&](std::int64_t& x) { c.deserialize(x); });
  optional(v.real, [&](double& x) { c.deserialize(x); });
  optional(v.text, [&](std::string& x) { c.deserialize(x); });
  optional(v.pair, [&](Pair16& x) { c.deserialize(x.a).deserialize(x.b); });
  optional(v.shorts, [&](std::vector<std::int16_t>& x) { c.deserialize(x); });
  c.deserialize(v.tail);
  std::uint32_t e = 0;
  c.deserialize(e);
  v.small = static_cast<Small>(e);
  c.deserialize(e);
  v.wide = static_cast<Wide>(static_cast<std::int32_t>(e));
  c.deserialize(e);
  v.sign = static_cast<Signed>(static_cast<std::int32_t>(e));
  c.deserialize(e);
  v.color = static_cast<examples::Color>(e);
  std::vector<std::uint32_t> colors;
  c.deserialize(colors);
  v.colors.clear();
  for (auto x : colors)
    v.colors.push_back(static_cast<examples::Color>(x));
  std::array<std::uint32_t, 3> smalls{};
  c.deserializeArray(smalls.data(), smalls.size());
  for (std::size_t k = 0; k < 3; ++k)
    v.smalls[k] = static_cast<Small>(smalls[k]);
  optional(v.maybe_wide, [&](Wide& x) {
    c.deserialize(e);
    x = static_cast<Wide>(static_cast<std::int32_t>(e));
  });
}

std::vector<std::uint8_t> fastcdr_optionals(const Optionals& v, Endian order) {
  std::vector<char> storage(4096);
  fc::FastBuffer fb(storage.data(), storage.size());
  fc::Cdr c(fb, order == Endian::little ? fc::Cdr::LITTLE_ENDIANNESS : fc::Cdr::BIG_ENDIANNESS,
            fc::Cdr::CORBA_CDR);
  fastcdr_put(c, v);
  return {storage.data(), storage.data() + c.getSerializedDataLength()};
}

std::vector<Optionals> optionals_cases() {
  Optionals all;
  all.big = -0x123456789abcdef;
  all.real = -2.5;
  all.text = "Zürich";
  all.pair = Pair16{-7, 9};
  all.shorts = std::vector<std::int16_t>{1, -2, 3};
  all.tail = 0xab;
  all.small = Small::on;
  all.wide = Wide::high;
  all.sign = Signed::minus;
  all.color = examples::Color::blue;
  all.colors = {examples::Color::green, examples::Color::red, examples::Color::blue};
  all.smalls = {Small::on, Small::off, Small::on};
  all.maybe_wide = Wide::low;
  Optionals some = all;  // absent ones between present ones: the alignment shifts
  some.big.reset();
  some.text.reset();
  some.shorts = std::vector<std::int16_t>{};  // present but empty
  some.maybe_wide.reset();
  return {Optionals{}, all, some};
}

TEST(CdrFastCdr, OptionalsAndEnumsMatchWhatFastCdrWrites) {
  for (const Optionals& v : optionals_cases()) {
    for (Endian order : {Endian::little, Endian::big}) {
      SCOPED_TRACE(order == Endian::little ? "little-endian" : "big-endian");
      auto theirs = fastcdr_optionals(v, order);
      EXPECT_EQ(nexo_bytes(v, order, false), theirs);

      auto by_nexo = cdr::decode<Optionals>(
          {reinterpret_cast<const std::byte*>(theirs.data()), theirs.size()}, order);
      ASSERT_TRUE(by_nexo) << by_nexo.error().to_string();
      EXPECT_EQ(*by_nexo, v);

      auto ours = nexo_bytes(v, order, false);
      fc::FastBuffer fb(reinterpret_cast<char*>(ours.data()), ours.size());
      fc::Cdr c(fb,
                order == Endian::little ? fc::Cdr::LITTLE_ENDIANNESS : fc::Cdr::BIG_ENDIANNESS,
                fc::Cdr::CORBA_CDR);
      Optionals by_fastcdr;
      fastcdr_get(c, by_fastcdr);
      EXPECT_EQ(by_fastcdr, v);
      EXPECT_EQ(c.getSerializedDataLength(), ours.size());
    }
  }
}

TEST(CdrFastCdr, FastCdrReadsNexoAndNexoReadsFastCdr) {
  Large large = examples::make_large();
  for (Endian order : {Endian::little, Endian::big}) {
    auto bytes = nexo_bytes(large, order, true);
    fc::FastBuffer fb(reinterpret_cast<char*>(bytes.data()), bytes.size());
    fc::Cdr c(fb, fc::Cdr::DEFAULT_ENDIAN, fc::Cdr::DDS_CDR);
    c.read_encapsulation();
    Large by_fastcdr;
    get(c, by_fastcdr);
    EXPECT_EQ(by_fastcdr, large);

    auto theirs = fastcdr_bytes(large, order, true);
    auto by_nexo = cdr::decode_encapsulated<Large>(
        {reinterpret_cast<const std::byte*>(theirs.data()), theirs.size()});
    ASSERT_TRUE(by_nexo) << by_nexo.error().to_string();
    EXPECT_EQ(*by_nexo, large);
  }
  Person p = examples::make_person();
  auto bytes = nexo_bytes(p, Endian::big, false);
  fc::FastBuffer fb(reinterpret_cast<char*>(bytes.data()), bytes.size());
  fc::Cdr c(fb, fc::Cdr::BIG_ENDIANNESS, fc::Cdr::CORBA_CDR);
  Person back;
  get(c, back);
  EXPECT_EQ(back, p);
}

}  // namespace
}  // namespace nexo::wire
