// Peer (super_peer.hpp) by hand: crafted queries to a super peer (the attach limit and
// its KRPC error, bad arguments answered 203/206 and counted, keep-alives and relays for
// peers it does not know, 204 for methods an ordinary peer does not serve), directory
// entries encoded and decoded; and a handful of peers on sim::Network: a peer behind the
// NAT model is never promoted while a reachable one is, messages go direct to a reachable
// callee and through the super peer to a NATed one, and a super peer drops a peer whose
// keep-alives stop.
#include "nexo/overlay/super_peer.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "nexo/overlay/sim_network.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;
using sim::Slot;

const Time t0 = Time{} + 24h;

net::Endpoint ep(std::uint8_t last) {
  return net::Endpoint(net::InetAddress::v4({10, 0, 0, last}), 6881);
}

SigningKey key_for(std::uint32_t n) {
  KeySeed seed{};
  seed[0] = static_cast<std::uint8_t>(n);
  seed[1] = static_cast<std::uint8_t>(n >> 8);
  seed[31] = 0x5a;
  return SigningKey::from_seed(seed);
}

std::string name_for(std::uint32_t n) {
  return "user" + std::to_string(n);
}

std::vector<krpc::Message> drain(DatagramNode& node) {
  std::vector<krpc::Message> out;
  Bytes bytes;
  net::Endpoint to;
  while (node.poll_transmit(bytes, to))
    if (auto m = krpc::parse(bytes)) out.push_back(std::move(*m));
  return out;
}

// Sends an extension query to `peer` from `from`; the reply to it.
krpc::Message ask(Peer& peer, const net::Endpoint& from, std::string method, bencode::Dict args,
                  Time now = t0) {
  krpc::Message q;
  q.tid = *krpc::Tid::from("zz");
  q.read_only = true;
  q.body = krpc::extension(NodeId{}, std::move(method), std::move(args));
  wire::Buffer out;
  krpc::encode(q, {}, out);
  peer.on_datagram(as_bytes(out.text()), from, now);
  for (auto& m : drain(peer))
    if (m.kind() != krpc::Kind::query && m.tid.view() == "zz") return m;
  ADD_FAILURE() << method << ": no reply";
  return {};
}

std::string compact_of(const net::Endpoint& endpoint) {
  std::string out;
  append_compact_peer(out, endpoint);
  return out;
}

std::int64_t code_of(const krpc::Message& m) {
  return m.error() ? m.error()->code : 0;
}

TEST(SuperPeer, DirectoryEntryRoundTripsAndRefusesBadValues) {
  const DirectoryEntry entry{ep(3), ep(9), true, 0};
  auto item = MutableItem::sign(key_for(1), "alice", 7, encode_entry(entry));
  ASSERT_TRUE(item);
  auto back = decode_entry(*item);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->address, ep(3));
  EXPECT_EQ(back->super_peer, ep(9));
  EXPECT_TRUE(back->reachable);
  EXPECT_EQ(back->seq, 7);
  auto bad = MutableItem::sign(key_for(1), "alice", 8, bencode::Dict{{"a", "short"}});
  ASSERT_TRUE(bad);
  EXPECT_FALSE(decode_entry(*bad));
}

