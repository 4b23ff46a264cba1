// bench_pingpong — round-trip latency of nexo's UDP and TCP sockets beside the
// same loop written with raw POSIX calls (the anchor), measured in the same run.
//
// Each case (UDP or TCP, 64 B or 1 KiB) runs two ping-pong pairs over 127.0.0.1,
// each a client (this thread) and an echo thread: one pair makes raw syscalls,
// the other goes through nexo. Per round trip both make the same syscalls:
//   UDP  unconnected sockets, the chapter's DatagramSocket pattern: the client
//        sendto + recvfrom, the echo recvfrom + sendto (UdpSocket::send_to and
//        receive_from on the nexo side).
//   TCP  TCP_NODELAY on both ends; the client sends and receives exactly the
//        message size, the echo receives and sends it (TcpStream::write_all and
//        read_exact on the nexo side).
// The raw loops pass the flags nexo passes (MSG_NOSIGNAL on sends, MSG_TRUNC on
// datagram receives), so that strace shows the same calls on both sides and the
// ratio is the cost of the wrappers alone.
// Both clients have the same 5 s receive timeout (SO_RCVTIMEO), so a lost
// datagram is an error rather than a hang.
//
// Fairness: every thread is bound to one CPU (--cpus=same), so that neither
// pair is favoured by where the scheduler puts its threads; left free, a pair
// whose echo lands on the client's CPU is several times faster than one whose
// echo lands on the other CPU. (--cpus=split binds the echoes to a second CPU:
// cross-CPU wake-ups, slower and noisier on virtual machines.) After a
// warm-up, raw and nexo alternate in rounds (raw first in even rounds, nexo
// first in odd ones) so that drift (frequency scaling, other load) falls on
// both alike. Every round trip is timed with steady_clock; p50 and p99 are
// over all rounds' samples. The flags, placement, rounds and rows are the
// shared harness's (harness.hpp, pairs.hpp), as bench_msg and bench_rudp use them.
//
// Target: nexo/raw <= 1.05 — the wrappers add nothing measurable. The ratios
// are printed, never enforced: the exit status is 0 unless an I/O error
// happened (printed, status 1) or the arguments are wrong (status 2).
//
// Micro-benchmarks of the value types are in net_micro.cpp (bench_net_micro).
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "nexo/base/bytes.hpp"
#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/data_stream.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/file_descriptor.hpp"
#include "nexo/net/inet_address.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "nexo/net/tcp_stream.hpp"
#include "nexo/net/udp_socket.hpp"
#include "pairs.hpp"

