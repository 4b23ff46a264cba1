#include "nexo/net/tcp_stream.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "nexo/net/socket_ops.hpp"
#include "nexo/net/tcp_listener.hpp"

namespace nexo::net {
namespace {

using namespace std::chrono_literals;

struct Pair {
  TcpListener listener;
  TcpStream client;
  TcpStream server;
};

class TcpStreamTest : public ::testing::TestWithParam<Family> {
 protected:
  InetAddress loopback() const { return InetAddress::loopback(GetParam()); }
  TcpListener listen(int backlog = 64) {
    TcpListenOptions options;
    options.backlog = backlog;
    auto l = TcpListener::bind(Endpoint(loopback(), 0), options);
    EXPECT_TRUE(l) << l.error().message();
    return std::move(l).value();
  }
  Pair connected() {
    TcpListener listener = listen();
    auto client = TcpStream::connect(listener.local_endpoint(), 5s);
    EXPECT_TRUE(client) << client.error().message();
    auto server = listener.accept(5s);
    EXPECT_TRUE(server) << server.error().message();
    return Pair{std::move(listener), std::move(client).value(), std::move(server).value()};
  }
};

INSTANTIATE_TEST_SUITE_P(BothFamilies, TcpStreamTest, ::testing::Values(Family::v4, Family::v6),
                         [](const auto& family) {
                           return family.param == Family::v4 ? "IPv4" : "IPv6";
                         });

TEST_P(TcpStreamTest, ConnectAcceptAndEcho) {
  Pair p = connected();
  EXPECT_EQ(p.client.peer_endpoint(), p.listener.local_endpoint());
  EXPECT_EQ(p.server.peer_endpoint(), p.client.local_endpoint());
  ASSERT_TRUE(p.client.write_all("ping"));
  std::array<std::byte, 4> buffer{};
  ASSERT_TRUE(p.server.read_exact(buffer));
  EXPECT_EQ(as_text(buffer), "ping");
  ASSERT_TRUE(p.server.write_all(as_bytes("pong")));
  ASSERT_TRUE(p.client.read_exact(buffer));
  EXPECT_EQ(as_text(buffer), "pong");
}

TEST_P(TcpStreamTest, GatherWriteSendsBuffersInOrder) {
  Pair p = connected();
  const std::array<std::span<const std::byte>, 4> parts = {as_bytes("one "), as_bytes(""),
                                                           as_bytes("two "), as_bytes("three")};
  auto n = p.client.write_gather(parts);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 13u);  // loopback takes it all at once
  std::array<std::byte, 13> got{};
  ASSERT_TRUE(p.server.read_exact(got));
  EXPECT_EQ(as_text(got), "one two three");
}

TEST_P(TcpStreamTest, ConnectToClosedPortIsRefused) {
  // A port nobody listens on, held for the whole test (never probed, closed
  // and hoped free): a socket bound to it that does not listen, so a connect
  // is answered with a reset.
  auto held = detail::open_socket(GetParam(), SOCK_STREAM, "socket");
  ASSERT_TRUE(held) << held.error().message();
  ASSERT_TRUE(detail::bind_to(held->get(), Endpoint(loopback(), 0), GetParam(), "bind"));
  auto nobody = detail::local_endpoint_of(held->get());
  ASSERT_TRUE(nobody) << nobody.error().message();
  auto r = TcpStream::connect(*nobody, 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::refused);
  EXPECT_NE(r.error().message().find(nobody->to_string()), std::string::npos);
}

TEST_P(TcpStreamTest, ConnectTimesOutWhenTheBacklogIsFull) {
  // Linux drops SYNs while a listener's accept queue is full, so the connect
  // hangs: exactly the "server that does not answer" case, kept on loopback.
  TcpListener listener = listen(1);
  std::vector<TcpStream> queued;
  Result<TcpStream> attempt = Error(ErrorKind::system, "not tried");
  for (int i = 0; i < 16; ++i) {
    attempt = TcpStream::connect(listener.local_endpoint(), 200ms);
    if (!attempt) break;
    queued.push_back(std::move(attempt).value());
  }
  ASSERT_FALSE(attempt) << "16 connections were queued on a backlog of 1";
  EXPECT_EQ(attempt.error().kind(), ErrorKind::timed_out) << attempt.error().message();
  EXPECT_NE(attempt.error().message().find("200 ms"), std::string::npos);
}

TEST_P(TcpStreamTest, AcceptTimesOut) {
  TcpListener listener = listen();
  auto r = listener.accept(20ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timed_out);
  ASSERT_TRUE(listener.set_non_blocking(true));
  EXPECT_EQ(listener.accept().error().kind(), ErrorKind::would_block);
}

TEST_P(TcpStreamTest, ReadTimesOutOnASilentPeer) {
  Pair p = connected();
  ASSERT_TRUE(p.client.set_read_timeout(20ms));
  std::array<std::byte, 8> buffer{};
  auto r = p.client.read(buffer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timed_out);
}

TEST_P(TcpStreamTest, OrderlyCloseReadsClosed) {
  Pair p = connected();
  ASSERT_TRUE(p.server.write_all("bye"));
  p.server.close();
  std::array<std::byte, 3> buffer{};
  ASSERT_TRUE(p.client.read_exact(buffer));  // what was sent before the close arrives
  auto r = p.client.read(buffer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::closed);
}

TEST_P(TcpStreamTest, HalfCloseLetsThePeerStillAnswer) {
  Pair p = connected();
  ASSERT_TRUE(p.client.write_all("question"));
  ASSERT_TRUE(p.client.shutdown_write());
  std::array<std::byte, 8> q{};
  ASSERT_TRUE(p.server.read_exact(q));
  std::array<std::byte, 1> more{};
  EXPECT_EQ(p.server.read(more).error().kind(), ErrorKind::closed);  // end of the client's data
  ASSERT_TRUE(p.server.write_all("answer"));
  std::array<std::byte, 6> a{};
  ASSERT_TRUE(p.client.read_exact(a));
  EXPECT_EQ(as_text(a), "answer");
  auto write_after = p.client.write_all("late");
  ASSERT_FALSE(write_after);
  EXPECT_EQ(write_after.error().kind(), ErrorKind::closed);
}

TEST_P(TcpStreamTest, AbortedConnectionReadsReset) {
  Pair p = connected();
  p.server.abort();  // an RST, as when a process dies with data unread
  p.server.abort();  // idempotent
  EXPECT_FALSE(p.server.is_open());
  ASSERT_TRUE(p.client.set_read_timeout(5s));
  std::array<std::byte, 8> buffer{};
  auto r = p.client.read(buffer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::reset) << r.error().message();
}

TEST_P(TcpStreamTest, ReadExactSaysHowMuchArrivedBeforeTheEnd) {
  Pair p = connected();
  ASSERT_TRUE(p.server.write_all("abc"));
  ASSERT_TRUE(p.server.shutdown_write());
  std::array<std::byte, 8> buffer{};
  auto r = p.client.read_exact(buffer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::closed);
  EXPECT_NE(r.error().message().find("got 3 of 8 bytes"), std::string::npos) << r.error().message();
  EXPECT_EQ(as_text(std::span(buffer).first(3)), "abc");
}

TEST_P(TcpStreamTest, WritingToAVanishedPeerIsAnErrorNotSigpipe) {
  Pair p = connected();
  p.server.close();
  Bytes chunk(64 * 1024);
  Result<void> r = ok();
  for (int i = 0; i < 100 && r; ++i)
    r = p.client.write_all(chunk);  // SIGPIPE would kill us here
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::reset) || r.error().is(ErrorKind::closed))
      << r.error().to_string();
}

