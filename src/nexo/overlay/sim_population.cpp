#include "nexo/overlay/sim_population.hpp"

#include <algorithm>
#include <memory>
#include <string>

namespace nexo::overlay::sim {

using namespace std::chrono_literals;

NodeConfig churn_config(NodeConfig c, Duration lifetime) {
  c.routing.good_for = lifetime;
  c.routing.bad_after_failures = 1;
  c.fresh_first = true;  // a contact one lifetime old is likely dead
  c.refresh_interval = std::min<Duration>(60s, 2 * lifetime);
  c.replication.on_join = true;
  c.replication.interval = std::max<Duration>(lifetime * 2 / 3, 1s);
  c.small_table = 2 * c.routing.k;
  c.small_table_refresh = std::max<Duration>(lifetime / 6, 1s);
  return c;
}

Population::Population(const PopulationConfig& config)
    : config_(config), net_({.seed = config.seed}), rng_(config.seed * 31 + 7) {}

Population::~Population() {
  stop_churn();
}

NodeConfig Population::node_config(Slot slot) const {
  NodeConfig c;
  c.seed = config_.seed * 7919 + slot;
  c.query_timeout = config_.query_timeout;
  if (config_.churn) c = churn_config(c, *config_.churn);
  if (config_.tune) config_.tune(c);
  return c;
}

Factory Population::factory() {
  return [this](const net::Endpoint& self) {
    const Slot slot = slot_of(self.address()).value();
    return std::make_unique<Node>(self, net_.now(), node_config(slot));
  };
}

void Population::index_add(Slot slot) {
  const std::pair<NodeId, Slot> entry{node(slot).id(), slot};
  index_.insert(std::upper_bound(index_.begin(), index_.end(), entry), entry);
}

void Population::index_remove(Slot slot) {
  std::erase_if(index_, [slot](const auto& e) { return e.second == slot; });
}

// Bootstraps `slot` from a random joined node; once it has joined, it introduces later
// newcomers in its turn. A bootstrap that leaves fewer than k contacts (the seed knew
// mostly dead nodes) is tried again from another node, kBootstrapTries in all.
void Population::bootstrap(Slot slot, std::size_t* done, std::size_t* failed, int attempt) {
  const net::Endpoint seeds[] = {net_.address(random_joined())};
  auto started = node(slot).bootstrap(
      seeds, net_.now(),
      [this, slot, done, failed, attempt](Result<std::size_t> r, const OpStats&) {
        if (attempt < kBootstrapTries && (!r || *r < node(slot).config().routing.k)) {
          ++retried_;
          bootstrap(slot, done, failed, attempt + 1);
          return;
        }
        if (done) ++*done;
        if (r)
          joined_.push_back(slot);
        else if (failed)
          ++*failed;
      });
  if (!started && failed) ++*failed;
  net_.kick(slot);
}

// Under churn an application whose node has lost nearly every contact bootstraps it
// again (a libtorrent client falls back to its router nodes): the node cannot find
// anybody through dead contacts.
void Population::rejoin_sweep() {
  if (!churn_ || churn_stopped_) return;
  const Time now = net_.now();
  const std::size_t count = joined_.size();
  for (std::size_t i = 0; i < count; ++i) {
    const Slot slot = joined_[i];
    if (!alive(slot)) continue;
    const RoutingTable& table = node(slot).routing_table();
    std::size_t usable = 0;
    for (std::size_t b = 0; b < table.bucket_count() && usable < kRejoinBelow; ++b)
      for (const Contact& c : table.bucket(b))
        usable += table.state(c, now) != ContactState::bad;
    if (usable >= kRejoinBelow) continue;
    ++rejoins_;
    const net::Endpoint seeds[] = {net_.address(random_joined())};
    (void)node(slot).bootstrap(seeds, now, nullptr);
    net_.kick(slot);
  }
  net_.schedule(now + kRejoinPeriod, [this](Network&) { rejoin_sweep(); });
}

Result<std::size_t> Population::grow() {
  // The index is sorted once the population is there (inserting in order would move
  // O(N^2) bytes at 100,000 nodes).
  const Slot first = net_.add(factory());
  index_.emplace_back(node(first).id(), first);
  joined_.push_back(first);
  std::size_t done = 0, failed = 0;
  const std::size_t n = config_.nodes;
  for (std::size_t i = 1; i < n; ++i) {
    net_.schedule(net_.now() + i * config_.join_spacing, [this, &done, &failed](Network&) {
      const Slot slot = net_.add(factory());
      index_.emplace_back(node(slot).id(), slot);
      bootstrap(slot, &done, &failed);
    });
  }
  const bool ended =
      net_.run_until([&] { return done == n - 1; }, net_.now() + n * config_.join_spacing + 300s);
  std::sort(index_.begin(), index_.end());
  if (!ended)
    return Error(ErrorKind::timed_out, "sim population: " + std::to_string(n - 1 - done) + " of " +
                                           std::to_string(n - 1) + " bootstraps never ended");
  net_.run_for(20s);  // background refreshes settle
  return failed;
}

void Population::start_churn() {
  if (!config_.churn) return;
  churn_.emplace(net_, ChurnConfig{.mean_lifetime = *config_.churn, .seed = config_.seed * 13 + 5},
                 factory());
  churn_->on_replace = [this](Slot gone, Slot born) { replaced(gone, born); };
  churn_->add_all();
  churn_stopped_ = false;
  net_.schedule(net_.now() + kRejoinPeriod, [this](Network&) { rejoin_sweep(); });
}

void Population::stop_churn() {
  churn_stopped_ = true;
  if (churn_) churn_->stop();
}

void Population::replaced(Slot gone, Slot born) {
  index_remove(gone);
  index_add(born);
  // The requester's operations died with it (the node drops them without calling back).
  if (const auto it = in_flight_.find(gone); it != in_flight_.end()) {
    abandoned_ += it->second;
    in_flight_total_ -= it->second;
    in_flight_.erase(it);
  }
  bootstrap(born, nullptr, nullptr);
}

Slot Population::random_joined() {
  while (!joined_.empty()) {
    const std::size_t i = rng_.below(joined_.size());
    if (alive(joined_[i])) return joined_[i];
    joined_[i] = joined_.back();  // gone: forget it
    joined_.pop_back();
  }
  return index_.at(rng_.below(index_.size())).second;
}

std::size_t Population::joined() const {
  return static_cast<std::size_t>(
      std::count_if(joined_.begin(), joined_.end(), [this](Slot s) { return alive(s); }));
}

// The ids sharing the first p bits with the target form one range of the sorted index;
// the longest prefix whose range still holds k ids (besides `except`) contains the k
// closest, since every id outside it shares fewer bits and is farther.
std::vector<NodeId> Population::closest_live(const NodeId& target, std::size_t k,
                                             Slot except) const {
  using It = std::vector<std::pair<NodeId, Slot>>::const_iterator;
  auto range = [&](int prefix) {
    NodeId low = target, high = target;
    for (int b = prefix; b < kNodeIdBits; ++b) {
      low.set_bit(b, false);
      high.set_bit(b, true);
    }
    const It first = std::lower_bound(index_.begin(), index_.end(), std::pair{low, Slot{0}});
    const It last = std::upper_bound(index_.begin(), index_.end(), std::pair{high, kNoSlot});
    return std::pair{first, last};
  };
  auto count = [&](std::pair<It, It> r) {
    auto n = static_cast<std::size_t>(r.second - r.first);
    if (except != kNoSlot &&
        std::any_of(r.first, r.second, [&](const auto& e) { return e.second == except; }))
      --n;
    return n;
  };
  int lo = 0, hi = kNodeIdBits;  // count(range(lo)) >= k holds unless the index is small
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (count(range(mid)) >= k)
      lo = mid;
    else
      hi = mid - 1;
  }
  const auto r = range(lo);
  std::vector<NodeId> ids;
  for (It it = r.first; it != r.second; ++it)
    if (it->second != except) ids.push_back(it->first);
  const std::size_t n = std::min(k, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
                    [&](const NodeId& a, const NodeId& b) { return closer_to(target, a, b); });
  ids.resize(n);
  return ids;
}

