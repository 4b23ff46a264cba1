// tcp:// receiving side: a listener on the I/O loop, and per connection a
// reader that cuts frames (frame.hpp) into messages for the port's queue.
// Back-pressure: when the queue is full the connection stops reading, so TCP's
// own flow control slows the sender down; nothing is dropped. A frame over the
// size limit, or any malformed frame, closes that connection (counted); the
// port goes on serving the others.
#include <map>

#include "nexo/io/io_watcher.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/frame.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/tcp_listener.hpp"

namespace nexo::msg {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

class TcpPort final : public PortBackend {
 public:
  TcpPort(Context& context, net::TcpListener listener, std::shared_ptr<PortCore> core)
      : context_(context),
        listener_(std::move(listener)),
        core_(std::move(core)),
        alive_(std::make_shared<bool>(true)) {
    uri_.scheme = Scheme::tcp;
    const auto& local = listener_.local_endpoint();
    uri_.host = local.address().is_any() ? "*" : local.address().to_string();
    uri_.port = local.port();
  }
  ~TcpPort() override { close(); }

  Result<void> start();
  const Uri& uri() const noexcept override { return uri_; }
  void close() override;

 private:
  struct Connection {
    explicit Connection(net::TcpStream s) : stream(std::move(s)) {}
    std::uint64_t id = 0;
    net::TcpStream stream;
    std::string source;
    std::unique_ptr<io::IoWatcher> watcher;
    Bytes in;  // unparsed input is in_[in_start, in_end)
    std::size_t in_start = 0, in_end = 0;
    Bytes out;  // acknowledgements not yet written
    std::size_t out_start = 0;
    bool paused = false;  // the queue was full: not reading
    bool closing = false;
  };

  void accept_all();
  void on_ready(Connection& c, std::uint32_t readiness);
  bool read_some(Connection& c);
  bool deliver_frames(Connection& c);
  bool flush_acks(Connection& c);
  void rearm(Connection& c);
  void drop(Connection& c);
  void send_ack(std::uint64_t connection, std::uint64_t message);
  void resume(std::uint64_t connection);

  Context& context_;
  net::TcpListener listener_;
  std::shared_ptr<PortCore> core_;
  std::shared_ptr<bool> alive_;  // tasks posted from other threads check it on the loop thread
  Uri uri_;
  std::unique_ptr<io::IoWatcher> accept_watcher_;
  std::map<std::uint64_t, std::unique_ptr<Connection>> connections_;  // loop thread only
  std::uint64_t next_connection_ = 1;
  bool closed_ = false;
};

Result<void> TcpPort::start() {
  auto started = context_.io().call<bool>([this]() -> Result<bool> {
    accept_watcher_ = std::make_unique<io::IoWatcher>(
        context_.io().loop(), listener_.native_handle(), [this](std::uint32_t) { accept_all(); });
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
    connections_.clear();  // stops each watcher, closes each stream
    listener_.close();
    return true;
  });
}

void TcpPort::accept_all() {
  for (;;) {
    auto stream = listener_.accept();
    if (!stream) return;  // would_block: all taken; overloaded: try again on the next event
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
  }
}

void TcpPort::on_ready(Connection& c, std::uint32_t readiness) {
  if (c.closing) return;
  if ((readiness & io::kWritable) && !flush_acks(c)) return drop(c);
  if ((readiness & (io::kReadable | io::kHangup)) && !c.paused) {
    if (!read_some(c)) return drop(c);
  }
  rearm(c);
}

// Reads what is there (a bounded number of chunks, to be fair to other
// connections) and delivers every whole frame. False: the connection is done.
bool TcpPort::read_some(Connection& c) {
  for (int round = 0; round < 16 && !c.paused; ++round) {
    if (c.in_start > 0 && c.in_start == c.in_end) c.in_start = c.in_end = 0;
    if (c.in.size() - c.in_end < kReadChunk) {
      if (c.in_start > c.in.size() / 2) {  // compact before growing
        std::copy(c.in.begin() + static_cast<std::ptrdiff_t>(c.in_start),
                  c.in.begin() + static_cast<std::ptrdiff_t>(c.in_end), c.in.begin());
        c.in_end -= c.in_start;
        c.in_start = 0;
      }
      c.in.resize(c.in_end + kReadChunk);
    }
    auto n = c.stream.read(std::span(c.in).subspan(c.in_end));
    if (!n) return n.error().is(ErrorKind::would_block);
    c.in_end += *n;
    if (!deliver_frames(c)) return false;
  }
  return true;
}

bool TcpPort::deliver_frames(Connection& c) {
  while (!c.paused) {
    frame::Parsed f;
    std::string why;
    auto input = std::span<const std::byte>(c.in).subspan(c.in_start, c.in_end - c.in_start);
    auto status = frame::parse(input, core_->max_message_size, f, why);
    if (status == frame::Status::need_more) return true;
    if (status == frame::Status::malformed || f.kind == frame::kAck) {
      core_->counters.add_malformed();
      return false;
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
      c.paused = true;  // leave the frame in the buffer; TCP flow control holds the sender
      core_->queue.when_space(
          [this, io = &context_.io(), alive = std::weak_ptr<bool>(alive_), conn = c.id] {
            io->post([this, alive, conn] {
              if (alive.lock()) resume(conn);
            });
          });
      return true;
    }
    c.in_start += f.size;
  }
  return true;
}

void TcpPort::resume(std::uint64_t connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end() || it->second->closing) return;
  Connection& c = *it->second;
  c.paused = false;
  if (!deliver_frames(c)) return drop(c);
  rearm(c);
}

void TcpPort::send_ack(std::uint64_t connection, std::uint64_t message) {
  auto it = connections_.find(connection);
  if (it == connections_.end() || it->second->closing) return;  // the sender learns by its timeout
  Connection& c = *it->second;
  frame::append(c.out, frame::kAck, message, {});
  if (!flush_acks(c)) return drop(c);
  rearm(c);
}

bool TcpPort::flush_acks(Connection& c) {
  while (c.out_start < c.out.size()) {
    auto n = c.stream.write(std::span<const std::byte>(c.out).subspan(c.out_start));
    if (!n) return n.error().is(ErrorKind::would_block);
    c.out_start += *n;
  }
  c.out.clear();
  c.out_start = 0;
  return true;
}

void TcpPort::rearm(Connection& c) {
  std::uint32_t interest = (c.paused ? 0u : io::kReadable) | (c.out.empty() ? 0u : io::kWritable);
  if (interest == 0) {
    c.watcher->stop();
  } else if (interest != c.watcher->interest() || !c.watcher->active()) {
    if (!c.watcher->start(interest)) drop(c);
  }
}

// Closes a connection. Its watcher may be running: the erase waits for the loop.
void TcpPort::drop(Connection& c) {
  if (c.closing) return;
  c.closing = true;
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
