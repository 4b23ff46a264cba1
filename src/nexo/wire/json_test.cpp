#include "nexo/wire/json.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "nexo/wire/examples.hpp"

namespace nexo::wire {
namespace {

using examples::Everything;
using examples::Large;
using examples::Person;

template <class T>
std::string text_of(const T& v, json::WriteOptions options = {}) {
  Buffer b;
  json::encode(v, b, options);
  return std::string(b.text());
}

// The message of a decode error ("" when it decoded).
template <class T>
std::string error_of(std::string_view text, const Limits& limits = {}) {
  auto r = json::decode<T>(text, limits);
  return r ? std::string() : r.error().message();
}

struct Ints {
  std::int8_t i8 = 0;
  std::uint8_t u8 = 0;
  std::int32_t i32 = 0;
  std::uint32_t u32 = 0;
  std::int64_t i64 = 0;
  std::uint64_t u64 = 0;
  bool operator==(const Ints&) const = default;
};
constexpr auto nexo_wire_describe(const Ints*) {
  return describe<Ints>("ints")
      .field("i8", &Ints::i8)
      .field("u8", &Ints::u8)
      .field("i32", &Ints::i32)
      .field("u32", &Ints::u32)
      .field("i64", &Ints::i64)
      .field("u64", &Ints::u64);
}

struct Reals {
  double d = 0;
  float f = 0;
};
constexpr auto nexo_wire_describe(const Reals*) {
  return describe<Reals>("reals").field("d", &Reals::d).field("f", &Reals::f);
}

struct Deep {
  std::vector<Deep> children;
};
constexpr auto nexo_wire_describe(const Deep*) {
  return describe<Deep>("deep").field("children", &Deep::children);
}

struct Defaults {
  std::int32_t a = 7;
  std::string b = "b";
  std::optional<std::int32_t> c;
  bool operator==(const Defaults&) const = default;
};
constexpr auto nexo_wire_describe(const Defaults*) {
  return describe<Defaults>("defaults")
      .field("a", &Defaults::a)
      .field("b", &Defaults::b)
      .field("c", &Defaults::c);
}

struct Text {
  std::string s;
  bool operator==(const Text&) const = default;
};
constexpr auto nexo_wire_describe(const Text*) {
  return describe<Text>("text").field("s", &Text::s);
}

// ---------------------------------------------------------------------------
// Exact text.

TEST(Json, PersonText) {
  EXPECT_EQ(text_of(examples::make_person()), R"({"name":"Smith","place":"London","year":1984})");
  EXPECT_EQ(text_of(examples::make_person(), {.pretty = true}),
            "{\n  \"name\": \"Smith\",\n  \"place\": \"London\",\n  \"year\": 1984\n}");
}

TEST(Json, EverythingText) {
  const std::string want =
      R"({"flag":true,"i8":-100,"u8":200,"i16":-30000,"u16":60000,"i32":-2000000000,)"
      R"("u32":4000000000,"i64":-9223372036854775807,"u64":18446744073709551615,)"
      R"("s32":-12345,"s64":-9876543210,"f32":16909060,"sf64":-1,"real32":3.1415927,)"
      R"("real64":0.1,"color":2,"text":"Grüße, \"world\" <&> € 😀\n","blob":"AAH+/w==",)"
      R"("numbers":[1,-1,300,-300,2147483647],"words":["alpha","","gamma"],)"
      R"("position":[1.5,-2.25,1e+300],"maybe":42,"counts":{"apples":3,"pears":-7},)"
      R"("names":{"-2":"minus two","1":"one"},"origin":{"x":-1,"y":1},)"
      R"("path":[{"x":0,"y":0},{"x":10,"y":-10},{"x":-300,"y":300}]})";
  EXPECT_EQ(text_of(examples::make_everything()), want);
  auto back = json::decode<Everything>(want);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, examples::make_everything());
}

TEST(Json, PrettyTextReadsBackAndEmptiesStayOnOneLine) {
  Everything e;  // empty containers, no optionals
  std::string pretty = text_of(e, {.pretty = true});
  EXPECT_NE(pretty.find("\"numbers\": [],\n"), std::string::npos) << pretty;
  EXPECT_NE(pretty.find("\"counts\": {},\n"), std::string::npos) << pretty;
  EXPECT_EQ(pretty.find("maybe"), std::string::npos);
  auto full = examples::make_everything();
  auto back = json::decode<Everything>(text_of(full, {.pretty = true}));
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, full);
}

