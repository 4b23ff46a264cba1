// bench_msg — nexo's message passing (msg::Port and msg::Sender over tcp://)
// beside ZeroMQ 4.3 (the C API, zmq.h) and raw POSIX TCP, measured side by
// side in one run, all over 127.0.0.1:
//
//   1. Ping-pong latency, 64 B and 1 KiB messages: p50 and p99 of the round
//      trip, round trips per second, and per round trip the context switches
//      and CPU time of the whole process (getrusage over every thread: the I/O
//      threads' work shows here even though they are not on the timed path).
//        nexo  what a user writes: each side has its own Context (as two
//              processes would), a Port to receive on and a Sender to the
//              other side's Port; a round trip is client send -> server
//              receive -> server send -> client receive, with the blocking
//              Sender::send and Port::receive (both with a 5 s deadline).
//        zmq   REQ/REP, zmq_send/zmq_recv, one context per side.
//        raw   blocking sockets, TCP_NODELAY, a 4-byte big-endian length
//              prefix: one send() of prefix+payload, recv() into a 64 KiB
//              buffer until the frame is whole — the floor.
//      Ratios printed: nexo/zmq p50 (target <= 0.8) and nexo/raw p50 (<= 1.15).
//   2. One-way throughput of 64 B messages: nexo Sender::send_async from one
//      thread (on would_block — the local buffer full — the blocking send,
//      which waits for room), Port::receive on another; ZeroMQ PUSH/PULL;
//      and, as a reference, raw TCP with one send() per message and a reader
//      of 64 KiB chunks. The receiver counts (and checks the sequence number
//      of) every message; the clock stops when it has all N. msgs/s, MB/s of
//      payload, ratio nexo/zmq (target >= 1.5).
//   3. Memory per idle connection: a forked client process opens 10,000 TCP
//      connections to one server and keeps them idle; the server's RSS
//      (/proc/self/statm) before and after all are accepted gives bytes per
//      connection (target for nexo < 8 KiB). nexo: a tcp:// Port, counted with
//      port->connections(). ZeroMQ: a PULL socket, twice — with connections
//      that complete the ZMTP 3.0 NULL handshake (the client writes the
//      greeting and a READY command, as a PUSH peer would: an established idle
//      connection, comparable to nexo's), and with plain connects that never
//      handshake (libzmq holds those only until ZMQ_HANDSHAKE_IVL, 30 s: a
//      different, transient state, printed for information). ZeroMQ's count
//      comes from /proc/net/tcp (established, nothing left unread, nothing
//      waiting in the accept queue). RSS is read after malloc_trim(0) so that
//      heap freed-but-cached by the polling itself does not count; the
//      untrimmed delta is printed too. Kernel socket memory is not in RSS.
//
// CPU placement. nexo and ZeroMQ both run an I/O thread per context beside the
// application thread, so a message crosses threads that raw sockets do not
// have; binding every thread to one CPU (bench_pingpong's default) would make
// each of those hops a context switch on one core and decide the comparison
// by the scheduler's time slice rather than by the design. With 2 cores, the
// placements measured are:
//   free   no thread bound: the scheduler decides (what a user gets by default);
//   split  the client side (the client thread and the threads of its context)
//          bound to one cpu, the server side to the other: two processes, each
//          pinned to a core of its own.
// (--cpus=same binds everything to one cpu, for reference only.) Threads are
// bound by inheritance: each side's context (whose first socket starts
// ZeroMQ's threads) is created while the creating thread is bound to that
// side's cpu, and its application thread is bound explicitly. Every number in
// the tables is labelled with its placement. Within a case the implementations
// alternate in rounds (the first one rotating) after a warm-up, so that drift
// falls on all alike. The latency section opens with a calibration: the cost
// of a futex wake-up between two threads on one cpu and across cpus. Where a
// cross-cpu wake-up is dear (on virtual machines it can cost tens of µs) the
// "free" numbers swing with the scheduler's choice to keep a pair's threads on
// one cpu or to spread them: read them beside the calibration and "split".
//
// Benchmarks print, they never gate: the targets are printed beside the
// ratios, never enforced. Exit status 1 only if a case failed (printed), 2 for
// bad arguments. Every blocking call has a deadline; the forked client is
// killed if it outlives its deadline (and dies with this process).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "nexo/base/bytes.hpp"
#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/message.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace {

namespace msg = nexo::msg;
using namespace std::chrono_literals;
using nexo::Bytes;
using nexo::Error;
using nexo::ErrorKind;
using nexo::Result;
using nexo::bench::Clock;
using nexo::bench::EchoThread;
using nexo::bench::LatencySamples;
using nexo::bench::PingPong;
using nexo::bench::short_reply;
using nexo::bench::time_round_trips;
using nexo::net::FileDescriptor;
using Probe = nexo::bench::Message;  // a ping-pong request and the buffer its reply lands in

constexpr std::chrono::milliseconds kTimeout = 5000ms;  // every blocking call of a client
constexpr std::chrono::milliseconds kPoll = 200ms;  // servers look at their stop flag this often
constexpr std::size_t kReadBuffer = 64 * 1024;      // raw readers read this much at once
constexpr std::uint32_t kLoopbackV4 = 0x7f00'0001;  // 127.0.0.1, host order

// --- options -------------------------------------------------------------------

enum class Cpus { free, split, same };

enum Impl : std::size_t { kRaw = 0, kZmq = 1, kNexo = 2 };
constexpr std::array<const char*, 3> kImplNames = {"raw", "zmq", "nexo"};

struct Options {
  int rounds = 10;
  int iterations = 2000;   // round trips per impl per round
  int warmup = 1000;       // round trips per impl before the first round
  int messages = 200'000;  // throughput: messages per impl per round
  int throughput_rounds = 5;
  int connections = 10'000;
  std::vector<Cpus> cpus = {Cpus::free, Cpus::split};
  std::array<bool, 3> impls = {true, true, true};
  bool latency = true, throughput = true, memory = true;
  bool quick = false, help = false;
};

const char* cpus_name(Cpus cpus) {
  switch (cpus) {
    case Cpus::free:
      return "free";
    case Cpus::split:
      return "split";
    case Cpus::same:
      return "same";
  }
  return "?";
}

std::string size_name(std::size_t size) {
  return size % 1024 == 0 ? std::to_string(size / 1024) + "KiB" : std::to_string(size) + "B";
}

// --- cpu placement ---------------------------------------------------------------

// The cpus this process could run on at start-up: "free" restores this mask.
const std::vector<int>& startup_cpus() {
  static const std::vector<int> cpus = nexo::bench::allowed_cpus();
  return cpus;
}

// Binds the calling thread to `cpu`, or (negative) lets it run on every cpu of
// the start-up mask again. Threads created afterwards inherit the binding.
bool bind_thread(int cpu) {
  if (cpu >= 0) return nexo::bench::pin_this_thread(cpu);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : startup_cpus())
    CPU_SET(c, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

struct Placement {
  Cpus mode = Cpus::free;
  int client = -1;  // the client side: the timing thread and its context's threads
  int server = -1;  // the server side: the echo/receiver thread and its context's threads

  std::string describe() const {
    if (mode == Cpus::free) return "free: no thread bound, the scheduler decides";
    if (mode == Cpus::same) return "same: every thread bound to cpu " + std::to_string(client);
    return "split: client side bound to cpu " + std::to_string(client) + ", server side to cpu " +
           std::to_string(server);
  }
};

std::optional<Placement> make_placement(Cpus mode) {
  const auto& cpus = startup_cpus();
  if (mode == Cpus::free) return Placement{};
  if (cpus.empty()) return std::nullopt;
  if (mode == Cpus::same) return Placement{mode, cpus[0], cpus[0]};
  if (cpus.size() < 2) return std::nullopt;
  return Placement{mode, cpus[0], cpus[1]};
}

// --- process-wide resource usage ---------------------------------------------------

// Context switches and CPU time of every thread of this process, live or joined.
struct Usage {
  std::int64_t switches = 0;
  double cpu_us = 0;

  static Usage now() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto us = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
    };
    return {ru.ru_nvcsw + ru.ru_nivcsw, us(ru.ru_utime) + us(ru.ru_stime)};
  }
  Usage& operator+=(const Usage& other) {
    switches += other.switches;
    cpu_us += other.cpu_us;
    return *this;
  }
  Usage operator-(const Usage& other) const {
    return {switches - other.switches, cpu_us - other.cpu_us};
  }
};

