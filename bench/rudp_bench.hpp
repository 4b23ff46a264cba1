// What the two sections of bench_rudp (rudp_latency.cpp, rudp_goodput.cpp)
// share with its main (rudp_bench.cpp): the options, the implementations, and
// ENet's C API in RAII handles with the two ends of an ENet connection. The
// harness (harness.hpp, pairs.hpp, streams.hpp) gives the flags, placement,
// rounds, the raw TCP anchors and printing; nexo_ends.hpp gives nexo's ends
// (rudp:// through the fault proxy, tcp:// direct), each side with its own
// Context. The comment at the top of rudp_bench.cpp says what is measured and why.
#pragma once

#include <enet/enet.h>

#include <atomic>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "nexo/base/result.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/fault/proxy.hpp"
#include "nexo_ends.hpp"
#include "pairs.hpp"
#include "streams.hpp"

namespace nexo::bench::rudp {

// --- options ---------------------------------------------------------------------

// nexo: rudp:// through the proxy; enet: ENet through the proxy; tcp: nexo's
// tcp:// (direct: the proxy relays UDP only); raw: blocking TCP sockets
// (direct), one send() per message; raw-batched: the same, 64 messages per
// writev() (goodput only: batching as nexo does); nexo-direct, enet-direct:
// the first two without the proxy, at 0% loss only (information: what the
// proxy's hop costs each). nexo and enet send datagrams of the same size,
// --datagram (default 1400, ENet's default MTU; ENet's limit is 4096).
// nexo-16k: nexo through the proxy with its own default datagrams (up to
// 16 KiB on loopback; goodput only): larger datagrams than ENet may use, so
// fewer loss events per message — an extra row, not like for like.
enum Impl : std::size_t { kNexo, kEnet, kTcp, kRaw, kRawBatched, kNexoDirect, kEnetDirect, kNexoSmall };
inline constexpr std::size_t kImplCount = kNexoSmall + 1;
ImplChoice impl_choice();
// Whether an impl's datagrams go through the fault proxy (the others are TCP).
inline bool through_proxy(std::size_t impl) {
  return impl == kNexo || impl == kEnet || impl == kNexoSmall;
}

struct Options {
  LatencyRounds latency_rounds;                 // warm-up 1000, 10 rounds x 2000
  StreamRounds stream_rounds{20'000, 5, 60};    // goodput: messages, rounds, limit (s)
  int seed = 20260214;     // the fault plans' seed (the same for every impl)
  int enet_queue = 512;    // ENet sender: packets queued and not yet acknowledged, at most
  int datagram = 1400;     // nexo and ENet: the largest datagram (UDP payload) each sends
  std::vector<Cpus> cpus = {Cpus::free};
  ImplChoice impls = impl_choice();
  bool latency = true, goodput = true;
  bool quick = false;
};

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

// --- the sections: each prints its table and ratios; false if a case failed ------------

bool run_latency(const Options& options, const std::vector<Placement>& placements);
bool run_goodput(const Options& options, const std::vector<Placement>& placements);

}  // namespace nexo::bench::rudp
