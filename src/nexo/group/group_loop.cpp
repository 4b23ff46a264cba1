// group::Group's loop thread: the Endpoint fed with datagrams and timers, its
// packets sent through the Transport, its events handed to the application.
#include <algorithm>
#include <array>
#include <iterator>

#include "nexo/group/group_impl.hpp"
#include "nexo/group/packet.hpp"

namespace nexo::group {
namespace {

// The published counters, in this order (GroupCounters: read_counters()).
constexpr std::array<CounterSpec, 24> kSpecs{{
    {"sent"},
    {"delivered"},
    {"naks_sent"},
    {"naks_received"},
    {"naks_suppressed"},
    {"retransmissions"},
    {"duplicates"},
    {"heartbeats_sent"},
    {"drop_malformed"},
    {"drop_other_group"},
    {"drop_non_member"},
    {"drop_stale_view"},
    {"drop_beyond_window"},
    {"drop_buffer_full"},
    {"drop_nak_rate"},
    {"drop_nak_invalid"},
    {"drop_membership"},
    {"drop_truncated"},
    {"fault_lost"},
    {"history_bytes", CounterKind::gauge},
    {"view", CounterKind::gauge},
    {"view_size", CounterKind::gauge},
    {"views_installed"},
    {"crashes_detected"},
}};

constexpr auto kPublishEvery = std::chrono::milliseconds(100);
// A pump's work, bounded: rounds, and sends given to the protocol a round.
// A burst of sends is cut into rounds of kSendsPerRound, with the NAKs that
// came meanwhile taken between them; a window's worth (1024 by default) in
// one go kept the loop from its sockets for milliseconds, and a repair
// waited behind the whole burst.
constexpr int kPumpRounds = 16;
constexpr std::size_t kSendsPerRound = 128;
// Deliveries go to the application (or on_deliver) in batches of at most
// this many: a repair releases the messages held behind its gap, a thousand
// at once, and the repaired one, first, reaches the application once its
// batch is handed over, not after the whole burst is copied.
constexpr std::size_t kHandOverBatch = 128;
// The key of a message in a trace: member sequence numbers start again at 1
// in every view, so the view goes in the high bits.
std::uint64_t trace_seq(std::uint64_t view, std::uint64_t seq) {
  return view << 40 | (seq & ((std::uint64_t{1} << 40) - 1));
}

}  // namespace

Result<void> Group::Impl::start(Time now) {
  published = allocate_counters("group", label, kSpecs);
  unicast_watcher = std::make_unique<io::IoWatcher>(io->loop(), transport->unicast_fd(),
                                                    [this](std::uint32_t r) { on_readable(r); });
  if (auto s = unicast_watcher->start(io::kReadable); !s) return s;
  if (transport->group_fd() >= 0) {
    group_watcher = std::make_unique<io::IoWatcher>(io->loop(), transport->group_fd(),
                                                    [this](std::uint32_t r) { on_readable(r); });
    if (auto s = group_watcher->start(io::kReadable); !s) return s;
  }
  timer = std::make_unique<io::Timer>(io->loop(), [this] { on_timer(); });
  fan_out = seeds;
  if (options.trace != nullptr) {
    options.trace->add_member(label_of(self));
    // As the sequencer of Order::total: each place announced, keyed as the message's send.
    endpoint->observe_sequencing([this](const Sequenced& s, Time at) {
      options.trace->sequencer_hop(
          at, label_of(self), MessageKey{label_of(s.sender), trace_seq(s.view, s.seq)}, s.position);
    });
  }
  endpoint->join(now);
  pump(now);
  return ok();
}

void Group::Impl::on_readable(std::uint32_t readiness) {
  if (stopped) return;
  const Time now = Clock::now();
  if ((readiness & io::kWritable) != 0) transport->flush();
  // Each datagram at the time it is taken in: a batch takes a while, and a
  // gap found, a repair's round trip and a recovery are timed from these.
  transport->receive(now, [&](std::span<const std::byte> d) { on_datagram(d, Clock::now()); });
  // A NAK that fell due while the datagrams were read goes out in this pump,
  // before the deliveries wake the application (whose thread, woken, may
  // take this one's core until it has drained them).
  const Time after = Clock::now();
  if (auto due = endpoint->next_timer(); due && *due <= after) endpoint->on_timer(after);
  pump(after);
}

void Group::Impl::on_timer() {
  if (stopped) return;
  const Time now = Clock::now();
  transport->on_timer(now, [&](std::span<const std::byte> d) { on_datagram(d, now); });
  if (auto due = endpoint->next_timer(); due && *due <= now) endpoint->on_timer(now);
  pump(now);
}

void Group::Impl::on_datagram(std::span<const std::byte> datagram, Time now) {
  endpoint->on_packet(datagram, now);
}

void Group::Impl::pump(Time now) {
  if (stopped) return;
  // Sends may free room for more, events may bring packets: until quiet, in
  // rounds of at most kSendsPerRound sends (bounded). Each round's datagrams
  // leave before the application's threads are woken (sends completed,
  // deliveries handed over): a woken thread may take this one's core, and a
  // NAK or a repair must not wait for it. Between rounds the NAKs that came
  // meanwhile are taken (the unicast socket): their repairs go out in the next
  // round, ahead of its new messages, not after the whole burst.
  bool quiet = false;
  for (int round = 0; round < kPumpRounds; ++round) {
    const bool sent = take_sends(now);
    const bool moved = transmit(now);
    complete_sends();
    const bool events = take_events(now);
    if (stopped) return;
    if (!sent && !moved && !events) {
      quiet = true;
      break;
    }
    now = Clock::now();
    transport->receive_unicast(now, [&](std::span<const std::byte> d) { on_datagram(d, now); });
  }
  // Still busy after the last round: the rest in another pump, after the
  // loop has read its sockets (a posted task runs after the ready watchers).
  if (!quiet) io->post([this] { pump(Clock::now()); });
  if (transport->has_queued() && !transport->flush()) {
    (void)unicast_watcher->start(io::kReadable | io::kWritable);
  } else if ((unicast_watcher->interest() & io::kWritable) != 0) {
    (void)unicast_watcher->start(io::kReadable);
  }
  if (left && endpoint->state() == Endpoint::State::left) {
    left->complete(ok());
    left.reset();
  }
  if (joined && endpoint->join_refusal()) {  // join() fails with the coordinator's reason
    joined->complete(*endpoint->join_refusal());
    joined.reset();
  }
  publish(now, false);
  arm(now);
}

void Group::Impl::take_submitted() {
  {
    std::lock_guard lock(mutex);
    pump_posted = false;  // sends submitted from now on post another pump
    intake.swap(submitted);
  }
  if (intake.empty()) return;
  if (pending_head == pending.size()) {  // all taken before: the batch becomes `pending`
    pending.clear();
    pending_head = 0;
    pending.swap(intake);
    return;
  }
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(pending_head));
  pending_head = 0;
  std::move(intake.begin(), intake.end(), std::back_inserter(pending));
  intake.clear();
}

