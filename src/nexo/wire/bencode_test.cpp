#include "nexo/wire/bencode.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nexo/wire/examples.hpp"

namespace nexo::wire {
namespace {

namespace be = bencode;
using namespace std::string_literals;

std::string text_of(const Bytes& b) {
  return std::string(as_text(b));
}

// Decodes `input` as a value tree and returns the error text ("" when it decodes).
std::string tree_error(std::string_view input, const Limits& limits = {}) {
  auto r = be::decode(input, limits);
  return r ? std::string() : r.error().message();
}

// Decodes and re-encodes: the bytes must come back unchanged (canonical input).
void expect_round_trip(std::string_view input) {
  auto v = be::decode(input);
  ASSERT_TRUE(v) << input << ": " << v.error().message();
  EXPECT_EQ(text_of(be::encode(*v)), input);
}

template <class T>
std::string encoded(const T& v) {
  Buffer out;
  be::encode(v, out);
  return std::string(out.text());
}

template <class T>
std::string described_error(std::string_view input, const Limits& limits = {}) {
  T v{};
  auto r = be::decode(input, v, limits);
  return r ? std::string() : r.error().message();
}

// ---------------------------------------------------------------------------
// BEP 3's examples, and the value tree.

TEST(Bencode, Bep3Examples) {
  for (std::string_view s : {"4:spam", "0:", "i3e", "i-3e", "i0e", "l4:spam4:eggse", "le",
                             "d3:cow3:moo4:spam4:eggse", "d4:spaml1:a1:bee", "de"})
    expect_round_trip(s);
  auto v = be::decode("d3:cow3:moo4:spam4:eggse");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v->get_string("cow"), "moo");
  EXPECT_EQ(*v->get_string("spam"), "eggs");
  auto l = be::decode("d4:spaml1:a1:bee");
  ASSERT_TRUE(l);
  auto spam = l->get_list("spam");
  ASSERT_TRUE(spam);
  ASSERT_EQ((*spam)->size(), 2u);
  EXPECT_EQ((**spam)[1].string(), "b");
}

TEST(Bencode, IntegersAtTheEdgesOfInt64) {
  expect_round_trip("i9223372036854775807e");
  expect_round_trip("i-9223372036854775808e");
  EXPECT_EQ(be::decode("i-9223372036854775808e")->integer(),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(tree_error("i9223372036854775808e"),
            "bencode: at byte 0: integer 9223372036854775808 does not fit in int64");
  EXPECT_EQ(tree_error("i-9223372036854775809e"),
            "bencode: at byte 0: integer -9223372036854775809 does not fit in int64");
  EXPECT_EQ(tree_error("i18446744073709551616e"),
            "bencode: at byte 1: integer does not fit in 64 bits");
}

TEST(Bencode, BinaryStringsKeepEveryByte) {
  const std::string binary("\x00\xff\x80\x01:e\x00", 7);
  be::Value v{std::string(binary)};
  const Bytes bytes = be::encode(v);
  EXPECT_EQ(text_of(bytes), "7:" + binary);
  auto back = be::decode(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->string(), binary);
  EXPECT_EQ(back->bytes().size(), 7u);
  EXPECT_EQ(back->bytes()[1], std::byte{0xff});
  // Keys are bytes too: ordered as unsigned bytes (0x80 after 'z'), NUL allowed.
  be::Dict d{{std::string("\x80", 1), 1}, {"z", 2}, {std::string("a\0b", 3), 3}, {"a", 4}};
  EXPECT_EQ(text_of(be::encode(be::Value(d))), "d1:ai4e3:a\0bi3e1:zi2e1:\x80i1ee"s);
  expect_round_trip(text_of(be::encode(be::Value(d))));
}

TEST(Bencode, DictKeepsKeysSortedAndFindsThem) {
  be::Dict d;
  d.insert_or_assign("t", "aa");
  d.insert_or_assign("a", be::Dict{{"id", "x"}});
  d.insert_or_assign("y", "q");
  d.insert_or_assign("t", "bb");  // replaces
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.begin()->first, "a");
  EXPECT_EQ(d.find("t")->string(), "bb");
  EXPECT_EQ(d.find("zz"), nullptr);
  EXPECT_FALSE(d.append("b", 1));  // below "y"
  EXPECT_TRUE(d.append("z", 1));
  EXPECT_TRUE(d.erase("z"));
  EXPECT_FALSE(d.erase("z"));
  EXPECT_EQ(text_of(be::encode(be::Value(d))), "d1:ad2:id1:xe1:t2:bb1:y1:qe");
}

TEST(Bencode, KrpcPingQueryRoundTripsByteForByte) {
  // BEP 5's ping query.
  constexpr std::string_view ping = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
  auto v = be::decode(ping);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(*v->get_string("y"), "q");
  EXPECT_EQ(*v->get_string("q"), "ping");
  EXPECT_EQ(*v->get_string("t"), "aa");
  auto a = v->get_dict("a");
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)->find("id")->string(), "abcdefghij0123456789");
  EXPECT_EQ(text_of(be::encode(*v)), ping);
  // Built by hand, in another order, it encodes to the same bytes.
  be::Value built = be::Dict{
      {"y", "q"}, {"t", "aa"}, {"q", "ping"}, {"a", be::Dict{{"id", "abcdefghij0123456789"}}}};
  EXPECT_EQ(text_of(be::encode(built)), ping);
  EXPECT_EQ(built, *v);
}