// Calibration: how much a wake-up costs on this machine, the unit in which
// the latency results are best read. Two threads take turns through a futex
// (no spinning, as a blocked receive does): the p50 of a round trip (two
// wake-ups) with both threads on one cpu, and with one on each cpu.
double futex_ping_pong_us(int cpu_a, int cpu_b) {
  constexpr int kRoundTrips = 3000;
  int word = 0;  // whose turn: 0 this thread, 1 the other
  std::atomic_ref<int> turn(word);
  auto wait_while = [&](int value) {
    const timespec limit{1, 0};  // never blocks for long, whatever happens
    while (turn.load() == value) {
      ::syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, value, &limit, nullptr, 0);
    }
  };
  auto pass = [&](int value) {
    turn.store(value);
    ::syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  };
  std::thread other([&] {
    static_cast<void>(nexo::bench::pin_this_thread(cpu_b));
    for (int i = 0; i < kRoundTrips; ++i) {
      wait_while(0);
      pass(0);
    }
  });
  static_cast<void>(bind_thread(cpu_a));
  LatencySamples samples;
  samples.reserve(kRoundTrips);
  for (int i = 0; i < kRoundTrips; ++i) {
    const auto start = Clock::now();
    pass(1);
    wait_while(1);
    samples.add(Clock::now() - start);
  }
  other.join();
  static_cast<void>(bind_thread(-1));
  return samples.percentile_us(50);
}

// --- small POSIX helpers ------------------------------------------------------------

sockaddr* as_sockaddr(sockaddr_in& address) {
  return reinterpret_cast<sockaddr*>(&address);
}

sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(kLoopbackV4);
  address.sin_port = htons(port);
  return address;
}

Result<void> set_option(int fd, int level, int name, const void* value, socklen_t size,
                        std::string_view what) {
  if (::setsockopt(fd, level, name, value, size) != 0) return Error::from_errno(errno, what);
  return nexo::ok();
}

Result<void> set_timeouts(int fd, std::chrono::milliseconds receive,
                          std::chrono::milliseconds send) {
  auto tv = [](std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000),
                   static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
  };
  const timeval r = tv(receive), s = tv(send);
  if (auto set = set_option(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r, "SO_RCVTIMEO"); !set) {
    return set;
  }
  return set_option(fd, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof s, "SO_SNDTIMEO");
}

Result<void> set_no_delay(int fd) {
  const int on = 1;
  return set_option(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on, "TCP_NODELAY");
}

// A connected pair of loopback TCP sockets (client, server), TCP_NODELAY on both.
Result<std::pair<FileDescriptor, FileDescriptor>> tcp_pair() {
  FileDescriptor listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return Error::from_errno(errno, "socket");
  sockaddr_in address = loopback_address(0);
  if (::bind(listener.get(), as_sockaddr(address), sizeof address) != 0) {
    return Error::from_errno(errno, "bind");
  }
  socklen_t length = sizeof address;
  if (::getsockname(listener.get(), as_sockaddr(address), &length) != 0) {
    return Error::from_errno(errno, "getsockname");
  }
  if (::listen(listener.get(), 1) != 0) return Error::from_errno(errno, "listen");
  FileDescriptor client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!client) return Error::from_errno(errno, "socket");
  if (auto t = set_timeouts(client.get(), kTimeout, kTimeout); !t) return t.error();
  if (::connect(client.get(), as_sockaddr(address), sizeof address) != 0) {
    return Error::from_errno(errno, "connect");
  }
  // The connection is complete (loopback): the listener has it queued, accept cannot wait.
  FileDescriptor server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server) return Error::from_errno(errno, "accept");
  for (int fd : {client.get(), server.get()}) {
    if (auto nd = set_no_delay(fd); !nd) return nd.error();
  }
  return std::pair{std::move(client), std::move(server)};
}

bool send_all(int fd, std::span<const std::byte> data, std::optional<Error>& error) {
  while (!data.empty()) {
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      error = errno == EAGAIN ? Error(ErrorKind::timed_out, "send: no room within the deadline")
                              : Error::from_errno(errno, "send");
      return false;
    }
    data = data.subspan(static_cast<std::size_t>(sent));
  }
  return true;
}

void put_be32(std::byte* out, std::uint32_t value) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<std::byte>(value & 0xff);
    value >>= 8;
  }
}

std::uint32_t get_be32(const std::byte* in) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value = value << 8 | std::to_integer<std::uint32_t>(in[i]);
  return value;
}

// Writes [u32 length][payload] into `frame` (resized) for one send().
void make_frame(Bytes& frame, std::span<const std::byte> payload) {
  frame.resize(4 + payload.size());
  put_be32(frame.data(), static_cast<std::uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(frame.data() + 4, payload.data(), payload.size());
}

// Cuts length-prefixed frames out of a TCP stream read in chunks of up to 64 KiB.
class FrameReader {
 public:
  FrameReader() : buffer_(kReadBuffer) {}

  // The next frame's payload, valid until the next call. Errors: closed at the
  // end of the stream; timed_out when SO_RCVTIMEO passes (the bytes of a
  // partial frame are kept: calling again continues).
  Result<std::span<const std::byte>> next(int fd) {
    for (;;) {
      const std::size_t have = end_ - begin_;
      if (have >= 4) {
        const std::size_t length = get_be32(buffer_.data() + begin_);
        if (length > buffer_.size() - 4) {
          return Error(ErrorKind::malformed, "frame of " + std::to_string(length) + " bytes");
        }
        if (have >= 4 + length) {
          const auto payload = std::span<const std::byte>(buffer_).subspan(begin_ + 4, length);
          begin_ += 4 + length;
          return payload;
        }
      }
      if (begin_ == end_) {
        begin_ = end_ = 0;
      } else if (begin_ > 0) {  // keep the partial frame at the front
        std::memmove(buffer_.data(), buffer_.data() + begin_, have);
        begin_ = 0;
        end_ = have;
      }
      const ssize_t n = ::recv(fd, buffer_.data() + end_, buffer_.size() - end_, 0);
      if (n == 0) return Error(ErrorKind::closed, "recv: closed by the peer");
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN)
          return Error(ErrorKind::timed_out, "recv: nothing within the deadline");
        return Error::from_errno(errno, "recv");
      }
      end_ += static_cast<std::size_t>(n);
    }
  }

 private:
  Bytes buffer_;
  std::size_t begin_ = 0, end_ = 0;
};

// --- ZeroMQ helpers -------------------------------------------------------------------

struct ZmqContextDeleter {
  void operator()(void* context) const noexcept { ::zmq_ctx_term(context); }
};
struct ZmqSocketDeleter {
  void operator()(void* socket) const noexcept { ::zmq_close(socket); }
};
using ZmqContext = std::unique_ptr<void, ZmqContextDeleter>;
using ZmqSocket = std::unique_ptr<void, ZmqSocketDeleter>;

Error zmq_failure(std::string_view what) {
  const int err = ::zmq_errno();
  if (err == EAGAIN) {
    return Error(ErrorKind::timed_out, std::string(what) + ": not done within the deadline", err);
  }
  return Error(ErrorKind::system, std::string(what) + ": " + ::zmq_strerror(err), err);
}

Result<void> zmq_set(void* socket, int option, int value, std::string_view what) {
  if (::zmq_setsockopt(socket, option, &value, sizeof value) != 0) return zmq_failure(what);
  return nexo::ok();
}

// A socket of `type` in `context`, with linger 0 and the given timeouts (ms; -1 for none).
Result<ZmqSocket> zmq_open(void* context, int type, int receive_ms, int send_ms) {
  ZmqSocket socket(::zmq_socket(context, type));
  if (!socket) return zmq_failure("zmq_socket");
  for (auto [option, value] : {std::pair{ZMQ_LINGER, 0}, std::pair{ZMQ_RCVTIMEO, receive_ms},
                               std::pair{ZMQ_SNDTIMEO, send_ms}}) {
    if (auto set = zmq_set(socket.get(), option, value, "zmq_setsockopt"); !set) {
      return set.error();
    }
  }
  return socket;
}

Result<ZmqContext> zmq_context() {
  ZmqContext context(::zmq_ctx_new());
  if (!context) return zmq_failure("zmq_ctx_new");
  return context;
}

// Binds `socket` to a free port of 127.0.0.1; returns the endpoint ("tcp://127.0.0.1:N").
Result<std::string> zmq_bind_any(void* socket) {
  if (::zmq_bind(socket, "tcp://127.0.0.1:*") != 0) return zmq_failure("zmq_bind");
  std::array<char, 256> endpoint{};
  std::size_t length = endpoint.size();
  if (::zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint.data(), &length) != 0) {
    return zmq_failure("ZMQ_LAST_ENDPOINT");
  }
  return std::string(endpoint.data());
}

// --- 1. ping-pong pairs ---------------------------------------------------------------

// raw: the client is this thread; the echo reads a frame and sends it back.
class RawPair final : public PingPong {
 public:
  static Result<std::unique_ptr<PingPong>> open(const Placement& placement) {
    auto pair = tcp_pair();
    if (!pair) return pair.error();
    if (auto t = set_timeouts(pair->second.get(), kPoll, kTimeout); !t) return t.error();
    std::unique_ptr<PingPong> out = std::make_unique<RawPair>(
        std::move(pair->first), std::move(pair->second), placement.server);
    return out;
  }

