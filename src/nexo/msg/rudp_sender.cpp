// rudp:// sending side: one connection to a port, the sends' completions
// (left: every fragment transmitted once; taken: the port's acknowledgement),
// and the port's replies.
#include <deque>
#include <unordered_map>

#include "nexo/msg/datagram_socket.hpp"
#include "nexo/msg/rudp_endpoint.hpp"

namespace nexo::msg {
namespace {

using namespace rudp;

// Packets in flight from which a message handed over waits for the next
// acknowledgement's turn to leave (see hand_over).
constexpr std::size_t kAutocorkInFlight = 16;

class SenderEngine final : public Endpoint {
 public:
  SenderEngine(Context& context, net::UdpSocket socket, const reliable::HostConfig& config, Uri uri,
               const SenderOptions& options)
      : Endpoint(context, std::move(socket), config),
        uri_(std::move(uri)),
        options_(options),
        replies_(options.replies, counters_) {}

  // Opens the connection and waits until it is established.
  Result<void> open(const net::Endpoint& peer) {
    std::unique_lock lock(mutex_);
    connected_ = peer;
    const Time now = reliable::Clock::now();
    id_ = host_.connect(peer, now);
    flush_now(lock, now);
    rearm_locked();
    const auto deadline = options_.connect_timeout ? io::Clock::now() + *options_.connect_timeout
                                                   : io::Clock::time_point::max();
    const bool done = changed_.wait_until(lock, deadline, [&] {
      auto* c = host_.find(id_);
      return failed_ || c == nullptr || c->state() != reliable::State::connecting;
    });
    if (failed_) return *failed_;
    if (!done) {
      return Error(ErrorKind::timed_out, "rudp connect to " + uri_.to_string() +
                                             ": no answer within the connect timeout");
    }
    auto* c = host_.find(id_);
    if (c == nullptr || c->state() != reliable::State::established) {
      return Error(ErrorKind::refused, "rudp connect to " + uri_.to_string() + ": refused");
    }
    return ok();
  }

  Result<io::Request<void>> submit(std::span<const std::byte> data, bool until_taken) {
    // A synchronous send's wait reads the acknowledgement itself.
    auto [request, completer] = io::Request<void>::make(until_taken ? progress() : nullptr);
    auto queued = hand_over(data, until_taken, &completer);
    if (!queued) return std::move(queued).error();
    return std::move(request);
  }

  Result<void> enqueue(std::span<const std::byte> data) { return hand_over(data, false, nullptr); }

  // Waits on room_, which is notified only once there is room (not on every
  // turn of the loop, as changed_ is): one wake per wait.
  Result<void> wait_for_space(io::Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    ++room_waiters_;
    const bool room = room_.wait_until(lock, deadline, [&] { return room_locked(); });
    --room_waiters_;
    if (closed_) return closed_error();
    if (failed_) return *failed_;
    if (!room) return Error(ErrorKind::timed_out, where() + ": the local buffer stayed full");
    return ok();
  }

  Result<void> flush(io::Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    auto* c = host_.find(id_);
    const std::uint64_t target = c ? c->messages_queued() : 0;
    const bool done = changed_.wait_until(lock, deadline, [&] {
      auto* conn = host_.find(id_);
      return failed_ || closed_ || conn == nullptr || conn->messages_left() >= target;
    });
    if (closed_) return closed_error();
    if (failed_) return *failed_;
    if (!done)
      return Error(ErrorKind::timed_out,
                   "flush to " + uri_.to_string() + ": messages still in the local buffer");
    return ok();
  }

  void close() {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    {
      std::unique_lock lock(mutex_);
      if (closed_) return;
      closed_ = true;
      notify_room_locked();
      const Time now = reliable::Clock::now();
      host_.close(id_, now);
      flush_now(lock, now);
      rearm_locked();
      // What was sent still arrives, then the port learns of the close.
      linger(lock, [&] {
        auto* c = host_.find(id_);
        return c == nullptr || c->state() == reliable::State::closed ||
               c->state() == reliable::State::broken;
      });
      fail_locked(closed_error(), later);
      lock.unlock();
      for (auto& f : later)
        f();
    }
    stop();
  }

  const Counters& counters() const noexcept { return counters_; }
  PortQueue& replies() noexcept { return replies_; }

