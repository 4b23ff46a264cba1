// `nexo tour`, stop 10: an overlay. A Mainline DHT of 50 nodes on loopback (put, get, a
// third crashed, get again), multicast over it (Scribe), and Skype's super-peer tier on
// the simulator.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "nexo/overlay/node.hpp"
#include "nexo/overlay/scribe.hpp"
#include "nexo/overlay/super_peer_sim.hpp"
#include "nexo/overlay/udp_host.hpp"
#include "nexo/wire/bencode.hpp"
#include "tour_support.hpp"

namespace nexo::tool {

using namespace std::chrono_literals;
using namespace tour_kit;
using net::Endpoint;
using net::InetAddress;

void overlay_network() {
  using overlay::Node;
  using overlay::OpStats;
  stop("An overlay: a Mainline DHT of 50 nodes on loopback");
  say("An overlay has its own addresses and routing above IP. nexo's overlay/ speaks the");
  say("Mainline DHT's protocol (KRPC over UDP, BEP 5 and 44): 160-bit ids, XOR distance, and");
  say("iterative lookups that ask the closest nodes known for ever closer ones. Here 50 nodes");
  say("share one event loop, each with its own UDP socket on 127.0.0.1:");
  auto loop = check(io::EventLoop::create(), "an event loop");
  overlay::UdpHost host(*loop);
  constexpr std::size_t kNodes = 50;
  std::vector<overlay::UdpHost::Slot> slots;
  for (std::size_t i = 0; i < kNodes; ++i) {
    overlay::NodeConfig c;
    c.seed = 1000 + i;
    c.routing.one_contact_per_ip = false;  // every node is 127.0.0.1: tell them apart by port
    c.rate_limit.include_port = true;
    c.items.sources_include_port = true;
    slots.push_back(check(host.add(Endpoint(InetAddress::loopback(), 0),
                                   [&](const Endpoint& self) {
                                     return std::make_unique<Node>(self, overlay::Clock::now(), c);
                                   }),
                          "a node's socket"));
  }
  auto node = [&](std::size_t i) -> Node& { return static_cast<Node&>(host.node(slots[i])); };
  // Starts an operation on node i and runs the loop until it completes.
  auto run = [&]<class T>(std::size_t i, auto start, OpStats& stats, std::string_view what) {
    std::optional<Result<T>> out;
    check(start(node(i), overlay::Clock::now(),
                [&](Result<T> r, const OpStats& s) {
                  stats = s;
                  out.emplace(std::move(r));
                }),
          what);
    host.kick(slots[i]);
    run_loop(
        *loop, [&] { return out.has_value(); }, what);
    return check(std::move(*out), what);
  };

  const Endpoint first[] = {host.address(slots[0])};
  std::size_t contacts = 0;
  for (std::size_t i = 1; i < kNodes; ++i) {
    OpStats s;
    contacts += run.template operator()<std::size_t>(
        i, [&](Node& n, auto now, auto cb) { return n.bootstrap(first, now, std::move(cb)); }, s,
        "bootstrap");
  }
  show("49 nodes bootstrapped from node 0",
       "routing tables of " + std::to_string(contacts / (kNodes - 1)) + " contacts on average");

  const std::string value = overlay::encode_value(wire::bencode::Value("a value in the overlay"));
  OpStats put_stats;
  auto put = run.template operator()<overlay::WriteResult>(
      7, [&](Node& n, auto now, auto cb) { return n.put_immutable(value, now, std::move(cb)); },
      put_stats, "put");
  show("node 7 puts \"a value in the overlay\"", "key " + put.target.to_hex().substr(0, 16) + "…");
  show("   stored on the k closest nodes",
       std::to_string(put.stored) + " of " + std::to_string(put.attempted) + ", " +
           std::to_string(put_stats.rounds) + " rounds, " +
           std::to_string(put_stats.sent + put_stats.received) + " datagrams");
  auto get = [&](std::size_t from, std::string_view label) {
    OpStats s;
    auto got = run.template operator()<overlay::GetImmutableResult>(
        from,
        [&](Node& n, auto now, auto cb) { return n.get_immutable(put.target, now, std::move(cb)); },
        s, "get");
    const std::string text =
        got.value ? std::string(check(wire::bencode::decode(*got.value), "the value").string())
                  : std::string("NOT FOUND");
    show(label, text);
    show("   lookup cost",
         std::to_string(s.rounds) + " rounds, " + std::to_string(s.sent + s.received) +
             " datagrams, " +
             std::to_string(
                 std::chrono::duration_cast<std::chrono::milliseconds>(s.elapsed).count()) +
             " ms");
  };
  get(42, "node 42 gets it");

  say("");
  say("Now a third of the nodes crash (their sockets close without a word). The value lives on");
  say("k = 8 nodes, so copies remain; a lookup asks another node as soon as a contact is slower");
  say("than its measured round-trip time, and stops waiting for a silent one after two such");
  say("timeouts (about 20 ms on loopback), so a get after the crash costs milliseconds:");
  std::size_t killed = 0;
  for (std::size_t i = 1; i < kNodes; i += 3)
    if (i != 7 && i != 42) {
      host.remove(slots[i]);
      ++killed;
    }
  show("nodes crashed", std::to_string(killed) + " of " + std::to_string(kNodes));
  get(30, "node 30 gets it again");

  say("");
  say("Multicast where IP multicast is not available (Scribe): a topic's key (SHA-1 of its name)");
  say("names a rendezvous node, the live node closest to it; joins routed toward it build a tree");
  say("(a full node passes joiners to its children), and messages flow along the tree:");
  std::vector<std::string> heard;
  std::vector<std::unique_ptr<overlay::Scribe>> scribes(kNodes);  // destroyed before the nodes
  for (std::size_t i = 0; i < kNodes; ++i) {
    if (!host.alive(slots[i])) continue;
    scribes[i] = std::make_unique<overlay::Scribe>(node(i));
    scribes[i]->on_deliver = [&heard, i](const overlay::Delivery& d) {
      heard.push_back("node " + std::to_string(i) + " got \"" + d.payload + "\"");
    };
  }
  const std::size_t members[] = {3, 12, 20, 33, 45};
  for (std::size_t m : members) {
    check(scribes[m]->join("tour/news", overlay::Clock::now()), "join");
    host.kick(slots[m]);
  }
  const overlay::NodeId topic = overlay::Scribe::topic_key("tour/news");
  run_loop(
      *loop,
      [&] {
        return std::all_of(std::begin(members), std::end(members), [&](std::size_t m) {
          return scribes[m]->attached(topic) || scribes[m]->is_root(topic);
        });
      },
      "the multicast tree");
  std::size_t in_tree = 0;
  for (const auto& s : scribes)
    in_tree += s && s->in_tree(topic);
  show("nodes 3, 12, 20, 33, 45 join \"tour/news\"",
       std::to_string(in_tree) + " nodes in its tree");
  check(scribes[30]->publish("tour/news", "hello, members", overlay::Clock::now()), "publish");
  host.kick(slots[30]);
  run_loop(
      *loop, [&] { return heard.size() == std::size(members); }, "the multicast delivery");
  show("node 30 (no member) publishes", "\"hello, members\"");
  for (const auto& line : heard)
    show("   delivered", line);

  say("");
  say("Skype's super-peer tier, on the simulator (virtual time, 100 peers, 60% behind NATs that");
  say("take datagrams only from endpoints they sent to): a peer that stays up and is reachable");
  say("from a third node becomes a super peer and runs the DHT when the super peers it asks are");
  say("loaded; the others attach to one. A user's directory entry (name -> address, super");
  say("peer) is a signed mutable DHT item:");
  overlay::sim::SuperPeerRun tier_run({.peers = 100});
  tier_run.grow();
  tier_run.settle(5min);
  const overlay::sim::TierFigures tier = tier_run.tier();
  show("after 5 simulated minutes", std::to_string(tier.super_peers) + " super peers (" +
                                        std::to_string(tier.natted_supers) + " behind a NAT), " +
                                        std::to_string(tier.attached_well) + " of " +
                                        std::to_string(tier.ordinary) + " others attached");
  const overlay::sim::Reached reached = tier_run.message_each(tier_run.live());
  show("every user messaged by name",
       std::to_string(reached.delivered) + " of " + std::to_string(reached.sent) + " delivered, " +
           std::to_string(reached.relayed) + " relayed (the callee behind a NAT)");
  const overlay::sim::Crash crash = tier_run.crash_most_loaded(3);
  tier_run.settle(2min);
  std::size_t back = 0;
  for (auto s : crash.orphans)  // re-attached, or promoted: the crash raised the demand
    back += tier_run.attached_well(s) || tier_run.peer(s).role() == overlay::PeerRole::super;
  show("the 3 busiest super peers crash", std::to_string(back) + " of " +
                                              std::to_string(crash.orphans.size()) +
                                              " of their peers re-attached elsewhere (or "
                                              "promoted)");
  const overlay::sim::Reached again = tier_run.message_each(crash.orphans);
  show("   and found again by name", std::to_string(again.delivered) + " of " +
                                         std::to_string(again.sent) + " messages delivered");
  say("`nexo overlay superpeers --peers 1000` runs it larger.");
}

}  // namespace nexo::tool
