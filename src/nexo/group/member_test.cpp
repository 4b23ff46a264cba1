// Member, driven by hand with a fake clock: each test moves packets between
// members itself, dropping the ones the case needs lost.
#include "nexo/group/member.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace nexo::group {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kGroup = 0x6e65786f;

Time t0() {
  return Time{} + 1h;
}

MemberConfig config_for(MemberId self, std::vector<MemberId> members) {
  MemberConfig c;
  c.group = kGroup;
  c.self = self;
  c.members = std::move(members);
  c.seed = 7;
  return c;
}

Member make(MemberId self, std::vector<MemberId> members, Time now = t0()) {
  auto m = Member::create(config_for(self, std::move(members)), now);
  EXPECT_TRUE(m) << m.error().message();
  return std::move(m).value();
}

// A packet a member sent, and where to.
struct Out {
  Bytes bytes;
  Destination to;
};

// Everything a member has to send, in order, with where each goes (never to
// itself).
std::vector<Out> drain_all(Member& m) {
  std::vector<Out> out;
  Bytes b;
  Destination to;
  while (m.poll_transmit(b, to)) {
    EXPECT_TRUE(to.group || to.member != m.self()) << "a packet to itself";
    out.push_back(Out{b, to});
  }
  return out;
}

// What of a member's output reaches `member`: the packets to the group and
// those sent to it one to one, in order.
std::vector<Bytes> drain(Member& m, MemberId member) {
  std::vector<Bytes> out;
  for (Out& o : drain_all(m)) {
    if (o.to.group || o.to.member == member) out.push_back(std::move(o.bytes));
  }
  return out;
}

std::vector<std::string> delivered(Member& m, MemberId from) {
  std::vector<std::string> out;
  while (auto d = m.poll_delivery()) {
    if (d->sender == from) out.emplace_back(as_text(d->payload));
  }
  return out;
}

Type type_of(const Bytes& b) {
  Packet p;
  EXPECT_EQ(decode(b, p), ParseError::none);
  return p.header.type;
}

std::vector<Bytes> only(const std::vector<Bytes>& packets, Type type) {
  std::vector<Bytes> out;
  for (const auto& b : packets)
    if (type_of(b) == type) out.push_back(b);
  return out;
}

void feed(Member& m, const std::vector<Bytes>& packets, Time now) {
  for (const auto& b : packets)
    m.on_packet(b, now);
}

// Runs `m`'s timers up to `until` in steps, collecting what they send that
// reaches `member`.
std::vector<Bytes> run_timers(Member& m, Time until, MemberId member) {
  std::vector<Bytes> out;
  for (auto next = m.next_timer(); next && *next <= until; next = m.next_timer()) {
    m.on_timer(*next);
    for (auto& b : drain(m, member))
      out.push_back(std::move(b));
  }
  return out;
}

TEST(GroupMember, MessagesArriveInOrderAndTheSenderDeliversItsOwnAtOnce) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  for (const char* s : {"one", "two", "three"})
    ASSERT_TRUE(a.send(as_bytes(std::string(s)), t0()));
  EXPECT_EQ(delivered(a, 1), (std::vector<std::string>{"one", "two", "three"}));
  feed(b, drain(a, 2), t0());
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(b.counters().delivered, 3u);
  EXPECT_EQ(a.counters().sent, 3u);
}

TEST(GroupMember, ALostMessageIsNakedAndRetransmitted) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  for (const char* s : {"one", "two", "three"})
    ASSERT_TRUE(a.send(as_bytes(std::string(s)), t0()));
  auto data = only(drain(a, 2), Type::data);
  ASSERT_EQ(data.size(), 3u);
  b.on_packet(data[0], t0());
  b.on_packet(data[2], t0());  // "two" is lost
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"one"}));
  ASSERT_TRUE(b.next_timer());
  EXPECT_LE(*b.next_timer(), t0() + 10ms) << "the NAK waits at most nak_delay";
  auto naks = only(run_timers(b, t0() + 10ms, 1), Type::nak);
  ASSERT_EQ(naks.size(), 1u);
  Packet p;
  ASSERT_EQ(decode(naks[0], p), ParseError::none);
  const auto& nak = std::get<Nak>(p.body);
  EXPECT_EQ(nak.target, 1u);
  ASSERT_EQ(nak.count, 1u);
  EXPECT_EQ(nak.ranges()[0].first, 2u);
  EXPECT_EQ(nak.ranges()[0].last, 2u);
  a.on_packet(naks[0], t0() + 10ms);
  auto repair = only(drain(a, 2), Type::data);
  ASSERT_EQ(repair.size(), 1u);
  EXPECT_EQ(a.counters().retransmissions, 1u);
  b.on_packet(repair[0], t0() + 11ms);
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"two", "three"}));
  EXPECT_EQ(b.counters().naks_sent, 1u);
  // Loss recovery: "two" was missing from t0 ("three" came) to t0 + 11 ms;
  // "three" was never missing, only held behind it.
  EXPECT_EQ(b.counters().recovery.count(), 1u);
  EXPECT_GE(b.counters().recovery.percentile(100), 11ms);
  EXPECT_LE(b.counters().recovery.percentile(100), 13ms);
}