TEST(Bencode, TypedAccessorsSayWhatIsWrong) {
  auto v = be::decode("d1:ei201e1:t2:aa1:yli1eee");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v->get_integer("e"), 201);
  EXPECT_EQ(v->get_integer("t").error().message(),
            "bencode: key \"t\": expected an integer, found a byte string");
  EXPECT_EQ(v->get_string("r").error().message(), "bencode: missing key \"r\"");
  EXPECT_EQ(v->get_dict("y").error().message(),
            "bencode: key \"y\": expected a dictionary, found a list");
  EXPECT_TRUE(v->get_list("y"));
  EXPECT_EQ(v->get_list("t").error().kind(), ErrorKind::malformed);
}

TEST(Bencode, TypedAccessorsOnANonDictionary) {
  be::Value n = 5;
  EXPECT_EQ(n.find("a"), nullptr);
  EXPECT_EQ(n.get_string("a").error().message(),
            "bencode: expected a dictionary (with key \"a\"), found an integer");
  EXPECT_EQ(n.as_list().error().message(), "bencode: expected a list, found an integer");
  EXPECT_EQ(*n.as_integer(), 5);
  EXPECT_FALSE(n.as_string());
  EXPECT_FALSE(n.as_dict());
}

TEST(Bencode, DecodePrefixStopsAfterTheFirstValue) {
  auto p = be::decode_prefix(as_bytes("i42e4:spamle"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->value.integer(), 42);
  EXPECT_EQ(p->size, 4u);
  auto q = be::decode_prefix(as_bytes("d1:ai1ee"));
  ASSERT_TRUE(q);
  EXPECT_EQ(q->size, 8u);
  auto cut = be::decode_prefix(as_bytes("l4:spa"));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().message(),
            "bencode: at byte 1: string length 4 runs past the end (3 bytes left)");
}

// ---------------------------------------------------------------------------
// Strictness: each refused input, with its offset and rule.

TEST(Bencode, RefusesNonCanonicalIntegers) {
  EXPECT_EQ(tree_error("i03e"), "bencode: at byte 1: integer has a leading zero");
  EXPECT_EQ(tree_error("i-03e"), "bencode: at byte 2: integer has a leading zero");
  EXPECT_EQ(tree_error("i00e"), "bencode: at byte 1: integer has a leading zero");
  EXPECT_EQ(tree_error("i-0e"), "bencode: at byte 1: integer is negative zero (i-0e)");
  EXPECT_EQ(tree_error("ie"), "bencode: at byte 1: integer has no digits");
  EXPECT_EQ(tree_error("i-e"), "bencode: at byte 2: integer has no digits");
  EXPECT_EQ(tree_error("i+3e"), "bencode: at byte 1: integer: expected a digit, found '+'");
  EXPECT_EQ(tree_error("i 3e"), "bencode: at byte 1: integer: expected a digit, found byte 0x20");
  EXPECT_EQ(tree_error("i3.5e"), "bencode: at byte 2: integer: expected a digit or 'e', found '.'");
  EXPECT_EQ(tree_error("i--3e"), "bencode: at byte 2: integer: expected a digit, found '-'");
  EXPECT_EQ(tree_error("i12"), "bencode: at byte 0: truncated: integer has no end 'e'");
  EXPECT_EQ(tree_error("i"), "bencode: at byte 0: truncated: integer has no end 'e'");
  EXPECT_EQ(tree_error("li1ei2"), "bencode: at byte 4: truncated: integer has no end 'e'");
}

