// nexo_ttl, an item's remaining lifetime (item_store.hpp): a put that gives one stores a
// copy that lives that long; a bad one is answered 203 and stores nothing; a get reply
// says how long the replier's copy has left; re-replication and read repair hand an item
// on with what the copies they read have left, so a copy never outlives the copy it
// came from. Fake time, no network; crafted datagrams in, what the node sends parsed.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "nexo/overlay/node.hpp"
#include "nexo/overlay/node_test_util.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;

using namespace node_test_util;

class NodeTtl : public ::testing::Test {
 protected:
  void SetUp() override {
    NodeConfig c;
    c.id = id_of(0x80);
    c.routing.one_contact_per_ip = false;
    c.ping_new_contacts = false;
    node = std::make_unique<Node>(ep(1), t0, c);
  }

  void deliver(const krpc::Message& m, const net::Endpoint& from, Time now) {
    wire::Buffer out;
    krpc::encode(m, {}, out);
    node->on_datagram(as_bytes(out.text()), from, now);
  }
  void query(krpc::Query q, const net::Endpoint& from, Time now) {
    krpc::Message m;
    m.tid = *krpc::Tid::from("q1");
    m.body = std::move(q);
    deliver(m, from, now);
  }
  void respond(const Sent& to_what, krpc::Response r, Time now) {
    krpc::Message m;
    m.tid = to_what.message.tid;
    m.body = std::move(r);
    deliver(m, to_what.to, now);
  }
  std::vector<Sent> drain() { return node_test_util::drain(*node); }
  // The queries of `method` the node sent (the rest dropped).
  std::vector<Sent> sent_queries(krpc::Method method) {
    auto sent = drain();
    std::erase_if(sent, [&](const Sent& s) {
      return !s.message.query() || s.message.query()->method != method;
    });
    return sent;
  }
  krpc::Message answer(krpc::Query q, const net::Endpoint& from, Time now) {
    query(std::move(q), from, now);
    auto sent = drain();
    std::erase_if(sent, [](const Sent& s) { return s.message.kind() == krpc::Kind::query; });
    EXPECT_EQ(sent.size(), 1u);
    return sent.empty() ? krpc::Message{} : sent[0].message;
  }
  // A put of `item` from `from`, with `ttl` as the raw nexo_ttl value when given.
  krpc::Message put(const krpc::Item& item, const net::Endpoint& from, Time now,
                    std::optional<bencode::Value> ttl = std::nullopt) {
    const NodeId key = immutable_target(item.encoded());
    auto g = answer(krpc::get_item(id_of(0x12), key), from, now);
    EXPECT_TRUE(g.response() && g.response()->token);
    krpc::Query q = krpc::put_immutable(id_of(0x12), g.response()->token.value_or(""), item);
    if (ttl) q.extra.insert_or_assign(std::string(kTtlKey), *ttl);
    return answer(std::move(q), from, now);
  }
  // The nexo_ttl of a get's reply at `now`, or nullopt when it has none (or no item).
  std::optional<std::int64_t> ttl_at(const NodeId& key, Time now) {
    auto g = answer(krpc::get_item(id_of(0x13), key), ep(9), now);
    if (!g.response() || !g.response()->v) return std::nullopt;
    const bencode::Value* ttl = g.response()->extra.find(kTtlKey);
    return ttl && ttl->is_integer() ? std::optional(ttl->integer()) : std::nullopt;
  }

  std::unique_ptr<Node> node;
};

krpc::Item item_of(const char* text) {
  return krpc::Item::from_value(bencode::Value(text)).value();
}

TEST_F(NodeTtl, APutWithATtlLivesThatLongAndGetRepliesSayWhatIsLeft) {
  const krpc::Item item = item_of("replica");
  const NodeId key = immutable_target(item.encoded());
  ASSERT_EQ(put(item, ep(4), t0, bencode::Value(600)).kind(), krpc::Kind::response);
  EXPECT_EQ(ttl_at(key, t0), 600);
  EXPECT_EQ(ttl_at(key, t0 + 100s), 500);
  EXPECT_EQ(ttl_at(key, t0 + 599s), 1);
  EXPECT_EQ(ttl_at(key, t0 + 600s), std::nullopt) << "the copy expired with its ttl";
}

TEST_F(NodeTtl, APutWithoutATtlGetsTheFullLifetimeAndAShorterOneNeverShortensIt) {
  const krpc::Item item = item_of("original");
  const NodeId key = immutable_target(item.encoded());
  put(item, ep(4), t0);
  EXPECT_EQ(ttl_at(key, t0), 7200);  // BEP 44's 2 hours
  put(item, ep(5), t0 + 10s, bencode::Value(60));
  EXPECT_EQ(ttl_at(key, t0 + 10s), 7190) << "a replica's put must not cut the held copy short";
  put(item, ep(5), t0 + 20s, bencode::Value(100000));
  EXPECT_EQ(ttl_at(key, t0 + 20s), 7200) << "capped at the store's lifetime";
}

