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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "nexo/net/endpoint.hpp"
#include "nexo/net/inet_address.hpp"

namespace nexo::bench::rudp {

using net::FileDescriptor;

// --- the fault proxy ---------------------------------------------------------------------

Result<std::unique_ptr<fault::Proxy>> start_proxy(const Placement& placement,
                                                  std::uint16_t target_port,
                                                  const fault::Plan& plan) {
  fault::ProxyOptions options;
  options.listen = net::Endpoint(net::InetAddress::loopback(), 0);
  options.target = net::Endpoint(net::InetAddress::loopback(), target_port);
  options.plan = plan;
  bind_thread(placement.proxy);  // the proxy's thread inherits the binding
  auto proxy = fault::Proxy::start(options);
  bind_thread(placement.client);
  if (!proxy) return std::move(proxy).error().with_context("fault proxy");
  return proxy;
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

// --- raw TCP ---------------------------------------------------------------------------

Result<std::span<const std::byte>> RecordReader::next(int fd) {
  for (;;) {
    if (end_ - begin_ >= record_) {
      const auto record = std::span<const std::byte>(buffer_).subspan(begin_, record_);
      begin_ += record_;
      return record;
    }
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > 0) {  // keep the partial record at the front
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    const ssize_t n = ::recv(fd, buffer_.data() + end_, buffer_.size() - end_, 0);
    if (n == 0) return Error(ErrorKind::closed, "recv: closed by the peer");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Error(ErrorKind::timed_out, "recv: nothing within the deadline");
      return Error::from_errno(errno, "recv");
    }
    end_ += static_cast<std::size_t>(n);
  }
}

// --- nexo --------------------------------------------------------------------------------

namespace {

// The two contexts, each created on its side's cpu; this thread left on the client's.
Result<NexoEnds> nexo_contexts(const Placement& placement) {
  bind_thread(placement.server);  // the Context's I/O thread inherits the binding
  auto server_context = msg::Context::create();
  if (!server_context) return server_context.error();
  bind_thread(placement.client);
  auto client_context = msg::Context::create();
  if (!client_context) return client_context.error();
  NexoEnds ends;
  ends.server_context = std::move(*server_context);
  ends.client_context = std::move(*client_context);
  return ends;
}

}  // namespace

Result<NexoEnds> open_nexo_rudp_ends(const Placement& placement,
                                     const std::optional<fault::Plan>& plan,
                                     std::size_t max_datagram) {
  auto ends = nexo_contexts(placement);
  if (!ends) return ends;
  auto port = msg::Port::bind(*ends->server_context, "rudp://127.0.0.1:0");
  if (!port) return port.error();
  ends->server_port = std::move(*port);
  std::uint16_t to = ends->server_port->uri().port;
  if (plan) {
    auto proxy = start_proxy(placement, to, *plan);
    if (!proxy) return proxy.error();
    ends->proxy = std::move(*proxy);
    to = ends->proxy->local_endpoint().port();
  }
  msg::SenderOptions options;
  options.max_datagram = max_datagram;
  auto sender = msg::Sender::connect(*ends->client_context,
                                     "rudp://127.0.0.1:" + std::to_string(to), options);
  if (!sender) return sender.error();
  ends->to_server = std::move(*sender);
  return ends;
}

Result<NexoEnds> open_nexo_tcp_ends(const Placement& placement) {
  auto ends = nexo_contexts(placement);
  if (!ends) return ends;
  auto port = msg::Port::bind(*ends->server_context, "tcp://127.0.0.1:0");
  if (!port) return port.error();
  ends->server_port = std::move(*port);
  auto sender = msg::Sender::connect(*ends->client_context, ends->server_port->uri().to_string());
  if (!sender) return sender.error();
  ends->to_server = std::move(*sender);
  return ends;
}

namespace {

std::optional<Placement> make_placement(Cpus mode) {
  const auto& cpus = startup_cpus();
  if (mode == Cpus::free) return Placement{};
  if (cpus.empty()) return std::nullopt;
  if (mode == Cpus::same) return Placement{mode, cpus[0], cpus[0], cpus[0]};
  if (cpus.size() < 2) return std::nullopt;
  return Placement{mode, cpus[0], cpus[1], -1};
}

// --- main --------------------------------------------------------------------------------------

bool parse_cpus(std::string_view list, Options& options) {
  options.cpus.clear();
  for (auto item : split_list(list)) {
    if (item == "free") {
      options.cpus.push_back(Cpus::free);
    } else if (item == "split") {
      options.cpus.push_back(Cpus::split);
    } else if (item == "same") {
      options.cpus.push_back(Cpus::same);
    } else {
      return false;
    }
  }
  return !options.cpus.empty();
}

bool parse_impls(std::string_view list, Options& options) {
  options.impls = {};
  for (auto item : split_list(list)) {
    const auto found = std::find(kImplNames.begin(), kImplNames.end(), item);
    if (found == kImplNames.end()) return false;
    options.impls[static_cast<std::size_t>(found - kImplNames.begin())] = true;
  }
  return true;
}

void set_quick(Options& options) {
  options.quick = true;
  options.rounds = 2;
  options.iterations = 200;
  options.warmup = 100;
  options.messages = 2'000;
  options.goodput_rounds = 1;
  options.limit_s = 10;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    bool good = true;
    if (arg == "--help" || arg == "-h") {
      options.help = true;
    } else if (arg == "--quick") {
      set_quick(options);
    } else if (arg == "--no-latency") {
      options.latency = false;
    } else if (arg == "--no-goodput") {
      options.goodput = false;
    } else if (arg.starts_with("--cpus=")) {
      good = parse_cpus(arg.substr(7), options);
    } else if (arg.starts_with("--impls=")) {
      good = parse_impls(arg.substr(8), options);
    } else if (!parse_count_flag(arg, "--rounds=", 1000, options.rounds) &&
               !parse_count_flag(arg, "--iterations=", 10'000'000, options.iterations) &&
               !parse_count_flag(arg, "--warmup=", 10'000'000, options.warmup) &&
               !parse_count_flag(arg, "--messages=", 100'000'000, options.messages) &&
               !parse_count_flag(arg, "--goodput-rounds=", 1000, options.goodput_rounds) &&
               !parse_count_flag(arg, "--limit=", 3600, options.limit_s) &&
               !parse_count_flag(arg, "--seed=", 2'000'000'000, options.seed) &&
               !parse_count_flag(arg, "--enet-queue=", 1'000'000, options.enet_queue) &&
               !parse_count_flag(arg, "--datagram=", 4096, options.datagram)) {
      good = false;
    }
    if (options.datagram < 576) good = false;  // ENet's range: 576..4096
    if (!good) return bad_flag("bench_rudp", argv[i]);
  }
  return options;
}

constexpr const char* kUsage =
    "usage: bench_rudp [--quick] [--rounds=N] [--iterations=N] [--messages=N] [more...]\n"
    "  --quick               a short smoke run (2 rounds x 200 round trips, 1 x 2000 "
    "messages, 10 s limit)\n"
    "  --rounds=N            latency rounds per case (default 10)\n"
    "  --iterations=N        round trips per impl per round (default 2000)\n"
    "  --warmup=N            round trips per impl before measuring (default 1000)\n"
    "  --messages=N          goodput: 1 KiB messages per impl per round (default 20000)\n"
    "  --goodput-rounds=N    goodput rounds per loss rate (default 5)\n"
    "  --limit=S             goodput: a round not done in S seconds did not finish (default "
    "60)\n"
    "  --seed=N              the fault plans' seed (default 20260214)\n"
    "  --enet-queue=N        ENet sender: packets queued, not yet acknowledged (default 512)\n"
    "  --datagram=N          nexo's and ENet's largest datagram, 576..4096 (default 1400)\n"
    "  --no-latency, --no-goodput   skip a section\n"
    "  --cpus=LIST           placements among free,split,same (default free)\n"
    "  --impls=LIST          implementations among nexo,enet,tcp,raw,nexo-direct,enet-direct,\n"
    "                        nexo-16k (default all; the -direct ones skip the proxy, 0%% loss\n"
    "                        only; nexo-16k runs in the goodput section only)\n";

void print_header(const Options& options, const std::vector<Placement>& placements) {
  const ENetVersion v = ::enet_linked_version();
  std::printf(
      "bench_rudp: nexo rudp:// beside ENet %u.%u.%u (reliable channel) through the same fault "
      "proxy, and TCP, all on 127.0.0.1%s\n",
      ENET_VERSION_GET_MAJOR(v), ENET_VERSION_GET_MINOR(v), ENET_VERSION_GET_PATCH(v),
      options.quick ? " (--quick: a smoke run, numbers are rough)" : "");
  std::string cpu_list;
  for (int cpu : startup_cpus())
    cpu_list += (cpu_list.empty() ? "" : ",") + std::to_string(cpu);
  std::printf(
      "machine: %u cores (std::thread::hardware_concurrency), this process may use cpus %s\n",
      std::thread::hardware_concurrency(), cpu_list.c_str());
  for (const Placement& placement : placements)
    std::printf("placement %s\n", placement.describe().c_str());
  std::printf(
      "impls: nexo = rudp:// Port/Sender via the proxy; enet = ENet via the proxy; tcp = nexo "
      "tcp:// Port/Sender, direct; raw = blocking TCP sockets, TCP_NODELAY, direct; "
      "nexo-direct, enet-direct = nexo and enet without the proxy (0%% loss only: what the "
      "proxy's hop costs); nexo-16k = nexo via the proxy with its default datagrams, up to "
      "16 KiB on loopback (goodput only; larger datagrams than ENet's: not like for like)\n"
      "datagrams: nexo and enet at most %d bytes of UDP payload each (--datagram), small "
      "messages sharing one when they queue behind the window, ENet bundling commands "
      "likewise\n"
      "threads: nexo one I/O thread per side's Context beside the application thread; ENet "
      "none (the application services its host); the proxy one\n",
      options.datagram);
  std::printf("load average at start: %s\n", load_average().c_str());
}

// The whole run; main's exit status.
int run(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options || options->help) {
    std::fputs(kUsage, options ? stdout : stderr);
    return options ? 0 : 2;
  }
  ::signal(SIGPIPE, SIG_IGN);         // a peer gone mid-write is an error value, not a signal
  static_cast<void>(startup_cpus());  // the mask before anything is bound
  if (::enet_initialize() != 0) {
    std::fprintf(stderr, "bench_rudp: enet_initialize failed\n");
    return 1;
  }
  std::vector<Placement> placements;
  for (Cpus mode : options->cpus) {
    if (auto placement = make_placement(mode)) {
      placements.push_back(*placement);
    } else {
      std::printf("placement %s: skipped (not enough cpus)\n", cpus_name(mode));
    }
  }
  print_header(*options, placements);
  const auto start = Clock::now();
  bool all_ran = true;
  if (options->latency) all_ran = run_latency(*options, placements) && all_ran;
  if (options->goodput) all_ran = run_goodput(*options, placements) && all_ran;
  std::printf("\nload average at end: %s (other load on this machine disturbs the numbers)\n",
              load_average().c_str());
  std::printf("total %.1f s; benchmarks print, they never fail on a ratio\n",
              std::chrono::duration<double>(Clock::now() - start).count());
  ::enet_deinitialize();
  return all_ran ? 0 : 1;
}

}  // namespace
}  // namespace nexo::bench::rudp

int main(int argc, char** argv) {
  return nexo::bench::rudp::run(argc, argv);
}
