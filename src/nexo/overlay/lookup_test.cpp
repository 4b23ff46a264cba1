// Lookup: the rules one reply at a time (alpha, soft timeouts, duplicates,
// hostile replies, bounds, payloads, depth). Whole lookups through a model
// network are in lookup_network_test.cpp. Time is a fake clock; nothing sleeps.
#include "nexo/overlay/lookup.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;

const Time t0 = Time{} + 24h;

net::Endpoint peer(std::uint32_t i, std::uint16_t port = 6881) {
  return net::Endpoint(
      net::InetAddress::v4({10, static_cast<std::uint8_t>(i >> 16),
                            static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}),
      port);
}

// ---------------------------------------------------------------------------
// The rules, one reply at a time. The target is the zero id, so the node
// whose id ends in byte d is at distance d.

const NodeId kTarget{};
const NodeId kOwn = *NodeId::from_hex("ff00000000000000000000000000000000000000");

NodeInfo at(std::uint8_t d) {
  NodeId::Bytes b{};
  b[19] = d;
  return {NodeId(b), peer(d)};
}

std::vector<NodeInfo> nodes(std::initializer_list<int> ds) {
  std::vector<NodeInfo> out;
  for (int d : ds)
    out.push_back(at(static_cast<std::uint8_t>(d)));
  return out;
}

LookupConfig small(std::size_t k = 2, std::size_t alpha = 2) {
  LookupConfig c;
  c.k = k;
  c.alpha = alpha;
  return c;
}

TEST(Lookup, NothingToAskIsDone) {
  Lookup lookup(kTarget, kOwn);
  EXPECT_TRUE(lookup.done());
  EXPECT_EQ(lookup.next_request(t0), std::nullopt);
  EXPECT_TRUE(lookup.result().empty());
  EXPECT_EQ(lookup.rounds(), 0);
}

TEST(Lookup, OwnIdIsNeverACandidate) {
  Lookup lookup(kTarget, at(1).id);
  lookup.add_candidates(nodes({1, 5}));
  EXPECT_EQ(lookup.candidate_count(), 1u);
  EXPECT_EQ(lookup.next_request(t0), at(5));
  EXPECT_EQ(lookup.stats().nodes_ignored, 1u);
}

TEST(Lookup, AsksClosestFirstAndRespectsAlpha) {
  Lookup lookup(kTarget, kOwn, small(2, 2));
  lookup.add_candidates(nodes({9, 3, 7, 5}));
  EXPECT_EQ(lookup.next_request(t0), at(3));
  EXPECT_EQ(lookup.next_request(t0), at(5));
  EXPECT_EQ(lookup.next_request(t0), std::nullopt) << "alpha = 2 in flight";
  EXPECT_EQ(lookup.in_flight(), 2u);
  EXPECT_FALSE(lookup.done());
  EXPECT_EQ(lookup.on_reply(at(3), nodes({2}), t0 + 10ms), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.next_request(t0 + 10ms), at(2)) << "the closer node just heard of";
  EXPECT_EQ(lookup.on_reply(at(2), {}, t0 + 20ms), ReplyOutcome::accepted);
  EXPECT_TRUE(lookup.done()) << "the k = 2 closest (2, 3) answered; 5 still in flight";
  EXPECT_EQ(lookup.result(), nodes({2, 3}));
  EXPECT_EQ(lookup.next_request(t0 + 20ms), std::nullopt);
  EXPECT_EQ(lookup.stats().requests, 3u);
  EXPECT_EQ(lookup.stats().replies, 2u);
}

TEST(Lookup, SoftTimeoutFreesAlphaAndTheLateReplyIsTaken) {
  Lookup lookup(kTarget, kOwn, small(2, 1));
  lookup.add_candidates(nodes({1, 2, 3}));
  EXPECT_EQ(lookup.next_request(t0), at(1));
  EXPECT_EQ(lookup.next_request(t0), std::nullopt);
  EXPECT_TRUE(lookup.on_soft_timeout(at(1).endpoint));
  EXPECT_FALSE(lookup.on_soft_timeout(at(1).endpoint)) << "once";
  EXPECT_EQ(lookup.in_flight(), 0u);
  EXPECT_EQ(lookup.outstanding(), 1u);
  EXPECT_EQ(lookup.next_request(t0 + 300ms), at(2)) << "another node asked at once";
  EXPECT_EQ(lookup.on_reply(at(2), {}, t0 + 350ms), ReplyOutcome::accepted);
  EXPECT_FALSE(lookup.done()) << "node 1, among the k closest, is still awaited";
  EXPECT_EQ(lookup.on_reply(at(1), {}, t0 + 900ms), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.stats().late_replies, 1u);
  EXPECT_EQ(lookup.stats().soft_timeouts, 1u);
  EXPECT_TRUE(lookup.done());
  EXPECT_EQ(lookup.result(), nodes({1, 2}));
}

