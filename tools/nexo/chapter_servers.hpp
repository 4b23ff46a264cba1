// The chapter's echo servers (UDPServer and TCPServer of the textbook) as
// classes, so the `nexo` tool, the tour and the tests all run the same code.
//
// Thread contract: run() blocks on the calling thread; stop() may be called
// from any thread and makes run() return within the poll interval.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

#include "nexo/base/result.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "nexo/net/udp_socket.hpp"

namespace nexo::tool {

// Called once per request served, with the request's text and the client.
// May run on several threads at once (TCP); it must be thread-safe.
using RequestLog = std::function<void(std::string_view text, const net::Endpoint& client)>;

struct ServeOptions {
  std::optional<std::size_t> count;  // stop after this many requests; nullopt: serve for ever
  std::chrono::milliseconds poll_interval{100};      // how often run() looks at stop()
  std::chrono::milliseconds client_timeout{10'000};  // TCP: a silent client is dropped after this
  RequestLog log;
};

// UDPServer: echoes every datagram back to its sender.
class UdpEchoServer {
 public:
  static Result<UdpEchoServer> bind(const net::Endpoint& local);
  const net::Endpoint& local_endpoint() const noexcept { return socket_.local_endpoint(); }
  // Serves until options.count datagrams were echoed or stop() is called.
  Result<void> run(const ServeOptions& options);
  void stop() noexcept { stopping_ = true; }
  std::size_t served() const noexcept { return served_; }

  UdpEchoServer(UdpEchoServer&& other) noexcept
      : socket_(std::move(other.socket_)), served_(other.served_.load()) {}

 private:
  explicit UdpEchoServer(net::UdpSocket socket) noexcept : socket_(std::move(socket)) {}
  net::UdpSocket socket_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> served_{0};
};

// TCPServer: a thread per connection; each reads one writeUTF string and writes
// it back (Java DataOutputStream encoding), then closes the connection.
class TcpEchoServer {
 public:
  static Result<TcpEchoServer> bind(const net::Endpoint& local);
  const net::Endpoint& local_endpoint() const noexcept { return listener_.local_endpoint(); }
  // Serves until options.count requests were answered or stop() is called;
  // then waits for the connection threads still running to finish.
  Result<void> run(const ServeOptions& options);
  void stop() noexcept { stopping_ = true; }
  std::size_t served() const noexcept { return served_; }
  // Connections that ended in an error (client vanished, sent garbage, timed out).
  std::size_t failed() const noexcept { return failed_; }

  TcpEchoServer(TcpEchoServer&& other) noexcept
      : listener_(std::move(other.listener_)), served_(other.served_.load()) {}

 private:
  explicit TcpEchoServer(net::TcpListener listener) noexcept : listener_(std::move(listener)) {}
  void serve_connection(net::TcpStream stream, const ServeOptions& options);

  net::TcpListener listener_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> served_{0};
  std::atomic<std::size_t> failed_{0};
};

// One request of the chapter's TCPClient: connect, writeUTF(message), readUTF.
Result<std::string> tcp_echo_request(const net::Endpoint& server, std::string_view message,
                                     Timeout timeout);
// One request of the chapter's UDPClient: send, wait for the reply from the server.
Result<std::string> udp_echo_request(const net::Endpoint& server, std::string_view message,
                                     Timeout timeout);

}  // namespace nexo::tool
