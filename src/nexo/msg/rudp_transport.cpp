// rudp://HOST:PORT — reliable datagrams over UDP: the protocol of reliable/
// (a reliable::Host: cookies, acknowledgements, retransmission, windows) on a
// UDP socket driven by the Context's I/O loop.
//
// Each message carries a one-byte kind, then (for the two kinds that need one)
// an 8-byte id, big-endian, then the payload:
//   0 data           a message (port <- sender), or a reply (port -> sender)
//   1 data-to-ack    a synchronous send's message: acknowledge once taken
//   2 taken          the acknowledgement: the receiving process took message id
// The protocol acknowledges arrival; "taken" is the chapter's end-to-end
// acknowledgement of a synchronous send, as on tcp://.
//
// Threads: the Host and the socket are guarded by one mutex. A thread blocked
// in a receive (Port::receive, Sender::receive, send_sync) reads the socket
// itself (leader/follower, io::DrivenPoller), so a message needs no hop from
// the I/O thread; while nobody does, the Context's I/O loop reads it
// (io::LoopFallback). The loop runs the timers. A sending thread hands its
// message to the Host and transmits what the Host then has to send, itself,
// under the mutex. Receives complete outside the mutex.
//
// Back-pressure: a full port queue leaves messages in their connection, whose
// advertised window shrinks, so the sender slows down; nothing is dropped.
// A full send buffer is would_block for the non-blocking sends.
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>

#include "nexo/fault/loop_injector.hpp"
#include "nexo/io/driven_poller.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/udp_socket.hpp"
#include "nexo/reliable/host.hpp"

namespace nexo::msg {
namespace {

using reliable::Time;

enum Kind : std::uint8_t { kData = 0, kDataToAck = 1, kTaken = 2 };
constexpr std::size_t kKindSize = 1, kIdSize = 8;
constexpr int kReadBatch = 64;

Bytes frame(Kind kind, std::uint64_t id, std::span<const std::byte> payload) {
  const bool with_id = kind != kData;
  Bytes out(kKindSize + (with_id ? kIdSize : 0) + payload.size());
  out[0] = static_cast<std::byte>(kind);
  if (with_id) {
    for (int i = 0; i < 8; ++i)
      out[1 + i] = static_cast<std::byte>(id >> (56 - 8 * i));
  }
  if (!payload.empty()) std::memcpy(out.data() + out.size() - payload.size(), payload.data(), payload.size());
  return out;
}

struct Unframed {
  Kind kind = kData;
  std::uint64_t id = 0;
  std::span<const std::byte> payload;
};
std::optional<Unframed> unframe(std::span<const std::byte> message) {
  if (message.empty()) return std::nullopt;
  Unframed u;
  u.kind = static_cast<Kind>(message[0]);
  if (u.kind == kData) {
    u.payload = message.subspan(1);
    return u;
  }
  if ((u.kind != kDataToAck && u.kind != kTaken) || message.size() < kKindSize + kIdSize)
    return std::nullopt;
  for (int i = 0; i < 8; ++i)
    u.id = (u.id << 8) | static_cast<std::uint8_t>(message[1 + i]);
  u.payload = message.subspan(kKindSize + kIdSize);
  return u;
}

Result<net::Endpoint> endpoint_of(const Uri& uri, bool for_bind) {
  if (uri.is_wildcard()) {
    return for_bind ? net::Endpoint(net::InetAddress::any(net::Family::v6), uri.port)
                    : net::Endpoint(net::InetAddress::loopback(), uri.port);
  }
  return net::Endpoint::resolve(uri.host, uri.port);
}

reliable::Config protocol_config(std::size_t max_message, std::chrono::milliseconds broken_after) {
  reliable::Config config;
  config.broken_after = broken_after;
  config.keepalive = std::min<reliable::Duration>(config.keepalive, broken_after / 4);
  config.max_message = max_message + kKindSize + kIdSize;
  const std::size_t packets = (config.max_message + config.max_payload - 1) / config.max_payload;
  config.window = static_cast<std::uint32_t>(std::max<std::size_t>(config.window, packets + 16));
  return config;
}

// What the Port and the Sender share: the socket, the Host, the loop's
// watcher and timer, and transmitting what the Host has to send.
class Endpoint;

// The socket's Poller, driven by whoever waits for a message (see above).
class Driver final : public io::DrivenPoller {
 public:
  Driver(io::Poller poller, std::weak_ptr<Endpoint> owner)
      : io::DrivenPoller(std::move(poller)), owner_(std::move(owner)) {}

