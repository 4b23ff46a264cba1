// Node driven by hand: crafted KRPC datagrams in, its answers parsed and checked field by
// field (ping, find_node with want, get_peers and announce_peer with tokens, BEP 44 get
// and put with every error code end to end, extension handlers, 203 and 204), the rate
// limit, bad input counted, network ids, read-only nodes, reply matching, a single-query
// operation's timeout and the completion contract. Fake time, no network.
#include "nexo/overlay/node.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nexo/overlay/bep42.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;

const Time t0 = Time{} + 24h;

net::Endpoint ep(std::uint8_t last, std::uint16_t port = 6881) {
  return net::Endpoint(net::InetAddress::v4({10, 0, 0, last}), port);
}

NodeId id_of(std::uint8_t first, std::uint8_t fill = 0) {
  NodeId::Bytes b{};
  b.fill(fill);
  b[0] = first;
  return NodeId(b);
}

struct Sent {
  krpc::Message message;
  net::Endpoint to;
};

class NodeTest : public ::testing::Test {
 protected:
  NodeConfig base_config() {
    NodeConfig c;
    c.id = id_of(0x80);
    c.seed = 3;
    c.routing.one_contact_per_ip = false;
    return c;
  }
  void make(NodeConfig c) { node = std::make_unique<Node>(ep(1), t0, std::move(c)); }
  void SetUp() override { make(base_config()); }

  void deliver(std::string_view bytes, const net::Endpoint& from, Time now = t0) {
    node->on_datagram(as_bytes(bytes), from, now);
  }
  void query(const krpc::Query& q, const net::Endpoint& from, Time now = t0,
             std::string_view tid = "aa", bool read_only = false, krpc::Options options = {}) {
    krpc::Header h;
    h.tid = *krpc::Tid::from(tid);
    h.read_only = read_only;
    wire::Buffer out;
    krpc::encode_query(h, q, options, out);
    deliver(out.text(), from, now);
  }
  std::vector<Sent> drain() {
    std::vector<Sent> sent;
    Bytes bytes;
    net::Endpoint to;
    while (node->poll_transmit(bytes, to)) {
      auto m = krpc::parse(bytes, node->config().krpc);
      EXPECT_TRUE(m) << m.error().to_string();
      if (m) sent.push_back({std::move(*m), to});
    }
    return sent;
  }
  // The one reply the node sent, to `to` (queries it sent meanwhile, such as the pings the
  // routing table asks for when an id shows up at a new endpoint, are left aside).
  krpc::Message reply(const net::Endpoint& to) {
    auto sent = drain();
    std::erase_if(sent, [](const Sent& s) { return s.message.kind() == krpc::Kind::query; });
    EXPECT_EQ(sent.size(), 1u);
    if (sent.empty()) return {};
    EXPECT_EQ(sent[0].to, to);
    return sent[0].message;
  }
  std::size_t replies() {
    auto sent = drain();
    return static_cast<std::size_t>(std::count_if(sent.begin(), sent.end(), [](const Sent& s) {
      return s.message.kind() != krpc::Kind::query;
    }));
  }
  krpc::Response response_to(const krpc::Query& q, const net::Endpoint& from, Time now = t0) {
    query(q, from, now);
    auto m = reply(from);
    EXPECT_EQ(m.kind(), krpc::Kind::response);
    return m.response() ? *m.response() : krpc::Response{};
  }
  std::int64_t error_to(const krpc::Query& q, const net::Endpoint& from, Time now = t0) {
    query(q, from, now);
    auto m = reply(from);
    EXPECT_EQ(m.kind(), krpc::Kind::error);
    return m.error() ? m.error()->code : 0;
  }

  std::unique_ptr<Node> node;
};