// A recovered message's delivery says when it was found missing (for the
// application to time recovery up to its own receive); one that came in
// order, or was only held behind a missing one, says nothing.
TEST(GroupMember, ARecoveredDeliveryCarriesWhenItWasFoundMissing) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  for (const char* s : {"one", "two", "three", "four"})
    ASSERT_TRUE(a.send(as_bytes(std::string(s)), t0()));
  auto data = only(drain(a, 2), Type::data);
  ASSERT_EQ(data.size(), 4u);
  b.on_packet(data[0], t0());
  b.on_packet(data[2], t0() + 1ms);  // "two" missing from here
  b.on_packet(data[3], t0() + 2ms);
  b.on_packet(data[1], t0() + 7ms);  // late: "two", then "three" and "four" held behind it
  std::vector<std::pair<std::string, Time>> got;
  while (auto d = b.poll_delivery())
    got.emplace_back(as_text(d->payload), d->missing_since);
  const std::vector<std::pair<std::string, Time>> want{
      {"one", Time{}}, {"two", t0() + 1ms}, {"three", Time{}}, {"four", Time{}}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(b.counters().recovery.count(), 1u);
}

// Recovery is timed from when a message is known to be missing: the tail
// heartbeat's highest_sent makes a lost last message missing.
TEST(GroupMember, RecoveryIsTimedFromTheMomentAMessageIsKnownMissing) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  for (const char* s : {"one", "two", "three"})
    ASSERT_TRUE(a.send(as_bytes(std::string(s)), t0()));
  auto data = only(drain(a, 2), Type::data);
  b.on_packet(data[0], t0());  // "two" and "three" lost
  a.on_timer(t0() + 5ms);      // the tail heartbeat: highest_sent 3
  auto heartbeats = only(drain(a, 2), Type::heartbeat);
  ASSERT_EQ(heartbeats.size(), 1u);
  b.on_packet(heartbeats[0], t0() + 6ms);
  b.on_packet(data[2], t0() + 20ms);  // late, out of order
  b.on_packet(data[1], t0() + 26ms);
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(b.counters().recovery.count(), 2u);
  EXPECT_GE(b.counters().recovery.percentile(50), 20ms);  // 6 ms -> 26 ms, both
  EXPECT_LE(b.counters().recovery.percentile(100), 23ms);
  MemberCounters sum;
  sum += b.counters();
  sum += b.counters();
  EXPECT_EQ(sum.recovery.count(), 4u);
}

// The ordering layer's meta and control flag travel with the message, through
// the out-of-order buffer and a retransmission too.
TEST(GroupMember, MetaAndTheControlFlagSurviveBufferingAndRetransmission) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  ASSERT_TRUE(a.send(as_bytes(std::string("p1")), as_bytes(std::string("m1")), false, t0()));
  ASSERT_TRUE(a.send(as_bytes(std::string("p2")), as_bytes(std::string("m2")), true, t0()));
  ASSERT_TRUE(a.send(as_bytes(std::string("p3")), as_bytes(std::string("m3")), true, t0()));
  const auto own = a.poll_delivery();
  ASSERT_TRUE(own);
  EXPECT_EQ(as_text(own->meta), "m1");
  EXPECT_FALSE(own->control);
  auto data = only(drain(a, 2), Type::data);
  ASSERT_EQ(data.size(), 3u);
  b.on_packet(data[2], t0());  // held out of order
  b.on_packet(data[1], t0());  // held
  auto naks = only(run_timers(b, t0() + 10ms, 1), Type::nak);
  ASSERT_EQ(naks.size(), 1u);
  a.on_packet(naks[0], t0() + 10ms);
  auto repair = only(drain(a, 2), Type::data);
  ASSERT_EQ(repair.size(), 1u);
  b.on_packet(repair[0], t0() + 10ms);
  std::vector<std::string> got;
  while (auto d = b.poll_delivery())
    got.push_back(std::string(as_text(d->payload)) + "/" + std::string(as_text(d->meta)) +
                  (d->control ? "/c" : ""));
  EXPECT_EQ(got, (std::vector<std::string>{"p1/m1", "p2/m2/c", "p3/m3/c"}));
}

