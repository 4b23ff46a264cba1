// NodeId: XOR distance and its order, prefixes, bits, hex, random ids in a
// bucket's range.
#include "nexo/overlay/node_id.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

namespace nexo::overlay {
namespace {

NodeId hex(std::string_view text) {
  return *NodeId::from_hex(text);
}

TEST(NodeId, HexRoundTripsInEitherCase) {
  const std::string text = "0123456789abcdef0123456789ABCDEF01234567";
  auto id = NodeId::from_hex(text);
  ASSERT_TRUE(id) << id.error().to_string();
  EXPECT_EQ(id->to_hex(), "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(id->bytes()[0], 0x01);
  EXPECT_EQ(id->bytes()[19], 0x67);
  EXPECT_EQ(NodeId().to_hex(), std::string(40, '0'));
}

TEST(NodeId, BadHexIsAnErrorNamingWhatIsWrong) {
  auto short_text = NodeId::from_hex("abcd");
  ASSERT_FALSE(short_text);
  EXPECT_TRUE(short_text.error().is(ErrorKind::invalid_argument));
  EXPECT_NE(short_text.error().message().find("4 characters"), std::string::npos)
      << short_text.error().message();
  auto bad_digit = NodeId::from_hex("0123456789abcdef0123456789abcdef0123456g");
  ASSERT_FALSE(bad_digit);
  EXPECT_NE(bad_digit.error().message().find("position 39"), std::string::npos)
      << bad_digit.error().message();
  EXPECT_FALSE(NodeId::from_hex(std::string(41, 'a')));
  EXPECT_FALSE(NodeId::from_hex(""));
}

TEST(NodeId, FromBytesWantsExactlyTwentyBytes) {
  const std::string raw(20, '\x5a');
  auto id = NodeId::from_bytes(raw);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->to_byte_string(), raw);
  for (std::size_t n : {0u, 19u, 21u}) {
    auto bad = NodeId::from_bytes(std::string(n, 'x'));
    ASSERT_FALSE(bad) << n;
    EXPECT_TRUE(bad.error().is(ErrorKind::malformed));
    EXPECT_NE(bad.error().message().find(std::to_string(n) + " bytes"), std::string::npos);
  }
}

TEST(NodeId, FromADigest) {
  const NodeId id = NodeId::from_digest(sha1("abc"));
  EXPECT_EQ(id.to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(NodeId, BitsCountFromTheMostSignificant) {
  NodeId id;
  id.set_bit(0, true);
  EXPECT_EQ(id.bytes()[0], 0x80);
  id.set_bit(159, true);
  EXPECT_EQ(id.bytes()[19], 0x01);
  id.set_bit(9, true);
  EXPECT_EQ(id.bytes()[1], 0x40);
  EXPECT_TRUE(id.bit(0));
  EXPECT_TRUE(id.bit(9));
  EXPECT_FALSE(id.bit(8));
  EXPECT_TRUE(id.bit(159));
  id.set_bit(0, false);
  EXPECT_EQ(id.bytes()[0], 0x00);
}

TEST(NodeId, DistanceIsXorAndOrdersAsAnInteger) {
  const NodeId a = hex("ff00000000000000000000000000000000000001");
  const NodeId b = hex("0f00000000000000000000000000000000000003");
  const Distance d = distance(a, b);
  EXPECT_EQ(d.bytes()[0], 0xf0);
  EXPECT_EQ(d.bytes()[19], 0x02);
  EXPECT_EQ(distance(a, b), distance(b, a));
  EXPECT_EQ(distance(a, a), Distance());
  EXPECT_EQ(d.leading_zeros(), 0);
  EXPECT_EQ(Distance().leading_zeros(), 160);
  // Byte 0 outweighs every later byte.
  const NodeId t;
  EXPECT_LT(distance(t, hex("00ffffffffffffffffffffffffffffffffffffff")),
            distance(t, hex("0100000000000000000000000000000000000000")));
}

TEST(NodeId, CommonPrefixLength) {
  const NodeId a = hex("0000000000000000000000000000000000000000");
  EXPECT_EQ(common_prefix_length(a, a), 160);
  EXPECT_EQ(common_prefix_length(a, hex("8000000000000000000000000000000000000000")), 0);
  EXPECT_EQ(common_prefix_length(a, hex("0100000000000000000000000000000000000000")), 7);
  EXPECT_EQ(common_prefix_length(a, hex("0080000000000000000000000000000000000000")), 8);
  EXPECT_EQ(common_prefix_length(a, hex("0000000000000000000000000000000000000001")), 159);
  EXPECT_EQ(common_prefix_length(a, hex("0000000000000000000000000000000000000001")),
            distance(a, hex("0000000000000000000000000000000000000001")).leading_zeros());
}

TEST(NodeId, CloserToAgreesWithTheDistanceOrder) {
  fault::Random rng(7);
  for (int i = 0; i < 2000; ++i) {
    const NodeId t = NodeId::random(rng), a = NodeId::random(rng);
    // Half the time b shares a long prefix with a, so later bytes decide.
    NodeId b = i % 2 ? NodeId::random(rng)
                     : NodeId::random_with_prefix(a, static_cast<int>(rng.below(160)), rng);
    EXPECT_EQ(closer_to(t, a, b), distance(t, a) < distance(t, b));
    if (a != b) {
      EXPECT_NE(closer_to(t, a, b), closer_to(t, b, a));
    }
  }
  const NodeId x = NodeId::random(rng);
  EXPECT_FALSE(closer_to(x, x, x));
  EXPECT_TRUE(closer_to(x, x, NodeId::random_in_bucket(x, 159, rng)));
}

TEST(NodeId, RandomIdsDifferAndUseEveryByte) {
  fault::Random rng(1);
  std::unordered_set<NodeId> seen;
  std::array<int, 20> nonzero{};
  for (int i = 0; i < 1000; ++i) {
    const NodeId id = NodeId::random(rng);
    EXPECT_TRUE(seen.insert(id).second);
    for (std::size_t j = 0; j < 20; ++j)
      nonzero[j] += id.bytes()[j] != 0;
  }
  for (int n : nonzero)
    EXPECT_GT(n, 900);
  // The same seed gives the same ids.
  fault::Random again(1);
  EXPECT_TRUE(seen.contains(NodeId::random(again)));
}

TEST(NodeId, RandomWithPrefixKeepsThePrefix) {
  fault::Random rng(3);
  const NodeId base = NodeId::random(rng);
  for (int prefix = 0; prefix <= 160; ++prefix) {
    const NodeId id = NodeId::random_with_prefix(base, prefix, rng);
    EXPECT_GE(common_prefix_length(base, id), prefix);
  }
  EXPECT_EQ(NodeId::random_with_prefix(base, 160, rng), base);
}

TEST(NodeId, RandomInBucketSharesExactlyThePrefix) {
  fault::Random rng(4);
  const NodeId base = NodeId::random(rng);
  for (int prefix = 0; prefix < 160; ++prefix)
    for (int i = 0; i < 5; ++i) {
      const NodeId id = NodeId::random_in_bucket(base, prefix, rng);
      ASSERT_EQ(common_prefix_length(base, id), prefix) << base.to_hex() << " " << id.to_hex();
    }
  // The bits after the flipped one are random: not all equal to base's.
  int differ = 0;
  for (int i = 0; i < 100; ++i)
    differ += NodeId::random_in_bucket(base, 3, rng).bytes()[10] != base.bytes()[10];
  EXPECT_GT(differ, 90);
}

TEST(NodeId, OrderAndHash) {
  const NodeId a = hex("0000000000000000000000000000000000000001");
  const NodeId b = hex("0000000000000000000000000000000000000100");
  EXPECT_LT(a, b);
  EXPECT_NE(a, b);
  std::vector<NodeId> ids{b, a};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids.front(), a);
  if constexpr (sizeof(std::size_t) == 8) {
    EXPECT_EQ(std::hash<NodeId>{}(hex("0102030405060708000000000000000000000000")),
              static_cast<std::size_t>(0x0102030405060708ULL));
  }
}

}  // namespace
}  // namespace nexo::overlay
