// The Endpoint by hand, with a fake clock and a hand-run wire (every packet
// delivered at once, unless a test's filter drops it): the precise cases of
// the membership protocol (a probe answered, a FLUSH lost, a coordinator
// crashing mid-flush, stale and forged packets), state transfer, and the
// create() contract.
#include "nexo/group/endpoint.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "nexo/group/order.hpp"

namespace nexo::group {
namespace {

using namespace std::chrono_literals;

const Time kStart{std::chrono::seconds(50)};
constexpr std::uint64_t kGroup = group_tag("unit");

// Endpoints 1..n on a wire without delay. `drop` sees every packet (its
// decoded header and where it goes) and may drop it.
struct Wire {
  struct Copy {
    Bytes bytes;
    MemberId from, to;
  };
  Time now = kStart;
  std::vector<Endpoint> eps;
  std::set<MemberId> crashed;
  std::function<bool(const Packet&, MemberId to)> drop;
  std::vector<std::vector<Event>> events;
  std::function<void(const Packet&)> observe;

  explicit Wire(std::size_t n, std::function<void(EndpointConfig&)> tweak = {}) {
    for (std::size_t i = 0; i < n; ++i) {
      EndpointConfig c;
      c.group = kGroup;
      c.self = i + 1;
      c.seed = 7 + i;
      c.contact = to_bytes("c" + std::to_string(i + 1));
      if (tweak) tweak(c);
      eps.push_back(Endpoint::create(c, now).value());
    }
    events.resize(n);
  }
  Endpoint& at(MemberId id) { return eps[id - 1]; }

