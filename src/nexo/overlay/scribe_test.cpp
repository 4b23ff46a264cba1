// Scribe on a small simulated network: the tree's shape (one root, the node closest to
// the key; every member attached), delivery exactly once from members and non-members,
// push-down at the fan-out cap, deduplication, leaving and pruning, the root's crash
// repaired, two roots of a healed partition merged, bad arguments answered with KRPC
// errors and counted, gap repair by digests and fetches, a publisher's custody (re-offers),
// a publisher in a tree routing toward the key too, and a new root's early checks.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "nexo/overlay/scribe_test_nodes.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;
using scribe_test::Group;
using sim::Slot;

constexpr const char* kTopic = "weather";

// Runs one extension query from `from` to `to` and returns its reply.
std::optional<Result<ExtensionReply>> query(Group& g, Slot from, Slot to, const std::string& method,
                                            bencode::Dict args) {
  std::optional<Result<ExtensionReply>> out;
  auto started = g.host(from).node.extension_query(
      g.net().address(to), method, std::move(args), g.net().now(),
      [&](Result<ExtensionReply> r, const OpStats&) { out.emplace(std::move(r)); });
  EXPECT_TRUE(started);
  g.net().kick(from);
  g.net().run_until([&] { return out.has_value(); }, g.net().now() + 10s);
  return out;
}

std::int64_t error_code(const std::optional<Result<ExtensionReply>>& reply) {
  if (!reply || !*reply) return -1;
  const auto* e = std::get_if<krpc::ErrorReply>(&**reply);
  return e ? e->code : 0;
}

TEST(Scribe, TreeHasOneRootAndDeliversOnce) {
  Group g(3);
  g.grow(40);
  const NodeId key = Scribe::topic_key(kTopic);
  std::vector<Slot> members = Group::every(1, 3, 40);
  ASSERT_TRUE(g.join_and_converge(members, kTopic));
  const auto shape = g.shape(key);
  EXPECT_EQ(shape.roots, 1u);
  EXPECT_LE(shape.max_children, g.scribe.fanout);
  EXPECT_GE(shape.in_tree, members.size());

  // From a member and from a node outside the tree.
  Slot outsider = 0;
  while (g.host(outsider).scribe.in_tree(key))
    ++outsider;
  const std::int64_t a = g.publish(members[2], kTopic, "from a member");
  const std::int64_t b = g.publish(outsider, kTopic, "from outside");
  g.net().run_for(10s);
  for (Slot m : members) {
    EXPECT_EQ(g.host(m).count(g.host(members[2]).node.id(), a), 1u) << "member " << m;
    EXPECT_EQ(g.host(m).count(g.host(outsider).node.id(), b), 1u) << "member " << m;
  }
  for (Slot s : g.live())
    if (!g.host(s).scribe.member(key)) {
      EXPECT_TRUE(g.host(s).got.empty()) << "non-member " << s;
    }
  const auto& got = g.host(members[0]).got;
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].topic, kTopic);
}

TEST(Scribe, FullNodesPushJoinersDown) {
  Group g(5);
  g.scribe.fanout = 2;
  g.grow(40);
  const NodeId key = Scribe::topic_key(kTopic);
  std::vector<Slot> members;
  for (Slot s = 0; s < 40; ++s)
    if (s % 4 != 3) members.push_back(s);
  for (Slot m : members)
    g.join(m, kTopic);
  ASSERT_TRUE(g.net().run_until([&] { return g.converged(key, members); }, g.net().now() + 60s));
  const auto shape = g.shape(key);
  EXPECT_LE(shape.max_children, 2u);
  std::uint64_t pushes = 0;
  for (Slot s : g.live())
    pushes += g.host(s).scribe.counters().push_downs;
  EXPECT_GT(pushes, 0u);
  const std::int64_t seq = g.publish(members[5], kTopic, "deep");
  g.net().run_for(10s);
  for (Slot m : members)
    EXPECT_EQ(g.host(m).count(g.host(members[5]).node.id(), seq), 1u) << "member " << m;
  std::printf("fan-out 2, %zu members: %zu in the tree, depth %zu, %llu push-downs\n",
              members.size(), shape.in_tree, shape.max_depth,
              static_cast<unsigned long long>(pushes));
}

