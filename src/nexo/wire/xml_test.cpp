#include "nexo/wire/xml.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <pugixml.hpp>
#include <random>

#include "nexo/wire/examples.hpp"

namespace nexo::wire {
namespace {

using examples::Everything;
using examples::Large;
using examples::Person;

std::string to_xml(const auto& v, const xml::WriteOptions& options = {}) {
  Buffer b;
  auto r = xml::encode(v, b, options);
  EXPECT_TRUE(r) << r.error().to_string();
  return std::string(b.text());
}

template <class T>
Result<T> from_xml(std::string_view text, const xml::ReadOptions& options = {},
                   const Limits& limits = {}) {
  T v{};
  if (auto r = xml::decode(text, v, options, limits); !r) return std::move(r).error();
  return v;
}

// The message of decoding `text` as T, which must fail.
template <class T>
std::string error_of(std::string_view text, const xml::ReadOptions& options = {},
                     const Limits& limits = {}) {
  auto r = from_xml<T>(text, options, limits);
  if (r) return "(decoded)";
  return r.error().message();
}

constexpr std::string_view kEverything =
    "<everything><flag>true</flag><i8>-100</i8><u8>200</u8><i16>-30000</i16><u16>60000</u16>"
    "<i32>-2000000000</i32><u32>4000000000</u32><i64>-9223372036854775807</i64>"
    "<u64>18446744073709551615</u64><s32>-12345</s32><s64>-9876543210</s64><f32>16909060</f32>"
    "<sf64>-1</sf64><real32>3.1415927</real32><real64>0.1</real64><color>2</color>"
    "<text>Gr\xc3\xbc\xc3\x9f"
    "e, \"world\" &lt;&amp;&gt; \xe2\x82\xac \xf0\x9f\x98\x80\n</text>"
    "<blob>AAH+/w==</blob>"
    "<numbers><item>1</item><item>-1</item><item>300</item><item>-300</item>"
    "<item>2147483647</item></numbers>"
    "<words><item>alpha</item><item></item><item>gamma</item></words>"
    "<position><item>1.5</item><item>-2.25</item><item>1e+300</item></position>"
    "<maybe>42</maybe>"
    "<counts><entry key=\"apples\">3</entry><entry key=\"pears\">-7</entry></counts>"
    "<names><entry key=\"-2\">minus two</entry><entry key=\"1\">one</entry></names>"
    "<origin><x>-1</x><y>1</y></origin>"
    "<path><point><x>0</x><y>0</y></point><point><x>10</x><y>-10</y></point>"
    "<point><x>-300</x><y>300</y></point></path></everything>";

TEST(Xml, ThePersonOfTheChapterExactly) {
  EXPECT_EQ(to_xml(examples::make_person()),
            "<person><name>Smith</name><place>London</place><year>1984</year></person>");
  auto back =
      from_xml<Person>("<person><name>Smith</name><place>London</place><year>1984</year></person>");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, examples::make_person());
}

TEST(Xml, EverythingHasItsExactTextAndRoundTrips) {
  Everything e = examples::make_everything();
  EXPECT_EQ(to_xml(e), kEverything);
  auto back = from_xml<Everything>(kEverything);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, e);

  Large large = examples::make_large();
  std::string text = to_xml(large);
  auto l = from_xml<Large>(text);
  ASSERT_TRUE(l) << l.error().to_string();
  EXPECT_EQ(*l, large);
  // Into a used object: the vectors shrink and grow to what the document holds.
  Large reused = large;
  reused.samples.resize(3);
  reused.records.resize(80);
  ASSERT_TRUE(xml::decode(text, reused));
  EXPECT_EQ(reused, large);
}

TEST(Xml, AnnotatedEncodingIsTheSameBytes) {
  AnnotatedBuffer a;
  ASSERT_TRUE(xml::encode(examples::make_everything(), a));
  EXPECT_EQ(a.text(), kEverything);
  EXPECT_FALSE(a.notes().empty());
}

struct Tagged {
  std::int32_t id = 0;
  std::string lang;
  std::optional<double> weight;
  std::string body;
  bool operator==(const Tagged&) const = default;
};
constexpr auto nexo_wire_describe(const Tagged*) {
  return describe<Tagged>("tagged")
      .field("id", &Tagged::id, attribute)
      .field("lang", &Tagged::lang, attribute)
      .field("weight", &Tagged::weight, attribute)
      .field("body", &Tagged::body);
}

