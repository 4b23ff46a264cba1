// Node on sim::Network: hundreds of nodes bootstrap from one; every find_node finds the
// true k closest live nodes (brute force over the population); BEP 44 immutable and
// mutable items put and got from random nodes; announce / get_peers; a third of the
// nodes crash and every value is still found; the same with 5% loss; hourly republishing
// against the stores' 2 h lifetime; re-replication under churn. Prints the lookup figures
// (datagrams per lookup, rounds p50/p99) and the memory of a node; asserts only logical
// outcomes. Deterministic for its seeds. NODE_SIM_DEBUG=1 in the environment prints the
// misses and, under churn, a census of the holders.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "nexo/overlay/node.hpp"
#include "nexo/overlay/sim_churn.hpp"
#include "nexo/overlay/sim_network.hpp"
#include "nexo/overlay/sim_population.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;
using sim::Slot;

#ifdef NEXO_SANITIZED
constexpr std::size_t kNodes = 150;
constexpr std::size_t kLossNodes = 100;
constexpr std::size_t kChurnNodes = 100;
constexpr int kChurnGets = 150;
#else
constexpr std::size_t kNodes = 1000;
constexpr std::size_t kLossNodes = 300;
constexpr std::size_t kChurnNodes = 500;
constexpr int kChurnGets = 1000;
#endif

struct Figures {
  std::vector<std::uint32_t> datagrams;  // sent + received per lookup
  std::vector<std::uint32_t> rounds;
  void add(const OpStats& s) {
    datagrams.push_back(s.sent + s.received);
    rounds.push_back(s.rounds);
  }
  static std::uint32_t percentile(std::vector<std::uint32_t> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  }
  void print(const char* what) const {
    if (datagrams.empty()) return;
    const double mean = std::accumulate(datagrams.begin(), datagrams.end(), 0.0) /
                        static_cast<double>(datagrams.size());
    std::printf("%s: lookups %zu, datagrams per lookup %.1f, rounds p50 %u p99 %u\n", what,
                datagrams.size(), mean, percentile(rounds, 0.5), percentile(rounds, 0.99));
  }
};

class Dht {
 public:
  explicit Dht(std::uint64_t seed, double loss = 0) : net_({.seed = seed}) {
    net_.set_loss(loss);
    seed_ = seed;
  }

  NodeConfig config(Slot slot) const {
    NodeConfig c;
    c.seed = seed_ * 7919 + slot;
    c.query_timeout = 2s;
    c.replication = replication;
    if (tune) tune(c);
    return c;
  }
  // Adds a node with id `id` that bootstraps from slot 0; runs until it has.
  Slot join(const NodeId& id) {
    const Slot slot = net_.add([&](const net::Endpoint& self) {
      NodeConfig c = config(sim::slot_of(self.address()).value());
      c.id = id;
      return std::make_unique<Node>(self, net_.now(), c);
    });
    bool done = false;
    const net::Endpoint seeds[] = {net_.address(0)};
    EXPECT_TRUE(node(slot).bootstrap(seeds, net_.now(), [&](auto&&...) { done = true; }));
    net_.kick(slot);
    net_.run_until([&] { return done; }, net_.now() + 120s);
    EXPECT_TRUE(done);
    return slot;
  }
  // The live nodes whose store holds `key` now.
  std::size_t holders(const NodeId& key) {
    std::size_t n = 0;
    for (Slot s : live())
      n += node(s).item_store().get(key, net_.now()) != nullptr;
    return n;
  }
  sim::Factory factory() {
    return [this](const net::Endpoint& self) {
      const Slot slot = sim::slot_of(self.address()).value();
      return std::make_unique<Node>(self, net_.now(), config(slot));
    };
  }
  Node& node(Slot slot) { return static_cast<Node&>(net_.node(slot)); }
  sim::Network& net() { return net_; }