TEST(Scribe, DuplicateMessagesAreDeliveredOnce) {
  Group g(7);
  g.grow(10);
  const NodeId key = Scribe::topic_key(kTopic);
  g.join(4, kTopic);
  g.net().run_for(10s);
  std::string origin;
  append_compact_node(origin, NodeInfo{g.host(2).node.id(), g.net().address(2)});
  const bencode::Dict msg{{"k", key.to_byte_string()}, {"o", origin}, {"s", 77}, {"d", "twice"}};
  // Slot 2 is no neighbour of slot 4: delivered, but refused (201) so that it drops us.
  EXPECT_EQ(error_code(query(g, 2, 4, "nexo_msg", msg)), 201);
  EXPECT_EQ(error_code(query(g, 2, 4, "nexo_msg", msg)), 201);
  EXPECT_EQ(g.host(4).count(g.host(2).node.id(), 77), 1u);
  EXPECT_GE(g.host(4).scribe.counters().duplicates, 1u);
}

TEST(Scribe, BadArgumentsAreAnsweredAndCounted) {
  Group g(9);
  g.grow(6);
  const NodeId key = Scribe::topic_key(kTopic);
  const std::string k = key.to_byte_string();
  std::string origin;
  append_compact_node(origin, NodeInfo{g.host(1).node.id(), g.net().address(1)});
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_join", {})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_join", {{"k", "short"}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_join", {{"k", k}, {"r", "x"}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_leave", {{"k", 5}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_beat", {{"k", k}, {"p", "abc"}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_msg", {{"k", k}, {"o", "x"}, {"s", 1}, {"d", "x"}})),
            203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_pub",
                             {{"k", k}, {"o", origin}, {"s", 1}, {"d", std::string(1001, 'x')}})),
            203);
  EXPECT_EQ(g.host(2).scribe.counters().bad_arguments, 7u);
  // Well-formed, but for a tree slot 2 is not in.
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_beat", {{"k", k}, {"p", ""}})), 201);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_msg", {{"k", k}, {"o", origin}, {"s", 1}, {"d", ""}})),
            201);
  EXPECT_EQ(g.host(2).scribe.counters().not_in_tree, 2u);
  EXPECT_EQ(g.host(2).scribe.topic_count(), 0u);  // nothing kept for them
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_unknown", {{"k", k}})), 204);

  // The application's errors.
  Scribe& s = g.host(1).scribe;
  EXPECT_EQ(s.join("", g.net().now()).error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(s.leave(kTopic, g.net().now()).error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(s.publish(kTopic, std::string(1001, 'x'), g.net().now()).error().kind(),
            ErrorKind::too_large);
}

TEST(Scribe, TopicsAreBounded) {
  Group g(11);
  g.scribe.max_topics = 3;
  g.grow(6);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(g.host(1).scribe.join("t" + std::to_string(i), g.net().now()));
  EXPECT_EQ(g.host(1).scribe.join("t3", g.net().now()).error().kind(), ErrorKind::overloaded);
  // Joins from others for more topics than the bound: 202, counted, nothing kept.
  for (int i = 0; i < 5; ++i)
    query(g, 2, 1, "nexo_join",
          {{"k", Scribe::topic_key("x" + std::to_string(i)).to_byte_string()}});
  EXPECT_EQ(g.host(1).scribe.topic_count(), 3u);
  EXPECT_EQ(g.host(1).scribe.counters().too_many_topics, 5u);
}

TEST(Scribe, LeavingPrunesTheBranch) {
  Group g(13);
  g.grow(30);
  const NodeId key = Scribe::topic_key(kTopic);
  std::vector<Slot> members{3, 7, 11, 19, 23};
  for (Slot m : members)
    g.join(m, kTopic);
  ASSERT_TRUE(g.net().run_until([&] { return g.converged(key, members); }, g.net().now() + 60s));
  for (Slot m : members)
    ASSERT_TRUE(g.host(m).scribe.leave(kTopic, g.net().now()));
  for (Slot m : members)
    g.net().kick(m);
  g.net().run_for(20s);
  // Forwarders with no member below them are gone; only a root with nothing may be left
  // momentarily: nobody is in the tree any more.
  EXPECT_EQ(g.shape(key).in_tree, 0u);
}

TEST(Scribe, ANewRootTakesOverWhenTheRootCrashes) {
  Group g(15);
  g.scribe.beat_interval = 1s;
  g.scribe.root_check_interval = 5s;
  g.grow(40);
  const NodeId key = Scribe::topic_key(kTopic);
  std::vector<Slot> members = Group::every(1, 2, 40);
  ASSERT_TRUE(g.join_and_converge(members, kTopic));
  const Slot root = g.closest(key);
  g.net().crash(root);
  std::erase(members, root);
  ASSERT_TRUE(g.net().run_until([&] { return g.converged(key, members); }, g.net().now() + 60s));
  EXPECT_NE(g.closest(key), root);
  const std::int64_t seq = g.publish(members[0], kTopic, "after");
  g.net().run_for(10s);
  for (Slot m : members)
    EXPECT_EQ(g.host(m).count(g.host(members[0]).node.id(), seq), 1u) << "member " << m;
}

// Two roots: a partition splits the nodes, members on each side build a tree with a root
// of their own (the closest node on their side); once healed, the root checks find the
// closer root and the farther one joins it: one tree, every member reached.
TEST(Scribe, TwoRootsMergeAfterAPartitionHeals) {
  Group g(17);
  g.scribe.beat_interval = 1s;
  g.scribe.root_check_interval = 3s;
  g.grow(40);
  const NodeId key = Scribe::topic_key(kTopic);
  const Slot closest = g.closest(key);
  std::vector<Slot> side_a, side_b;
  for (Slot s = 0; s < 40; ++s)
    ((s % 2 == closest % 2) ? side_a : side_b).push_back(s);
  g.net().partition({side_a, side_b});
  std::vector<Slot> members;
  for (Slot s = 0; s < 40; s += 3)
    if (s != closest) members.push_back(s);
  for (Slot m : members)
    g.join(m, kTopic);
  g.net().run_for(30s);
  const auto split = g.shape(key);
  EXPECT_EQ(split.roots, 2u);  // one per side: neither can see the other
  g.net().heal();
  ASSERT_TRUE(g.net().run_until([&] { return g.converged(key, members); }, g.net().now() + 60s));
  EXPECT_TRUE(g.host(closest).scribe.is_root(key));
  std::uint64_t moves = 0;
  for (Slot s : g.live())
    moves += g.host(s).scribe.counters().root_moves;
  EXPECT_GE(moves, 1u);
  const std::int64_t seq = g.publish(members.back(), kTopic, "one tree again");
  g.net().run_for(10s);
  for (Slot m : members)
    EXPECT_EQ(g.host(m).count(g.host(members.back()).node.id(), seq), 1u) << "member " << m;
  std::printf("partition: %zu roots while split, one after healing (%llu root moves)\n",
              split.roots, static_cast<unsigned long long>(moves));
}

// A tree of 12 nodes with members; returns a member that has a parent, and the parent.
std::pair<Slot, Slot> child_and_parent(Group& g, const NodeId& key) {
  std::vector<Slot> members{1, 4, 7, 10};
  for (Slot m : members)
    g.join(m, kTopic);
  EXPECT_TRUE(g.net().run_until([&] { return g.converged(key, members); }, g.net().now() + 60s));
  for (Slot m : members)
    if (auto parent = g.host(m).scribe.parent(key))
      if (auto slot = g.net().find(parent->endpoint)) return {m, *slot};
  ADD_FAILURE() << "no member has a parent";
  return {0, 0};
}

// Sends nexo_msg from `from`'s node (its Scribe never sees the message) to `to`.
void inject(Group& g, Slot from, Slot to, const NodeInfo& origin, std::int64_t sequence) {
  std::string o;
  append_compact_node(o, origin);
  const NodeId key = Scribe::topic_key(kTopic);
  EXPECT_EQ(error_code(query(g, from, to, "nexo_msg",
                             {{"k", key.to_byte_string()},
                              {"o", o},
                              {"s", sequence},
                              {"d", "m" + std::to_string(sequence)}})),
            0);
}

// Digests travel both ways: a child whose parent's beat shows sequences it lacks fetches
// them from the parent; a parent whose child's beat reply does, from the child.
TEST(Scribe, DigestsInBeatsRepairGapsBothWays) {
  Group g(19);
  g.scribe.beat_interval = 1s;
  g.grow(12);
  const NodeId key = Scribe::topic_key(kTopic);
  const auto pair = child_and_parent(g, key);
  const Slot child = pair.first, parent = pair.second;
  ASSERT_NE(child, parent);
  const NodeInfo q{g.host(0).node.id(), g.net().address(0)};  // the publisher named

  // The parent gets (q, 1) and (q, 2) from the child's node: it floods them to everyone but
  // the child, whose Scribe never saw them. The parent's next beat tells the child.
  inject(g, child, parent, q, 1);
  inject(g, child, parent, q, 2);
  EXPECT_EQ(g.host(child).count(q.id, 1), 0u);
  g.net().run_for(3s);
  EXPECT_EQ(g.host(child).count(q.id, 1), 1u);
  EXPECT_EQ(g.host(child).count(q.id, 2), 1u);
  EXPECT_GE(g.host(child).scribe.counters().fetches, 1u);
  EXPECT_EQ(g.host(child).scribe.counters().fetched, 2u);

  // Upward: the child gets (q, 3) from the parent's node; the child's beat reply tells the
  // parent, which fetches it and floods it on.
  const auto parent_fetched = g.host(parent).scribe.counters().fetched;
  inject(g, parent, child, q, 3);
  EXPECT_EQ(g.host(child).count(q.id, 3), 1u);
  g.net().run_for(3s);
  EXPECT_EQ(g.host(parent).scribe.counters().fetched, parent_fetched + 1);
  for (Slot m : {1, 4, 7, 10})
    EXPECT_EQ(g.host(m).count(q.id, 3), 1u) << "member " << m;

  // Nothing more to fetch: the beats go on without fetches.
  const auto fetches = g.host(child).scribe.counters().fetches;
  g.net().run_for(5s);
  EXPECT_EQ(g.host(child).scribe.counters().fetches, fetches);
}

// A message that skips a sequence reveals the gap at once: the receiver asks its sender.
TEST(Scribe, ASkippedSequenceIsFetchedFromTheSender) {
  Group g(21);
  g.grow(12);
  const NodeId key = Scribe::topic_key(kTopic);
  const auto pair = child_and_parent(g, key);
  const Slot child = pair.first, parent = pair.second;
  const NodeInfo q{g.host(0).node.id(), g.net().address(0)};
  inject(g, child, parent, q, 1);  // the parent holds 1; the child does not
  inject(g, parent, child, q, 2);  // 2 reaches the child: it asks the parent for 1
  g.net().run_for(500ms);
  EXPECT_EQ(g.host(child).count(q.id, 1), 1u);
  EXPECT_EQ(g.host(child).count(q.id, 2), 1u);
}

// A fetch is answered with what is still held (history bounded), ascending, cut at
// fetch_bytes with `more`; a gap the neighbour no longer holds is given up, not asked again.
TEST(Scribe, AFetchAnswersWhatIsStillHeld) {
  Group g(23);
  g.scribe.history = 3;
  g.scribe.fetch_bytes = 5;
  g.scribe.beat_interval = 10s;  // no beat while the messages are placed
  g.grow(12);
  const NodeId key = Scribe::topic_key(kTopic);
  const auto pair = child_and_parent(g, key);
  const Slot child = pair.first, parent = pair.second;
  const NodeInfo q{g.host(0).node.id(), g.net().address(0)};
  inject(g, parent, child, q, 1);  // the child has 1
  for (std::int64_t s = 1; s <= 5; ++s)
    inject(g, child, parent, q, s);  // the parent holds 3, 4, 5 (payloads "m3" ...)
  const auto fetch = [&](std::int64_t from) {
    auto reply = query(g, 2, parent, "nexo_fetch",
                       {{"k", key.to_byte_string()}, {"o", q.id.to_byte_string()}, {"s", from}});
    EXPECT_TRUE(reply && *reply);
    return std::get<krpc::Response>(**reply).extra;
  };
  auto r = fetch(1);  // 1 and 2 are gone; "m3" and "m4" fit in 5 bytes, "m5" does not
  ASSERT_TRUE(r.find("m") && r.find("m")->is_list());
  ASSERT_EQ(r.find("m")->list().size(), 2u);
  EXPECT_EQ(r.find("m")->list()[0].list()[0].integer(), 3);
  EXPECT_EQ(r.find("m")->list()[1].list()[1].string(), "m4");
  ASSERT_TRUE(r.find("more"));
  EXPECT_EQ(r.find("more")->integer(), 1);
  std::string o;
  append_compact_node(o, q);
  EXPECT_EQ(r.find("o")->string(), o);
  r = fetch(5);
  ASSERT_EQ(r.find("m")->list().size(), 1u);
  EXPECT_FALSE(r.find("more"));
  r = fetch(6);
  EXPECT_TRUE(r.find("m")->list().empty());
  EXPECT_FALSE(r.find("o"));

  // The child, told by the parent's beat of 5, fetches from 2 and gets 3..5 (in two
  // answers); 2 is given up on, and not asked for again.
  g.net().run_for(12s);
  const auto& c = g.host(child).scribe.counters();
  EXPECT_EQ(c.fetched, 3u);
  EXPECT_EQ(c.gaps_given_up, 1u);
  EXPECT_EQ(c.fetches, 2u);
  g.net().run_for(30s);
  EXPECT_EQ(c.fetches, 2u);
  EXPECT_EQ(g.host(child).count(q.id, 1), 1u);
  EXPECT_EQ(g.host(child).count(q.id, 2), 0u);
  EXPECT_EQ(g.host(child).count(q.id, 5), 1u);
}

TEST(Scribe, FetchAndDigestArgumentsAreChecked) {
  Group g(25);
  g.grow(6);
  const std::string k = Scribe::topic_key(kTopic).to_byte_string();
  const std::string id(20, 'q');
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_fetch", {})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_fetch", {{"k", k}, {"s", 1}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_fetch", {{"k", k}, {"o", "short"}, {"s", 1}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_fetch", {{"k", k}, {"o", id}, {"s", -1}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_fetch", {{"k", k}, {"o", id}, {"s", "x"}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_fetch", {{"k", k}, {"o", id}})), 203);
  // Digests: not a whole number of 28-byte entries, a sequence 0, more than 32 entries.
  const std::string zero = id + std::string(8, '\0');
  const std::string one = id + std::string(7, '\0') + '\1';
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_beat", {{"k", k}, {"p", ""}, {"g", "abc"}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_beat", {{"k", k}, {"p", ""}, {"g", zero}})), 203);
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_join", {{"k", k}, {"g", 7}})), 203);
  std::string many;
  for (int i = 0; i < 33; ++i)
    many += one;
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_join", {{"k", k}, {"g", many}})), 203);
  EXPECT_EQ(g.host(2).scribe.counters().bad_arguments, 10u);
  EXPECT_EQ(g.host(2).scribe.topic_count(), 0u);  // nothing kept for them
  // Well-formed, for a tree slot 2 is not in.
  EXPECT_EQ(error_code(query(g, 1, 2, "nexo_fetch", {{"k", k}, {"o", id}, {"s", 0}})), 201);
}