TEST(Xml, AttributesAndEscaping) {
  Tagged t{7, "a\"b<&>'\t\n\r", std::nullopt, "x < y && z > w ]]> \r\n\t\""};
  std::string text = to_xml(t);
  EXPECT_EQ(text,
            "<tagged id=\"7\" lang=\"a&quot;b&lt;&amp;>'&#9;&#10;&#13;\">"
            "<body>x &lt; y &amp;&amp; z &gt; w ]]&gt; &#13;\n\t\"</body></tagged>");
  auto back = from_xml<Tagged>(text);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, t);

  t.weight = 0.5;
  text = to_xml(t);
  EXPECT_NE(text.find(" weight=\"0.5\">"), std::string::npos) << text;
  back = from_xml<Tagged>(text);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, t);

  // Attribute-value normalization: literal tab, LF, CR LF become one space each.
  auto n = from_xml<Tagged>("<tagged id = '8' lang='a\tb\nc\r\nd' />");
  ASSERT_TRUE(n) << n.error().to_string();
  EXPECT_EQ(n->id, 8);
  EXPECT_EQ(n->lang, "a b c d");
  EXPECT_FALSE(n->weight);
  EXPECT_EQ(error_of<Tagged>("<tagged id='1' id='2'/>"), "xml: at byte 21: duplicate attribute id");
  EXPECT_EQ(error_of<Tagged>("<tagged lang='a<b'/>"),
            "xml: at byte 15: '<' is not allowed in an attribute value");
}

TEST(Xml, CharactersXmlCannotCarryAreRefusedWhenWriting) {
  for (std::string bad : {std::string("a\x01z"), std::string("\x7f\x00", 2)}) {
    Person p{bad, "x", 1};
    Buffer b;
    b.append("keep");
    auto r = xml::encode(p, b);
    if (bad[0] == '\x7f') {  // DEL is allowed in XML 1.0; NUL is not
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().message(),
                "xml: cannot write name: byte 1 of the string: character U+0000 is not allowed "
                "in XML 1.0");
    } else {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
      EXPECT_EQ(r.error().message(),
                "xml: cannot write name: byte 1 of the string: character U+0001 is not allowed "
                "in XML 1.0");
    }
    EXPECT_EQ(b.text(), "keep");  // the output is left as it was
  }
  Buffer b;
  auto r = xml::encode(Person{"ok", "\xff", 1}, b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "xml: cannot write place: byte 0 of the string: invalid UTF-8");
  r = xml::encode(Person{"\xef\xbf\xbe", "", 1}, b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "xml: cannot write name: byte 0 of the string: character U+FFFE is not allowed in "
            "XML 1.0");
  r = xml::encode(Tagged{1, "\x02", {}, ""}, b);
  ASSERT_FALSE(r);
  EXPECT_EQ(b.size(), 0u);
}

TEST(Xml, NamespaceWhenAsked) {
  xml::WriteOptions w{.namespace_uri = "urn:nexo:test"};
  std::string text = to_xml(examples::make_person(), w);
  EXPECT_EQ(text,
            "<person xmlns=\"urn:nexo:test\"><name>Smith</name><place>London</place>"
            "<year>1984</year></person>");
  xml::ReadOptions ns{.namespace_uri = "urn:nexo:test"};
  auto p = from_xml<Person>(text, ns);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(*p, examples::make_person());
  // The same namespace through a prefix.
  p = from_xml<Person>(
      "<n:person xmlns:n='urn:nexo:test'><n:name>Smith</n:name><place>London</place>"
      "<n:year>1984</n:year><q:year>5</q:year></n:person>",
      ns);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(*p, examples::make_person());
  // Another namespace, or none, is refused; and a namespace where none is expected.
  EXPECT_EQ(error_of<Person>("<person xmlns='urn:other'/>", ns),
            "xml: at byte 25: the root element is in namespace \"urn:other\", expected "
            "\"urn:nexo:test\"");
  EXPECT_EQ(error_of<Person>("<person/>", ns),
            "xml: at byte 9: the root element is in no namespace, expected \"urn:nexo:test\"");
  EXPECT_EQ(error_of<Person>(text),
            "xml: at byte 29: the root element is in namespace \"urn:nexo:test\", expected none");
  EXPECT_EQ(error_of<Person>("<n:person xmlns='urn:nexo:test'/>", ns),
            "xml: at byte 33: the root's prefix n is not declared");
}

