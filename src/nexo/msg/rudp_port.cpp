// rudp:// receiving side: a Port's connections on one UDP socket
// (rudp_endpoint.hpp says who reads it), their messages into the port's queue,
// acknowledgements of synchronous sends and replies back.
#include <set>
#include <unordered_map>

#include "nexo/msg/datagram_socket.hpp"
#include "nexo/msg/rudp_endpoint.hpp"

namespace nexo::msg {
namespace {

using namespace rudp;

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
      flush_now(lock, now);
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

  Result<void> send_on(std::uint32_t id, Bytes message, bool is_reply) {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    if (closed_ || !peers_.contains(id)) {
      return Error(ErrorKind::closed,
                   std::string(is_reply ? "reply" : "acknowledge") + ": the connection is gone");
    }
    const Time now = reliable::Clock::now();
    const std::size_t size = message.size();
    auto sent = host_.send(id, std::move(message), now);  // taken, not copied
    if (!sent) return sent;
    if (is_reply) core_->counters.add_out(size - kKindSize);
    flush_locked(now);
    rearm_locked();
    finish(lock, handoffs, later);
    return ok();
  }

  void resume() { take_turn(); }

  void process_locked(Time now, PortQueue::Handoffs& handoffs,
                      std::vector<std::function<void()>>&) override {
    if (closed_) return;
    while (auto id = host_.accept()) {
      const auto* peer = host_.peer_of(*id);
      peers_[*id].source =
          make_source("rudp://" + peer->to_string(),
                      std::static_pointer_cast<ReplyPath>(
                          std::static_pointer_cast<PortEngine>(shared_from_this())),
                      *id);
      open_.fetch_add(1, std::memory_order_relaxed);
    }
    waiting_for_room_ = false;
    // Only the connections something happened to, and those whose messages
    // the full queue left waiting: idle ones cost nothing here.
    host_.take_touched(touched_);
    visit_.insert(touched_.begin(), touched_.end());
    for (auto next = visit_.begin(); next != visit_.end();) {
      const std::uint32_t id = *next;
      auto it = peers_.find(id);
      reliable::Connection* c = host_.find(id);
      if (it == peers_.end() || c == nullptr) {
        if (it != peers_.end()) peers_.erase(it);
        next = visit_.erase(next);
        continue;
      }
      Peer& peer = it->second;
      const bool drained = drain(id, peer, handoffs);
      if (!drained) waiting_for_room_ = true;
      const auto retransmits = c->stats().retransmits;
      core_->counters.add_retransmitted(retransmits - peer.retransmits_seen);
      peer.retransmits_seen = retransmits;
      const auto state = c->state();
      if ((state == reliable::State::broken || state == reliable::State::closed) && !peer.held) {
        if (state == reliable::State::broken) core_->counters.add_timed_out();
        host_.remove(id);
        open_.fetch_sub(1, std::memory_order_relaxed);
        peers_.erase(it);
        next = visit_.erase(next);
        continue;
      }
      next = drained && !peer.held ? visit_.erase(next) : std::next(next);
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
  std::vector<std::uint32_t> touched_;             // with mutex_: scratch
  std::set<std::uint32_t> visit_;                  // with mutex_: to look at
  std::atomic<std::size_t> open_{0};
  bool closed_ = false;
  bool waiting_for_room_ = false;
  std::atomic<bool> space_asked_{false};
};

class RudpPort final : public PortBackend {
 public:
  RudpPort(std::shared_ptr<PortEngine> engine, Uri uri)
      : engine_(std::move(engine)), uri_(std::move(uri)) {}
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

}  // namespace

Result<std::unique_ptr<PortBackend>> bind_rudp(Context& context, const Uri& uri,
                                               std::shared_ptr<PortCore> core) {
  auto socket = open_port_socket(uri);
  if (!socket) return std::move(socket).error();
  reliable::HostConfig config;
  config.accept = true;
  // A port takes datagrams of any size its socket can: each sender picks its own.
  config.connection = protocol_config(core->options.max_message_size, core->options.broken_after,
                                      socket->max_payload());
  config.max_connections = core->options.max_connections;
  config.max_connections_per_address = core->options.max_connections_per_address;
  config.max_buffered_bytes = core->options.max_buffered_bytes;
  Uri bound = uri;
  bound.port = socket->local_endpoint().port();
  if (!uri.is_wildcard()) bound.host = socket->local_endpoint().address().to_string();
  const auto faults = core->options.faults;
  if (auto valid = config.connection.validate(); !valid) return std::move(valid).error();
  auto engine = std::make_shared<PortEngine>(context, std::move(*socket), config, std::move(core));
  if (auto started = engine->start(faults); !started) return std::move(started).error();
  return std::unique_ptr<PortBackend>(std::make_unique<RudpPort>(std::move(engine), bound));
}

}  // namespace nexo::msg
