// Connection, the core: Config checks, construction, the handshake's end
// (establish), failure, the dispatch of incoming packets by type, timers and
// close. The send side is in connection_send.cpp, the receive side in
// connection_receive.cpp.
#include "nexo/reliable/connection.hpp"

#include <algorithm>
#include <cstring>

namespace nexo::reliable {
namespace {

// Packets a side buffers with payloads of `payload` bytes.
std::uint32_t capacity(const Config& config, std::size_t payload) {
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(
      config.receive_buffer / std::max<std::size_t>(payload, 1), 2, config.window));
}

using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::string ms(Duration d) {
  return std::to_string(duration_cast<milliseconds>(d).count()) + " ms";
}

}  // namespace

std::string_view to_string(State state) noexcept {
  switch (state) {
    case State::connecting:
      return "connecting";
    case State::established:
      return "established";
    case State::closing:
      return "closing";
    case State::closed:
      return "closed";
    case State::broken:
      return "broken";
  }
  return "?";
}

Result<void> Config::validate() const {
  auto bad = [](const std::string& why) {
    return Error(ErrorKind::invalid_argument, "rudp config: " + why);
  };
  if (max_payload == 0) return bad("max_payload must be at least 1");
  if (window < 2) return bad("window must be at least 2 packets");
  if (initial_cwnd == 0) return bad("initial_cwnd must be at least 1");
  if (!(decrease > 0 && decrease < 1)) return bad("decrease must be between 0 and 1");
  if (!(increase >= 1 && increase <= 64)) return bad("increase must be between 1 and 64 packets");
  const std::size_t largest = (max_message + max_payload - 1) / max_payload;
  if (receive_buffer < max_message + max_payload) {
    return bad("receive_buffer of " + std::to_string(receive_buffer) +
               " bytes cannot hold a message of max_message " + std::to_string(max_message) +
               " bytes and a packet more");
  }
  if (largest > window) {
    return bad("a message of max_message " + std::to_string(max_message) + " bytes needs " +
               std::to_string(largest) + " packets of " + std::to_string(max_payload) +
               " bytes, more than the window of " + std::to_string(window));
  }
  if (min_rto <= Duration::zero() || max_rto < min_rto || initial_rto <= Duration::zero())
    return bad("need 0 < min_rto <= max_rto and initial_rto > 0");
  if (broken_after <= Duration::zero() || keepalive <= Duration::zero())
    return bad("keepalive and broken_after must be positive");
  return ok();
}

Connection::Connection(const Config& config, std::uint32_t id, std::uint32_t initial_seq, Time now)
    : config_(config),
      id_(id),
      last_heard_(now),
      last_sent_(now),
      // Announced before the payload is agreed: the count for the largest
      // payload, which the agreed one cannot exceed.
      mine_{id, initial_seq, capacity(config, config.max_payload), config.max_payload},
      next_seq_(initial_seq),
      snd_nxt_(initial_seq),
      peer_ack_(initial_seq),
      cwnd_(config.initial_cwnd),
      rto_(config.initial_rto),
      capacity_(mine_.window),
      received_(config.window, 0) {}

Connection Connection::client(const Config& config, std::uint32_t id, std::uint32_t initial_seq,
                              Time now) {
  Connection c(config, id, initial_seq, now);
  c.handshake_due_ = true;
  c.handshake_rto_ = config.initial_rto;
  return c;
}

Connection Connection::server(const Config& config, std::uint32_t id, std::uint32_t initial_seq,
                              const Handshake& peer, Time now) {
  Connection c(config, id, initial_seq, now);
  c.establish(peer, now);
  c.accept_due_ = true;
  return c;
}

const ConnectionStats& Connection::stats() noexcept {
  stats_.srtt = srtt_;
  stats_.rto = rto_;
  stats_.cwnd = cwnd_;
  return stats_;
}

void Connection::establish(const Handshake& peer, Time now) {
  peer_id_ = peer.id;
  rcv_nxt_ = highest_ = next_message_ = peer.initial_seq;
  peer_window_ = peer_capacity_ = peer.window;
  payload_size_ = std::min(config_.max_payload, peer.max_payload);
  capacity_ = mine_.window = capacity(config_, payload_size_);  // the ACCEPT says so
  state_ = State::established;
  handshake_due_ = false;
  last_heard_ = now;
}

void Connection::fail(Error error) {
  if (state_ == State::broken) return;
  state_ = State::broken;
  error_ = std::move(error);
  pending_.clear();
  pending_framed_ = 0;
  segments_.clear();
  retransmit_.clear();
  in_flight_ = 0;
  queued_bytes_ = 0;
  rto_at_.reset();
  ack_at_.reset();
  ack_due_ = ping_due_ = close_due_ = handshake_due_ = accept_due_ = false;
}