TEST(Xml, PrettyAndDeclaration) {
  xml::WriteOptions w{.namespace_uri = {}, .pretty = true, .declaration = true};
  EXPECT_EQ(to_xml(examples::make_person(), w),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<person>\n"
            "  <name>Smith</name>\n"
            "  <place>London</place>\n"
            "  <year>1984</year>\n"
            "</person>\n");
  Everything e;
  e.numbers = {1, 2};
  e.counts = {{"a", 1}};
  std::string text = to_xml(e, w);
  EXPECT_NE(text.find("  <numbers>\n    <item>1</item>\n    <item>2</item>\n  </numbers>\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  <words></words>\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  <counts>\n    <entry key=\"a\">1</entry>\n  </counts>\n"),
            std::string::npos)
      << text;
  auto back = from_xml<Everything>(text);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, e);
}

TEST(Xml, TheReaderAcceptsWhatXmlAllows) {
  std::string doc =
      "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8' standalone='yes'?>\r\n"
      "<!-- a comment --><?app some instruction?>\n"
      "<person  >\r\n"
      "  <name>Sm<!-- inside -->i<![CDATA[t<h>&]]>&#x20AC;&#8364;&lt;&gt;&amp;&quot;&apos;</name>\n"
      "  <unknown a=\"1\"><deeper><x/>text &amp; more<![CDATA[<y>]]></deeper></unknown>\n"
      "  <place\n>Lon\r\ndon\r</place >\n"
      "  <year> +1984\n</year>\n"
      "</person>\n<!-- trailing --><?done?>  ";
  auto p = from_xml<Person>(doc);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->name, "Smit<h>&\xe2\x82\xac\xe2\x82\xac<>&\"'");
  EXPECT_EQ(p->place, "Lon\ndon\n");
  EXPECT_EQ(p->year, 1984);
  auto empty = from_xml<Person>("<person><name/><place></place></person>");
  ASSERT_TRUE(empty) << empty.error().to_string();
  EXPECT_EQ(*empty, Person{});
}

