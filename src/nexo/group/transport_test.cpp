// group::Transport: the group's address from its name, member contacts, and
// datagrams over loopback multicast and unicast fan-out, with a fault plan.
#include "nexo/group/transport.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "nexo/group/packet.hpp"

namespace nexo::group {
namespace {

using namespace std::chrono_literals;

TEST(GroupAddress, IsTheLowBytesOfTheNamesTagIn239) {
  const std::uint64_t tag = group_tag("chat");
  const auto a = group_address("chat");
  ASSERT_TRUE(a.is_v4());
  EXPECT_TRUE(a.is_multicast());
  EXPECT_EQ(a.bytes()[0], 239);
  EXPECT_EQ(a.bytes()[1], (tag >> 16) & 0xff);
  EXPECT_EQ(a.bytes()[2], (tag >> 8) & 0xff);
  EXPECT_EQ(a.bytes()[3], tag & 0xff);
  // FNV-1a of "" is the offset basis 0xcbf29ce484222325: 239.34.35.37.
  EXPECT_EQ(group_address("").to_string(), "239.34.35.37");
  EXPECT_NE(group_address("chat").to_string(), group_address("chats").to_string());
}

TEST(Contact, RoundTripsCompactly) {
  const net::Endpoint v4(*net::InetAddress::parse("127.0.0.1"), 5000);
  EXPECT_EQ(encode_contact(v4).size(), 6u);
  EXPECT_EQ(*decode_contact(encode_contact(v4)), v4);
  const net::Endpoint v6(*net::InetAddress::parse("::1"), 65535);
  EXPECT_EQ(encode_contact(v6).size(), 18u);
  EXPECT_EQ(*decode_contact(encode_contact(v6)), v6);
  std::array<std::uint8_t, 16> ll{0xfe, 0x80};
  ll[15] = 7;
  const net::Endpoint scoped(net::InetAddress::v6(ll, 3), 9);
  EXPECT_EQ(encode_contact(scoped).size(), 22u);
  const auto back = decode_contact(encode_contact(scoped));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->address().scope_id(), 3u);
  EXPECT_EQ(*back, scoped);
}

TEST(Contact, BadLengthsAndPortZeroAreMalformed) {
  for (std::size_t n : {0, 1, 5, 7, 17, 19, 21, 23, 64}) {
    const Bytes bytes(n, std::byte{1});
    auto r = decode_contact(bytes);
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().kind(), ErrorKind::malformed);
  }
  Bytes zero_port = encode_contact(net::Endpoint(*net::InetAddress::parse("127.0.0.1"), 1));
  zero_port[5] = std::byte{0};
  EXPECT_FALSE(decode_contact(zero_port));
}

net::NetworkInterface lo() {
  auto i = net::NetworkInterface::loopback();
  EXPECT_TRUE(i) << i.error().message();
  return *i;
}

// Receives on `t` until `want` datagrams came or 5 s passed.
std::vector<std::string> collect(Transport& t, std::size_t want) {
  std::vector<std::string> got;
  const auto deadline = Clock::now() + 5s;
  while (got.size() < want && Clock::now() < deadline) {
    const auto now = Clock::now();
    t.on_timer(now, [&](std::span<const std::byte> d) {
      got.emplace_back(reinterpret_cast<const char*>(d.data()), d.size());
    });
    if (t.receive(now, [&](std::span<const std::byte> d) {
          got.emplace_back(reinterpret_cast<const char*>(d.data()), d.size());
        }) == 0) {
      std::this_thread::sleep_for(1ms);
    }
  }
  return got;
}

TEST(Transport, MulticastOnLoopbackReachesEveryMemberOnce) {
  TransportConfig config;
  config.group = net::Endpoint(*net::InetAddress::parse("239.255.71.1"), 0);
  config.interface = lo();
  auto a = Transport::open(config);
  ASSERT_TRUE(a) << a.error().message();
  config.group = (*a)->group_endpoint();
  auto b = Transport::open(config);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_TRUE((*a)->contact().address().is_loopback());
  EXPECT_NE((*a)->contact(), (*b)->contact());

  (*a)->send(as_bytes(std::string_view("to all")), *(*a)->group_endpoint(), Clock::now());
  (*a)->send(as_bytes(std::string_view("to b")), (*b)->contact(), Clock::now());
  EXPECT_TRUE((*a)->flush());
  auto at_b = collect(**b, 2);
  std::sort(at_b.begin(), at_b.end());
  EXPECT_EQ(at_b, (std::vector<std::string>{"to all", "to b"}));
  auto at_a = collect(**a, 1);  // its own multicast comes back (the core drops it)
  EXPECT_EQ(at_a, std::vector<std::string>{"to all"});
  EXPECT_EQ((*a)->counters().sent, 2u);
}

