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
//   raw   one send() per message, a 64 KiB reader; direct, 0% only (information).
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
#include "nexo/msg/message.hpp"
#include "rudp_bench.hpp"

namespace nexo::bench::rudp {
namespace {

using net::FileDescriptor;

constexpr std::size_t kMessageSize = 1024;
constexpr std::array<double, 3> kLossRates = {0.0, 0.01, 0.05};

// What one round achieved.
struct Outcome {
  std::size_t count = 0;      // messages sent
  std::size_t delivered = 0;  // messages the receiving application took
  Clock::duration elapsed{};  // from the first send to the last receipt (or the limit)
  bool finished = false;      // all of them, within the limit
};

// A one-way stream: this thread sends, a receiver thread (started per round,
// bound to the server's cpu) takes and checks.
class Stream {
 public:
  virtual ~Stream() = default;
  // Sends `count` messages; returns when the receiver has them all, or at
  // `deadline` (then finished is false). Errors: what failed, other than time.
  virtual Result<Outcome> round(std::size_t count, Clock::time_point deadline) = 0;
  // The fault proxy the stream's datagrams cross; null for TCP.
  virtual const fault::Proxy* proxy() const { return nullptr; }
  // What the transport's own state says after the rounds (empty: nothing).
  virtual std::string note() const { return {}; }

 protected:
  // Runs a round: `send_one(payload, deadline, receiver_done)` for each
  // message from this thread, then `drain(deadline, receiver_done)` (what the
  // sender must still do for the last messages to arrive), while a receiver
  // thread calls `receive_one(sequence, until)` for each (timed_out at
  // `until`, a slice of kPoll: the receiver then looks at the deadline and at
  // whether the sender gave up). The clock starts once the receiver is waiting.
  template <class SendOne, class Drain, class ReceiveOne>
  static Result<Outcome> timed(int server_cpu, std::size_t count, Clock::time_point deadline,
                               SendOne&& send_one, Drain&& drain, ReceiveOne&& receive_one) {
    std::latch ready(1);
    std::atomic<bool> receiver_done{false}, sender_gave_up{false};
    Clock::time_point last{};
    std::size_t delivered = 0;
    std::optional<Error> receive_error;
    std::thread receiver([&] {
      const bool pinned = pin_this_thread(server_cpu);
      ready.count_down();
      if (pinned) {
        delivered = receive_each(count, deadline, sender_gave_up, receive_one, receive_error);
      } else {
        receive_error = Error(ErrorKind::system, "cannot bind the receiver thread");
      }
      last = Clock::now();
      receiver_done.store(true);
    });
    ready.wait();
    const Clock::time_point start = Clock::now();
    auto sent = send_each(count, deadline, receiver_done, send_one);
    if (sent) sent = drain(deadline, receiver_done);
    if (!sent) sender_gave_up.store(true);
    receiver.join();
    if (receive_error) return std::move(*receive_error).with_context("receiver");
    if (!sent && !sent.error().is(ErrorKind::timed_out)) {
      return std::move(sent).error().with_context("sender");
    }
    return Outcome{count, delivered, last - start, delivered == count};
  }

  // Checks that message `sequence` arrived whole and in order.
  static Result<void> check(std::span<const std::byte> data, std::size_t sequence) {
    if (data.size() != kMessageSize) return short_reply(data.size(), kMessageSize);
    std::uint32_t value = 0;
    std::memcpy(&value, data.data(), sizeof value);
    if (value != static_cast<std::uint32_t>(sequence)) {
      return Error(ErrorKind::malformed, "message " + std::to_string(sequence) +
                                             " arrived as number " + std::to_string(value));
    }
    return ok();
  }

  static Error time_is_up() { return Error(ErrorKind::timed_out, "the round's time is up"); }

 private:
  template <class SendOne>
  static Result<void> send_each(std::size_t count, Clock::time_point deadline,
                                const std::atomic<bool>& receiver_done, SendOne& send_one) {
    Bytes payload(kMessageSize, std::byte{'m'});
    for (std::size_t i = 0; i < count; ++i) {
      const auto sequence = static_cast<std::uint32_t>(i);
      std::memcpy(payload.data(), &sequence, sizeof sequence);
      if (auto sent = send_one(payload, deadline, receiver_done); !sent) return sent;
    }
    return ok();
  }

