// bench_rudp — nexo's reliable UDP (msg::Port and msg::Sender over rudp://)
// beside ENet 1.3 (its reliable, sequenced channel 0) and TCP, measured side
// by side in one run, all on 127.0.0.1:
//   1. ping-pong latency at 0% loss, 64 B and 1 KiB messages (rudp_latency.cpp);
//   2. one-way goodput of 1 KiB messages at 0%, 1% and 5% loss (rudp_goodput.cpp).
// Each file's comment says what it measures and how. This file: the flags,
// the helpers the sections share (rudp_bench.hpp), and the run.
//
// The same fault proxy. Every UDP implementation (nexo rudp://, ENet) goes
// client -> fault::Proxy -> server and back: one proxy per pair, each started
// with the same Plan and seed for a loss rate (loss in both directions, so
// data and acknowledgements are both lost), so each sees the same sequence of
// fates for its n-th datagram. The proxy relays on a thread of its own (one
// more hop each way, the same for both). TCP cannot go through a UDP relay:
// nexo tcp:// and raw TCP run direct, at 0% loss only, for information.
//
// Treating ENet fairly (what a careful ENet user would do):
//   - hosts without bandwidth limits (ENet's reliable window is then its
//     largest, 64 KiB), default throttle, timeouts and socket buffers;
//   - the handshake: each host serviced on its own thread, blocked in poll(),
//     so that no end waits for the other's turn;
//   - latency: the client flushes (enet_host_flush) right after
//     enet_peer_send and then waits in enet_host_service, which blocks in
//     poll() on the socket, so a reply is taken as soon as it arrives; the
//     echo flushes its reply (and the acknowledgement of the request, which
//     rides in the same datagram) at once instead of at its next service;
//   - goodput: the sender services the host (timeout 0) after every
//     enet_peer_send, so packets leave as soon as the window allows and
//     acknowledgements are read promptly; it keeps at most --enet-queue
//     packets queued and not yet acknowledged (counted by the packets' free
//     callback), servicing with a 1 ms wait while at that bound: ENet has no
//     flow control of its own towards the application, and version 1.3.17
//     walks its whole outgoing list on every service. Measured on this
//     machine: a bound of 32 or 64 packets starves the 64 KiB window (27 and
//     43 MB/s at 0% loss), 128 to 4096 perform alike (about 100 MB/s through
//     the proxy); 512 is the default. The receiver services in a loop (1 ms waits);
//   - between rounds (while the other impls run) the hosts are serviced on
//     threads of their own, as an application's loop would (IdleService in
//     rudp_bench.hpp says what goes wrong otherwise).
// nexo is used as a user would: Sender::enqueue / wait_for_room, Port::receive,
// Port::reply, default options.
//
// CPU placement as in bench_msg (its comment explains why): "free" (no thread
// bound, the default), "split" (client side on one cpu, server side on the
// other, the proxy unbound), "same" (everything on one cpu, for reference).
//
// Benchmarks print, they never gate: the targets are printed beside the
// ratios, never enforced. Exit status 1 only if a case failed (printed), 2 for
// bad arguments. Every blocking call has a deadline; a goodput round has a
// time limit (--limit, default 60 s) past which it "did not finish".
#include "rudp_bench.hpp"

#include <enet/enet.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace nexo::bench::rudp {

using net::FileDescriptor;

ImplChoice impl_choice() {
  return ImplChoice({"nexo", "enet", "tcp", "raw", "raw-batched", "nexo-direct", "enet-direct",
                     "nexo-16k"});
}

// --- ENet --------------------------------------------------------------------------------

