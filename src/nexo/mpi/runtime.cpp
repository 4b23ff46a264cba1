#include "nexo/mpi/runtime.hpp"

#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include "nexo/mpi/control.hpp"
#include "nexo/mpi/shm.hpp"
#include "nexo/mpi/shm_pull.hpp"
#include "nexo/mpi/tcp.hpp"
#include "nexo/mpi/trace.hpp"

namespace nexo::mpi {

// A mixed job's watcher (see runtime.hpp): a thread that sleeps in an epoll of its own on the
// rank's TCP sockets and rings the rank's shared-memory doorbell when one is readable, or
// writable while output waits for room there. It never touches the sockets' data. Each socket
// fires once (EPOLLONESHOT) and stays quiet until the rank arms the watcher again, just before
// it sleeps: a rank that is busy or spinning (and looks at its sockets itself) pays no thread
// wake-up per message. Level-triggered: data (or room) that came before arm() fires at once, so
// none is missed.
class TcpWatcher {
 public:
  static Result<std::unique_ptr<TcpWatcher>> start(const TcpWorld& tcp, ShmWorld& shm,
                                                   int local_rank) {
    std::unique_ptr<TcpWatcher> w(new TcpWatcher);
    tcp.sockets(w->sockets_);
    w->epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (w->epoll_ < 0) return Error::from_errno(errno, "TCP watcher: epoll_create1");
    w->stop_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->stop_ < 0) return Error::from_errno(errno, "TCP watcher: eventfd");
    epoll_event stop{};
    stop.events = EPOLLIN;
    stop.data.fd = w->stop_;
    if (::epoll_ctl(w->epoll_, EPOLL_CTL_ADD, w->stop_, &stop) != 0)
      return Error::from_errno(errno, "TCP watcher: epoll_ctl of its stop event");
    for (const auto& socket : w->sockets_) {
      epoll_event e{};
      e.events = events_for(socket);
      e.data.fd = socket.fd;
      if (::epoll_ctl(w->epoll_, EPOLL_CTL_ADD, socket.fd, &e) != 0)
        return Error::from_errno(errno,
                                 "TCP watcher: epoll_ctl of socket " + std::to_string(socket.fd));
    }
    w->thread_ =
        std::thread([watcher = w.get(), &shm, local_rank] { watcher->run(shm, local_rank); });
    return w;
  }

  ~TcpWatcher() {
    if (thread_.joinable()) {
      const std::uint64_t one = 1;
      // The thread is blocked in epoll_wait: the event ends it (a failed write leaves it to
      // _exit; it cannot fail on a fresh eventfd).
      (void)!::write(stop_, &one, sizeof one);
      thread_.join();
    }
    if (stop_ >= 0) ::close(stop_);
    if (epoll_ >= 0) ::close(epoll_);
  }
  TcpWatcher(const TcpWatcher&) = delete;
  TcpWatcher& operator=(const TcpWatcher&) = delete;

  // Re-arms every socket (the rank is about to sleep): for data, and for room where output
  // waits. A failure leaves that socket quiet: the rank's sleeps are bounded, so it is still
  // served, only later.
  void arm(const TcpWorld& tcp) {
    tcp.sockets(sockets_);
    for (const auto& socket : sockets_) {
      epoll_event e{};
      e.events = events_for(socket);
      e.data.fd = socket.fd;
      (void)::epoll_ctl(epoll_, EPOLL_CTL_MOD, socket.fd, &e);
    }
  }

 private:
  static std::uint32_t events_for(const TcpWorld::Socket& socket) noexcept {
    return EPOLLIN | EPOLLRDHUP | EPOLLONESHOT | (socket.wants_write ? EPOLLOUT : 0u);
  }
  TcpWatcher() = default;

  void run(ShmWorld& shm, int local_rank) const {
    std::array<epoll_event, 16> events;
    for (;;) {
      const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // the rank's sleeps are bounded: it still polls its sockets, only later
      }
      bool data = false;
      for (int i = 0; i < n; ++i) {
        if (events[static_cast<std::size_t>(i)].data.fd == stop_) return;
        data = true;
      }
      if (data) shm.ring_doorbell(local_rank);
    }
  }

  int epoll_ = -1;
  int stop_ = -1;
  std::vector<TcpWorld::Socket> sockets_;  // arm()'s scratch (the rank's thread only)
  std::thread thread_;
};

