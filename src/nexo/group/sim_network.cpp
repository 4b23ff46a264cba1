#include "nexo/group/sim_network.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace nexo::group::sim {
namespace {

// The heap's order: the earliest time first, then the earliest scheduled.
template <typename E>
bool later(const E& a, const E& b) noexcept {
  if (a.at != b.at) return a.at > b.at;
  return a.sequence > b.sequence;
}

void check_model(const LinkModel& model, const char* what) {
  const auto probability = [](double p) { return p >= 0 && p <= 1; };  // NaN fails
  if (!probability(model.loss) || !probability(model.duplicate)) {
    throw std::logic_error(std::string(what) + ": loss and duplicate are probabilities in [0, 1]");
  }
  if (model.delay < Duration::zero() || model.jitter < Duration::zero()) {
    throw std::logic_error(std::string(what) + ": delay and jitter must not be negative");
  }
}

}  // namespace

std::string Counters::to_string() const {
  return "sent " + std::to_string(sent) + ", delivered " + std::to_string(delivered) + ", lost " +
         std::to_string(lost) + ", duplicated " + std::to_string(duplicated) + ", partitioned " +
         std::to_string(partitioned) + ", to_crashed " + std::to_string(to_crashed) +
         ", unknown_destination " + std::to_string(unknown_destination) + ", timers " +
         std::to_string(timers);
}

Network::Network(std::uint64_t seed, Time start) : random_(seed), now_(start) {}

Network::~Network() = default;

Network::Slot& Network::slot(NodeId id, const char* what) {
  if (id >= nodes_.size()) {
    throw std::logic_error(std::string("sim::Network::") + what + ": no node " + std::to_string(id) +
                           " (the network has " + std::to_string(nodes_.size()) + ")");
  }
  return nodes_[id];
}

const Network::Slot& Network::slot(NodeId id, const char* what) const {
  return const_cast<Network*>(this)->slot(id, what);
}

NodeId Network::add(std::unique_ptr<Node> node) {
  if (!node) throw std::logic_error("sim::Network::add: null node");
  if (nodes_.size() >= kNoNode) throw std::logic_error("sim::Network::add: too many nodes");
  const auto id = static_cast<NodeId>(nodes_.size());
  nodes_.emplace_back();
  nodes_.back().node = std::move(node);
  kick(id);
  return id;
}

Node& Network::node(NodeId id) { return *slot(id, "node").node; }

const NodeCounters& Network::counters(NodeId id) const { return slot(id, "counters").counters; }

void Network::set_link(const LinkModel& model) {
  check_model(model, "sim::Network::set_link");
  default_link_ = model;
}

void Network::set_link(NodeId a, NodeId b, const LinkModel& model) {
  set_direction(a, b, model);
  set_direction(b, a, model);
}

void Network::set_direction(NodeId from, NodeId to, const LinkModel& model) {
  slot(from, "set_direction");
  slot(to, "set_direction");
  check_model(model, "sim::Network::set_direction");
  links_[link_key(from, to)] = model;
}

const LinkModel& Network::link(NodeId from, NodeId to) const {
  if (links_.empty()) return default_link_;
  const auto found = links_.find(link_key(from, to));
  return found == links_.end() ? default_link_ : found->second;
}

void Network::partition(const std::vector<std::vector<NodeId>>& parts) {
  std::vector<std::uint32_t> part_of(nodes_.size(), 0);
  for (std::size_t index = 0; index < parts.size(); ++index) {
    for (const NodeId id : parts[index]) {
      slot(id, "partition");
      if (part_of[id] != 0) {
        throw std::logic_error("sim::Network::partition: node " + std::to_string(id) +
                               " is listed twice");
      }
      part_of[id] = static_cast<std::uint32_t>(index + 1);
    }
  }
  for (std::size_t id = 0; id < nodes_.size(); ++id) nodes_[id].partition_part = part_of[id];
}

void Network::heal() {
  for (auto& each : nodes_) each.partition_part = 0;
}

bool Network::reachable(NodeId from, NodeId to) const {
  return slot(from, "reachable").partition_part == slot(to, "reachable").partition_part;
}