namespace {

using nexo::Error;
using nexo::ErrorKind;
using nexo::Result;
using nexo::bench::as_sockaddr;
using nexo::bench::echo_failure;
using nexo::bench::EchoThread;
using nexo::bench::fail;
using nexo::bench::kLoopbackV4;
using nexo::bench::LatencySamples;
using nexo::bench::Message;
using nexo::bench::PingPong;
using nexo::bench::reply_size_is;
using nexo::bench::time_round_trips;
using nexo::bench::v4_address;
using nexo::net::Endpoint;
using nexo::net::FileDescriptor;
using nexo::net::InetAddress;

constexpr std::uint32_t kAnyV4 = 0;  // 0.0.0.0
constexpr std::chrono::seconds kClientTimeout{5};

// --- raw POSIX -------------------------------------------------------------------

Result<FileDescriptor> raw_socket(int type) {
  FileDescriptor fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno(errno, "socket");
  return fd;
}

// Binds `fd` to host:0 and returns the address the kernel chose.
Result<sockaddr_in> raw_bind(int fd, std::uint32_t host) {
  sockaddr_in address = v4_address(host, 0);
  if (::bind(fd, as_sockaddr(address), sizeof address) != 0) {
    return Error::from_errno(errno, "bind");
  }
  socklen_t length = sizeof address;
  if (::getsockname(fd, as_sockaddr(address), &length) != 0) {
    return Error::from_errno(errno, "getsockname");
  }
  return address;
}

Result<void> raw_set_receive_timeout(int fd) {
  const timeval timeout{kClientTimeout.count(), 0};
  return nexo::bench::set_socket_option(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout,
                                        "setsockopt");
}

// A failed receive; EAGAIN on a blocking socket is the receive timeout.
Error receive_error(int err, std::string_view operation) {
  if (err != EAGAIN) return Error::from_errno(err, operation);
  return Error(
      ErrorKind::timed_out,
      std::string(operation) + ": no reply within " + std::to_string(kClientTimeout.count()) + " s",
      err);
}

// Receives exactly data.size() bytes; an orderly close fails with kind closed.
bool raw_receive_exact(int fd, std::span<std::byte> data, std::optional<Error>& error) {
  while (!data.empty()) {
    const ssize_t received = ::recv(fd, data.data(), data.size(), 0);
    if (received <= 0) {
      return fail(error, received == 0 ? Error(ErrorKind::closed, "recv: closed by the peer")
                                       : receive_error(errno, "recv"));
    }
    data = data.subspan(static_cast<std::size_t>(received));
  }
  return true;
}

Result<void> raw_udp_echo(int fd, std::size_t size) {
  nexo::Bytes buffer(size);
  for (;;) {
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    const ssize_t received =
        ::recvfrom(fd, buffer.data(), buffer.size(), MSG_TRUNC, as_sockaddr(peer), &length);
    if (received < 0) return Error::from_errno(errno, "echo recvfrom");
    if (received == 0) return nexo::ok();  // the client's stop datagram
    const auto reply_size = static_cast<std::size_t>(received);
    if (::sendto(fd, buffer.data(), reply_size, MSG_NOSIGNAL, as_sockaddr(peer), length) < 0) {
      return Error::from_errno(errno, "echo sendto");
    }
  }
}

Result<void> raw_tcp_echo(int fd, std::size_t size) {
  nexo::Bytes buffer(size);
  std::optional<Error> error;
  while (raw_receive_exact(fd, buffer, error) && nexo::bench::send_all(fd, buffer, error)) {
    // one message echoed
  }
  if (error->is(ErrorKind::closed)) return nexo::ok();  // the client hung up
  return std::move(*error);
}

class RawUdpPair final : public PingPong {
 public:
  static Result<std::unique_ptr<PingPong>> open(std::size_t size, int echo_cpu) {
    auto echo = raw_socket(SOCK_DGRAM);
    if (!echo) return echo.error();
    auto echo_address = raw_bind(echo->get(), kLoopbackV4);
    if (!echo_address) return echo_address.error();
    auto client = raw_socket(SOCK_DGRAM);
    if (!client) return client.error();
    if (auto bound = raw_bind(client->get(), kAnyV4); !bound) return bound.error();
    if (auto timeout = raw_set_receive_timeout(client->get()); !timeout) return timeout.error();
    std::unique_ptr<PingPong> pair = std::make_unique<RawUdpPair>(
        std::move(*echo), *echo_address, std::move(*client), size, echo_cpu);
    return pair;
  }

  RawUdpPair(FileDescriptor echo, sockaddr_in echo_address, FileDescriptor client, std::size_t size,
             int echo_cpu)
      : echo_(std::move(echo)),
        echo_address_(echo_address),
        client_(std::move(client)),
        thread_(echo_cpu, [fd = echo_.get(), size] { return raw_udp_echo(fd, size); }) {}
  ~RawUdpPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Message& message, LatencySamples* samples) override {
    const int fd = client_.get();
    return time_round_trips(count, message, samples, [&](std::optional<Error>& error) {
      const auto request = message.request();
      if (::sendto(fd, request.data(), request.size(), MSG_NOSIGNAL, as_sockaddr(echo_address_),
                   sizeof echo_address_) < 0) {
        return fail(error, Error::from_errno(errno, "sendto"));
      }
      sockaddr_in from{};
      socklen_t length = sizeof from;
      const auto reply = message.reply();
      const ssize_t received =
          ::recvfrom(fd, reply.data(), reply.size(), MSG_TRUNC, as_sockaddr(from), &length);
      if (received < 0) return fail(error, receive_error(errno, "recvfrom"));
      return reply_size_is(static_cast<std::size_t>(received), reply.size(), error);
    });
  }