  // Adds n nodes, each bootstrapping from slot 0, 20 ms apart; runs until all are done.
  void grow(std::size_t n) {
    const Slot first = net_.add(factory());
    std::size_t done = 0, failed = 0;
    for (std::size_t i = 1; i < n; ++i) {
      net_.schedule(net_.now() + i * 20ms, [&, first](sim::Network& net) {
        const Slot slot = net.add(factory());
        const net::Endpoint seeds[] = {net.address(first)};
        auto started =
            node(slot).bootstrap(seeds, net.now(), [&](Result<std::size_t> r, const OpStats&) {
              ++done;
              if (!r) ++failed;
            });
        EXPECT_TRUE(started);
        net.kick(slot);
      });
    }
    ASSERT_TRUE(net_.run_until([&] { return done == n - 1; }, net_.now() + n * 20ms + 120s))
        << done << " of " << n - 1 << " bootstraps done";
    EXPECT_EQ(failed, 0u);
    net_.run_for(20s);  // background refreshes settle
  }

  std::vector<Slot> live() {
    std::vector<Slot> slots;
    for (Slot s = 0; s < net_.slots(); ++s)
      if (net_.state(s) == sim::NodeState::alive) slots.push_back(s);
    return slots;
  }
  Slot random_live(fault::Random& rng) {
    auto slots = live();
    return slots[rng.below(slots.size())];
  }

  // Starts an operation on `slot` and runs the network until its callback.
  template <class T, class Start>
  Result<T> run(Slot slot, Start start) {
    std::optional<Result<T>> out;
    auto started = start(node(slot), net_.now(), [&](Result<T> r, const OpStats& stats) {
      figures.add(stats);
      out.emplace(std::move(r));
    });
    if (!started) return started.error();
    net_.kick(slot);
    net_.run_until([&] { return out.has_value(); }, net_.now() + 300s);
    if (!out) return Error(ErrorKind::timed_out, "the operation never completed");
    return std::move(*out);
  }

  // A random live node not among the 2k closest to `key` (its puts reach the same k
  // closest nodes as any other's: a lookup never counts its own node).
  Slot random_far(fault::Random& rng, const NodeId& key) {
    const auto near = truth(key, sim::kNoSlot, 16);
    for (;;) {
      const Slot s = random_live(rng);
      if (std::find(near.begin(), near.end(), node(s).id()) == near.end()) return s;
    }
  }

  // The k closest live node ids to `target`, except `self`'s, closest first.
  std::vector<NodeId> truth(const NodeId& target, Slot self, std::size_t k = 8) {
    std::vector<NodeId> ids;
    for (Slot s : live())
      if (s != self) ids.push_back(node(s).id());
    std::sort(ids.begin(), ids.end(),
              [&](const NodeId& a, const NodeId& b) { return closer_to(target, a, b); });
    ids.resize(std::min(k, ids.size()));
    return ids;
  }

  Figures figures;
  ReplicationConfig replication;
  std::function<void(NodeConfig&)> tune;

 private:
  sim::Network net_;
  std::uint64_t seed_;
};

std::string value_text(int i) {
  return bencode::Value("value number " + std::to_string(i)).string();
}
std::string encoded(int i) {
  return encode_value(bencode::Value(value_text(i)));
}

// Runs `lookups` find_node from random nodes toward random targets; returns the share of
// the true k closest live nodes they found (1.0: every lookup exact) and prints it.
double find_nodes(Dht& dht, fault::Random& rng, int lookups, const char* what) {
  dht.figures = {};
  int exact = 0;
  std::size_t found = 0, wanted = 0;
  for (int i = 0; i < lookups; ++i) {
    const Slot from = dht.random_live(rng);
    const NodeId target = NodeId::random(rng);
    auto r = dht.run<std::vector<NodeInfo>>(
        from, [&](Node& n, Time now, auto cb) { return n.find_node(target, now, cb); });
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) continue;
    std::vector<NodeId> got;
    for (const auto& info : *r)
      got.push_back(info.id);
    const auto truth = dht.truth(target, from);
    exact += got == truth;
    wanted += truth.size();
    for (const NodeId& id : truth)
      found += std::find(got.begin(), got.end(), id) != got.end();
  }
  const double recall = wanted ? static_cast<double>(found) / static_cast<double>(wanted) : 0;
  std::printf("%s: %d of %d lookups exact, %.1f%% of the true k closest found\n", what, exact,
              lookups, 100 * recall);
  dht.figures.print(what);
  return recall;
}

