// MulticastSocket where the loopback interface cannot show it: IPv6 multicast (lo
// has no IPv6 multicast route) and IP_MULTICAST_LOOP (on lo a datagram sent out of
// lo comes back in through lo, whatever the option says). src/nexo/net/
// multicast_socket_test.cpp covers IPv4 on lo.
//
// main() moves the process into a new network namespace before any thread exists
// (unshare is per thread) and builds a private two-interface network in it:
//
//   v0 (10.77.0.1/24, fe80::...) <-- veth "wire" --> v1 (10.77.0.2/24, fe80::...)
//
// The process is the namespace's only member, so the namespace, the veth pair and
// every group membership disappear when it exits: nothing is left behind, and no
// datagram can leave the namespace. Without root or unshare every test skips
// (fails under CI=true: skip_or_fail.hpp).
//
// What Linux does here (observed on 6.18; the tests assert it):
//  - Every non-loopback interface that comes up gets a route "multicast ff00::/8
//    dev X table local"; lo gets none. IPv6 multicast out of lo, or with no
//    interface chosen when only lo is up, fails with ENETUNREACH (unreachable).
//    With no interface chosen and v0, v1 up, the kernel takes one of the ff00::/8
//    routes (here the last interface brought up, v1); the veth connects both, so
//    a member on v0 receives either way.
//  - IPv4 multicast with no interface chosen follows the unicast routing table:
//    the namespace has no default route, so it is unreachable too.
//  - Loopback off: the sending interface gets no copy, the datagram still leaves
//    on the wire. Loopback on: the sending interface gets a copy as well.
//  - v1 drops an IPv4 datagram whose source address is one of this host's (it is:
//    10.77.0.1 is v0's) unless net.ipv4.conf.v1.accept_local=1, set below.
//  - A received IPv6 datagram from a link-local address carries the index of the
//    interface it arrived on as the peer's scope id: how the tests tell a copy
//    that crossed the wire (v1) from one looped back (v0).
//  - IPv6 filters per socket by group only, not by interface: a socket that
//    joined G on v0 also receives G's datagrams arriving on v1 if any socket
//    joined G on v1. IPv4 filters by group and interface, but see
//    Ipv4OnlyMembersOfTheGroupReceive for members sharing a port.
//    So the tests give each receiving interface its own group and port.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "nexo/net/multicast_socket.hpp"
#include "skip_or_fail.hpp"

