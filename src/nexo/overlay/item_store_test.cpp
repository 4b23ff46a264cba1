// ItemStore: puts of both kinds and every refusal code (205, 206, 207, 301,
// 302, 203, 202), refresh, expiry, the per-source and total bounds with
// oldest-first eviction, and the size of an empty store. Fake time.
#include "nexo/overlay/item_store.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;

const Time t0 = Time{} + 24h;

net::Endpoint from(std::uint8_t last, std::uint16_t port = 6881) {
  return net::Endpoint(net::InetAddress::v4({198, 51, 100, last}), port);
}

KeySeed seed(std::uint8_t n) {
  KeySeed s{};
  s.fill(n);
  return s;
}

MutableItem signed_item(const SigningKey& key, std::int64_t seq, const bencode::Value& v,
                        std::string salt = "") {
  auto item = MutableItem::sign(key, std::move(salt), seq, v);
  EXPECT_TRUE(item) << item.error().to_string();
  return *item;
}

std::string value_of(int i) {
  return encode_value(bencode::Value("value " + std::to_string(i)));
}

TEST(ItemStore, ImmutablePutGetAndRefresh) {
  ItemStore store;
  EXPECT_EQ(store.put_immutable_value(bencode::Value("Hello World!"), from(1), t0),
            PutCode::stored);
  const NodeId target = immutable_target("12:Hello World!");
  const StoredItem* item = store.get(target, t0);
  ASSERT_NE(item, nullptr);
  EXPECT_FALSE(item->is_mutable);
  EXPECT_EQ(item->value, "12:Hello World!");
  EXPECT_EQ(store.get(immutable_target("1:x"), t0), nullptr);
  // A second put (a republish, from anyone) refreshes: alive 2 h from it.
  EXPECT_EQ(store.put_immutable("12:Hello World!", from(2), t0 + 90min), PutCode::stored);
  EXPECT_EQ(store.item_count(), 1u);
  EXPECT_NE(store.get(target, t0 + 3h), nullptr);
  EXPECT_EQ(store.get(target, t0 + 90min + 2h), nullptr);
  // The charge moved to the republisher.
  EXPECT_EQ(store.source_usage(from(1)).first, 0u);
  EXPECT_EQ(store.source_usage(from(2)).first, 1u);
}

TEST(ItemStore, ImmutableRefusals) {
  ItemStore store;
  EXPECT_EQ(store.put_immutable("1001:" + std::string(1001, 'x'), from(1), t0), PutCode::too_big);
  EXPECT_EQ(store.put_immutable_value(bencode::Value(std::string(997, 'x')), from(1), t0),
            PutCode::too_big);
  EXPECT_EQ(store.put_immutable("i-0e", from(1), t0), PutCode::protocol_error);
  EXPECT_EQ(store.item_count(), 0u);
  EXPECT_EQ(store.counters().refused, 3u);
}

