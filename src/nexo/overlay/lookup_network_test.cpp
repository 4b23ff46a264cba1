// Lookup: whole lookups driven with an RpcTable through a model network:
// thousands of random ids, each node with a Kademlia routing table built from
// the population (k random contacts in every bucket, complete near itself),
// replies after simulated round trips, some nodes dead, slow, later than the
// hard deadline or hostile. Every lookup must return exactly the k closest
// answering nodes (brute force). Time is a fake clock; nothing sleeps. The
// rules one reply at a time are in lookup_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <queue>
#include <string>
#include <vector>

#include "nexo/overlay/lookup.hpp"
#include "nexo/overlay/rpc_table.hpp"

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;

const Time t0 = Time{} + 24h;

#ifdef NEXO_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

net::Endpoint peer(std::uint32_t i, std::uint16_t port = 6881) {
  return net::Endpoint(
      net::InetAddress::v4({10, static_cast<std::uint8_t>(i >> 16),
                            static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}),
      port);
}

// ---------------------------------------------------------------------------
// The model network.

enum class Behaviour : std::uint8_t {
  honest,    // answers after its round trip (20..200 ms)
  slow,      // answers after the soft deadline, before the hard one
  too_slow,  // answers after the hard deadline: failed for the lookup
  dead,      // never answers, still in others' tables
  hostile,   // answers at once with forged nodes close to the target
};

struct ModelConfig {
  std::size_t n = 2000;
  double slow = 0;
  double too_slow = 0;
  double dead = 0;
  double hostile = 0;
  // The share of the nodes that do not answer in time (dead, too slow) that
  // a table still holds: the others were found bad and replaced (BEP 5), as
  // the routing tables of a running DHT do.
  double stale_kept = 0.3;
  // The share of replies the network delivers twice (the second one, 1 ms
  // later, must be dropped by the RpcTable as an unknown transaction).
  double duplicated = 0;
  std::size_t k = 8;
};

struct ModelNode {
  NodeInfo info;
  Behaviour behaviour = Behaviour::honest;
  Duration rtt{};
  std::vector<std::uint32_t> contacts;
};

constexpr Duration kSoftTimeout = 300ms;
constexpr Duration kHardTimeout = 2s;

class ModelNetwork {
 public:
  ModelNetwork(const ModelConfig& config, std::uint64_t seed) : config_(config), rng_(seed) {
    nodes_.resize(config.n);
    for (std::uint32_t i = 0; i < config.n; ++i) {
      ModelNode& node = nodes_[i];
      node.info = {NodeId::random(rng_), peer(i)};
      const double u = rng_.uniform();
      double edge = config.slow;
      if (u < edge) {
        node.behaviour = Behaviour::slow;
      } else if (u < (edge += config.too_slow)) {
        node.behaviour = Behaviour::too_slow;
      } else if (u < (edge += config.dead)) {
        node.behaviour = Behaviour::dead;
      } else if (u < (edge += config.hostile)) {
        node.behaviour = Behaviour::hostile;
      }
      node.rtt = rtt_for(node.behaviour);
    }
    build_tables();
  }

  std::size_t size() const noexcept { return nodes_.size(); }
  const ModelConfig& config() const noexcept { return config_; }
  const ModelNode& node(std::uint32_t i) const { return nodes_[i]; }
  fault::Random& rng() noexcept { return rng_; }

