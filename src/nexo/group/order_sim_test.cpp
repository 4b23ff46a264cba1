// The orderers over real Members on the simulated network, through loss,
// duplication and reordering: causal reply chains checked against the
// recorded causal histories; one sequence at every member under total and
// agreed order (5 and 20 members); a sequencer that crashes under load, the
// survivors brought to the same FIFO set (what the virtual-synchrony flush
// does) and flushed. Each run prints its seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nexo/group/member.hpp"
#include "nexo/group/order.hpp"
#include "nexo/group/sim_network.hpp"

namespace nexo::group {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kGroup = group_tag("order-sim");
Time t0() {
  return Time{} + 1h;
}

// Test-only: a Member and an Orderer as one simulated process, wired as the
// Endpoint wires them (order.hpp): stamp before sending, every FIFO delivery
// to on_fifo, control messages sent as polled, the orderer's deliveries to
// the application. NodeId = the member's place in the view.
class OrderedNode final : public sim::Node {
 public:
  // What the application does on a delivery: maybe answer (the reply's text).
  using OnDeliver = std::function<std::optional<std::string>(const Delivery&)>;

  OrderedNode(Member member, std::unique_ptr<Orderer> orderer)
      : member_(std::move(member)), orderer_(std::move(orderer)) {}

  void on_datagram(std::span<const std::byte> datagram, sim::NodeId, Time now) override {
    member_.on_packet(datagram, now);
    pump(now);
  }
  void on_timer(Time now) override {
    member_.on_timer(now);
    pump(now);
  }
  std::optional<Time> next_timer() const override { return member_.next_timer(); }
  bool poll_transmit(Bytes& out, sim::Destination& to, Time) override {
    Destination d;
    if (!member_.poll_transmit(out, d)) return false;
    const auto& ms = member_.members();
    to = d.group ? sim::to_group()
                 : sim::to_node(static_cast<sim::NodeId>(std::find(ms.begin(), ms.end(), d.member) -
                                                         ms.begin()));
    return true;
  }

  // Sends now, or queues it (window full) for the next call into the node.
  void send(std::string text, Time now) {
    outbox_.push_back(std::move(text));
    pump(now);
  }

  // The FIFO deliveries (own messages and control messages included) so far.
  const std::vector<Delivery>& fifo() const { return fifo_; }
  // The application's deliveries, in order.
  const std::vector<Delivery>& delivered() const { return delivered_; }
  Orderer& orderer() { return *orderer_; }
  const Member& member() const { return member_; }
  std::uint64_t most_held() const { return most_held_; }
  bool idle() const { return outbox_.empty() && backlog_.empty(); }
  void set_on_deliver(OnDeliver on_deliver) { on_deliver_ = std::move(on_deliver); }
  // Before send(): every send records this member's deliveries so far per sender.
  void record_histories(std::map<std::string, std::map<MemberId, std::size_t>>* histories) {
    histories_ = histories;
  }

  // A FIFO delivery the Member never made (another survivor had it).
  void feed(const Delivery& d) {
    fifo_.push_back(d);
    orderer_->on_fifo(d);
    take_deliveries();
  }
  void flush() {
    orderer_->flush();
    take_deliveries();
  }

 private:
  void pump(Time now) {
    for (bool moved = true; moved;) {
      moved = false;
      while (auto d = member_.poll_delivery()) {
        fifo_.push_back(*d);
        orderer_->on_fifo(std::move(*d));
        most_held_ = std::max(most_held_, orderer_->counters().held);
        moved = true;
      }
      moved |= send_control(now);
      moved |= take_deliveries();
      moved |= send_outbox(now);
    }
  }

  bool send_control(Time now) {
    bool moved = false;
    for (;;) {
      if (backlog_.empty()) {
        Bytes payload, meta;
        if (!orderer_->poll_control(payload, meta)) return moved;
        backlog_.push_back({std::move(payload), std::move(meta)});
      }
      auto& [payload, meta] = backlog_.front();
      if (!member_.send(payload, meta, true, now)) return moved;  // window full: later
      backlog_.pop_front();
      moved = true;
    }
  }

