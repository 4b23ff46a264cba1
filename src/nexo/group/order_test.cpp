// The orderers by hand: causal holding, one total order (sequencer and agreed
// priorities) in random interleavings, flush() deterministic across members
// whatever each had delivered, and every kind of bad meta and control payload
// dropped and counted. Random runs print their seed on failure.
#include "nexo/group/order.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "nexo/group/order_internal.hpp"
#include "nexo/group/order_test_bus.hpp"

namespace nexo::group {
namespace {

using order_detail::put_varint;
using test::keys;
using test::OrderBus;

std::string texts(const std::vector<Delivery>& ds) {
  std::string out;
  for (const Delivery& d : ds)
    out += std::string(as_text(d.payload)) + " ";
  return out;
}

Delivery app(MemberId sender, std::uint64_t seq, Bytes meta, std::string text = "x") {
  return Delivery{sender, 1, seq, to_bytes(text), std::move(meta), false};
}
Delivery control(MemberId sender, std::uint64_t seq, Bytes payload, Bytes meta) {
  return Delivery{sender, 1, seq, std::move(payload), std::move(meta), true};
}
Bytes varints(std::initializer_list<std::uint64_t> values) {
  Bytes out;
  for (const auto v : values)
    put_varint(out, v);
  return out;
}
Bytes raw(std::initializer_list<int> values) {
  Bytes out;
  for (const int v : values)
    out.push_back(std::byte(v));
  return out;
}

// ---- causal ----

TEST(CausalOrder, AReplyWaitsForTheMessageItAnswers) {
  OrderBus bus(Order::causal, 3);
  bus.send(0, "question");
  ASSERT_TRUE(bus.step(1, 0));  // b delivers the question, then answers
  bus.send(1, "answer");
  ASSERT_TRUE(bus.step(2, 1));  // c gets the answer first
  EXPECT_TRUE(bus.delivered(2).empty());
  EXPECT_EQ(bus.orderer(2).counters().held, 1u);
  ASSERT_TRUE(bus.step(2, 0));
  EXPECT_EQ(texts(bus.delivered(2)), "question answer ");
  EXPECT_EQ(bus.orderer(2).counters().held, 0u);
  EXPECT_EQ(texts(bus.delivered(1)), "question answer ") << "own messages deliver at once";
}

TEST(CausalOrder, ConcurrentMessagesDoNotWait) {
  OrderBus bus(Order::causal, 3);
  bus.send(0, "a1");
  bus.send(1, "b1");
  ASSERT_TRUE(bus.step(2, 1));
  EXPECT_EQ(texts(bus.delivered(2)), "b1 ");
  ASSERT_TRUE(bus.step(2, 0));
  EXPECT_EQ(texts(bus.delivered(2)), "b1 a1 ");
}

// Random runs with replies: every member checks, at every delivery, that it
// had delivered everything the message's sender had delivered when sending it
// (recorded by the test from the deliveries, not read from the orderer).
struct CausalRun {
  std::map<std::string, std::vector<std::size_t>> history;  // text -> per-sender counts at send
  std::size_t violations = 0, sent = 0;
};

std::vector<std::size_t> counts(const std::vector<Delivery>& ds, const std::vector<MemberId>& ms) {
  std::vector<std::size_t> c(ms.size(), 0);
  for (const Delivery& d : ds)
    ++c[std::find(ms.begin(), ms.end(), d.sender) - ms.begin()];
  return c;
}

CausalRun run_causal(Order order, std::uint64_t seed) {
  constexpr std::size_t kMembers = 5;
  OrderBus bus(order, kMembers);
  std::mt19937_64 random(seed);
  CausalRun run;
  std::vector<std::size_t> checked(kMembers, 0);
  auto send = [&](std::size_t i) {
    const std::string text = std::to_string(i) + "." + std::to_string(run.sent++);
    run.history[text] = counts(bus.delivered(i), bus.members());
    bus.send(i, text);
  };
  auto check = [&](std::size_t r) {
    for (; checked[r] < bus.delivered(r).size(); ++checked[r]) {
      const auto& d = bus.delivered(r);
      const auto& need = run.history.at(std::string(as_text(d[checked[r]].payload)));
      const auto have =
          counts({d.begin(), d.begin() + static_cast<long>(checked[r])}, bus.members());
      for (std::size_t j = 0; j < kMembers; ++j)
        if (have[j] < need[j]) ++run.violations;
    }
  };
  for (int round = 0; round < 400; ++round) {
    const std::size_t r = random() % kMembers;
    if (random() % 3 == 0) {
      send(r);  // after what r delivered: a reply to it
    } else {
      bus.step_random(r, random);
    }
    check(r);
  }
  bus.settle(random, std::vector<bool>(kMembers, true));
  for (std::size_t r = 0; r < kMembers; ++r) {
    check(r);
    EXPECT_EQ(bus.delivered(r).size(), run.sent) << "seed " << seed;
  }
  return run;
}

TEST(CausalOrder, RandomRepliesNeverOvertakeWhatTheyFollow) {
  std::size_t fifo_violations = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    EXPECT_EQ(run_causal(Order::causal, seed).violations, 0u) << "seed " << seed;
    fifo_violations += run_causal(Order::fifo, seed).violations;
  }
  EXPECT_GT(fifo_violations, 0u) << "the check finds nothing even under FIFO: it tests nothing";
}

TEST(CausalOrder, FlushDeliversWhatFollowsALostMessage) {
  OrderBus bus(Order::causal, 3);
  bus.send(0, "lost");  // a crashes: only b got it
  ASSERT_TRUE(bus.step(1, 0));
  bus.send(1, "reply");
  bus.send(2, "other");
  ASSERT_TRUE(bus.step(2, 1));  // c has the reply, never the lost message
  EXPECT_EQ(texts(bus.delivered(2)), "other ");
  bus.flush(2);
  EXPECT_EQ(texts(bus.delivered(2)), "other reply ");
  EXPECT_EQ(bus.orderer(2).counters().flushed, 1u);
}

// ---- total order: sequencer and agreed priorities ----

class TotalOrders : public ::testing::TestWithParam<Order> {};
INSTANTIATE_TEST_SUITE_P(Both, TotalOrders, ::testing::Values(Order::total, Order::agreed),
                         [](const auto& p) { return std::string(to_string(p.param)); });

// Each sender's messages in order, each once.
void expect_fifo_once(const std::vector<Delivery>& ds, std::uint64_t seed) {
  std::map<MemberId, std::uint64_t> last;
  std::set<std::string> seen;
  for (const Delivery& d : ds) {
    EXPECT_TRUE(seen.insert(std::to_string(d.sender) + ":" + std::to_string(d.seq)).second)
        << "seed " << seed << ": delivered twice";
    EXPECT_GT(d.seq, last[d.sender]) << "seed " << seed << ": out of FIFO order";
    last[d.sender] = d.seq;
  }
}

TEST_P(TotalOrders, EveryMemberDeliversOneSequenceInRandomInterleavings) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    constexpr std::size_t kMembers = 5;
    OrderBus bus(GetParam(), kMembers);
    std::mt19937_64 random(seed);
    int sent = 0;
    for (int round = 0; round < 600; ++round) {
      const std::size_t r = random() % kMembers;
      if (random() % 3 == 0 && sent < 150) {
        bus.send(r, std::to_string(sent++));
      } else {
        bus.step_random(r, random);
      }
    }
    bus.settle(random, std::vector<bool>(kMembers, true));
    for (std::size_t r = 0; r < kMembers; ++r) {
      ASSERT_EQ(bus.delivered(r).size(), static_cast<std::size_t>(sent)) << "seed " << seed;
      ASSERT_EQ(keys(bus.delivered(r)), keys(bus.delivered(0))) << "seed " << seed;
      expect_fifo_once(bus.delivered(r), seed);
      EXPECT_EQ(bus.orderer(r).counters().held, 0u);
      EXPECT_EQ(bus.orderer(r).counters().bad_meta, 0u);
    }
  }
}