namespace {

Runtime* g_runtime = nullptr;

// Messages up to this size travel through the rings; larger ones are pulled (one copy).
constexpr std::size_t kShmEagerLimit = 32 * 1024;
// Over TCP: eager up to 64 KiB, rendezvous DATA in chunks of 1 MiB.
constexpr std::size_t kTcpEagerLimit = 64 * 1024;
constexpr std::size_t kTcpMaxFrame = 1024 * 1024;

Error env_error(std::string_view name, std::string_view value, std::string_view why) {
  return Error(ErrorKind::invalid_argument, "environment variable " + std::string(name) + "=\"" +
                                                std::string(value) + "\": " + std::string(why) +
                                                " (set by nexorun: start the program with it)");
}

Result<int> env_int(const char* name, int low, int high, std::optional<int> fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr) {
    if (fallback) return *fallback;
    return Error(ErrorKind::invalid_argument,
                 std::string("environment variable ") + name +
                     " is missing (set by nexorun: start the program with it)");
  }
  const std::string_view value(text);
  int n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size())
    return env_error(name, value, "not an integer");
  if (n < low || n > high)
    return env_error(name, value,
                     "out of range " + std::to_string(low) + ".." + std::to_string(high));
  return n;
}

// How long a waiting rank polls before it sleeps on its futex. While the host's ranks fit its
// CPUs, a rank spins for long (as Open MPI and MPICH do: a futex wake-up costs tens of
// microseconds here, the message itself well under one). With more ranks than CPUs it polls for
// 200 us too, but yielding the CPU between polls after the first 5 us (ShmWorld::wait), so the
// rank it waits for runs; only then does it sleep (4 ranks on 2 cores: a barrier took 58 us
// when ranks slept after 4 us, 27 us so). NEXO_MPI_SPIN_US overrides.
ShmOptions shm_options(int local_size) {
  ShmOptions options;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const int ncpu = ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  options.spin = local_size <= ncpu ? std::chrono::nanoseconds(std::chrono::milliseconds(2))
                                    : std::chrono::nanoseconds(std::chrono::microseconds(200));
  // More ranks than CPUs: the rank waited for is often runnable on this CPU, so yield from the
  // first round of polls (Open MPI's mpi_yield_when_idle does so from the first poll).
  if (local_size > ncpu) options.pure_spin = std::chrono::nanoseconds(0);
  if (auto us = env_int("NEXO_MPI_SPIN_US", 0, 10'000'000, -1); us && *us >= 0)
    options.spin = std::chrono::microseconds(*us);
  return options;
}

// Binds the rank to one CPU of those it may use, the local_rank-th, when the host's ranks fit
// them (Open MPI's default for 2 ranks): two ranks the scheduler put on one CPU, while other
// load holds the other, pay a context switch per message (a barrier took 17 us so, 0.5 us
// bound, on the 2-CPU test VM); a bound rank keeps its CPU's share and never meets its peer
// there. With more ranks than CPUs nothing is bound (they must share). NEXO_MPI_CPU_BIND=none
// leaves every rank unbound. A failure only leaves the rank unbound.
void bind_to_cpu(int local_rank, int local_size) {
  if (const char* bind = std::getenv("NEXO_MPI_CPU_BIND");
      bind != nullptr && std::string_view(bind) == "none")
    return;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  if (local_size < 2 || local_size > CPU_COUNT(&allowed)) return;
  int seen = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (seen++ != local_rank) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    (void)::sched_setaffinity(0, sizeof one, &one);
    return;
  }
}

}  // namespace

Runtime* runtime() noexcept {
  return g_runtime;
}

