// Member, the sending side: messages out and into the history, NAKs
// answered with retransmissions, heartbeats, stability and flow control.
#include <algorithm>

#include "nexo/group/member.hpp"

namespace nexo::group {

bool Member::writable(std::size_t size) const noexcept {
  const std::uint64_t unstable = next_seq_ - 1 - stable_;
  return unstable < config_.window && history_bytes_ + size <= config_.history_bytes;
}

Result<void> Member::send(std::span<const std::byte> payload, std::span<const std::byte> meta,
                          bool control, Time now) {
  if (payload.size() > config_.max_message) {
    return Error(ErrorKind::too_large, "group send: a message of " +
                                           std::to_string(payload.size()) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(config_.max_message));
  }
  if (!writable(payload.size() + meta.size())) {
    return Error(ErrorKind::would_block,
                 "group send: " + std::to_string(next_seq_ - 1 - stable_) +
                     " messages not yet stable (every member has not delivered them)");
  }
  const std::uint64_t seq = next_seq_;
  Bytes packet;
  const Header header{Type::data, config_.group, config_.self, config_.view};
  if (auto encoded = encode_data(packet, header, seq, control ? kControl : 0, meta, payload);
      !encoded)
    return encoded;
  ++next_seq_;
  push(std::move(packet));
  ++counters_.sent;
  Bytes copy(payload.begin(), payload.end());
  Bytes meta_copy(meta.begin(), meta.end());
  history_bytes_ += copy.size() + meta_copy.size();
  counters_.history_bytes = history_bytes_;
  // Delivered here at once: our own messages are in order by construction.
  deliveries_.push_back(Delivery{config_.self, config_.view.id, seq, copy, meta_copy, control});
  ++counters_.delivered;
  history_.push_back(Sent{seq, std::move(copy), std::move(meta_copy), control});
  // The heartbeat that tells late receivers our highest sequence number.
  next_heartbeat_ = std::min(next_heartbeat_, now + config_.tail_heartbeat);
  if (peers_.empty()) update_stable();  // alone in the view: stable at once
  return ok();
}

// A token bucket per requesting member: nak_rate a second, nak_burst at most.
bool Member::take_nak_token(Peer& requester, Time now) {
  const double elapsed = std::chrono::duration<double>(now - requester.tokens_at).count();
  requester.tokens_at = now;
  requester.tokens = std::min<double>(config_.nak_burst,
                                      requester.tokens + elapsed * config_.nak_rate);
  if (requester.tokens < 1.0) return false;
  requester.tokens -= 1.0;
  return true;
}

void Member::on_nak(Peer& requester, const Nak& nak, Time now) {
  if (nak.target != config_.self) {
    // Another receiver's NAK: if it asks for what we miss too, ours waits
    // (suppression): the retransmission it causes serves us as well.
    auto it = peers_.find(nak.target);
    if (it == peers_.end()) return;
    Peer& of = it->second;
    if (of.repairer) repair(requester, nak.target, of, nak, now);
    if (!of.nak_at || of.next > of.highest_known) return;
    const std::uint64_t first_missing = of.next;
    for (const SeqRange& r : nak.ranges()) {
      if (r.first <= first_missing && first_missing <= r.last) {
        of.repair_due = now + of.nak_backoff * Duration(config_.repair_timeout);
        of.naked_through = std::max(of.naked_through, r.last);
        // Our NAK waits for the repair, unless a gap beyond this NAK's is due sooner.
        if (of.highest_known <= of.naked_through || *of.nak_at > of.repair_due)
          of.nak_at = of.repair_due;
        ++counters_.naks_suppressed;
        return;
      }
    }
    return;
  }
  ++counters_.naks_received;
  if (!take_nak_token(requester, now)) {
    ++counters_.nak_rate_limited;
    return;
  }
  for (const SeqRange& r : nak.ranges()) {
    if (r.last >= next_seq_) {  // never sent: a confused or lying requester
      ++counters_.nak_unknown;
      continue;
    }
    std::uint64_t first = r.first;
    if (first <= stable_) {  // every member had these: the requester's view is stale
      ++counters_.nak_unrecoverable;
      first = stable_ + 1;
    }
    for (std::uint64_t seq = first; seq <= r.last; ++seq) {
      Sent& sent = history_[seq - stable_ - 1];
      if (sent.retransmitted && now - sent.retransmitted_at < config_.retransmit_holdoff)
        continue;  // already on its way: this NAK crossed it
      sent.retransmitted = true;
      sent.retransmitted_at = now;
      retransmit(sent);
    }
  }
}

void Member::retransmit(const Sent& sent) {
  Bytes packet;
  const Header header{Type::data, config_.group, config_.self, config_.view};
  const std::uint8_t flags = kRetransmission | (sent.control ? kControl : 0);
  if (encode_data(packet, header, sent.seq, flags, sent.meta, sent.payload)) {
    push(std::move(packet));
    ++counters_.retransmissions;
  }
}

void Member::send_heartbeat(Time now) {
  digest_.clear();
  for (const auto& [id, peer] : peers_)
    digest_.push_back(DigestEntry{id, peer.next - 1});
  std::sort(digest_.begin(), digest_.end(),
            [](const DigestEntry& a, const DigestEntry& b) { return a.member < b.member; });
  if (digest_.size() > kMaxDigest) digest_.resize(kMaxDigest);
  Bytes packet;
  const Header header{Type::heartbeat, config_.group, config_.self, config_.view};
  if (encode_heartbeat(packet, header, next_seq_ - 1, digest_)) {
    push(std::move(packet));
    ++counters_.heartbeats_sent;
  }
  for (auto& [id, peer] : peers_)
    peer.delivered_since_heartbeat = 0;
  if (keep_) prune_kept();
  next_heartbeat_ = now + config_.heartbeat_interval;
}

// Frees the history every member has delivered, and so makes room to send.
void Member::update_stable() {
  std::uint64_t stable = next_seq_ - 1;
  for (const auto& [id, peer] : peers_)
    stable = std::min(stable, peer.has_ours);
  while (stable_ < stable && !history_.empty()) {
    history_bytes_ -= history_.front().payload.size() + history_.front().meta.size();
    history_.pop_front();
    ++stable_;
  }
  counters_.history_bytes = history_bytes_;
}

}  // namespace nexo::group
