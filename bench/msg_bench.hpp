// What the three sections of bench_msg (msg_latency.cpp, msg_throughput.cpp,
// msg_memory.cpp) share with its main (msg_bench.cpp): the options, the
// implementations, and ZeroMQ's C API in RAII handles with the two ends of a
// ZeroMQ connection, each with its own context and nexo's buffering. The
// comment at the top of msg_bench.cpp says what is measured and why.
#pragma once

#include <zmq.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "nexo_ends.hpp"
#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"
#include "pairs.hpp"
#include "streams.hpp"

namespace nexo::bench {

// --- options -------------------------------------------------------------------

// tcp:// on 127.0.0.1: raw, zmq, nexo; raw-batched: raw TCP writing 64 frames
// per writev (throughput only); ipc://: the same three over Unix-domain stream
// sockets (raw: socketpair(2); nexo-ipc runs once nexo has ipc://).
enum Impl : std::size_t {
  kRaw = 0,
  kZmq = 1,
  kNexo = 2,
  kRawBatched = 3,
  kRawIpc = 4,
  kZmqIpc = 5,
  kNexoIpc = 6,
  kImplCount = 7
};
ImplChoice impl_choice();
inline bool is_ipc(std::size_t impl) {
  return impl >= kRawIpc;
}

struct Options {
  LatencyRounds latency_rounds;
  StreamRounds stream_rounds{200'000, 5, 60};
  int connections = 10'000;
  std::vector<Cpus> cpus = {Cpus::free, Cpus::split};
  ImplChoice impls = impl_choice();
  bool latency = true, throughput = true, memory = true;
  bool quick = false;
};

// --- ZeroMQ ---------------------------------------------------------------------------

struct ZmqContextDeleter {
  void operator()(void* context) const noexcept { ::zmq_ctx_term(context); }
};
struct ZmqSocketDeleter {
  void operator()(void* socket) const noexcept { ::zmq_close(socket); }
};
using ZmqContext = std::unique_ptr<void, ZmqContextDeleter>;
using ZmqSocket = std::unique_ptr<void, ZmqSocketDeleter>;

// zmq_errno() as an Error: EAGAIN is a deadline passing.
Error zmq_failure(std::string_view what);
Result<void> zmq_set(void* socket, int option, int value, std::string_view what);
// A socket of `type` in `context`, with linger 0 and the given timeouts (ms; -1 for none).
Result<ZmqSocket> zmq_open(void* context, int type, int receive_ms, int send_ms);
Result<ZmqContext> zmq_context();
// Binds `socket` to `endpoint` ("tcp://127.0.0.1:*", "ipc://PATH"); returns
// the endpoint it has (the real port).
Result<std::string> zmq_bind_to(void* socket, const std::string& endpoint);

// Two connected ZeroMQ sockets, each side with its own context created on its
// cpu. Contexts first: destroyed last, after their sockets.
struct ZmqEnds {
  ZmqContext server_context, client_context;
  ZmqSocket server, client;
};

// How each ZeroMQ socket buffers, matched to what nexo's defaults hold for
// messages of `message_size` bytes (msg::SenderOptions, msg::PortOptions):
//   client ZMQ_SNDHWM  = the sender's local buffer (max_queued_bytes) in frames
//   server ZMQ_RCVHWM  = the port's queue (QueueLimits::max_messages)
//   server ZMQ_SNDHWM  = the port's reply backlog (max_reply_backlog) in frames
//   client ZMQ_RCVHWM  = the sender's reply queue (replies.max_messages)
//   ZMQ_SNDBUF, ZMQ_RCVBUF = -1 on both: the kernel's defaults, which nexo keeps
struct ZmqBuffers {
  int client_sndhwm, client_rcvhwm, server_sndhwm, server_rcvhwm;
  static ZmqBuffers like_nexo(std::size_t message_size);
  std::string describe() const;
};

// The server socket (`server_type`, receive timeout `server_receive`) bound to
// `endpoint`, the client socket (`client_type`) connected to it; all other
// timeouts kTimeout; buffers as ZmqBuffers::like_nexo(message_size). Leaves
// this thread bound to the client's cpu.
Result<ZmqEnds> open_zmq_ends(const Placement& placement, const std::string& endpoint,
                              int server_type, int client_type,
                              std::chrono::milliseconds server_receive, std::size_t message_size);

// --- ipc:// --------------------------------------------------------------------------

// A fresh path for an ipc:// endpoint in this run's directory under /tmp
// (removed at exit).
std::string ipc_path();
// ZeroMQ's endpoint for a server socket: tcp://127.0.0.1:* or, for the ipc
// impls, ipc:// at a fresh path.
std::string zmq_endpoint(std::size_t impl);

// nexo's ends for `impl` (kNexo: tcp://, kNexoIpc: ipc://) made into a pair or
// a stream by `make(NexoEnds)`. Errors: those of binding and connecting.
template <class Base, class Make>
Result<std::unique_ptr<Base>> with_nexo_ends(const Placement& placement, std::size_t impl,
                                             Make make) {
  auto ends = open_nexo_ends(placement,
                             impl == kNexoIpc ? "ipc://" + ipc_path() : "tcp://127.0.0.1:0");
  if (!ends) return ends.error();
  return std::unique_ptr<Base>(make(std::move(*ends)));
}

// --- the sections: each prints its table and ratios; false if a case failed ------------

bool run_latency(const Options& options, const std::vector<Placement>& placements);
bool run_throughput(const Options& options, const std::vector<Placement>& placements);
bool run_memory(const Options& options);

}  // namespace nexo::bench