// The sends the protocol has room for go to it; their requests complete in
// complete_sends(), once the packets are out.
bool Group::Impl::take_sends(Time now) {
  take_submitted();
  const std::size_t first = pending_head;
  while (pending_head < pending.size() && pending_head - first < kSendsPerRound) {
    auto sent = endpoint->send(pending[pending_head].payload, now);
    if (!sent && sent.error().is(ErrorKind::would_block)) break;  // flow control: later
    outcomes.push_back(std::move(sent));
    ++pending_head;
  }
  if (pending_head == first) return false;
  {
    std::lock_guard lock(mutex);
    pending_count -= pending_head - first;
    for (std::size_t i = first; i < pending_head; ++i) {  // the protocol has its copy
      Bytes& payload = pending[i].payload;
      if (spare.size() < kSpareBuffers && payload.capacity() > 0 &&
          payload.capacity() <= kSpareBytes) {
        spare.push_back(std::move(payload));
      }
    }
  }
  return true;
}

// The requests of the sends taken (the first outcomes.size() before
// pending_head), completed: their waiters wake.
void Group::Impl::complete_sends() {
  if (outcomes.empty()) return;
  changed.notify_all();  // room for send() waiting at would_block
  const std::size_t first = pending_head - outcomes.size();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    PendingSend& taken = pending[first + i];
    Bytes().swap(taken.payload);  // a large one, not kept
    taken.done.complete(std::move(outcomes[i]));
  }
  outcomes.clear();
  if (pending_head == pending.size()) {
    pending.clear();
    pending_head = 0;
  }
}

// The Endpoint's packets, bundled: consecutive packets for one destination
// share datagrams of up to options.bundle_bytes (bundle.hpp); whatever is
// queued now leaves now, nothing waits for a bundle to fill.
bool Group::Impl::transmit(Time now) {
  bool any = false;
  Destination to;
  while (endpoint->poll_transmit(packet, to)) {
    any = true;
    if (options.trace != nullptr) record_sent(packet, to, now);
    const bool same = bundle_to.group == to.group && (to.group || bundle_to.member == to.member);
    if (!bundle.empty() && (!same || !bundle.fits(packet.size()))) send_bundle(now);
    bundle_to = to;
    bundle.add(packet);
  }
  send_bundle(now);
  if (any) transport->flush();
  return any;
}

