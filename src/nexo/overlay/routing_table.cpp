#include "nexo/overlay/routing_table.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace nexo::overlay {
namespace {

// Applies a message's evidence to a contact.
void refresh(Contact& contact, Time now, Heard kind, std::optional<Duration> rtt) {
  contact.last_seen = now;
  if (kind != Heard::reply) return;
  contact.last_reply = now;
  contact.failures = 0;
  contact.ping_pending = false;
  if (rtt)
    contact.rtt.sample(*rtt);
  else
    contact.rtt.reset_backoff();
}

Contact newcomer(const NodeId& id, const net::Endpoint& endpoint, Time now, Heard kind,
                 std::optional<Duration> rtt) {
  Contact contact;
  contact.id = id;
  contact.endpoint = endpoint;
  refresh(contact, now, kind, rtt);
  return contact;
}

template <class Contacts>
auto find_id(Contacts& contacts, const NodeId& id) {
  return std::find_if(contacts.begin(), contacts.end(),
                      [&](const Contact& c) { return c.id == id; });
}

}  // namespace

RoutingTable::RoutingTable(const NodeId& own, Time now, RoutingConfig config)
    : own_(own), config_(config) {
  config_.k = std::max<std::size_t>(config_.k, 1);
  config_.bad_after_failures = std::clamp(config_.bad_after_failures, 1, 255);
  if (config_.wide.size() > kMaxWideBuckets) config_.wide.resize(kMaxWideBuckets);
  for (auto& factor : config_.wide)
    factor = std::max<std::uint8_t>(factor, 1);
  buckets_.push_back(Bucket{{}, {}, now});
}

std::size_t RoutingTable::capacity(std::size_t index) const noexcept {
  if (index + 1 >= buckets_.size() || index >= config_.wide.size()) return config_.k;
  return config_.k * config_.wide[index];
}

std::size_t RoutingTable::bucket_index(const NodeId& id) const noexcept {
  const auto shared = static_cast<std::size_t>(common_prefix_length(own_, id));
  return std::min(shared, buckets_.size() - 1);
}

Contact* RoutingTable::find_in(Bucket& bucket, const NodeId& id) noexcept {
  auto it = find_id(bucket.contacts, id);
  return it == bucket.contacts.end() ? nullptr : &*it;
}

const Contact* RoutingTable::find(const NodeId& id) const noexcept {
  const Bucket& bucket = buckets_[bucket_index(id)];
  auto it = find_id(bucket.contacts, id);
  return it == bucket.contacts.end() ? nullptr : &*it;
}

const Contact* RoutingTable::find_at(const net::Endpoint& endpoint) const noexcept {
  for (const Bucket& bucket : buckets_)
    for (const Contact& c : bucket.contacts)
      if (c.endpoint == endpoint) return &c;
  return nullptr;
}

ContactState RoutingTable::state(const Contact& contact, Time now) const noexcept {
  if (contact.failures >= config_.bad_after_failures) return ContactState::bad;
  if (contact.failures == 0 && contact.ever_replied() && now - contact.last_seen < config_.good_for)
    return ContactState::good;
  return ContactState::questionable;
}

HeardResult RoutingTable::heard_from(const NodeId& id, const net::Endpoint& endpoint, Time now,
                                     Heard kind, std::optional<Duration> rtt) {
  if (kind == Heard::reply && rtt) node_rtt_.sample(*rtt);
  if (id == own_) return {Insertion::own_id, std::nullopt};
  Bucket& bucket = buckets_[bucket_index(id)];
  Contact* known = find_in(bucket, id);
  if (known == nullptr) return insert(id, endpoint, now, kind, rtt);
  if (known->endpoint != endpoint) {
    // Keep the contact where it was; let the claim wait for its failure.
    cache(bucket, newcomer(id, endpoint, now, kind, std::nullopt));
    std::optional<NodeInfo> ping;
    if (!known->ping_pending) {
      known->ping_pending = true;
      ping = known->info();
    }
    return {Insertion::endpoint_conflict, ping};
  }
  refresh(*known, now, kind, rtt);
  if (kind == Heard::reply) bucket.last_changed = now;  // BEP 5: "pinged and it responds"
  return {Insertion::updated, std::nullopt};
}