TEST(GroupMember, TheLossOfTheLastMessageIsFoundByTheTailHeartbeat) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  ASSERT_TRUE(a.send(as_bytes(std::string("one")), t0()));
  ASSERT_TRUE(a.send(as_bytes(std::string("last")), t0()));
  auto data = only(drain(a, 2), Type::data);
  b.on_packet(data[0], t0());  // "last" is lost, and nothing follows it
  EXPECT_FALSE(b.next_timer() && *b.next_timer() <= t0() + 20ms) << "b knows of no gap yet";
  auto beats = only(run_timers(a, t0() + 5ms, 2), Type::heartbeat);
  ASSERT_EQ(beats.size(), 1u) << "a heartbeat tail_heartbeat after the last message";
  feed(b, beats, t0() + 5ms);
  auto naks = only(run_timers(b, t0() + 15ms, 1), Type::nak);
  ASSERT_EQ(naks.size(), 1u);
  feed(a, naks, t0() + 15ms);
  feed(b, only(drain(a, 2), Type::data), t0() + 16ms);
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"one", "last"}));
}

// In a view of 3, a NAK goes to the sender one to one and to the group (for
// the others to overhear); the repair goes to the requester one to one and
// to the group, for the member that suppressed its own NAK.
TEST(GroupMember, ANakOverheardSuppressesOursAndOneRepairServesBoth) {
  Member a = make(1, {1, 2, 3});
  Member b = make(2, {1, 2, 3});
  Member c = make(3, {1, 2, 3});
  for (const char* s : {"one", "two", "three"})
    ASSERT_TRUE(a.send(as_bytes(std::string(s)), t0()));
  auto data = only(drain(a, 2), Type::data);
  for (Member* m : {&b, &c}) {
    m->on_packet(data[0], t0());
    m->on_packet(data[2], t0());
  }
  // Whoever's timer fires first NAKs; the other hears it before its own fires.
  Member& first = *b.next_timer() <= *c.next_timer() ? b : c;
  Member& second = &first == &b ? c : b;
  const Time fire = *first.next_timer();
  first.on_timer(fire);
  const auto sent = drain_all(first);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(type_of(sent[0].bytes), Type::nak);
  EXPECT_FALSE(sent[0].to.group) << "the NAK goes to the sender one to one";
  EXPECT_EQ(sent[0].to.member, 1u);
  EXPECT_EQ(sent[1].bytes, sent[0].bytes);
  EXPECT_TRUE(sent[1].to.group) << "and a copy to the group, to be overheard";
  EXPECT_EQ(first.counters().naks_sent, 1u) << "one NAK, two packets";
  feed(second, {sent[1].bytes}, fire);
  EXPECT_EQ(second.counters().naks_suppressed, 1u);
  EXPECT_TRUE(only(run_timers(second, fire + 15ms, 1), Type::nak).empty())
      << "the suppressed member waits for the repair instead of asking";
  // a takes the NAK, then its copy (which brings no second repair).
  feed(a, {sent[0].bytes, sent[1].bytes}, fire);
  EXPECT_EQ(a.counters().naks_received, 1u);
  EXPECT_EQ(a.counters().nak_copies, 1u);
  EXPECT_EQ(a.counters().retransmissions, 1u);
  const auto repairs = drain_all(a);
  ASSERT_EQ(repairs.size(), 2u);
  EXPECT_FALSE(repairs[0].to.group) << "to the requester one to one first";
  EXPECT_EQ(repairs[0].to.member, first.self());
  EXPECT_TRUE(repairs[1].to.group) << "and to the group, for the suppressed member";
  EXPECT_EQ(repairs[1].bytes, repairs[0].bytes);
  feed(first, {repairs[0].bytes}, fire + 1ms);
  feed(second, {repairs[1].bytes}, fire + 1ms);
  feed(first, {repairs[1].bytes}, fire + 2ms);  // the group's copy: a duplicate there
  EXPECT_EQ(first.counters().duplicates, 1u);
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(delivered(c, 1), (std::vector<std::string>{"one", "two", "three"}));
}