 private:
  void handle(std::span<const io::Poller::Event> events) override;
  std::weak_ptr<Endpoint> owner_;
};

class Endpoint : public std::enable_shared_from_this<Endpoint> {
 public:
  Endpoint(Context& context, net::UdpSocket socket, const reliable::HostConfig& config)
      : context_(context), socket_(std::move(socket)), host_(config), buffer_(65'536) {}
  virtual ~Endpoint() = default;

  // Loop thread: watch the socket, arm the timer. With a fault plan, what is
  // sent goes through plan.to and what arrives through plan.back.
  Result<void> start(const std::optional<fault::Plan>& faults) {
    if (faults && faults->to.active()) {
      out_faults_ = std::make_unique<fault::LoopInjector>(
          context_.io(), faults->to, faults->seed,
          [this](std::span<const std::byte> bytes, const fault::Injector::Tag& to) {
            // Any thread; the socket is safe to send on concurrently.
            (void)(to ? socket_.send_to(bytes, *static_cast<const net::Endpoint*>(to.get()))
                      : socket_.send(bytes));
          });
    }
    if (faults && faults->back.active()) {
      in_faults_ = std::make_unique<fault::LoopInjector>(
          context_.io(), faults->back, faults->seed ^ 0x9e3779b97f4a7c15ULL,
          [this](std::span<const std::byte> bytes, const fault::Injector::Tag& from) {
            // Inside on_ready (which then takes them), or from the injector's
            // timer on the loop thread (then a turn of on_ready is posted).
            {
              std::lock_guard inbox_lock(inbox_mutex_);
              inbox_.emplace_back(*static_cast<const net::Endpoint*>(from.get()),
                                  Bytes(bytes.begin(), bytes.end()));
            }
            if (reader_.load() != std::this_thread::get_id()) {
              context_.io().post([weak = weak_from_this()] {
                if (auto self = weak.lock()) self->on_ready(0);
              });
            }
          });
    }
    auto poller = io::Poller::create();
    if (!poller) return std::move(poller).error();
    if (auto added = poller->add(socket_.native_handle(), io::kReadable, 1); !added)
      return std::move(added).error();
    driver_ = std::make_shared<Driver>(std::move(*poller), weak_from_this());
    auto started = context_.io().call<bool>([this]() -> Result<bool> {
      timer_ = std::make_unique<io::Timer>(context_.io().loop(), [this] { on_timer(); });
      return true;
    });
    if (!started) return std::move(started).error();
    auto fallback = io::LoopFallback::start(context_.io(), driver_);
    if (!fallback) return std::move(fallback).error();
    fallback_ = std::move(*fallback);
    return ok();
  }
  // Stops the loop's part; the socket closes. Idempotent.
  void stop() {
    fallback_.reset();
    (void)context_.io().call<bool>([this]() -> Result<bool> {
      timer_.reset();
      in_faults_.reset();  // what they still hold is lost, as on a network
      out_faults_.reset();
      return true;
    });
    std::lock_guard lock(mutex_);
    if (driver_ && socket_.is_open()) driver_->poller().remove(socket_.native_handle());
    socket_.close();
  }

  std::shared_ptr<io::Progress> progress() const { return driver_; }
  void want_background() {
    if (fallback_) fallback_->want_background();
  }

  // The socket is ready (`readiness`), or datagrams wait in the fault plan's
  // inbox: any thread (a leading receiver or the loop).
  void on_ready(std::uint32_t readiness);

 protected:
  // With mutex_ held, after datagrams or timers: move messages out of the
  // Host; completions into `later` (they run after the mutex is released).
  virtual void process_locked(Time now, PortQueue::Handoffs& handoffs,
                              std::vector<std::function<void()>>& later) = 0;
  // After transmitting (with mutex_ held): what the transmissions completed.
  virtual void after_flush_locked(std::vector<std::function<void()>>&) {}
  // A send on the socket failed with `error` (ECONNREFUSED on a connected socket).
  virtual void on_socket_error_locked(const Error&, std::vector<std::function<void()>>&) {}

  // Sends what the Host has to send; keeps what the socket will not take now.
  void flush_locked(Time now) {
    if (!socket_.is_open()) return;
    while (!unsent_.empty()) {
      if (!send_locked(unsent_.front().second, unsent_.front().first)) return;
      unsent_.pop_front();
    }
    Bytes out;
    net::Endpoint to;
    while (host_.poll_transmit(out, to, now)) {
      if (!send_locked(out, to)) {
        unsent_.emplace_back(to, std::move(out));
        return;
      }
    }
  }
  // Makes the loop's timer fire by the Host's next deadline.
  void rearm_locked() {
    const auto next = host_.next_timer();
    if (!next) return;
    if (armed_at_ && *armed_at_ <= *next) return;
    armed_at_ = next;
    if (context_.io().in_loop_thread()) {
      if (timer_) timer_->start_at(*next);
      return;
    }
    context_.io().post([weak = weak_from_this(), at = *next] {
      if (auto self = weak.lock(); self && self->timer_) self->timer_->start_at(at);
    });
  }
  // The end of every operation: transmit, rearm, then complete outside the lock.
  void finish(std::unique_lock<std::mutex>& lock, PortQueue::Handoffs& handoffs,
              std::vector<std::function<void()>>& later) {
    changed_.notify_all();
    lock.unlock();
    handoffs.run();
    for (auto& f : later)
      f();
  }

  // Closing: waits (up to `linger`, not on the loop thread) until `done()`,
  // while the loop goes on exchanging acknowledgements and CLOSEs.
  template <class Done>
  void linger(std::unique_lock<std::mutex>& lock, Done done) {
    if (context_.io().in_loop_thread()) return;
    changed_.wait_for(lock, kLinger, done);
  }
  static constexpr auto kLinger = std::chrono::seconds(2);

  Context& context_;
  std::mutex mutex_;
  std::condition_variable changed_;  // the loop made progress
  net::UdpSocket socket_;
  reliable::Host host_;
  std::optional<net::Endpoint> connected_;  // the sender's socket is connected

 private:
  bool send_locked(const Bytes& datagram, const net::Endpoint& to) {
    if (out_faults_) {
      out_faults_->push(datagram, connected_ ? nullptr : std::make_shared<const net::Endpoint>(to));
      return true;
    }
    auto sent = connected_ ? socket_.send(datagram) : socket_.send_to(datagram, to);
    if (sent) return true;
    if (sent.error().is(ErrorKind::would_block)) {
      if (!writable_armed_) {
        writable_armed_ = true;
        (void)driver_->poller().modify(socket_.native_handle(), io::kReadable | io::kWritable, 1);
      }
      return false;
    }
    pending_error_ = sent.error();
    return true;  // the datagram is lost; the protocol sends it again
  }

  void serve(std::uint32_t readiness) {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    const Time now = reliable::Clock::now();
    if (readiness & (io::kReadable | io::kHangup)) {
      reader_.store(std::this_thread::get_id());
      for (int i = 0; i < kReadBatch; ++i) {
        net::Endpoint from;
        auto n = socket_.receive_from(buffer_, from);
        if (!n) {
          if (n.error().is(ErrorKind::would_block)) break;
          if (n.error().is(ErrorKind::refused)) on_socket_error_locked(n.error(), later);
          continue;  // a truncated or otherwise bad datagram: the protocol counts nothing here
        }
        const auto datagram = std::span<const std::byte>(buffer_).first(*n);
        if (in_faults_) {
          in_faults_->push(datagram, std::make_shared<const net::Endpoint>(from));
        } else {
          host_.on_datagram(datagram, from, now);
        }
      }
      reader_.store(std::thread::id());
    }
    std::vector<std::pair<net::Endpoint, Bytes>> arrived;
    {
      std::lock_guard inbox_lock(inbox_mutex_);
      arrived.swap(inbox_);
    }
    for (auto& [from, datagram] : arrived)
      host_.on_datagram(datagram, from, now);
    if ((readiness & io::kWritable) && writable_armed_) {
      writable_armed_ = false;
      (void)driver_->poller().modify(socket_.native_handle(), io::kReadable, 1);
    }
    process_locked(now, handoffs, later);
    flush_locked(now);
    after_flush_locked(later);
    if (pending_error_) {
      on_socket_error_locked(*pending_error_, later);
      pending_error_.reset();
    }
    rearm_locked();
    finish(lock, handoffs, later);
  }

  void on_timer() {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    armed_at_.reset();
    const Time now = reliable::Clock::now();
    host_.on_timer(now);
    process_locked(now, handoffs, later);
    flush_locked(now);
    after_flush_locked(later);
    rearm_locked();
    finish(lock, handoffs, later);
  }

  std::shared_ptr<Driver> driver_;              // set by start()
  std::unique_ptr<io::LoopFallback> fallback_;  // set by start()
  // Loop thread only.
  std::unique_ptr<io::Timer> timer_;
  std::unique_ptr<fault::LoopInjector> in_faults_, out_faults_;  // set before start()
  // With mutex_.
  Bytes buffer_;
  // Datagrams that came through in_faults_, for host_.
  std::mutex inbox_mutex_;
  std::vector<std::pair<net::Endpoint, Bytes>> inbox_;
  std::atomic<std::thread::id> reader_{};  // the thread pushing into in_faults_
  // With mutex_.
  std::deque<std::pair<net::Endpoint, Bytes>> unsent_;
  std::optional<Time> armed_at_;
  bool writable_armed_ = false;
  std::optional<Error> pending_error_;
};

void Endpoint::on_ready(std::uint32_t readiness) {
  serve(readiness);
}

void Driver::handle(std::span<const io::Poller::Event> events) {
  std::uint32_t readiness = 0;
  for (const auto& e : events)
    readiness |= e.readiness;
  if (readiness == 0) return;  // an interrupt: the waiting thread looks at its request
  if (auto owner = owner_.lock()) owner->on_ready(readiness);
}

// --- the port ------------------------------------------------------------------

class PortEngine final : public Endpoint, public ReplyPath {
 public:
  PortEngine(Context& context, net::UdpSocket socket, const reliable::HostConfig& config,
             std::shared_ptr<PortCore> core)
      : Endpoint(context, std::move(socket), config), core_(std::move(core)) {}