// Custody: a publisher cut off from the tree when it publishes (its routes and lookup fail,
// it holds the message alone and cannot join) re-offers the message later, and the tree gets
// it once the publisher can reach it. Root checks and join retries are an hour away here: only
// the re-offers (at 2, 6 and 14 s) can carry it.
TEST(Scribe, APublisherReoffersWhatItCouldNotHandOver) {
  Group g(31);
  g.scribe.beat_interval = 1s;
  g.scribe.root_check_interval = 1h;
  g.scribe.join_retry = 1h;
  g.grow(30);
  const NodeId key = Scribe::topic_key(kTopic);
  std::vector<Slot> members = Group::every(1, 4, 30);
  ASSERT_TRUE(g.join_and_converge(members, kTopic));
  Slot publisher = 0;
  while (g.host(publisher).scribe.in_tree(key))
    ++publisher;
  std::vector<Slot> others;
  for (Slot s = 0; s < 30; ++s)
    if (s != publisher) others.push_back(s);
  g.net().partition({{publisher}, others});
  const std::int64_t seq = g.publish(publisher, kTopic, "kept");
  g.net().run_for(8s);
  for (Slot m : members)
    ASSERT_EQ(g.host(m).count(g.host(publisher).node.id(), seq), 0u) << "member " << m;
  g.net().heal();
  g.net().run_for(10s);
  for (Slot m : members)
    EXPECT_EQ(g.host(m).count(g.host(publisher).node.id(), seq), 1u) << "member " << m;
  EXPECT_EQ(g.host(publisher).scribe.counters().reoffered, 3u);
}

