// sim::Network's event loop: the heap, the runs, datagrams and timers.
// (sim_network.cpp has the tables, the models and the faults.)
#include <algorithm>
#include <stdexcept>
#include <utility>

#include "nexo/overlay/sim_network.hpp"

namespace nexo::overlay::sim {
namespace {

// The heap's order: the earliest time first, then the earliest scheduled.
template <typename E>
bool before(const E& a, const E& b) noexcept {
  return a.at < b.at || (a.at == b.at && a.order < b.order);
}

}  // namespace

// ---- events -----------------------------------------------------------------

void Network::kick(Slot slot) {
  check_slot(slot, "kick");
  Record* target = record(slot);
  if (target == nullptr || target->crashed) return;
  drain(*target);
  rearm(*target);
}

void Network::schedule(Time at, std::function<void(Network&)> action) {
  if (at < now_) throw std::logic_error("sim::Network::schedule: a time before now");
  if (!action) throw std::logic_error("sim::Network::schedule: an empty action");
  std::uint32_t index;
  if (free_actions_.empty()) {
    index = static_cast<std::uint32_t>(actions_.size());
    actions_.push_back(std::move(action));
  } else {
    index = free_actions_.back();
    free_actions_.pop_back();
    actions_[index] = std::move(action);
  }
  push(at, index, kNoSlot, EventKind::action);
}

void Network::run_until(Time until) {
  if (until < now_) throw std::logic_error("sim::Network::run_until: a time before now");
  while (!queue_.empty() && queue_.front().at <= until)
    run_event(pop());
  if (until > now_) ++instant_;
  now_ = until;
}

bool Network::run_until(const std::function<bool()>& done, Time limit) {
  if (limit < now_) throw std::logic_error("sim::Network::run_until: a limit before now");
  if (done()) return true;
  while (!queue_.empty() && queue_.front().at <= limit) {
    run_event(pop());
    if (done()) return true;
  }
  if (limit > now_) ++instant_;
  now_ = limit;
  return done();
}

// A 4-ary heap: half the levels of a binary one, and the four children of a
// node share one or two cache lines, which at 100,000 timers matters more
// than the extra comparisons.
void Network::push(Time at, std::uint32_t handle, Slot to, EventKind kind) {
  const Event event{at, (next_sequence_++ << 8) | static_cast<std::uint64_t>(kind), handle, to};
  std::size_t index = queue_.size();
  queue_.push_back(event);
  while (index > 0) {
    const std::size_t parent = (index - 1) / 4;
    if (!before(event, queue_[parent])) break;
    queue_[index] = queue_[parent];
    index = parent;
  }
  queue_[index] = event;
}

Network::Event Network::pop() {
  const Event top = queue_.front();
  const Event last = queue_.back();
  queue_.pop_back();
  const std::size_t size = queue_.size();
  if (size == 0) return top;
  std::size_t index = 0;
  for (;;) {
    const std::size_t first = 4 * index + 1;
    if (first >= size) break;
    std::size_t best = first;
    const std::size_t end = std::min(first + 4, size);
    for (std::size_t child = first + 1; child < end; ++child) {
      if (before(queue_[child], queue_[best])) best = child;
    }
    if (!before(queue_[best], last)) break;
    queue_[index] = queue_[best];
    index = best;
  }
  queue_[index] = last;
  return top;
}

void Network::run_event(const Event& event) {
  if (event.at > now_) ++instant_;
  now_ = event.at;
  switch (event.kind()) {
    case EventKind::arrival:
      arrive(event);
      break;
    case EventKind::timer:
      fire_timer(event);
      break;
    case EventKind::action:
      run_action(event.handle);
      break;
  }
}

void Network::run_action(std::uint32_t index) {
  auto action = std::move(actions_[index]);
  actions_[index] = nullptr;
  free_actions_.push_back(index);
  action(*this);
}

void Network::arrive(const Event& event) {
  const Slot from = buffers_[event.handle].from;
  Record* receiver = record(event.to);
  if (receiver == nullptr) {
    ++counters_.to_nobody;
    observe(TraceEvent::Kind::to_nobody, from, event.to, event.handle);
  } else if (receiver->crashed) {
    ++counters_.to_crashed;
    observe(TraceEvent::Kind::to_crashed, from, event.to, event.handle);
  } else if (!same_part(from, event.to)) {
    ++counters_.partitioned;
    observe(TraceEvent::Kind::partitioned, from, event.to, event.handle);
  } else if (receiver->behind_nat && !pinhole_open(event.to, from)) {
    ++counters_.filtered;
    observe(TraceEvent::Kind::filtered, from, event.to, event.handle);
  } else {
    const std::size_t size = buffers_[event.handle].bytes.size();
    ++counters_.delivered;
    counters_.bytes_delivered += size;
    ++receiver->counters.received;
    receiver->counters.bytes_received += size;
    observe(TraceEvent::Kind::delivered, from, event.to, event.handle);
    receiver->node->on_datagram(buffers_[event.handle].bytes, address_of(from, ports_[from]), now_);
    release(event.handle);  // before the drain, which may reuse it for the reply
    drain(*receiver);
    rearm(*receiver);
    return;
  }
  release(event.handle);
}

void Network::fire_timer(const Event& event) {
  Record* owner = record(event.to);
  if (owner == nullptr || event.handle != owner->timer_generation) return;  // stale
  owner->queued = kNever;
  if (owner->crashed || owner->armed == kNever) return;
  if (owner->armed > now_) {  // the node moved its timer later: wait on
    owner->queued = owner->armed;
    push(owner->armed, owner->timer_generation, event.to, EventKind::timer);
    return;
  }
  owner->armed = kNever;
  if (owner->fires > 0 && owner->fire_instant == instant_) {
    if (++owner->fires > kMaxBurst) {
      throw std::logic_error("sim::Network: " + name(event.to) +
                             " keeps asking for its timer at the same instant (stuck)");
    }
  } else {
    owner->fire_instant = instant_;
    owner->fires = 1;
  }
  ++counters_.timers;
  owner->node->on_timer(now_);
  drain(*owner);
  rearm(*owner);
}

// Nothing adds records while a node is called (nodes may not call mutators),
// so `sender` stays valid; buffers_ may grow, so no reference into it is kept
// across take_buffer().
void Network::drain(Record& sender) {
  std::uint32_t buffer = take_buffer();
  for (std::uint32_t count = 0;;) {
    net::Endpoint to;
    if (!sender.node->poll_transmit(buffers_[buffer].bytes, to)) break;
    const std::size_t size = buffers_[buffer].bytes.size();
    if (++count > kMaxBurst || size > kMaxDatagram) {
      release(buffer);
      const std::string who = name(sender.slot);
      throw std::logic_error("sim::Network: " + who +
                             (size > kMaxDatagram
                                  ? " sent a datagram of " + std::to_string(size) +
                                        " bytes (UDP carries at most 65,507)"
                                  : std::string(" never stops transmitting (stuck)")));
    }
    if (send(sender, to, buffer)) buffer = take_buffer();
  }
  release(buffer);
}

// A timer moved later keeps its queued event, which re-queues itself when it
// comes (so a node that pushes its timer back on every datagram does not
// fill the queue with stale events); one moved earlier gets a new event.
void Network::rearm(Record& owner) {
  if (owner.crashed) return;
  const auto next = owner.node->next_timer();
  owner.armed = next ? *next : kNever;
  if (owner.armed == kNever) return;
  const Time at = std::max(owner.armed, now_);
  if (owner.queued != kNever && owner.queued <= at) return;
  ++owner.timer_generation;
  owner.queued = at;
  push(at, owner.timer_generation, owner.slot, EventKind::timer);
}

// Returns whether the buffer travels (an arrival event holds it).
bool Network::send(Record& sender, const net::Endpoint& to, std::uint32_t buffer) {
  const Slot from = sender.slot;
  const std::size_t size = buffers_[buffer].bytes.size();
  ++counters_.sent;
  counters_.bytes_sent += size;
  ++sender.counters.sent;
  sender.counters.bytes_sent += size;
  const auto found = find(to);
  const Slot receiver = found ? *found : kNoSlot;
  observe(TraceEvent::Kind::sent, from, receiver, buffer);
  if (found && sender.behind_nat) open_pinhole(from, receiver);  // whatever becomes of it
  const Record* target = found ? record(receiver) : nullptr;
  if (target == nullptr) {
    ++counters_.to_nobody;
    observe(TraceEvent::Kind::to_nobody, from, receiver, buffer);
    return false;
  }
  if (target->crashed) {
    ++counters_.to_crashed;
    observe(TraceEvent::Kind::to_crashed, from, receiver, buffer);
    return false;
  }
  if (!same_part(from, receiver)) {
    ++counters_.partitioned;
    observe(TraceEvent::Kind::partitioned, from, receiver, buffer);
    return false;
  }
  double loss = loss_;
  if (!pair_loss_.empty()) {
    const auto pair = pair_loss_.find(pair_key(from, receiver));
    if (pair != pair_loss_.end()) loss = pair->second;
  }
  if (random_.chance(loss)) {
    ++counters_.lost;
    observe(TraceEvent::Kind::lost, from, receiver, buffer);
    return false;
  }
  buffers_[buffer].from = from;
  push(now_ + draw_delay(from, receiver), buffer, receiver, EventKind::arrival);
  return true;
}

// ---- buffers, observer, memory ----------------------------------------------

std::uint32_t Network::take_buffer() {
  if (free_buffers_.empty()) {
    buffers_.emplace_back();
    return static_cast<std::uint32_t>(buffers_.size() - 1);
  }
  const std::uint32_t buffer = free_buffers_.back();
  free_buffers_.pop_back();
  return buffer;
}

void Network::release(std::uint32_t buffer) {
  free_buffers_.push_back(buffer);
}

void Network::observe(TraceEvent::Kind kind, Slot from, Slot to, std::uint32_t buffer) {
  if (!observer_) return;
  observer_(TraceEvent{kind, from, to, now_, buffers_[buffer].bytes});
}

}  // namespace nexo::overlay::sim