HeardResult RoutingTable::insert(const NodeId& id, const net::Endpoint& endpoint, Time now,
                                 Heard kind, std::optional<Duration> rtt) {
  if (config_.one_contact_per_ip && ip_in_use(endpoint.address(), nullptr))
    return {Insertion::ip_taken, std::nullopt};
  const Contact contact = newcomer(id, endpoint, now, kind, rtt);
  for (;;) {
    const std::size_t index = bucket_index(id);
    Bucket& bucket = buckets_[index];
    if (bucket.contacts.size() < capacity(index)) {
      if (auto cached = find_id(bucket.replacements, id); cached != bucket.replacements.end())
        bucket.replacements.erase(cached);
      bucket.contacts.push_back(contact);
      bucket.last_changed = now;
      return {Insertion::added, std::nullopt};
    }
    if (index + 1 == buckets_.size() && buckets_.size() < static_cast<std::size_t>(kNodeIdBits)) {
      split();
      continue;
    }
    // Full for good: a bad contact gives way at once, the least recently seen first.
    Contact* bad = nullptr;
    for (Contact& c : bucket.contacts)
      if (state(c, now) == ContactState::bad && (bad == nullptr || c.last_seen < bad->last_seen))
        bad = &c;
    if (bad != nullptr) {
      if (auto cached = find_id(bucket.replacements, id); cached != bucket.replacements.end())
        bucket.replacements.erase(cached);
      *bad = contact;
      bucket.last_changed = now;
      return {Insertion::replaced_bad, std::nullopt};
    }
    if (!cache(bucket, contact)) return {Insertion::discarded, std::nullopt};
    return {Insertion::cached, ping_to_evict(bucket, now)};
  }
}

void RoutingTable::split() {
  // The last bucket, at depth d, keeps the ids sharing exactly d bits with
  // ours; those sharing more move to the new last bucket at depth d + 1.
  const std::size_t depth = buckets_.size() - 1;
  Bucket fresh{{}, {}, buckets_.back().last_changed};
  Bucket& old = buckets_.back();
  auto moves = [&](const Contact& c) {
    return static_cast<std::size_t>(common_prefix_length(own_, c.id)) > depth;
  };
  for (auto* list : {&old.contacts, &old.replacements}) {
    auto& target = list == &old.contacts ? fresh.contacts : fresh.replacements;
    auto keep = std::stable_partition(list->begin(), list->end(),
                                      [&](const Contact& c) { return !moves(c); });
    target.assign(keep, list->end());
    list->erase(keep, list->end());
  }
  buckets_.push_back(std::move(fresh));
}

bool RoutingTable::cache(Bucket& bucket, const Contact& contact) {
  if (config_.replacements == 0) return false;
  if (auto same = find_id(bucket.replacements, contact.id); same != bucket.replacements.end())
    bucket.replacements.erase(same);
  if (bucket.replacements.size() >= config_.replacements)
    bucket.replacements.erase(bucket.replacements.begin());  // the oldest gives way
  bucket.replacements.push_back(contact);
  return true;
}

std::optional<NodeInfo> RoutingTable::ping_to_evict(Bucket& bucket, Time now) {
  Contact* oldest = nullptr;
  for (Contact& c : bucket.contacts)
    if (!c.ping_pending && state(c, now) == ContactState::questionable &&
        (oldest == nullptr || c.last_seen < oldest->last_seen))
      oldest = &c;
  if (oldest == nullptr) return std::nullopt;
  oldest->ping_pending = true;
  return oldest->info();
}

bool RoutingTable::promote(Bucket& bucket, std::size_t slot, Time now) {
  const NodeId leaving = bucket.contacts[slot].id;
  auto& cache = bucket.replacements;
  while (!cache.empty()) {
    Contact candidate = cache.back();  // the most recently seen
    cache.pop_back();
    const bool duplicate =
        candidate.id != leaving && find_id(bucket.contacts, candidate.id) != bucket.contacts.end();
    const bool ip_clash =
        config_.one_contact_per_ip && ip_in_use(candidate.endpoint.address(), &leaving);
    if (duplicate || ip_clash) continue;  // stale: the table has it, or its address
    bucket.contacts[slot] = candidate;
    bucket.last_changed = now;
    return true;
  }
  return false;
}

Failure RoutingTable::failed(const NodeId& id, const net::Endpoint& endpoint, Time now) {
  Bucket& bucket = buckets_[bucket_index(id)];
  auto it = find_id(bucket.contacts, id);
  if (it == bucket.contacts.end() || it->endpoint != endpoint) {
    auto cached =
        std::find_if(bucket.replacements.begin(), bucket.replacements.end(),
                     [&](const Contact& c) { return c.id == id && c.endpoint == endpoint; });
    if (cached != bucket.replacements.end()) bucket.replacements.erase(cached);
    return Failure::unknown;
  }
  if (it->failures < 255) ++it->failures;
  it->rtt.timed_out();
  const bool was_pinged = std::exchange(it->ping_pending, false);
  if (was_pinged || state(*it, now) == ContactState::bad) {
    const auto slot = static_cast<std::size_t>(it - bucket.contacts.begin());
    if (promote(bucket, slot, now)) return Failure::evicted;
  }
  return Failure::counted;
}