TEST(Json, EscapesEveryControlCharacter) {
  Text t;
  for (int c = 0; c < 0x20; ++c)
    t.s += static_cast<char>(c);
  t.s += "\"\\/\x7f";
  EXPECT_EQ(text_of(t),
            R"({"s":"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e)"
            R"(\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b)"
            R"(\u001c\u001d\u001e\u001f\"\\/)"
            "\x7f\"}");
  auto back = json::decode<Text>(text_of(t));
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, t);
}

TEST(Json, BytesThatAreNotUtf8AreWrittenAsReplacementCharacters) {
  Text t;
  t.s = "a\xff" "b\xc3\xa9\xe2\x82" "x\xed\xa0\x80\"";  // stray byte, é, cut short, surrogate
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(text_of(t),
            "{\"s\":\"a" + fffd + "b\xc3\xa9" + fffd + fffd + "x" + fffd + fffd + fffd + "\\\"\"}");
  auto back = json::decode<Text>(text_of(t));  // the output is valid JSON, valid UTF-8
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->s, "a" + fffd + "b\xc3\xa9" + fffd + fffd + "x" + fffd + fffd + fffd + "\"");
}

TEST(Json, ReadsEveryEscapeAndSurrogatePairs) {
  auto r = json::decode<Text>(R"({"s":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00"})");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->s, "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  // An escaped key matches its field.
  auto k = json::decode<Text>(R"({"\u0073":"x"})");
  ASSERT_TRUE(k) << k.error().to_string();
  EXPECT_EQ(k->s, "x");
}

TEST(Json, Base64) {
  struct Case {
    std::vector<int> bytes;
    const char* text;
  };
  for (const Case& c :
       {Case{{}, R"("")"}, Case{{0x66}, R"("Zg==")"}, Case{{0x66, 0x6f}, R"("Zm8=")"},
        Case{{0x66, 0x6f, 0x6f}, R"("Zm9v")"}, Case{{0xfb, 0xff, 0xbf}, R"("+/+/")"}}) {
    Everything e;
    for (int b : c.bytes)
      e.blob.push_back(static_cast<std::byte>(b));
    std::string t = text_of(e);
    EXPECT_NE(t.find(std::string("\"blob\":") + c.text), std::string::npos) << t;
    auto back = json::decode<Everything>(t);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(back->blob, e.blob);
  }
  EXPECT_NE(error_of<Everything>(R"({"blob":"Zg"})").find("base64: the length"), std::string::npos);
  EXPECT_EQ(error_of<Everything>(R"({"blob":"Zh=="})"),
            "json: at byte 10: blob: base64: unused bits are not zero");
  EXPECT_EQ(error_of<Everything>(R"({"blob":"Z*=="})"),
            "json: at byte 10: blob: base64: not a base64 digit");
  EXPECT_EQ(error_of<Everything>(R"({"blob":"=Zg="})"),
            "json: at byte 9: blob: base64: not a base64 digit");
}

// ---------------------------------------------------------------------------
// Numbers.

TEST(Json, DoublesRoundTripBitExact) {
  std::mt19937_64 rng(20240601);
  std::vector<double> values = {0.0,
                                -0.0,
                                0.1,
                                1.0 / 3,
                                std::numeric_limits<double>::max(),
                                -std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::denorm_min(),
                                -std::numeric_limits<double>::denorm_min(),
                                std::numeric_limits<double>::epsilon(),
                                9007199254740993.0,
                                1e23,
                                5e-324,
                                2.2250738585072009e-308};
  for (int i = 0; i < 20000; ++i) {
    double d = std::bit_cast<double>(rng());
    if (std::isfinite(d)) values.push_back(d);
  }
  for (int i = 0; i < 2000; ++i)  // subnormals
    values.push_back(std::bit_cast<double>(rng() & 0x000fffffffffffffull));
  for (double d : values) {
    Reals r{d, std::bit_cast<float>(static_cast<std::uint32_t>(std::bit_cast<std::uint64_t>(d)))};
    if (!std::isfinite(r.f)) r.f = 1.5f;
    std::string t = text_of(r);
    auto back = json::decode<Reals>(t);
    ASSERT_TRUE(back) << t << ": " << back.error().to_string();
    ASSERT_EQ(std::bit_cast<std::uint64_t>(back->d), std::bit_cast<std::uint64_t>(d)) << t;
    ASSERT_EQ(std::bit_cast<std::uint32_t>(back->f), std::bit_cast<std::uint32_t>(r.f)) << t;
  }
  EXPECT_EQ(text_of(Reals{-0.0, 0.1f}), R"({"d":-0,"f":0.1})");
  EXPECT_EQ(text_of(Reals{5e-324, 3.4028235e38f}), R"({"d":5e-324,"f":3.4028235e+38})");
}