  Result<void> reply(std::uint64_t connection, std::span<const std::byte> data) override {
    return send_on(static_cast<std::uint32_t>(connection), frame(kData, 0, data), true);
  }

  // Closes every connection: what they still have to send goes out, then a
  // CLOSE; waits for that (up to kLinger), then closes the socket.
  void close() {
    {
      std::unique_lock lock(mutex_);
      const Time now = reliable::Clock::now();
      for (auto id : host_.ids())
        host_.close(id, now);
      flush_locked(now);
      rearm_locked();
      linger(lock, [&] {
        for (auto id : host_.ids()) {
          const auto state = host_.find(id)->state();
          if (state != reliable::State::closed && state != reliable::State::broken) return false;
        }
        return true;
      });
      closed_ = true;
    }
    stop();
  }

  std::size_t connection_count() const noexcept { return open_.load(std::memory_order_relaxed); }
  void want_more() {  // the queue has room: take the held messages again (loop thread)
    context_.io().post([weak = std::weak_ptr<Endpoint>(shared_from_this())] {
      if (auto self = weak.lock()) static_cast<PortEngine&>(*self).resume();
    });
  }

 private:
  struct Peer {
    Source source;
    std::optional<Message> held;  // taken from the connection, refused by the full queue
    PortQueue::OnTaken held_on_taken;
    std::uint64_t retransmits_seen = 0;
  };