TEST_F(NodeTest, PingIsAnsweredWithIdTidVersionAndIp) {
  const NodeId peer = id_of(0x10);
  query(krpc::ping(peer), ep(2, 7000), t0, "xyz");
  auto m = reply(ep(2, 7000));
  ASSERT_EQ(m.kind(), krpc::Kind::response);
  EXPECT_EQ(m.tid.view(), "xyz");
  EXPECT_EQ(m.response()->id, node->id());
  ASSERT_TRUE(m.ip);
  EXPECT_EQ(*m.ip, ep(2, 7000));  // BEP 42: the requester's address
  EXPECT_EQ(m.version, std::string("NX\x00\x01", 4));
  // The querier is in the routing table now (BEP 5: a query proves it lives).
  ASSERT_NE(node->routing_table().find(peer), nullptr);
  EXPECT_EQ(node->routing_table().find(peer)->endpoint, ep(2, 7000));
  EXPECT_EQ(node->counters().queries, 1u);
}

TEST_F(NodeTest, NewContactsFromQueriesAreVerifiedWithAPing) {
  const NodeId peer = id_of(0x10);
  query(krpc::ping(peer), ep(2));
  auto sent = drain();
  ASSERT_EQ(sent.size(), 2u);  // the answer, and a ping of our own
  const Sent& ping = sent[0].message.kind() == krpc::Kind::query ? sent[0] : sent[1];
  ASSERT_EQ(ping.message.query()->method, krpc::Method::ping);
  EXPECT_EQ(ping.to, ep(2));
  const Contact* contact = node->routing_table().find(peer);
  ASSERT_NE(contact, nullptr);
  EXPECT_EQ(node->routing_table().state(*contact, t0), ContactState::questionable);
  krpc::Header h;
  h.tid = ping.message.tid;
  krpc::Response pong;
  pong.id = peer;
  wire::Buffer out;
  krpc::encode_response(h, pong, {}, out);
  deliver(out.text(), ep(2), t0 + 30ms);
  contact = node->routing_table().find(peer);
  EXPECT_EQ(node->routing_table().state(*contact, t0 + 30ms), ContactState::good);
  EXPECT_EQ(node->counters().verification_pings, 1u);
  // Known now: a second query is not verified again.
  query(krpc::ping(peer), ep(2), t0 + 1s, "bb");
  EXPECT_EQ(drain().size(), 1u);
}

TEST_F(NodeTest, Bep42KeepsForgedIdsOutOfTheTableWhenEnforced) {
  NodeConfig c = base_config();
  c.enforce_bep42 = true;
  make(c);
  const net::Endpoint public_ep(net::InetAddress::v4({203, 0, 113, 5}), 6881);
  query(krpc::ping(id_of(0x12)), public_ep);
  EXPECT_EQ(replies(), 1u);  // answered all the same
  EXPECT_EQ(node->routing_table().find(id_of(0x12)), nullptr);
  EXPECT_EQ(node->counters().bep42_rejected, 1u);
  fault::Random rng(1);
  const NodeId genuine = bep42_node_id(public_ep.address(), 3, rng);
  query(krpc::ping(genuine), public_ep);
  EXPECT_NE(node->routing_table().find(genuine), nullptr);
  query(krpc::ping(id_of(0x13)), ep(9));  // 10/8 is exempt
  EXPECT_NE(node->routing_table().find(id_of(0x13)), nullptr);
}

TEST_F(NodeTest, IdDerivedFromTheExternalAddress) {
  NodeConfig c = base_config();
  c.id.reset();
  c.external_address = net::InetAddress::v4({198, 51, 100, 7});
  make(c);
  EXPECT_TRUE(bep42_valid(node->id(), *c.external_address));
}

