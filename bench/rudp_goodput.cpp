// bench_rudp, section 2: one-way goodput of 1 KiB messages at 0%, 1% and 5%
// loss, the loss applied both ways by the proxy (data and acknowledgements),
// one plan and seed per rate for every UDP impl. One sender thread (this one,
// on the client's cpu), one receiver thread (the server's cpu) that checks the
// size and sequence number of every message; the clock runs from the first
// send until the receiving application has the last message. Goodput = payload
// bytes delivered to the application / that time (10^6 B/s).
//   nexo  Sender::enqueue (on would_block: Sender::wait_for_room, then again),
//         Port::receive; rudp:// through the proxy.
//   enet  enet_peer_send of reliable packets on channel 0, serviced as the
//         comment of rudp_bench.cpp says (at most --enet-queue unacknowledged);
//         the receiver services its host and counts; through the proxy.
//   tcp   nexo tcp://, the same calls as nexo; direct, 0% loss only (information).
//   raw   framed messages, one send() per message, a 64 KiB reader; direct, 0%
//         only (information).
//   raw-batched  the same frames, 64 per writev() (streams.hpp): batching as
//         nexo does, without nexo's bookkeeping; direct, 0% only (information).
//   nexo-direct, enet-direct  nexo and enet without the proxy, 0% only: whether
//         the proxy (one thread relaying every datagram) is what limits them.
// A round that has not finished within --limit seconds "did not finish": its
// impl is not run again at that loss rate, and what it delivered is printed.
// Ratios: nexo/enet per loss rate (target >= 2), nexo@5% / nexo@0% (>= 0.5).
#include <enet/enet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nexo/msg/message.hpp"
#include "rudp_bench.hpp"

namespace nexo::bench::rudp {
namespace {

constexpr std::size_t kMessageSize = 1024;
constexpr std::array<double, 3> kLossRates = {0.0, 0.01, 0.05};

// --- ENet -------------------------------------------------------------------------------------

class EnetStream final : public Stream {
 public:
  EnetStream(EnetEnds ends, int client_cpu, int server_cpu, std::size_t queue)
      : Stream(kMessageSize, server_cpu),
        client_cpu_(client_cpu),
        server_cpu_(server_cpu),
        queue_(queue),
        ends_(std::move(ends)) {
    start_idle();
  }
  ~EnetStream() override {
    idle_.stop();
    ends_.client.reset();  // packets freed now still find acked_
  }

  std::optional<DatagramCounts> datagrams() const override {
    if (!ends_.proxy) return std::nullopt;
    return datagrams_of(*ends_.proxy);
  }

  std::string note() const override {
    // Between rounds both hosts are serviced (IdleService says why).
    const ENetPeer& peer = *ends_.to_server;
    return "the sender's peer: smoothed rtt " + std::to_string(peer.roundTripTime) +
           " ms, variance " + std::to_string(peer.roundTripTimeVariance) +
           " ms (retransmission timeout rtt + 4 x variance, whole ms), packet throttle " +
           std::to_string(peer.packetThrottle) + "/" +
           std::to_string(ENET_PEER_PACKET_THROTTLE_SCALE);
  }

  Result<Outcome> round(std::size_t count, Clock::time_point deadline) override {
    idle_.stop();
    auto outcome = run_round(count, deadline);
    if (outcome && outcome->finished) start_idle();  // unfinished: left as it is, unserviced
    return outcome;
  }

 private:
  void start_idle() {
    idle_.start({{ends_.client.get(), client_cpu_}, {ends_.server.get(), server_cpu_}});
  }

  Result<Outcome> run_round(std::size_t count, Clock::time_point deadline) {
    auto send_one = [this](const Bytes& payload, Clock::time_point limit,
                           const std::atomic<bool>& receiver_done) {
      return send(payload, limit, receiver_done);
    };
    auto drain = [this](Clock::time_point limit, const std::atomic<bool>& receiver_done) {
      return drain_until(limit, receiver_done);
    };
    auto receive_one = [this](std::size_t i, Clock::time_point slice) { return receive(i, slice); };
    return timed(count, deadline, send_one, drain, receive_one);
  }

