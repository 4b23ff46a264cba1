// bench_overlay — nexo's overlay node (a Mainline-DHT Kademlia node) beside
// OpenDHT, the anchor, measured in one run on the same loopback set-up:
//   - N nodes (default 50) on 127.0.0.1, each on a UDP port of its own, all in
//     this one process (several nodes per process, as the issue allows), node
//     i > 0 bootstrapped from node 0;
//   - the impl says when its overlay has settled, then a fixed wait;
//   - V puts (default 100) of random 64-byte values from random nodes, keyed
//     by SHA-1 (OpenDHT: of the value; nexo, BEP 44 immutable items: of the
//     bencoded value); V gets of those keys from other random nodes: found,
//     get latency p50/p99, datagrams per get. A get ends when the impl says
//     its lookup is done (dead contacts' timeouts included: how the issue's
//     OpenDHT figures were taken), or with --get-ends-at=value at the first
//     value that reaches the caller;
//   - a third of the nodes crash at once (any third, node 0 included), a
//     short fixed wait, and V gets of the same keys from surviving nodes:
//     found, p50/p99.
// Rounds (default 3) run every impl once each, the first one rotating; the
// figures are the medians of the rounds, "found" is pooled over them. The
// procedure is overlay_round.cpp's, the same for both impls; what each impl
// does for it (overlay_impl.hpp) is printed at the start. The issue's
// simulated targets (N = 100,000, datagrams per lookup at N = 10,000) are
// nexo-only rows on its simulator (overlay_sim.cpp): --sim-only runs them
// alone, --no-sim skips them, --sim-100k adds the N = 100,000 row (~13 min of CPU, 3.0 GiB).
//
// Benchmarks print, they never gate: the targets are printed beside the
// figures, never enforced; the exit status is 0 even when an impl did not run
// (it is printed), 2 only for bad arguments.
#include "overlay_bench.hpp"

#include <charconv>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "nexo/overlay/routing_table.hpp"

namespace nexo::bench::overlay {
namespace {

enum : std::size_t { kOpenDht, kNexo };

struct CaseResult {  // one impl over the rounds
  std::vector<RoundResult> rounds;
  std::string error;  // why it did not run, or why a round failed
};

void set_quick(Options& o) {
  o.quick = true;
  o.values = 20;
  o.rounds = 1;
  o.settle_s = 2;
}

Flags flags(Options& o) {
  Flags f("bench_overlay");
  const auto impls = [&o](std::string_view v) { return o.impls.parse(v); };
  f.action(
       "--quick", [&o] { set_quick(o); },
       "a short smoke run (20 values, 1 round, 2 s fixed settle wait)")
      .count("--nodes", o.nodes, 300, "nodes per impl (default 50; the issue's figure)")
      .count("--values", o.values, 100'000,
             "puts per round, and as many gets before and after the crash (default 100)")
      .count("--value-size", o.value_size, 1000, "bytes per value (default 64)")
      .count("--rounds", o.rounds, 100, "rounds, each impl once per round (default 3)")
      .count("--concurrency", o.concurrency, 64,
             "puts or gets in flight at once, for every impl (default 4)")
      .count("--settle", o.settle_s, 600,
             "seconds to wait after the impl says it settled (default 5)")
      .count("--settle-limit", o.settle_limit_s, 3600,
             "seconds to wait for the impl to say it settled, then go on (default 60)")
      .count("--idle-ms", o.idle_ms, 60'000,
             "the window that measures idle datagrams before the puts, ms (default 1000)")
      .count("--crash-wait-ms", o.crash_wait_ms, 600'000,
             "from the crash to the first get after it, ms (default 1000)")
      .count("--op-limit", o.op_limit_s, 600,
             "seconds one put or get may take; then it failed (default 10)")
      .count("--seed", o.seed, 2'000'000'000,
             "seed of the values, putters, getters and crashed set (default 20261207)")
      .value(
          "--get-ends-at",
          [&o](std::string_view v) {
            if (v == "value") o.get_end = GetEnd::first_value;
            if (v == "done") o.get_end = GetEnd::lookup_done;
            return v == "value" || v == "done";
          },
          "done: a get ends when the impl says its lookup is done, dead contacts' timeouts "
          "included (default; how the issue's OpenDHT figures were taken); value: at its "
          "first value")
      .flag("--sim-only", o.sim_only, true,
            "only the simulated rows (nexo on its simulator), not the loopback impls")
      .flag("--no-sim", o.sim_skip, true, "not the simulated rows")
      .flag("--sim-100k", o.sim_big, true,
            "the N = 100,000 simulated row too (the join takes ~13 min of CPU; 3.0 GiB peak)")
      .count("--sim-nodes", o.sim_nodes, 1'000'000,
             "N of the first simulated row (default 10,000; the issue's datagram target)")
      .count("--sim-lookups", o.sim_lookups, 1'000'000,
             "lookups per simulated row (default 10,000; the issue's figure)")
      .value(
          "--sim-wide",
          [&o](std::string_view v) {
            o.sim_wide.clear();
            o.sim_wide_set = true;
            while (!v.empty()) {
              const auto comma = v.find(',');
              const auto item = v.substr(0, comma);
              unsigned factor = 0;
              auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), factor);
              if (ec != std::errc() || end != item.data() + item.size() || factor < 1 ||
                  factor > 64 || o.sim_wide.size() >= nexo::overlay::kMaxWideBuckets)
                return false;
              o.sim_wide.push_back(static_cast<std::uint8_t>(factor));
              v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
            }
            return true;
          },
          "the simulated nodes' wide buckets: multipliers of k for buckets 0, 1, ..., e.g. "
          "16,8,4,2 (1 to 64 each, at most 8; 1: BEP 5's table; default: the node's)")
      .value("--impls", impls, "impls among " + o.impls.joined() + " (default all)")
      .value("--impl", impls, "the same as --impls");
  return f;
}

