#include "nexo/wire/java.hpp"

#include <gtest/gtest.h>

#include <map>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/java_test_types.hpp"

namespace nexo::wire {
namespace {

using examples::Large;
using examples::Person;
using java_test::DNode;
using java_test::Mixed;
using java_test::Node;
using java_test::Pair;

using Octets = std::vector<std::uint8_t>;

Octets octets(const Buffer& b) {
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p, p + b.size()};
}
std::span<const std::byte> view(const Octets& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}
template <class T>
Octets encoded(const T& v) {
  Buffer b;
  java::encode(v, b);
  return octets(b);
}

// A stream builder for hand-made (hostile) streams.
struct Stream {
  Octets bytes{0xac, 0xed, 0x00, 0x05};
  Stream& u8(unsigned v) {
    bytes.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Stream& u16(unsigned v) { return u8(v >> 8).u8(v); }
  Stream& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
  Stream& u64(std::uint64_t v) {
    return u32(static_cast<std::uint32_t>(v >> 32)).u32(v & 0xffffffffu);
  }
  Stream& utf(std::string_view s) {
    u16(static_cast<unsigned>(s.size()));
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  // TC_CLASSDESC name uid SC_SERIALIZABLE, then the fields (the caller adds them) .
  Stream& class_desc(std::string_view name, std::uint64_t uid, unsigned fields,
                     unsigned flags = java::SC_SERIALIZABLE) {
    return u8(java::TC_CLASSDESC).utf(name).u64(uid).u8(flags).u16(fields);
  }
  Stream& end_desc() { return u8(java::TC_ENDBLOCKDATA).u8(java::TC_NULL); }
  Stream& string(std::string_view s) { return u8(java::TC_STRING).utf(s); }
};

template <class T>
std::string decode_error(const Octets& bytes, const Limits& limits = {}) {
  T v{};
  auto r = java::decode(view(bytes), v, limits);
  return r ? std::string("(decoded)") : r.error().message();
}

// The bytes java.io.ObjectOutputStream writes for new Person("Smith", "London", 1984)
// (OpenJDK 17).
const Octets kPersonFromJava = {
    0xac, 0xed, 0x00, 0x05, 0x73, 0x72, 0x00, 0x06, 'P',  'e',  'r',  's',  'o',  'n',  0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x03, 0x49, 0x00, 0x04, 'y',  'e',  'a',  'r',
    0x4c, 0x00, 0x04, 'n',  'a',  'm',  'e',  0x74, 0x00, 0x12, 'L',  'j',  'a',  'v',  'a',  '/',
    'l',  'a',  'n',  'g',  '/',  'S',  't',  'r',  'i',  'n',  'g',  ';',  0x4c, 0x00, 0x05, 'p',
    'l',  'a',  'c',  'e',  0x71, 0x00, 0x7e, 0x00, 0x01, 0x78, 0x70, 0x00, 0x00, 0x07, 0xc0, 0x74,
    0x00, 0x05, 'S',  'm',  'i',  't',  'h',  0x74, 0x00, 0x06, 'L',  'o',  'n',  'd',  'o',  'n'};

TEST(Java, PersonIsByteForByteObjectOutputStream) {
  EXPECT_EQ(encoded(examples::make_person()), kPersonFromJava);
  auto p = java::decode<Person>(view(kPersonFromJava));
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(*p, examples::make_person());
}

TEST(Java, FieldsInJavaOrder) {
  // Primitives first, then objects, each sorted by name.
  constexpr auto order = java::detail::java_order<Large>;
  std::vector<std::string_view> names;
  for (std::size_t i : order)
    names.push_back(java::detail::class_info<Large>().declared[i].name);
  EXPECT_EQ(names, (std::vector<std::string_view>{"complete", "flags", "id", "ratio", "timestamp",
                                                  "total", "description", "records", "samples"}));
}

TEST(Java, ArraySerialVersionUidsAreTheJvms) {
  // ObjectStreamClass.lookup(double[].class).getSerialVersionUID() and so on.
  using java::detail::array_serial_version_uid;
  EXPECT_EQ(array_serial_version_uid("[D"), static_cast<std::int64_t>(0x3ea68c14ab635a1eull));
  EXPECT_EQ(array_serial_version_uid("[I"), static_cast<std::int64_t>(0x4dba602676eab2a5ull));
  EXPECT_EQ(array_serial_version_uid("[B"), static_cast<std::int64_t>(0xacf317f8060854e0ull));
  EXPECT_EQ(array_serial_version_uid("[Ljava.lang.String;"),
            static_cast<std::int64_t>(0xadd256e7e91d7b47ull));
  EXPECT_EQ(array_serial_version_uid("[LRecord;"),
            static_cast<std::int64_t>(0x3ff61ed58b981324ull));
  EXPECT_EQ(array_serial_version_uid("[[I"), static_cast<std::int64_t>(0x17f7e44f198f893cull));
}

TEST(Java, Supports) {
  EXPECT_TRUE(java::supports<Person>());
  EXPECT_TRUE(java::supports<Large>());
  EXPECT_TRUE(java::supports<Node>());
  EXPECT_TRUE(java::supports<Mixed>());
  EXPECT_FALSE(java::supports<examples::Everything>());  // no .java(), maps
  EXPECT_FALSE((java::supports<std::map<std::string, int>>()));
  EXPECT_FALSE(java::supports<std::optional<std::int32_t>>());
  EXPECT_TRUE(java::supports<std::optional<std::string>>());
}

TEST(Java, LargeRoundTrip) {
  Large large = examples::make_large();
  Buffer b;
  java::encode(large, b);
  Large back;
  auto r = java::decode(b.bytes(), back);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(back, large);
  // Record's descriptor is written once; the 49 other records refer to it. "Record"
  // appears in the type string [LRecord;, the array class [LRecord; and the class Record.
  std::string text(b.text());
  std::size_t count = 0;
  for (std::size_t at = text.find("Record"); at != std::string::npos;
       at = text.find("Record", at + 1))
    ++count;
  EXPECT_EQ(count, 3u);
}

TEST(Java, MixedRoundTripAndLayout) {
  Mixed m = java_test::make_mixed();
  Octets bytes = encoded(m);
  auto back = java::decode<Mixed>(view(bytes));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, m);
  std::string text(bytes.begin(), bytes.end());
  // Unsigned fields travel as the same bits: 4000000000 is the int ee 6b 28 00.
  EXPECT_NE(text.find("\xee\x6b\x28\x00"), std::string::npos);
  // Modified UTF-8: NUL as c0 80, U+1F600 as a surrogate pair of 3 bytes each.
  EXPECT_NE(text.find("nul\xc0\x80, \xc3\xa9, \xe2\x82\xac, \xed\xa0\xbd\xed\xb8\x80"),
            std::string::npos);
  // An empty optional is TC_NULL; the array class names are the JVM's.
  EXPECT_NE(text.find("[[I"), std::string::npos);
  EXPECT_NE(text.find("[Ljava.lang.String;"), std::string::npos);
  EXPECT_NE(text.find("[LPoint;"), std::string::npos);
}

TEST(Java, LongStringAndBadUtf8) {
  Person p{std::string(70000, 'x'), "bad \xff byte", 1};
  Octets bytes = encoded(p);
  std::string text(bytes.begin(), bytes.end());
  std::string long_head = {char(0x7c), 0, 0, 0, 0, 0, 1, char(0x11), char(0x70)};
  EXPECT_NE(text.find(long_head), std::string::npos) << "TC_LONGSTRING, length 70000";
  auto back = java::decode<Person>(view(bytes));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->name, p.name);
  EXPECT_EQ(back->place, "bad \xef\xbf\xbd byte");  // the bad byte became U+FFFD
}

TEST(Java, SharedObjectsStayShared) {
  Pair pair;
  pair.first = std::make_shared<examples::Point>(examples::Point{3, 4});
  pair.second = pair.first;
  pair.left = "same";
  pair.right = "same";
  Octets bytes = encoded(pair);
  // Point is written once; second is TC_REFERENCE to its handle: Pair's descriptor
  // (0x7e0000), the type strings LPoint; (1) and Ljava/lang/String; (2), the Pair (3),
  // Point's descriptor (4), the Point (5).
  const Octets ref = {0x71, 0x00, 0x7e, 0x00, 0x05};
  EXPECT_NE(std::search(bytes.begin(), bytes.end(), ref.begin(), ref.end()), bytes.end());
  auto back = java::decode<Pair>(view(bytes));
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_TRUE(back->first);
  EXPECT_EQ(back->first, back->second);
  EXPECT_EQ(back->first->x, 3);
  EXPECT_EQ(back->right, "same");
}

TEST(Java, RingCycleBothWays) {
  auto ring = java_test::make_ring(3);
  Octets bytes = encoded(ring);
  java_test::break_ring(ring);
  // Node 1, 2, 3, then a reference back to node 1 (handle 0x7e0002, after Node's
  // descriptor and the type string LNode;).
  const Octets tail = {0x71, 0x00, 0x7e, 0x00, 0x02};
  ASSERT_GE(bytes.size(), tail.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), bytes.end() - 5));
  auto back = java::decode<std::shared_ptr<Node>>(view(bytes));
  ASSERT_TRUE(back) << back.error().message();
  std::shared_ptr<Node> first = *back;
  ASSERT_TRUE(first && first->next && first->next->next);
  EXPECT_EQ(first->next->value, 2);
  EXPECT_EQ(first->next->next->value, 3);
  EXPECT_EQ(first->next->next->next, first);
  java_test::break_ring(first);
  // Into a value root, the closing edge cannot be a shared_ptr: a clear error.
  EXPECT_NE(decode_error<Node>(bytes).find("cannot be read as next"), std::string::npos)
      << decode_error<Node>(bytes);
}