  RawPair(FileDescriptor client, FileDescriptor server, int server_cpu)
      : client_(std::move(client)),
        server_(std::move(server)),
        thread_(server_cpu, [this] { return echo(); }) {}
  ~RawPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Probe& probe, LatencySamples* samples) override {
    const int fd = client_.get();
    return time_round_trips(count, probe, samples, [&](std::optional<Error>& error) {
      make_frame(frame_, probe.request());
      if (!send_all(fd, frame_, error)) return false;
      auto reply = reader_.next(fd);
      if (!reply) {
        error = std::move(reply).error();
        return false;
      }
      if (reply->size() != probe.size()) {
        error = short_reply(reply->size(), probe.size());
        return false;
      }
      std::memcpy(probe.reply().data(), reply->data(), reply->size());
      return true;
    });
  }

  Result<void> finish() override {
    stop_.store(true);
    client_.reset();  // the echo reads the end of the stream
    return thread_.join();
  }

 private:
  Result<void> echo() {
    FrameReader reader;
    Bytes frame;
    std::optional<Error> error;
    for (;;) {
      auto request = reader.next(server_.get());
      if (!request) {
        if (request.error().is(ErrorKind::closed)) return nexo::ok();
        if (request.error().is(ErrorKind::timed_out) && !stop_.load()) continue;
        if (request.error().is(ErrorKind::timed_out)) return nexo::ok();
        return std::move(request).error().with_context("raw echo");
      }
      make_frame(frame, *request);
      if (!send_all(server_.get(), frame, error)) return std::move(*error).with_context("raw echo");
    }
  }

  FileDescriptor client_, server_;
  FrameReader reader_;
  Bytes frame_;
  std::atomic<bool> stop_{false};
  EchoThread thread_;  // last: started when everything it uses exists
};

// zmq: REQ (this thread) and REP (the echo thread), one context per side.
class ZmqPair final : public PingPong {
 public:
  static Result<std::unique_ptr<PingPong>> open(const Placement& placement) {
    bind_thread(placement.server);  // the server context's threads start with its first socket
    auto server_context = zmq_context();
    if (!server_context) return server_context.error();
    auto rep = zmq_open(server_context->get(), ZMQ_REP, static_cast<int>(kPoll.count()),
                        static_cast<int>(kTimeout.count()));
    if (!rep) return rep.error();
    auto endpoint = zmq_bind_any(rep->get());
    if (!endpoint) return endpoint.error();
    bind_thread(placement.client);
    auto client_context = zmq_context();
    if (!client_context) return client_context.error();
    auto req = zmq_open(client_context->get(), ZMQ_REQ, static_cast<int>(kTimeout.count()),
                        static_cast<int>(kTimeout.count()));
    if (!req) return req.error();
    if (::zmq_connect(req->get(), endpoint->c_str()) != 0) return zmq_failure("zmq_connect");
    std::unique_ptr<PingPong> out =
        std::make_unique<ZmqPair>(std::move(*server_context), std::move(*client_context),
                                  std::move(*rep), std::move(*req), placement.server);
    return out;
  }

  ZmqPair(ZmqContext server_context, ZmqContext client_context, ZmqSocket rep, ZmqSocket req,
          int server_cpu)
      : server_context_(std::move(server_context)),
        client_context_(std::move(client_context)),
        rep_(std::move(rep)),
        req_(std::move(req)),
        thread_(server_cpu, [this] { return echo(); }) {}
  ~ZmqPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Probe& probe, LatencySamples* samples) override {
    void* req = req_.get();
    return time_round_trips(count, probe, samples, [&](std::optional<Error>& error) {
      if (::zmq_send(req, probe.request().data(), probe.size(), 0) < 0) {
        error = zmq_failure("zmq_send");
        return false;
      }
      const int n = ::zmq_recv(req, probe.reply().data(), probe.size(), 0);
      if (n < 0) {
        error = zmq_failure("zmq_recv");
        return false;
      }
      if (static_cast<std::size_t>(n) != probe.size()) {
        error = short_reply(static_cast<std::size_t>(n), probe.size());
        return false;
      }
      return true;
    });
  }

  Result<void> finish() override {
    if (stop_.exchange(true)) return thread_.join();
    // An empty request ends the echo at once (else it sees stop_ within kPoll);
    // a REQ whose last round trip failed cannot send: the flag is enough then.
    static_cast<void>(::zmq_send(req_.get(), "", 0, ZMQ_DONTWAIT));
    return thread_.join();
  }

 private:
  Result<void> echo() {
    Bytes buffer(kReadBuffer);
    void* rep = rep_.get();
    for (;;) {
      const int n = ::zmq_recv(rep, buffer.data(), buffer.size(), 0);
      if (n < 0) {
        if (::zmq_errno() == EAGAIN && !stop_.load()) continue;
        if (::zmq_errno() == EAGAIN) return nexo::ok();
        return zmq_failure("zmq echo: zmq_recv");
      }
      if (n == 0) return nexo::ok();  // the client's stop request
      if (static_cast<std::size_t>(n) > buffer.size()) {
        return Error(ErrorKind::truncated, "zmq echo: request of " + std::to_string(n) + " bytes");
      }
      if (::zmq_send(rep, buffer.data(), static_cast<std::size_t>(n), 0) < 0) {
        return zmq_failure("zmq echo: zmq_send");
      }
    }
  }

  // Contexts first: destroyed last, after their sockets.
  ZmqContext server_context_, client_context_;
  ZmqSocket rep_, req_;
  std::atomic<bool> stop_{false};
  EchoThread thread_;
};

// nexo: each side a Context, a Port and a Sender to the other side's Port.
class NexoPair final : public PingPong {
 public:
  static Result<std::unique_ptr<PingPong>> open(const Placement& placement) {
    bind_thread(placement.server);  // the Context's I/O thread inherits the binding
    auto server_context = msg::Context::create();
    if (!server_context) return server_context.error();
    bind_thread(placement.client);
    auto client_context = msg::Context::create();
    if (!client_context) return client_context.error();
    auto server_port = msg::Port::bind(**server_context, "tcp://127.0.0.1:0");
    if (!server_port) return server_port.error();
    auto client_port = msg::Port::bind(**client_context, "tcp://127.0.0.1:0");
    if (!client_port) return client_port.error();
    auto to_server = msg::Sender::connect(**client_context, (*server_port)->uri().to_string());
    if (!to_server) return to_server.error();
    auto to_client = msg::Sender::connect(**server_context, (*client_port)->uri().to_string());
    if (!to_client) return to_client.error();
    std::unique_ptr<PingPong> out = std::make_unique<NexoPair>(
        std::move(*server_context), std::move(*client_context), std::move(*server_port),
        std::move(*client_port), std::move(*to_server), std::move(*to_client), placement.server);
    return out;
  }

  NexoPair(std::unique_ptr<msg::Context> server_context,
           std::unique_ptr<msg::Context> client_context, std::unique_ptr<msg::Port> server_port,
           std::unique_ptr<msg::Port> client_port, std::unique_ptr<msg::Sender> to_server,
           std::unique_ptr<msg::Sender> to_client, int server_cpu)
      : server_context_(std::move(server_context)),
        client_context_(std::move(client_context)),
        server_port_(std::move(server_port)),
        client_port_(std::move(client_port)),
        to_server_(std::move(to_server)),
        to_client_(std::move(to_client)),
        thread_(server_cpu, [this] { return echo(); }) {}
  ~NexoPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Probe& probe, LatencySamples* samples) override {
    return time_round_trips(count, probe, samples, [&](std::optional<Error>& error) {
      if (auto sent = to_server_->send(probe.request(), kTimeout); !sent) {
        error = std::move(sent).error();
        return false;
      }
      auto reply = client_port_->receive(kTimeout);
      if (!reply) {
        error = std::move(reply).error();
        return false;
      }
      if (reply->size() != probe.size()) {
        error = short_reply(reply->size(), probe.size());
        return false;
      }
      std::memcpy(probe.reply().data(), reply->data.data(), reply->size());
      return true;
    });
  }

  Result<void> finish() override {
    if (!stop_.exchange(true)) {
      static_cast<void>(to_server_->send(std::span<const std::byte>{}, kTimeout));  // ends the echo
    }
    return thread_.join();
  }

 private:
  Result<void> echo() {
    for (;;) {
      auto request = server_port_->receive(kPoll);
      if (!request) {
        if (request.error().is(ErrorKind::timed_out) && !stop_.load()) continue;
        if (request.error().is(ErrorKind::timed_out)) return nexo::ok();
        return std::move(request).error().with_context("nexo echo");
      }
      if (request->size() == 0) return nexo::ok();  // the client's stop message
      if (auto sent = to_client_->send(request->data, kTimeout); !sent) {
        return std::move(sent).error().with_context("nexo echo");
      }
    }
  }

  // Contexts first: destroyed after the ports and senders; the thread last
  // declared, so joined first.
  std::unique_ptr<msg::Context> server_context_, client_context_;
  std::unique_ptr<msg::Port> server_port_, client_port_;
  std::unique_ptr<msg::Sender> to_server_, to_client_;
  std::atomic<bool> stop_{false};
  EchoThread thread_;
};

