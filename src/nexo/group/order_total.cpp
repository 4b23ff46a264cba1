// Total order through a sequencer: the view's first member.
//
// Application messages carry no meta (anything else is bad_meta). Every
// member numbers each sender's accepted application messages 1, 2, ... (the
// same numbers everywhere: the Member delivers each sender's messages in
// FIFO order). The sequencer places the messages in the order its on_fifo()
// sees them (its own included) and announces that order in control messages
// (poll_control), batched: runs of one sender's consecutive messages. Its
// own FIFO channel carries them, so every member gets every announcement,
// once and in order. Every member, the sequencer too (its announcements come
// back to it through on_fifo), delivers a message once it has both the
// message and its place: what a member delivers depends only on its on_fifo
// calls.
//
// Announcement: meta is one byte, 'T'; the payload is runs (varints as in
// order_internal.hpp), each
//   sender  the index of the sender in the view's member list
//   first   the sender's first message of the run: the one after the last
//           that earlier announcements placed (anything else: bad_meta)
//   count   1 .. 2^20 messages
// to the payload's end, at least one run. A control message from any other
// member than the sequencer, of another kind or that does not parse is
// dropped whole and counted (bad_meta); all members drop the same bytes.
//
// Placements (report_placements, for traces): as poll_control encodes a run
// the sequencer reports each of its messages with its Member sequence number
// and its position in the view's order. A run's messages are still in
// arrived_ then (deliver_placed takes only announced places, flush() clears
// what was not announced), so the numbers are read there.
//
// flush(): at the end of the view every surviving member has had the same
// on_fifo calls, so the same messages and announcements. It delivers first
// what the announcements placed, in their order (skipping a message nobody
// has: lost with its crashed sender; a sender's later ones are missing too),
// then every message no announcement placed, by sender id, then number. A
// member's deliveries before flush() are a prefix of the announced order, so
// every survivor delivers one sequence, each message once, whatever the
// sequencer had decided and not announced when it failed. The next view has
// a new orderer and, if the sequencer left, a new sequencer.
#include <algorithm>
#include <deque>

#include "nexo/group/order_internal.hpp"

namespace nexo::group::order_detail {
namespace {

constexpr std::uint64_t kMaxRun = 1 << 20;

struct Run {
  std::uint32_t sender;
  std::uint64_t first, last;
};

class TotalOrderer final : public Orderer {
 public:
  TotalOrderer(MemberId self, const std::vector<MemberId>& members)
      : members_(members),
        index_(index_members(members)),
        sequencer_(self == members.front()),
        received_(members.size(), 0),
        next_(members.size(), 1),
        announced_(members.size(), 0),
        arrived_(members.size()) {}

  void stamp(Bytes& meta) override { meta.clear(); }

  void on_fifo(Delivery delivery) override {
    const auto it = index_.find(delivery.sender);
    if (it == index_.end()) {
      ++counters_.bad_meta;
      return;
    }
    if (delivery.control) {
      ++counters_.control_received;
      if (delivery.sender != members_.front() || !apply_announcement(delivery)) {
        ++counters_.bad_meta;
        return;
      }
    } else {
      if (!delivery.meta.empty()) {
        ++counters_.bad_meta;
        return;
      }
      const std::uint32_t s = it->second;
      ++received_[s];
      if (sequencer_) place(s);
      arrived_[s].push_back(std::move(delivery));
      ++counters_.held;
    }
    deliver_placed();
  }

  bool poll_control(Bytes& payload, Bytes& meta) override {
    if (to_announce_.empty()) return false;
    payload.clear();
    payload.reserve(kMaxControlPayload + 32);  // one allocation: the last entry may pass the cut
    std::size_t runs = 0;
    while (runs < to_announce_.size() && payload.size() < kMaxControlPayload) {
      const Run& r = to_announce_[runs++];
      put_varint(payload, r.sender);
      put_varint(payload, r.first);
      put_varint(payload, r.last - r.first + 1);
      if (report_) report(r);
      position_ += r.last - r.first + 1;
    }
    to_announce_.erase(to_announce_.begin(), to_announce_.begin() + static_cast<long>(runs));
    meta.assign(1, kAnnouncement);
    ++counters_.control_sent;
    return true;
  }

  std::optional<Delivery> poll_delivery() override {
    if (ready_.empty()) return std::nullopt;
    Delivery d = std::move(ready_.front());
    ready_.pop_front();
    return d;
  }