TEST_F(NodeTest, EvictionPingOfAQuestionableContactThatNeverAnswers) {
  NodeConfig c = base_config();
  c.routing.k = 1;
  c.routing.replacements = 1;
  c.routing.wide.clear();  // BEP 5's buckets: bucket 0 holds k = 1
  make(c);
  query(krpc::ping(id_of(0x10)), ep(2));
  drain();
  query(krpc::ping(id_of(0x20)), ep(3));  // same bucket (first bit 0), full: cached
  auto sent = drain();
  EXPECT_EQ(node->counters().eviction_pings, 1u);
  const bool pinged_old = std::any_of(sent.begin(), sent.end(), [](const Sent& s) {
    return s.to == ep(2) && s.message.kind() == krpc::Kind::query;
  });
  EXPECT_TRUE(pinged_old);
  EXPECT_EQ(node->routing_table().find(id_of(0x20)), nullptr);
  // Nobody answers: at the hard deadlines the old contact is evicted for the newcomer.
  Time now = t0;
  for (int i = 0; i < 20 && node->outstanding_queries() > 0; ++i) {
    now = std::max(now, *node->next_timer());
    node->on_timer(now);
    drain();
  }
  EXPECT_EQ(node->routing_table().find(id_of(0x10)), nullptr);
  EXPECT_NE(node->routing_table().find(id_of(0x20)), nullptr);
  EXPECT_GE(node->counters().timeouts, 2u);
}

TEST_F(NodeTest, ReadOnlyQueriersStayOutOfTheTable) {
  krpc::Header h;
  h.tid = *krpc::Tid::from("ro");
  h.read_only = true;
  wire::Buffer out;
  krpc::encode_query(h, krpc::ping(id_of(0x11)), {}, out);
  deliver(out.text(), ep(3));
  EXPECT_EQ(reply(ep(3)).kind(), krpc::Kind::response);
  EXPECT_EQ(node->routing_table().find(id_of(0x11)), nullptr);
}

TEST_F(NodeTest, FindNodeAnswersTheClosestByWant) {
  for (std::uint8_t i = 0; i < 6; ++i) {
    query(krpc::ping(id_of(static_cast<std::uint8_t>(0x20 + i * 0x10))), ep(10 + i));
    drain();
  }
  const NodeId target = id_of(0x41);
  auto r = response_to(krpc::find_node(id_of(0x05), target), ep(30));
  ASSERT_TRUE(r.nodes);
  EXPECT_FALSE(r.nodes6);
  // The 6 known (the requester itself too: it queried, so it is a contact) at most k = 8.
  ASSERT_EQ(r.nodes->size(), 7u);
  EXPECT_EQ((*r.nodes)[0].id, id_of(0x40));  // closest to 0x41..
  for (std::size_t i = 1; i < r.nodes->size(); ++i)
    EXPECT_TRUE(closer_to(target, (*r.nodes)[i - 1].id, (*r.nodes)[i].id));

  auto r6 = response_to(krpc::find_node(id_of(0x05), target, {.n4 = false, .n6 = true}), ep(30));
  EXPECT_FALSE(r6.nodes);
  ASSERT_TRUE(r6.nodes6);
  EXPECT_TRUE(r6.nodes6->empty());
}

TEST_F(NodeTest, GetPeersThenAnnounceWithTheToken) {
  const NodeId info_hash = id_of(0x99, 7);
  auto r = response_to(krpc::get_peers(id_of(0x12), info_hash), ep(4, 5000));
  ASSERT_TRUE(r.token);
  EXPECT_FALSE(r.values);
  EXPECT_TRUE(r.nodes);

  // A wrong token, and the right one from another address: 203.
  EXPECT_EQ(error_to(krpc::announce_peer(id_of(0x12), info_hash, 6000, "nope"), ep(4, 5000)), 203);
  EXPECT_EQ(error_to(krpc::announce_peer(id_of(0x13), info_hash, 6000, *r.token), ep(5, 5000)),
            203);
  // The right one (any port of the same address: BEP 5 binds the IP only).
  response_to(krpc::announce_peer(id_of(0x12), info_hash, 6000, *r.token), ep(4, 5001));
  response_to(krpc::announce_peer(id_of(0x12), info_hash, 1, *r.token, true), ep(4, 5002));
  auto r2 = response_to(krpc::get_peers(id_of(0x14), info_hash), ep(6));
  ASSERT_TRUE(r2.values);
  std::vector<net::Endpoint> peers = *r2.values;
  std::sort(peers.begin(), peers.end());
  EXPECT_EQ(peers, (std::vector<net::Endpoint>{ep(4, 5002), ep(4, 6000)}));  // implied port
  // A token expires after two rotations (10 min).
  EXPECT_EQ(
      error_to(krpc::announce_peer(id_of(0x12), info_hash, 6000, *r.token), ep(4), t0 + 11min),
      203);
}