  // The sender: queues `payload` reliably on channel 0 once fewer than queue_
  // packets are unacknowledged (servicing while waiting), then services the
  // host once: what the window allows goes out, acknowledgements come in.
  Result<void> send(const Bytes& payload, Clock::time_point limit,
                    const std::atomic<bool>& receiver_done) {
    while (queued_ - acked_ >= queue_) {
      if (auto serviced = service(1); !serviced) return serviced;
      if (receiver_done.load() || Clock::now() >= limit) return time_is_up();
    }
    ENetPacket* packet =
        ::enet_packet_create(payload.data(), payload.size(), ENET_PACKET_FLAG_RELIABLE);
    if (packet == nullptr) return Error(ErrorKind::system, "enet_packet_create failed");
    packet->freeCallback = &EnetStream::on_acknowledged;
    packet->userData = this;
    if (::enet_peer_send(ends_.to_server, 0, packet) != 0) {
      ::enet_packet_destroy(packet);
      return Error(ErrorKind::closed, "enet_peer_send refused the packet");
    }
    ++queued_;
    return service(0);
  }

  // The sender after its last packet: retransmissions go out only while the
  // host is serviced, so it is, until the receiver has everything.
  Result<void> drain_until(Clock::time_point limit, const std::atomic<bool>& receiver_done) {
    while (!receiver_done.load()) {
      if (auto serviced = service(1); !serviced) return serviced;
      if (Clock::now() >= limit) return time_is_up();
    }
    return ok();
  }

  // The receiver: services the server's host until message `i` arrives (checked).
  Result<void> receive(std::size_t i, Clock::time_point slice) {
    for (;;) {
      ENetEvent event;
      const int got = ::enet_host_service(ends_.server.get(), &event, 1);
      if (got < 0) return Error(ErrorKind::system, "enet_host_service failed");
      if (got > 0 && event.type == ENET_EVENT_TYPE_RECEIVE) {
        auto checked = check(
            {reinterpret_cast<const std::byte*>(event.packet->data), event.packet->dataLength}, i);
        ::enet_packet_destroy(event.packet);
        return checked;
      }
      if (got > 0 && event.type == ENET_EVENT_TYPE_DISCONNECT) {
        return Error(ErrorKind::closed, "enet: the client disconnected");
      }
      if (Clock::now() >= slice) return time_is_up();
    }
  }

  // ENet frees a reliable packet once every fragment of it is acknowledged.
  static void on_acknowledged(ENetPacket* packet) {
    ++static_cast<EnetStream*>(packet->userData)->acked_;
  }

  // One enet_host_service of the client's host, waiting up to `ms` for a datagram.
  Result<void> service(enet_uint32 ms) {
    ENetEvent event;
    const int got = ::enet_host_service(ends_.client.get(), &event, ms);
    if (got < 0) return Error(ErrorKind::system, "enet_host_service failed");
    if (got > 0 && event.type == ENET_EVENT_TYPE_DISCONNECT) {
      return Error(ErrorKind::closed, "enet: the server disconnected");
    }
    if (got > 0 && event.type == ENET_EVENT_TYPE_RECEIVE) ::enet_packet_destroy(event.packet);
    return ok();
  }

