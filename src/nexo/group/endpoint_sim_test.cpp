// The Endpoint on the simulated network: views formed by joins, a crash in a
// 100-member group, partitions healed into one view, clean leaves, joins
// during lossy traffic, random crashes, with virtual synchrony, FIFO order and
// exactly-once delivery checked on what every member recorded. Each seeded
// run prints its seed when it fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "nexo/group/endpoint_sim_support.hpp"

namespace nexo::group {
namespace {

using namespace testing;

sim::LinkModel wire(Duration delay = 1ms, Duration jitter = 200us) {
  sim::LinkModel link;
  link.delay = delay;
  link.jitter = jitter;
  return link;
}

sim::LinkModel lossy() {
  sim::LinkModel link = wire(1ms, 2ms);
  link.loss = 0.10;
  link.duplicate = 0.05;
  return link;
}

TEST(GroupEndpointSim, MembersJoinIntoOneView) {
  SimGroup g(11, 5, wire());
  ASSERT_TRUE(g.form());
  const View& v = g.at(0).endpoint().view();
  EXPECT_EQ(v.members.front(), 1u);  // the first joiner coordinates
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(g.at(i).endpoint().view().id, v.id);
    ASSERT_NE(g.at(i).endpoint().contact(3), nullptr);
    EXPECT_EQ(as_text(*g.at(i).endpoint().contact(3)), "m3");
  }
  g.traffic(SimGroup::range(0, 5), 10ms, g.net.now() + 300ms);
  g.net.run_for(600ms);
  EXPECT_GT(g.sent.size(), 100u);
  expect_all_delivered_once(g, "seed 11");
  expect_virtual_synchrony(g, "seed 11");
}

TEST(GroupEndpointSim, CrashIn100MemberGroupIsOutWithinTheDetectionTime) {
  const std::uint64_t seed = 100;
  SimGroup g(seed, 100, wire());
  ASSERT_TRUE(g.form(30s)) << "seed " << seed;
  g.traffic(SimGroup::range(0, 100), 100ms, g.net.now() + 2s);
  g.net.run_for(500ms);
  const std::size_t victim = 37;
  const Time crash_at = g.net.now();
  g.crash(victim);
  std::vector<std::size_t> rest = g.alive();
  ASSERT_TRUE(g.net.run_until([&] { return g.in_one_view(rest); }, crash_at + 5s))
      << "seed " << seed;
  Duration worst{0};
  for (std::size_t i : rest) worst = std::max(worst, g.at(i).views().back().at - crash_at);
  const double ms = std::chrono::duration<double, std::milli>(worst).count();
  std::printf("100 members, one crash: every survivor had the new view %.1f ms after the crash\n",
              ms);
  EXPECT_LE(worst, Duration(1s)) << "seed " << seed;
  g.net.run_for(2s);
  expect_virtual_synchrony(g, "seed 100");
  expect_all_delivered_once(g, "seed 100");
}

TEST(GroupEndpointSim, CoordinatorCrashIsReplacedByTheNext) {
  const std::uint64_t seed = 21;
  SimGroup g(seed, 6, wire());
  ASSERT_TRUE(g.form());
  g.traffic(SimGroup::range(0, 6), 20ms, g.net.now() + 2s);
  g.net.run_for(300ms);
  const MemberId second = g.at(0).endpoint().view().members[1];  // in join order
  g.crash(0);
  ASSERT_TRUE(g.net.run_until([&] { return g.in_one_view(SimGroup::range(1, 6)); },
                              g.net.now() + 3s));
  EXPECT_EQ(g.at(1).endpoint().view().members.front(), second);
  g.net.run_for(2s);
  expect_virtual_synchrony(g, "seed 21");
  expect_all_delivered_once(g, "seed 21");
}

TEST(GroupEndpointSim, PartitionHealsIntoOneView) {
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    SimGroup g(seed, 6, wire());
    ASSERT_TRUE(g.form()) << "seed " << seed;
    g.traffic(SimGroup::range(0, 6), 30ms, g.net.now() + 6s);
    g.net.run_for(200ms);
    g.net.partition({{0, 1, 2}, {3, 4, 5}});
    ASSERT_TRUE(g.net.run_until(
        [&] { return g.in_one_view({0, 1, 2}) && g.in_one_view({3, 4, 5}); },
        g.net.now() + 5s))
        << "seed " << seed << ": the halves did not form views of their own";
    g.net.heal();
    ASSERT_TRUE(g.net.run_until([&] { return g.in_one_view(SimGroup::range(0, 6)); },
                                g.net.now() + 10s))
        << "seed " << seed << ": no merged view";
    g.net.run_for(1s);
    expect_virtual_synchrony(g, "seed " + std::to_string(seed));
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(GroupEndpointSim, LeaveInstallsTheNextViewWithoutATimeout) {
  const std::uint64_t seed = 5;
  SimGroup g(seed, 5, wire());
  ASSERT_TRUE(g.form());
  const std::uint64_t before = g.at(0).endpoint().view().id;
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(g.at(2).send(to_bytes("bye " + std::to_string(k)), g.net.now()));
  g.net.kick(2);
  const Time leave_at = g.net.now();
  g.leave(2);
  ASSERT_TRUE(g.net.run_until(
      [&] {
        return g.in_one_view({0, 1, 3, 4}) && g.at(2).endpoint().state() == Endpoint::State::left;
      },
      leave_at + 3s));
  Duration worst{0};
  for (std::size_t i : {0, 1, 3, 4}) {
    worst = std::max(worst, g.at(i).views().back().at - leave_at);
    // The leaver's messages, in the old view, before the new one.
    std::size_t bye = 0;
    for (const auto& d : g.at(i).delivered())
      if (d.sender == 3) {
        EXPECT_EQ(d.view, before);
        ++bye;
      }
    EXPECT_EQ(bye, 5u) << "m" << i + 1;
  }
  std::printf("leave: the others' new view came %.1f ms after leave()\n",
              std::chrono::duration<double, std::milli>(worst).count());
  EXPECT_LT(worst, Duration(200ms));  // far below detection_time: no failure timeout
  expect_virtual_synchrony(g, "seed 5");
}

TEST(GroupEndpointSim, JoinsDuringLossyTrafficMissNothing) {
  for (std::uint64_t seed : {31, 32, 33}) {
    SimGroup g(seed, 10, wire());
    // The first six form the group on a clean wire, the rest join through loss.
    std::vector<std::size_t> first = SimGroup::range(0, 6);
    g.join(0);
    g.net.run_for(400ms);
    for (std::size_t i = 1; i < 6; ++i) g.join(i);
    ASSERT_TRUE(g.net.run_until([&] { return g.in_one_view(first); }, g.net.now() + 10s))
        << "seed " << seed;
    g.net.set_link(lossy());
    g.traffic(SimGroup::range(0, 10), 15ms, g.net.now() + 3s);
    for (std::size_t i = 6; i < 10; ++i)
      g.net.schedule(g.net.now() + 200ms * (i - 5), [&g, i](sim::Network&) { g.join(i); });
    ASSERT_TRUE(g.net.run_until([&] { return g.in_one_view(SimGroup::range(0, 10)); },
                                g.net.now() + 15s))
        << "seed " << seed;
    g.net.run_for(4s);
    g.net.set_link(wire());
    g.net.run_for(2s);
    const std::string context = "seed " + std::to_string(seed);
    expect_all_delivered_once(g, context);
    expect_virtual_synchrony(g, context);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(GroupEndpointSim, RandomCrashesUnderLossKeepVirtualSynchrony) {
  for (std::uint64_t seed : {41, 42, 43, 44}) {
    SimGroup g(seed, 10, wire());
    ASSERT_TRUE(g.form()) << "seed " << seed;
    g.net.set_link(lossy());
    g.traffic(SimGroup::range(0, 10), 10ms, g.net.now() + 4s);
    fault::Random pick(seed);
    std::set<std::size_t> victims;
    while (victims.size() < 3) victims.insert(pick.next() % 10);
    Time at = g.net.now();
    for (std::size_t v : victims) {
      at += std::chrono::milliseconds(200 + pick.next() % 600);
      g.net.schedule(at, [&g, v](sim::Network&) { g.crash(v); });
    }
    g.net.run_until(at);
    ASSERT_TRUE(g.net.run_until([&] { return g.in_one_view(g.alive()); }, g.net.now() + 10s))
        << "seed " << seed;
    g.net.set_link(wire());
    g.net.run_for(3s);
    const std::string context = "seed " + std::to_string(seed);
    expect_virtual_synchrony(g, context);
    expect_all_delivered_once(g, context);
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace nexo::group
