// Connection, the receive side: data packets checked against the window and
// the buffer, out-of-order packets tracked for the cumulative ACK and SACK,
// fragments reassembled, messages delivered in order (or as soon as whole)
// and handed to the application.
#include "nexo/reliable/connection.hpp"

namespace nexo::reliable {
namespace {

constexpr std::uint32_t kAckEvery = 2;  // in-order packets that make an ACK go at once

}  // namespace

// --- receiving ---------------------------------------------------------------------

std::uint32_t Connection::advertised_window() const noexcept {
  return buffered_packets_ >= capacity_ ? 0 : capacity_ - buffered_packets_;
}

void Connection::on_data(const Packet& p, Time now) {
  const std::uint32_t window = capacity_;
  const std::size_t ring = received_.size();
  const std::uint32_t seq = p.seq;
  if (p.payload.size() > payload_size_ || p.frag_count > window ||
      (p.frag_index + 1 < p.frag_count && p.payload.size() != payload_size_)) {
    ++stats_.malformed;  // fragments other than the last are exactly the agreed size
    return;
  }
  if (seq_before(seq, rcv_nxt_)) {
    ++stats_.duplicates;
    ack_due_ = true;  // the sender missed our ACK: tell it again
    return;
  }
  const std::uint32_t offset = seq - rcv_nxt_;
  if (offset >= window || buffered_packets_ >= window) {
    ++stats_.out_of_window;
    ack_due_ = true;
    return;
  }
  // The window counts packets; this bounds the bytes too, whatever their sizes.
  if (buffered_bytes_ + p.payload.size() > config_.receive_buffer) {
    ++stats_.over_buffer;
    ack_due_ = true;
    return;
  }
  auto& slot = received_[(head_ + offset) % ring];
  if (slot) {
    ++stats_.duplicates;
    ack_due_ = true;
    return;
  }
  const bool in_order = seq == rcv_nxt_;
  if (p.frag_count == 1) {
    // The common case, a message in one packet: no reassembly.
    slot = 1;
    if (seq_before(highest_, seq + 1)) highest_ = seq + 1;
    ++buffered_packets_;
    buffered_bytes_ += p.payload.size();
    const bool bundle = (p.flags & kBundle) != 0;
    if ((p.flags & kUnordered) || seq == next_message_) {
      deliver(p.payload, bundle, 1);
      if (seq == next_message_) {
        ++next_message_;
        if (!complete_.empty()) deliver_ready();
      } else {
        complete_.emplace(seq, Complete{1, std::nullopt});  // a marker: the order of the rest
      }
    } else {
      complete_.emplace(seq, Complete{1, Bytes(p.payload.begin(), p.payload.end()), bundle});
    }
  } else if (!reassemble(p, now)) {
    return;
  }
  // The cumulative ack moves over every packet now received in a row.
  while (received_[head_]) {
    received_[head_] = 0;
    head_ = (head_ + 1) % ring;
    ++rcv_nxt_;
  }
  if (!in_order || highest_ != rcv_nxt_) {
    ack_due_ = true;  // a gap: say so at once, with SACK blocks (the sender's fast retransmit)
  } else if (++unacked_received_ >= kAckEvery) {
    ack_due_ = true;
  } else if (!ack_at_) {
    ack_at_ = now + config_.ack_delay;
  }
}

// A fragment of a message of several packets. false: it contradicts the
// message's other fragments (dropped, counted).
bool Connection::reassemble(const Packet& p, Time) {
  const std::uint32_t seq = p.seq;
  const std::uint32_t start = seq - p.frag_index;
  auto [it, fresh] = partials_.try_emplace(start);
  Partial& m = it->second;
  if (fresh) {
    m.count = p.frag_count;
    m.flags = p.flags;
    // Every fragment but the last is full, the last has a byte at least: a
    // message of this many fragments is longer than this side takes.
    m.discard = std::uint64_t{p.frag_count - 1} * payload_size_ >= config_.max_message;
  } else if (m.count != p.frag_count || m.flags != p.flags) {
    ++stats_.malformed;  // a fragment that contradicts its message's others
    return false;
  }
  received_[(head_ + (seq - rcv_nxt_)) % received_.size()] = 1;
  if (seq_before(highest_, seq + 1)) highest_ = seq + 1;
  ++buffered_packets_;
  if (!m.discard) {
    buffered_bytes_ += p.payload.size();
    if (p.frag_index == m.next) {
      m.data.insert(m.data.end(), p.payload.begin(), p.payload.end());
      ++m.next;
      for (auto e = m.early.begin(); e != m.early.end() && e->first == m.next;
           e = m.early.erase(e), ++m.next) {
        m.data.insert(m.data.end(), e->second.begin(), e->second.end());
      }
    } else {
      m.early.emplace(p.frag_index, Bytes(p.payload.begin(), p.payload.end()));
    }
  }
  if (++m.received == m.count) {
    complete(start, m);
    partials_.erase(it);
    deliver_ready();
  }
  return true;
}

// Every fragment of the message at `start` has arrived (so `early` is empty).
void Connection::complete(std::uint32_t start, Partial& m) {
  if (m.discard) {  // its place in the order is kept; nothing is delivered
    ++stats_.too_large;
    buffered_packets_ -= m.count;
    complete_.emplace(start, Complete{m.count, std::nullopt});
    return;
  }
  const std::size_t bytes = m.data.size();
  Complete done{m.count, std::move(m.data)};
  if (m.flags & kUnordered) {  // delivered now; a marker keeps the order of the rest
    deliver(*std::move(done.data), m.count, bytes);
    done.data.reset();
  }
  complete_.emplace(start, std::move(done));
}

// Ordered mode: whole messages leave in sequence; unordered ones left already
// and only mark their place.
void Connection::deliver_ready() {
  for (auto it = complete_.find(next_message_); it != complete_.end();
       it = complete_.find(next_message_)) {
    next_message_ += it->second.count;
    if (it->second.data) {
      if (it->second.bundle) {
        deliver(std::span<const std::byte>(*it->second.data), true, it->second.count);
      } else {
        const std::size_t bytes = it->second.data->size();
        deliver(*std::move(it->second.data), it->second.count, bytes);
      }
    }
    complete_.erase(it);
  }
}

// A whole message of `packets` packets, or a bundle's messages (the first
// carries the packet), to the application. parse() checked a bundle's lengths.
// `bytes`: the payload bytes it held (a bundle's lengths included), released when taken.
void Connection::deliver(Bytes message, std::uint32_t packets, std::size_t bytes) {
  delivered_.push_back(std::move(message));
  delivered_held_.push_back(Held{packets, bytes});
  ++stats_.messages_delivered;
}

void Connection::deliver(std::span<const std::byte> payload, bool bundle, std::uint32_t packets) {
  if (!bundle) {
    deliver(Bytes(payload.begin(), payload.end()), packets, payload.size());
    return;
  }
  std::size_t bytes = payload.size();
  for_each_bundled(payload, [&](std::span<const std::byte> message) {
    deliver(Bytes(message.begin(), message.end()), packets, bytes);
    packets = 0;
    bytes = 0;
  });
}

std::optional<Bytes> Connection::receive() {
  if (delivered_.empty()) return std::nullopt;
  Bytes message = std::move(delivered_.front());
  delivered_.pop_front();
  buffered_packets_ -= delivered_held_.front().packets;
  buffered_bytes_ -= delivered_held_.front().bytes;
  delivered_held_.pop_front();
  // Tell a sender held back by our window that it has opened again.
  if (state_ == State::established &&
      (last_advertised_ == 0 || advertised_window() >= last_advertised_ + capacity_ / 2)) {
    ack_due_ = true;
  }
  return message;
}

}  // namespace nexo::reliable