  int client_cpu_, server_cpu_;
  std::size_t queue_;
  std::size_t queued_ = 0, acked_ = 0;  // whoever services the client's host
  EnetEnds ends_;                       // destroyed before acked_
  IdleService idle_;                    // last: stopped first
};

Result<std::unique_ptr<Stream>> enet_stream(Result<EnetEnds> ends, const Placement& placement,
                                            const Options& options) {
  if (!ends) return ends.error();
  return std::unique_ptr<Stream>(
      std::make_unique<EnetStream>(std::move(*ends), placement.client, placement.server,
                                   static_cast<std::size_t>(options.enet_queue)));
}

Result<std::unique_ptr<Stream>> open_stream(std::size_t impl, const Placement& placement,
                                            const Options& options, const fault::Plan& plan) {
  const int server = placement.server;
  auto nexo = [&](std::optional<fault::Plan> through,
                  std::size_t datagram) -> Result<std::unique_ptr<Stream>> {
    msg::SenderOptions sender;
    sender.max_datagram = datagram;  // 0: nexo's default
    auto ends = open_nexo_ends(placement, "rudp://127.0.0.1:0", through, sender);
    if (!ends) return ends.error();
    return std::unique_ptr<Stream>(std::make_unique<NexoStream>(std::move(*ends), kMessageSize, server));
  };
  auto raw = [&](bool batched) -> Result<std::unique_ptr<Stream>> {
    auto sockets = tcp_pair(kPoll);
    if (!sockets) return sockets.error();
    return std::unique_ptr<Stream>(
        std::make_unique<RawStream>(std::move(*sockets), kMessageSize, server, batched));
  };
  const auto datagram = static_cast<std::size_t>(options.datagram);  // the same as ENet's
  switch (impl) {
    case kNexo:
      return nexo(plan, datagram);
    case kNexoDirect:
      return nexo(std::nullopt, datagram);
    case kNexoSmall:
      return nexo(plan, 0);
    case kEnet:
      return enet_stream(open_enet_ends(placement, plan, options.datagram), placement, options);
    case kEnetDirect:
      return enet_stream(open_enet_ends(placement, std::nullopt, options.datagram), placement,
                         options);
    case kTcp: {
      auto ends = open_nexo_ends(placement, "tcp://127.0.0.1:0");
      if (!ends) return ends.error();
      return std::unique_ptr<Stream>(
          std::make_unique<NexoStream>(std::move(*ends), kMessageSize, server));
    }
    default:
      return raw(impl == kRawBatched);
  }
}

// One loss rate at one placement: the impls that run at `loss` (TCP at 0% only).
Result<void> run_goodput_case(double loss, const Placement& placement, const Options& options,
                              std::vector<StreamResult>& results) {
  fault::Direction direction;
  direction.loss = loss;
  const auto plan = fault::Plan::both_ways(direction, static_cast<std::uint64_t>(options.seed));
  std::vector<std::size_t> impls;
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    if (options.impls.on(impl) && (through_proxy(impl) || loss == 0)) impls.push_back(impl);
  }
  auto open = [&](std::size_t impl) { return open_stream(impl, placement, options, plan); };
  return run_stream_case(impls, open, placement.client, options.stream_rounds, options.impls,
                         results);
}

double mb_per_s(double messages_per_s) {
  return messages_per_s * static_cast<double>(kMessageSize) / 1e6;
}

// Prints the rows of one case; returns the medians in MB/s (0: not run or did not finish).
std::vector<double> print_goodput_case(const char* cpus, double loss, const Options& options,
                                       const std::vector<StreamResult>& results) {
  std::vector<double> median(kImplCount);
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    const auto& r = results[impl];
    if (!r.ran) continue;
    std::printf("%-6s %-5s %-11s %-6s ", cpus, percent(loss).c_str(), options.impls.name(impl),
                through_proxy(impl) ? "proxy" : "direct");
    if (print_unfinished(r, kMessageSize)) continue;
    median[impl] = mb_per_s(r.rates.median());
    std::array<char, 32> text{};
    std::snprintf(text.data(), text.size(), "[%.1f..%.1f]", mb_per_s(r.rates.min()),
                  mb_per_s(r.rates.max()));
    const double n = static_cast<double>(r.messages);
    std::printf("%8.1f %15s %9.0f", median[impl], text.data(), r.rates.median());
    const auto& d = r.datagrams;
    if (through_proxy(impl)) {
      std::printf(
          " %8.3f %8.3f %6.2f%% %6.2f%%", static_cast<double>(d.to) / n,
          static_cast<double>(d.back) / n,
          d.to ? 100.0 * static_cast<double>(d.lost_to) / static_cast<double>(d.to) : 0.0,
          d.back ? 100.0 * static_cast<double>(d.lost_back) / static_cast<double>(d.back) : 0.0);
    } else {
      std::printf(" %8s %8s %7s %7s", "-", "-", "-", "-");
    }
    std::printf(" %9.0f %8.3f\n", r.usage.cpu_us * 1e3 / n,
                static_cast<double>(r.usage.switches) / n);
  }
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    if (results[impl].ran && !results[impl].note.empty()) {
      std::printf("%-6s %-5s %-11s note: %s\n", cpus, percent(loss).c_str(),
                  options.impls.name(impl), results[impl].note.c_str());
    }
  }
  std::fflush(stdout);
  return median;
}

using Medians = std::array<std::vector<double>, kLossRates.size()>;  // per loss rate, per impl