// In a view of 2 the requester is the only member that can lack a message:
// NAK and repair go one to one, nothing to the group.
TEST(GroupMember, ARepairGoesOneToOneToTheSoleRequesterAndIsDelivered) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  for (const char* s : {"one", "two", "three"})
    ASSERT_TRUE(a.send(as_bytes(std::string(s)), t0()));
  auto data = only(drain(a, 2), Type::data);
  b.on_packet(data[0], t0());
  b.on_packet(data[2], t0());  // "two" is lost
  b.on_timer(*b.next_timer());
  const auto naks = drain_all(b);
  ASSERT_EQ(naks.size(), 1u);
  EXPECT_EQ(type_of(naks[0].bytes), Type::nak);
  EXPECT_FALSE(naks[0].to.group);
  EXPECT_EQ(naks[0].to.member, 1u);
  a.on_packet(naks[0].bytes, t0() + 10ms);
  const auto repairs = drain_all(a);
  ASSERT_EQ(repairs.size(), 1u);
  EXPECT_EQ(type_of(repairs[0].bytes), Type::data);
  EXPECT_FALSE(repairs[0].to.group);
  EXPECT_EQ(repairs[0].to.member, 2u);
  b.on_packet(repairs[0].bytes, t0() + 11ms);
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(b.counters().duplicates, 0u);
}

// Two members NAK the same loss before either hears the other: the first
// NAK's repair goes to its requester and to the group; the second, within
// the hold-off, brings nothing more, and the group's copy serves it.
TEST(GroupMember, TwoRequestersOfOneLossAreServedByTheMulticastRepair) {
  const std::vector<MemberId> view{1, 2, 3, 4};
  Member a = make(1, view), b = make(2, view), c = make(3, view), d = make(4, view);
  for (const char* s : {"one", "two", "three"})
    ASSERT_TRUE(a.send(as_bytes(std::string(s)), t0()));
  auto data = only(drain(a, 2), Type::data);
  for (Member* m : {&b, &c}) {
    m->on_packet(data[0], t0());
    m->on_packet(data[2], t0());  // "two" lost at b and c
  }
  feed(d, data, t0());
  const Time fire = std::max(*b.next_timer(), *c.next_timer());
  b.on_timer(fire);
  c.on_timer(fire);
  const auto from_b = only(drain(b, 1), Type::nak);
  const auto from_c = only(drain(c, 1), Type::nak);
  ASSERT_EQ(from_b.size(), 2u);  // one to one, and the group's copy
  ASSERT_EQ(from_c.size(), 2u);
  feed(a, {from_b[0], from_c[0], from_b[1], from_c[1]}, fire);
  EXPECT_EQ(a.counters().naks_received, 2u) << "two NAKs, and their two copies";
  EXPECT_EQ(a.counters().nak_copies, 2u);
  EXPECT_EQ(a.counters().retransmissions, 1u) << "one repair within the hold-off";
  const auto repairs = drain_all(a);
  ASSERT_EQ(repairs.size(), 2u);
  EXPECT_EQ(repairs[0].to.member, 2u);
  EXPECT_FALSE(repairs[0].to.group);
  EXPECT_TRUE(repairs[1].to.group);
  for (Member* m : {&b, &c, &d}) {
    for (const Out& o : repairs) {
      if (o.to.group || o.to.member == m->self()) m->on_packet(o.bytes, fire + 1ms);
    }
  }
  for (Member* m : {&b, &c, &d})
    EXPECT_EQ(delivered(*m, 1), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(c.counters().naks_sent, 1u);
  EXPECT_TRUE(only(run_timers(c, fire + 100ms, 1), Type::nak).empty()) << "c asks no more";
}

TEST(GroupMember, AnUnansweredNakIsRepeatedLessAndLessOften) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  for (const char* s : {"one", "two"})
    ASSERT_TRUE(a.send(as_bytes(std::string(s)), t0()));
  auto data = only(drain(a, 2), Type::data);
  b.on_packet(data[1], t0());  // "one" lost, and its repairs too
  std::vector<Time> sent_at;
  for (auto next = b.next_timer(); next && *next <= t0() + 400ms; next = b.next_timer()) {
    b.on_timer(*next);
    if (!only(drain(b, 1), Type::nak).empty()) sent_at.push_back(*next);
  }
  ASSERT_GE(sent_at.size(), 4u);
  EXPECT_EQ(sent_at[2] - sent_at[1], 2 * (sent_at[1] - sent_at[0]));
  EXPECT_EQ(sent_at[1] - sent_at[0], Duration(20ms));
}