TEST(Java, WeakBackEdges) {
  auto a = std::make_shared<DNode>();
  a->value = 1;
  a->next = std::make_shared<DNode>();
  a->next->value = 2;
  a->next->prev = a;
  auto bytes = encoded(a);
  auto back = java::decode<std::shared_ptr<DNode>>(view(bytes));
  ASSERT_TRUE(back) << back.error().message();
  std::shared_ptr<DNode> first = std::move(*back);
  ASSERT_TRUE(first->next);
  EXPECT_EQ(first->next->prev.lock(), first);
  EXPECT_EQ(first.use_count(), 1);  // the back edge owns nothing: no leak
}

TEST(Java, AnnotatedBytesAreTheSame) {
  AnnotatedBuffer a;
  java::encode(examples::make_person(), a);
  EXPECT_EQ(octets(a), kPersonFromJava);
  bool header = false, handle = false, type_info = false;
  for (const Note& n : a.notes()) {
    header |= n.part == Part::header;
    type_info |= n.part == Part::type_info;
    handle |= n.part == Part::handle && n.label.find("handle 0x7e0001") != std::string::npos;
  }
  EXPECT_TRUE(header && handle && type_info);
}

TEST(Java, ReusedBufferGivesTheSameBytes) {
  Buffer b;
  java::encode(examples::make_large(), b);
  Octets first = octets(b);
  b.clear();
  java::encode(examples::make_large(), b);
  EXPECT_EQ(octets(b), first);
}

