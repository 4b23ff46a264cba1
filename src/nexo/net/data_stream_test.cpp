#include "nexo/net/data_stream.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "nexo/net/data_stream_test_util.hpp"

namespace nexo::net {
namespace {

using namespace std::chrono_literals;
using testing::hex;

// Bytes → "01 02 FF" (readable failures).
std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (std::byte b : bytes) {
    if (!out.empty()) out += ' ';
    auto v = std::to_integer<unsigned>(b);
    out += kDigits[v >> 4];
    out += kDigits[v & 0xF];
  }
  return out;
}

std::string written(const std::function<void(DataWriter&)>& write) {
  DataWriter writer;
  write(writer);
  return to_hex(writer.bytes());
}

std::string utf_bytes(std::string_view utf8) {
  DataWriter writer;
  auto result = writer.write_utf(utf8);
  EXPECT_TRUE(result) << result.error().to_string();
  return to_hex(writer.bytes());
}

// ---- golden bytes: what Java's DataOutputStream writes ----

TEST(DataStreamWrite, BooleanAndByte) {
  EXPECT_EQ(written([](auto& w) { w.write_boolean(true); }), "01");
  EXPECT_EQ(written([](auto& w) { w.write_boolean(false); }), "00");
  EXPECT_EQ(written([](auto& w) { w.write_byte(-1); }), "FF");
  EXPECT_EQ(written([](auto& w) { w.write_byte(127); }), "7F");
  EXPECT_EQ(written([](auto& w) { w.write_byte(-128); }), "80");
}

TEST(DataStreamWrite, ShortAndChar) {
  EXPECT_EQ(written([](auto& w) { w.write_short(0x0102); }), "01 02");
  EXPECT_EQ(written([](auto& w) { w.write_short(-2); }), "FF FE");
  EXPECT_EQ(written([](auto& w) { w.write_short(std::numeric_limits<std::int16_t>::min()); }),
            "80 00");
  EXPECT_EQ(written([](auto& w) { w.write_char(u'\u00E9'); }), "00 E9");
  EXPECT_EQ(written([](auto& w) { w.write_char(u'\uFFFF'); }), "FF FF");
}

TEST(DataStreamWrite, Int) {
  EXPECT_EQ(written([](auto& w) { w.write_int(0x01020304); }), "01 02 03 04");
  EXPECT_EQ(written([](auto& w) { w.write_int(-1); }), "FF FF FF FF");
  EXPECT_EQ(written([](auto& w) { w.write_int(std::numeric_limits<std::int32_t>::min()); }),
            "80 00 00 00");
  EXPECT_EQ(written([](auto& w) { w.write_int(std::numeric_limits<std::int32_t>::max()); }),
            "7F FF FF FF");
}

TEST(DataStreamWrite, Long) {
  EXPECT_EQ(written([](auto& w) { w.write_long(0x0102030405060708); }), "01 02 03 04 05 06 07 08");
  EXPECT_EQ(written([](auto& w) { w.write_long(std::numeric_limits<std::int64_t>::min()); }),
            "80 00 00 00 00 00 00 00");
  EXPECT_EQ(written([](auto& w) { w.write_long(std::numeric_limits<std::int64_t>::max()); }),
            "7F FF FF FF FF FF FF FF");
  EXPECT_EQ(written([](auto& w) { w.write_long(-1); }), "FF FF FF FF FF FF FF FF");
}

TEST(DataStreamWrite, Float) {
  auto f = [](float v) { return written([v](auto& w) { w.write_float(v); }); };
  EXPECT_EQ(f(1.0f), "3F 80 00 00");
  EXPECT_EQ(f(-0.0f), "80 00 00 00");
  EXPECT_EQ(f(0.1f), "3D CC CC CD");
  EXPECT_EQ(f(std::numeric_limits<float>::infinity()), "7F 80 00 00");
  EXPECT_EQ(f(-std::numeric_limits<float>::infinity()), "FF 80 00 00");
  EXPECT_EQ(f(std::numeric_limits<float>::denorm_min()), "00 00 00 01");
  // Float.floatToIntBits: every NaN, whatever its sign and payload, is 0x7fc00000.
  EXPECT_EQ(f(std::numeric_limits<float>::quiet_NaN()), "7F C0 00 00");
  EXPECT_EQ(f(std::bit_cast<float>(0x7f800001u)), "7F C0 00 00");
  EXPECT_EQ(f(std::bit_cast<float>(0xffc12345u)), "7F C0 00 00");
}

TEST(DataStreamWrite, Double) {
  auto d = [](double v) { return written([v](auto& w) { w.write_double(v); }); };
  EXPECT_EQ(d(1.0), "3F F0 00 00 00 00 00 00");
  EXPECT_EQ(d(-0.0), "80 00 00 00 00 00 00 00");
  EXPECT_EQ(d(0.1), "3F B9 99 99 99 99 99 9A");
  EXPECT_EQ(d(std::numeric_limits<double>::max()), "7F EF FF FF FF FF FF FF");
  EXPECT_EQ(d(-std::numeric_limits<double>::infinity()), "FF F0 00 00 00 00 00 00");
  EXPECT_EQ(d(std::numeric_limits<double>::quiet_NaN()), "7F F8 00 00 00 00 00 00");
  EXPECT_EQ(d(std::bit_cast<double>(0xfff0000000000001ull)), "7F F8 00 00 00 00 00 00");
  EXPECT_EQ(d(-std::numeric_limits<double>::quiet_NaN()), "7F F8 00 00 00 00 00 00");
}

TEST(DataStreamWrite, RawBytesAndBufferManagement) {
  DataWriter writer;
  writer.write_bytes(hex("DE AD BE EF"));
  writer.write_bytes({});
  writer.write_int(1);
  EXPECT_EQ(to_hex(writer.bytes()), "DE AD BE EF 00 00 00 01");
  EXPECT_EQ(writer.size(), 8u);
  writer.clear();
  EXPECT_EQ(writer.size(), 0u);
  EXPECT_TRUE(writer.bytes().empty());
}

TEST(DataStreamWrite, Utf) {
  EXPECT_EQ(utf_bytes(""), "00 00");
  EXPECT_EQ(utf_bytes("Hello"), "00 05 48 65 6C 6C 6F");
  EXPECT_EQ(utf_bytes("Asunción"), "00 09 41 73 75 6E 63 69 C3 B3 6E");
  EXPECT_EQ(utf_bytes(std::string_view("a\0b", 3)), "00 04 61 C0 80 62");
  EXPECT_EQ(utf_bytes(std::string_view("\0", 1)), "00 02 C0 80");
  EXPECT_EQ(utf_bytes("😀"), "00 06 ED A0 BD ED B8 80");
  EXPECT_EQ(utf_bytes("€"), "00 03 E2 82 AC");
  EXPECT_EQ(utf_bytes("\u007F\u0080"), "00 03 7F C2 80");
  EXPECT_EQ(utf_bytes("\u07FF\u0800"), "00 05 DF BF E0 A0 80");
  EXPECT_EQ(utf_bytes("\uD7FF\uE000\uFFFF"), "00 09 ED 9F BF EE 80 80 EF BF BF");
  EXPECT_EQ(utf_bytes("\U00010000"), "00 06 ED A0 80 ED B0 80");
  EXPECT_EQ(utf_bytes("\U0010FFFF"), "00 06 ED AF BF ED BF BF");
}

TEST(DataStreamWrite, UtfLengthLimit) {
  DataWriter writer;
  writer.write_int(7);
  ASSERT_TRUE(writer.write_utf(std::string(65535, 'x')));
  EXPECT_EQ(writer.size(), 4u + 2u + 65535u);
  EXPECT_EQ(to_hex(writer.bytes().subspan(4, 3)), "FF FF 78");

  writer.clear();
  writer.write_int(7);
  auto too_long = writer.write_utf(std::string(65536, 'x'));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().kind(), ErrorKind::too_large);
  EXPECT_NE(too_long.error().message().find("65536"), std::string::npos);
  EXPECT_NE(too_long.error().message().find("65535"), std::string::npos);
  EXPECT_EQ(to_hex(writer.bytes()), "00 00 00 07");  // nothing appended

