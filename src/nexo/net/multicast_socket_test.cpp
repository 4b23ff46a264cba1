// IPv4 multicast on the loopback interface: every datagram stays on this host
// (outgoing interface lo, joined on lo). IPv6 multicast needs an interface with
// a multicast route, which lo lacks: tests/netns_multicast_test.cpp runs it in a
// private network namespace.
#include "nexo/net/multicast_socket.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace nexo::net {
namespace {

using namespace std::chrono_literals;

class MulticastOnLoopback : public ::testing::Test {
 protected:
  void SetUp() override {
    auto found = NetworkInterface::loopback();
    ASSERT_TRUE(found) << found.error().message();
    lo_ = *found;
  }
  MulticastSocket member(std::uint16_t port, const InetAddress& group, bool join = true) {
    auto s = MulticastSocket::bind(port);
    EXPECT_TRUE(s) << s.error().message();
    EXPECT_TRUE(s->set_interface(*lo_));
    if (join) {
      auto joined = s->join(group, lo_);
      EXPECT_TRUE(joined) << joined.error().message();
    }
    EXPECT_TRUE(s->set_receive_timeout(5s));
    return std::move(s).value();
  }
  static InetAddress group(const char* text) { return *InetAddress::parse(text); }

  std::optional<NetworkInterface> lo_;
};

TEST_F(MulticastOnLoopback, TwoMembersOnOnePortBothReceive) {
  const auto g = group("239.255.10.1");
  MulticastSocket a = member(0, g);
  const auto port = a.local_endpoint().port();
  MulticastSocket b = member(port, g);
  ASSERT_TRUE(a.send_to("to the group", Endpoint(g, port)));
  for (auto* m : {&a, &b}) {
    auto d = m->receive();
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(d->text(), "to the group");
    EXPECT_EQ(d->peer.port(), port);
  }
}

TEST_F(MulticastOnLoopback, AMemberThatLeftNoLongerReceives) {
  const auto g = group("239.255.10.2");
  MulticastSocket a = member(0, g);
  const auto port = a.local_endpoint().port();
  MulticastSocket b = member(port, g);
  ASSERT_TRUE(b.leave(g, lo_));
  ASSERT_TRUE(b.set_receive_timeout(50ms));
  ASSERT_TRUE(a.send_to("after leave", Endpoint(g, port)));
  ASSERT_TRUE(a.receive());
  auto none = b.receive();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::timed_out);
  auto again = b.leave(g, lo_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind(), ErrorKind::invalid_argument);
}

TEST_F(MulticastOnLoopback, OnlyJoinedGroupsAreReceived) {
  const auto joined = group("239.255.10.3");
  const auto other = group("239.255.10.4");
  MulticastSocket a = member(0, other);
  const auto port = a.local_endpoint().port();
  MulticastSocket b = member(port, joined);
  ASSERT_TRUE(b.set_receive_timeout(50ms));
  ASSERT_TRUE(a.send_to("other group", Endpoint(other, port)));
  ASSERT_TRUE(a.receive());                                     // a joined it
  EXPECT_EQ(b.receive().error().kind(), ErrorKind::timed_out);  // b did not
}

TEST_F(MulticastOnLoopback, LoopbackOptionCanBeSetAndRead) {
  // Whether the option keeps datagrams off this host cannot be seen on lo: a
  // datagram sent out of lo comes back in through lo whatever the option says.
  // tests/netns_multicast_test.cpp checks the behaviour on a veth interface.
  MulticastSocket a = member(0, group("239.255.10.5"));
  EXPECT_TRUE(*a.loopback());  // on by default
  ASSERT_TRUE(a.set_loopback(false));
  EXPECT_FALSE(*a.loopback());
  ASSERT_TRUE(a.set_loopback(true));
  EXPECT_TRUE(*a.loopback());
}

TEST_F(MulticastOnLoopback, TtlIsValidated) {
  MulticastSocket a = member(0, group("239.255.10.6"), false);
  ASSERT_TRUE(a.set_ttl(0));
  EXPECT_EQ(*a.ttl(), 0);
  ASSERT_TRUE(a.set_ttl(255));
  EXPECT_EQ(*a.ttl(), 255);
  for (int bad : {-1, 256}) {
    auto r = a.set_ttl(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(r.error().message().find(std::to_string(bad)), std::string::npos);
  }
}

TEST_F(MulticastOnLoopback, JoinRefusesNonGroupAddresses) {
  MulticastSocket a = member(0, group("239.255.10.7"), false);
  for (const char* text : {"10.1.2.3", "127.0.0.1", "223.255.255.255", "240.0.0.1"}) {
    auto r = a.join(group(text), lo_);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(r.error().message().find("224.0.0.0/4"), std::string::npos) << r.error().message();
  }
  auto v6 = a.join(group("ff02::1"), lo_);
  ASSERT_FALSE(v6);
  EXPECT_EQ(v6.error().kind(), ErrorKind::invalid_argument);
}

TEST(MulticastGroups, ValidateBothFamilies) {
  EXPECT_TRUE(validate_group(*InetAddress::parse("224.0.0.1")));
  EXPECT_TRUE(validate_group(*InetAddress::parse("ff15::1234")));
  auto r = validate_group(*InetAddress::parse("fe80::1"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("ff00::/8"), std::string::npos);
}

}  // namespace
}  // namespace nexo::net