TEST(SuperPeer, AttachLimitIsAKrpcErrorNamingWhy) {
  Peer super(ep(1), t0, "boot", key_for(1), {}, {.bootstrap = true, .max_attached = 2});
  drain(super);
  EXPECT_EQ(super.role(), PeerRole::super);
  for (std::uint8_t who : {2, 3}) {
    auto r = ask(super, ep(who), "nexo_attach", {});
    ASSERT_NE(r.response(), nullptr);
    const auto* a = r.response()->extra.find("a");
    ASSERT_TRUE(a && a->is_string());
    EXPECT_EQ(decode_compact_peer(a->string()).value(), ep(who));  // as the super peer sees it
  }
  auto refused = ask(super, ep(4), "nexo_attach", {});
  ASSERT_NE(refused.error(), nullptr);
  EXPECT_EQ(refused.error()->code, 201);
  EXPECT_NE(refused.error()->message.find("full"), std::string::npos) << refused.error()->message;
  EXPECT_EQ(super.attached(), 2u);
  EXPECT_EQ(super.counters().refused_full, 1u);
  // Attaching again is a refresh, not a new slot; a keep-alive from a stranger is refused.
  EXPECT_NE(ask(super, ep(2), "nexo_attach", {}).response(), nullptr);
  EXPECT_EQ(code_of(ask(super, ep(4), "nexo_keepalive", {})), 201);
  EXPECT_NE(ask(super, ep(3), "nexo_keepalive", {{"w", 1}}).response(), nullptr);
  // Silent peers are dropped after attached_timeout (60 s).
  super.on_timer(t0 + 2min);
  drain(super);
  EXPECT_EQ(super.attached(), 0u);
  EXPECT_EQ(super.counters().dropped_silent, 2u);
}

TEST(SuperPeer, BadArgumentsAreAnsweredWithKrpcErrorsAndCounted) {
  Peer super(ep(1), t0, "boot", key_for(1), {}, {.bootstrap = true});
  drain(super);
  ASSERT_NE(ask(super, ep(2), "nexo_attach", {}).response(), nullptr);
  std::uint64_t bad = 0;
  auto expect_bad = [&](std::string method, bencode::Dict args, std::int64_t code = 203) {
    const auto r = ask(super, ep(2), method, std::move(args));
    EXPECT_EQ(code_of(r), code) << method;
    EXPECT_EQ(super.counters().bad_arguments, ++bad) << method;
  };
  expect_bad("nexo_relay", {{"t", "12345"}, {"m", "hi"}, {"f", "x"}});               // 5-byte peer
  expect_bad("nexo_relay", {{"t", std::string(6, '\0')}, {"m", "hi"}, {"f", "x"}});  // port 0
  expect_bad("nexo_relay", {{"t", 7}, {"m", "hi"}, {"f", "x"}});                     // not a string
  expect_bad("nexo_relay", {{"t", compact_of(ep(2))}, {"m", std::string(5000, 'x')}, {"f", "x"}});
  expect_bad("nexo_probe", {{"n", "abc"}, {"x", ""}});
  expect_bad("nexo_probe", {{"n", "12345678"}, {"x", "1234567"}});  // not whole peers
  expect_bad("nexo_lookup", {{"k", std::string(31, 'k')}, {"salt", "alice"}});
  expect_bad("nexo_lookup", {{"k", std::string(32, 'k')}, {"salt", std::string(65, 's')}});
  expect_bad("nexo_publish", {{"k", std::string(32, 'k')}, {"salt", "alice"}, {"seq", "one"}});
  expect_bad("nexo_publish",
             {{"k", std::string(32, 'k')},
              {"salt", "alice"},
              {"seq", 1},
              {"v", 1},
              {"sig", std::string(64, 's')}},
             206);  // a signature that does not verify
  expect_bad("nexo_deliver", {{"m", 5}, {"f", "x"}});
  expect_bad("nexo_probe_send", {{"t", compact_of(ep(9))}});  // no nonce
  // Well-formed, refused for what they ask: not counted as bad.
  EXPECT_EQ(
      code_of(ask(super, ep(2), "nexo_relay", {{"t", compact_of(ep(9))}, {"m", "hi"}, {"f", "x"}})),
      201);  // callee not attached here
  EXPECT_EQ(
      code_of(ask(super, ep(5), "nexo_lookup", {{"k", std::string(32, 'k')}, {"salt", "alice"}})),
      201);  // asker not attached
  EXPECT_EQ(code_of(ask(super, ep(2), "nexo_frobnicate", {})), 204);
  EXPECT_EQ(super.counters().bad_arguments, bad);
  EXPECT_EQ(super.counters().relay_refused, 1u);
}