TEST(Xml, BillionLaughsAndExternalEntitiesAreRefused) {
  std::string laughs =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE lolz [\n"
      " <!ENTITY lol \"lol\">\n"
      " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
      " <!ENTITY lol9 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
      "]>\n"
      "<person><name>&lol9;</name></person>";
  EXPECT_EQ(error_of<Person>(laughs),
            "xml: at byte 22: DOCTYPE is not accepted: nexo's XML reader expands no DTD entities "
            "and fetches nothing external");
  std::string xxe =
      "<?xml version=\"1.0\"?><!DOCTYPE person [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
      "<person><name>&xxe;</name></person>";
  EXPECT_EQ(error_of<Person>(xxe),
            "xml: at byte 21: DOCTYPE is not accepted: nexo's XML reader expands no DTD entities "
            "and fetches nothing external");
  // Without the DOCTYPE the entity is simply undefined.
  EXPECT_EQ(error_of<Person>("<person><name>&xxe;</name></person>"),
            "xml: at byte 14: undefined entity &xxe; (only the five predefined entities are "
            "known; no DTD)");
}

TEST(Xml, EveryTruncationIsAnError) {
  std::string text(kEverything);
  for (std::size_t n = 0; n < text.size(); ++n) {
    auto r = from_xml<Everything>(std::string_view(text).substr(0, n));
    ASSERT_FALSE(r) << "a prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().kind(), ErrorKind::malformed);
    EXPECT_EQ(r.error().message().rfind("xml: at byte ", 0), 0u) << r.error().message();
  }
  EXPECT_EQ(error_of<Person>(""), "xml: at byte 0: truncated: the document has no root element");
  EXPECT_EQ(error_of<Person>("<person><name>Sm"),
            "xml: at byte 16: truncated: element <name> is not closed");
  EXPECT_EQ(error_of<Person>("<person><name>Smith</name"),
            "xml: at byte 25: truncated: an end tag is not complete");
}

TEST(Xml, MalformedDocumentsNameTheOffsetAndTheReason) {
  EXPECT_EQ(error_of<Person>("hello"), "xml: at byte 0: expected the root element, found 'h'");
  EXPECT_EQ(error_of<Person>("<people/>"),
            "xml: at byte 0: root element is <people>, expected <person>");
  EXPECT_EQ(error_of<Person>("<person><name>a</nam></person>"),
            "xml: at byte 15: end tag </nam> does not match <name>");
  EXPECT_EQ(error_of<Person>("<person><year>abc</year></person>"),
            "xml: at byte 14: year: \"abc\" is not a valid int32");
  EXPECT_EQ(error_of<Person>("<person><year>1e3</year></person>"),
            "xml: at byte 14: year: \"1e3\" is not a valid int32");
  EXPECT_EQ(error_of<Everything>("<everything><u8>256</u8></everything>"),
            "xml: at byte 16: u8: \"256\" is not a valid uint8");
  EXPECT_EQ(error_of<Everything>("<everything><flag>yes</flag></everything>"),
            "xml: at byte 18: flag: \"yes\" is not a valid bool");
  EXPECT_EQ(error_of<Everything>("<everything><real64>inf</real64></everything>"),
            "xml: at byte 20: real64: \"inf\" is not a valid double");
  EXPECT_EQ(error_of<Everything>("<everything><blob>AB=C</blob></everything>"),
            "xml: at byte 18: blob: \"AB=C\" is not a valid base64");
  EXPECT_EQ(error_of<Person>("<person>stray<name/></person>"),
            "xml: at byte 8: text is not allowed in <person>, which holds elements");
  EXPECT_EQ(error_of<Person>("<person><name><b/></name></person>"),
            "xml: at byte 14: an element is not allowed in <name>, which holds text");
  EXPECT_EQ(error_of<Person>("<person><year>1</year><year>2</year></person>"),
            "xml: at byte 22: duplicate element <year> in <person>");
  EXPECT_EQ(error_of<Person>("<person/><person/>"),
            "xml: at byte 9: content after the root element");
  EXPECT_EQ(error_of<Person>("<person><name>a & b</name></person>"),
            "xml: at byte 16: '&' must start a reference (&name; or &#number;)");
  EXPECT_EQ(error_of<Person>("<person><name>&#1;</name></person>"),
            "xml: at byte 14: character reference to U+0001, not an XML character");
  EXPECT_EQ(error_of<Person>("<person><name>&#xD800;</name></person>"),
            "xml: at byte 14: character reference to U+D800, not an XML character");
  EXPECT_EQ(error_of<Person>(std::string_view("<person><name>a\0</name></person>", 33)),
            "xml: at byte 15: character U+0000 is not allowed in XML");
  EXPECT_EQ(error_of<Person>("<person><name>a]]>b</name></person>"),
            "xml: at byte 17: ']]>' is not allowed in text");
  EXPECT_EQ(error_of<Person>("<person><!-- a -- b --></person>"),
            "xml: at byte 15: '--' is not allowed inside a comment");
  EXPECT_EQ(error_of<Person>("<?xml version='1.0' encoding='latin1'?><person/>"),
            "xml: at byte 20: encoding latin1 is not supported (UTF-8 only)");
  EXPECT_EQ(error_of<Person>(" <?xml version='1.0'?><person/>"),
            "xml: at byte 1: an XML declaration is allowed only at the very start");
  EXPECT_EQ(error_of<Everything>("<everything><counts><entry>1</entry></counts></everything>"),
            "xml: at byte 20: an entry of counts has no key");
  EXPECT_EQ(error_of<Everything>(
                "<everything><names><entry key='1'>a</entry><entry key='+1'>b</entry></names>"
                "</everything>"),
            "xml: at byte 43: duplicate key in map names");
  EXPECT_EQ(error_of<Everything>(
                "<everything><position><item>1</item><item>2</item></position></everything>"),
            "xml: at byte 61: position has 2 items, expected 3");
}

TEST(Xml, InvalidUtf8IsAnError) {
  EXPECT_EQ(error_of<Person>("<person><name>ab\xc3(</name></person>"),
            "xml: at byte 16: invalid UTF-8");
  EXPECT_EQ(error_of<Person>("<person><name>\xed\xa0\x80</name></person>"),  // a surrogate
            "xml: at byte 14: invalid UTF-8");
  EXPECT_EQ(error_of<Person>("<person><n\xff/></person>"), "xml: at byte 10: invalid UTF-8");
  EXPECT_EQ(error_of<Person>("<person><\xff/></person>"), "xml: at byte 9: invalid UTF-8");
  EXPECT_EQ(error_of<Person>("<\xc3\xa9/>"),
            "xml: at byte 0: root element is <\xc3\xa9>, expected <person>");
  EXPECT_EQ(error_of<Person>("<person><x a='\xc0\x80'/></person>"),
            "xml: at byte 14: invalid UTF-8");
  EXPECT_EQ(error_of<Person>("<person><!-- \xf5 --></person>"), "xml: at byte 13: invalid UTF-8");
}

TEST(Xml, GarbageIsAnErrorNeverACrash) {
  std::mt19937 rng(20240521);
  std::string text(kEverything);
  for (int round = 0; round < 2000; ++round) {
    std::string g = text;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < flips; ++k)
      g[rng() % g.size()] = static_cast<char>(rng());
    Everything e;
    (void)xml::decode(g, e);  // must not crash; valid variants may decode
  }
  for (int round = 0; round < 500; ++round) {
    std::string g(rng() % 64, '\0');
    for (auto& c : g)
      c = "<>/&;='\"ax#! \n?-[]"[rng() % 19];
    auto r = from_xml<Person>(g);
    if (!r) {
      EXPECT_EQ(r.error().message().rfind("xml: at byte ", 0), 0u);
    }
  }
}