TEST(Json, RealsAreCorrectlyRoundedAndRangeChecked) {
  auto r = json::decode<Reals>(R"({"d":2.2250738585072011e-308,"f":1.0000000596046447754})");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->d, 2.2250738585072011e-308);
  EXPECT_EQ(r->f, 1.0000001f);  // just above halfway: up (via a double: a tie, down)
  auto tiny = json::decode<Reals>(R"({"d":-1e-400,"f":1e-50})");
  ASSERT_TRUE(tiny) << tiny.error().to_string();
  EXPECT_TRUE(tiny->d == 0 && std::signbit(tiny->d));
  EXPECT_EQ(tiny->f, 0.0f);
  EXPECT_EQ(error_of<Reals>(R"({"d":1e309})"),
            "json: at byte 5: d: 1e309 is out of range for double");
  EXPECT_EQ(error_of<Reals>(R"({"f":3.5e38})"),
            "json: at byte 5: f: 3.5e38 is out of range for float");
  EXPECT_EQ(error_of<Reals>(R"({"d":0.0000001e308})"), "");
}

TEST(Json, ShortDecimalsReadAsFromCharsDoes) {
  // The reader's fast path (m / 10^k) against std::from_chars, at and around its bounds.
  std::mt19937_64 rng(99);
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t m = rng() >> (rng() % 64);
    std::string digits = std::to_string(m);
    std::size_t point = rng() % (digits.size() + 24);
    std::string t = digits;
    if (point > 0 && point < digits.size()) {
      t.insert(digits.size() - point, ".");
    } else if (point >= digits.size()) {
      t = "0." + std::string(point - digits.size(), '0') + digits;
    }
    if (rng() % 2) t = "-" + t;
    double want_d = 0;
    float want_f = 0;
    std::from_chars(t.data(), t.data() + t.size(), want_d);
    std::from_chars(t.data(), t.data() + t.size(), want_f);
    std::string doc = R"({"d":)" + t + R"(,"f":)" + t + "}";
    auto r = json::decode<Reals>(doc);
    ASSERT_TRUE(r) << doc << ": " << r.error().to_string();
    ASSERT_EQ(std::bit_cast<std::uint64_t>(r->d), std::bit_cast<std::uint64_t>(want_d)) << doc;
    ASSERT_EQ(std::bit_cast<std::uint32_t>(r->f), std::bit_cast<std::uint32_t>(want_f)) << doc;
  }
}

TEST(Json, NonFiniteRealsAreStrings) {
  Reals r{std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<float>::infinity()};
  EXPECT_EQ(text_of(r), R"({"d":"NaN","f":"-Infinity"})");
  r.d = std::numeric_limits<double>::infinity();
  EXPECT_EQ(text_of(r), R"({"d":"Infinity","f":"-Infinity"})");
  auto back = json::decode<Reals>(R"({"d":"NaN","f":"Infinity"})");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_TRUE(std::isnan(back->d));
  EXPECT_EQ(back->f, std::numeric_limits<float>::infinity());
  EXPECT_NE(error_of<Reals>(R"({"d":"nan"})")
                .find("at byte 5: d: expected a number, found a string other than"),
            std::string::npos);
  EXPECT_EQ(error_of<Reals>(R"({"d":NaN})"), "json: at byte 5: d: expected a number, found 'N'");
  EXPECT_EQ(error_of<Ints>(R"({"i64":"Infinity"})"),
            "json: at byte 7: i64: expected an integer, found a string");
}

