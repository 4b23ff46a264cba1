// Endpoint, the virtual-synchrony flush (the protocol is described in
// endpoint_impl.hpp): the coordinator's side (FLUSH, the cut, VIEW or MERGE)
// and every participant's (FLUSH_OK, the cut's messages, FLUSH_DONE, VIEW).
#include <algorithm>

#include "nexo/group/endpoint_impl.hpp"

namespace nexo::group {

namespace {

bool contains(const std::vector<MemberId>& v, MemberId m) {
  return std::find(v.begin(), v.end(), m) != v.end();
}

}  // namespace

void Endpoint::Impl::maybe_start_flush(Time now) {
  if (state != State::member && state != State::leaving) return;
  if (coordinator() != config.self) return;
  if (coord) {
    const bool lost = std::any_of(coord->participants.begin(), coord->participants.end(),
                                  [&](MemberId m) { return suspected.contains(m); });
    if (lost && coord->phase != Coordination::Phase::merging) start_flush(now);
    return;
  }
  bool reason = !joiners.empty() || !leavers.empty() || !mergers.empty() || merge_target != 0 ||
                (part && part->coordinator != config.self);
  for (MemberId m : view.members)
    reason = reason || suspected.contains(m);
  if (reason) start_flush(now);
}

void Endpoint::Impl::start_flush(Time now) {
  Coordination c;
  c.id = std::max({view.id, highest_flush, merge_min_view}) + 1;
  highest_flush = c.id;
  c.merge_into = merge_target;
  c.proposal.id = c.id;
  for (MemberId m : view.members) {
    if (suspected.contains(m)) continue;
    c.participants.push_back(m);
    if (leavers.contains(m)) continue;
    c.proposal.members.push_back(m);
  }
  if (merge_target == 0) {
    for (const auto& [m, contact] : joiners)
      if (!contains(c.proposal.members, m)) c.proposal.members.push_back(m);
    for (const auto& [m, contact] : mergers)
      if (!contains(c.proposal.members, m)) c.proposal.members.push_back(m);
  }
  for (MemberId m : c.proposal.members) {
    const auto it = contacts.find(m);
    c.proposal.contacts.push_back(it == contacts.end() ? Bytes{} : it->second);
  }
  c.next_resend = now + resend();
  c.deadline = now + detection();
  coord = std::move(c);
  ++counters.flushes;
  Bytes packet;
  if (encode_flush(packet, header(Type::flush), coord->id, coord->merge_into))
    push(std::move(packet), Destination{true, 0});
  on_flush(header(Type::flush), Flush{coord->id, coord->merge_into}, now);
}

// Resends what the flush waits for, to those it waits for.
void Endpoint::Impl::resend_flush(Time now) {
  if (!coord || now < coord->next_resend) return;
  Coordination& c = *coord;
  c.next_resend = now + resend();
  if (c.phase != Coordination::Phase::merging && now >= c.deadline) {
    // A participant that answers nothing for a detection time (it may still
    // send heartbeats) is suspected: the flush starts again without it.
    bool any = false;
    for (MemberId m : c.participants) {
      const bool answered =
          c.phase == Coordination::Phase::collecting ? c.oks.contains(m) : c.done.contains(m);
      if (m == config.self || answered || !suspected.insert(m).second) continue;
      ++counters.crashes_detected;
      any = true;
    }
    if (any) {
      maybe_start_flush(now);
      return;
    }
    c.deadline = now + detection();  // only this member is missing: it waits for repairs
  }
  Bytes packet;
  switch (c.phase) {
    case Coordination::Phase::collecting:
      if (!encode_flush(packet, header(Type::flush), c.id, c.merge_into)) return;
      for (MemberId m : c.participants)
        if (!c.oks.contains(m)) send_to(m, packet);
      return;
    case Coordination::Phase::cutting:
      if (!encode_cut(packet, header(Type::cut), c.id, c.cut)) return;
      for (MemberId m : c.participants)
        if (!c.done.contains(m)) send_to(m, packet);
      return;
    case Coordination::Phase::merging: {
      if (now >= c.deadline) {  // the other view did not take us: a view of our own
        merge_target = 0;
        View own = c.proposal;
        coord->merge_into = 0;
        if (part) part->merge_into = 0;
        send_view(own, now);
        return;
      }
      std::vector<RosterMember> roster;
      for (std::size_t i = 0; i < c.proposal.members.size(); ++i)
        roster.push_back({c.proposal.members[i], c.proposal.contacts[i]});
      if (encode_roster(packet, header(Type::merge), c.id, roster))
        send_to(c.merge_into, std::move(packet));
      return;
    }
  }
}

// A FLUSH of our view: stop sending, say what we delivered, hold further
// deliveries back until the cut.
void Endpoint::Impl::on_flush(const Header& h, const Flush& flush, Time now) {
  if ((state != State::member && state != State::leaving) || h.view != view.identity() ||
      !in_view(h.sender)) {
    drop(in_view(h.sender) ? Drop::stale : Drop::stranger);
    return;
  }
  if (part && (flush.new_view < part->id ||
               (flush.new_view == part->id && h.sender != part->coordinator))) {
    drop(Drop::stale);  // an older flush, or a rival's of the same id
    return;
  }
  if (!part || part->id != flush.new_view) {
    part = Participation{};
    part->id = flush.new_view;
    part->coordinator = h.sender;
    part->merge_into = flush.merge_into;
    gated = true;
    highest_flush = std::max(highest_flush, flush.new_view);
    if (coord && h.sender != config.self && coord->id < flush.new_view) coord.reset();
  }
  const std::vector<DigestEntry> digest = delivered_digest();
  if (h.sender == config.self) {
    on_flush_ok(header(Type::flush_ok), part->id, digest, now);
    return;
  }
  Bytes packet;
  if (encode_flush_ok(packet, header(Type::flush_ok), part->id, digest))
    send_to(h.sender, std::move(packet));
  (void)now;
}

std::vector<DigestEntry> Endpoint::Impl::delivered_digest() const {
  std::vector<DigestEntry> digest;
  for (MemberId m : view.members) {
    const auto it = fifo_through.find(m);
    digest.push_back({m, it == fifo_through.end() ? 0 : it->second});
  }
  std::sort(digest.begin(), digest.end(),
            [](const DigestEntry& a, const DigestEntry& b) { return a.member < b.member; });
  return digest;
}

void Endpoint::Impl::on_flush_ok(const Header& h, std::uint64_t id, std::vector<DigestEntry> digest,
                                 Time now) {
  if (!coord || id != coord->id || h.view != view.identity() ||
      !contains(coord->participants, h.sender)) {
    if (!(coord && id == coord->id)) drop(Drop::stale);
    return;
  }
  Coordination& c = *coord;
  if (c.phase != Coordination::Phase::collecting) return;  // a resend crossed the cut
  c.oks[h.sender] = std::move(digest);
  if (c.oks.size() < c.participants.size()) return;
  // The cut: per sender, the highest any participant delivered, and who.
  std::map<MemberId, CutEntry> cut;
  for (const auto& [p, entries] : c.oks)
    for (const DigestEntry& e : entries) {
      if (!in_view(e.member) || e.delivered_through == 0) continue;
      CutEntry& ce = cut[e.member];
      if (e.delivered_through > ce.through) ce = {e.member, e.delivered_through, p};
    }
  for (const auto& [m, e] : cut)
    c.cut.push_back(e);
  c.phase = Coordination::Phase::cutting;
  c.next_resend = now + resend();
  send_cut();
  on_cut(header(Type::cut), c.id, c.cut, now);
}

void Endpoint::Impl::send_cut() {
  Bytes packet;
  if (encode_cut(packet, header(Type::cut), coord->id, coord->cut))
    push(std::move(packet), Destination{true, 0});
}

void Endpoint::Impl::on_cut(const Header& h, std::uint64_t id, const std::vector<CutEntry>& cut,
                            Time now) {
  if (!part || id != part->id || h.sender != part->coordinator || h.view != view.identity()) {
    drop(Drop::stale);
    return;
  }
  if (part->done) {  // our FLUSH_DONE was lost
    Bytes packet;
    if (encode_view_number(packet, header(Type::flush_done), part->id))
      send_to(part->coordinator, std::move(packet));
    return;
  }
  if (part->have_cut) return;
  part->have_cut = true;
  for (const CutEntry& e : cut) {
    part->cut[e.member] = e.through;
    if (!member) continue;
    if (e.holder == config.self && e.member != config.self) member->set_repairer(e.member);
    if (fifo_through[e.member] < e.through) member->expect(e.member, e.through, now);
  }
  std::deque<Delivery> waiting;
  waiting.swap(held);
  for (Delivery& d : waiting)
    feed(std::move(d));
  pump(now);
  check_flush_done(now);
}

void Endpoint::Impl::check_flush_done(Time now) {
  if (!part || !part->have_cut || part->done) return;
  for (const auto& [m, through] : part->cut)
    if (fifo_through[m] < through) return;
  part->done = true;
  part->done_at = now;
  if (part->coordinator == config.self) {
    on_flush_done(header(Type::flush_done), part->id, now);
    return;
  }
  Bytes packet;
  if (encode_view_number(packet, header(Type::flush_done), part->id))
    send_to(part->coordinator, std::move(packet));
}

void Endpoint::Impl::on_flush_done(const Header& h, std::uint64_t id, Time now) {
  if (!coord || id != coord->id || h.view != view.identity() ||
      !contains(coord->participants, h.sender)) {
    if (!(coord && id == coord->id)) drop(Drop::stale);
    return;
  }
  if (coord->phase != Coordination::Phase::cutting) return;
  coord->done.insert(h.sender);
  if (coord->done.size() == coord->participants.size()) finish_flush(now);
}

// Every participant has the cut's messages: the new view, or the hand-over
// to the view we merge into.
void Endpoint::Impl::finish_flush(Time now) {
  Coordination& c = *coord;
  if (c.merge_into != 0) {
    c.phase = Coordination::Phase::merging;
    c.next_resend = now;
    c.deadline = now + 2 * detection();
    resend_flush(now);
    return;
  }
  if (c.proposal.members.empty()) {  // everyone left
    coord.reset();
    finish_left();
    return;
  }
  const View next = c.proposal;
  send_view(next, now);
}

// Sends VIEW (resent until acknowledged) and installs it here, or leaves.
void Endpoint::Impl::send_view(const View& next, Time now) {
  std::vector<RosterMember> roster;
  for (std::size_t i = 0; i < next.members.size(); ++i)
    roster.push_back({next.members[i], next.contacts[i]});
  Bytes packet;
  if (!encode_roster(packet, header(Type::view), next.id, roster)) {
    coord.reset();  // cannot happen with bounded views; the next tick retries
    return;
  }
  ViewResend r;
  r.packet = packet;
  r.previous_view = view.identity();
  r.id = next.id;
  r.next = now + resend();
  r.until = now + 2 * detection();
  for (MemberId m : next.members)
    if (m != config.self) r.unacked.insert(m);
  view_resend = std::move(r);
  state_packets.clear();
  push(std::move(packet), Destination{true, 0});
  if (!mergers.empty()) ++counters.merges;
  // Joiners by JOIN get the state, if the group transfers it.
  awaiting_state.clear();
  for (const auto& [m, contact] : joiners)
    if (contains(next.members, m)) awaiting_state.push_back(m);
  const bool request =
      config.state_transfer && !awaiting_state.empty() && contains(next.members, config.self);
  if (request) state_view = next.id;
  if (contains(next.members, config.self)) {
    install(next, now, request);
  } else if (state == State::leaving) {
    coord.reset();
    finish_left();
  } else {
    become_alone(next.id + 1, now);
  }
}

void Endpoint::Impl::on_view(const Header& h, const Roster& roster, Time now) {
  View next;
  next.id = roster.new_view;
  std::set<MemberId> seen;
  std::size_t at = 0;
  for (std::size_t i = 0; i < roster.count; ++i) {
    RosterEntry e;
    at = roster.next(at, e);
    if (!seen.insert(e.member).second) {
      drop(Drop::invalid);  // a member twice
      return;
    }
    next.members.push_back(e.member);
    next.contacts.emplace_back(e.contact.begin(), e.contact.end());
  }
  const bool has_self = seen.contains(config.self);
  const auto ack = [&] {
    Bytes packet;
    if (encode_view_number(packet, header(Type::view_ack), next.id))
      send_to(h.sender, std::move(packet));
  };
  if (next.id <= view.id) {
    if (has_self && next.id == view.id && next.members == view.members) {
      if (!incoming) ack();  // our VIEW_ACK was lost
    } else {
      drop(Drop::stale);  // stale
    }
    return;
  }
  bool accept = false;
  if (state == State::joining) {
    accept = has_self;
  } else if ((state == State::member || state == State::leaving) && part && part->done) {
    accept = (h.sender == part->coordinator && next.id == part->id && h.view == view.identity()) ||
             (part->merge_into != 0 && h.sender == part->merge_into && has_self);
  }
  if (!accept) {
    drop(Drop::stale);
    return;
  }
  if (part && part->merge_into != 0 && h.sender == part->merge_into) ++counters.merges;
  if (has_self) {
    install(std::move(next), now, false);
    if (!incoming) ack();
    if (incoming) incoming->from = h.sender;
  } else if (state == State::leaving) {
    finish_left();
  } else {
    become_alone(next.id + 1, now);
  }
}

void Endpoint::Impl::on_view_ack(const Header& h, std::uint64_t id) {
  if (!view_resend || id != view_resend->id) {
    if (!in_view(h.sender))
      drop(Drop::stranger);  // a member's late ack is harmless; a stranger's is not
    return;
  }
  view_resend->unacked.erase(h.sender);
  if (view_resend->unacked.empty()) view_resend.reset();
}

}  // namespace nexo::group
