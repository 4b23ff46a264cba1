// bench_rudp, section 1: ping-pong latency at 0% loss, 64 B and 1 KiB
// messages: p50 and p99 of the round trip, round trips per second, and per
// round trip the context switches and CPU time of the whole process
// (getrusage over every thread: I/O threads and the proxy included).
//   nexo  a Port bound at rudp://127.0.0.1:0 on the server side, the client's
//         Sender connected to the proxy; a round trip is Sender::send ->
//         Port::receive -> Port::reply -> Sender::receive (blocking calls, 5 s
//         deadlines), each side with its own Context.
//   enet  enet_peer_send (reliable, channel 0) + enet_host_flush, then
//         enet_host_service until the echo arrives; the echo thread services
//         its host (200 ms waits) and answers with enet_peer_send +
//         enet_host_flush. Through the same proxy as nexo (a plan with no faults).
//   tcp   nexo's tcp:// with the same calls as nexo, direct (no proxy: it relays UDP).
//   raw   blocking TCP sockets, TCP_NODELAY, one send() of the request and
//         recv() until the reply is whole (both ends know the size), direct.
//   nexo-direct, enet-direct  nexo and enet without the proxy: what its hop costs each.
// Ratios printed: nexo/enet p50 (target <= 1.0), nexo/tcp for information.
#include <enet/enet.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "nexo/msg/message.hpp"
#include "rudp_bench.hpp"

namespace nexo::bench::rudp {
namespace {

using net::FileDescriptor;
using Probe = Message;  // a ping-pong request and the buffer its reply lands in

// --- the ping-pong pairs -----------------------------------------------------------------

// nexo (rudp:// or tcp://): each side a Context, a Port and a Sender to it.
class NexoPair final : public PingPong {
 public:
  NexoPair(NexoEnds ends, int server_cpu)
      : ends_(std::move(ends)), thread_(server_cpu, [this] { return echo(); }) {}
  ~NexoPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Probe& probe, LatencySamples* samples) override {
    return time_round_trips(count, probe, samples, [&](std::optional<Error>& error) {
      if (auto sent = ends_.to_server->send(probe.request(), kTimeout); !sent) {
        return fail(error, std::move(sent).error());
      }
      auto reply = ends_.to_server->receive(kTimeout);
      if (!reply) return fail(error, std::move(reply).error());
      if (!reply_size_is(reply->size(), probe.size(), error)) return false;
      std::memcpy(probe.reply().data(), reply->data.data(), reply->size());
      return true;
    });
  }

  Result<void> finish() override {
    if (!stop_.exchange(true)) {  // an empty message ends the echo
      static_cast<void>(ends_.to_server->send(std::span<const std::byte>{}, kTimeout));
    }
    return thread_.join();
  }

 private:
  Result<void> echo() {
    for (;;) {
      auto request = ends_.server_port->receive(kPoll);
      if (!request) {
        if (request.error().is(ErrorKind::timed_out) && !stop_.load()) continue;
        if (request.error().is(ErrorKind::timed_out)) return ok();
        return std::move(request).error().with_context("nexo echo");
      }
      if (request->size() == 0) return ok();  // the client's stop message
      if (auto sent = ends_.server_port->reply(*request, request->data); !sent) {
        return std::move(sent).error().with_context("nexo echo");
      }
    }
  }

  NexoEnds ends_;  // contexts destroyed after the port and the sender
  std::atomic<bool> stop_{false};
  EchoThread thread_;  // last: started when everything it uses exists
};

// ENet: the client services its host on this thread, the echo thread its own.
// Between runs the client's host is serviced in the background (IdleService says why).
class EnetPair final : public PingPong {
 public:
  EnetPair(EnetEnds ends, int client_cpu, int server_cpu)
      : ends_(std::move(ends)),
        client_cpu_(client_cpu),
        thread_(server_cpu, [this] { return echo(); }) {
    idle_.start({{ends_.client.get(), client_cpu_}});
  }
  ~EnetPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Probe& probe, LatencySamples* samples) override {
    idle_.stop();
    auto ran = time_round_trips(count, probe, samples, [&](std::optional<Error>& error) {
      if (auto sent = send(probe.request()); !sent) return fail(error, std::move(sent).error());
      return await_reply(probe, error);
    });
    if (ran) idle_.start({{ends_.client.get(), client_cpu_}});
    return ran;
  }