  Result<void> send_on(std::uint32_t id, const Bytes& message, bool is_reply) {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    if (closed_ || !peers_.contains(id)) {
      return Error(ErrorKind::closed, std::string(is_reply ? "reply" : "acknowledge") +
                                          ": the connection is gone");
    }
    const Time now = reliable::Clock::now();
    auto sent = host_.send(id, message, now);
    if (!sent) return sent;
    if (is_reply) core_->counters.add_out(message.size() - kKindSize);
    flush_locked(now);
    rearm_locked();
    finish(lock, handoffs, later);
    return ok();
  }

  void resume() {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    const Time now = reliable::Clock::now();
    process_locked(now, handoffs, later);
    flush_locked(now);
    rearm_locked();
    finish(lock, handoffs, later);
  }

  void process_locked(Time now, PortQueue::Handoffs& handoffs,
                      std::vector<std::function<void()>>&) override {
    if (closed_) return;
    while (auto id = host_.accept()) {
      const auto* peer = host_.peer_of(*id);
      peers_[*id].source = make_source("rudp://" + peer->to_string(),
                                       std::static_pointer_cast<ReplyPath>(
                                           std::static_pointer_cast<PortEngine>(shared_from_this())),
                                       *id);
      open_.fetch_add(1, std::memory_order_relaxed);
    }
    waiting_for_room_ = false;
    for (auto it = peers_.begin(); it != peers_.end();) {
      const std::uint32_t id = it->first;
      Peer& peer = it->second;
      reliable::Connection* c = host_.find(id);
      if (c == nullptr) {
        it = peers_.erase(it);
        continue;
      }
      if (!drain(id, peer, handoffs)) waiting_for_room_ = true;
      const auto retransmits = c->stats().retransmits;
      core_->counters.add_retransmitted(retransmits - peer.retransmits_seen);
      peer.retransmits_seen = retransmits;
      const auto state = c->state();
      if ((state == reliable::State::broken || state == reliable::State::closed) && !peer.held) {
        if (state == reliable::State::broken) core_->counters.add_timed_out();
        host_.remove(id);
        open_.fetch_sub(1, std::memory_order_relaxed);
        it = peers_.erase(it);
        continue;
      }
      ++it;
    }
    if (waiting_for_room_ && !space_asked_) {
      space_asked_ = true;
      core_->queue.when_space([weak = std::weak_ptr<Endpoint>(shared_from_this())] {
        if (auto self = weak.lock()) {
          auto& engine = static_cast<PortEngine&>(*self);
          engine.space_asked_ = false;  // read under the mutex by the loop; a flag, set once
          engine.want_more();
        }
      });
    }
    (void)now;
  }

