// Total order without a sequencer: Skeen's agreed priorities (as Isis ran them),
// in the symmetric variant.
//
// Every member keeps a Lamport-style counter c. For every application message
// it receives (its own included) it proposes the priority (++c, its member
// id) and sends the proposal to the group in a control message (batched). The
// message's final priority is the greatest of the view's proposals. Control
// messages reach every member, once and in each proposer's order, so instead
// of the sender collecting the proposals and announcing the final priority
// (the original's second round), every member computes it itself once it has
// every member's proposal. A member raises c to every counter it sees.
//
// Delivery: the messages here and undelivered wait in a queue ordered by
// their priority so far (the greatest of the proposals known, this member's
// own included), ties broken by sender id, then number; the head is delivered
// once its priority is final. That is safe: a final priority is above the
// priority so far of every other message in the queue (whose final can only
// grow), and a message that has not arrived yet will get from this member a
// proposal above every counter seen, this final included. Priorities are
// unique (one member never proposes a counter twice), and each member
// proposes for a sender's messages in their FIFO order, so each sender's
// messages keep their order too.
//
// Application messages carry no meta. Every member numbers each sender's
// accepted application messages 1, 2, ... (the same everywhere).
// Proposals: meta is one byte, 'P'; the payload is entries (varints as in
// order_internal.hpp), at least one, each
//   sender   the index of the message's sender in the view's member list
//   number   the proposer's next message of that sender: the one after the
//            last it proposed for (it proposes for each once, in order), at
//            most kMaxAhead past the messages of that sender here
//   counter  above every counter this proposer proposed before, below 2^62
// A control message breaking any rule, of another kind or that does not
// parse, is dropped whole and counted (bad_meta).
//
// flush(): every surviving member has had the same on_fifo calls, so knows the
// same proposals (its own unsent ones do not count). It delivers what is
// final, by final priority (a member's earlier deliveries are the smallest of
// these), then the rest: repeatedly the sender's next message whose priority
// from the proposals received is lowest (ties: sender id, number). So every
// survivor delivers one sequence, each message once.
#include <algorithm>
#include <deque>
#include <set>
#include <tuple>

#include "nexo/group/order_internal.hpp"

namespace nexo::group::order_detail {
namespace {

constexpr std::uint64_t kMaxAhead = 1 << 16;
constexpr std::uint64_t kMaxCounter = std::uint64_t{1} << 62;

// A priority: (counter, proposer id); then the message, for a strict order.
struct Slot {
  std::uint64_t counter = 0;
  MemberId proposer = 0;
  MemberId sender = 0;
  std::uint64_t number = 0;
  std::uint32_t sender_index = 0;

  friend bool operator<(const Slot& a, const Slot& b) {
    return std::tie(a.counter, a.proposer, a.sender, a.number) <
           std::tie(b.counter, b.proposer, b.sender, b.number);
  }
};

struct Priority {
  std::uint64_t counter = 0;
  MemberId proposer = 0;
  friend auto operator<=>(const Priority&, const Priority&) = default;
};

struct Entry {
  std::optional<Delivery> message;  // here once it arrived
  Priority best;                    // the greatest proposal received
  Priority own;                     // this member's proposal (once it arrived)
  std::uint32_t proposals = 0;      // received
  bool queued = false, delivered = false;
  Slot slot;  // its key in the queue when queued
};

struct Proposal {
  std::uint32_t sender;
  std::uint64_t number, counter;
};

class AgreedOrderer final : public Orderer {
 public:
  AgreedOrderer(MemberId self, const std::vector<MemberId>& members)
      : members_(members),
        index_(index_members(members)),
        self_(self),
        received_(members.size(), 0),
        base_(members.size(), 1),
        entries_(members.size()),
        next_proposal_(members.size() * members.size(), 1),
        last_counter_(members.size(), 0) {}

  void stamp(Bytes& meta) override { meta.clear(); }

  void on_fifo(Delivery delivery) override {
    const auto it = index_.find(delivery.sender);
    if (it == index_.end()) {
      ++counters_.bad_meta;
      return;
    }
    if (delivery.control) {
      ++counters_.control_received;
      if (!apply_proposals(it->second, delivery)) ++counters_.bad_meta;
    } else if (!delivery.meta.empty()) {
      ++counters_.bad_meta;
      return;
    } else {
      arrive(it->second, std::move(delivery));
    }
    deliver_ready();
  }

  bool poll_control(Bytes& payload, Bytes& meta) override {
    if (to_propose_.empty()) return false;
    payload.clear();
    std::size_t taken = 0;
    while (taken < to_propose_.size() && payload.size() < kMaxControlPayload) {
      const Proposal& p = to_propose_[taken++];
      put_varint(payload, p.sender);
      put_varint(payload, p.number);
      put_varint(payload, p.counter);
    }
    to_propose_.erase(to_propose_.begin(), to_propose_.begin() + static_cast<long>(taken));
    meta.assign(1, kProposals);
    ++counters_.control_sent;
    return true;
  }

  std::optional<Delivery> poll_delivery() override {
    if (ready_.empty()) return std::nullopt;
    Delivery d = std::move(ready_.front());
    ready_.pop_front();
    return d;
  }

  void flush() override;

  const OrderCounters& counters() const noexcept override { return counters_; }

 private:
  Entry& entry(std::uint32_t s, std::uint64_t number) {
    while (base_[s] + entries_[s].size() <= number)
      entries_[s].emplace_back();
    return entries_[s][number - base_[s]];
  }