  Result<void> finish() override {
    if (client_) {  // an empty datagram tells the echo to stop
      ::sendto(client_.get(), nullptr, 0, 0, as_sockaddr(echo_address_), sizeof echo_address_);
      client_.reset();
    }
    return thread_.join();
  }

 private:
  FileDescriptor echo_;
  sockaddr_in echo_address_;
  FileDescriptor client_;
  EchoThread thread_;  // last: it starts once the sockets exist
};

class RawTcpPair final : public PingPong {
 public:
  static Result<std::unique_ptr<PingPong>> open(std::size_t size, int echo_cpu) {
    // (client, echo): TCP_NODELAY on both, the client's timeouts 5 s; the echo
    // blocks until the client hangs up (0: no receive timeout).
    auto sockets = nexo::bench::tcp_pair(std::chrono::milliseconds(0));
    if (!sockets) return sockets.error();
    std::unique_ptr<PingPong> pair = std::make_unique<RawTcpPair>(
        std::move(sockets->second), std::move(sockets->first), size, echo_cpu);
    return pair;
  }

  RawTcpPair(FileDescriptor echo, FileDescriptor client, std::size_t size, int echo_cpu)
      : echo_(std::move(echo)),
        client_(std::move(client)),
        thread_(echo_cpu, [fd = echo_.get(), size] { return raw_tcp_echo(fd, size); }) {}
  ~RawTcpPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Message& message, LatencySamples* samples) override {
    const int fd = client_.get();
    return time_round_trips(count, message, samples, [&](std::optional<Error>& error) {
      return nexo::bench::send_all(fd, message.request(), error) &&
             raw_receive_exact(fd, message.reply(), error);
    });
  }

  Result<void> finish() override {
    client_.reset();  // the echo reads end-of-stream and stops
    return thread_.join();
  }

 private:
  FileDescriptor echo_;
  FileDescriptor client_;
  EchoThread thread_;
};

// --- nexo ------------------------------------------------------------------------

namespace net = nexo::net;

Result<void> nexo_udp_echo(net::UdpSocket& socket, std::size_t size) {
  nexo::Bytes buffer(size);
  Endpoint peer;
  for (;;) {
    auto received = socket.receive_from(buffer, peer);
    if (!received) return received.error().with_context("echo");
    if (*received == 0) return nexo::ok();  // the client's stop datagram
    auto sent = socket.send_to(std::span(buffer).first(*received), peer);
    if (!sent) return sent.error().with_context("echo");
  }
}

Result<void> nexo_tcp_echo(net::TcpStream& stream, std::size_t size) {
  nexo::Bytes buffer(size);
  for (;;) {
    auto received = stream.read_exact(buffer);
    if (!received) {
      if (received.error().is(ErrorKind::closed)) return nexo::ok();  // the client hung up
      return received.error().with_context("echo");
    }
    if (auto sent = stream.write_all(buffer); !sent) return sent.error().with_context("echo");
  }
}

class NexoUdpPair final : public PingPong {
 public:
  static Result<std::unique_ptr<PingPong>> open(std::size_t size, int echo_cpu) {
    auto echo = net::UdpSocket::bind(Endpoint(InetAddress::loopback(), 0));
    if (!echo) return echo.error();
    auto client = net::UdpSocket::bind_any();
    if (!client) return client.error();
    if (auto timeout = client->set_receive_timeout(kClientTimeout); !timeout) {
      return timeout.error();
    }
    std::unique_ptr<PingPong> pair =
        std::make_unique<NexoUdpPair>(std::move(*echo), std::move(*client), size, echo_cpu);
    return pair;
  }