// A run stopped at a random point, member `crashed` gone (the others got
// random prefixes of its stream), the survivors brought to the same FIFO set
// in different random interleavings (the virtual-synchrony flush), then
// flush(): one sequence everywhere, with every message that any survivor has.
std::uint64_t flush_run(Order order, std::uint64_t seed, std::size_t crashed) {
  constexpr std::size_t kMembers = 5;
  OrderBus bus(order, kMembers);
  std::mt19937_64 random(seed);
  int sent = 0;
  for (int round = 0; round < 300; ++round) {
    const std::size_t r = random() % kMembers;
    if (random() % 3 == 0) {
      bus.send(r, std::to_string(sent++));
    } else {
      bus.step_random(r, random);
    }
  }
  std::vector<bool> alive(kMembers, true);
  std::vector<std::size_t> target(kMembers);
  for (std::size_t s = 0; s < kMembers; ++s)
    target[s] = bus.stream(s).size();
  if (crashed < kMembers) {
    alive[crashed] = false;
    std::size_t most = 0;
    for (std::size_t r = 0; r < kMembers; ++r)
      if (r != crashed) most = std::max(most, bus.cursor(r, crashed));
    target[crashed] = most;  // what the survivors saw of it, the rest lost
    bus.stream(crashed).resize(most);
  }
  for (std::size_t r = 0; r < kMembers; ++r)
    bus.stop_sending(r);
  bus.settle(random, alive);
  std::size_t expected = 0;
  for (std::size_t s = 0; s < kMembers; ++s)
    for (const Delivery& d : bus.stream(s))
      expected += !d.control;
  std::vector<std::string> first;
  std::uint64_t flushed = 0;
  for (std::size_t r = 0; r < kMembers; ++r) {
    if (!alive[r]) continue;
    for (std::size_t s = 0; s < kMembers; ++s)
      EXPECT_EQ(bus.cursor(r, s), target[s]);
    bus.flush(r);
    flushed += bus.orderer(r).counters().flushed;
    const auto got = keys(bus.delivered(r));
    EXPECT_EQ(got.size(), expected) << "seed " << seed << ", member " << r;
    expect_fifo_once(bus.delivered(r), seed);
    if (first.empty()) first = got;
    EXPECT_EQ(got, first) << "seed " << seed << ", member " << r << " differs";
  }
  return flushed;
}