// --- Refusals.

TEST(Java, GadgetChainClassIsRefused) {
  Stream s;
  s.u8(java::TC_OBJECT)
      .class_desc("org.apache.commons.collections.functors.InvokerTransformer",
                  0x87e8ff6b7b7cce38ull, 3)
      .u8('[')
      .utf("iArgs")
      .string("[Ljava/lang/Object;")
      .u8('L')
      .utf("iMethodName")
      .string("Ljava/lang/String;")
      .u8('[')
      .utf("iParamTypes")
      .string("[Ljava/lang/Class;")
      .end_desc();
  std::string error = decode_error<Person>(s.bytes);
  EXPECT_EQ(error,
            "java: at byte 8: class org.apache.commons.collections.functors.InvokerTransformer "
            "was not described to nexo (expected Person)");
}

TEST(Java, GadgetInAnUnknownFieldIsRefused) {
  // A Person with an extra Object field holding an InvokerTransformer.
  Stream s;
  s.u8(java::TC_OBJECT).class_desc("Person", 1, 2).u8('I').utf("year");
  s.u8('L').utf("payload").string("Ljava/lang/Object;").end_desc().u32(1984);
  s.u8(java::TC_OBJECT)
      .class_desc("org.apache.commons.collections.functors.InvokerTransformer",
                  0x87e8ff6b7b7cce38ull, 0)
      .end_desc();
  EXPECT_EQ(decode_error<Person>(s.bytes),
            "java: at byte 73: class org.apache.commons.collections.functors.InvokerTransformer "
            "was not described to nexo (in field payload, which nexo skips)");
}