// A member whose parent died a moment ago (not yet missed) floods its message to that parent
// only; it routes the message toward the key as well (two routes), so the tree gets it even
// when the publisher dies right after.
TEST(Scribe, APublisherInATreeRoutesTowardTheKeyToo) {
  Group g(33);
  g.scribe.beat_interval = 1s;
  g.scribe.fanout = 2;  // a deeper tree
  g.grow(30);
  const NodeId key = Scribe::topic_key(kTopic);
  std::vector<Slot> members = Group::every(1, 3, 30);
  ASSERT_TRUE(g.join_and_converge(members, kTopic));
  // A member that is a leaf, below a parent that is not the root.
  Slot publisher = 0, parent = 0;
  for (Slot m : members) {
    auto p = g.host(m).scribe.parent(key);
    if (!p || !g.host(m).scribe.children(key).empty()) continue;
    const Slot ps = *g.net().find(p->endpoint);
    if (g.host(ps).scribe.is_root(key)) continue;
    publisher = m;
    parent = ps;
    break;
  }
  ASSERT_NE(publisher, parent) << "no leaf member below an interior node";
  g.net().crash(parent);
  const std::int64_t seq = g.publish(publisher, kTopic, "routed too");
  g.net().run_for(50ms);
  g.net().crash(publisher);
  g.net().run_for(10s);
  for (Slot m : members) {
    if (m != publisher && m != parent) {
      EXPECT_EQ(g.host(m).count(g.host(publisher).node.id(), seq), 1u) << "member " << m;
    }
  }
}