  Result<void> finish() override {
    idle_.stop();
    if (!stop_.exchange(true)) static_cast<void>(send({}));  // an empty packet ends the echo
    return thread_.join();
  }

 private:
  // Queues `data` reliably on channel 0 and transmits it at once.
  Result<void> send(std::span<const std::byte> data) {
    ENetPacket* packet = ::enet_packet_create(data.data(), data.size(), ENET_PACKET_FLAG_RELIABLE);
    if (packet == nullptr) return Error(ErrorKind::system, "enet_packet_create failed");
    if (::enet_peer_send(ends_.to_server, 0, packet) != 0) {
      ::enet_packet_destroy(packet);
      return Error(ErrorKind::closed, "enet_peer_send refused the packet");
    }
    ::enet_host_flush(ends_.client.get());
    return ok();
  }

  // Services the client's host (waiting in poll() on its socket) until the echo arrives.
  bool await_reply(Probe& probe, std::optional<Error>& error) {
    const auto deadline = Clock::now() + kTimeout;
    for (;;) {
      ENetEvent event;
      const int got = ::enet_host_service(ends_.client.get(), &event, 5);
      if (got < 0) return fail(error, Error(ErrorKind::system, "enet_host_service failed"));
      if (got > 0 && event.type == ENET_EVENT_TYPE_RECEIVE) {
        const std::size_t size = event.packet->dataLength;
        if (size == probe.size()) std::memcpy(probe.reply().data(), event.packet->data, size);
        ::enet_packet_destroy(event.packet);
        return reply_size_is(size, probe.size(), error);
      }
      if (got > 0 && event.type == ENET_EVENT_TYPE_DISCONNECT) {
        return fail(error, Error(ErrorKind::closed, "enet: the server disconnected"));
      }
      if (Clock::now() > deadline) {
        return fail(error, Error(ErrorKind::timed_out, "enet: no reply within the deadline"));
      }
    }
  }

  Result<void> echo() {
    ENetHost* host = ends_.server.get();
    for (;;) {
      ENetEvent event;
      const int got = ::enet_host_service(host, &event, static_cast<enet_uint32>(kPoll.count()));
      if (got < 0) return Error(ErrorKind::system, "enet echo: enet_host_service failed");
      if (got == 0) {
        if (stop_.load()) return ok();
        continue;
      }
      if (event.type == ENET_EVENT_TYPE_DISCONNECT) return ok();
      if (event.type != ENET_EVENT_TYPE_RECEIVE) continue;
      const std::size_t size = event.packet->dataLength;
      if (size == 0) {  // the client's stop packet
        ::enet_packet_destroy(event.packet);
        return ok();
      }
      ENetPacket* reply = ::enet_packet_create(event.packet->data, size, ENET_PACKET_FLAG_RELIABLE);
      ::enet_packet_destroy(event.packet);
      if (reply == nullptr) return Error(ErrorKind::system, "enet echo: enet_packet_create failed");
      if (::enet_peer_send(event.peer, 0, reply) != 0) {
        ::enet_packet_destroy(reply);
        return Error(ErrorKind::closed, "enet echo: enet_peer_send refused the reply");
      }
      ::enet_host_flush(host);  // the reply (and the request's acknowledgement) now
    }
  }

  EnetEnds ends_;  // the proxy destroyed after the hosts
  int client_cpu_;
  std::atomic<bool> stop_{false};
  EchoThread thread_;
  IdleService idle_;  // last: stopped first
};

// raw: the client is this thread; the echo reads a whole request and sends it back.
class RawPair final : public PingPong {
 public:
  RawPair(TcpPair sockets, int server_cpu, std::size_t size)
      : client_(std::move(sockets.first)),
        server_(std::move(sockets.second)),
        reader_(size),
        size_(size),
        thread_(server_cpu, [this] { return echo(); }) {}
  ~RawPair() override { static_cast<void>(finish()); }