TEST(Bencode, RefusesBadStringLengths) {
  EXPECT_EQ(tree_error("03:abc"), "bencode: at byte 0: string length has a leading zero");
  EXPECT_EQ(tree_error("00:"), "bencode: at byte 0: string length has a leading zero");
  EXPECT_EQ(tree_error("3abc"),
            "bencode: at byte 1: string length: expected a digit or ':', found 'a'");
  EXPECT_EQ(tree_error("3"), "bencode: at byte 0: truncated: string length has no ':'");
  EXPECT_EQ(tree_error("5:abc"),
            "bencode: at byte 0: string length 5 runs past the end (3 bytes left)");
  EXPECT_EQ(tree_error("l99999999999999999999999:e"),
            "bencode: at byte 1: string length does not fit in 64 bits");
  EXPECT_EQ(tree_error("-1:a"),
            "bencode: at byte 0: expected a value (i, l, d or a digit), found '-'");
}

TEST(Bencode, RefusesUnsortedAndDuplicateKeys) {
  EXPECT_EQ(tree_error("d1:bi1e1:ai2ee"),
            "bencode: at byte 7: dictionary key \"a\" is out of order (after \"b\"; keys ascend as "
            "raw bytes)");
  EXPECT_EQ(tree_error("d1:ai1e1:ai2ee"), "bencode: at byte 7: dictionary key \"a\" appears twice");
  // A longer key sorts after its prefix; a high byte after ASCII.
  EXPECT_EQ(tree_error("d2:abi1e1:ai2ee"),
            "bencode: at byte 8: dictionary key \"a\" is out of order (after \"ab\"; keys ascend "
            "as raw bytes)");
  EXPECT_EQ(tree_error("d1:\x80i1e1:zi2ee"),
            "bencode: at byte 7: dictionary key \"z\" is out of order (after \"\\x80\"; keys "
            "ascend as raw bytes)");
  EXPECT_EQ(tree_error("d1:ai1e2:abi2ee"), "");
  // Order is checked at every depth, also inside values that are skipped.
  EXPECT_EQ(
      tree_error("d1:ad1:yi1e1:xi2eee"),
      "bencode: at byte 11: dictionary key \"x\" is out of order (after \"y\"; keys ascend as "
      "raw bytes)");
}

TEST(Bencode, RefusesBadDictionaries) {
  EXPECT_EQ(tree_error("di1ei2ee"),
            "bencode: at byte 1: dictionary key must be a byte string, found an integer");
  EXPECT_EQ(tree_error("dle"),
            "bencode: at byte 1: dictionary key must be a byte string, found a list");
  EXPECT_EQ(tree_error("d1:ae"), "bencode: at byte 4: dictionary key \"a\" has no value");
  EXPECT_EQ(tree_error("d1:a"), "bencode: at byte 4: truncated: dictionary key \"a\" has no value");
  EXPECT_EQ(tree_error("d1:ai1e"),
            "bencode: at byte 7: truncated: the dictionary at byte 0 has no end 'e'");
}

TEST(Bencode, RefusesTruncationAndStrayBytes) {
  EXPECT_EQ(tree_error(""),
            "bencode: at byte 0: truncated: expected a value, found the end of the input");
  EXPECT_EQ(tree_error("l"), "bencode: at byte 1: truncated: the list at byte 0 has no end 'e'");
  EXPECT_EQ(tree_error("lli1ee"),
            "bencode: at byte 6: truncated: the list at byte 0 has no end 'e'");
  EXPECT_EQ(tree_error("e"),
            "bencode: at byte 0: expected a value (i, l, d or a digit), found 'e' (an end)");
  EXPECT_EQ(tree_error("lxe"),
            "bencode: at byte 1: expected a value (i, l, d or a digit), found 'x'");
  EXPECT_EQ(tree_error("i1ei2e"), "bencode: at byte 3: 3 bytes after the end of the value");
  EXPECT_EQ(tree_error("lee"), "bencode: at byte 2: 1 byte after the end of the value");
  EXPECT_EQ(tree_error(std::string_view("i1e\0", 4)),
            "bencode: at byte 3: 1 byte after the end of the value");
}

// ---------------------------------------------------------------------------
// Limits.