  NexoUdpPair(net::UdpSocket echo, net::UdpSocket client, std::size_t size, int echo_cpu)
      : echo_(std::move(echo)),
        client_(std::move(client)),
        thread_(echo_cpu, [this, size] { return nexo_udp_echo(echo_, size); }) {}
  ~NexoUdpPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Message& message, LatencySamples* samples) override {
    const Endpoint to = echo_.local_endpoint();
    Endpoint from;
    return time_round_trips(count, message, samples, [&](std::optional<Error>& error) {
      if (auto sent = client_.send_to(message.request(), to); !sent) {
        return fail(error, std::move(sent).error());
      }
      auto received = client_.receive_from(message.reply(), from);
      if (!received) return fail(error, std::move(received).error());
      return reply_size_is(*received, message.size(), error);
    });
  }

  Result<void> finish() override {
    if (client_.is_open()) {  // an empty datagram tells the echo to stop
      static_cast<void>(client_.send_to(std::span<const std::byte>{}, echo_.local_endpoint()));
      client_.close();
    }
    return thread_.join();
  }

 private:
  net::UdpSocket echo_;
  net::UdpSocket client_;
  EchoThread thread_;
};

class NexoTcpPair final : public PingPong {
 public:
  static Result<std::unique_ptr<PingPong>> open(std::size_t size, int echo_cpu) {
    auto listener = net::TcpListener::bind(Endpoint(InetAddress::loopback(), 0));
    if (!listener) return listener.error();
    auto client = net::TcpStream::connect(listener->local_endpoint());
    if (!client) return client.error();
    auto echo = listener->accept();
    if (!echo) return echo.error();
    for (net::TcpStream* stream : {&*echo, &*client}) {
      if (auto no_delay = stream->set_no_delay(true); !no_delay) return no_delay.error();
    }
    if (auto timeout = client->set_read_timeout(kClientTimeout); !timeout) return timeout.error();
    std::unique_ptr<PingPong> pair =
        std::make_unique<NexoTcpPair>(std::move(*echo), std::move(*client), size, echo_cpu);
    return pair;
  }

  NexoTcpPair(net::TcpStream echo, net::TcpStream client, std::size_t size, int echo_cpu)
      : echo_(std::move(echo)),
        client_(std::move(client)),
        thread_(echo_cpu, [this, size] { return nexo_tcp_echo(echo_, size); }) {}
  ~NexoTcpPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Message& message, LatencySamples* samples) override {
    return time_round_trips(count, message, samples, [&](std::optional<Error>& error) {
      if (auto sent = client_.write_all(message.request()); !sent) {
        return fail(error, std::move(sent).error());
      }
      if (auto received = client_.read_exact(message.reply()); !received) {
        return fail(error, std::move(received).error());
      }
      return true;
    });
  }

  Result<void> finish() override {
    client_.close();  // the echo reads closed and stops
    return thread_.join();
  }

 private:
  net::TcpStream echo_;
  net::TcpStream client_;
  EchoThread thread_;
};

// --- the cases -------------------------------------------------------------------

using nexo::bench::Cpus;
using nexo::bench::ImplChoice;
using nexo::bench::LatencyResult;
using nexo::bench::LatencyRounds;

struct Options {
  LatencyRounds rounds;  // warm-up 1000, 10 rounds x 2000 round trips per pair
  std::vector<Cpus> cpus = {Cpus::same};
  bool quick = false;
};

enum class Transport { udp, tcp };

struct Case {
  Transport transport;
  std::size_t size;

  std::string name() const {
    return (transport == Transport::udp ? "udp " : "tcp ") + nexo::bench::size_name(size);
  }
};

constexpr std::array kCases = {Case{Transport::udp, 64}, Case{Transport::udp, 1024},
                               Case{Transport::tcp, 64}, Case{Transport::tcp, 1024}};
enum Impl : std::size_t { kRaw = 0, kNexo = 1 };
const ImplChoice kImpls({"raw", "nexo"});

Result<std::unique_ptr<PingPong>> open_pair(const Case& c, std::size_t impl, int echo_cpu) {
  if (c.transport == Transport::udp) {
    return impl == kRaw ? RawUdpPair::open(c.size, echo_cpu) : NexoUdpPair::open(c.size, echo_cpu);
  }
  return impl == kRaw ? RawTcpPair::open(c.size, echo_cpu) : NexoTcpPair::open(c.size, echo_cpu);
}

