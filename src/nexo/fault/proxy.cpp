#include "nexo/fault/proxy.hpp"

#include <array>
#include <map>
#include <unordered_map>

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
  struct Session {
    explicit Session(net::UdpSocket socket) : upstream(std::move(socket)) {}
    std::uint64_t id = 0;
    Injector::Tag tag;  // the id, as the injectors carry it
    net::Endpoint client;
    net::UdpSocket upstream;
    std::unique_ptr<io::IoWatcher> watcher;
    Clock::time_point last_active{};
  };

  Impl(ProxyOptions o, net::UdpSocket socket)
      : options(std::move(o)),
        listen(std::move(socket)),
        to(options.plan.to, options.plan.seed),
        // The other direction draws from a generator of its own, so that
        // traffic one way does not change the faults the other way.
        back(options.plan.back, options.plan.seed ^ 0x5bd1e9955bd1e995ULL),
        // Pages are touched only as datagrams fill them.
        memory(std::make_unique_for_overwrite<std::byte[]>(kBatch * kSlot)),
        slots(kBatch) {
    for (std::size_t i = 0; i < kBatch; ++i)
      slots[i].buffer = std::span(memory.get() + i * kSlot, kSlot);
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
    sessions.clear();
    by_client.clear();
    listen.close();
  }

  void on_client() {
    const auto now = Clock::now();
    auto n = listen.receive_batch(slots);
    for (std::size_t i = 0; n && i < *n; ++i) {
      if (slots[i].truncated) continue;  // cannot happen: a slot holds any datagram
      Session* s = session_for(slots[i].from, now);
      if (!s) continue;
      to.push(slots[i].payload(), now, s->tag);
    }
    flush();
  }

  void on_target(std::uint64_t id) {
    auto it = sessions.find(id);
    if (it == sessions.end()) return;
    Session& s = *it->second;
    const auto now = Clock::now();
    for (std::size_t read = 0; read < kBatch;) {
      auto n = s.upstream.receive_batch(slots);
      if (!n) {
        if (n.error().is(ErrorKind::would_block)) break;
        ++read;
        continue;  // the target refused an earlier datagram (ICMP): what UDP does
      }
      s.last_active = now;
      for (std::size_t i = 0; i < *n; ++i) {
        if (!slots[i].truncated) back.push(slots[i].payload(), now, s.tag);
      }
      read += kBatch;  // one batch per turn
    }
    flush();
  }

  Session* session_for(const net::Endpoint& client, Clock::time_point now) {
    if (auto it = by_client.find(client); it != by_client.end()) {
      Session* s = sessions.at(it->second).get();
      s->last_active = now;
      return s;
    }
    if (sessions.size() >= options.max_sessions) {
      refused.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    auto upstream = net::UdpSocket::bind_any(options.target.family());
    if (!upstream || !upstream->connect(options.target) || !upstream->set_non_blocking(true)) {
      send_errors.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    (void)upstream->set_receive_buffer_size(1 << 20);
    auto s = std::make_unique<Session>(std::move(*upstream));
    s->id = next_id++;
    s->tag = std::make_shared<const std::uint64_t>(s->id);
    s->client = client;
    s->last_active = now;
    const std::uint64_t id = s->id;
    s->watcher = std::make_unique<io::IoWatcher>(io->loop(), s->upstream.native_handle(),
                                                 [this, id](std::uint32_t) { on_target(id); });
    if (!s->watcher->start(io::kReadable)) {
      send_errors.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    opened.fetch_add(1, std::memory_order_relaxed);
    by_client.emplace(client, id);
    return sessions.emplace(id, std::move(s)).first->second.get();
  }

  // Sends what is due both ways; arms the timer for what is still held.
  void flush() {
    const auto now = Clock::now();
    to.pop_due(now, [this](std::span<const std::byte> bytes, const Injector::Tag& tag) {
      stage(bytes, id_of(tag));
    });
    send_staged(true);
    back.pop_due(now, [this](std::span<const std::byte> bytes, const Injector::Tag& tag) {
      stage(bytes, id_of(tag));
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

  // Keeps a copy of a datagram due now, to send with the others due.
  void stage(std::span<const std::byte> bytes, std::uint64_t session) {
    if (staged_count == staged.size()) staged.emplace_back();
    staged[staged_count].session = session;
    staged[staged_count].bytes.assign(bytes.begin(), bytes.end());
    ++staged_count;
  }

  // Sends the staged datagrams, kBatch per system call: towards the target
  // (`upstream`) a run of one session's on its socket, back to the clients
  // all of them on the listening socket.
  void send_staged(bool upstream) {
    std::array<net::OutDatagram, kBatch> batch;
    for (std::size_t i = 0; i < staged_count;) {
      net::UdpSocket* socket = &listen;
      std::size_t n = 0;
      const std::uint64_t first = staged[i].session;
      for (; i < staged_count && n < kBatch && (!upstream || staged[i].session == first); ++i) {
        auto it = sessions.find(staged[i].session);
        if (it == sessions.end()) continue;  // the session is gone: the datagram too
        if (upstream) socket = &it->second->upstream;
        batch[n++] = net::OutDatagram{staged[i].bytes, upstream ? nullptr : &it->second->client};
      }
      send_all(*socket, std::span(batch).first(n));
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

  static std::uint64_t id_of(const Injector::Tag& tag) {
    return *static_cast<const std::uint64_t*>(tag.get());
  }

  void sweep() {
    const auto now = Clock::now();
    for (auto it = sessions.begin(); it != sessions.end();) {
      if (now - it->second->last_active >= options.session_idle) {
        by_client.erase(it->second->client);
        it = sessions.erase(it);
      } else {
        ++it;
      }
    }
  }

  const ProxyOptions options;
  net::UdpSocket listen;
  net::Endpoint local;
  Injector to, back;
  std::unique_ptr<io::LoopThread> io;
  std::atomic<std::uint64_t> opened{0}, refused{0}, send_errors{0};
  std::atomic<bool> stopped{false};

  // Loop thread only.
  std::unique_ptr<std::byte[]> memory;  // the slots' buffers
  std::vector<net::InSlot> slots;
  struct Staged {
    std::uint64_t session = 0;
    Bytes bytes;  // its capacity is kept for the next datagram
  };
  std::vector<Staged> staged;  // datagrams due, staged_count of them current
  std::size_t staged_count = 0;
  std::map<net::Endpoint, std::uint64_t> by_client;
  std::unordered_map<std::uint64_t, std::unique_ptr<Session>> sessions;
  std::uint64_t next_id = 1;
  std::unique_ptr<io::IoWatcher> listen_watcher;
  std::unique_ptr<io::Timer> due, sweeper;
};

Result<std::unique_ptr<Proxy>> Proxy::start(const ProxyOptions& options) {
  if (auto valid = options.plan.validate(); !valid) return std::move(valid).error();
  if (options.max_sessions == 0)
    return Error(ErrorKind::invalid_argument, "fault proxy: max_sessions must be at least 1");
  auto socket = net::UdpSocket::bind(options.listen);
  if (!socket) return std::move(socket).error().with_context("fault proxy");
  if (auto nb = socket->set_non_blocking(true); !nb) return std::move(nb).error();
  (void)socket->set_receive_buffer_size(4 << 20);  // best effort: fewer drops of our own
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
  return ProxyCounters{impl_->to.counters(), impl_->back.counters(),
                       impl_->opened.load(std::memory_order_relaxed),
                       impl_->refused.load(std::memory_order_relaxed),
                       impl_->send_errors.load(std::memory_order_relaxed)};
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