// NAKs and repairs come one to one: the unicast socket is read first in
// every call, and the group's a bounded part at a time (the rest in the next
// calls), so that control never waits behind a whole backlog of data.
TEST(Transport, TheUnicastSocketIsReadFirstAndTheGroupsAPartAtATime) {
  TransportConfig config;
  config.group = net::Endpoint(*net::InetAddress::parse("239.255.71.3"), 0);
  config.interface = lo();
  auto a = Transport::open(config);
  ASSERT_TRUE(a) << a.error().message();
  config.group = (*a)->group_endpoint();
  auto b = Transport::open(config);
  ASSERT_TRUE(b) << b.error().message();
  constexpr std::size_t kData = 600;
  for (std::size_t i = 0; i < kData; ++i)
    (*a)->send(as_bytes(std::string_view("data")), *(*a)->group_endpoint(), Clock::now());
  EXPECT_TRUE((*a)->flush());
  (*a)->send(as_bytes(std::string_view("nak")), (*b)->contact(), Clock::now());  // sent last
  EXPECT_TRUE((*a)->flush());
  std::size_t data = 0, calls = 0, most = 0;
  bool control = false;
  const auto deadline = Clock::now() + 5s;
  while ((!control || data + (*b)->counters().kernel_drops < kData) && Clock::now() < deadline) {
    std::vector<std::string> got;
    (*b)->receive(Clock::now(), [&](std::span<const std::byte> d) {
      got.emplace_back(reinterpret_cast<const char*>(d.data()), d.size());
    });
    if (got.empty()) {
      std::this_thread::sleep_for(1ms);
      continue;
    }
    ++calls;
    const auto nak = std::find(got.begin(), got.end(), "nak");
    if (nak != got.end()) {
      EXPECT_EQ(nak, got.begin()) << "the unicast datagram first, before the group's data";
      control = true;
    }
    const auto n = static_cast<std::size_t>(std::count(got.begin(), got.end(), "data"));
    data += n;
    most = std::max(most, n);
  }
  EXPECT_TRUE(control);
  EXPECT_EQ(data + (*b)->counters().kernel_drops, kData);
  EXPECT_LE(most, 256u) << "a call reads a bounded part of the group's backlog";
  if ((*b)->counters().kernel_drops == 0) {
    EXPECT_GE(calls, 3u);
  }
}

TEST(Transport, UnicastModeAndAFaultPlanThatLosesEverything) {
  TransportConfig config;
  config.interface = lo();
  auto a = Transport::open(config);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_FALSE((*a)->multicast());
  EXPECT_EQ((*a)->group_fd(), -1);
  fault::Direction all_lost;
  all_lost.loss = 1;
  config.faults = fault::Plan{{}, all_lost, 7};
  auto b = Transport::open(config);
  ASSERT_TRUE(b) << b.error().message();
  for (int i = 0; i < 10; ++i)
    (*a)->send(as_bytes(std::string_view("x")), (*b)->contact(), Clock::now());
  (*b)->send(as_bytes(std::string_view("from b")), (*a)->contact(), Clock::now());
  EXPECT_TRUE((*a)->flush());
  EXPECT_TRUE((*b)->flush());
  EXPECT_EQ(collect(**a, 1), std::vector<std::string>{"from b"});
  // b read the ten, and its receive faults dropped each one.
  const auto deadline = Clock::now() + 5s;
  while ((*b)->counters().faults_received.lost < 10 && Clock::now() < deadline) {
    (*b)->receive(Clock::now(), [](std::span<const std::byte>) { ADD_FAILURE() << "delivered"; });
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ((*b)->counters().faults_received.lost, 10u);
  EXPECT_EQ((*b)->counters().received, 0u);
}

// The sysctl's cap on a plain SO_RCVBUF request (bytes).
int rmem_max() {
  int value = 0;
  if (FILE* f = std::fopen("/proc/sys/net/core/rmem_max", "r")) {
    if (std::fscanf(f, "%d", &value) != 1) value = 0;
    std::fclose(f);
  }
  return value;
}

// A burst of a sender's window must fit in the receiver's kernel buffer: the
// default asks for 16 MiB (as root past rmem_max), at least what the sysctl
// allows (the kernel's default, ~208 KiB, overflowed at ~100 KiB datagrams in
// flight and turned into retransmission storms).
TEST(Transport, AsksForLargeSocketBuffers) {
  TransportConfig config;
  config.group = net::Endpoint(*net::InetAddress::parse("239.255.71.2"), 0);
  config.interface = lo();
  auto t = Transport::open(config);
  ASSERT_TRUE(t) << t.error().message();
  const int expected = std::min(config.receive_buffer, rmem_max());
  EXPECT_GE((*t)->counters().receive_buffer, expected);
}

// Datagrams the kernel dropped because the receive buffer was full are counted.
TEST(Transport, CountsKernelDrops) {
  TransportConfig config;
  config.interface = lo();
  auto a = Transport::open(config);
  ASSERT_TRUE(a) << a.error().message();
  config.receive_buffer = 1;  // the kernel's minimum: a few datagrams
  auto b = Transport::open(config);
  ASSERT_TRUE(b) << b.error().message();
  const Bytes datagram(1000, std::byte{7});
  for (int i = 0; i < 200; ++i)
    (*a)->send(datagram, (*b)->contact(), Clock::now());
  EXPECT_TRUE((*a)->flush());
  std::size_t got = 0;
  (*b)->receive(Clock::now(), [&](std::span<const std::byte>) { ++got; });
  EXPECT_GT(got, 0u);
  EXPECT_LT(got, 200u);
  // A drop shows with the next datagram queued after it (SO_RXQ_OVFL).
  (*a)->send(datagram, (*b)->contact(), Clock::now());
  EXPECT_TRUE((*a)->flush());
  (*b)->receive(Clock::now(), [&](std::span<const std::byte>) { ++got; });
  EXPECT_EQ((*b)->counters().kernel_drops, 201u - got);
}

TEST(Transport, RefusesWhatCannotWork) {
  TransportConfig config;
  config.interface = lo();
  config.group = net::Endpoint(*net::InetAddress::parse("10.1.2.3"), 0);
  auto r = Transport::open(config);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument) << r.error().message();
  fault::Direction bad;
  bad.loss = 2;
  config.group.reset();
  config.faults = fault::Plan{bad, {}, 1};
  r = Transport::open(config);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument) << r.error().message();
}

}  // namespace
}  // namespace nexo::group
