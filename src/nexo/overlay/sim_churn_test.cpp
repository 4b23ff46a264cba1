#include "nexo/overlay/sim_churn.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <string>

#include "nexo/overlay/sim_test_nodes.hpp"

namespace nexo::overlay::sim {
namespace {

using namespace std::chrono_literals;

const Time kStart = Time{} + 1000s;

Config config(std::uint64_t seed) {
  Config c;
  c.seed = seed;
  c.start = kStart;
  return c;
}

#ifdef NEXO_SANITIZED
constexpr Slot kChurnNodes = 200;
constexpr Slot kScaleNodes = 1'000;
#else
constexpr Slot kChurnNodes = 1'000;
constexpr Slot kScaleNodes = 10'000;
#endif

// N nodes under churn with a mean lifetime of 30 s for 10 minutes: the
// population stays N, about N * 600 / 30 nodes die and as many are born, the
// lifetimes drawn have the mean, and the original nodes survive 30 s with
// probability 1/e (the exponential's survival function).
TEST(OverlaySimChurn, ThePopulationStaysAndLifetimesHaveTheMean) {
  Network net(config(21));
  for (Slot i = 0; i < kChurnNodes; ++i)
    net.add(test::recorder());
  Churn churn(net, {.mean_lifetime = 30s, .seed = 22}, test::recorder());
  std::uint64_t replaced = 0;
  churn.on_replace = [&](Slot gone, Slot born) {
    ++replaced;
    EXPECT_EQ(net.state(gone), NodeState::removed);
    EXPECT_EQ(born, net.slots() - 1);  // a new address, never a reused one
  };
  churn.add_all();
  Slot survivors_at_30s = 0;
  net.schedule(kStart + 30s, [&](Network& n) {
    for (Slot i = 0; i < kChurnNodes; ++i)
      survivors_at_30s += n.state(i) != NodeState::removed;
  });
  for (int second = 10; second <= 600; second += 10) {
    net.schedule(kStart + std::chrono::seconds(second), [](Network& n) {
      EXPECT_EQ(n.alive(), kChurnNodes) << "at " << n.now().time_since_epoch().count();
    });
  }
  net.run_for(600s);

  const double expected = kChurnNodes * 600.0 / 30.0;  // sigma is about sqrt(expected)
  EXPECT_NEAR(static_cast<double>(churn.deaths()), expected, 5 * std::sqrt(expected));
  EXPECT_EQ(churn.births(), churn.deaths());
  EXPECT_EQ(replaced, churn.deaths());
  EXPECT_EQ(net.slots(), kChurnNodes + churn.births());
  EXPECT_EQ(net.alive(), kChurnNodes);
  EXPECT_EQ(net.counters().removed, churn.deaths());
  // The mean of n exponential draws has sigma mean / sqrt(n).
  const double mean_s = std::chrono::duration<double>(churn.mean_drawn_lifetime()).count();
  EXPECT_NEAR(mean_s, 30.0, 5 * 30.0 / std::sqrt(static_cast<double>(churn.lifetimes_drawn())));
  const double p = std::exp(-1.0);
  const double sigma = std::sqrt(p * (1 - p) / kChurnNodes);
  EXPECT_NEAR(static_cast<double>(survivors_at_30s) / kChurnNodes, p, 5 * sigma);
}

TEST(OverlaySimChurn, CrashedNodesAreReplacedRemovedOnesAreNotAndStopStops) {
  Network net(config(4));
  for (Slot i = 0; i < 3; ++i)
    net.add(test::recorder());
  Churn churn(net, {.mean_lifetime = 1s, .seed = 5}, test::recorder());
  churn.add_all();
  net.crash(0);
  net.remove(1);
  net.run_until([&] { return churn.deaths() >= 2; }, kStart + 1h);
  EXPECT_EQ(net.state(0), NodeState::removed);  // crashed, then its life ended
  EXPECT_EQ(net.state(1), NodeState::removed);
  EXPECT_EQ(net.alive(), 2U);  // 2 and the newcomer in 0's place, or their heirs
  churn.stop();
  const std::uint64_t deaths = churn.deaths();
  const std::size_t slots = net.slots();
  net.run_for(1h);
  EXPECT_EQ(churn.deaths(), deaths);
  EXPECT_EQ(net.slots(), slots);
}

TEST(OverlaySimChurn, MisuseThrows) {
  Network net(config(4));
  const Slot a = net.add(test::recorder());
  EXPECT_THROW(Churn(net, {.mean_lifetime = 0s}, test::recorder()), std::logic_error);
  EXPECT_THROW(Churn(net, {}, nullptr), std::logic_error);
  Churn churn(net, {}, test::recorder());
  net.remove(a);
  EXPECT_THROW(churn.add(a), std::logic_error);
  EXPECT_THROW(churn.add(7), std::logic_error);
}

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr ? std::strtoull(text, nullptr, 10) : fallback;
}

long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// The trivial-node workload at scale: every node pings a random address every
// 3 s (on average) and answers pings. Prints the simulator's bytes per node
// and the CPU time; asserts only a memory bound computed from the sizes of
// its tables. NEXO_OVERLAY_SIM_NODES and NEXO_OVERLAY_SIM_SECONDS set the size
// for a run by hand (100,000 nodes for a simulated minute, say).
TEST(OverlaySimScale, TrivialNodesCostTheSimulatorAFewHundredBytesEach) {
  const auto nodes = static_cast<Slot>(env_or("NEXO_OVERLAY_SIM_NODES", kScaleNodes));
  const auto seconds = env_or("NEXO_OVERLAY_SIM_SECONDS", 6);
  const std::clock_t cpu_start = std::clock();
  Network net(config(77));
  for (Slot i = 0; i < nodes; ++i)
    net.add(test::pinger(net, 3s, 78));
  net.run_for(std::chrono::seconds(seconds));
  const double cpu_s = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;

  const Counters& counters = net.counters();
  const double per_node = static_cast<double>(net.memory_bytes()) / nodes;
  std::printf("nodes %u, simulated %llu s, cpu %.2f s, %s\n", nodes,
              static_cast<unsigned long long>(seconds), cpu_s, counters.to_string().c_str());
  std::printf(
      "simulator bytes/node %.1f (memory_bytes %zu, events pending %zu, buffers %zu), "
      "peak RSS %ld KiB\n",
      per_node, net.memory_bytes(), net.pending(), net.buffers(), peak_rss_kib());

  // Every node pinged about seconds / 3 times; every ping is answered.
  EXPECT_GT(counters.sent, std::uint64_t{nodes} * seconds / 3);
  EXPECT_EQ(counters.to_nobody + counters.lost + counters.to_crashed, 0U);
  std::uint64_t pongs = 0;
  for (Slot i = 0; i < nodes; ++i)
    pongs += static_cast<test::PingNode&>(net.node(i)).pongs;
  EXPECT_EQ(counters.delivered, counters.sent - (net.pending() - nodes)) << "in flight";
  EXPECT_GT(pongs, counters.sent / 3);
  // The record, the address tables, one timer event, and the heap's and the
  // tables' doubling slack; datagrams in flight are a few percent of the nodes.
  EXPECT_LE(per_node, 2.0 * (80 + 6 + 32) + 64);
}

}  // namespace
}  // namespace nexo::overlay::sim
