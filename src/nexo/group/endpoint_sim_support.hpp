// Test support for the Endpoint's simulation tests: a group of SimEndpoints
// on a sim::Network, traffic, and the checks of virtual synchrony, FIFO order
// and exactly-once delivery over what the endpoints recorded.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "nexo/group/sim_endpoint.hpp"

namespace nexo::group::testing {

using namespace std::chrono_literals;

inline const Time kStart{std::chrono::seconds(1000)};

class SimGroup {
 public:
  using Tweak = std::function<void(EndpointConfig&)>;

  SimGroup(std::uint64_t seed, std::size_t n, const sim::LinkModel& link, Tweak tweak = {},
           bool traced = false)
      : net(seed, kStart), seed_(seed), tweak_(std::move(tweak)), traced_(traced) {
    net.set_link(link);
    for (std::size_t i = 0; i < n; ++i) add();
  }

  SimEndpoint& add() {
    EndpointConfig c;
    c.group = group_tag("sim");
    c.self = eps.size() + 1;
    c.seed = seed_ * 7919 + c.self;
    c.contact = to_bytes("m" + std::to_string(c.self));
    if (tweak_) tweak_(c);
    auto node = std::make_unique<SimEndpoint>(Endpoint::create(c, net.now()).value(),
                                              traced_ ? &trace : nullptr);
    eps.push_back(node.get());
    net.add(std::move(node));
    return *eps.back();
  }
  SimEndpoint& at(std::size_t i) { return *eps[i]; }
  std::size_t size() const { return eps.size(); }

  void join(std::size_t i) {
    eps[i]->join(net.now());
    net.kick(static_cast<sim::NodeId>(i));
    joined_at[i] = net.now();
  }
  void leave(std::size_t i) {
    eps[i]->leave(net.now());
    net.kick(static_cast<sim::NodeId>(i));
  }
  void crash(std::size_t i) {
    net.crash(static_cast<sim::NodeId>(i));
    crashed.insert(i);
    if (traced_) trace.crashed(net.now(), SimEndpoint::label(i + 1));
  }

  // Whether every member of `idx` is a member with exactly the members `idx`.
  bool in_one_view(const std::vector<std::size_t>& idx) const {
    std::set<MemberId> want;
    for (std::size_t i : idx) want.insert(i + 1);
    for (std::size_t i : idx) {
      const Endpoint& e = eps[i]->endpoint();
      if (e.state() != Endpoint::State::member) return false;
      const auto& m = e.view().members;
      if (std::set<MemberId>(m.begin(), m.end()) != want || m.size() != want.size()) return false;
    }
    return true;
  }
  static std::vector<std::size_t> range(std::size_t from, std::size_t to) {
    std::vector<std::size_t> v;
    for (std::size_t i = from; i < to; ++i) v.push_back(i);
    return v;
  }
  std::vector<std::size_t> alive() const {
    std::vector<std::size_t> v;
    for (std::size_t i = 0; i < eps.size(); ++i)
      if (!crashed.contains(i)) v.push_back(i);
    return v;
  }

  // Member 0 joins alone, then the others join: true once all are in one view.
  bool form(Duration limit = 20s) {
    join(0);
    net.run_for(eps[0]->endpoint().next_timer() ? 400ms : 0ms);
    for (std::size_t i = 1; i < eps.size(); ++i) join(i);
    return net.run_until([&] { return in_one_view(range(0, eps.size())); }, net.now() + limit);
  }

  // Every member in `senders` tries to send a message every `period` until
  // `until`; each message sent is recorded with its send time.
  void traffic(const std::vector<std::size_t>& senders, Duration period, Time until) {
    for (std::size_t i : senders) schedule_send(i, net.now() + period * (i % 7 + 1) / 7, period, until);
  }

  struct Sent {
    std::size_t sender;
    std::string payload;
    Time at;
  };
  std::vector<Sent> sent;
  std::map<std::size_t, Time> joined_at;
  std::set<std::size_t> crashed;
  sim::Network net;
  Trace trace;
  std::vector<SimEndpoint*> eps;

 private:
  void schedule_send(std::size_t i, Time at, Duration period, Time until) {
    if (at > until) return;
    net.schedule(at, [this, i, period, until](sim::Network& n) {
      if (crashed.contains(i)) return;
      SimEndpoint& e = *eps[i];
      if (e.endpoint().state() == Endpoint::State::member) {
        const std::string payload = "m" + std::to_string(i + 1) + "-" + std::to_string(counter_++);
        if (e.send(as_bytes(payload), n.now())) sent.push_back({i, payload, n.now()});
        n.kick(static_cast<sim::NodeId>(i));
      }
      schedule_send(i, n.now() + period, period, until);
    });
  }