// A node that becomes root while the closest node is out of reach is likely the root of a
// fragment: it looks the key up again join_retry later, doubling up to root_check_interval,
// so it finds the closest node seconds after it is reachable, not a root_check_interval later.
TEST(Scribe, ANewRootChecksAgainSoon) {
  Group g(35);
  g.scribe.beat_interval = 1s;
  g.scribe.root_check_interval = 1h;
  g.grow(30);
  const NodeId key = Scribe::topic_key(kTopic);
  const Slot closest = g.closest(key);
  std::vector<Slot> rest;
  for (Slot s = 0; s < 30; ++s)
    if (s != closest) rest.push_back(s);
  g.net().partition({{closest}, rest});
  std::vector<Slot> members;
  for (Slot s = 1; s < 30; s += 4)
    if (s != closest) members.push_back(s);
  for (Slot m : members)
    g.join(m, kTopic);
  g.net().run_for(10s);
  EXPECT_GE(g.shape(key).roots, 1u);
  EXPECT_FALSE(g.host(closest).scribe.in_tree(key));
  g.net().heal();
  ASSERT_TRUE(g.net().run_until([&] { return g.converged(key, members); }, g.net().now() + 15s));
  EXPECT_TRUE(g.host(closest).scribe.is_root(key));
}

}  // namespace
}  // namespace nexo::overlay