  // How many messages arrived before the deadline, an error, or the sender gave up.
  template <class ReceiveOne>
  static std::size_t receive_each(std::size_t count, Clock::time_point deadline,
                                  const std::atomic<bool>& sender_gave_up, ReceiveOne& receive_one,
                                  std::optional<Error>& error) {
    std::size_t i = 0;
    while (i < count) {
      auto got = receive_one(i, std::min(deadline, Clock::now() + kPoll));
      if (got) {
        ++i;
        continue;
      }
      if (!got.error().is(ErrorKind::timed_out)) {
        error = std::move(got).error();
        break;
      }
      if (Clock::now() >= deadline || sender_gave_up.load()) break;
    }
    return i;
  }
};

// The time from now to `until`, at least zero.
std::chrono::milliseconds until(Clock::time_point when) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::ceil<std::chrono::milliseconds>(when - Clock::now()));
}

// --- nexo (rudp:// or tcp://) -----------------------------------------------------------

class NexoStream final : public Stream {
 public:
  NexoStream(NexoEnds ends, int server_cpu) : ends_(std::move(ends)), server_cpu_(server_cpu) {}

  const fault::Proxy* proxy() const override { return ends_.proxy.get(); }

  std::string note() const override {
    if (!ends_.proxy) return {};
    return "the sender retransmitted " + std::to_string(ends_.to_server->stats().retransmitted) +
           " packets (warm-up included)";
  }

  Result<Outcome> round(std::size_t count, Clock::time_point deadline) override {
    msg::Sender& sender = *ends_.to_server;
    auto send_one = [&](const Bytes& payload, Clock::time_point limit,
                        const std::atomic<bool>& receiver_done) -> Result<void> {
      for (;;) {
        auto queued = sender.enqueue(payload);
        if (queued || !queued.error().is(ErrorKind::would_block)) return queued;
        // The local buffer is full: wait until half of it is free, then enqueue again.
        auto room = sender.wait_for_room(std::min<std::chrono::milliseconds>(kPoll, until(limit)));
        if (!room && !room.error().is(ErrorKind::timed_out)) return room;
        if (receiver_done.load() || Clock::now() >= limit) return time_is_up();
      }
    };
    auto drain = [](Clock::time_point, const std::atomic<bool>&) { return ok(); };
    auto receive_one = [&](std::size_t i, Clock::time_point slice) -> Result<void> {
      auto message = ends_.server_port->receive(until(slice));
      if (!message) return std::move(message).error();
      return check(message->data, i);
    };
    return timed(server_cpu_, count, deadline, send_one, drain, receive_one);
  }

 private:
  NexoEnds ends_;
  int server_cpu_;
};

// --- ENet -------------------------------------------------------------------------------------

class EnetStream final : public Stream {
 public:
  EnetStream(EnetEnds ends, int client_cpu, int server_cpu, std::size_t queue)
      : client_cpu_(client_cpu), server_cpu_(server_cpu), queue_(queue), ends_(std::move(ends)) {
    start_idle();
  }
  ~EnetStream() override {
    idle_.stop();
    ends_.client.reset();  // packets freed now still find acked_
  }

  const fault::Proxy* proxy() const override { return ends_.proxy.get(); }

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
    return timed(server_cpu_, count, deadline, send_one, drain, receive_one);
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

// --- raw TCP ----------------------------------------------------------------------------------

class RawStream final : public Stream {
 public:
  RawStream(TcpPair sockets, int server_cpu)
      : client_(std::move(sockets.first)),
        server_(std::move(sockets.second)),
        server_cpu_(server_cpu) {}