  // The limit is on the encoded form: 32,768 NULs are 65,536 bytes (C0 80 each).
  auto nuls = writer.write_utf(std::string(32768, '\0'));
  ASSERT_FALSE(nuls);
  EXPECT_EQ(nuls.error().kind(), ErrorKind::too_large);
  EXPECT_NE(nuls.error().message().find("65536"), std::string::npos);
  EXPECT_TRUE(writer.write_utf(std::string(32767, '\0') + "x"));

  std::string euros;
  for (int i = 0; i < 21845; ++i)
    euros += "€";  // 3 bytes each: 65,535
  EXPECT_TRUE(writer.write_utf(euros));
  std::string faces = "abc";
  for (int i = 0; i < 10922; ++i)
    faces += "😀";  // 4 bytes in UTF-8, 6 in modified: 65,535
  EXPECT_TRUE(writer.write_utf(faces));
  std::size_t before = writer.size();
  auto face_error = writer.write_utf(faces + "d");
  ASSERT_FALSE(face_error);
  EXPECT_NE(face_error.error().message().find("65536"), std::string::npos);
  EXPECT_EQ(writer.size(), before);
}

struct InvalidUtf8 {
  std::string input;
  std::size_t offset;
  std::string reason;
};

TEST(DataStreamWrite, RejectsInvalidUtf8) {
  const std::vector<InvalidUtf8> cases = {
      {"ab\x80", 2, "unexpected continuation byte"},
      {"\xBF", 0, "unexpected continuation byte"},
      {"\xC0\xAF", 0, "overlong"},
      {"x\xC1\xBF", 1, "overlong"},
      {"\xE0\x80\xAF", 0, "overlong"},
      {"\xE0\x9F\xBF", 0, "overlong"},
      {"\xF0\x80\x80\xAF", 0, "overlong"},
      {"\xF0\x8F\xBF\xBF", 0, "overlong"},
      {"abc\xED\xA0\x80", 3, "surrogate"},
      {"\xED\xBF\xBF", 0, "surrogate"},
      {"\xED\xA0\xBD\xED\xB8\x80", 0, "surrogate"},  // CESU-8 is not UTF-8
      {"\xF4\x90\x80\x80", 0, "above U+10FFFF"},
      {"\xF5\x80\x80\x80", 0, "above U+10FFFF"},
      {"\xF8\x88\x80\x80\x80", 0, "0xF8..0xFF"},
      {"\xFF", 0, "0xF8..0xFF"},
      {"a\xE2\x82", 1, "truncated"},
      {"\xF0\x9F\x98", 0, "truncated"},
      {"\xC3", 0, "truncated"},
      {"\xE2\x28\xA1", 0, "bad continuation byte"},
      {"\xC3\x41", 0, "bad continuation byte"},
      {"ok\xF0\x9F\x98\x80\xC3(", 6, "bad continuation byte"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(to_hex(as_bytes(c.input)));
    Bytes out = hex("AA");
    auto appended = append_modified_utf8(c.input, out);
    ASSERT_FALSE(appended);
    EXPECT_EQ(appended.error().kind(), ErrorKind::invalid_argument);
    const std::string& message = appended.error().message();
    EXPECT_NE(message.find("byte offset " + std::to_string(c.offset) + ":"), std::string::npos)
        << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
    EXPECT_EQ(to_hex(out), "AA");

    DataWriter writer;
    writer.write_byte(1);
    auto utf = writer.write_utf(c.input);
    ASSERT_FALSE(utf);
    EXPECT_EQ(utf.error().kind(), ErrorKind::invalid_argument);
    EXPECT_EQ(utf.error().message(), "write_utf: " + message);
    EXPECT_EQ(to_hex(writer.bytes()), "01");
  }
}

TEST(DataStreamWrite, AppendModifiedUtf8AppendsWithoutLength) {
  Bytes out = hex("AA");
  ASSERT_TRUE(append_modified_utf8(std::string_view("A\0\u00E9😀", 8), out));
  EXPECT_EQ(to_hex(out), "AA 41 C0 80 C3 A9 ED A0 BD ED B8 80");
  ASSERT_TRUE(append_modified_utf8("", out));
  EXPECT_EQ(out.size(), 12u);
}

TEST(DataStreamWrite, FlushWithoutStreamIsInvalidArgument) {
  DataWriter writer;
  writer.write_int(5);
  auto flushed = writer.flush();
  ASSERT_FALSE(flushed);
  EXPECT_EQ(flushed.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(writer.size(), 4u);  // kept
}

// ---- modified UTF-8 decoding ----

TEST(DataStreamUtf, DecodesModifiedUtf8) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"41 73 75 6E 63 69 C3 B3 6E", "Asunción"},
      {"61 C0 80 62", std::string("a\0b", 3)},
      {"ED A0 BD ED B8 80", "😀"},
      {"ED A0 80 ED B0 80", "\U00010000"},
      {"ED AF BF ED BF BF", "\U0010FFFF"},
      {"7F C2 80 DF BF E0 A0 80 EF BF BF", "\u007F\u0080\u07FF\u0800\uFFFF"},
  };
  for (const auto& [input, expected] : cases) {
    SCOPED_TRACE(input);
    auto decoded = decode_modified_utf8(hex(input));
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(*decoded, expected);
  }
}

