#include "nexo/msg/tcp_engine.hpp"

#include <array>

#include "nexo/msg/frame.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::uint64_t kListenerKey = 0;
constexpr int kReadRounds = 16;  // chunks per connection per turn: fair to the others

// A message's source: "tcp://PEER", or "ipc://PATH" (a Unix-domain peer has no name).
std::string source_text(const net::TcpStream& stream) {
  if (stream.is_unix()) return "ipc://" + stream.unix_address().to_string();
  return "tcp://" + stream.peer_endpoint().to_string();
}

}  // namespace

struct TcpEngine::Connection {
  explicit Connection(net::TcpStream s) : stream(std::move(s)) {}
  std::uint64_t key = 0;
  net::TcpStream stream;
  Source source;  // "tcp://peer", shared by every message from it
  Bytes partial;  // the start of a frame that has not fully arrived (or that waits for room)
  io::Clock::time_point partial_since{};
  Bytes output;  // acknowledgements and replies not yet written
  std::size_t output_written = 0;
  std::uint64_t messages_in = 0, bytes_in = 0;
  std::uint32_t interest = 0;  // what the poller watches it for (0: not in the poller)
  bool paused = false;         // the queue was full: not reading
};

TcpEngine::TcpEngine(net::TcpListener listener, io::Poller poller, std::shared_ptr<PortCore> core,
                     std::function<void()> on_accept_paused)
    : io::DrivenPoller(std::move(poller)),
      core_(std::move(core)),
      on_accept_paused_(std::move(on_accept_paused)),
      listener_(std::move(listener)),
      scratch_(kReadChunk) {}

TcpEngine::~TcpEngine() {
  close();
}

Result<void> TcpEngine::start() {
  std::lock_guard lock(mutex_);
  return poller().add(listener_.native_handle(), io::kReadable, kListenerKey);
}

// --- who does it ----------------------------------------------------------------

// The leader's or the I/O thread's turn: the I/O that is ready, then the
// receives it completed (and their acknowledgements) outside the lock.
void TcpEngine::handle(Events events) {
  PortQueue::Handoffs out;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    process(events, out);
    if (resume_pending_.exchange(false)) resume_paused(out);
  }
  out.run();
}

// --- the I/O -------------------------------------------------------------------

void TcpEngine::process(Events events, PortQueue::Handoffs& out) {
  for (const auto& event : events) {
    if (event.key == kListenerKey) {
      accept_all();
      continue;
    }
    auto it = connections_.find(event.key);
    if (it == connections_.end()) continue;  // dropped earlier in this batch
    Connection& c = *it->second;
    if ((event.readiness & io::kWritable) && !flush_output(c)) {
      drop(c);
      continue;
    }
    if ((event.readiness & (io::kReadable | io::kHangup)) && !c.paused && !read_some(c, out)) {
      drop(c);
      continue;
    }
    if (!update_interest(c)) drop(c);
  }
}

void TcpEngine::accept_all() {
  for (;;) {
    auto stream = listener_.accept();
    if (!stream) {
      if (stream.error().is(ErrorKind::overloaded)) {  // out of descriptors: back off, don't spin
        (void)poller().modify(listener_.native_handle(), 0, kListenerKey);
        on_accept_paused_();
      }
      return;
    }
    if (connections_.size() >= core_->options.max_connections) {
      core_->counters.add_rejected();
      continue;  // the stream closes here
    }
    if (!stream->set_non_blocking(true) || !stream->set_no_delay(true)) continue;
    auto c = std::make_unique<Connection>(std::move(*stream));
    c->key = next_connection_++;
    c->source = make_source(source_text(c->stream), weak_from_this(), c->key);
    if (!poller().add(c->stream.native_handle(), io::kReadable, c->key)) continue;
    c->interest = io::kReadable;
    connections_.emplace(c->key, std::move(c));
    open_.fetch_add(1, std::memory_order_relaxed);
  }
}

