// The orderers through the Endpoint on the simulated network: the sequencer
// (the view's first member) crashes under load through 10% loss; the
// survivors install a view without it, whose first member is the new
// sequencer, and every survivor delivers one sequence in each view, no
// message lost or twice; the same for agreed order and a crashed member. Each
// run prints its seed. And causal order through the Endpoint, across a crash.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "nexo/group/endpoint_sim_support.hpp"

namespace nexo::group {
namespace {

using namespace std::chrono_literals;
using testing::SimGroup;

// Each sender's messages in a view in the order sent, each once. (Not 1, 2,
// 3, ...: the Member's numbers count the orderers' control messages too, as
// endpoint_sim_support.hpp's expect_virtual_synchrony does not expect.)
void expect_fifo_per_view(const SimGroup& g, const std::string& context) {
  for (const std::size_t r : g.alive()) {
    std::map<std::pair<std::uint64_t, MemberId>, std::uint64_t> last;
    for (const auto& d : g.eps[r]->delivered()) {
      std::uint64_t& seq = last[{d.view, d.sender}];
      EXPECT_GT(d.seq, seq) << context << ": m" << r + 1 << " delivered m" << d.sender << ":"
                            << d.seq << " in view " << d.view << " after " << seq;
      seq = d.seq;
    }
  }
}

// For every view, the sequence each survivor delivered in it: the same (so
// also the same set: virtual synchrony, every survivor moving together).
void expect_one_order_per_view(const SimGroup& g, const std::string& context) {
  std::map<std::uint64_t, std::pair<std::size_t, std::vector<std::string>>> first;
  for (const std::size_t r : g.alive()) {
    std::map<std::uint64_t, std::vector<std::string>> mine;
    for (const auto& d : g.eps[r]->delivered())
      mine[d.view].emplace_back(as_text(d.payload));
    for (const auto& [view, sequence] : mine) {
      auto [it, fresh] = first.emplace(view, std::make_pair(r, sequence));
      if (!fresh) {
        EXPECT_EQ(sequence, it->second.second)
            << context << ": m" << r + 1 << " and m" << it->second.first + 1 << " delivered view "
            << view << "'s messages in different orders";
      }
    }
  }
}

class OrderFailover : public ::testing::TestWithParam<std::tuple<Order, std::uint64_t>> {};
INSTANTIATE_TEST_SUITE_P(Cases, OrderFailover,
                         ::testing::Combine(::testing::Values(Order::total, Order::agreed),
                                            ::testing::Values(1, 2, 3)),
                         [](const auto& p) {
                           return std::string(to_string(std::get<0>(p.param))) + "_seed" +
                                  std::to_string(std::get<1>(p.param));
                         });

TEST_P(OrderFailover, TheFirstMemberCrashesUnderLoadAndEveryViewHasOneOrder) {
  const auto [order, seed] = GetParam();
  const std::string context = std::string(to_string(order)) + ", seed " + std::to_string(seed);
  std::printf("%s\n", context.c_str());
  SimGroup g(seed, 5, {.loss = 0.10, .duplicate = 0.05, .delay = 1ms, .jitter = 1ms},
             [order = order](EndpointConfig& c) { c.order = order; });
  ASSERT_TRUE(g.form()) << context;
  const MemberId sequencer = g.at(0).endpoint().view().members.front();
  const std::size_t victim = sequencer - 1;
  g.traffic(SimGroup::range(0, 5), 2ms, g.net.now() + 1500ms);
  g.net.run_for(400ms);
  g.crash(victim);
  std::vector<std::size_t> survivors;
  for (std::size_t i = 0; i < 5; ++i)
    if (i != victim) survivors.push_back(i);
  ASSERT_TRUE(g.net.run_until([&] { return g.in_one_view(survivors); }, g.net.now() + 10s))
      << context << ": no view without the crashed member";
  g.net.run_for(3s);  // the traffic ends, everything is delivered
  const MemberId next = g.at(survivors.front()).endpoint().view().members.front();
  EXPECT_NE(next, sequencer) << context;
  expect_fifo_per_view(g, context);
  testing::expect_all_delivered_once(g, context);
  expect_one_order_per_view(g, context);
  std::size_t delivered = 0;
  for (const std::size_t r : survivors)
    delivered += g.eps[r]->delivered().size();
  std::printf(
      "%s: %zu messages sent, %zu deliveries at the 4 survivors; sequencer m%llu, then m%llu\n",
      context.c_str(), g.sent.size(), delivered, static_cast<unsigned long long>(sequencer),
      static_cast<unsigned long long>(next));
  EXPECT_GT(g.sent.size(), 1000u) << context << ": not under load";
}

// Causal order through the Endpoint: every member sends every 2 ms, through
// 10% loss, and one member crashes; each message's causal history (what its
// sender had delivered of each member in the view when sending) is recorded
// at the send, and every delivery everywhere is checked against it.
struct CausalEndpointRun {
  std::size_t messages = 0, violations = 0;
};

CausalEndpointRun run_causal_endpoints(Order order, std::uint64_t seed) {
  SimGroup g(seed, 5, {.loss = 0.10, .duplicate = 0.05, .delay = 1ms, .jitter = 1ms},
             [order](EndpointConfig& c) { c.order = order; });
  EXPECT_TRUE(g.form()) << "seed " << seed;
  // payload -> (view, per sender: messages its sender had delivered in that view)
  std::map<std::string, std::pair<std::uint64_t, std::map<MemberId, std::size_t>>> history;
  std::function<void(std::size_t, int)> send = [&](std::size_t i, int k) {
    if (k >= 300 || g.crashed.contains(i)) return;
    SimEndpoint& e = *g.eps[i];
    if (e.endpoint().state() == Endpoint::State::member) {
      const std::string text = "m" + std::to_string(i + 1) + "-" + std::to_string(k);
      std::map<MemberId, std::size_t> had;
      const std::uint64_t view = e.endpoint().view().id;
      for (const auto& d : e.delivered())
        if (d.view == view) ++had[d.sender];
      if (e.send(as_bytes(text), g.net.now())) history[text] = {view, had};
      g.net.kick(static_cast<sim::NodeId>(i));
    }
    g.net.schedule(g.net.now() + 2ms, [&send, i, k](sim::Network&) { send(i, k + 1); });
  };
  for (std::size_t i = 0; i < 5; ++i)
    g.net.schedule(g.net.now() + std::chrono::microseconds(300 * i),
                   [&send, i](sim::Network&) { send(i, 0); });
  g.net.run_for(300ms);
  g.crash(2);
  g.net.run_for(5s);
  CausalEndpointRun run;
  run.messages = history.size();
  for (const std::size_t r : g.alive()) {
    std::map<std::pair<std::uint64_t, MemberId>, std::size_t> have;
    for (const auto& d : g.eps[r]->delivered()) {
      const auto it = history.find(std::string(as_text(d.payload)));
      if (it != history.end()) {
        EXPECT_EQ(it->second.first, d.view) << "seed " << seed << ": delivered in another view";
        for (const auto& [member, count] : it->second.second)
          if (have[{d.view, member}] < count) ++run.violations;
      }
      ++have[{d.view, d.sender}];
    }
  }
  testing::expect_all_delivered_once(g, "seed " + std::to_string(seed));
  return run;
}

class CausalThroughEndpoints : public ::testing::TestWithParam<std::uint64_t> {};
INSTANTIATE_TEST_SUITE_P(Seeds, CausalThroughEndpoints, ::testing::Values(1, 2, 3));

TEST_P(CausalThroughEndpoints, NothingIsDeliveredBeforeWhatItFollowsAcrossACrash) {
  const std::uint64_t seed = GetParam();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto causal = run_causal_endpoints(Order::causal, seed);
  const auto fifo = run_causal_endpoints(Order::fifo, seed);
  std::printf("seed %llu: %zu messages; causal: %zu violations; the same run under FIFO: %zu\n",
              static_cast<unsigned long long>(seed), causal.messages, causal.violations,
              fifo.violations);
  EXPECT_GT(causal.messages, 1000u) << "seed " << seed;
  EXPECT_EQ(causal.violations, 0u) << "seed " << seed;
  EXPECT_GT(fifo.violations, 0u) << "seed " << seed << ": the run races nothing";
}

}  // namespace
}  // namespace nexo::group
