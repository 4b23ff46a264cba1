// Member, the sending side: messages out and into the history, NAKs
// answered with retransmissions, heartbeats, stability and flow control.
#include <algorithm>

#include "nexo/group/member.hpp"

namespace nexo::group {

bool Member::writable(std::size_t size) const noexcept {
  const std::uint64_t unstable = next_seq_ - 1 - stable_;
  return unstable < config_.window && history_.bytes() + size <= config_.history_bytes;
}

Result<void> Member::send(std::span<const std::byte> payload, std::span<const std::byte> meta,
                          bool control, Time now) {
  if (payload.size() > config_.max_message) {
    return Error(ErrorKind::too_large,
                 "group send: a message of " + std::to_string(payload.size()) +
                     " bytes exceeds the limit of " + std::to_string(config_.max_message));
  }
  if (!writable(payload.size() + meta.size())) {
    return Error(ErrorKind::would_block,
                 "group send: " + std::to_string(next_seq_ - 1 - stable_) +
                     " messages not yet stable (every member has not delivered them)");
  }
  constexpr std::size_t kRoom = kMaxPacket - kDataOverhead;  // for meta and payload together
  if (meta.size() > kRoom || payload.size() > kRoom - meta.size()) {
    return Error(ErrorKind::too_large, "group send: meta of " + std::to_string(meta.size()) +
                                           " and payload of " + std::to_string(payload.size()) +
                                           " bytes (at most " + std::to_string(kRoom) +
                                           " together in a packet)");
  }
  const std::uint64_t seq = next_seq_++;
  // Encoded when polled, from the history (poll_transmit): one copy fewer.
  out_.push_back({}, {}, Outgoing{Destination{}, seq});
  ++counters_.sent;
  history_.push_back(payload, meta, Sent{Time{}, false, control});
  counters_.history_bytes = history_.bytes();
  // Delivered here at once: our own messages are in order by construction.
  deliveries_.push_back(
      Delivery{config_.self, config_.view.id, seq, copy_of(payload), copy_of(meta), control});
  ++counters_.delivered;
  // The heartbeat that tells late receivers our highest sequence number.
  next_heartbeat_ = std::min(next_heartbeat_, now + config_.tail_heartbeat);
  if (peers_.empty()) update_stable();  // alone in the view: stable at once
  return ok();
}

// A token bucket per requesting member: nak_rate a second, nak_burst at most.
bool Member::take_nak_token(Peer& requester, Time now) {
  const double elapsed = std::chrono::duration<double>(now - requester.tokens_at).count();
  requester.tokens_at = now;
  requester.tokens =
      std::min<double>(config_.nak_burst, requester.tokens + elapsed * config_.nak_rate);
  if (requester.tokens < 1.0) return false;
  requester.tokens -= 1.0;
  return true;
}

// A NAK for our messages comes to us one to one and, in views of 3 or more,
// to the group as well: the second of the two to arrive is a copy if the
// first came from the same requester with the same ranges less than the
// repair wait's floor ago (a NAK repeated for want of its repair comes no
// sooner than that, and within the floor its messages are held off). A copy
// seen later, or pushed out of the ring, is taken as a NAK: at worst a
// duplicate repair.
bool Member::nak_copy(MemberId requester, const Nak& nak, Time now) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a over the ranges
  for (const SeqRange& r : nak.ranges()) {
    for (const std::uint64_t v : {r.first, r.last}) {
      hash ^= v;
      hash *= 0x100000001b3ULL;
    }
  }
  for (TakenNak& t : taken_naks_) {
    if (t.requester == requester && t.hash == hash && now - t.at < repair_floor_) {
      t.requester = 0;  // its one copy has come
      return true;
    }
  }
  taken_naks_[taken_next_] = TakenNak{requester, hash, now};
  taken_next_ = (taken_next_ + 1) % taken_naks_.size();
  return false;
}

void Member::on_nak(Peer& requester, MemberId requester_id, const Nak& nak, Time now) {
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
        of.repair_due = now + repair_wait(of);
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
  // A copy costs no token and is no second NAK; it is still answered (a NAK
  // repeated early may look like one), and the hold-off makes that a no-op.
  if (keep_ && nak_copy(requester_id, nak, now)) {
    ++counters_.nak_copies;
  } else {
    ++counters_.naks_received;
    if (!take_nak_token(requester, now)) {
      ++counters_.nak_rate_limited;
      return;
    }
  }
  repairs_.clear();
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
      Sent& sent = history_[seq - stable_ - 1].info;
      if (sent.retransmitted && now - sent.retransmitted_at < config_.retransmit_holdoff)
        continue;  // already on its way: this NAK (or its multicast copy) crossed it
      sent.retransmitted = true;
      sent.retransmitted_at = now;
      repairs_.push_back(seq);
    }
  }
  // To the requester first, one to one (its unicast socket is read before
  // the group's); then, in views of 3 or more, to the group as well, for the
  // members that overheard this NAK and suppressed theirs. Each destination's
  // run is consecutive, so that the driver's bundles hold several.
  // (Counted once a message: the multicast copy is the same retransmission.)
  for (const std::uint64_t seq : repairs_) {
    if (retransmit(seq, history_[seq - stable_ - 1], Destination{false, requester_id}))
      ++counters_.retransmissions;
  }
  if (config_.members.size() < 3) return;
  for (const std::uint64_t seq : repairs_)
    (void)retransmit(seq, history_[seq - stable_ - 1], Destination{});
}

bool Member::retransmit(std::uint64_t seq, MessageLog<Sent>::Entry sent, Destination to) {
  const Header header{Type::data, config_.group, config_.self, config_.view};
  const std::uint8_t flags = kRetransmission | (sent.info.control ? kControl : 0);
  if (!encode_data(packet_, header, seq, flags, sent.meta, sent.payload)) return false;
  push(packet_, to);
  return true;
}

void Member::send_heartbeat(Time now) {
  digest_.clear();
  for (const auto& [id, peer] : peers_)
    digest_.push_back(DigestEntry{id, peer.next - 1});
  std::sort(digest_.begin(), digest_.end(),
            [](const DigestEntry& a, const DigestEntry& b) { return a.member < b.member; });
  if (digest_.size() > kMaxDigest) digest_.resize(kMaxDigest);
  const Header header{Type::heartbeat, config_.group, config_.self, config_.view};
  if (encode_heartbeat(packet_, header, next_seq_ - 1, digest_)) {
    push(packet_);
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
    history_.pop_front();
    ++stable_;
  }
  counters_.history_bytes = history_.bytes();
}

}  // namespace nexo::group
