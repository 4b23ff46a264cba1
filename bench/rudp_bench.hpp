// What the two sections of bench_rudp (rudp_latency.cpp, rudp_goodput.cpp)
// share with its main (rudp_bench.cpp): the options, the CPU placement,
// process-wide resource usage, the fault proxy in front of every UDP server,
// ENet's C API in RAII handles, a raw TCP pair, and the ends of a nexo
// connection (rudp:// through the proxy, tcp:// direct), each side with its
// own Context. The comment at the top of rudp_bench.cpp says what is measured
// and why.
#pragma once

#include <enet/enet.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_common.hpp"
#include "bench_util.hpp"
#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/fault/proxy.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::bench::rudp {

// --- options ---------------------------------------------------------------------

// nexo: rudp:// through the proxy; enet: ENet through the proxy; tcp: nexo's
// tcp:// (direct: the proxy relays UDP only); raw: blocking TCP sockets
// (direct); nexo-direct, enet-direct: the first two without the proxy, at 0%
// loss only (information: what the proxy's hop costs each). nexo and enet
// send datagrams of the same size, --datagram (default 1400, ENet's default
// MTU; ENet's limit is 4096). nexo-16k: nexo through the proxy with its own
// default datagrams (up to 16 KiB on loopback; goodput only): larger
// datagrams than ENet may use, so fewer loss events per message — an extra
// row, not like for like.
enum Impl : std::size_t {
  kNexo = 0,
  kEnet = 1,
  kTcp = 2,
  kRaw = 3,
  kNexoDirect = 4,
  kEnetDirect = 5,
  kNexoSmall = 6
};
inline constexpr std::size_t kImplCount = 7;
inline constexpr std::array<const char*, kImplCount> kImplNames = {
    "nexo", "enet", "tcp", "raw", "nexo-direct", "enet-direct", "nexo-16k"};
// Whether an impl's datagrams go through the fault proxy (the others are TCP).
inline bool through_proxy(std::size_t impl) {
  return impl == kNexo || impl == kEnet || impl == kNexoSmall;
}

struct Options {
  int rounds = 10;         // latency rounds per case
  int iterations = 2000;   // round trips per impl per round
  int warmup = 1000;       // round trips per impl before the first round
  int messages = 20'000;   // goodput: messages per impl per round
  int goodput_rounds = 5;  // goodput rounds per loss rate
  int limit_s = 60;        // goodput: a round not done by then "did not finish"
  int seed = 20260214;     // the fault plans' seed (the same for every impl)
  int enet_queue = 512;    // ENet sender: packets queued and not yet acknowledged, at most
  int datagram = 1400;     // nexo and ENet: the largest datagram (UDP payload) each sends
  std::vector<Cpus> cpus = {Cpus::free};
  std::array<bool, kImplCount> impls = {true, true, true, true, true, true, true};
  bool latency = true, goodput = true;
  bool quick = false, help = false;
};

// --- the fault proxy --------------------------------------------------------------------

// A fault::Proxy on 127.0.0.1 (a free port) relaying to 127.0.0.1:`target_port`
// with `plan`; its thread bound to placement.proxy. Leaves this thread bound
// to the client's cpu.
Result<std::unique_ptr<fault::Proxy>> start_proxy(const Placement& placement,
                                                  std::uint16_t target_port,
                                                  const fault::Plan& plan);

// --- ENet -------------------------------------------------------------------------------

struct EnetHostDeleter {
  void operator()(ENetHost* host) const noexcept { ::enet_host_destroy(host); }
};
using EnetHost = std::unique_ptr<ENetHost, EnetHostDeleter>;

// A connected ENet pair: the server host (one peer, one channel) on
// 127.0.0.1, the client host connected to it through a fault proxy (or
// direct, without a plan). No
// bandwidth limits (ENet's window is then its largest, 64 KiB), default
// throttle and timeouts: what a user gets. Proxy first: destroyed last.
struct EnetEnds {
  std::unique_ptr<fault::Proxy> proxy;  // null: direct
  EnetHost server, client;
  ENetPeer* to_server = nullptr;  // the client's peer (owned by `client`)
};

// The server host is serviced on a thread of its own and the client's on
// this one until both are connected (each then belongs to one thread at a
// time). Leaves this thread bound to the client's cpu.
Result<EnetEnds> open_enet_ends(const Placement& placement, const std::optional<fault::Plan>& plan,
                                int mtu);

// Services ENet hosts while the benchmark does not (between a pair's rounds),
// each on a thread of its own blocked in poll() 1 ms at a time, as an ENet
// application's loop would; nexo's I/O threads do the same for nexo. Left
// unserviced, the acknowledgements and pings of the pause would wait in the
// sockets until the next round, and ENet would take them as round-trip
// samples of hundreds of ms: smoothing in whole milliseconds with a gain of
// 1/8, it never lowers its estimate by less than 8 ms, so its retransmission
// timeout would stay inflated for the rest of the run (and a long enough
// pause would time the peer out). Packets received meanwhile are dropped.
class IdleService {
 public:
  IdleService() = default;
  IdleService(const IdleService&) = delete;
  IdleService& operator=(const IdleService&) = delete;
  ~IdleService() { stop(); }

  // Starts servicing each host (with its thread bound to its cpu).
  void start(std::initializer_list<std::pair<ENetHost*, int>> hosts);
  // Stops and joins: the hosts are the caller's again. Idempotent.
  void stop();

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// --- raw TCP ----------------------------------------------------------------------------

// Reads fixed-size records from a TCP stream in chunks of up to 64 KiB (both
// ends know the size: no length prefix).
class RecordReader {
 public:
  explicit RecordReader(std::size_t record) : record_(record), buffer_(kReadBuffer) {}

  // The next record, valid until the next call. Errors: closed at the end of
  // the stream; timed_out when SO_RCVTIMEO passes (the bytes of a partial
  // record are kept: calling again continues).
  Result<std::span<const std::byte>> next(int fd);

 private:
  std::size_t record_;
  Bytes buffer_;
  std::size_t begin_ = 0, end_ = 0;
};

// --- nexo -------------------------------------------------------------------------------

// Each side its own Context (created on its cpu: the I/O thread inherits the
// binding), a Port on the server side and the client's Sender to it (through
// the proxy, if there is one). Contexts first: destroyed last; then the proxy,
// so that the sender and the port close through it without lingering.
struct NexoEnds {
  std::unique_ptr<msg::Context> server_context, client_context;
  std::unique_ptr<fault::Proxy> proxy;  // rudp:// only
  std::unique_ptr<msg::Port> server_port;
  std::unique_ptr<msg::Sender> to_server;
};

// rudp:// through a proxy with `plan` (none: direct), in datagrams of up to
// `max_datagram` bytes (0: the sender's default). Leaves this thread bound to
// the client's cpu.
Result<NexoEnds> open_nexo_rudp_ends(const Placement& placement,
                                     const std::optional<fault::Plan>& plan,
                                     std::size_t max_datagram = 0);
// tcp:// direct. Leaves this thread bound to the client's cpu.
Result<NexoEnds> open_nexo_tcp_ends(const Placement& placement);

// --- the sections: each prints its table and ratios; false if a case failed ------------

bool run_latency(const Options& options, const std::vector<Placement>& placements);
bool run_goodput(const Options& options, const std::vector<Placement>& placements);

}  // namespace nexo::bench::rudp