TEST(Java, MillionDeepStreamIsRefused) {
  // Node -> next -> Node ... a million levels, the descriptor referred to after the first.
  Stream s;
  s.u8(java::TC_OBJECT).class_desc("Node", 1, 2).u8('I').utf("value").u8('L').utf("next");
  s.string("LNode;").end_desc().u32(1);
  for (int k = 0; k < 1000000; ++k)
    s.u8(java::TC_OBJECT).u8(java::TC_REFERENCE).u32(0x7e0000).u32(1);
  s.u8(java::TC_NULL);
  std::string error = decode_error<Node>(s.bytes);
  EXPECT_NE(error.find("nesting exceeds limit max_depth = 64"), std::string::npos) << error;
  // Arrays nested a million deep: [[[[...I.
  Stream a;
  std::string name(1000, '[');
  name += "I";
  for (int k = 0; k < 1000; ++k)
    a.u8(java::TC_ARRAY)
        .class_desc(name.substr(static_cast<std::size_t>(k)), 0, 0)
        .end_desc()
        .u32(1);
  std::string array_error = decode_error<Mixed>(a.bytes);
  EXPECT_EQ(array_error,
            "java: at byte 4: type code 0x75 (TC_ARRAY) where Mixed expects an object of class "
            "Mixed")
      << array_error;
  // ... and where an array of arrays is expected, the class name stops it at once.
  Stream g;
  g.u8(java::TC_OBJECT).class_desc("Mixed", 7, 1).u8('[').utf("grid").string("[[I").end_desc();
  g.u8(java::TC_ARRAY).class_desc(name, 0, 0).end_desc().u32(1);
  std::string deep_grid = decode_error<Mixed>(g.bytes);
  EXPECT_NE(deep_grid.find("was not described to nexo (expected [[I)"), std::string::npos)
      << deep_grid;
}

TEST(Java, UnknownTypeCodeNamesOffsetAndReason) {
  Octets bytes = kPersonFromJava;
  bytes[79] = 0x12;  // the TC_STRING of "Smith"
  EXPECT_EQ(decode_error<Person>(bytes),
            "java: at byte 79: unknown type code 0x12 where name expects a String");
  bytes = kPersonFromJava;
  bytes[4] = 0x79;  // TC_RESET where the object should be
  EXPECT_EQ(decode_error<Person>(bytes),
            "java: at byte 4: type code 0x79 (TC_RESET) where Person expects an object of class "
            "Person");
}