TEST(ItemStore, MutablePutUpdatesAndTheBep44Rules) {
  ItemStore store;
  const SigningKey key = SigningKey::from_seed(seed(1));
  const MutableItem v1 = signed_item(key, 1, bencode::Value("one"));
  EXPECT_EQ(store.put_mutable(v1, std::nullopt, from(1), t0), PutCode::stored);
  const StoredItem* held = store.get(v1.target(), t0);
  ASSERT_NE(held, nullptr);
  EXPECT_TRUE(held->is_mutable);
  EXPECT_EQ(held->as_mutable(), v1);

  // 302: seq going back, and an equal seq with another value.
  const MutableItem v0 = signed_item(key, 0, bencode::Value("zero"));
  EXPECT_EQ(store.put_mutable(v0, std::nullopt, from(1), t0), PutCode::seq_too_old);
  const MutableItem other1 = signed_item(key, 1, bencode::Value("another one"));
  EXPECT_EQ(store.put_mutable(other1, std::nullopt, from(1), t0), PutCode::seq_too_old);
  // Equal seq and value: a refresh.
  EXPECT_EQ(store.put_mutable(v1, std::nullopt, from(1), t0 + 1h), PutCode::stored);
  EXPECT_NE(store.get(v1.target(), t0 + 2h + 30min), nullptr);

  // 301: cas not the held seq; cas equal to it: stored.
  const MutableItem v2 = signed_item(key, 2, bencode::Value("two"));
  EXPECT_EQ(store.put_mutable(v2, 0, from(1), t0 + 1h), PutCode::cas_mismatch);
  EXPECT_EQ(store.put_mutable(v2, 1, from(1), t0 + 1h), PutCode::stored);
  EXPECT_EQ(store.get(v1.target(), t0 + 1h)->seq, 2);
  EXPECT_EQ(store.get(v1.target(), t0 + 1h)->value, "3:two");
  // cas is checked before seq: a stale put with a wrong cas gets 301.
  EXPECT_EQ(store.put_mutable(v1, 7, from(1), t0 + 1h), PutCode::cas_mismatch);
  EXPECT_EQ(store.item_count(), 1u);
}

TEST(ItemStore, Bep44VectorArrivingAsAPut) {
  // BEP 44 test 2 as a KRPC put carries it: k, salt, seq, sig byte strings and v.
  auto bytes = [](std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
      out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return out;
  };
  const std::string k = bytes("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548");
  const std::string sig = bytes(
      "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
      "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08");
  auto put = MutableItem::from_wire(k, "foobar", 1, sig, bencode::Value("Hello World!"));
  ASSERT_TRUE(put) << put.error().to_string();
  ItemStore store;
  EXPECT_EQ(store.put_mutable(*put, std::nullopt, from(1), t0), PutCode::stored);
  const NodeId target = *NodeId::from_hex("411eba73b6f087ca51a3795d9c8c938d365e32c1");
  const StoredItem* held = store.get(target, t0);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->value, "12:Hello World!");
  EXPECT_EQ(held->seq, 1);
  EXPECT_EQ(held->as_mutable().check(), PutCode::stored);  // what a get reply re-checks
  // The same put under another salt (so another target) fails the signature.
  auto moved = MutableItem::from_wire(k, "foobaz", 1, sig, bencode::Value("Hello World!"));
  ASSERT_TRUE(moved);
  EXPECT_EQ(store.put_mutable(*moved, std::nullopt, from(1), t0), PutCode::bad_signature);
}

TEST(ItemStore, CasIsIgnoredWhenNothingIsHeld) {
  ItemStore store;
  const SigningKey key = SigningKey::from_seed(seed(2));
  EXPECT_EQ(store.put_mutable(signed_item(key, 4, bencode::Value(4)), 3, from(1), t0),
            PutCode::stored);
}

TEST(ItemStore, MutableRefusals) {
  ItemStore store;
  const SigningKey key = SigningKey::from_seed(seed(3));
  const MutableItem good = signed_item(key, 1, bencode::Value("v"), "salt");

  MutableItem bad_sig = good;
  bad_sig.signature[0] ^= 0x80;
  EXPECT_EQ(store.put_mutable(bad_sig, std::nullopt, from(1), t0), PutCode::bad_signature);
  MutableItem other_key = good;  // k of another key: the signature does not hold
  other_key.key = SigningKey::from_seed(seed(4)).public_key();
  EXPECT_EQ(store.put_mutable(other_key, std::nullopt, from(1), t0), PutCode::bad_signature);
  MutableItem long_salt = good;
  long_salt.salt = std::string(65, 's');
  EXPECT_EQ(store.put_mutable(long_salt, std::nullopt, from(1), t0), PutCode::salt_too_big);
  MutableItem big = good;
  big.value = "1001:" + std::string(1001, 'x');
  EXPECT_EQ(store.put_mutable(big, std::nullopt, from(1), t0), PutCode::too_big);
  MutableItem negative = good;
  negative.seq = -1;
  EXPECT_EQ(store.put_mutable(negative, std::nullopt, from(1), t0), PutCode::protocol_error);
  EXPECT_EQ(store.item_count(), 0u);
  EXPECT_EQ(store.counters().refused, 5u);
  // A salt makes another item under the same key.
  EXPECT_EQ(store.put_mutable(good, std::nullopt, from(1), t0), PutCode::stored);
  EXPECT_EQ(store.put_mutable(signed_item(key, 1, bencode::Value("v")), std::nullopt, from(1), t0),
            PutCode::stored);
  EXPECT_EQ(store.item_count(), 2u);
}