std::string fixed(double value, int digits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

// --- the tables ------------------------------------------------------------------------------

Spread spread(const CaseResult& c, double (*figure)(const RoundResult&)) {
  Spread s;
  for (const RoundResult& r : c.rounds)
    s.values.push_back(figure(r));
  return s;
}

struct Pooled {
  int gets = 0, found = 0, wrong = 0, timed_out = 0;
  double share() const { return gets == 0 ? 0.0 : static_cast<double>(found) / gets; }
};

Pooled pool(const CaseResult& c, bool after) {
  Pooled p;
  for (const RoundResult& r : c.rounds) {
    const GetPhase& g = after ? r.after : r.before;
    p.gets += g.gets;
    p.found += g.found;
    p.wrong += g.wrong;
    p.timed_out += g.timed_out;
  }
  return p;
}

void print_round(const char* name, int round, const RoundResult& r) {
  std::printf(
      "  round %d %-8s puts %d/%d; before the crash: found %d/%d, p50 %s ms, p99 %s ms; "
      "%d crashed; after: found %d/%d, p50 %s ms, p99 %s ms\n",
      round + 1, name, r.puts_ok, r.puts, r.before.found, r.before.gets,
      fixed(r.before.p50_ms, 1).c_str(), fixed(r.before.p99_ms, 1).c_str(), r.crashed,
      r.after.found, r.after.gets, fixed(r.after.p50_ms, 1).c_str(),
      fixed(r.after.p99_ms, 1).c_str());
  std::fflush(stdout);
}

void print_setup(const char* name, const CaseResult& c) {
  if (c.rounds.empty()) return;
  const RoundResult& last = c.rounds.back();
  const auto settled = spread(c, [](const RoundResult& r) { return r.settled_s; });
  std::printf(
      "%-8s start %s s, said settled after %s s %s (-1: never), then: %s; idle %s datagrams/s "
      "(all nodes); puts stored %d/%d, put p50 %s ms, %s datagrams per put",
      name, fixed(spread(c, [](const RoundResult& r) { return r.start_s; }).median(), 2).c_str(),
      fixed(settled.median(), 1).c_str(), settled.range(1).c_str(), last.settle_detail.c_str(),
      fixed(spread(c, [](const RoundResult& r) { return r.idle_per_s; }).median(), 0).c_str(),
      last.puts_ok, last.puts,
      fixed(spread(c, [](const RoundResult& r) { return r.put_p50_ms; }).median(), 1).c_str(),
      fixed(spread(c, [](const RoundResult& r) { return r.datagrams_per_put; }).median(), 1)
          .c_str());
  std::printf(" (last round)%s%s\n",
              last.put_error.empty() ? "" : "; a put failed: ", last.put_error.c_str());
}

void print_phase(const char* name, const CaseResult& c, bool after) {
  const char* phase = after ? "after" : "before";
  if (c.rounds.empty()) {
    std::printf("%-8s %-6s did not run: %s\n", name, phase, c.error.c_str());
    return;
  }
  const Pooled p = pool(c, after);
  auto get = [after](const RoundResult& r) -> const GetPhase& {
    return after ? r.after : r.before;
  };
  Spread p50, p99, per_get, net;
  for (const RoundResult& r : c.rounds) {
    p50.values.push_back(get(r).p50_ms);
    p99.values.push_back(get(r).p99_ms);
    per_get.values.push_back(get(r).datagrams_per_get);
    net.values.push_back(get(r).net_datagrams_per_get);
  }
  std::printf("%-8s %-6s %6d/%-6d %8s %5d %5d %9s %15s %9s %8s %8s\n", name, phase, p.found, p.gets,
              percent(p.share()).c_str(), p.wrong, p.timed_out, fixed(p50.median(), 1).c_str(),
              p50.range(1).c_str(), fixed(p99.median(), 1).c_str(),
              fixed(per_get.median(), 1).c_str(), after ? "-" : fixed(net.median(), 1).c_str());
}

// --- the targets -----------------------------------------------------------------------------

void print_targets(const Options& o, const std::map<std::size_t, CaseResult>& cases) {
  const auto median = [&](std::size_t impl, bool after, bool p99) {
    const auto it = cases.find(impl);
    if (it == cases.end() || it->second.rounds.empty()) return 0.0;
    Spread s;
    for (const RoundResult& r : it->second.rounds) {
      const GetPhase& g = after ? r.after : r.before;
      s.values.push_back(p99 ? g.p99_ms : g.p50_ms);
    }
    return s.median();
  };
  const auto ran = [&](std::size_t impl) {
    const auto it = cases.find(impl);
    return it != cases.end() && !it->second.rounds.empty();
  };
  const auto why_not = [&](std::size_t impl) {
    const auto it = cases.find(impl);
    return it == cases.end() ? std::string("not chosen (--impls)") : it->second.error;
  };
  std::printf("\ntargets (issue 15), loopback, %d nodes (the issue's: 50):\n", o.nodes);
  const double nexo = median(kNexo, false, false), anchor = median(kOpenDht, false, false);
  if (ran(kNexo) && ran(kOpenDht)) {
    std::printf("  get p50 below OpenDHT's in the same run: nexo/opendht %s (<= 1.0) %s\n",
                fixed(ratio(nexo, anchor), 2).c_str(), verdict(ratio(nexo, anchor) <= 1.0));
  } else {
    std::printf("  get p50 below OpenDHT's in the same run: nexo/opendht n/a (%s)\n",
                ran(kNexo) ? ("opendht did not run: " + why_not(kOpenDht)).c_str()
                           : ("nexo did not run: " + why_not(kNexo)).c_str());
  }
  std::printf("  after a third of the nodes crash at once, nexo: ");
  if (ran(kNexo)) {
    const Pooled p = pool(cases.at(kNexo), true);
    const double p50 = median(kNexo, true, false), p99 = median(kNexo, true, true);
    std::printf("found %s (>= 99.9%%) %s; get p50 %s ms (<= 100) %s; p99 %s ms (<= 500) %s\n",
                percent(p.share()).c_str(), verdict(p.gets > 0 && p.share() >= 0.999),
                fixed(p50, 1).c_str(), verdict(p50 <= 100), fixed(p99, 1).c_str(),
                verdict(p99 <= 500));
  } else {
    std::printf("n/a (nexo did not run: %s)\n", why_not(kNexo).c_str());
  }
  if (ran(kOpenDht)) {
    std::printf(
        "  for reference, OpenDHT after the crash here: found %s, p50 %s ms, p99 %s ms (the "
        "issue measured p50 1.2 s, p99 2.6 s, without saying where a get ended; here: %s)\n",
        percent(pool(cases.at(kOpenDht), true).share()).c_str(),
        fixed(median(kOpenDht, true, false), 1).c_str(),
        fixed(median(kOpenDht, true, true), 1).c_str(),
        o.get_end == GetEnd::first_value ? "at its first value" : "at the lookup's done");
  }
  if (ran(kOpenDht)) {
    Spread s;
    for (const RoundResult& r : cases.at(kOpenDht).rounds)
      s.values.push_back(r.before.net_datagrams_per_get);
    std::printf(
        "  for scale beside the simulated datagrams per lookup: OpenDHT here, N = %d, %s "
        "datagrams per get, idle traffic subtracted (the issue measured 45 at N = 20, 80 at "
        "N = 1,000)\n",
        o.nodes, fixed(s.median(), 1).c_str());
  }
}

// --- main ------------------------------------------------------------------------------------

int run(int argc, char** argv) {
  Options o;
  if (auto status = begin_run(flags(o), argc, argv)) return *status;
  const std::vector<ImplEntry> entries = {opendht_entry(), nexo_entry()};
  if (o.sim_only) {
    std::printf("bench_overlay --sim-only: nexo's overlay node on its simulator\n");
    print_machine();
    const auto start = Clock::now();
    run_sim_rows(o);
    print_end(start);
    return 0;
  }
  std::printf(
      "bench_overlay: a Kademlia DHT on 127.0.0.1, nexo's overlay node beside OpenDHT, %d nodes "
      "per impl in this one process%s\n",
      o.nodes, o.quick ? " (--quick: a smoke run, numbers are rough)" : "");
  print_machine();
  for (const ImplEntry& e : entries)
    std::printf("impl %s: %s\n", e.name.c_str(), e.about.c_str());
  std::printf(
      "procedure (the same for every impl, in turn): start %d nodes, node i > 0 bootstrapped "
      "from node 0; wait until the impl says it settled (at most %d s), then %d s more; count "
      "idle datagrams for %d ms; %d puts of %d-byte random values from random nodes; %d gets "
      "of those keys, each from a random node other than its putter; crash %d nodes at once "
      "(a random third, node 0 included); wait %d ms; %d gets of the same keys from random "
      "surviving nodes; stop. %d puts or gets in flight at once; one may take %d s; a get ends at "
      "%s. "
      "%d rounds, impls rotating, seed %d\n",
      o.nodes, o.settle_limit_s, o.settle_s, o.idle_ms, o.values, o.value_size, o.values,
      o.nodes / 3, o.crash_wait_ms, o.values, o.concurrency, o.op_limit_s,
      o.get_end == GetEnd::first_value ? "its first value (--get-ends-at=value)"
                                       : "the impl's \"lookup done\" (--get-ends-at=done)",
      o.rounds, o.seed);
  std::fflush(stdout);
  const auto start = Clock::now();

  std::map<std::size_t, CaseResult> cases;
  const auto order = o.impls.chosen();
  for (std::size_t impl : order)
    cases[impl];
  static_cast<void>(rotate_rounds(o.rounds, order, [&](std::size_t impl) -> Result<void> {
    CaseResult& c = cases[impl];
    if (!c.error.empty()) return ok();  // did not run once: not again
    const int round = static_cast<int>(c.rounds.size());
    auto r = run_round(entries[impl], o, round);
    if (!r) {
      c.error = r.error().message();
      std::printf("  round %d %-8s did not run: %s\n", round + 1, o.impls.name(impl),
                  c.error.c_str());
      return ok();
    }
    print_round(o.impls.name(impl), round, *r);
    c.rounds.push_back(std::move(*r));
    return ok();
  }));

  std::printf("\nset-up per impl (medians of the rounds):\n");
  for (std::size_t impl : order)
    print_setup(o.impls.name(impl), cases[impl]);
  std::printf(
      "\ngets of the keys put (found: pooled over the rounds; wrong: a value that was not the "
      "one put; t/o: no answer within %d s, counted as not found; p50/p99: the call to where "
      "the get ended, median round [p50 min..max]; dg/get: datagrams sent by all "
      "nodes during the phase / gets; net: less the idle rate x the phase's duration)\n",
      o.op_limit_s);
  std::printf("%-8s %-6s %13s %8s %5s %5s %9s %15s %9s %8s %8s\n", "impl", "phase", "found",
              "found%", "wrong", "t/o", "p50_ms", "[min..max]", "p99_ms", "dg/get", "net");
  for (std::size_t impl : order) {
    print_phase(o.impls.name(impl), cases[impl], false);
    print_phase(o.impls.name(impl), cases[impl], true);
  }
  print_targets(o, cases);
  if (!o.sim_skip) run_sim_rows(o);
  print_end(start);
  return 0;
}

}  // namespace
}  // namespace nexo::bench::overlay

int main(int argc, char** argv) {
  return nexo::bench::overlay::run(argc, argv);
}