void Network::crash(NodeId id) {
  Slot& target = slot(id, "crash");
  target.crashed = true;
  target.armed.reset();
  target.queued.reset();
  ++target.timer_generation;  // its pending timer event goes stale
}

void Network::restart(NodeId id, std::unique_ptr<Node> node) {
  if (!node) throw std::logic_error("sim::Network::restart: null node");
  Slot& target = slot(id, "restart");
  target.node = std::move(node);
  target.crashed = false;
  target.armed.reset();
  target.queued.reset();
  ++target.timer_generation;
  target.fires_at_last = 0;
  kick(id);
}

bool Network::crashed(NodeId id) const { return slot(id, "crashed").crashed; }

void Network::set_group_member(NodeId id, bool member) { slot(id, "set_group_member").member = member; }

void Network::kick(NodeId id) {
  if (slot(id, "kick").crashed) return;
  drain(id);
  rearm(id);
}

void Network::schedule(Time at, std::function<void(Network&)> action) {
  if (at < now_) throw std::logic_error("sim::Network::schedule: a time before now");
  if (!action) throw std::logic_error("sim::Network::schedule: empty action");
  std::uint32_t index;
  if (free_actions_.empty()) {
    index = static_cast<std::uint32_t>(actions_.size());
    actions_.push_back(std::move(action));
  } else {
    index = free_actions_.back();
    free_actions_.pop_back();
    actions_[index] = std::move(action);
  }
  push(at, index, kNoNode, kNoNode, EventKind::action);
}

void Network::run_until(Time until) {
  if (until < now_) throw std::logic_error("sim::Network::run_until: a time before now");
  while (!queue_.empty() && queue_.front().at <= until) run_event(pop());
  now_ = until;
}

bool Network::run_until(const std::function<bool()>& done, Time limit) {
  if (limit < now_) throw std::logic_error("sim::Network::run_until: a limit before now");
  if (done()) return true;
  while (!queue_.empty() && queue_.front().at <= limit) {
    run_event(pop());
    if (done()) return true;
  }
  now_ = limit;
  return done();
}

void Network::push(Time at, std::uint32_t handle, NodeId to, NodeId from, EventKind kind) {
  queue_.push_back(Event{at, next_sequence_++, handle, to, from, kind});
  std::push_heap(queue_.begin(), queue_.end(), later<Event>);
}

Network::Event Network::pop() {
  std::pop_heap(queue_.begin(), queue_.end(), later<Event>);
  const Event event = queue_.back();
  queue_.pop_back();
  return event;
}

void Network::run_event(const Event& event) {
  now_ = event.at;
  switch (event.kind) {
    case EventKind::arrival: arrive(event); break;
    case EventKind::timer: fire_timer(event); break;
    case EventKind::action: {
      auto action = std::move(actions_[event.handle]);
      actions_[event.handle] = nullptr;
      free_actions_.push_back(event.handle);
      action(*this);
      break;
    }
  }
}

void Network::arrive(const Event& event) {
  Slot& receiver = nodes_[event.to];
  if (receiver.crashed) {
    ++counters_.to_crashed;
    observe(TraceEvent::Kind::to_crashed, event.to, event.from, event.handle);
  } else if (receiver.partition_part != nodes_[event.from].partition_part) {
    ++counters_.partitioned;
    observe(TraceEvent::Kind::partitioned, event.to, event.from, event.handle);
  } else {
    ++counters_.delivered;
    ++receiver.counters.received;
    observe(TraceEvent::Kind::delivered, event.to, event.from, event.handle);
    receiver.node->on_datagram(buffers_[event.handle].bytes, event.from, now_);
    release(event.handle);
    drain(event.to);
    rearm(event.to);
    return;
  }
  release(event.handle);
}

void Network::fire_timer(const Event& event) {
  Slot& owner = nodes_[event.to];
  if (event.handle != owner.timer_generation) return;  // superseded by an earlier one
  owner.queued.reset();
  if (owner.crashed || !owner.armed) return;
  if (*owner.armed > now_) {  // the node moved its timer later: wait on
    owner.queued = owner.armed;
    push(*owner.armed, owner.timer_generation, event.to, event.to, EventKind::timer);
    return;
  }
  owner.armed.reset();
  if (owner.fires_at_last > 0 && owner.last_fire == now_) {
    if (++owner.fires_at_last > kMaxBurst) {
      throw std::logic_error("sim::Network: node " + std::to_string(event.to) +
                             " keeps asking for its timer at the same instant (stuck)");
    }
  } else {
    owner.last_fire = now_;
    owner.fires_at_last = 1;
  }
  ++counters_.timers;
  owner.node->on_timer(now_);
  drain(event.to);
  rearm(event.to);
}

