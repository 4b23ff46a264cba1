// KRPC codec: BEP 5's example messages byte for byte, BEP 32/42/43/44 keys, libtorrent's
// quirks, every malformed case with its error message, the network id, and the direct
// encoder against the bencode tree.
#include "nexo/overlay/krpc.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace nexo::overlay::krpc {
namespace {

using bencode::Value;

NodeId id_of(std::string_view text) {
  return *NodeId::from_bytes(text);
}

// A compact IPv4 entry: address bytes and big-endian port.
std::string peer4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d,
                  std::uint16_t port) {
  return {static_cast<char>(a), static_cast<char>(b),         static_cast<char>(c),
          static_cast<char>(d), static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
}

std::string encoded(const Message& m, const Options& options = {}) {
  wire::Buffer out;
  encode(m, options, out);
  return std::string(out.text());
}

// Parses `bytes`, checks that the message encodes back to exactly `bytes`, through both
// the direct encoder and the bencode tree, and returns it.
Message round_trip(std::string_view bytes, const Options& options = {}) {
  auto m = parse(bytes, options);
  EXPECT_TRUE(m) << (m ? "" : m.error().to_string());
  if (!m) return {};
  EXPECT_EQ(encoded(*m, options), bytes);
  EXPECT_EQ(as_text(bencode::encode(to_value(*m, options))), bytes);
  return *m;
}

std::string parse_error(std::string_view bytes, const Options& options = {}) {
  auto m = parse(bytes, options);
  EXPECT_FALSE(m) << "parsed: " << bytes;
  return m ? std::string() : m.error().message();
}

// ---------------------------------------------------------------------------
// BEP 5's examples

TEST(KrpcBep5, Ping) {
  Message q = round_trip("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
  ASSERT_EQ(q.kind(), Kind::query);
  EXPECT_EQ(q.tid.view(), "aa");
  EXPECT_EQ(q.query()->method, Method::ping);
  EXPECT_EQ(q.query()->id, id_of("abcdefghij0123456789"));
  EXPECT_TRUE(q.query()->extra.empty());
  EXPECT_EQ(q.network, Network::match);

  Message r = round_trip("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re");
  ASSERT_EQ(r.kind(), Kind::response);
  EXPECT_EQ(r.response()->id, id_of("mnopqrstuvwxyz123456"));
  EXPECT_FALSE(r.response()->nodes);
}

TEST(KrpcBep5, Error) {
  Message e = round_trip("d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee");
  ASSERT_EQ(e.kind(), Kind::error);
  EXPECT_EQ(e.error()->code, 201);
  EXPECT_EQ(e.error()->message, "A Generic Error Ocurred");
}

TEST(KrpcBep5, FindNode) {
  Message q = round_trip(
      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:"
      "aa1:y1:qe");
  EXPECT_EQ(q.query()->method, Method::find_node);
  EXPECT_EQ(q.query()->target, id_of("mnopqrstuvwxyz123456"));

  // BEP 5's response example abbreviates `nodes` as "def456..." (9 bytes): not a whole
  // number of 26-byte entries, so refused; one real entry instead.
  EXPECT_EQ(parse_error("d1:rd2:id20:0123456789abcdefghij5:nodes9:def456...e1:t2:aa1:y1:re"),
            "krpc: response: key \"nodes\": compact nodes: 9 bytes is not a multiple of 26 "
            "(IPv4)");
  const std::string reply = "d1:rd2:id20:0123456789abcdefghij5:nodes26:mnopqrstuvwxyz123456" +
                            peer4(127, 0, 0, 1, 6881) + "e1:t2:aa1:y1:re";
  Message r = round_trip(reply);
  ASSERT_EQ(r.kind(), Kind::response);
  ASSERT_TRUE(r.response()->nodes);
  ASSERT_EQ(r.response()->nodes->size(), 1u);
  EXPECT_EQ((*r.response()->nodes)[0].id, id_of("mnopqrstuvwxyz123456"));
  EXPECT_EQ((*r.response()->nodes)[0].endpoint.to_string(), "127.0.0.1:6881");
}

TEST(KrpcBep5, GetPeers) {
  Message q = round_trip(
      "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:"
      "aa1:y1:qe");
  EXPECT_EQ(q.query()->method, Method::get_peers);
  EXPECT_EQ(q.query()->info_hash, id_of("mnopqrstuvwxyz123456"));
  EXPECT_FALSE(q.query()->bootstrap);

  Message r = round_trip(
      "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:"
      "y1:re");
  EXPECT_EQ(r.response()->token, "aoeusnth");
  ASSERT_TRUE(r.response()->values);
  ASSERT_EQ(r.response()->values->size(), 2u);
  EXPECT_EQ((*r.response()->values)[0].to_string(), "97.120.106.101:11893");  // "axje" ".u"

  EXPECT_EQ(parse_error("d1:rd2:id20:abcdefghij01234567895:nodes9:def456...5:token8:aoeusnthe1:t2:"
                        "aa1:y1:re"),
            "krpc: response: key \"nodes\": compact nodes: 9 bytes is not a multiple of 26 (IPv4)");
}

TEST(KrpcBep5, AnnouncePeer) {
  Message q = round_trip(
      "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:"
      "porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe");
  const Query& a = *q.query();
  EXPECT_EQ(a.method, Method::announce_peer);
  EXPECT_TRUE(a.implied_port);
  EXPECT_EQ(a.port, 6881);
  EXPECT_EQ(a.token, "aoeusnth");
  round_trip("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re");
}

// The builders give BEP 5's bytes.
TEST(KrpcBep5, BuildersWriteTheExamples) {
  const NodeId self = id_of("abcdefghij0123456789");
  const NodeId other = id_of("mnopqrstuvwxyz123456");
  Header h;
  h.tid = *Tid::from("aa");
  wire::Buffer out;
  encode_query(h, ping(self), {}, out);
  EXPECT_EQ(out.text(), "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
  encode_query(h, find_node(self, other), {}, out);
  EXPECT_EQ(out.text(),
            "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:"
            "t2:aa1:y1:qe");
  encode_query(h, get_peers(self, other), {}, out);
  EXPECT_EQ(out.text(),
            "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_"
            "peers1:t2:aa1:y1:qe");
  encode_query(h, announce_peer(self, other, 6881, "aoeusnth", true), {}, out);
  EXPECT_EQ(out.text(),
            "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:"
            "mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:"
            "y1:qe");
  Response r;
  r.id = other;
  encode_response(h, r, {}, out);
  EXPECT_EQ(out.text(), "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re");
  encode_error(h, ErrorCode::generic, "A Generic Error Ocurred", {}, out);
  EXPECT_EQ(out.text(), "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee");
}

// ---------------------------------------------------------------------------
// BEP 44: get and put, with the BEP's test vector 1 and 2 (key, signature, salt)

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

const std::string kBep44Key =
    unhex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548");
const std::string kBep44Sig = unhex(
    "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff"
    "1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01");
const std::string kBep44SaltSig = unhex(
    "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
    "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08");
const std::string kBep44Target = unhex("4a533d47ec9c7d95b1ad75f576cffc641853b750");

template <std::size_t N>
std::array<std::uint8_t, N> array_of(std::string_view bytes) {
  std::array<std::uint8_t, N> out{};
  std::memcpy(out.data(), bytes.data(), N);
  return out;
}

TEST(KrpcBep44, GetQueryAndMutableResponse) {
  const std::string get = "d1:ad2:id20:abcdefghij01234567893:seqi4e6:target20:" + kBep44Target +
                          "e1:q3:get1:t2:aa1:y1:qe";
  Message q = round_trip(get);
  ASSERT_EQ(q.kind(), Kind::query);
  EXPECT_EQ(q.query()->method, Method::get);
  EXPECT_EQ(q.query()->seq, 4);
  EXPECT_EQ(q.query()->target->to_byte_string(), kBep44Target);

  const std::string reply = "d1:rd2:id20:mnopqrstuvwxyz1234561:k32:" + kBep44Key +
                            "3:seqi1e3:sig64:" + kBep44Sig +
                            "5:token8:aoeusnth1:v12:Hello World!e1:t2:aa1:y1:re";
  Message r = round_trip(reply);
  ASSERT_EQ(r.kind(), Kind::response);
  const Response& res = *r.response();
  EXPECT_EQ(res.k, array_of<32>(kBep44Key));
  EXPECT_EQ(res.sig, array_of<64>(kBep44Sig));
  EXPECT_EQ(res.seq, 1);
  ASSERT_TRUE(res.v);
  EXPECT_EQ(res.v->encoded(), "12:Hello World!");
  EXPECT_EQ(res.v->value(), Value("Hello World!"));
}

TEST(KrpcBep44, PutImmutableAndMutable) {
  const NodeId self = id_of("abcdefghij0123456789");
  Header h;
  h.tid = *Tid::from("aa");
  wire::Buffer out;

  const std::string immutable =
      "d1:ad2:id20:abcdefghij01234567895:token8:aoeusnth1:v12:Hello World!e1:q3:put1:t2:aa1:"
      "y1:qe";
  Message q = round_trip(immutable);
  ASSERT_EQ(q.kind(), Kind::query);
  EXPECT_EQ(q.query()->method, Method::put);
  EXPECT_FALSE(q.query()->k);
  encode_query(h, put_immutable(self, "aoeusnth", *Item::from_value("Hello World!")), {}, out);
  EXPECT_EQ(out.text(), immutable);

  const std::string mutable_put = "d1:ad2:id20:abcdefghij01234567891:k32:" + kBep44Key +
                                  "3:seqi1e3:sig64:" + kBep44Sig +
                                  "5:token8:aoeusnth1:v12:Hello World!e1:q3:put1:t2:aa1:y1:qe";
  q = round_trip(mutable_put);
  EXPECT_EQ(q.query()->k, array_of<32>(kBep44Key));
  EXPECT_EQ(q.query()->seq, 1);
  encode_query(h,
               put_mutable(self, "aoeusnth", *Item::from_value("Hello World!"),
                           array_of<32>(kBep44Key), array_of<64>(kBep44Sig), 1),
               {}, out);
  EXPECT_EQ(out.text(), mutable_put);

  // Test vector 2 (salt "foobar"), with a CAS.
  const std::string salted = "d1:ad3:casi0e2:id20:abcdefghij01234567891:k32:" + kBep44Key +
                             "4:salt6:foobar3:seqi1e3:sig64:" + kBep44SaltSig +
                             "5:token8:aoeusnth1:v12:Hello World!e1:q3:put1:t2:aa1:y1:qe";
  q = round_trip(salted);
  EXPECT_EQ(q.query()->salt, "foobar");
  EXPECT_EQ(q.query()->cas, 0);
  encode_query(h,
               put_mutable(self, "aoeusnth", *Item::from_value("Hello World!"),
                           array_of<32>(kBep44Key), array_of<64>(kBep44SaltSig), 1, "foobar", 0),
               {}, out);
  EXPECT_EQ(out.text(), salted);
}

TEST(KrpcBep44, ValueOfAnyTypeKeepsItsEncoding) {
  const std::string put =
      "d1:ad2:id20:abcdefghij01234567895:token1:x1:vd1:ali1ei-2ee1:bd1:c0:eee1:q3:put1:t2:aa1:"
      "y1:qe";
  Message q = round_trip(put);
  ASSERT_EQ(q.kind(), Kind::query);
  EXPECT_EQ(q.query()->v->encoded(), "d1:ali1ei-2ee1:bd1:c0:ee");
  EXPECT_TRUE(q.query()->v->value().is_dict());
}

TEST(KrpcBep44, ItemBounds) {
  EXPECT_TRUE(Item::from_value(std::string(996, 'x')));  // "996:" + 996 = 1000 bytes
  auto big = Item::from_value(std::string(997, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().kind(), ErrorKind::too_large);
  EXPECT_EQ(big.error().message(), "encoding of 1001 bytes, more than 1000 (BEP 44)");
  auto decoded = Item::from_encoded("li1ee");
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->value(), Value(Value::List{1}));
  EXPECT_FALSE(Item::from_encoded("li1e"));
}

// ---------------------------------------------------------------------------
// BEP 32, 42, 43 and libtorrent

TEST(KrpcKeys, WantAndNodes6) {
  Message q = round_trip(
      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee1:q9:"
      "find_node1:t2:aa1:y1:qe");
  ASSERT_EQ(q.kind(), Kind::query);
  EXPECT_EQ(q.query()->want, (Want{true, true}));
  // Unknown entries of `want` are ignored.
  auto other = parse(
      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n52:n6ee1:q9:"
      "find_node1:t2:aa1:y1:qe");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->query()->want, (Want{false, true}));

  std::string v6(16, '\0');
  v6[15] = 1;  // ::1
  const std::string reply = "d1:rd2:id20:mnopqrstuvwxyz1234566:nodes638:abcdefghij0123456789" + v6 +
                            "\x1a\xe1" + "e1:t2:aa1:y1:re";
  Message r = round_trip(reply);
  ASSERT_EQ(r.kind(), Kind::response);
  ASSERT_TRUE(r.response()->nodes6);
  EXPECT_EQ((*r.response()->nodes6)[0].endpoint.to_string(), "[::1]:6881");

  std::string mapped(16, '\0');
  mapped[10] = mapped[11] = '\xff';
  mapped[12] = 127;
  mapped[15] = 1;
  EXPECT_EQ(parse_error("d1:rd2:id20:mnopqrstuvwxyz1234566:nodes638:abcdefghij0123456789" + mapped +
                        "\x1a\xe1" + "e1:t2:aa1:y1:re"),
            "krpc: response: key \"nodes6\": entry 0: an IPv4-mapped address");
}

TEST(KrpcKeys, RequesterIpAtTheTopLevel) {
  const std::string reply =
      "d2:ip6:" + peer4(192, 0, 2, 7, 6881) + "1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
  Message r = round_trip(reply);
  ASSERT_TRUE(r.ip);
  EXPECT_EQ(r.ip->to_string(), "192.0.2.7:6881");
  EXPECT_EQ(parse_error("d2:ip5:abcde1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"),
            "krpc: response: key \"ip\": compact peer: 5 bytes, expected 6 (IPv4) or 18 (IPv6)");
}

TEST(KrpcKeys, ReadOnlyQuery) {
  Message q = round_trip("d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe");
  EXPECT_TRUE(q.read_only);
  auto zero = parse("d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi0e1:t2:aa1:y1:qe");
  ASSERT_TRUE(zero);
  EXPECT_FALSE(zero->read_only);
}

TEST(KrpcLibtorrent, BinaryVersionAndUnknownKeysInR) {
  // libtorrent: v = "LT" + two binary bytes, and `p` (the port it saw) inside r.
  const std::string reply = "d2:ip6:" + peer4(127, 0, 0, 1, 40000) +
                            "1:rd2:id20:mnopqrstuvwxyz1234561:pi40000ee1:t2:\x01\x02" + "1:v4:LT" +
                            std::string("\x02\x00", 2) + "1:y1:re";
  Message r = round_trip(reply);
  ASSERT_EQ(r.kind(), Kind::response);
  EXPECT_EQ(r.version, std::string("LT\x02\x00", 4));
  EXPECT_EQ(r.tid.view(), "\x01\x02");
  ASSERT_NE(r.response()->extra.find("p"), nullptr);
  EXPECT_EQ(*r.response()->extra.find("p"), Value(40000));
}

TEST(KrpcLibtorrent, BootstrapAndUnknownArguments) {
  Message q = round_trip(
      "d1:ad2:bsi1e2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234566:noseedi1e"
      "e1:q9:get_peers1:t2:aa1:y1:qe");
  ASSERT_EQ(q.kind(), Kind::query);
  EXPECT_TRUE(q.query()->bootstrap);
  EXPECT_EQ(q.query()->extra.size(), 1u);  // noseed (BEP 33), kept as it is
  // announce_peer with libtorrent's `n` (name) and `seed`.
  Message a = round_trip(
      "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234561:n4:name4:porti1e"
      "4:seedi1e5:token2:tke1:q13:announce_peer1:t2:aa1:y1:qe");
  EXPECT_EQ(a.query()->extra.size(), 2u);
  // A key another method takes is an unknown one here (ping's target).
  Message p = round_trip(
      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q4:ping1:t2:aa1:"
      "y1:qe");
  EXPECT_FALSE(p.query()->target);
  EXPECT_NE(p.query()->extra.find("target"), nullptr);
}

TEST(KrpcExtension, OursAndUnknownMethods) {
  Message q = round_trip(
      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234565:topic3:abce1:q9:"
      "nexo_join1:t2:aa1:y1:qe");
  ASSERT_EQ(q.kind(), Kind::query);
  EXPECT_EQ(q.query()->method, Method::extension);
  EXPECT_EQ(q.query()->method_name(), "nexo_join");
  EXPECT_EQ(q.query()->extra.size(), 2u);  // its whole `a` but id
  EXPECT_FALSE(q.query()->target);

  Message u = round_trip("d1:ad2:id20:abcdefghij0123456789e1:q17:sample_infohashes1:t2:aa1:y1:qe");
  EXPECT_EQ(u.query()->method, Method::unknown);
  EXPECT_EQ(u.query()->method_name(), "sample_infohashes");

  // Built: extension() and the 204 a node answers.
  Header h;
  h.tid = *Tid::from("aa");
  wire::Buffer out;
  encode_query(h,
               extension(id_of("abcdefghij0123456789"), "nexo_join",
                         bencode::Dict{{"topic", "abc"}, {"target", "mnopqrstuvwxyz123456"}}),
               {}, out);
  EXPECT_EQ(out.text(),
            "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234565:topic3:abce1:q9:"
            "nexo_join1:t2:aa1:y1:qe");
  encode_error(h, ErrorCode::method_unknown, "Method Unknown", {}, out);
  EXPECT_EQ(out.text(), "d1:eli204e14:Method Unknowne1:t2:aa1:y1:ee");
}

// ---------------------------------------------------------------------------
// Malformed messages: each refused with its message

struct BadCase {
  std::string bytes;
  std::string error;
};

TEST(KrpcMalformed, EachWithItsMessage) {
  const std::string id = "2:id20:abcdefghij0123456789";
  const std::vector<BadCase> cases = {
      {"d1:t2:aa1:y1:q",
       "krpc: bencode: at byte 14: truncated: the dictionary at byte 0 has no end 'e'"},
      {"li1ee", "krpc: message: expected a dictionary, found a list"},
      {"d1:ad" + id + "e1:q4:ping1:y1:qe", "krpc: message: missing key \"t\""},
      {"d1:ad" + id + "e1:q4:ping1:ti1e1:y1:qe",
       "krpc: message: key \"t\": expected a byte string, found an integer"},
      {"d1:ad" + id + "e1:q4:ping1:t17:aaaaaaaaaaaaaaaaa1:y1:qe",
       "krpc: message: key \"t\": 17 bytes, more than 16"},
      {"d1:ad" + id + "e1:q4:ping1:t2:aae", "krpc: message: missing key \"y\""},
      {"d1:ad" + id + "e1:q4:ping1:t2:aa1:y1:xe",
       "krpc: message: key \"y\": expected \"q\", \"r\" or \"e\", found \"x\""},
      {"d1:q4:ping1:t2:aa1:y1:qe", "krpc: ping query: missing key \"a\""},
      {"d1:ad" + id + "e1:t2:aa1:y1:qe", "krpc: query: missing key \"q\""},
      {"d1:ali1ee1:q4:ping1:t2:aa1:y1:qe",
       "krpc: ping query: key \"a\": expected a dictionary, found a list"},
      {"d1:ade1:q4:ping1:t2:aa1:y1:qe", "krpc: ping query: missing key \"id\""},
      {"d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe",
       "krpc: ping query: key \"id\": expected 20 bytes, found 19"},
      {"d1:ad2:id21:abcdefghij0123456789Xe1:q4:ping1:t2:aa1:y1:qe",
       "krpc: ping query: key \"id\": expected 20 bytes, found 21"},
      {"d1:ad2:idi7ee1:q4:ping1:t2:aa1:y1:qe",
       "krpc: ping query: key \"id\": expected a byte string, found an integer"},
      {"d1:ad" + id + "9:info_hash19:mnopqrstuvwxyz12345e1:q9:get_peers1:t2:aa1:y1:qe",
       "krpc: get_peers query: key \"info_hash\": expected 20 bytes, found 19"},
      {"d1:ad" + id + "e1:q9:get_peers1:t2:aa1:y1:qe",
       "krpc: get_peers query: missing key \"info_hash\""},
      {"d1:ad" + id + "e1:q9:find_node1:t2:aa1:y1:qe",
       "krpc: find_node query: missing key \"target\""},
      {"d1:ad" + id + "6:target20:mnopqrstuvwxyz1234564:want2:n4e1:q9:find_node1:t2:aa1:y1:qe",
       "krpc: find_node query: key \"want\": expected a list, found a byte string"},
      {"d1:ad" + id + "6:target20:mnopqrstuvwxyz1234564:wantli4eee1:q9:find_node1:t2:aa1:y1:qe",
       "krpc: find_node query: key \"want\": entries must be byte strings"},
      {"d1:ad" + id +
           "9:info_hash20:mnopqrstuvwxyz1234564:porti6881ee1:q13:announce_peer1:t2:"
           "aa1:y1:qe",
       "krpc: announce_peer query: missing key \"token\""},
      {"d1:ad" + id +
           "9:info_hash20:mnopqrstuvwxyz1234565:token2:tke1:q13:announce_peer1:t2:"
           "aa1:y1:qe",
       "krpc: announce_peer query: missing key \"port\""},
      {"d1:ad" + id +
           "9:info_hash20:mnopqrstuvwxyz1234564:porti65536e5:token2:tke1:q13:"
           "announce_peer1:t2:aa1:y1:qe",
       "krpc: announce_peer query: key \"port\": 65536 is not a port"},
      {"d1:ad" + id +
           "9:info_hash20:mnopqrstuvwxyz1234564:port4:68815:token2:tke1:q13:"
           "announce_peer1:t2:aa1:y1:qe",
       "krpc: announce_peer query: key \"port\": expected an integer, found a byte string"},
      {"d1:ad" + id + "5:token1:xe1:q3:put1:t2:aa1:y1:qe", "krpc: put query: missing key \"v\""},
      {"d1:ad" + id + "1:k31:" + std::string(31, 'k') +
           "3:seqi1e5:token1:x1:v1:ve1:q3:put1:t2:aa1:y1:qe",
       "krpc: put query: key \"k\": expected 32 bytes, found 31"},
      {"d1:ad" + id + "1:k32:" + std::string(32, 'k') +
           "3:seqi1e5:token1:x1:v1:ve1:q3:put1:t2:aa1:y1:qe",
       "krpc: put query: missing key \"sig\""},
      {"d1:ad" + id + "3:seqi1e5:token1:x1:v1:ve1:q3:put1:t2:aa1:y1:qe",
       "krpc: put query: missing key \"k\""},
      {"d1:ad" + id + "4:salt65:" + std::string(65, 's') +
           "5:token1:x1:v1:ve1:q3:put1:t2:aa1:y1:qe",
       "krpc: put query: key \"salt\": 65 bytes, more than 64 (BEP 44)"},
      {"d1:ad" + id + "5:token1:x1:v997:" + std::string(997, 'v') + "e1:q3:put1:t2:aa1:y1:qe",
       "krpc: put query: key \"v\": encoding of 1001 bytes, more than 1000 (BEP 44)"},
      {"d1:t2:aa1:y1:re", "krpc: response: missing key \"r\""},
      {"d1:rde1:t2:aa1:y1:re", "krpc: response: missing key \"id\""},
      {"d1:rd2:id20:mnopqrstuvwxyz1234565:nodes27:" + std::string(27, 'n') + "e1:t2:aa1:y1:re",
       "krpc: response: key \"nodes\": compact nodes: 27 bytes is not a multiple of 26 (IPv4)"},
      {"d1:rd2:id20:mnopqrstuvwxyz1234566:nodes626:" + std::string(26, 'n') + "e1:t2:aa1:y1:re",
       "krpc: response: key \"nodes6\": compact nodes6: 26 bytes is not a multiple of 38 "
       "(IPv6)"},
      {"d1:rd2:id20:mnopqrstuvwxyz1234566:valuesl7:abcdefgee1:t2:aa1:y1:re",
       "krpc: response: key \"values\": compact peer: 7 bytes, expected 6 (IPv4) or 18 (IPv6)"},
      {"d1:rd2:id20:mnopqrstuvwxyz1234566:values6:abcdefe1:t2:aa1:y1:re",
       "krpc: response: key \"values\": expected a list, found a byte string"},
      {"d1:rd2:id20:mnopqrstuvwxyz1234563:sig3:abce1:t2:aa1:y1:re",
       "krpc: response: key \"sig\": expected 64 bytes, found 3"},
      {"d1:t2:aa1:y1:ee", "krpc: error: missing key \"e\""},
      {"d1:eli201ee1:t2:aa1:y1:ee",
       "krpc: error: key \"e\": expected [code, message], an integer and a byte string"},
      {"d1:el3:abci201ee1:t2:aa1:y1:ee",
       "krpc: error: key \"e\": expected [code, message], an integer and a byte string"},
      {"d1:ad" + id + "e1:q4:ping2:ro1:11:t2:aa1:y1:qe",
       "krpc: query: key \"ro\": expected an integer, found a byte string"},
      {"d1:ad" + id + "e1:q4:ping1:t2:aa1:vi1e1:y1:qe",
       "krpc: query: key \"v\": expected a byte string, found an integer"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.bytes);
    EXPECT_EQ(parse_error(c.bytes), c.error);
  }
}

TEST(KrpcMalformed, SizeLimitsAreTooLarge) {
  const std::string huge = "d1:t2:aa1:y1:r1:z65536:" + std::string(65536, 'z') + "e";
  auto m = parse(huge);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind(), ErrorKind::too_large);

  std::string deep = "d1:ad2:id20:abcdefghij01234567891:x";
  for (int i = 0; i < 10; ++i)
    deep += "l";
  for (int i = 0; i < 10; ++i)
    deep += "e";
  deep += "e1:q4:ping1:t2:aa1:y1:qe";
  m = parse(deep);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind(), ErrorKind::too_large);

  auto salt = parse("d1:ad2:id20:abcdefghij01234567894:salt65:" + std::string(65, 's') +
                    "5:token1:x1:v1:ve1:q3:put1:t2:aa1:y1:qe");
  ASSERT_FALSE(salt);
  EXPECT_EQ(salt.error().kind(), ErrorKind::too_large);
}