  Result<void> run(std::size_t count, Probe& probe, LatencySamples* samples) override {
    const int fd = client_.get();
    return time_round_trips(count, probe, samples, [&](std::optional<Error>& error) {
      if (!send_all(fd, probe.request(), error)) return false;
      auto reply = reader_.next(fd);
      if (!reply) return fail(error, std::move(reply).error());
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
    RecordReader reader(size_);
    std::optional<Error> error;
    for (;;) {
      auto request = reader.next(server_.get());
      if (!request) {
        if (request.error().is(ErrorKind::closed)) return ok();
        if (request.error().is(ErrorKind::timed_out) && !stop_.load()) continue;
        if (request.error().is(ErrorKind::timed_out)) return ok();
        return std::move(request).error().with_context("raw echo");
      }
      if (!send_all(server_.get(), *request, error)) {
        return std::move(*error).with_context("raw echo");
      }
    }
  }

  FileDescriptor client_, server_;
  RecordReader reader_;
  std::size_t size_;
  std::atomic<bool> stop_{false};
  EchoThread thread_;
};

Result<std::unique_ptr<PingPong>> enet_pair(Result<EnetEnds> ends, const Placement& placement) {
  if (!ends) return ends.error();
  std::unique_ptr<PingPong> pair =
      std::make_unique<EnetPair>(std::move(*ends), placement.client, placement.server);
  return pair;
}

// Opens `impl`'s pair for messages of `size` (0% loss: the proxy relays faithfully).
Result<std::unique_ptr<PingPong>> open_pair(std::size_t impl, const Placement& placement,
                                            const Options& options, std::size_t size) {
  const auto no_faults =
      fault::Plan::both_ways(fault::Direction{}, static_cast<std::uint64_t>(options.seed));
  const auto datagram = static_cast<std::size_t>(options.datagram);  // the same as ENet's
  switch (impl) {
    case kNexo:
      return make_with<PingPong, NexoPair>(open_nexo_rudp_ends(placement, std::optional{no_faults}, datagram),
                                           placement.server);
    case kEnet:
      return enet_pair(open_enet_ends(placement, std::optional{no_faults}, options.datagram), placement);
    case kTcp:
      return make_with<PingPong, NexoPair>(open_nexo_tcp_ends(placement), placement.server);
    case kNexoDirect:
      return make_with<PingPong, NexoPair>(open_nexo_rudp_ends(placement, std::nullopt, datagram),
                                           placement.server);
    case kEnetDirect:
      return enet_pair(open_enet_ends(placement, std::nullopt, options.datagram), placement);
    default: {
      auto sockets = tcp_pair(kPoll);
      if (!sockets) return sockets.error();
      std::unique_ptr<PingPong> pair =
          std::make_unique<RawPair>(std::move(*sockets), placement.server, size);
      return pair;
    }
  }
}

// --- one case --------------------------------------------------------------------------------

struct LatencyResult {
  LatencySamples samples;
  Usage usage;  // over the measured rounds
  bool ran = false;
};
using LatencyResults = std::array<LatencyResult, kImplCount>;

// One size at one placement: the enabled pairs warmed up, then rounds in
// which each runs `iterations` round trips, the first impl rotating.
Result<void> run_latency_case(std::size_t size, const Placement& placement, const Options& options,
                              LatencyResults& results) {
  std::array<std::unique_ptr<PingPong>, kImplCount> pairs;
  std::vector<std::size_t> impls;
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    if (!options.impls[impl] || impl == kNexoSmall) continue;  // one message a datagram anyway
    auto opened = open_pair(impl, placement, options, size);
    bind_thread(placement.client);  // opening may have bound this thread to the server's cpu
    if (!opened) return opened.error().with_context(kImplNames[impl]);
    pairs[impl] = std::move(*opened);
    impls.push_back(impl);
    results[impl].samples.reserve(static_cast<std::size_t>(options.rounds * options.iterations));
  }
  Probe probe(size);
  for (std::size_t impl : impls) {
    auto warm = pairs[impl]->run(static_cast<std::size_t>(options.warmup), probe, nullptr);
    if (!warm) return echo_failure(*pairs[impl], std::move(warm).error(), kImplNames[impl]);
  }
  auto rounds = rotate_rounds(options.rounds, impls, [&](std::size_t impl) -> Result<void> {
    const Usage before = Usage::now();
    auto ran = pairs[impl]->run(static_cast<std::size_t>(options.iterations), probe,
                                &results[impl].samples);
    results[impl].usage += Usage::now() - before;
    if (!ran) return echo_failure(*pairs[impl], std::move(ran).error(), kImplNames[impl]);
    return ran;
  });
  if (!rounds) return rounds;
  for (std::size_t impl : impls) {
    if (auto finished = pairs[impl]->finish(); !finished) {
      return finished.error().with_context(kImplNames[impl]);
    }
    results[impl].ran = true;
  }
  return ok();
}

struct LatencySummary {
  std::string label;
  std::array<double, kImplCount> p50{}, p99{};
  std::array<bool, kImplCount> ran{};
};

LatencySummary print_latency_case(std::string_view cpus, std::size_t size, int rounds_x_iters,
                                  LatencyResults& results) {
  LatencySummary summary{std::string(cpus) + " " + size_name(size), {}, {}, {}};
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    auto& r = results[impl];
    if (!r.ran) continue;
    summary.ran[impl] = true;
    summary.p50[impl] = r.samples.percentile_us(50);
    summary.p99[impl] = r.samples.percentile_us(99);
    const double n = static_cast<double>(rounds_x_iters);
    std::printf("%-6s %-5s %-11s %-6s %8.2f %8.2f %9.0f %8.2f %10.2f\n", std::string(cpus).c_str(),
                size_name(size).c_str(), kImplNames[impl], through_proxy(impl) ? "proxy" : "direct",
                summary.p50[impl], summary.p99[impl], r.samples.rate_per_second(),
                static_cast<double>(r.usage.switches) / n, r.usage.cpu_us / n);
  }
  std::fflush(stdout);
  return summary;
}