bool RoutingTable::remove(const NodeId& id) {
  Bucket& bucket = buckets_[bucket_index(id)];
  if (auto it = find_id(bucket.contacts, id); it != bucket.contacts.end()) {
    const auto slot = static_cast<std::size_t>(it - bucket.contacts.begin());
    if (!promote(bucket, slot, bucket.last_changed)) bucket.contacts.erase(it);
    // A cache entry under the same id (an endpoint claim) goes too.
    std::erase_if(bucket.replacements, [&](const Contact& c) { return c.id == id; });
    return true;
  }
  return std::erase_if(bucket.replacements, [&](const Contact& c) { return c.id == id; }) > 0;
}

bool RoutingTable::ip_in_use(const net::InetAddress& address, const NodeId* except) const noexcept {
  for (const Bucket& bucket : buckets_)
    for (const Contact& c : bucket.contacts)
      if (c.endpoint.address() == address && (except == nullptr || c.id != *except)) return true;
  return false;
}

std::vector<NodeInfo> RoutingTable::closest(const NodeId& target, std::size_t n, Time now,
                                            Rank rank) const {
  std::vector<NodeInfo> result;
  if (n == 0) return result;
  // Groups of buckets in increasing distance from the target (c = the prefix
  // the target shares with us): the bucket covering it (distances with more
  // than c leading zeros), then every deeper bucket (exactly c: they agree
  // with us at bit c, where the target does not), then bucket c-1, c-2, ...
  // 0 (exactly i). Each group is sorted on its own, and only as far as needed.
  const std::size_t start = bucket_index(target);
  std::vector<std::pair<Distance, const Contact*>> good, fair, group;
  auto take = [&](std::size_t first, std::size_t last) {  // buckets [first, last)
    group.clear();
    for (std::size_t i = first; i < last; ++i)
      for (const Contact& c : buckets_[i].contacts)
        if (state(c, now) != ContactState::bad) group.emplace_back(distance(c.id, target), &c);
    std::sort(group.begin(), group.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& entry : group) {
      const bool ahead = rank == Rank::answered_first
                             ? entry.second->ever_replied()
                             : state(*entry.second, now) == ContactState::good;
      auto& into = ahead ? good : fair;
      if (into.size() < n) into.push_back(entry);
    }
  };
  take(start, start + 1);
  if (good.size() < n) take(start + 1, buckets_.size());
  for (std::size_t i = start; i-- > 0 && good.size() < n;)
    take(i, i + 1);
  // The closest good ones, then the closest questionable ones for the rest;
  // both lists are already in distance order.
  const std::size_t from_fair = n - std::min(n, good.size());
  std::vector<std::pair<Distance, const Contact*>> chosen;
  chosen.reserve(n);
  std::merge(
      good.begin(), good.begin() + static_cast<std::ptrdiff_t>(std::min(n, good.size())),
      fair.begin(), fair.begin() + static_cast<std::ptrdiff_t>(std::min(from_fair, fair.size())),
      std::back_inserter(chosen), [](const auto& a, const auto& b) { return a.first < b.first; });
  result.reserve(chosen.size());
  for (const auto& entry : chosen)
    result.push_back(entry.second->info());
  return result;
}

std::vector<NodeId> RoutingTable::refresh_targets(Time now, fault::Random& rng) {
  std::vector<NodeId> targets;
  const std::size_t last = buckets_.size() - 1;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& bucket = buckets_[i];
    if (now - bucket.last_changed < config_.refresh_after) continue;
    const int depth = static_cast<int>(i);
    targets.push_back(i < last ? NodeId::random_in_bucket(own_, depth, rng)
                               : NodeId::random_with_prefix(own_, depth, rng));
    bucket.last_changed = now;
  }
  return targets;
}

Time RoutingTable::next_refresh() const noexcept {
  Time earliest = Time::max();
  for (const Bucket& bucket : buckets_)
    earliest = std::min(earliest, bucket.last_changed + config_.refresh_after);
  return earliest;
}

Duration RoutingTable::timeout_for(const NodeId& id) const noexcept {
  const Duration fallback = node_rtt_.base_rto(config_.rtt);
  if (const Contact* c = find(id)) return c->rtt.rto(config_.rtt, fallback);
  return fallback;
}

std::size_t RoutingTable::size() const noexcept {
  std::size_t n = 0;
  for (const Bucket& bucket : buckets_)
    n += bucket.contacts.size();
  return n;
}

std::size_t RoutingTable::replacement_count() const noexcept {
  std::size_t n = 0;
  for (const Bucket& bucket : buckets_)
    n += bucket.replacements.size();
  return n;
}

}  // namespace nexo::overlay
