#include "nexo/msg/uri.hpp"

#include <gtest/gtest.h>

namespace nexo::msg {
namespace {

TEST(Uri, ParsesEachScheme) {
  auto tcp = Uri::parse("tcp://127.0.0.1:5555");
  ASSERT_TRUE(tcp) << tcp.error().message();
  EXPECT_EQ(tcp->scheme, Scheme::tcp);
  EXPECT_EQ(tcp->host, "127.0.0.1");
  EXPECT_EQ(tcp->port, 5555);
  auto udp = Uri::parse("udp://[::1]:6789");
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->host, "::1");
  EXPECT_EQ(udp->to_string(), "udp://[::1]:6789");
  auto any = Uri::parse("tcp://*:0");
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->is_wildcard());
  auto inproc = Uri::parse("inproc://orders");
  ASSERT_TRUE(inproc);
  EXPECT_EQ(inproc->name, "orders");
  EXPECT_EQ(inproc->to_string(), "inproc://orders");
  EXPECT_EQ(Uri::parse("tcp://localhost:80")->to_string(), "tcp://localhost:80");
}

TEST(Uri, RefusesWhatItCannotUseNamingTheText) {
  for (const char* bad : {"localhost:80", "http://x:80", "tcp://:80", "tcp://host",
                          "tcp://host:99999", "tcp://::1:80", "inproc://", "udp://host:port"}) {
    auto r = Uri::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace nexo::msg