 private:
  std::string where() const { return "send to " + uri_.to_string(); }
  Error closed_error() const {
    return Error(ErrorKind::closed, where() + ": the sender is closed");
  }
  std::size_t queued_locked() {
    auto* c = host_.find(id_);
    return c ? c->queued_bytes() : 0;
  }
  // What wait_for_space waits for: room for more, or an end.
  bool room_locked() {
    return failed_ || closed_ || queued_locked() <= options_.max_queued_bytes / 2;
  }
  void notify_room_locked() {
    if (room_waiters_ > 0 && room_locked()) room_.notify_all();
  }

  Result<void> hand_over(std::span<const std::byte> data, bool until_taken,
                         io::Completer<void>* completer) {
    if (data.size() > options_.max_message_size) {
      return Error(ErrorKind::too_large, where() + ": message of " + std::to_string(data.size()) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(options_.max_message_size));
    }
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    if (closed_) return closed_error();
    if (failed_) return *failed_;
    const std::uint64_t id = until_taken ? next_id_++ : 0;
    const Time now = reliable::Clock::now();
    auto* c = host_.find(id_);
    if (c == nullptr) return Error(ErrorKind::closed, where() + ": the connection is gone");
    if (c->queued_bytes() > 0 && c->queued_bytes() + data.size() > options_.max_queued_bytes) {
      return Error(ErrorKind::would_block, where() + ": the local buffer is full");
    }
    auto sent = host_.send(id_, frame(until_taken ? kDataToAck : kData, id, data), now);
    if (!sent) return std::move(sent).error().with_context(where());
    counters_.add_out(data.size());
    if (completer != nullptr) {
      if (until_taken) {
        awaiting_.emplace(id, std::move(*completer));
      } else {
        marks_.emplace_back(c->messages_queued(), std::move(*completer));
      }
    }
    // Autocorking, as Linux TCP does it: with many packets in flight,
    // acknowledgements keep coming, and the turn each one takes sends what
    // queued meanwhile in one batch. Sending each message at once would cost
    // a system call, and a wake of the peer, per message. A synchronous send
    // goes at once: someone waits for it.
    if (until_taken || c->packets_in_flight() < kAutocorkInFlight) flush_locked(now);
    complete_marks_locked(later);
    rearm_locked();
    finish(lock, handoffs, later);
    return ok();
  }

  void complete_marks_locked(std::vector<std::function<void()>>& later) {
    auto* c = host_.find(id_);
    const std::uint64_t left = c ? c->messages_left() : 0;
    while (!marks_.empty() && marks_.front().first <= left) {
      later.push_back([done = std::make_shared<io::Completer<void>>(
                           std::move(marks_.front().second))] { done->complete(ok()); });
      marks_.pop_front();
    }
    notify_room_locked();
    changed_.notify_all();
  }

  void fail_locked(Error error, std::vector<std::function<void()>>& later) {
    if (!failed_) failed_ = error;
    for (auto& [ordinal, completer] : marks_)
      later.push_back([c = std::make_shared<io::Completer<void>>(std::move(completer)), error] {
        c->complete(error);
      });
    for (auto& [id, completer] : awaiting_)
      later.push_back([c = std::make_shared<io::Completer<void>>(std::move(completer)), error] {
        c->complete(error);
      });
    marks_.clear();
    awaiting_.clear();
    later.push_back([this, error] { replies_.close(error); });
    notify_room_locked();
    changed_.notify_all();
  }

  void on_socket_error_locked(const Error& error,
                              std::vector<std::function<void()>>& later) override {
    if (error.is(ErrorKind::refused)) {
      fail_locked(Error(ErrorKind::refused,
                        "rudp " + uri_.to_string() + ": nobody listens there (port unreachable)"),
                  later);
    }
  }

