// The super-peer tier over real UDP: eight Peers in one UdpHost on 127.0.0.1 (one socket
// each, port 0, one loop, the loop's steady clock), with the tier's timers shortened to
// milliseconds. Peer 0 is the bootstrap super peer; the others attach to it, probe, and
// some are promoted (demand: fewer than min_supers super peers known); the rest stay
// ordinary and attached. A user is found by name and sent a message; then the super peer
// of an ordinary peer is closed: the peer fails over to another, its directory entry
// names the new one, and a message by name reaches it again. Every wait is on an event
// with a wall-clock bound against a hang (no sleeps, no timing asserted).
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "nexo/overlay/super_peer.hpp"
#include "nexo/overlay/udp_host.hpp"

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kPeers = 8;
constexpr std::uint32_t kMinSupers = 3;

// Runs the loop until `done` or 30 s of wall time (a bound against a hang).
template <class Done>
bool run_until(io::EventLoop& loop, Done done) {
  const auto limit = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    loop.run_once(std::chrono::milliseconds(20));
  }
  return true;
}

NodeConfig loopback_node(std::uint64_t seed) {
  NodeConfig c;
  c.seed = seed;
  c.routing.one_contact_per_ip = false;  // every peer is 127.0.0.1
  c.routing.rtt.min_rto = 20ms;
  c.rate_limit.include_port = true;
  c.items.sources_include_port = true;
  c.query_timeout = 500ms;
  return c;
}

// The tier's timers in milliseconds; relay buckets wide (they are per IP address, and
// every peer here is 127.0.0.1).
SuperPeerConfig loopback_tier(bool bootstrap) {
  SuperPeerConfig c;
  c.bootstrap = bootstrap;
  c.min_uptime = 300ms;
  c.probe_timeout = 500ms;
  c.probe_retry = 1s;
  c.keepalive_interval = 200ms;
  c.keepalive_timeout = 300ms;
  c.max_missed = 2;
  c.standby_check = 2s;
  c.attach_retry = 200ms;
  c.attached_timeout = 3s;
  c.peers_per_super = 8;
  // Three: a DHT of three, where closing one leaves a survivor that still names it in
  // every reply (a lookup asks a candidate it holds as bad once, without its backed-off
  // RTO; node_ops.cpp).
  c.min_supers = kMinSupers;
  c.demand_check = 1h;
  c.demand_jitter = 1s;
  c.relay_rate = 1000;
  c.relay_burst = 1000;
  c.service_timeout = 3s;
  return c;
}

std::string name_of(std::size_t i) {
  return "udp-user-" + std::to_string(i);
}

SigningKey key_of(std::size_t i) {
  KeySeed seed{};
  seed[0] = static_cast<std::uint8_t>(i);
  seed[31] = 0x77;
  return SigningKey::from_seed(seed);
}

class UdpTier : public ::testing::Test {
 protected:
  void SetUp() override {
    loop = io::EventLoop::create().value();
    host.emplace(*loop);
    std::vector<net::Endpoint> entry;
    for (std::size_t i = 0; i < kPeers; ++i) {
      auto slot = host->add(
          net::Endpoint(net::InetAddress::loopback(), 0), [&, i](const net::Endpoint& self) {
            return std::make_unique<Peer>(self, Clock::now(), name_of(i), key_of(i), entry,
                                          loopback_tier(i == 0), loopback_node(300 + i));
          });
      ASSERT_TRUE(slot) << slot.error().to_string();
      slots.push_back(*slot);
      if (i == 0) entry.push_back(host->address(*slot));
    }
  }
  void TearDown() override {
    host.reset();
    loop.reset();
  }

  Peer& peer(std::size_t i) { return static_cast<Peer&>(host->node(slots[i])); }
  std::optional<std::size_t> index_of(const net::Endpoint& e) const {
    for (std::size_t i = 0; i < kPeers; ++i)
      if (host->alive(slots[i]) && host->address(slots[i]) == e) return i;
    return std::nullopt;
  }
  // Ordinary, attached to a live super peer that counts it.
  bool attached_well(std::size_t i) {
    if (!host->alive(slots[i]) || peer(i).role() != PeerRole::ordinary) return false;
    const auto sp = peer(i).super_peer();
    const auto s = sp ? index_of(*sp) : std::nullopt;
    return s && peer(*s).role() == PeerRole::super && peer(*s).is_attached(host->address(slots[i]));
  }

  // Resolves user `who` from peer `from`, asking again after each failure (its entry may
  // not be out yet, or `from` may be failing over), until `good` holds for the entry.
  template <class Good>
  std::optional<DirectoryEntry> resolve_until(std::size_t from, std::size_t who, Good good) {
    std::optional<DirectoryEntry> found;
    bool asking = false;
    auto ask = [&] {
      asking = true;
      auto started = peer(from).resolve(name_of(who), key_of(who).public_key(), Clock::now(),
                                        [&](Result<DirectoryEntry> e) {
                                          asking = false;
                                          if (e && good(*e)) found = *e;
                                        });
      if (!started) asking = false;
      host->kick(slots[from]);
    };
    run_until(*loop, [&] {
      if (!found && !asking) ask();
      return found.has_value();
    });
    return found;
  }