void Connection::on_packet(const Packet& packet, Time now) {
  ++stats_.packets_received;
  last_heard_ = now;
  switch (packet.type) {
    case Type::cookie:
      if (state_ == State::connecting && !cookie_) {
        cookie_ = packet.cookie;
        handshake_due_ = true;
        handshake_rto_ = config_.initial_rto;
      }
      return;
    case Type::accept:
      if (state_ != State::connecting) return;  // a repeated ACCEPT
      if (packet.handshake.id == 0 || packet.handshake.window == 0 ||
          packet.handshake.max_payload == 0) {
        ++stats_.malformed;
        return;
      }
      establish(packet.handshake, now);
      if (close_requested_) close_due_ = segments_.empty() && pending_.empty();
      return;
    case Type::cookie_echo:  // our ACCEPT was lost: the client asks again
      if (state_ != State::connecting) accept_due_ = true;
      return;
    case Type::data:
      if (state_ != State::established && state_ != State::closing) return;
      on_ack(packet.ack, packet.window, {}, now);
      on_data(packet, now);
      return;
    case Type::ack:
      if (state_ != State::established && state_ != State::closing) return;
      on_ack(packet.ack, packet.window, std::span(packet.sack).first(packet.sack_count), now);
      return;
    case Type::ping:
      if (state_ == State::established || state_ == State::closing) ack_due_ = true;
      return;
    case Type::close:
      if (state_ == State::established || state_ == State::closing) {
        peer_closed_ = true;
        state_ = State::closed;
        rto_at_.reset();
        ack_at_.reset();
      }
      close_ack_due_ = state_ == State::closed;
      return;
    case Type::close_ack:
      if (state_ == State::closing && close_requested_) {
        state_ = State::closed;
        rto_at_.reset();
      }
      return;
    case Type::init:
      return;
  }
}

// --- timers ------------------------------------------------------------------------

std::optional<Time> Connection::next_timer() const {
  if (state_ == State::broken || state_ == State::closed) return std::nullopt;
  std::optional<Time> next = last_heard_ + config_.broken_after;
  auto consider = [&](std::optional<Time> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  if (state_ == State::connecting) {
    if (!handshake_due_) consider(handshake_at_);
    return next;
  }
  consider(ack_at_);
  consider(rto_at_);
  consider(rack_at_);
  consider(pto_at_);
  if (peer_window_ == 0 && has_unsent()) consider(last_sent_ + rto_);  // window probe
  consider(last_sent_ + config_.keepalive);
  if (state_ == State::closing && close_at_ != Time{}) consider(close_at_);
  return next;
}

void Connection::on_timer(Time now) {
  if (state_ == State::broken || state_ == State::closed) return;
  if (now - last_heard_ >= config_.broken_after) {
    fail(Error(ErrorKind::timed_out,
               std::string("rudp: nothing heard from the peer for ") + ms(now - last_heard_) +
                   (state_ == State::connecting ? " while connecting" : "") +
                   ": the network or the peer has failed (this side cannot tell which), and "
                   "messages not yet acknowledged may or may not have arrived"));
    return;
  }
  if (state_ == State::connecting) {
    if (!handshake_due_ && now >= handshake_at_) {
      handshake_due_ = true;
      handshake_rto_ = std::min(handshake_rto_ * 2, config_.max_rto);
    }
    return;
  }
  if (ack_at_ && now >= *ack_at_) {
    ack_due_ = true;
    ack_at_.reset();
  }
  if (rack_at_ && now >= *rack_at_) detect_losses(now);
  if (pto_at_ && now >= *pto_at_) {
    pto_at_.reset();
    if (in_flight_ > 0) probe();
  }
  if (rto_at_ && now >= *rto_at_) {
    ++stats_.timeouts;
    // Everything sent and not acknowledged is presumed lost; start again slowly.
    const double flight = static_cast<double>(in_flight_);
    for (Segment& s : segments_) {
      if (!s.sent || s.sacked || s.lost) continue;
      s.lost = true;
      --in_flight_;
      retransmit_.push_back(s.seq);
    }
    std::sort(retransmit_.begin(), retransmit_.end(),
              [](std::uint32_t a, std::uint32_t b) { return seq_before(a, b); });
    ssthresh_ = std::max(flight / 2, 2.0);
    cwnd_ = 1;
    recovery_until_ = snd_nxt_;
    rto_ = std::min(rto_ * 2, config_.max_rto);  // back off
    rto_at_ = now + rto_;
    pto_at_.reset();
  }
  if (peer_window_ == 0 && has_unsent() && now >= last_sent_ + rto_) {
    ping_due_ = true;  // window probe: the ACK it draws carries the window
  }
  if (now >= last_sent_ + config_.keepalive) ping_due_ = true;
  if (state_ == State::closing && close_at_ != Time{} && now >= close_at_) close_due_ = true;
}

void Connection::close(Time now) {
  if (close_requested_) return;
  close_requested_ = true;
  if (state_ == State::connecting) {
    state_ = State::closed;
    return;
  }
  if (state_ != State::established) return;
  state_ = State::closing;
  (void)now;
  if (segments_.empty() && pending_.empty()) close_due_ = true;
}

}  // namespace nexo::reliable
