// PeerStore: announce and get_peers, the bounds (per info-hash, total), expiry,
// the random subset that fits a datagram, IPv4 and IPv6 apart. Fake time.
#include "nexo/overlay/peer_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "nexo/overlay/compact.hpp"

namespace nexo::overlay {
namespace {

using namespace std::chrono_literals;

const Time t0 = Time{} + 24h;

net::Endpoint v4(std::uint16_t port, std::uint8_t last = 1) {
  return net::Endpoint(net::InetAddress::v4({192, 0, 2, last}), port);
}
net::Endpoint v6(std::uint16_t port) {
  return net::Endpoint(*net::InetAddress::parse("2001:db8::7"), port);
}

NodeId hash(std::uint32_t n) {
  NodeId::Bytes b{};
  b[0] = static_cast<std::uint8_t>(n >> 24);
  b[1] = static_cast<std::uint8_t>(n >> 16);
  b[2] = static_cast<std::uint8_t>(n >> 8);
  b[3] = static_cast<std::uint8_t>(n);
  return NodeId(b);
}

TEST(PeerStore, AnnounceThenGetPeers) {
  PeerStore store;
  fault::Random rng(1);
  EXPECT_EQ(store.announce(hash(1), v4(6881), t0), AnnounceOutcome::added);
  EXPECT_EQ(store.announce(hash(1), v4(6882), t0), AnnounceOutcome::added);
  EXPECT_EQ(store.announce(hash(1), v4(6881), t0 + 1min), AnnounceOutcome::refreshed);
  auto peers = store.peers(hash(1), net::Family::v4, t0, rng);
  std::sort(peers.begin(), peers.end());
  EXPECT_EQ(peers, (std::vector<net::Endpoint>{v4(6881), v4(6882)}));
  EXPECT_TRUE(store.peers(hash(2), net::Family::v4, t0, rng).empty());
  EXPECT_EQ(store.info_hash_count(), 1u);
  EXPECT_EQ(store.peer_count(), 2u);
}

TEST(PeerStore, FamiliesAreKeptApart) {
  PeerStore store;
  fault::Random rng(2);
  (void)store.announce(hash(1), v4(1000), t0);
  (void)store.announce(hash(1), v6(2000), t0);
  // An IPv4-mapped IPv6 peer is an IPv4 peer.
  (void)store.announce(hash(1), net::Endpoint(*net::InetAddress::parse("::ffff:192.0.2.9"), 3000),
                       t0);
  auto four = store.peers(hash(1), net::Family::v4, t0, rng);
  std::sort(four.begin(), four.end());
  EXPECT_EQ(four, (std::vector<net::Endpoint>{v4(1000), v4(3000, 9)}));
  EXPECT_EQ(store.peers(hash(1), net::Family::v6, t0, rng), std::vector<net::Endpoint>{v6(2000)});
}

TEST(PeerStore, PeersExpireUnlessReannounced) {
  PeerStoreConfig config;
  config.peer_lifetime = 30min;
  PeerStore store(config);
  fault::Random rng(3);
  (void)store.announce(hash(1), v4(1), t0);
  (void)store.announce(hash(1), v4(2), t0);
  (void)store.announce(hash(1), v4(2), t0 + 20min);  // refreshed: lives to +50 min
  EXPECT_EQ(store.peers(hash(1), net::Family::v4, t0 + 29min, rng).size(), 2u);
  // Reads skip the expired peer before any sweep.
  EXPECT_EQ(store.peers(hash(1), net::Family::v4, t0 + 30min, rng),
            std::vector<net::Endpoint>{v4(2)});
  store.expire(t0 + 30min);
  EXPECT_EQ(store.peer_count(), 1u);
  EXPECT_EQ(store.counters().expired, 1u);
  store.expire(t0 + 50min);
  EXPECT_EQ(store.peer_count(), 0u);
  EXPECT_EQ(store.info_hash_count(), 0u);  // no empty swarm left behind
}

TEST(PeerStore, AFullListReplacesTheOldestAnnounce) {
  PeerStoreConfig config;
  config.max_peers_per_hash = 3;
  PeerStore store(config);
  fault::Random rng(4);
  (void)store.announce(hash(1), v4(1), t0);
  (void)store.announce(hash(1), v4(2), t0 + 1min);
  (void)store.announce(hash(1), v4(3), t0 + 2min);
  (void)store.announce(hash(1), v4(1), t0 + 3min);  // refresh: now 2 is the oldest
  EXPECT_EQ(store.announce(hash(1), v4(4), t0 + 4min), AnnounceOutcome::replaced);
  auto peers = store.peers(hash(1), net::Family::v4, t0 + 4min, rng);
  std::sort(peers.begin(), peers.end());
  EXPECT_EQ(peers, (std::vector<net::Endpoint>{v4(1), v4(3), v4(4)}));
  EXPECT_EQ(store.counters().replaced, 1u);
  // The bound is per family: IPv6 peers have their own list.
  EXPECT_EQ(store.announce(hash(1), v6(1), t0 + 4min), AnnounceOutcome::added);
}

TEST(PeerStore, AFullTableRefusesNewInfoHashesUntilSomethingExpires) {
  PeerStoreConfig config;
  config.max_info_hashes = 2;
  PeerStore store(config);
  fault::Random rng(5);
  (void)store.announce(hash(1), v4(1), t0);
  (void)store.announce(hash(2), v4(1), t0 + 10min);
  EXPECT_EQ(store.announce(hash(3), v4(1), t0 + 20min), AnnounceOutcome::refused);
  EXPECT_EQ(store.counters().refused, 1u);
  EXPECT_EQ(store.info_hash_count(), 2u);
  // Known info-hashes still take peers.
  EXPECT_EQ(store.announce(hash(1), v4(2), t0 + 20min), AnnounceOutcome::added);
  // Once hash(2)'s peer expires (+40 min) the new info-hash gets its place;
  // hash(1) keeps the peer announced at +20 min.
  EXPECT_EQ(store.announce(hash(3), v4(1), t0 + 40min), AnnounceOutcome::added);
  EXPECT_EQ(store.info_hash_count(), 2u);
  EXPECT_TRUE(store.peers(hash(2), net::Family::v4, t0 + 40min, rng).empty());
  EXPECT_EQ(store.peers(hash(1), net::Family::v4, t0 + 40min, rng),
            std::vector<net::Endpoint>{v4(2)});
}

TEST(PeerStore, RepliesAreARandomSubsetThatFitsADatagram) {
  PeerStore store;  // reply_bytes 800: 100 IPv4 peers, 38 IPv6 ones
  EXPECT_EQ(store.reply_limit(net::Family::v4), 100u);
  EXPECT_EQ(store.reply_limit(net::Family::v6), 38u);
  for (std::uint16_t port = 1; port <= 300; ++port)
    (void)store.announce(hash(1), v4(port), t0);
  fault::Random rng(6);
  std::set<std::uint16_t> seen;
  for (int round = 0; round < 20; ++round) {
    auto peers = store.peers(hash(1), net::Family::v4, t0, rng);
    ASSERT_EQ(peers.size(), 100u);
    std::set<net::Endpoint> distinct(peers.begin(), peers.end());
    EXPECT_EQ(distinct.size(), 100u);
    // The `values` list of the reply: 100 strings of 6 bytes.
    EXPECT_EQ(encode_compact_peers(peers, net::Family::v4).size(), 600u);
    for (const auto& p : peers)
      seen.insert(p.port());
  }
  // 20 draws of 100 out of 300 miss a given peer with probability (2/3)^20:
  // every peer turns up (not always the same first 100).
  EXPECT_EQ(seen.size(), 300u);
}

TEST(PeerStore, BoundedMemory) {
  PeerStoreConfig config;
  config.max_info_hashes = 10;
  config.max_peers_per_hash = 5;
  PeerStore store(config);
  for (std::uint32_t h = 0; h < 100; ++h)
    for (std::uint16_t port = 1; port <= 50; ++port)
      (void)store.announce(hash(h), v4(port), t0);
  EXPECT_EQ(store.info_hash_count(), 10u);
  EXPECT_EQ(store.peer_count(), 50u);
}

TEST(PeerStore, AnEmptyStoreIsSmallAndAllocatesNothing) {
  PeerStore store;
  std::printf("sizeof(PeerStore) = %zu bytes\n", sizeof(PeerStore));
  EXPECT_LE(sizeof(PeerStore), 96u);
  EXPECT_EQ(store.info_hash_count(), 0u);
  (void)store.announce(hash(1), v4(1), t0);
  store.expire(t0 + 31min);
  EXPECT_EQ(store.info_hash_count(), 0u);
}

}  // namespace
}  // namespace nexo::overlay