// An abandoned request (the caller stopped waiting for it, say after a slow retry) holds
// neither alpha nor done(); its reply is still taken while the lookup runs.
TEST(Lookup, AbandonedNodesDoNotHoldTheLookup) {
  Lookup lookup(kTarget, kOwn, small(2, 1));
  lookup.add_candidates(nodes({1, 2, 3, 4}));
  EXPECT_EQ(lookup.next_request(t0), at(1));
  EXPECT_TRUE(lookup.on_soft_timeout(at(1).endpoint));
  EXPECT_EQ(lookup.next_request(t0 + 100ms), at(2));
  EXPECT_TRUE(lookup.abandon(at(2).endpoint)) << "straight from in flight";
  EXPECT_EQ(lookup.in_flight(), 0u);
  EXPECT_FALSE(lookup.abandon(at(2).endpoint)) << "once";
  EXPECT_TRUE(lookup.abandon(at(1).endpoint)) << "from slow";
  EXPECT_EQ(lookup.outstanding(), 2u) << "their replies would still be taken";
  EXPECT_FALSE(lookup.done()) << "3 and 4 are still to ask";
  EXPECT_EQ(lookup.next_request(t0 + 200ms), at(3));
  EXPECT_EQ(lookup.on_reply(at(3), {}, t0 + 210ms), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.next_request(t0 + 210ms), at(4));
  EXPECT_EQ(lookup.on_reply(at(2), {}, t0 + 220ms), ReplyOutcome::accepted)
      << "a late reply from an abandoned node";
  EXPECT_EQ(lookup.stats().late_replies, 1u);
  EXPECT_TRUE(lookup.done()) << "2 and 3 answered; 1 abandoned, 4 beyond the k closest";
  EXPECT_EQ(lookup.result(), nodes({2, 3}));
  EXPECT_EQ(lookup.stats().abandoned, 2u);
  EXPECT_TRUE(lookup.on_failure(at(1).endpoint)) << "an abandoned request may fail";
  EXPECT_FALSE(lookup.abandon(at(9).endpoint)) << "never asked";
}

TEST(Lookup, AbandonedNodesDoNotKeepALookupWaiting) {
  Lookup lookup(kTarget, kOwn, small(2, 2));
  lookup.add_candidates(nodes({1, 2, 3}));
  ASSERT_EQ(lookup.next_request(t0), at(1));
  ASSERT_EQ(lookup.next_request(t0), at(2));
  EXPECT_EQ(lookup.on_reply(at(2), {}, t0 + 5ms), ReplyOutcome::accepted);
  ASSERT_EQ(lookup.next_request(t0 + 5ms), at(3));
  EXPECT_EQ(lookup.on_reply(at(3), {}, t0 + 6ms), ReplyOutcome::accepted);
  EXPECT_FALSE(lookup.done()) << "1, the closest, is in flight";
  EXPECT_TRUE(lookup.abandon(at(1).endpoint));
  EXPECT_TRUE(lookup.done()) << "the closest not abandoned (2, 3) answered";
  EXPECT_EQ(lookup.result(), nodes({2, 3}));
}

TEST(Lookup, FailedNodesLeaveTheSet) {
  Lookup lookup(kTarget, kOwn, small(2, 3));
  lookup.add_candidates(nodes({1, 2, 3}));
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(lookup.next_request(t0));
  EXPECT_TRUE(lookup.on_soft_timeout(at(1).endpoint));
  EXPECT_TRUE(lookup.on_failure(at(1).endpoint)) << "a slow request may fail";
  EXPECT_FALSE(lookup.on_failure(at(1).endpoint));
  EXPECT_EQ(lookup.on_reply(at(1), {}, t0 + 3s), ReplyOutcome::not_in_flight)
      << "a reply after the failure is not taken";
  EXPECT_TRUE(lookup.on_failure(at(2).endpoint));
  EXPECT_EQ(lookup.on_reply(at(3), {}, t0 + 10ms), ReplyOutcome::accepted);
  EXPECT_TRUE(lookup.done()) << "nothing left to ask, nothing in flight";
  EXPECT_EQ(lookup.result(), nodes({3}));
  EXPECT_EQ(lookup.stats().failures, 2u);
  lookup.add_candidates(nodes({1}));
  EXPECT_EQ(lookup.next_request(t0), std::nullopt) << "a failed node is not asked again";
}

