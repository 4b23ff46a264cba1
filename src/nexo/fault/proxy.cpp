#include "nexo/fault/proxy.hpp"

#include <array>
#include <list>
#include <map>

#include "nexo/io/io_watcher.hpp"
#include "nexo/io/loop_thread.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/net/udp_socket.hpp"

namespace nexo::fault {
namespace {

// Datagrams read from one socket per turn (fair to the others), in one
// system call, and sent per system call.
constexpr std::size_t kBatch = net::UdpSocket::kMaxBatch;
constexpr std::size_t kSlot = net::UdpSocket::kMaxPayloadV6 + 1;  // any datagram, whole

}  // namespace

struct Proxy::Impl {
  struct Session;
  // What each held datagram carries: its session, or null once that closed
  // (the discard rule then drops the datagram).
  struct Route {
    Session* session = nullptr;
  };
  struct Session {
    explicit Session(net::UdpSocket socket) : upstream(std::move(socket)) {}
    net::Endpoint client;
    net::UdpSocket upstream;
    std::unique_ptr<io::IoWatcher> watcher;  // declared after upstream: stops watching first
    std::shared_ptr<Route> route;
    std::list<Session>::iterator self;  // its place in `sessions`
    Clock::time_point last_active{};
    std::size_t held = 0;  // held bytes of its datagrams, both directions
  };
  using Sessions = std::list<Session>;  // the most recently active first

  Impl(ProxyOptions o, net::UdpSocket socket)
      : options(std::move(o)),
        listen(std::move(socket)),
        to(options.plan.to, options.plan.seed, options.max_held_bytes),
        // The other direction draws from a generator of its own, so that
        // traffic one way does not change the faults the other way.
        back(options.plan.back, options.plan.seed ^ 0x5bd1e9955bd1e995ULL, options.max_held_bytes),
        // Pages are touched only as datagrams fill them.
        memory(std::make_unique_for_overwrite<std::byte[]>(kBatch * kSlot)),
        slots(kBatch) {
    for (std::size_t i = 0; i < kBatch; ++i)
      slots[i].buffer = std::span(memory.get() + i * kSlot, kSlot);
    auto discard = [this](std::span<const std::byte> bytes, const Injector::Tag& tag) {
      if (route_of(tag).session) return false;
      dead_held -= Injector::held_cost(bytes.size());
      return true;
    };
    to.set_discard(discard);
    back.set_discard(discard);
  }

  // Loop thread, from here down.
  Result<bool> open() {
    io::EventLoop& loop = io->loop();
    listen_watcher = std::make_unique<io::IoWatcher>(loop, listen.native_handle(),
                                                     [this](std::uint32_t) { on_client(); });
    due = std::make_unique<io::Timer>(loop, [this] { flush(); });
    sweeper = std::make_unique<io::Timer>(loop, [this] { sweep(); });
    const auto period =
        std::max<Clock::duration>(options.session_idle / 2, std::chrono::seconds(1));
    sweeper->start(period, period);
    if (auto watching = listen_watcher->start(io::kReadable); !watching)
      return std::move(watching).error();
    return true;
  }

  void close() {
    listen_watcher.reset();
    due.reset();
    sweeper.reset();
    while (!sessions.empty()) close_session(sessions.begin());
    listen.close();
  }

  void on_client() {
    const auto now = Clock::now();
    auto n = listen.receive_batch(slots);
    for (std::size_t i = 0; n && i < *n; ++i) {
      if (slots[i].count() == 0) continue;  // cannot happen: a slot holds any run
      Session* s = session_for(slots[i].from, now);
      if (!s) continue;
      // A coalesced run is split here: the plan acts on each datagram.
      for (std::size_t k = 0; k < slots[i].count(); ++k)
        s->held += to.push(slots[i].datagram(k), now, s->route);
    }
    flush();
  }

  void on_target(Session& s) {
    const auto now = Clock::now();
    for (std::size_t read = 0; read < kBatch;) {
      auto n = s.upstream.receive_batch(slots);
      if (!n) {
        if (n.error().is(ErrorKind::would_block)) break;
        ++read;
        continue;  // the target refused an earlier datagram (ICMP): what UDP does
      }
      touch(s, now);
      for (std::size_t i = 0; i < *n; ++i) {
        for (std::size_t k = 0; k < slots[i].count(); ++k)
          s.held += back.push(slots[i].datagram(k), now, s.route);
      }
      read += kBatch;  // one batch per turn
    }
    flush();
  }