  static std::optional<std::uint32_t> index_of(const net::Endpoint& endpoint) {
    auto b = endpoint.address().bytes();
    if (b.size() != 4 || b[0] != 10 || endpoint.port() != 6881) return std::nullopt;
    return (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  }
  bool answers_in_time(std::uint32_t i) const {
    const Behaviour b = nodes_[i].behaviour;
    return b == Behaviour::honest || b == Behaviour::slow || b == Behaviour::hostile;
  }
  bool answers(std::uint32_t i) const {
    return answers_in_time(i) || nodes_[i].behaviour == Behaviour::too_slow;
  }

  // The n contacts of node i closest to target (its routing table's closest()).
  std::vector<NodeInfo> closest_known(std::uint32_t i, const NodeId& target, std::size_t n) const {
    std::vector<NodeInfo> known;
    for (std::uint32_t c : nodes_[i].contacts)
      known.push_back(nodes_[c].info);
    return closest_of(std::move(known), target, n);
  }

  // What node i answers to find_node(target).
  std::vector<NodeInfo> reply(std::uint32_t i, const NodeId& target) {
    if (nodes_[i].behaviour != Behaviour::hostile) return closest_known(i, target, config_.k);
    // Forged nodes: ids very close to the target at addresses where nobody
    // listens, and the true closest ids at bogus addresses.
    std::vector<NodeInfo> forged;
    for (std::size_t j = 0; j < config_.k / 2; ++j) {
      const auto where = static_cast<std::uint8_t>(rng_.below(250));
      forged.push_back({NodeId::random_with_prefix(target, 40, rng_),
                        net::Endpoint(net::InetAddress::v4({192, 0, 2, where}), 1000)});
    }
    std::vector<NodeInfo> truth = true_closest(target, config_.k / 2, i);
    for (NodeInfo& n : truth) {
      n.endpoint = net::Endpoint(net::InetAddress::v4({198, 51, 100, 1}),
                                 static_cast<std::uint16_t>(1 + rng_.below(60000)));
      forged.push_back(n);
    }
    return forged;
  }

  // Brute force: the k closest nodes that answer in time, `except` left out.
  std::vector<NodeInfo> true_closest(const NodeId& target, std::size_t k,
                                     std::uint32_t except) const {
    std::vector<NodeInfo> live;
    for (std::uint32_t i = 0; i < nodes_.size(); ++i)
      if (i != except && answers_in_time(i)) live.push_back(nodes_[i].info);
    return closest_of(std::move(live), target, k);
  }

 private:
  static std::vector<NodeInfo> closest_of(std::vector<NodeInfo> v, const NodeId& target,
                                          std::size_t n) {
    n = std::min(n, v.size());
    std::partial_sort(
        v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), v.end(),
        [&](const NodeInfo& a, const NodeInfo& b) { return closer_to(target, a.id, b.id); });
    v.resize(n);
    return v;
  }

  Duration rtt_for(Behaviour b) {
    const auto spread = [&](int lo, int hi) {
      return std::chrono::milliseconds(lo + static_cast<int>(rng_.below(hi - lo)));
    };
    switch (b) {
      case Behaviour::slow:
        return spread(600, 1500);
      case Behaviour::too_slow:
        return spread(2500, 4000);
      default:
        return spread(20, 200);
    }
  }

  // `x` with bits from `prefix` on set to `fill`.
  static NodeId with_suffix(NodeId x, int prefix, bool fill) {
    for (int b = prefix; b < kNodeIdBits; ++b)
      x.set_bit(b, fill);
    return x;
  }

  // Each node gets, for every depth i, k random nodes among those sharing
  // exactly i leading bits with it (all of them when there are fewer): the
  // buckets of a Kademlia table, complete near its own id.
  void build_tables() {
    std::vector<std::pair<NodeId, std::uint32_t>> sorted;
    for (std::uint32_t i = 0; i < nodes_.size(); ++i)
      sorted.emplace_back(nodes_[i].info.id, i);
    std::sort(sorted.begin(), sorted.end());
    const auto range = [&](const NodeId& lo, const NodeId& hi) {
      auto first = std::lower_bound(sorted.begin(), sorted.end(), std::pair(lo, std::uint32_t{0}));
      auto last = std::upper_bound(sorted.begin(), sorted.end(), std::pair(hi, UINT32_MAX));
      return std::pair(first, last);
    };
    for (ModelNode& node : nodes_) {
      const NodeId& x = node.info.id;
      for (int i = 0; i < kNodeIdBits; ++i) {
        NodeId sibling = x;
        sibling.set_bit(i, !x.bit(i));
        auto [first, last] =
            range(with_suffix(sibling, i + 1, false), with_suffix(sibling, i + 1, true));
        std::vector<std::uint32_t> bucket;
        for (auto it = first; it != last; ++it)
          if (answers_in_time(it->second) || rng_.chance(config_.stale_kept))
            bucket.push_back(it->second);
        for (std::size_t j = 0; j < bucket.size() && j < config_.k; ++j) {  // k random ones
          std::swap(bucket[j], bucket[j + rng_.below(bucket.size() - j)]);
          node.contacts.push_back(bucket[j]);
        }
        auto [own_first, own_last] =
            range(with_suffix(x, i + 1, false), with_suffix(x, i + 1, true));
        if (own_last - own_first <= 1) break;  // nobody else shares i + 1 bits: no deeper bucket
      }
    }
  }

  ModelConfig config_;
  fault::Random rng_;
  std::vector<ModelNode> nodes_;
};