TEST(ItemStore, ItemsExpireAfterTheirLifetime) {
  ItemStoreConfig config;
  config.item_lifetime = 2h;
  ItemStore store(config);
  const SigningKey key = SigningKey::from_seed(seed(5));
  const MutableItem item = signed_item(key, 1, bencode::Value("m"));
  ASSERT_EQ(store.put_mutable(item, std::nullopt, from(1), t0), PutCode::stored);
  ASSERT_EQ(store.put_immutable(value_of(1), from(1), t0 + 1h), PutCode::stored);
  EXPECT_NE(store.get(item.target(), t0 + 2h - 1s), nullptr);
  EXPECT_EQ(store.get(item.target(), t0 + 2h), nullptr);
  store.expire(t0 + 2h);
  EXPECT_EQ(store.item_count(), 1u);
  EXPECT_EQ(store.counters().expired, 1u);
  // An expired mutable item no longer blocks an older seq.
  EXPECT_EQ(
      store.put_mutable(signed_item(key, 0, bencode::Value("old")), std::nullopt, from(1), t0 + 2h),
      PutCode::stored);
  store.expire(t0 + 5h);
  EXPECT_EQ(store.item_count(), 0u);
  EXPECT_EQ(store.bytes(), 0u);
  EXPECT_EQ(store.source_usage(from(1)), std::make_pair(std::size_t{0}, std::size_t{0}));
}

// A put that gives the item's remaining lifetime (a replica's nexo_ttl): the copy lives
// that long, at most item_lifetime; the same item again never shortens the held copy's
// life; a higher seq is a new item and takes the lifetime its put gives.
TEST(ItemStore, APutsLifetimeBoundsTheCopyAndNeverShortensARefresh) {
  ItemStore store;
  const SigningKey key = SigningKey::from_seed(seed(6));
  const MutableItem v1 = signed_item(key, 1, bencode::Value("one"));
  ASSERT_EQ(store.put_mutable(v1, std::nullopt, from(1), t0, 10min), PutCode::stored);
  EXPECT_EQ(store.get(v1.target(), t0)->expires, t0 + 10min);
  ASSERT_EQ(store.put_mutable(v1, std::nullopt, from(2), t0 + 1min, 1min), PutCode::stored);
  EXPECT_EQ(store.get(v1.target(), t0)->expires, t0 + 10min) << "a refresh never shortens";
  ASSERT_EQ(store.put_mutable(v1, std::nullopt, from(2), t0 + 1min, 5h), PutCode::stored);
  EXPECT_EQ(store.get(v1.target(), t0)->expires, t0 + 1min + 2h) << "capped at item_lifetime";
  const MutableItem v2 = signed_item(key, 2, bencode::Value("two"));
  ASSERT_EQ(store.put_mutable(v2, std::nullopt, from(1), t0 + 2min, 3min), PutCode::stored);
  EXPECT_EQ(store.get(v1.target(), t0 + 2min)->expires, t0 + 5min) << "a new seq, a new life";

  ASSERT_EQ(store.put_immutable(value_of(7), from(1), t0, 30s), PutCode::stored);
  EXPECT_NE(store.get(immutable_target(value_of(7)), t0 + 29s), nullptr);
  EXPECT_EQ(store.get(immutable_target(value_of(7)), t0 + 30s), nullptr);
}