TEST(Lookup, RepliesOnlyFromNodesInFlight) {
  Lookup lookup(kTarget, kOwn, small(2, 2));
  lookup.add_candidates(nodes({4, 6}));
  ASSERT_EQ(lookup.next_request(t0), at(4));
  EXPECT_EQ(lookup.on_reply(at(6), nodes({1}), t0), ReplyOutcome::not_in_flight)
      << "a candidate not asked yet";
  EXPECT_EQ(lookup.on_reply(at(9), nodes({1}), t0), ReplyOutcome::not_in_flight) << "a stranger";
  EXPECT_EQ(lookup.candidate_count(), 2u) << "their nodes were not considered";
  EXPECT_EQ(lookup.on_reply(at(4), {}, t0), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.on_reply(at(4), nodes({1}), t0), ReplyOutcome::not_in_flight) << "twice";
  EXPECT_EQ(lookup.stats().ignored_replies, 3u);
  EXPECT_EQ(lookup.stats().replies, 1u);
}

TEST(Lookup, ReplyNodesAreFilteredAndDeduplicated) {
  Lookup lookup(kTarget, at(200).id, small(3, 1));
  lookup.add_candidates(nodes({50}));
  ASSERT_EQ(lookup.next_request(t0), at(50));
  NodeInfo same_id_elsewhere{at(7).id, peer(99)};
  NodeInfo other_id_same_endpoint{at(8).id, at(7).endpoint};
  std::vector<NodeInfo> reply = {
      at(200), at(50), at(7), at(7), same_id_elsewhere, other_id_same_endpoint};
  EXPECT_EQ(lookup.on_reply(at(50), reply, t0), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.candidate_count(), 3u) << "50, 7 and a second claim of 7's id";
  EXPECT_EQ(lookup.stats().nodes_ignored, 4u);
  // A reply never marks another node answered: 7 must answer for itself.
  EXPECT_FALSE(lookup.done());
  EXPECT_EQ(lookup.next_request(t0), at(7));
}

TEST(Lookup, AnIdClaimedAtTwoEndpointsIsAskedAtBoth) {
  Lookup lookup(kTarget, kOwn, small(1, 1));
  NodeInfo forged{at(3).id, peer(250)};  // a real id at a bogus address
  lookup.add_candidates(std::vector<NodeInfo>{forged, at(9)});
  ASSERT_EQ(lookup.next_request(t0), forged);
  lookup.add_candidates(nodes({3}));
  EXPECT_EQ(lookup.candidate_count(), 3u) << "the forged claim does not hide the true one";
  ASSERT_TRUE(lookup.on_soft_timeout(forged.endpoint));
  EXPECT_EQ(lookup.next_request(t0 + 300ms), at(3));
  EXPECT_EQ(lookup.on_reply(at(3), {}, t0 + 350ms), ReplyOutcome::accepted);
  EXPECT_TRUE(lookup.done()) << "the forged claim, still in flight, was dropped";
  EXPECT_EQ(lookup.result(), nodes({3}));
  EXPECT_EQ(lookup.on_reply(NodeInfo{at(3).id, forged.endpoint}, {}, t0 + 1s),
            ReplyOutcome::not_in_flight);
  lookup.add_candidates(std::vector<NodeInfo>{NodeInfo{at(3).id, peer(251)}});
  EXPECT_EQ(lookup.candidate_count(), 3u) << "the id has proved its endpoint";
}

TEST(Lookup, ReplyWithAnotherIdFailsTheCandidate) {
  Lookup lookup(kTarget, kOwn, small(2, 2));
  lookup.add_candidates(nodes({2, 6}));
  ASSERT_EQ(lookup.next_request(t0), at(2));
  NodeInfo impostor{at(1).id, at(2).endpoint};  // claims to be closer than it was said to be
  EXPECT_EQ(lookup.on_reply(impostor, nodes({4}), t0), ReplyOutcome::id_mismatch);
  EXPECT_EQ(lookup.stats().id_mismatches, 1u);
  EXPECT_EQ(lookup.in_flight(), 0u);
  EXPECT_EQ(lookup.next_request(t0), at(4)) << "its nodes are still considered";
  EXPECT_EQ(lookup.next_request(t0), at(6));
  EXPECT_EQ(lookup.on_reply(at(4), {}, t0), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.on_reply(at(6), {}, t0), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.result(), nodes({4, 6})) << "neither id 1 nor id 2 is in the result";
}

