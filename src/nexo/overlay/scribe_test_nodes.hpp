// For Scribe's tests: a simulated node that is a Node with a Scribe on it, recording what
// it delivers, and a Group of them on sim::Network that grows by bootstrapping from slot 0
// and answers by brute force what the tree should look like.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nexo/overlay/node.hpp"
#include "nexo/overlay/scribe.hpp"
#include "nexo/overlay/sim_network.hpp"

namespace nexo::overlay::scribe_test {

using namespace std::chrono_literals;
using sim::Slot;

class ScribeHost final : public DatagramNode {
 public:
  ScribeHost(const net::Endpoint& self, Time now, const NodeConfig& node_config,
             const ScribeConfig& scribe_config)
      : node(self, now, node_config), scribe(node, scribe_config) {
    scribe.on_deliver = [this](const Delivery& d) { got.push_back(d); };
  }
  void on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from,
                   Time now) override {
    node.on_datagram(datagram, from, now);
  }
  void on_timer(Time now) override { node.on_timer(now); }
  std::optional<Time> next_timer() const override { return node.next_timer(); }
  bool poll_transmit(Bytes& out, net::Endpoint& to) override { return node.poll_transmit(out, to); }
  // How many times (publisher id, sequence) was delivered here.
  std::size_t count(const NodeId& publisher, std::int64_t sequence) const {
    return static_cast<std::size_t>(std::count_if(got.begin(), got.end(), [&](const Delivery& d) {
      return d.publisher.id == publisher && d.sequence == sequence;
    }));
  }

  Node node;  // declared first: the Scribe goes first
  Scribe scribe;
  std::vector<Delivery> got;
};

class Group {
 public:
  explicit Group(std::uint64_t seed, double loss = 0) : net_({.seed = seed}), seed_(seed) {
    net_.set_loss(loss);
  }

  NodeConfig node_config(Slot slot) const {
    NodeConfig c;
    c.seed = seed_ * 7919 + slot;
    c.query_timeout = 1s;
    c.max_operations = 1024;
    c.rate_limit.rate = 0;  // a root answers many children
    if (tune_node) tune_node(c);
    return c;
  }
  sim::Factory factory() {
    return [this](const net::Endpoint& self) {
      const Slot slot = sim::slot_of(self.address()).value();
      return std::make_unique<ScribeHost>(self, net_.now(), node_config(slot), scribe);
    };
  }
  ScribeHost& host(Slot slot) { return static_cast<ScribeHost&>(net_.node(slot)); }
  sim::Network& net() { return net_; }
  bool alive(Slot s) const { return net_.state(s) == sim::NodeState::alive; }

  // Adds n nodes, each bootstrapping from slot 0, `gap` apart; runs until all are done.
  void grow(std::size_t n, Duration gap = 10ms) {
    const Slot first = net_.add(factory());
    std::size_t done = 0;
    for (std::size_t i = 1; i < n; ++i) {
      net_.schedule(net_.now() + i * gap, [&, first](sim::Network& net) {
        const Slot slot = net.add(factory());
        bootstrap(slot, first, [&] { ++done; });
      });
    }
    ASSERT_TRUE(net_.run_until([&] { return done == n - 1; }, net_.now() + n * gap + 120s))
        << done << " of " << n - 1 << " bootstraps done";
    net_.run_for(10s);
  }
  void bootstrap(Slot slot, Slot from, std::function<void()> done = {}) {
    const net::Endpoint seeds[] = {net_.address(from)};
    auto started =
        host(slot).node.bootstrap(seeds, net_.now(), [done](Result<std::size_t>, const OpStats&) {
          if (done) done();
        });
    EXPECT_TRUE(started);
    net_.kick(slot);
  }