  // Sends from `from` to user `to` and runs until the callback.
  Result<DeliveryReport> message(std::size_t from, std::size_t to, const std::string& text) {
    std::optional<Result<DeliveryReport>> out;
    auto started =
        peer(from).send_message(name_of(to), key_of(to).public_key(), text, Clock::now(),
                                [&](Result<DeliveryReport> r) { out.emplace(std::move(r)); });
    if (!started) return started.error();
    host->kick(slots[from]);
    if (!run_until(*loop, [&] { return out.has_value(); }))
      return Error(ErrorKind::timed_out, "no callback within 30 s");
    return std::move(*out);
  }

  std::unique_ptr<io::EventLoop> loop;
  std::optional<UdpHost> host;
  std::vector<UdpHost::Slot> slots;
};

TEST_F(UdpTier, PeersPromotedAttachFoundByNameAndFailOver) {
  // The tier forms: min_supers super peers, every other peer attached and probed.
  auto formed = [&] {
    std::size_t supers = 0, settled = 0;
    for (std::size_t i = 0; i < kPeers; ++i) {
      if (peer(i).role() == PeerRole::super)
        ++supers;
      else if (attached_well(i) && peer(i).reachable().has_value())
        ++settled;
    }
    return supers >= kMinSupers && supers + settled == kPeers;
  };
  ASSERT_TRUE(run_until(*loop, formed));
  EXPECT_EQ(peer(0).role(), PeerRole::super);
  std::vector<std::size_t> ordinary;
  for (std::size_t i = 1; i < kPeers; ++i)
    if (peer(i).role() == PeerRole::ordinary) ordinary.push_back(i);
  ASSERT_GE(ordinary.size(), 2u) << "demand should leave some peers ordinary";
  for (std::size_t i : ordinary)
    EXPECT_EQ(peer(i).reachable(), true) << i;  // loopback: every probe ping arrives

  // A user found by name, and a message to it.
  const std::size_t callee = ordinary[0];
  const std::size_t caller = ordinary[1];
  auto entry = resolve_until(caller, callee, [&](const DirectoryEntry& e) {
    return e.address == host->address(slots[callee]);
  });
  ASSERT_TRUE(entry) << "user " << name_of(callee) << " never found by name";
  EXPECT_EQ(entry->super_peer, *peer(callee).super_peer());
  std::vector<std::string> got;
  peer(callee).set_message_handler([&](const std::string& from, const std::string& text, Time) {
    got.push_back(from + ":" + text);
  });
  auto sent = message(caller, callee, "over UDP");
  ASSERT_TRUE(sent) << sent.error().to_string();
  EXPECT_FALSE(sent->relayed);  // reachable: direct
  EXPECT_EQ(got, std::vector<std::string>{name_of(caller) + ":over UDP"});

  // Its super peer closes: it fails over, and is found there.
  const net::Endpoint old_super = *peer(callee).super_peer();
  const auto old_index = index_of(old_super);
  ASSERT_TRUE(old_index);
  host->remove(slots[*old_index]);
  ASSERT_TRUE(run_until(*loop, [&] {
    return attached_well(callee) && *peer(callee).super_peer() != old_super;
  })) << "no failover";
  EXPECT_GE(peer(callee).counters().failovers, 1u);
  const net::Endpoint new_super = *peer(callee).super_peer();
  std::size_t asker = 0;  // a live peer other than the callee
  while (asker == callee || !host->alive(slots[asker]))
    ++asker;
  auto moved = resolve_until(asker, callee,
                             [&](const DirectoryEntry& e) { return e.super_peer == new_super; });
  ASSERT_TRUE(moved) << "the entry never named the new super peer: now attached "
                     << attached_well(callee) << ", moved again "
                     << (peer(callee).super_peer() != new_super) << ", publishes "
                     << peer(callee).counters().publishes << " failed "
                     << peer(callee).counters().publish_failed << " refused "
                     << peer(callee).counters().seq_refused << " syncs "
                     << peer(callee).counters().seq_syncs << ", asker " << asker << " role "
                     << int(peer(asker).role()) << " attached " << attached_well(asker)
                     << "; closed " << *old_index << ", new super " << *index_of(new_super)
                     << " table " << peer(*index_of(new_super)).node().routing_table().size()
                     << " puts served " << peer(*index_of(new_super)).counters().puts_served
                     << " stored items "
                     << peer(*index_of(new_super)).node().item_store().counters().puts;
  EXPECT_EQ(moved->address, host->address(slots[callee]));
  auto again = message(asker, callee, "after failover");
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(got.back(), name_of(asker) + ":after failover");
  EXPECT_EQ(host->counters().send_failed, 0u);
}

}  // namespace
}  // namespace nexo::overlay