TEST(Java, EveryTruncationIsAnError) {
  for (const Octets& whole :
       {kPersonFromJava, encoded(java_test::make_mixed()), encoded(examples::make_large())}) {
    for (std::size_t n = 0; n < whole.size(); n += (whole.size() > 2000 ? 7 : 1)) {
      Octets part(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
      Mixed m;
      Large l;
      Person p;
      EXPECT_FALSE(java::decode(view(part), p)) << n;
      EXPECT_FALSE(java::decode(view(part), m)) << n;
      EXPECT_FALSE(java::decode(view(part), l)) << n;
    }
  }
  EXPECT_EQ(decode_error<Person>(Octets(kPersonFromJava.begin(), kPersonFromJava.end() - 1)),
            "java: at byte 90: place length 6 runs past the end (5 bytes left)");
}

TEST(Java, TooManyHandles) {
  Large large = examples::make_large();
  std::string error = decode_error<Large>(encoded(large), Limits{.max_handles = 100});
  EXPECT_NE(error.find("handle count exceeds limit max_handles = 100"), std::string::npos) << error;
  EXPECT_EQ(decode_error<Large>(encoded(large), Limits{.max_handles = 200}), "(decoded)");
}

TEST(Java, SerialVersionUidMismatch) {
  Octets bytes = kPersonFromJava;
  bytes[21] = 2;
  EXPECT_EQ(decode_error<Person>(bytes),
            "java: at byte 14: class Person: serialVersionUID 2 differs from the described 1");
}

TEST(Java, HostileHandlesAndCounts) {
  Octets bytes = kPersonFromJava;
  bytes[72] = 0x09;  // place's type string refers to handle 0x7e0009
  EXPECT_EQ(decode_error<Person>(bytes),
            "java: at byte 68: handle 0x7e0009 is not assigned (2 handles so far)");
  bytes = kPersonFromJava;
  bytes[72] = 0x00;  // ... to handle 0x7e0000, a class descriptor
  EXPECT_NE(decode_error<Person>(bytes).find("(a class descriptor) cannot be read as field type"),
            std::string::npos);
  bytes = kPersonFromJava;
  bytes[4] = java::TC_NULL;
  EXPECT_NE(decode_error<Person>(bytes).find("holds null"), std::string::npos);
  // A huge array count with few bytes behind it.
  Stream s;
  s.u8(java::TC_OBJECT).class_desc("Large", 1, 1).u8('[').utf("samples").string("[D").end_desc();
  s.u8(java::TC_ARRAY).class_desc("[D", 0, 0).end_desc().u32(1000000);
  EXPECT_NE(decode_error<Large>(s.bytes).find("samples count 1000000 runs past the end"),
            std::string::npos)
      << decode_error<Large>(s.bytes);
  EXPECT_NE(decode_error<Person>(Octets{0xac, 0xed, 0, 4}).find("stream version 4 is not 5"),
            std::string::npos);
  EXPECT_NE(decode_error<Person>(Octets{0xca, 0xfe, 0, 5}).find("not a Java serialization"),
            std::string::npos);
  Octets extra = kPersonFromJava;
  extra.push_back(0x70);
  EXPECT_EQ(decode_error<Person>(extra), "java: at byte 96: 1 bytes left over after the object");
}

// A later version of Person: an extra field of each kind java.io may write.
struct PersonV2 {
  std::int32_t year = 0;
  std::string name;
  std::int64_t born = 0;
  std::string nickname;
  std::vector<double> scores;
  std::optional<std::string> absent;
};
constexpr auto nexo_wire_describe(const PersonV2*) {
  return describe<PersonV2>("person")
      .field("year", &PersonV2::year)
      .field("name", &PersonV2::name)
      .field("born", &PersonV2::born)
      .field("nickname", &PersonV2::nickname)
      .field("scores", &PersonV2::scores)
      .field("absent", &PersonV2::absent)
      .java("Person", 1L);
}

TEST(Java, ExtraFieldsSkippedMissingFieldsDefault) {
  PersonV2 v2{1984, "Smith", -5, "Smithy", {1.5, 2.5}, std::nullopt};
  Person into{"old", "old place", 7};
  auto r = java::decode(view(encoded(v2)), into);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(into, (Person{"Smith", "", 1984}));  // place missing: its default
  PersonV2 back{};
  back.born = 99;
  auto r2 = java::decode(view(kPersonFromJava), back);
  ASSERT_TRUE(r2) << r2.error().message();
  EXPECT_EQ(back.born, 0);
  EXPECT_EQ(back.name, "Smith");
}

TEST(Java, WrongFieldTypeRefused) {
  Octets bytes = kPersonFromJava;
  bytes[25] = 'J';  // year declared long
  EXPECT_NE(decode_error<Person>(bytes).find("field year of class Person has type J in the "
                                             "stream, I in nexo"),
            std::string::npos)
      << decode_error<Person>(bytes);
}

TEST(Java, AnnotationsSuperclassAndWriteMethod) {
  auto person_with = [](auto&& edit) {
    Stream s;
    s.u8(java::TC_OBJECT).class_desc("Person", 1, 1).u8('I').utf("year");
    edit(s);
    s.u32(1984);
    return s.bytes;
  };
  Octets block = person_with([](Stream& s) {
    s.u8(java::TC_BLOCKDATA).u8(2).u8(0xaa).u8(0xbb).u8(java::TC_ENDBLOCKDATA).u8(java::TC_NULL);
  });
  auto p = java::decode<Person>(view(block));
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->year, 1984);
  Octets object_annotation = person_with(
      [](Stream& s) { s.u8(java::TC_OBJECT).u8(java::TC_ENDBLOCKDATA).u8(java::TC_NULL); });
  EXPECT_NE(decode_error<Person>(object_annotation).find("only block data is accepted"),
            std::string::npos);
  Octets super = person_with(
      [](Stream& s) { s.u8(java::TC_ENDBLOCKDATA).class_desc("Base", 1, 0).end_desc(); });
  EXPECT_NE(decode_error<Person>(super).find("serializable superclass: not supported"),
            std::string::npos);
  Stream w;
  w.u8(java::TC_OBJECT).class_desc("Person", 1, 0, java::SC_SERIALIZABLE | java::SC_WRITE_METHOD);
  EXPECT_NE(decode_error<Person>(w.bytes).find("SC_WRITE_METHOD"), std::string::npos);
}