  void arrive(std::uint32_t s, Delivery delivery) {
    const std::uint64_t number = ++received_[s];
    Entry& e = entry(s, number);
    e.message = std::move(delivery);
    e.own = Priority{++counter_, self_};
    to_propose_.push_back(Proposal{s, number, counter_});
    e.slot = Slot{0, 0, members_[s], number, s};
    requeue(e);
  }

  // Puts `e` into the queue at its priority so far (or moves it there).
  void requeue(Entry& e) {
    if (e.queued) {
      queue_.erase(e.slot);
    } else {
      ++counters_.held;
    }
    const Priority p = std::max(e.best, e.own);
    e.slot.counter = p.counter;
    e.slot.proposer = p.proposer;
    queue_.insert(e.slot);
    e.queued = true;
  }

  bool apply_proposals(std::uint32_t x, const Delivery& d) {
    if (d.meta.size() != 1 || d.meta[0] != kProposals || d.payload.empty()) return false;
    const std::size_t n = members_.size();
    scratch_.assign(next_proposal_.begin() + static_cast<long>(x * n),
                    next_proposal_.begin() + static_cast<long>((x + 1) * n));
    std::uint64_t last = last_counter_[x];
    proposals_.clear();
    VarintReader reader(d.payload);
    while (!reader.at_end()) {
      std::uint64_t sender = 0, number = 0, counter = 0;
      if (!reader.read(sender) || !reader.read(number) || !reader.read(counter)) return false;
      if (sender >= n || number != scratch_[sender] || number > received_[sender] + kMaxAhead ||
          counter <= last || counter >= kMaxCounter)
        return false;
      ++scratch_[sender];
      last = counter;
      proposals_.push_back(Proposal{static_cast<std::uint32_t>(sender), number, counter});
    }
    std::copy(scratch_.begin(), scratch_.end(), next_proposal_.begin() + static_cast<long>(x * n));
    last_counter_[x] = last;
    for (const Proposal& p : proposals_)
      propose(p, members_[x]);
    return true;
  }

  void propose(const Proposal& p, MemberId proposer) {
    counter_ = std::max(counter_, p.counter);
    if (p.number < base_[p.sender]) return;  // delivered: only after flush()
    Entry& e = entry(p.sender, p.number);
    e.best = std::max(e.best, Priority{p.counter, proposer});
    ++e.proposals;
    if (e.queued) requeue(e);
  }

  bool final(const Entry& e) const { return e.proposals == members_.size(); }

  void deliver(std::uint32_t s, Entry& e, bool flushing) {
    if (e.queued) {
      queue_.erase(e.slot);
      e.queued = false;
      --counters_.held;
    }
    e.delivered = true;
    ready_.push_back(std::move(*e.message));
    ++counters_.delivered;
    if (flushing) ++counters_.flushed;
    while (!entries_[s].empty() && entries_[s].front().delivered) {
      entries_[s].pop_front();
      ++base_[s];
    }
  }

  void deliver_ready() {
    while (!queue_.empty()) {
      const Slot head = *queue_.begin();
      Entry& e = entry(head.sender_index, head.number);
      if (!final(e)) return;
      deliver(head.sender_index, e, false);
    }
  }

  std::vector<MemberId> members_;
  std::unordered_map<MemberId, std::uint32_t> index_;
  MemberId self_;
  std::uint64_t counter_ = 0;                 // the Lamport-style counter
  std::vector<std::uint64_t> received_;       // per member: its application messages here
  std::vector<std::uint64_t> base_;           // per member: the number of entries_[s].front()
  std::vector<std::deque<Entry>> entries_;    // per member: undelivered (or proposed ahead)
  std::vector<std::uint64_t> next_proposal_;  // [proposer * n + sender]: its next number
  std::vector<std::uint64_t> last_counter_;   // per proposer: its last counter
  std::set<Slot> queue_;                      // arrived, undelivered, by priority so far
  std::vector<Proposal> to_propose_;          // this member's, not yet polled
  std::vector<std::uint64_t> scratch_;        // apply_proposals' copy of a proposer's row
  std::vector<Proposal> proposals_;           // ... and its parsed entries
  std::deque<Delivery> ready_;
  OrderCounters counters_;
};

void AgreedOrderer::flush() {
  deliver_ready();
  // What is final, by final priority.
  std::vector<Slot> finals;
  for (std::uint32_t s = 0; s < entries_.size(); ++s) {
    for (std::size_t i = 0; i < entries_[s].size(); ++i) {
      const Entry& e = entries_[s][i];
      if (e.message && !e.delivered && final(e))
        finals.push_back(Slot{e.best.counter, e.best.proposer, members_[s], base_[s] + i, s});
    }
  }
  std::sort(finals.begin(), finals.end());
  for (const Slot& f : finals)
    deliver(f.sender_index, entry(f.sender_index, f.number), true);
  // The rest: each sender's next, lowest priority from the proposals received first.
  for (;;) {
    std::optional<Slot> pick;
    for (std::uint32_t s = 0; s < entries_.size(); ++s) {
      for (std::size_t i = 0; i < entries_[s].size(); ++i) {
        const Entry& e = entries_[s][i];
        if (!e.message || e.delivered) continue;
        const Slot slot{e.best.counter, e.best.proposer, members_[s], base_[s] + i, s};
        if (!pick || slot < *pick) pick = slot;
        break;
      }
    }
    if (!pick) break;
    deliver(pick->sender_index, entry(pick->sender_index, pick->number), true);
  }
  to_propose_.clear();  // the view is over
}

}  // namespace

std::unique_ptr<Orderer> make_agreed_orderer(MemberId self, const std::vector<MemberId>& members) {
  return std::make_unique<AgreedOrderer>(self, members);
}

}  // namespace nexo::group::order_detail
