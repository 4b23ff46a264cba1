// KRPC codec: every malformed case with its error message, the errors answered to
// queries with a readable tid, the network id, and the direct encoder against the bencode
// tree on random messages.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "nexo/fault/random.hpp"
#include "nexo/overlay/krpc.hpp"
#include "nexo/overlay/krpc_test_util.hpp"

namespace nexo::overlay::krpc {
namespace {

using namespace test_util;

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