TEST_F(NodeTest, ImmutablePutAndGet) {
  auto item = krpc::Item::from_value(bencode::Value("hello world"));
  ASSERT_TRUE(item);
  const NodeId key = immutable_target(item->encoded());
  auto g = response_to(krpc::get_item(id_of(0x12), key), ep(4));
  ASSERT_TRUE(g.token);
  EXPECT_FALSE(g.v);
  EXPECT_EQ(error_to(krpc::put_immutable(id_of(0x12), "bad!", *item), ep(4)), 203);
  response_to(krpc::put_immutable(id_of(0x12), *g.token, *item), ep(4));
  auto g2 = response_to(krpc::get_item(id_of(0x15), key), ep(7));
  ASSERT_TRUE(g2.v);
  EXPECT_EQ(g2.v->encoded(), "11:hello world");
  EXPECT_FALSE(g2.k);
  EXPECT_EQ(node->item_store().item_count(), 1u);
}

TEST_F(NodeTest, MutablePutGetAndEveryBep44ErrorCode) {
  KeySeed seed{};
  seed.fill(9);
  const SigningKey key = SigningKey::from_seed(seed);
  auto sign = [&](std::int64_t seq, const char* text) {
    return MutableItem::sign(key, "salt", seq, bencode::Value(text)).value();
  };
  const MutableItem one = sign(1, "one");
  const NodeId target = one.target();
  auto g = response_to(krpc::get_item(id_of(0x12), target), ep(4));
  ASSERT_TRUE(g.token);
  auto put = [&](const MutableItem& m, std::optional<std::int64_t> cas = std::nullopt) {
    return krpc::put_mutable(id_of(0x12), *g.token, krpc::Item::from_encoded(m.value).value(),
                             m.key, m.signature, m.seq, m.salt, cas);
  };
  response_to(put(one), ep(4));
  auto got = response_to(krpc::get_item(id_of(0x12), target), ep(4));
  ASSERT_TRUE(got.v && got.k && got.sig && got.seq);
  EXPECT_EQ(got.v->encoded(), "3:one");
  EXPECT_EQ(*got.seq, 1);
  EXPECT_EQ(*got.k, key.public_key());
  EXPECT_EQ(*got.sig, one.signature);
  // BEP 44's seq argument: no v unless the stored one is newer.
  krpc::Query newer = krpc::get_item(id_of(0x12), target, 1);
  auto r = response_to(newer, ep(4));
  EXPECT_FALSE(r.v);
  EXPECT_EQ(r.seq, 1);
  EXPECT_TRUE(response_to(krpc::get_item(id_of(0x12), target, 0), ep(4)).v);

  EXPECT_EQ(error_to(put(sign(0, "zero")), ep(4)), 302);    // seq lower
  EXPECT_EQ(error_to(put(sign(1, "other")), ep(4)), 302);   // same seq, other value
  EXPECT_EQ(error_to(put(sign(2, "two"), 5), ep(4)), 301);  // CAS mismatch
  MutableItem forged = sign(3, "three");
  forged.signature[0] ^= 1;
  EXPECT_EQ(error_to(put(forged), ep(4)), 206);  // invalid signature
  response_to(put(sign(2, "two"), 1), ep(4));    // CAS matches
  EXPECT_EQ(*response_to(krpc::get_item(id_of(0x12), target), ep(4)).seq, 2);

  // 205 and 207: the parser refuses, the node answers with the code (krpc::rejection).
  MutableItem salty = one;
  salty.salt = std::string(65, 's');
  krpc::Query q = put(one);
  q.salt = salty.salt;
  EXPECT_EQ(error_to(q, ep(4)), 207);
  std::string big = "d1:ad2:id20:" + std::string(20, 'a') +
                    "5:token4:abcd1:v1001:" + std::string(1001, 'x') + "e1:q3:put1:t2:tt1:y1:qe";
  deliver(big, ep(4));
  auto m = reply(ep(4));
  ASSERT_TRUE(m.error());
  EXPECT_EQ(m.error()->code, 205);
}