TEST(SuperPeer, RelaysAreBoundedPerSourceAndForwardedToTheAttachedCallee) {
  Peer super(ep(1), t0, "boot", key_for(1), {},
             {.bootstrap = true, .relay_rate = 0.1, .relay_burst = 2});
  drain(super);
  ASSERT_NE(ask(super, ep(3), "nexo_attach", {}).response(), nullptr);
  auto relay = [&](std::uint8_t from) {
    krpc::Message q;
    q.tid = *krpc::Tid::from("r" + std::to_string(from));
    q.read_only = true;  // as ordinary peers send it (else the node pings a new contact)
    q.body = krpc::extension(NodeId{}, "nexo_relay",
                             {{"t", compact_of(ep(3))}, {"m", "hi"}, {"f", "x"}});
    wire::Buffer out;
    krpc::encode(q, {}, out);
    super.on_datagram(as_bytes(out.text()), ep(from), t0);
    return drain(super);
  };
  // The first two from ep(2) are forwarded to the callee (answered when it acknowledges).
  for (int i = 0; i < 2; ++i) {
    auto sent = relay(2);
    ASSERT_EQ(sent.size(), 1u);
    ASSERT_NE(sent[0].query(), nullptr);
    EXPECT_EQ(sent[0].query()->name, "nexo_deliver");
  }
  auto refused = relay(2);  // over ep(2)'s rate: refused at once
  ASSERT_EQ(refused.size(), 1u);
  ASSERT_NE(refused[0].error(), nullptr);
  EXPECT_EQ(refused[0].error()->code, 202);
  auto other = relay(4);  // another source has its own bucket
  ASSERT_EQ(other.size(), 1u);
  EXPECT_NE(other[0].query(), nullptr);
  EXPECT_EQ(super.counters().relay_refused, 1u);
}

TEST(SuperPeer, OrdinaryPeerServesOnlyItsOwnQueries) {
  // An ordinary peer that found no super peer: read-only, answers deliver, refuses a probe
  // request from anyone but its super peer, answers 204 to what super peers serve.
  Peer peer(ep(2), t0, "bob", key_for(2), {ep(1)}, {});
  drain(peer);
  EXPECT_EQ(peer.role(), PeerRole::ordinary);
  std::vector<std::string> got;
  peer.set_message_handler([&](const std::string& from, const std::string& text, Time) {
    got.push_back(from + ":" + text);
  });
  EXPECT_NE(ask(peer, ep(7), "nexo_deliver", {{"m", "hello"}, {"f", "carol"}}).response(), nullptr);
  EXPECT_EQ(got, std::vector<std::string>{"carol:hello"});
  EXPECT_EQ(peer.counters().delivered_direct, 1u);
  EXPECT_EQ(
      code_of(ask(peer, ep(7), "nexo_probe_send", {{"t", compact_of(ep(8))}, {"n", "12345678"}})),
      201);
  EXPECT_EQ(code_of(ask(peer, ep(7), "nexo_attach", {})), 204);
  EXPECT_EQ(code_of(ask(peer, ep(7), "nexo_relay", {})), 204);
  // A probe ping that matches no probe of ours proves nothing.
  EXPECT_NE(ask(peer, ep(7), "nexo_probe_ping", {{"n", "12345678"}}).response(), nullptr);
  EXPECT_EQ(peer.counters().probe_pings_ignored, 1u);
  EXPECT_FALSE(peer.reachable());
  EXPECT_FALSE(peer.send_message("", peer.public_key(), "x", t0, nullptr));
  EXPECT_FALSE(peer.send_message("al", peer.public_key(), std::string(5000, 'x'), t0, nullptr));
}

// --- A few peers on the simulator.

