#include "nexo/net/inet_address.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "nexo/net/endpoint.hpp"
#include "nexo/net/network_interface.hpp"

namespace nexo::net {
namespace {

TEST(InetAddress, ParsesIpv4AndIpv6Literals) {
  auto v4 = InetAddress::parse("192.0.2.33");
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->to_string(), "192.0.2.33");
  EXPECT_EQ(v4->bytes()[3], 33);

  auto v6 = InetAddress::parse("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->is_v6());
  EXPECT_EQ(v6->to_string(), "2001:db8::1");
  EXPECT_EQ(v6->bytes().size(), 16u);
}

TEST(InetAddress, ParsesScopeByInterfaceName) {
  auto scoped = InetAddress::parse("fe80::1%lo");
  ASSERT_TRUE(scoped) << scoped.error().message();
  EXPECT_NE(scoped->scope_id(), 0u);
  EXPECT_EQ(scoped->to_string(), "fe80::1%lo");
  auto bad = InetAddress::parse("fe80::1%no-such-if0");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(bad.error().message().find("no-such-if0"), std::string::npos);
}

TEST(InetAddress, RejectsGarbageNamingIt) {
  for (const char* text : {"", "256.1.1.1", "1.2.3", "::g", "localhost", "1.2.3.4%lo"}) {
    auto r = InetAddress::parse(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(r.error().message().find(text), std::string::npos) << r.error().message();
  }
}

TEST(InetAddress, Classification) {
  EXPECT_TRUE(InetAddress::any().is_any());
  EXPECT_TRUE(InetAddress::any(Family::v6).is_any());
  EXPECT_TRUE(InetAddress::loopback().is_loopback());
  EXPECT_TRUE(InetAddress::loopback(Family::v6).is_loopback());
  EXPECT_EQ(InetAddress::loopback(Family::v6).to_string(), "::1");
  EXPECT_TRUE(InetAddress::parse("127.9.9.9")->is_loopback());
  EXPECT_TRUE(InetAddress::parse("224.0.0.0")->is_multicast());
  EXPECT_TRUE(InetAddress::parse("239.255.255.255")->is_multicast());
  EXPECT_FALSE(InetAddress::parse("223.255.255.255")->is_multicast());
  EXPECT_FALSE(InetAddress::parse("240.0.0.1")->is_multicast());
  EXPECT_TRUE(InetAddress::parse("ff02::1")->is_multicast());
  EXPECT_FALSE(InetAddress::parse("fe80::1")->is_multicast());
}

TEST(InetAddress, MapsAndUnmapsIpv4InIpv6) {
  auto v4 = *InetAddress::parse("192.0.2.1");
  auto mapped = v4.mapped_v6();
  EXPECT_TRUE(mapped.is_v4_mapped());
  EXPECT_EQ(mapped.to_string(), "::ffff:192.0.2.1");
  EXPECT_EQ(mapped.unmapped(), v4);
  EXPECT_TRUE(InetAddress::parse("::ffff:127.0.0.1")->is_loopback());
}

TEST(InetAddress, ResolvesLocalhostToLoopbackAddresses) {
  auto all = InetAddress::resolve("localhost");
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_FALSE(all->empty());
  for (const auto& a : *all)
    EXPECT_TRUE(a.is_loopback()) << a.to_string();
  auto only_v4 = InetAddress::resolve("localhost", Family::v4);
  ASSERT_TRUE(only_v4);
  EXPECT_TRUE(std::all_of(only_v4->begin(), only_v4->end(), [](auto& a) { return a.is_v4(); }));
  // No duplicates.
  auto sorted = *all;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
}

TEST(InetAddress, ResolveReturnsLiteralsUnchanged) {
  auto r = InetAddress::resolve("::1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front(), InetAddress::loopback(Family::v6));
}

TEST(InetAddress, ResolveFailureNamesTheHost) {
  auto r = InetAddress::resolve("no-such-host.invalid");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::resolve_failed);
  EXPECT_NE(r.error().message().find("no-such-host.invalid"), std::string::npos);
  auto empty = InetAddress::resolve("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind(), ErrorKind::invalid_argument);
}

TEST(Endpoint, ValidatesPortRangeNamingTheValue) {
  EXPECT_TRUE(Endpoint::make(InetAddress::loopback(), 0));
  EXPECT_TRUE(Endpoint::make(InetAddress::loopback(), 65535));
  for (long long bad : {-1LL, 65536LL, 70000LL}) {
    auto r = Endpoint::make(InetAddress::loopback(), bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(r.error().message().find(std::to_string(bad)), std::string::npos);
  }
  EXPECT_FALSE(parse_port("12ab"));
  EXPECT_FALSE(parse_port(""));
  EXPECT_FALSE(parse_port("99999999999999999999999"));
  EXPECT_EQ(*parse_port("6789"), 6789);
}

TEST(Endpoint, ParsesAndPrintsBothFamilies) {
  auto v4 = Endpoint::parse("127.0.0.1:6789");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->port(), 6789);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:6789");
  auto v6 = Endpoint::parse("[::1]:7896");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->address().is_v6());
  EXPECT_EQ(v6->to_string(), "[::1]:7896");
  for (const char* bad : {"127.0.0.1", "::1:80", "[::1]80", "1.2.3.4:99999", "host:80", ":80"}) {
    EXPECT_FALSE(Endpoint::parse(bad)) << bad;
  }
}

TEST(Endpoint, ResolveValidatesPortBeforeAskingTheResolver) {
  auto r = Endpoint::resolve("localhost", 65536);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  auto good = Endpoint::resolve("localhost", 80, Family::v4);
  ASSERT_TRUE(good);
  EXPECT_EQ(good->to_string(), "127.0.0.1:80");
}

TEST(NetworkInterface, FindsLoopbackByNameAndAddress) {
  auto by_name = NetworkInterface::by_name("lo");
  ASSERT_TRUE(by_name) << by_name.error().message();
  auto by_address = NetworkInterface::parse("127.0.0.1");
  ASSERT_TRUE(by_address) << by_address.error().message();
  EXPECT_EQ(by_name->index(), by_address->index());
  EXPECT_EQ(by_address->first_v4(), InetAddress::loopback());
  auto none = NetworkInterface::parse("no-such-if0");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no-such-if0"), std::string::npos);
  EXPECT_FALSE(NetworkInterface::parse("192.0.2.200"));
}

}  // namespace
}  // namespace nexo::net
