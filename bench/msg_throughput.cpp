// bench_msg, section 2: one-way throughput of 64 B messages. One sender
// thread, one receiver thread that counts (and checks the sequence number of)
// every message; the clock stops when it has all N (streams.hpp).
//   nexo         Sender::enqueue (on would_block — the local buffer full —
//                Sender::wait_for_room, then enqueue again), Port::receive.
//                nexo batches: frames queued while a write is under way go
//                out together in the next write.
//   zmq          PUSH/PULL, buffered as nexo (ZmqBuffers in msg_bench.hpp).
//   raw          one send() per message, a 64 KiB reader (the unbatched floor).
//   raw-batched  the same frames, 64 per writev() (the last batch of a round
//                as it is): batching as nexo does, without nexo's bookkeeping.
//   *-ipc        the same over Unix-domain stream sockets.
// Ratios: nexo/zmq (target >= 1.5) and nexo/raw-batched (target >= 0.5).
#include <zmq.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "msg_bench.hpp"
#include "nexo/msg/message.hpp"
#include "nexo_ends.hpp"
#include "streams.hpp"

namespace nexo::bench {
namespace {

using net::FileDescriptor;

constexpr std::size_t kStreamSize = 64;

class ZmqStream final : public Stream {
 public:
  ZmqStream(ZmqEnds ends, int server_cpu) : Stream(kStreamSize, server_cpu), ends_(std::move(ends)) {}

  Result<Outcome> round(std::size_t count, Clock::time_point deadline) override {
    auto send_one = [&](const Bytes& payload, Clock::time_point,
                        const std::atomic<bool>&) -> Result<void> {
      if (::zmq_send(ends_.client.get(), payload.data(), payload.size(), 0) < 0) {
        return zmq_failure("zmq_send");
      }
      return ok();
    };
    Bytes buffer(kStreamSize * 2);
    auto receive_one = [&](std::size_t i, Clock::time_point) -> Result<void> {
      const int got = ::zmq_recv(ends_.server.get(), buffer.data(), buffer.size(), 0);
      if (got < 0) return zmq_failure("zmq_recv");
      const auto size = std::min(static_cast<std::size_t>(got), buffer.size());
      return check(std::span<const std::byte>(buffer).first(size), i);
    };
    return timed(count, deadline, send_one, nothing_to_drain, receive_one);
  }