class Small {
 public:
  explicit Small(SuperPeerConfig config) : config_(config) {}
  // A peer at a new address; user `user` (its name and key), by default the slot's own.
  // Its entry point is slot `entry` (the bootstrap super peer by default).
  Slot add(bool bootstrap, bool behind_nat, std::optional<std::uint32_t> user = std::nullopt,
           Slot entry = 0) {
    const Slot slot = static_cast<Slot>(net_.slots());
    const std::uint32_t who = user.value_or(slot);
    SuperPeerConfig c = config_;
    c.bootstrap = bootstrap;
    std::vector<net::Endpoint> entries;
    if (!bootstrap) entries.push_back(sim::address_of(entry));
    const Slot added = net_.add([&](const net::Endpoint& self) {
      NodeConfig n;
      n.seed = 100 + slot;
      n.query_timeout = 3s;
      return std::make_unique<Peer>(self, net_.now(), name_for(who), key_for(who), entries, c, n);
    });
    if (behind_nat) net_.set_behind_nat(added, true);
    return added;
  }
  Peer& peer(Slot s) { return static_cast<Peer&>(net_.node(s)); }
  sim::Network& net() { return net_; }

  // Resolves `user` from `from` and runs until the callback.
  Result<DirectoryEntry> resolve(Slot from, std::uint32_t user) {
    std::optional<Result<DirectoryEntry>> out;
    auto started = peer(from).resolve(name_for(user), key_for(user).public_key(), net_.now(),
                                      [&](Result<DirectoryEntry> r) { out.emplace(std::move(r)); });
    if (!started) return started.error();
    net_.kick(from);
    net_.run_until([&] { return out.has_value(); }, net_.now() + 120s);
    if (!out) return Error(ErrorKind::timed_out, "no callback");
    return std::move(*out);
  }

  // Sends from `from` to `to` by name and runs until the callback.
  Result<DeliveryReport> message(Slot from, Slot to, const std::string& text) {
    std::optional<Result<DeliveryReport>> out;
    auto started =
        peer(from).send_message(peer(to).name(), peer(to).public_key(), text, net_.now(),
                                [&](Result<DeliveryReport> r) { out.emplace(std::move(r)); });
    if (!started) return started.error();
    net_.kick(from);
    net_.run_until([&] { return out.has_value(); }, net_.now() + 120s);
    if (!out) return Error(ErrorKind::timed_out, "no callback");
    return std::move(*out);
  }

 private:
  SuperPeerConfig config_;
  sim::Network net_{{.seed = 5}};
};

TEST(SuperPeer, BehindNatNeverPromotedReachableIsAndMessagesGoTheRightWay) {
  Small world({.min_uptime = 30s});
  const Slot boot = world.add(true, false);
  const Slot open = world.add(false, false);
  const Slot natted = world.add(false, true);
  const Slot other = world.add(false, true);
  world.net().run_for(3min);

  EXPECT_EQ(world.peer(boot).role(), PeerRole::super);
  EXPECT_EQ(world.peer(open).role(), PeerRole::super);
  EXPECT_EQ(world.peer(open).reachable(), true);
  for (Slot s : {natted, other}) {
    EXPECT_EQ(world.peer(s).role(), PeerRole::ordinary) << s;
    EXPECT_EQ(world.peer(s).reachable(), false) << s;
    EXPECT_TRUE(world.peer(s).super_peer()) << s;
    EXPECT_GE(world.peer(s).counters().probes, 1u);
  }
  // To a super peer (reachable): direct. To a NATed peer: relayed by its super peer.
  std::vector<std::string> got;
  world.peer(natted).set_message_handler([&](const std::string& from, const std::string& text,
                                             Time) { got.push_back(from + ":" + text); });
  auto direct = world.message(other, open, "to the open one");
  ASSERT_TRUE(direct) << direct.error().to_string();
  EXPECT_FALSE(direct->relayed);
  auto relayed = world.message(open, natted, "through your super peer");
  ASSERT_TRUE(relayed) << relayed.error().to_string();
  EXPECT_TRUE(relayed->relayed);
  EXPECT_EQ(relayed->via, *world.peer(natted).super_peer());
  EXPECT_EQ(got, std::vector<std::string>{name_for(open) + ":through your super peer"});
  auto both_natted = world.message(other, natted, "nat to nat");
  ASSERT_TRUE(both_natted) << both_natted.error().to_string();
  EXPECT_TRUE(both_natted->relayed);
  EXPECT_EQ(world.peer(natted).counters().delivered_relayed, 2u);
  // To a user nobody published: the sender learns it failed.
  std::optional<Result<DeliveryReport>> out;
  ASSERT_TRUE(
      world.peer(open).send_message("nobody", key_for(99).public_key(), "x", world.net().now(),
                                    [&](Result<DeliveryReport> r) { out.emplace(std::move(r)); }));
  world.net().kick(open);
  world.net().run_until([&] { return out.has_value(); }, world.net().now() + 60s);
  ASSERT_TRUE(out);
  EXPECT_FALSE(*out);
}