TEST_F(NodeTest, MalformedInputIsCountedAndAnswered203WhenItHasATid) {
  deliver("garbage", ep(4));
  deliver("", ep(4));
  deliver("d1:t2:aae", ep(4));  // a tid but no y: not known to be a query, no answer
  EXPECT_TRUE(drain().empty());
  deliver("d1:ad2:id3:abce1:q4:ping1:t2:zz1:y1:qe", ep(4));  // id of 3 bytes
  auto m = reply(ep(4));
  ASSERT_TRUE(m.error());
  EXPECT_EQ(m.error()->code, 203);
  EXPECT_EQ(m.tid.view(), "zz");
  EXPECT_EQ(node->counters().malformed, 4u);
  EXPECT_EQ(node->routing_table().size(), 0u);
}

TEST_F(NodeTest, UnknownMethodsAre204AndExtensionsReachTheirHandler) {
  krpc::Query unknown = krpc::ping(id_of(0x12));
  unknown.method = krpc::Method::unknown;
  unknown.name = "frobnicate";
  EXPECT_EQ(error_to(unknown, ep(4)), 204);
  EXPECT_EQ(error_to(krpc::extension(id_of(0x12), "nexo_join", {}), ep(4)), 204);

  EXPECT_FALSE(node->handle_extension(
      "join", [](auto&, auto&, Time) { return ExtensionAnswer(bencode::Dict{}); }));
  ASSERT_TRUE(node->handle_extension(
      "nexo_join", [](const krpc::Query& q, const net::Endpoint& from, Time) -> ExtensionAnswer {
        const auto* topic = q.extra.find("topic");
        if (!topic || !topic->is_string()) return krpc::ErrorReply{203, "no topic"};
        return bencode::Dict{{"topic", *topic}, {"port", from.port()}};
      }));
  auto r = response_to(krpc::extension(id_of(0x12), "nexo_join", bencode::Dict{{"topic", "news"}}),
                       ep(4, 4444));
  ASSERT_NE(r.extra.find("topic"), nullptr);
  EXPECT_EQ(r.extra.find("topic")->string(), "news");
  EXPECT_EQ(r.extra.find("port")->integer(), 4444);
  EXPECT_EQ(error_to(krpc::extension(id_of(0x12), "nexo_join", {}), ep(4)), 203);
}

TEST_F(NodeTest, RateLimitDropsAndCountsAndRefills) {
  NodeConfig c = base_config();
  c.rate_limit = {.rate = 1, .burst = 3, .max_sources = 4};
  make(c);
  for (int i = 0; i < 5; ++i)
    query(krpc::ping(id_of(0x12)), ep(4));
  EXPECT_EQ(replies(), 3u);
  EXPECT_EQ(node->counters().rate_limited, 2u);
  query(krpc::ping(id_of(0x12)), ep(4, 9999), t0 + 1s);  // another port, same source
  EXPECT_EQ(replies(), 1u);
  // A flood from many addresses: the table stays at max_sources, each gets its burst.
  const std::size_t before = node->memory_bytes();
  for (std::uint8_t i = 0; i < 200; ++i)
    query(krpc::ping(id_of(0x40)), ep(100 + i % 150));
  EXPECT_EQ(replies(), 200u);
  EXPECT_LE(node->memory_bytes(), before + 4096);
  EXPECT_EQ(node->rate_limit_sources(), 4u);
  // Once their buckets have refilled, the sources are forgotten (maintenance).
  node->on_timer(t0 + 1min);
  EXPECT_EQ(node->rate_limit_sources(), 0u);
  EXPECT_LT(node->memory_bytes(), before);
}