  Result<Outcome> round(std::size_t count, Clock::time_point deadline) override {
    std::optional<Error> error;
    auto send_one = [&](const Bytes& payload, Clock::time_point,
                        const std::atomic<bool>&) -> Result<void> {
      if (!send_all(client_.get(), payload, error)) return std::move(*error);
      return ok();
    };
    auto drain = [](Clock::time_point, const std::atomic<bool>&) { return ok(); };
    auto receive_one = [&](std::size_t i, Clock::time_point) -> Result<void> {
      auto data = reader_.next(server_.get());  // SO_RCVTIMEO: kPoll (a slice)
      if (!data) return std::move(data).error();
      return check(*data, i);
    };
    return timed(server_cpu_, count, deadline, send_one, drain, receive_one);
  }

 private:
  FileDescriptor client_, server_;
  int server_cpu_;
  RecordReader reader_{kMessageSize};  // kept across rounds (one receiver thread at a time)
};

Result<std::unique_ptr<Stream>> open_stream(std::size_t impl, const Placement& placement,
                                            const Options& options, const fault::Plan& plan) {
  const auto datagram = static_cast<std::size_t>(options.datagram);  // the same as ENet's
  switch (impl) {
    case kNexo:
      return make_with<Stream, NexoStream>(open_nexo_rudp_ends(placement, std::optional{plan}, datagram),
                                           placement.server);
    case kEnet: {
      auto ends = open_enet_ends(placement, std::optional{plan}, options.datagram);
      if (!ends) return ends.error();
      std::unique_ptr<Stream> stream =
          std::make_unique<EnetStream>(std::move(*ends), placement.client, placement.server,
                                       static_cast<std::size_t>(options.enet_queue));
      return stream;
    }
    case kTcp:
      return make_with<Stream, NexoStream>(open_nexo_tcp_ends(placement), placement.server);
    case kNexoDirect:
      return make_with<Stream, NexoStream>(open_nexo_rudp_ends(placement, std::nullopt, datagram),
                                           placement.server);
    case kNexoSmall:
      return make_with<Stream, NexoStream>(
          open_nexo_rudp_ends(placement, std::optional{plan}, 0), placement.server);
    case kEnetDirect: {
      auto ends = open_enet_ends(placement, std::nullopt, options.datagram);
      if (!ends) return ends.error();
      std::unique_ptr<Stream> stream =
          std::make_unique<EnetStream>(std::move(*ends), placement.client, placement.server,
                                       static_cast<std::size_t>(options.enet_queue));
      return stream;
    }
    default:
      return make_with<Stream, RawStream>(tcp_pair(kPoll), placement.server);
  }
}

// --- one case: one loss rate at one placement ------------------------------------------------

struct GoodputResult {
  std::vector<double> mb_per_s;  // one per finished round
  Usage usage;
  std::size_t messages = 0;                                    // over the measured rounds
  std::uint64_t to = 0, back = 0, lost_to = 0, lost_back = 0;  // the proxy's datagrams
  std::optional<Outcome> unfinished;                           // the round that did not finish
  bool unfinished_warmup = false;                              // ... and it was the warm-up
  std::string note;                                            // the stream's, after the rounds
  bool ran = false;