// A user that restarts (same name and key, a new address, seq from 1) while its old entry
// is stored at a higher seq: it gets the stored entry first and puts seq + 1 over it, so
// it is found again at once, not after its seq has crept past the stored one.
TEST(SuperPeer, RestartedUserIsFoundAgainByNameAtItsNewAddress) {
  Small world({.min_uptime = 30s, .republish = 30s});
  const Slot boot = world.add(true, false);
  for (int i = 0; i < 3; ++i)
    world.add(false, false);
  const Slot user = world.add(false, true);
  world.net().run_for(6min);
  const std::int64_t old_seq = world.peer(user).entry_seq();
  ASSERT_GE(old_seq, 8);  // published after the probe, then every 30 s
  auto before = world.resolve(boot, user);
  ASSERT_TRUE(before) << before.error().to_string();
  EXPECT_EQ(before->address, world.net().address(user));

  world.net().crash(user);
  const Slot again = world.add(false, true, /*user=*/user);
  world.net().run_for(20s);  // attach, probe (5 s without a ping: not reachable), publish
  Peer& restarted = world.peer(again);
  EXPECT_GT(restarted.entry_seq(), old_seq);
  EXPECT_GE(restarted.counters().seq_syncs, 1u);
  auto after = world.resolve(boot, user);
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_EQ(after->address, world.net().address(again));
  ASSERT_TRUE(restarted.super_peer());
  EXPECT_EQ(after->super_peer, *restarted.super_peer());
  EXPECT_GT(after->seq, old_seq);
  std::vector<std::string> got;
  restarted.set_message_handler([&](const std::string& from, const std::string& text, Time) {
    got.push_back(from + ":" + text);
  });
  auto sent = world.message(boot, again, "welcome back");
  ASSERT_TRUE(sent) << sent.error().to_string();
  EXPECT_EQ(got, std::vector<std::string>{name_for(boot) + ":welcome back"});
}

// The UDP test's flake, on the simulator. In a DHT of three super peers, one closes. The
// survivor S1 never queries it again, so it stays a good contact there and S1 names it in
// every reply; S2, which serves an ordinary peer's lookups, found it dead (bad after two
// failures, each failure backing its RTO off further). Were S2's gets to ask it again
// because S1 named it, each get would wait two backed-off RTOs (up to 8 s each) on it and
// outlast the ordinary peer's service_timeout: every lookup through S2 timed out though
// S2 stored the entry. A lookup now asks a candidate its own table holds as bad once, on
// the node-wide RTO, without a retry.
TEST(SuperPeer, LookupsThroughASurvivorAnswerAfterASuperPeerClosesInADhtOfThree) {
  SuperPeerConfig config{.min_uptime = 30s, .demand_check = 1h};
  config.probe_retry = 5s;      // a world this small has few probers
  config.service_timeout = 4s;  // above the nodes' query_timeout (3 s), as the UDP test's
  Small world(config);
  const Slot boot = world.add(true, false);
  const Slot s1 = world.add(false, false);
  const Slot s2 = world.add(false, false);
  const Slot prober1 = world.add(false, true);  // a world this small needs probers
  const Slot prober2 = world.add(false, true);
  world.net().run_for(3min);  // both promoted: fewer than min_supers (3) super peers known
  for (Slot s : {s1, s2})
    ASSERT_EQ(world.peer(s).role(), PeerRole::super)
        << s << " reachable " << world.peer(s).reachable().value_or(false) << " probes "
        << world.peer(s).counters().probes;
  const Slot asker = world.add(false, true, std::nullopt, s2);  // behind a NAT: stays ordinary
  world.net().run_for(30s);
  ASSERT_EQ(world.peer(asker).super_peer(), world.net().address(s2));
  for (Slot s : {boot, prober1, prober2})  // no orphan fails over to S1: it stays idle
    world.net().crash(s);
  for (int i = 0; i < 10; ++i) {  // apart: each query to the closed one fails for good
    auto entry = world.resolve(asker, s1);
    ASSERT_TRUE(entry) << "lookup " << i << ": " << entry.error().to_string();
    EXPECT_EQ(entry->address, world.net().address(s1));
    world.net().run_for(10s);
  }
  EXPECT_GE(world.peer(s2).node().counters().lookup_bad_candidates, 1u);
}