  void flush() override {
    deliver_placed();
    for (const Run& r : order_) {
      for (std::uint64_t n = next_[r.sender]; n <= r.last && !arrived_[r.sender].empty(); ++n)
        take(r.sender, true);
    }
    order_.clear();
    std::vector<std::uint32_t> by_id(members_.size());
    for (std::uint32_t i = 0; i < by_id.size(); ++i)
      by_id[i] = i;
    std::sort(by_id.begin(), by_id.end(),
              [&](std::uint32_t a, std::uint32_t b) { return members_[a] < members_[b]; });
    for (const std::uint32_t s : by_id)
      while (!arrived_[s].empty())
        take(s, true);
    to_announce_.clear();  // the view is over: undecided places are nobody's
  }

  const OrderCounters& counters() const noexcept override { return counters_; }

  void report_placements(bool on) override {
    report_ = on;
    if (!on) placements_.clear();
  }

  bool poll_placement(Placement& out) override {
    if (placements_.empty()) return false;
    out = placements_.front();
    placements_.pop_front();
    return true;
  }

 private:
  // Queues a Placement for each message of run `r`, about to be announced.
  void report(const Run& r) {
    const std::deque<Delivery>& here = arrived_[r.sender];
    for (std::uint64_t n = r.first; n <= r.last; ++n) {
      const std::uint64_t at = n - next_[r.sender];
      if (n < next_[r.sender] || at >= here.size()) continue;  // not expected (see the top)
      placements_.push_back(
          Placement{members_[r.sender], here[at].seq, position_ + 1 + (n - r.first)});
    }
  }

  // The sequencer places message received_[s] of member s next.
  void place(std::uint32_t s) {
    const std::uint64_t n = received_[s];
    if (!to_announce_.empty() && to_announce_.back().sender == s &&
        to_announce_.back().last + 1 == n && n - to_announce_.back().first < kMaxRun) {
      ++to_announce_.back().last;
      return;
    }
    to_announce_.push_back(Run{s, n, n});
  }

  // Checks the whole announcement first: it applies whole or not at all.
  bool apply_announcement(const Delivery& d) {
    if (d.meta.size() != 1 || d.meta[0] != kAnnouncement || d.payload.empty()) return false;
    runs_.clear();
    placed_ = announced_;
    VarintReader reader(d.payload);
    while (!reader.at_end()) {
      std::uint64_t sender = 0, first = 0, count = 0;
      if (!reader.read(sender) || !reader.read(first) || !reader.read(count)) return false;
      if (sender >= members_.size() || count == 0 || count > kMaxRun) return false;
      const auto s = static_cast<std::uint32_t>(sender);
      if (first != placed_[s] + 1) return false;
      placed_[s] += count;
      runs_.push_back(Run{s, first, first + count - 1});
    }
    announced_.swap(placed_);
    for (const Run& r : runs_) {
      if (!order_.empty() && order_.back().sender == r.sender &&
          order_.back().last + 1 == r.first) {
        order_.back().last = r.last;
      } else {
        order_.push_back(r);
      }
    }
    return true;
  }

  // Moves member s's next message to the application.
  void take(std::uint32_t s, bool flushing) {
    ready_.push_back(std::move(arrived_[s].front()));
    arrived_[s].pop_front();
    ++next_[s];
    --counters_.held;
    ++counters_.delivered;
    if (flushing) ++counters_.flushed;
  }

  // Delivers the announced order's head while its message is here.
  void deliver_placed() {
    while (!order_.empty()) {
      const Run& r = order_.front();
      if (arrived_[r.sender].empty()) return;
      take(r.sender, false);
      if (next_[r.sender] > r.last) order_.pop_front();
    }
  }

  std::vector<MemberId> members_;
  std::unordered_map<MemberId, std::uint32_t> index_;
  bool sequencer_;
  std::vector<std::uint64_t> received_;        // per member: its application messages accepted
  std::vector<std::uint64_t> next_;            // per member: the number of its next to deliver
  std::vector<std::uint64_t> announced_;       // per member: placed by announcements, 1..this
  std::vector<std::deque<Delivery>> arrived_;  // per member: next_.. received_, undelivered
  std::deque<Run> order_;                      // announced, not yet delivered (the head in part)
  std::deque<Run> to_announce_;                // the sequencer's places not yet polled
  std::vector<Run> runs_;                      // scratch of apply_announcement
  std::vector<std::uint64_t> placed_;          // ... and announced_ as it would become
  std::deque<Delivery> ready_;
  std::uint64_t position_ = 0;        // the sequencer's places announced so far
  bool report_ = false;               // report_placements
  std::deque<Placement> placements_;  // reported, not yet polled
  OrderCounters counters_;
};

}  // namespace

std::unique_ptr<Orderer> make_total_orderer(MemberId self, const std::vector<MemberId>& members) {
  return std::make_unique<TotalOrderer>(self, members);
}

}  // namespace nexo::group::order_detail
