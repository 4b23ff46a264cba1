// bench_overlay: one round of one impl, the same procedure for every impl:
//   start N nodes (node i > 0 bootstrapped from node 0); poll the impl's own
//   "settled", then wait a fixed time; count idle datagrams for a moment;
//   V puts of random values from random nodes; V gets of those keys, each
//   from a random node other than its putter; crash a third of the nodes at
//   once (any of them, node 0 included); wait a fixed time; V gets of the same
//   keys from random surviving nodes other than the putter; stop.
// Puts and gets run --concurrency at a time, on the harness's threads. The
// values, the putters, the getters and the crashed set come from a generator
// seeded with --seed and the round, so every impl of a round gets the same.
#include <algorithm>
#include <atomic>
#include <functional>
#include <random>
#include <thread>

#include "overlay_bench.hpp"

namespace nexo::bench::overlay {
namespace {

using std::chrono::milliseconds;

double seconds_since(Clock::time_point begin) {
  return std::chrono::duration<double>(Clock::now() - begin).count();
}

// Runs task(0..count-1), `threads` at a time.
void run_parallel(int count, int threads, const std::function<void(int)>& task) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < std::min(threads, count); ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < count; i = next++)
        task(i);
    });
  }
  for (auto& thread : pool)
    thread.join();
}

// A random node among `live` other than `not_this`.
int pick_other(std::mt19937_64& random, const std::vector<int>& live, int not_this) {
  if (live.size() < 2) return live.front();
  for (;;) {
    const int node = live[std::uniform_int_distribution<std::size_t>(0, live.size() - 1)(random)];
    if (node != not_this) return node;
  }
}

// The round's random choices, made before anything runs.
struct Plan {
  std::vector<Bytes> values;
  std::vector<int> putters, getters_before, getters_after;
  std::vector<int> crashed;
};

Plan make_plan(const Options& o, int round) {
  std::mt19937_64 random(static_cast<std::uint64_t>(o.seed) * 1000 + static_cast<unsigned>(round));
  Plan p;
  std::vector<int> all(static_cast<std::size_t>(o.nodes));
  for (int i = 0; i < o.nodes; ++i)
    all[static_cast<std::size_t>(i)] = i;
  for (int v = 0; v < o.values; ++v) {
    Bytes value(static_cast<std::size_t>(o.value_size));
    for (auto& byte : value)
      byte = static_cast<std::uint8_t>(random());
    p.values.push_back(std::move(value));
    p.putters.push_back(all[std::uniform_int_distribution<std::size_t>(0, all.size() - 1)(random)]);
    p.getters_before.push_back(pick_other(random, all, p.putters.back()));
  }
  std::vector<int> shuffled = all;
  std::shuffle(shuffled.begin(), shuffled.end(), random);
  p.crashed.assign(shuffled.begin(), shuffled.begin() + o.nodes / 3);
  std::vector<int> live;
  for (int i : all) {
    if (std::find(p.crashed.begin(), p.crashed.end(), i) == p.crashed.end()) live.push_back(i);
  }
  for (int v = 0; v < o.values; ++v)
    p.getters_after.push_back(pick_other(random, live, p.putters[static_cast<std::size_t>(v)]));
  return p;
}

// Datagrams every node sent per second while nothing was asked of them.
double idle_rate(Impl& impl, const Options& o) {
  const auto d0 = impl.datagrams();
  const auto begin = Clock::now();
  std::this_thread::sleep_for(milliseconds(o.idle_ms));
  const double s = seconds_since(begin);
  return static_cast<double>(impl.datagrams().sent - d0.sent) / s;
}

