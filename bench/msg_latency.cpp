// bench_msg, section 1: ping-pong latency, 64 B and 1 KiB messages: p50 and
// p99 of the round trip, round trips per second, and per round trip the
// context switches and CPU time of the whole process (getrusage over every
// thread: the I/O threads' work shows here even though they are not on the
// timed path).
//   nexo  what a user writes: each side has its own Context (as two processes
//         would); the server binds a Port, the client connects a Sender; a
//         round trip is Sender::send -> Port::receive -> Port::reply ->
//         Sender::receive, request and reply on one connection as REQ/REP and
//         raw do (blocking calls, 5 s deadlines).
//   zmq   REQ/REP, zmq_send/zmq_recv, one context per side.
//   raw   blocking sockets, TCP_NODELAY, a 4-byte big-endian length prefix:
//         one send() of prefix+payload, recv() into a 64 KiB buffer until the
//         frame is whole — the floor.
//   ipc   the same three over Unix-domain stream sockets: raw-ipc a
//         socketpair, zmq-ipc and nexo-ipc bound at ipc://PATH.
// Ratios printed: nexo/zmq p50 (target <= 0.8) and nexo/raw p50 (<= 1.15),
// and the same over ipc://.
//
// The section opens with a calibration: the cost of a futex wake-up between
// two threads on one cpu and across cpus. Where a cross-cpu wake-up is dear
// (on virtual machines it can cost tens of µs) the "free" numbers swing with
// the scheduler's choice to keep a pair's threads on one cpu or to spread
// them: read them beside the calibration and "split".
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <tuple>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "msg_bench.hpp"
#include "nexo/msg/message.hpp"
#include "nexo_ends.hpp"
#include "pairs.hpp"

namespace nexo::bench {
namespace {

using net::FileDescriptor;

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
    static_cast<void>(pin_this_thread(cpu_b));
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

// --- the ping-pong pairs -----------------------------------------------------------------

// zmq: REQ (this thread) and REP (the echo thread), one context per side.
class ZmqPair final : public PingPong {
 public:
  ZmqPair(ZmqEnds ends, int server_cpu)
      : ends_(std::move(ends)), thread_(server_cpu, [this] { return echo(); }) {}
  ~ZmqPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Message& probe, LatencySamples* samples) override {
    void* req = ends_.client.get();
    return time_round_trips(count, probe, samples, [&](std::optional<Error>& error) {
      if (::zmq_send(req, probe.request().data(), probe.size(), 0) < 0) {
        return fail(error, zmq_failure("zmq_send"));
      }
      const int n = ::zmq_recv(req, probe.reply().data(), probe.size(), 0);
      if (n < 0) return fail(error, zmq_failure("zmq_recv"));
      return reply_size_is(static_cast<std::size_t>(n), probe.size(), error);
    });
  }

  Result<void> finish() override {
    if (stop_.exchange(true)) return thread_.join();
    // An empty request ends the echo at once (else it sees stop_ within kPoll);
    // a REQ whose last round trip failed cannot send: the flag is enough then.
    static_cast<void>(::zmq_send(ends_.client.get(), "", 0, ZMQ_DONTWAIT));
    return thread_.join();
  }

 private:
  Result<void> echo() {
    Bytes buffer(kReadBuffer);
    void* rep = ends_.server.get();
    for (;;) {
      const int n = ::zmq_recv(rep, buffer.data(), buffer.size(), 0);
      if (n < 0) {
        if (::zmq_errno() == EAGAIN && !stop_.load()) continue;
        if (::zmq_errno() == EAGAIN) return ok();
        return zmq_failure("zmq echo: zmq_recv");
      }
      if (n == 0) return ok();  // the client's stop request
      if (static_cast<std::size_t>(n) > buffer.size()) {
        return Error(ErrorKind::truncated, "zmq echo: request of " + std::to_string(n) + " bytes");
      }
      if (::zmq_send(rep, buffer.data(), static_cast<std::size_t>(n), 0) < 0) {
        return zmq_failure("zmq echo: zmq_send");
      }
    }
  }