// nexo_detach: an attached peer that leaves frees its slot at once (not after
// attached_timeout); a detach from a stranger is refused 201 and counted, a bad one 203.
TEST(SuperPeer, DetachFreesTheSlotAtOnceAndIsChecked) {
  Peer super(ep(1), t0, "boot", key_for(1), {}, {.bootstrap = true});
  drain(super);
  for (std::uint8_t who : {2, 3})
    ASSERT_NE(ask(super, ep(who), "nexo_attach", {}).response(), nullptr);
  EXPECT_NE(ask(super, ep(2), "nexo_detach", {}, t0 + 1s).response(), nullptr);
  EXPECT_EQ(super.attached(), 1u);
  EXPECT_FALSE(super.is_attached(ep(2)));
  EXPECT_EQ(super.counters().detached, 1u);
  EXPECT_EQ(code_of(ask(super, ep(2), "nexo_keepalive", {}, t0 + 2s)), 201);  // gone
  EXPECT_EQ(code_of(ask(super, ep(9), "nexo_detach", {}, t0 + 2s)), 201);
  EXPECT_EQ(super.counters().detach_unknown, 1u);
  EXPECT_EQ(code_of(ask(super, ep(3), "nexo_detach", {{"s", "12345"}}, t0 + 2s)), 203);
  EXPECT_EQ(code_of(ask(super, ep(3), "nexo_detach", {{"s", 7}}, t0 + 2s)), 203);
  EXPECT_EQ(super.counters().bad_arguments, 2u);
  EXPECT_TRUE(super.is_attached(ep(3)));  // a bad detach changes nothing
}

// The other way: an ordinary peer told by its super peer to move (it is leaving) drops it
// at once and tries first the super peers it named; from anyone else the order is refused.
TEST(SuperPeer, OrdinaryPeerToldToMoveTriesTheNamedSuperPeersFirst) {
  Peer peer(ep(2), t0, "bob", key_for(2), {ep(1)}, {});
  auto sent = drain(peer);
  ASSERT_EQ(sent.size(), 1u);  // nexo_attach to its entry point
  krpc::Message accept;
  accept.tid = sent[0].tid;
  krpc::Response r;
  r.id = NodeId{};
  r.extra = {{"a", compact_of(ep(2))}};
  accept.body = r;
  wire::Buffer out;
  krpc::encode(accept, {}, out);
  peer.on_datagram(as_bytes(out.text()), ep(1), t0);
  drain(peer);
  ASSERT_EQ(peer.super_peer(), ep(1));
  EXPECT_EQ(code_of(ask(peer, ep(7), "nexo_detach", {}, t0 + 1s)), 201);
  EXPECT_EQ(peer.counters().detach_unknown, 1u);
  EXPECT_EQ(peer.super_peer(), ep(1));
  const NodeInfo next{NodeId{}, ep(5)};
  EXPECT_NE(ask(peer, ep(1), "nexo_detach",
                {{"s", encode_compact_nodes({&next, 1}, net::Family::v4)}}, t0 + 1s)
                .response(),
            nullptr);
  EXPECT_EQ(peer.counters().moved, 1u);
  EXPECT_FALSE(peer.super_peer());
  ASSERT_FALSE(peer.standbys().empty());
  EXPECT_EQ(peer.standbys().front(), ep(5));
}

