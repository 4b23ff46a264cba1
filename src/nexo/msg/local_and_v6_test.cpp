// ipc:// and IPv6 beyond the conformance suites: a port bound to * takes IPv4
// and IPv6 senders alike (dual stack), and ipc://'s socket file lives and dies
// with its port.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "nexo/net/socket_ops.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class LocalAndV6 : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Context::create();
    ASSERT_TRUE(c) << c.error().message();
    context_ = std::move(*c);
    std::string pattern = (fs::temp_directory_path() / "nexo-ipc-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string ipc(const std::string& name) const { return "ipc://" + (dir_ / name).string(); }
  // Sends `text` to `port` through `uri` and checks that it arrives.
  void expect_reaches(Port& port, const std::string& uri, const std::string& text) {
    auto sender = Sender::connect(*context_, uri);
    ASSERT_TRUE(sender) << uri << ": " << sender.error().message();
    ASSERT_TRUE((*sender)->send(text, 5s));
    auto m = port.receive(5s);
    ASSERT_TRUE(m) << uri << ": " << m.error().message();
    EXPECT_EQ(m->text(), text);
  }
  std::unique_ptr<Context> context_;
  fs::path dir_;
};

TEST_F(LocalAndV6, AWildcardPortTakesIPv4AndIPv6Senders) {
  for (const char* scheme : {"tcp", "udp", "rudp"}) {
    SCOPED_TRACE(scheme);
    auto port = Port::bind(*context_, std::string(scheme) + "://*:0");
    ASSERT_TRUE(port) << port.error().message();
    EXPECT_TRUE((*port)->uri().is_wildcard());
    const std::string at = ":" + std::to_string((*port)->uri().port);
    expect_reaches(**port, std::string(scheme) + "://127.0.0.1" + at, "over IPv4");
    expect_reaches(**port, std::string(scheme) + "://[::1]" + at, "over IPv6");
  }
}

TEST_F(LocalAndV6, AnIPv6PortReportsItsAddressInBrackets) {
  auto port = Port::bind(*context_, "tcp://[::1]:0");
  ASSERT_TRUE(port) << port.error().message();
  const std::string uri = (*port)->uri().to_string();
  EXPECT_EQ(uri.rfind("tcp://[::1]:", 0), 0u) << uri;
  expect_reaches(**port, uri, "v6");
}

TEST_F(LocalAndV6, AnIpcPortRemovesItsSocketFileWhenClosed) {
  auto port = Port::bind(*context_, ipc("p.sock"));
  ASSERT_TRUE(port) << port.error().message();
  EXPECT_EQ((*port)->uri().to_string(), ipc("p.sock"));
  EXPECT_TRUE(fs::is_socket(dir_ / "p.sock"));
  expect_reaches(**port, ipc("p.sock"), "local");
  (*port)->close();
  EXPECT_FALSE(fs::exists(dir_ / "p.sock"));
  auto refused = Sender::connect(*context_, ipc("p.sock"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::refused) << refused.error().message();
}

TEST_F(LocalAndV6, ALivePathIsAddressInUseAndAStaleOneIsTakenOver) {
  auto first = Port::bind(*context_, ipc("live.sock"));
  ASSERT_TRUE(first);
  auto second = Port::bind(*context_, ipc("live.sock"));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind(), ErrorKind::address_in_use) << second.error().message();
  expect_reaches(**first, ipc("live.sock"), "still mine");

  // A socket file whose process died: bound, listened, closed without unlinking.
  const auto stale = net::UnixAddress::path((dir_ / "stale.sock").string()).value();
  {
    auto fd = net::detail::open_unix_socket(SOCK_STREAM, "test");
    ASSERT_TRUE(fd);
    const auto address = net::detail::to_sockaddr(stale);
    ASSERT_EQ(::bind(fd->get(), address.get(), address.length), 0);
  }
  ASSERT_TRUE(fs::is_socket(dir_ / "stale.sock"));
  auto taken = Port::bind(*context_, ipc("stale.sock"));
  ASSERT_TRUE(taken) << taken.error().message();
  expect_reaches(**taken, ipc("stale.sock"), "taken over");
}

TEST_F(LocalAndV6, IpcPathErrorsAreClear) {
  auto too_long = Port::bind(*context_, "ipc:///tmp/" + std::string(120, 'x'));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(too_long.error().message().find("sun_path"), std::string::npos);
  std::ofstream(dir_ / "file") << "not a socket";
  auto not_socket = Port::bind(*context_, ipc("file"));
  ASSERT_FALSE(not_socket);
  EXPECT_EQ(not_socket.error().kind(), ErrorKind::address_in_use);
  EXPECT_TRUE(fs::is_regular_file(dir_ / "file"));
  auto no_dir = Port::bind(*context_, ipc("missing/p.sock"));
  ASSERT_FALSE(no_dir);
  auto faults = PortOptions{};
  faults.faults = fault::Plan{};
  auto with_plan = Port::bind(*context_, ipc("f.sock"), faults);
  ASSERT_FALSE(with_plan);
  EXPECT_EQ(with_plan.error().kind(), ErrorKind::invalid_argument);
}

TEST_F(LocalAndV6, AnAbstractNameNeedsNoFile) {
  const std::string uri = "ipc://@nexo-test-" + std::to_string(::getpid());
  auto port = Port::bind(*context_, uri);
  ASSERT_TRUE(port) << port.error().message();
  EXPECT_EQ((*port)->uri().to_string(), uri);
  expect_reaches(**port, uri, "abstract");
}

}  // namespace
}  // namespace nexo::msg
