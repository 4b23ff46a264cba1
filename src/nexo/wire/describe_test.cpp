#include "nexo/wire/describe.hpp"

#include <gtest/gtest.h>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/examples.hpp"

namespace nexo::wire {
namespace {

using examples::Everything;
using examples::Person;

TEST(Describe, PersonHasThreeFieldsNumberedByPosition) {
  static_assert(Described<Person>);
  static_assert(field_count<Person> == 3);
  static_assert(field_of<Person, 0>.name == "name");
  static_assert(field_of<Person, 2>.number == 3);
  static_assert(description_of<Person>.java_class.name == "Person");
  Person p{"Smith", "London", 1984};
  EXPECT_EQ((field_of<Person, 1>.get(p)), "London");
  (field_of<Person, 2>.get(p)) = 2000;
  EXPECT_EQ(p.year, 2000);
}

struct Numbered {
  std::int32_t a = 0;
  std::int64_t b = 0;
  std::string c;
};
constexpr auto nexo_wire_describe(const Numbered*) {
  return describe<Numbered>("numbered")
      .field("a", &Numbered::a, 7, sint)
      .field("b", &Numbered::b, fixed)
      .field("c", &Numbered::c, 536870911, attribute);
}

TEST(Describe, ExplicitNumbersAndOptions) {
  static_assert(field_of<Numbered, 0>.number == 7);
  static_assert(field_of<Numbered, 0>.has(sint));
  static_assert(!field_of<Numbered, 0>.has(fixed));
  static_assert(field_of<Numbered, 1>.number == 2);
  static_assert(field_of<Numbered, 1>.has(fixed));
  static_assert(field_of<Numbered, 2>.number == 536870911);
  static_assert(field_of<Numbered, 2>.has(attribute));
  static_assert(description_of<Numbered>.java_class.name.empty());
}

TEST(Describe, WalksFieldsInOrderAndStopsEarly) {
  std::vector<std::string_view> names;
  for_each_field<Everything>([&](auto i) { names.push_back(field_of<Everything, i.value>.name); });
  ASSERT_EQ(names.size(), field_count<Everything>);
  EXPECT_EQ(names.front(), "flag");
  EXPECT_EQ(names.back(), "path");
  int calls = 0;
  bool all = all_fields<Everything>([&](auto) { return ++calls < 3; });
  EXPECT_FALSE(all);
  EXPECT_EQ(calls, 3);
}

TEST(Describe, ClassifiesValueKinds) {
  static_assert(Scalar<bool> && Scalar<double> && Scalar<examples::Color>);
  static_assert(String<std::string> && !Vector<std::string>);
  static_assert(Blob<ByteBuffer> && !Vector<ByteBuffer>);
  static_assert(Vector<std::vector<int>> && Array<std::array<int, 2>>);
  static_assert(Map<std::map<std::string, int>> && Map<std::map<std::int64_t, Person>>);
  static_assert(!Map<std::map<double, int>>);
  static_assert(is_wire_type<Everything>());
  static_assert(!is_wire_type<std::map<double, int>>());
  static_assert(!is_wire_type<int*>());
  static_assert(is_wire_type<std::shared_ptr<Person>>());
}

TEST(Buffer, GrowsKeepsCapacityOnClear) {
  Buffer b;
  b.append("hello");
  b.push_back(' ');
  std::memcpy(b.extend(5), "world", 5);
  EXPECT_EQ(b.text(), "hello world");
  auto cap = b.capacity();
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), cap);
  std::string big(10000, 'x');
  b.append(big);
  EXPECT_EQ(b.text(), big);
  Buffer moved(std::move(b));
  EXPECT_EQ(moved.size(), big.size());
  EXPECT_EQ(b.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
}

TEST(Buffer, AnnotatedDumpPrintsEachNote) {
  AnnotatedBuffer b;
  b.append("\0\0\0\6", 4);
  b.note(0, Part::length, "name length");
  std::size_t at = b.size();
  b.append("Smith\0", 6);
  b.note(at, Part::value, "name");
  at = b.size();
  b.append("\0\0", 2);
  b.note(at, Part::padding);
  b.append("\x07", 1);  // not noted
  std::string dump = annotated_dump(b.bytes(), b.notes());
  EXPECT_NE(dump.find("000000  00 00 00 06"), std::string::npos) << dump;
  EXPECT_NE(dump.find("length  name length"), std::string::npos) << dump;
  EXPECT_NE(dump.find("|Smith.|"), std::string::npos) << dump;
  EXPECT_NE(dump.find("padding"), std::string::npos) << dump;
  EXPECT_NE(dump.find("00000c  07"), std::string::npos) << dump;
}

TEST(Decode, Utf8Validation) {
  EXPECT_EQ(utf8_invalid_at("plain ascii text, long enough for the fast path"), 47u);
  std::string good = "Gr\xc3\xbc\xc3\x9f\x65 \xe2\x82\xac \xf0\x9f\x98\x80";
  EXPECT_EQ(utf8_invalid_at(good), good.size());
  EXPECT_EQ(utf8_invalid_at("ab\xc0\xaf"), 2u);         // overlong '/'
  EXPECT_EQ(utf8_invalid_at("\xed\xa0\x80"), 0u);       // surrogate U+D800
  EXPECT_EQ(utf8_invalid_at("x\xf4\x90\x80\x80"), 1u);  // beyond U+10FFFF
  EXPECT_EQ(utf8_invalid_at("xy\xe2\x82"), 2u);         // truncated
  EXPECT_EQ(utf8_invalid_at("\x80"), 0u);               // lone continuation
  EXPECT_EQ(utf8_invalid_at("abc\xff"), 3u);
}

TEST(Decode, StateChecksCountsAgainstBytesLeft) {
  std::byte input[10]{};
  Limits limits;
  DecodeState st(input, limits);
  EXPECT_TRUE(st.check_count(10, 1, "seq"));
  EXPECT_FALSE(st.check_count(11, 1, "seq"));
  EXPECT_EQ(st.error.reason, "seq count 11 runs past the end (10 bytes left)");
  DecodeState st2(input, Limits{.max_elements = 3});
  EXPECT_FALSE(st2.check_count(4, 1, "seq"));
  EXPECT_EQ(st2.error.kind, ErrorKind::too_large);
  EXPECT_EQ(st2.error.to_error("cdr").message(),
            "cdr: at byte 0: seq count 4 exceeds limit max_elements = 3");
}

}  // namespace
}  // namespace nexo::wire