TEST(ItemStore, ASourceIsBoundedByItemsAndBytes) {
  ItemStoreConfig config;
  config.max_items_per_source = 3;
  ItemStore store(config);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(store.put_immutable(value_of(i), from(1), t0), PutCode::stored);
  EXPECT_EQ(store.put_immutable(value_of(3), from(1), t0), PutCode::server_error);
  // Another port of the same address is the same source...
  EXPECT_EQ(store.put_immutable(value_of(3), from(1, 7000), t0), PutCode::server_error);
  // ...another address is not, and a refresh of its own item is allowed.
  EXPECT_EQ(store.put_immutable(value_of(3), from(2), t0), PutCode::stored);
  EXPECT_EQ(store.put_immutable(value_of(0), from(1), t0 + 1min), PutCode::stored);
  EXPECT_EQ(store.counters().refused_quota, 2u);
  EXPECT_EQ(store.item_count(), 4u);

  ItemStoreConfig by_bytes;
  by_bytes.max_bytes_per_source = 2 * ItemStore::kItemOverhead + 2000;
  ItemStore bytes_store(by_bytes);
  const std::string big = "996:" + std::string(996, 'a');
  const std::string big2 = "996:" + std::string(996, 'b');
  const std::string big3 = "996:" + std::string(996, 'c');
  EXPECT_EQ(bytes_store.put_immutable(big, from(1), t0), PutCode::stored);
  EXPECT_EQ(bytes_store.put_immutable(big2, from(1), t0), PutCode::stored);
  EXPECT_EQ(bytes_store.put_immutable(big3, from(1), t0), PutCode::server_error);
  EXPECT_EQ(bytes_store.source_usage(from(1)).second, 2 * (ItemStore::kItemOverhead + 1000));
}

TEST(ItemStore, PortsCountWhenSourcesIncludePort) {
  ItemStoreConfig config;
  config.max_items_per_source = 1;
  config.sources_include_port = true;  // every node of a loopback test is 127.0.0.1
  ItemStore store(config);
  EXPECT_EQ(store.put_immutable(value_of(0), from(1, 1000), t0), PutCode::stored);
  EXPECT_EQ(store.put_immutable(value_of(1), from(1, 1001), t0), PutCode::stored);
  EXPECT_EQ(store.put_immutable(value_of(2), from(1, 1000), t0), PutCode::server_error);
}

TEST(ItemStore, AFloodingSourceCannotTakeTheStore) {
  ItemStoreConfig config;
  config.max_items = 20;
  config.max_items_per_source = 5;
  ItemStore store(config);
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(store.put_immutable(value_of(i), from(static_cast<std::uint8_t>(1 + i)), t0),
              PutCode::stored);
  int refused = 0;
  for (int i = 100; i < 1100; ++i)
    refused += store.put_immutable(value_of(i), from(200), t0 + 1min) == PutCode::server_error;
  EXPECT_EQ(refused, 995);
  EXPECT_EQ(store.item_count(), 15u);
  for (int i = 0; i < 10; ++i)
    EXPECT_NE(store.get(immutable_target(value_of(i)), t0 + 1min), nullptr) << i;
}