  std::uint64_t seed_;
  Tweak tweak_;
  bool traced_;
  std::uint64_t counter_ = 0;
};

// Members that install view v and then the same next view delivered the same
// messages in v; every delivery is in the view installed last before it; each
// sender's messages in a view come 1, 2, 3, ... (FIFO, once).
inline void expect_virtual_synchrony(const SimGroup& g, const std::string& context) {
  // (view, next view) -> the messages delivered in view, from the first member seen.
  // Views are told apart by id and members: two sides of a partition may
  // each install a view of the same id.
  using Key = std::tuple<std::uint64_t, std::vector<MemberId>, std::uint64_t, std::vector<MemberId>>;
  std::map<Key, std::pair<std::size_t, std::set<std::pair<MemberId, std::uint64_t>>>> seen;
  for (std::size_t i = 0; i < g.eps.size(); ++i) {
    const SimEndpoint& e = *g.eps[i];
    const auto& views = e.views();
    std::map<std::uint64_t, std::set<std::pair<MemberId, std::uint64_t>>> by_view;
    std::map<std::pair<std::uint64_t, MemberId>, std::uint64_t> last_seq;
    std::uint64_t current = 0;
    std::size_t next_view = 0;
    // Walk the log: deliveries and views in the order polled.
    for (const std::string& line : e.log()) {
      if (line.rfind("view ", 0) == 0) {
        current = std::stoull(line.substr(5));
        ++next_view;
        continue;
      }
      if (line[0] != 'm') continue;
      const auto colon = line.find(':'), at = line.find('@');
      const MemberId sender = std::stoull(line.substr(1, colon - 1));
      const std::uint64_t seq = std::stoull(line.substr(colon + 1, at - colon - 1));
      const std::uint64_t view = std::stoull(line.substr(at + 1));
      EXPECT_EQ(view, current) << context << ": m" << i + 1 << " delivered " << line
                               << " while in view " << current;
      std::uint64_t& last = last_seq[{view, sender}];
      EXPECT_EQ(seq, last + 1) << context << ": m" << i + 1 << " delivered " << line
                               << " after seq " << last;
      last = seq;
      by_view[view].insert({sender, seq});
    }
    (void)next_view;
    for (std::size_t k = 0; k + 1 < views.size(); ++k) {
      const Key key{views[k].view.id, views[k].view.members, views[k + 1].view.id,
                    views[k + 1].view.members};
      const auto& mine = by_view[views[k].view.id];
      auto [it, fresh] = seen.emplace(key, std::make_pair(i, mine));
      if (!fresh) {
        EXPECT_TRUE(it->second.second == mine)
            << context << ": m" << i + 1 << " and m" << it->second.first + 1
            << " moved together from view " << std::get<0>(key) << " to " << std::get<2>(key)
            << " but delivered " << mine.size() << " and " << it->second.second.size()
            << " messages in it";
      }
    }
  }
}

// Every message sent is delivered exactly once by every member alive at the
// end that had joined (installed its first view) before it was sent.
inline void expect_all_delivered_once(const SimGroup& g, const std::string& context) {
  for (std::size_t r = 0; r < g.eps.size(); ++r) {
    if (g.crashed.contains(r) || g.eps[r]->endpoint().state() != Endpoint::State::member) continue;
    if (g.eps[r]->views().empty()) continue;
    const Time joined = g.eps[r]->views().front().at;
    std::map<std::string, int> count;
    for (const auto& d : g.eps[r]->delivered()) ++count[std::string(as_text(d.payload))];
    std::size_t missing = 0, twice = 0;
    std::string example;
    for (const auto& s : g.sent) {
      if (s.at < joined || g.crashed.contains(s.sender)) continue;
      const int c = count[s.payload];
      if (c == 0) {
        ++missing;
        if (example.empty()) example = s.payload;
      }
      if (c > 1) ++twice;
    }
    EXPECT_EQ(missing, 0u) << context << ": m" << r + 1 << " lacks messages, e.g. " << example;
    EXPECT_EQ(twice, 0u) << context << ": m" << r + 1 << " delivered messages twice";
  }
}

}  // namespace nexo::group::testing