// The gets of every key put (keys[v] set), from getters[v].
GetPhase run_gets(Impl& impl, const Options& o, const Plan& plan,
                  const std::vector<std::optional<Key>>& keys, const std::vector<int>& getters,
                  double idle_per_s) {
  std::vector<std::optional<GetOutcome>> outcomes(keys.size());
  const auto d0 = impl.datagrams();
  const auto begin = Clock::now();
  run_parallel(static_cast<int>(keys.size()), o.concurrency, [&](int v) {
    const auto i = static_cast<std::size_t>(v);
    if (!keys[i]) return;
    outcomes[i] = impl.get(getters[i], *keys[i], o.get_end,
                           Clock::now() + std::chrono::seconds(o.op_limit_s));
  });
  GetPhase g;
  g.seconds = seconds_since(begin);
  const double sent = static_cast<double>(impl.datagrams().sent - d0.sent);
  LatencySamples latency;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (!outcomes[i]) continue;
    const GetOutcome& out = *outcomes[i];
    ++g.gets;
    latency.add(out.elapsed);
    if (out.timed_out) ++g.timed_out;
    if (out.value && *out.value == plan.values[i]) ++g.found;
    if (out.value && *out.value != plan.values[i]) ++g.wrong;
  }
  g.p50_ms = latency.percentile_us(50) / 1e3;
  g.p99_ms = latency.percentile_us(99) / 1e3;
  if (g.gets > 0) {
    g.datagrams_per_get = sent / g.gets;
    g.net_datagrams_per_get = std::max(0.0, sent - idle_per_s * g.seconds) / g.gets;
  }
  return g;
}

// Polls the impl's "settled" until it says so or --settle-limit passes, then
// waits the fixed --settle time.
void settle(Impl& impl, const Options& o, RoundResult& r) {
  const auto begin = Clock::now();
  const auto limit = begin + std::chrono::seconds(o.settle_limit_s);
  r.settled_s = -1;
  while (Clock::now() < limit) {
    if (impl.settled().settled) {
      r.settled_s = seconds_since(begin);
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::seconds(o.settle_s));
  r.settle_detail = impl.settled().detail;
}

}  // namespace

Result<RoundResult> run_round(const ImplEntry& entry, const Options& o, int round) {
  auto made = entry.make();
  if (!made) return made.error();
  Impl& impl = **made;
  const Plan plan = make_plan(o, round);
  RoundResult r;
  auto begin = Clock::now();
  if (auto started = impl.start(o.nodes); !started) return started.error();
  r.start_s = seconds_since(begin);
  settle(impl, o, r);
  r.idle_per_s = idle_rate(impl, o);

  std::vector<std::optional<Key>> keys(plan.values.size());
  std::vector<std::optional<Clock::duration>> put_times(plan.values.size());
  std::vector<std::string> put_errors(plan.values.size());
  const auto d0 = impl.datagrams();
  run_parallel(o.values, o.concurrency, [&](int v) {
    const auto i = static_cast<std::size_t>(v);
    const auto put_begin = Clock::now();
    auto key =
        impl.put(plan.putters[i], plan.values[i], put_begin + std::chrono::seconds(o.op_limit_s));
    if (key) {
      keys[i] = *key;
      put_times[i] = Clock::now() - put_begin;
    } else {
      put_errors[i] = key.error().message();
    }
  });
  LatencySamples put_latency;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ++r.puts;
    if (put_times[i]) put_latency.add(*put_times[i]);
    if (keys[i]) ++r.puts_ok;
    if (!keys[i] && r.put_error.empty()) r.put_error = put_errors[i];
  }
  r.put_p50_ms = put_latency.percentile_us(50) / 1e3;
  r.datagrams_per_put = static_cast<double>(impl.datagrams().sent - d0.sent) / std::max(1, r.puts);

  r.before = run_gets(impl, o, plan, keys, plan.getters_before, r.idle_per_s);
  impl.crash(plan.crashed);
  r.crashed = static_cast<int>(plan.crashed.size());
  std::this_thread::sleep_for(milliseconds(o.crash_wait_ms));
  r.after = run_gets(impl, o, plan, keys, plan.getters_after, r.idle_per_s);
  impl.stop();
  return r;
}

}  // namespace nexo::bench::overlay