TEST_F(NodeTtl, ABadTtlIsAnswered203AndStoresNothing) {
  const krpc::Item item = item_of("bad ttl");
  const NodeId key = immutable_target(item.encoded());
  for (const bencode::Value& bad : {bencode::Value(0), bencode::Value(-5), bencode::Value("600"),
                                    bencode::Value(kMaxTtlSeconds + 1)}) {
    auto m = put(item, ep(4), t0, bad);
    ASSERT_EQ(m.kind(), krpc::Kind::error) << bad.string();
    EXPECT_EQ(m.error()->code, 203);
    EXPECT_NE(m.error()->message.find("nexo_ttl"), std::string::npos) << m.error()->message;
  }
  EXPECT_EQ(node->item_store().item_count(), 0u);
  EXPECT_EQ(ttl_at(key, t0), std::nullopt);
}

// A contact new to the table, closer to a stored item's key, gets the item with what our
// copy has left (before: a fresh 2 hours, so copies handed on kept an item alive forever).
TEST_F(NodeTtl, ReplicationToANewcomerCarriesTheRemainingLifetime) {
  const krpc::Item item = item_of("handed on");
  const NodeId key = immutable_target(item.encoded());
  put(item, ep(4), t0);
  NodeId::Bytes near = key.bytes();
  near[19] ^= 1;  // the closest id to the key there is
  query(krpc::ping(NodeId(near)), ep(7), t0 + 30min);
  auto gets = sent_queries(krpc::Method::get);
  ASSERT_EQ(gets.size(), 1u) << "the newcomer is asked what it holds";
  EXPECT_EQ(gets[0].to, ep(7));
  krpc::Response r;
  r.id = NodeId(near);
  r.token = "tok1";
  respond(gets[0], r, t0 + 30min);
  auto puts = sent_queries(krpc::Method::put);
  ASSERT_EQ(puts.size(), 1u);
  const bencode::Value* ttl = puts[0].message.query()->extra.find(kTtlKey);
  ASSERT_NE(ttl, nullptr) << "a replica's put says how long it has left";
  EXPECT_EQ(ttl->integer(), 5400);  // 2 h less the 30 min since the put
}

// A get's read repair hands the item on with the longest time any holder said it has.
TEST_F(NodeTtl, ReadRepairCarriesTheHoldersRemainingLifetime) {
  const krpc::Item item = item_of("repaired");
  const NodeId key = immutable_target(item.encoded());
  NodeId::Bytes a = key.bytes(), b = key.bytes();
  a[19] ^= 1;
  b[19] ^= 2;
  query(krpc::ping(NodeId(a)), ep(5), t0);
  query(krpc::ping(NodeId(b)), ep(6), t0);
  drain();
  std::optional<std::optional<std::string>> got;
  ASSERT_TRUE(node->get_immutable(key, t0, [&](Result<GetImmutableResult> r, const OpStats&) {
    got.emplace(r ? r->value : std::nullopt);
  }));
  auto gets = sent_queries(krpc::Method::get);
  ASSERT_EQ(gets.size(), 2u);
  for (const Sent& g : gets) {
    krpc::Response r;
    r.id = g.to == ep(5) ? NodeId(a) : NodeId(b);
    r.token = "tok";
    if (g.to == ep(5)) {
      r.v = item;
      write_ttl(r.extra, 300s);
    }
    respond(g, r, t0 + 10ms);
  }
  auto puts = sent_queries(krpc::Method::put);
  ASSERT_EQ(puts.size(), 1u) << "the holder without the item is repaired";
  EXPECT_EQ(puts[0].to, ep(6));
  const bencode::Value* ttl = puts[0].message.query()->extra.find(kTtlKey);
  ASSERT_NE(ttl, nullptr);
  EXPECT_EQ(ttl->integer(), 300);
}

// A node leaving the DHT hands over what it stores (Node::hand_over): the copies live what
// its own has left, and it keeps none.
TEST_F(NodeTtl, AHandOverCarriesTheRemainingLifetime) {
  const krpc::Item item = item_of("handed over");
  const NodeId key = immutable_target(item.encoded());
  put(item, ep(4), t0, bencode::Value(600));
  NodeId::Bytes near = key.bytes();
  near[19] ^= 1;
  query(krpc::ping(NodeId(near)), ep(7), t0);
  drain();  // the replication to the newcomer is not this test's business
  ASSERT_EQ(node->item_store().item_count(), 1u);
  ASSERT_TRUE(node->hand_over(node->item_store().item(0), t0 + 100s, nullptr));
  auto gets = sent_queries(krpc::Method::get);  // the newcomer, and the getter of put()
  ASSERT_FALSE(gets.empty());
  for (const Sent& g : gets) {
    krpc::Response r;
    r.id = g.to == ep(7) ? NodeId(near) : id_of(0x12);
    r.token = "tok2";
    respond(g, r, t0 + 100s);
  }
  auto puts = sent_queries(krpc::Method::put);
  ASSERT_EQ(puts.size(), gets.size()) << "every node that answered gets a copy";
  for (const Sent& p : puts) {
    const bencode::Value* ttl = p.message.query()->extra.find(kTtlKey);
    ASSERT_NE(ttl, nullptr);
    EXPECT_EQ(ttl->integer(), 500);
  }
  EXPECT_EQ(node->counters().republished, 0u);
  // Nothing (all but) expired is handed over.
  EXPECT_FALSE(node->hand_over(node->item_store().item(0), t0 + 599500ms, nullptr));
}

}  // namespace
}  // namespace nexo::overlay
