// What the three sections of bench_msg (msg_latency.cpp, msg_throughput.cpp,
// msg_memory.cpp) share with its main (msg_bench.cpp): the options, the CPU
// placement, process-wide resource usage, the framed raw TCP pair, ZeroMQ's C
// API in RAII handles, and the two ends of a nexo or ZeroMQ connection each
// with its own context. The comment at the top of msg_bench.cpp says what is
// measured and why.
#pragma once

#include <zmq.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_common.hpp"
#include "bench_util.hpp"
#include "nexo/base/bytes.hpp"
#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::bench {

// --- options -------------------------------------------------------------------

enum Impl : std::size_t { kRaw = 0, kZmq = 1, kNexo = 2 };
inline constexpr std::array<const char*, 3> kImplNames = {"raw", "zmq", "nexo"};

struct Options {
  int rounds = 10;
  int iterations = 2000;   // round trips per impl per round
  int warmup = 1000;       // round trips per impl before the first round
  int messages = 200'000;  // throughput: messages per impl per round
  int throughput_rounds = 5;
  int connections = 10'000;
  std::vector<Cpus> cpus = {Cpus::free, Cpus::split};
  std::array<bool, 3> impls = {true, true, true};
  bool latency = true, throughput = true, memory = true;
  bool quick = false, help = false;
};

// RLIMIT_NOFILE up to its hard limit.
void raise_fd_limit();

// --- raw TCP ----------------------------------------------------------------------------

// Writes [u32 big-endian length][payload] into `frame` (resized) for one send().
void make_frame(Bytes& frame, std::span<const std::byte> payload);

// Cuts length-prefixed frames out of a TCP stream read in chunks of up to 64 KiB.
class FrameReader {
 public:
  FrameReader() : buffer_(kReadBuffer) {}

  // The next frame's payload, valid until the next call. Errors: closed at the
  // end of the stream; timed_out when SO_RCVTIMEO passes (the bytes of a
  // partial frame are kept: calling again continues).
  Result<std::span<const std::byte>> next(int fd);

 private:
  Bytes buffer_;
  std::size_t begin_ = 0, end_ = 0;
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
// Binds `socket` to a free port of 127.0.0.1; returns the endpoint ("tcp://127.0.0.1:N").
Result<std::string> zmq_bind_any(void* socket);

// Two connected ZeroMQ sockets, each side with its own context created on its
// cpu. Contexts first: destroyed last, after their sockets.
struct ZmqEnds {
  ZmqContext server_context, client_context;
  ZmqSocket server, client;
};

// The server socket (`server_type`, receive timeout `server_receive`) bound to
// 127.0.0.1, the client socket (`client_type`) connected to it; all other
// timeouts kTimeout. Leaves this thread bound to the client's cpu.
Result<ZmqEnds> open_zmq_ends(const Placement& placement, int server_type, int client_type,
                              std::chrono::milliseconds server_receive);

// --- nexo -----------------------------------------------------------------------------

// Each side its own Context (created on its cpu: the I/O thread inherits the
// binding), a Port on the server side and the client's Sender to it. Contexts
// first: destroyed after the port and the sender.
struct NexoEnds {
  std::unique_ptr<msg::Context> server_context, client_context;
  std::unique_ptr<msg::Port> server_port;
  std::unique_ptr<msg::Sender> to_server;
};

// Leaves this thread bound to the client's cpu.
Result<NexoEnds> open_nexo_ends(const Placement& placement);

// Opens the enabled impls (Raw, Zmq, Nexo: each with a static open(placement)
// that returns a `T`, a ping-pong pair or a stream) into `out`, this thread
// bound to the client's cpu after each; returns the impls opened, in order.
template <class Raw, class Zmq, class Nexo, class T>
Result<std::vector<std::size_t>> open_impls(const Options& options, const Placement& placement,
                                            std::array<std::unique_ptr<T>, 3>& out) {
  std::vector<std::size_t> impls;
  for (std::size_t impl = 0; impl < 3; ++impl) {
    if (!options.impls[impl]) continue;
    auto opened = impl == kRaw   ? Raw::open(placement)
                  : impl == kZmq ? Zmq::open(placement)
                                 : Nexo::open(placement);
    bind_thread(placement.client);  // open() may have bound this thread to the server's cpu
    if (!opened) return opened.error().with_context(kImplNames[impl]);
    out[impl] = std::move(*opened);
    impls.push_back(impl);
  }
  return impls;
}

// --- the sections: each prints its table and ratios; false if a case failed ------------

bool run_latency(const Options& options, const std::vector<Placement>& placements);
bool run_throughput(const Options& options, const std::vector<Placement>& placements);
bool run_memory(const Options& options);

}  // namespace nexo::bench