// Ranks started without a launcher to talk to (no NEXO_MPI_CONTROL): the ranks of one
// shared segment, world rank = local rank, as the runtime's tests and `nexo mpi demo` start
// them. Reads NEXO_MPI_RANK, NEXO_MPI_SIZE and NEXO_MPI_SHM only.
Result<std::optional<RankEnv>> standalone_env() {
  if (std::getenv("NEXO_MPI_RANK") == nullptr || std::getenv(kEnvControl) != nullptr)
    return std::optional<RankEnv>{};
  RankEnv env;
  auto size = env_int(kEnvSize, 1, kMaxWorldSize, std::nullopt);
  if (!size) return std::move(size).error();
  auto rank = env_int(kEnvRank, 0, *size - 1, std::nullopt);
  if (!rank) return std::move(rank).error();
  const char* shm = std::getenv(kEnvShm);
  if (shm == nullptr)
    return Error(ErrorKind::invalid_argument,
                 "NEXO_MPI_RANK is set but neither NEXO_MPI_CONTROL (a launcher) nor NEXO_MPI_SHM "
                 "(a shared segment): start the program with nexorun");
  env.size = *size;
  env.rank = *rank;
  env.shm = shm;
  env.local_size = env.size;
  env.local_rank = env.rank;
  return std::optional<RankEnv>{env};
}

