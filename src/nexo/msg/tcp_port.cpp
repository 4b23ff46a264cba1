// tcp:// receiving side: a listener on the I/O loop, and per connection a
// reader that cuts frames (frame.hpp) into messages for the port's queue.
//
// Memory: every connection reads into one buffer shared by the port (the loop
// is single-threaded); a connection keeps bytes of its own only for a frame
// that has not fully arrived, so an idle connection costs a few hundred bytes.
// Back-pressure: when the queue is full the connection stops reading and TCP's
// flow control slows its sender; nothing is dropped.
// Bad input: a malformed or oversized frame closes that connection (counted);
// so does a half-sent frame that makes no progress for frame_timeout; connections over
// max_connections are closed on arrival; running out of descriptors pauses
// accepting for a moment instead of spinning. The port serves everyone else.
#include <atomic>
#include <map>

#include "nexo/io/io_watcher.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/frame.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/tcp_listener.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kReadChunk = 64 * 1024;

class TcpPort final : public PortBackend {
 public:
  TcpPort(Context& context, net::TcpListener listener, std::shared_ptr<PortCore> core)
      : context_(context),
        listener_(std::move(listener)),
        core_(std::move(core)),
        alive_(std::make_shared<bool>(true)),
        scratch_(kReadChunk) {
    uri_.scheme = Scheme::tcp;
    const auto& local = listener_.local_endpoint();
    uri_.host = local.address().is_any() ? "*" : local.address().to_string();
    uri_.port = local.port();
  }
  ~TcpPort() override { close(); }

  Result<void> start();
  const Uri& uri() const noexcept override { return uri_; }
  void close() override;
  std::vector<ConnectionStats> connections() override;
  std::size_t connection_count() const noexcept override {
    return open_.load(std::memory_order_relaxed);
  }

 private:
  struct Connection {
    explicit Connection(net::TcpStream s) : stream(std::move(s)) {}
    std::uint64_t id = 0;
    net::TcpStream stream;
    std::string source;  // "tcp://peer", formatted once, copied into each message
    std::unique_ptr<io::IoWatcher> watcher;
    Bytes partial;  // the start of a frame that has not fully arrived (or that waits for room)
    io::Clock::time_point partial_since{};
    Bytes acks;  // acknowledgements not yet written
    std::size_t acks_written = 0;
    std::uint64_t messages_in = 0, bytes_in = 0;
    bool paused = false;  // the queue was full: not reading
    bool closing = false;
  };

  void accept_all();
  void on_ready(Connection& c, std::uint32_t readiness);
  bool read_some(Connection& c);
  Result<std::size_t> deliver(Connection& c, std::span<const std::byte> input);
  bool deliver_partial(Connection& c);
  bool flush_acks(Connection& c);
  void rearm(Connection& c);
  void drop(Connection& c);
  void send_ack(std::uint64_t connection, std::uint64_t message);
  void resume(std::uint64_t connection);
  void sweep_slow_peers();

  Context& context_;
  net::TcpListener listener_;
  std::shared_ptr<PortCore> core_;
  std::shared_ptr<bool> alive_;  // tasks posted from other threads check it on the loop thread
  Uri uri_;
  // Loop thread only:
  std::unique_ptr<io::IoWatcher> accept_watcher_;
  std::unique_ptr<io::Timer> accept_backoff_;  // resumes accepting after running out of fds
  std::unique_ptr<io::Timer> sweeper_;         // closes connections that stall mid-frame
  std::map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::uint64_t next_connection_ = 1;
  std::atomic<std::size_t> open_{0};  // connections_ not closing, readable from any thread
  Bytes scratch_;                     // the shared read buffer
  bool closed_ = false;
};

Result<void> TcpPort::start() {
  auto started = context_.io().call<bool>([this]() -> Result<bool> {
    io::EventLoop& loop = context_.io().loop();
    accept_watcher_ = std::make_unique<io::IoWatcher>(loop, listener_.native_handle(),
                                                      [this](std::uint32_t) { accept_all(); });
    accept_backoff_ =
        std::make_unique<io::Timer>(loop, [this] { (void)accept_watcher_->start(io::kReadable); });
    sweeper_ = std::make_unique<io::Timer>(loop, [this] { sweep_slow_peers(); });
    const auto period = std::max<io::Clock::duration>(core_->options.frame_timeout / 4, 10ms);
    sweeper_->start(period, period);
    if (auto watching = accept_watcher_->start(io::kReadable); !watching)
      return std::move(watching).error();
    return true;
  });
  if (!started) return std::move(started).error();
  return ok();
}

