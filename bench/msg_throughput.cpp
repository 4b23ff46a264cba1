// bench_msg, section 2: one-way throughput of 64 B messages. nexo:
// Sender::enqueue from one thread (the asynchronous send without a Request; on
// would_block — the local buffer full — Sender::wait_for_room, then enqueue
// again), Port::receive on another; ZeroMQ
// PUSH/PULL; and, as a reference, raw TCP with one send() per message and a
// reader of 64 KiB chunks. The receiver counts (and checks the sequence number
// of) every message; the clock stops when it has all N. msgs/s, MB/s of
// payload, ratio nexo/zmq (target >= 1.5).
#include <zmq.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <latch>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "msg_bench.hpp"
#include "nexo/msg/message.hpp"

namespace nexo::bench {
namespace {

using net::FileDescriptor;

constexpr std::size_t kStreamSize = 64;

// A one-way stream: this thread sends, a receiver thread (started per round,
// bound to the server's cpu) counts. round() returns the time from the first
// send to the receipt of the last message.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual Result<Clock::duration> round(std::size_t count) = 0;

 protected:
  // Sends `count` messages, each numbered, with `send_one(payload)` from this
  // thread while a receiver thread takes them with `receive_one(sequence)`
  // (which checks them); the clock starts once the receiver is waiting.
  template <class SendOne, class ReceiveOne>
  static Result<Clock::duration> timed(int server_cpu, std::size_t count, SendOne&& send_one,
                                       ReceiveOne&& receive_one) {
    std::latch ready(1);
    Clock::time_point last{};
    std::optional<Error> receive_error;
    std::thread receiver([&] {
      if (!pin_this_thread(server_cpu)) {
        receive_error = Error(ErrorKind::system, "cannot bind the receiver thread");
        ready.count_down();
        return;
      }
      ready.count_down();
      if (auto got = receive_each(count, receive_one); !got) {
        receive_error = std::move(got).error().with_context("receiver");
      }
      last = Clock::now();
    });
    ready.wait();
    const Clock::time_point start = Clock::now();
    auto sent = send_each(count, send_one);
    receiver.join();  // the receiver gives up within its deadline if messages went missing
    if (!sent) return std::move(sent).error().with_context("sender");
    if (receive_error) return *receive_error;
    return last - start;
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
    return ok();
  }

 private:
  template <class SendOne>
  static Result<void> send_each(std::size_t count, SendOne& send_one) {
    Bytes payload(kStreamSize, std::byte{'m'});
    for (std::size_t i = 0; i < count; ++i) {
      const auto sequence = static_cast<std::uint32_t>(i);
      std::memcpy(payload.data(), &sequence, sizeof sequence);
      if (auto sent = send_one(payload); !sent) return sent;
    }
    return ok();
  }

  template <class ReceiveOne>
  static Result<void> receive_each(std::size_t count, ReceiveOne& receive_one) {
    for (std::size_t i = 0; i < count; ++i) {
      if (auto got = receive_one(i); !got) return got;
    }
    return ok();
  }
};

class RawStream final : public Stream {
 public:
  static Result<std::unique_ptr<Stream>> open(const Placement& placement) {
    return make_with<Stream, RawStream>(tcp_pair(kTimeout), placement.server);
  }
  RawStream(TcpPair sockets, int server_cpu)
      : client_(std::move(sockets.first)),
        server_(std::move(sockets.second)),
        server_cpu_(server_cpu) {}

  Result<Clock::duration> round(std::size_t count) override {
    Bytes frame;
    std::optional<Error> error;
    auto send_one = [&](const Bytes& payload) -> Result<void> {
      make_frame(frame, payload);
      if (!send_all(client_.get(), frame, error)) return std::move(*error);
      return ok();
    };
    auto receive_one = [&](std::size_t i) -> Result<void> {
      auto data = reader_.next(server_.get());  // SO_RCVTIMEO: kTimeout (tcp_pair)
      if (!data) return std::move(data).error();
      return check(*data, i);
    };
    return timed(server_cpu_, count, send_one, receive_one);
  }

 private:
  FileDescriptor client_, server_;
  int server_cpu_;
  FrameReader reader_;  // kept across rounds (the receiver thread of one round at a time)
};

class ZmqStream final : public Stream {
 public:
  static Result<std::unique_ptr<Stream>> open(const Placement& placement) {
    return make_with<Stream, ZmqStream>(open_zmq_ends(placement, ZMQ_PULL, ZMQ_PUSH, kTimeout),
                                        placement.server);
  }
  ZmqStream(ZmqEnds ends, int server_cpu) : ends_(std::move(ends)), server_cpu_(server_cpu) {}