  double median() const {
    std::vector<double> sorted = mb_per_s;
    std::sort(sorted.begin(), sorted.end());
    return sorted.empty() ? 0.0 : sorted[sorted.size() / 2];
  }
};
using GoodputResults = std::array<GoodputResult, kImplCount>;

double mb_per_s(std::size_t messages, Clock::duration elapsed) {
  const double seconds = std::max(std::chrono::duration<double>(elapsed).count(), 1e-9);
  return static_cast<double>(messages * kMessageSize) / seconds / 1e6;
}

// One measured round of `stream`, its numbers added to `result`; false if it did not finish.
Result<bool> measure_round(Stream& stream, const Options& options, GoodputResult& result) {
  const auto count = static_cast<std::size_t>(options.messages);
  const auto before = stream.proxy() ? stream.proxy()->counters() : fault::ProxyCounters{};
  const Usage usage = Usage::now();
  auto outcome = stream.round(count, Clock::now() + std::chrono::seconds(options.limit_s));
  result.usage += Usage::now() - usage;
  if (!outcome) return outcome.error();
  if (stream.proxy()) {
    const auto after = stream.proxy()->counters();
    result.to += after.to.received - before.to.received;
    result.back += after.back.received - before.back.received;
    result.lost_to += after.to.lost - before.to.lost;
    result.lost_back += after.back.lost - before.back.lost;
  }
  if (!outcome->finished) {
    result.unfinished = *outcome;
    return false;
  }
  result.messages += count;
  result.mb_per_s.push_back(mb_per_s(count, outcome->elapsed));
  return true;
}

// Opens the impls that run at `loss`, warms each up (a tenth of a round),
// then rounds in which each sends --messages, the first impl rotating. An impl
// whose round did not finish is left out of the later rounds.
Result<void> run_goodput_case(double loss, const Placement& placement, const Options& options,
                              GoodputResults& results) {
  fault::Direction direction;
  direction.loss = loss;
  const auto plan = fault::Plan::both_ways(direction, static_cast<std::uint64_t>(options.seed));
  std::array<std::unique_ptr<Stream>, kImplCount> streams;
  std::vector<std::size_t> impls;
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    if (!options.impls[impl] || (!through_proxy(impl) && loss > 0)) continue;
    auto opened = open_stream(impl, placement, options, plan);
    bind_thread(placement.client);
    if (!opened) return opened.error().with_context(kImplNames[impl]);
    streams[impl] = std::move(*opened);
    impls.push_back(impl);
    results[impl].ran = true;
  }
  const auto warmup = std::max<std::size_t>(static_cast<std::size_t>(options.messages) / 10, 1);
  // A stream that did not finish is closed at once: it would go on sending in
  // the background (ENet's idle service, nexo's I/O thread) during the others' rounds.
  auto give_up = [&](std::size_t impl, const Outcome& outcome) {
    results[impl].unfinished = outcome;
    results[impl].note = streams[impl]->note();
    streams[impl].reset();
  };
  for (std::size_t impl : impls) {
    auto warm = streams[impl]->round(warmup, Clock::now() + std::chrono::seconds(options.limit_s));
    if (!warm) return warm.error().with_context(kImplNames[impl]);
    if (!warm->finished) {
      results[impl].unfinished_warmup = true;
      give_up(impl, *warm);
    }
  }
  auto rounds = rotate_rounds(options.goodput_rounds, impls, [&](std::size_t impl) -> Result<void> {
    if (!streams[impl]) return ok();
    auto measured = measure_round(*streams[impl], options, results[impl]);
    if (!measured) return measured.error().with_context(kImplNames[impl]);
    if (!*measured) give_up(impl, *results[impl].unfinished);
    return ok();
  });
  for (std::size_t impl : impls) {
    if (streams[impl]) results[impl].note = streams[impl]->note();
  }
  return rounds;
}

std::string percent(double loss) {
  std::array<char, 16> text{};
  std::snprintf(text.data(), text.size(), "%g%%", loss * 100);
  return text.data();
}