namespace {

Result<EnetHost> enet_host(const ENetAddress* address, int mtu) {
  // One peer, one channel, no bandwidth limits (0: unlimited).
  EnetHost host(::enet_host_create(address, 1, 1, 0, 0));
  if (!host) return Error(ErrorKind::system, "enet_host_create failed");
  // The datagram size (UDP payload) of every peer made afterwards, as
  // enet_host_set_mtu (1.3.18) sets it; connecting peers take the smaller of both.
  host->mtu = static_cast<enet_uint32>(mtu);
  return host;
}

ENetAddress enet_loopback(std::uint16_t port) {
  ENetAddress address{};
  ::enet_address_set_host_ip(&address, "127.0.0.1");
  address.port = port;
  return address;
}

// Services `host` until its peer is connected, or the deadline passes.
Result<void> await_connect(ENetHost* host, Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    ENetEvent event;
    const int got = ::enet_host_service(host, &event, 5);
    if (got < 0) return Error(ErrorKind::system, "enet_host_service failed while connecting");
    if (got > 0 && event.type == ENET_EVENT_TYPE_CONNECT) return ok();
  }
  return Error(ErrorKind::timed_out, "enet connect: no answer within the deadline");
}

}  // namespace

Result<EnetEnds> open_enet_ends(const Placement& placement,
                                const std::optional<fault::Plan>& plan, int mtu) {
  const ENetAddress any_port = enet_loopback(0);
  auto server = enet_host(&any_port, mtu);  // binds; host->address has the real port
  if (!server) return server.error();
  std::unique_ptr<fault::Proxy> proxy;
  if (plan) {
    auto started = start_proxy(placement, (*server)->address.port, *plan);
    if (!started) return started.error();
    proxy = std::move(*started);
  }
  auto client = enet_host(nullptr, mtu);
  if (!client) return client.error();
  const ENetAddress to =
      enet_loopback(proxy ? proxy->local_endpoint().port() : (*server)->address.port);
  ENetPeer* peer = ::enet_host_connect(client->get(), &to, 1, 0);
  if (peer == nullptr) return Error(ErrorKind::system, "enet_host_connect failed");
  // The handshake: the server serviced on a thread of its own while this one
  // services the client, each blocked in poll() on its socket, so that no
  // end waits for the other's turn. ENet takes its first round-trip sample
  // here and, smoothing in whole milliseconds with a gain of 1/8, never
  // lowers an estimate by less than 8 ms: a handshake slowed by the harness
  // would inflate its retransmission timeout for the whole run.
  const auto deadline = Clock::now() + kTimeout;
  Result<void> server_up = Error(ErrorKind::timed_out, "enet connect: the server saw no client");
  std::atomic<bool> server_done{false};
  std::thread server_side([&, host = server->get()] {
    static_cast<void>(pin_this_thread(placement.server));
    server_up = await_connect(host, deadline);
    server_done.store(true);
  });
  auto client_up = await_connect(client->get(), deadline);
  // The server is connected once it has the client's acknowledgement, which
  // (or whose retransmission) leaves only while the client is serviced.
  while (client_up && !server_done.load()) {
    ENetEvent event;
    if (::enet_host_service(client->get(), &event, 1) < 0) {
      client_up = Error(ErrorKind::system, "enet_host_service failed while connecting");
    }
  }
  server_side.join();
  if (!client_up) return client_up.error().with_context("enet client");
  if (!server_up) return server_up.error().with_context("enet server");
  return EnetEnds{std::move(proxy), std::move(*server), std::move(*client), peer};
}

void IdleService::start(std::initializer_list<std::pair<ENetHost*, int>> hosts) {
  stop_.store(false);
  for (auto [host, cpu] : hosts) {
    threads_.emplace_back([this, host = host, cpu = cpu] {
      static_cast<void>(pin_this_thread(cpu));
      while (!stop_.load()) {
        ENetEvent event;
        const int got = ::enet_host_service(host, &event, 1);
        if (got < 0) return;
        if (got > 0 && event.type == ENET_EVENT_TYPE_RECEIVE) ::enet_packet_destroy(event.packet);
      }
    });
  }
}

void IdleService::stop() {
  stop_.store(true);
  for (auto& thread : threads_)
    thread.join();
  threads_.clear();
}

