#include "nexo/wire/remote_ref.hpp"

#include <gtest/gtest.h>

#include "nexo/wire/cdr.hpp"
#include "nexo/wire/text.hpp"

namespace nexo::wire {
namespace {

TEST(RemoteObjectRef, MakesPrintsAndParsesIPv4) {
  auto ref = RemoteObjectRef::make("138.37.94.248", 1045, 1764000000, 7, "Person");
  ASSERT_TRUE(ref) << ref.error().to_string();
  EXPECT_EQ(ref->address.size(), 4u);
  EXPECT_EQ(ref->to_string(), "ref:138.37.94.248:1045/1764000000/7/Person");
  auto back = RemoteObjectRef::parse(ref->to_string());
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, *ref);
}

TEST(RemoteObjectRef, MakesPrintsAndParsesIPv6) {
  auto ref = RemoteObjectRef::make("::1", 1099, 0, 4294967295u, "ShapeList");
  ASSERT_TRUE(ref) << ref.error().to_string();
  EXPECT_EQ(ref->to_string(), "ref:[::1]:1099/0/4294967295/ShapeList");
  auto back = RemoteObjectRef::parse(ref->to_string());
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, *ref);
}

TEST(RemoteObjectRef, RefusesBadParts) {
  EXPECT_FALSE(RemoteObjectRef::make("not-an-address", 1, 0, 0, "X"));
  EXPECT_FALSE(RemoteObjectRef::make("127.0.0.1", 65536, 0, 0, "X"));
  EXPECT_FALSE(RemoteObjectRef::make("127.0.0.1", 1, 0, 0, ""));
  EXPECT_FALSE(RemoteObjectRef::make("127.0.0.1", 1, 0, 0, "a/b"));
  for (const char* text :
       {"", "ref:", "ref:127.0.0.1", "ref:127.0.0.1:80", "ref:127.0.0.1:80/1/2",
        "ref:127.0.0.1:80/1/2/", "ref:127.0.0.1:x/1/2/I", "ref:127.0.0.1:80/99999999999/2/I",
        "ref:[::1:80/1/2/I", "reff:127.0.0.1:80/1/2/I", "ref:127.0.0.1:-1/1/2/I"}) {
    auto r = RemoteObjectRef::parse(text);
    EXPECT_FALSE(r) << text;
    if (!r) {
      EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    }
  }
  auto r = RemoteObjectRef::parse("ref:127.0.0.1:80/1/2");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("too few '/'-separated parts"), std::string::npos);
}

TEST(RemoteObjectRef, MarshalsInCdrAsTheChaptersFiveWords) {
  auto ref = RemoteObjectRef::make("127.0.0.1", 1099, 0x01020304, 9, "Person");
  ASSERT_TRUE(ref);
  Buffer b;
  cdr::encode(*ref, b, cdr::Endian::big);
  const std::vector<std::uint8_t> want = {
      0, 0, 0,    4,    127, 0,   0,   1,                  // address: sequence<octet> of 4
      0, 0, 0x04, 0x4b,                                    // port 1099
      1, 2, 3,    4,                                       // time
      0, 0, 0,    9,                                       // object number
      0, 0, 0,    7,    'P', 'e', 'r', 's', 'o', 'n', 0};  // interface
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  EXPECT_EQ(std::vector<std::uint8_t>(p, p + b.size()), want);
  auto back = cdr::decode<RemoteObjectRef>(b.bytes(), cdr::Endian::big);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *ref);
  EXPECT_TRUE(back->validate());
}

TEST(Text, PrintsNestedValuesForPeople) {
  auto ref = RemoteObjectRef::make("127.0.0.1", 1099, 5, 9, "Person");
  ASSERT_TRUE(ref);
  EXPECT_EQ(to_text(*ref),
            "remote_object_ref {\n"
            "  address: 0x7f000001\n"
            "  port: 1099\n"
            "  time: 5\n"
            "  object_number: 9\n"
            "  interface_name: \"Person\"\n"
            "}\n");
}

}  // namespace
}  // namespace nexo::wire
