// nexo overlay sim: Mainline DHT nodes (overlay::Node) on the simulated network
// (overlay::sim::Network), no socket and no real clock. N nodes join one by one
// (each bootstraps from an earlier one), then L lookups (find_node of a random target
// from a random live node) run one after another. With --churn, sim::Churn replaces
// nodes with exponential lifetimes from the start, and the run also puts items and gets
// them back (one get per lookup) so that put/get success under churn is measured.
//
// Success of a lookup: the k nodes it returns are exactly the k live nodes closest to
// the target (by brute force over the live population when it completes), the asking
// node excepted. Success of a get: the value put is found.
//
// The output ends with the line scripts parse:
//   lookups L, success P%, hops p50 A p99 B, datagrams per lookup C
// where hops are lookup rounds (the depth of the reply chain) and datagrams count the
// queries the lookup sent and the replies it took.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>

#include "commands.hpp"
#include "nexo/overlay/node.hpp"
#include "nexo/overlay/sim_churn.hpp"
#include "nexo/overlay/sim_network.hpp"
#include "nexo/overlay/sim_plot.hpp"
#include "options.hpp"
#include "terminal_text.hpp"

namespace nexo::tool {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;
using overlay::Duration;
using overlay::Node;
using overlay::NodeId;
using overlay::OpStats;
using overlay::Time;
using overlay::sim::Slot;

constexpr std::string_view kCommand = "overlay sim";
constexpr std::size_t kK = 8;

double ms(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

template <class T>
T percentile(std::vector<T> v, double p) {
  if (v.empty()) return T{};
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

class Sim {
 public:
  Sim(const OverlaySimArgs& args, std::optional<Duration> churn)
      : args_(args), churn_lifetime_(churn), net_({.seed = args.seed}), rng_(args.seed * 31 + 7) {}

  overlay::NodeConfig config(Slot slot) const {
    overlay::NodeConfig c;
    c.seed = args_.seed * 7919 + slot;
    c.query_timeout = 2s;
    if (churn_lifetime_) {
      // Under churn (node.hpp): contacts live seconds, not hours, so a contact unheard of
      // for a lifetime is no longer good, one failure makes it bad, buckets are refreshed
      // every minute, and stored items follow the k closest as they change.
      c.routing.good_for = *churn_lifetime_;
      c.routing.bad_after_failures = 1;
      c.refresh_interval = std::min<Duration>(60s, 2 * *churn_lifetime_);
      c.replication.interval = std::max<Duration>(*churn_lifetime_ * 2 / 3, 1s);
    }
    return c;
  }
  overlay::sim::Factory factory() {
    return [this](const net::Endpoint& self) {
      const Slot slot = overlay::sim::slot_of(self.address()).value();
      return std::make_unique<Node>(self, net_.now(), config(slot));
    };
  }
  Node& node(Slot slot) { return static_cast<Node&>(net_.node(slot)); }

  // Bootstraps `slot` from `from`; a node that joined is a bootstrap node for later ones.
  void bootstrap(Slot slot, Slot from, std::size_t* done, std::size_t* failed) {
    const net::Endpoint seeds[] = {net_.address(from)};
    auto started = node(slot).bootstrap(
        seeds, net_.now(), [this, slot, done, failed](Result<std::size_t> r, const OpStats&) {
          if (done) ++*done;
          if (r)
            joined_.push_back(slot);
          else if (failed)
            ++*failed;
        });
    if (!started && failed) ++*failed;
    net_.kick(slot);
  }

  // A live node that has finished joining (a node still joining knows too few others to
  // introduce a newcomer: with a table of one or two contacts, the newcomer's own lookup
  // finds little, and nothing makes it look again before the 15-minute bucket refresh).
  Slot random_joined() {
    while (!joined_.empty()) {
      const std::size_t i = rng_.below(joined_.size());
      if (net_.state(joined_[i]) == overlay::sim::NodeState::alive) return joined_[i];
      joined_[i] = joined_.back();  // gone: forget it
      joined_.pop_back();
    }
    return random_live();
  }

  // N nodes, one every 20 ms of virtual time, each bootstrapping from a random earlier
  // one. Returns the failed bootstraps.
  Result<std::size_t> grow() {
    joined_.push_back(net_.add(factory()));
    std::size_t done = 0, failed = 0;
    const std::size_t n = args_.nodes;
    for (std::size_t i = 1; i < n; ++i) {
      net_.schedule(net_.now() + i * 20ms, [this, &done, &failed](overlay::sim::Network&) {
        const Slot from = random_joined();
        bootstrap(net_.add(factory()), from, &done, &failed);
      });
    }
    if (!net_.run_until([&] { return done == n - 1; }, net_.now() + n * 20ms + 300s))
      return Error(ErrorKind::timed_out, std::to_string(n - 1 - done) + " of " +
                                             std::to_string(n - 1) + " bootstraps never ended");
    net_.run_for(20s);  // background refreshes settle
    return failed;
  }

  std::vector<Slot> live() {
    std::vector<Slot> out;
    for (Slot s = 0; s < net_.slots(); ++s)
      if (net_.state(s) == overlay::sim::NodeState::alive) out.push_back(s);
    return out;
  }

  // The k closest live node ids to `target`, `self` excepted, closest first.
  std::vector<NodeId> truth(const NodeId& target, Slot self) {
    std::vector<NodeId> ids;
    ids.reserve(net_.alive());
    for (Slot s = 0; s < net_.slots(); ++s)
      if (s != self && net_.state(s) == overlay::sim::NodeState::alive) ids.push_back(node(s).id());
    const auto k = std::min(kK, ids.size());
    std::partial_sort(
        ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
        [&](const NodeId& a, const NodeId& b) { return overlay::closer_to(target, a, b); });
    ids.resize(k);
    return ids;
  }

  // Starts an operation on `slot` and runs the network until its callback.
  template <class T, class Start>
  std::optional<Result<T>> run(Slot slot, Start start, OpStats& stats) {
    std::optional<Result<T>> out;
    auto started = start(node(slot), net_.now(), [&](Result<T> r, const OpStats& s) {
      stats = s;
      out.emplace(std::move(r));
    });
    if (!started) return Result<T>(started.error());
    net_.kick(slot);
    // A requester that dies (churn) takes its operation with it: not counted.
    net_.run_until(
        [&] { return out.has_value() || net_.state(slot) != overlay::sim::NodeState::alive; },
        net_.now() + 300s);
    return out;
  }

  Slot random_live() {
    for (;;) {
      const Slot s = static_cast<Slot>(rng_.below(net_.slots()));
      if (net_.state(s) == overlay::sim::NodeState::alive) return s;
    }
  }

  void record_window(bool ok) {
    const double t = std::chrono::duration<double>(net_.now() - start_).count();
    const double end = (std::floor(t / window_s_) + 1) * window_s_;
    if (plot_.success.empty() || plot_.success.back().end_s != end)
      plot_.success.push_back({end, 0, 0});
    plot_.success.back().total++;
    plot_.success.back().ok += ok;
  }

  int run() {
    const auto wall = std::chrono::steady_clock::now();
    std::printf("nexo overlay sim: %zu nodes, %zu lookups, seed %llu%s\n", args_.nodes,
                args_.lookups, static_cast<unsigned long long>(args_.seed),
                churn_lifetime_ ? (", churn: mean lifetime " + args_.churn).c_str() : "");
    std::printf(
        "success of a lookup: its k = %zu nodes are exactly the %zu live nodes closest to the "
        "target (brute force over the live population when it ends)\n",
        kK, kK);
    auto failed = grow();
    if (!failed) return report_failure(kCommand, failed.error().message());
    std::size_t heap = 0, contacts = 0;
    for (Slot s : live()) {
      heap += node(s).memory_bytes();
      contacts += node(s).routing_table().size();
    }
    const std::size_t alive = net_.alive();
    std::printf(
        "joined: %zu nodes (%zu bootstraps failed) in %.0f s virtual; %zu contacts per node, "
        "%zu B per node (sizeof(Node) %zu + heap %zu)\n",
        alive, *failed, std::chrono::duration<double>(net_.now() - Time{}).count(),
        contacts / alive, sizeof(Node) + heap / alive, sizeof(Node), heap / alive);

    // Under churn: items put before the churn starts, then one get per lookup, round robin.
    std::vector<NodeId> keys;
    std::size_t puts_ok = 0, gets = 0, gets_ok = 0;
    if (churn_lifetime_) {
      const std::size_t items = std::max<std::size_t>(10, args_.lookups / 10);
      for (std::size_t i = 0; i < items; ++i) {
        OpStats stats;
        const std::string value = overlay::encode_value(
            bencode::Value("item " + std::to_string(i) + " of seed " + std::to_string(args_.seed)));
        auto w = run<overlay::WriteResult>(
            random_joined(),
            [&](Node& n, Time now, auto cb) { return n.put_immutable(value, now, std::move(cb)); },
            stats);
        if (w && *w && (*w)->stored > 0) {
          ++puts_ok;
          keys.push_back((*w)->target);
        }
      }
    }

    std::optional<overlay::sim::Churn> churn;
    if (churn_lifetime_) {
      churn.emplace(
          net_,
          overlay::sim::ChurnConfig{.mean_lifetime = *churn_lifetime_, .seed = args_.seed * 13 + 5},
          factory());
      churn->on_replace = [this](Slot, Slot born) {
        bootstrap(born, random_joined(), nullptr, nullptr);
      };
      churn->add_all();
    }
    start_ = net_.now();
    window_s_ = churn_lifetime_
                    ? std::max(1.0, std::chrono::duration<double>(*churn_lifetime_).count() / 3)
                    : 1.0;

    std::vector<std::uint32_t> rounds, datagrams;
    std::vector<double> latency;
    std::size_t ok = 0, abandoned = 0;
    // A lookup whose requester dies under churn is not counted (another one is run).
    for (std::size_t i = 0; i < args_.lookups;) {
      const Slot from = random_joined();
      const NodeId target = NodeId::random(rng_);
      OpStats stats;
      auto r = run<std::vector<overlay::NodeInfo>>(
          from, [&](Node& n, Time now, auto cb) { return n.find_node(target, now, std::move(cb)); },
          stats);
      if (!r) {
        ++abandoned;
        continue;
      }
      ++i;
      bool exact = false;
      if (*r) {
        std::vector<NodeId> got;
        for (const auto& info : **r)
          got.push_back(info.id);
        exact = got == truth(target, from);
      }
      ok += exact;
      rounds.push_back(stats.rounds);
      datagrams.push_back(stats.sent + stats.received);
      latency.push_back(ms(stats.elapsed));
      if (exact) {
        plot_.hops.push_back(stats.rounds);
        plot_.latency_ms.push_back(ms(stats.elapsed));
      }
      if (!churn_lifetime_) record_window(exact);
      if (!keys.empty()) {
        const NodeId& key = keys[i % keys.size()];
        OpStats gstats;
        auto g = run<overlay::GetImmutableResult>(
            random_joined(),
            [&](Node& n, Time now, auto cb) { return n.get_immutable(key, now, std::move(cb)); },
            gstats);
        if (!g) continue;  // the requester died
        const bool found = *g && (*g)->value.has_value();
        ++gets;
        gets_ok += found;
        record_window(found);
      }
    }
    if (churn) churn->stop();

    print_histograms(rounds, latency);
    if (churn) {
      std::printf(
          "churn: %llu nodes replaced in %.0f s virtual (mean lifetime drawn %.1f s), %zu alive\n",
          static_cast<unsigned long long>(churn->deaths()),
          std::chrono::duration<double>(net_.now() - start_).count(),
          std::chrono::duration<double>(churn->mean_drawn_lifetime()).count(), net_.alive());
      std::printf("requesters that died during their operation (not counted): %zu lookups\n",
                  abandoned);
      std::printf("puts: %zu of %zu stored; gets: %zu of %zu found (%.2f%%)\n", puts_ok,
                  std::max<std::size_t>(10, args_.lookups / 10), gets_ok, gets,
                  gets ? 100.0 * static_cast<double>(gets_ok) / static_cast<double>(gets) : 0.0);
    }
    std::printf("network: %s\n", net_.counters().to_string().c_str());
    std::printf("wall time %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count());
    if (!args_.plot.empty()) {
      plot_.title = "nexo overlay sim: " + std::to_string(args_.nodes) + " nodes" +
                    (churn_lifetime_ ? ", churn " + args_.churn : std::string()) + ", seed " +
                    std::to_string(args_.seed);
      std::ofstream out(args_.plot, std::ios::binary | std::ios::trunc);
      out << overlay::render_svg(plot_);
      out.close();
      if (!out) return report_failure(kCommand, "--plot '" + args_.plot + "': cannot write it");
      std::printf("plot: %s\n", args_.plot.c_str());
    }
    const double mean_datagrams = datagrams.empty()
                                      ? 0
                                      : std::accumulate(datagrams.begin(), datagrams.end(), 0.0) /
                                            static_cast<double>(datagrams.size());
    const double success =
        args_.lookups ? 100.0 * static_cast<double>(ok) / static_cast<double>(args_.lookups) : 0;
    std::printf("lookups %zu, success %s%%, hops p50 %u p99 %u, datagrams per lookup %.1f\n",
                args_.lookups, format_percent(success).c_str(), percentile(rounds, 0.5),
                percentile(rounds, 0.99), mean_datagrams);
    return 0;
  }

 private:
  // 100 only when every lookup succeeded (never rounded up to it).
  static std::string format_percent(double p) {
    char buf[32];
    if (p >= 100) return "100";
    std::snprintf(buf, sizeof buf, "%.1f", std::min(p, 99.9));
    return buf;
  }

  static void print_histograms(const std::vector<std::uint32_t>& rounds,
                               const std::vector<double>& latency) {
    if (rounds.empty()) return;
    std::printf("hops (lookup rounds):\n");
    const std::uint32_t top = *std::max_element(rounds.begin(), rounds.end());
    std::vector<std::size_t> count(top + 1);
    for (auto r : rounds)
      ++count[r];
    const std::size_t most = *std::max_element(count.begin(), count.end());
    for (std::uint32_t h = 0; h <= top; ++h) {
      if (count[h] == 0) continue;
      std::printf("  %3u %7zu %s\n", h, count[h], std::string(count[h] * 50 / most, '#').c_str());
    }
    std::printf("latency (virtual): p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
                percentile(latency, 0.5), percentile(latency, 0.9), percentile(latency, 0.99),
                percentile(latency, 1.0));
    // Buckets of 250 ms up to 2 s, then one for the rest.
    std::vector<std::size_t> buckets(9);
    for (double l : latency)
      ++buckets[std::min<std::size_t>(8, static_cast<std::size_t>(l / 250))];
    const std::size_t lmost = *std::max_element(buckets.begin(), buckets.end());
    for (std::size_t b = 0; b < buckets.size(); ++b) {
      if (buckets[b] == 0) continue;
      char label[32];
      if (b < 8)
        std::snprintf(label, sizeof label, "%4zu-%4zu ms", b * 250, (b + 1) * 250);
      else
        std::snprintf(label, sizeof label, "  >= 2000 ms");
      std::printf("  %s %7zu %s\n", label, buckets[b],
                  std::string(buckets[b] * 50 / lmost, '#').c_str());
    }
  }

  OverlaySimArgs args_;
  std::optional<Duration> churn_lifetime_;
  overlay::sim::Network net_;
  fault::Random rng_;
  std::vector<Slot> joined_;  // nodes whose bootstrap succeeded (some may be gone since)
  overlay::SimPlot plot_;
  Time start_{};
  double window_s_ = 1;
};

}  // namespace

int overlay_sim(const OverlaySimArgs& args) {
  std::optional<Duration> churn;
  if (!args.churn.empty()) {
    auto d = options::parse_duration(args.churn);
    if (!d || d->count() <= 0)
      return report_failure(kCommand, "--churn '" + args.churn + "': not a positive duration");
    churn = std::chrono::duration_cast<Duration>(*d);
  }
  if (args.nodes < 2) return report_failure(kCommand, "--nodes: at least 2");
  Sim sim(args, churn);
  return sim.run();
}

}  // namespace nexo::tool
