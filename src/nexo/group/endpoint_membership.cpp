// Endpoint, membership: the periodic tick (join and leave retries, liveness
// and probes, announcements), JOIN, LEAVE, PROBE, ANNOUNCE and MERGE.
#include <algorithm>
#include <cstdio>
#include <string>

#include "nexo/group/endpoint_impl.hpp"

namespace nexo::group {

void Endpoint::Impl::on_tick(Time now) {
  next_tick = now + tick();
  if (view_resend) {
    ViewResend& r = *view_resend;
    if (now >= r.until || r.unacked.empty()) {
      view_resend.reset();
    } else if (now >= r.next) {
      r.next = now + resend();
      for (MemberId m : r.unacked) {
        send_to(m, r.packet);
        for (const Bytes& chunk : state_packets)
          send_to(m, chunk);
      }
    }
  }
  switch (state) {
    case State::idle:
    case State::left:
      return;
    case State::joining:
      if (now >= join_deadline) {
        become_alone(highest_flush + 1, now);
      } else if (now >= next_join) {
        send_join();
        next_join = now + std::max<Duration>(config.discovery_time / 6, tick());
      }
      return;
    case State::member:
    case State::leaving:
      break;
  }
  check_liveness(now);
  check_slow(now);
  resend_flush(now);
  maybe_start_flush(now);
  if (state == State::leaving) {
    if (!part && !coord && now >= next_leave && coordinator() != config.self) {
      send_leave();
      next_leave = now + resend();
    }
    if (now >= leave_deadline || (part && part->done && now - part->done_at > detection())) {
      finish_left();
      return;
    }
  }
  if (state == State::member && !coord && !part && coordinator() == config.self &&
      now >= next_announce) {
    send_announce();
    next_announce = now + announce_interval();
  }
}

// A member silent for silence() is probed; one that answers nothing to
// kProbeTries probes is suspected (and the coordinator removes it).
void Endpoint::Impl::check_liveness(Time now) {
  for (MemberId m : view.members) {
    if (m == config.self || suspected.contains(m)) continue;
    auto pr = probing.find(m);
    if (pr == probing.end()) {
      if (now - last_heard[m] < silence()) continue;
      pr = probing.emplace(m, Probing{0, now}).first;
    }
    if (now < pr->second.next) continue;
    if (pr->second.tries >= kProbeTries) {
      suspected.insert(m);
      probing.erase(pr);
      ++counters.crashes_detected;
      continue;
    }
    Bytes packet;
    if (encode_probe(packet, header(Type::probe), random())) send_to(m, std::move(packet));
    ++counters.probes_sent;
    ++pr->second.tries;
    pr->second.next = now + probe_interval();
  }
}

// Under SlowPolicy::remove, the coordinator suspects a member that has lagged
// for slow_timeout: the next flush removes it.
void Endpoint::Impl::check_slow(Time now) {
  if (config.slow_policy != SlowPolicy::remove || !member || coordinator() != config.self) {
    slow_since.clear();
    return;
  }
  std::vector<MemberId> slow;
  member->lagging(std::max<std::uint64_t>(config.reliability.window / 2, 1), slow);
  std::erase_if(slow_since, [&](const auto& s) {
    return std::find(slow.begin(), slow.end(), s.first) == slow.end();
  });
  for (MemberId m : slow) {
    const auto [it, fresh] = slow_since.emplace(m, now);
    if (fresh || now - it->second < config.slow_timeout || suspected.contains(m)) continue;
    suspected.insert(m);
    banned[m] = now + 5 * config.slow_timeout;
    ++counters.slow_removals;
  }
}

// Contacts of members gone (or of forged joiners) are not kept forever;
// those of the view just left are (a leaver's LEAVE retries are answered).
void Endpoint::Impl::prune_contacts(const std::vector<MemberId>& previous) {
  std::erase_if(contacts, [&](const auto& c) {
    const MemberId m = c.first;
    const auto waiting = [m](const auto& j) { return j.first == m; };
    const bool before = std::find(previous.begin(), previous.end(), m) != previous.end();
    return m != config.self && !in_view(m) && !before &&
           std::none_of(joiners.begin(), joiners.end(), waiting) &&
           std::none_of(mergers.begin(), mergers.end(), waiting);
  });
}

void Endpoint::Impl::send_join() {
  Bytes packet;
  if (encode_hello(packet, header(Type::join), config.contact))
    push(std::move(packet), Destination{true, 0});
}

void Endpoint::Impl::send_leave() {
  Bytes packet;
  if (encode_leave(packet, header(Type::leave))) send_to(coordinator(), std::move(packet));
}

void Endpoint::Impl::send_announce() {
  Bytes packet;
  if (encode_hello(packet, header(Type::announce), config.contact, view.members.size()))
    push(std::move(packet), Destination{true, 0});
}

// At the coordinator, a joiner waits for the next flush; elsewhere a JOIN is
// somebody else's business.
void Endpoint::Impl::on_join(const Header& h, const Hello& hello, Time now) {
  if (state != State::member || coordinator() != config.self) return;
  if (in_view(h.sender)) return;  // its VIEW was lost: the VIEW's resends reach it
  if (std::any_of(joiners.begin(), joiners.end(),
                  [&](const auto& j) { return j.first == h.sender; }))
    return;
  if (view.members.size() + joiners.size() + mergers.size() >= kMaxViewMembers ||
      next_view_packet(1, hello.contact.size()) > config.max_view_packet) {
    refuse(h.sender, hello.contact);
    return;
  }
  const Bytes contact(hello.contact.begin(), hello.contact.end());
  contacts[h.sender] = contact;
  joiners.emplace_back(h.sender, contact);
  maybe_start_flush(now);
}

void Endpoint::Impl::on_leave(const Header& h, Time now) {
  if ((state == State::member || state == State::leaving) && coordinator() == config.self &&
      in_view(h.sender) && h.view == view.identity()) {
    if (leavers.insert(h.sender).second) ++counters.leaves;
    maybe_start_flush(now);
    return;
  }
  if (view_resend && h.view == view_resend->previous_view) {
    send_to(h.sender, view_resend->packet);  // its VIEW was lost: here it is again
    return;
  }
  if (view_resend == std::nullopt && !in_view(h.sender)) drop(Drop::stranger);
}

void Endpoint::Impl::on_probe(const Header& h, const Probe& probe) {
  if (view.id == 0 || h.view != view.identity() || !in_view(h.sender)) {
    // Not of our view: no answer, so that it suspects us and moves on.
    drop(in_view(h.sender) ? Drop::stale : Drop::stranger);
    return;
  }
  Bytes packet;
  if (encode_probe(packet, header(Type::probe_ack), probe.nonce))
    send_to(h.sender, std::move(packet));
}

// Another view's coordinator: the smaller view (or, of two as large, the one
// whose coordinator has the higher id) flushes itself and merges into the other.
void Endpoint::Impl::on_announce(const Header& h, const Hello& hello, Time now) {
  if (state != State::member || in_view(h.sender) || coordinator() != config.self || coord ||
      part || merge_target != 0)
    return;
  const std::size_t mine = view.members.size();
  if (hello.size < mine || (hello.size == mine && h.sender > config.self)) return;
  contacts[h.sender] = Bytes(hello.contact.begin(), hello.contact.end());
  merge_target = h.sender;
  merge_min_view = std::max(merge_min_view, h.view.id);
  maybe_start_flush(now);
}

// A flushed view asks to come into ours: its members join at our next flush.
void Endpoint::Impl::on_merge(const Header& h, const Roster& roster, Time now) {
  if (state != State::member || coordinator() != config.self || in_view(h.sender) ||
      merge_target != 0) {
    drop(Drop::invalid);
    return;
  }
  if (coord || (merging_from != 0 && merging_from != h.sender)) return;  // it resends
  if (merging_from == h.sender) return;  // already waiting for our flush
  std::vector<std::pair<MemberId, Bytes>> members;
  std::set<MemberId> seen;
  std::size_t at = 0;
  std::erase_if(banned, [&](const auto& b) { return b.second <= now; });
  for (std::size_t i = 0; i < roster.count; ++i) {
    RosterEntry e;
    at = roster.next(at, e);
    if (!seen.insert(e.member).second) {
      drop(Drop::invalid);  // a member twice: forged or broken
      return;
    }
    if (banned.contains(e.member)) {
      drop(Drop::invalid);  // removed as too slow a moment ago: not back yet
      return;
    }
    if (!in_view(e.member))
      members.emplace_back(e.member, Bytes(e.contact.begin(), e.contact.end()));
  }
  std::size_t merged_contacts = 0;
  for (const auto& m : members)
    merged_contacts += m.second.size();
  if (view.members.size() + joiners.size() + members.size() > kMaxViewMembers ||
      next_view_packet(members.size(), merged_contacts) > config.max_view_packet) {
    drop(Drop::invalid);  // too large a view: the other stays a view of its own
    return;
  }
  for (const auto& [m, c] : members)
    contacts[m] = c;
  mergers = std::move(members);
  merging_from = h.sender;
  merge_min_view = std::max({merge_min_view, roster.new_view, h.view.id});
  ++counters.merges;
  maybe_start_flush(now);
}

std::size_t Endpoint::Impl::next_view_packet(std::size_t extra, std::size_t extra_contact) const {
  std::size_t members = view.members.size() + joiners.size() + mergers.size() + extra;
  std::size_t bytes = extra_contact;
  for (const Bytes& c : view.contacts)
    bytes += c.size();
  for (const auto& j : joiners)
    bytes += j.second.size();
  for (const auto& m : mergers)
    bytes += m.second.size();
  return roster_packet_size(members, bytes);
}

// A JOIN that would make the view's roster too large for one VIEW packet (or
// too many members): REFUSE, so that the joiner's join fails at once with a
// reason instead of timing out or, worse, every flush failing on a VIEW that
// cannot be encoded. Its contact is kept (bounded) for the answer, until the
// next view prunes it.
void Endpoint::Impl::refuse(MemberId joiner, std::span<const std::byte> contact) {
  ++counters.joins_refused;
  Bytes packet;
  if (!encode_refuse(packet, header(Type::refuse), joiner, view.members.size())) return;
  if (!contacts.contains(joiner) && contacts.size() >= 2 * kMaxViewMembers) return;
  contacts[joiner] = Bytes(contact.begin(), contact.end());
  send_to(joiner, std::move(packet));
}

void Endpoint::Impl::on_refuse(const Header& h, const Refuse& r) {
  if (state != State::joining || r.joiner != config.self) {
    drop(Drop::stale);  // late (a view took us meanwhile) or not ours
    return;
  }
  char coordinator_id[24];
  std::snprintf(coordinator_id, sizeof coordinator_id, "%llx",
                static_cast<unsigned long long>(h.sender));
  refusal = Error(ErrorKind::too_large,
                  "group join: refused by the coordinator #" + std::string(coordinator_id) +
                      ": its view of " + std::to_string(r.size) +
                      " members cannot take this one, whose roster would not fit one VIEW "
                      "packet (at most " +
                      std::to_string(kMaxPacket) + " bytes, or the group's max_view_packet: " +
                      std::to_string(kMaxViewMembers) + " members, fewer with long contacts)");
  state = State::left;
}

// A view of our own: a joiner nobody answered, or a member left out of the
// others' view (it merges back through the announcements).
void Endpoint::Impl::become_alone(std::uint64_t id, Time now) {
  View alone;
  alone.id = std::max(id, highest_flush + 1);
  alone.members = {config.self};
  alone.contacts = {config.contact};
  install(std::move(alone), now, false);
}

}  // namespace nexo::group