Result<std::unique_ptr<PingPong>> open_pair(std::size_t impl, const Placement& placement) {
  switch (impl) {
    case kRaw:
      return RawPair::open(placement);
    case kZmq:
      return ZmqPair::open(placement);
    default:
      return NexoPair::open(placement);
  }
}

struct LatencyResult {
  LatencySamples samples;
  Usage usage;  // over the measured rounds
  bool ran = false;
};

// The client's error with the echo thread's, if it had one (often the cause).
Error pair_failure(PingPong& pair, Error client, std::string_view impl) {
  client.with_context(impl);
  auto echo = pair.finish();
  if (echo) return client;
  return Error(client.kind(), client.message() + " (echo thread: " + echo.error().message() + ")",
               client.sys_errno());
}

// One size at one placement: the enabled pairs warmed up, then rounds in
// which each runs `iterations` round trips, the first impl rotating.
Result<void> run_latency_case(std::size_t size, const Placement& placement, const Options& options,
                              std::array<LatencyResult, 3>& results) {
  std::vector<std::size_t> impls;
  std::array<std::unique_ptr<PingPong>, 3> pairs;
  for (std::size_t impl = 0; impl < 3; ++impl) {
    if (!options.impls[impl]) continue;
    auto pair = open_pair(impl, placement);
    bind_thread(placement.client);  // open() may have bound this thread to the server's cpu
    if (!pair) return pair.error().with_context(kImplNames[impl]);
    pairs[impl] = std::move(*pair);
    impls.push_back(impl);
    results[impl].samples.reserve(static_cast<std::size_t>(options.rounds * options.iterations));
  }
  Probe probe(size);
  for (std::size_t impl : impls) {
    auto warm = pairs[impl]->run(static_cast<std::size_t>(options.warmup), probe, nullptr);
    if (!warm) return pair_failure(*pairs[impl], std::move(warm).error(), kImplNames[impl]);
  }
  for (int round = 0; round < options.rounds; ++round) {
    for (std::size_t turn = 0; turn < impls.size(); ++turn) {
      const std::size_t impl = impls[(static_cast<std::size_t>(round) + turn) % impls.size()];
      const Usage before = Usage::now();
      auto ran = pairs[impl]->run(static_cast<std::size_t>(options.iterations), probe,
                                  &results[impl].samples);
      results[impl].usage += Usage::now() - before;
      if (!ran) return pair_failure(*pairs[impl], std::move(ran).error(), kImplNames[impl]);
    }
  }
  for (std::size_t impl : impls) {
    if (auto finished = pairs[impl]->finish(); !finished) {
      return finished.error().with_context(kImplNames[impl]);
    }
    results[impl].ran = true;
  }
  return nexo::ok();
}

struct LatencySummary {
  std::string label;
  std::array<double, 3> p50{}, p99{};
  std::array<bool, 3> ran{};
};

LatencySummary print_latency_case(std::string_view cpus, std::size_t size, int rounds_x_iters,
                                  std::array<LatencyResult, 3>& results) {
  LatencySummary summary{std::string(cpus) + " " + size_name(size), {}, {}, {}};
  for (std::size_t impl = 0; impl < 3; ++impl) {
    auto& r = results[impl];
    if (!r.ran) continue;
    summary.ran[impl] = true;
    summary.p50[impl] = r.samples.percentile_us(50);
    summary.p99[impl] = r.samples.percentile_us(99);
    const double n = static_cast<double>(rounds_x_iters);
    std::printf("%-6s %-5s %-5s %8.2f %8.2f %9.0f %8.2f %10.2f\n", std::string(cpus).c_str(),
                size_name(size).c_str(), kImplNames[impl], summary.p50[impl], summary.p99[impl],
                r.samples.rate_per_second(), static_cast<double>(r.usage.switches) / n,
                r.usage.cpu_us / n);
  }
  std::fflush(stdout);
  return summary;
}

const char* verdict(bool met) {
  return met ? "met" : "MISSED";
}

void print_latency_ratios(const std::vector<LatencySummary>& summaries) {
  std::printf(
      "\nlatency ratios (p50; p99 in brackets) — targets nexo/zmq <= 0.8, nexo/raw <= 1.15\n");
  for (const auto& s : summaries) {
    std::printf("  %-12s", s.label.c_str());
    if (s.ran[kNexo] && s.ran[kZmq]) {
      const double r = s.p50[kNexo] / s.p50[kZmq];
      std::printf("  nexo/zmq %.3f [%.3f] %-6s", r, s.p99[kNexo] / s.p99[kZmq], verdict(r <= 0.8));
    }
    if (s.ran[kNexo] && s.ran[kRaw]) {
      const double r = s.p50[kNexo] / s.p50[kRaw];
      std::printf("  nexo/raw %.3f [%.3f] %-6s", r, s.p99[kNexo] / s.p99[kRaw], verdict(r <= 1.15));
    }
    if (s.ran[kZmq] && s.ran[kRaw]) {
      std::printf("  (zmq/raw %.3f)", s.p50[kZmq] / s.p50[kRaw]);
    }
    std::printf("\n");
  }
}

// --- 2. throughput streams ---------------------------------------------------------------

constexpr std::size_t kStreamSize = 64;

// A one-way stream: this thread sends, a receiver thread (started per round,
// bound to the server's cpu) counts. round() returns the time from the first
// send to the receipt of the last message.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual Result<Clock::duration> round(std::size_t count) = 0;

 protected:
  // Runs `receive(count, &last)` on a receiver thread while `send(count)` runs
  // here; the clock starts once the receiver is waiting.
  template <class Send, class Receive>
  static Result<Clock::duration> timed(int server_cpu, std::size_t count, Send&& send,
                                       Receive&& receive) {
    std::latch ready(1);
    Clock::time_point last{};
    std::optional<Error> receive_error;
    std::thread receiver([&] {
      if (!nexo::bench::pin_this_thread(server_cpu)) {
        receive_error = Error(ErrorKind::system, "cannot bind the receiver thread");
        ready.count_down();
        return;
      }
      ready.count_down();
      if (auto got = receive(count); !got) {
        receive_error = std::move(got).error().with_context("receiver");
      }
      last = Clock::now();
    });
    ready.wait();
    const Clock::time_point start = Clock::now();
    auto sent = send(count);
    receiver.join();  // the receiver gives up within its deadline if messages went missing
    if (!sent) return std::move(sent).error().with_context("sender");
    if (receive_error) return *receive_error;
    return last - start;
  }

  static void stamp(Bytes& payload, std::size_t sequence) {
    const auto value = static_cast<std::uint32_t>(sequence);
    std::memcpy(payload.data(), &value, sizeof value);
  }
  // Checks that message `sequence` arrived whole and in order.
  static Result<void> check(std::span<const std::byte> data, std::size_t sequence) {
    if (data.size() != kStreamSize) return short_reply(data.size(), kStreamSize);
    std::uint32_t value = 0;
    std::memcpy(&value, data.data(), sizeof value);
    if (value != static_cast<std::uint32_t>(sequence)) {
      return Error(ErrorKind::malformed, "message " + std::to_string(sequence) +
                                             " arrived as number " + std::to_string(value));
    }
    return nexo::ok();
  }
};

class RawStream final : public Stream {
 public:
  static Result<std::unique_ptr<Stream>> open(const Placement& placement) {
    auto pair = tcp_pair();
    if (!pair) return pair.error();
    if (auto t = set_timeouts(pair->second.get(), kTimeout, kTimeout); !t) return t.error();
    std::unique_ptr<Stream> out =
        std::make_unique<RawStream>(std::move(pair->first), std::move(pair->second), placement);
    return out;
  }
  RawStream(FileDescriptor client, FileDescriptor server, const Placement& placement)
      : client_(std::move(client)), server_(std::move(server)), server_cpu_(placement.server) {}

