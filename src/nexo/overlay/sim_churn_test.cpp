#include "nexo/overlay/sim_churn.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
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
// 3 s (on average) and answers pings, optionally under churn. Prints the
// simulator's bytes per node and the CPU time; the tests assert only a memory
// bound computed from the sizes of the simulator's tables, never a time.
// NEXO_OVERLAY_SIM_NODES and NEXO_OVERLAY_SIM_SECONDS set the size for a run
// by hand (100,000 nodes for a simulated minute, say).
struct ScaleRun {
  Slot nodes = 0;
  std::uint64_t seconds = 0;
  double per_node = 0;  // memory_bytes() / nodes alive
  std::uint64_t pongs = 0;
};

ScaleRun run_scale(Duration lifetime) {
  ScaleRun run;
  run.nodes = static_cast<Slot>(env_or("NEXO_OVERLAY_SIM_NODES", kScaleNodes));
  run.seconds = env_or("NEXO_OVERLAY_SIM_SECONDS", 6);
  const std::clock_t cpu_start = std::clock();
  Network net(config(77));
  const Factory make = test::pinger(net, 3s, 78);
  for (Slot i = 0; i < run.nodes; ++i) {
    net.add(make);
  }
  std::optional<Churn> churn;
  if (lifetime > Duration::zero()) {
    churn.emplace(net, ChurnConfig{.mean_lifetime = lifetime, .seed = 79}, make);
    churn->add_all();
  }
  net.run_for(std::chrono::seconds(run.seconds));
  const double cpu_s = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;

  run.per_node = static_cast<double>(net.memory_bytes()) / static_cast<double>(net.alive());
  for (Slot i = 0; i < net.slots(); ++i) {
    if (net.state(i) == NodeState::alive)
      run.pongs += static_cast<test::PingNode&>(net.node(i)).pongs;
  }
  std::printf("nodes %u, mean lifetime %.0f s, simulated %llu s, cpu %.2f s, %s\n", run.nodes,
              std::chrono::duration<double>(lifetime).count(),
              static_cast<unsigned long long>(run.seconds), cpu_s,
              net.counters().to_string().c_str());
  std::printf(
      "simulator bytes/node %.1f (memory_bytes %zu, slots %zu, events pending %zu, buffers %zu), "
      "peak RSS %ld KiB\n",
      run.per_node, net.memory_bytes(), net.slots(), net.pending(), net.buffers(), peak_rss_kib());
  EXPECT_EQ(net.alive(), run.nodes);
  // Every node pinged about seconds / 3 times; pings were answered.
  const Counters& counters = net.counters();
  EXPECT_GT(counters.sent, std::uint64_t{run.nodes} * run.seconds / 3);
  EXPECT_EQ(counters.lost + counters.partitioned + counters.to_crashed, 0U);
  if (!churn) {
    EXPECT_EQ(counters.to_nobody, 0U);
    EXPECT_GT(run.pongs, counters.sent / 4);
    // Everything sent was delivered but what is in flight (pending minus one timer per node).
    EXPECT_EQ(counters.delivered, counters.sent - (net.pending() - run.nodes));
  } else {
    // Pings go to random addresses ever handed out, some of them retired by now.
    EXPECT_GT(counters.to_nobody, 0U);
    EXPECT_LE(counters.delivered + counters.to_nobody, counters.sent);
    EXPECT_GT(counters.delivered, counters.sent / 2);
    EXPECT_GT(run.pongs, 0U);
  }
  return run;
}

TEST(OverlaySimScale, TrivialNodesCostTheSimulatorAFewHundredBytesEach) {
  const ScaleRun run = run_scale(Duration::zero());
  // The record (80), the address tables (6), one timer event (24), with the
  // heap's and the tables' doubling slack; datagrams in flight are a few
  // percent of the nodes.
  EXPECT_LE(run.per_node, 2.0 * (80 + 6 + 24) + 64);
}

TEST(OverlaySimScale, UnderChurnTheSimulatorsShareStaysSmall) {
  const ScaleRun run = run_scale(30s);
  // As above, plus each node's death: an action (32) and its event (24); and
  // 6 bytes per address ever handed out (about 1 + seconds / 30 per node).
  const double addresses = 1.0 + static_cast<double>(run.seconds) / 30.0 * 1.5;
  EXPECT_LE(run.per_node, 2.0 * (80 + 24 + 32 + 24) + 2.0 * 6 * addresses + 64);
}

}  // namespace
}  // namespace nexo::overlay::sim
