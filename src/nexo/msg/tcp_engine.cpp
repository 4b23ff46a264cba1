#include "nexo/msg/tcp_engine.hpp"

#include <array>

#include "nexo/msg/frame.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::uint64_t kListenerKey = 0;
constexpr int kReadRounds = 16;  // chunks per connection per turn: fair to the others
constexpr std::uint32_t kPollerEvery = 16;  // wait_directly(): every 16th wait is the Poller's
constexpr std::size_t kOfferBatch = 64;  // frames offered to the queue under one lock
// Large frames (more than a chunk) may claim the budget but for 1/kSmallShare of
// it, which stays for small ones: a few peers holding huge frames cannot stop
// the port's small messages.
constexpr std::size_t kSmallShare = 4;

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
  io::Clock::time_point frame_started{};  // the front frame's first byte (or its admission)
  std::size_t charged = 0;  // counted against the port's budget: max(partial.size(), claim)
  std::size_t claim = 0;    // the front frame's whole size, once admitted (0: not admitted)
  bool waiting = false;     // not reading until the budget has room for it
  bool waiting_large = false;
  Bytes output;  // acknowledgements and replies not yet written
  std::size_t output_written = 0;
  std::uint64_t messages_in = 0, bytes_in = 0;
  std::uint32_t interest = 0;  // what the poller watches it for (0: not in the poller)
  bool paused = false;         // the queue was full: not reading
  bool reading_directly = false;  // the leader reads it without the lock (wait_directly)
};

TcpEngine::TcpEngine(net::TcpListener listener, io::Poller poller, std::shared_ptr<PortCore> core,
                     std::function<void()> on_accept_paused, Now now)
    : io::DrivenPoller(std::move(poller)),
      core_(std::move(core)),
      on_accept_paused_(std::move(on_accept_paused)),
      now_(std::move(now)),
      listener_(std::move(listener)),
      scratch_(kReadChunk) {}

TcpEngine::~TcpEngine() {
  close();
}

Result<void> TcpEngine::check(const PortOptions& options) {
  const std::size_t budget = options.max_partial_bytes;
  const std::size_t largest = options.max_message_size + frame::kMaxHeaderSize;
  const std::size_t room = largest > kReadChunk ? budget - budget / kSmallShare : budget;
  if (largest > room) {
    return Error(ErrorKind::invalid_argument,
                 "max_partial_bytes of " + std::to_string(budget) +
                     " cannot hold a frame of max_message_size (" +
                     std::to_string(options.max_message_size) +
                     " bytes): large frames may take 3/4 of the budget; raise it to at least " +
                     std::to_string((largest * kSmallShare + kSmallShare - 2) / (kSmallShare - 1)));
  }
  return ok();
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
    end_of_turn(out);
  }
  out.run();
}

void TcpEngine::end_of_turn(PortQueue::Handoffs& out) {
  if (resume_pending_.exchange(false)) resume_paused(out);
  serve_waiters();
}

// The one connection's read, waited in without the lock (replies and
// acknowledgements go on meanwhile); a drop or close meanwhile shuts the socket
// down, which ends the read, and leaves the connection in lingering_.
bool TcpEngine::wait_directly() {
  Connection* c = nullptr;
  std::uint64_t key = 0;
  std::size_t room = 0;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || connections_.size() != 1 || ++direct_turns_ % kPollerEvery == 0) return false;
    c = connections_.begin()->second.get();
    if (c->paused || c->waiting || c->interest != io::kReadable ||
        !c->stream.non_blocking_calls())
      return false;
    room = std::min(read_room(*c), kReadChunk);
    if (room == 0) return false;
    c->reading_directly = true;
    key = c->key;
  }
  if (direct_in_.size() < kReadChunk) direct_in_.resize(kReadChunk);
  auto n = c->stream.read_waiting(std::span(direct_in_).first(room));
  PortQueue::Handoffs out;
  bool came = true;
  {
    std::lock_guard lock(mutex_);
    c->reading_directly = false;
    if (!connections_.contains(key)) {
      lingering_.reset();  // dropped, or the port closed, meanwhile
    } else if (!n) {
      came = !n.error().is(ErrorKind::would_block);  // nothing within the limit
      if (came) drop(*c);                             // the peer closed, or the connection broke
    } else if (!take(*c, std::span<const std::byte>(direct_in_).first(*n), out) ||
               !update_interest(*c)) {
      drop(*c);
    }
    if (!closed_) end_of_turn(out);
  }
  out.run();
  return came;
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
    // A connection that cannot be set up is closed here, and counted with the rejected.
    // Direct waits on TCP only: see connect_ipc (tcp_sender.cpp).
    const auto non_blocking = stream->is_unix() ? stream->set_non_blocking(true)
                                                : stream->set_non_blocking_calls(kDirectWaitLimit);
    if (!non_blocking || !stream->set_no_delay(true)) {
      core_->counters.add_rejected();
      continue;
    }
    auto c = std::make_unique<Connection>(std::move(*stream));
    c->key = next_connection_++;
    c->source = make_source(source_text(c->stream), weak_from_this(), c->key);
    if (!poller().add(c->stream.native_handle(), io::kReadable, c->key)) {
      core_->counters.add_rejected();
      continue;
    }
    c->interest = io::kReadable;
    connections_.emplace(c->key, std::move(c));
    open_.fetch_add(1, std::memory_order_relaxed);
  }
}

