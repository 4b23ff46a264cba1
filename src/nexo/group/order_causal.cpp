// Causal order by vector timestamps.
//
// Every application message carries in its meta the vector V of its sender s
// at the time of sending: V[j] is how many application messages of member j
// (the view's members, in View order) s had delivered. A receiver delivers
// the message once it has delivered, for every j other than s, at least V[j]
// messages of j (s's own earlier messages come first anyway: the Member's
// FIFO order, and a sender's messages wait behind each other here). So no
// message is delivered before one it causally follows: one its sender had
// delivered before sending it, or an earlier one of the same sender. Own
// messages deliver at once (the sender has delivered all they follow).
//
// Meta layout (varints as in order_internal.hpp):
//   count          the number of members of the view (anything else: bad_meta)
//   V[0..count-1]  in View order
// and nothing after. Also bad_meta, as impossible from an honest sender: V[s]
// above the number of s's messages before this one, V[self] above the number
// of messages this member has sent. A dropped message is not delivered.
//
// flush(): what still waits (a message it follows is lost with a crashed
// member) is delivered in a deterministic order that keeps causality wherever
// the messages exist: a sender's head goes once every dependency it has is
// delivered or can never come (no message of that member is waiting); when
// none qualifies (only forged vectors do that), the head of the lowest
// sender id goes.
#include <algorithm>
#include <deque>

#include "nexo/group/order_internal.hpp"

namespace nexo::group::order_detail {
namespace {

class CausalOrderer final : public Orderer {
 public:
  CausalOrderer(MemberId self, const std::vector<MemberId>& members)
      : members_(members),
        index_(index_members(members)),
        self_(index_.at(self)),
        delivered_(members.size(), 0),
        received_(members.size(), 0),
        waiting_(members.size()) {
    by_id_.resize(members.size());
    for (std::uint32_t i = 0; i < by_id_.size(); ++i)
      by_id_[i] = i;
    std::sort(by_id_.begin(), by_id_.end(),
              [&](std::uint32_t a, std::uint32_t b) { return members_[a] < members_[b]; });
  }

  void stamp(Bytes& meta) override {
    meta.clear();
    put_varint(meta, delivered_.size());
    for (const std::uint64_t v : delivered_)
      put_varint(meta, v);
  }

  void on_fifo(Delivery delivery) override {
    const auto it = index_.find(delivery.sender);
    if (delivery.control || it == index_.end()) {
      ++counters_.bad_meta;  // no control message is causal's; a stranger never is
      return;
    }
    const std::uint32_t s = it->second;
    std::vector<std::uint64_t> vt;
    if (!decode(delivery.meta, s, vt)) {
      ++counters_.bad_meta;
      return;
    }
    ++received_[s];
    if (s == self_) {
      deliver(std::move(delivery), s);
      return;
    }
    waiting_[s].push_back(Waiting{std::move(delivery), std::move(vt)});
    ++counters_.held;
    deliver_ready();
  }

  bool poll_control(Bytes&, Bytes&) override { return false; }

  std::optional<Delivery> poll_delivery() override {
    if (ready_.empty()) return std::nullopt;
    Delivery d = std::move(ready_.front());
    ready_.pop_front();
    return d;
  }

  void flush() override {
    deliver_ready();
    while (counters_.held > 0) {
      std::uint32_t pick = kNone;
      for (const std::uint32_t s : by_id_) {
        if (!waiting_[s].empty() && flushable(waiting_[s].front().vt, s)) {
          pick = s;
          break;
        }
      }
      if (pick == kNone) {  // only forged vectors get here: lowest sender id first
        for (const std::uint32_t s : by_id_) {
          if (!waiting_[s].empty()) {
            pick = s;
            break;
          }
        }
      }
      take_head(pick, true);
      deliver_ready(true);
    }
  }

  const OrderCounters& counters() const noexcept override { return counters_; }

 private:
  static constexpr std::uint32_t kNone = 0xffffffffU;
  struct Waiting {
    Delivery delivery;
    std::vector<std::uint64_t> vt;
  };

  bool decode(std::span<const std::byte> meta, std::uint32_t s,
              std::vector<std::uint64_t>& vt) const {
    VarintReader reader(meta);
    std::uint64_t count = 0;
    if (!reader.read(count) || count != members_.size()) return false;
    vt.resize(members_.size());
    for (auto& v : vt)
      if (!reader.read(v)) return false;
    if (!reader.at_end()) return false;
    if (vt[s] > received_[s]) return false;  // follows messages of s not yet sent
    if (s != self_ && vt[self_] > received_[self_]) return false;  // ... or of ours
    return true;
  }

  bool deliverable(const std::vector<std::uint64_t>& vt, std::uint32_t s) const {
    for (std::uint32_t j = 0; j < vt.size(); ++j)
      if (j != s && delivered_[j] < vt[j]) return false;
    return true;
  }

  // At flush: every dependency is delivered or can no longer come.
  bool flushable(const std::vector<std::uint64_t>& vt, std::uint32_t s) const {
    for (std::uint32_t j = 0; j < vt.size(); ++j)
      if (j != s && delivered_[j] < vt[j] && !waiting_[j].empty()) return false;
    return true;
  }

  void deliver(Delivery delivery, std::uint32_t s) {
    ++delivered_[s];
    ++counters_.delivered;
    ready_.push_back(std::move(delivery));
  }

  void take_head(std::uint32_t s, bool flushing) {
    Waiting w = std::move(waiting_[s].front());
    waiting_[s].pop_front();
    --counters_.held;
    if (flushing) ++counters_.flushed;
    deliver(std::move(w.delivery), s);
  }

  // Delivers every waiting head whose dependencies are delivered, until none.
  void deliver_ready(bool flushing = false) {
    bool progress = true;
    while (progress && counters_.held > 0) {
      progress = false;
      for (std::uint32_t s = 0; s < waiting_.size(); ++s) {
        while (!waiting_[s].empty() && deliverable(waiting_[s].front().vt, s)) {
          take_head(s, flushing);
          progress = true;
        }
      }
    }
  }

  std::vector<MemberId> members_;
  std::unordered_map<MemberId, std::uint32_t> index_;
  std::uint32_t self_;
  std::vector<std::uint32_t> by_id_;          // member indices by increasing id
  std::vector<std::uint64_t> delivered_;      // per member: its messages delivered here
  std::vector<std::uint64_t> received_;       // per member: its messages accepted here
  std::vector<std::deque<Waiting>> waiting_;  // per member: accepted, not yet delivered
  std::deque<Delivery> ready_;
  OrderCounters counters_;
};

}  // namespace

std::unique_ptr<Orderer> make_causal_orderer(MemberId self, const std::vector<MemberId>& members) {
  return std::make_unique<CausalOrderer>(self, members);
}

}  // namespace nexo::group::order_detail