Result<std::unique_ptr<Runtime>> Runtime::start() {
  auto standalone = standalone_env();
  if (!standalone) return std::move(standalone).error().with_context("MPI_Init");
  auto env = standalone->has_value() ? std::move(standalone) : read_rank_env();
  if (!env) return std::move(env).error().with_context("MPI_Init");
  std::unique_ptr<Runtime> rt(new Runtime());
  EngineConfig config;
  if (!env->has_value()) {
    // A singleton (not started by nexorun): one rank, nothing to connect.
    rt->engine_ = std::make_unique<Engine>(config);
    rt->frame_.resize(rt->engine_->frame_capacity());
    rt->pending_.resize(1);
    rt->has_pending_.assign(1, false);
    rt->local_of_.assign(1, -1);
    g_runtime = rt.get();
    return rt;
  }
  const RankEnv& info = **env;
  rt->rank_ = info.rank;
  rt->size_ = info.size;
  config.rank = info.rank;
  const auto n = static_cast<std::size_t>(info.size);
  rt->local_of_.assign(n, -1);
  const bool use_shm = info.shm.has_value() && info.transport == RankTransport::automatic;
  // TCP when a rank is elsewhere, or every pair when asked to.
  const bool use_tcp = info.transport == RankTransport::tcp || info.local_size < info.size;

  // Wire-up: the TCP listener first (its address goes into the HELLO), then the TABLE.
  std::optional<net::TcpListener> listener;
  std::string tcp_address;
  if (use_tcp) {
    auto l = TcpWorld::listen(info.bind);
    if (!l) return std::move(l).error().with_context("MPI_Init: TCP listener on " + info.bind);
    tcp_address = l->local_endpoint().to_string();
    listener.emplace(std::move(*l));
  }
  Result<WorldTable> table = WorldTable(n);
  if (standalone->has_value()) {
    for (std::size_t r = 0; r < n; ++r)
      (*table)[r].local_rank = static_cast<int>(r);
  } else {
    auto control = ControlClient::connect(info.control, std::chrono::milliseconds(30'000));
    if (!control)
      return std::move(control).error().with_context("MPI_Init: the launcher's control socket");
    rt->control_ = std::make_unique<ControlClient>(std::move(*control));
    Hello hello{info.job, info.rank, info.size, ::getpid(), info.host, tcp_address};
    // No limit of ours: the launcher ends a job whose ranks do not all arrive (--init-timeout).
    table = rt->control_->exchange(hello, std::nullopt);
    if (!table) return std::move(table).error().with_context("MPI_Init: wire-up with the launcher");
  }
  if (table->size() != n)
    return Error(ErrorKind::malformed, "MPI_Init: the launcher's table has " +
                                           std::to_string(table->size()) + " ranks, not " +
                                           std::to_string(n));

  if (use_shm) {
    auto segment = ShmSegment::open_spec(*info.shm);
    if (!segment) return std::move(segment).error().with_context("MPI_Init: shared memory");
    if (segment->nranks() != info.local_size) {
      return Error(ErrorKind::invalid_argument, "MPI_Init: the shared segment " + *info.shm +
                                                    " is for " + std::to_string(segment->nranks()) +
                                                    " ranks, NEXO_MPI_LOCAL_SIZE says " +
                                                    std::to_string(info.local_size));
    }
    // Options first: they count the CPUs this rank may use before it is bound to one.
    const ShmOptions options = shm_options(info.local_size);
    bind_to_cpu(info.local_rank, info.local_size);
    auto world = ShmWorld::join(std::move(*segment), info.local_rank, options);
    if (!world) return std::move(world).error().with_context("MPI_Init: shared memory");
    rt->shm_ = std::make_unique<ShmWorld>(std::move(*world));
    rt->world_of_local_.assign(static_cast<std::size_t>(info.local_size), -1);
    for (std::size_t r = 0; r < n; ++r) {
      const RankInfo& peer = (*table)[r];
      if (peer.host != info.host) continue;
      if (peer.local_rank < 0 || peer.local_rank >= info.local_size)
        return Error(ErrorKind::malformed, "MPI_Init: the table gives rank " + std::to_string(r) +
                                               " local rank " + std::to_string(peer.local_rank));
      rt->local_of_[r] = peer.local_rank;
      rt->world_of_local_[static_cast<std::size_t>(peer.local_rank)] = static_cast<int>(r);
    }
    config.eager_limit = std::min(kShmEagerLimit, rt->shm_->max_whole_frame() - kFrameHeaderSize);
    config.max_frame = rt->shm_->max_whole_frame() - kFrameHeaderSize - kDataOffsetSize;
    config.pull_pid = static_cast<std::uint64_t>(::getpid());
    ShmWorld* shm = rt->shm_.get();
    const Runtime* self = rt.get();
    config.pull = [shm, self](std::int32_t sender, const PullAddress& at,
                              std::span<std::byte> into) -> Result<void> {
      const int local = self->local_of_[static_cast<std::size_t>(sender)];
      if (local < 0)
        return Error(ErrorKind::invalid_argument,
                     "rank " + std::to_string(sender) + " is on another host");
      if (static_cast<std::uint64_t>(shm->pid_of(local)) != at.pid)
        return Error(ErrorKind::malformed,
                     "RTS names a pid that is not rank " + std::to_string(sender) + "'s");
      auto can = shm->can_pull_from(local);
      if (!can) return std::move(can).error();
      if (!*can) return Error(ErrorKind::permission_denied, "pull refused");
      return pull(static_cast<pid_t>(at.pid), static_cast<std::uintptr_t>(at.address), into);
    };
  }
  if (use_tcp) {
    std::vector<std::optional<std::string>> addresses(n);
    bool any = false;
    for (std::size_t r = 0; r < n; ++r) {
      if (static_cast<int>(r) == info.rank || rt->local_of_[r] >= 0) continue;
      addresses[r] = (*table)[r].tcp;
      any = true;
    }
    if (any) {
      auto world = TcpWorld::connect(std::move(*listener), info.rank, addresses, info.job,
                                     std::chrono::milliseconds(60'000));
      if (!world) return std::move(world).error().with_context("MPI_Init: TCP mesh");
      rt->tcp_ = std::make_unique<TcpWorld>(std::move(*world));
      // Ranks that fit the host's CPUs poll their sockets for a while before sleeping.
      int on_host = 0;  // this host's ranks, shared memory or not
      for (const RankInfo& peer : *table)
        on_host += peer.host == info.host ? 1 : 0;
      const bool fit = shm_options(std::max(on_host, 1)).spin >= std::chrono::milliseconds(1);
      rt->tcp_spin_ = std::chrono::microseconds(fit ? 200 : 50);
      rt->tcp_yield_ = !fit;
      if (!rt->shm_) {
        // TCP alone: larger eager messages (a round trip costs more than the copy).
        config.eager_limit = kTcpEagerLimit;
        config.max_frame = kTcpMaxFrame;
      } else {
        auto watcher = TcpWatcher::start(*rt->tcp_, *rt->shm_,
                                         rt->local_of_[static_cast<std::size_t>(info.rank)]);
        if (!watcher) return std::move(watcher).error().with_context("MPI_Init: TCP mesh");
        rt->tcp_watcher_ = std::move(*watcher);
      }
    }
  }
  // How long one idle sleep may last: every wake-up path should end it sooner, so this only
  // bounds what a lost one would cost. NEXO_MPI_SLEEP_MS raises it in the tests, where a lost
  // wake-up must hang (and fail) rather than pass slowly.
  auto sleep_ms = env_int("NEXO_MPI_SLEEP_MS", 0, 86'400'000, 0);
  if (!sleep_ms) return std::move(sleep_ms).error().with_context("MPI_Init");
  rt->sleep_bound_ = std::chrono::milliseconds(*sleep_ms > 0          ? *sleep_ms
                                               : rt->shm_ && rt->tcp_ ? 10
                                                                      : 100);
  rt->engine_ = std::make_unique<Engine>(std::move(config));
  rt->frame_.resize(rt->engine_->frame_capacity());
  rt->pending_.resize(n);
  rt->has_pending_.assign(n, false);
  g_runtime = rt.get();
  return rt;
}

Runtime::~Runtime() {
  if (g_runtime == this) g_runtime = nullptr;
}

Result<bool> Runtime::send_frame(int to, std::span<const std::byte> head,
                                 std::span<const std::byte> body) {
  const int local = local_of_[static_cast<std::size_t>(to)];
  const std::span<const std::byte> parts[2] = {head, body};
  if (local >= 0 && shm_) return shm_->send(local, FrameParts(parts), Wake::deferred);
  if (tcp_ && tcp_->connected_to(to)) return tcp_->send(to, FrameParts(parts));
  return Error(ErrorKind::invalid_argument, "no transport reaches rank " + std::to_string(to));
}

Result<bool> Runtime::send_frame(int to, std::span<const std::byte> frame) {
  if (to == rank_) {
    auto taken = engine_->on_frame(to, frame);
    if (!taken) return std::move(taken).error();
    return true;
  }
  const int local = local_of_[static_cast<std::size_t>(to)];
  if (local >= 0 && shm_) return shm_->send(local, frame, Wake::deferred);
  if (tcp_ && tcp_->connected_to(to)) return tcp_->send(to, frame);
  return Error(ErrorKind::invalid_argument, "no transport reaches rank " + std::to_string(to));
}

Result<std::optional<Engine::RequestId>> Runtime::send_now(int to, std::uint32_t context, int tag,
                                                           std::span<const std::byte> data) {
  using Taken = std::optional<Engine::RequestId>;
  if (to == rank_ || to < 0 || to >= size_) return Taken{};
  const auto t = static_cast<std::size_t>(to);
  // A frame the transport refused earlier goes first.
  if (has_pending_[t]) return Taken{};
  const int local = local_of_[t];
  const bool by_shm = local >= 0 && shm_;
  // Over shared memory, a frame larger than a ring takes whole could be half written; over
  // TCP, a frame is written or queued whole, or refused whole.
  if (by_shm ? kFrameHeaderSize + data.size() > shm_->max_whole_frame()
             : !(tcp_ && tcp_->connected_to(to)))
    return Taken{};
  std::array<std::byte, kFrameHeaderSize> header;
  const auto id = engine_->eager_now(to, context, tag, data, header);
  if (!id) return Taken{};
  const std::span<const std::byte> parts[2] = {header, data};
  auto sent =
      by_shm ? shm_->send(local, FrameParts(parts), Wake::now) : tcp_->send(to, FrameParts(parts));
  if (!sent) return std::move(sent).error();
  if (!*sent) return Taken{};  // no room: the normal way queues it
  engine_->sent_now();
  return id;
}

Result<std::optional<Status>> Runtime::receive_now(int source, std::uint32_t context, int tag,
                                                   std::span<std::byte> buffer) {
  using Taken = std::optional<Status>;
  // One transport only: a wait on one cannot see the other's frames.
  if ((shm_ != nullptr) == (tcp_ != nullptr) || source == rank_ || !engine_->idle()) return Taken{};
  for (bool p : has_pending_)
    if (p) return Taken{};
  struct Catch {
    Runtime* self;
    int source;
    std::uint32_t context;
    int tag;
    std::span<std::byte> buffer;
    Taken got;
    bool handed = false;  // a frame went to the engine: the normal way takes over
    std::optional<Error> failed;
  } c{this, source, context, tag, buffer, {}, false, {}};
  // Captures one pointer: std::function keeps it without allocating.
  const ShmWorld::Deliver deliver = [&c](int from, std::span<const std::byte> frame) {
    // Shared memory numbers the host's ranks; TCP uses world ranks.
    const int rank = c.self->shm_ ? c.self->world_of_local_[static_cast<std::size_t>(from)] : from;
    auto r = c.self->engine_->on_frame_for(rank, frame, c.source, c.context, c.tag, c.buffer);
    if (!r) {
      c.failed = std::move(r).error();
    } else if (*r) {
      c.got = **r;
    } else {
      c.handed = true;
    }
  };
  std::chrono::steady_clock::time_point spin_until{};
  bool spinning = false;
  for (;;) {
    auto polled = shm_ ? shm_->poll(deliver, 1) : tcp_->poll(deliver, 1);
    if (!polled) return std::move(polled).error();
    if (c.failed) return std::move(*c.failed);
    if (c.got || c.handed) return c.got;
    if (*polled > 0) continue;
    // As wait_until: sleeps until a frame arrives (TCP: after a spin); the bound only limits
    // what a lost wake-up could cost.
    if (shm_) {
      auto woken = shm_->wait(sleep_bound_);
      if (!woken) return std::move(woken).error();
      continue;
    }
    if (tcp_spin_ > std::chrono::nanoseconds(0)) {
      const auto now = std::chrono::steady_clock::now();
      if (!spinning) {
        spinning = true;
        spin_until = now + tcp_spin_;
      }
      if (now < spin_until) {
        if (tcp_yield_) ::sched_yield();
        continue;
      }
    }
    auto woken = tcp_->wait(sleep_bound_);
    if (!woken) return std::move(woken).error();
    spinning = false;
  }
}

Result<void> Runtime::transmit() {
  // Frames the transport had no room for go first, in order.
  bool any_pending = false;
  for (std::size_t to = 0; to < pending_.size(); ++to) {
    if (!has_pending_[to]) continue;
    auto sent = send_frame(static_cast<int>(to), pending_[to]);
    if (!sent) return std::move(sent).error();
    if (*sent) {
      has_pending_[to] = false;
      any_pending = true;
    }
  }
  if (!engine_->has_output()) {
    if (any_pending && shm_) shm_->flush_doorbells();  // a frame sent above may wake a sleeper
    return ok();
  }
  engine_->peers_with_output(peers_);
  for (const std::int32_t to : peers_) {
    const auto t = static_cast<std::size_t>(to);
    if (has_pending_[t]) continue;
    for (;;) {
      // To another rank, a message's bytes go from the send's buffer to the transport (one
      // copy fewer); a frame to this rank goes to the engine whole.
      std::span<const std::byte> body;
      auto size = to == rank_ ? engine_->poll_transmit(to, frame_)
                              : engine_->poll_transmit(to, frame_, &body);
      if (!size) return std::move(size).error();
      if (*size == 0) break;
      const std::span<const std::byte> head(frame_.data(), *size);
      auto sent = body.empty() ? send_frame(to, head) : send_frame(to, head, body);
      if (!sent) return std::move(sent).error();
      if (!*sent) {
        // The send may be complete already: the transport's retry works on a copy.
        pending_[t].assign(head.begin(), head.end());
        pending_[t].insert(pending_[t].end(), body.begin(), body.end());
        has_pending_[t] = true;
        break;
      }
    }
  }
  if (shm_) shm_->flush_doorbells();
  return ok();
}

Result<bool> Runtime::receive() {
  std::size_t total = 0;
  if (shm_) {
    auto delivered = shm_->poll([this](int from, std::span<const std::byte> frame) {
      if (receive_error_) return;
      auto taken = engine_->on_frame(world_of_local_[static_cast<std::size_t>(from)], frame);
      if (!taken) receive_error_ = std::move(taken).error();
    });
    if (!delivered) return std::move(delivered).error();
    total += *delivered;
  }
  if (tcp_) {
    auto delivered = tcp_->poll([this](int from, std::span<const std::byte> frame) {
      if (receive_error_) return;
      auto taken = engine_->on_frame(from, frame);
      if (!taken) receive_error_ = std::move(taken).error();
    });
    if (!delivered) return std::move(delivered).error();
    total += *delivered;
  }
  if (receive_error_) return *receive_error_;
  return total > 0;
}

Result<bool> Runtime::progress() {
  const bool had_output = engine_->has_output();
  if (auto sent = transmit(); !sent) return std::move(sent).error();
  auto received = receive();
  if (!received) return std::move(received).error();
  // Frames that arrived may have made replies (CTS, SYNC_ACK, FIN): send them now.
  if (*received && engine_->has_output()) {
    if (auto sent = transmit(); !sent) return std::move(sent).error();
  }
  return had_output || *received;
}

Result<void> Runtime::wait_until(const std::function<bool()>& done) {
  // TCP alone: poll the sockets for a while before sleeping in epoll (a wake-up from epoll
  // costs more than a small message's round trip on loopback), as long as the host's ranks fit
  // its CPUs.
  std::chrono::steady_clock::time_point tcp_spin_until{};
  bool tcp_spinning = false;
  for (;;) {
    if (done()) return ok();
    auto moved = progress();
    if (!moved) return std::move(moved).error();
    if (done()) return ok();
    if (*moved) {
      tcp_spinning = false;
      continue;
    }
    if (tcp_ && !shm_ && tcp_spin_ > std::chrono::nanoseconds(0)) {
      const auto now = std::chrono::steady_clock::now();
      if (!tcp_spinning) {
        tcp_spinning = true;
        tcp_spin_until = now + tcp_spin_;
      }
      if (now < tcp_spin_until) {
        if (tcp_yield_) ::sched_yield();
        continue;
      }
    }
    bool pending = false;
    for (bool p : has_pending_)
      pending = pending || p;
    if (shm_ && tcp_) {
      // Both: for tcp_spin_, short spins on shared memory with a look at the sockets between
      // (every 5 us); then sleeps, which TCP data ends through the watcher (runtime.hpp). The
      // bound only limits what a watcher that stopped could cost.
      const auto now = std::chrono::steady_clock::now();
      if (!tcp_spinning) {
        tcp_spinning = true;
        tcp_spin_until = now + tcp_spin_;
      }
      const std::chrono::nanoseconds slice =
          now < tcp_spin_until ? std::chrono::nanoseconds(std::chrono::microseconds(5))
          : pending            ? std::chrono::nanoseconds(std::chrono::milliseconds(1))
                               : std::chrono::nanoseconds(sleep_bound_);
      if (slice > tcp_spin_) tcp_watcher_->arm(*tcp_);
      auto woken = shm_->wait_for(slice);
      if (!woken) return std::move(woken).error();
      continue;
    }
    if (shm_) {
      // Sleeps until a frame arrives, a full ring has room, or a peer rings the doorbell; the
      // bound only limits how long a lost wake-up (there should be none) could cost.
      auto woken = shm_->wait(pending ? std::chrono::milliseconds(1) : sleep_bound_);
      if (!woken) return std::move(woken).error();
      continue;
    }
    if (tcp_) {
      auto woken = tcp_->wait(sleep_bound_);
      if (!woken) return std::move(woken).error();
      tcp_spinning = false;
      continue;
    }
    // Nothing can arrive: no transport, nothing queued to self.
    if (!engine_->has_output() && !pending) {
      return Error(ErrorKind::invalid_argument,
                   "deadlock: this rank waits for a message no rank can send (a singleton, or a "
                   "receive from itself with no matching send)");
    }
  }
}

void Runtime::grace_for_launcher() {
  if (!control_) return;
  // The launcher closes the control connection (or kills this process) when the job ends.
  pollfd watch{control_->fd(), POLLIN, 0};
  (void)::poll(&watch, 1, 3000);
}

void Runtime::abort_job(int code, const std::string& why) {
  trace_finish();  // what led here is the interesting part of a trace
  std::fprintf(stderr, "nexo MPI: rank %d: %s\n", rank_, why.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  // The launcher ends the other ranks and exits with the code (it reports the rank).
  if (control_) (void)control_->abort(code, why);
  // The launcher sees the exit status and ends the other ranks.
  ::_exit(code == 0 ? 1 : (code & 0xff) == 0 ? 1 : code & 0xff);
}

Result<void> Runtime::flush() {
  auto flushed = wait_until([this] {
    return !engine_->has_output() &&
           std::none_of(has_pending_.begin(), has_pending_.end(), [](bool p) { return p; });
  });
  if (!flushed) return flushed;
  while (tcp_ && tcp_->has_pending_output()) {
    auto written = tcp_->flush();
    if (!written) return std::move(written).error();
    if (tcp_->has_pending_output()) {
      auto woken = tcp_->wait(std::chrono::milliseconds(100));
      if (!woken) return std::move(woken).error();
    }
  }
  return ok();
}

void Runtime::finishing() {
  if (tcp_) tcp_->accept_closes();
}

Result<void> Runtime::finalized() {
  if (!control_) return ok();
  return control_->finalized();
}

}  // namespace nexo::mpi
