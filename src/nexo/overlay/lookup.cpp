#include "nexo/overlay/lookup.hpp"

#include <algorithm>
#include <limits>

namespace nexo::overlay {
namespace {

constexpr int kMaxDepth = std::numeric_limits<std::uint16_t>::max();

}  // namespace

Lookup::Lookup(const NodeId& target, const NodeId& own, LookupConfig config)
    : target_(target), own_(own), config_(config) {
  config_.k = std::max<std::size_t>(config_.k, 1);
  config_.alpha = std::max<std::size_t>(config_.alpha, 1);
  config_.max_candidates = std::max(config_.max_candidates, config_.k);
}

void Lookup::add_candidates(std::span<const NodeInfo> nodes, int depth) {
  for (const NodeInfo& node : nodes) {
    if (node.id == own_) {
      ++stats_.nodes_ignored;
      continue;
    }
    insert(node, depth);
  }
}

bool Lookup::endpoint_known(const net::Endpoint& endpoint) const noexcept {
  return std::any_of(candidates_.begin(), candidates_.end(),
                     [&](const Candidate& c) { return c.node.endpoint == endpoint; });
}

void Lookup::insert(const NodeInfo& node, int depth) {
  const Distance d = distance(target_, node.id);
  const auto depth16 = static_cast<std::uint16_t>(std::clamp(depth, 0, kMaxDepth));
  auto at = std::lower_bound(candidates_.begin(), candidates_.end(), d,
                             [](const Candidate& c, const Distance& x) { return c.distance < x; });
  // Claims of the same id sit together; a new one goes after them.
  for (; at != candidates_.end() && at->distance == d; ++at) {
    if (at->node.endpoint == node.endpoint) {
      if (at->state == State::fresh) at->depth = std::min(at->depth, depth16);
      ++stats_.nodes_ignored;
      return;
    }
    if (at->state == State::answered) {  // that id has proved its endpoint
      ++stats_.nodes_ignored;
      return;
    }
  }
  if (endpoint_known(node.endpoint)) {
    ++stats_.nodes_ignored;
    return;
  }
  // Would it be trimmed at once? Only live candidates closer than it count.
  const auto closer_live = static_cast<std::size_t>(
      std::count_if(candidates_.begin(), at, [](const Candidate& c) { return live(c.state); }));
  if (closer_live >= config_.max_candidates) {
    ++stats_.nodes_dropped;
    return;
  }
  candidates_.insert(at, Candidate{d, node, State::fresh, depth16, {}});
  trim();
}

// Drops the fresh candidates beyond the max_candidates closest live ones.
void Lookup::trim() {
  std::size_t kept_live = 0;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < candidates_.size(); ++i) {
    Candidate& c = candidates_[i];
    if (live(c.state) && ++kept_live > config_.max_candidates && c.state == State::fresh) {
      ++stats_.nodes_dropped;
      continue;
    }
    if (kept != i) candidates_[kept] = std::move(c);
    ++kept;
  }
  candidates_.resize(kept);
}

std::optional<NodeInfo> Lookup::next_request(Time now) {
  if (in_flight_ >= config_.alpha || stats_.requests >= config_.max_requests) return std::nullopt;
  std::size_t answered = 0;
  for (Candidate& c : candidates_) {
    if (c.state == State::answered && ++answered >= config_.k) return std::nullopt;
    if (c.state != State::fresh) continue;
    c.state = State::in_flight;
    ++in_flight_;
    ++stats_.requests;
    if (stats_.first_request == Time::min()) stats_.first_request = now;
    return c.node;
  }
  return std::nullopt;
}

Lookup::Candidate* Lookup::waiting_at(const net::Endpoint& endpoint) noexcept {
  for (Candidate& c : candidates_)
    if (c.node.endpoint == endpoint && waiting(c.state)) return &c;
  return nullptr;
}

