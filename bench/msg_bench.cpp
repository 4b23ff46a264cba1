// bench_msg — nexo's message passing (msg::Port and msg::Sender over tcp://)
// beside ZeroMQ 4.3 (the C API, zmq.h) and raw POSIX TCP, measured side by
// side in one run, all over 127.0.0.1:
//   1. ping-pong latency, 64 B and 1 KiB messages (msg_latency.cpp);
//   2. one-way throughput of 64 B messages (msg_throughput.cpp), beside a raw
//      TCP baseline that batches (writev of many messages) as nexo does;
//   3. memory per idle connection (msg_memory.cpp).
// Sections 1 and 2 run over ipc:// too (Unix-domain stream sockets): raw
// (socketpair), ZeroMQ ipc:// and nexo ipc://. ZeroMQ buffers as nexo does (ZmqBuffers in
// msg_bench.hpp names each setting). Each file's comment says what it
// measures and how. This file: the flags, the ZeroMQ helpers, and the run.
//
// CPU placement. nexo and ZeroMQ both run an I/O thread per context beside the
// application thread, so a message crosses threads that raw sockets do not
// have; binding every thread to one CPU (bench_pingpong's default) would make
// each of those hops a context switch on one core and decide the comparison
// by the scheduler's time slice rather than by the design. With 2 cores, the
// placements measured are:
//   free   no thread bound: the scheduler decides (what a user gets by default);
//   split  the client side (the client thread and the threads of its context)
//          bound to one cpu, the server side to the other: two processes, each
//          pinned to a core of its own.
// (--cpus=same binds everything to one cpu, for reference only.) Threads are
// bound by inheritance: each side's context (whose first socket starts
// ZeroMQ's threads) is created while the creating thread is bound to that
// side's cpu, and its application thread is bound explicitly. Every number in
// the tables is labelled with its placement. Within a case the implementations
// alternate in rounds (the first one rotating) after a warm-up, so that drift
// falls on all alike.
//
// Benchmarks print, they never gate: the targets are printed beside the
// ratios, never enforced. Exit status 1 only if a case failed (printed), 2 for
// bad arguments. Every blocking call has a deadline; the forked client is
// killed if it outlives its deadline (and dies with this process).
#include "msg_bench.hpp"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

#include "nexo/msg/frame.hpp"
#include "nexo/msg/transport.hpp"

namespace nexo::bench {

ImplChoice impl_choice() {
  return ImplChoice({"raw", "zmq", "nexo", "raw-batched", "raw-ipc", "zmq-ipc", "nexo-ipc"});
}

// --- ZeroMQ ----------------------------------------------------------------------------

Error zmq_failure(std::string_view what) {
  const int err = ::zmq_errno();
  if (err == EAGAIN) {
    return Error(ErrorKind::timed_out, std::string(what) + ": not done within the deadline", err);
  }
  return Error(ErrorKind::system, std::string(what) + ": " + ::zmq_strerror(err), err);
}

Result<void> zmq_set(void* socket, int option, int value, std::string_view what) {
  if (::zmq_setsockopt(socket, option, &value, sizeof value) != 0) return zmq_failure(what);
  return ok();
}

Result<ZmqSocket> zmq_open(void* context, int type, int receive_ms, int send_ms) {
  ZmqSocket socket(::zmq_socket(context, type));
  if (!socket) return zmq_failure("zmq_socket");
  for (auto [option, value] : {std::pair{ZMQ_LINGER, 0}, std::pair{ZMQ_RCVTIMEO, receive_ms},
                               std::pair{ZMQ_SNDTIMEO, send_ms}}) {
    if (auto set = zmq_set(socket.get(), option, value, "zmq_setsockopt"); !set) {
      return set.error();
    }
  }
  return socket;
}

Result<ZmqContext> zmq_context() {
  ZmqContext context(::zmq_ctx_new());
  if (!context) return zmq_failure("zmq_ctx_new");
  return context;
}

Result<std::string> zmq_bind_to(void* socket, const std::string& endpoint) {
  if (::zmq_bind(socket, endpoint.c_str()) != 0) return zmq_failure("zmq_bind " + endpoint);
  std::array<char, 256> bound{};
  std::size_t length = bound.size();
  if (::zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, bound.data(), &length) != 0) {
    return zmq_failure("ZMQ_LAST_ENDPOINT");
  }
  return std::string(bound.data());
}