void Group::Impl::send_bundle(Time now) {
  if (bundle.empty()) return;
  const std::span<const std::byte> datagram = bundle.datagram();
  if (!bundle_to.group) {
    // A member no longer known has nowhere to be sent to.
    if (const Bytes* contact = endpoint->contact(bundle_to.member); contact != nullptr) {
      if (auto at = decode_contact(*contact); at) transport->send(datagram, *at, now);
    }
  } else if (transport->multicast()) {
    transport->send(datagram, *transport->group_endpoint(), now);
  } else {
    for (const auto& at : fan_out)
      transport->send(datagram, at, now);
  }
  bundle.clear();
}

bool Group::Impl::take_events(Time now) {
  bool any = false;
  while (auto event = endpoint->poll_event()) {
    any = true;
    if (auto* d = std::get_if<Delivery>(&*event)) {
      if (d->control) continue;  // the ordering layer's own
      if (options.trace != nullptr) {
        options.trace->delivered(now, label_of(self),
                                 MessageKey{label_of(d->sender), trace_seq(d->view, d->seq)});
      }
      ready.push_back(std::move(*d));
      if (ready.size() >= kHandOverBatch) flush_deliveries();
      continue;
    }
    // Deliveries before a view change or a state transfer are queued before
    // it is handled (virtual synchrony; the state before its view's first).
    flush_deliveries();
    if (auto* change = std::get_if<ViewChange>(&*event)) {
      on_view_change(std::move(*change), now);
    } else if (auto* request = std::get_if<StateRequest>(&*event)) {
      endpoint->provide_state(request->view,
                              options.provide_state ? options.provide_state() : Bytes{});
    } else if (auto* state = std::get_if<StateTransfer>(&*event)) {
      if (options.apply_state) options.apply_state(state->state);
    }
  }
  flush_deliveries();
  return any;
}

void Group::Impl::flush_deliveries() {
  if (ready.empty()) return;
  delivered.fetch_add(ready.size(), std::memory_order_relaxed);
  if (options.on_deliver) {
    for (const Delivery& d : ready)
      options.on_deliver(d);
  } else {
    deliveries.push_all(ready);  // one lock, one wake-up for the batch; the bytes copied
  }
  for (Delivery& d : ready) {  // the buffers back to the protocol, for the next ones
    endpoint->recycle(std::move(d.payload));
    endpoint->recycle(std::move(d.meta));
  }
  ready.clear();
}

void Group::Impl::on_view_change(ViewChange change, Time now) {
  std::function<void(const ViewChange&)> callback;
  {
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < change.view.members.size() && i < change.view.contacts.size();
         ++i) {
      auto at = decode_contact(change.view.contacts[i]);
      if (at) names[change.view.members[i]] = at->to_string();
    }
    view = change.view;
    callback = view_callback;
  }
  changed.notify_all();
  if (!transport->multicast()) {  // fan out to the seeds and everyone in the view
    fan_out = seeds;
    for (const auto& contact : change.view.contacts) {
      auto at = decode_contact(contact);
      if (!at || *at == transport->contact()) continue;
      if (std::find(fan_out.begin(), fan_out.end(), *at) == fan_out.end()) fan_out.push_back(*at);
    }
  }
  if (options.trace != nullptr) {
    std::vector<std::string> members;
    for (MemberId m : change.view.members)
      members.push_back(label_of(m));
    options.trace->view_installed(now, label_of(self), change.view.id, members);
  }
  const bool in_view = std::find(change.view.members.begin(), change.view.members.end(), self) !=
                       change.view.members.end();
  if (joined && in_view) {
    joined->complete(ok());
    joined.reset();
  }
  if (callback) callback(change);
}

// A NAK goes one to one and, in views of 3 or more, as a copy to the group:
// drawn once.
void Group::Impl::record_sent(std::span<const std::byte> bytes, const Destination& to, Time now) {
  Packet p;
  if (decode(bytes, p) != ParseError::none) return;  // membership packets: not drawn
  const std::string me = label_of(self);
  if (const auto* data = std::get_if<Data>(&p.body)) {
    if (data->control) return;
    const std::uint64_t key = trace_seq(p.header.view.id, data->seq);
    if (data->retransmission) {
      options.trace->retransmitted(now, me, MessageKey{me, key},
                                   to.group ? std::string() : label_of(to.member));
    } else {
      const std::string_view text(reinterpret_cast<const char*>(data->payload.data()),
                                  std::min<std::size_t>(data->payload.size(), 16));
      options.trace->sent(now, me, key, text);
    }
  } else if (const auto* nak = std::get_if<Nak>(&p.body); nak != nullptr && !to.group) {
    for (const SeqRange& r : nak->ranges())
      options.trace->nak_sent(now, me, label_of(nak->target), trace_seq(p.header.view.id, r.first),
                              trace_seq(p.header.view.id, r.last));
  }
}

