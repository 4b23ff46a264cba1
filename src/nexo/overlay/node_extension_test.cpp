// Node's additions for protocols built on extension queries (super peers): deferred
// extension answers, a read-only node that still answers its extension queries (its
// replies say ro: 1, and such repliers stay out of the asker's routing table), and
// set_read_only. Fake time, no network; crafted datagrams in, answers parsed.
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

std::vector<Sent> replies(Node& node) {
  auto sent = drain(node);
  std::erase_if(sent, [](const Sent& s) { return s.message.kind() == krpc::Kind::query; });
  return sent;
}

void deliver(Node& node, const krpc::Message& m, const net::Endpoint& from, Time now = t0) {
  wire::Buffer out;
  krpc::encode(m, {}, out);
  node.on_datagram(as_bytes(out.text()), from, now);
}

krpc::Message query_message(krpc::Query q, std::string_view tid = "q1", bool ro = false) {
  krpc::Message m;
  m.tid = *krpc::Tid::from(tid);
  m.read_only = ro;
  m.body = std::move(q);
  return m;
}

NodeConfig config(std::uint8_t first) {
  NodeConfig c;
  c.id = id_of(first);
  c.routing.one_contact_per_ip = false;
  return c;
}

TEST(NodeExtension, DeferredHandlerAnswersLaterWithTheQuerysTid) {
  Node node(ep(1), t0, config(0x80));
  std::optional<ExtensionReplyTo> kept;
  ASSERT_TRUE(node.handle_extension_deferred(
      "nexo_later",
      [&](const krpc::Query& q, const net::Endpoint& from, Time, ExtensionReplyTo to) {
        EXPECT_EQ(from, ep(2));
        EXPECT_NE(q.extra.find("x"), nullptr);
        kept = to;
      }));
  deliver(node, query_message(krpc::extension(id_of(0x10), "nexo_later", {{"x", 1}}), "ab"), ep(2));
  for (const Sent& s : drain(node))  // nothing answered yet (the node may ping the asker)
    EXPECT_EQ(s.message.kind(), krpc::Kind::query);
  ASSERT_TRUE(kept);
  node.answer_deferred(*kept, bencode::Dict{{"done", 1}, {"id", "ignored"}});
  auto sent = replies(node);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, ep(2));
  EXPECT_EQ(sent[0].message.tid.view(), "ab");
  ASSERT_NE(sent[0].message.response(), nullptr);
  EXPECT_EQ(sent[0].message.response()->id, id_of(0x80));
  EXPECT_NE(sent[0].message.response()->extra.find("done"), nullptr);
  // An error answer, and a deferred handler replaced by an immediate one.
  node.answer_deferred(*kept, krpc::ErrorReply{201, "gone"});
  sent = replies(node);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_NE(sent[0].message.error(), nullptr);
  EXPECT_EQ(sent[0].message.error()->code, 201);
  ASSERT_TRUE(node.handle_extension(
      "nexo_later", [](const krpc::Query&, const net::Endpoint&, Time) -> ExtensionAnswer {
        return bencode::Dict{};
      }));
  deliver(node, query_message(krpc::extension(id_of(0x10), "nexo_later", {})), ep(2));
  sent = replies(node);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(sent[0].message.response(), nullptr);
  EXPECT_FALSE(node.handle_extension_deferred("later", [](auto&&...) {}));
  EXPECT_FALSE(node.handle_extension_deferred("nexo_later", nullptr));
}

TEST(NodeExtension, ReadOnlyNodeAnswersOnlyItsExtensionsMarkedReadOnly) {
  NodeConfig c = config(0x80);
  c.read_only = true;
  c.read_only_extensions = true;
  Node node(ep(1), t0, c);
  ASSERT_TRUE(node.handle_extension(
      "nexo_hello", [](const krpc::Query&, const net::Endpoint&, Time) -> ExtensionAnswer {
        return bencode::Dict{{"hi", 1}};
      }));
  deliver(node, query_message(krpc::ping(id_of(0x10))), ep(2));
  EXPECT_TRUE(drain(node).empty());
  EXPECT_EQ(node.counters().ignored_read_only, 1u);
  deliver(node, query_message(krpc::extension(id_of(0x10), "nexo_hello", {})), ep(2));
  auto sent = drain(node);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_NE(sent[0].message.response(), nullptr);
  EXPECT_TRUE(sent[0].message.read_only);
  // Unknown extension: 204, also marked.
  deliver(node, query_message(krpc::extension(id_of(0x10), "nexo_other", {})), ep(2));
  sent = drain(node);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_NE(sent[0].message.error(), nullptr);
  EXPECT_EQ(sent[0].message.error()->code, 204);
  EXPECT_EQ(node.routing_table().size(), 0u);  // a read-only node keeps no querier

  node.set_read_only(false);
  deliver(node, query_message(krpc::ping(id_of(0x10))), ep(2));
  sent = drain(node);
  ASSERT_FALSE(sent.empty());
  EXPECT_FALSE(sent[0].message.read_only);
  EXPECT_EQ(node.routing_table().size(), 1u);
}