struct Deep {
  std::vector<Deep> children;
};
constexpr auto nexo_wire_describe(const Deep*) {
  return describe<Deep>("deep").field("children", &Deep::children);
}

TEST(Xml, DeepNestingIsRefusedWithoutRecursion) {
  std::string unknown = "<person>";
  for (int i = 0; i < 100000; ++i)
    unknown += "<x>";
  auto r = from_xml<Person>(unknown);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::too_large);
  EXPECT_EQ(r.error().message(), "xml: at byte 200: nesting exceeds limit max_depth = 64");

  std::string known;
  for (int i = 0; i < 100000; ++i)
    known += "<deep><children>";
  auto d = from_xml<Deep>(known);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind(), ErrorKind::too_large);
  EXPECT_NE(d.error().message().find("nesting exceeds limit max_depth = 64"), std::string::npos)
      << d.error().message();

  std::string fine;
  for (int i = 0; i < 20; ++i)
    fine += "<deep><children>";
  for (int i = 0; i < 20; ++i)
    fine += "</children></deep>";
  EXPECT_TRUE(from_xml<Deep>(fine));
  EXPECT_FALSE(from_xml<Deep>(fine, {}, Limits{.max_depth = 30}));
}

TEST(Xml, LimitsAreNamed) {
  EXPECT_EQ(error_of<Person>("<person><name>abcdef</name></person>", {}, Limits{.max_string = 4}),
            "xml: at byte 14: string name length 6 exceeds limit max_string = 4");
  EXPECT_EQ(error_of<Everything>("<everything><numbers><item>1</item><item>2</item></numbers>"
                                 "</everything>",
                                 {}, Limits{.max_elements = 1}),
            "xml: at byte 40: numbers count exceeds limit max_elements = 1");
  EXPECT_EQ(error_of<Person>("<person/>", {}, Limits{.max_bytes = 4}),
            "xml: at byte 0: input of 9 bytes exceeds limit max_bytes = 4");
}

TEST(Xml, SpecialNumbersAndBooleans) {
  Everything e;
  e.real32 = std::numeric_limits<float>::infinity();
  e.real64 = std::numeric_limits<double>::quiet_NaN();
  e.position = {-std::numeric_limits<double>::infinity(), 5e-324, -0.0};
  std::string text = to_xml(e);
  EXPECT_NE(text.find("<real32>INF</real32><real64>NaN</real64>"), std::string::npos) << text;
  EXPECT_NE(text.find("<position><item>-INF</item><item>5e-324</item><item>-0</item>"),
            std::string::npos)
      << text;
  auto back = from_xml<Everything>(text);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_TRUE(std::isnan(back->real64));
  EXPECT_EQ(back->real32, e.real32);
  EXPECT_EQ(back->position[0], e.position[0]);
  EXPECT_EQ(back->position[1], 5e-324);
  EXPECT_TRUE(std::signbit(back->position[2]));
  auto b = from_xml<Everything>("<everything><flag> 1 </flag><real32>+INF</real32></everything>");
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_TRUE(b->flag);
  EXPECT_TRUE(std::isinf(b->real32));
}