void print_goodput_ratios(int datagram,
                          const std::vector<std::pair<std::string, Medians>>& medians) {
  std::printf(
      "\ngoodput ratios (median MB/s), nexo and enet at the same datagram size (%d B) — targets "
      "nexo/enet >= 2 at each loss rate, nexo@5%% / nexo@0%% >= 0.5\n",
      datagram);
  for (const auto& [cpus, by_loss] : medians) {
    for (std::size_t l = 0; l < kLossRates.size(); ++l) {
      const auto& m = by_loss[l];
      std::printf("  %-6s loss %-3s", cpus.c_str(), percent(kLossRates[l]).c_str());
      if (m[kNexo] > 0 && m[kEnet] > 0) {
        const double r = m[kNexo] / m[kEnet];
        std::printf("  nexo/enet %.3f %-6s", r, verdict(r >= 2.0));
      } else {
        std::printf("  nexo/enet n/a (did not finish, or not run)");
      }
      if (m[kNexoSmall] > 0 && m[kEnet] > 0) {
        std::printf("  (nexo-16k/enet %.3f: larger datagrams, not like for like)",
                    m[kNexoSmall] / m[kEnet]);
      }
      if (l == 0 && m[kNexo] > 0 && m[kTcp] > 0) {
        std::printf("  (nexo/tcp %.3f", m[kNexo] / m[kTcp]);
        if (m[kRaw] > 0) std::printf(", nexo/raw %.3f", m[kNexo] / m[kRaw]);
        if (m[kRawBatched] > 0) std::printf(", nexo/raw-batched %.3f", m[kNexo] / m[kRawBatched]);
        std::printf(")");
      }
      if (l == 0 && m[kNexoDirect] > 0 && m[kEnetDirect] > 0) {
        std::printf("  (without the proxy: nexo/enet %.3f)", m[kNexoDirect] / m[kEnetDirect]);
      }
      std::printf("\n");
    }
    const double clean = by_loss[0][kNexo], lossy = by_loss[2][kNexo];
    if (clean > 0 && lossy > 0) {
      const double r = lossy / clean;
      std::printf("  %-6s nexo@5%% / nexo@0%% %.3f %s\n", cpus.c_str(), r, verdict(r >= 0.5));
    } else {
      std::printf("  %-6s nexo@5%% / nexo@0%% n/a (did not finish, or not run)\n", cpus.c_str());
    }
  }
}

}  // namespace

bool run_goodput(const Options& options, const std::vector<Placement>& placements) {
  std::printf(
      "\n== 2. one-way goodput, %zu-byte messages, loss 0%%, 1%%, 5%% both ways through the "
      "proxy (seed %d, the same plan for every UDP impl); tcp and raw direct, 0%% only\n",
      kMessageSize, options.seed);
  print_stream_plan(options.stream_rounds, "loss rate and impl");
  std::printf(
      "nexo: enqueue (on would_block: wait_for_room) / Port::receive; enet: reliable channel "
      "0, at most %d packets unacknowledged, serviced after every send; tcp: nexo tcp://; raw: "
      "one send() per message; raw-batched: %zu messages per writev()\n",
      options.enet_queue, kRawBatch);
  std::printf(
      "MB/s: payload (10^6 B/s) delivered to the application, median round [min..max]; dg_to, "
      "dg_back: datagrams into the proxy per message, client->server and back; lost: dropped "
      "by the plan (realized rate); cpu_ns/msg, csw/msg: whole process\n\n");
  std::printf("%-6s %-5s %-11s %-6s %8s %15s %9s %8s %8s %7s %7s %9s %8s\n", "cpus", "loss", "impl",
              "path", "MB/s", "[min..max]", "msgs/s", "dg_to", "dg_back", "lost_to", "lost_bk",
              "cpu_ns", "csw");
  bool all_ran = true;
  std::vector<std::pair<std::string, Medians>> medians;
  for (const Placement& placement : placements) {
    bind_thread(placement.client);
    const char* cpus = cpus_name(placement.mode);
    auto& row = medians.emplace_back(cpus, Medians{});
    for (std::size_t l = 0; l < kLossRates.size(); ++l) {
      std::vector<StreamResult> results(kImplCount);
      if (auto ran = run_goodput_case(kLossRates[l], placement, options, results); !ran) {
        std::fprintf(stderr, "bench_rudp: goodput %s loss %s: %s\n", cpus,
                     percent(kLossRates[l]).c_str(), ran.error().message().c_str());
        all_ran = false;
      }
      row.second[l] = print_goodput_case(cpus, kLossRates[l], options, results);
    }
  }
  bind_thread(-1);
  print_goodput_ratios(options.datagram, medians);
  std::fflush(stdout);
  return all_ran;
}

}  // namespace nexo::bench::rudp
