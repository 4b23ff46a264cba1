// Ping-pong pairs and raw sockets, shared by bench_pingpong, bench_msg and
// bench_rudp: the message a client sends and checks, the timed loop of round
// trips, the echo thread that answers it, the latency section that opens,
// warms up and rotates the pairs of one case and prints their rows, and the
// raw POSIX calls (a connected loopback TCP or Unix-domain pair, a reader of
// framed or fixed-size records).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "nexo/base/bytes.hpp"
#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::bench {

inline constexpr std::chrono::milliseconds kTimeout{5000};  // every blocking call of a client
inline constexpr std::chrono::milliseconds kPoll{200};  // servers look at their stop flag this often
inline constexpr std::size_t kReadBuffer = 64 * 1024;   // raw readers read this much at once

// --- one round trip --------------------------------------------------------------------

// The request a client sends (at least 4 bytes) and the buffer its echo lands in.
class Message {
 public:
  explicit Message(std::size_t size);
  std::size_t size() const noexcept { return request_.size(); }
  // Marks the request with its sequence number, so a stale or foreign reply shows.
  void stamp(std::uint32_t sequence) noexcept {
    std::memcpy(request_.data(), &sequence, std::min(sizeof sequence, request_.size()));
  }
  std::span<const std::byte> request() const noexcept { return request_; }
  std::span<std::byte> reply() noexcept { return reply_; }
  bool reply_matches() const noexcept { return request_ == reply_; }

 private:
  Bytes request_;
  Bytes reply_;
};

Error short_reply(std::size_t got, std::size_t expected);

// A round trip's failure: sets `error` to `cause` and returns false.
inline bool fail(std::optional<Error>& error, Error cause) {
  error = std::move(cause);
  return false;
}

// True if a reply of `got` bytes has the `expected` size; else fails with short_reply.
inline bool reply_size_is(std::size_t got, std::size_t expected, std::optional<Error>& error) {
  return got == expected || fail(error, short_reply(got, expected));
}

// Times `count` round trips of `message`, each checked against its request;
// `round_trip(error)` does one and returns false with `error` set when it fails.
// `samples` nullptr: a warm-up, nothing recorded.
template <class RoundTrip>
Result<void> time_round_trips(std::size_t count, Message& message, LatencySamples* samples,
                              RoundTrip&& round_trip) {
  std::optional<Error> error;
  for (std::size_t i = 0; i < count; ++i) {
    message.stamp(static_cast<std::uint32_t>(i));
    const auto start = Clock::now();
    const bool done = round_trip(error);
    const auto elapsed = Clock::now() - start;
    if (!done) return std::move(*error);
    if (!message.reply_matches()) {
      return Error(ErrorKind::malformed,
                   "reply " + std::to_string(i) + " differs from its request");
    }
    if (samples != nullptr) samples->add(elapsed);
  }
  return ok();
}

// A ping-pong pair: a client end and the echo thread that answers it. The
// client side is used from one thread.
class PingPong {
 public:
  virtual ~PingPong() = default;
  // Times `count` round trips of `message` into `samples` (nullptr: warm-up).
  virtual Result<void> run(std::size_t count, Message& message, LatencySamples* samples) = 0;
  // Stops the echo thread and returns its error, if it had one. Idempotent.
  virtual Result<void> finish() = 0;
};

// The client's error, named by its impl, with the echo thread's error if it
// had one (often the cause).
Error echo_failure(PingPong& pair, Error client, std::string_view impl);

// The echo side's thread, started on construction and bound to `cpu` (negative:
// unbound); the error that ended its loop is kept for join(). The destructor
// joins: stop the loop first.
class EchoThread {
 public:
  template <class Loop>
  EchoThread(int cpu, Loop loop)
      : thread_([this, cpu, loop = std::move(loop)]() mutable {
          if (!pin_this_thread(cpu)) {
            error_ = Error(ErrorKind::system,
                           "cannot bind the echo thread to cpu " + std::to_string(cpu));
            return;
          }
          if (auto done = loop(); !done) error_ = std::move(done).error();
        }) {}
  EchoThread(const EchoThread&) = delete;
  EchoThread& operator=(const EchoThread&) = delete;
  ~EchoThread() { static_cast<void>(join()); }

  // Waits for the loop to end; its error, if it had one. Idempotent.
  Result<void> join() {
    if (thread_.joinable()) thread_.join();
    if (error_) return *error_;
    return ok();
  }

 private:
  std::optional<Error> error_;  // before thread_: written by the thread
  std::thread thread_;
};

// A T made of `ends` and the server's cpu, as a Base; or the error that kept
// `ends` from opening.
template <class Base, class T, class Ends>
Result<std::unique_ptr<Base>> make_with(Result<Ends> ends, int server_cpu) {
  if (!ends) return ends.error();
  std::unique_ptr<Base> out = std::make_unique<T>(std::move(*ends), server_cpu);
  return out;
}

// --- the latency section ----------------------------------------------------------------

struct LatencyResult {
  LatencySamples samples;
  Usage usage;          // over the measured rounds
  bool ran = false;
};

struct LatencyRounds {
  int warmup = 1000;      // round trips per impl before the first round
  int rounds = 10;
  int iterations = 2000;  // round trips per impl per round
};

// Opens `impl`'s pair for messages of `size` at a placement: the pair (never
// null) or the error that kept it from opening.
using OpenPair = std::function<Result<std::unique_ptr<PingPong>>(std::size_t impl)>;

// One case: the pairs of `impls` opened (this thread bound to the client's
// cpu after each), warmed up, then rounds in which each runs `iterations`
// round trips of a `size`-byte message, the first impl rotating.
Result<void> run_latency_case(std::span<const std::size_t> impls, const OpenPair& open,
                              int client_cpu, const LatencyRounds& counts, std::size_t size,
                              const ImplChoice& names, std::vector<LatencyResult>& results);