TEST(NodeExtension, ReplierMarkedReadOnlyStaysOutOfTheRoutingTable) {
  Node node(ep(1), t0, config(0x80));
  int answered = 0;
  for (std::uint8_t who : {2, 3}) {
    ASSERT_TRUE(node.extension_query(ep(who), "nexo_hello", {}, t0,
                                     [&](Result<ExtensionReply> r, const OpStats&) {
                                       EXPECT_TRUE(r);
                                       ++answered;
                                     }));
  }
  auto sent = drain(node);
  ASSERT_EQ(sent.size(), 2u);
  for (const Sent& s : sent) {
    krpc::Message reply;
    reply.tid = s.message.tid;
    reply.read_only = s.to == ep(2);  // ep(2) answers as a read-only node
    krpc::Response r;
    r.id = s.to == ep(2) ? id_of(0x20) : id_of(0x30);
    reply.body = r;
    deliver(node, reply, s.to);
  }
  node.on_timer(t0);
  EXPECT_EQ(answered, 2);
  EXPECT_EQ(node.routing_table().size(), 1u);
  EXPECT_FALSE(node.routing_table().find(id_of(0x20)));
  EXPECT_TRUE(node.routing_table().find(id_of(0x30)));
}

TEST(NodeExtension, QueryTimeoutCanBeLongerThanTheNodes) {
  NodeConfig c = config(0x80);
  c.query_timeout = 5s;
  Node node(ep(1), t0, c);
  std::vector<Time> failed;
  auto record = [&](Result<ExtensionReply> r, const OpStats&) {
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(ErrorKind::timed_out));
    failed.push_back(t0);
  };
  ASSERT_TRUE(node.extension_query(ep(2), "nexo_slow", {}, t0, record, 20s));
  ASSERT_TRUE(node.extension_query(ep(3), "nexo_fast", {}, t0, record));
  drain(node);
  node.on_timer(t0 + 6s);
  EXPECT_EQ(failed.size(), 1u);  // the one with the node's 5 s
  node.on_timer(t0 + 19s);
  EXPECT_EQ(failed.size(), 1u);
  node.on_timer(t0 + 21s);
  EXPECT_EQ(failed.size(), 2u);
}

// An extension query to a contact of the table that goes unanswered counts as its failure,
// as a DHT query's would (a Scribe join to a dead node marks it, so the next join skips
// it); one given a longer timeout (a deferred answer) does not.
TEST(NodeExtension, UnansweredQueryToAContactCountsAsItsFailure) {
  NodeConfig c = config(0x80);
  c.query_timeout = 5s;
  Node node(ep(1), t0, c);
  for (std::uint8_t who : {2, 3})
    deliver(node, query_message(krpc::ping(id_of(static_cast<std::uint8_t>(who << 4)))), ep(who));
  // The node pings the newcomers; they answer.
  for (const Sent& s : drain(node)) {
    if (s.message.kind() != krpc::Kind::query) continue;
    krpc::Message reply;
    reply.tid = s.message.tid;
    krpc::Response r;
    r.id = s.to == ep(2) ? id_of(0x20) : id_of(0x30);
    reply.body = r;
    deliver(node, reply, s.to);
  }
  ASSERT_TRUE(node.routing_table().find(id_of(0x20)));
  ASSERT_TRUE(node.routing_table().find(id_of(0x30)));
  ASSERT_EQ(node.routing_table().find(id_of(0x20))->failures, 0);
  ASSERT_EQ(node.routing_table().find(id_of(0x30))->failures, 0);
  int timed_out = 0;
  auto record = [&](Result<ExtensionReply> r, const OpStats&) {
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(ErrorKind::timed_out));
    ++timed_out;
  };
  ASSERT_TRUE(node.extension_query(ep(2), "nexo_hello", {}, t0, record));
  ASSERT_TRUE(node.extension_query(ep(3), "nexo_slow", {}, t0, record, 5s));
  drain(node);
  node.on_timer(t0 + 6s);
  EXPECT_EQ(timed_out, 2);
  EXPECT_EQ(node.routing_table().find(id_of(0x20))->failures, 1);
  EXPECT_EQ(node.routing_table().find(id_of(0x30))->failures, 0);
}

}  // namespace
}  // namespace nexo::overlay
