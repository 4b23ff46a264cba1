// Unix-domain streams: UnixAddress, and TcpListener/TcpStream bound to one
// (the socket file's life: stale, live, removed on close).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "nexo/net/socket_ops.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "nexo/net/tcp_stream.hpp"
#include "nexo/net/unix_address.hpp"

namespace nexo::net {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST(UnixAddress, ParsesPathsAndAbstractNames) {
  auto path = UnixAddress::parse("/tmp/x.sock");
  ASSERT_TRUE(path) << path.error().message();
  EXPECT_FALSE(path->is_abstract());
  EXPECT_EQ(path->name(), "/tmp/x.sock");
  EXPECT_EQ(path->to_string(), "/tmp/x.sock");
  auto relative = UnixAddress::parse("run/x.sock");
  ASSERT_TRUE(relative);
  EXPECT_EQ(relative->to_string(), "run/x.sock");
  auto abstract = UnixAddress::parse("@orders");
  ASSERT_TRUE(abstract);
  EXPECT_TRUE(abstract->is_abstract());
  EXPECT_EQ(abstract->name(), "orders");
  EXPECT_EQ(abstract->to_string(), "@orders");
  EXPECT_TRUE(UnixAddress::parse(std::string(UnixAddress::kMaxLength, 'a')));
}

TEST(UnixAddress, RefusesWhatSunPathCannotHoldNamingTheLimit) {
  const std::string too_long = "/tmp/" + std::string(UnixAddress::kMaxLength, 'a');
  for (const std::string& bad :
       {too_long, std::string(), std::string("@"), std::string("a\0b", 3),
        "@" + std::string(UnixAddress::kMaxLength + 1, 'a')}) {
    auto r = UnixAddress::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  }
  auto r = UnixAddress::parse(too_long);
  EXPECT_NE(r.error().message().find(std::to_string(UnixAddress::kMaxLength)), std::string::npos)
      << r.error().message();
}

class UnixStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "nexo-unix-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  UnixAddress at(const std::string& name) const {
    return UnixAddress::path((dir_ / name).string()).value();
  }
  // A socket file left behind: bound, then closed without removing it.
  void leave_stale_socket(const UnixAddress& where) const {
    auto fd = detail::open_unix_socket(SOCK_STREAM, "test socket");
    ASSERT_TRUE(fd);
    const auto address = detail::to_sockaddr(where);
    ASSERT_EQ(::bind(fd->get(), address.get(), address.length), 0);
    ASSERT_EQ(::listen(fd->get(), 1), 0);
  }
  fs::path dir_;
};

TEST_F(UnixStreamTest, ConnectAcceptAndEcho) {
  auto listener = TcpListener::bind(at("echo.sock"));
  ASSERT_TRUE(listener) << listener.error().message();
  EXPECT_TRUE(listener->is_unix());
  auto client = TcpStream::connect(at("echo.sock"), 5s);
  ASSERT_TRUE(client) << client.error().message();
  auto server = listener->accept(5s);
  ASSERT_TRUE(server) << server.error().message();
  EXPECT_TRUE(client->is_unix() && server->is_unix());
  EXPECT_EQ(client->unix_address(), at("echo.sock"));
  EXPECT_EQ(server->unix_address(), at("echo.sock"));
  ASSERT_TRUE(client->set_no_delay(true));  // nothing to do, and no error
  ASSERT_TRUE(client->write_all("ping"));
  std::array<std::byte, 4> buffer{};
  ASSERT_TRUE(server->read_exact(buffer));
  EXPECT_EQ(as_text(buffer), "ping");
  const std::array<std::span<const std::byte>, 2> parts = {as_bytes("po"), as_bytes("ng")};
  ASSERT_TRUE(server->write_gather(parts));
  ASSERT_TRUE(client->read_exact(buffer));
  EXPECT_EQ(as_text(buffer), "pong");
  ASSERT_TRUE(client->shutdown_write());
  auto end = server->read(buffer);
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().kind(), ErrorKind::closed);
  EXPECT_NE(end.error().message().find("unix read from"), std::string::npos)
      << end.error().message();
  auto keep_alive = client->set_keep_alive(KeepAlive{});
  ASSERT_FALSE(keep_alive);
  EXPECT_EQ(keep_alive.error().kind(), ErrorKind::invalid_argument);
}