  // Moves the connection's messages into the queue; false if it filled up.
  bool drain(std::uint32_t id, Peer& peer, PortQueue::Handoffs& handoffs) {
    for (;;) {
      if (!peer.held) {
        auto bytes = host_.receive(id);
        if (!bytes) return true;
        auto u = unframe(*bytes);
        if (!u || u->kind == kTaken || u->payload.size() > core_->options.max_message_size) {
          core_->counters.add_malformed();
          continue;
        }
        peer.held = Message{Bytes(u->payload.begin(), u->payload.end()), peer.source};
        if (u->kind == kDataToAck) {
          peer.held_on_taken = [weak = std::weak_ptr<Endpoint>(shared_from_this()), id,
                                ack = u->id] {
            if (auto self = weak.lock())
              (void)static_cast<PortEngine&>(*self).send_on(id, frame(kTaken, ack, {}), false);
          };
        }
      }
      const auto offered = core_->queue.offer(*peer.held, std::move(peer.held_on_taken), &handoffs);
      if (offered == PortQueue::Offer::full) return false;
      peer.held.reset();
      peer.held_on_taken = nullptr;
    }
  }

  std::shared_ptr<PortCore> core_;
  std::unordered_map<std::uint32_t, Peer> peers_;  // with mutex_
  std::atomic<std::size_t> open_{0};
  bool closed_ = false;
  bool waiting_for_room_ = false;
  std::atomic<bool> space_asked_{false};
};

class RudpPort final : public PortBackend {
 public:
  RudpPort(std::shared_ptr<PortEngine> engine, Uri uri) : engine_(std::move(engine)), uri_(std::move(uri)) {}
  ~RudpPort() override { close(); }
  const Uri& uri() const noexcept override { return uri_; }
  void close() override {
    if (std::exchange(closed_, true)) return;
    engine_->close();
  }
  std::size_t connection_count() const noexcept override { return engine_->connection_count(); }
  std::shared_ptr<io::Progress> progress() const override { return engine_->progress(); }
  void want_background() override { engine_->want_background(); }