  bool send_outbox(Time now) {
    bool moved = false;
    while (!outbox_.empty()) {
      if (histories_) {
        auto& h = (*histories_)[outbox_.front()];
        for (const Delivery& d : delivered_)
          ++h[d.sender];
      }
      Bytes meta;
      orderer_->stamp(meta);
      if (!member_.send(as_bytes(outbox_.front()), meta, false, now)) {
        if (histories_) histories_->erase(outbox_.front());
        return moved;
      }
      outbox_.pop_front();
      moved = true;
    }
    return moved;
  }

  bool take_deliveries() {
    bool moved = false;
    while (auto d = orderer_->poll_delivery()) {
      if (on_deliver_ && d->sender != member_.self())
        if (auto reply = on_deliver_(*d)) outbox_.push_back(std::move(*reply));
      delivered_.push_back(std::move(*d));
      moved = true;
    }
    return moved;
  }

  Member member_;
  std::unique_ptr<Orderer> orderer_;
  std::vector<Delivery> fifo_, delivered_;
  std::deque<std::string> outbox_;
  std::deque<std::pair<Bytes, Bytes>> backlog_;
  std::uint64_t most_held_ = 0;
  OnDeliver on_deliver_;
  std::map<std::string, std::map<MemberId, std::size_t>>* histories_ = nullptr;
};

std::vector<MemberId> ids(std::size_t n) {
  std::vector<MemberId> out;
  for (std::size_t i = 1; i <= n; ++i)
    out.push_back(i);
  return out;
}

struct Group {
  sim::Network net;
  std::vector<OrderedNode*> nodes;
  std::vector<MemberId> members;

  Group(Order order, std::size_t n, std::uint64_t seed) : Group(order, ids(n), 1, seed) {}
  // A view `view` of `view_members`, the nodes in the view's order.
  Group(Order order, std::vector<MemberId> view_members, std::uint64_t view, std::uint64_t seed)
      : net(seed, t0()), members(std::move(view_members)) {
    net.set_link({.loss = 0.10, .duplicate = 0.05, .delay = 1ms, .jitter = 1ms});
    for (const MemberId m : members) {
      MemberConfig c;
      c.group = kGroup;
      c.self = m;
      c.members = members;
      c.view = ViewId{view, members.front()};
      c.seed = seed * 1000 + m;
      auto member = Member::create(c, net.now());
      EXPECT_TRUE(member) << member.error().message();
      auto node =
          std::make_unique<OrderedNode>(std::move(*member), make_orderer(order, m, view, members));
      nodes.push_back(node.get());
      net.add(std::move(node));
    }
  }

  // Member index i sends `text` at virtual time `at`.
  void send_at(Time at, std::size_t i, std::string text) {
    net.schedule(at, [this, i, text](sim::Network& n) {
      nodes[i]->send(text, n.now());
      n.kick(static_cast<sim::NodeId>(i));
    });
  }