TEST(ItemStore, AFullStoreEvictsTheOldestFirst) {
  ItemStoreConfig config;
  config.max_items = 3;
  ItemStore store(config);
  ASSERT_EQ(store.put_immutable(value_of(0), from(1), t0), PutCode::stored);
  ASSERT_EQ(store.put_immutable(value_of(1), from(2), t0 + 1min), PutCode::stored);
  ASSERT_EQ(store.put_immutable(value_of(2), from(3), t0 + 2min), PutCode::stored);
  ASSERT_EQ(store.put_immutable(value_of(0), from(1), t0 + 3min), PutCode::stored);  // refresh
  ASSERT_EQ(store.put_immutable(value_of(3), from(4), t0 + 4min), PutCode::stored);
  EXPECT_EQ(store.item_count(), 3u);
  EXPECT_EQ(store.counters().evicted, 1u);
  EXPECT_EQ(store.get(immutable_target(value_of(1)), t0 + 4min), nullptr);  // the oldest put
  EXPECT_NE(store.get(immutable_target(value_of(0)), t0 + 4min), nullptr);
  EXPECT_EQ(store.source_usage(from(2)).first, 0u);

  // By bytes: a put needing room evicts as many old items as it takes.
  ItemStoreConfig by_bytes;
  by_bytes.max_bytes = 3 * (ItemStore::kItemOverhead + 1000);
  ItemStore bytes_store(by_bytes);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(bytes_store.put_immutable("996:" + std::string(996, static_cast<char>('a' + i)),
                                        from(static_cast<std::uint8_t>(i + 1)), t0 + i * 1min),
              PutCode::stored);
  EXPECT_EQ(bytes_store.put_immutable("996:" + std::string(996, 'z'), from(9), t0 + 5min),
            PutCode::stored);
  EXPECT_EQ(bytes_store.item_count(), 3u);
  EXPECT_EQ(bytes_store.get(immutable_target("996:" + std::string(996, 'a')), t0 + 5min), nullptr);
  EXPECT_LE(bytes_store.bytes(), by_bytes.max_bytes);
  // A put bigger than the whole store is refused, and evicts nothing.
  ItemStoreConfig tiny;
  tiny.max_bytes = ItemStore::kItemOverhead + 10;
  ItemStore tiny_store(tiny);
  EXPECT_EQ(tiny_store.put_immutable("5:small", from(1), t0), PutCode::stored);
  EXPECT_EQ(tiny_store.put_immutable("20:" + std::string(20, 'x'), from(1), t0),
            PutCode::server_error);
  EXPECT_EQ(tiny_store.item_count(), 1u);
}

TEST(ItemStore, AnUpdateThatGrowsMakesRoomWithoutEvictingItself) {
  ItemStoreConfig config;
  config.max_bytes = 2 * ItemStore::kItemOverhead + 600;
  ItemStore store(config);
  const SigningKey key = SigningKey::from_seed(seed(6));
  ASSERT_EQ(store.put_immutable(value_of(0), from(1), t0), PutCode::stored);
  const MutableItem small = signed_item(key, 1, bencode::Value("s"));
  ASSERT_EQ(store.put_mutable(small, std::nullopt, from(2), t0 + 1min), PutCode::stored);
  const MutableItem grown = signed_item(key, 2, bencode::Value(std::string(595, 'g')));
  ASSERT_EQ(store.put_mutable(grown, std::nullopt, from(2), t0 + 2min), PutCode::stored);
  EXPECT_EQ(store.item_count(), 1u);  // the immutable item made room
  EXPECT_EQ(store.get(grown.target(), t0 + 2min)->seq, 2);
  EXPECT_LE(store.bytes(), config.max_bytes);
}

TEST(ItemStore, AnEmptyStoreIsSmallAndAllocatesNothing) {
  std::printf("sizeof(ItemStore) = %zu bytes, item overhead %zu bytes\n", sizeof(ItemStore),
              ItemStore::kItemOverhead);
  EXPECT_LE(sizeof(ItemStore), 160u);
  ItemStore store;
  EXPECT_EQ(store.item_count(), 0u);
  EXPECT_EQ(store.bytes(), 0u);
}

TEST(ItemStore, ItemsAreWalkedInTargetOrder) {
  ItemStore store;
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(store.put_immutable(value_of(i), from(1), t0), PutCode::stored);
  ASSERT_EQ(store.item_count(), 5u);
  for (std::size_t i = 1; i < store.item_count(); ++i)
    EXPECT_LT(store.item(i - 1).target, store.item(i).target);
  for (std::size_t i = 0; i < store.item_count(); ++i)
    EXPECT_EQ(store.get(store.item(i).target, t0), &store.item(i));
}

}  // namespace
}  // namespace nexo::overlay
