#include "nexo/overlay/super_peer_sim.hpp"

#include <algorithm>
#include <utility>

namespace nexo::overlay::sim {
namespace {

using namespace std::chrono_literals;

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size()));
  return values[std::min(values.size() - 1, at)];
}

SuperPeerConfig SuperPeerRunConfig::defaults() {
  SuperPeerConfig c;
  c.min_uptime = 60s;
  c.max_attached = 32;
  c.peers_per_super = 16;
  c.demand_check = 2min;
  c.demand_jitter = 20s;
  c.republish = 2min;
  return c;
}

std::string SuperPeerRun::name_for(Slot slot) {
  return "user-" + std::to_string(slot);
}

SigningKey SuperPeerRun::key_for(Slot slot) {
  KeySeed seed{};
  seed[0] = static_cast<std::uint8_t>(slot);
  seed[1] = static_cast<std::uint8_t>(slot >> 8);
  seed[2] = static_cast<std::uint8_t>(slot >> 16);
  seed[31] = 0xa5;
  return SigningKey::from_seed(seed);
}

SuperPeerRun::SuperPeerRun(SuperPeerRunConfig config)
    : config_(std::move(config)), net_({.seed = config_.seed}), random_(config_.seed * 31 + 7) {}

Slot SuperPeerRun::add(bool behind_nat) {
  const auto slot = static_cast<Slot>(net_.slots());
  SuperPeerConfig c = config_.tier;
  c.bootstrap = slot == 0;
  std::vector<net::Endpoint> entries;
  if (slot != 0) entries.push_back(address_of(0));
  const Slot added = net_.add([&](const net::Endpoint& self) {
    NodeConfig n;
    n.seed = config_.seed * 100'003 + slot;
    n.query_timeout = 3s;
    return std::make_unique<Peer>(self, net_.now(), name_for(slot), key_for(slot), entries, c, n);
  });
  if (behind_nat) net_.set_behind_nat(added, true);
  joined_.push_back(net_.now());
  keys_.push_back(peer(added).public_key());
  return added;
}

void SuperPeerRun::grow() {
  if (config_.peers == 0) return;
  add(false);
  for (std::size_t i = 1; i < config_.peers; ++i) {
    const bool nat = random_.chance(config_.behind_nat);
    net_.schedule(net_.now() + static_cast<std::int64_t>(i) * config_.join_every,
                  [this, nat](Network&) { add(nat); });
  }
  net_.run_for(static_cast<std::int64_t>(config_.peers) * config_.join_every);
}

std::vector<Slot> SuperPeerRun::live() const {
  std::vector<Slot> out;
  for (Slot s = 0; s < net_.slots(); ++s)
    if (alive(s)) out.push_back(s);
  return out;
}

std::vector<Slot> SuperPeerRun::live_with_role(PeerRole role) const {
  std::vector<Slot> out;
  for (Slot s : live())
    if (peer(s).role() == role) out.push_back(s);
  return out;
}

bool SuperPeerRun::attached_well(Slot s) const {
  const Peer& p = peer(s);
  if (p.role() != PeerRole::ordinary || !p.super_peer()) return false;
  const auto sp = net_.find(*p.super_peer());
  return sp && alive(*sp) && peer(*sp).role() == PeerRole::super &&
         peer(*sp).is_attached(net_.address(s));
}

TierFigures SuperPeerRun::tier() const {
  TierFigures f;
  for (Slot s : live()) {
    const Peer& p = peer(s);
    const bool nat = net_.behind_nat(s);
    ++f.live;
    f.behind_nat += nat;
    if (p.role() == PeerRole::super) {
      ++f.super_peers;
      f.natted_supers += nat;
      continue;
    }
    ++f.ordinary;
    f.reachable_ordinary += !nat;
    if (attached_well(s)) ++f.attached_well;
    if (p.attached_at()) f.attach_seconds.push_back(seconds(*p.attached_at() - joined(s)));
  }
  return f;
}