  // Delivers everything sent, until nothing more is.
  void settle() {
    for (bool more = true; more;) {
      more = false;
      for (std::size_t i = 0; i < eps.size(); ++i) {
        const MemberId from = i + 1;
        Bytes out;
        Destination to;
        while (!crashed.contains(from) && eps[i].poll_transmit(out, to)) {
          more = true;
          for (std::size_t j = 0; j < eps.size(); ++j) {
            const MemberId dest = j + 1;
            if (crashed.contains(dest)) continue;
            if (to.group ? dest == from : dest != to.member) continue;
            Packet p;
            if (decode(out, p) == ParseError::none) {
              if (observe) observe(p);
              if (drop && drop(p, dest)) continue;
            }
            eps[j].on_packet(out, now);
          }
        }
      }
    }
    for (std::size_t i = 0; i < eps.size(); ++i)
      while (auto e = eps[i].poll_event())
        events[i].push_back(std::move(*e));
  }
  // Advances the clock by `d`, 1 ms at a time, running due timers.
  void run(Duration d) {
    const Time end = now + d;
    while (now < end) {
      now += 1ms;
      for (std::size_t i = 0; i < eps.size(); ++i) {
        if (crashed.contains(i + 1)) continue;
        const auto t = eps[i].next_timer();
        if (t && *t <= now) eps[i].on_timer(now);
      }
      settle();
    }
  }
  bool run_until(const std::function<bool()>& done, Duration limit) {
    const Time end = now + limit;
    while (now < end) {
      if (done()) return true;
      run(1ms);
    }
    return done();
  }
  std::set<MemberId> members(MemberId id) {
    const auto& m = at(id).view().members;
    return {m.begin(), m.end()};
  }
  // Forms one view of all: 1 alone, then the others join.
  void form() {
    at(1).join(now);
    run(400ms);
    for (std::size_t i = 1; i < eps.size(); ++i)
      eps[i].join(now);
    std::set<MemberId> all;
    for (std::size_t i = 0; i < eps.size(); ++i)
      all.insert(i + 1);
    ASSERT_TRUE(run_until(
        [&] {
          for (std::size_t i = 0; i < eps.size(); ++i)
            if (members(i + 1) != all) return false;
          return true;
        },
        5s));
  }
};

TEST(GroupEndpoint, CreateRefusesBadConfigs) {
  EndpointConfig c;
  c.group = kGroup;
  EXPECT_EQ(Endpoint::create(c, kStart).error().kind(), ErrorKind::invalid_argument);  // self 0
  c.self = 3;
  c.contact = Bytes(kMaxContact + 1);
  EXPECT_EQ(Endpoint::create(c, kStart).error().kind(), ErrorKind::invalid_argument);
  c.contact = Bytes(kMaxContact);
  c.reliability.window = 0;
  EXPECT_EQ(Endpoint::create(c, kStart).error().kind(), ErrorKind::invalid_argument);
  c.reliability.window = 16;
  EXPECT_TRUE(Endpoint::create(c, kStart));
  // An order this build does not have is named.
  for (Order order : {Order::causal, Order::total, Order::agreed}) {
    c.order = order;
    const bool built = make_orderer(order, 3, 1, {3}) != nullptr;
    auto made = Endpoint::create(c, kStart);
    EXPECT_EQ(bool(made), built) << to_string(order);
    if (!made) {
      EXPECT_NE(made.error().message().find(std::string(to_string(order))), std::string::npos);
    }
  }
}

TEST(GroupEndpoint, AloneAfterDiscoveryTimeThenSendsToItself) {
  Wire w(1);
  w.at(1).join(w.now);
  EXPECT_EQ(w.at(1).state(), Endpoint::State::joining);
  EXPECT_EQ(w.at(1).send(to_bytes("early"), w.now).error().kind(), ErrorKind::not_connected);
  w.run(299ms);
  EXPECT_EQ(w.at(1).state(), Endpoint::State::joining);
  w.run(2ms);
  ASSERT_EQ(w.at(1).state(), Endpoint::State::member);
  ASSERT_EQ(w.events[0].size(), 1u);
  EXPECT_EQ(std::get<ViewChange>(w.events[0][0]).view.members, std::vector<MemberId>{1});
  ASSERT_TRUE(w.at(1).send(to_bytes("hi"), w.now));
  w.settle();
  ASSERT_EQ(w.events[0].size(), 2u);
  EXPECT_EQ(as_text(std::get<Delivery>(w.events[0][1]).payload), "hi");
}

TEST(GroupEndpoint, AnsweredProbeKeepsAMemberIn) {
  Wire w(3);
  w.form();
  // Member 3 sends nothing but its answers to probes.
  w.drop = [](const Packet& p, MemberId) {
    return p.header.sender == 3 && p.header.type != Type::probe_ack;
  };
  w.run(3s);
  EXPECT_EQ(w.members(1), (std::set<MemberId>{1, 2, 3}));
  EXPECT_GT(w.at(1).counters().probes_sent, 0u);
  EXPECT_EQ(w.at(1).counters().crashes_detected, 0u);
}

TEST(GroupEndpoint, UnansweredProbeRemovesAMemberWithinTheDetectionTime) {
  Wire w(3);
  w.form();
  const Time silent_from = w.now;
  w.drop = [](const Packet& p, MemberId) { return p.header.sender == 3; };
  ASSERT_TRUE(w.run_until(
      [&] {
        return w.members(1) == std::set<MemberId>{1, 2} && w.members(2) == std::set<MemberId>{1, 2};
      },
      2s));
  EXPECT_LE(w.now - silent_from, Duration(1s));
  EXPECT_EQ(w.at(1).counters().crashes_detected, 1u);
  EXPECT_GE(w.at(1).counters().probes_sent, 3u);
}

TEST(GroupEndpoint, LostFlushIsResent) {
  Wire w(3);
  w.form();
  int flushes_seen = 0, dropped = 0;
  w.observe = [&](const Packet& p) { flushes_seen += p.header.type == Type::flush; };
  w.drop = [&](const Packet& p, MemberId) {
    return p.header.type == Type::flush && dropped++ < 4;  // the first FLUSH, to both, twice
  };
  w.at(3).leave(w.now);
  ASSERT_TRUE(w.run_until(
      [&] {
        return w.members(1) == std::set<MemberId>{1, 2} && w.members(2) == std::set<MemberId>{1, 2};
      },
      1s));
  EXPECT_EQ(w.at(3).state(), Endpoint::State::left);
  EXPECT_GT(flushes_seen, 4);
}

TEST(GroupEndpoint, ParticipantThatNeverAnswersTheFlushIsRemovedAfterADetectionTime) {
  Wire w(3);
  w.form();
  // Member 3 is alive (heartbeats, probe answers) but its FLUSH_OKs are lost.
  w.drop = [](const Packet& p, MemberId) {
    return p.header.sender == 3 && p.header.type == Type::flush_ok;
  };
  const Time leave_at = w.now;
  w.at(2).leave(w.now);
  ASSERT_TRUE(w.run_until([&] { return w.members(1) == std::set<MemberId>{1}; }, 3s));
  EXPECT_LE(w.now - leave_at, Duration(1100ms));
  EXPECT_EQ(w.at(1).counters().crashes_detected, 1u);
  EXPECT_EQ(w.at(2).state(), Endpoint::State::left);
}

TEST(GroupEndpoint, CoordinatorCrashMidFlushIsReplaced) {
  Wire w(4);
  w.form();
  const MemberId coordinator = w.at(1).view().members[0];
  ASSERT_EQ(coordinator, 1u);
  // The coordinator crashes right after its FLUSH went out.
  w.observe = [&](const Packet& p) {
    if (p.header.type == Type::flush && p.header.sender == 1) w.crashed.insert(1);
  };
  w.at(4).leave(w.now);
  const MemberId next = w.at(2).view().members[1];
  ASSERT_TRUE(w.run_until(
      [&] {
        return w.members(2) == std::set<MemberId>{2, 3} && w.members(3) == std::set<MemberId>{2, 3};
      },
      3s));
  EXPECT_EQ(w.at(2).view().members[0], next);
  EXPECT_EQ(w.at(4).state(), Endpoint::State::left);
}

// A message that arrived after FLUSH_OK and lay beyond the first flush's cut
// is kept: the replacing coordinator's flush, whose participants delivered
// more (members the first coordinator had suspected), raises the cut to it.
TEST(GroupEndpoint, MessageBeyondAnAbandonedCutIsDeliveredWhenTheNextCutRaisesIt) {
  Wire w(4);
  w.form();
  ASSERT_EQ(w.at(1).view().members, (std::vector<MemberId>{1, 2, 3, 4}));
  // 1 hears nothing from 3 and 4 (it will suspect both); 2 gets 4's message
  // only when the test hands it over, after 2's FLUSH_OK.
  bool hold = true, flush_ok_from_2 = false;
  w.observe = [&](const Packet& p) {
    flush_ok_from_2 = flush_ok_from_2 || (p.header.type == Type::flush_ok && p.header.sender == 2);
  };
  w.drop = [&](const Packet& p, MemberId to) {
    const MemberId from = p.header.sender;
    if (to == 1 && (from == 3 || from == 4)) return true;
    if (p.header.type == Type::view && from == 1) {  // 1 crashes as it sends its view
      w.crashed.insert(1);
      return true;
    }
    return hold && from == 4 && to == 2 &&
           (p.header.type == Type::data || p.header.type == Type::heartbeat);
  };
  ASSERT_TRUE(w.at(4).send(to_bytes("a"), w.now));
  Bytes saved;
  Destination dest;
  ASSERT_TRUE(w.at(4).poll_transmit(saved, dest));
  w.at(3).on_packet(saved, w.now);  // 1 and 2 do not get it
  ASSERT_TRUE(w.run_until([&] { return flush_ok_from_2; }, 2s));
  hold = false;
  w.at(2).on_packet(saved, w.now);  // after its FLUSH_OK: beyond the first cut
  w.settle();
  ASSERT_TRUE(w.run_until(
      [&] {
        for (MemberId m : {2u, 3u, 4u})
          if (w.members(m) != std::set<MemberId>{2, 3, 4}) return false;
        return true;
      },
      3s))
      << "the flush after the coordinator's crash never completed";
  // 2, 3 and 4 moved together: each delivered "a" in the old view.
  for (MemberId m : {2u, 3u, 4u}) {
    int found = 0;
    for (const Event& e : w.events[m - 1])
      if (const auto* d = std::get_if<Delivery>(&e);
          d && d->sender == 4 && as_text(d->payload) == "a")
        ++found;
    EXPECT_EQ(found, 1) << "m" << m;
  }
}

TEST(GroupEndpoint, StaleAndForgedMembershipPacketsAreDroppedAndCounted) {
  Wire w(3);
  w.form();
  // A VIEW of an older view id, captured by re-encoding one.
  const View v = w.at(1).view();
  // Of view `view` as this view's coordinator would have made it.
  auto header = [&](Type t, MemberId sender, std::uint64_t view) {
    return Header{t, kGroup, sender, ViewId{view, v.members.front()}};
  };
  const std::vector<RosterMember> roster = {{1, {}}, {2, {}}};
  const std::vector<RosterMember> twice = {{2, {}}, {2, {}}};
  std::vector<std::pair<std::string, Bytes>> bad;
  auto add = [&](std::string name, const std::function<Result<void>(Bytes&)>& make) {
    Bytes b;
    ASSERT_TRUE(make(b)) << name;
    bad.emplace_back(std::move(name), std::move(b));
  };
  add("stale VIEW", [&](Bytes& b) {
    return encode_roster(b, header(Type::view, 1, v.id - 1), v.id - 1, roster);
  });
  add("VIEW with a member twice",
      [&](Bytes& b) { return encode_roster(b, header(Type::view, 1, v.id), v.id + 1, twice); });
  add("VIEW not after a flush",
      [&](Bytes& b) { return encode_roster(b, header(Type::view, 1, v.id), v.id + 1, roster); });
  add("FLUSH from a stranger",
      [&](Bytes& b) { return encode_flush(b, header(Type::flush, 99, v.id), v.id + 1, 0); });
  add("FLUSH of another view",
      [&](Bytes& b) { return encode_flush(b, header(Type::flush, 1, v.id + 5), v.id + 9, 0); });
  add("FLUSH of a view of the same id by another coordinator", [&](Bytes& b) {
    return encode_flush(b, Header{Type::flush, kGroup, 1, ViewId{v.id, 99}}, v.id + 1, 0);
  });
  add("PROBE of a view of the same id by another coordinator", [&](Bytes& b) {
    return encode_probe(b, Header{Type::probe, kGroup, 3, ViewId{v.id, 3}}, 1);
  });
  add("FLUSH_OK nobody asked for",
      [&](Bytes& b) { return encode_flush_ok(b, header(Type::flush_ok, 3, v.id), 77, {}); });
  add("CUT without a flush",
      [&](Bytes& b) { return encode_cut(b, header(Type::cut, 1, v.id), 77, {}); });
  add("FLUSH_DONE without a flush",
      [&](Bytes& b) { return encode_view_number(b, header(Type::flush_done, 3, v.id), 77); });
  add("VIEW_ACK from a stranger",
      [&](Bytes& b) { return encode_view_number(b, header(Type::view_ack, 99, v.id), 77); });
  add("PROBE from a stranger",
      [&](Bytes& b) { return encode_probe(b, header(Type::probe, 99, v.id), 1); });
  add("PROBE of an old view",
      [&](Bytes& b) { return encode_probe(b, header(Type::probe, 3, v.id - 1), 1); });
  add("PROBE_ACK from a stranger",
      [&](Bytes& b) { return encode_probe(b, header(Type::probe_ack, 99, v.id), 1); });
  add("LEAVE from a stranger",
      [&](Bytes& b) { return encode_leave(b, header(Type::leave, 99, v.id)); });
  add("MERGE with a member twice",
      [&](Bytes& b) { return encode_roster(b, header(Type::merge, 99, 3), 9, twice); });
  add("STATE nobody waits for", [&](Bytes& b) {
    return encode_state(b, header(Type::state, 1, v.id), v.id, 3, 0, to_bytes("abc"));
  });
  add("another group's FLUSH", [&](Bytes& b) {
    return encode_flush(b, Header{Type::flush, kGroup + 1, 2, v.identity()}, v.id + 1, 0);
  });
  Endpoint& target = w.at(2);  // member 1 coordinates
  // The cause each is counted under.
  const std::map<std::string, char> cause = {{"stale VIEW", 't'},
                                             {"VIEW with a member twice", 'i'},
                                             {"VIEW not after a flush", 't'},
                                             {"FLUSH from a stranger", 's'},
                                             {"FLUSH of another view", 't'},
                                             {"FLUSH of a view of the same id by another "
                                              "coordinator",
                                              't'},
                                             {"PROBE of a view of the same id by another "
                                              "coordinator",
                                              't'},
                                             {"FLUSH_OK nobody asked for", 't'},
                                             {"CUT without a flush", 't'},
                                             {"FLUSH_DONE without a flush", 't'},
                                             {"VIEW_ACK from a stranger", 's'},
                                             {"PROBE from a stranger", 's'},
                                             {"PROBE of an old view", 't'},
                                             {"PROBE_ACK from a stranger", 's'},
                                             {"LEAVE from a stranger", 's'},
                                             {"MERGE with a member twice", 'i'},
                                             {"STATE nobody waits for", 't'},
                                             {"another group's FLUSH", 's'}};
  const auto by_cause = [&](char c) {
    const EndpointCounters k = target.counters();
    return c == 's' ? k.membership_strangers : c == 't' ? k.membership_stale : k.membership_invalid;
  };
  for (const auto& [name, bytes] : bad) {
    const std::uint64_t before = target.counters().membership_drops;
    const std::uint64_t before_cause = by_cause(cause.at(name));
    target.on_packet(bytes, w.now);
    EXPECT_EQ(target.counters().membership_drops, before + 1) << name;
    EXPECT_EQ(by_cause(cause.at(name)), before_cause + 1) << name;
  }
  const EndpointCounters k = target.counters();
  EXPECT_EQ(k.membership_strangers + k.membership_stale + k.membership_invalid, k.membership_drops);
  // Corrupted and truncated bytes are parse errors, counted by cause.
  Bytes corrupt = bad.front().second;
  corrupt[corrupt.size() / 2] ^= std::byte{1};
  const auto parse = [&] {
    const auto c = target.counters().reliability.parse_errors;
    return c[static_cast<std::size_t>(ParseError::bad_checksum)] +
           c[static_cast<std::size_t>(ParseError::too_short)];
  };
  const auto before = parse();
  target.on_packet(corrupt, w.now);
  target.on_packet(std::span(corrupt).first(10), w.now);
  EXPECT_EQ(parse(), before + 2);
  w.settle();
  EXPECT_EQ(target.view().id, v.id);
  EXPECT_EQ(target.view().members, v.members);
  EXPECT_EQ(target.state(), Endpoint::State::member);
}

TEST(GroupEndpoint, JoinerGetsTheStateBeforeItsFirstDelivery) {
  Wire w(3, [](EndpointConfig& c) { c.state_transfer = true; });
  w.at(1).join(w.now);
  w.run(400ms);
  w.at(2).join(w.now);
  ASSERT_TRUE(w.run_until([&] { return w.members(2) == std::set<MemberId>{1, 2}; }, 2s));
  // The coordinator was asked for the state (member 2 joined): it answers late,
  // a state of three chunks, while member 1 sends.
  auto request = std::find_if(w.events[0].begin(), w.events[0].end(), [](const Event& e) {
    return std::holds_alternative<StateRequest>(e);
  });
  ASSERT_NE(request, w.events[0].end());
  ASSERT_TRUE(w.at(1).send(to_bytes("after the view"), w.now));
  w.run(20ms);
  Bytes state(150'000);
  for (std::size_t i = 0; i < state.size(); ++i)
    state[i] = static_cast<std::byte>(i * 7);
  int chunks = 0;
  w.observe = [&](const Packet& p) { chunks += p.header.type == Type::state; };
  w.at(1).provide_state(std::get<StateRequest>(*request).view, state);
  w.run(300ms);
  EXPECT_GE(chunks, 3);
  // Member 2: its ViewChange, then the state, then the message.
  const auto& ev = w.events[1];
  ASSERT_GE(ev.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<ViewChange>(ev[0]));
  ASSERT_TRUE(std::holds_alternative<StateTransfer>(ev[1]));
  EXPECT_EQ(std::get<StateTransfer>(ev[1]).state, state);
  ASSERT_TRUE(std::holds_alternative<Delivery>(ev[2]));
  EXPECT_EQ(as_text(std::get<Delivery>(ev[2]).payload), "after the view");
}

}  // namespace
}  // namespace nexo::group