// A peer promoted to super peer detaches from its old super peer, which frees the slot at
// once (before attached_timeout).
TEST(SuperPeer, PromotedPeerDetachesFromItsOldSuperPeer) {
  SuperPeerConfig config{.min_uptime = 30s, .demand_check = 1h};
  config.probe_retry = 5s;
  config.attached_timeout = 10min;  // a slot freed within the test was freed by the detach
  Small world(config);
  const Slot boot = world.add(true, false);
  const Slot open = world.add(false, false);
  world.add(false, true);  // probers
  world.add(false, true);
  world.net().run_for(3min);
  ASSERT_EQ(world.peer(open).role(), PeerRole::super);
  EXPECT_GE(world.peer(open).counters().detaches, 1u);
  EXPECT_FALSE(world.peer(boot).is_attached(world.net().address(open)));
  EXPECT_EQ(world.peer(boot).counters().detached, 1u);
  EXPECT_EQ(world.peer(boot).counters().dropped_silent, 0u);
}

// A super peer that closes gracefully tells its peers to move (they re-attach at once,
// not after max_missed keep-alives) and hands what it stores to the others first: every
// user is found by name afterwards, its entry naming its new super peer.
TEST(SuperPeer, ClosingSuperPeerMovesItsPeersAndHandsOverWhatItStores) {
  SuperPeerConfig config{.min_uptime = 30s, .demand_check = 1h};
  config.probe_retry = 5s;
  Small world(config);
  const Slot boot = world.add(true, false);
  const Slot s1 = world.add(false, false);
  const Slot s2 = world.add(false, false);
  world.add(false, true);  // probers
  world.add(false, true);
  world.net().run_for(3min);
  for (Slot s : {s1, s2})
    ASSERT_EQ(world.peer(s).role(), PeerRole::super) << s;
  std::vector<Slot> users;
  for (int i = 0; i < 3; ++i)
    users.push_back(world.add(false, true, std::nullopt, s1));
  world.net().run_for(30s);
  for (Slot u : users)
    ASSERT_EQ(world.peer(u).super_peer(), world.net().address(s1)) << u;
  const std::size_t stored = world.peer(s1).node().item_store().item_count();
  ASSERT_GE(stored, users.size());

  bool done = false;
  world.peer(s1).close(world.net().now(), [&] { done = true; });
  world.peer(s1).close(world.net().now(), [&] { ADD_FAILURE() << "second close"; });
  world.net().kick(s1);
  world.net().run_for(3s);  // well within one keep-alive interval (15 s)
  EXPECT_TRUE(done);
  EXPECT_TRUE(world.peer(s1).closed());
  EXPECT_EQ(world.peer(s1).counters().peers_moved, users.size());
  EXPECT_EQ(world.peer(s1).counters().handed_over, stored);
  EXPECT_EQ(world.peer(s1).counters().hand_over_failed, 0u);
  EXPECT_TRUE(world.peer(s1).node().config().read_only);
  for (Slot u : users) {
    Peer& p = world.peer(u);
    EXPECT_EQ(p.counters().moved, 1u) << u;
    EXPECT_EQ(p.counters().failovers, 0u) << u;
    ASSERT_TRUE(p.super_peer()) << u;
    EXPECT_NE(*p.super_peer(), world.net().address(s1)) << u;
  }
  world.net().crash(s1);
  world.net().run_for(10s);  // the entries follow
  for (Slot u : users) {
    auto entry = world.resolve(boot, u);
    ASSERT_TRUE(entry) << u << ": " << entry.error().to_string();
    EXPECT_EQ(entry->super_peer, *world.peer(u).super_peer()) << u;
  }
}

