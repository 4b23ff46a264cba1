// Endpoint: creation, the public calls, packet intake and dispatch, the path
// of deliveries (Member -> Orderer -> events), and installing a view. The
// membership side (join, leave, liveness, merge) is in endpoint_membership.cpp,
// the flush in endpoint_flush.cpp, state transfer in endpoint_state.cpp.
#include "nexo/group/endpoint.hpp"

#include <algorithm>

#include "nexo/group/bundle.hpp"
#include "nexo/group/endpoint_impl.hpp"

namespace nexo::group {

static_assert(kMaxContact == kMaxContactBytes, "packet.hpp's contact bound is endpoint.hpp's");

// --- creation and the public calls ------------------------------------------------------

Result<Endpoint> Endpoint::create(EndpointConfig config, Time now) {
  if (config.self == 0) return Error(ErrorKind::invalid_argument, "group endpoint: self is 0");
  if (config.contact.size() > kMaxContact)
    return Error(ErrorKind::invalid_argument,
                 "group endpoint: contact of " + std::to_string(config.contact.size()) +
                     " bytes (at most " + std::to_string(kMaxContact) + ")");
  if (config.max_view_packet > kMaxPacket ||
      config.max_view_packet < roster_packet_size(1, config.contact.size()))
    return Error(ErrorKind::invalid_argument,
                 "group endpoint: max_view_packet of " + std::to_string(config.max_view_packet) +
                     " bytes (from a view of this member alone, " +
                     std::to_string(roster_packet_size(1, config.contact.size())) + ", to " +
                     std::to_string(kMaxPacket) + ")");
  if (config.detection_time < std::chrono::milliseconds(50) ||
      config.discovery_time <= std::chrono::milliseconds(0))
    return Error(ErrorKind::invalid_argument,
                 "group endpoint: detection_time under 50 ms or discovery_time not positive");
  if (!make_orderer(config.order, config.self, 1, {config.self}))
    return Error(ErrorKind::invalid_argument, "group endpoint: order \"" +
                                                  std::string(to_string(config.order)) +
                                                  "\" is not built in this version");
  MemberConfig check = config.reliability;
  check.group = config.group;
  check.self = config.self;
  check.members = {config.self};
  if (auto m = Member::create(check, now); !m)
    return Error(ErrorKind::invalid_argument, "group endpoint: " + m.error().message());
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->random.seed(impl->config.seed ^ impl->config.self);
  impl->contacts[impl->config.self] = impl->config.contact;
  impl->next_tick = now;
  return Endpoint(std::move(impl));
}

Endpoint::Endpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;
Endpoint::~Endpoint() = default;

Endpoint::State Endpoint::state() const noexcept {
  return impl_->state;
}
const std::optional<Error>& Endpoint::join_refusal() const noexcept {
  return impl_->refusal;
}
const View& Endpoint::view() const noexcept {
  return impl_->view;
}
MemberId Endpoint::self() const noexcept {
  return impl_->config.self;
}

const Bytes* Endpoint::contact(MemberId member) const noexcept {
  const auto it = impl_->contacts.find(member);
  return it == impl_->contacts.end() ? nullptr : &it->second;
}

EndpointCounters Endpoint::counters() const {
  EndpointCounters c = impl_->counters;
  c.reliability = impl_->past;
  if (impl_->member) {
    const MemberCounters& m = impl_->member->counters();
    c.reliability += m;
    c.reliability.history_bytes = m.history_bytes;
  }
  return c;
}

void Endpoint::join(Time now) {
  Impl& s = *impl_;
  if (s.state != State::idle) return;
  s.state = State::joining;
  s.join_started = now;
  s.join_deadline = now + s.config.discovery_time;
  s.next_join = now;
  s.on_tick(now);
}

void Endpoint::leave(Time now) {
  Impl& s = *impl_;
  if (s.state == State::idle || s.state == State::joining) {
    s.state = State::left;
    return;
  }
  if (s.state != State::member) return;
  s.state = State::leaving;
  s.leave_deadline = now + 3 * s.detection();
  if (s.view.members.size() == 1) {
    s.finish_left();
    return;
  }
  ++s.counters.leaves;
  s.leavers.insert(s.config.self);
  s.next_leave = now;
  s.on_tick(now);
}

Result<void> Endpoint::send(std::span<const std::byte> payload, Time now) {
  Impl& s = *impl_;
  if (s.state != State::member || !s.member)
    return Error(ErrorKind::not_connected, "group send: not a member of a view");
  if (payload.size() > s.config.reliability.max_message)
    return Error(ErrorKind::too_large, "group send: a message of " +
                                           std::to_string(payload.size()) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(s.config.reliability.max_message));
  if (s.gated || s.part || s.coord)
    return Error(ErrorKind::would_block, "group send: a view change is in progress");
  if (!s.member->writable(payload.size()))
    return Error(ErrorKind::would_block, "group send: messages not yet stable (flow control)");
  Bytes meta;
  s.orderer->stamp(meta);
  if (auto sent = s.member->send(payload, meta, false, now); !sent) return sent;
  s.pump(now);
  return ok();
}

bool Endpoint::writable(std::size_t size) const noexcept {
  const Impl& s = *impl_;
  return s.state == State::member && s.member && !s.gated && !s.part && !s.coord &&
         s.member->writable(size);
}

void Endpoint::on_packet(std::span<const std::byte> datagram, Time now) {
  Impl& s = *impl_;
  const ParseError framing = for_each_packet(datagram, [&](std::span<const std::byte> bytes) {
    // Our own multicast, looped back (every packet a member sends to the
    // group): set aside before its checksum is computed. A forgery in our
    // name would be dropped as well, checked or not.
    std::uint64_t group = 0;
    MemberId sender = 0;
    if (peek_origin(bytes, group, sender) && sender == s.config.self && group == s.config.group) {
      if (s.member) s.member->count_own_packet();
      return;
    }
    Packet packet;
    if (const ParseError e = decode(bytes, packet); e != ParseError::none) {
      ++s.past.parse_errors[static_cast<std::size_t>(e)];
      return;
    }
    s.handle(packet, now);
  });
  if (framing != ParseError::none) {
    ++s.past.parse_errors[static_cast<std::size_t>(framing)];
    return;
  }
  s.pump(now);  // once per datagram: a bundle's packets are taken in first
}

void Endpoint::on_timer(Time now) {
  Impl& s = *impl_;
  if (s.member) s.member->on_timer(now);
  if (now >= s.next_tick) s.on_tick(now);
  s.pump(now);
}

std::optional<Time> Endpoint::next_timer() const noexcept {
  const Impl& s = *impl_;
  if (s.state == State::idle) return std::nullopt;
  if (s.state == State::left && !s.view_resend) return std::nullopt;
  Time next = s.next_tick;
  if (s.member) next = std::min(next, s.member->next_timer().value_or(next));
  return next;
}

void Endpoint::recycle(Bytes&& buffer) {
  impl_->pool.give(std::move(buffer));
}

bool Endpoint::poll_transmit(Bytes& out, Destination& to) {
  Impl& s = *impl_;
  if (!s.out.empty()) {
    out.swap(s.out.front().bytes);
    to = s.out.front().to;
    s.out.pop_front();
    return true;
  }
  return s.member && s.state != State::left && s.member->poll_transmit(out, to);
}

std::optional<Event> Endpoint::poll_event() {
  Impl& s = *impl_;
  std::optional<Event> e;
  if (s.events.empty()) return e;
  e.emplace(s.events.take_front());
  return e;
}

void Endpoint::provide_state(std::uint64_t view, Bytes state) {
  impl_->provide_state(view, std::move(state));
}

void Endpoint::observe_sequencing(SequencedObserver observer) {
  Impl& s = *impl_;
  s.sequencing = std::move(observer);
  if (s.orderer) s.orderer->report_placements(static_cast<bool>(s.sequencing));
}

// --- plumbing ------------------------------------------------------------------------------

Duration Endpoint::Impl::tick() const {
  return std::clamp<Duration>(detection() / 50, std::chrono::milliseconds(1),
                              std::chrono::milliseconds(20));
}

void Endpoint::Impl::push(Bytes bytes, Destination to) {
  out.push_back(Outgoing{std::move(bytes), to});
}

Header Endpoint::Impl::header(Type type) const {
  return Header{type, config.group, config.self, view.identity()};
}

void Endpoint::Impl::drop(Drop cause) {
  ++counters.membership_drops;
  switch (cause) {
    case Drop::stranger:
      ++counters.membership_strangers;
      return;
    case Drop::stale:
      ++counters.membership_stale;
      return;
    case Drop::invalid:
      ++counters.membership_invalid;
      return;
  }
}

bool Endpoint::Impl::in_view(MemberId m) const {
  return std::find(view.members.begin(), view.members.end(), m) != view.members.end();
}

MemberId Endpoint::Impl::coordinator() const {
  for (MemberId m : view.members)
    if (!suspected.contains(m)) return m;
  return config.self;
}

void Endpoint::Impl::handle(const Packet& p, Time now) {
  const Header& h = p.header;
  if (h.group != config.group || h.sender == config.self) {
    if (member && (h.type == Type::data || h.type == Type::nak || h.type == Type::heartbeat))
      member->on_decoded(p, now);  // counted there (other_group, own_packet)
    else if (h.group != config.group)
      drop(Drop::stranger);
    return;
  }
  if (state == State::joining) {
    // A group is there: wait for its coordinator's view a little longer
    // (a flush of a large view through loss takes a while), within bounds.
    join_deadline = std::min(std::max(join_deadline, now + config.discovery_time),
                             join_started + config.discovery_time + 3 * detection());
  }
  if (view.id != 0 && h.view == view.identity() && in_view(h.sender)) {
    last_heard[h.sender] = now;
    probing.erase(h.sender);
  }
  switch (h.type) {
    case Type::data:
    case Type::nak:
    case Type::heartbeat:
      if (member) member->on_decoded(p, now);
      return;
    case Type::join:
      return on_join(h, std::get<Hello>(p.body), now);
    case Type::leave:
      return on_leave(h, now);
    case Type::probe:
      return on_probe(h, std::get<Probe>(p.body));
    case Type::probe_ack:
      if (!(view.id != 0 && h.view == view.identity() && in_view(h.sender))) drop(Drop::stranger);
      return;
    case Type::flush:
      return on_flush(h, std::get<Flush>(p.body), now);
    case Type::flush_ok: {
      const auto& ok = std::get<FlushOk>(p.body);
      std::vector<DigestEntry> digest;
      for (std::size_t i = 0; i < ok.count; ++i)
        digest.push_back(ok.entry(i));
      return on_flush_ok(h, ok.new_view, std::move(digest), now);
    }
    case Type::cut: {
      const auto& c = std::get<Cut>(p.body);
      std::vector<CutEntry> cut;
      for (std::size_t i = 0; i < c.count; ++i)
        cut.push_back(c.entry(i));
      return on_cut(h, c.new_view, cut, now);
    }
    case Type::flush_done:
      return on_flush_done(h, std::get<ViewNumber>(p.body).new_view, now);
    case Type::view:
      return on_view(h, std::get<Roster>(p.body), now);
    case Type::view_ack:
      return on_view_ack(h, std::get<ViewNumber>(p.body).new_view);
    case Type::merge:
      return on_merge(h, std::get<Roster>(p.body), now);
    case Type::announce:
      return on_announce(h, std::get<Hello>(p.body), now);
    case Type::state:
      return on_state(h, std::get<StateChunk>(p.body));
    case Type::refuse:
      return on_refuse(h, std::get<Refuse>(p.body));
  }
}

// A packet to one member: to ourselves it is handled at once (the
// coordinator is its own participant), to others it goes out.
void Endpoint::Impl::send_to(MemberId to, Bytes bytes) {
  push(std::move(bytes), Destination{false, to});
}

// The Member's deliveries go to the orderer (held back during a flush until
// the cut is known), the orderer's control messages go out, and its
// deliveries become events.
void Endpoint::Impl::pump(Time now) {
  if (!member) return;
  for (bool moved = true; moved;) {
    moved = false;
    while (auto d = member->poll_delivery()) {
      feed(std::move(*d));
      moved = true;
    }
    Bytes payload, meta;
    while (!gated && orderer->poll_control(payload, meta))
      controls.emplace_back(std::move(payload), std::move(meta));
    if (sequencing) report_sequenced(now);
    while (!gated && !controls.empty() &&
           member->send(controls.front().first, controls.front().second, true, now)) {
      controls.pop_front();
      moved = true;
    }
    while (auto d = orderer->poll_delivery())
      emit(std::move(*d));
  }
  if (part && part->have_cut && !part->done) check_flush_done(now);
}

void Endpoint::Impl::feed(Delivery d) {
  if (gated) {
    if (!part || !part->have_cut) {
      held.push_back(std::move(d));
      return;
    }
    const auto it = part->cut.find(d.sender);
    if (it == part->cut.end() || d.seq > it->second) {
      // Beyond the cut: not delivered in this view unless a later flush (a
      // coordinator replaced, whose participants delivered more) raises it.
      held.push_back(std::move(d));
      return;
    }
  }
  fifo_through[d.sender] = d.seq;
  orderer->on_fifo(std::move(d));
}

// The orderer's placements (those just announced) to the observer.
void Endpoint::Impl::report_sequenced(Time now) {
  Placement p;
  while (orderer->poll_placement(p))
    sequencing(Sequenced{p.sender, view.id, p.seq, p.position}, now);
}

void Endpoint::Impl::emit(Event event) {
  if (incoming || (!before_state.empty() && !std::holds_alternative<StateTransfer>(event))) {
    before_state.push_back(std::move(event));  // a joiner's, until its state is in
    return;
  }
  events.push_back(std::move(event));
}

// The old view ends: what the orderer still holds is delivered (the same at
// every member that went through the same flush), its counters are kept.
void Endpoint::Impl::end_view() {
  if (!member) return;
  held.clear();
  orderer->flush();
  while (auto d = orderer->poll_delivery())
    emit(std::move(*d));
  past += member->counters();
  // What the old Member still has to send (retransmissions) goes first.
  Bytes bytes;
  Destination to;
  while (member->poll_transmit(bytes, to))
    push(std::move(bytes), to);
  member.reset();
  orderer.reset();
  controls.clear();
}

void Endpoint::Impl::install(View next, Time now, bool state_request) {
  const bool joining = state == State::joining;
  end_view();
  if (incoming) {  // the state never came (its coordinator failed): stop waiting for it
    incoming.reset();
    while (!before_state.empty()) {
      events.push_back(std::move(before_state.front()));
      before_state.pop_front();
    }
  }
  if (state_request) emit(StateRequest{next.id});
  ViewChange change;
  for (MemberId m : next.members)
    if (!in_view(m)) change.joined.push_back(m);
  for (MemberId m : view.members)
    if (std::find(next.members.begin(), next.members.end(), m) == next.members.end())
      change.left.push_back(m);
  if (!joining) counters.joins += change.joined.size();
  for (std::size_t i = 0; i < next.members.size() && i < next.contacts.size(); ++i)
    contacts[next.members[i]] = next.contacts[i];
  const std::vector<MemberId> previous = view.members;
  view = std::move(next);
  change.view = view;
  ++counters.views_installed;
  highest_flush = std::max(highest_flush, view.id);

  MemberConfig mc = config.reliability;
  mc.group = config.group;
  mc.self = config.self;
  mc.view = view.identity();
  mc.members = view.members;
  mc.seed = config.seed ^ (view.id * 0x9E3779B97F4A7C15ULL);
  member.emplace(std::move(Member::create(mc, now).value()));
  member->set_pool(&pool);
  orderer = make_orderer(config.order, config.self, view.id, view.members);
  if (sequencing) orderer->report_placements(true);

  part.reset();
  coord.reset();
  gated = false;
  fifo_through.clear();
  suspected.clear();
  slow_since.clear();
  probing.clear();
  last_heard.clear();
  for (MemberId m : view.members)
    last_heard[m] = now;
  std::erase_if(joiners, [&](const auto& j) { return in_view(j.first); });
  std::erase_if(mergers, [&](const auto& j) { return in_view(j.first); });
  if (mergers.empty()) merging_from = 0;
  std::erase_if(leavers, [&](MemberId m) { return !in_view(m); });
  merge_target = 0;
  prune_contacts(previous);
  if (joining) state = State::member;
  emit(std::move(change));
  if (joining && config.state_transfer && view.members.size() > 1) {
    Incoming in;        // not emplace(): clang 14 finds a nested struct with member initializers
    in.view = view.id;  // not default-constructible inside its enclosing class
    incoming = std::move(in);
  }
  next_announce = now;
}

void Endpoint::Impl::finish_left() {
  end_view();
  view = View{};
  state = State::left;
  incoming.reset();
  while (!before_state.empty()) {
    events.push_back(std::move(before_state.front()));
    before_state.pop_front();
  }
}

}  // namespace nexo::group