TEST_P(TotalOrders, FlushGivesOneSequenceWhenNobodyFailed) {
  std::uint64_t flushed = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed)
    flushed += flush_run(GetParam(), seed, 99);
  EXPECT_GT(flushed, 0u) << "flush() found nothing pending: the test did not test it";
}

TEST_P(TotalOrders, FlushGivesOneSequenceWhenTheFirstMemberFailed) {
  std::uint64_t flushed = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed)
    flushed += flush_run(GetParam(), seed, 0);  // under total: the sequencer
  EXPECT_GT(flushed, 0u) << "flush() found nothing pending: the test did not test it";
}

TEST_P(TotalOrders, FlushGivesOneSequenceWhenAnotherMemberFailed) {
  std::uint64_t flushed = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed)
    flushed += flush_run(GetParam(), seed, 3);
  EXPECT_GT(flushed, 0u) << "flush() found nothing pending: the test did not test it";
}

TEST(TotalOrder, TheSequencersAnnouncementsBatchRuns) {
  OrderBus bus(Order::total, 3);
  for (int i = 0; i < 50; ++i)
    bus.send(2, "c" + std::to_string(i));
  // The sequencer sees 50 messages before its control is polled: one run.
  for (std::size_t i = 0; i < 50; ++i)
    bus.orderer(0).on_fifo(bus.stream(2)[i]);
  Bytes payload, meta;
  ASSERT_TRUE(bus.orderer(0).poll_control(payload, meta));
  EXPECT_EQ(payload, varints({2, 1, 50})) << "one run (sender, first, count) for 50 messages";
  EXPECT_FALSE(bus.orderer(0).poll_control(payload, meta));
}

