// The chapter's servers, end to end on loopback: many concurrent clients against
// the thread-per-client TCPServer, clients that misbehave, and the UDP echo.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "chapter_servers.hpp"
#include "nexo/net/data_stream.hpp"

namespace nexo::tool {
namespace {

using namespace std::chrono_literals;
using net::Endpoint;
using net::InetAddress;

TEST(TcpEchoServer, ServesTwoHundredConcurrentClients) {
  constexpr std::size_t kClients = 200;
  auto server = TcpEchoServer::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(server) << server.error().message();
  ServeOptions options;
  options.count = kClients;
  Result<void> served = ok();
  std::jthread serving([&] { served = server->run(options); });

  std::atomic<std::size_t> correct{0};
  std::vector<std::string> failures(kClients);
  {
    std::vector<std::jthread> clients;
    for (std::size_t i = 0; i < kClients; ++i) {
      clients.emplace_back([&, i] {
        const std::string message = "client " + std::to_string(i) + " says ¡hola!";
        auto reply = tcp_echo_request(server->local_endpoint(), message, 20s);
        if (!reply)
          failures[i] = reply.error().message();
        else if (*reply == message)
          ++correct;
        else
          failures[i] = "wrong reply: " + *reply;
      });
    }
  }  // every client joined
  serving.join();
  for (const auto& f : failures)
    EXPECT_TRUE(f.empty()) << f;
  EXPECT_EQ(correct, kClients);
  ASSERT_TRUE(served) << served.error().message();
  EXPECT_EQ(server->served(), kClients);
  EXPECT_EQ(server->failed(), 0u);
}

TEST(TcpEchoServer, MisbehavingClientsDoNotStopTheServer) {
  auto server = TcpEchoServer::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(server);
  ServeOptions options;
  options.count = 1;
  options.client_timeout = 200ms;  // the silent client is dropped after this
  std::jthread serving([&] { (void)server->run(options); });
  const Endpoint at = server->local_endpoint();

  auto silent = net::TcpStream::connect(at, 5s);  // connects and says nothing
  ASSERT_TRUE(silent);
  {
    auto liar = net::TcpStream::connect(at, 5s);  // announces 65535 bytes, sends 3, leaves
    ASSERT_TRUE(liar);
    ASSERT_TRUE(
        liar->write_all(as_bytes(std::string("\xff\xff"
                                             "abc",
                                             5))));
  }
  {
    auto garbage = net::TcpStream::connect(at, 5s);  // invalid modified UTF-8
    ASSERT_TRUE(garbage);
    ASSERT_TRUE(garbage->write_all(as_bytes(std::string("\x00\x02\xf8\x80", 4))));
  }
  auto reply = tcp_echo_request(at, "still serving", 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(*reply, "still serving");
  serving.join();  // returns once the silent client's timeout has passed
  EXPECT_EQ(server->served(), 1u);
  EXPECT_EQ(server->failed(), 3u);
}

TEST(TcpEchoServer, StopEndsAnIdleServer) {
  auto server = TcpEchoServer::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(server);
  ServeOptions options;
  options.poll_interval = 10ms;
  Result<void> ran = Error(ErrorKind::system, "not run");
  std::jthread serving([&] { ran = server->run(options); });
  server->stop();
  serving.join();
  EXPECT_TRUE(ran);
  EXPECT_EQ(server->served(), 0u);
}

TEST(UdpEchoServer, EchoesUntilTheCountThenStops) {
  auto server = UdpEchoServer::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(server);
  ServeOptions options;
  options.count = 3;
  std::vector<std::string> log;
  options.log = [&](std::string_view text, const Endpoint&) { log.emplace_back(text); };
  Result<void> ran = Error(ErrorKind::system, "not run");
  std::jthread serving([&] { ran = server->run(options); });
  for (const char* text : {"one", "two", "Asunción"}) {
    auto reply = udp_echo_request(server->local_endpoint(), text, 5s);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(*reply, text);
  }
  serving.join();
  EXPECT_TRUE(ran);
  EXPECT_EQ(server->served(), 3u);
  EXPECT_EQ(log, (std::vector<std::string>{"one", "two", "Asunción"}));
}

TEST(UdpEchoRequest, NoServerIsRefusedNotAHang) {
  // A port nobody listens on, without probing one and hoping it stays free:
  // `held` keeps 127.0.0.1:PORT for the whole test, and the request goes to
  // 127.0.0.2:PORT, where nobody binds.
  auto held = net::UdpSocket::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(held) << held.error().message();
  auto elsewhere = InetAddress::parse("127.0.0.2");
  ASSERT_TRUE(elsewhere) << elsewhere.error().message();
  const Endpoint nobody(*elsewhere, held->local_endpoint().port());
  auto reply = udp_echo_request(nobody, "anyone?", 5s);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().kind(), ErrorKind::refused) << reply.error().message();
}

TEST(UdpEchoRequest, SilentServerTimesOut) {
  auto silent = net::UdpSocket::bind(Endpoint(InetAddress::loopback(), 0));
  ASSERT_TRUE(silent);
  auto reply = udp_echo_request(silent->local_endpoint(), "hello?", 50ms);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().kind(), ErrorKind::timed_out);
  EXPECT_NE(reply.error().message().find("within 50 ms"), std::string::npos);
}

}  // namespace
}  // namespace nexo::tool