// The ranges of a NAK packet.
using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
Ranges ranges_of(const Bytes& nak_packet) {
  Packet p;
  EXPECT_EQ(decode(nak_packet, p), ParseError::none);
  Ranges out;
  for (const SeqRange& r : std::get<Nak>(p.body).ranges())
    out.emplace_back(r.first, r.last);
  return out;
}

// Under a steady stream with loss, a new gap must not wait behind the repair
// timer of an older one (it did: up to 8 x repair_timeout, so recovery took
// hundreds of ms), and a repair that arrives resets the back-off.
TEST(GroupMember, ANewGapIsNakedAtOnceAndARepairResetsTheBackOff) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  for (int i = 1; i <= 7; ++i)
    ASSERT_TRUE(a.send(as_bytes(std::to_string(i)), t0()));
  auto data = only(drain(a, 2), Type::data);
  ASSERT_EQ(data.size(), 7u);
  b.on_packet(data[0], t0());
  b.on_packet(data[2], t0());  // 2 lost
  const Time first = *b.next_timer();
  auto naks = only(run_timers(b, first, 1), Type::nak);
  ASSERT_EQ(naks.size(), 1u);
  EXPECT_EQ(ranges_of(naks[0]), (Ranges{{2, 2}}));
  // 5 is lost while 2's repair is awaited: 5 gets a NAK of its own, within
  // nak_delay, not at first + repair_timeout; 2 is not asked for again yet.
  b.on_packet(data[3], first + 1ms);
  b.on_packet(data[5], first + 1ms);
  ASSERT_TRUE(b.next_timer());
  EXPECT_LE(*b.next_timer(), first + 11ms);
  naks = only(run_timers(b, first + 11ms, 1), Type::nak);
  ASSERT_EQ(naks.size(), 1u);
  EXPECT_EQ(ranges_of(naks[0]), (Ranges{{5, 5}}));
  // 2's repair arrives (5's is lost): progress, so the back-off starts over:
  // 5 is asked for again repair_timeout after the first NAK, then after
  // another repair_timeout (not twice it).
  b.on_packet(data[1], first + 12ms);
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"1", "2", "3", "4"}));
  std::vector<Time> again;
  for (auto next = b.next_timer(); next && *next <= first + 60ms; next = b.next_timer()) {
    b.on_timer(*next);
    for (const auto& n : only(drain(b, 1), Type::nak)) {
      EXPECT_EQ(ranges_of(n), (Ranges{{5, 5}}));
      again.push_back(*next);
    }
  }
  ASSERT_GE(again.size(), 2u);
  EXPECT_EQ(again[0], first + 20ms);
  EXPECT_EQ(again[1], first + 40ms);
}

// The times at which `m` sends NAKs, its timers run up to `until`.
std::vector<Time> nak_times(Member& m, MemberId sender, Time until) {
  std::vector<Time> at;
  for (auto next = m.next_timer(); next && *next <= until; next = m.next_timer()) {
    m.on_timer(*next);
    if (!only(drain(m, sender), Type::nak).empty()) at.push_back(*next);
  }
  return at;
}