TEST(NodeSim, BootstrapLookupStoreAndSurviveAThirdCrashing) {
  Dht dht(11);
  dht.grow(kNodes);
  fault::Random rng(5);

  // Memory of a node after bootstrap.
  std::size_t heap = 0, contacts = 0;
  for (Slot s : dht.live()) {
    heap += dht.node(s).memory_bytes();
    contacts += dht.node(s).routing_table().size();
  }
  std::printf(
      "%zu nodes: sizeof(Node) %zu B, heap per node after bootstrap %zu B, %zu contacts "
      "per node, simulator %zu B\n",
      kNodes, sizeof(Node), heap / kNodes, contacts / kNodes, dht.net().memory_bytes());

  EXPECT_EQ(find_nodes(dht, rng, 50, "find_node"), 1.0);

  // Immutable and mutable items, put and got from random nodes.
  dht.figures = {};
  constexpr int kItems = 20;
  std::vector<NodeId> keys;
  for (int i = 0; i < kItems; ++i) {
    auto w = dht.run<WriteResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
      return n.put_immutable(encoded(i), now, cb);
    });
    ASSERT_TRUE(w) << w.error().to_string();
    EXPECT_EQ(w->stored, 8u);
    keys.push_back(w->target);
  }
  std::vector<SigningKey> signers;
  for (int i = 0; i < kItems; ++i) {
    signers.push_back(SigningKey::from_seed(KeySeed{static_cast<std::uint8_t>(i + 1)}));
    auto item = MutableItem::sign(signers.back(), "salt", 1, bencode::Value(value_text(i)));
    auto w = dht.run<WriteResult>(
        dht.random_far(rng, item->target()),
        [&](Node& n, Time now, auto cb) { return n.put_mutable(*item, std::nullopt, now, cb); });
    ASSERT_TRUE(w);
    EXPECT_EQ(w->stored, 8u);
  }
  // A newer seq replaces it; a put with a stale cas is refused with 301 everywhere.
  {
    auto item2 = MutableItem::sign(signers[0], "salt", 2, bencode::Value("newer"));
    auto w = dht.run<WriteResult>(
        dht.random_far(rng, item2->target()),
        [&](Node& n, Time now, auto cb) { return n.put_mutable(*item2, 1, now, cb); });
    ASSERT_TRUE(w);
    EXPECT_EQ(w->stored, 8u);
    auto item3 = MutableItem::sign(signers[0], "salt", 3, bencode::Value("stale cas"));
    auto w3 = dht.run<WriteResult>(
        dht.random_far(rng, item3->target()),
        [&](Node& n, Time now, auto cb) { return n.put_mutable(*item3, 1, now, cb); });
    ASSERT_TRUE(w3);
    EXPECT_EQ(w3->nodes, w->nodes);
    EXPECT_EQ(w3->stored, 0u);
    EXPECT_EQ(std::count(w3->error_codes.begin(), w3->error_codes.end(), 301), 8);
  }
  dht.figures.print("put");

  auto check_all = [&](const char* when) {
    dht.figures = {};
    for (int i = 0; i < kItems; ++i) {
      auto g = dht.run<GetImmutableResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
        return n.get_immutable(keys[static_cast<std::size_t>(i)], now, cb);
      });
      ASSERT_TRUE(g);
      ASSERT_TRUE(g->value) << when << ": immutable item " << i << " not found";
      EXPECT_EQ(*g->value, encoded(i));
      auto m = dht.run<GetMutableResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
        return n.get_mutable(signers[static_cast<std::size_t>(i)].public_key(), "salt", now, cb);
      });
      ASSERT_TRUE(m);
      ASSERT_TRUE(m->item) << when << ": mutable item " << i << " not found";
      EXPECT_EQ(m->item->seq, i == 0 ? 2 : 1);
      EXPECT_EQ(m->item->value, encode_value(bencode::Value(i == 0 ? "newer" : value_text(i))));
    }
    dht.figures.print(when);
  };
  check_all("get");

  // announce / get_peers.
  const NodeId info_hash = NodeId::random(rng);
  std::set<net::Endpoint> announced;
  for (int i = 0; i < 5; ++i) {
    const Slot s = dht.random_live(rng);
    auto w = dht.run<WriteResult>(
        s, [&](Node& n, Time now, auto cb) { return n.announce(info_hash, 0, now, cb); });
    ASSERT_TRUE(w);
    EXPECT_EQ(w->stored, 8u);
    announced.insert(dht.net().address(s));
  }
  auto peers = dht.run<GetPeersResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
    return n.get_peers(info_hash, now, cb);
  });
  ASSERT_TRUE(peers);
  EXPECT_EQ(std::set<net::Endpoint>(peers->peers.begin(), peers->peers.end()), announced);
  EXPECT_EQ(peers->closest.size(), 8u);
  for (const auto& c : peers->closest)
    EXPECT_FALSE(c.token.empty());

  // A third of the nodes crash at once: every value is still found, lookups still exact.
  auto slots = dht.live();
  for (std::size_t i = 0; i < slots.size(); ++i)
    if (rng.chance(1.0 / 3)) dht.net().crash(slots[i]);
  std::printf("crashed: %zu of %zu alive\n", dht.net().alive(), slots.size());
  check_all("get after a third crashed");
  // Right after the crash, tables still rank dead contacts as good (they fail only when
  // queried): lookups then miss a few live nodes that only dead ones outranked.
  EXPECT_GE(find_nodes(dht, rng, 20, "find_node right after a third crashed"), 0.85);
  dht.net().run_for(20min);  // bucket refreshes find the dead contacts
  EXPECT_EQ(find_nodes(dht, rng, 20, "find_node 20 min after a third crashed"), 1.0);
  std::printf("network: %s\n", dht.net().counters().to_string().c_str());
}

