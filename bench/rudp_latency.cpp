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
//   raw   blocking TCP sockets, TCP_NODELAY, one send() of the framed request
//         and recv() until the framed reply is whole (pairs.hpp), direct.
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
#include <utility>
#include <vector>

#include "nexo/msg/message.hpp"
#include "rudp_bench.hpp"

namespace nexo::bench::rudp {
namespace {

using Probe = Message;  // a ping-pong request and the buffer its reply lands in

// --- the ping-pong pairs -----------------------------------------------------------------

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

Result<std::unique_ptr<PingPong>> enet_pair(Result<EnetEnds> ends, const Placement& placement) {
  if (!ends) return ends.error();
  std::unique_ptr<PingPong> pair =
      std::make_unique<EnetPair>(std::move(*ends), placement.client, placement.server);
  return pair;
}

// Opens `impl`'s pair (0% loss: the proxy relays faithfully).
Result<std::unique_ptr<PingPong>> open_pair(std::size_t impl, const Placement& placement,
                                            const Options& options) {
  const auto no_faults =
      fault::Plan::both_ways(fault::Direction{}, static_cast<std::uint64_t>(options.seed));
  msg::SenderOptions same_datagram;  // the same as ENet's
  same_datagram.max_datagram = static_cast<std::size_t>(options.datagram);
  const int server = placement.server;
  switch (impl) {
    case kNexo:
    case kNexoDirect: {
      const auto plan = impl == kNexo ? std::optional{no_faults} : std::nullopt;
      return make_with<PingPong, NexoPair>(
          open_nexo_ends(placement, "rudp://127.0.0.1:0", plan, same_datagram), server);
    }
    case kEnet:
    case kEnetDirect: {
      const auto plan = impl == kEnet ? std::optional{no_faults} : std::nullopt;
      return enet_pair(open_enet_ends(placement, plan, options.datagram), placement);
    }
    case kTcp:
      return make_with<PingPong, NexoPair>(open_nexo_ends(placement, "tcp://127.0.0.1:0"), server);
    default:
      return make_with<PingPong, RawPair>(tcp_pair(kPoll), server);
  }
}

void print_latency_ratios(const std::vector<LatencySummary>& summaries) {
  std::printf(
      "\nlatency ratios (p50; p99 in brackets) — target nexo/enet <= 1.0; nexo/tcp for "
      "information (tcp does not cross the proxy)\n");
  for (const auto& s : summaries) {
    std::printf("  %-12s", s.label.c_str());
    if (double r = s.ratio50(kNexo, kEnet); r > 0) {
      std::printf("  nexo/enet %.3f [%.3f] %-6s", r, s.ratio99(kNexo, kEnet), verdict(r <= 1.0));
    }
    if (double r = s.ratio50(kNexo, kTcp); r > 0) {
      std::printf("  (nexo/tcp %.3f [%.3f])", r, s.ratio99(kNexo, kTcp));
    }
    if (double r = s.ratio50(kEnet, kRaw); r > 0) std::printf("  (enet/raw %.3f)", r);
    if (double r = s.ratio50(kNexoDirect, kEnetDirect); r > 0) {
      std::printf("  (without the proxy: nexo/enet %.3f)", r);
    }
    std::printf("\n");
  }
}

}  // namespace

bool run_latency(const Options& options, const std::vector<Placement>& placements) {
  std::printf(
      "\n== 1. ping-pong latency at 0%% loss (one round trip = client send -> server receive "
      "-> server send -> client receive)\n");
  print_latency_plan(options.latency_rounds);
  std::printf(
      "path: proxy = client -> fault proxy (no faults) -> server and back; direct = TCP on "
      "127.0.0.1 (the UDP proxy cannot carry TCP)\n"
      "rt/s: round trips per second of measured time; csw/rt and cpu_us/rt: context "
      "switches and CPU time of the whole process (all threads: both sides, the proxy) per "
      "round trip\n");
  // nexo-16k: one message a datagram anyway; raw-batched: a throughput anchor.
  const auto impls = options.impls.chosen({kNexoSmall, kRawBatched});
  auto open = [&options](const Placement& placement, std::size_t, std::size_t impl) {
    return open_pair(impl, placement, options);
  };
  const LatencyTable table{"bench_rudp", 11, "path", [](std::size_t impl) {
                             return std::string(through_proxy(impl) ? "proxy" : "direct");
                           }};
  std::vector<LatencySummary> summaries;
  const bool all_ran = run_latency_section(table, placements, impls, open,
                                           options.latency_rounds, options.impls, summaries);
  print_latency_ratios(summaries);
  std::fflush(stdout);
  return all_ran;
}

}  // namespace nexo::bench::rudp