// The repair wait follows the measured NAK -> repair round trip (RFC 6298):
// after one of 2 ms, SRTT + 4 RTTVAR = 6 ms (the default ceiling is 20 ms,
// the floor 2 ms, the hold-off), doubling while unanswered; a repair of a
// message asked for again is no sample (Karn's rule), and a gap found after
// the last one was repaired waits for its own repair, not the old one's.
TEST(GroupMember, TheRepairWaitFollowsTheMeasuredRoundTrip) {
  Member a = make(1, {1, 2});
  Member b = make(2, {1, 2});
  for (int i = 1; i <= 9; ++i)
    ASSERT_TRUE(a.send(as_bytes(std::to_string(i)), t0()));
  auto data = only(drain(a, 2), Type::data);
  ASSERT_EQ(data.size(), 9u);
  b.on_packet(data[0], t0());
  b.on_packet(data[2], t0());  // 2 lost
  const Time nak1 = *b.next_timer();
  feed(a, only(run_timers(b, nak1, 1), Type::nak), nak1 + 1ms);
  feed(b, only(drain(a, 2), Type::data), nak1 + 2ms);  // answered in 2 ms
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"1", "2", "3"}));
  // 5 lost, and its repairs: asked for at once, then 6 ms later, then 12.
  b.on_packet(data[3], nak1 + 3ms);
  b.on_packet(data[5], nak1 + 3ms);
  const Time first_ask = *b.next_timer();
  EXPECT_LE(first_ask, nak1 + 3ms + 10ms) << "within nak_delay, not at the old gap's wait";
  auto asked = nak_times(b, 1, first_ask + 18ms);
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[0], first_ask);
  EXPECT_EQ(asked[1] - asked[0], Duration(6ms));
  EXPECT_EQ(asked[2] - asked[1], Duration(12ms));
  // 5 asked for three times, its repair 1 ms after the last: no sample.
  Bytes nak;
  const SeqRange five{5, 5};
  ASSERT_TRUE(encode_nak(nak, Header{Type::nak, kGroup, 2, {1, 0}}, 1, std::span(&five, 1)));
  a.on_packet(nak, asked[2]);
  feed(b, only(drain(a, 2), Type::data), asked[2] + 1ms);
  EXPECT_EQ(delivered(b, 1), (std::vector<std::string>{"4", "5", "6"}));
  // 8 lost: the wait is still 6 ms.
  const Time later = asked[2] + 2ms;
  b.on_packet(data[6], later);
  b.on_packet(data[8], later);
  asked = nak_times(b, 1, *b.next_timer() + 6ms);
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[1] - asked[0], Duration(6ms));
}

// With the adaptive wait off, a measured round trip changes nothing.
TEST(GroupMember, AFixedRepairWaitIgnoresTheRoundTrip) {
  MemberConfig cb = config_for(2, {1, 2});
  cb.adaptive_repair_timeout = false;
  Member b = std::move(Member::create(cb, t0()).value());
  Member a = make(1, {1, 2});
  for (int i = 1; i <= 6; ++i)
    ASSERT_TRUE(a.send(as_bytes(std::to_string(i)), t0()));
  auto data = only(drain(a, 2), Type::data);
  b.on_packet(data[0], t0());
  b.on_packet(data[2], t0());  // 2 lost, answered in 2 ms
  const Time nak1 = *b.next_timer();
  feed(a, only(run_timers(b, nak1, 1), Type::nak), nak1 + 1ms);
  feed(b, only(drain(a, 2), Type::data), nak1 + 2ms);
  b.on_packet(data[3], nak1 + 3ms);
  b.on_packet(data[5], nak1 + 3ms);  // 5 lost, never answered
  const auto asked = nak_times(b, 1, *b.next_timer() + 20ms);
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[1] - asked[0], Duration(20ms)) << "repair_timeout, as configured";
}