// Demotion: a super peer promoted while every super peer was loaded sits idle. While the
// others stay loaded it is needed; once their peers leave, an idle one returns to
// ordinary (read-only, attached to another super peer, found by name there), as long as
// min_supers others remain.
TEST(SuperPeer, IdleSuperPeerReturnsToOrdinaryOnlyWhenOthersHaveRoom) {
  SuperPeerConfig config{.min_uptime = 20s,
                         .peers_per_super = 1,  // one attached peer is a super peer's share
                         .min_supers = 3,
                         .demand_check = 1h,  // no second promotion within the test
                         .demand_jitter = 5s,
                         .idle_demote = 2min};
  config.probe_retry = 5s;  // a world this small has few probers
  Small world(config);
  const Slot boot = world.add(true, false);
  std::vector<Slot> open{world.add(false, false), world.add(false, false)};
  std::vector<Slot> natted{world.add(false, true), world.add(false, true)};  // probers too
  world.net().run_for(3min);  // promoted: fewer than min_supers super peers known
  for (Slot s : open)
    ASSERT_EQ(world.peer(s).role(), PeerRole::super)
        << s << " reachable " << world.peer(s).reachable().value_or(false) << " probes "
        << world.peer(s).counters().probes << " declined "
        << world.peer(s).counters().promotions_declined;
  for (Slot entry : {open[0], open[1], open[0], open[1]})
    natted.push_back(world.add(false, true, std::nullopt, entry));
  world.net().run_for(30s);
  for (Slot s : {boot, open[0], open[1]})
    ASSERT_GE(world.peer(s).attached(), 1u) << s;
  open.push_back(world.add(false, false));  // every super peer it asks holds its share
  world.net().run_for(2min);
  ASSERT_EQ(world.peer(open[2]).role(), PeerRole::super);

  // Idle for well over idle_demote, but the others hold their peers: needed.
  world.net().run_for(6min);
  EXPECT_EQ(world.peer(open[2]).attached(), 0u);
  for (Slot s : open) {
    EXPECT_EQ(world.peer(s).role(), PeerRole::super) << s;
    EXPECT_EQ(world.peer(s).counters().demotions, 0u) << s;
  }

  for (Slot s : natted)
    world.net().crash(s);
  world.net().run_for(8min);  // dropped after 60 s; then idle_demote and the ask
  std::vector<Slot> demoted, still_super;
  for (Slot s : open)
    (world.peer(s).role() == PeerRole::super ? still_super : demoted).push_back(s);
  ASSERT_FALSE(demoted.empty());
  // One more would leave fewer than min_supers: the others stay.
  EXPECT_EQ(still_super.size() + 1, config.min_supers);
  EXPECT_EQ(world.peer(boot).role(), PeerRole::super);
  for (Slot s : demoted) {
    Peer& p = world.peer(s);
    EXPECT_EQ(p.counters().demotions, 1u) << s;
    EXPECT_GE(p.counters().handed_over, 1u) << s;  // what it stored, to the others first
    EXPECT_EQ(p.counters().hand_over_failed, 0u) << s;
    EXPECT_TRUE(p.node().config().read_only) << s;
    ASSERT_TRUE(p.super_peer()) << s << " did not attach";
    const auto super_slot = world.net().find(*p.super_peer());
    ASSERT_TRUE(super_slot) << s;
    EXPECT_EQ(world.peer(*super_slot).role(), PeerRole::super) << s;
    EXPECT_TRUE(world.peer(*super_slot).is_attached(world.net().address(s))) << s;
    auto entry = world.resolve(boot, s);
    ASSERT_TRUE(entry) << s << ": " << entry.error().to_string();
    EXPECT_EQ(entry->super_peer, *p.super_peer()) << s;
    EXPECT_TRUE(entry->reachable) << s;
  }
  // It no longer serves what super peers serve (asked by hand, last: this takes what it
  // had queued for the simulator too).
  EXPECT_EQ(code_of(ask(world.peer(demoted[0]), ep(99), "nexo_attach", {}, world.net().now())),
            204);
}

}  // namespace
}  // namespace nexo::overlay
