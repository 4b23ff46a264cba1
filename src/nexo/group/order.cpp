// The orderers' names, the factory, and FIFO: the Member's own order, passed on.
#include "nexo/group/order.hpp"

#include <algorithm>
#include <deque>

#include "nexo/group/order_internal.hpp"

namespace nexo::group {

std::string_view to_string(Order order) noexcept {
  switch (order) {
    case Order::fifo:
      return "fifo";
    case Order::causal:
      return "causal";
    case Order::total:
      return "total";
    case Order::agreed:
      return "agreed";
  }
  return "unknown";
}

std::optional<Order> parse_order(std::string_view text) noexcept {
  for (const Order order : {Order::fifo, Order::causal, Order::total, Order::agreed})
    if (text == to_string(order)) return order;
  return std::nullopt;
}

namespace {

// FIFO: the Member already delivers each sender's messages in order; control
// messages have no place here (no FIFO member sends one) and are dropped.
class FifoOrderer final : public Orderer {
 public:
  void stamp(Bytes& meta) override { meta.clear(); }
  void on_fifo(Delivery delivery) override {
    if (delivery.control) {
      ++counters_.bad_meta;
      return;
    }
    ++counters_.delivered;
    ready_.push_back(std::move(delivery));
  }
  bool poll_control(Bytes&, Bytes&) override { return false; }
  std::optional<Delivery> poll_delivery() override {
    if (ready_.empty()) return std::nullopt;
    return ready_.take_front();
  }
  void flush() override {}
  const OrderCounters& counters() const noexcept override { return counters_; }

 private:
  Ring<Delivery> ready_;  // a steady stream allocates nothing here
  OrderCounters counters_;
};

}  // namespace

std::unique_ptr<Orderer> make_orderer(Order order, MemberId self, std::uint64_t /*view*/,
                                      const std::vector<MemberId>& members) {
  if (order == Order::fifo) return std::make_unique<FifoOrderer>();
  // The others index the view: self in it, no id twice.
  if (std::find(members.begin(), members.end(), self) == members.end() ||
      order_detail::index_members(members).size() != members.size())
    return nullptr;
  switch (order) {
    case Order::fifo:
      break;
    case Order::causal:
      return order_detail::make_causal_orderer(self, members);
    case Order::total:
      return order_detail::make_total_orderer(self, members);
    case Order::agreed:
      return order_detail::make_agreed_orderer(self, members);
  }
  return nullptr;
}

}  // namespace nexo::group