struct Holder {
  std::vector<std::optional<std::int32_t>> slots;
  std::map<std::string, std::optional<std::string>> notes;
  std::optional<examples::Point> where;
  std::vector<std::vector<std::int32_t>> grid;
  bool operator==(const Holder&) const = default;
};
constexpr auto nexo_wire_describe(const Holder*) {
  return describe<Holder>("holder")
      .field("slots", &Holder::slots)
      .field("notes", &Holder::notes)
      .field("where", &Holder::where)
      .field("grid", &Holder::grid);
}

TEST(Xml, OptionalsInsideContainersAreNil) {
  Holder h{{1, std::nullopt, 3},
           {{"a", "x"}, {"b", std::nullopt}},
           examples::Point{1, 2},
           {{1}, {}, {2, 3}}};
  std::string text = to_xml(h);
  EXPECT_EQ(text,
            "<holder><slots><item>1</item><item nil=\"true\"/><item>3</item></slots>"
            "<notes><entry key=\"a\">x</entry><entry key=\"b\" nil=\"true\"/></notes>"
            "<where><x>1</x><y>2</y></where>"
            "<grid><item><item>1</item></item><item></item><item><item>2</item><item>3</item>"
            "</item></grid></holder>");
  auto back = from_xml<Holder>(text);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, h);
  // An absent optional field is empty, even when decoding into a used object.
  Holder used = h;
  ASSERT_TRUE(xml::decode("<holder/>", used));
  EXPECT_FALSE(used.where);
}

// ---------------------------------------------------------------------------
// Interop with pugixml.

TEST(XmlInterop, PugixmlReadsWhatNexoWrites) {
  Everything e = examples::make_everything();
  std::string text = to_xml(e);
  pugi::xml_document doc;
  auto parsed = doc.load_buffer(text.data(), text.size(), pugi::parse_default, pugi::encoding_utf8);
  ASSERT_TRUE(parsed) << parsed.description();
  auto root = doc.child("everything");
  EXPECT_EQ(root.child("flag").text().as_bool(), true);
  EXPECT_EQ(root.child("i8").text().as_int(), -100);
  EXPECT_EQ(root.child("u32").text().as_uint(), 4000000000u);
  EXPECT_EQ(root.child("i64").text().as_llong(), e.i64);
  EXPECT_EQ(root.child("u64").text().as_ullong(), e.u64);
  EXPECT_EQ(root.child("real32").text().as_float(), e.real32);
  EXPECT_EQ(root.child("real64").text().as_double(), e.real64);
  EXPECT_EQ(std::string(root.child("text").text().get()), e.text);
  std::vector<std::int32_t> numbers;
  for (auto item : root.child("numbers").children("item"))
    numbers.push_back(item.text().as_int());
  EXPECT_EQ(numbers, e.numbers);
  std::vector<std::string> words;
  for (auto item : root.child("words").children("item"))
    words.emplace_back(item.text().get());
  EXPECT_EQ(words, e.words);
  EXPECT_EQ(root.child("position").last_child().text().as_double(), 1e300);
  EXPECT_EQ(root.child("counts").find_child_by_attribute("entry", "key", "pears").text().as_int(),
            -7);
  EXPECT_EQ(std::string(root.child("names").first_child().text().get()), "minus two");
  EXPECT_EQ(root.child("path").last_child().child("x").text().as_int(), -300);
  EXPECT_FALSE(root.child("nickname"));

  Tagged t{7, "a\"b<&>'\t\n\r", 2.5, "x\r\ny"};
  std::string tagged = to_xml(t);
  ASSERT_TRUE(doc.load_buffer(tagged.data(), tagged.size()));
  EXPECT_EQ(doc.child("tagged").attribute("id").as_int(), 7);
  EXPECT_EQ(std::string(doc.child("tagged").attribute("lang").value()), t.lang);
  EXPECT_EQ(doc.child("tagged").attribute("weight").as_double(), 2.5);
  EXPECT_EQ(std::string(doc.child("tagged").child("body").text().get()), t.body);
}