TEST(Bencode, NestingDeeperThanTheLimitIsRefused) {
  std::string deep(10, 'l');
  deep += std::string(10, 'e');
  EXPECT_EQ(tree_error(deep, Limits{.max_depth = 10}), "");
  EXPECT_EQ(tree_error(deep, Limits{.max_depth = 9}),
            "bencode: at byte 9: nesting exceeds limit max_depth = 9");
  // A million opening brackets: refused at the limit, without recursing further.
  std::string hostile(1'000'000, 'l');
  EXPECT_EQ(tree_error(hostile), "bencode: at byte 64: nesting exceeds limit max_depth = 64");
  EXPECT_EQ(tree_error("d1:a" + hostile),
            "bencode: at byte 67: nesting exceeds limit max_depth = 64");
}

TEST(Bencode, OtherLimitsAreEnforced) {
  auto error_kind = [](std::string_view input, const Limits& limits) {
    auto r = be::decode(input, limits);
    return r ? std::string("ok") : std::string(to_string(r.error().kind()));
  };
  EXPECT_EQ(tree_error("5:hello", Limits{.max_string = 4}),
            "bencode: at byte 0: string length 5 exceeds limit max_string = 4");
  EXPECT_EQ(error_kind("5:hello", Limits{.max_string = 4}), "too_large");
  EXPECT_EQ(tree_error("li1ei2ei3ee", Limits{.max_elements = 2}),
            "bencode: at byte 7: list count 3 exceeds limit max_elements = 2");
  EXPECT_EQ(tree_error("d1:ai1e1:bi2e1:ci3ee", Limits{.max_elements = 2}),
            "bencode: at byte 13: dictionary count 3 exceeds limit max_elements = 2");
  EXPECT_EQ(tree_error("i1e", Limits{.max_bytes = 2}),
            "bencode: at byte 0: input of 3 bytes exceeds limit max_bytes = 2");
  EXPECT_EQ(error_kind("i1e", Limits{.max_bytes = 2}), "too_large");
  // The decoded tree's memory: thousands of empty lists cost a Value each.
  std::string many = "l";
  for (int i = 0; i < 5000; ++i)
    many += "le";
  many += "e";
  EXPECT_EQ(error_kind(many, Limits{.max_decoded = 1000 * sizeof(be::Value)}), "too_large");
  EXPECT_EQ(error_kind(many, Limits{.max_decoded = 5000 * sizeof(be::Value)}), "ok");
  EXPECT_EQ(error_kind(many, Limits{.max_elements = 4999}), "too_large");
}

// ---------------------------------------------------------------------------
// Described types.

struct Peer {
  std::string id;
  std::uint16_t port = 0;
  bool seed = false;
  bool operator==(const Peer&) const = default;
};
constexpr auto nexo_wire_describe(const Peer*) {  // declared out of key order on purpose
  return describe<Peer>("peer")
      .field("port", &Peer::port)
      .field("id", &Peer::id)
      .field("seed", &Peer::seed);
}

enum class Kind : std::uint8_t { query = 1, response = 2 };

struct Message {
  std::int64_t seq = 0;
  Kind kind = Kind::query;
  Bytes token;
  std::vector<Peer> peers;
  std::array<std::int32_t, 2> range{};
  std::optional<std::string> note;
  std::optional<Peer> origin;
  std::map<std::string, std::uint32_t> counts;
  std::map<std::int32_t, std::string> names;
  std::vector<bool> bits;
  bool operator==(const Message&) const = default;
};
constexpr auto nexo_wire_describe(const Message*) {
  return describe<Message>("message")
      .field("seq", &Message::seq)
      .field("kind", &Message::kind)
      .field("token", &Message::token)
      .field("peers", &Message::peers)
      .field("range", &Message::range)
      .field("note", &Message::note)
      .field("origin", &Message::origin)
      .field("counts", &Message::counts)
      .field("names", &Message::names)
      .field("bits", &Message::bits);
}

Message make_message() {
  Message m;
  m.seq = -9000000000;
  m.kind = Kind::response;
  m.token = {std::byte{0}, std::byte{0xff}, std::byte{'e'}};
  m.peers = {Peer{"alpha", 6881, true}, Peer{"", 0, false}};
  m.range = {-1, 2147483647};
  m.note = "hi";
  m.counts = {{"b", 2}, {"a", 4000000000u}};
  m.names = {{10, "ten"}, {2, "two"}, {-2, "minus two"}, {1, "one"}};
  m.bits = {true, false, true};
  return m;
}

