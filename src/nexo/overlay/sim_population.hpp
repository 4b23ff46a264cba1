// sim::Population — a DHT of overlay::Node on sim::Network at the scale
// (1,000 to 100,000 nodes), with what the simulations of `nexo overlay sim`,
// bench_overlay and node_sim_test share: growing the population (each newcomer
// bootstraps through a random node that has already joined), churn (sim_churn.hpp,
// each replacement bootstrapping the same way), operations run concurrently at a
// steady rate in virtual time, and the truth a lookup is judged against (the k live
// nodes closest to a target, from a sorted index of the live ids: O(log N + k) per
// question instead of a scan of the population).
//
//   sim::Population pop({.nodes = 1000, .seed = 7, .churn = 30s});
//   auto failed = pop.grow();
//   pop.start_churn();
//   pop.pace({.count = 1000, .rate = 200}, [&](Slot from, auto done) {
//     return pop.node(from).find_node(target, pop.now(), [done](auto r, auto& s) { ... done(); });
//   });
//
// Concurrency. pace() starts operations at `rate` per virtual second (at most
// `max_in_flight` at a time) from random joined nodes, until `count` have completed.
// An operation whose requester dies (churn removes the node, and the node drops its
// operations without calling back) is abandoned: counted apart, never as a failure,
// and another one is started in its place.
//
// Churn policy (churn_config): BEP 5's defaults assume contacts that live hours. At
// 30 s lifetimes they keep dead contacts for 15 minutes and leave a newcomer that knows
// a handful of contacts alone until its first refresh, 15 minutes later. Under churn:
//   - a contact unheard of for one mean lifetime is no longer good, and one failed
//     query makes it bad (routing.good_for, routing.bad_after_failures);
//   - answers and lookup seeds put good contacts first (fresh_first): a contact one
//     lifetime old is likely dead, where the Internet's is likely alive;
//   - buckets are refreshed every 2 lifetimes at most (60 s at most);
//   - stored items are re-replicated to the k closest every 2/3 of a lifetime, and
//     to every newcomer among the k closest (ReplicationConfig's on_join);
//   - a node whose table holds fewer than small_table contacts refreshes every
//     small_table_refresh (node.hpp), so that a newcomer that met few nodes does not
//     wait out the bucket refresh.
// The 15-minute defaults stay the Node's own for the Internet. What the application does
// (the population, for its nodes): a newcomer whose bootstrap leaves it fewer than k
// contacts (its seed knew mostly dead nodes) bootstraps again from another joined node,
// 3 tries in all; under churn, every 5 s, a joined node left with fewer than k (8) usable
// contacts is bootstrapped again from a random joined node, as a client falls back to
// its router nodes. Without these, at N = 10,000 two gets in 2,000 failed, both from
// requesters whose tables held 1 and 3 contacts, 0 and 2 of them alive.
//
// Cost: the sweep looks at every joined node's table every 5 s of virtual time.
//
// Thread contract: one thread (the network's). The population owns the network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/overlay/node.hpp"
#include "nexo/overlay/sim_churn.hpp"
#include "nexo/overlay/sim_network.hpp"

namespace nexo::overlay::sim {

// The Node settings the simulations use under churn of mean lifetime `lifetime`
// (see the top of the file); `base` is changed in place and returned.
NodeConfig churn_config(NodeConfig base, Duration lifetime);

struct PopulationConfig {
  std::size_t nodes = 1000;
  std::uint64_t seed = 1;
  std::optional<Duration> churn{};                        // mean lifetime; nullopt: no churn
  Duration join_spacing = std::chrono::milliseconds(20);  // between two newcomers in grow()
  Duration query_timeout = std::chrono::seconds(2);
  std::function<void(NodeConfig&)> tune{};  // applied last to every node's config
};

// How pace() runs operations.
struct Pace {
  std::size_t count = 1000;                   // operations that must complete
  double rate = 200;                          // started per virtual second
  std::size_t max_in_flight = 300;            // started, not completed, at once
  Duration limit = std::chrono::minutes(30);  // virtual time allowed for all of them
};

class Population {
 public:
  explicit Population(const PopulationConfig& config);
  ~Population();
  Population(const Population&) = delete;
  Population& operator=(const Population&) = delete;

  // Adds the nodes, one every join_spacing, each bootstrapping from a random node that
  // has joined, then lets background refreshes settle for 20 s. Returns the bootstraps
  // that failed; timed_out when some never ended.
  Result<std::size_t> grow();

  // Churn (config.churn must be set): every node from now on lives an exponential
  // lifetime and is replaced by a newcomer that bootstraps from a random joined node.
  void start_churn();
  void stop_churn();
  const Churn* churn() const noexcept { return churn_ ? &*churn_ : nullptr; }
  // Bootstraps tried again (fewer than k contacts after one), and nodes bootstrapped again
  // under churn because they had fewer than k usable contacts (see the top of the file).
  std::size_t bootstrap_retries() const noexcept { return retried_; }
  std::size_t rejoins() const noexcept { return rejoins_; }

  Network& net() noexcept { return net_; }
  Time now() const noexcept { return net_.now(); }
  Node& node(Slot slot) { return static_cast<Node&>(net_.node(slot)); }
  bool alive(Slot slot) const { return net_.state(slot) == NodeState::alive; }
  const PopulationConfig& config() const noexcept { return config_; }
  NodeConfig node_config(Slot slot) const;
  fault::Random& random() noexcept { return rng_; }

  // A random live node whose bootstrap succeeded (an application waits for its node to
  // join before it uses it); any live node when none has.
  Slot random_joined();
  // Live nodes whose bootstrap succeeded.
  std::size_t joined() const;

  // The k live node ids closest to `target`, closest first, `except` left out.
  std::vector<NodeId> closest_live(const NodeId& target, std::size_t k,
                                   Slot except = kNoSlot) const;

  // Starts operations as Pace says: `start(from, done)` starts one on node `from` and
  // returns whether it started; its callback must call `done()` once. Runs the network
  // until `count` completed or the limit. Returns the operations abandoned because their
  // requester died.
  using Done = std::function<void()>;
  using Start = std::function<bool(Slot from, Done done)>;
  Result<std::size_t> pace(const Pace& pace, const Start& start);

 private:
  Factory factory();
  void bootstrap(Slot slot, std::size_t* done, std::size_t* failed, int attempt = 1);
  void rejoin_sweep();
  void index_add(Slot slot);
  void index_remove(Slot slot);
  void replaced(Slot gone, Slot born);
  void pace_tick(const Pace& pace, const Start& start, std::uint64_t generation);

  PopulationConfig config_;
  Network net_;
  fault::Random rng_;
  std::optional<Churn> churn_;
  std::vector<Slot> joined_;                           // slots; dead ones are dropped lazily
  std::vector<std::pair<NodeId, Slot>> index_;         // live ids, sorted
  std::unordered_map<Slot, std::uint32_t> in_flight_;  // pace(): operations per requester
  std::size_t in_flight_total_ = 0;
  std::size_t completed_ = 0;
  std::size_t started_ = 0;
  std::size_t abandoned_ = 0;
  std::uint64_t generation_ = 0;  // of pace() calls
  std::size_t retried_ = 0, rejoins_ = 0;
  bool churn_stopped_ = false;
  static constexpr int kBootstrapTries = 3;
  static constexpr std::size_t kRejoinBelow = 8;  // usable contacts (k)
  static constexpr Duration kRejoinPeriod = std::chrono::seconds(5);
};

}  // namespace nexo::overlay::sim