 private:
  std::shared_ptr<PortEngine> engine_;
  Uri uri_;
  bool closed_ = false;
};

// --- the sender ----------------------------------------------------------------

class SenderEngine final : public Endpoint {
 public:
  SenderEngine(Context& context, net::UdpSocket socket, const reliable::HostConfig& config,
               Uri uri, const SenderOptions& options)
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
    flush_locked(now);
    rearm_locked();
    const auto deadline = options_.connect_timeout
                              ? io::Clock::now() + *options_.connect_timeout
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

  Result<void> wait_for_space(io::Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    const bool room = changed_.wait_until(lock, deadline, [&] {
      return failed_ || closed_ || queued_locked() <= options_.max_queued_bytes / 2;
    });
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
    if (!done) return Error(ErrorKind::timed_out, "flush to " + uri_.to_string() + ": messages still in the local buffer");
    return ok();
  }

  void close() {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    {
      std::unique_lock lock(mutex_);
      if (closed_) return;
      closed_ = true;
      const Time now = reliable::Clock::now();
      host_.close(id_, now);
      flush_locked(now);
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
  Error closed_error() const { return Error(ErrorKind::closed, where() + ": the sender is closed"); }
  std::size_t queued_locked() {
    auto* c = host_.find(id_);
    return c ? c->queued_bytes() : 0;
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
    flush_locked(now);
    complete_marks_locked(later);
    rearm_locked();
    finish(lock, handoffs, later);
    return ok();
  }

  void complete_marks_locked(std::vector<std::function<void()>>& later) {
    auto* c = host_.find(id_);
    const std::uint64_t left = c ? c->messages_left() : 0;
    while (!marks_.empty() && marks_.front().first <= left) {
      later.push_back([done = std::make_shared<io::Completer<void>>(std::move(marks_.front().second))] {
        done->complete(ok());
      });
      marks_.pop_front();
    }
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
    changed_.notify_all();
  }

  void on_socket_error_locked(const Error& error, std::vector<std::function<void()>>& later) override {
    if (error.is(ErrorKind::refused)) {
      fail_locked(Error(ErrorKind::refused, "rudp " + uri_.to_string() +
                                                ": nobody listens there (port unreachable)"),
                  later);
    }
  }

  void process_locked(Time, PortQueue::Handoffs& handoffs,
                      std::vector<std::function<void()>>& later) override {
    auto* c = host_.find(id_);
    if (c == nullptr) return;
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
        fail_locked(c->error().value_or(Error(ErrorKind::timed_out, "rudp: broken")).with_context(
                        "rudp " + uri_.to_string()),
                    later);
      } else if (c->state() == reliable::State::closed && !closed_) {
        fail_locked(Error(ErrorKind::closed, "rudp " + uri_.to_string() +
                                                 ": the port closed the connection"),
                    later);
      }
    }
    changed_.notify_all();
  }