TEST(DataStreamUtf, UnpairedSurrogatesDecodeAsWtf8) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ED A0 BD", "\xED\xA0\xBD"},  // lone high surrogate
      {"ED B8 80", "\xED\xB8\x80"},  // lone low surrogate
      {"ED A0 BD 41",
       "\xED\xA0\xBD"
       "A"},                                              // high, then not a low
      {"ED B8 80 ED A0 BD", "\xED\xB8\x80\xED\xA0\xBD"},  // low before high: no pair
      {"ED A0 BD ED A0 BD ED B8 80", "\xED\xA0\xBD\xF0\x9F\x98\x80"},
  };
  for (const auto& [input, expected] : cases) {
    SCOPED_TRACE(input);
    auto decoded = decode_modified_utf8(hex(input));
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(to_hex(as_bytes(*decoded)), to_hex(as_bytes(expected)));
  }
}

TEST(DataStreamUtf, RejectsMalformedModifiedUtf8) {
  // Java's readUTF accepts a raw 00 byte and overlong forms; nexo accepts only the
  // C0 80 that writeUTF emits, so a string has one encoding.
  const std::vector<InvalidUtf8> cases = {
      {"00", 0, "NUL byte"},
      {"61 00", 1, "NUL byte"},
      {"80", 0, "unexpected continuation byte"},
      {"61 BF", 1, "unexpected continuation byte"},
      {"F0 9F 98 80", 0, "no 4-byte forms"},
      {"FF", 0, "no 4-byte forms"},
      {"C3", 0, "truncated"},
      {"61 E2 82", 1, "truncated"},
      {"C3 41", 0, "bad continuation byte"},
      {"E2 28 A1", 0, "bad continuation byte"},
      {"E2 82 28", 0, "bad continuation byte"},
      {"C0 AF", 0, "overlong"},
      {"C1 81", 0, "overlong"},
      {"C0 80 C0 81", 2, "overlong"},
      {"E0 80 80", 0, "overlong"},
      {"E0 9F BF", 0, "overlong"},
      {"ED A0 BD 00", 3, "NUL byte"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto decoded = decode_modified_utf8(hex(c.input));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().kind(), ErrorKind::malformed);
    const std::string& message = decoded.error().message();
    EXPECT_NE(message.find("byte offset " + std::to_string(c.offset) + ":"), std::string::npos)
        << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
  }
}