  bool all_delivered(std::size_t count, const std::vector<bool>& alive) const {
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (alive[i] && nodes[i]->delivered().size() < count) return false;
    return true;
  }
};

std::vector<std::string> texts(const std::vector<Delivery>& ds) {
  std::vector<std::string> out;
  for (const Delivery& d : ds)
    out.emplace_back(as_text(d.payload));
  return out;
}

// Each sender's messages in the order sent ("<sender>.<i>"), each once.
void expect_fifo_once(const std::vector<Delivery>& ds, std::uint64_t seed) {
  std::map<MemberId, std::uint64_t> last;
  std::set<std::string> seen;
  for (const Delivery& d : ds) {
    EXPECT_TRUE(seen.emplace(as_text(d.payload)).second) << "seed " << seed << ": twice";
    EXPECT_GT(d.seq, last[d.sender]) << "seed " << seed << ": out of FIFO order";
    last[d.sender] = d.seq;
  }
}

// ---- causal: chains of replies ----

struct CausalResult {
  std::size_t messages = 0, violations = 0;
  std::uint64_t most_held = 0;
};

// 5 members each start 4 threads; a member that delivers another's message
// answers it (hop + 1) when the hash says so, up to 6 hops. Histories are
// recorded at every send; every delivery is checked against them.
CausalResult run_replies(Order order, std::uint64_t seed) {
  constexpr std::size_t kMembers = 5;
  Group g(order, kMembers, seed);
  std::map<std::string, std::map<MemberId, std::size_t>> histories;
  std::size_t sent = 0;
  for (std::size_t i = 0; i < kMembers; ++i) {
    g.nodes[i]->record_histories(&histories);
    g.nodes[i]->set_on_deliver([i, &sent, seed](const Delivery& d) -> std::optional<std::string> {
      const std::string text(as_text(d.payload));
      const int hop = text.back() - '0';
      if (hop >= 6 || (std::hash<std::string>{}(text) + i + seed) % 3 != 0) return std::nullopt;
      return std::to_string(i + 1) + "." + std::to_string(sent++) + "." + std::to_string(hop + 1);
    });
  }
  for (std::size_t i = 0; i < kMembers; ++i)
    for (int k = 0; k < 4; ++k)
      g.send_at(t0() + k * 7ms + i * 1ms, i,
                std::to_string(i + 1) + ".r" + std::to_string(k) + ".0");
  g.net.run_for(3s);
  CausalResult result;
  result.messages = histories.size();
  for (OrderedNode* node : g.nodes) {
    EXPECT_TRUE(node->idle()) << "seed " << seed;
    EXPECT_EQ(node->delivered().size(), histories.size()) << "seed " << seed;
    expect_fifo_once(node->delivered(), seed);
    std::map<MemberId, std::size_t> have;
    for (const Delivery& d : node->delivered()) {
      for (const auto& [member, count] : histories.at(std::string(as_text(d.payload))))
        if (have[member] < count) ++result.violations;
      ++have[d.sender];
    }
    result.most_held = std::max(result.most_held, node->most_held());
  }
  return result;
}

class CausalOverSimulatedNetwork : public ::testing::TestWithParam<std::uint64_t> {};
INSTANTIATE_TEST_SUITE_P(Seeds, CausalOverSimulatedNetwork, ::testing::Values(1, 2, 3));

TEST_P(CausalOverSimulatedNetwork, NoReplyIsDeliveredBeforeWhatItFollows) {
  const std::uint64_t seed = GetParam();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const CausalResult causal = run_replies(Order::causal, seed);
  const CausalResult fifo = run_replies(Order::fifo, seed);
  std::printf(
      "seed %llu: %zu messages; causal: %zu violations, at most %llu held; "
      "the same run under FIFO: %zu violations\n",
      static_cast<unsigned long long>(seed), causal.messages, causal.violations,
      static_cast<unsigned long long>(causal.most_held), fifo.violations);
  EXPECT_GT(causal.messages, 60u) << "seed " << seed << ": too few replies to test";
  EXPECT_EQ(causal.violations, 0u) << "seed " << seed;
  EXPECT_GT(causal.most_held, 0u) << "seed " << seed << ": nothing ever waited";
  EXPECT_GT(fifo.violations, 0u) << "seed " << seed << ": the run races nothing";
}

// ---- total and agreed: one sequence ----

struct TotalCase {
  Order order;
  std::size_t members;
  std::uint64_t seed;
};

class TotalOverSimulatedNetwork : public ::testing::TestWithParam<TotalCase> {};
INSTANTIATE_TEST_SUITE_P(
    Cases, TotalOverSimulatedNetwork,
    ::testing::Values(TotalCase{Order::total, 5, 1}, TotalCase{Order::total, 5, 2},
                      TotalCase{Order::total, 5, 3}, TotalCase{Order::total, 20, 1},
                      TotalCase{Order::total, 20, 2}, TotalCase{Order::agreed, 5, 1},
                      TotalCase{Order::agreed, 5, 2}, TotalCase{Order::agreed, 5, 3},
                      TotalCase{Order::agreed, 20, 1}, TotalCase{Order::agreed, 20, 2}),
    [](const auto& p) {
      return std::string(to_string(p.param.order)) + "_" + std::to_string(p.param.members) +
             "_seed" + std::to_string(p.param.seed);
    });

TEST_P(TotalOverSimulatedNetwork, EveryMemberDeliversTheSameSequenceOnce) {
  const auto [order, n, seed] = GetParam();
  std::printf("%s, %zu members, seed %llu\n", std::string(to_string(order)).c_str(), n,
              static_cast<unsigned long long>(seed));
  Group g(order, n, seed);
  const int each = n <= 5 ? 40 : 10;
  for (std::size_t i = 0; i < n; ++i)
    for (int k = 0; k < each; ++k)
      g.send_at(t0() + k * 2ms + i * 100us, i, std::to_string(i + 1) + "." + std::to_string(k));
  const std::size_t total = n * static_cast<std::size_t>(each);
  const std::vector<bool> alive(n, true);
  ASSERT_TRUE(g.net.run_until([&] { return g.all_delivered(total, alive); }, t0() + 60s))
      << "seed " << seed;
  g.net.run_for(1s);  // late duplicates and control messages deliver nothing twice
  const auto first = texts(g.nodes[0]->delivered());
  for (OrderedNode* node : g.nodes) {
    ASSERT_EQ(node->delivered().size(), total) << "seed " << seed;
    EXPECT_EQ(texts(node->delivered()), first)
        << "seed " << seed << ", member " << node->member().self();
    expect_fifo_once(node->delivered(), seed);
    EXPECT_EQ(node->orderer().counters().bad_meta, 0u);
    EXPECT_EQ(node->orderer().counters().held, 0u);
  }
  std::uint64_t control = 0;
  for (OrderedNode* node : g.nodes)
    control += node->orderer().counters().control_sent;
  std::printf("seed %llu: %zu messages, %llu control messages; %s\n",
              static_cast<unsigned long long>(seed), total,
              static_cast<unsigned long long>(control), g.net.counters().to_string().c_str());
}

// ---- a member (the sequencer under total) crashes under load ----

class CrashOverSimulatedNetwork
    : public ::testing::TestWithParam<std::tuple<Order, std::uint64_t>> {};
INSTANTIATE_TEST_SUITE_P(Cases, CrashOverSimulatedNetwork,
                         ::testing::Combine(::testing::Values(Order::total, Order::agreed),
                                            ::testing::Values(1, 2, 3)),
                         [](const auto& p) {
                           return std::string(to_string(std::get<0>(p.param))) + "_seed" +
                                  std::to_string(std::get<1>(p.param));
                         });

// Brings every survivor to the same FIFO set: for each sender, the longest
// stream any survivor has (streams of one sender are prefixes of each other).
void equalize(Group& g, const std::vector<bool>& alive) {
  for (const MemberId sender : g.members) {
    const std::vector<Delivery>* longest = nullptr;
    std::vector<std::vector<Delivery>> of(g.nodes.size());
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      if (!alive[i]) continue;
      for (const Delivery& d : g.nodes[i]->fifo())
        if (d.sender == sender) of[i].push_back(d);
      if (!longest || of[i].size() > longest->size()) longest = &of[i];
    }
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      if (!alive[i]) continue;
      for (std::size_t k = 0; k < of[i].size(); ++k)
        ASSERT_EQ((*longest)[k].seq, of[i][k].seq) << "not a prefix";
      for (std::size_t k = of[i].size(); k < longest->size(); ++k)
        g.nodes[i]->feed((*longest)[k]);
    }
  }
}

