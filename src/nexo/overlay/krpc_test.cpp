// KRPC codec: BEP 5's example messages byte for byte, BEP 32/42/43/44 keys, libtorrent's
// quirks and nexo's extension queries. Malformed input, the network id and the direct
// encoder are in krpc_robustness_test.cpp.
#include "nexo/overlay/krpc.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "nexo/overlay/krpc_test_util.hpp"

namespace nexo::overlay::krpc {
namespace {

using namespace test_util;

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

}  // namespace
}  // namespace nexo::overlay::krpc