  Result<Clock::duration> round(std::size_t count) override {
    auto send = [&](std::size_t n) -> Result<void> {
      Bytes payload(kStreamSize, std::byte{'m'});
      Bytes frame;
      std::optional<Error> error;
      for (std::size_t i = 0; i < n; ++i) {
        stamp(payload, i);
        make_frame(frame, payload);
        if (!send_all(client_.get(), frame, error)) return std::move(*error);
      }
      return nexo::ok();
    };
    auto receive = [&](std::size_t n) -> Result<void> {
      for (std::size_t i = 0; i < n; ++i) {
        auto data = reader_.next(server_.get());  // SO_RCVTIMEO: kTimeout (tcp_pair)
        if (!data) return std::move(data).error();
        if (auto ok = check(*data, i); !ok) return ok;
      }
      return nexo::ok();
    };
    return timed(server_cpu_, count, send, receive);
  }

 private:
  FileDescriptor client_, server_;
  int server_cpu_;
  FrameReader reader_;  // kept across rounds (the receiver thread of one round at a time)
};

class ZmqStream final : public Stream {
 public:
  static Result<std::unique_ptr<Stream>> open(const Placement& placement) {
    bind_thread(placement.server);
    auto server_context = zmq_context();
    if (!server_context) return server_context.error();
    auto pull = zmq_open(server_context->get(), ZMQ_PULL, static_cast<int>(kTimeout.count()),
                         static_cast<int>(kTimeout.count()));
    if (!pull) return pull.error();
    auto endpoint = zmq_bind_any(pull->get());
    if (!endpoint) return endpoint.error();
    bind_thread(placement.client);
    auto client_context = zmq_context();
    if (!client_context) return client_context.error();
    auto push = zmq_open(client_context->get(), ZMQ_PUSH, static_cast<int>(kTimeout.count()),
                         static_cast<int>(kTimeout.count()));
    if (!push) return push.error();
    if (::zmq_connect(push->get(), endpoint->c_str()) != 0) return zmq_failure("zmq_connect");
    std::unique_ptr<Stream> out =
        std::make_unique<ZmqStream>(std::move(*server_context), std::move(*client_context),
                                    std::move(*pull), std::move(*push), placement);
    return out;
  }
  ZmqStream(ZmqContext server_context, ZmqContext client_context, ZmqSocket pull, ZmqSocket push,
            const Placement& placement)
      : server_context_(std::move(server_context)),
        client_context_(std::move(client_context)),
        pull_(std::move(pull)),
        push_(std::move(push)),
        server_cpu_(placement.server) {}

  Result<Clock::duration> round(std::size_t count) override {
    auto send = [&](std::size_t n) -> Result<void> {
      Bytes payload(kStreamSize, std::byte{'m'});
      for (std::size_t i = 0; i < n; ++i) {
        stamp(payload, i);
        if (::zmq_send(push_.get(), payload.data(), payload.size(), 0) < 0) {
          return zmq_failure("zmq_send");
        }
      }
      return nexo::ok();
    };
    auto receive = [&](std::size_t n) -> Result<void> {
      Bytes buffer(kStreamSize * 2);
      for (std::size_t i = 0; i < n; ++i) {
        const int got = ::zmq_recv(pull_.get(), buffer.data(), buffer.size(), 0);
        if (got < 0) return zmq_failure("zmq_recv");
        const auto size = std::min(static_cast<std::size_t>(got), buffer.size());
        if (auto ok = check(std::span<const std::byte>(buffer).first(size), i); !ok) return ok;
      }
      return nexo::ok();
    };
    return timed(server_cpu_, count, send, receive);
  }

 private:
  ZmqContext server_context_, client_context_;
  ZmqSocket pull_, push_;
  int server_cpu_;
};

class NexoStream final : public Stream {
 public:
  static Result<std::unique_ptr<Stream>> open(const Placement& placement) {
    bind_thread(placement.server);
    auto server_context = msg::Context::create();
    if (!server_context) return server_context.error();
    bind_thread(placement.client);
    auto client_context = msg::Context::create();
    if (!client_context) return client_context.error();
    auto port = msg::Port::bind(**server_context, "tcp://127.0.0.1:0");
    if (!port) return port.error();
    auto sender = msg::Sender::connect(**client_context, (*port)->uri().to_string());
    if (!sender) return sender.error();
    std::unique_ptr<Stream> out =
        std::make_unique<NexoStream>(std::move(*server_context), std::move(*client_context),
                                     std::move(*port), std::move(*sender), placement);
    return out;
  }
  NexoStream(std::unique_ptr<msg::Context> server_context,
             std::unique_ptr<msg::Context> client_context, std::unique_ptr<msg::Port> port,
             std::unique_ptr<msg::Sender> sender, const Placement& placement)
      : server_context_(std::move(server_context)),
        client_context_(std::move(client_context)),
        port_(std::move(port)),
        sender_(std::move(sender)),
        server_cpu_(placement.server) {}

  Result<Clock::duration> round(std::size_t count) override {
    auto send = [&](std::size_t n) -> Result<void> {
      Bytes payload(kStreamSize, std::byte{'m'});
      for (std::size_t i = 0; i < n; ++i) {
        stamp(payload, i);
        auto queued = sender_->send_async(payload);
        if (queued) continue;  // the Request is dropped: completion is not waited for
        if (!queued.error().is(ErrorKind::would_block)) return std::move(queued).error();
        // The local buffer is full: the blocking send waits for room (and for this one to leave).
        if (auto sent = sender_->send(payload, kTimeout); !sent) return sent;
      }
      return nexo::ok();
    };
    auto receive = [&](std::size_t n) -> Result<void> {
      for (std::size_t i = 0; i < n; ++i) {
        auto message = port_->receive(kTimeout);
        if (!message) return std::move(message).error();
        if (auto ok = check(message->data, i); !ok) return ok;
      }
      return nexo::ok();
    };
    return timed(server_cpu_, count, send, receive);
  }

 private:
  std::unique_ptr<msg::Context> server_context_, client_context_;
  std::unique_ptr<msg::Port> port_;
  std::unique_ptr<msg::Sender> sender_;
  int server_cpu_;
};

Result<std::unique_ptr<Stream>> open_stream(std::size_t impl, const Placement& placement) {
  switch (impl) {
    case kRaw:
      return RawStream::open(placement);
    case kZmq:
      return ZmqStream::open(placement);
    default:
      return NexoStream::open(placement);
  }
}

struct ThroughputResult {
  std::vector<double> rates;  // messages per second, one per round
  Usage usage;
  std::size_t messages = 0;
  bool ran = false;

  double median() const {
    std::vector<double> sorted = rates;
    std::sort(sorted.begin(), sorted.end());
    return sorted.empty() ? 0.0 : sorted[sorted.size() / 2];
  }
};

Result<void> run_throughput_case(const Placement& placement, const Options& options,
                                 std::array<ThroughputResult, 3>& results) {
  std::vector<std::size_t> impls;
  std::array<std::unique_ptr<Stream>, 3> streams;
  for (std::size_t impl = 0; impl < 3; ++impl) {
    if (!options.impls[impl]) continue;
    auto stream = open_stream(impl, placement);
    bind_thread(placement.client);
    if (!stream) return stream.error().with_context(kImplNames[impl]);
    streams[impl] = std::move(*stream);
    impls.push_back(impl);
  }
  const auto count = static_cast<std::size_t>(options.messages);
  for (std::size_t impl : impls) {  // warm-up: a tenth of a round
    if (auto warm = streams[impl]->round(std::max<std::size_t>(count / 10, 1)); !warm) {
      return warm.error().with_context(kImplNames[impl]);
    }
  }
  for (int round = 0; round < options.throughput_rounds; ++round) {
    for (std::size_t turn = 0; turn < impls.size(); ++turn) {
      const std::size_t impl = impls[(static_cast<std::size_t>(round) + turn) % impls.size()];
      const Usage before = Usage::now();
      auto elapsed = streams[impl]->round(count);
      results[impl].usage += Usage::now() - before;
      if (!elapsed) return elapsed.error().with_context(kImplNames[impl]);
      const double seconds = std::chrono::duration<double>(*elapsed).count();
      results[impl].rates.push_back(static_cast<double>(count) / std::max(seconds, 1e-9));
      results[impl].messages += count;
    }
  }
  for (std::size_t impl : impls)
    results[impl].ran = true;
  return nexo::ok();
}

// --- 3. memory per idle connection ---------------------------------------------------------

// Resident set size of this process, in bytes.
long rss_bytes() {
  long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * ::sysconf(_SC_PAGESIZE);
}

// The server sockets of local port `port` in /proc/net/tcp (127.0.0.1 is IPv4).
struct TcpTable {
  std::size_t established = 0;     // ESTABLISHED, accepted or still in the accept queue
  std::size_t nothing_unread = 0;  // ... of which with an empty receive queue
  std::size_t accept_queue = 0;    // the listener's connections not yet accepted
};