void Group::Impl::arm(Time now) {
  std::optional<Time> due = endpoint->next_timer();
  if (auto faults = transport->next_due(); faults && (!due || *faults < *due)) due = faults;
  const Time publish_at = counters_at + kPublishEvery;
  if (!due || publish_at < *due) due = publish_at;
  timer->start_at(std::max(*due, now));
}

void Group::Impl::publish(Time now, bool force) {
  if (!force && now < counters_at + kPublishEvery) return;
  counters_at = now;
  const GroupCounters c = read_counters();
  const MemberCounters& r = c.endpoint.reliability;
  std::uint64_t malformed = 0;
  for (std::uint64_t n : r.parse_errors)
    malformed += n;
  const std::array<std::uint64_t, kSpecs.size()> values{
      r.sent,
      c.delivered,
      r.naks_sent,
      r.naks_received,
      r.naks_suppressed,
      r.retransmissions,
      r.duplicates,
      r.heartbeats_sent,
      malformed,
      r.other_group,
      r.non_member,
      r.stale_view,
      r.beyond_window,
      r.buffer_full,
      r.nak_rate_limited,
      r.nak_unknown + r.nak_unrecoverable,
      c.endpoint.membership_drops,
      c.transport.truncated,
      c.transport.faults_sent.lost + c.transport.faults_received.lost,
      r.history_bytes,
      c.view,
      c.view_size,
      c.endpoint.views_installed,
      c.endpoint.crashes_detected};
  for (std::size_t i = 0; i < values.size(); ++i)
    published.set(i, values[i]);
}

GroupCounters Group::Impl::read_counters() const {
  GroupCounters c;
  c.endpoint = endpoint->counters();
  c.transport = transport->counters();
  const MemberCounters& r = c.endpoint.reliability;
  std::uint64_t malformed = 0;
  for (std::uint64_t n : r.parse_errors)
    malformed += n;
  c.bad_datagrams = malformed + r.other_group + r.non_member + c.endpoint.membership_drops +
                    c.transport.truncated;
  c.delivered = delivered.load(std::memory_order_relaxed);
  // The last view installed here (after a leave, the one it left).
  std::lock_guard lock(mutex);
  c.view = view.id;
  c.view_size = view.members.size();
  return c;
}

void Group::Impl::start_leave(Time now, io::Completer<void> done) {
  if (stopped || endpoint->state() == Endpoint::State::left) {
    done.complete(ok());
    return;
  }
  left = std::move(done);
  if (endpoint->state() == Endpoint::State::member) endpoint->leave(now);
  pump(now);
}

void Group::Impl::stop_io() {
  if (stopped) return;
  if (endpoint) publish(Clock::now(), true);
  stopped = true;
  unicast_watcher.reset();
  group_watcher.reset();
  timer.reset();
  if (joined) joined->complete(Error(ErrorKind::closed, "group join: the group was closed"));
  joined.reset();
  if (left) left->complete(ok());
  left.reset();
  if (options.trace != nullptr && endpoint && endpoint->state() == Endpoint::State::left) {
    options.trace->left(Clock::now(), label_of(self));
  }
  {
    std::lock_guard lock(mutex);
    closed = true;  // send_async says not_connected from now on
    pending_count = 0;
    intake.swap(submitted);
  }
  changed.notify_all();
  complete_sends();  // taken by the protocol: their outcomes, not closed
  const Error closed_error(ErrorKind::closed, "group send: the group was closed");
  for (std::size_t i = pending_head; i < pending.size(); ++i)
    pending[i].done.complete(closed_error);
  for (auto& p : intake)
    p.done.complete(closed_error);
  pending.clear();
  pending_head = 0;
  intake.clear();
  deliveries.close();
}

std::string Group::Impl::label_of(MemberId member) {
  std::lock_guard lock(mutex);
  if (auto it = names.find(member); it != names.end()) return it->second;
  char text[24];
  std::snprintf(text, sizeof text, "#%llx", static_cast<unsigned long long>(member));
  return text;
}

}  // namespace nexo::group