void TcpEngine::resume_accepting() {
  std::lock_guard lock(mutex_);
  if (!closed_) (void)poller().modify(listener_.native_handle(), io::kReadable, kListenerKey);
}

// Reads what is there (a bounded number of chunks, each within what the
// partial-frame budget allows) and delivers every whole frame. False: the
// connection is done.
bool TcpEngine::read_some(Connection& c, PortQueue::Handoffs& out) {
  for (int round = 0; round < kReadRounds && !c.paused && !c.waiting; ++round) {
    const std::size_t room = read_room(c);
    if (room == 0) {  // the budget is spent: wait for room (TCP holds the sender)
      wait_for_budget(c, false);
      return true;
    }
    auto n = c.stream.read(std::span(scratch_).first(room));
    if (!n) return n.error().is(ErrorKind::would_block);
    if (!take(c, std::span<const std::byte>(scratch_).first(*n), out)) return false;
    if (*n < room) return true;  // the socket is drained
  }
  return true;
}

// Delivers the frames `input` completes and keeps the rest in c.partial.
// A frame begun in an earlier read is completed by copying only the bytes it
// lacks (its header first, if that is not whole yet); the frames after it are
// cut from `input` where they are, not copied into c.partial first.
bool TcpEngine::take(Connection& c, std::span<const std::byte> input, PortQueue::Handoffs& out) {
  while (!c.partial.empty() && !input.empty() && !c.paused) {
    const std::size_t size = front_frame_size(c);  // 0: its header is not whole yet
    std::size_t want = input.size();
    if (size > c.partial.size()) {
      want = size - c.partial.size();
    } else if (c.partial.size() < frame::kMaxHeaderSize) {
      want = frame::kMaxHeaderSize - c.partial.size();
    }
    const std::size_t n = std::min(want, input.size());
    c.partial.insert(c.partial.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
    input = input.subspan(n);
    if (!deliver_partial(c, out)) return false;
  }
  if (!c.partial.empty() || c.paused) {  // the queue is full: what is read waits with the rest
    if (!input.empty()) {
      c.partial.insert(c.partial.end(), input.begin(), input.end());
      settle(c, false);
    }
    return true;
  }
  if (input.empty()) return true;
  auto used = deliver(c, input, out);
  if (!used) return false;
  if (*used < input.size())  // the start of a frame, or what waits for room in the queue
    c.partial.assign(input.begin() + static_cast<std::ptrdiff_t>(*used), input.end());
  settle(c, true);
  return true;
}

bool TcpEngine::deliver_partial(Connection& c, PortQueue::Handoffs& out) {
  auto used = deliver(c, c.partial, out);
  if (!used) return false;
  if (*used > 0)
    c.partial.erase(c.partial.begin(), c.partial.begin() + static_cast<std::ptrdiff_t>(*used));
  settle(c, *used > 0);
  return true;
}

// --- the partial-frame budget ---------------------------------------------------

// After c.partial changed (`new_front`: its front frame is another one): the
// frame clock starts for a new front frame (bytes of the same frame do not
// restart it: it bounds the whole frame), the budget is charged what c holds,
// and the front frame is admitted once its header tells its size.
void TcpEngine::settle(Connection& c, bool new_front) {
  if (new_front) {
    release_claim(c);
    if (!c.partial.empty()) c.frame_started = now_();
    if (c.partial.capacity() > std::max(2 * c.partial.size(), kReadChunk))
      c.partial.shrink_to_fit();  // what an admitted frame reserved
  }
  if (c.partial.empty() && c.partial.capacity() > 0) Bytes().swap(c.partial);
  recharge(c);
  if (c.claim == 0 && !c.paused && !c.partial.empty()) {
    const std::size_t size = front_frame_size(c);
    if (size > 0 && !claim(c, size)) wait_for_budget(c, size > kReadChunk);
  }
}

// The whole size of the incomplete frame at the front of c.partial; 0 when its
// header has not arrived (or the frame is complete: it waits for the queue).
std::size_t TcpEngine::front_frame_size(const Connection& c) const {
  frame::Parsed f;
  std::string why;
  const auto status = frame::parse(c.partial, core_->options.max_message_size, f, why);
  return status == frame::Status::need_more ? f.size : 0;
}

// Admits c's front frame of `size` bytes if the budget has room for all of it
// (a large frame: within the large frames' share). Waiters of its kind go first.
bool TcpEngine::claim(Connection& c, std::size_t size) {
  const bool large = size > kReadChunk;
  const std::size_t budget = core_->options.max_partial_bytes;
  const std::size_t more = size > c.charged ? size - c.charged : 0;
  if (budget_free() < more) return false;
  if (large && large_claimed_ + size > budget - budget / kSmallShare) return false;
  c.claim = size;
  if (large) large_claimed_ += size;
  c.partial.reserve(size);  // grows as the bytes arrive, not before: untouched pages cost nothing
  recharge(c);
  return true;
}

void TcpEngine::release_claim(Connection& c) {
  if (c.claim > kReadChunk) large_claimed_ -= c.claim;
  c.claim = 0;
}

void TcpEngine::recharge(Connection& c) {
  const std::size_t charge = std::max(c.partial.size(), c.claim);
  if (charge < c.charged) budget_freed_ = true;
  budget_used_ = budget_used_ - c.charged + charge;
  c.charged = charge;
}

// How much c may read now: the rest of its admitted frame (whatever the
// budget), or what the budget has left if that is more (nothing while earlier
// connections wait for it). Only the front frame's bytes and the start of the
// last frame read are kept (take()), so the frames in between cost nothing:
// one read, not two, when a chunk ends inside a small frame.
std::size_t TcpEngine::read_room(const Connection& c) const {
  const std::size_t rest = c.claim > c.partial.size() ? c.claim - c.partial.size() : 0;
  const std::size_t free = small_waiting_ > 0 ? 0 : budget_free();
  return std::min(kReadChunk, std::max(rest, free));
}

std::size_t TcpEngine::budget_free() const {
  const std::size_t budget = core_->options.max_partial_bytes;
  return budget_used_ < budget ? budget - budget_used_ : 0;
}

void TcpEngine::wait_for_budget(Connection& c, bool large) {
  c.waiting = true;
  c.waiting_large = large;
  ++(large ? large_waiting_ : small_waiting_);
  waiting_.push_back(c.key);
  core_->counters.add_budget_wait();
}

void TcpEngine::stop_waiting(Connection& c) {
  c.waiting = false;
  --(c.waiting_large ? large_waiting_ : small_waiting_);
}

// Some budget was freed: admits the waiting connections, in order of arrival
// (a large frame that does not fit yet keeps later large ones waiting, but not
// small ones), and starts reading them again.
void TcpEngine::serve_waiters() {
  while (std::exchange(budget_freed_, false)) {
    bool blocked[2] = {false, false};  // small, large
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      auto found = connections_.find(*it);
      if (found == connections_.end() || !found->second->waiting) {
        it = waiting_.erase(it);
        continue;
      }
      Connection& c = *found->second;
      bool& kind_blocked = blocked[c.waiting_large ? 1 : 0];
      const std::size_t size = front_frame_size(c);
      const bool admitted =
          !kind_blocked && (size > 0 ? claim(c, size) : budget_free() > 0);
      if (!admitted) {
        kind_blocked = true;
        ++it;
        continue;
      }
      it = waiting_.erase(it);
      stop_waiting(c);
      c.frame_started = now_();  // its time runs from now: the wait was the port's doing
      if (!update_interest(c)) drop(c);
    }
  }
}