// Prints the rows of one case; returns the medians (0: not run or did not finish).
std::array<double, kImplCount> print_goodput_case(const char* cpus, double loss,
                                                  const GoodputResults& results) {
  std::array<double, kImplCount> median{};
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    const auto& r = results[impl];
    if (!r.ran) continue;
    std::printf("%-6s %-5s %-11s %-6s ", cpus, percent(loss).c_str(), kImplNames[impl],
                through_proxy(impl) ? "proxy" : "direct");
    if (r.unfinished) {
      const auto& u = *r.unfinished;
      std::printf("did not finish: %zu of %zu messages delivered in %.1f s (%.2f MB/s), %s\n",
                  u.delivered, u.count, std::chrono::duration<double>(u.elapsed).count(),
                  mb_per_s(u.delivered, u.elapsed),
                  r.unfinished_warmup
                      ? "in the warm-up"
                      : ("in round " + std::to_string(r.mb_per_s.size() + 1)).c_str());
      continue;
    }
    if (r.mb_per_s.empty()) {
      std::printf("no round measured\n");
      continue;
    }
    median[impl] = r.median();
    const auto [lo, hi] = std::minmax_element(r.mb_per_s.begin(), r.mb_per_s.end());
    std::array<char, 32> range{};
    std::snprintf(range.data(), range.size(), "[%.1f..%.1f]", *lo, *hi);
    const double n = static_cast<double>(r.messages);
    std::printf("%8.1f %15s %9.0f", median[impl], range.data(),
                median[impl] * 1e6 / static_cast<double>(kMessageSize));
    if (through_proxy(impl)) {
      std::printf(
          " %8.3f %8.3f %6.2f%% %6.2f%%", static_cast<double>(r.to) / n,
          static_cast<double>(r.back) / n,
          r.to ? 100.0 * static_cast<double>(r.lost_to) / static_cast<double>(r.to) : 0.0,
          r.back ? 100.0 * static_cast<double>(r.lost_back) / static_cast<double>(r.back) : 0.0);
    } else {
      std::printf(" %8s %8s %7s %7s", "-", "-", "-", "-");
    }
    std::printf(" %9.0f %8.3f\n", r.usage.cpu_us * 1e3 / n,
                static_cast<double>(r.usage.switches) / n);
  }
  for (std::size_t impl = 0; impl < kImplCount; ++impl) {
    if (results[impl].ran && !results[impl].note.empty()) {
      std::printf("%-6s %-5s %-11s note: %s\n", cpus, percent(loss).c_str(), kImplNames[impl],
                  results[impl].note.c_str());
    }
  }
  std::fflush(stdout);
  return median;
}

void print_goodput_ratios(
    int datagram, const std::vector<std::pair<std::string, std::array<std::array<double, kImplCount>, 3>>>&
        medians) {
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
  std::printf(
      "per loss rate and impl: warm-up %d messages, then %d rounds x %d messages, the first "
      "impl rotating; the clock stops when the receiving application has the last one; a "
      "round not done in %d s did not finish\n",
      std::max(options.messages / 10, 1), options.goodput_rounds, options.messages,
      options.limit_s);
  std::printf(
      "nexo: enqueue (on would_block: wait_for_room) / Port::receive; enet: reliable channel "
      "0, at most %d packets unacknowledged, serviced after every send; tcp: nexo tcp://; raw: "
      "one send() per message\n",
      options.enet_queue);
  std::printf(
      "MB/s: payload (10^6 B/s) delivered to the application, median round [min..max]; dg_to, "
      "dg_back: datagrams into the proxy per message, client->server and back; lost: dropped "
      "by the plan (realized rate); cpu_ns/msg, csw/msg: whole process\n\n");
  std::printf("%-6s %-5s %-11s %-6s %8s %15s %9s %8s %8s %7s %7s %9s %8s\n", "cpus", "loss", "impl",
              "path", "MB/s", "[min..max]", "msgs/s", "dg_to", "dg_back", "lost_to", "lost_bk",
              "cpu_ns", "csw");
  bool all_ran = true;
  std::vector<std::pair<std::string, std::array<std::array<double, kImplCount>, 3>>> medians;
  for (const Placement& placement : placements) {
    bind_thread(placement.client);
    auto& row = medians.emplace_back(cpus_name(placement.mode),
                                     std::array<std::array<double, kImplCount>, 3>{});
    for (std::size_t l = 0; l < kLossRates.size(); ++l) {
      GoodputResults results;
      if (auto ran = run_goodput_case(kLossRates[l], placement, options, results); !ran) {
        std::fprintf(stderr, "bench_rudp: goodput %s loss %s: %s\n", cpus_name(placement.mode),
                     percent(kLossRates[l]).c_str(), ran.error().message().c_str());
        all_ran = false;
      }
      row.second[l] = print_goodput_case(cpus_name(placement.mode), kLossRates[l], results);
    }
  }
  bind_thread(-1);
  print_goodput_ratios(options.datagram, medians);
  std::fflush(stdout);
  return all_ran;
}

}  // namespace nexo::bench::rudp