// The next view, without member 1: under total order member 2 is the new
// sequencer, and the group orders again.
void expect_next_view_orders(Order order, std::uint64_t seed) {
  Group g(order, {2, 3, 4, 5}, 2, seed);
  for (std::size_t i = 0; i < 4; ++i)
    for (int k = 0; k < 20; ++k)
      g.send_at(t0() + k * 1ms + i * 100us, i, std::to_string(i + 2) + ".v2." + std::to_string(k));
  const std::vector<bool> alive(4, true);
  ASSERT_TRUE(g.net.run_until([&] { return g.all_delivered(80, alive); }, t0() + 30s))
      << "seed " << seed << ": the next view does not order";
  for (OrderedNode* node : g.nodes)
    EXPECT_EQ(texts(node->delivered()), texts(g.nodes[0]->delivered())) << "seed " << seed;
  if (order == Order::total) {
    EXPECT_GT(g.nodes[0]->orderer().counters().control_sent, 0u) << "member 2 announces";
  }
}

TEST_P(CrashOverSimulatedNetwork, SurvivorsFlushOneSequenceWithNoLossNorDuplicate) {
  const auto [order, seed] = GetParam();
  std::printf("%s, seed %llu\n", std::string(to_string(order)).c_str(),
              static_cast<unsigned long long>(seed));
  constexpr std::size_t kMembers = 5;
  constexpr int kEach = 60;
  Group g(order, kMembers, seed);
  for (std::size_t i = 0; i < kMembers; ++i)
    for (int k = 0; k < kEach; ++k)
      g.send_at(t0() + k * 1ms + i * 100us, i, std::to_string(i + 1) + "." + std::to_string(k));
  g.net.schedule(t0() + 20ms + (seed % 7) * 4ms, [](sim::Network& n) { n.crash(0); });
  g.net.run_for(2s);  // the survivors' streams settle; the crashed one's losses stay lost
  std::vector<bool> alive(kMembers, true);
  alive[0] = false;
  // No survivor can be complete: the view would have moved on without it.
  std::size_t pending = 0;
  for (std::size_t i = 1; i < kMembers; ++i)
    pending += g.nodes[i]->orderer().counters().held;
  EXPECT_GT(pending, 0u) << "seed " << seed << ": the crash left nothing undecided";
  equalize(g, alive);
  std::set<std::string> sent_by_survivors, any;
  for (std::size_t i = 1; i < kMembers; ++i)
    for (const Delivery& d : g.nodes[i]->fifo())
      if (!d.control) any.emplace(as_text(d.payload));
  for (std::size_t i = 1; i < kMembers; ++i)
    for (int k = 0; k < kEach; ++k)
      sent_by_survivors.insert(std::to_string(i + 1) + "." + std::to_string(k));
  for (const std::string& s : sent_by_survivors)
    EXPECT_TRUE(any.count(s)) << "seed " << seed << ": lost " << s;
  std::vector<std::string> first;
  std::uint64_t flushed = 0;
  for (std::size_t i = 1; i < kMembers; ++i) {
    g.nodes[i]->flush();
    flushed += g.nodes[i]->orderer().counters().flushed;
    const auto got = texts(g.nodes[i]->delivered());
    expect_fifo_once(g.nodes[i]->delivered(), seed);
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), any) << "seed " << seed;
    if (first.empty()) first = got;
    EXPECT_EQ(got, first) << "seed " << seed << ", member " << i + 1;
  }
  std::printf("seed %llu: %zu messages, %llu delivered by flush() over 4 survivors\n",
              static_cast<unsigned long long>(seed), any.size(),
              static_cast<unsigned long long>(flushed));
  expect_next_view_orders(order, seed);
}

}  // namespace
}  // namespace nexo::group