  void after_flush_locked(std::vector<std::function<void()>>& later) override {
    complete_marks_locked(later);
  }

  void poke() {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    const Time now = reliable::Clock::now();
    process_locked(now, handoffs, later);
    flush_locked(now);
    complete_marks_locked(later);
    rearm_locked();
    finish(lock, handoffs, later);
  }

  const Uri uri_;
  const SenderOptions options_;
  Counters counters_;
  PortQueue replies_;
  const Source reply_source_ = make_source(uri_.to_string());
  // With mutex_.
  std::uint32_t id_ = 0;
  std::uint64_t next_id_ = 1;
  std::deque<std::pair<std::uint64_t, io::Completer<void>>> marks_;  // send_async: by message ordinal
  std::unordered_map<std::uint64_t, io::Completer<void>> awaiting_;  // send_sync: by id
  std::optional<Message> held_;  // a reply the full queue refused
  std::uint64_t retransmits_seen_ = 0;
  std::optional<Error> failed_;
  bool closed_ = false;
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

Result<std::unique_ptr<PortBackend>> bind_rudp(Context& context, const Uri& uri,
                                               std::shared_ptr<PortCore> core) {
  auto local = endpoint_of(uri, true);
  if (!local) return std::move(local).error();
  auto socket = net::UdpSocket::bind(*local);
  if (!socket) return std::move(socket).error();
  if (auto nb = socket->set_non_blocking(true); !nb) return std::move(nb).error();
  (void)socket->set_receive_buffer_size(4 << 20);
  (void)socket->set_send_buffer_size(4 << 20);
  reliable::HostConfig config;
  config.accept = true;
  config.connection = protocol_config(core->options.max_message_size, core->options.broken_after);
  config.max_connections = core->options.max_connections;
  Uri bound = uri;
  bound.port = socket->local_endpoint().port();
  if (!uri.is_wildcard()) bound.host = socket->local_endpoint().address().to_string();
  const auto faults = core->options.faults;
  if (auto valid = config.connection.validate(); !valid) return std::move(valid).error();
  auto engine = std::make_shared<PortEngine>(context, std::move(*socket), config, std::move(core));
  if (auto started = engine->start(faults); !started) return std::move(started).error();
  return std::unique_ptr<PortBackend>(std::make_unique<RudpPort>(std::move(engine), bound));
}

Result<std::unique_ptr<SenderBackend>> connect_rudp(Context& context, const Uri& uri,
                                                    const SenderOptions& options) {
  auto peer = endpoint_of(uri, false);
  if (!peer) return std::move(peer).error();
  auto socket = net::UdpSocket::bind_any(peer->family());
  if (!socket) return std::move(socket).error();
  if (auto c = socket->connect(*peer); !c) return std::move(c).error();
  if (auto nb = socket->set_non_blocking(true); !nb) return std::move(nb).error();
  (void)socket->set_receive_buffer_size(4 << 20);
  (void)socket->set_send_buffer_size(4 << 20);
  reliable::HostConfig config;
  config.accept = false;
  config.connection = protocol_config(options.max_message_size, options.broken_after);
  config.connection.send_buffer = std::max<std::size_t>(options.max_queued_bytes, options.max_message_size + 64);
  config.connection.ordered = options.ordered;
  if (auto valid = config.connection.validate(); !valid) return std::move(valid).error();
  auto engine = std::make_shared<SenderEngine>(context, std::move(*socket), config, uri, options);
  if (auto started = engine->start(options.faults); !started) return std::move(started).error();
  if (auto opened = engine->open(*peer); !opened) {
    engine->stop();
    return std::move(opened).error();
  }
  return std::unique_ptr<SenderBackend>(std::make_unique<RudpSender>(std::move(engine)));
}

}  // namespace nexo::msg