// Delivers the whole frames at the front of `input`; returns the bytes used.
// The frames go to the queue kOfferBatch at a time, under one lock of it.
// Stops early when the queue is full (the connection pauses; the frames it
// refused stay unread, for the next turn). Error: malformed (after the whole
// frames before it are delivered).
Result<std::size_t> TcpEngine::deliver(Connection& c, std::span<const std::byte> input,
                                       PortQueue::Handoffs& out) {
  std::size_t used = 0;
  std::optional<Error> bad;
  while (!c.paused && !bad) {
    const std::size_t cut = cut_frames(c, input.subspan(used), bad);
    if (arrivals_.empty()) break;
    const auto offered = core_->queue.offer_all(arrivals_, out);
    for (std::size_t i = 0; i < offered.accepted; ++i) {
      ++c.messages_in;
      c.bytes_in += cut_[i].payload;
      used += cut_[i].frame;
    }
    const bool refused = offered.accepted < arrivals_.size();
    arrivals_.clear();  // refused ones are cut again from the same bytes next time
    if (refused) {
      pause(c);  // TCP flow control holds the sender meanwhile
      return used;
    }
    if (cut < kOfferBatch) break;  // the input holds no more whole frames
  }
  if (bad) return *std::move(bad);
  return used;
}

// Cuts up to kOfferBatch whole frames from the front of `input` into
// arrivals_ (their sizes in cut_); returns how many. A malformed frame (or an
// acknowledgement, which a port never asked for) ends the cutting and sets
// `bad`.
std::size_t TcpEngine::cut_frames(Connection& c, std::span<const std::byte> input,
                                  std::optional<Error>& bad) {
  cut_.clear();
  std::size_t at = 0;
  while (arrivals_.size() < kOfferBatch) {
    frame::Parsed f;
    std::string why;
    const auto status = frame::parse(input.subspan(at), core_->options.max_message_size, f, why);
    if (status == frame::Status::need_more) break;
    if (status == frame::Status::malformed || f.kind == frame::kAck) {
      core_->counters.add_malformed();
      bad = Error(ErrorKind::malformed, why);
      break;
    }
    PortQueue::OnTaken on_taken;
    if (f.kind == frame::kDataToAck) on_taken = ack_on_taken(c.key, f.id);
    arrivals_.push_back({Message{Bytes(f.payload.begin(), f.payload.end()), c.source},
                         std::move(on_taken)});
    cut_.push_back({f.size, f.payload.size()});
    at += f.size;
  }
  return arrivals_.size();
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
  if (!flush_output(c) || !update_interest(c)) {
    drop(c);
    serve_waiters();
  }
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
    Error failed(ErrorKind::reset, where() + "the connection failed while writing");
    drop(c);  // frees c: where() cannot run after this
    serve_waiters();
    return failed;
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
// nothing leaves the poller (a paused or waiting one would otherwise report
// hang-ups).
bool TcpEngine::update_interest(Connection& c) {
  const std::uint32_t interest =
      (c.paused || c.waiting ? 0u : io::kReadable) | (c.output.empty() ? 0u : io::kWritable);
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
    if (c->paused || c->waiting || c->partial.empty()) continue;  // the port makes them wait
    if (now - c->frame_started >= core_->options.frame_timeout) stalled.push_back(c.get());
  }
  for (Connection* c : stalled) {
    core_->counters.add_timed_out();
    drop(*c);
  }
  serve_waiters();
}

