// bench_msg, section 3: memory per idle connection. A forked client process
// opens 10,000 TCP connections to one server and keeps them idle; the
// server's RSS (/proc/self/statm) before and after all are accepted gives
// bytes per connection (target for nexo < 8 KiB). nexo: a tcp:// Port,
// counted with port->connections(). ZeroMQ: a PULL socket, twice — with
// connections that complete the ZMTP 3.0 NULL handshake (the client writes the
// greeting and a READY command, as a PUSH peer would: an established idle
// connection, comparable to nexo's), and with plain connects that never
// handshake (libzmq holds those only until ZMQ_HANDSHAKE_IVL, 30 s: a
// different, transient state, printed for information). ZeroMQ's count comes
// from /proc/net/tcp (established, nothing left unread, nothing waiting in the
// accept queue). RSS is read after malloc_trim(0) so that heap
// freed-but-cached by the polling itself does not count; the untrimmed delta
// is printed too. Kernel socket memory is not in RSS. The forked client is
// killed if it outlives its deadline (and dies with this process).
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "msg_bench.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/port.hpp"
#include "pairs.hpp"

namespace nexo::bench {
namespace {

using namespace std::chrono_literals;
using net::FileDescriptor;

// Resident set size of this process, in bytes.
long rss_bytes() {
  long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * ::sysconf(_SC_PAGESIZE);
}

// The server sockets of local port `port` in /proc/net/tcp (127.0.0.1 is IPv4).
struct TcpTable {
  std::size_t established = 0;     // ESTABLISHED, accepted or still in the accept queue
  std::size_t nothing_unread = 0;  // ... of which with an empty receive queue
  std::size_t accept_queue = 0;    // the listener's connections not yet accepted
};

Result<TcpTable> scan_tcp_table(std::uint16_t port) {
  FILE* f = std::fopen("/proc/net/tcp", "r");
  if (f == nullptr) return Error::from_errno(errno, "open /proc/net/tcp");
  TcpTable table;
  std::array<char, 512> line{};
  bool header = true;
  while (std::fgets(line.data(), static_cast<int>(line.size()), f) != nullptr) {
    if (std::exchange(header, false)) continue;
    unsigned local_address = 0, local_port = 0, remote_address = 0, remote_port = 0, state = 0;
    unsigned long tx_queue = 0, rx_queue = 0;
    if (std::sscanf(line.data(), " %*u: %8X:%4X %8X:%4X %2X %8lX:%8lX", &local_address, &local_port,
                    &remote_address, &remote_port, &state, &tx_queue, &rx_queue) != 7) {
      continue;
    }
    if (local_port != port) continue;
    if (state == 0x0A) table.accept_queue += rx_queue;  // LISTEN: rx_queue is the accept queue
    if (state == 0x01) {
      ++table.established;
      if (rx_queue == 0) ++table.nothing_unread;
    }
  }
  std::fclose(f);
  return table;
}

// The ZMTP 3.0 greeting (NULL mechanism, as client) and READY (Socket-Type
// PUSH): what a PUSH socket writes on connecting, so that a PULL socket
// completes its handshake and attaches the connection.
constexpr std::array<unsigned char, 64 + 28> zmtp_hello() {
  std::array<unsigned char, 64 + 28> out{};
  out[0] = 0xff;  // signature: 0xff, 8 bytes of padding, 0x7f
  out[9] = 0x7f;
  out[10] = 3;  // version 3.0
  out[11] = 0;
  out[12] = 'N', out[13] = 'U', out[14] = 'L', out[15] = 'L';  // mechanism, 20 bytes
  // out[32] as-server 0, then 31 bytes of filler
  std::size_t i = 64;
  out[i++] = 0x04;  // a short command frame
  out[i++] = 26;    // its body: "\5READY" "\13Socket-Type" [0 0 0 4] "PUSH"
  constexpr std::string_view kReady("\x05READY\x0bSocket-Type\0\0\0\x04PUSH", 26);
  for (char c : kReady)
    out[i++] = static_cast<unsigned char>(c);
  return out;
}

struct ConnectorOrder {
  std::uint16_t port = 0;
  std::uint8_t zmtp = 0;
};
struct ConnectorReport {
  std::uint32_t connected = 0;
  std::int32_t error = 0;  // errno of the connect that failed, if one did
};

// Reads exactly `size` bytes by `deadline`. Only system calls: safe in the forked child.
bool read_by(int fd, void* out, std::size_t size, Clock::time_point deadline) {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t got = 0;
  while (got < size) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = ::read(fd, bytes + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// The forked client: waits for the order, opens the connections, reports,
// holds them idle until the parent closes the order pipe (or 120 s pass),
// then exits (the kernel closes them all). System calls only, no allocation.
[[noreturn]] void connector_main(int orders, int reports, std::span<int> fds, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the benchmark
  if (::getppid() != parent) ::_exit(3);
  raise_fd_limit();
  ConnectorOrder order;
  if (!read_by(orders, &order, sizeof order, Clock::now() + 60s)) ::_exit(4);
  static constexpr auto kHello = zmtp_hello();
  ConnectorReport report;
  sockaddr_in address = v4_address(kLoopbackV4, order.port);
  const timeval connect_timeout{5, 0};  // SO_SNDTIMEO bounds a blocking connect
  for (int& fd : fds) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &connect_timeout, sizeof connect_timeout) != 0 ||
        ::connect(fd, as_sockaddr(address), sizeof address) != 0) {
      report.error = errno;
      break;
    }
    if (order.zmtp != 0 && ::send(fd, kHello.data(), kHello.size(), MSG_NOSIGNAL) !=
                               static_cast<ssize_t>(kHello.size())) {
      report.error = errno;
      break;
    }
    ++report.connected;
  }
  if (::write(reports, &report, sizeof report) != static_cast<ssize_t>(sizeof report)) ::_exit(5);
  pollfd p{orders, POLLIN, 0};  // POLLHUP when the parent closes its end
  static_cast<void>(::poll(&p, 1, 120'000));
  ::_exit(0);
}

// The parent's handle on the forked client.
class Connector {
 public:
  // Forks the client now: call it before starting the server's threads.
  static Result<std::unique_ptr<Connector>> spawn(std::size_t count) {
    auto connector = std::unique_ptr<Connector>(new Connector(count));
    int orders[2], reports[2];
    if (::pipe2(orders, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe2");
    FileDescriptor order_read(orders[0]), order_write(orders[1]);
    if (::pipe2(reports, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe2");
    FileDescriptor report_read(reports[0]), report_write(reports[1]);
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno(errno, "fork");
    if (pid == 0) {
      ::close(orders[1]);
      ::close(reports[0]);
      connector_main(orders[0], reports[1], connector->fds_, parent);
    }
    connector->pid_ = pid;
    connector->orders_ = std::move(order_write);
    connector->reports_ = std::move(report_read);
    return connector;
  }
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;
  ~Connector() { static_cast<void>(stop()); }

  // Tells the client to connect to `port`; returns how many connections it opened.
  Result<std::size_t> connect(std::uint16_t port, bool zmtp) {
    const ConnectorOrder order{port, static_cast<std::uint8_t>(zmtp ? 1 : 0)};
    if (::write(orders_.get(), &order, sizeof order) != static_cast<ssize_t>(sizeof order)) {
      return Error::from_errno(errno, "write to the client process");
    }
    ConnectorReport report;
    if (!read_by(reports_.get(), &report, sizeof report, Clock::now() + 60s)) {
      return Error(ErrorKind::timed_out, "the client process did not report within 60 s");
    }
    if (report.connected < fds_.size()) {
      return Error::from_errno(report.error, "client process: connect " +
                                                 std::to_string(report.connected + 1) + " of " +
                                                 std::to_string(fds_.size()));
    }
    return static_cast<std::size_t>(report.connected);
  }

  // Makes the client exit (closing its connections) and reaps it; kills it if
  // it has not exited within 10 s. Idempotent.
  Result<void> stop() {
    if (pid_ <= 0) return ok();
    orders_.reset();
    const auto deadline = Clock::now() + 10s;
    int status = 0;
    for (;;) {
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_ || (done < 0 && errno != EINTR)) break;
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        static_cast<void>(::waitpid(pid_, &status, 0));
        pid_ = -1;
        return Error(ErrorKind::timed_out, "the client process had to be killed");
      }
      std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Error(ErrorKind::system,
                   "the client process ended with status " + std::to_string(status));
    }
    return ok();
  }

 private:
  explicit Connector(std::size_t count) : fds_(count, -1) {}

  std::vector<int> fds_;  // allocated before the fork: the child writes into its copy
  pid_t pid_ = -1;
  FileDescriptor orders_, reports_;
};

// A server holding idle connections: how many it has accepted.
class IdleServer {
 public:
  virtual ~IdleServer() = default;
  virtual std::uint16_t port() const = 0;
  virtual Result<std::size_t> held() = 0;
};

class NexoIdleServer final : public IdleServer {
 public:
  static Result<std::unique_ptr<IdleServer>> open() {
    auto context = msg::Context::create();
    if (!context) return context.error();
    auto port = msg::Port::bind(**context, "tcp://127.0.0.1:0");
    if (!port) return port.error();
    std::unique_ptr<IdleServer> out =
        std::make_unique<NexoIdleServer>(std::move(*context), std::move(*port));
    return out;
  }
  NexoIdleServer(std::unique_ptr<msg::Context> context, std::unique_ptr<msg::Port> port)
      : context_(std::move(context)), port_(std::move(port)) {}
  std::uint16_t port() const override { return port_->uri().port; }
  Result<std::size_t> held() override { return port_->connections().size(); }

 private:
  std::unique_ptr<msg::Context> context_;
  std::unique_ptr<msg::Port> port_;
};

class ZmqIdleServer final : public IdleServer {
 public:
  static Result<std::unique_ptr<IdleServer>> open() {
    auto context = zmq_context();
    if (!context) return context.error();
    auto pull = zmq_open(context->get(), ZMQ_PULL, -1, -1);
    if (!pull) return pull.error();
    // nexo's listener backlog, so that neither drops SYNs the other would queue.
    if (auto set = zmq_set(pull->get(), ZMQ_BACKLOG, 511, "ZMQ_BACKLOG"); !set) return set.error();
    auto endpoint = zmq_bind_to(pull->get(), "tcp://127.0.0.1:*");
    if (!endpoint) return endpoint.error();
    const auto colon = endpoint->rfind(':');
    const int port = std::atoi(endpoint->c_str() + colon + 1);
    std::unique_ptr<IdleServer> out = std::make_unique<ZmqIdleServer>(
        std::move(*context), std::move(*pull), static_cast<std::uint16_t>(port));
    return out;
  }
  ZmqIdleServer(ZmqContext context, ZmqSocket pull, std::uint16_t port)
      : context_(std::move(context)), pull_(std::move(pull)), port_(port) {}
  std::uint16_t port() const override { return port_; }
  // Accepted (not in the accept queue) and read to the end (the handshake
  // bytes, if any, consumed): the minimum of the two counts.
  Result<std::size_t> held() override {
    auto table = scan_tcp_table(port_);
    if (!table) return table.error();
    const std::size_t accepted =
        table->established - std::min(table->accept_queue, table->established);
    return std::min(accepted, table->nothing_unread);
  }

 private:
  ZmqContext context_;
  ZmqSocket pull_;
  std::uint16_t port_;
};

struct MemoryResult {
  std::string name;
  std::size_t connections = 0;
  long before = 0, after = 0;          // after malloc_trim(0)
  long before_raw = 0, after_raw = 0;  // as found
  std::string note;
};

long trimmed_rss() {
  ::malloc_trim(0);
  return rss_bytes();
}

// Waits until `server` holds `target` connections (or, with at_most, at most
// that many); false at the deadline.
Result<bool> wait_held(IdleServer& server, std::size_t target, bool at_most,
                       std::chrono::seconds limit, std::size_t& last) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    auto held = server.held();
    if (!held) return held.error();
    last = *held;
    if (at_most ? last <= target : last >= target) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

template <class Open>
Result<MemoryResult> measure_memory(std::string name, std::size_t count, bool zmtp, Open&& open) {
  auto connector = Connector::spawn(count);  // before the server's threads exist
  if (!connector) return connector.error();
  auto server = open();
  if (!server) return server.error();
  std::this_thread::sleep_for(100ms);
  MemoryResult result;
  result.name = std::move(name);
  result.before_raw = rss_bytes();
  result.before = trimmed_rss();
  auto connected = (*connector)->connect((*server)->port(), zmtp);
  if (!connected) return connected.error();
  std::size_t held = 0;
  auto all = wait_held(**server, *connected, false, 30s, held);
  if (!all) return all.error();
  if (!*all) {
    return Error(ErrorKind::timed_out, "the server holds " + std::to_string(held) + " of " +
                                           std::to_string(*connected) + " connections after 30 s");
  }
  std::this_thread::sleep_for(300ms);  // let the I/O thread finish with the last ones
  result.after_raw = rss_bytes();
  result.after = trimmed_rss();
  result.connections = *connected;
  if (auto again = (*server)->held(); !again || *again != *connected) {
    result.note = "connections were lost while measuring";
  }
  // Cleanup, checked: the client exits, the server sees every connection end.
  if (auto stopped = (*connector)->stop(); !stopped) return stopped.error();
  auto drained = wait_held(**server, 0, true, 15s, held);
  if (!drained) return drained.error();
  if (!*drained) {
    result.note += (result.note.empty() ? "" : "; ") + std::to_string(held) +
                   " connections still open 15 s after the client exited";
  }
  return result;
}

}  // namespace

bool run_memory(const Options& options) {
  const auto count = static_cast<std::size_t>(options.connections);
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  std::printf(
      "\n== 3. memory per idle connection: a forked client opens %zu TCP connections to "
      "one server and keeps them idle\n",
      count);
  std::printf(
      "server RSS from /proc/self/statm, before and after all are held; 'trimmed' after "
      "malloc_trim(0) (the headline), 'raw' as found. Kernel socket memory is not in RSS.\n");
  std::printf("RLIMIT_NOFILE raised to the hard limit in both processes: %llu\n",
              static_cast<unsigned long long>(limit.rlim_cur));
  std::printf(
      "  nexo               tcp:// Port, connections that never send (counted by "
      "port->connections())\n");
  std::printf(
      "  zmq (handshaken)   PULL socket; each connection completes the ZMTP 3.0 NULL "
      "handshake as a PUSH peer, then stays idle\n");
  std::printf(
      "  zmq (no handshake) plain connects: libzmq holds them only until "
      "ZMQ_HANDSHAKE_IVL (30 s) — a transient state, for information\n\n");
  std::printf("%-19s %6s %12s %12s %12s %12s\n", "impl", "conns", "before_KiB", "after_KiB",
              "B/conn", "B/conn_raw");
  struct Case {
    const char* name;
    std::size_t impl;
    bool zmtp;
  };
  bool all_ran = true;
  std::optional<double> nexo_per_connection, zmq_per_connection;
  for (const Case c : {Case{"nexo", kNexo, false}, Case{"zmq (handshaken)", kZmq, true},
                       Case{"zmq (no handshake)", kZmq, false}}) {
    if (!options.impls.on(c.impl)) continue;
    auto result = c.impl == kNexo
                      ? measure_memory(c.name, count, false, [] { return NexoIdleServer::open(); })
                      : measure_memory(c.name, count, c.zmtp, [] { return ZmqIdleServer::open(); });
    if (!result) {
      std::fprintf(stderr, "bench_msg: memory %s: %s\n", c.name, result.error().message().c_str());
      all_ran = false;
      continue;
    }
    const double n = static_cast<double>(result->connections);
    const double per = static_cast<double>(result->after - result->before) / n;
    const double per_raw = static_cast<double>(result->after_raw - result->before_raw) / n;
    std::printf("%-19s %6zu %12ld %12ld %12.0f %12.0f%s%s\n", c.name, result->connections,
                result->before / 1024, result->after / 1024, per, per_raw,
                result->note.empty() ? "" : "  note: ", result->note.c_str());
    if (c.impl == kNexo) nexo_per_connection = per;
    if (c.impl == kZmq && c.zmtp) zmq_per_connection = per;
    std::fflush(stdout);
  }
  if (nexo_per_connection) {
    std::printf("\nnexo: %.0f B per idle connection (target < 8192: %s)", *nexo_per_connection,
                verdict(*nexo_per_connection < 8192));
    if (zmq_per_connection) {
      std::printf("; zmq (handshaken) %.0f B: nexo/zmq %.3f", *zmq_per_connection,
                  *nexo_per_connection / *zmq_per_connection);
    }
    std::printf("\n");
  }
  std::fflush(stdout);
  return all_ran;
}

}  // namespace nexo::bench
