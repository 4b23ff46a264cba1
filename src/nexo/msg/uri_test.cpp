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

TEST(Uri, ParsesIpcPathsAndPrintsThemBack) {
  for (const char* text : {"ipc:///tmp/x.sock", "ipc://relative/path", "ipc://x.sock",
                           "ipc://@abstract-name"}) {
    auto uri = Uri::parse(text);
    ASSERT_TRUE(uri) << text << ": " << uri.error().message();
    EXPECT_EQ(uri->scheme, Scheme::ipc);
    EXPECT_EQ(uri->to_string(), text);
  }
  EXPECT_EQ(Uri::parse("ipc:///tmp/x.sock")->name, "/tmp/x.sock");
  EXPECT_EQ(Uri::parse("ipc://relative/path")->name, "relative/path");
  EXPECT_EQ(to_string(Scheme::ipc), "ipc");
}

TEST(Uri, ParsesIPv6AndTheWildcardOnEveryNetworkScheme) {
  for (const char* text : {"tcp://[::1]:0", "udp://[::1]:0", "rudp://[::1]:0", "tcp://*:0",
                           "udp://*:0", "rudp://*:0", "tcp://[fe80::1]:7", "rudp://[::1]:65535"}) {
    auto uri = Uri::parse(text);
    ASSERT_TRUE(uri) << text << ": " << uri.error().message();
    EXPECT_EQ(uri->to_string(), text);
  }
  EXPECT_EQ(Uri::parse("rudp://[::1]:9")->host, "::1");
  EXPECT_FALSE(Uri::parse("tcp://[::1]:0")->is_wildcard());
}

TEST(Uri, AnIpcPathLongerThanSunPathIsRefusedSayingSo) {
  const std::string text = "ipc:///tmp/" + std::string(200, 'p') + ".sock";
  auto r = Uri::parse(text);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(r.error().message().find("sun_path"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find(text), std::string::npos) << r.error().message();
}

TEST(Uri, RefusesWhatItCannotUseNamingTheText) {
  for (const char* bad : {"localhost:80", "http://x:80", "tcp://:80", "tcp://host",
                          "tcp://host:99999", "tcp://::1:80", "inproc://", "udp://host:port", "ipc://",
                          "ipc://@", "unix:///tmp/x"}) {
    auto r = Uri::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace nexo::msg