// Placements, for traces: the sequencer reports each application message
// once, as it announces its place, keyed as its delivery (sender and Member
// seq: control messages count in the seqs) and numbered 1, 2, ... in the
// order every member then delivers; nobody else reports anything.
TEST(TotalOrder, TheSequencerReportsEachPlaceItAnnouncesOnce) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    constexpr std::size_t kMembers = 4;
    OrderBus bus(Order::total, kMembers);
    for (std::size_t r = 0; r < kMembers; ++r)
      bus.orderer(r).report_placements(true);
    std::mt19937_64 random(seed);
    int sent = 0;
    std::vector<std::string> placed;
    std::uint64_t position = 0;
    Placement p;
    for (int round = 0; round < 400; ++round) {
      const std::size_t r = random() % kMembers;
      if (random() % 3 == 0) {
        bus.send(r, std::to_string(sent++));
      } else {
        bus.step_random(r, random);
      }
      while (bus.orderer(0).poll_placement(p)) {
        EXPECT_EQ(p.position, ++position) << "seed " << seed;
        placed.push_back(std::to_string(p.sender) + ":" + std::to_string(p.seq));
      }
    }
    bus.settle(random, std::vector<bool>(kMembers, true));
    while (bus.orderer(0).poll_placement(p)) {
      EXPECT_EQ(p.position, ++position) << "seed " << seed;
      placed.push_back(std::to_string(p.sender) + ":" + std::to_string(p.seq));
    }
    EXPECT_EQ(placed.size(), static_cast<std::size_t>(sent)) << "seed " << seed;
    EXPECT_EQ(placed, keys(bus.delivered(0))) << "seed " << seed;
    for (std::size_t r = 1; r < kMembers; ++r) {
      EXPECT_EQ(keys(bus.delivered(r)), placed) << "seed " << seed;
      EXPECT_FALSE(bus.orderer(r).poll_placement(p)) << "seed " << seed << ": member " << r;
    }
  }
}

TEST(TotalOrder, NothingIsReportedUnlessAskedNorByOtherOrders) {
  OrderBus quiet(Order::total, 2);
  quiet.send(0, "a");
  quiet.send(1, "b");
  quiet.step(0, 1);
  Placement p;
  EXPECT_FALSE(quiet.orderer(0).poll_placement(p)) << "report_placements was never asked for";
  ASSERT_EQ(quiet.delivered(0).size(), 2u) << "the announcement went out all the same";
  for (const Order order : {Order::fifo, Order::causal, Order::agreed}) {
    OrderBus bus(order, 2);
    for (std::size_t r = 0; r < 2; ++r)
      bus.orderer(r).report_placements(true);
    bus.send(0, "a");
    bus.send(1, "b");
    bus.step(0, 1);
    bus.step(1, 0);
    for (std::size_t r = 0; r < 2; ++r)
      EXPECT_FALSE(bus.orderer(r).poll_placement(p)) << to_string(order) << ", member " << r;
  }
}

// The sequencer (1) placed member 3's message, lost with it, then member 2's;
// member 1's last message was never placed. flush() keeps the placed order
// where it can, then takes the rest by sender id.
TEST(TotalOrder, FlushKeepsTheAnnouncedOrderThenGoesBySenderId) {
  auto o = make_orderer(Order::total, 2, 1, {1, 2, 3});
  o->on_fifo(app(2, 1, {}, "b1"));
  o->on_fifo(app(1, 1, {}, "a1"));
  o->on_fifo(control(1, 2, varints({2, 1, 1, 1, 1, 1}), raw({'T'})));
  EXPECT_FALSE(o->poll_delivery()) << "member 3's message comes first, and is missing";
  o->flush();
  std::string order;
  while (auto d = o->poll_delivery())
    order += std::string(as_text(d->payload)) + " ";
  EXPECT_EQ(order, "b1 a1 ");
  EXPECT_EQ(o->counters().flushed, 2u);
}