// One placement: the four cases, each a row per impl and its ratio; false if
// a case failed (printed).
bool run_placement(const Options& options, const nexo::bench::Placement& placement,
                   std::vector<nexo::bench::LatencySummary>& summaries) {
  bool all_ran = true;
  const char* cpus = nexo::bench::cpus_name(placement.mode);
  constexpr std::array<std::size_t, 2> kOrder = {kRaw, kNexo};  // raw first in even rounds
  for (const Case& c : kCases) {
    std::vector<LatencyResult> results(2);
    auto open = [&](std::size_t impl) { return open_pair(c, impl, placement.server); };
    if (auto ran = nexo::bench::run_latency_case(kOrder, open, placement.client, options.rounds,
                                                 c.size, kImpls, results);
        !ran) {
      std::fprintf(stderr, "bench_pingpong: %s %s: %s\n", cpus, c.name().c_str(),
                   ran.error().message().c_str());
      all_ran = false;
      continue;
    }
    auto summary = nexo::bench::print_latency_case(
        std::string(cpus) + " " + c.name(), results, [&](std::size_t impl) {
          std::array<char, 64> prefix{};
          std::snprintf(prefix.data(), prefix.size(), "%-6s %-10s %-5s %6zu", cpus,
                        c.name().c_str(), kImpls.name(impl), c.size);
          return std::string(prefix.data());
        });
    std::printf("   ratio nexo/raw p50 = %.3f, p99 = %.3f (target <= 1.05)\n",
                summary.ratio50(kNexo, kRaw), summary.ratio99(kNexo, kRaw));
    summaries.push_back(std::move(summary));
  }
  return all_ran;
}

// Runs the four cases at each placement and prints the table; false if any case failed.
bool run_pingpong(const Options& options) {
  std::printf("bench_pingpong: round trips over 127.0.0.1, nexo sockets beside raw POSIX calls%s\n",
              options.quick ? " (--quick: a smoke run, numbers are rough)" : "");
  nexo::bench::print_machine();
  const auto placements = nexo::bench::make_placements(options.cpus);
  nexo::bench::print_latency_plan(options.rounds, "raw and nexo alternating");
  std::printf(
      "rt/s: round trips per second of measured time; csw/rt and cpu_us/rt: context switches "
      "and CPU time of the whole process per round trip\n");
  std::printf(("\n%-6s %-10s %-5s %6s " + std::string(nexo::bench::kLatencyColumns)).c_str(),
              "cpus", "case", "impl", "size", "p50_us", "p99_us", "rt/s", "csw/rt", "cpu_us/rt");
  const auto start = nexo::bench::Clock::now();
  std::vector<nexo::bench::LatencySummary> summaries;
  bool all_ran = true;
  for (const auto& placement : placements) all_ran = run_placement(options, placement, summaries) && all_ran;
  nexo::bench::bind_thread(-1);
  std::printf("\nsummary (target nexo/raw <= 1.05; printed, not enforced)\n");
  for (const auto& s : summaries) {
    const double p50 = s.ratio50(kNexo, kRaw);
    std::printf("%-16s p50 nexo/raw = %.3f   p99 nexo/raw = %.3f   %s\n", s.label.c_str(), p50,
                s.ratio99(kNexo, kRaw), p50 <= 1.05 ? "p50 within target" : "p50 above target");
  }
  nexo::bench::print_end(start);
  return all_ran;
}

// --- main ------------------------------------------------------------------------

nexo::bench::Flags flags(Options& o) {
  nexo::bench::Flags f("bench_pingpong");
  f.action("--quick",
           [&o] {
             o.quick = true;
             o.rounds = {100, 2, 200};
           },
           "a short smoke run (2 rounds x 200)")
      .value("--cpus", [&o](std::string_view v) { return nexo::bench::parse_cpus(v, o.cpus); },
             "placements among same (every thread on one cpu, the default), split (the echo "
             "threads on another cpu), free (left to the scheduler)");
  nexo::bench::add_latency_flags(f, o.rounds);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (auto status = nexo::bench::begin_run(flags(options), argc, argv)) return *status;
  return run_pingpong(options) ? 0 : 1;
}