void print_latency_ratios(const std::vector<LatencySummary>& summaries) {
  std::printf(
      "\nlatency ratios (p50; p99 in brackets) — target nexo/enet <= 1.0; nexo/tcp for "
      "information (tcp does not cross the proxy)\n");
  for (const auto& s : summaries) {
    std::printf("  %-12s", s.label.c_str());
    if (s.ran[kNexo] && s.ran[kEnet]) {
      const double r = s.p50[kNexo] / s.p50[kEnet];
      std::printf("  nexo/enet %.3f [%.3f] %-6s", r, s.p99[kNexo] / s.p99[kEnet],
                  verdict(r <= 1.0));
    }
    if (s.ran[kNexo] && s.ran[kTcp]) {
      std::printf("  (nexo/tcp %.3f [%.3f])", s.p50[kNexo] / s.p50[kTcp],
                  s.p99[kNexo] / s.p99[kTcp]);
    }
    if (s.ran[kEnet] && s.ran[kRaw]) std::printf("  (enet/raw %.3f)", s.p50[kEnet] / s.p50[kRaw]);
    if (s.ran[kNexoDirect] && s.ran[kEnetDirect]) {
      std::printf("  (without the proxy: nexo/enet %.3f)", s.p50[kNexoDirect] / s.p50[kEnetDirect]);
    }
    std::printf("\n");
  }
}

}  // namespace

bool run_latency(const Options& options, const std::vector<Placement>& placements) {
  std::printf(
      "\n== 1. ping-pong latency at 0%% loss (one round trip = client send -> server receive "
      "-> server send -> client receive)\n");
  std::printf(
      "per case: warm-up %d, then %d rounds x %d round trips per impl, the first impl "
      "rotating\n",
      options.warmup, options.rounds, options.iterations);
  std::printf(
      "path: proxy = client -> fault proxy (no faults) -> server and back; direct = TCP on "
      "127.0.0.1 (the UDP proxy cannot carry TCP)\n"
      "rt/s: round trips per second of measured time; csw/rt and cpu_us/rt: context "
      "switches and CPU time of the whole process (all threads: both sides, the proxy) per "
      "round trip\n");
  std::printf("\n%-6s %-5s %-11s %-6s %8s %8s %9s %8s %10s\n", "cpus", "size", "impl", "path",
              "p50_us", "p99_us", "rt/s", "csw/rt", "cpu_us/rt");
  bool all_ran = true;
  std::vector<LatencySummary> summaries;
  for (const Placement& placement : placements) {
    bind_thread(placement.client);
    for (std::size_t size : {std::size_t{64}, std::size_t{1024}}) {
      LatencyResults results;
      if (auto ran = run_latency_case(size, placement, options, results); !ran) {
        std::fprintf(stderr, "bench_rudp: latency %s %s: %s\n", cpus_name(placement.mode),
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

}  // namespace nexo::bench::rudp