void TcpPort::close() {
  if (std::exchange(closed_, true)) return;
  (void)context_.io().call<bool>([this]() -> Result<bool> {
    alive_.reset();
    accept_watcher_.reset();
    accept_backoff_.reset();
    sweeper_.reset();
    connections_.clear();  // stops each watcher, closes each stream
    open_.store(0, std::memory_order_relaxed);
    listener_.close();
    return true;
  });
}

std::vector<ConnectionStats> TcpPort::connections() {
  auto stats = context_.io().call<std::vector<ConnectionStats>>(
      [this]() -> Result<std::vector<ConnectionStats>> {
        std::vector<ConnectionStats> out;
        for (const auto& [id, c] : connections_) {
          if (c->closing) continue;
          out.push_back(
              {c->source.substr(6), c->messages_in, c->bytes_in, c->partial.size(), c->paused});
        }
        return out;
      });
  return stats ? std::move(*stats) : std::vector<ConnectionStats>{};
}

void TcpPort::accept_all() {
  for (;;) {
    auto stream = listener_.accept();
    if (!stream) {
      if (stream.error().is(ErrorKind::overloaded)) {  // out of descriptors: back off, don't spin
        accept_watcher_->stop();
        accept_backoff_->start(100ms);
      }
      return;
    }
    if (connections_.size() >= core_->options.max_connections) {
      core_->counters.add_rejected();
      continue;  // the stream closes here
    }
    if (!stream->set_non_blocking(true) || !stream->set_no_delay(true)) continue;
    auto c = std::make_unique<Connection>(std::move(*stream));
    c->id = next_connection_++;
    c->source = "tcp://" + c->stream.peer_endpoint().to_string();
    Connection& conn = *c;
    c->watcher =
        std::make_unique<io::IoWatcher>(context_.io().loop(), conn.stream.native_handle(),
                                        [this, &conn](std::uint32_t r) { on_ready(conn, r); });
    if (!c->watcher->start(io::kReadable)) continue;
    connections_.emplace(c->id, std::move(c));
    open_.fetch_add(1, std::memory_order_relaxed);
  }
}

void TcpPort::on_ready(Connection& c, std::uint32_t readiness) {
  if (c.closing) return;
  if ((readiness & io::kWritable) && !flush_acks(c)) return drop(c);
  if ((readiness & (io::kReadable | io::kHangup)) && !c.paused && !read_some(c)) return drop(c);
  rearm(c);
}

// Reads what is there (a bounded number of chunks, to be fair to the other
// connections) and delivers every whole frame. False: the connection is done.
bool TcpPort::read_some(Connection& c) {
  for (int round = 0; round < 16 && !c.paused; ++round) {
    auto n = c.stream.read(scratch_);
    if (!n) return n.error().is(ErrorKind::would_block);
    const auto input = std::span<const std::byte>(scratch_).first(*n);
    if (!c.partial.empty()) {
      c.partial.insert(c.partial.end(), input.begin(), input.end());
      c.partial_since = context_.io().loop().now();  // progress: the frame timeout starts again
      if (!deliver_partial(c)) return false;
      continue;
    }
    auto used = deliver(c, input);
    if (!used) return false;
    if (*used < input.size()) {  // keep the rest: the start of a frame, or what waits for room
      c.partial.assign(input.begin() + static_cast<std::ptrdiff_t>(*used), input.end());
      c.partial_since = context_.io().loop().now();
    }
    if (*n < scratch_.size()) return true;  // the socket is drained
  }
  return true;
}

bool TcpPort::deliver_partial(Connection& c) {
  auto used = deliver(c, c.partial);
  if (!used) return false;
  if (*used > 0) {
    c.partial.erase(c.partial.begin(), c.partial.begin() + static_cast<std::ptrdiff_t>(*used));
    c.partial_since = context_.io().loop().now();
  }
  if (c.partial.empty()) Bytes().swap(c.partial);  // an idle connection holds no buffer
  return true;
}