Result<TcpTable> scan_tcp_table(std::uint16_t port) {
  FILE* f = std::fopen("/proc/net/tcp", "r");
  if (f == nullptr) return Error::from_errno(errno, "open /proc/net/tcp");
  TcpTable table;
  std::array<char, 512> line{};
  bool header = true;
  while (std::fgets(line.data(), static_cast<int>(line.size()), f) != nullptr) {
    if (std::exchange(header, false)) continue;
    unsigned local_address = 0, local_port = 0, remote_address = 0, remote_port = 0, state = 0;
    unsigned long tx_queue = 0, rx_queue = 0;
    if (std::sscanf(line.data(), " %*u: %8X:%4X %8X:%4X %2X %8lX:%8lX", &local_address, &local_port,
                    &remote_address, &remote_port, &state, &tx_queue, &rx_queue) != 7) {
      continue;
    }
    if (local_port != port) continue;
    if (state == 0x0A) table.accept_queue += rx_queue;  // LISTEN: rx_queue is the accept queue
    if (state == 0x01) {
      ++table.established;
      if (rx_queue == 0) ++table.nothing_unread;
    }
  }
  std::fclose(f);
  return table;
}

// The ZMTP 3.0 greeting (NULL mechanism, as client) and READY (Socket-Type
// PUSH): what a PUSH socket writes on connecting, so that a PULL socket
// completes its handshake and attaches the connection.
constexpr std::array<unsigned char, 64 + 28> zmtp_hello() {
  std::array<unsigned char, 64 + 28> out{};
  out[0] = 0xff;  // signature: 0xff, 8 bytes of padding, 0x7f
  out[9] = 0x7f;
  out[10] = 3;  // version 3.0
  out[11] = 0;
  out[12] = 'N', out[13] = 'U', out[14] = 'L', out[15] = 'L';  // mechanism, 20 bytes
  // out[32] as-server 0, then 31 bytes of filler
  std::size_t i = 64;
  out[i++] = 0x04;  // a short command frame
  out[i++] = 26;    // its body: "\5READY" "\13Socket-Type" [0 0 0 4] "PUSH"
  constexpr std::string_view kReady("\x05READY\x0bSocket-Type\0\0\0\x04PUSH", 26);
  for (char c : kReady)
    out[i++] = static_cast<unsigned char>(c);
  return out;
}

struct ConnectorOrder {
  std::uint16_t port = 0;
  std::uint8_t zmtp = 0;
};
struct ConnectorReport {
  std::uint32_t connected = 0;
  std::int32_t error = 0;  // errno of the connect that failed, if one did
};

// Reads exactly `size` bytes by `deadline`. Only system calls: safe in the forked child.
bool read_by(int fd, void* out, std::size_t size, Clock::time_point deadline) {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t got = 0;
  while (got < size) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = ::read(fd, bytes + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    static_cast<void>(::setrlimit(RLIMIT_NOFILE, &limit));
  }
}