TEST_P(TcpStreamTest, WriteTimesOutWhenThePeerDoesNotRead) {
  Pair p = connected();
  ASSERT_TRUE(p.client.set_send_buffer_size(4096));
  ASSERT_TRUE(p.server.set_receive_buffer_size(4096));
  ASSERT_TRUE(p.client.set_write_timeout(50ms));
  Bytes chunk(1 << 20);
  auto r = p.client.write_all(chunk);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timed_out) << r.error().message();
  EXPECT_NE(r.error().message().find("write_all: sent"), std::string::npos);
}

TEST_P(TcpStreamTest, OptionsCanBeSetAndRead) {
  Pair p = connected();
  ASSERT_TRUE(p.client.set_no_delay(true));
  EXPECT_TRUE(*p.client.no_delay());
  ASSERT_TRUE(p.client.set_keep_alive(KeepAlive{5s, 1s, 3}));
  EXPECT_TRUE(*p.client.keep_alive());
  ASSERT_TRUE(p.client.set_keep_alive(std::nullopt));
  EXPECT_FALSE(*p.client.keep_alive());
  EXPECT_EQ(p.client.set_keep_alive(KeepAlive{0s, 1s, 3}).error().kind(),
            ErrorKind::invalid_argument);
}

TEST_P(TcpStreamTest, NonBlockingReadWouldBlock) {
  Pair p = connected();
  ASSERT_TRUE(p.client.set_non_blocking(true));
  std::array<std::byte, 8> buffer{};
  EXPECT_EQ(p.client.read(buffer).error().kind(), ErrorKind::would_block);
}