namespace nexo::net {
namespace {

using namespace std::chrono_literals;

std::string g_skip_reason;  // why the namespace could not be built; empty when it was

bool run(const std::string& command) {
  const int status = std::system(command.c_str());
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool has_link_local(const char* name) {
  auto interface = NetworkInterface::by_name(name);
  if (!interface) return false;
  const auto& addresses = interface->addresses();
  return std::any_of(addresses.begin(), addresses.end(), [](const InetAddress& a) {
    return a.is_v6() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80;
  });
}

// Enters a new network namespace and builds v0 <-> v1 in it; returns why not, or "".
std::string build_namespace() {
  if (::geteuid() != 0) return "needs root to create a network namespace";
  if (::unshare(CLONE_NEWNET) != 0) {
    return std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno);
  }
  for (const char* command : {
           "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0",
           "ip link set lo up",
           "ip link add v0 type veth peer name v1",
           "ip addr add 10.77.0.1/24 dev v0",
           "ip addr add 10.77.0.2/24 dev v1",
           "sysctl -qw net.ipv4.conf.v1.accept_local=1",
           "ip link set v0 up",
           "ip link set v1 up",
       }) {
    if (!run(command)) return std::string("namespace setup failed: `") + command + "`";
  }
  // IPv6 configures an interface (link-local address, ff00::/8 route) once the
  // link reports carrier, which comes asynchronously: poll, with a deadline.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!(has_link_local("v0") && has_link_local("v1"))) {
    if (std::chrono::steady_clock::now() > deadline) {
      return "v0 and v1 had no IPv6 link-local address within 5 s";
    }
    std::this_thread::sleep_for(10ms);
  }
  return "";
}

InetAddress group(const char* text) {
  return *InetAddress::parse(text);
}

class NetnsMulticast : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_skip_reason.empty()) NEXO_SKIP_OR_FAIL(g_skip_reason);
    auto v0 = NetworkInterface::by_name("v0");
    auto v1 = NetworkInterface::by_name("v1");
    ASSERT_TRUE(v0 && v1) << "v0 or v1 went away";
    v0_ = *v0;
    v1_ = *v1;
  }

  // A socket bound to `port` (0: any) that joined `g` on `on`.
  static MulticastSocket member(std::uint16_t port, const InetAddress& g,
                                const NetworkInterface& on) {
    auto s = MulticastSocket::bind(port, g.family());
    EXPECT_TRUE(s) << s.error().message();
    auto joined = s->join(g, on);
    EXPECT_TRUE(joined) << joined.error().message();
    EXPECT_TRUE(s->set_receive_timeout(5s));
    return std::move(s).value();
  }
  // A socket whose multicast datagrams leave through `out` (or the route's choice).
  static MulticastSocket sender(Family family, const NetworkInterface* out) {
    auto s = MulticastSocket::bind(0, family);
    EXPECT_TRUE(s) << s.error().message();
    if (out != nullptr) {
      EXPECT_TRUE(s->set_interface(*out));
    }
    EXPECT_TRUE(s->set_receive_timeout(5s));
    return std::move(s).value();
  }
  static void expect_received(MulticastSocket& m, std::string_view text,
                              const MulticastSocket& from,
                              const NetworkInterface* arrived_on = nullptr) {
    auto d = m.receive();
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(d->text(), text);
    EXPECT_EQ(d->peer.port(), from.local_endpoint().port());
    if (arrived_on != nullptr) {
      EXPECT_EQ(d->peer.address().scope_id(), arrived_on->index());
    }
  }
  // Nothing arrives. Anything sent before would be queued by now (delivery on
  // this host happens within the send, or on the other end of the veth before a
  // later datagram), so a short wait suffices; the check is on the error kind.
  static void expect_nothing(MulticastSocket& m) {
    ASSERT_TRUE(m.set_receive_timeout(100ms));
    auto d = m.receive();
    ASSERT_FALSE(d) << "unexpected datagram '" << d->text() << "' from " << d->peer.to_string();
    EXPECT_EQ(d.error().kind(), ErrorKind::timed_out) << d.error().message();
  }
  static void expect_unreachable(Result<void> sent) {
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().kind(), ErrorKind::unreachable) << sent.error().message();
  }

  // A sender on v0 with loopback off, a member on v0 and one on v1 (a group and
  // port of its own each, see the header); then loopback on.
  void loopback_seen_on_the_wire(Family family, const char* group_v0, const char* group_v1) {
    const auto g0 = group(group_v0);
    const auto g1 = group(group_v1);
    MulticastSocket out = sender(family, &v0_);
    MulticastSocket on_v0 = member(0, g0, v0_);
    MulticastSocket on_v1 = member(0, g1, v1_);
    auto v6_arrival = [&](const NetworkInterface& i) -> const NetworkInterface* {
      return family == Family::v6 ? &i : nullptr;
    };
    ASSERT_TRUE(out.set_loopback(false));
    EXPECT_FALSE(*out.loopback());
    ASSERT_TRUE(out.send_to("loop off", Endpoint(g0, on_v0.local_endpoint().port())));
    ASSERT_TRUE(out.send_to("loop off", Endpoint(g1, on_v1.local_endpoint().port())));
    expect_received(on_v1, "loop off", out, v6_arrival(v1_));  // it crossed the wire
    expect_nothing(on_v0);                                     // no copy on v0 itself

    ASSERT_TRUE(out.set_loopback(true));
    ASSERT_TRUE(out.send_to("loop on", Endpoint(g0, on_v0.local_endpoint().port())));
    expect_received(on_v0, "loop on", out, v6_arrival(v0_));  // looped back on v0
  }

  NetworkInterface v0_;
  NetworkInterface v1_;
};

TEST_F(NetnsMulticast, Ipv6TwoMembersOnOnePortBothReceive) {
  for (const char* text : {"ff15::1234", "ff02::1:2345"}) {  // site-local and link-local scope
    SCOPED_TRACE(text);
    const auto g = group(text);
    MulticastSocket a = member(0, g, v0_);
    const auto port = a.local_endpoint().port();
    MulticastSocket b = member(port, g, v0_);
    ASSERT_TRUE(a.set_interface(v0_));
    ASSERT_TRUE(a.send_to("to the v6 group", Endpoint(g, port)));
    for (auto* m : {&a, &b}) {
      expect_received(*m, "to the v6 group", a, &v0_);
    }
  }
}

TEST_F(NetnsMulticast, Ipv6AMemberThatLeftNoLongerReceives) {
  const auto g = group("ff15::1235");
  MulticastSocket a = member(0, g, v0_);
  const auto port = a.local_endpoint().port();
  MulticastSocket b = member(port, g, v0_);
  ASSERT_TRUE(b.leave(g, v0_));
  ASSERT_TRUE(a.set_interface(v0_));
  ASSERT_TRUE(a.send_to("after leave", Endpoint(g, port)));
  expect_received(a, "after leave", a, &v0_);
  expect_nothing(b);
  auto again = b.leave(g, v0_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind(), ErrorKind::invalid_argument);
}

TEST_F(NetnsMulticast, Ipv6JoinRefusesNonGroupAddresses) {
  auto s = MulticastSocket::bind(0, Family::v6);
  ASSERT_TRUE(s) << s.error().message();
  for (const char* text : {"fe80::1", "::1", "2001:db8::1", "239.255.10.1"}) {
    auto r = s->join(group(text), v0_);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument) << r.error().message();
  }
}