// libprotobuf (and any writer for JavaScript) writes 64-bit integers as strings.
TEST(Json, ReadsIntegersWrittenAsStrings) {
  auto back = json::decode<Ints>(
      R"({"i8":"-128","u8":"255","i32":"-2147483648","u32":"4294967295",)"
      R"("i64":"-9223372036854775808","u64":"18446744073709551615"})");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, (Ints{-128, 255, INT32_MIN, UINT32_MAX, INT64_MIN, UINT64_MAX}));
  auto exact = json::decode<Ints>(R"({"i64":"1e3","u64":"2.5e1"})");
  ASSERT_TRUE(exact) << exact.error().to_string();
  EXPECT_EQ(exact->i64, 1000);
  EXPECT_EQ(exact->u64, 25u);
  // The string is the number and nothing else, in range, as a bare number would be.
  EXPECT_EQ(error_of<Ints>(R"({"i64":"12x"})"),
            "json: at byte 8: i64: a number in a string must be the whole string");
  EXPECT_EQ(error_of<Ints>(R"({"i64":" 12"})"),
            "json: at byte 7: i64: expected an integer, found a string");
  EXPECT_EQ(error_of<Ints>(R"({"i64":"12)"),
            "json: at byte 8: i64: a number in a string must be the whole string");
  EXPECT_NE(error_of<Ints>(R"({"u8":"256"})").find("out of range"), std::string::npos)
      << error_of<Ints>(R"({"u8":"256"})");
  EXPECT_NE(error_of<Ints>(R"({"i32":"1.5"})").find("not an integer"), std::string::npos)
      << error_of<Ints>(R"({"i32":"1.5"})");
}

TEST(Json, IntegersKeepAll64Bits) {
  Ints lim{-128, 255, INT32_MIN, UINT32_MAX, INT64_MIN, UINT64_MAX};
  std::string t = text_of(lim);
  EXPECT_EQ(t, R"({"i8":-128,"u8":255,"i32":-2147483648,"u32":4294967295,)"
               R"("i64":-9223372036854775808,"u64":18446744073709551615})");
  auto back = json::decode<Ints>(t);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, lim);
  auto max = json::decode<Ints>(R"({"i64":9223372036854775807,"u64":0})");
  ASSERT_TRUE(max);
  EXPECT_EQ(max->i64, INT64_MAX);
}

TEST(Json, IntegersWithExponentsOrFractionsAreExact) {
  auto r = json::decode<Ints>(R"({"i8":-1.28e2,"u8":2.550E+2,"i32":1e3,"u32":4294967295.000,)"
                              R"("i64":-9.223372036854775808e18,"u64":1.8446744073709551615e19})");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, (Ints{-128, 255, 1000, UINT32_MAX, INT64_MIN, UINT64_MAX}));
  auto z = json::decode<Ints>(R"({"i8":0e999999999999,"u8":-0,"i32":0.000e-5,)"
                              R"("u32":100e-2,"i64":-0.5e1,"u64":18446744073709551615000e-3})");
  ASSERT_TRUE(z) << z.error().to_string();
  EXPECT_EQ(*z, (Ints{0, 0, 0, 1, -5, UINT64_MAX}));
}

TEST(Json, IntegersTooLargeOrNotWholeAreErrors) {
  EXPECT_EQ(error_of<Ints>(R"({"i8":128})"), "json: at byte 6: i8: 128 is out of range for int8");
  EXPECT_EQ(error_of<Ints>(R"({"u8":-1})"), "json: at byte 6: u8: -1 is out of range for uint8");
  EXPECT_EQ(error_of<Ints>(R"({"u64":18446744073709551616})"),
            "json: at byte 7: u64: 18446744073709551616 is out of range for a 64-bit integer");
  EXPECT_EQ(error_of<Ints>(R"({"u64":1.8446744073709551616e19})"),
            "json: at byte 7: u64: 1.8446744073709551616e19 is out of range for a 64-bit integer");
  EXPECT_EQ(error_of<Ints>(R"({"i64":9223372036854775808})"),
            "json: at byte 7: i64: 9223372036854775808 is out of range for int64");
  EXPECT_EQ(error_of<Ints>(R"({"i64":-9223372036854775809})"),
            "json: at byte 7: i64: -9223372036854775809 is out of range for int64");
  EXPECT_EQ(error_of<Ints>(R"({"i32":1e10})"),
            "json: at byte 7: i32: 1e10 is out of range for int32");
  EXPECT_EQ(error_of<Ints>(R"({"i32":1e100000000000000})"),
            "json: at byte 7: i32: 1e100000000000000 is out of range for a 64-bit integer");
  EXPECT_EQ(error_of<Ints>(R"({"i32":1.5})"), "json: at byte 7: i32: 1.5 is not an integer");
  EXPECT_EQ(error_of<Ints>(R"({"i32":1e-1})"), "json: at byte 7: i32: 1e-1 is not an integer");
  EXPECT_EQ(error_of<Ints>(R"({"u64":12345678901234567890.5})"),
            "json: at byte 7: u64: 12345678901234567890.5 is not an integer");
}

