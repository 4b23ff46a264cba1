// Scribe: building and repairing the trees — joining (greedy toward the key, then a
// lookup, push-downs followed), becoming root and moving the root closer, heartbeats,
// losing a parent or a child, pruning. The scheme is described in scribe.hpp.
#include <algorithm>
#include <utility>

#include "nexo/overlay/scribe.hpp"
#include "nexo/overlay/scribe_topic.hpp"

namespace nexo::overlay {

namespace bencode = wire::bencode;

constexpr std::size_t kMaxFailed = 64;  // per topic

// --- Timers.

Time Scribe::topic_timer(const Topic& t, const ScribeConfig& config) noexcept {
  Time next = Time::max();
  if (!t.children.empty()) next = std::min(next, t.next_beat);
  if (t.state == Topic::State::attached)
    next = std::min(next, t.heard_parent + config.beat_interval * config.missed_beats);
  if (t.state == Topic::State::root && !t.lookup_running) next = std::min(next, t.next_check);
  if (t.state == Topic::State::joining && !t.join_target && !t.lookup_running)
    next = std::min(next, t.next_join);
  return next;
}

std::optional<Time> Scribe::next_timer() const {
  Time next = Time::max();
  for (const auto& [key, topic] : topics_)
    next = std::min(next, topic_timer(*topic, config_));
  if (!deferred_.empty()) next = std::min(next, deferred_.front().due);
  if (!custody_.empty()) next = std::min(next, custody_.front().due);
  if (next == Time::max()) return std::nullopt;
  return next;
}

void Scribe::on_timer(Time now) {
  // Deferred messages first (due in order: each waits the same kDeferral).
  while (!deferred_.empty() && deferred_.front().due <= now) {
    Deferred d = std::move(deferred_.front());
    deferred_.pop_front();
    if (const Topic* t = find(d.key); t && (t->is_parent(d.to) || t->has_child(d.to)))
      send_message(d.key, d.to, *d.message, d.attempt, now);
  }
  reoffer_due(now);
  std::vector<NodeId> keys;
  keys.reserve(topics_.size());
  for (const auto& [key, topic] : topics_)
    keys.push_back(key);
  for (const NodeId& key : keys) {
    Topic* t = find(key);
    if (!t) continue;
    if (!t->children.empty() && now >= t->next_beat) beat(*t, now);
    switch (t->state) {
      case Topic::State::attached:
        if (now >= t->heard_parent + config_.beat_interval * config_.missed_beats) {
          ++counters_.rejoins;
          ++counters_.parent_silent;
          lose_parent(*t, now);
        }
        break;
      case Topic::State::root:
        if (t->lookup_running || now < t->next_check) break;
        if (!t->member && t->children.empty() &&
            (t->history.empty() || t->history.back().at + config_.history_window < now)) {
          prune(*t, now);  // a rendezvous nobody joined
          break;
        }
        look_up(*t, now, true);
        break;
      case Topic::State::joining:
        if (!t->join_target && !t->lookup_running && now >= t->next_join) {
          t->failed.clear();  // a lost datagram is no death: ask them all again
          start_join(*t, now, t->root_join);
        }
        break;
      case Topic::State::idle:
        break;
    }
  }
}

// --- Joining.

void Scribe::start_join(Topic& t, Time now, bool as_root) {
  t.state = Topic::State::joining;
  t.parent.reset();
  t.path.clear();
  t.attempt = next_attempt_++;
  const auto closer = closer_contacts(t.key, now);
  t.candidates.assign(closer.begin(), closer.end());
  t.join_target.reset();
  t.hops = 0;
  t.looked = false;
  t.saw_closer = !closer.empty();
  t.root_join = as_root;
  t.next_join = Time::max();
  try_next(t, now);
}

// Asks the next candidate; when none is left, looks the key up once; then either this
// node is the closest it can find (root), or it waits join_retry and starts again.
void Scribe::try_next(Topic& t, Time now) {
  if (t.join_target || t.lookup_running) return;
  while (!t.candidates.empty() && t.hops < config_.max_join_hops) {
    const NodeInfo to = t.candidates.front();
    t.candidates.pop_front();
    if (to.endpoint == node_.endpoint() || to.id == node_.id() || t.has_failed(to.endpoint))
      continue;
    ++t.hops;
    ++counters_.joins_sent;
    bencode::Dict args{{"k", t.key.to_byte_string()}};
    if (t.root_join) args.insert_or_assign("r", 1);
    if (auto g = digest(t, now); !g.empty()) args.insert_or_assign("g", std::move(g));
    const NodeId key = t.key;
    const std::uint64_t attempt = t.attempt;
    if (!send(to.endpoint, "nexo_join", std::move(args), now,
              [this, key, to, attempt](Result<ExtensionReply> reply, Time at) {
                joined(key, to, attempt, std::move(reply), at);
              })) {
      t.next_join = now + config_.join_retry;
      return;
    }
    t.join_target = to.endpoint;
    t.join_sent = now;
    return;
  }
  if (!t.looked && t.hops < config_.max_join_hops) {
    t.looked = true;
    if (!look_up(t, now, false)) t.next_join = now + config_.join_retry;
    return;
  }
  if (!t.saw_closer) {
    become_root(t, now);
    return;
  }
  t.next_join = now + config_.join_retry;
}

bool Scribe::look_up(Topic& t, Time now, bool root_check) {
  const NodeId key = t.key;
  const std::uint64_t attempt = t.attempt;
  std::weak_ptr<Scribe*> alive = alive_;
  auto started =
      node_.find_node(key, now,
                      [alive, key, attempt, root_check, sent = now](
                          Result<std::vector<NodeInfo>> result, const OpStats& stats) {
                        auto self = alive.lock();
                        if (!self) return;
                        if (root_check)
                          (*self)->root_checked(key, std::move(result), sent + stats.elapsed);
                        else
                          (*self)->looked_up(key, attempt, std::move(result), sent + stats.elapsed);
                      });
  if (!started) {
    if (root_check) t.next_check = now + config_.join_retry;
    return false;
  }
  if (root_check) ++counters_.root_checks;
  t.lookup_running = true;
  return true;
}

void Scribe::looked_up(const NodeId& key, std::uint64_t attempt,
                       Result<std::vector<NodeInfo>> result, Time now) {
  Topic* t = find(key);
  if (!t) return;
  t->lookup_running = false;
  if (t->attempt != attempt || t->state != Topic::State::joining) return;
  if (result) {
    std::vector<NodeInfo> closer;
    for (const NodeInfo& n : *result)
      if (closer_to(key, n.id, node_.id())) closer.push_back(n);
    if (!closer.empty()) t->saw_closer = true;
    t->candidates.insert(t->candidates.begin(), closer.begin(), closer.end());
  } else {
    t->saw_closer = true;  // we cannot tell: do not claim the root on a failed lookup
  }
  try_next(*t, now);
}

void Scribe::joined(const NodeId& key, const NodeInfo& to, std::uint64_t attempt,
                    Result<ExtensionReply> reply, Time now) {
  Topic* t = find(key);
  const krpc::Response* response = answered(reply) ? &std::get<krpc::Response>(*reply) : nullptr;
  const bool pushed = response && response->extra.find("push");
  if (!t || t->attempt != attempt || t->state != Topic::State::joining) {
    // Taken as a child where we no longer want to be.
    if (response && !pushed)
      send(to.endpoint, "nexo_leave", {{"k", key.to_byte_string()}}, now,
           [](Result<ExtensionReply>, Time) {});
    return;
  }
  t->join_target.reset();
  if (!reply && !not_sent(reply) && t->failed.size() < kMaxFailed) t->failed.push_back(to.endpoint);
  if (!response) {
    // A candidate that did not answer hints at a stale routing table (churn): look the key
    // up now; the lookup's answers (alive a moment ago) go first.
    if (!reply && !not_sent(reply) && !t->looked && t->hops < config_.max_join_hops) {
      t->looked = true;
      if (!look_up(*t, now, false)) t->next_join = now + config_.join_retry;
      return;
    }
    try_next(*t, now);
    return;
  }
  if (pushed) {
    const bencode::Value* push = response->extra.find("push");
    if (push->is_string()) {
      auto nodes = decode_compact_nodes(push->string(), node_.endpoint().family());
      if (nodes && nodes->size() == 1) t->candidates.push_front((*nodes)[0]);
    }
    try_next(*t, now);
    return;
  }
  const bencode::Value* p = response->extra.find("p");
  std::optional<std::vector<NodeId>> path;
  if (p && p->is_string()) path = scribe_wire::decode_path(p->string(), config_.max_depth);
  const bool loop = !path || std::find(path->begin(), path->end(), node_.id()) != path->end() ||
                    t->has_child(to.endpoint);
  if (loop) {
    ++counters_.loops_refused;
    send(to.endpoint, "nexo_leave", {{"k", key.to_byte_string()}}, now,
         [](Result<ExtensionReply>, Time) {});
    try_next(*t, now);
    return;
  }
  if (t->root_join) ++counters_.root_moves;
  t->state = Topic::State::attached;
  t->parent = NodeInfo{response->id, to.endpoint};
  t->path = std::move(*path);
  t->heard_parent = now;
  t->root_join = false;
  t->candidates.clear();
  t->failed.clear();
  catch_up(*t, to.endpoint, now);
  compare_reply(key, to.endpoint, *reply, now);
}

// --- The root.

void Scribe::become_root(Topic& t, Time now) {
  if (t.state != Topic::State::root) ++counters_.became_root;
  t.state = Topic::State::root;
  t.parent.reset();
  t.path.clear();
  t.candidates.clear();
  t.join_target.reset();
  t.root_join = false;
  t.failed.clear();
  // A root that did not look the key up yet does so at once; a new root checks again soon
  // (join_retry, doubling up to root_check_interval): it is often a fragment of a tree whose
  // root died, and the nodes' tables learn the closer root over the next seconds.
  t.check_gap = std::min<Duration>(config_.join_retry, config_.root_check_interval);
  t.next_check = t.looked ? now + t.check_gap : now;
}

// A root's lookup: a node strictly closer to the key is the better root; join it.
void Scribe::root_checked(const NodeId& key, Result<std::vector<NodeInfo>> result, Time now) {
  Topic* t = find(key);
  if (!t) return;
  t->lookup_running = false;
  if (t->state != Topic::State::root) return;
  t->check_gap = std::min<Duration>(std::max<Duration>(2 * t->check_gap, config_.join_retry),
                                    config_.root_check_interval);
  t->next_check = now + t->check_gap;
  if (!result) return;
  std::deque<NodeInfo> closer;
  for (const NodeInfo& n : *result)
    if (closer_to(key, n.id, node_.id())) closer.push_back(n);
  if (closer.empty()) return;
  t->state = Topic::State::joining;
  t->attempt = next_attempt_++;
  t->candidates = std::move(closer);
  t->hops = 0;
  t->looked = true;
  t->saw_closer = true;
  t->root_join = true;
  t->next_join = Time::max();
  try_next(*t, now);
}

// --- Heartbeats and repair.

void Scribe::beat(Topic& t, Time now) {
  t.next_beat = now + config_.beat_interval;
  const NodeId self = node_.id();
  const std::string path = scribe_wire::encode_path(t.path, &self);
  const std::string g = digest(t, now);
  std::vector<net::Endpoint> children;
  for (const auto& c : t.children)
    children.push_back(c.info.endpoint);
  const NodeId key = t.key;
  for (const auto& child : children) {
    ++counters_.beats;
    bencode::Dict args{{"k", key.to_byte_string()}, {"p", path}};
    if (!g.empty()) args.insert_or_assign("g", g);
    send(child, "nexo_beat", std::move(args), now,
         [this, key, child](Result<ExtensionReply> reply, Time at) {
           beaten(key, child, std::move(reply), at);
         });
  }
}

void Scribe::beaten(const NodeId& key, const net::Endpoint& child, Result<ExtensionReply> reply,
                    Time now) {
  Topic* t = find(key);
  if (!t) return;
  auto it = std::find_if(t->children.begin(), t->children.end(),
                         [&](const Topic::Child& c) { return c.info.endpoint == child; });
  if (it == t->children.end()) return;
  if (answered(reply)) {
    it->beat_failures = 0;
    compare_reply(key, child, *reply, now);  // the child's digest: what it has that we lack
    return;
  }
  if (not_sent(reply)) return;
  if (refused(reply) || ++it->beat_failures >= config_.beat_failures) remove_child(*t, child, now);
}

void Scribe::neighbour_gone(const NodeId& key, const net::Endpoint& who, Time now) {
  Topic* t = find(key);
  if (!t) return;
  if (t->is_parent(who)) {
    ++counters_.rejoins;
    lose_parent(*t, now);
  } else if (t->has_child(who)) {
    remove_child(*t, who, now);
  }
}

void Scribe::lose_parent(Topic& t, Time now) {
  if (t.parent && t.failed.size() < kMaxFailed) t.failed.push_back(t.parent->endpoint);
  t.parent.reset();
  start_join(t, now, false);
}

void Scribe::remove_child(Topic& t, const net::Endpoint& child, Time now) {
  const auto before = t.children.size();
  std::erase_if(t.children, [&](const Topic::Child& c) { return c.info.endpoint == child; });
  if (t.children.size() == before) return;
  ++counters_.children_dropped;
  if (t.children.empty()) t.next_beat = Time::max();
  prune(t, now);
}

// A node that is neither member nor parent leaves the tree (and forgets the topic).
bool Scribe::prune(Topic& t, Time now) {
  if (t.member || !t.children.empty()) return false;
  leave_parent(t, now);
  const NodeId key = t.key;
  topics_.erase(key);
  return true;
}

void Scribe::leave_parent(Topic& t, Time now) {
  if (!t.parent) return;
  send(t.parent->endpoint, "nexo_leave", {{"k", t.key.to_byte_string()}}, now,
       [](Result<ExtensionReply>, Time) {});
  t.parent.reset();
}

}  // namespace nexo::overlay
