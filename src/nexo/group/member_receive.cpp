// Member, the receiving side: each sender's messages delivered in order, gaps
// found (from DATA and HEARTBEAT), NAKs scheduled with random back-off and
// suppression, digests taken in for stability.
#include <algorithm>
#include <cmath>

#include "nexo/group/member.hpp"

namespace nexo::group {

void Member::on_data(Peer& peer, MemberId sender, const Data& data, Time now) {
  const std::uint64_t limit = peer.next + 2 * config_.window;  // the receive window's end
  if (data.seq >= limit) {
    ++counters_.beyond_window;
    return;
  }
  if (data.seq < peer.next || peer.held.contains(data.seq)) {
    ++counters_.duplicates;
    return;
  }
  if (data.payload.size() > config_.max_message) {
    ++counters_.beyond_window;  // no member of this group sends that: treat as out of bounds
    return;
  }
  if (data.seq == peer.probe_seq) {  // the message whose NAK is being timed
    if (data.retransmission && config_.adaptive_repair_timeout)
      peer.repair_timer.sample(now - peer.probe_at);
    peer.probe_seq = 0;  // (came by itself, late: no sample)
  }
  // A new gap while a NAK is already scheduled (if none is, learn_highest
  // draws one: a second draw would bias the back-off early, against suppression).
  const bool new_gap = peer.nak_at && data.seq > peer.highest_known + 1 && data.seq > peer.next;
  learn_highest(peer, data.seq, now, true);
  if (data.seq == peer.next) {
    const Time missing_since =
        peer.missing_head < peer.missing.size() ? recovered(peer, data.seq, now) : Time{};
    if (peer.nak_at) peer.nak_backoff = 1;  // a repair (or a late arrival): progress
    if (keep_) keep(peer, data.payload, data.meta, data.control);
    deliveries_.push_back(Delivery{sender, config_.view.id, data.seq, copy_of(data.payload),
                                   copy_of(data.meta), data.control, missing_since});
    ++peer.next;
    ++peer.delivered_since_heartbeat;
    ++counters_.delivered;
    deliver_ready(peer, sender, now);
  } else if (peer.held_bytes + data.payload.size() + data.meta.size() > config_.buffer_bytes) {
    ++counters_.buffer_full;  // dropped: a NAK fetches it once the buffer drains
  } else {
    Held held{copy_of(data.payload), copy_of(data.meta), data.control};
    peer.held_bytes += held.size();
    peer.held.emplace(data.seq, std::move(held));
  }
  if (peer.next > peer.highest_known) {  // nothing missing
    peer.nak_at.reset();
    peer.nak_backoff = 1;
    // No repair awaited: a gap found from now on gets a full NAK and a wait
    // of its own, not the end of this one's (a retry that soon would be
    // premature, and double the wait).
    peer.repair_due = Time{};
  } else {
    schedule_nak(peer, now, new_gap);
  }
  // A busy sender's window moves on our digests: send one when a quarter of
  // it has been delivered since the last.
  if (peer.delivered_since_heartbeat >= std::max<std::size_t>(config_.window / 4, 1))
    send_heartbeat(now);
}

void Member::deliver_ready(Peer& peer, MemberId sender, Time now) {
  for (auto it = peer.held.begin(); it != peer.held.end() && it->first == peer.next;) {
    const Time missing_since =
        peer.missing_head < peer.missing.size() ? recovered(peer, it->first, now) : Time{};
    peer.held_bytes -= it->second.size();
    Held& held = it->second;
    if (keep_) keep(peer, held.payload, held.meta, held.control);
    deliveries_.push_back(Delivery{sender, config_.view.id, it->first, std::move(held.payload),
                                   std::move(held.meta), held.control, missing_since});
    ++peer.next;
    ++peer.delivered_since_heartbeat;
    ++counters_.delivered;
    it = peer.held.erase(it);
  }
}

// A sender's highest sequence number, as DATA or a HEARTBEAT tells it: what
// lies between what we delivered and it is missing.
void Member::learn_highest(Peer& peer, std::uint64_t highest, Time now, bool arrived) {
  const std::uint64_t limit = peer.next + 2 * config_.window - 1;
  if (highest > limit) {
    ++counters_.beyond_window;
    highest = limit;
    arrived = false;
  }
  if (highest <= peer.highest_known) return;
  // Nothing beyond highest_known has arrived: what lies between it and
  // `highest` is missing from now on.
  const std::uint64_t first = std::max(peer.highest_known + 1, peer.next);
  const std::uint64_t last = arrived ? highest - 1 : highest;
  if (first <= last) peer.missing.push_back(Missing{first, last, now});
  peer.highest_known = highest;
  if (peer.next <= peer.highest_known) schedule_nak(peer, now);
}

void Member::on_heartbeat(Peer& peer, MemberId, const Heartbeat& hb, Time now) {
  const bool new_gap =
      peer.nak_at && hb.highest_sent > peer.highest_known && hb.highest_sent >= peer.next;
  learn_highest(peer, hb.highest_sent, now);
  if (new_gap && peer.next <= peer.highest_known) schedule_nak(peer, now, true);
  if (keep_ && hb.count > 0 && peer.reported.empty())
    peer.reported.assign(config_.members.size(), 0);
  for (std::size_t i = 0; i < hb.count; ++i) {
    const DigestEntry e = hb.entry(i);
    if (keep_) {
      const std::size_t r = rank(e.member);
      if (r < peer.reported.size() && config_.members[r] == e.member)
        peer.reported[r] = std::max(peer.reported[r], e.delivered_through);
    }
    if (e.member != config_.self) continue;
    // Never more than we sent: a lying digest cannot free what others lack.
    peer.has_ours = std::max(peer.has_ours, std::min(e.delivered_through, next_seq_ - 1));
    update_stable();
    if (!keep_) break;
  }
}

// `seq`, the next of `peer`'s messages, is being delivered: if it was
// missing, the time since it was found missing is its recovery time.
// Returns when it was found missing (Time{}: it was not).
Time Member::recovered(Peer& peer, std::uint64_t seq, Time now) {
  Time since{};
  while (peer.missing_head < peer.missing.size() && peer.missing[peer.missing_head].last < seq)
    ++peer.missing_head;  // (delivered already: not expected, deliveries come in order)
  if (peer.missing_head < peer.missing.size()) {
    Missing& run = peer.missing[peer.missing_head];
    if (run.first <= seq) {
      since = run.since;
      counters_.recovery.record(now - run.since);
      if (seq == run.last) {
        ++peer.missing_head;
      } else {
        run.first = seq + 1;
      }
    }
  }
  if (peer.missing_head == peer.missing.size()) {
    peer.missing.clear();
    peer.missing_head = 0;
  }
  return since;
}

// A message of `peer` just delivered, kept until every member has it.
void Member::keep(Peer& peer, std::span<const std::byte> payload, std::span<const std::byte> meta,
                  bool control) {
  if (peer.kept_count() == 0) peer.kept_from = peer.next;
  peer.kept.push_back(payload, meta, control);
}

// Frees the kept messages every other member has delivered (their digests).
void Member::prune_kept() {
  for (auto& [id, peer] : peers_) {
    if (peer.kept_count() == 0) continue;
    std::uint64_t stable = peer.next - 1;
    for (const auto& [other_id, other] : peers_) {
      if (other_id == id) continue;
      stable = other.reported.empty() ? 0 : std::min(stable, other.reported[rank(id)]);
      if (stable < peer.kept_from) break;  // nothing to free
    }
    while (peer.kept_count() > 0 && peer.kept_from <= stable) {
      peer.kept.pop_front();
      ++peer.kept_from;
    }
  }
}

// A NAK for `target`'s messages, which this member repairs (the target may
// have crashed): the kept messages go out as the target's DATA, marked as
// retransmissions, at most once per retransmit_holdoff for that target.
void Member::repair(Peer& requester, MemberId target, Peer& of, const Nak& nak, Time now) {
  if (of.kept_retransmitted_at != Time{} &&
      now - of.kept_retransmitted_at < config_.retransmit_holdoff)
    return;
  if (!take_nak_token(requester, now)) {
    ++counters_.nak_rate_limited;
    return;
  }
  of.kept_retransmitted_at = now;
  const Header header{Type::data, config_.group, target, config_.view};
  for (const SeqRange& r : nak.ranges()) {
    for (std::uint64_t seq = std::max(r.first, of.kept_from);
         seq <= r.last && seq < of.kept_from + of.kept_count(); ++seq) {
      const auto held = of.kept[seq - of.kept_from];
      const std::uint8_t flags = kRetransmission | (held.info ? kControl : 0);
      if (encode_data(packet_, header, seq, flags, held.meta, held.payload)) {
        push(packet_);
        ++counters_.retransmissions;
      }
    }
  }
}

// A NAK is drawn for a gap; a new gap is not left waiting behind an older
// one's repair (its NAK, early, asks only for what no NAK asked for yet).
void Member::schedule_nak(Peer& peer, Time now, bool new_gap) {
  if (peer.nak_at && !new_gap) return;
  const Time at = now + nak_backoff_draw();
  if (!peer.nak_at || at < *peer.nak_at) peer.nak_at = at;
}

// A draw from the truncated exponential density over [0, nak_delay], rising
// toward the end: F(x) = (e^(lambda x / T) - 1) / (e^lambda - 1), lambda =
// ln(group size) + 1. With many receivers few draw early, and the earliest
// NAK has time to reach (and suppress) the rest.
Duration Member::nak_backoff_draw() {
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  const double fraction = std::log1p(u * std::expm1(nak_shape_)) / nak_shape_;
  return std::chrono::duration_cast<Duration>(
      std::chrono::duration<double, std::micro>(fraction * config_.nak_delay.count()));
}

bool Member::missing_ranges(const Peer& peer, std::uint64_t from,
                            std::vector<SeqRange>& out) const {
  out.clear();
  std::uint64_t cursor = std::max(from, peer.next);
  for (auto it = peer.held.lower_bound(cursor); it != peer.held.end() && out.size() < kMaxNakRanges;
       ++it) {
    if (it->first > cursor) out.push_back(SeqRange{cursor, it->first - 1});
    cursor = it->first + 1;
  }
  if (out.size() < kMaxNakRanges && cursor <= peer.highest_known)
    out.push_back(SeqRange{cursor, peer.highest_known});
  return !out.empty();
}

void Member::send_nak(Peer& peer, MemberId target, Time now) {
  // Early (an older NAK's repair is still awaited): only the new gaps.
  const bool early = now < peer.repair_due;
  if (!missing_ranges(peer, early ? peer.naked_through + 1 : peer.next, ranges_)) {
    if (early && peer.next <= peer.highest_known) {
      peer.nak_at = peer.repair_due;  // nothing new: the older gaps' wait goes on
      return;
    }
    peer.nak_at.reset();
    peer.nak_backoff = 1;
    return;
  }
  // To the sender, one to one (its unicast socket is read before the
  // group's, where this would wait behind data); in views of 3 or more a
  // copy to the group too, for the others to overhear (suppression) and for
  // a repairer of the sender's messages.
  const Header header{Type::nak, config_.group, config_.self, config_.view};
  if (encode_nak(packet_, header, target, ranges_)) {
    push(packet_, Destination{false, target});
    if (config_.members.size() >= 3) push(packet_);
    ++counters_.naks_sent;
  }
  probe_round_trip(peer, peer.naked_through, now);
  peer.naked_through = std::max(peer.naked_through, ranges_.back().last);
  // The repair is awaited; without it, ask again, less and less often.
  if (!early) {
    peer.repair_due = now + repair_wait(peer);
    peer.nak_backoff = std::min(peer.nak_backoff * 2, 8);
  }
  peer.nak_at = peer.repair_due;
}

// The NAK in ranges_ is going out: time its round trip on a message asked
// for the first time (beyond `naked_before`), unless one is being timed. A
// message asked for again spoils its timing (Karn's rule).
void Member::probe_round_trip(Peer& peer, std::uint64_t naked_before, Time now) {
  if (!config_.adaptive_repair_timeout) return;
  if (peer.probe_seq != 0 && peer.probe_seq < peer.next) peer.probe_seq = 0;  // not expected
  for (const SeqRange& r : ranges_) {
    if (r.first <= peer.probe_seq && peer.probe_seq <= r.last) peer.probe_seq = 0;
  }
  if (peer.probe_seq != 0) return;
  for (const SeqRange& r : ranges_) {
    const std::uint64_t first = std::max(r.first, naked_before + 1);
    if (first <= r.last) {
      peer.probe_seq = first;
      peer.probe_at = now;
      return;
    }
  }
}

}  // namespace nexo::group