TEST(Json, BadNumbersAreErrors) {
  EXPECT_EQ(error_of<Ints>(R"({"i32":01})"),
            "json: at byte 8: i32: a number may not have leading zeros");
  EXPECT_EQ(error_of<Ints>(R"({"i32":-01})"),
            "json: at byte 9: i32: a number may not have leading zeros");
  EXPECT_EQ(error_of<Ints>(R"({"i32":+1})"),
            "json: at byte 7: i32: expected an integer, found '+'");
  EXPECT_EQ(error_of<Ints>(R"({"i32":1.})"),
            "json: at byte 9: i32: a digit is expected in a number, found '}'");
  EXPECT_EQ(error_of<Ints>(R"({"i32":.5})"),
            "json: at byte 7: i32: expected an integer, found '.'");
  EXPECT_EQ(error_of<Ints>(R"({"i32":1e})"),
            "json: at byte 9: i32: a digit is expected in a number, found '}'");
  EXPECT_EQ(error_of<Ints>(R"({"i32":-})"),
            "json: at byte 8: i32: a digit is expected in a number, found '}'");
  EXPECT_EQ(error_of<Ints>(R"({"i32":0x10})"),
            "json: at byte 8: ints: expected ',' or '}', found 'x'");
  EXPECT_EQ(error_of<Reals>(R"({"d":Infinity})"),
            "json: at byte 5: d: expected a number, found 'I'");
}

// ---------------------------------------------------------------------------
// Keys.

TEST(Json, UnknownKeysAreSkippedMissingKeysGetDefaults) {
  auto r =
      json::decode<Person>(R"( { "extra" : {"a":[1,2,{"b":null}],"c":"\u00e9"}, "year" : 1984 , )"
                           R"("list":[[],{},true,false,null,-1.5e-3,"x"], "name":"Smith" } )");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, (Person{"Smith", "", 1984}));
  // Decoding into a used object: a missing key resets the field to its default.
  Defaults d{1, "x", 3};
  ASSERT_TRUE(json::decode(std::string_view(R"({"b":"y"})"), d));
  EXPECT_EQ(d, (Defaults{7, "y", std::nullopt}));
  ASSERT_TRUE(json::decode(std::string_view(R"({"c":null,"a":2})"), d));
  EXPECT_EQ(d, (Defaults{2, "b", std::nullopt}));
  // A skipped value is checked as strictly as the rest.
  EXPECT_EQ(error_of<Person>(R"({"x":[1,}]})"),
            "json: at byte 8: person: expected a value, found '}'");
  EXPECT_EQ(error_of<Person>(R"({"x":"\q"})"), "json: at byte 6: person: invalid escape \\'q'");
  EXPECT_EQ(error_of<Person>(R"({"x":tru})"),
            "json: at byte 5: truncated or misspelt: person: true or false");
}

TEST(Json, DuplicateKeysAreErrors) {
  EXPECT_EQ(error_of<Person>(R"({"name":"a","year":1,"name":"b"})"),
            "json: at byte 21: person: duplicate key \"name\"");
  EXPECT_EQ(error_of<Everything>(R"({"counts":{"a":1,"b":2,"a":3}})"),
            "json: at byte 23: counts: duplicate key \"a\"");
  EXPECT_EQ(error_of<Everything>(R"({"names":{"1":"a","01":"b"}})"),
            "json: at byte 18: names: map key \"01\" is not an integer of the key's type");
  EXPECT_EQ(error_of<Everything>(R"({"names":{"1":"a","1":"b"}})"),
            "json: at byte 18: names: duplicate key \"1\"");
}