  ZmqEnds ends_;  // server: REP, client: REQ
  std::atomic<bool> stop_{false};
  EchoThread thread_;
};

// Opens `impl`'s pair for `size`-byte messages at `placement`.
Result<std::unique_ptr<PingPong>> open_pair(const Placement& placement, std::size_t size,
                                            std::size_t impl) {
  const int server = placement.server;
  switch (impl) {
    case kRaw:
      return make_with<PingPong, RawPair>(tcp_pair(kPoll), server);
    case kRawIpc:
      return make_with<PingPong, RawPair>(unix_pair(kPoll), server);
    case kZmq:
    case kZmqIpc:
      return make_with<PingPong, ZmqPair>(
          open_zmq_ends(placement, zmq_endpoint(impl), ZMQ_REP, ZMQ_REQ, kPoll, size), server);
    default:
      return with_nexo_ends<PingPong>(placement, impl, [server](NexoEnds ends) {
        return std::make_unique<NexoPair>(std::move(ends), server);
      });
  }
}

void print_latency_ratios(const std::vector<LatencySummary>& summaries) {
  std::printf(
      "\nlatency ratios (p50; p99 in brackets) — targets nexo/zmq <= 0.8, nexo/raw <= 1.15\n");
  for (const auto& s : summaries) {
    std::printf("  %-12s", s.label.c_str());
    for (const auto& [nexo, zmq, raw, tag] :
         {std::tuple{kNexo, kZmq, kRaw, ""}, std::tuple{kNexoIpc, kZmqIpc, kRawIpc, "ipc "}}) {
      if (double r = s.ratio50(nexo, zmq); r > 0) {
        std::printf("  %snexo/zmq %.3f [%.3f] %-6s", tag, r, s.ratio99(nexo, zmq),
                    verdict(r <= 0.8));
      }
      if (double r = s.ratio50(nexo, raw); r > 0) {
        std::printf("  %snexo/raw %.3f [%.3f] %-6s", tag, r, s.ratio99(nexo, raw),
                    verdict(r <= 1.15));
      }
      if (double r = s.ratio50(zmq, raw); r > 0) std::printf("  (%szmq/raw %.3f)", tag, r);
    }
    std::printf("\n");
  }
}

void print_calibration() {
  const auto& cpus = startup_cpus();
  if (cpus.empty()) return;
  const double same = futex_ping_pong_us(cpus[0], cpus[0]);
  std::printf(
      "calibration: two threads waking each other through a futex (no spinning), p50 per "
      "round trip of 2 wake-ups: same cpu %.2f us",
      same);
  if (cpus.size() >= 2) std::printf(", across cpus %.2f us", futex_ping_pong_us(cpus[0], cpus[1]));
  std::printf(
      "\n  (with free placement the scheduler decides whether a pair's threads share a cpu: "
      "cheap wake-ups, or spread: a cross-cpu wake-up per hop; compare --cpus=same)\n");
}

}  // namespace

bool run_latency(const Options& options, const std::vector<Placement>& placements) {
  std::printf(
      "\n== 1. ping-pong latency over tcp://127.0.0.1 (one round trip = client send -> "
      "server receive -> server send -> client receive)\n");
  print_latency_plan(options.latency_rounds);
  std::printf(
      "rt/s: round trips per second of measured time; csw/rt and cpu_us/rt: context "
      "switches and CPU time of the whole process (all threads, both sides) per round "
      "trip\n");
  print_calibration();
  const auto impls = options.impls.chosen({kRawBatched});  // a throughput anchor
  std::vector<LatencySummary> summaries;
  const LatencyTable table{"bench_msg", 8, nullptr, {}};
  const bool all_ran = run_latency_section(table, placements, impls, open_pair,
                                           options.latency_rounds, options.impls, summaries);
  print_latency_ratios(summaries);
  std::fflush(stdout);
  return all_ran;
}

}  // namespace nexo::bench