ZmqBuffers ZmqBuffers::like_nexo(std::size_t message_size) {
  const msg::SenderOptions sender;
  const msg::PortOptions port;
  const std::size_t frame = msg::frame::header_size(msg::frame::kData) + message_size;
  auto frames = [frame](std::size_t bytes) {
    return static_cast<int>(std::min<std::size_t>(bytes / frame, 1'000'000'000));
  };
  return {frames(sender.max_queued_bytes), static_cast<int>(sender.replies.max_messages),
          frames(port.max_reply_backlog), static_cast<int>(port.queue.max_messages)};
}

std::string ZmqBuffers::describe() const {
  return "client ZMQ_SNDHWM " + std::to_string(client_sndhwm) + " (nexo's 16 MiB send buffer in "
         "frames), server ZMQ_RCVHWM " + std::to_string(server_rcvhwm) +
         " (nexo's port queue), server ZMQ_SNDHWM " + std::to_string(server_sndhwm) +
         ", client ZMQ_RCVHWM " + std::to_string(client_rcvhwm) +
         " (replies), ZMQ_SNDBUF/RCVBUF -1 (kernel defaults, as nexo)";
}

namespace {

Result<void> zmq_buffer(void* socket, int sndhwm, int rcvhwm) {
  for (auto [option, value, what] :
       {std::tuple{ZMQ_SNDHWM, sndhwm, "ZMQ_SNDHWM"}, std::tuple{ZMQ_RCVHWM, rcvhwm, "ZMQ_RCVHWM"},
        std::tuple{ZMQ_SNDBUF, -1, "ZMQ_SNDBUF"}, std::tuple{ZMQ_RCVBUF, -1, "ZMQ_RCVBUF"}}) {
    if (auto set = zmq_set(socket, option, value, what); !set) return set;
  }
  return ok();
}

// A ZeroMQ socket of `type` in a new context made on `cpu`, buffered as asked.
Result<std::pair<ZmqContext, ZmqSocket>> zmq_side(int cpu, int type, int receive_ms,
                                                  int sndhwm, int rcvhwm) {
  bind_thread(cpu);  // the context's threads start with its first socket
  auto context = zmq_context();
  if (!context) return context.error();
  auto socket = zmq_open(context->get(), type, receive_ms, static_cast<int>(kTimeout.count()));
  if (!socket) return socket.error();
  if (auto set = zmq_buffer(socket->get(), sndhwm, rcvhwm); !set) return set.error();
  return std::pair{std::move(*context), std::move(*socket)};
}

}  // namespace

Result<ZmqEnds> open_zmq_ends(const Placement& placement, const std::string& endpoint,
                              int server_type, int client_type,
                              std::chrono::milliseconds server_receive, std::size_t message_size) {
  const auto buffers = ZmqBuffers::like_nexo(message_size);
  auto server = zmq_side(placement.server, server_type, static_cast<int>(server_receive.count()),
                         buffers.server_sndhwm, buffers.server_rcvhwm);
  if (!server) return server.error();
  auto bound = zmq_bind_to(server->second.get(), endpoint);
  if (!bound) return bound.error();
  auto client = zmq_side(placement.client, client_type, static_cast<int>(kTimeout.count()),
                         buffers.client_sndhwm, buffers.client_rcvhwm);
  if (!client) return client.error();
  if (::zmq_connect(client->second.get(), bound->c_str()) != 0) return zmq_failure("zmq_connect");
  return ZmqEnds{std::move(server->first), std::move(client->first), std::move(server->second),
                 std::move(client->second)};
}

// --- ipc:// --------------------------------------------------------------------------

namespace {

std::string& ipc_directory() {
  static std::string directory;
  return directory;
}

void remove_ipc_directory() {
  if (ipc_directory().empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(ipc_directory(), ignored);
}

}  // namespace

std::string ipc_path() {
  static std::atomic<int> next{0};
  if (ipc_directory().empty()) {
    std::string pattern = "/tmp/nexo-bench-msg-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) {
      ipc_directory() = pattern;
      std::atexit(remove_ipc_directory);
    }
  }
  return ipc_directory() + "/s" + std::to_string(next++);
}

std::string zmq_endpoint(std::size_t impl) {
  return is_ipc(impl) ? "ipc://" + ipc_path() : "tcp://127.0.0.1:*";
}

namespace {

// --- main --------------------------------------------------------------------------------------

void set_quick(Options& o) {
  o.quick = true;
  o.latency_rounds = {100, 2, 200};
  o.stream_rounds.messages = 20'000;
  o.stream_rounds.rounds = 2;
  o.connections = 1'000;
}

Flags flags(Options& o) {
  Flags f("bench_msg");
  f.action("--quick", [&o] { set_quick(o); },
           "a short smoke run (2 rounds x 200, 2 x 20000 messages, 1000 connections)")
      .count("--messages", o.stream_rounds.messages, 100'000'000,
             "throughput: messages per impl per round (default 200000)")
      .count("--throughput-rounds", o.stream_rounds.rounds, 1000, "throughput rounds (default 5)")
      .count("--connections", o.connections, 1'000'000,
             "idle connections for the memory test (default 10000)")
      .flag("--no-memory", o.memory, false, "skip the memory section")
      .flag("--no-latency", o.latency, false, "skip the latency section")
      .flag("--no-throughput", o.throughput, false, "skip the throughput section")
      .value("--cpus", [&o](std::string_view v) { return parse_cpus(v, o.cpus); },
             "placements among free,split,same (default free,split)")
      .value("--impls", [&o](std::string_view v) { return o.impls.parse(v); },
             "implementations among " + o.impls.joined() + " (default all)");
  add_latency_flags(f, o.latency_rounds);
  return f;
}

// The whole run; main's exit status.
int run(int argc, char** argv) {
  Options options;
  if (auto status = begin_run(flags(options), argc, argv)) return *status;
  raise_fd_limit();

  int major = 0, minor = 0, patch = 0;
  ::zmq_version(&major, &minor, &patch);
  std::printf(
      "bench_msg: nexo msg/ over tcp:// beside ZeroMQ %d.%d.%d and raw POSIX TCP, all on "
      "127.0.0.1%s\n",
      major, minor, patch, options.quick ? " (--quick: a smoke run, numbers are rough)" : "");
  print_machine();
  const auto placements = make_placements(options.cpus);
  std::printf(
      "each side (client, server) has its own context: nexo one I/O thread, ZeroMQ one "
      "I/O thread (+ its reaper)\n");
  std::printf("ZeroMQ buffering as nexo's (64 B messages): %s\n",
              ZmqBuffers::like_nexo(64).describe().c_str());
  const auto start = Clock::now();
  bool all_ran = true;
  if (options.latency) all_ran = run_latency(options, placements) && all_ran;
  if (options.throughput) all_ran = run_throughput(options, placements) && all_ran;
  if (options.memory) all_ran = run_memory(options) && all_ran;
  print_end(start);
  return all_ran ? 0 : 1;
}

}  // namespace
}  // namespace nexo::bench

int main(int argc, char** argv) {
  return nexo::bench::run(argc, argv);
}