// Adds --rounds, --iterations and --warmup (their defaults from `counts`).
void add_latency_flags(Flags& flags, LatencyRounds& counts);
// "per case: warm-up W, then R rounds x I round trips per impl, <order>".
void print_latency_plan(const LatencyRounds& counts, const char* order = "the first impl rotating");

// The figures of one printed case, for the ratios.
struct LatencySummary {
  std::string label;
  std::vector<double> p50, p99;  // 0: not run
  double ratio50(std::size_t a, std::size_t b) const { return ratio(p50[a], p50[b]); }
  double ratio99(std::size_t a, std::size_t b) const { return ratio(p99[a], p99[b]); }
};

// Prints a case's rows, one per impl that ran, each `prefix(impl)` then p50_us
// p99_us rt/s csw/rt cpu_us/rt; returns its summary.
LatencySummary print_latency_case(std::string label, std::vector<LatencyResult>& results,
                                  const std::function<std::string(std::size_t)>& prefix);
// The column heads print_latency_case's figures line up under.
inline constexpr const char* kLatencyColumns = "%8s %8s %9s %8s %10s\n";

// The latency sections of bench_msg and bench_rudp: at each placement, for
// 64 B and 1 KiB messages, one case (run_latency_case) whose rows
// print_latency_case prints under a header it prints first:
//   cpus size impl [extra] p50_us p99_us rt/s csw/rt cpu_us/rt
// A failed case is printed on stderr ("<program>: latency <cpus> <size>:
// <why>") and the others still run. Each case's summary (labelled "<cpus>
// <size>") is appended to `summaries`; false if a case failed.
struct LatencyTable {
  const char* program;
  int impl_width = 8;               // the impl column's width
  const char* extra_head = nullptr;  // an extra column after impl, if any ("path")
  std::function<std::string(std::size_t impl)> extra;  // its value per impl
};
// Opens `impl`'s pair for `size`-byte messages at `placement`, as OpenPair.
using OpenSizedPair = std::function<Result<std::unique_ptr<PingPong>>(
    const Placement& placement, std::size_t size, std::size_t impl)>;
bool run_latency_section(const LatencyTable& table, std::span<const Placement> placements,
                         std::span<const std::size_t> impls, const OpenSizedPair& open,
                         const LatencyRounds& counts, const ImplChoice& names,
                         std::vector<LatencySummary>& summaries);

// --- raw POSIX sockets -------------------------------------------------------------------

inline constexpr std::uint32_t kLoopbackV4 = 0x7f00'0001;  // 127.0.0.1, host order

inline sockaddr* as_sockaddr(sockaddr_in& address) {
  return reinterpret_cast<sockaddr*>(&address);
}
sockaddr_in v4_address(std::uint32_t host, std::uint16_t port);

// setsockopt; a failure is reported as `what`.
Result<void> set_socket_option(int fd, int level, int name, const void* value, socklen_t size,
                               std::string_view what);
Result<void> set_no_delay(int fd, std::string_view what = "TCP_NODELAY");
Result<void> set_timeouts(int fd, std::chrono::milliseconds receive,
                          std::chrono::milliseconds send);

// Sends all of `data` (MSG_NOSIGNAL); EAGAIN is SO_SNDTIMEO passing.
bool send_all(int fd, std::span<const std::byte> data, std::optional<Error>& error);

// A connected pair of stream sockets (client, server): the client's timeouts
// kTimeout, the server's receive timeout `server_receive` (send: kTimeout).
using SocketPair = std::pair<net::FileDescriptor, net::FileDescriptor>;
// Loopback TCP, TCP_NODELAY on both.
Result<SocketPair> tcp_pair(std::chrono::milliseconds server_receive);
// A Unix-domain stream pair (socketpair(2)): the raw anchor of ipc://.
Result<SocketPair> unix_pair(std::chrono::milliseconds server_receive);

// Cuts records out of a stream read in chunks of up to 64 KiB: framed ones
// ([u32 big-endian length][payload], record 0) or fixed-size ones.
class RecordReader {
 public:
  explicit RecordReader(std::size_t record = 0) : record_(record), buffer_(kReadBuffer) {}

  // The next record's payload, valid until the next call. Errors: closed at
  // the end of the stream; timed_out when SO_RCVTIMEO passes (the bytes of a
  // partial record are kept: calling again continues).
  Result<std::span<const std::byte>> next(int fd);

 private:
  std::size_t record_;
  Bytes buffer_;
  std::size_t begin_ = 0, end_ = 0;
};

// Writes [u32 big-endian length][payload] into `frame` (resized) for one send().
void make_frame(Bytes& frame, std::span<const std::byte> payload);

// The raw anchor over a connected stream pair (loopback TCP or a Unix-domain
// socketpair): the client is this thread, one send() of a framed request
// ([u32 big-endian length][payload]), recv() into a 64 KiB buffer until the
// framed reply is whole; the echo reads a frame and sends it back.
class RawPair final : public PingPong {
 public:
  RawPair(SocketPair sockets, int server_cpu);
  ~RawPair() override { static_cast<void>(finish()); }
  Result<void> run(std::size_t count, Message& message, LatencySamples* samples) override;
  Result<void> finish() override;

 private:
  Result<void> echo();

  net::FileDescriptor client_, server_;
  RecordReader reader_;
  Bytes frame_;
  std::atomic<bool> stop_{false};
  EchoThread thread_;  // last: started when everything it uses exists
};

// RLIMIT_NOFILE up to its hard limit.
void raise_fd_limit();

}  // namespace nexo::bench