 private:
  ZmqEnds ends_;  // server: PULL (receive timeout kPoll), client: PUSH
};

Result<std::unique_ptr<Stream>> open_stream(std::size_t impl, const Placement& placement) {
  const int server = placement.server;
  auto raw = [server](Result<SocketPair> sockets, bool batched) -> Result<std::unique_ptr<Stream>> {
    if (!sockets) return sockets.error();
    return std::unique_ptr<Stream>(std::make_unique<RawStream>(std::move(*sockets), kStreamSize, server, batched));
  };
  switch (impl) {
    case kRaw:
    case kRawBatched:
      return raw(tcp_pair(kPoll), impl == kRawBatched);
    case kRawIpc:
      return raw(unix_pair(kPoll), false);
    case kZmq:
    case kZmqIpc:
      return make_with<Stream, ZmqStream>(
          open_zmq_ends(placement, zmq_endpoint(impl), ZMQ_PULL, ZMQ_PUSH, kPoll, kStreamSize),
          server);
    default:
      return with_nexo_ends<Stream>(placement, impl, [server](NexoEnds ends) {
        return std::make_unique<NexoStream>(std::move(ends), kStreamSize, server);
      });
  }
}

// Prints the rows of one placement; returns the median rates (0: not run).
std::vector<double> print_throughput_case(const char* cpus, const Options& options,
                                          const std::vector<StreamResult>& results) {
  std::vector<double> median(kImplCount);
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    const auto& r = results[impl];
    if (!r.ran) continue;
    std::printf("%-6s %-11s ", cpus, options.impls.name(impl));
    if (print_unfinished(r, kStreamSize)) continue;
    median[impl] = r.rates.median();
    const double n = static_cast<double>(r.messages);
    std::printf("%11.0f %25s %8.2f %8.3f %10.0f\n", median[impl], r.rates.range(0).c_str(),
                median[impl] * static_cast<double>(kStreamSize) / 1e6,
                static_cast<double>(r.usage.switches) / n, r.usage.cpu_us * 1e3 / n);
  }
  std::fflush(stdout);
  return median;
}

void print_throughput_ratios(const std::vector<std::pair<std::string, std::vector<double>>>& medians) {
  std::printf(
      "\nthroughput ratios (median msgs/s) — targets nexo/zmq >= 1.5, nexo/raw-batched >= 0.5\n");
  for (const auto& [label, m] : medians) {
    std::printf("  %-6s", label.c_str());
    if (double r = ratio(m[kNexo], m[kZmq]); r > 0) std::printf("  nexo/zmq %.3f %-6s", r, verdict(r >= 1.5));
    if (double r = ratio(m[kNexo], m[kRawBatched]); r > 0) {
      std::printf("  nexo/raw-batched %.3f %-6s", r, verdict(r >= 0.5));
    }
    if (double r = ratio(m[kNexo], m[kRaw]); r > 0) std::printf("  (nexo/raw %.3f)", r);
    if (double r = ratio(m[kZmq], m[kRaw]); r > 0) std::printf("  (zmq/raw %.3f)", r);
    if (double r = ratio(m[kNexoIpc], m[kZmqIpc]); r > 0) {
      std::printf("  ipc nexo/zmq %.3f %-6s", r, verdict(r >= 1.5));
    }
    if (double r = ratio(m[kZmqIpc], m[kRawIpc]); r > 0) std::printf("  (ipc zmq/raw %.3f)", r);
    std::printf("\n");
  }
}

}  // namespace

bool run_throughput(const Options& options, const std::vector<Placement>& placements) {
  const auto& counts = options.stream_rounds;
  std::printf(
      "\n== 2. one-way throughput, %zu-byte messages over tcp://127.0.0.1 (one sender "
      "thread, one receiver thread)\n",
      kStreamSize);
  print_stream_plan(counts, "impl");
  std::printf(
      "nexo: enqueue (on would_block: wait_for_room) / Port::receive; zmq: "
      "PUSH/PULL; raw: one send() per message, a 64 KiB reader (reference); raw-batched: "
      "%zu frames per writev; *-ipc: over Unix-domain stream sockets\n",
      kRawBatch);
  std::printf(
      "msgs/s: median round [min..max]; MB/s: payload (10^6 B/s) at the median; csw/msg, "
      "cpu_ns/msg: whole process\n\n");
  std::printf("%-6s %-11s %11s %25s %8s %8s %10s\n", "cpus", "impl", "msgs/s", "[min..max]",
              "MB/s", "csw/msg", "cpu_ns/msg");
  const auto impls = options.impls.chosen();
  bool all_ran = true;
  std::vector<std::pair<std::string, std::vector<double>>> medians;
  for (const Placement& placement : placements) {
    bind_thread(placement.client);
    const char* cpus = cpus_name(placement.mode);
    std::vector<StreamResult> results(kImplCount);
    auto open = [&](std::size_t impl) { return open_stream(impl, placement); };
    if (auto ran = run_stream_case(impls, open, placement.client, counts, options.impls, results);
        !ran) {
      std::fprintf(stderr, "bench_msg: throughput %s: %s\n", cpus, ran.error().message().c_str());
      all_ran = false;
    }
    medians.emplace_back(cpus, print_throughput_case(cpus, options, results));
  }
  bind_thread(-1);
  print_throughput_ratios(medians);
  std::fflush(stdout);
  return all_ran;
}

}  // namespace nexo::bench