TEST(BencodeDescribed, PersonIsADictionaryInKeyOrder) {
  EXPECT_EQ(encoded(examples::make_person()), "d4:name5:Smith5:place6:London4:yeari1984ee");
  auto back = be::decode<examples::Person>("d4:name5:Smith5:place6:London4:yeari1984ee");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, examples::make_person());
}

TEST(BencodeDescribed, FieldsAreWrittenInByteOrderOfTheirNames) {
  EXPECT_EQ(encoded(Peer{"ab", 6881, true}), "d2:id2:ab4:porti6881e4:seedi1ee");
}

TEST(BencodeDescribed, EveryKindRoundTrips) {
  const Message m = make_message();
  const std::string bytes = encoded(m);
  EXPECT_EQ(bytes,
            "d4:bitsli1ei0ei1ee6:countsd1:ai4000000000e1:bi2ee4:kindi2e5:namesd2:-29:minus two"
            "1:13:one2:103:ten1:23:twoe4:note2:hi5:peersld2:id5:alpha4:porti6881e4:seedi1eed2:"
            "id0:4:porti0e4:seedi0eee5:rangeli-1ei2147483647ee3:seqi-9000000000e5:token3:\0\xff"
            "ee"s);
  auto back = be::decode<Message>(bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, m);
  // The tree reads it too, and writes the same bytes.
  auto tree = be::decode(bytes);
  ASSERT_TRUE(tree);
  EXPECT_EQ(text_of(be::encode(*tree)), bytes);
}

TEST(BencodeDescribed, UnknownKeysAreSkippedMissingOnesNamed) {
  // KRPC: a node reads the keys it knows and ignores the rest (checked all the same).
  auto p = be::decode<Peer>("d1:ad1:xli1eee2:id1:z4:porti1e4:seedi0e1:xd1:yi7eee");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(*p, (Peer{"z", 1, false}));
  EXPECT_EQ(described_error<Peer>("d2:id1:z4:porti1e1:qi03e4:seedi0ee"),
            "bencode: at byte 21: integer has a leading zero");
  EXPECT_EQ(described_error<Peer>("d2:id1:z4:seedi0ee"),
            "bencode: at byte 0: peer: missing key \"port\"");
  EXPECT_EQ(described_error<Peer>("d2:id1:z4:porti1e4:seedi0e1:xe"),
            "bencode: at byte 29: dictionary key \"x\" has no value");
}

TEST(BencodeDescribed, OptionalFieldsMayBeAbsent) {
  Message m = make_message();
  m.note.reset();
  m.origin = Peer{"o", 1, false};
  const std::string bytes = encoded(m);
  EXPECT_EQ(bytes.find("4:note"), std::string::npos);
  EXPECT_NE(bytes.find("6:origind2:id1:o"), std::string::npos);
  Message used = make_message();  // a used object: its note is emptied
  ASSERT_TRUE(be::decode(bytes, used));
  EXPECT_EQ(used, m);
}

TEST(BencodeDescribed, RangesAndTypesAreChecked) {
  EXPECT_EQ(described_error<Peer>("d2:id1:z4:porti65536e4:seedi0ee"),
            "bencode: at byte 14: port: integer 65536 is out of range of its C++ type");
  EXPECT_EQ(described_error<Peer>("d2:id1:z4:porti-1e4:seedi0ee"),
            "bencode: at byte 14: port: integer -1 is out of range of its C++ type");
  EXPECT_EQ(described_error<Peer>("d2:id1:z4:porti1e4:seedi2ee"),
            "bencode: at byte 23: seed: integer 2 is not a bool (0 or 1)");
  EXPECT_EQ(described_error<Peer>("d2:idi1e4:porti1e4:seedi0ee"),
            "bencode: at byte 5: id: expected a byte string, found an integer");
  EXPECT_EQ(described_error<Peer>("l2:ide"),
            "bencode: at byte 0: peer: expected a dictionary, found a list");
  EXPECT_EQ(described_error<Peer>("d2:id1:z4:porti1e4:seedi0eei1e"),
            "bencode: at byte 27: 3 bytes after the end of the value");
  EXPECT_EQ(described_error<Peer>("d4:porti1e2:id1:z4:seedi0ee"),
            "bencode: at byte 10: dictionary key \"id\" is out of order (after \"port\"; keys "
            "ascend as raw bytes)");
}