struct Outcome {
  std::vector<NodeInfo> result;
  LookupStats stats;
  int rounds = 0;
  int chain = 0;
  bool done = false;
  std::size_t max_in_flight = 0;
  std::size_t max_candidates = 0;
  std::uint32_t replies_after_expiry = 0;  // dropped by the RpcTable: query already failed
};

// Runs one lookup from node `searcher` to completion, as a node would: the
// RpcTable matches replies and times queries out, the Lookup decides.
Outcome run_lookup(ModelNetwork& net, std::uint32_t searcher, const NodeId& target,
                   const LookupConfig& config) {
  constexpr std::uint64_t kOwner = 77;
  Lookup lookup(target, net.node(searcher).info.id, config);
  lookup.add_candidates(net.closest_known(searcher, target, config.k));
  RpcTable rpcs(static_cast<TransactionId>(net.rng().next()));
  struct Arrival {
    Time at;
    std::uint64_t seq;
    TransactionId tid;
    std::uint32_t from;
    bool operator>(const Arrival& o) const { return std::pair(at, seq) > std::pair(o.at, o.seq); }
  };
  std::priority_queue<Arrival, std::vector<Arrival>, std::greater<>> arrivals;
  std::uint64_t seq = 0;
  Outcome out;
  Time now = t0;
  std::vector<RpcEntry> due;
  for (int step = 0; step < 100'000; ++step) {
    while (auto n = lookup.next_request(now)) {
      RpcRequest request;
      request.destination = n->endpoint;
      request.expected_id = n->id;
      request.owner = kOwner;
      request.soft_timeout = kSoftTimeout;
      request.hard_timeout = kHardTimeout;
      auto tid = rpcs.add(request, now);
      if (!tid) {
        lookup.on_failure(n->endpoint);
        continue;
      }
      auto to = ModelNetwork::index_of(n->endpoint);
      if (!to || !net.answers(*to)) continue;
      arrivals.push({now + net.node(*to).rtt, seq++, *tid, *to});
      if (net.rng().chance(net.config().duplicated))
        arrivals.push({now + net.node(*to).rtt + 1ms, seq++, *tid, *to});
    }
    out.max_in_flight = std::max(out.max_in_flight, lookup.in_flight());
    out.max_candidates = std::max(out.max_candidates, lookup.candidate_count());
    if (lookup.done()) break;
    std::optional<Time> next = rpcs.next_deadline();
    if (!arrivals.empty() && (!next || arrivals.top().at < *next)) next = arrivals.top().at;
    if (!next) break;  // stuck: the caller's check of done() fails
    now = *next;
    while (!arrivals.empty() && arrivals.top().at <= now) {
      const Arrival a = arrivals.top();
      arrivals.pop();
      const NodeInfo& from = net.node(a.from).info;
      if (rpcs.take(a.tid, from.endpoint, now))
        lookup.on_reply(from, net.reply(a.from, target), now);
      else
        ++out.replies_after_expiry;
    }
    due.clear();
    rpcs.soft_expired(now, due);
    for (const RpcEntry& e : due)
      lookup.on_soft_timeout(e.destination);
    due.clear();
    rpcs.expire(now, due);
    for (const RpcEntry& e : due)
      lookup.on_failure(e.destination);
  }
  rpcs.cancel_owner(kOwner);
  out.done = lookup.done();
  out.result = lookup.result();
  out.stats = lookup.stats();
  out.rounds = lookup.rounds();
  out.chain = lookup.longest_chain();
  return out;
}

struct Figures {
  std::vector<std::uint32_t> requests;
  std::vector<int> rounds;
  std::uint64_t soft_timeouts = 0, failures = 0, late = 0, ignored = 0;

  static double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  }
  template <class T>
  static std::vector<double> as_double(const std::vector<T>& v) {
    return std::vector<double>(v.begin(), v.end());
  }
  void print(const char* name, std::size_t n) const {
    std::printf(
        "%s: N %zu, lookups %zu, requests p50 %.0f p99 %.0f max %.0f, rounds p50 %.0f p99 %.0f "
        "max %.0f, soft timeouts %llu, failures %llu, late replies %llu, ignored %llu\n",
        name, n, requests.size(), percentile(as_double(requests), 0.5),
        percentile(as_double(requests), 0.99), percentile(as_double(requests), 1.0),
        percentile(as_double(rounds), 0.5), percentile(as_double(rounds), 0.99),
        percentile(as_double(rounds), 1.0), static_cast<unsigned long long>(soft_timeouts),
        static_cast<unsigned long long>(failures), static_cast<unsigned long long>(late),
        static_cast<unsigned long long>(ignored));
  }
};