TEST_F(NodeTest, ForeignNetworkIdsAreDropped) {
  NodeConfig c = base_config();
  c.krpc.network_id = "lab";
  make(c);
  query(krpc::ping(id_of(0x12)), ep(4));  // no network id: a public Mainline node
  query(krpc::ping(id_of(0x12)), ep(4), t0, "ab", false, {.network_id = "other"});
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(node->counters().wrong_network, 2u);
  query(krpc::ping(id_of(0x12)), ep(4), t0, "ac", false, {.network_id = "lab"});
  EXPECT_EQ(replies(), 1u);
}

TEST_F(NodeTest, ReadOnlyNodeAnswersNothingAndSaysRo) {
  NodeConfig c = base_config();
  c.read_only = true;
  make(c);
  query(krpc::ping(id_of(0x12)), ep(4));
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(node->counters().ignored_read_only, 1u);
  ASSERT_TRUE(node->ping(ep(4), t0, [](Result<NodeInfo>, const OpStats&) {}));
  auto sent = drain();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].message.read_only);
}

TEST_F(NodeTest, PingOperationMatchesTheReplyAndTimesOut) {
  int calls = 0;
  std::optional<Result<NodeInfo>> got;
  ASSERT_TRUE(node->ping(ep(4), t0, [&](Result<NodeInfo> r, const OpStats& s) {
    ++calls;
    EXPECT_EQ(s.sent, 1u);
    got = std::move(r);
  }));
  auto sent = drain();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].message.query()->method, krpc::Method::ping);
  const krpc::Tid tid = sent[0].message.tid;

  krpc::Header h;
  h.tid = tid;
  wire::Buffer out;
  krpc::Response resp;
  resp.id = id_of(0x42);
  krpc::encode_response(h, resp, {}, out);
  deliver(out.text(), ep(5));  // the right tid from the wrong source
  EXPECT_EQ(node->counters().wrong_source, 1u);
  h.tid = *krpc::Tid::from("q");
  wire::Buffer other;
  krpc::encode_response(h, resp, {}, other);
  deliver(other.text(), ep(4));  // an unknown tid
  EXPECT_EQ(node->counters().unknown_tid, 1u);
  EXPECT_EQ(calls, 0);
  deliver(out.text(), ep(4), t0 + 50ms);
  node->on_timer(t0 + 50ms);  // completion runs from an entry point
  ASSERT_EQ(calls, 1);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->id, id_of(0x42));
  EXPECT_NE(node->routing_table().find(id_of(0x42)), nullptr);  // a reply: into the table

  // A ping nobody answers: timed_out at the hard deadline, once.
  calls = 0;
  ASSERT_TRUE(node->ping(ep(6), t0 + 1s, [&](Result<NodeInfo> r, const OpStats& s) {
    ++calls;
    EXPECT_FALSE(r);
    EXPECT_TRUE(r.error().is(ErrorKind::timed_out)) << r.error().to_string();
    EXPECT_EQ(s.timeouts, 1u);
  }));
  drain();
  Time now = t0 + 1s;
  for (int i = 0; i < 100 && calls == 0; ++i) {
    now = std::max(now, *node->next_timer());
    node->on_timer(now);
  }
  EXPECT_EQ(calls, 1);
  EXPECT_GE(now - (t0 + 1s), node->config().query_timeout);
  EXPECT_EQ(node->operations_in_progress(), 0u);
}

