// Member cores on the simulated network: groups of 100 through loss,
// duplication and reordering; one loss seen by 1,000 receivers. Each run
// prints its seed. Three seeds each, one under a sanitizer.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "nexo/group/member.hpp"
#include "nexo/group/sim_member.hpp"
#include "nexo/group/sim_network.hpp"
#include "nexo/group/trace.hpp"

namespace nexo::group {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kGroup = group_tag("sim-group");

Time t0() {
  return Time{} + 1h;
}

using MemberNode = SimMember;

// The texts `node` delivered from `sender`, in order.
std::vector<std::string> texts(const SimMember& node, MemberId sender) {
  std::vector<std::string> out;
  if (auto it = node.delivered().find(sender); it != node.delivered().end()) {
    for (const Bytes& b : it->second)
      out.emplace_back(as_text(b));
  }
  return out;
}

std::vector<MemberId> ids(std::size_t n) {
  std::vector<MemberId> v;
  for (std::size_t i = 1; i <= n; ++i)
    v.push_back(i);
  return v;
}

MemberNode* add_member(sim::Network& net, MemberId self, const std::vector<MemberId>& members,
                       std::uint64_t seed, Trace* trace = nullptr) {
  MemberConfig c;
  c.group = kGroup;
  c.self = self;
  c.members = members;
  c.seed = seed;
  auto m = Member::create(c, net.now());
  EXPECT_TRUE(m) << m.error().message();
  auto node = std::make_unique<MemberNode>(std::move(*m), trace);
  MemberNode* raw = node.get();
  EXPECT_EQ(net.add(std::move(node)), self - 1);
  return raw;
}

std::string message(MemberId sender, int i) {
  return std::to_string(sender) + ":" + std::to_string(i);
}

// Sends message i of `self` now, or retries in 1 ms while its window is full.
void try_send(sim::Network& net, std::vector<MemberNode*>* nodes, MemberId self, int i) {
  if ((*nodes)[self - 1]->send(as_bytes(message(self, i)), net.now())) {
    net.kick(static_cast<sim::NodeId>(self - 1));
    return;
  }
  net.schedule(net.now() + 1ms, [nodes, self, i](sim::Network& n) { try_send(n, nodes, self, i); });
}

// Each of the first `senders` members sends `count` messages, one every `every`.
void schedule_sends(sim::Network& net, std::vector<MemberNode*>& nodes, std::size_t senders,
                    int count, Duration every) {
  for (std::size_t s = 0; s < senders; ++s) {
    const auto self = static_cast<MemberId>(s + 1);
    for (int i = 0; i < count; ++i) {
      net.schedule(net.now() + every * i + std::chrono::microseconds(37 * s),
                   [nodes = &nodes, self, i](sim::Network& n) { try_send(n, nodes, self, i); });
    }
  }
}

class GroupOverSimulatedNetwork : public ::testing::TestWithParam<std::uint64_t> {};

// Three seeds; one under a sanitizer (NEXO_SANITIZED), where the hundred-member
// run takes tens of seconds per seed and what is checked is memory, not the protocol.
#ifdef NEXO_SANITIZED
INSTANTIATE_TEST_SUITE_P(Seeds, GroupOverSimulatedNetwork, ::testing::Values(1));
#else
INSTANTIATE_TEST_SUITE_P(Seeds, GroupOverSimulatedNetwork, ::testing::Values(1, 2, 3));
#endif

// 100 members, every one a sender, through 10% loss, 5% duplication and
// reordering (jitter as large as the delay): every member delivers every
// message exactly once, in each sender's order.
TEST_P(GroupOverSimulatedNetwork, AHundredMembersDeliverEverythingOnceInFifoOrder) {
  const std::uint64_t seed = GetParam();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  constexpr std::size_t kMembers = 100;
  constexpr int kEach = 5;
  sim::Network net(seed, t0());
  net.set_link({.loss = 0.10, .duplicate = 0.05, .delay = 1ms, .jitter = 1ms});
  std::vector<MemberNode*> nodes;
  const auto members = ids(kMembers);
  for (MemberId m : members)
    nodes.push_back(add_member(net, m, members, seed));
  schedule_sends(net, nodes, kMembers, kEach, 3ms);
  const auto all_delivered = [&] {
    for (auto* n : nodes) {
      for (MemberId s : members) {
        auto it = n->delivered().find(s);
        if (it == n->delivered().end() || it->second.size() < static_cast<std::size_t>(kEach))
          return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(net.run_until(all_delivered, t0() + 60s)) << "seed " << seed << ": not all delivered";
  net.run_for(1s);  // late retransmissions and duplicates must not deliver twice
  std::uint64_t naks = 0, retransmissions = 0;
  for (auto* n : nodes) {
    for (MemberId s : members) {
      const auto got = texts(*n, s);
      ASSERT_EQ(got.size(), static_cast<std::size_t>(kEach)) << "seed " << seed;
      for (int i = 0; i < kEach; ++i)
        ASSERT_EQ(got[i], message(s, i)) << "seed " << seed << ", member " << n->member().self();
    }
    naks += n->member().counters().naks_sent;
    retransmissions += n->member().counters().retransmissions;
    EXPECT_EQ(n->member().counters().history_bytes, 0u) << "stability freed every history";
  }
  std::printf("seed %llu: %s; NAKs %llu, retransmissions %llu\n",
              static_cast<unsigned long long>(seed), net.counters().to_string().c_str(),
              static_cast<unsigned long long>(naks),
              static_cast<unsigned long long>(retransmissions));
  EXPECT_GT(naks, 0u) << "10% loss and no NAK: the test did not test recovery";
}

// One message lost on its way to all 1,000 receivers: the random back-off and
// suppression keep the NAKs reaching the sender to a handful.
TEST_P(GroupOverSimulatedNetwork, OneLossSeenByAThousandReceiversCostsAtMostTenNaks) {
  const std::uint64_t seed = GetParam();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  constexpr std::size_t kMembers = 1001;  // the sender and 1,000 receivers
  sim::Network net(seed, t0());
  net.set_link({.delay = 1ms, .jitter = 200us});
  std::vector<MemberNode*> nodes;
  const auto members = ids(kMembers);
  for (MemberId m : members)
    nodes.push_back(add_member(net, m, members, seed));
  MemberNode& sender = *nodes[0];
  ASSERT_TRUE(sender.send(as_bytes(std::string("one")), net.now()));
  net.kick(0);
  net.run_for(5ms);
  // "two" reaches nobody: the sender is cut off while it leaves.
  std::vector<sim::NodeId> rest;
  for (sim::NodeId i = 1; i < kMembers; ++i)
    rest.push_back(i);
  net.partition({{0}, rest});
  ASSERT_TRUE(sender.send(as_bytes(std::string("two")), net.now()));
  net.kick(0);
  net.heal();
  ASSERT_TRUE(sender.send(as_bytes(std::string("three")), net.now()));
  net.kick(0);
  const auto all_three = [&] {
    for (std::size_t i = 1; i < kMembers; ++i) {
      auto it = nodes[i]->delivered().find(1);
      if (it == nodes[i]->delivered().end() || it->second.size() < 3) return false;
    }
    return true;
  };
  ASSERT_TRUE(net.run_until(all_three, net.now() + 10s)) << "seed " << seed;
  const auto& k = sender.member().counters();
  std::printf(
      "seed %llu: NAKs at the sender %llu, suppressed at receivers %llu, "
      "retransmissions %llu\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k.naks_received),
      [&] {
        unsigned long long s = 0;
        for (auto* n : nodes)
          s += n->member().counters().naks_suppressed;
        return s;
      }(),
      static_cast<unsigned long long>(k.retransmissions));
  EXPECT_GE(k.naks_received, 1u);
  EXPECT_LE(k.naks_received, 10u) << "seed " << seed;
  for (std::size_t i = 1; i < kMembers; ++i)
    ASSERT_EQ(texts(*nodes[i], 1), (std::vector<std::string>{"one", "two", "three"}));
}

// The simulator draws its run: three members through 20% loss, recorded by
// SimMember into a Trace and written as the space-time diagram.
TEST(GroupOverSimulatedNetworkTrace, ARunWithLossIsDrawnWithItsNaksAndRetransmissions) {
  sim::Network net(11, t0());
  net.set_link({.loss = 0.2, .delay = 2ms, .jitter = 1ms});
  Trace trace;
  std::vector<MemberNode*> nodes;
  const auto members = ids(3);
  for (MemberId m : members)
    nodes.push_back(add_member(net, m, members, 11, &trace));
  schedule_sends(net, nodes, 3, 6, 5ms);
  ASSERT_TRUE(net.run_until(
      [&] {
        for (auto* n : nodes)
          for (MemberId s : members)
            if (texts(*n, s).size() < 6) return false;
        return true;
      },
      t0() + 30s));
  std::size_t sent = 0, delivered = 0, naks = 0, retransmitted = 0;
  for (const auto& e : trace.events()) {
    sent += e.kind == TraceKind::sent;
    delivered += e.kind == TraceKind::delivered;
    naks += e.kind == TraceKind::nak_sent;
    retransmitted += e.kind == TraceKind::retransmitted;
  }
  EXPECT_EQ(sent, 18u);
  EXPECT_EQ(delivered, 36u) << "each message, at each of the two other members, once";
  EXPECT_GT(naks, 0u);
  EXPECT_GT(retransmitted, 0u);
  std::ostringstream svg;
  ASSERT_TRUE(write_svg(trace, svg, SvgOptions{}));
  EXPECT_NE(svg.str().find("<svg"), std::string::npos);
  EXPECT_NE(svg.str().find("m3"), std::string::npos);
}

}  // namespace
}  // namespace nexo::group