namespace {

// --- main --------------------------------------------------------------------------------------

void set_quick(Options& o) {
  o.quick = true;
  o.latency_rounds = {100, 2, 200};
  o.stream_rounds = {2'000, 1, 10};
}

Flags flags(Options& o) {
  Flags f("bench_rudp");
  f.action("--quick", [&o] { set_quick(o); },
           "a short smoke run (2 rounds x 200 round trips, 1 x 2000 messages, 10 s limit)");
  add_latency_flags(f, o.latency_rounds);
  f.count("--messages", o.stream_rounds.messages, 100'000'000,
          "goodput: 1 KiB messages per impl per round (default 20000)")
      .count("--goodput-rounds", o.stream_rounds.rounds, 1000,
             "goodput rounds per loss rate (default 5)")
      .count("--limit", o.stream_rounds.limit_s, 3600,
             "goodput: a round not done in S seconds did not finish (default 60)")
      .count("--seed", o.seed, 2'000'000'000, "the fault plans' seed (default 20260214)")
      .count("--enet-queue", o.enet_queue, 1'000'000,
             "ENet sender: packets queued, not yet acknowledged (default 512)")
      .value("--datagram",
             [&o](std::string_view v) {
               const auto size = parse_count(v, 4096);  // ENet's range: 576..4096
               if (size && *size >= 576) o.datagram = *size;
               return size && *size >= 576;
             },
             "nexo's and ENet's largest datagram, 576..4096 (default 1400)")
      .flag("--no-latency", o.latency, false, "skip the latency section")
      .flag("--no-goodput", o.goodput, false, "skip the goodput section")
      .value("--cpus", [&o](std::string_view v) { return parse_cpus(v, o.cpus); },
             "placements among free,split,same (default free)")
      .value("--impls", [&o](std::string_view v) { return o.impls.parse(v); },
             "implementations among " + o.impls.joined() +
                 " (default all; the -direct ones skip the proxy, 0% loss only; raw-batched "
                 "and nexo-16k run in the goodput section only)");
  return f;
}

void print_header(const Options& options) {
  const ENetVersion v = ::enet_linked_version();
  std::printf(
      "bench_rudp: nexo rudp:// beside ENet %u.%u.%u (reliable channel) through the same fault "
      "proxy, and TCP, all on 127.0.0.1%s\n",
      ENET_VERSION_GET_MAJOR(v), ENET_VERSION_GET_MINOR(v), ENET_VERSION_GET_PATCH(v),
      options.quick ? " (--quick: a smoke run, numbers are rough)" : "");
  std::printf(
      "impls: nexo = rudp:// Port/Sender via the proxy; enet = ENet via the proxy; tcp = nexo "
      "tcp:// Port/Sender, direct; raw = blocking TCP sockets, TCP_NODELAY, framed, one send() "
      "per message, direct; raw-batched = raw with 64 messages per writev() (goodput only); "
      "nexo-direct, enet-direct = nexo and enet without the proxy (0%% loss only: what the "
      "proxy's hop costs); nexo-16k = nexo via the proxy with its default datagrams, up to "
      "16 KiB on loopback (goodput only; larger datagrams than ENet's: not like for like)\n"
      "datagrams: nexo and enet at most %d bytes of UDP payload each (--datagram), small "
      "messages sharing one when they queue behind the window, ENet bundling commands "
      "likewise\n"
      "threads: nexo one I/O thread per side's Context beside the application thread; ENet "
      "none (the application services its host); the proxy one\n",
      options.datagram);
}

// The whole run; main's exit status.
int run(int argc, char** argv) {
  Options options;
  if (auto status = begin_run(flags(options), argc, argv)) return *status;
  if (::enet_initialize() != 0) {
    std::fprintf(stderr, "bench_rudp: enet_initialize failed\n");
    return 1;
  }
  print_header(options);
  print_machine();
  const auto placements = make_placements(options.cpus);
  const auto start = Clock::now();
  bool all_ran = true;
  if (options.latency) all_ran = run_latency(options, placements) && all_ran;
  if (options.goodput) all_ran = run_goodput(options, placements) && all_ran;
  print_end(start);
  ::enet_deinitialize();
  return all_ran ? 0 : 1;
}

}  // namespace
}  // namespace nexo::bench::rudp

int main(int argc, char** argv) {
  return nexo::bench::rudp::run(argc, argv);
}