  void process_locked(Time, PortQueue::Handoffs& handoffs,
                      std::vector<std::function<void()>>& later) override {
    auto* c = host_.find(id_);
    if (c == nullptr) {
      notify_room_locked();  // the connection is gone: nothing queued
      return;
    }
    const auto retransmits = c->stats().retransmits;
    counters_.add_retransmitted(retransmits - retransmits_seen_);
    retransmits_seen_ = retransmits;
    while (!held_ || replies_.offer(*held_, {}, &handoffs) == PortQueue::Offer::accepted) {
      held_.reset();
      auto bytes = host_.receive(id_);
      if (!bytes) break;
      auto u = unframe(*bytes);
      if (!u || u->kind == kDataToAck) {
        counters_.add_malformed();
        continue;
      }
      if (u->kind == kTaken) {
        if (auto it = awaiting_.find(u->id); it != awaiting_.end()) {
          later.push_back([done = std::make_shared<io::Completer<void>>(std::move(it->second))] {
            done->complete(ok());
          });
          awaiting_.erase(it);
        }
        continue;
      }
      held_ = Message{Bytes(u->payload.begin(), u->payload.end()), reply_source_};
    }
    if (held_ && !space_asked_) {
      space_asked_ = true;
      replies_.when_space([weak = std::weak_ptr<Endpoint>(shared_from_this())] {
        if (auto self = weak.lock()) {
          auto& engine = static_cast<SenderEngine&>(*self);
          engine.space_asked_ = false;
          engine.context_.io().post([weak] {
            if (auto again = weak.lock()) static_cast<SenderEngine&>(*again).poke();
          });
        }
      });
    }
    complete_marks_locked(later);
    if (!failed_) {
      if (c->state() == reliable::State::broken) {
        fail_locked(c->error()
                        .value_or(Error(ErrorKind::timed_out, "rudp: broken"))
                        .with_context("rudp " + uri_.to_string()),
                    later);
      } else if (c->state() == reliable::State::closed && !closed_) {
        fail_locked(Error(ErrorKind::closed,
                          "rudp " + uri_.to_string() + ": the port closed the connection"),
                    later);
      }
    }
    changed_.notify_all();
  }

  void after_flush_locked(std::vector<std::function<void()>>& later) override {
    complete_marks_locked(later);
  }

  void poke() { take_turn(); }

  const Uri uri_;
  const SenderOptions options_;
  Counters counters_;
  PortQueue replies_;
  const Source reply_source_ = make_source(uri_.to_string());
  // With mutex_.
  std::uint32_t id_ = 0;
  std::uint64_t next_id_ = 1;
  std::deque<std::pair<std::uint64_t, io::Completer<void>>>
      marks_;  // send_async: by message ordinal
  std::unordered_map<std::uint64_t, io::Completer<void>> awaiting_;  // send_sync: by id
  std::optional<Message> held_;  // a reply the full queue refused
  std::uint64_t retransmits_seen_ = 0;
  std::optional<Error> failed_;
  bool closed_ = false;
  std::condition_variable room_;  // wait_for_space's: notified once there is room
  int room_waiters_ = 0;          // threads in wait_for_space
  std::atomic<bool> space_asked_{false};
};

class RudpSender final : public SenderBackend {
 public:
  explicit RudpSender(std::shared_ptr<SenderEngine> engine) : engine_(std::move(engine)) {}
  ~RudpSender() override { close(); }
  Result<io::Request<void>> submit(std::span<const std::byte> data, bool until_taken,
                                   bool) override {
    return engine_->submit(data, until_taken);
  }
  Result<void> enqueue(std::span<const std::byte> data) override { return engine_->enqueue(data); }
  Result<void> wait_for_space(io::Clock::time_point deadline) override {
    return engine_->wait_for_space(deadline);
  }
  Result<void> flush(io::Clock::time_point deadline) override { return engine_->flush(deadline); }
  void close() override { engine_->close(); }
  const Counters& counters() const noexcept override { return engine_->counters(); }
  PortQueue* replies() noexcept override { return &engine_->replies(); }
  std::shared_ptr<io::Progress> progress() const override { return engine_->progress(); }
  void want_background() override { engine_->want_background(); }

 private:
  std::shared_ptr<SenderEngine> engine_;
};

}  // namespace

Result<std::unique_ptr<SenderBackend>> connect_rudp(Context& context, const Uri& uri,
                                                    const SenderOptions& options) {
  auto socket = open_sender_socket(uri);
  if (!socket) return std::move(socket).error();
  const net::Endpoint peer = *socket->peer();
  reliable::HostConfig config;
  config.accept = false;
  auto datagram = sender_datagram(*socket, options.max_datagram);
  if (!datagram) return std::move(datagram).error();
  config.connection = protocol_config(options.max_message_size, options.broken_after, *datagram);
  config.connection.send_buffer =
      std::max<std::size_t>(options.max_queued_bytes, options.max_message_size + 64);
  config.connection.ordered = options.ordered;
  if (auto valid = config.connection.validate(); !valid) return std::move(valid).error();
  auto engine = std::make_shared<SenderEngine>(context, std::move(*socket), config, uri, options);
  if (auto started = engine->start(options.faults); !started) return std::move(started).error();
  if (auto opened = engine->open(peer); !opened) {
    engine->stop();
    return std::move(opened).error();
  }
  return std::unique_ptr<SenderBackend>(std::make_unique<RudpSender>(std::move(engine)));
}

}  // namespace nexo::msg