// The forked client: waits for the order, opens the connections, reports,
// holds them idle until the parent closes the order pipe (or 120 s pass),
// then exits (the kernel closes them all). System calls only, no allocation.
[[noreturn]] void connector_main(int orders, int reports, std::span<int> fds, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the benchmark
  if (::getppid() != parent) ::_exit(3);
  raise_fd_limit();
  ConnectorOrder order;
  if (!read_by(orders, &order, sizeof order, Clock::now() + 60s)) ::_exit(4);
  static constexpr auto kHello = zmtp_hello();
  ConnectorReport report;
  sockaddr_in address = loopback_address(order.port);
  const timeval connect_timeout{5, 0};  // SO_SNDTIMEO bounds a blocking connect
  for (int& fd : fds) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &connect_timeout, sizeof connect_timeout) != 0 ||
        ::connect(fd, as_sockaddr(address), sizeof address) != 0) {
      report.error = errno;
      break;
    }
    if (order.zmtp != 0 && ::send(fd, kHello.data(), kHello.size(), MSG_NOSIGNAL) !=
                               static_cast<ssize_t>(kHello.size())) {
      report.error = errno;
      break;
    }
    ++report.connected;
  }
  if (::write(reports, &report, sizeof report) != static_cast<ssize_t>(sizeof report)) ::_exit(5);
  pollfd p{orders, POLLIN, 0};  // POLLHUP when the parent closes its end
  static_cast<void>(::poll(&p, 1, 120'000));
  ::_exit(0);
}

// The parent's handle on the forked client.
class Connector {
 public:
  // Forks the client now: call it before starting the server's threads.
  static Result<std::unique_ptr<Connector>> spawn(std::size_t count) {
    auto connector = std::unique_ptr<Connector>(new Connector(count));
    int orders[2], reports[2];
    if (::pipe2(orders, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe2");
    FileDescriptor order_read(orders[0]), order_write(orders[1]);
    if (::pipe2(reports, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe2");
    FileDescriptor report_read(reports[0]), report_write(reports[1]);
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno(errno, "fork");
    if (pid == 0) {
      ::close(orders[1]);
      ::close(reports[0]);
      connector_main(orders[0], reports[1], connector->fds_, parent);
    }
    connector->pid_ = pid;
    connector->orders_ = std::move(order_write);
    connector->reports_ = std::move(report_read);
    return connector;
  }
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;
  ~Connector() { static_cast<void>(stop()); }

  // Tells the client to connect to `port`; returns how many connections it opened.
  Result<std::size_t> connect(std::uint16_t port, bool zmtp) {
    const ConnectorOrder order{port, static_cast<std::uint8_t>(zmtp ? 1 : 0)};
    if (::write(orders_.get(), &order, sizeof order) != static_cast<ssize_t>(sizeof order)) {
      return Error::from_errno(errno, "write to the client process");
    }
    ConnectorReport report;
    if (!read_by(reports_.get(), &report, sizeof report, Clock::now() + 60s)) {
      return Error(ErrorKind::timed_out, "the client process did not report within 60 s");
    }
    if (report.connected < fds_.size()) {
      return Error::from_errno(report.error, "client process: connect " +
                                                 std::to_string(report.connected + 1) + " of " +
                                                 std::to_string(fds_.size()));
    }
    return static_cast<std::size_t>(report.connected);
  }

  // Makes the client exit (closing its connections) and reaps it; kills it if
  // it has not exited within 10 s. Idempotent.
  Result<void> stop() {
    if (pid_ <= 0) return nexo::ok();
    orders_.reset();
    const auto deadline = Clock::now() + 10s;
    int status = 0;
    for (;;) {
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_ || (done < 0 && errno != EINTR)) break;
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        static_cast<void>(::waitpid(pid_, &status, 0));
        pid_ = -1;
        return Error(ErrorKind::timed_out, "the client process had to be killed");
      }
      std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Error(ErrorKind::system,
                   "the client process ended with status " + std::to_string(status));
    }
    return nexo::ok();
  }

 private:
  explicit Connector(std::size_t count) : fds_(count, -1) {}

  std::vector<int> fds_;  // allocated before the fork: the child writes into its copy
  pid_t pid_ = -1;
  FileDescriptor orders_, reports_;
};

// A server holding idle connections: how many it has accepted.
class IdleServer {
 public:
  virtual ~IdleServer() = default;
  virtual std::uint16_t port() const = 0;
  virtual Result<std::size_t> held() = 0;
};

class NexoIdleServer final : public IdleServer {
 public:
  static Result<std::unique_ptr<IdleServer>> open() {
    auto context = msg::Context::create();
    if (!context) return context.error();
    auto port = msg::Port::bind(**context, "tcp://127.0.0.1:0");
    if (!port) return port.error();
    std::unique_ptr<IdleServer> out =
        std::make_unique<NexoIdleServer>(std::move(*context), std::move(*port));
    return out;
  }
  NexoIdleServer(std::unique_ptr<msg::Context> context, std::unique_ptr<msg::Port> port)
      : context_(std::move(context)), port_(std::move(port)) {}
  std::uint16_t port() const override { return port_->uri().port; }
  Result<std::size_t> held() override { return port_->connections().size(); }

 private:
  std::unique_ptr<msg::Context> context_;
  std::unique_ptr<msg::Port> port_;
};

class ZmqIdleServer final : public IdleServer {
 public:
  static Result<std::unique_ptr<IdleServer>> open() {
    auto context = zmq_context();
    if (!context) return context.error();
    auto pull = zmq_open(context->get(), ZMQ_PULL, -1, -1);
    if (!pull) return pull.error();
    // nexo's listener backlog, so that neither drops SYNs the other would queue.
    if (auto set = zmq_set(pull->get(), ZMQ_BACKLOG, 511, "ZMQ_BACKLOG"); !set) return set.error();
    auto endpoint = zmq_bind_any(pull->get());
    if (!endpoint) return endpoint.error();
    const auto colon = endpoint->rfind(':');
    const int port = std::atoi(endpoint->c_str() + colon + 1);
    std::unique_ptr<IdleServer> out = std::make_unique<ZmqIdleServer>(
        std::move(*context), std::move(*pull), static_cast<std::uint16_t>(port));
    return out;
  }
  ZmqIdleServer(ZmqContext context, ZmqSocket pull, std::uint16_t port)
      : context_(std::move(context)), pull_(std::move(pull)), port_(port) {}
  std::uint16_t port() const override { return port_; }
  // Accepted (not in the accept queue) and read to the end (the handshake
  // bytes, if any, consumed): the minimum of the two counts.
  Result<std::size_t> held() override {
    auto table = scan_tcp_table(port_);
    if (!table) return table.error();
    const std::size_t accepted =
        table->established - std::min(table->accept_queue, table->established);
    return std::min(accepted, table->nothing_unread);
  }

 private:
  ZmqContext context_;
  ZmqSocket pull_;
  std::uint16_t port_;
};

struct MemoryResult {
  std::string name;
  std::size_t connections = 0;
  long before = 0, after = 0;          // after malloc_trim(0)
  long before_raw = 0, after_raw = 0;  // as found
  std::string note;
};

long trimmed_rss() {
  ::malloc_trim(0);
  return rss_bytes();
}

// Waits until `server` holds `target` connections (or, with at_most, at most
// that many); false at the deadline.
Result<bool> wait_held(IdleServer& server, std::size_t target, bool at_most,
                       std::chrono::seconds limit, std::size_t& last) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    auto held = server.held();
    if (!held) return held.error();
    last = *held;
    if (at_most ? last <= target : last >= target) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

template <class Open>
Result<MemoryResult> measure_memory(std::string name, std::size_t count, bool zmtp, Open&& open) {
  auto connector = Connector::spawn(count);  // before the server's threads exist
  if (!connector) return connector.error();
  auto server = open();
  if (!server) return server.error();
  std::this_thread::sleep_for(100ms);
  MemoryResult result;
  result.name = std::move(name);
  result.before_raw = rss_bytes();
  result.before = trimmed_rss();
  auto connected = (*connector)->connect((*server)->port(), zmtp);
  if (!connected) return connected.error();
  std::size_t held = 0;
  auto all = wait_held(**server, *connected, false, 30s, held);
  if (!all) return all.error();
  if (!*all) {
    return Error(ErrorKind::timed_out, "the server holds " + std::to_string(held) + " of " +
                                           std::to_string(*connected) + " connections after 30 s");
  }
  std::this_thread::sleep_for(300ms);  // let the I/O thread finish with the last ones
  result.after_raw = rss_bytes();
  result.after = trimmed_rss();
  result.connections = *connected;
  if (auto again = (*server)->held(); !again || *again != *connected) {
    result.note = "connections were lost while measuring";
  }
  // Cleanup, checked: the client exits, the server sees every connection end.
  if (auto stopped = (*connector)->stop(); !stopped) return stopped.error();
  auto drained = wait_held(**server, 0, true, 15s, held);
  if (!drained) return drained.error();
  if (!*drained) {
    result.note += (result.note.empty() ? "" : "; ") + std::to_string(held) +
                   " connections still open 15 s after the client exited";
  }
  return result;
}

// --- the run ------------------------------------------------------------------------------------

bool run_latency(const Options& options, const std::vector<Placement>& placements) {
  std::printf(
      "\n== 1. ping-pong latency over tcp://127.0.0.1 (one round trip = client send -> "
      "server receive -> server send -> client receive)\n");
  std::printf(
      "per case: warm-up %d, then %d rounds x %d round trips per impl, the first impl "
      "rotating\n",
      options.warmup, options.rounds, options.iterations);
  std::printf(
      "rt/s: round trips per second of measured time; csw/rt and cpu_us/rt: context "
      "switches and CPU time of the whole process (all threads, both sides) per round "
      "trip\n");
  const auto& cpus = startup_cpus();
  if (!cpus.empty()) {
    const double same = futex_ping_pong_us(cpus[0], cpus[0]);
    std::printf(
        "calibration: two threads waking each other through a futex (no spinning), p50 per "
        "round trip of 2 wake-ups: same cpu %.2f us",
        same);
    if (cpus.size() >= 2)
      std::printf(", across cpus %.2f us", futex_ping_pong_us(cpus[0], cpus[1]));
    std::printf(
        "\n  (with free placement the scheduler decides whether a pair's threads share a cpu: "
        "cheap wake-ups, or spread: a cross-cpu wake-up per hop; compare --cpus=same)\n");
  }
  std::printf("\n%-6s %-5s %-5s %8s %8s %9s %8s %10s\n", "cpus", "size", "impl", "p50_us", "p99_us",
              "rt/s", "csw/rt", "cpu_us/rt");
  bool all_ran = true;
  std::vector<LatencySummary> summaries;
  for (const Placement& placement : placements) {
    bind_thread(placement.client);
    for (std::size_t size : {std::size_t{64}, std::size_t{1024}}) {
      std::array<LatencyResult, 3> results;
      if (auto ran = run_latency_case(size, placement, options, results); !ran) {
        std::fprintf(stderr, "bench_msg: latency %s %s: %s\n", cpus_name(placement.mode),
                     size_name(size).c_str(), ran.error().message().c_str());
        all_ran = false;
      }
      summaries.push_back(print_latency_case(cpus_name(placement.mode), size,
                                             options.rounds * options.iterations, results));
    }
  }
  bind_thread(-1);
  print_latency_ratios(summaries);
  std::fflush(stdout);
  return all_ran;
}

bool run_throughput(const Options& options, const std::vector<Placement>& placements) {
  std::printf(
      "\n== 2. one-way throughput, %zu-byte messages over tcp://127.0.0.1 (one sender "
      "thread, one receiver thread)\n",
      kStreamSize);
  std::printf(
      "per impl: warm-up %d messages, then %d rounds x %d messages, the first impl "
      "rotating; the clock stops when the receiver has the last one\n",
      std::max(options.messages / 10, 1), options.throughput_rounds, options.messages);
  std::printf(
      "nexo: send_async (on would_block: the blocking send) / Port::receive; zmq: "
      "PUSH/PULL; raw: one send() per message, a 64 KiB reader (reference)\n");
  std::printf(
      "msgs/s: median round [min..max]; MB/s: payload (10^6 B/s) at the median; csw/msg, "
      "cpu_ns/msg: whole process\n\n");
  std::printf("%-6s %-5s %11s %25s %8s %8s %10s\n", "cpus", "impl", "msgs/s", "[min..max]", "MB/s",
              "csw/msg", "cpu_ns/msg");
  bool all_ran = true;
  std::vector<std::pair<std::string, std::array<double, 3>>> medians;
  for (const Placement& placement : placements) {
    bind_thread(placement.client);
    std::array<ThroughputResult, 3> results;
    if (auto ran = run_throughput_case(placement, options, results); !ran) {
      std::fprintf(stderr, "bench_msg: throughput %s: %s\n", cpus_name(placement.mode),
                   ran.error().message().c_str());
      all_ran = false;
    }
    std::array<double, 3> median{};
    for (std::size_t impl = 0; impl < 3; ++impl) {
      const auto& r = results[impl];
      if (!r.ran) continue;
      median[impl] = r.median();
      const auto [lo, hi] = std::minmax_element(r.rates.begin(), r.rates.end());
      const double n = static_cast<double>(r.messages);
      const std::string range = "[" + std::to_string(static_cast<long>(*lo)) + ".." +
                                std::to_string(static_cast<long>(*hi)) + "]";
      std::printf("%-6s %-5s %11.0f %25s %8.2f %8.3f %10.0f\n", cpus_name(placement.mode),
                  kImplNames[impl], median[impl], range.c_str(),
                  median[impl] * static_cast<double>(kStreamSize) / 1e6,
                  static_cast<double>(r.usage.switches) / n, r.usage.cpu_us * 1e3 / n);
    }
    medians.emplace_back(cpus_name(placement.mode), median);
    std::fflush(stdout);
  }
  bind_thread(-1);
  std::printf("\nthroughput ratios (median msgs/s) — target nexo/zmq >= 1.5\n");
  for (const auto& [label, m] : medians) {
    if (m[kNexo] > 0 && m[kZmq] > 0) {
      const double r = m[kNexo] / m[kZmq];
      std::printf("  %-6s nexo/zmq %.3f %-6s", label.c_str(), r, verdict(r >= 1.5));
      if (m[kRaw] > 0)
        std::printf("  (nexo/raw %.3f, zmq/raw %.3f)", m[kNexo] / m[kRaw], m[kZmq] / m[kRaw]);
      std::printf("\n");
    }
  }
  std::fflush(stdout);
  return all_ran;
}

bool run_memory(const Options& options) {
  const auto count = static_cast<std::size_t>(options.connections);
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  std::printf(
      "\n== 3. memory per idle connection: a forked client opens %zu TCP connections to "
      "one server and keeps them idle\n",
      count);
  std::printf(
      "server RSS from /proc/self/statm, before and after all are held; 'trimmed' after "
      "malloc_trim(0) (the headline), 'raw' as found. Kernel socket memory is not in RSS.\n");
  std::printf("RLIMIT_NOFILE raised to the hard limit in both processes: %llu\n",
              static_cast<unsigned long long>(limit.rlim_cur));
  std::printf(
      "  nexo               tcp:// Port, connections that never send (counted by "
      "port->connections())\n");
  std::printf(
      "  zmq (handshaken)   PULL socket; each connection completes the ZMTP 3.0 NULL "
      "handshake as a PUSH peer, then stays idle\n");
  std::printf(
      "  zmq (no handshake) plain connects: libzmq holds them only until "
      "ZMQ_HANDSHAKE_IVL (30 s) — a transient state, for information\n\n");
  std::printf("%-19s %6s %12s %12s %12s %12s\n", "impl", "conns", "before_KiB", "after_KiB",
              "B/conn", "B/conn_raw");
  struct Case {
    const char* name;
    std::size_t impl;
    bool zmtp;
  };
  bool all_ran = true;
  std::optional<double> nexo_per_connection, zmq_per_connection;
  for (const Case c : {Case{"nexo", kNexo, false}, Case{"zmq (handshaken)", kZmq, true},
                       Case{"zmq (no handshake)", kZmq, false}}) {
    if (!options.impls[c.impl]) continue;
    auto result = c.impl == kNexo
                      ? measure_memory(c.name, count, false, [] { return NexoIdleServer::open(); })
                      : measure_memory(c.name, count, c.zmtp, [] { return ZmqIdleServer::open(); });
    if (!result) {
      std::fprintf(stderr, "bench_msg: memory %s: %s\n", c.name, result.error().message().c_str());
      all_ran = false;
      continue;
    }
    const double n = static_cast<double>(result->connections);
    const double per = static_cast<double>(result->after - result->before) / n;
    const double per_raw = static_cast<double>(result->after_raw - result->before_raw) / n;
    std::printf("%-19s %6zu %12ld %12ld %12.0f %12.0f%s%s\n", c.name, result->connections,
                result->before / 1024, result->after / 1024, per, per_raw,
                result->note.empty() ? "" : "  note: ", result->note.c_str());
    if (c.impl == kNexo) nexo_per_connection = per;
    if (c.impl == kZmq && c.zmtp) zmq_per_connection = per;
    std::fflush(stdout);
  }
  if (nexo_per_connection) {
    std::printf("\nnexo: %.0f B per idle connection (target < 8192: %s)", *nexo_per_connection,
                verdict(*nexo_per_connection < 8192));
    if (zmq_per_connection) {
      std::printf("; zmq (handshaken) %.0f B: nexo/zmq %.3f", *zmq_per_connection,
                  *nexo_per_connection / *zmq_per_connection);
    }
    std::printf("\n");
  }
  std::fflush(stdout);
  return all_ran;
}

// /proc/loadavg without its newline: "1-, 5- and 15-minute load, running/threads, last pid".
std::string load_average() {
  std::array<char, 128> text{};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fgets(text.data(), static_cast<int>(text.size()), f) == nullptr) text[0] = '\0';
    std::fclose(f);
  }
  std::string out(text.data());
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

// --- main --------------------------------------------------------------------------------------

bool parse_count_flag(std::string_view arg, std::string_view name, int max, int& out) {
  if (!arg.starts_with(name)) return false;
  const auto value = nexo::bench::parse_count(arg.substr(name.size()), max);
  if (value) out = *value;
  return value.has_value();
}

// "a,b,c" → its items.
std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    items.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    bool good = true;
    if (arg == "--help" || arg == "-h") {
      options.help = true;
    } else if (arg == "--quick") {
      options.quick = true;
      options.rounds = 2;
      options.iterations = 200;
      options.warmup = 100;
      options.messages = 20'000;
      options.throughput_rounds = 2;
      options.connections = 1'000;
    } else if (arg == "--no-memory") {
      options.memory = false;
    } else if (arg == "--no-latency") {
      options.latency = false;
    } else if (arg == "--no-throughput") {
      options.throughput = false;
    } else if (arg.starts_with("--cpus=")) {
      options.cpus.clear();
      for (auto item : split_list(arg.substr(7))) {
        if (item == "free") {
          options.cpus.push_back(Cpus::free);
        } else if (item == "split") {
          options.cpus.push_back(Cpus::split);
        } else if (item == "same") {
          options.cpus.push_back(Cpus::same);
        } else {
          good = false;
        }
      }
      good = good && !options.cpus.empty();
    } else if (arg.starts_with("--impls=")) {
      options.impls = {false, false, false};
      for (auto item : split_list(arg.substr(8))) {
        const auto found = std::find(kImplNames.begin(), kImplNames.end(), item);
        if (found == kImplNames.end()) {
          good = false;
        } else {
          options.impls[static_cast<std::size_t>(found - kImplNames.begin())] = true;
        }
      }
    } else if (!parse_count_flag(arg, "--rounds=", 1000, options.rounds) &&
               !parse_count_flag(arg, "--iterations=", 10'000'000, options.iterations) &&
               !parse_count_flag(arg, "--warmup=", 10'000'000, options.warmup) &&
               !parse_count_flag(arg, "--messages=", 100'000'000, options.messages) &&
               !parse_count_flag(arg, "--throughput-rounds=", 1000, options.throughput_rounds) &&
               !parse_count_flag(arg, "--connections=", 1'000'000, options.connections)) {
      good = false;
    }
    if (!good) {
      std::fprintf(stderr, "bench_msg: unknown flag or bad value: %s\n", argv[i]);
      return std::nullopt;
    }
  }
  return options;
}