// ---------------------------------------------------------------------------
// Hostile and broken input.

TEST(Json, WrongTypesNameFieldAndOffset) {
  EXPECT_EQ(error_of<Person>(R"({"name":1})"),
            "json: at byte 8: name: expected a string, found a number");
  EXPECT_EQ(error_of<Person>(R"({"year":"MCMLXXXIV"})"),
            "json: at byte 8: year: expected an integer, found a string");
  EXPECT_EQ(error_of<Person>(R"({"year":"1984"})"), "");  // as protobuf may write it
  EXPECT_EQ(error_of<Person>(R"({"year":null})"),
            "json: at byte 8: year: expected an integer, found null");
  EXPECT_EQ(error_of<Person>(R"([])"),
            "json: at byte 0: person: expected an object, found an array");
  EXPECT_EQ(error_of<Everything>(R"({"flag":1})"),
            "json: at byte 8: flag: expected true or false, found a number");
  EXPECT_EQ(error_of<Everything>(R"({"numbers":{}})"),
            "json: at byte 11: numbers: expected an array, found an object");
  EXPECT_EQ(error_of<Everything>(R"({"origin":[]})"),
            "json: at byte 10: origin: expected an object, found an array");
  EXPECT_EQ(error_of<Everything>(R"({"position":[1,2]})"),
            "json: at byte 16: position: expected 3 elements, found 2");
  EXPECT_EQ(error_of<Everything>(R"({"position":[1,2,3,4]})"),
            "json: at byte 19: position: expected ']': 3 elements, found a number");
  EXPECT_EQ(error_of<Person>(R"({name:1})"),
            "json: at byte 1: person: expected a key string, found 'n'");
  EXPECT_EQ(error_of<Person>(R"({"name" 1})"),
            "json: at byte 8: person: expected ':' after the key, found a number");
  EXPECT_EQ(error_of<Person>(R"({"name":"a",})"),
            "json: at byte 12: person: expected a key string, found '}'");
}

TEST(Json, EveryTruncationIsAnError) {
  for (bool pretty : {false, true}) {
    std::string t = text_of(examples::make_everything(), {.pretty = pretty});
    for (std::size_t n = 0; n < t.size(); ++n) {
      auto r = json::decode<Everything>(std::string_view(t).substr(0, n));
      ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
      EXPECT_NE(r.error().message().find("json: at byte "), std::string::npos);
    }
  }
  EXPECT_EQ(error_of<Person>(""),
            "json: at byte 0: truncated: person: a value is expected, the input ends");
  EXPECT_EQ(error_of<Person>(R"({"name":"Smi)"),
            "json: at byte 12: truncated: name: a string has no closing quote");
}

TEST(Json, TrailingTextIsAnError) {
  EXPECT_EQ(error_of<Person>("{} \n\t\r "), "");
  EXPECT_EQ(error_of<Person>("{} x"), "json: at byte 3: unexpected 'x' after the value");
  EXPECT_EQ(error_of<Person>("{}{}"), "json: at byte 2: unexpected an object after the value");
}