ReplyOutcome Lookup::on_reply(const NodeInfo& from, std::span<const NodeInfo> nodes, Time now,
                              std::string_view payload) {
  Candidate* c = waiting_at(from.endpoint);
  if (c == nullptr) {
    ++stats_.ignored_replies;
    return ReplyOutcome::not_in_flight;
  }
  if (c->state == State::in_flight)
    --in_flight_;
  else
    ++stats_.late_replies;
  const int depth = c->depth + 1;
  ReplyOutcome outcome = ReplyOutcome::accepted;
  if (c->node.id != from.id) {
    c->state = State::failed;
    ++stats_.id_mismatches;
    outcome = ReplyOutcome::id_mismatch;
  } else {
    c->state = State::answered;
    supersede(*c);
    ++stats_.replies;
    stats_.last_reply = now;
    if (payload.size() <= config_.max_payload)
      c->payload.assign(payload);
    else
      ++stats_.payloads_dropped;
  }
  // `c` may move from here on: insert() reshapes the vector.
  for (const NodeInfo& node : nodes) {
    if (node.id == own_ || node.id == from.id) {
      ++stats_.nodes_ignored;
      continue;
    }
    insert(node, depth);
  }
  return outcome;
}

// `proven` answered: other claims of its id are dropped (marked failed, so
// their endpoints are not asked again); a late reply from one is ignored.
void Lookup::supersede(const Candidate& proven) {
  for (Candidate& c : candidates_) {
    if (&c == &proven || c.distance != proven.distance || c.state == State::failed) continue;
    if (c.state == State::in_flight) --in_flight_;
    c.state = State::failed;
  }
}

bool Lookup::on_soft_timeout(const net::Endpoint& endpoint) {
  Candidate* c = waiting_at(endpoint);
  if (c == nullptr || c->state != State::in_flight) return false;
  c->state = State::slow;
  --in_flight_;
  ++stats_.soft_timeouts;
  return true;
}

bool Lookup::abandon(const net::Endpoint& endpoint) {
  Candidate* c = waiting_at(endpoint);
  if (c == nullptr || c->state == State::abandoned) return false;
  if (c->state == State::in_flight) --in_flight_;
  c->state = State::abandoned;
  ++stats_.abandoned;
  return true;
}

bool Lookup::on_failure(const net::Endpoint& endpoint) {
  Candidate* c = waiting_at(endpoint);
  if (c == nullptr) return false;
  if (c->state == State::in_flight) --in_flight_;
  c->state = State::failed;
  c->payload.clear();
  ++stats_.failures;
  return true;
}

bool Lookup::done() const noexcept {
  const bool can_ask = stats_.requests < config_.max_requests;
  std::size_t answered = 0;
  for (const Candidate& c : candidates_) {
    switch (c.state) {
      case State::answered:
        if (++answered >= config_.k) return true;
        break;
      case State::fresh:
        if (can_ask) return false;
        break;
      case State::in_flight:
      case State::slow:
        return false;
      case State::failed:
      case State::abandoned:
        break;
    }
  }
  return true;
}

std::size_t Lookup::outstanding() const noexcept {
  return static_cast<std::size_t>(std::count_if(
      candidates_.begin(), candidates_.end(), [](const Candidate& c) { return waiting(c.state); }));
}

std::vector<Responder> Lookup::responders() const {
  std::vector<Responder> out;
  for (const Candidate& c : candidates_) {
    if (c.state != State::answered) continue;
    out.push_back(Responder{c.node, c.depth, c.payload});
    if (out.size() >= config_.k) break;
  }
  return out;
}

std::vector<NodeInfo> Lookup::result() const {
  std::vector<NodeInfo> out;
  for (const Candidate& c : candidates_) {
    if (c.state != State::answered) continue;
    out.push_back(c.node);
    if (out.size() >= config_.k) break;
  }
  return out;
}

int Lookup::rounds() const noexcept {
  int deepest = -1;
  std::size_t taken = 0;
  for (const Candidate& c : candidates_) {
    if (c.state != State::answered) continue;
    deepest = std::max(deepest, static_cast<int>(c.depth));
    if (++taken >= config_.k) break;
  }
  return deepest + 1;
}

int Lookup::longest_chain() const noexcept {
  int deepest = -1;
  for (const Candidate& c : candidates_)
    if (c.state == State::answered) deepest = std::max(deepest, static_cast<int>(c.depth));
  return deepest + 1;
}

}  // namespace nexo::overlay
