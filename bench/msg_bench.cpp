// bench_msg — nexo's message passing (msg::Port and msg::Sender over tcp://)
// beside ZeroMQ 4.3 (the C API, zmq.h) and raw POSIX TCP, measured side by
// side in one run, all over 127.0.0.1:
//   1. ping-pong latency, 64 B and 1 KiB messages (msg_latency.cpp);
//   2. one-way throughput of 64 B messages (msg_throughput.cpp);
//   3. memory per idle connection (msg_memory.cpp).
// Each file's comment says what it measures and how. This file: the flags,
// the helpers the sections share (msg_bench.hpp), and the run.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <zmq.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench_util.hpp"

namespace nexo::bench {

using net::FileDescriptor;

namespace {

void put_be32(std::byte* out, std::uint32_t value) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<std::byte>(value & 0xff);
    value >>= 8;
  }
}

std::uint32_t get_be32(const std::byte* in) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value = value << 8 | std::to_integer<std::uint32_t>(in[i]);
  return value;
}

}  // namespace

void make_frame(Bytes& frame, std::span<const std::byte> payload) {
  frame.resize(4 + payload.size());
  put_be32(frame.data(), static_cast<std::uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(frame.data() + 4, payload.data(), payload.size());
}

Result<std::span<const std::byte>> FrameReader::next(int fd) {
  for (;;) {
    const std::size_t have = end_ - begin_;
    if (have >= 4) {
      const std::size_t length = get_be32(buffer_.data() + begin_);
      if (length > buffer_.size() - 4) {
        return Error(ErrorKind::malformed, "frame of " + std::to_string(length) + " bytes");
      }
      if (have >= 4 + length) {
        const auto payload = std::span<const std::byte>(buffer_).subspan(begin_ + 4, length);
        begin_ += 4 + length;
        return payload;
      }
    }
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > 0) {  // keep the partial frame at the front
      std::memmove(buffer_.data(), buffer_.data() + begin_, have);
      begin_ = 0;
      end_ = have;
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

Result<std::string> zmq_bind_any(void* socket) {
  if (::zmq_bind(socket, "tcp://127.0.0.1:*") != 0) return zmq_failure("zmq_bind");
  std::array<char, 256> endpoint{};
  std::size_t length = endpoint.size();
  if (::zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint.data(), &length) != 0) {
    return zmq_failure("ZMQ_LAST_ENDPOINT");
  }
  return std::string(endpoint.data());
}

Result<ZmqEnds> open_zmq_ends(const Placement& placement, int server_type, int client_type,
                              std::chrono::milliseconds server_receive) {
  constexpr int kTimeoutMs = static_cast<int>(kTimeout.count());
  bind_thread(placement.server);  // the server context's threads start with its first socket
  auto server_context = zmq_context();
  if (!server_context) return server_context.error();
  auto server = zmq_open(server_context->get(), server_type,
                         static_cast<int>(server_receive.count()), kTimeoutMs);
  if (!server) return server.error();
  auto endpoint = zmq_bind_any(server->get());
  if (!endpoint) return endpoint.error();
  bind_thread(placement.client);
  auto client_context = zmq_context();
  if (!client_context) return client_context.error();
  auto client = zmq_open(client_context->get(), client_type, kTimeoutMs, kTimeoutMs);
  if (!client) return client.error();
  if (::zmq_connect(client->get(), endpoint->c_str()) != 0) return zmq_failure("zmq_connect");
  return ZmqEnds{std::move(*server_context), std::move(*client_context), std::move(*server),
                 std::move(*client)};
}

// --- nexo --------------------------------------------------------------------------------

Result<NexoEnds> open_nexo_ends(const Placement& placement) {
  bind_thread(placement.server);  // the Context's I/O thread inherits the binding
  auto server_context = msg::Context::create();
  if (!server_context) return server_context.error();
  bind_thread(placement.client);
  auto client_context = msg::Context::create();
  if (!client_context) return client_context.error();
  auto server_port = msg::Port::bind(**server_context, "tcp://127.0.0.1:0");
  if (!server_port) return server_port.error();
  auto to_server = msg::Sender::connect(**client_context, (*server_port)->uri().to_string());
  if (!to_server) return to_server.error();
  return NexoEnds{std::move(*server_context), std::move(*client_context), std::move(*server_port),
                  std::move(*to_server)};
}

namespace {

std::optional<Placement> make_placement(Cpus mode) {
  const auto& cpus = startup_cpus();
  if (mode == Cpus::free) return Placement{};
  if (cpus.empty()) return std::nullopt;
  if (mode == Cpus::same) return Placement{mode, cpus[0], cpus[0]};
  if (cpus.size() < 2) return std::nullopt;
  return Placement{mode, cpus[0], cpus[1]};
}

// --- main --------------------------------------------------------------------------------------

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    bool good = true;
    if (arg == "--help" || arg == "-h") {
      options.help = true;
    } else if (arg == "--quick") {
      options.quick = true;
      options.rounds = 2;
      options.iterations = 200;
      options.warmup = 100;
      options.messages = 20'000;
      options.throughput_rounds = 2;
      options.connections = 1'000;
    } else if (arg == "--no-memory") {
      options.memory = false;
    } else if (arg == "--no-latency") {
      options.latency = false;
    } else if (arg == "--no-throughput") {
      options.throughput = false;
    } else if (arg.starts_with("--cpus=")) {
      options.cpus.clear();
      for (auto item : split_list(arg.substr(7))) {
        if (item == "free") {
          options.cpus.push_back(Cpus::free);
        } else if (item == "split") {
          options.cpus.push_back(Cpus::split);
        } else if (item == "same") {
          options.cpus.push_back(Cpus::same);
        } else {
          good = false;
        }
      }
      good = good && !options.cpus.empty();
    } else if (arg.starts_with("--impls=")) {
      options.impls = {false, false, false};
      for (auto item : split_list(arg.substr(8))) {
        const auto found = std::find(kImplNames.begin(), kImplNames.end(), item);
        if (found == kImplNames.end()) {
          good = false;
        } else {
          options.impls[static_cast<std::size_t>(found - kImplNames.begin())] = true;
        }
      }
    } else if (!parse_count_flag(arg, "--rounds=", 1000, options.rounds) &&
               !parse_count_flag(arg, "--iterations=", 10'000'000, options.iterations) &&
               !parse_count_flag(arg, "--warmup=", 10'000'000, options.warmup) &&
               !parse_count_flag(arg, "--messages=", 100'000'000, options.messages) &&
               !parse_count_flag(arg, "--throughput-rounds=", 1000, options.throughput_rounds) &&
               !parse_count_flag(arg, "--connections=", 1'000'000, options.connections)) {
      good = false;
    }
    if (!good) return bad_flag("bench_msg", argv[i]);
  }
  return options;
}

constexpr const char* kUsage =
    "usage: bench_msg [--quick] [--rounds=N] [--iterations=N] [--no-memory] [more...]\n"
    "  --quick                 a short smoke run (2 rounds x 200, 2 x 20000 messages, 1000 "
    "connections)\n"
    "  --rounds=N              latency rounds per case (default 10)\n"
    "  --iterations=N          round trips per impl per round (default 2000)\n"
    "  --warmup=N              round trips per impl before measuring (default 1000)\n"
    "  --messages=N            throughput: messages per impl per round (default 200000)\n"
    "  --throughput-rounds=N   throughput rounds (default 5)\n"
    "  --connections=N         idle connections for the memory test (default 10000)\n"
    "  --no-memory, --no-latency, --no-throughput   skip a section\n"
    "  --cpus=LIST             placements among free,split,same (default free,split)\n"
    "  --impls=LIST            implementations among raw,zmq,nexo (default all; for "
    "profiling)\n";

// The whole run; main's exit status.
int run(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options || options->help) {
    std::fputs(kUsage, options ? stdout : stderr);
    return options ? 0 : 2;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a peer gone mid-write is an error value, not a signal
  raise_fd_limit();
  static_cast<void>(startup_cpus());  // the mask before anything is bound

  int major = 0, minor = 0, patch = 0;
  ::zmq_version(&major, &minor, &patch);
  std::printf(
      "bench_msg: nexo msg/ over tcp:// beside ZeroMQ %d.%d.%d and raw POSIX TCP, all on "
      "127.0.0.1%s\n",
      major, minor, patch, options->quick ? " (--quick: a smoke run, numbers are rough)" : "");
  std::string cpu_list;
  for (int cpu : startup_cpus())
    cpu_list += (cpu_list.empty() ? "" : ",") + std::to_string(cpu);
  std::printf(
      "machine: %u cores (std::thread::hardware_concurrency), this process may use cpus "
      "%s\n",
      std::thread::hardware_concurrency(), cpu_list.c_str());
  std::vector<Placement> placements;
  for (Cpus mode : options->cpus) {
    if (auto placement = make_placement(mode)) {
      placements.push_back(*placement);
      std::printf("placement %s\n", placement->describe().c_str());
    } else {
      std::printf("placement %s: skipped (not enough cpus)\n", cpus_name(mode));
    }
  }
  std::printf(
      "each side (client, server) has its own context: nexo one I/O thread, ZeroMQ one "
      "I/O thread (+ its reaper)\n");

  std::printf("load average at start: %s\n", load_average().c_str());
  const auto start = Clock::now();
  bool all_ran = true;
  if (options->latency) all_ran = run_latency(*options, placements) && all_ran;
  if (options->throughput) all_ran = run_throughput(*options, placements) && all_ran;
  if (options->memory) all_ran = run_memory(*options) && all_ran;
  std::printf("\nload average at end: %s (other load on this machine disturbs the numbers)\n",
              load_average().c_str());
  std::printf("total %.1f s; benchmarks print, they never fail on a ratio\n",
              std::chrono::duration<double>(Clock::now() - start).count());
  return all_ran ? 0 : 1;
}

}  // namespace
}  // namespace nexo::bench

int main(int argc, char** argv) {
  return nexo::bench::run(argc, argv);
}