void TcpEngine::resume_accepting() {
  std::lock_guard lock(mutex_);
  if (!closed_) (void)poller().modify(listener_.native_handle(), io::kReadable, kListenerKey);
}

// Reads what is there (a bounded number of chunks) and delivers every whole
// frame. False: the connection is done.
bool TcpEngine::read_some(Connection& c, PortQueue::Handoffs& out) {
  for (int round = 0; round < kReadRounds && !c.paused; ++round) {
    auto n = c.stream.read(scratch_);
    if (!n) return n.error().is(ErrorKind::would_block);
    const auto input = std::span<const std::byte>(scratch_).first(*n);
    if (!c.partial.empty()) {
      c.partial.insert(c.partial.end(), input.begin(), input.end());
      c.partial_since = io::Clock::now();  // progress: the frame timeout starts again
      if (!deliver_partial(c, out)) return false;
      continue;
    }
    auto used = deliver(c, input, out);
    if (!used) return false;
    if (*used < input.size()) {  // keep the rest: the start of a frame, or what waits for room
      c.partial.assign(input.begin() + static_cast<std::ptrdiff_t>(*used), input.end());
      c.partial_since = io::Clock::now();
    }
    if (*n < scratch_.size()) return true;  // the socket is drained
  }
  return true;
}

bool TcpEngine::deliver_partial(Connection& c, PortQueue::Handoffs& out) {
  auto used = deliver(c, c.partial, out);
  if (!used) return false;
  if (*used > 0) {
    c.partial.erase(c.partial.begin(), c.partial.begin() + static_cast<std::ptrdiff_t>(*used));
    c.partial_since = io::Clock::now();
  }
  if (c.partial.empty()) Bytes().swap(c.partial);  // an idle connection holds no buffer
  return true;
}

// Delivers the whole frames at the front of `input`; returns the bytes used.
// Stops early when the queue is full (the connection pauses). Error: malformed.
Result<std::size_t> TcpEngine::deliver(Connection& c, std::span<const std::byte> input,
                                       PortQueue::Handoffs& out) {
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
    if (f.kind == frame::kDataToAck) on_taken = ack_on_taken(c.key, f.id);
    if (core_->queue.offer(message, std::move(on_taken), &out) != PortQueue::Offer::accepted) {
      pause(c);  // the frame stays unread by the port; TCP flow control holds the sender
      break;
    }
    ++c.messages_in;
    c.bytes_in += f.payload.size();
    used += f.size;
  }
  return used;
}

void TcpEngine::pause(Connection& c) {
  c.paused = true;
  paused_.push_back(c.key);
  // Runs when receives have made room, perhaps at once, with our lock held:
  // it only flags and wakes whoever drives.
  core_->queue.when_space([weak = weak_from_this()] {
    if (auto engine = weak.lock()) {
      engine->resume_pending_.store(true);
      engine->poller().interrupt();
    }
  });
}

void TcpEngine::resume_paused(PortQueue::Handoffs& out) {
  std::vector<std::uint64_t> keys;
  keys.swap(paused_);
  for (auto key : keys) {
    auto it = connections_.find(key);
    if (it == connections_.end() || !it->second->paused) continue;
    Connection& c = *it->second;
    c.paused = false;
    if (!deliver_partial(c, out) || !update_interest(c)) drop(c);
  }
}

// An acknowledgement runs on the receiving thread, perhaps after the port is gone.
PortQueue::OnTaken TcpEngine::ack_on_taken(std::uint64_t connection, std::uint64_t message) {
  return [weak = weak_from_this(), connection, message] {
    if (auto engine = weak.lock()) engine->send_ack(connection, message);
  };
}

void TcpEngine::send_ack(std::uint64_t connection, std::uint64_t message) {
  std::lock_guard lock(mutex_);
  auto it = connections_.find(connection);
  if (closed_ || it == connections_.end()) return;  // the sender learns by its timeout
  Connection& c = *it->second;
  frame::append(c.output, frame::kAck, message, {});
  if (!flush_output(c) || !update_interest(c)) drop(c);
}