// Runs `lookups` lookups from random live nodes to random targets and checks
// each one; returns the figures.
Figures check_lookups(const ModelConfig& model, std::uint64_t seed, int lookups,
                      const LookupConfig& config = {}) {
  ModelNetwork net(model, seed);
  Figures figures;
  for (int run = 0; run < lookups; ++run) {
    std::uint32_t searcher;
    do {
      searcher = static_cast<std::uint32_t>(net.rng().below(net.size()));
    } while (net.node(searcher).behaviour != Behaviour::honest);
    const NodeId target = NodeId::random(net.rng());
    const Outcome o = run_lookup(net, searcher, target, config);
    SCOPED_TRACE("seed " + std::to_string(seed) + " run " + std::to_string(run) + " target " +
                 target.to_hex());
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.result, net.true_closest(target, config.k, searcher));
    EXPECT_LE(o.max_in_flight, config.alpha);
    EXPECT_LE(o.stats.requests, config.max_requests);
    EXPECT_LE(o.max_candidates, config.max_candidates + o.stats.requests);
    EXPECT_GE(o.rounds, 1);
    EXPECT_LE(o.rounds, o.chain);
    EXPECT_LE(static_cast<std::uint32_t>(o.chain), o.stats.replies);
    EXPECT_LE(o.stats.replies + o.stats.failures + o.stats.id_mismatches, o.stats.requests);
    figures.requests.push_back(o.stats.requests);
    figures.rounds.push_back(o.rounds);
    figures.soft_timeouts += o.stats.soft_timeouts;
    figures.failures += o.stats.failures;
    figures.late += o.stats.late_replies;
    figures.ignored += o.stats.ignored_replies + o.replies_after_expiry;
  }
  return figures;
}

TEST(Lookup, FindsTheTrueClosestInAHealthyNetwork) {
  ModelConfig model;
  model.n = kSanitized ? 1000 : 4000;
  const int lookups = kSanitized ? 30 : 200;
  for (std::uint64_t seed : {1, 2}) {
    const Figures f = check_lookups(model, seed, lookups);
    f.print("healthy", model.n);
    EXPECT_EQ(f.soft_timeouts, 0u) << "every round trip is under the soft timeout";
    EXPECT_EQ(f.failures, 0u);
  }
}

TEST(Lookup, TenThousandNodesFigures) {
  ModelConfig model;
  model.n = kSanitized ? 2000 : 10000;
  const Figures f = check_lookups(model, 3, kSanitized ? 20 : 100);
  f.print("healthy", model.n);
}

TEST(Lookup, DeadSlowAndTooSlowNodes) {
  ModelConfig model;
  model.n = kSanitized ? 1000 : 4000;
  model.dead = 0.15;
  model.slow = 0.10;
  model.too_slow = 0.03;
  model.duplicated = 0.05;
  const int lookups = kSanitized ? 30 : 200;
  for (std::uint64_t seed : {4, 5}) {
    const Figures f = check_lookups(model, seed, lookups);
    f.print("dead 15%, slow 10%, too slow 3%, 5% of replies twice", model.n);
    EXPECT_GT(f.soft_timeouts, 0u);
    EXPECT_GT(f.failures, 0u);
    EXPECT_GT(f.late, 0u) << "slow nodes' late replies are taken";
    EXPECT_GT(f.ignored, 0u) << "duplicates dropped";
  }
}

TEST(Lookup, HostileNodesCannotHideTheClosest) {
  ModelConfig model;
  model.n = kSanitized ? 1000 : 4000;
  model.hostile = 0.05;
  model.dead = 0.05;
  const int lookups = kSanitized ? 30 : 200;
  const Figures f = check_lookups(model, 6, lookups);
  f.print("hostile 5%, dead 5%", model.n);
}

TEST(Lookup, AlphaOneAndWiderAlpha) {
  ModelConfig model;
  model.n = kSanitized ? 1000 : 3000;
  model.slow = 0.1;
  model.dead = 0.1;
  for (std::size_t alpha : {1, 5}) {
    LookupConfig config;
    config.alpha = alpha;
    const Figures f = check_lookups(model, 7, kSanitized ? 20 : 100, config);
    f.print(alpha == 1 ? "alpha 1" : "alpha 5", model.n);
  }
}

}  // namespace
}  // namespace nexo::overlay