  void touch(Session& s, Clock::time_point now) {
    s.last_active = now;
    sessions.splice(sessions.begin(), sessions, s.self);
  }

  Session* session_for(const net::Endpoint& client, Clock::time_point now) {
    if (auto it = by_client.find(client); it != by_client.end()) {
      touch(*it->second, now);
      return &*it->second;
    }
    auto upstream = net::UdpSocket::bind_any(options.target.family());
    if (!upstream || !upstream->connect(options.target) || !upstream->set_non_blocking(true)) {
      send_errors.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    (void)upstream->set_receive_buffer_size(1 << 20);
    (void)upstream->set_receive_coalescing(true);  // runs split per datagram as they arrive
    if (sessions.size() >= options.max_sessions) {
      close_session(std::prev(sessions.end()));  // the least recently active
      evicted.fetch_add(1, std::memory_order_relaxed);
      purge_if_worth_it();
    }
    Session& s = sessions.emplace_front(std::move(*upstream));
    s.self = sessions.begin();
    s.client = client;
    s.route = std::make_shared<Route>(Route{&s});
    s.last_active = now;
    s.watcher = std::make_unique<io::IoWatcher>(io->loop(), s.upstream.native_handle(),
                                                [this, &s](std::uint32_t) { on_target(s); });
    if (!s.watcher->start(io::kReadable)) {
      s.route->session = nullptr;
      sessions.erase(s.self);
      send_errors.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    opened.fetch_add(1, std::memory_order_relaxed);
    by_client.emplace(client, s.self);
    return &s;
  }

  // Closes the upstream socket; the datagrams held for the session become
  // dead (dropped as they leave, or by a purge).
  void close_session(Sessions::iterator it) {
    it->route->session = nullptr;
    dead_held += it->held;
    by_client.erase(it->client);
    sessions.erase(it);
  }

  // Frees the dead datagrams once they are at least half of what is held, so
  // that each purge (a pass over everything held) pays for itself.
  void purge_if_worth_it() {
    if (dead_held == 0 || 2 * dead_held < to.held_bytes() + back.held_bytes()) return;
    to.purge();
    back.purge();
  }

  // Sends what is due both ways; arms the timer for what is still held.
  void flush() {
    const auto now = Clock::now();
    to.pop_due(now, [this](std::span<const std::byte> bytes, const Injector::Tag& tag) {
      Session& s = *route_of(tag).session;  // live: the discard rule took the others
      s.held -= Injector::held_cost(bytes.size());
      stage(bytes, s);
    });
    send_staged(true);
    back.pop_due(now, [this](std::span<const std::byte> bytes, const Injector::Tag& tag) {
      Session& s = *route_of(tag).session;
      s.held -= Injector::held_cost(bytes.size());
      stage(bytes, s);
    });
    send_staged(false);
    auto next = to.next_due();
    if (auto b = back.next_due(); b && (!next || *b < *next)) next = b;
    if (next) {
      due->start_at(*next);
    } else {
      due->stop();
    }
  }

  static const Route& route_of(const Injector::Tag& tag) {
    return *static_cast<const Route*>(tag.get());
  }

  // Keeps a copy of a datagram due now, to send with the others due. No
  // session closes between stage() and send_staged(): both run in one turn.
  void stage(std::span<const std::byte> bytes, Session& session) {
    if (staged_count == staged.size()) staged.emplace_back();
    staged[staged_count].session = &session;
    staged[staged_count].bytes.assign(bytes.begin(), bytes.end());
    ++staged_count;
  }

  // Sends the staged datagrams, kBatch per system call (runs of one size as
  // one segmented send, UDP GSO, where the kernel has it): towards the target
  // (`upstream`) a run of one session's on its socket, back to the clients
  // all of them on the listening socket.
  void send_staged(bool upstream) {
    std::array<net::OutDatagram, kBatch> batch;
    for (std::size_t i = 0; i < staged_count;) {
      Session* first = staged[i].session;
      net::UdpSocket& socket = upstream ? first->upstream : listen;
      std::size_t n = 0;
      for (; i < staged_count && n < kBatch && (!upstream || staged[i].session == first); ++i) {
        batch[n++] =
            net::OutDatagram{staged[i].bytes, upstream ? nullptr : &staged[i].session->client};
      }
      send_all(socket, std::span(batch).first(n));
    }
    staged_count = 0;
  }

  void send_all(net::UdpSocket& socket, std::span<const net::OutDatagram> batch) {
    while (!batch.empty()) {
      auto sent = socket.send_batch(batch);
      if (sent) {
        batch = batch.subspan(*sent);
        continue;
      }
      send_errors.fetch_add(1, std::memory_order_relaxed);  // that datagram is lost
      batch = batch.subspan(1);
    }
  }

  // Closes the sessions idle for session_idle: the oldest are at the back.
  void sweep() {
    const auto now = Clock::now();
    while (!sessions.empty() && now - sessions.back().last_active >= options.session_idle) {
      close_session(std::prev(sessions.end()));
      expired.fetch_add(1, std::memory_order_relaxed);
    }
    purge_if_worth_it();
  }

  const ProxyOptions options;
  net::UdpSocket listen;
  net::Endpoint local;
  Injector to, back;
  std::unique_ptr<io::LoopThread> io;
  std::atomic<std::uint64_t> opened{0}, evicted{0}, expired{0}, send_errors{0};
  std::atomic<bool> stopped{false};

  // Loop thread only.
  std::unique_ptr<std::byte[]> memory;  // the slots' buffers
  std::vector<net::InSlot> slots;
  struct Staged {
    Session* session = nullptr;
    Bytes bytes;  // its capacity is kept for the next datagram
  };
  std::vector<Staged> staged;  // datagrams due, staged_count of them current
  std::size_t staged_count = 0;
  Sessions sessions;
  std::map<net::Endpoint, Sessions::iterator> by_client;
  std::size_t dead_held = 0;  // held bytes of datagrams whose session has closed
  std::unique_ptr<io::IoWatcher> listen_watcher;
  std::unique_ptr<io::Timer> due, sweeper;
};

Result<std::unique_ptr<Proxy>> Proxy::start(const ProxyOptions& options) {
  if (auto valid = options.plan.validate(); !valid) return std::move(valid).error();
  if (options.max_sessions == 0)
    return Error(ErrorKind::invalid_argument, "fault proxy: max_sessions must be at least 1");
  if (options.max_held_bytes == 0)
    return Error(ErrorKind::invalid_argument, "fault proxy: max_held_bytes must be at least 1");
  auto socket = net::UdpSocket::bind(options.listen);
  if (!socket) return std::move(socket).error().with_context("fault proxy");
  if (auto nb = socket->set_non_blocking(true); !nb) return std::move(nb).error();
  (void)socket->set_receive_buffer_size(4 << 20);  // best effort: fewer drops of our own
  (void)socket->set_receive_coalescing(true);       // best effort: runs, split per datagram
  auto impl = std::make_unique<Impl>(options, std::move(*socket));
  impl->local = impl->listen.local_endpoint();
  auto io = io::LoopThread::start();
  if (!io) return std::move(io).error();
  impl->io = std::move(*io);
  Impl* raw = impl.get();
  auto opened = raw->io->call<bool>([raw] { return raw->open(); });
  if (!opened) {
    (void)raw->io->call<bool>([raw]() -> Result<bool> {
      raw->close();
      return true;
    });
    return std::move(opened).error();
  }
  return std::unique_ptr<Proxy>(new Proxy(std::move(impl)));
}

Proxy::Proxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Proxy::~Proxy() {
  stop();
}

const net::Endpoint& Proxy::local_endpoint() const noexcept {
  return impl_->local;
}

void Proxy::set_partitioned(bool on) {
  impl_->to.set_partitioned(on);
  impl_->back.set_partitioned(on);
}

bool Proxy::partitioned() const {
  return impl_->to.partitioned() && impl_->back.partitioned();
}

ProxyCounters Proxy::counters() const {
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  return ProxyCounters{impl_->to.counters(),  impl_->back.counters(), get(impl_->opened),
                       get(impl_->evicted),   get(impl_->expired),    get(impl_->send_errors)};
}

std::size_t Proxy::held_bytes() const {
  return impl_->to.held_bytes() + impl_->back.held_bytes();
}

void Proxy::stop() {
  if (impl_->stopped.exchange(true)) return;
  Impl* raw = impl_.get();
  (void)raw->io->call<bool>([raw]() -> Result<bool> {
    raw->close();
    return true;
  });
  raw->io.reset();  // joins the thread
}

}  // namespace nexo::fault