TEST_F(UnixStreamTest, ARelativePathIsTakenFromTheWorkingDirectory) {
  const std::string name = "nexo-unix-relative-" + std::to_string(::getpid()) + ".sock";
  auto where = UnixAddress::path(name).value();
  {
    auto listener = TcpListener::bind(where);
    ASSERT_TRUE(listener) << listener.error().message();
    EXPECT_TRUE(fs::exists(fs::current_path() / name));
    auto client = TcpStream::connect(where, 5s);
    ASSERT_TRUE(client) << client.error().message();
  }
  EXPECT_FALSE(fs::exists(fs::current_path() / name));
}

TEST_F(UnixStreamTest, CloseRemovesTheSocketFile) {
  auto listener = TcpListener::bind(at("a.sock"));
  ASSERT_TRUE(listener);
  EXPECT_TRUE(fs::is_socket(dir_ / "a.sock"));
  TcpListener moved = std::move(*listener);
  listener->close();  // the moved-from one owns nothing
  EXPECT_TRUE(fs::is_socket(dir_ / "a.sock"));
  moved.close();
  EXPECT_FALSE(fs::exists(dir_ / "a.sock"));
  auto refused = TcpStream::connect(at("a.sock"), 5s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::refused);
}

TEST_F(UnixStreamTest, CloseLeavesAFileThatReplacedItsOwn) {
  auto listener = TcpListener::bind(at("a.sock"));
  ASSERT_TRUE(listener);
  fs::remove(dir_ / "a.sock");
  std::ofstream(dir_ / "a.sock") << "someone else's";
  listener->close();
  EXPECT_TRUE(fs::is_regular_file(dir_ / "a.sock"));
}

TEST_F(UnixStreamTest, AStaleSocketFileIsReplaced) {
  leave_stale_socket(at("stale.sock"));
  ASSERT_TRUE(fs::is_socket(dir_ / "stale.sock"));
  auto refused = TcpStream::connect(at("stale.sock"), 5s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::refused);
  auto listener = TcpListener::bind(at("stale.sock"));
  ASSERT_TRUE(listener) << listener.error().message();
  auto client = TcpStream::connect(at("stale.sock"), 5s);
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE(listener->accept(5s));
}

TEST_F(UnixStreamTest, ALiveSocketIsAddressInUseAndKeepsServing) {
  auto first = TcpListener::bind(at("live.sock"));
  ASSERT_TRUE(first);
  auto second = TcpListener::bind(at("live.sock"));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind(), ErrorKind::address_in_use) << second.error().message();
  EXPECT_TRUE(fs::is_socket(dir_ / "live.sock"));
  ASSERT_TRUE(first->accept(5s));  // the probe's connection
  auto client = TcpStream::connect(at("live.sock"), 5s);
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE(first->accept(5s));
}

TEST_F(UnixStreamTest, APathThatIsNotASocketIsLeftAlone) {
  std::ofstream(dir_ / "data.txt") << "precious";
  auto listener = TcpListener::bind(at("data.txt"));
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error().kind(), ErrorKind::address_in_use);
  EXPECT_TRUE(fs::is_regular_file(dir_ / "data.txt"));
}

TEST_F(UnixStreamTest, AMissingDirectoryIsAClearError) {
  auto listener = TcpListener::bind(at("no/such/dir.sock"));
  ASSERT_FALSE(listener);
  EXPECT_NE(listener.error().message().find("no/such/dir.sock"), std::string::npos)
      << listener.error().message();
}

TEST_F(UnixStreamTest, AbstractNamesHaveNoFile) {
  const auto name =
      UnixAddress::abstract("nexo-test-" + std::to_string(::getpid()) + "-abstract").value();
  auto listener = TcpListener::bind(name);
  ASSERT_TRUE(listener) << listener.error().message();
  auto again = TcpListener::bind(name);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind(), ErrorKind::address_in_use);
  auto client = TcpStream::connect(name, 5s);
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_EQ(client->unix_address(), name);
  ASSERT_TRUE(listener->accept(5s));
  listener->close();
  auto rebound = TcpListener::bind(name);  // the name went with the socket
  EXPECT_TRUE(rebound) << rebound.error().message();
}

}  // namespace
}  // namespace nexo::net