TEST_F(NetnsMulticast, Ipv6HopLimitIsTheTtl) {
  MulticastSocket s = sender(Family::v6, &v0_);
  EXPECT_EQ(*s.ttl(), 1);  // the default: stay on the link
  for (int hops : {0, 255, 1}) {
    ASSERT_TRUE(s.set_ttl(hops));
    EXPECT_EQ(*s.ttl(), hops);
  }
  for (int bad : {-1, 256}) {
    auto r = s.set_ttl(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  }
}

TEST_F(NetnsMulticast, OutgoingInterfaceChoice) {
  const auto g = group("ff15::1236");
  MulticastSocket m = member(0, g, v0_);
  const Endpoint to(g, m.local_endpoint().port());

  MulticastSocket via_lo = sender(Family::v6, nullptr);
  auto lo = NetworkInterface::loopback();
  ASSERT_TRUE(lo) << lo.error().message();
  ASSERT_TRUE(via_lo.set_interface(*lo));
  expect_unreachable(via_lo.send_to("via lo", to));  // lo has no ff00::/8 route

  MulticastSocket unset = sender(Family::v6, nullptr);  // the kernel picks v0's or v1's route
  ASSERT_TRUE(unset.send_to("by route", to));
  expect_received(m, "by route", unset);

  MulticastSocket via_v0 = sender(Family::v6, &v0_);
  ASSERT_TRUE(via_v0.send_to("via v0", to));
  expect_received(m, "via v0", via_v0, &v0_);

  // IPv4 with no interface follows the unicast routes: none covers 239.0.0.0/8.
  MulticastSocket v4_unset = sender(Family::v4, nullptr);
  expect_unreachable(v4_unset.send_to("by route", Endpoint(group("239.77.0.9"), 9)));
}

TEST_F(NetnsMulticast, NoMulticastRouteIsUnreachable) {
  // What a host with only lo sees: run on a thread of our own in a further, empty
  // namespace (unshare and fork act on the calling thread), with lo up. The
  // thread only records what happened; the test thread asserts.
  std::string setup_failure;
  Result<void> v6_sent = ok(), v4_sent = ok();
  std::thread only_lo([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      setup_failure = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    if (!run("ip link set lo up")) {
      setup_failure = "ip link set lo up failed";
      return;
    }
    auto v6 = MulticastSocket::bind(0, Family::v6);
    auto v4 = MulticastSocket::bind(0, Family::v4);
    if (!v6 || !v4) {
      setup_failure = "bind: " + (v6 ? v4 : v6).error().message();
      return;
    }
    v6_sent = v6->send_to("nowhere", Endpoint(group("ff15::1237"), 9));
    v4_sent = v4->send_to("nowhere", Endpoint(group("239.77.0.10"), 9));
  });  // the namespace goes when the thread and its sockets do
  only_lo.join();
  ASSERT_EQ(setup_failure, "");
  expect_unreachable(std::move(v6_sent));
  expect_unreachable(std::move(v4_sent));
}

TEST_F(NetnsMulticast, Ipv4LoopbackOffIsSeenOnTheWire) {
  loopback_seen_on_the_wire(Family::v4, "239.77.0.1", "239.77.0.2");
}

TEST_F(NetnsMulticast, Ipv6LoopbackOffIsSeenOnTheWire) {
  loopback_seen_on_the_wire(Family::v6, "ff15::77:1", "ff15::77:2");
}

// Failed on Linux 6.18 while MulticastSocket set SO_REUSEPORT on every member:
// an IPv4 multicast datagram arriving from a device (not lo, not a looped-back
// copy) goes through early demux, which finds the one socket that joined the
// group and then hands the datagram to a socket of that socket's SO_REUSEPORT
// group chosen by a hash of the addresses and ports, joined or not. So a member
// of another group may receive it, and the member of this group then misses it.
// Gone with SO_REUSEADDR alone or net.ipv4.ip_early_demux=0; IPv6 is not
// affected. MulticastSocket::bind therefore does not set SO_REUSEPORT.
TEST_F(NetnsMulticast, Ipv4OnlyMembersOfTheGroupReceive) {
  MulticastSocket joined = member(0, group("239.77.0.3"), v1_);
  const auto port = joined.local_endpoint().port();
  MulticastSocket other = member(port, group("239.77.0.4"), v1_);
  for (int i = 0; i < 16; ++i) {  // 16 senders, 16 source ports, 16 different hashes
    SCOPED_TRACE(i);
    MulticastSocket out = sender(Family::v4, &v0_);
    ASSERT_TRUE(out.send_to("to .3", Endpoint(group("239.77.0.3"), port)));
    expect_received(joined, "to .3", out);
    expect_nothing(other);
    if (HasFailure()) break;  // each miss costs a receive timeout
  }
}

}  // namespace
}  // namespace nexo::net

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Listing the tests (ctest's discovery) needs no namespace.
  if (!::testing::GTEST_FLAG(list_tests)) nexo::net::g_skip_reason = nexo::net::build_namespace();
  return RUN_ALL_TESTS();
}