TEST(BencodeDescribed, ArraysTakeExactlyTheirLength) {
  Message m = make_message();
  std::string bytes = encoded(m);
  auto at = bytes.find("5:rangeli-1ei2147483647ee");
  ASSERT_NE(at, std::string::npos);
  std::string three = bytes;
  three.replace(at, 25, "5:rangeli-1ei2ei3ee");
  EXPECT_EQ(described_error<Message>(three),
            "bencode: at byte " + std::to_string(at + 15) + ": range: more than 2 elements");
  std::string one = bytes;
  one.replace(at, 25, "5:rangeli-1ee");
  EXPECT_EQ(described_error<Message>(one),
            "bencode: at byte " + std::to_string(at + 7) + ": range: 2 elements expected, found 1");
}

TEST(BencodeDescribed, IntegerMapKeysMustBeCanonical) {
  struct Case {
    std::string_view key;
    bool ok;
  };
  for (Case c :
       {Case{"7", true}, Case{"-7", true}, Case{"0", true}, Case{"07", false}, Case{"-0", false},
        Case{"+7", false}, Case{"7x", false}, Case{"", false}, Case{"2147483648", false}}) {
    std::string input = "d" + std::to_string(c.key.size()) + ":" + std::string(c.key) + "0:e";
    ASSERT_TRUE(be::decode(input)) << input;  // canonical bencode: only the key's text is wrong
    Message m = make_message();
    std::string bytes = encoded(m);
    const std::string names = "5:namesd2:-29:minus two1:13:one2:103:ten1:23:twoe";
    auto at = bytes.find(names);
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at, names.size(), "5:names" + input);
    std::string error = described_error<Message>(bytes);
    EXPECT_EQ(error.empty(), c.ok) << c.key << ": " << error;
    if (!c.ok) {
      EXPECT_NE(error.find("is not a canonical decimal integer"), std::string::npos) << error;
    }
  }
}

TEST(BencodeDescribed, LimitsApplyToDescribedTypes) {
  Message m = make_message();
  m.peers.resize(100);
  const std::string bytes = encoded(m);
  auto r = be::decode<Message>(bytes, Limits{.max_decoded = 50 * sizeof(Peer)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::too_large);
  EXPECT_NE(r.error().message().find("peers"), std::string::npos) << r.error().message();
  EXPECT_TRUE(be::decode<Message>(bytes));
}

// A KRPC message: the keys every message has, and the query's arguments as a tree (their
// keys depend on the query).
struct KrpcQuery {
  std::string t;
  std::string y;
  std::string q;
  be::Value a;
  std::optional<std::vector<be::Value>> extra;
  bool operator==(const KrpcQuery&) const = default;
};
constexpr auto nexo_wire_describe(const KrpcQuery*) {
  return describe<KrpcQuery>("krpc")
      .field("t", &KrpcQuery::t)
      .field("y", &KrpcQuery::y)
      .field("q", &KrpcQuery::q)
      .field("a", &KrpcQuery::a)
      .field("extra", &KrpcQuery::extra);
}

TEST(BencodeDescribed, AValueFieldHoldsAnyValue) {
  constexpr std::string_view ping = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
  auto q = be::decode<KrpcQuery>(ping);
  ASSERT_TRUE(q) << q.error().message();
  EXPECT_EQ(q->q, "ping");
  EXPECT_EQ(*q->a.get_string("id"), "abcdefghij0123456789");
  EXPECT_FALSE(q->extra);
  EXPECT_EQ(encoded(*q), ping);
  q->extra = std::vector<be::Value>{1, "two", be::List{}};
  EXPECT_EQ(encoded(*q),
            "d1:ad2:id20:abcdefghij0123456789e5:extrali1e3:twolee1:q4:ping1:t2:aa1:y1:qe");
  // The tree inside is read as strictly as the rest.
  EXPECT_EQ(described_error<KrpcQuery>("d1:ad2:idi-0ee1:q4:ping1:t2:aa1:y1:qe"),
            "bencode: at byte 10: integer is negative zero (i-0e)");
}

TEST(BencodeDescribed, SupportsSaysWhichTypesBencodeCarries) {
  static_assert(be::supports<examples::Person>());
  static_assert(be::supports<Message>());
  static_assert(be::supports<KrpcQuery>());
  static_assert(!be::supports<examples::Large>());       // doubles and a float
  static_assert(!be::supports<examples::Everything>());  // doubles
  static_assert(!be::supports<std::vector<std::optional<int>>>());
  SUCCEED();
}

}  // namespace
}  // namespace nexo::wire