  Result<Clock::duration> round(std::size_t count) override {
    auto send_one = [&](const Bytes& payload) -> Result<void> {
      if (::zmq_send(ends_.client.get(), payload.data(), payload.size(), 0) < 0) {
        return zmq_failure("zmq_send");
      }
      return ok();
    };
    Bytes buffer(kStreamSize * 2);
    auto receive_one = [&](std::size_t i) -> Result<void> {
      const int got = ::zmq_recv(ends_.server.get(), buffer.data(), buffer.size(), 0);
      if (got < 0) return zmq_failure("zmq_recv");
      const auto size = std::min(static_cast<std::size_t>(got), buffer.size());
      return check(std::span<const std::byte>(buffer).first(size), i);
    };
    return timed(server_cpu_, count, send_one, receive_one);
  }

 private:
  ZmqEnds ends_;  // server: PULL, client: PUSH
  int server_cpu_;
};

class NexoStream final : public Stream {
 public:
  static Result<std::unique_ptr<Stream>> open(const Placement& placement) {
    return make_with<Stream, NexoStream>(open_nexo_ends(placement), placement.server);
  }
  NexoStream(NexoEnds ends, int server_cpu) : ends_(std::move(ends)), server_cpu_(server_cpu) {}

  Result<Clock::duration> round(std::size_t count) override {
    auto send_one = [&](const Bytes& payload) -> Result<void> {
      for (;;) {
        auto queued = ends_.to_server->enqueue(payload);
        if (queued || !queued.error().is(ErrorKind::would_block)) return queued;
        // The local buffer is full: wait until half of it is free, then enqueue again.
        if (auto room = ends_.to_server->wait_for_room(kTimeout); !room) return room;
      }
    };
    auto receive_one = [&](std::size_t i) -> Result<void> {
      auto message = ends_.server_port->receive(kTimeout);
      if (!message) return std::move(message).error();
      return check(message->data, i);
    };
    return timed(server_cpu_, count, send_one, receive_one);
  }

 private:
  NexoEnds ends_;
  int server_cpu_;
};

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
  std::array<std::unique_ptr<Stream>, 3> streams;
  auto impls = open_impls<RawStream, ZmqStream, NexoStream>(options, placement, streams);
  if (!impls) return impls.error();
  const auto count = static_cast<std::size_t>(options.messages);
  for (std::size_t impl : *impls) {  // warm-up: a tenth of a round
    if (auto warm = streams[impl]->round(std::max<std::size_t>(count / 10, 1)); !warm) {
      return warm.error().with_context(kImplNames[impl]);
    }
  }
  auto rounds =
      rotate_rounds(options.throughput_rounds, *impls, [&](std::size_t impl) -> Result<void> {
        const Usage before = Usage::now();
        auto elapsed = streams[impl]->round(count);
        results[impl].usage += Usage::now() - before;
        if (!elapsed) return elapsed.error().with_context(kImplNames[impl]);
        const double seconds = std::chrono::duration<double>(*elapsed).count();
        results[impl].rates.push_back(static_cast<double>(count) / std::max(seconds, 1e-9));
        results[impl].messages += count;
        return ok();
      });
  if (!rounds) return rounds;
  for (std::size_t impl : *impls)
    results[impl].ran = true;
  return ok();
}

// Prints the rows of one placement; returns the median rates (0: not run).
std::array<double, 3> print_throughput_case(const char* cpus,
                                            const std::array<ThroughputResult, 3>& results) {
  std::array<double, 3> median{};
  for (std::size_t impl = 0; impl < 3; ++impl) {
    const auto& r = results[impl];
    if (!r.ran) continue;
    median[impl] = r.median();
    const auto [lo, hi] = std::minmax_element(r.rates.begin(), r.rates.end());
    const double n = static_cast<double>(r.messages);
    const std::string range = "[" + std::to_string(static_cast<long>(*lo)) + ".." +
                              std::to_string(static_cast<long>(*hi)) + "]";
    std::printf("%-6s %-5s %11.0f %25s %8.2f %8.3f %10.0f\n", cpus, kImplNames[impl], median[impl],
                range.c_str(), median[impl] * static_cast<double>(kStreamSize) / 1e6,
                static_cast<double>(r.usage.switches) / n, r.usage.cpu_us * 1e3 / n);
  }
  std::fflush(stdout);
  return median;
}

}  // namespace

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
      "nexo: enqueue (on would_block: wait_for_room) / Port::receive; zmq: "
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
    medians.emplace_back(cpus_name(placement.mode),
                         print_throughput_case(cpus_name(placement.mode), results));
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

}  // namespace nexo::bench