TEST(NodeSim, FivePercentLoss) {
  Dht dht(23, 0.05);
  dht.grow(kLossNodes);
  fault::Random rng(8);
  dht.figures = {};
  int found = 0;
  constexpr int kItems = 20;
  for (int i = 0; i < kItems; ++i) {
    auto w = dht.run<WriteResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
      return n.put_immutable(encoded(i), now, cb);
    });
    ASSERT_TRUE(w);
    EXPECT_GE(w->stored, 1u);
    auto g = dht.run<GetImmutableResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
      return n.get_immutable(w->target, now, cb);
    });
    ASSERT_TRUE(g);
    if (g->value && *g->value == encoded(i)) ++found;
  }
  EXPECT_EQ(found, kItems);
  dht.figures.print("put+get at 5% loss");
  EXPECT_GE(find_nodes(dht, rng, 30, "find_node at 5% loss"), 0.95);
}

// In a DHT smaller than k + 1 the putter is one of the k closest and keeps a copy: in a
// DHT of two, the other node's get (which asks others, never its own store) finds it.
// Before, the putter kept none: a put in a DHT of one stored nowhere, and here the get
// found nothing although the other node held the item.
TEST(NodeSim, APutInADhtSmallerThanKKeepsACopyOnThePutter) {
  Dht dht(43);
  dht.grow(2);
  auto w = dht.run<WriteResult>(
      0, [&](Node& n, Time now, auto cb) { return n.put_immutable(encoded(7), now, cb); });
  ASSERT_TRUE(w);
  EXPECT_EQ(w->stored, 2u) << "the other node and the putter";
  EXPECT_EQ(w->attempted, 2u);
  auto g = dht.run<GetImmutableResult>(
      1, [&](Node& n, Time now, auto cb) { return n.get_immutable(w->target, now, cb); });
  ASSERT_TRUE(g);
  ASSERT_TRUE(g->value);
  EXPECT_EQ(*g->value, encoded(7));
}

// BEP 44's lifetimes: stores drop an item 2 hours after its last put, and the originator
// puts it again every hour, so it outlives the store's lifetime; an item whose originator
// is gone expires.
TEST(NodeSim, OriginatorsRepublishAndStoresExpire) {
  Dht dht(41);
  dht.grow(kLossNodes / 2);
  fault::Random rng(17);
  const Slot kept = dht.random_live(rng);
  auto w = dht.run<WriteResult>(
      kept, [&](Node& n, Time now, auto cb) { return n.put_immutable(encoded(1), now, cb); });
  ASSERT_TRUE(w);
  Slot gone = kept;
  while (gone == kept)
    gone = dht.random_live(rng);
  auto w2 = dht.run<WriteResult>(
      gone, [&](Node& n, Time now, auto cb) { return n.put_immutable(encoded(2), now, cb); });
  ASSERT_TRUE(w2);
  dht.net().crash(gone);  // its item is never republished
  dht.net().run_for(std::chrono::minutes(150));
  EXPECT_GE(dht.node(kept).counters().republished, 2u);
  auto get = [&](const NodeId& key) {
    return dht.run<GetImmutableResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
      return n.get_immutable(key, now, cb);
    });
  };
  auto g = get(w->target);
  ASSERT_TRUE(g);
  ASSERT_TRUE(g->value) << "a republished item must outlive the stores' 2 h";
  EXPECT_EQ(*g->value, encoded(1));
  auto g2 = get(w2->target);
  ASSERT_TRUE(g2);
  EXPECT_FALSE(g2->value) << "an item nobody republishes expires after 2 h";
}