TEST(Json, InvalidUtf8AndBadEscapesAreErrors) {
  EXPECT_EQ(error_of<Text>("{\"s\":\"ab\xc3\"}"), "json: at byte 8: s: invalid UTF-8 in a string");
  EXPECT_EQ(error_of<Text>("{\"s\":\"abcdefghijklmn\xed\xa0\x80\"}"),
            "json: at byte 20: s: invalid UTF-8 in a string");  // an encoded surrogate
  EXPECT_EQ(error_of<Text>("{\"s\":\"\xc0\xaf\"}"),
            "json: at byte 6: s: invalid UTF-8 in a string");
  EXPECT_EQ(error_of<Text>("{\"s\":\"a\\n\xff\"}"),
            "json: at byte 9: s: invalid UTF-8 in a string");
  EXPECT_EQ(error_of<Text>("{\"x\xfe\":1}"), "json: at byte 3: text: invalid UTF-8 in a string");
  EXPECT_EQ(error_of<Text>(R"({"s":"\ud800"})"),
            "json: at byte 6: s: a high surrogate \\u escape not followed by a low one");
  EXPECT_EQ(error_of<Text>(R"({"s":"\ud800\u0041"})"),
            "json: at byte 6: s: a high surrogate \\u escape not followed by a low one");
  EXPECT_EQ(error_of<Text>(R"({"s":"\udc00"})"),
            "json: at byte 6: s: a low surrogate \\u escape without a high one before it");
  EXPECT_EQ(error_of<Text>(R"({"s":"\u12G4"})"),
            "json: at byte 6: s: a \\u escape needs 4 hex digits");
  EXPECT_EQ(error_of<Text>(R"({"s":"\x"})"), "json: at byte 6: s: invalid escape \\'x'");
  EXPECT_EQ(error_of<Text>("{\"s\":\"a\tb\"}"),
            "json: at byte 7: s: control character byte 09 must be escaped in a string");
}

TEST(Json, NestingDeeperThanTheLimitIsRefused) {
  // 100,000 levels, as a described type and as an unknown key: no stack overflow.
  std::string deep(100000, '[');
  EXPECT_EQ(error_of<Person>(R"({"x":)" + deep),
            "json: at byte 69: nesting exceeds limit max_depth = 64");
  std::string nested;
  for (int i = 0; i < 100000; ++i)
    nested += R"({"children":[)";
  auto r = json::decode<Deep>(nested);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::too_large);
  EXPECT_NE(r.error().message().find("nesting exceeds limit max_depth = 64"), std::string::npos);
  std::string ok;
  for (int i = 0; i < 31; ++i)
    ok += R"({"children":[)";
  ok += "{}";
  for (int i = 0; i < 31; ++i)
    ok += "]}";
  EXPECT_EQ(error_of<Deep>(ok), "");
  EXPECT_NE(error_of<Deep>(ok, Limits{.max_depth = 62}).find("max_depth = 62"), std::string::npos);
}

TEST(Json, LimitsOnStringsAndElements) {
  EXPECT_EQ(error_of<Person>(R"({"name":"abcdefghi"})", Limits{.max_string = 8}),
            "json: at byte 8: name string length 9 exceeds limit max_string = 8");
  EXPECT_EQ(error_of<Person>(R"({"name":"abc\ndefgh"})", Limits{.max_string = 8}),
            "json: at byte 14: name string length 9 exceeds limit max_string = 8");
  EXPECT_EQ(error_of<Everything>(R"({"numbers":[1,2,3]})", Limits{.max_elements = 2}),
            "json: at byte 16: numbers element count exceeds limit max_elements = 2");
  EXPECT_EQ(error_of<Person>("{}   ", Limits{.max_bytes = 4}),
            "json: at byte 0: input of 5 bytes exceeds limit max_bytes = 4");
}

TEST(Json, LargeRoundTripsIntoAReusedObject) {
  Large large = examples::make_large();
  std::string t = text_of(large);
  Large into = examples::make_large();
  into.records.resize(70);
  into.samples.resize(3);
  ASSERT_TRUE(json::decode(std::string_view(t), into));
  EXPECT_EQ(into, large);
}

TEST(Json, AnnotationsNameKeysValuesAndPunctuation) {
  AnnotatedBuffer a;
  json::encode(examples::make_person(), a);
  EXPECT_EQ(a.text(), text_of(examples::make_person()));
  std::string dump = annotated_dump(a.bytes(), a.notes());
  EXPECT_NE(dump.find("tag       name  |\"name\"|"), std::string::npos) << dump;
  EXPECT_NE(dump.find("value     year  |1984|"), std::string::npos) << dump;
  EXPECT_NE(dump.find("markup"), std::string::npos) << dump;
}

TEST(Json, WarmBufferEncodesWithoutGrowing) {
  Buffer b;
  json::encode(examples::make_large(), b);
  std::size_t capacity = b.capacity();
  const std::byte* data = b.data();
  b.clear();
  json::encode(examples::make_large(), b);
  EXPECT_EQ(b.capacity(), capacity);
  EXPECT_EQ(b.data(), data);
}

}  // namespace
}  // namespace nexo::wire