TEST(GroupMember, StabilityFreesTheHistoryAndAFullWindowIsBackPressure) {
  MemberConfig ca = config_for(1, {1, 2, 3});
  ca.window = 4;
  auto made = Member::create(ca, t0());
  ASSERT_TRUE(made);
  Member a = std::move(*made);
  Member b = make(2, {1, 2, 3});
  Member c = make(3, {1, 2, 3});
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(a.send(as_bytes(std::to_string(i)), t0()));
  auto full = a.send(as_bytes(std::string("5th")), t0());
  ASSERT_FALSE(full);
  EXPECT_TRUE(full.error().is(ErrorKind::would_block)) << full.error().message();
  EXPECT_FALSE(a.writable(3));
  EXPECT_GT(a.counters().history_bytes, 0u);
  auto data = only(drain(a, 2), Type::data);
  feed(b, data, t0());
  feed(c, data, t0());
  // b's digest alone does not make them stable: c has not said so yet.
  feed(a, only(run_timers(b, t0() + 100ms, 1), Type::heartbeat), t0() + 100ms);
  EXPECT_EQ(a.stable(), 0u);
  EXPECT_FALSE(a.writable(3));
  feed(a, only(run_timers(c, t0() + 100ms, 1), Type::heartbeat), t0() + 100ms);
  EXPECT_EQ(a.stable(), 4u);
  EXPECT_EQ(a.counters().history_bytes, 0u);
  EXPECT_TRUE(a.send(as_bytes(std::string("5th")), t0() + 100ms));
}

TEST(GroupMember, ABusyReceiverSendsItsDigestBeforeTheHeartbeatIsDue) {
  MemberConfig ca = config_for(1, {1, 2});
  ca.window = 8;
  Member a = std::move(Member::create(ca, t0()).value());
  MemberConfig cb = config_for(2, {1, 2});
  cb.window = 8;
  Member b = std::move(Member::create(cb, t0()).value());
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(a.send(as_bytes(std::to_string(i)), t0()));
  feed(b, only(drain(a, 2), Type::data), t0());
  auto beats = only(drain(b, 1), Type::heartbeat);
  ASSERT_EQ(beats.size(), 1u) << "a quarter of the window delivered: a digest at once";
  feed(a, beats, t0());
  EXPECT_EQ(a.stable(), 2u);
}

TEST(GroupMember, NaksBeyondTheRateAreDroppedAndCounted) {
  Member a = make(1, {1, 2});
  ASSERT_TRUE(a.send(as_bytes(std::string("one")), t0()));
  drain(a, 2);
  Bytes nak;
  const SeqRange range{1, 1};
  ASSERT_TRUE(encode_nak(nak, Header{Type::nak, kGroup, 2, {1, 0}}, 1, std::span(&range, 1)));
  for (int i = 0; i < 1000; ++i)
    a.on_packet(nak, t0());  // all at one instant: the burst, then nothing
  EXPECT_EQ(a.counters().naks_received, 1000u);
  EXPECT_EQ(a.counters().nak_rate_limited, 1000u - 100u);
  EXPECT_EQ(a.counters().retransmissions, 1u) << "one retransmission per holdoff";
}

TEST(GroupMember, BadPacketsAreDroppedAndCountedByCause) {
  Member b = make(2, {1, 2});
  const std::string x = "x";
  const auto payload = as_bytes(x);  // a span: the string must outlive it
  Bytes p;
  ASSERT_TRUE(encode_data(p, Header{Type::data, kGroup + 1, 1, {1, 0}}, 1, false, {}, payload));
  b.on_packet(p, t0());
  ASSERT_TRUE(encode_data(p, Header{Type::data, kGroup, 9, {1, 0}}, 1, false, {}, payload));
  b.on_packet(p, t0());
  ASSERT_TRUE(encode_data(p, Header{Type::data, kGroup, 1, {2, 0}}, 1, false, {}, payload));
  b.on_packet(p, t0());
  ASSERT_TRUE(encode_data(p, Header{Type::data, kGroup, 2, {1, 0}}, 1, false, {}, payload));
  b.on_packet(p, t0());
  ASSERT_TRUE(encode_data(p, Header{Type::data, kGroup, 1, {1, 0}}, 1'000'000, false, {}, payload));
  b.on_packet(p, t0());
  const Bytes garbage(40, std::byte{0x4e});
  b.on_packet(garbage, t0());
  b.on_packet({}, t0());
  const auto& k = b.counters();
  EXPECT_EQ(k.other_group, 1u);
  EXPECT_EQ(k.non_member, 1u);
  EXPECT_EQ(k.stale_view, 1u);
  EXPECT_EQ(k.own_packet, 1u);
  EXPECT_EQ(k.beyond_window, 1u);
  std::uint64_t parse = 0;
  for (auto n : k.parse_errors)
    parse += n;
  EXPECT_EQ(parse, 2u);
  EXPECT_FALSE(b.poll_delivery());
  EXPECT_EQ(b.counters().naks_sent, 0u);
  EXPECT_TRUE(only(run_timers(b, t0() + 50ms, 1), Type::nak).empty()) << "no NAK for forged gaps";
}