void Population::pace_tick(const Pace& pace, const Start& start, std::uint64_t generation) {
  if (generation != generation_) return;  // an earlier pace() ended
  if (completed_ + in_flight_total_ < pace.count && in_flight_total_ < pace.max_in_flight) {
    const Slot from = random_joined();
    ++started_;
    ++in_flight_[from];
    ++in_flight_total_;
    // The node drops the callback when it dies: `done` runs only for a live requester.
    const bool ok = start(from, [this, from, generation] {
      if (generation != generation_) return;
      const auto it = in_flight_.find(from);
      if (it == in_flight_.end()) return;
      if (--it->second == 0) in_flight_.erase(it);
      --in_flight_total_;
      ++completed_;
    });
    if (!ok) {
      if (--in_flight_[from] == 0) in_flight_.erase(from);
      --in_flight_total_;
    }
    net_.kick(from);
  }
  const auto step =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1 / pace.rate));
  net_.schedule(
      net_.now() + std::max<Duration>(step, Duration(1)),
      [this, &pace, &start, generation](Network&) { pace_tick(pace, start, generation); });
}

Result<std::size_t> Population::pace(const Pace& pace, const Start& start) {
  if (pace.rate <= 0 || pace.max_in_flight == 0)
    return Error(ErrorKind::invalid_argument, "sim population: pace needs a rate and room");
  completed_ = started_ = abandoned_ = 0;
  in_flight_.clear();
  in_flight_total_ = 0;
  pace_tick(pace, start, ++generation_);
  const bool done =
      net_.run_until([&] { return completed_ >= pace.count; }, net_.now() + pace.limit);
  ++generation_;  // the tick already scheduled, and late callbacks, do nothing
  if (!done)
    return Error(ErrorKind::timed_out, "sim population: " + std::to_string(completed_) + " of " +
                                           std::to_string(pace.count) +
                                           " operations completed in the time allowed");
  return abandoned_;
}

}  // namespace nexo::overlay::sim
