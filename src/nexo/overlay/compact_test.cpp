// Compact node and peer info (BEP 5, BEP 32): byte layout, round trips, and
// the lengths and ports a decoder refuses.
#include "nexo/overlay/compact.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nexo::overlay {
namespace {

net::Endpoint ep(std::string_view text) {
  return *net::Endpoint::parse(text);
}

NodeId id_of(std::uint8_t fill) {
  NodeId::Bytes b;
  b.fill(fill);
  return NodeId(b);
}

TEST(Compact, PeerLayoutIsAddressThenBigEndianPort) {
  std::string out;
  append_compact_peer(out, ep("1.2.3.4:6881"));
  EXPECT_EQ(out, std::string("\x01\x02\x03\x04\x1a\xe1", 6));
  out.clear();
  append_compact_peer(out, ep("[2001:db8::1]:258"));
  ASSERT_EQ(out.size(), kCompactPeerV6);
  EXPECT_EQ(out.substr(0, 4), std::string("\x20\x01\x0d\xb8", 4));
  EXPECT_EQ(out.substr(16), std::string("\x01\x02", 2));
  out.clear();
  append_compact_peer(out, ep("[::ffff:1.2.3.4]:6881"));
  EXPECT_EQ(out.size(), kCompactPeerV4) << "a mapped address is written as IPv4";
}

TEST(Compact, NodeLayoutIsIdThenPeer) {
  std::string out;
  append_compact_node(out, {id_of(0xab), ep("10.0.0.1:65535")});
  ASSERT_EQ(out.size(), kCompactNodeV4);
  EXPECT_EQ(out.substr(0, 20), std::string(20, '\xab'));
  EXPECT_EQ(out.substr(20), std::string("\x0a\x00\x00\x01\xff\xff", 6));
}

TEST(Compact, NodesRoundTripPerFamily) {
  const std::vector<NodeInfo> nodes{{id_of(1), ep("1.2.3.4:1")},
                                    {id_of(2), ep("[2001:db8::2]:2")},
                                    {id_of(3), ep("5.6.7.8:65535")},
                                    {id_of(4), ep("[fe80::4]:4")}};
  const std::string v4 = encode_compact_nodes(nodes, net::Family::v4);
  const std::string v6 = encode_compact_nodes(nodes, net::Family::v6);
  EXPECT_EQ(v4.size(), 2 * kCompactNodeV4);
  EXPECT_EQ(v6.size(), 2 * kCompactNodeV6);
  auto back4 = decode_compact_nodes(v4, net::Family::v4);
  auto back6 = decode_compact_nodes(v6, net::Family::v6);
  ASSERT_TRUE(back4) << back4.error().to_string();
  ASSERT_TRUE(back6) << back6.error().to_string();
  EXPECT_EQ(*back4, (std::vector<NodeInfo>{nodes[0], nodes[2]}));
  EXPECT_EQ(*back6, (std::vector<NodeInfo>{nodes[1], nodes[3]}));
  auto empty = decode_compact_nodes("", net::Family::v4);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(Compact, PeersRoundTrip) {
  const std::vector<net::Endpoint> peers{ep("1.2.3.4:80"), ep("[::1]:443"), ep("9.9.9.9:53")};
  auto back4 = decode_compact_peers(encode_compact_peers(peers, net::Family::v4), net::Family::v4);
  ASSERT_TRUE(back4);
  EXPECT_EQ(*back4, (std::vector<net::Endpoint>{peers[0], peers[2]}));
  auto back6 = decode_compact_peers(encode_compact_peers(peers, net::Family::v6), net::Family::v6);
  ASSERT_TRUE(back6);
  EXPECT_EQ(*back6, (std::vector<net::Endpoint>{peers[1]}));
  for (const auto& peer : peers) {
    std::string one;
    append_compact_peer(one, peer);
    auto single = decode_compact_peer(one);
    ASSERT_TRUE(single);
    EXPECT_EQ(*single, peer);
  }
}

TEST(Compact, ALengthThatIsNotAMultipleIsMalformed) {
  for (std::size_t n : {1u, 25u, 27u, 51u, 53u}) {
    auto r = decode_compact_nodes(std::string(n, '\x01'), net::Family::v4);
    ASSERT_FALSE(r) << n;
    EXPECT_TRUE(r.error().is(ErrorKind::malformed));
    EXPECT_NE(r.error().message().find(std::to_string(n) + " bytes is not a multiple of 26"),
              std::string::npos)
        << r.error().message();
  }
  EXPECT_FALSE(decode_compact_nodes(std::string(26, '\x01'), net::Family::v6));
  EXPECT_TRUE(decode_compact_nodes(std::string(76, '\x01'), net::Family::v6));
  EXPECT_FALSE(decode_compact_peers(std::string(7, '\x01'), net::Family::v4));
  EXPECT_FALSE(decode_compact_peers(std::string(6, '\x01'), net::Family::v6));
  for (std::size_t n : {0u, 5u, 7u, 17u, 19u, 26u}) {
    auto r = decode_compact_peer(std::string(n, '\x01'));
    ASSERT_FALSE(r) << n;
    EXPECT_TRUE(r.error().is(ErrorKind::malformed));
  }
}

TEST(Compact, PortZeroIsRefusedNamingTheEntry) {
  std::string nodes;
  append_compact_node(nodes, {id_of(1), ep("1.2.3.4:1")});
  append_compact_node(nodes, {id_of(2), ep("1.2.3.5:0")});
  auto r = decode_compact_nodes(nodes, net::Family::v4);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::malformed));
  EXPECT_NE(r.error().message().find("entry 1"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("port 0"), std::string::npos) << r.error().message();
  EXPECT_FALSE(decode_compact_peer(std::string("\x01\x02\x03\x04\x00\x00", 6)));
  std::string peers;
  append_compact_peer(peers, ep("[::2]:0"));
  EXPECT_FALSE(decode_compact_peers(peers, net::Family::v6));
}

}  // namespace
}  // namespace nexo::overlay