Result<void> TcpEngine::reply(std::uint64_t connection, std::span<const std::byte> data) {
  std::lock_guard lock(mutex_);
  auto it = connections_.find(connection);
  if (closed_ || it == connections_.end()) {
    return Error(ErrorKind::closed,
                 std::string("reply: ") + (closed_ ? "the port is closed"
                                                   : "the connection the message came on is gone"));
  }
  Connection& c = *it->second;
  const auto where = [&] { return "reply to " + c.source->text + ": "; };
  if (data.size() > core_->options.max_message_size) {
    return Error(ErrorKind::too_large, where() + "message of " + std::to_string(data.size()) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(core_->options.max_message_size));
  }
  if (c.output.size() - c.output_written > core_->options.max_reply_backlog) {
    return Error(ErrorKind::would_block,
                 where() + "the peer is not reading: the connection's output is full");
  }
  frame::append(c.output, frame::kData, 0, data);
  core_->counters.add_out(data.size());
  if (!flush_output(c) || !update_interest(c)) {
    drop(c);
    return Error(ErrorKind::reset, where() + "the connection failed while writing");
  }
  return ok();
}

bool TcpEngine::flush_output(Connection& c) {
  while (c.output_written < c.output.size()) {
    auto n = c.stream.write(std::span<const std::byte>(c.output).subspan(c.output_written));
    if (!n) return n.error().is(ErrorKind::would_block);
    c.output_written += *n;
  }
  Bytes().swap(c.output);
  c.output_written = 0;
  return true;
}

// Watches the connection for what it needs now; a connection that needs
// nothing leaves the poller (a paused one would otherwise report hang-ups).
bool TcpEngine::update_interest(Connection& c) {
  const std::uint32_t interest =
      (c.paused ? 0u : io::kReadable) | (c.output.empty() ? 0u : io::kWritable);
  if (interest == c.interest) return true;
  const int fd = c.stream.native_handle();
  Result<void> changed = ok();
  if (interest == 0) {
    poller().remove(fd);
  } else {
    changed =
        c.interest == 0 ? poller().add(fd, interest, c.key) : poller().modify(fd, interest, c.key);
  }
  c.interest = interest;
  return changed.has_value();
}

void TcpEngine::sweep_slow_peers(io::Clock::time_point now) {
  std::lock_guard lock(mutex_);
  std::vector<Connection*> stalled;
  for (auto& [key, c] : connections_) {
    if (c->paused || c->partial.empty()) continue;
    if (now - c->partial_since >= core_->options.frame_timeout) stalled.push_back(c.get());
  }
  for (Connection* c : stalled) {
    core_->counters.add_timed_out();
    drop(*c);
  }
}

// Closes a connection and forgets it: `c` is gone afterwards.
void TcpEngine::drop(Connection& c) {
  if (c.interest != 0) poller().remove(c.stream.native_handle());
  open_.fetch_sub(1, std::memory_order_relaxed);
  connections_.erase(c.key);
}

void TcpEngine::close() {
  {
    std::lock_guard lock(mutex_);
    if (std::exchange(closed_, true)) return;
    for (auto& [key, c] : connections_) {
      if (c->interest != 0) poller().remove(c->stream.native_handle());
    }
    connections_.clear();
    paused_.clear();
    open_.store(0, std::memory_order_relaxed);
    poller().remove(listener_.native_handle());
    listener_.close();
  }
  interrupt();  // a leading thread returns
}

std::vector<ConnectionStats> TcpEngine::connections() {
  std::lock_guard lock(mutex_);
  std::vector<ConnectionStats> out;
  out.reserve(connections_.size());
  for (const auto& [key, c] : connections_) {
    out.push_back(
        {c->source->text.substr(6), c->messages_in, c->bytes_in, c->partial.size(), c->paused});
  }
  return out;
}

}  // namespace nexo::msg