TEST(Lookup, CandidatesAreBounded) {
  LookupConfig config = small(4, 1);
  config.max_candidates = 16;
  Lookup lookup(kTarget, kOwn, config);
  lookup.add_candidates(nodes({255}));
  ASSERT_TRUE(lookup.next_request(t0));
  std::vector<NodeInfo> flood;
  for (int i = 1; i < 255; ++i)
    flood.push_back(at(static_cast<std::uint8_t>(i)));
  EXPECT_EQ(lookup.on_reply(at(255), flood, t0), ReplyOutcome::accepted);
  EXPECT_LE(lookup.candidate_count(), 16u + 1u);
  EXPECT_GT(lookup.stats().nodes_dropped, 200u);
  EXPECT_EQ(lookup.next_request(t0), at(1)) << "the closest were kept";
}

TEST(Lookup, MaxRequestsEndsAChase) {
  LookupConfig config = small(2, 1);
  config.max_requests = 5;
  Lookup lookup(kTarget, kOwn, config);
  lookup.add_candidates(nodes({250}));
  // Each reply names one node closer still, and each of those fails.
  std::uint8_t d = 250;
  for (int i = 0; i < 10; ++i) {
    auto n = lookup.next_request(t0);
    if (!n) break;
    if (n->id == at(250).id) {
      EXPECT_EQ(lookup.on_reply(*n, nodes({--d}), t0), ReplyOutcome::accepted);
    } else {
      lookup.add_candidates(nodes({--d}), 1);
      EXPECT_TRUE(lookup.on_failure(n->endpoint));
    }
  }
  EXPECT_EQ(lookup.stats().requests, 5u);
  EXPECT_TRUE(lookup.done());
  EXPECT_EQ(lookup.result(), nodes({250}));
}

TEST(Lookup, PayloadsAreKeptPerResponder) {
  LookupConfig config = small(3, 3);
  config.max_payload = 8;
  Lookup lookup(kTarget, kOwn, config);
  lookup.add_candidates(nodes({1, 2, 3}));
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(lookup.next_request(t0));
  EXPECT_EQ(lookup.on_reply(at(2), {}, t0, "token-2"), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.on_reply(at(1), {}, t0, "token-1"), ReplyOutcome::accepted);
  EXPECT_EQ(lookup.on_reply(at(3), {}, t0, "a token too long"), ReplyOutcome::accepted);
  ASSERT_TRUE(lookup.done());
  const auto r = lookup.responders();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].node, at(1));
  EXPECT_EQ(r[0].payload, "token-1");
  EXPECT_EQ(r[1].payload, "token-2");
  EXPECT_EQ(r[2].payload, "") << "dropped, the reply still taken";
  EXPECT_EQ(lookup.stats().payloads_dropped, 1u);
}

TEST(Lookup, DepthCountsTheChainOfReplies) {
  Lookup lookup(kTarget, kOwn, small(2, 1));
  lookup.add_candidates(nodes({40, 50}));
  ASSERT_EQ(lookup.next_request(t0), at(40));
  lookup.on_reply(at(40), nodes({30}), t0);  // 30: depth 1
  ASSERT_EQ(lookup.next_request(t0), at(30));
  lookup.on_reply(at(30), nodes({20, 5}), t0);  // depth 2
  ASSERT_EQ(lookup.next_request(t0), at(5));
  lookup.on_reply(at(5), {}, t0);
  EXPECT_FALSE(lookup.done()) << "20 is among the 2 closest live, not asked yet";
  ASSERT_EQ(lookup.next_request(t0), at(20));
  lookup.on_reply(at(20), nodes({10}), t0);  // depth 3
  EXPECT_FALSE(lookup.done());
  ASSERT_EQ(lookup.next_request(t0), at(10));
  lookup.on_reply(at(10), {}, t0);
  ASSERT_TRUE(lookup.done());
  EXPECT_EQ(lookup.result(), nodes({5, 10}));
  EXPECT_EQ(lookup.responders()[0].depth, 2);
  EXPECT_EQ(lookup.responders()[1].depth, 3);
  EXPECT_EQ(lookup.rounds(), 4) << "asking a depth-3 node is the 4th round trip";
  EXPECT_EQ(lookup.longest_chain(), 4);
}

}  // namespace
}  // namespace nexo::overlay