// ---- bad meta and control payloads ----

TEST(OrderVarint, ReadsBackAndRefusesWhatIsNotStrict) {
  for (const std::uint64_t v : {0ULL, 1ULL, 127ULL, 128ULL, 300ULL, ~0ULL}) {
    const Bytes b = varints({v});
    order_detail::VarintReader r(b);
    std::uint64_t got = 1;
    ASSERT_TRUE(r.read(got));
    EXPECT_EQ(got, v);
    EXPECT_TRUE(r.at_end());
  }
  for (const Bytes& bad :
       {raw({}), raw({0x80}), raw({0x80, 0x00}), raw({0xff, 0x80, 0x00}),
        raw({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}),
        raw({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})}) {
    order_detail::VarintReader r(bad);
    std::uint64_t got = 0;
    EXPECT_FALSE(r.read(got)) << bad.size() << " bytes";
  }
}

TEST(CausalOrder, BadMetaIsDroppedAndCounted) {
  auto o = make_orderer(Order::causal, 1, 1, {1, 2, 3});
  const std::vector<Delivery> bad = {
      control(2, 1, to_bytes("c"), {}),       // causal has no control messages
      app(2, 1, {}),                          // no vector
      app(2, 1, varints({2, 0, 0})),          // count too small
      app(2, 1, varints({4, 0, 0, 0, 0})),    // count too large
      app(2, 1, varints({3, 0, 0})),          // ends inside the vector
      app(2, 1, varints({3, 0, 0, 0, 0})),    // a byte after it
      app(2, 1, raw({3, 0, 0x80, 0x00, 0})),  // not canonical
      app(2, 1, raw({3, 0, 0x80})),           // a varint cut short
      app(2, 1, varints({3, 0, 1, 0})),       // follows a message of 2 not yet sent
      app(2, 1, varints({3, 1, 0, 0})),       // follows a message of ours never sent
      app(9, 1, varints({3, 0, 0, 0})),       // a stranger
  };
  for (const Delivery& d : bad)
    o->on_fifo(d);
  EXPECT_EQ(o->counters().bad_meta, bad.size());
  EXPECT_FALSE(o->poll_delivery());
  o->on_fifo(app(2, 1, varints({3, 0, 0, 0}), "good"));
  const auto d = o->poll_delivery();
  ASSERT_TRUE(d);
  EXPECT_EQ(as_text(d->payload), "good");
}

TEST(TotalOrder, BadAnnouncementsAreDroppedWholeAndCounted) {
  auto o = make_orderer(Order::total, 2, 1, {1, 2, 3});  // 1 is the sequencer
  const Bytes t = raw({'T'});
  o->on_fifo(app(3, 1, {}, "m"));  // message 1 of member 3 (index 2)
  const std::vector<Delivery> bad = {
      app(3, 2, raw({1}), "meta"),                       // application meta under total
      control(3, 1, varints({2, 1, 1}), t),              // not from the sequencer
      control(1, 1, varints({2, 1, 1}), {}),             // no kind
      control(1, 1, varints({2, 1, 1}), raw({'P'})),     // another kind
      control(1, 1, varints({2, 1, 1}), raw({'T', 0})),  // a longer meta
      control(1, 1, {}, t),                              // no run
      control(1, 1, varints({2, 1}), t),                 // a run cut short
      control(1, 1, varints({3, 1, 1}), t),              // no member of index 3
      control(1, 1, varints({2, 2, 1}), t),              // skips message 1
      control(1, 1, varints({2, 0, 1}), t),              // message 0
      control(1, 1, varints({2, 1, 0}), t),              // an empty run
      control(1, 1, varints({2, 1, (1 << 20) + 1}), t),  // a run too long
      control(1, 1, varints({2, 1, 1, 0, 5, 1}), t),     // a good run, then a gap
      control(1, 1, raw({2, 1, 0x81, 0x00}), t),         // not canonical
  };
  for (const Delivery& d : bad)
    o->on_fifo(d);
  EXPECT_EQ(o->counters().bad_meta, bad.size());
  EXPECT_FALSE(o->poll_delivery()) << "no announcement placed the message";
  o->on_fifo(control(1, 1, varints({2, 1, 1}), t));
  const auto d = o->poll_delivery();
  ASSERT_TRUE(d);
  EXPECT_EQ(as_text(d->payload), "m");
}

