// Peer: promotion and demotion by demand. A peer that may serve (reachable, up
// min_uptime) asks the super peers it knows best (its own and its standbys) for their
// load, and is promoted only when they are loaded on average, or too few of them
// answered; a super peer idle for long asks others, and returns to ordinary when they
// are many and lightly loaded (super_peer.hpp).
#include <algorithm>
#include <numeric>
#include <utility>

#include "nexo/overlay/super_peer.hpp"
#include "nexo/overlay/super_peer_wire.hpp"

namespace nexo::overlay {

using namespace superpeer;

namespace {
constexpr std::size_t kLoadSample = 8;  // super peers asked for their load
}  // namespace

Duration Peer::jitter(Duration spread) {
  if (spread <= Duration::zero()) return Duration::zero();
  return std::chrono::duration_cast<Duration>(spread * random_.uniform());
}

// A probe found us reachable: the demand is asked after min_uptime, plus a random share
// of demand_jitter.
void Peer::schedule_eligibility(Time now) {
  if (role_ != PeerRole::ordinary || !config_.may_serve || reachable_ != true) return;
  if (eligible_at_ != Time::max() || asking_loads_) return;  // asked, or asking already
  eligible_at_ = std::max(now, created_ + config_.min_uptime) + jitter(config_.demand_jitter);
}

// The sample: our super peer (its load, and up to 8 super peers it names at random from
// its routing table), then those.
void Peer::check_eligibility(Time now) {
  eligible_at_ = Time::max();
  if (role_ != PeerRole::ordinary || !config_.may_serve || reachable_ != true) return;
  if (now < created_ + config_.min_uptime) return schedule_eligibility(now);
  const auto asked =
      super_ ? super_
             : (standbys_.empty() ? std::nullopt : std::optional<net::Endpoint>(standbys_.front()));
  const Time later = now + config_.demand_check + jitter(config_.demand_jitter);
  if (!asked) {
    eligible_at_ = later;  // not attached: ask once we are
    return;
  }
  const std::uint64_t round = ++load_round_;
  asking_loads_ = true;
  auto started = node_.extension_query(
      *asked, std::string(kSupers), {}, now,
      [this, round, later](Result<ExtensionReply> reply, const OpStats&) {
        if (round != load_round_) return;
        asking_loads_ = false;
        const krpc::Response* r = response_of(reply);
        if (!r) {
          eligible_at_ = later;
          return;
        }
        std::vector<net::Endpoint> sample;
        if (const auto* named = r->extra.find("s"); named && named->is_string())
          if (auto nodes = decode_compact_nodes(named->string(), net::Family::v4))
            for (const NodeInfo& n : *nodes)
              if (n.endpoint != self_) sample.push_back(n.endpoint);
        const std::optional<double> own = load_of(*r);
        ask_loads(sample, last_now_, [this, own](std::vector<double> loads, Time at) {
          if (own) loads.push_back(*own);
          demand_decided(std::move(loads), at);
        });
      });
  if (!started) {
    asking_loads_ = false;
    eligible_at_ = later;
  }
}

// One round at a time: a new one (or a role change) makes the old one's answers stale.
void Peer::ask_loads(const std::vector<net::Endpoint>& targets, Time now,
                     std::function<void(std::vector<double> loads, Time now)> decide) {
  ++counters_.demand_checks;
  const std::uint64_t round = ++load_round_;
  asking_loads_ = true;
  loads_.clear();
  loads_decide_ = std::move(decide);
  loads_waiting_ = targets.size() + 1;  // one more, released below: none ends it early
  for (const net::Endpoint& to : targets) {
    auto started =
        node_.extension_query(to, std::string(kSupers), {}, now,
                              [this, round](Result<ExtensionReply> reply, const OpStats&) {
                                if (round != load_round_) return;
                                if (const krpc::Response* r = response_of(reply))
                                  if (auto load = load_of(*r)) loads_.push_back(*load);
                                load_answered(last_now_);
                              });
    if (!started) load_answered(now);
  }
  load_answered(now);
}

std::optional<double> Peer::load_of(const krpc::Response& response) const {
  const auto* l = response.extra.find("l");
  const auto* m = response.extra.find("m");
  if (!l || !l->is_integer() || !m || !m->is_integer() || l->integer() < 0 || m->integer() <= 0)
    return std::nullopt;
  const double share =
      std::min<double>(std::max(1u, config_.peers_per_super), static_cast<double>(m->integer()));
  return static_cast<double>(l->integer()) / share;
}

void Peer::load_answered(Time now) {
  if (--loads_waiting_ != 0) return;
  asking_loads_ = false;
  auto decide = std::exchange(loads_decide_, nullptr);
  auto loads = std::exchange(loads_, {});
  decide(std::move(loads), now);  // may start the next round
}

// Promoted when fewer than min_supers answered, or every one that answered holds at
// least its share (load 1: peers_per_super, or max_attached if less); else asked again
// after demand_check. The least loaded, not the mean: routing tables keep their oldest
// contacts, so the sample leans to the first super peers, the most loaded ones, and a
// mean over it would promote long after newer super peers had room.
void Peer::demand_decided(std::vector<double> loads, Time now) {
  if (role_ != PeerRole::ordinary || reachable_ != true || !config_.may_serve) return;
  const bool room = std::any_of(loads.begin(), loads.end(), [](double l) { return l < 1.0; });
  if (loads.size() < config_.min_supers || !room) return promote(now);
  ++counters_.promotions_declined;
  eligible_at_ = now + config_.demand_check + jitter(config_.demand_jitter);
}

// --- Demotion.

void Peer::check_surplus(Time now) {
  demote_check_ = Time::max();
  if (role_ != PeerRole::super || config_.bootstrap || !attached_.empty() || asking_loads_ ||
      leaving_tier_)
    return;
  std::vector<net::Endpoint> asked;
  if (auto others = decode_compact_nodes(other_supers(self_, kLoadSample, now), net::Family::v4))
    for (const NodeInfo& n : *others)
      asked.push_back(n.endpoint);
  ask_loads(asked, now,
            [this](std::vector<double> loads, Time at) { surplus_decided(std::move(loads), at); });
}

void Peer::surplus_decided(std::vector<double> loads, Time now) {
  if (role_ != PeerRole::super || !attached_.empty()) return;  // needed again meanwhile
  const double mean =
      loads.empty() ? 0 : std::accumulate(loads.begin(), loads.end(), 0.0) / loads.size();
  if (loads.size() >= config_.min_supers && mean < config_.demote_load) return demote(now);
  demote_check_ = now + config_.idle_demote + jitter(config_.demand_jitter);
}

// Back to ordinary, once what we store for others is handed over: read-only, attached to
// another super peer (our entry follows it).
void Peer::demote(Time now) {
  ++counters_.demotions;
  leave_tier(now, [this](Time at) { finish_demote(at); });
}

void Peer::finish_demote(Time now) {
  leaving_tier_ = false;
  role_ = PeerRole::ordinary;
  node_.set_read_only(true);
  attached_.clear();
  relay_sources_.clear();
  next_sweep_ = demote_check_ = Time::max();
  public_address_ = self_;
  missed_ = 0;
  eligible_at_ = now + config_.demand_check + jitter(config_.demand_jitter);
  start_attach(now);
}

// --- Leaving the tier (demotion, close).

namespace {
constexpr std::size_t kHandOversInFlight = 8;
}  // namespace

// Our attached peers are told to move (nexo_detach naming other super peers), and every
// mutable item we store goes to the k closest other nodes (Node::hand_over), a few at a
// time; then `then`. We serve the DHT meanwhile, but take no new peer.
void Peer::leave_tier(Time now, std::function<void(Time)> then) {
  leaving_tier_ = true;
  demote_check_ = next_sweep_ = Time::max();
  for (const Attached& a : attached_) {
    bencode::Dict args{{"s", other_supers(a.endpoint, 4, now)}};
    if (node_.extension_query(a.endpoint, std::string(kDetach), std::move(args), now, nullptr))
      ++counters_.peers_moved;
  }
  attached_.clear();
  hand_over_queue_.clear();
  const ItemStore& store = node_.item_store();
  for (std::size_t i = 0; i < store.item_count(); ++i) {
    const StoredItem& item = store.item(i);
    if (item.expires - now >= kMinTtl) hand_over_queue_.push_back(item);
  }
  after_hand_over_ = std::move(then);
  hand_over_next(now);
}

void Peer::hand_over_next(Time now) {
  while (handing_over_ < kHandOversInFlight && !hand_over_queue_.empty()) {
    const StoredItem item = std::move(hand_over_queue_.back());
    hand_over_queue_.pop_back();
    auto started = node_.hand_over(item, now, [this](Result<WriteResult> r, const OpStats&) {
      --handing_over_;
      ++(r && r->stored > 0 ? counters_.handed_over : counters_.hand_over_failed);
      hand_over_next(last_now_);
    });
    if (started)
      ++handing_over_;
    else
      ++counters_.hand_over_failed;
  }
  if (handing_over_ == 0 && hand_over_queue_.empty() && after_hand_over_)
    std::exchange(after_hand_over_, nullptr)(now);
}

void Peer::close(Time now, std::function<void()> done) {
  last_now_ = std::max(last_now_, now);
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(done);
  next_keepalive_ = keepalive_deadline_ = next_attach_ = next_standby_check_ = Time::max();
  probe_deadline_ = next_probe_ = eligible_at_ = next_publish_ = Time::max();
  ++load_round_;  // answers to a round still out are stale
  asking_loads_ = false;
  auto closed = [this](Time at) {
    leaving_tier_ = false;
    role_ = PeerRole::ordinary;
    node_.set_read_only(true);
    close_due_ = at;
  };
  if (role_ == PeerRole::super) return leave_tier(now, closed);
  if (super_) send_detach(*super_, now);
  super_.reset();
  leaving_.reset();
  closed(now);
}

}  // namespace nexo::overlay