void Network::drain(NodeId id) {
  if (nodes_[id].crashed) return;
  for (std::uint64_t count = 0;; ++count) {
    const std::uint32_t buffer = take_buffer();
    Destination to{};
    // Nothing adds buffers while the node fills this one, so the reference holds.
    if (!nodes_[id].node->poll_transmit(buffers_[buffer].bytes, to, now_)) {
      release(buffer);
      return;
    }
    if (count >= kMaxBurst) {
      release(buffer);
      throw std::logic_error("sim::Network: node " + std::to_string(id) +
                             " never stops transmitting (stuck)");
    }
    send(id, to, buffer);
  }
}

// A timer moved later keeps its queued event, which re-queues itself when it
// comes (so a node that pushes its timer back on every datagram does not
// fill the queue with stale events); one moved earlier gets a new event.
void Network::rearm(NodeId id) {
  Slot& owner = nodes_[id];
  if (owner.crashed) return;
  owner.armed = owner.node->next_timer();
  if (!owner.armed) return;
  const Time at = std::max(*owner.armed, now_);
  if (owner.queued && *owner.queued <= at) return;
  ++owner.timer_generation;
  owner.queued = at;
  push(at, owner.timer_generation, id, id, EventKind::timer);
}

void Network::send(NodeId from, const Destination& to, std::uint32_t buffer) {
  ++counters_.sent;
  ++nodes_[from].counters.sent;
  ++buffers_[buffer].references;  // held while the copies are made
  observe(TraceEvent::Kind::sent, from, to.group ? kNoNode : to.node, buffer);
  if (!to.group) {
    if (to.node < nodes_.size()) {
      send_copy(from, to.node, buffer);
    } else {
      ++counters_.unknown_destination;
    }
  } else {
    const auto count = static_cast<NodeId>(nodes_.size());
    for (NodeId receiver = 0; receiver < count; ++receiver) {
      if (receiver != from && nodes_[receiver].member) send_copy(from, receiver, buffer);
    }
  }
  release(buffer);  // freed here unless a copy is in flight
}

void Network::send_copy(NodeId from, NodeId to, std::uint32_t buffer) {
  const Slot& receiver = nodes_[to];
  if (receiver.crashed) {
    ++counters_.to_crashed;
    observe(TraceEvent::Kind::to_crashed, to, from, buffer);
    return;
  }
  if (receiver.partition_part != nodes_[from].partition_part) {
    ++counters_.partitioned;
    observe(TraceEvent::Kind::partitioned, to, from, buffer);
    return;
  }
  const LinkModel& model = link(from, to);
  if (random_.chance(model.loss)) {
    ++counters_.lost;
    observe(TraceEvent::Kind::lost, to, from, buffer);
    return;
  }
  push(now_ + draw_delay(model), buffer, to, from, EventKind::arrival);
  ++buffers_[buffer].references;
  if (random_.chance(model.duplicate)) {
    ++counters_.duplicated;
    push(now_ + draw_delay(model), buffer, to, from, EventKind::arrival);
    ++buffers_[buffer].references;
  }
}

Duration Network::draw_delay(const LinkModel& model) {
  if (model.jitter <= Duration::zero()) return model.delay;
  const auto span = static_cast<std::uint64_t>(model.jitter.count()) + 1;
  return model.delay + Duration(static_cast<Duration::rep>(random_.below(span)));
}

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
  auto& references = buffers_[buffer].references;
  if (references > 0) --references;
  if (references == 0) free_buffers_.push_back(buffer);
}

void Network::observe(TraceEvent::Kind kind, NodeId node, NodeId peer, std::uint32_t buffer) {
  if (!observer_) return;
  observer_(TraceEvent{kind, node, peer, now_, buffers_[buffer].bytes});
}

}  // namespace nexo::group::sim