// A bootstrap node that refuses us (libtorrent answers "invalid node ID" to an id that
// BEP 42 does not allow from our address) is named in the failure, with its error.
TEST_F(NodeTest, BootstrapRefusedSaysWhy) {
  std::optional<Result<std::size_t>> got;
  const std::vector<net::Endpoint> seeds{ep(4)};
  ASSERT_TRUE(node->bootstrap(seeds, t0,
                              [&](Result<std::size_t> r, const OpStats&) { got = std::move(r); }));
  Time now = t0;
  for (int round = 0; round < 10 && !got; ++round) {
    for (auto& sent : drain()) {
      if (sent.message.kind() != krpc::Kind::query) continue;
      krpc::Header h;
      h.tid = sent.message.tid;
      wire::Buffer out;
      krpc::encode_error(h, 203, "invalid node ID", {}, out);
      deliver(out.text(), sent.to, now);
    }
    if (auto next = node->next_timer()) now = std::max(now, *next);
    node->on_timer(now);
  }
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_TRUE(got->error().is(ErrorKind::unreachable));
  EXPECT_NE(
      got->error().message().find("10.0.0.4:6881 refused with KRPC error 203 'invalid node ID'"),
      std::string::npos)
      << got->error().to_string();
}

TEST_F(NodeTest, OperationsFailAtOnceWithoutCallback) {
  NodeConfig c = base_config();
  c.max_operations = 1;
  make(c);
  int calls = 0;
  auto count = [&](auto, const OpStats&) { ++calls; };
  EXPECT_FALSE(node->bootstrap({}, t0, count));
  EXPECT_FALSE(node->put_immutable(std::string(1001, 'x'), t0, count));
  EXPECT_FALSE(node->put_immutable("not bencode", t0, count));
  EXPECT_FALSE(node->extension_query(ep(4), "join", {}, t0, count));
  ASSERT_TRUE(node->find_node(id_of(1), t0, count));  // empty table: ends at once...
  auto overloaded = node->find_node(id_of(2), t0, count);
  ASSERT_FALSE(overloaded);
  EXPECT_TRUE(overloaded.error().is(ErrorKind::overloaded));
  EXPECT_EQ(calls, 0);  // ...but its callback runs from the next entry point
  ASSERT_EQ(node->next_timer(), t0);
  node->on_timer(t0);
  EXPECT_EQ(calls, 1);
}

// A service's timer is the node's: next_timer() folds it in, on_timer runs it when due
// (and not before), and a removed service is no longer called.
TEST_F(NodeTest, ServicesRunOnTheNodesTimers) {
  make(base_config());
  struct Ticker final : NodeService {
    Time due;
    std::vector<Time> calls;
    void on_timer(Time now) override {
      calls.push_back(now);
      due = now + 1s;
    }
    std::optional<Time> next_timer() const override { return due; }
  } ticker;
  ticker.due = t0 + 10ms;
  node->add_service(ticker);
  node->add_service(ticker);  // a no-op
  ASSERT_TRUE(node->next_timer());
  EXPECT_EQ(*node->next_timer(), t0 + 10ms);
  node->on_timer(t0 + 5ms);
  EXPECT_TRUE(ticker.calls.empty());
  node->on_timer(t0 + 10ms);
  ASSERT_EQ(ticker.calls.size(), 1u);  // once, though added twice
  EXPECT_EQ(*node->next_timer(), t0 + 10ms + 1s);
  node->remove_service(ticker);
  node->on_timer(t0 + 2s);
  EXPECT_EQ(ticker.calls.size(), 1u);
  EXPECT_GT(*node->next_timer(), t0 + 10ms + 1s);
}