std::pair<double, double> SuperPeerRun::ordinary_traffic_per_minute(Duration window) {
  const auto ordinary = live_with_role(PeerRole::ordinary);
  if (ordinary.empty() || window <= Duration::zero()) return {0, 0};
  auto totals = [&] {
    std::uint64_t datagrams = 0, keepalives = 0;
    for (Slot s : ordinary) {
      datagrams += net_.counters(s).sent + net_.counters(s).received;
      keepalives += peer(s).counters().keepalives;
    }
    return std::pair(datagrams, keepalives);
  };
  const auto before = totals();
  net_.run_for(window);
  const auto after = totals();
  const double peer_minutes = static_cast<double>(ordinary.size()) * seconds(window) / 60.0;
  return {static_cast<double>(after.first - before.first) / peer_minutes,
          2.0 * static_cast<double>(after.second - before.second) / peer_minutes};
}

Reached SuperPeerRun::message_each(const std::vector<Slot>& callees) {
  Reached r;
  std::map<Slot, Result<DeliveryReport>> out;
  const auto senders = live();
  std::size_t started = 0;
  if (senders.size() < 2) {
    for (Slot to : callees)
      r.failures[to] = "no other live peer to send from";
    r.sent = callees.size();
    return r;
  }
  for (std::size_t i = 0; i < callees.size(); ++i) {
    const Slot to = callees[i];
    net_.schedule(net_.now() + static_cast<std::int64_t>(i) * 20ms, [&, to](Network& net) {
      Slot from = to;
      while (from == to)
        from = senders[random_.below(senders.size())];
      auto sent = peer(from).send_message(
          name_for(to), key(to), "hello " + name_for(to), net.now(),
          [&out, to](Result<DeliveryReport> d) { out.insert_or_assign(to, std::move(d)); });
      if (!sent)
        out.insert_or_assign(to, sent.error());
      else
        net.kick(from);
      ++started;
    });
  }
  net_.run_until([&] { return started == callees.size() && out.size() == callees.size(); },
                 net_.now() + static_cast<std::int64_t>(callees.size()) * 20ms + 120s);
  r.sent = callees.size();
  for (Slot to : callees) {
    const auto it = out.find(to);
    if (it == out.end()) {
      r.failures[to] = "no outcome within 120 s";
      continue;
    }
    if (!it->second) {
      r.failures[to] = it->second.error().to_string();
      continue;
    }
    ++r.delivered;
    r.relayed += it->second->relayed;
    r.relayed_iff_nat += it->second->relayed == net_.behind_nat(to);
    r.seconds.push_back(seconds(it->second->elapsed));
  }
  return r;
}

Crash SuperPeerRun::crash_most_loaded(std::size_t k) {
  Crash c;
  auto supers = live_with_role(PeerRole::super);
  std::sort(supers.begin(), supers.end(),
            [&](Slot a, Slot b) { return peer(a).attached() > peer(b).attached(); });
  supers.resize(std::min(supers.size(), k));
  std::set<net::Endpoint> dead;
  for (Slot s : supers) {
    dead.insert(net_.address(s));
    c.attached += peer(s).attached();
  }
  for (Slot s : live_with_role(PeerRole::ordinary))
    if (peer(s).super_peer() && dead.count(*peer(s).super_peer())) c.orphans.push_back(s);
  c.at = net_.now();
  for (Slot s : supers)
    net_.crash(s);
  c.crashed = std::move(supers);
  return c;
}

Result<DirectoryEntry> SuperPeerRun::resolve_from_a_super_peer(Slot slot) {
  const auto supers = live_with_role(PeerRole::super);
  if (supers.empty())
    return Error(ErrorKind::unreachable, "super-peer sim: no live super peer to ask");
  const Slot asker = supers[random_.below(supers.size())];
  std::optional<Result<DirectoryEntry>> entry;
  auto asked = peer(asker).resolve(name_for(slot), key(slot), net_.now(),
                                   [&](Result<DirectoryEntry> e) { entry.emplace(std::move(e)); });
  if (!asked) return std::move(asked).error();
  net_.kick(asker);
  net_.run_until([&] { return entry.has_value(); }, net_.now() + 60s);
  if (!entry)
    return Error(ErrorKind::timed_out,
                 "super-peer sim: resolving " + name_for(slot) + ": no answer within 60 s");
  return std::move(*entry);
}

}  // namespace nexo::overlay::sim
