// nexo overlay sim: Mainline DHT nodes (overlay::Node) on the simulated network
// (overlay::sim::Network, driven by sim::Population), no socket and no real clock. N nodes
// join, one every 20 ms of virtual time, each bootstrapping from a random node that has
// joined. Operations then run concurrently: started at a steady rate in virtual time
// (kRate per second, at most kMaxInFlight at once) from random joined nodes.
//
// Without churn: L lookups (find_node of a random target). A lookup succeeds when the k
// nodes it returns are exactly the k live nodes closest to the target (from a sorted
// index of the live ids when it completes), the asking node excepted.
//
// With --churn LIFETIME: sim::Churn replaces every node after an exponential lifetime
// (each newcomer bootstraps from a random joined node), under the churn policy of
// sim::churn_config (sim_population.hpp). max(10, L/10) items are put before the churn
// starts; the churn then runs for 2 lifetimes (every value has outlived most of its first
// holders); then L gets run, and with every 10th get one more item is put (values put
// during the churn). A get asks for a random item among those whose put stored it
// somewhere, from a random live node that has joined; it succeeds when it returns the
// value put. A get whose requester dies before it completes is not counted (another is
// started in its place). Under churn the summary line's "lookups" are these gets, its
// success their success, its hops and datagrams theirs.
//
// The output ends with the line scripts parse:
//   lookups L, success P%, hops p50 A p99 B, datagrams per lookup C
// where hops are lookup rounds (the depth of the reply chain) and datagrams count the
// queries the operation sent and the replies it took.
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
#include "nexo/overlay/sim_population.hpp"
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
      : args_(args),
        churn_lifetime_(churn),
        pop_({.nodes = args.nodes, .seed = args.seed, .churn = churn}) {}

  int run() {
    const auto wall = std::chrono::steady_clock::now();
    std::printf("nexo overlay sim: %zu nodes, %zu lookups, seed %llu%s\n", args_.nodes,
                args_.lookups, static_cast<unsigned long long>(args_.seed),
                churn_lifetime_ ? (", churn: mean lifetime " + args_.churn).c_str() : "");
    auto failed = pop_.grow();
    if (!failed) return report_failure(kCommand, failed.error().message());
    print_joined(*failed);
    const auto ran = churn_lifetime_ ? run_churn() : run_lookups();
    if (!ran) return report_failure(kCommand, ran.error().message());
    print_histograms(rounds_, latency_);
    std::printf("network: %s\n", pop_.net().counters().to_string().c_str());
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
    const double mean_datagrams = datagrams_.empty()
                                      ? 0
                                      : std::accumulate(datagrams_.begin(), datagrams_.end(), 0.0) /
                                            static_cast<double>(datagrams_.size());
    const std::size_t counted = rounds_.size();
    const double success =
        counted ? 100.0 * static_cast<double>(ok_) / static_cast<double>(counted) : 0;
    std::printf("lookups %zu, success %s%%, hops p50 %u p99 %u, datagrams per lookup %.1f\n",
                counted, format_percent(success).c_str(), percentile(rounds_, 0.5),
                percentile(rounds_, 0.99), mean_datagrams);
    return 0;
  }

 private:
  struct Item {
    NodeId key;
    std::string value;
  };

  void print_joined(std::size_t failed) {
    std::size_t heap = 0, contacts = 0;
    const std::size_t alive = pop_.net().alive();
    for (Slot s = 0; s < pop_.net().slots(); ++s) {
      if (!pop_.alive(s)) continue;
      heap += pop_.node(s).memory_bytes();
      contacts += pop_.node(s).routing_table().size();
    }
    std::printf(
        "joined: %zu nodes (%zu bootstraps failed) in %.0f s virtual; %zu contacts per node, "
        "%zu B per node (sizeof(Node) %zu + heap %zu); simulator %.1f MB\n",
        alive, failed, std::chrono::duration<double>(pop_.now() - Time{}).count(), contacts / alive,
        sizeof(Node) + heap / alive, sizeof(Node), heap / alive,
        static_cast<double>(pop_.net().memory_bytes()) / 1e6);
  }

  overlay::sim::Pace pace(std::size_t count) const {
    return {.count = count, .rate = kRate, .max_in_flight = kMaxInFlight};
  }

  void record(bool ok, const OpStats& stats) {
    ok_ += ok;
    rounds_.push_back(stats.rounds);
    datagrams_.push_back(stats.sent + stats.received);
    latency_.push_back(ms(stats.elapsed));
    if (ok) {
      plot_.hops.push_back(stats.rounds);
      plot_.latency_ms.push_back(ms(stats.elapsed));
    }
    const double t = std::chrono::duration<double>(pop_.now() - start_).count();
    const double end = (std::floor(t / window_s_) + 1) * window_s_;
    if (plot_.success.empty() || plot_.success.back().end_s != end)
      plot_.success.push_back({end, 0, 0});
    plot_.success.back().total++;
    plot_.success.back().ok += ok;
  }

  Result<void> run_lookups() {
    std::printf(
        "success of a lookup: its k = %zu nodes are exactly the %zu live nodes closest to the "
        "target (from the live population when it ends); %.0f lookups started per virtual "
        "second, at most %zu in flight\n",
        kK, kK, kRate, kMaxInFlight);
    start_ = pop_.now();
    auto abandoned = pop_.pace(pace(args_.lookups), [this](Slot from, auto done) {
      const NodeId target = NodeId::random(pop_.random());
      return pop_.node(from)
          .find_node(target, pop_.now(),
                     [this, from, target, done](Result<std::vector<overlay::NodeInfo>> r,
                                                const OpStats& stats) {
                       bool exact = false;
                       if (r) {
                         std::vector<NodeId> got;
                         for (const auto& info : *r)
                           got.push_back(info.id);
                         exact = got == pop_.closest_live(target, kK, from);
                       }
                       record(exact, stats);
                       done();
                     })
          .has_value();
    });
    if (!abandoned) return abandoned.error();
    return ok();
  }

  // Puts one new item from `from`; it becomes gettable once stored somewhere.
  bool put(Slot from, std::size_t number, std::function<void()> done) {
    std::string value = overlay::encode_value(bencode::Value(
        "item " + std::to_string(number) + " of seed " + std::to_string(args_.seed)));
    ++puts_;
    auto started = pop_.node(from).put_immutable(
        value, pop_.now(), [this, value, done](Result<overlay::WriteResult> w, const OpStats&) {
          ++puts_done_;
          if (w && w->stored > 0) {
            ++puts_ok_;
            stored_ += w->stored;
            items_.push_back({w->target, value});
          }
          if (done) done();
        });
    pop_.net().kick(from);
    return started.has_value();
  }

  Result<void> run_churn() {
    const Duration lifetime = *churn_lifetime_;
    const std::size_t before = std::max<std::size_t>(10, args_.lookups / 10);
    std::size_t number = 0;
    auto r =
        pop_.pace(pace(before), [&](Slot from, auto done) { return put(from, number++, done); });
    if (!r) return r.error();
    const std::size_t put_before = items_.size();
    if (items_.empty())
      return Error(ErrorKind::unreachable, "no put before the churn stored its item");
    pop_.start_churn();
    window_s_ = std::max(1.0, std::chrono::duration<double>(lifetime).count() / 3);
    start_ = pop_.now();
    pop_.net().run_for(2 * lifetime);
    const auto& cfg = pop_.node_config(0);
    std::printf(
        "churn policy (sim::churn_config): a contact is good for %.0f s, bad after %d failure; "
        "buckets refreshed every %.0f s; a table under %zu usable contacts looks up its own id "
        "every %.1f s; items re-replicated every %.0f s and to every newcomer among the k "
        "closest; a bootstrap that leaves fewer than k contacts is tried again (3 tries), and "
        "a node left with fewer than k usable contacts is bootstrapped again "
        "(sim_population.hpp)\n",
        std::chrono::duration<double>(cfg.routing.good_for).count(), cfg.routing.bad_after_failures,
        std::chrono::duration<double>(cfg.refresh_interval).count(), cfg.small_table,
        std::chrono::duration<double>(cfg.small_table_refresh).count(),
        std::chrono::duration<double>(cfg.replication.interval).count());
    std::printf(
        "success of a lookup: under churn a lookup is a get. %zu items were put before the "
        "churn started, which then ran %.0f s before the first get; then %zu gets, and one more "
        "put with every 10th get "
        "(values put during the churn); a get asks a random item among those stored, from a "
        "random live node that has joined, and succeeds when it returns the value put; a get "
        "whose requester dies before it completes is not counted (another is started); %.0f "
        "gets started per virtual second, at most %zu in flight\n",
        put_before, std::chrono::duration<double>(2 * lifetime).count(), args_.lookups, kRate,
        kMaxInFlight);
    std::size_t gets = 0;
    auto abandoned = pop_.pace(pace(args_.lookups), [&](Slot from, auto done) {
      if (gets++ % 10 == 9) put(pop_.random_joined(), number++, nullptr);
      const Item item = items_[pop_.random().below(items_.size())];
      return pop_.node(from)
          .get_immutable(item.key, pop_.now(),
                         [this, from, item, done](Result<overlay::GetImmutableResult> g,
                                                  const OpStats& stats) {
                           const bool found = g && g->value && *g->value == item.value;
                           if (!found) miss(from, item.key, stats);
                           record(found, stats);
                           done();
                         })
          .has_value();
    });
    if (!abandoned) return abandoned.error();
    pop_.net().run_for(10s);  // the last puts end
    pop_.stop_churn();
    const auto* churn = pop_.churn();
    std::printf(
        "churn: %llu nodes replaced in %.0f s virtual (mean lifetime drawn %.1f s), %zu alive, "
        "%zu joined\n",
        static_cast<unsigned long long>(churn->deaths()),
        std::chrono::duration<double>(pop_.now() - start_).count(),
        std::chrono::duration<double>(churn->mean_drawn_lifetime()).count(), pop_.net().alive(),
        pop_.joined());
    std::printf("requesters that died during their get (not counted): %zu\n", *abandoned);
    std::printf(
        "bootstraps tried again (fewer than k contacts after one): %zu; nodes bootstrapped "
        "again, left with fewer than k usable contacts: %zu\n",
        pop_.bootstrap_retries(), pop_.rejoins());
    std::printf(
        "puts: %zu of %zu that ended stored their item (%zu before the churn, %zu during; %zu "
        "more died with their requester); %.1f copies per put\n",
        puts_ok_, puts_done_, put_before, puts_ok_ - put_before, puts_ - puts_done_,
        puts_ok_ ? static_cast<double>(stored_) / static_cast<double>(puts_ok_) : 0.0);
    std::printf("gets not found: %zu, of which %zu items no live node held any more\n", misses_,
                lost_);
    return ok();
  }

  // A get that missed: was the item still held by a live node?
  // A get that missed: what its requester knew, what the get did, and whether a live
  // node still held the item (the first few are printed).
  void miss(Slot from, const NodeId& key, const OpStats& stats) {
    ++misses_;
    std::size_t holders = 0, close = 0;
    const auto truth = pop_.closest_live(key, kK);
    for (Slot s = 0; s < pop_.net().slots(); ++s) {
      if (!pop_.alive(s) || !pop_.node(s).item_store().get(key, pop_.now())) continue;
      ++holders;
      close += std::find(truth.begin(), truth.end(), pop_.node(s).id()) != truth.end();
    }
    lost_ += holders == 0;
    if (misses_ > 10) return;
    const overlay::RoutingTable& table = pop_.node(from).routing_table();
    std::size_t usable = 0;
    for (std::size_t b = 0; b < table.bucket_count(); ++b)
      for (const overlay::Contact& c : table.bucket(b))
        usable += table.state(c, pop_.now()) != overlay::ContactState::bad;
    std::printf(
        "miss: requester table %zu contacts (%zu not bad), get sent %u, received %u, "
        "timeouts %u, rounds %u, %.2f s; %zu live holders, %zu of them among the %zu closest\n",
        table.size(), usable, stats.sent, stats.received, stats.timeouts, stats.rounds,
        std::chrono::duration<double>(stats.elapsed).count(), holders, close, kK);
  }

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

  static constexpr double kRate = 200;              // operations started per virtual second
  static constexpr std::size_t kMaxInFlight = 300;  // at once

  OverlaySimArgs args_;
  std::optional<Duration> churn_lifetime_;
  overlay::sim::Population pop_;
  std::vector<Item> items_;  // stored somewhere: what gets ask for
  std::size_t puts_ = 0, puts_done_ = 0, puts_ok_ = 0, stored_ = 0, misses_ = 0, lost_ = 0;
  std::size_t ok_ = 0;
  std::vector<std::uint32_t> rounds_, datagrams_;
  std::vector<double> latency_;
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