// Delivers the whole frames at the front of `input`; returns the bytes used.
// Stops early when the queue is full (the connection pauses). Error: malformed.
Result<std::size_t> TcpPort::deliver(Connection& c, std::span<const std::byte> input) {
  std::size_t used = 0;
  while (!c.paused) {
    frame::Parsed f;
    std::string why;
    auto status = frame::parse(input.subspan(used), core_->options.max_message_size, f, why);
    if (status == frame::Status::need_more) break;
    if (status == frame::Status::malformed || f.kind == frame::kAck) {
      core_->counters.add_malformed();
      return Error(ErrorKind::malformed, why);
    }
    Message message{Bytes(f.payload.begin(), f.payload.end()), c.source};
    PortQueue::OnTaken on_taken;
    if (f.kind == frame::kDataToAck) {
      // Runs on the receiving thread, perhaps after this port is gone: only the
      // Context (which outlives ports) is touched before `alive` is checked.
      on_taken = [this, io = &context_.io(), alive = std::weak_ptr<bool>(alive_), conn = c.id,
                  id = f.id] {
        io->post([this, alive, conn, id] {
          if (alive.lock()) send_ack(conn, id);
        });
      };
    }
    if (core_->queue.offer(message, std::move(on_taken)) != PortQueue::Offer::accepted) {
      c.paused = true;  // the frame stays unread by the port; TCP flow control holds the sender
      core_->queue.when_space(
          [this, io = &context_.io(), alive = std::weak_ptr<bool>(alive_), conn = c.id] {
            io->post([this, alive, conn] {
              if (alive.lock()) resume(conn);
            });
          });
      break;
    }
    ++c.messages_in;
    c.bytes_in += f.payload.size();
    used += f.size;
  }
  return used;
}

void TcpPort::resume(std::uint64_t connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end() || it->second->closing) return;
  Connection& c = *it->second;
  c.paused = false;
  if (!deliver_partial(c)) return drop(c);
  rearm(c);
}

void TcpPort::send_ack(std::uint64_t connection, std::uint64_t message) {
  auto it = connections_.find(connection);
  if (it == connections_.end() || it->second->closing) return;  // the sender learns by its timeout
  Connection& c = *it->second;
  frame::append(c.acks, frame::kAck, message, {});
  if (!flush_acks(c)) return drop(c);
  rearm(c);
}

bool TcpPort::flush_acks(Connection& c) {
  while (c.acks_written < c.acks.size()) {
    auto n = c.stream.write(std::span<const std::byte>(c.acks).subspan(c.acks_written));
    if (!n) return n.error().is(ErrorKind::would_block);
    c.acks_written += *n;
  }
  Bytes().swap(c.acks);
  c.acks_written = 0;
  return true;
}

void TcpPort::rearm(Connection& c) {
  if (c.closing) return;
  const std::uint32_t interest =
      (c.paused ? 0u : io::kReadable) | (c.acks.empty() ? 0u : io::kWritable);
  if (interest == 0) {
    c.watcher->stop();
  } else if (interest != c.watcher->interest() || !c.watcher->active()) {
    if (!c.watcher->start(interest)) drop(c);
  }
}

void TcpPort::sweep_slow_peers() {
  const auto now = context_.io().loop().now();
  for (auto& [id, c] : connections_) {
    if (c->closing || c->paused || c->partial.empty()) continue;
    if (now - c->partial_since >= core_->options.frame_timeout) {
      core_->counters.add_timed_out();
      drop(*c);
    }
  }
}

// Closes a connection. Its watcher may be running: the erase waits for the loop.
void TcpPort::drop(Connection& c) {
  if (c.closing) return;
  c.closing = true;
  open_.fetch_sub(1, std::memory_order_relaxed);
  c.watcher->stop();
  c.stream.close();
  context_.io().post([this, alive = std::weak_ptr<bool>(alive_), id = c.id] {
    if (alive.lock()) connections_.erase(id);
  });
}

Result<net::Endpoint> bind_endpoint(const Uri& uri) {
  if (uri.is_wildcard()) return net::Endpoint(net::InetAddress::any(net::Family::v6), uri.port);
  return net::Endpoint::resolve(uri.host, uri.port);
}

}  // namespace

Result<std::unique_ptr<PortBackend>> bind_tcp(Context& context, const Uri& uri,
                                              std::shared_ptr<PortCore> core) {
  auto local = bind_endpoint(uri);
  if (!local) return std::move(local).error();
  auto listener = net::TcpListener::bind(*local);
  if (!listener) return std::move(listener).error();
  if (auto nb = listener->set_non_blocking(true); !nb) return std::move(nb).error();
  auto port = std::make_unique<TcpPort>(context, std::move(*listener), std::move(core));
  if (auto started = port->start(); !started) return std::move(started).error();
  return std::unique_ptr<PortBackend>(std::move(port));
}

}  // namespace nexo::msg
