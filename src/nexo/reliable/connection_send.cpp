// Connection, the send side: messages queued, bundled and cut into segments,
// packets written (data, ACK, control), and what comes back for them:
// acknowledgements and SACK blocks, round-trip times, loss detection (RACK,
// tail loss probes) and congestion control.
#include <algorithm>

#include "nexo/reliable/connection.hpp"

namespace nexo::reliable {
namespace {

constexpr std::uint32_t kDupThreshold = 3;  // later packets acknowledged before one counts as lost
// With this many packets in flight, a packet that would leave part-empty (the
// messages queued do not fill it) waits for an acknowledgement to make room,
// while more messages queue up to fill it. Fewer in flight (a request and its
// reply, a trickle of messages) and it leaves at once: only a bulk sender,
// whose acknowledgements keep coming, waits, and its packets go full. A
// message larger than half a packet never waits: no second one of its size
// would fit beside it.
constexpr std::size_t kCorkInFlight = 16;
constexpr Duration kClockGranularity = std::chrono::milliseconds(1);

}  // namespace

// --- sending -----------------------------------------------------------------------

Result<void> Connection::send(std::span<const std::byte> message, Time now) {
  if (auto admitted = admit(message, now); !admitted) return admitted;
  enqueue(Bytes(message.begin(), message.end()));
  return ok();
}

Result<void> Connection::send(Bytes&& message, Time now) {
  if (auto admitted = admit(message, now); !admitted) return admitted;
  enqueue(std::move(message));
  return ok();
}

Result<void> Connection::admit(std::span<const std::byte> message, Time) const {
  if (error_) return *error_;
  if (close_requested_ || state_ == State::closed) {
    return Error(ErrorKind::closed, "rudp send: the connection is closed");
  }
  if (message.size() > config_.max_message) {
    return Error(ErrorKind::too_large, "rudp send: message of " + std::to_string(message.size()) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(config_.max_message));
  }
  if (state_ != State::connecting) {
    const std::size_t count =
        std::max<std::size_t>(1, (message.size() + payload_size_ - 1) / payload_size_);
    if (count > peer_capacity_) {
      return Error(ErrorKind::too_large, "rudp send: a message of " +
                                             std::to_string(message.size()) + " bytes needs " +
                                             std::to_string(count) + " packets; the peer buffers " +
                                             std::to_string(peer_capacity_));
    }
  }
  if (queued_bytes_ > 0 && queued_bytes_ + message.size() > config_.send_buffer) {
    return Error(ErrorKind::would_block, "rudp send: the send buffer is full (" +
                                             std::to_string(queued_bytes_) +
                                             " bytes not yet acknowledged)");
  }
  return ok();
}

void Connection::enqueue(Bytes message) {
  queued_bytes_ += message.size();
  pending_framed_ += kBundleLengthSize + message.size();
  ++stats_.messages_sent;
  pending_.emplace_back(std::move(message), config_.ordered ? std::uint16_t{0} : kUnordered);
}

// Two or more small messages at the front of the queue: one packet.
void Connection::cut_bundle() {
  Segment s;
  s.seq = next_seq_++;
  s.frag_count = 1;
  s.flags = static_cast<std::uint16_t>(pending_.front().second | kBundle);
  s.messages = 0;
  s.payload.reserve(payload_size_);
  while (!pending_.empty() && pending_.front().second == (s.flags & ~kBundle) &&
         s.payload.size() + kBundleLengthSize + pending_.front().first.size() <= payload_size_) {
    const Bytes& message = pending_.front().first;
    s.payload.push_back(static_cast<std::byte>(message.size() >> 8));
    s.payload.push_back(static_cast<std::byte>(message.size()));
    s.payload.insert(s.payload.end(), message.begin(), message.end());
    s.bytes += message.size();
    ++s.messages;
    pending_framed_ -= kBundleLengthSize + message.size();
    pending_.pop_front();
  }
  segments_.push_back(std::move(s));
}

void Connection::cut_next_message() {
  if (pending_.size() >= 2 && pending_[0].second == pending_[1].second &&
      pending_[0].first.size() + pending_[1].first.size() + 2 * kBundleLengthSize <=
          payload_size_) {
    cut_bundle();
    return;
  }
  auto [message, flags] = std::move(pending_.front());
  pending_.pop_front();
  pending_framed_ -= kBundleLengthSize + message.size();
  const std::size_t size = message.size();
  const auto count = static_cast<std::uint32_t>(
      std::max<std::size_t>(1, (size + payload_size_ - 1) / payload_size_));
  for (std::uint32_t i = 0; i < count; ++i) {
    Segment s;
    s.seq = next_seq_++;
    s.frag_index = i;
    s.frag_count = count;
    s.flags = flags;
    const std::size_t from = std::size_t{i} * payload_size_;
    const std::size_t len = std::min<std::size_t>(payload_size_, size - std::min(size, from));
    s.bytes = len;
    if (count == 1) {
      s.payload = std::move(message);
    } else {
      s.payload.assign(message.begin() + static_cast<std::ptrdiff_t>(from),
                       message.begin() + static_cast<std::ptrdiff_t>(from + len));
    }
    segments_.push_back(std::move(s));
  }
}

Connection::Segment* Connection::segment(std::uint32_t seq) noexcept {
  if (segments_.empty() || seq_before(seq, segments_.front().seq)) return nullptr;
  const std::uint32_t index = seq - segments_.front().seq;
  return index < segments_.size() ? &segments_[index] : nullptr;
}

bool Connection::has_unsent() const noexcept {
  return !pending_.empty() ||
         (!segments_.empty() &&
          static_cast<std::uint32_t>(snd_nxt_ - segments_.front().seq) < segments_.size());
}

std::size_t Connection::in_flight() const noexcept {
  return in_flight_;
}

// Lost segments first, then new ones, as the congestion and peer windows allow.
Connection::Segment* Connection::next_segment_to_send() {
  if (static_cast<double>(in_flight_) >= cwnd_ && !probe_due_) return nullptr;
  const bool probe = probe_due_;
  probe_due_ = false;
  while (!retransmit_.empty()) {
    Segment* s = segment(retransmit_.front());
    retransmit_.pop_front();
    if (s != nullptr && s->lost && !s->sacked) return s;
  }
  if (segment(snd_nxt_) == nullptr) {
    if (pending_.empty()) return nullptr;
    if (in_flight_ >= kCorkInFlight && pending_framed_ < payload_size_ &&
        2 * (kBundleLengthSize + pending_.front().first.size()) <= payload_size_ &&
        !close_requested_ && !probe) {
      return nullptr;  // corked: see kCorkInFlight
    }
    cut_next_message();
  }
  if (static_cast<std::uint32_t>(snd_nxt_ - peer_ack_) >= peer_window_) return nullptr;
  Segment* s = segment(snd_nxt_);
  if (s != nullptr) ++snd_nxt_;
  return s;
}

void Connection::write_header(Packet& p, Type type) const {
  p.type = type;
  p.connection = peer_id_;
}

void Connection::encode(const Packet& p, Bytes& out, Time now) {
  write(p, out);
  ++stats_.packets_sent;
  last_sent_ = now;
}

bool Connection::poll_transmit(Bytes& out, Time now) {
  out.clear();
  Packet p;
  if (close_ack_due_) {
    close_ack_due_ = false;
    write_header(p, Type::close_ack);
    encode(p, out, now);
    return true;
  }
  if (state_ == State::broken || state_ == State::closed) return false;
  if (state_ == State::connecting) {
    if (!handshake_due_) return false;
    handshake_due_ = false;
    handshake_at_ = now + handshake_rto_;
    p.handshake = mine_;
    if (cookie_) {
      p.type = Type::cookie_echo;
      p.cookie = *cookie_;
    } else {
      p.type = Type::init;
    }
    p.connection = 0;
    encode(p, out, now);
    return true;
  }
  if (accept_due_) {
    accept_due_ = false;
    write_header(p, Type::accept);
    p.handshake = mine_;
    encode(p, out, now);
    return true;
  }
  if (Segment* s = next_segment_to_send()) {
    write_header(p, Type::data);
    p.flags = s->flags;
    p.seq = s->seq;
    p.frag_index = s->frag_index;
    p.frag_count = s->frag_count;
    p.ack = rcv_nxt_;
    p.window = last_advertised_ = advertised_window();
    p.payload = s->payload;
    if (s->sent) {
      s->retransmitted = true;
      ++stats_.retransmits;
    } else {
      ++stats_.data_sent;
      if (s->frag_index + 1 == s->frag_count)
        messages_left_ += s->messages;  // fragments go in order
    }
    s->sent = true;
    s->lost = false;
    s->sent_at = now;
    s->last_tx = ++tx_counter_;
    ++in_flight_;
    if (!rto_at_) rto_at_ = now + rto_;
    arm_probe(now);
    if (highest_ == rcv_nxt_) {  // nothing for a SACK to say: this carries the ACK
      ack_due_ = false;
      ack_at_.reset();
      unacked_received_ = 0;
    }
    encode(p, out, now);
    return true;
  }
  if (ack_due_) {
    encode_ack(out, now);
    return true;
  }
  if (ping_due_) {
    ping_due_ = false;
    write_header(p, Type::ping);
    encode(p, out, now);
    return true;
  }
  if (close_due_) {
    close_due_ = false;
    close_at_ = now + rto_;
    write_header(p, Type::close);
    encode(p, out, now);
    return true;
  }
  return false;
}

void Connection::encode_ack(Bytes& out, Time now) {
  Packet p;
  write_header(p, Type::ack);
  p.ack = rcv_nxt_;
  p.window = last_advertised_ = advertised_window();
  // Runs of received packets above the cumulative ack, lowest first.
  const std::uint32_t span = highest_ - rcv_nxt_;
  const std::size_t window = received_.size();
  std::uint32_t i = 1;
  while (i < span && p.sack_count < kMaxSack) {
    while (i < span && !received_[(head_ + i) % window])
      ++i;
    if (i >= span) break;
    const std::uint32_t start = i;
    while (i < span && received_[(head_ + i) % window])
      ++i;
    p.sack[p.sack_count++] = SackBlock{rcv_nxt_ + start, rcv_nxt_ + i};
  }
  ack_due_ = false;
  ack_at_.reset();
  unacked_received_ = 0;
  encode(p, out, now);
}

// --- acknowledgements, round trips, losses ---------------------------------------

void Connection::on_ack(std::uint32_t ack, std::uint32_t window, std::span<const SackBlock> sack,
                        Time now) {
  if (seq_before(snd_nxt_, ack)) {  // acknowledges what was never sent
    ++stats_.malformed;
    return;
  }
  if (seq_before(ack, peer_ack_)) return;  // older than what we know: overtaken on the way
  peer_window_ = window;
  std::optional<Duration> rtt;
  std::uint32_t newly_acked = 0;
  const std::uint64_t delivered_before = delivered_tx_;
  while (!segments_.empty() && seq_before(segments_.front().seq, ack)) {
    Segment& s = segments_.front();
    if (s.sent && !s.sacked && !s.lost) --in_flight_;
    // Karn: no sample from a packet sent twice, nor from one presumed lost (its
    // arrival is ambiguous: the acknowledgement may have been held up by a loss).
    if (!s.sacked && !s.retransmitted && !s.lost && s.sent) rtt = now - s.sent_at;
    note_delivered(s);
    queued_bytes_ -= s.bytes;
    ++newly_acked;
    segments_.pop_front();
  }
  peer_ack_ = ack;
  // Selective acknowledgements: the packets above a gap that did arrive.
  for (const SackBlock& block : sack) {
    if (segments_.empty()) break;
    std::uint32_t from = block.start, to = block.end;
    const std::uint32_t first = segments_.front().seq;
    if (seq_before(from, first)) from = first;
    if (seq_before(snd_nxt_, to)) to = snd_nxt_;
    for (std::uint32_t seq = from; seq_before(seq, to); ++seq) {
      Segment* s = segment(seq);
      if (s == nullptr || s->sacked || !s->sent) continue;
      if (!s->lost) --in_flight_;
      if (!s->retransmitted && !s->lost) rtt = now - s->sent_at;
      note_delivered(*s);
      s->sacked = true;
      s->lost = false;
    }
  }
  if (rtt) sample_rtt(*rtt);
  if (delivered_tx_ != delivered_before) detect_losses(now);
  if (recovery_until_ && !seq_before(ack, *recovery_until_)) recovery_until_.reset();
  if (newly_acked > 0 && !recovery_until_) {
    if (cwnd_ < ssthresh_) {
      cwnd_ += newly_acked;  // slow start
    } else {
      cwnd_ += config_.increase * static_cast<double>(newly_acked) / cwnd_;  // additive increase
    }
  }
  if (newly_acked > 0) {
    rto_ = have_rtt_ ? std::clamp(srtt_ + std::max(kClockGranularity, 4 * rttvar_), config_.min_rto,
                                  config_.max_rto)
                     : config_.initial_rto;  // progress ends the back-off
  }
  if (in_flight_ > 0) {
    if (newly_acked > 0 || !rto_at_) rto_at_ = now + rto_;
    arm_probe(now);
  } else {
    rto_at_.reset();
    pto_at_.reset();
  }
  if (close_requested_ && state_ == State::closing && segments_.empty() && pending_.empty() &&
      close_at_ == Time{}) {
    close_due_ = true;
  }
}

// RACK (RFC 8985): a packet sent before one that has arrived is lost once
// kDupThreshold later transmissions have arrived, or once it is older than a
// round trip plus a reordering allowance (a timer waits for that): one later
// arrival is enough, where counting duplicates alone would wait for a timeout.
// A transmission counter, not sequence numbers, orders them, so that a
// retransmission is judged by what was sent after it.
void Connection::note_delivered(const Segment& s) {
  // Sent once, and before something that already arrived: the path reorders.
  if (s.sent && !s.retransmitted && !s.sacked && s.last_tx < delivered_tx_) reordering_seen_ = true;
  delivered_tx_ = std::max(delivered_tx_, s.last_tx);
}

void Connection::detect_losses(Time now) {
  rack_at_.reset();
  if (segments_.empty()) return;
  // Once the path has shown that it reorders, counting later arrivals says
  // nothing: only time does, with a wider allowance (RFC 8985, 6.2).
  const Duration reordering = !have_rtt_         ? kClockGranularity
                              : reordering_seen_ ? std::max(srtt_ / 2, kClockGranularity)
                                                 : srtt_ / 4;
  const Duration wait = (have_rtt_ ? srtt_ : config_.initial_rto) + reordering;
  bool found = false;
  const std::uint32_t sent = snd_nxt_ - segments_.front().seq;
  for (std::uint32_t i = 0; i < sent && i < segments_.size(); ++i) {
    Segment& s = segments_[i];
    // First transmissions go out in sequence order: past the first one sent
    // after everything known to have arrived, nothing (not even a packet sent
    // again, which went out later still) can be judged lost yet.
    if (s.sent && !s.retransmitted && s.last_tx >= delivered_tx_) break;
    if (!s.sent || s.sacked || s.lost || s.last_tx >= delivered_tx_) continue;
    if ((!reordering_seen_ && s.last_tx + kDupThreshold <= delivered_tx_) ||
        now >= s.sent_at + wait) {
      s.lost = true;
      --in_flight_;
      ++stats_.fast_retransmits;
      retransmit_.push_back(s.seq);
      found = true;
    } else if (!rack_at_ || s.sent_at + wait < *rack_at_) {
      rack_at_ = s.sent_at + wait;
    }
  }
  if (found) on_loss_detected(now);
}

// Tail loss probe (RFC 8985, section 7): with packets in flight and no
// acknowledgement for two round trips, send one packet to draw an ACK (with
// its SACK blocks) instead of waiting for the retransmission timeout: a lost
// ACK or a lost last packet then costs a probe, not a timeout and a window
// collapsed to one.
void Connection::arm_probe(Time now) {
  const Duration pto = have_rtt_ ? std::max(2 * srtt_, 2 * kClockGranularity) : config_.initial_rto;
  pto_at_ = now + pto;
  if (rto_at_ && *pto_at_ >= *rto_at_) pto_at_.reset();  // the timeout comes first anyway
}

void Connection::probe() {
  ++stats_.probes;
  if (has_unsent() && static_cast<std::uint32_t>(snd_nxt_ - peer_ack_) < peer_window_) {
    probe_due_ = true;  // new data, one packet beyond the congestion window
    return;
  }
  const std::uint32_t sent = segments_.empty() ? 0 : snd_nxt_ - segments_.front().seq;
  for (std::uint32_t i =
           std::min<std::uint32_t>(sent, static_cast<std::uint32_t>(segments_.size()));
       i-- > 0;) {
    Segment& s = segments_[i];
    if (!s.sent || s.sacked || s.lost) continue;
    s.lost = true;  // the newest one in flight goes again
    --in_flight_;
    retransmit_.push_front(s.seq);
    return;
  }
}

void Connection::sample_rtt(Duration rtt) {  // RFC 6298, section 2
  if (!have_rtt_) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    have_rtt_ = true;
  } else {
    const Duration delta = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
    rttvar_ = (3 * rttvar_ + delta) / 4;
    srtt_ = (7 * srtt_ + rtt) / 8;
  }
  rto_ = std::clamp(srtt_ + std::max(kClockGranularity, 4 * rttvar_), config_.min_rto,
                    config_.max_rto);
}

// Once per loss episode (until what was in flight then is acknowledged): shrink.
void Connection::on_loss_detected(Time) {
  if (recovery_until_) return;
  ssthresh_ = std::max(cwnd_ * config_.decrease, 2.0);
  cwnd_ = ssthresh_;
  recovery_until_ = snd_nxt_;
}

}  // namespace nexo::reliable