struct Words {
  std::vector<std::string> words;
};
constexpr auto nexo_wire_describe(const Words*) {
  return describe<Words>("words").field("words", &Words::words).java("Words", 1L);
}

TEST(Java, StringReferencesAndNulls) {
  // name: "Smith"; place: TC_REFERENCE to the string "Smith" (handle 0x7e0003).
  Octets bytes(kPersonFromJava.begin(), kPersonFromJava.begin() + 87);
  for (std::uint8_t b : {0x71, 0x00, 0x7e, 0x00, 0x03})
    bytes.push_back(b);
  auto p = java::decode<Person>(view(bytes));
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->place, "Smith");
  // A null String where C++ holds std::string reads as the empty string.
  Octets null_place(kPersonFromJava.begin(), kPersonFromJava.begin() + 87);
  null_place.push_back(java::TC_NULL);
  auto q = java::decode<Person>(view(null_place));
  ASSERT_TRUE(q) << q.error().message();
  EXPECT_EQ(q->place, "");
  // Strings copied through references are bounded by max_bytes: 40 words, one string
  // and 39 references to it, is 304 bytes that would copy 400.
  Stream s;
  s.u8(java::TC_OBJECT).class_desc("Words", 1, 1).u8('[').utf("words");
  s.string("[Ljava/lang/String;").end_desc();
  s.u8(java::TC_ARRAY).class_desc("[Ljava.lang.String;", 0, 0).end_desc().u32(40);
  s.string("abcdefghij");
  for (int k = 1; k < 40; ++k)
    s.u8(java::TC_REFERENCE).u32(0x7e0005);
  ASSERT_EQ(s.bytes.size(), 304u);
  EXPECT_EQ(decode_error<Words>(s.bytes), "(decoded)");
  EXPECT_NE(decode_error<Words>(s.bytes, Limits{.max_bytes = 350})
                .find("bytes of strings copied through references exceeds limit max_bytes = 350"),
            std::string::npos)
      << decode_error<Words>(s.bytes, Limits{.max_bytes = 350});
}

TEST(Java, MalformedModifiedUtf8) {
  Octets bytes = kPersonFromJava;
  bytes[84] = 0xed;  // "Smith" -> S m 0xed 0xa0 0x80: a lone high surrogate
  bytes[85] = 0xa0;
  bytes[86] = 0x80;
  EXPECT_EQ(decode_error<Person>(bytes), "java: at byte 84: malformed modified UTF-8 in a string");
}

}  // namespace
}  // namespace nexo::wire