constexpr const char* kUsage =
    "usage: bench_msg [--quick] [--rounds=N] [--iterations=N] [--no-memory] [more...]\n"
    "  --quick                 a short smoke run (2 rounds x 200, 2 x 20000 messages, 1000 "
    "connections)\n"
    "  --rounds=N              latency rounds per case (default 10)\n"
    "  --iterations=N          round trips per impl per round (default 2000)\n"
    "  --warmup=N              round trips per impl before measuring (default 1000)\n"
    "  --messages=N            throughput: messages per impl per round (default 200000)\n"
    "  --throughput-rounds=N   throughput rounds (default 5)\n"
    "  --connections=N         idle connections for the memory test (default 10000)\n"
    "  --no-memory, --no-latency, --no-throughput   skip a section\n"
    "  --cpus=LIST             placements among free,split,same (default free,split)\n"
    "  --impls=LIST            implementations among raw,zmq,nexo (default all; for "
    "profiling)\n";

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options || options->help) {
    std::fputs(kUsage, options ? stdout : stderr);
    return options ? 0 : 2;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a peer gone mid-write is an error value, not a signal
  raise_fd_limit();
  static_cast<void>(startup_cpus());  // the mask before anything is bound

  int major = 0, minor = 0, patch = 0;
  ::zmq_version(&major, &minor, &patch);
  std::printf(
      "bench_msg: nexo msg/ over tcp:// beside ZeroMQ %d.%d.%d and raw POSIX TCP, all on "
      "127.0.0.1%s\n",
      major, minor, patch, options->quick ? " (--quick: a smoke run, numbers are rough)" : "");
  std::string cpu_list;
  for (int cpu : startup_cpus())
    cpu_list += (cpu_list.empty() ? "" : ",") + std::to_string(cpu);
  std::printf(
      "machine: %u cores (std::thread::hardware_concurrency), this process may use cpus "
      "%s\n",
      std::thread::hardware_concurrency(), cpu_list.c_str());
  std::vector<Placement> placements;
  for (Cpus mode : options->cpus) {
    if (auto placement = make_placement(mode)) {
      placements.push_back(*placement);
      std::printf("placement %s\n", placement->describe().c_str());
    } else {
      std::printf("placement %s: skipped (not enough cpus)\n", cpus_name(mode));
    }
  }
  std::printf(
      "each side (client, server) has its own context: nexo one I/O thread, ZeroMQ one "
      "I/O thread (+ its reaper)\n");

  std::printf("load average at start: %s\n", load_average().c_str());
  const auto start = Clock::now();
  bool ok = true;
  if (options->latency) ok = run_latency(*options, placements) && ok;
  if (options->throughput) ok = run_throughput(*options, placements) && ok;
  if (options->memory) ok = run_memory(*options) && ok;
  std::printf("\nload average at end: %s (other load on this machine disturbs the numbers)\n",
              load_average().c_str());
  std::printf("total %.1f s; benchmarks print, they never fail on a ratio\n",
              std::chrono::duration<double>(Clock::now() - start).count());
  return ok ? 0 : 1;
}