// Mutated KRPC messages (flipped, cut, spliced bytes) from many sources, queries and
// replies to the node's own outstanding queries among them: nothing crashes (the ASan
// build checks for over-reads and leaks), everything is counted, and the node still
// answers a good ping afterwards.
TEST_F(NodeTest, MutatedDatagramsAreSurvivedAndCounted) {
  NodeConfig c = base_config();
  c.rate_limit.rate = 0;  // no limit: every query reaches the answering code
  make(c);
  for (std::uint8_t i = 0; i < 20; ++i) {
    query(krpc::ping(id_of(static_cast<std::uint8_t>(i * 8))),
          ep(static_cast<std::uint8_t>(50 + i)));
  }
  drain();
  ASSERT_TRUE(node->find_node(id_of(0x33), t0, {}));
  auto outgoing = drain();
  std::vector<std::string> corpus;
  auto encode_query = [&](const krpc::Query& q, std::string_view tid) {
    krpc::Header h;
    h.tid = *krpc::Tid::from(tid);
    wire::Buffer out;
    krpc::encode_query(h, q, {}, out);
    corpus.emplace_back(out.text());
  };
  auto item = krpc::Item::from_value(bencode::Value("x")).value();
  encode_query(krpc::find_node(id_of(1), id_of(2), {.n4 = true, .n6 = true}), "a");
  encode_query(krpc::get_peers(id_of(1), id_of(2)), "b");
  encode_query(krpc::announce_peer(id_of(1), id_of(2), 80, "tokn"), "c");
  encode_query(krpc::get_item(id_of(1), id_of(2), 5), "d");
  encode_query(krpc::put_immutable(id_of(1), "tokn", item), "e");
  encode_query(krpc::put_mutable(id_of(1), "tokn", item, {}, {}, 1, "salt", 0), "f");
  encode_query(krpc::extension(id_of(1), "nexo_x", bencode::Dict{{"k", 1}}), "g");
  for (const Sent& s : outgoing) {  // replies to the node's own queries
    krpc::Header h;
    h.tid = s.message.tid;
    krpc::Response r;
    r.id = id_of(0x34);
    r.nodes = std::vector<NodeInfo>{{id_of(0x35), ep(90)}, {id_of(0x36), ep(91)}};
    r.token = "tk";
    wire::Buffer out;
    krpc::encode_response(h, r, {}, out);
    corpus.emplace_back(out.text());
  }
  fault::Random rng(99);
  constexpr int kDatagrams = 20000;
  for (int i = 0; i < kDatagrams; ++i) {
    std::string d = corpus[rng.below(corpus.size())];
    const int edits = 1 + static_cast<int>(rng.below(4));
    for (int e = 0; e < edits && !d.empty(); ++e) {
      const std::size_t at = rng.below(d.size());
      switch (rng.below(4)) {
        case 0:
          d[at] = static_cast<char>(rng.next());
          break;
        case 1:
          d.resize(at);
          break;
        case 2:
          d.insert(at, corpus[rng.below(corpus.size())].substr(0, rng.below(40)));
          break;
        default:
          d.erase(at, rng.below(8));
          break;
      }
    }
    const Time now = t0 + std::chrono::milliseconds(i);
    deliver(d, ep(static_cast<std::uint8_t>(50 + rng.below(30))), now);
    if (i % 100 == 0) node->on_timer(now);
    drain();
  }
  const auto& n = node->counters();
  EXPECT_EQ(n.received, 20u + kDatagrams);
  EXPECT_GT(n.malformed, 0u);
  EXPECT_GT(n.queries, 20u);
  query(krpc::ping(id_of(0x77)), ep(120), t0 + 30s, "ok");
  EXPECT_EQ(reply(ep(120)).kind(), krpc::Kind::response);
}

TEST_F(NodeTest, SizeOfAnIdleNode) {
  std::printf("sizeof(Node) = %zu bytes, idle heap %zu bytes\n", sizeof(Node),
              node->memory_bytes());
  EXPECT_LT(sizeof(Node), 2048u);
}

}  // namespace
}  // namespace nexo::overlay