// Copies handed on carry their remaining lifetime (nexo_ttl, item_store.hpp): an item whose
// originator is gone expires 2 hours after its last put, however many newcomers arrive
// near its key and get a copy meanwhile. (Before, every copy handed on lived a fresh 2
// hours, so the item lived on for as long as newcomers kept arriving.)
TEST(NodeSim, CopiesHandedOnExpireWithTheOriginal) {
  Dht dht(43);
  dht.grow(60);
  fault::Random rng(19);
  const Slot origin = dht.random_live(rng);
  auto w = dht.run<WriteResult>(
      origin, [&](Node& n, Time now, auto cb) { return n.put_immutable(encoded(3), now, cb); });
  ASSERT_TRUE(w);
  const Time put_at = dht.net().now();
  dht.net().crash(origin);
  // Every 10 minutes a newcomer closer to the key than every node before it: the holders
  // replicate to it (on join) with what their copies have left.
  std::vector<Slot> newcomers;
  for (int i = 0; i < 11; ++i) {  // at 10, 20, ..., 110 minutes
    dht.net().run_until([] { return false; }, put_at + (i + 1) * 10min);
    NodeId::Bytes near = w->target.bytes();
    const unsigned d = 1u << (14 - i);
    near[18] ^= static_cast<std::uint8_t>(d >> 8);
    near[19] ^= static_cast<std::uint8_t>(d);
    newcomers.push_back(dht.join(NodeId(near)));
  }
  dht.net().run_until([] { return false; }, put_at + 2h - 1min);
  std::size_t newcomers_holding = 0;
  for (Slot s : newcomers)
    newcomers_holding += dht.node(s).item_store().get(w->target, dht.net().now()) != nullptr;
  EXPECT_GE(newcomers_holding, 4u) << "the newcomers got copies";
  dht.net().run_until([] { return false; }, put_at + 2h + 1s);
  EXPECT_EQ(dht.holders(w->target), 0u) << "no copy outlives the original put's 2 hours";
  auto g = dht.run<GetImmutableResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
    return n.get_immutable(w->target, now, cb);
  });
  ASSERT_TRUE(g);
  EXPECT_FALSE(g->value);
}