  std::vector<Slot> live() const {
    std::vector<Slot> slots;
    for (Slot s = 0; s < net_.slots(); ++s)
      if (alive(s)) slots.push_back(s);
    return slots;
  }
  // The live node closest to `key`.
  Slot closest(const NodeId& key) {
    Slot best = sim::kNoSlot;
    for (Slot s : live())
      if (best == sim::kNoSlot || closer_to(key, host(s).node.id(), host(best).node.id())) best = s;
    return best;
  }
  void join(Slot s, const std::string& topic) {
    ASSERT_TRUE(host(s).scribe.join(topic, net_.now()));
    net_.kick(s);
  }
  // Slots first, first + step, ... below end.
  static std::vector<Slot> every(Slot first, Slot step, Slot end) {
    std::vector<Slot> slots;
    for (Slot s = first; s < end; s += step)
      slots.push_back(s);
    return slots;
  }
  // `members` join `topic`; runs until its tree has converged over them (a minute at
  // most): whether it did.
  bool join_and_converge(const std::vector<Slot>& members, const std::string& topic) {
    for (Slot m : members) {
      if (!host(m).scribe.join(topic, net_.now())) return false;
      net_.kick(m);
    }
    const NodeId key = Scribe::topic_key(topic);
    return net_.run_until([&] { return converged(key, members); }, net_.now() + 60s);
  }
  // Publishes from `s`; returns the sequence.
  std::int64_t publish(Slot s, const std::string& topic, const std::string& text) {
    auto seq = host(s).scribe.publish(topic, text, net_.now());
    EXPECT_TRUE(seq) << seq.error().to_string();
    net_.kick(s);
    return seq ? *seq : -1;
  }

  // Shape of the tree of `key` over the live nodes.
  struct Shape {
    std::size_t in_tree = 0, roots = 0, max_children = 0, max_depth = 0, attached = 0;
  };
  Shape shape(const NodeId& key) {
    Shape s;
    for (Slot slot : live()) {
      const Scribe& sc = host(slot).scribe;
      if (!sc.in_tree(key)) continue;
      ++s.in_tree;
      s.roots += sc.is_root(key);
      s.attached += sc.attached(key);
      s.max_children = std::max(s.max_children, sc.children(key).size());
      if (auto d = sc.depth(key)) s.max_depth = std::max(s.max_depth, *d);
    }
    return s;
  }
  // Whether `s` reaches the root by its parent links, every node on the way alive and
  // naming the next as its parent.
  bool connected(const NodeId& key, Slot s) {
    for (int hops = 0; hops < 64; ++hops) {
      if (!alive(s)) return false;
      const Scribe& sc = host(s).scribe;
      if (sc.is_root(key)) return true;
      auto parent = sc.parent(key);
      if (!sc.attached(key) || !parent) return false;
      auto next = net_.find(parent->endpoint);
      if (!next) return false;
      s = *next;
    }
    return false;  // a loop
  }
  // One root, the live node closest to the key, and every live member connected to it.
  bool converged(const NodeId& key, const std::vector<Slot>& members) {
    if (!host(closest(key)).scribe.is_root(key)) return false;
    for (Slot m : members)
      if (alive(m) && !connected(key, m)) return false;
    return shape(key).roots == 1;
  }
  // Why `m` is not connected: its chain of parents, for a failing test.
  std::string chain(const NodeId& key, Slot s) {
    std::string out;
    for (int hops = 0; hops < 16; ++hops) {
      out += "slot " + std::to_string(s);
      if (!alive(s)) return out + " (dead)";
      const Scribe& sc = host(s).scribe;
      out += " (" + sc.describe(key, net_.now()) + ", ops " +
             std::to_string(host(s).node.operations_in_progress()) + ", queries " +
             std::to_string(host(s).node.outstanding_queries()) + ", rejoins " +
             std::to_string(sc.counters().rejoins) + " silent " +
             std::to_string(sc.counters().parent_silent) + ", loops " +
             std::to_string(sc.counters().loops_detected) + "/" +
             std::to_string(sc.counters().loops_refused) + ", joins " +
             std::to_string(sc.counters().joins_sent) + ", roots " +
             std::to_string(sc.counters().became_root) + ")";
      auto parent = sc.parent(key);
      if (!parent) return out;
      auto next = net_.find(parent->endpoint);
      if (!next) return out + " -> ?";
      out += " -> ";
      s = *next;
    }
    return out + "...";
  }

  ScribeConfig scribe;
  std::function<void(NodeConfig&)> tune_node;

 private:
  sim::Network net_;
  std::uint64_t seed_;
};

}  // namespace nexo::overlay::scribe_test
