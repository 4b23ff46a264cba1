// bench_group, section 2: the simulated rows (group::sim::Network, virtual
// clock; no anchor: NORM and OpenPGM have no simulator to run in, so these
// rows are nexo's alone, labelled so).
//   - One loss seen by 1,000 receivers: a sender and 1,000 receivers
//     (group::Member in SimMember nodes), links of 1 ms +- 0.2 ms; the
//     sender's second message reaches nobody (it is cut off while it sends),
//     its third reveals the gap to all at once. Counted: the NAKs that reach
//     the sender (target at most 10: back-off and suppression), those
//     suppressed at the receivers, the retransmissions, and the virtual time
//     from the lost message's send to its delivery at the last receiver.
//     Median and worst over --sim-runs seeds.
//   - One member of a 100-member group crashes: 100 group::Endpoints
//     (SimEndpoint nodes, default config: detection time 1 s) form a view by
//     joins, each sends every 100 ms, then one (not the coordinator; drawn
//     from the seed) crashes. Measured: the virtual time from the crash
//     until every survivor has the view without it (target within 1 s of
//     simulated time), and until the first one has it. A quarter as many
//     runs as the NAK row (each forms a 100-member group first).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "group_bench.hpp"
#include "nexo/group/member.hpp"
#include "nexo/group/packet.hpp"
#include "nexo/group/sim_endpoint.hpp"
#include "nexo/group/sim_member.hpp"
#include "nexo/group/sim_network.hpp"