// Continuous churn (mean lifetime 30 s: every node is replaced by a newcomer, which
// bootstraps from a random live node) with re-replication every 20 s: items put before
// the churn starts are still found long after every original holder has died.
TEST(NodeSim, ItemsSurviveChurnThroughReplication) {
  Dht dht(31);
  dht.replication.interval = 20s;
  // The churn policy (sim::churn_config): contacts live 30 s, not hours (a contact unheard
  // of for 30 s is no longer good, so a newcomer's arrival gets it pinged and replaced),
  // one failure makes it bad, buckets are refreshed every minute, and a node whose table
  // holds fewer than 2k usable contacts looks up its own id every 5 s. Without that last
  // rule a newcomer whose contacts died right after its bootstrap stayed with one contact,
  // and its gets, answered by that one alone, missed (1 of 146 at the sanitizers' size).
  dht.tune = [](NodeConfig& c) { c = sim::churn_config(c, 30s); };
  dht.grow(kChurnNodes);
  fault::Random rng(13);
  constexpr int kItems = 10;
  std::vector<NodeId> keys;
  for (int i = 0; i < kItems; ++i) {
    auto w = dht.run<WriteResult>(dht.random_live(rng), [&](Node& n, Time now, auto cb) {
      return n.put_immutable(encoded(i), now, cb);
    });
    ASSERT_TRUE(w);
    keys.push_back(w->target);
  }
  const auto before = dht.net().counters().sent;

  sim::Churn churn(dht.net(), {.mean_lifetime = 30s, .seed = 77}, dht.factory());
  // The first kStable nodes stay (the DHT's well-known bootstrap nodes); newcomers
  // bootstrap from one of them.
  constexpr Slot kStable = 5;
  // Gets come from nodes that have joined (finished their bootstrap), as an application
  // waits for its node to join before using it.
  std::set<Slot> joined;
  for (Slot s : dht.live())
    joined.insert(s);
  churn.on_replace = [&](Slot gone, Slot born) {
    joined.erase(gone);
    const net::Endpoint seeds[] = {dht.net().address(static_cast<Slot>(rng.below(kStable)))};
    (void)dht.node(born).bootstrap(seeds, dht.net().now(),
                                   [&joined, born](Result<std::size_t> r, const OpStats&) {
                                     if (r) joined.insert(born);
                                   });
    dht.net().kick(born);
  };
  for (Slot s = kStable; s < dht.net().slots(); ++s)
    churn.add(s);
  auto census = [&](const char* when) {
    if (!std::getenv("NODE_SIM_DEBUG")) return;
    std::printf("%s:", when);
    for (const NodeId& key : keys) {
      int holders = 0, close = 0;
      const auto truth = dht.truth(key, sim::kNoSlot);
      for (Slot s : dht.live()) {
        if (!dht.node(s).item_store().get(key, dht.net().now())) continue;
        ++holders;
        close += std::find(truth.begin(), truth.end(), dht.node(s).id()) != truth.end();
      }
      std::printf(" %d/%d", holders, close);
    }
    std::printf("\n");
  };
  for (int t = 0; t < 12; ++t) {
    census("holders/among the 8 closest");
    dht.net().run_for(10s);  // most of the original holders are gone by the end
  }

  // Gets from random joined nodes, one every 100 ms; a get whose requester dies is not counted.
  int done = 0, found = 0, started = 0;
  for (int g = 0; g < kChurnGets; ++g) {
    dht.net().schedule(dht.net().now() + g * 100ms, [&, g](sim::Network& net) {
      auto it = joined.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(rng.below(joined.size())));
      const Slot s = *it;
      const int i = g % kItems;
      auto r = dht.node(s).get_immutable(
          keys[static_cast<std::size_t>(i)], net.now(),
          [&, i, s](Result<GetImmutableResult> got, const OpStats& st) {
            ++done;
            if (got && got->value && *got->value == encoded(i)) {
              ++found;
            } else if (std::getenv("NODE_SIM_DEBUG")) {
              const auto& c = dht.node(s).counters();
              std::printf(
                  "miss: slot %u table %zu, sent %u recv %u timeouts %u rounds %u, %.2f s; "
                  "node: unknown tid %llu wrong src %llu late %llu rl %llu refused %llu\n",
                  s, dht.node(s).routing_table().size(), st.sent, st.received, st.timeouts,
                  st.rounds, std::chrono::duration<double>(st.elapsed).count(),
                  static_cast<unsigned long long>(c.unknown_tid),
                  static_cast<unsigned long long>(c.wrong_source),
                  static_cast<unsigned long long>(c.late),
                  static_cast<unsigned long long>(c.rate_limited),
                  static_cast<unsigned long long>(c.refused_overloaded));
            }
          });
      if (r) ++started;
      net.kick(s);
    });
  }
  dht.net().run_for(kChurnGets * 100ms + 30s);
  churn.stop();
  std::uint64_t replications = 0, replicated_puts = 0;
  for (Slot s : dht.live()) {
    replications += dht.node(s).counters().replications;
    replicated_puts += dht.node(s).counters().replicated_puts;
  }
  const double seconds = std::chrono::duration<double>(120s + kChurnGets * 100ms + 30s).count();
  std::printf(
      "churn: %llu deaths, gets %d started, %d completed, %d found (%.2f%%); "
      "%.0f datagrams/s in all, live nodes' replication exchanges %llu, puts %llu\n",
      static_cast<unsigned long long>(churn.deaths()), started, done, found,
      done ? 100.0 * found / done : 0.0,
      static_cast<double>(dht.net().counters().sent - before) / seconds,
      static_cast<unsigned long long>(replications),
      static_cast<unsigned long long>(replicated_puts));
  EXPECT_GE(churn.deaths(), kChurnNodes);
  EXPECT_GT(done, kChurnGets * 8 / 10);  // the others' requester died during the get
  EXPECT_GE(found * 1000, done * 999);   // the target: 99.9%
}

}  // namespace
}  // namespace nexo::overlay