TEST(AgreedOrder, BadProposalsAreDroppedWholeAndCounted) {
  auto o = make_orderer(Order::agreed, 1, 1, {1, 2});
  const Bytes p = raw({'P'});
  const std::vector<Delivery> bad = {
      app(2, 1, raw({1}), "meta"),                        // application meta under agreed
      control(2, 1, varints({1, 1, 5}), {}),              // no kind
      control(2, 1, varints({1, 1, 5}), raw({'T'})),      // another kind
      control(2, 1, {}, p),                               // no entry
      control(2, 1, varints({1, 1}), p),                  // an entry cut short
      control(2, 1, varints({2, 1, 5}), p),               // no member of index 2
      control(2, 1, varints({1, 2, 5}), p),               // skips message 1
      control(2, 1, varints({1, 0, 5}), p),               // message 0
      control(2, 1, varints({1, 1, 0}), p),               // counter not above the last
      control(2, 1, varints({1, 1, 1ULL << 62}), p),      // counter too large
      control(2, 1, varints({1, 1, 5, 1, 2, 5}), p),      // counters not increasing
      control(2, 1, varints({1, 1, 5, 1, 1, 6}), p),      // the same message twice
      control(2, 1, varints({1, 1, 5, 0, 70000, 6}), p),  // far ahead... and a gap
      control(2, 1, raw({1, 1, 0x85, 0x00}), p),          // not canonical
  };
  for (const Delivery& d : bad)
    o->on_fifo(d);
  EXPECT_EQ(o->counters().bad_meta, bad.size());
  // The state is untouched: message 1 of member 2 with its good proposals delivers.
  o->on_fifo(app(2, 1, {}, "m"));
  Bytes payload, meta;
  ASSERT_TRUE(o->poll_control(payload, meta));
  o->on_fifo(control(1, 1, payload, meta));  // our own proposal comes back
  EXPECT_FALSE(o->poll_delivery()) << "member 2's proposal is missing";
  o->on_fifo(control(2, 2, varints({1, 1, 5}), p));
  const auto d = o->poll_delivery();
  ASSERT_TRUE(d);
  EXPECT_EQ(as_text(d->payload), "m");
  EXPECT_EQ(o->counters().bad_meta, bad.size());
}

TEST(AgreedOrder, AProposalTooFarAheadIsRefused) {
  auto o = make_orderer(Order::agreed, 1, 1, {1, 2});
  Bytes payload;
  std::uint64_t counter = 0;
  for (std::uint64_t n = 1; n <= (1 << 16); ++n)
    put_varint(payload, 1), put_varint(payload, n), put_varint(payload, ++counter);
  o->on_fifo(control(2, 1, payload, raw({'P'})));  // 65,536 ahead: at the bound
  EXPECT_EQ(o->counters().bad_meta, 0u);
  o->on_fifo(control(2, 2, varints({1, (1 << 16) + 1, counter + 1}), raw({'P'})));
  EXPECT_EQ(o->counters().bad_meta, 1u);
}

TEST(MakeOrderer, RefusesAViewWithoutSelfOrWithAnIdTwice) {
  for (const Order order : {Order::causal, Order::total, Order::agreed}) {
    EXPECT_EQ(make_orderer(order, 4, 1, {1, 2, 3}), nullptr);
    EXPECT_EQ(make_orderer(order, 1, 1, {1, 2, 2}), nullptr);
    EXPECT_NE(make_orderer(order, 2, 1, {1, 2, 3}), nullptr);
  }
  EXPECT_NE(make_orderer(Order::fifo, 4, 1, {1, 2, 3}), nullptr);
}

}  // namespace
}  // namespace nexo::group