namespace nexo::bench::group {
namespace {

using namespace std::chrono_literals;
using nexo::group::Member;
using nexo::group::MemberConfig;
using nexo::group::MemberId;
using nexo::group::SimMember;
namespace sim = nexo::group::sim;

struct NakRun {
  bool ok = false;
  std::uint64_t naks = 0, suppressed = 0, retransmissions = 0;
  double recovery_ms = 0;  // virtual: the lost message's send to its last delivery
  double cpu_s = 0;        // real CPU time of the run
};

Bytes text(const char* s) {
  const std::string_view v(s);
  return Bytes(reinterpret_cast<const std::byte*>(v.data()),
               reinterpret_cast<const std::byte*>(v.data()) + v.size());
}

NakRun one_loss_many_receivers(std::uint64_t seed, std::size_t receivers) {
  const auto cpu0 = Usage::now();
  const nexo::group::Time t0 = nexo::group::Time{} + 1h;
  sim::Network net(seed, t0);
  net.set_link({.delay = 1ms, .jitter = 200us});
  std::vector<MemberId> members;
  for (MemberId m = 1; m <= receivers + 1; ++m)
    members.push_back(m);
  std::vector<SimMember*> nodes;
  for (MemberId m : members) {
    MemberConfig c;
    c.group = nexo::group::group_tag("bench-sim");
    c.self = m;
    c.members = members;
    c.seed = seed;  // the Member mixes in its own id
    auto created = Member::create(c, net.now());
    if (!created) return {};
    auto node = std::make_unique<SimMember>(std::move(*created));
    nodes.push_back(node.get());
    net.add(std::move(node));
  }
  NakRun run;
  SimMember& sender = *nodes[0];
  if (!sender.send(text("one"), net.now())) return run;
  net.kick(0);
  net.run_for(5ms);
  std::vector<sim::NodeId> rest;
  for (sim::NodeId i = 1; i <= receivers; ++i)
    rest.push_back(i);
  net.partition({{0}, rest});  // "two" reaches nobody
  const auto lost_at = net.now();
  if (!sender.send(text("two"), net.now())) return run;
  net.kick(0);
  net.heal();
  if (!sender.send(text("three"), net.now())) return run;
  net.kick(0);
  const auto all_three = [&] {
    for (std::size_t i = 1; i < nodes.size(); ++i) {
      auto it = nodes[i]->delivered().find(1);
      if (it == nodes[i]->delivered().end() || it->second.size() < 3) return false;
    }
    return true;
  };
  run.ok = net.run_until(all_three, net.now() + 10s);
  run.recovery_ms = std::chrono::duration<double, std::milli>(net.now() - lost_at).count();
  const auto& k = sender.member().counters();
  run.naks = k.naks_received;
  run.retransmissions = k.retransmissions;
  for (auto* n : nodes)
    run.suppressed += n->member().counters().naks_suppressed;
  run.cpu_s = (Usage::now() - cpu0).cpu_us / 1e6;
  return run;
}

void run_nak_row(const Options& o) {
  constexpr std::size_t kReceivers = 1000;
  Spread naks, suppressed, recovery, cpu;
  int failed = 0, within = 0;
  for (int r = 0; r < o.sim_runs; ++r) {
    const auto run = one_loss_many_receivers(static_cast<std::uint64_t>(o.seed) + r, kReceivers);
    if (!run.ok) {
      ++failed;
      continue;
    }
    naks.values.push_back(static_cast<double>(run.naks));
    suppressed.values.push_back(static_cast<double>(run.suppressed));
    recovery.values.push_back(run.recovery_ms);
    cpu.values.push_back(run.cpu_s);
    if (run.naks <= 10) ++within;
  }
  std::printf(
      "sim  one loss, 1 sender + %zu receivers (nexo group::Member only, no anchor): NAKs at the "
      "sender median %.0f, worst %.0f, %d/%d runs at most 10 (target <= 10: %s); suppressed at "
      "receivers median %.0f; the lost message delivered everywhere %.1f ms (median, virtual) "
      "after its send, worst %.1f ms; %.2f s CPU per run; %d runs did not recover in 10 s\n",
      kReceivers, naks.median(), naks.max(), within, o.sim_runs,
      verdict(failed == 0 && naks.max() <= 10), suppressed.median(), recovery.median(),
      recovery.max(), cpu.median(), failed);
}

// --- one crash in 100 members ------------------------------------------------------------

// Member i sends a message now and again every 100 ms while it is up.
void tick(sim::Network& net, const std::vector<nexo::group::SimEndpoint*>* eps, std::size_t i) {
  if (net.crashed(static_cast<sim::NodeId>(i))) return;
  auto& e = *(*eps)[i];
  if (e.endpoint().state() == nexo::group::Endpoint::State::member) {
    static_cast<void>(e.send(text("tick"), net.now()));  // would_block in a flush: skipped
    net.kick(static_cast<sim::NodeId>(i));
  }
  net.schedule(net.now() + 100ms, [eps, i](sim::Network& n) { tick(n, eps, i); });
}

// Every member sends every 100 ms, staggered.
void schedule_traffic(sim::Network& net, const std::vector<nexo::group::SimEndpoint*>& eps) {
  for (std::size_t i = 0; i < eps.size(); ++i) {
    net.schedule(net.now() + 100ms * static_cast<int>(i % 7 + 1) / 7,
                 [eps = &eps, i](sim::Network& n) { tick(n, eps, i); });
  }
}

struct CrashRun {
  bool formed = false, agreed = false;
  double worst_ms = 0, first_ms = 0;  // crash -> the last / first survivor's new view
  double cpu_s = 0;
};

// 100 Endpoints (default config: detection time 1 s) on links of 1 ms
// +- 0.2 ms form one view by joins, every member sends every 100 ms, then
// one (drawn from the seed) crashes; the clock runs until every survivor has
// the view of the 99.
CrashRun one_crash(std::uint64_t seed, std::size_t n) {
  using nexo::group::Endpoint;
  using nexo::group::EndpointConfig;
  using nexo::group::SimEndpoint;
  const auto cpu0 = Usage::now();
  CrashRun run;
  sim::Network net(seed, nexo::group::Time{} + 1000s);
  net.set_link({.delay = 1ms, .jitter = 200us});
  std::vector<SimEndpoint*> eps;
  for (std::size_t i = 0; i < n; ++i) {
    EndpointConfig c;
    c.group = nexo::group::group_tag("bench-sim");
    c.self = i + 1;
    c.seed = seed * 7919 + c.self;
    const std::string contact = "m" + std::to_string(c.self);
    c.contact = Bytes(reinterpret_cast<const std::byte*>(contact.data()),
                      reinterpret_cast<const std::byte*>(contact.data()) + contact.size());
    auto e = Endpoint::create(c, net.now());
    if (!e) return run;
    auto node = std::make_unique<SimEndpoint>(std::move(*e));
    eps.push_back(node.get());
    net.add(std::move(node));
  }
  const auto in_one_view = [&](std::size_t without) {
    for (std::size_t i = 0; i < n; ++i) {
      if (i == without) continue;
      const Endpoint& e = eps[i]->endpoint();
      const auto expected = without < n ? n - 1 : n;
      if (e.state() != Endpoint::State::member || e.view().members.size() != expected) return false;
      for (MemberId m : e.view().members)
        if (m == without + 1) return false;
    }
    return true;
  };
  eps[0]->join(net.now());
  net.kick(0);
  net.run_for(400ms);
  for (std::size_t i = 1; i < n; ++i) {
    eps[i]->join(net.now());
    net.kick(static_cast<sim::NodeId>(i));
  }
  run.formed = net.run_until([&] { return in_one_view(n); }, net.now() + 30s);
  if (!run.formed) return run;
  const std::size_t victim = 1 + seed % (n - 1);  // not the coordinator: that is its own row
  schedule_traffic(net, eps);
  net.run_for(500ms);
  const auto crash_at = net.now();
  net.crash(static_cast<sim::NodeId>(victim));
  run.agreed = net.run_until([&] { return in_one_view(victim); }, crash_at + 5s);
  nexo::group::Duration worst{0}, first = 5s;
  for (std::size_t i = 0; i < n; ++i) {
    if (i == victim || eps[i]->views().empty()) continue;
    const auto took = eps[i]->views().back().at - crash_at;
    worst = std::max(worst, took);
    first = std::min(first, took);
  }
  run.worst_ms = std::chrono::duration<double, std::milli>(worst).count();
  run.first_ms = std::chrono::duration<double, std::milli>(first).count();
  run.cpu_s = (Usage::now() - cpu0).cpu_us / 1e6;
  return run;
}

void run_crash_row(const Options& o) {
  constexpr std::size_t kMembers = 100;
  const int runs = std::max(1, o.sim_runs / 4);
  Spread worst, first, cpu;
  int failed = 0, within = 0;
  for (int r = 0; r < runs; ++r) {
    const auto run = one_crash(static_cast<std::uint64_t>(o.seed) + r, kMembers);
    if (!run.formed || !run.agreed) {
      ++failed;
      continue;
    }
    worst.values.push_back(run.worst_ms);
    first.values.push_back(run.first_ms);
    cpu.values.push_back(run.cpu_s);
    if (run.worst_ms <= 1000) ++within;
  }
  std::printf(
      "sim  one crash in a %zu-member group (nexo group::Endpoint only, no anchor; detection "
      "time 1 s, every member sending every 100 ms): every survivor had the new view %.0f ms "
      "after the crash (median of %d runs; worst %.0f ms; the first survivor %.0f ms), %d/%d "
      "runs within 1 s (target <= 1 s of simulated time: %s); %.2f s CPU per run; %d runs did "
      "not form or agree within the limits\n",
      kMembers, worst.median(), runs, worst.max(), first.median(), within, runs,
      verdict(failed == 0 && worst.max() <= 1000), cpu.median(), failed);
}

}  // namespace

void run_simulated(const Options& o) {
  std::printf(
      "\n== 2. simulated (group::sim::Network, virtual clock, %d seeded runs from seed %d): "
      "nexo alone, no anchor runs in the simulator\n",
      o.sim_runs, o.seed);
  std::fflush(stdout);
  run_nak_row(o);
  run_crash_row(o);
  std::fflush(stdout);
}

}  // namespace nexo::bench::group