// Non-blocking calls on a blocking descriptor: read and write never wait (a
// full send buffer is would_block, not a hang), read_waiting waits in the
// kernel, up to the limit.
TEST_P(TcpStreamTest, NonBlockingCallsNeverWaitAndReadWaitingDoes) {
  Pair p = connected();
  std::array<std::byte, 8> buffer{};
  EXPECT_EQ(p.client.read_waiting(buffer).error().kind(), ErrorKind::invalid_argument)
      << "read_waiting needs non-blocking calls";
  EXPECT_EQ(p.client.set_non_blocking_calls(0ms).error().kind(), ErrorKind::invalid_argument);
  ASSERT_TRUE(p.client.set_non_blocking_calls(20ms));
  EXPECT_TRUE(p.client.non_blocking());
  EXPECT_EQ(p.client.read(buffer).error().kind(), ErrorKind::would_block);
  // Nothing comes: read_waiting returns would_block once the limit passes.
  EXPECT_EQ(p.client.read_waiting(buffer).error().kind(), ErrorKind::would_block);
  // Bytes that come are read, by read_waiting as by read.
  ASSERT_TRUE(p.server.write_all(as_bytes("pong")));
  auto n = p.client.read_waiting(buffer);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(as_text(std::span(buffer).first(*n)), std::string("pong").substr(0, *n));
  // The peer does not read: writes fill the buffers, then would_block.
  ASSERT_TRUE(p.client.set_send_buffer_size(4096));
  Bytes chunk(64 * 1024);
  std::size_t written = 0;
  Result<std::size_t> w = std::size_t{0};
  while ((w = p.client.write(chunk)))
    written += *w;
  EXPECT_EQ(w.error().kind(), ErrorKind::would_block) << w.error().message();
  EXPECT_GT(written, 0u);
  const std::array<std::span<const std::byte>, 2> parts{chunk, chunk};
  EXPECT_EQ(p.client.write_gather(parts).error().kind(), ErrorKind::would_block);
  // set_non_blocking(false) gives blocking calls back.
  ASSERT_TRUE(p.client.set_non_blocking(false));
  EXPECT_EQ(p.client.read_waiting(buffer).error().kind(), ErrorKind::invalid_argument);
}

TEST_P(TcpStreamTest, SecondListenerOnAPortIsAddressInUse) {
  TcpListener first = listen();
  auto second = TcpListener::bind(first.local_endpoint());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind(), ErrorKind::address_in_use);
}

TEST_P(TcpStreamTest, PeerKilledMidStreamIsAnErrorNotAHang) {
  TcpListener listener = listen();
  const Endpoint at = listener.local_endpoint();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the peer: raw calls only, then killed before it finishes its message
    auto address = detail::to_sockaddr(at, at.family());
    int fd = ::socket(address.get()->sa_family, SOCK_STREAM, 0);
    if (fd < 0 || ::connect(fd, address.get(), address.length) != 0) ::_exit(2);
    if (::send(fd, "abc", 3, 0) != 3) ::_exit(3);
    ::raise(SIGKILL);
  }
  auto server = listener.accept(10s);
  ASSERT_TRUE(server) << server.error().message();
  ASSERT_TRUE(server->set_read_timeout(10s));  // a hang would show as timed_out, not pass
  std::array<std::byte, 8> message{};
  auto r = server->read_exact(message);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::closed) || r.error().is(ErrorKind::reset))
      << r.error().to_string();
  EXPECT_NE(r.error().message().find("got 3 of 8"), std::string::npos) << r.error().message();
}

TEST(TcpStream, ConnectByHostNameTriesItsAddresses) {
  auto listener = TcpListener::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(listener);
  auto client = TcpStream::connect("localhost", listener->local_endpoint().port(), 5s);
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE(client->peer_endpoint().address().is_v4());
  auto unknown = TcpStream::connect("no-such-host.invalid", 80, 1s);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind(), ErrorKind::resolve_failed);
}

TEST(TcpStream, Ipv6ListenerAcceptsIpv4Clients) {
  auto listener = TcpListener::bind(Endpoint(InetAddress::any(Family::v6), 0));
  ASSERT_TRUE(listener) << listener.error().message();
  auto client =
      TcpStream::connect(Endpoint(InetAddress::loopback(), listener->local_endpoint().port()), 5s);
  ASSERT_TRUE(client) << client.error().message();
  auto server = listener->accept(5s);
  ASSERT_TRUE(server);
  EXPECT_TRUE(server->peer_endpoint().address().is_v4());
  EXPECT_EQ(server->peer_endpoint(), client->local_endpoint());
}

TEST(TcpStream, ConnectToPortZeroIsInvalid) {
  auto r = TcpStream::connect(Endpoint(InetAddress::loopback(), 0), 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
}

TEST(TcpListener, BacklogMustBePositive) {
  TcpListenOptions options;
  options.backlog = 0;
  auto r = TcpListener::bind(Endpoint(InetAddress::loopback(), 0), options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
}

TEST(TcpStream, ClosedStreamSaysClosed) {
  auto listener = TcpListener::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(listener);
  auto client = TcpStream::connect(listener->local_endpoint(), 5s);
  ASSERT_TRUE(client);
  client->close();
  std::array<std::byte, 1> b{};
  EXPECT_EQ(client->read(b).error().kind(), ErrorKind::closed);
  EXPECT_EQ(client->write_all("x").error().kind(), ErrorKind::closed);
  EXPECT_EQ(client->set_no_delay(true).error().kind(), ErrorKind::closed);
  EXPECT_EQ(client->set_read_timeout(std::chrono::milliseconds(5)).error().kind(),
            ErrorKind::closed);
  EXPECT_EQ(client->set_non_blocking(true).error().kind(), ErrorKind::closed);
}

}  // namespace
}  // namespace nexo::net