// A random code point: ASCII (NUL included), 2-byte, 3-byte (no surrogates) or supplementary.
char32_t random_code_point(std::mt19937& rng) {
  switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
    case 0:
      return std::uniform_int_distribution<char32_t>(0, 0x7F)(rng);
    case 1:
      return std::uniform_int_distribution<char32_t>(0x80, 0x7FF)(rng);
    case 2: {
      char32_t cp = std::uniform_int_distribution<char32_t>(0x800, 0xFFFF - 0x800)(rng);
      return cp >= 0xD800 ? cp + 0x800 : cp;
    }
    default:
      return std::uniform_int_distribution<char32_t>(0x10000, 0x10FFFF)(rng);
  }
}

// Reference encoders, written independently of the implementation.
void push_utf8(std::string& out, char32_t cp) {
  auto put = [&](unsigned v) { out.push_back(static_cast<char>(v)); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | (cp >> 6)), put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | (cp >> 12)), put(0x80 | ((cp >> 6) & 0x3F)), put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | (cp >> 18)), put(0x80 | ((cp >> 12) & 0x3F));
    put(0x80 | ((cp >> 6) & 0x3F)), put(0x80 | (cp & 0x3F));
  }
}

// Java's writeUTF body: per UTF-16 unit, U+0000 as C0 80.
Bytes java_modified_utf8(const std::u32string& text) {
  std::u16string units;
  for (char32_t cp : text) {
    if (cp < 0x10000) {
      units.push_back(static_cast<char16_t>(cp));
    } else {
      units.push_back(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
      units.push_back(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
    }
  }
  std::string out;
  for (char16_t unit : units) {
    if (unit == 0) {
      out += "\xC0\x80";
    } else {
      push_utf8(out, unit);
    }
  }
  return to_bytes(out);
}

TEST(DataStreamUtf, RandomStringsMatchJavaAndRoundTrip) {
  std::mt19937 rng(20240611);
  for (int round = 0; round < 2000; ++round) {
    std::u32string text(std::uniform_int_distribution<int>(0, 40)(rng), U'\0');
    for (char32_t& cp : text)
      cp = random_code_point(rng);
    std::string utf8;
    for (char32_t cp : text)
      push_utf8(utf8, cp);
    Bytes expected = java_modified_utf8(text);

    DataWriter writer;
    ASSERT_TRUE(writer.write_utf(utf8));
    ASSERT_EQ(writer.size(), 2 + expected.size());
    ASSERT_EQ(to_hex(writer.bytes().subspan(2)), to_hex(expected)) << "round " << round;

    DataReader reader(writer.bytes());
    auto back = reader.read_utf();
    ASSERT_TRUE(back) << back.error().to_string();
    ASSERT_EQ(*back, utf8) << "round " << round;
    EXPECT_EQ(reader.offset(), writer.size());
  }
}

// ---- DataReader over memory ----

TEST(DataStreamRead, RoundTripsEveryType) {
  DataWriter w;
  w.write_boolean(true);
  w.write_boolean(false);
  w.write_byte(-128);
  w.write_short(std::numeric_limits<std::int16_t>::min());
  w.write_char(u'\uFFFE');
  w.write_int(std::numeric_limits<std::int32_t>::min());
  w.write_long(std::numeric_limits<std::int64_t>::max());
  w.write_float(-0.0f);
  w.write_double(std::numeric_limits<double>::denorm_min());
  w.write_bytes(hex("01 02 03"));
  ASSERT_TRUE(w.write_utf(std::string_view("x\0😀", 6)));
  w.write_float(std::numeric_limits<float>::quiet_NaN());
  w.write_double(-std::numeric_limits<double>::infinity());

  DataReader r(w.bytes());
  EXPECT_EQ(r.read_boolean().value(), true);
  EXPECT_EQ(r.read_boolean().value(), false);
  EXPECT_EQ(r.read_byte().value(), -128);
  EXPECT_EQ(r.read_short().value(), std::numeric_limits<std::int16_t>::min());
  EXPECT_EQ(r.read_char().value(), u'\uFFFE');
  EXPECT_EQ(r.offset(), 7u);
  EXPECT_EQ(r.read_int().value(), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(r.read_long().value(), std::numeric_limits<std::int64_t>::max());
  float negative_zero = r.read_float().value();
  EXPECT_EQ(negative_zero, 0.0f);
  EXPECT_TRUE(std::signbit(negative_zero));
  EXPECT_EQ(r.read_double().value(), std::numeric_limits<double>::denorm_min());
  Bytes raw(3);
  ASSERT_TRUE(r.read_fully(raw));
  EXPECT_EQ(to_hex(raw), "01 02 03");
  EXPECT_EQ(r.read_utf().value(), std::string("x\0😀", 6));
  EXPECT_TRUE(std::isnan(r.read_float().value()));
  EXPECT_EQ(r.read_double().value(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.offset(), w.size());

  auto end = r.read_byte();
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().kind(), ErrorKind::closed);
  EXPECT_EQ(end.error().message(),
            "read_byte at offset " + std::to_string(w.size()) + ": input ended after 0 of 1 bytes");
}

TEST(DataStreamRead, ReadsJavaBytes) {
  Bytes java =
      hex("02 FF FF FF FE 00 41 80 00 00 01 FF FF FF FF FF FF FF FE "
          "40 49 0F DB 40 09 21 FB 54 44 2D 18 00 09 41 73 75 6E 63 69 C3 B3 6E");
  DataReader r(java);
  EXPECT_EQ(r.read_boolean().value(), true);  // any non-zero byte
  EXPECT_EQ(r.read_unsigned_byte().value(), 255);
  EXPECT_EQ(r.read_byte().value(), -1);
  EXPECT_EQ(r.read_unsigned_short().value(), 0xFFFE);
  EXPECT_EQ(r.read_char().value(), u'A');
  EXPECT_EQ(r.read_int().value(), std::numeric_limits<std::int32_t>::min() + 1);
  EXPECT_EQ(r.read_long().value(), -2);
  EXPECT_EQ(r.read_float().value(), 3.14159265f);
  EXPECT_EQ(r.read_double().value(), 3.141592653589793);
  EXPECT_EQ(r.read_utf().value(), "Asunción");
  EXPECT_EQ(r.offset(), java.size());
}

TEST(DataStreamRead, EmptyItems) {
  Bytes empty_utf = hex("00 00");
  DataReader r(empty_utf);
  ASSERT_TRUE(r.read_fully({}));
  EXPECT_EQ(r.read_utf().value(), "");
  ASSERT_TRUE(r.read_fully({}));
  EXPECT_EQ(r.offset(), 2u);
  DataReader none(std::span<const std::byte>{});
  EXPECT_TRUE(none.read_fully({}));
  EXPECT_EQ(none.read_boolean().error().kind(), ErrorKind::closed);
}

struct Truncation {
  std::string what;
  std::size_t size;
  std::function<Error(DataReader&)> read;
};

template <class R>
Error error_of(R result) {
  EXPECT_FALSE(result);
  return result ? Error(ErrorKind::system, "no error") : std::move(result).error();
}

TEST(DataStreamRead, TruncatedInputForEveryRead) {
  Bytes out(5);
  const std::vector<Truncation> cases = {
      {"read_boolean", 1, [](auto& r) { return error_of(r.read_boolean()); }},
      {"read_byte", 1, [](auto& r) { return error_of(r.read_byte()); }},
      {"read_unsigned_byte", 1, [](auto& r) { return error_of(r.read_unsigned_byte()); }},
      {"read_short", 2, [](auto& r) { return error_of(r.read_short()); }},
      {"read_unsigned_short", 2, [](auto& r) { return error_of(r.read_unsigned_short()); }},
      {"read_char", 2, [](auto& r) { return error_of(r.read_char()); }},
      {"read_int", 4, [](auto& r) { return error_of(r.read_int()); }},
      {"read_long", 8, [](auto& r) { return error_of(r.read_long()); }},
      {"read_float", 4, [](auto& r) { return error_of(r.read_float()); }},
      {"read_double", 8, [](auto& r) { return error_of(r.read_double()); }},
      {"read_fully", 5, [&](auto& r) { return error_of(r.read_fully(out)); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    for (std::size_t have = 0; have < c.size; ++have) {
      Bytes input(3 + have, std::byte{0x11});
      DataReader r(input);
      Bytes prefix(3);
      ASSERT_TRUE(r.read_fully(prefix));
      Error e = c.read(r);
      EXPECT_EQ(e.kind(), ErrorKind::closed);
      EXPECT_EQ(e.message(), c.what + " at offset 3: input ended after " + std::to_string(have) +
                                 " of " + std::to_string(c.size) + " bytes");
      EXPECT_EQ(r.offset(), 3u);  // a failed read consumes nothing
    }
  }
}

TEST(DataStreamRead, TruncatedUtf) {
  Bytes one = hex("61 00");
  DataReader r1(one);
  ASSERT_TRUE(r1.read_byte());
  EXPECT_EQ(r1.read_utf().error().message(),
            "read_utf at offset 1: input ended after 1 of 2 bytes");
  // The length says 5 bytes; 3 follow (the count includes the 2-byte length).
  Bytes short_body = hex("00 05 61 62 63");
  DataReader r2(short_body);
  auto e = r2.read_utf();
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind(), ErrorKind::closed);
  EXPECT_EQ(e.error().message(), "read_utf at offset 0: input ended after 5 of 7 bytes");
  EXPECT_EQ(r2.offset(), 0u);
  EXPECT_EQ(r2.read_short().value(), 5);  // nothing was consumed
  // A huge length does not allocate or read past the input.
  Bytes huge = hex("FF FF 61");
  DataReader r3(huge);
  EXPECT_EQ(r3.read_utf().error().message(),
            "read_utf at offset 0: input ended after 3 of 65537 bytes");
}

TEST(DataStreamRead, FailedReadCanBeFollowedBySmallerRead) {
  Bytes input = hex("12 34");
  DataReader r(input);
  EXPECT_EQ(r.read_int().error().kind(), ErrorKind::closed);
  EXPECT_EQ(r.read_short().value(), 0x1234);
  EXPECT_EQ(r.offset(), 2u);
}

TEST(DataStreamRead, NeverReadsPastTheSpan) {
  Bytes memory = hex("00 03 61 62 63 41 41 41 41 41");
  DataReader r(std::span<const std::byte>(memory).first(4));  // cuts the UTF string
  auto cut = r.read_utf();
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().message(), "read_utf at offset 0: input ended after 4 of 5 bytes");
  EXPECT_EQ(r.read_int().value(), 0x00036162);
  EXPECT_EQ(r.read_byte().error().kind(), ErrorKind::closed);
}

TEST(DataStreamRead, MalformedUtfIsConsumed) {
  Bytes input = hex("00 02 C0 AF 00 00 00 07");
  DataReader r(input);
  auto bad = r.read_utf();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::malformed);
  EXPECT_EQ(bad.error().message(),
            "read_utf at offset 0: malformed modified UTF-8 at byte offset 0: overlong encoding");
  EXPECT_EQ(r.offset(), 4u);
  EXPECT_EQ(r.read_int().value(), 7);
}

TEST(DataStreamRead, LongestUtf) {
  std::string text(65533, 'z');
  text += "é";
  DataWriter w;
  ASSERT_TRUE(w.write_utf(text));
  DataReader r(w.bytes());
  EXPECT_EQ(r.read_utf().value(), text);
  EXPECT_EQ(r.offset(), 65537u);
}

}  // namespace
}  // namespace nexo::net