TEST(GroupMember, ANakForMessagesNeverSentIsCountedNotAnswered) {
  Member a = make(1, {1, 2});
  ASSERT_TRUE(a.send(as_bytes(std::string("one")), t0()));
  drain(a, 2);
  Bytes nak;
  const SeqRange range{1, 5};
  ASSERT_TRUE(encode_nak(nak, Header{Type::nak, kGroup, 2, {1, 0}}, 1, std::span(&range, 1)));
  a.on_packet(nak, t0());
  EXPECT_EQ(a.counters().nak_unknown, 1u);
  EXPECT_EQ(a.counters().retransmissions, 0u);
}

TEST(GroupMember, OutOfOrderMessagesBeyondTheBufferAreDroppedThenFetched) {
  Member a = make(1, {1, 2});
  MemberConfig cb = config_for(2, {1, 2});
  cb.buffer_bytes = 10;
  Member b = std::move(Member::create(cb, t0()).value());
  const std::string six(6, 'x');
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(a.send(as_bytes(six), t0()));
  auto data = only(drain(a, 2), Type::data);
  for (std::size_t i = 1; i < data.size(); ++i)
    b.on_packet(data[i], t0());  // 1 is lost; 2 is held, 3 and 4 do not fit
  EXPECT_EQ(b.counters().buffer_full, 2u);
  auto naks = only(run_timers(b, t0() + 10ms, 1), Type::nak);
  ASSERT_EQ(naks.size(), 1u);
  feed(a, naks, t0() + 10ms);
  feed(b, only(drain(a, 2), Type::data), t0() + 10ms);
  EXPECT_EQ(delivered(b, 1).size(), 4u) << "every message, in order, once";
}

// The Endpoint sums its views' Members' counters with +=: every count adds,
// the history level does not.
TEST(GroupMember, CountersAddEveryCountButNotTheHistoryLevel) {
  MemberCounters a;
  std::uint64_t v = 1;
  for (std::uint64_t* f :
       {&a.sent, &a.delivered, &a.naks_sent, &a.naks_received, &a.naks_suppressed,
        &a.retransmissions, &a.heartbeats_sent, &a.duplicates, &a.other_group, &a.non_member,
        &a.stale_view, &a.own_packet, &a.beyond_window, &a.buffer_full, &a.nak_rate_limited,
        &a.nak_unknown, &a.nak_unrecoverable, &a.nak_copies})
    *f = v++;
  for (auto& e : a.parse_errors)
    e = v++;
  a.history_bytes = 1000;
  MemberCounters sum = a;
  sum += a;
  EXPECT_EQ(sum.sent, 2u);
  EXPECT_EQ(sum.nak_unrecoverable, 34u);
  for (std::size_t i = 0; i < kParseErrorCount; ++i)
    EXPECT_EQ(sum.parse_errors[i], 2 * a.parse_errors[i]);
  EXPECT_EQ(sum.history_bytes, 1000u);
  // Every field: the doubled struct is a's fields times two, field by field.
  const auto* x = reinterpret_cast<const std::uint64_t*>(&a);
  const auto* y = reinterpret_cast<const std::uint64_t*>(&sum);
  const std::size_t words = offsetof(MemberCounters, history_bytes) / sizeof(std::uint64_t);
  for (std::size_t i = 0; i < words; ++i)
    EXPECT_EQ(y[i], 2 * x[i]) << "word " << i;
}

TEST(GroupMember, ABadConfigurationIsRefused) {
  EXPECT_FALSE(Member::create(config_for(0, {0, 1}), t0()));
  EXPECT_FALSE(Member::create(config_for(3, {1, 2}), t0()));
  EXPECT_FALSE(Member::create(config_for(1, {1, 1}), t0()));
  auto c = config_for(1, {1, 2});
  c.window = 0;
  auto r = Member::create(c, t0());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::invalid_argument));
  auto big = make(1, {1, 2});
  const Bytes huge(60'001);
  EXPECT_TRUE(big.send(huge, t0()).error().is(ErrorKind::too_large));
}

}  // namespace
}  // namespace nexo::group