// Never reads past its input: every prefix of a valid message is refused cleanly.
TEST(KrpcMalformed, EveryTruncationRefused) {
  const std::string full =
      "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456"
      "e1:q9:get_peers1:t2:aa1:y1:qe";
  for (std::size_t n = 0; n < full.size(); ++n) {
    const std::string prefix = full.substr(0, n);
    EXPECT_FALSE(parse(prefix)) << n;
  }
}

// ---------------------------------------------------------------------------
// Answering what did not parse

TEST(KrpcRejection, QueriesWithATidGetAnError) {
  const auto bytes = [](std::string_view s) { return as_bytes(s); };
  auto r = rejection(bytes("d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:xy1:y1:qe"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tid.view(), "xy");
  EXPECT_EQ(r->code, ErrorCode::protocol);
  EXPECT_EQ(r->message, "krpc: ping query: key \"id\": expected 20 bytes, found 19");

  r = rejection(bytes("d1:ad2:id20:abcdefghij01234567894:salt65:" + std::string(65, 's') +
                      "5:token1:x1:v1:ve1:q3:put1:t2:xy1:y1:qe"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, ErrorCode::salt_too_big);
  r = rejection(bytes("d1:ad2:id20:abcdefghij01234567895:token1:x1:v997:" + std::string(997, 'v') +
                      "e1:q3:put1:t2:xy1:y1:qe"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, ErrorCode::message_too_big);

  // Nothing to answer: a valid message, a response, no t, no bencode, a bad y.
  EXPECT_FALSE(rejection(bytes("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")));
  EXPECT_FALSE(rejection(bytes("d1:rde1:t2:aa1:y1:re")));
  EXPECT_FALSE(rejection(bytes("d1:ade1:q4:ping1:y1:qe")));
  EXPECT_FALSE(rejection(bytes("d1:t2:aa1:y1:q")));
  EXPECT_FALSE(rejection(bytes("d1:ade1:q4:ping1:t2:aa1:y1:xe")));

  EXPECT_EQ(transaction_of(bytes("d1:rde1:t2:aa1:y1:re")), Tid::from("aa"));
  EXPECT_EQ(transaction_of(bytes("d1:rde1:y1:re")), std::nullopt);
  EXPECT_EQ(transaction_of(bytes("garbage")), std::nullopt);
}

TEST(KrpcTid, BoundsAndU16) {
  EXPECT_TRUE(Tid::from(std::string(16, 't')));
  EXPECT_FALSE(Tid::from(std::string(17, 't')));
  EXPECT_EQ(Tid::from_u16(0x1234).view(), "\x12\x34");
  EXPECT_EQ(Tid().view(), "");
}

// ---------------------------------------------------------------------------
// The network id of a private overlay

TEST(KrpcNetwork, TaggedAndChecked) {
  const Options ours{"overlay-7"};
  const Options other{"overlay-8"};
  Header h;
  h.tid = *Tid::from("aa");
  wire::Buffer out;
  encode_query(h, ping(id_of("abcdefghij0123456789")), ours, out);
  const std::string tagged(out.text());
  EXPECT_EQ(tagged, "d1:ad2:id20:abcdefghij0123456789e2:nx9:overlay-71:q4:ping1:t2:aa1:y1:qe");

  EXPECT_EQ(round_trip(tagged, ours).network, Network::match);
  EXPECT_EQ(parse(tagged, other)->network, Network::foreign);
  EXPECT_EQ(parse(tagged)->network, Network::foreign);  // a public node sees a private one
  const std::string plain = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
  EXPECT_EQ(parse(plain, ours)->network, Network::missing);
  EXPECT_EQ(parse(plain)->network, Network::match);

  // Every kind carries it.
  encode_error(h, ErrorCode::generic, "x", ours, out);
  EXPECT_EQ(out.text(), "d1:eli201e1:xe2:nx9:overlay-71:t2:aa1:y1:ee");
  Response r;
  encode_response(h, r, ours, out);
  EXPECT_EQ(parse(out.text(), ours)->network, Network::match);
}

// ---------------------------------------------------------------------------
// The direct encoder against the bencode tree, on random messages

NodeId random_id(fault::Random& rng) {
  return NodeId::random(rng);
}

std::string random_bytes(fault::Random& rng, std::size_t max) {
  std::string s(rng.next() % (max + 1), '\0');
  for (char& c : s)
    c = static_cast<char>(rng.next());
  return s;
}

bencode::Dict random_extra(fault::Random& rng) {
  static constexpr std::string_view kKeys[] = {"a", "id", "p",  "seq",   "target", "token",
                                               "v", "x",  "zz", "nodes", "want",   "bs"};
  bencode::Dict d;
  const std::size_t n = rng.next() % 4;
  for (std::size_t i = 0; i < n; ++i) {
    const auto key = std::string(kKeys[rng.next() % std::size(kKeys)]);
    if (rng.next() % 2 == 0)
      d.insert_or_assign(key, static_cast<std::int64_t>(rng.next()));
    else
      d.insert_or_assign(key, random_bytes(rng, 8));
  }
  return d;
}

std::vector<NodeInfo> random_nodes(fault::Random& rng) {
  std::vector<NodeInfo> nodes;
  const std::size_t n = rng.next() % 4;
  for (std::size_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 4> a4{};
    std::array<std::uint8_t, 16> a6{};
    for (auto& b : a4)
      b = static_cast<std::uint8_t>(rng.next());
    for (auto& b : a6)
      b = static_cast<std::uint8_t>(rng.next());
    a6[0] = 0x20;  // never IPv4-mapped
    const auto address = rng.next() % 2 ? net::InetAddress::v4(a4) : net::InetAddress::v6(a6);
    nodes.push_back({random_id(rng),
                     net::Endpoint(address, static_cast<std::uint16_t>(1 + rng.next() % 65535))});
  }
  return nodes;
}

Message random_message(fault::Random& rng) {
  Message m;
  m.tid = *Tid::from(random_bytes(rng, kMaxTransactionBytes));
  if (rng.next() % 2) m.version = random_bytes(rng, 4);
  const auto maybe = [&] { return rng.next() % 2 == 0; };
  switch (rng.next() % 3) {
    case 0: {
      Query q;
      q.method = static_cast<Method>(rng.next() % 8);
      if (q.method == Method::extension) q.name = "nexo_x";
      if (q.method == Method::unknown) q.name = "vote";
      q.id = random_id(rng);
      m.read_only = maybe();
      if (maybe()) q.target = random_id(rng);
      if (maybe()) q.info_hash = random_id(rng);
      q.want = {maybe(), maybe()};
      q.bootstrap = maybe();
      if (maybe()) q.port = static_cast<std::uint16_t>(rng.next());
      q.implied_port = maybe();
      if (maybe()) q.token = random_bytes(rng, 20);
      if (maybe()) q.k = PublicKey{};
      if (maybe()) q.sig = Signature{};
      if (maybe()) q.seq = static_cast<std::int64_t>(rng.next());
      if (maybe()) q.cas = -static_cast<std::int64_t>(rng.next() % 1000);
      if (maybe()) q.salt = random_bytes(rng, 64);
      if (maybe()) q.v = *Item::from_value(Value::List{1, random_bytes(rng, 30)});
      q.extra = random_extra(rng);
      m.body = std::move(q);
      break;
    }
    case 1: {
      Response r;
      r.id = random_id(rng);
      if (maybe()) {
        const auto peers = random_nodes(rng);
        if (!peers.empty()) m.ip = peers[0].endpoint;
      }
      if (maybe()) r.nodes = random_nodes(rng);
      if (maybe()) r.nodes6 = random_nodes(rng);
      if (maybe()) {
        r.values.emplace();
        for (const NodeInfo& n : random_nodes(rng))
          r.values->push_back(n.endpoint);
      }
      if (maybe()) r.token = random_bytes(rng, 8);
      if (maybe()) r.v = *Item::from_value(random_bytes(rng, 50));
      if (maybe()) r.k = PublicKey{};
      if (maybe()) r.sig = Signature{};
      if (maybe()) r.seq = 7;
      r.extra = random_extra(rng);
      m.body = std::move(r);
      break;
    }
    default:
      m.body = ErrorReply{static_cast<std::int64_t>(rng.next() % 400), random_bytes(rng, 30)};
  }
  return m;
}

TEST(KrpcEncode, DirectBytesEqualTheTree) {
  fault::Random rng(2026);
  wire::Buffer out;
  int parsed = 0;
  for (int i = 0; i < 2000; ++i) {
    const Message m = random_message(rng);
    const Options options{i % 3 == 0 ? "net" : ""};
    encode(m, options, out);
    ASSERT_EQ(out.text(), as_text(bencode::encode(to_value(m, options)))) << i;
    // Built freely, a message may lack a key its method needs; when it has them all, it
    // parses back and re-encodes to the same bytes.
    auto back = parse(out.text(), options);
    if (!back) continue;
    ++parsed;
    EXPECT_EQ(back->network, Network::match);
    wire::Buffer again;
    encode(*back, options, again);
    ASSERT_EQ(again.text(), out.text()) << i;
  }
  EXPECT_GT(parsed, 1000);  // most do: responses, errors, pings, extensions
}

// Encoding into a warm buffer does not reallocate it.
TEST(KrpcEncode, WarmBufferIsReused) {
  Response r;
  r.id = id_of("mnopqrstuvwxyz123456");
  r.nodes = std::vector<NodeInfo>(8, NodeInfo{r.id, *net::Endpoint::parse("192.0.2.1:6881")});
  r.token = "tokentok";
  Header h;
  h.tid = Tid::from_u16(7);
  h.version = "nx01";
  wire::Buffer out;
  encode_response(h, r, {}, out);
  const std::byte* data = out.data();
  const std::size_t capacity = out.capacity();
  for (int i = 0; i < 100; ++i)
    encode_response(h, r, {}, out);
  EXPECT_EQ(out.data(), data);
  EXPECT_EQ(out.capacity(), capacity);
  EXPECT_TRUE(parse(out.text()));
}

}  // namespace
}  // namespace nexo::overlay::krpc