// Closes a connection and forgets it: `c` is gone afterwards.
void TcpEngine::drop(Connection& c) {
  if (c.interest != 0) poller().remove(c.stream.native_handle());
  if (c.waiting) stop_waiting(c);
  release_claim(c);
  budget_used_ -= c.charged;
  if (c.charged > 0) budget_freed_ = true;
  open_.fetch_sub(1, std::memory_order_relaxed);
  auto it = connections_.find(c.key);
  if (c.reading_directly) {  // the leader is in its read: end that, free it after
    (void)c.stream.shutdown_read();
    lingering_ = std::move(it->second);
  }
  connections_.erase(it);
}

void TcpEngine::close() {
  {
    std::lock_guard lock(mutex_);
    if (std::exchange(closed_, true)) return;
    for (auto& [key, c] : connections_) {
      if (c->interest != 0) poller().remove(c->stream.native_handle());
      if (c->reading_directly) {  // as drop() does
        (void)c->stream.shutdown_read();
        lingering_ = std::move(c);
      }
    }
    connections_.clear();
    paused_.clear();
    waiting_.clear();
    budget_used_ = large_claimed_ = small_waiting_ = large_waiting_ = 0;
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
        {c->source->text.substr(6), c->messages_in, c->bytes_in, c->partial.size(),
         c->paused || c->waiting});
  }
  return out;
}

}  // namespace nexo::msg
