// BEP 42: ids derived from the node's address, against the BEP's own vectors.
#include "nexo/overlay/bep42.hpp"

#include <gtest/gtest.h>

#include <string>

namespace nexo::overlay {
namespace {

net::InetAddress ip(std::string_view text) {
  return *net::InetAddress::parse(text);
}

struct Vector {
  const char* address;
  std::uint8_t rand;
  const char* id;
};

// The example table of BEP 42.
constexpr Vector kVectors[] = {
    {"124.31.75.21", 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},
    {"21.75.31.124", 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"},
    {"65.23.51.170", 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"},
    {"84.124.73.14", 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"},
    {"43.213.53.83", 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"},
};

// The first 21 bits of an id.
std::uint32_t prefix21(const NodeId& id) {
  const auto& b = id.bytes();
  return ((std::uint32_t{b[0]} << 16) | (std::uint32_t{b[1]} << 8) | b[2]) >> 3;
}

TEST(Bep42, TheBepsVectorsAreValid) {
  for (const Vector& v : kVectors) {
    const NodeId id = *NodeId::from_hex(v.id);
    EXPECT_TRUE(bep42_valid(id, ip(v.address))) << v.address;
    EXPECT_FALSE(bep42_exempt(ip(v.address)));
  }
}

TEST(Bep42, DerivedIdsMatchTheVectorsWhereTheBepFixesThem) {
  fault::Random rng(42);
  for (const Vector& v : kVectors) {
    const NodeId expected = *NodeId::from_hex(v.id);
    const NodeId id = bep42_node_id(ip(v.address), v.rand, rng);
    EXPECT_EQ(prefix21(id), prefix21(expected)) << v.address << " " << id.to_hex();
    EXPECT_EQ(id.bytes()[19], v.rand) << v.address;
    EXPECT_TRUE(bep42_valid(id, ip(v.address))) << v.address;
  }
  // 124.31.75.21 with r = 1: an id starting 5fbfb (then 1xxx) and ending 01.
  const NodeId id = bep42_node_id(ip("124.31.75.21"), 1, rng);
  EXPECT_EQ(id.to_hex().substr(0, 5), "5fbfb");
  EXPECT_EQ(id.to_hex().substr(38), "01");
  EXPECT_EQ(bep42_crc(ip("124.31.75.21"), 1) >> 11, prefix21(*NodeId::from_hex(kVectors[0].id)));
}

TEST(Bep42, OnlyTheFirst21BitsAndRAreChecked) {
  const NodeId good = *NodeId::from_hex(kVectors[0].id);
  const net::InetAddress address = ip(kVectors[0].address);
  for (int bit = 0; bit < 21; ++bit) {
    NodeId bad = good;
    bad.set_bit(bit, !bad.bit(bit));
    EXPECT_FALSE(bep42_valid(bad, address)) << "bit " << bit;
  }
  for (int bit = 21; bit < 152; ++bit) {  // the free bits, up to the last byte
    NodeId fine = good;
    fine.set_bit(bit, !fine.bit(bit));
    EXPECT_TRUE(bep42_valid(fine, address)) << "bit " << bit;
  }
  NodeId other_r = good;  // r = 1 -> 2: another crc
  other_r.set_bit(158, true);
  other_r.set_bit(159, false);
  EXPECT_FALSE(bep42_valid(other_r, address));
  NodeId same_r = good;  // only r & 7 matters: 0x01 -> 0x09 keeps r = 1
  same_r.set_bit(156, true);
  EXPECT_TRUE(bep42_valid(same_r, address));
}

TEST(Bep42, AnIdIsNotValidFromAnotherAddress) {
  const NodeId id = *NodeId::from_hex(kVectors[0].id);
  EXPECT_FALSE(bep42_valid(id, ip("124.31.75.22")));
  EXPECT_FALSE(bep42_valid(id, ip(kVectors[1].address)));
  // The mask ignores the top 6 bits of the first byte (124 = 0x7c -> 0x00):
  // 0x7c and 0x00 or 0xfc differ only there, so the id stays valid.
  EXPECT_TRUE(bep42_valid(id, ip("0.31.75.21")));
  EXPECT_TRUE(bep42_valid(id, ip("252.31.75.21")));
}

TEST(Bep42, IPv6UsesTheFirstEightBytes) {
  fault::Random rng(6);
  const net::InetAddress a = ip("2001:db8:1234:5678:9abc::1");
  EXPECT_FALSE(bep42_exempt(a));
  for (std::uint8_t r = 0; r < 16; ++r) {
    const NodeId id = bep42_node_id(a, r, rng);
    EXPECT_TRUE(bep42_valid(id, a));
    // The interface identifier (last 8 bytes) is not part of it...
    EXPECT_TRUE(bep42_valid(id, ip("2001:db8:1234:5678:ffff::2")));
    // ...the low bits of the routing prefix are.
    EXPECT_FALSE(bep42_valid(id, ip("2001:db8:1234:5679:9abc::1"))) << int{r};
  }
}

TEST(Bep42, LocalAddressesAreExempt) {
  fault::Random rng(8);
  const NodeId any = NodeId::random(rng);
  for (const char* local : {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.254",
                            "192.168.1.1", "169.254.3.4", "::1", "fe80::1", "febf::1", "fc00::1",
                            "fdff::2", "::ffff:10.0.0.1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(bep42_exempt(ip(local))) << local;
    EXPECT_TRUE(bep42_valid(any, ip(local))) << local;
  }
  for (const char* global : {"172.15.0.1", "172.32.0.1", "192.167.1.1", "169.253.1.1", "11.0.0.1",
                             "8.8.8.8", "2001:db8::1", "fec0::1", "fe00::1", "fb00::1"})
    EXPECT_FALSE(bep42_exempt(ip(global))) << global;
}

TEST(Bep42, MappedAddressesCountAsIPv4) {
  const NodeId id = *NodeId::from_hex(kVectors[2].id);
  EXPECT_TRUE(bep42_valid(id, ip("::ffff:65.23.51.170")));
  EXPECT_EQ(bep42_crc(ip("::ffff:65.23.51.170"), 22), bep42_crc(ip("65.23.51.170"), 22));
}

}  // namespace
}  // namespace nexo::overlay