// Builds e with pugixml's DOM, as another program would write it.
void build(pugi::xml_node root, const Everything& e) {
  auto put = [&](const char* name, auto value) { root.append_child(name).text().set(value); };
  put("flag", e.flag);
  put("i8", static_cast<int>(e.i8));
  put("u8", static_cast<unsigned>(e.u8));
  put("i16", static_cast<int>(e.i16));
  put("u16", static_cast<unsigned>(e.u16));
  put("i32", e.i32);
  put("u32", e.u32);
  put("i64", static_cast<long long>(e.i64));
  put("u64", static_cast<unsigned long long>(e.u64));
  put("s32", e.s32);
  put("s64", static_cast<long long>(e.s64));
  put("f32", e.f32);
  put("sf64", static_cast<long long>(e.sf64));
  put("real32", e.real32);
  put("real64", e.real64);
  put("color", static_cast<int>(e.color));
  put("text", e.text.c_str());
  put("blob", "AAH+/w==");
  auto numbers = root.append_child("numbers");
  for (auto n : e.numbers)
    numbers.append_child("item").text().set(n);
  auto words = root.append_child("words");
  for (const auto& w : e.words)
    words.append_child("item").text().set(w.c_str());
  auto position = root.append_child("position");
  for (double d : e.position)
    position.append_child("item").text().set(d);
  put("maybe", *e.maybe);
  auto counts = root.append_child("counts");
  for (const auto& [k, v] : e.counts) {
    auto entry = counts.append_child("entry");
    entry.append_attribute("key").set_value(k.c_str());
    entry.text().set(v);
  }
  auto names = root.append_child("names");
  for (const auto& [k, v] : e.names) {
    auto entry = names.append_child("entry");
    entry.append_attribute("key").set_value(k);
    entry.text().set(v.c_str());
  }
  auto origin = root.append_child("origin");
  origin.append_child("x").text().set(e.origin.x);
  origin.append_child("y").text().set(e.origin.y);
  auto path = root.append_child("path");
  for (const auto& p : e.path) {
    auto point = path.append_child("point");
    point.append_child("x").text().set(p.x);
    point.append_child("y").text().set(p.y);
  }
}

TEST(XmlInterop, NexoReadsWhatPugixmlPrints) {
  Everything e = examples::make_everything();
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  build(doc.append_child("everything"), e);
  for (unsigned flags : {pugi::format_default, pugi::format_raw,
                         pugi::format_indent | pugi::format_no_declaration}) {
    std::ostringstream os;
    doc.save(os, "\t", flags, pugi::encoding_utf8);
    auto back = from_xml<Everything>(os.str());
    ASSERT_TRUE(back) << back.error().to_string() << "\n" << os.str();
    EXPECT_EQ(*back, e) << os.str();
  }
  // The namespace, as pugixml writes it.
  pugi::xml_document ns;
  auto person = ns.append_child("p:person");
  person.append_attribute("xmlns:p") = "urn:nexo:test";
  person.append_child("p:name").text().set("Smith");
  person.append_child("p:place").text().set("London");
  person.append_child("p:year").text().set(1984);
  std::ostringstream os;
  ns.save(os);
  auto p = from_xml<Person>(os.str(), {.namespace_uri = "urn:nexo:test"});
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(*p, examples::make_person());

  Large large = examples::make_large();
  pugi::xml_document ld;
  auto root = ld.append_child("large");
  root.append_child("id").text().set(large.id);
  root.append_child("timestamp").text().set(static_cast<long long>(large.timestamp));
  root.append_child("flags").text().set(large.flags);
  root.append_child("ratio").text().set(large.ratio);
  root.append_child("total").text().set(large.total);
  root.append_child("complete").text().set(large.complete);
  root.append_child("description").text().set(large.description.c_str());
  auto samples = root.append_child("samples");
  for (double s : large.samples)
    samples.append_child("item").text().set(s);
  auto records = root.append_child("records");
  for (const auto& r : large.records) {
    auto rec = records.append_child("record");
    rec.append_child("id").text().set(r.id);
    rec.append_child("value").text().set(r.value);
    rec.append_child("label").text().set(r.label.c_str());
    rec.append_child("valid").text().set(r.valid);
  }
  std::ostringstream ls;
  ld.save(ls);
  auto l = from_xml<Large>(ls.str());
  ASSERT_TRUE(l) << l.error().to_string();
  EXPECT_EQ(*l, large);
}

}  // namespace
}  // namespace nexo::wire
