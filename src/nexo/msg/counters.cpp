#include "nexo/msg/counters.hpp"

#include <array>

namespace nexo::msg {

namespace {

// In the order of Counters' value indices.
constexpr std::array<CounterSpec, 11> kSpecs{{
    {"messages_in"},
    {"bytes_in"},
    {"messages_out"},
    {"bytes_out"},
    {"dropped"},
    {"malformed"},
    {"queue_high_water", CounterKind::gauge},
    {"rejected"},
    {"timed_out"},
    {"retransmitted"},
    {"budget_waits"},
}};

}  // namespace

Counters::Counters() : block_(allocate_counters("counters", "", kSpecs)) {
  static_assert(kSpecs.size() == kCount);
}

void Counters::describe(std::string_view type, std::string_view label) const noexcept {
  block_.describe(type, label);
}

CounterSnapshot Counters::snapshot() const noexcept {
  CounterSnapshot s;
  s.messages_in = block_.get(kMessagesIn);
  s.bytes_in = block_.get(kBytesIn);
  s.messages_out = block_.get(kMessagesOut);
  s.bytes_out = block_.get(kBytesOut);
  s.dropped = block_.get(kDropped);
  s.malformed = block_.get(kMalformed);
  s.queue_high_water = block_.get(kHighWater);
  s.rejected = block_.get(kRejected);
  s.timed_out = block_.get(kTimedOut);
  s.retransmitted = block_.get(kRetransmitted);
  s.budget_waits = block_.get(kBudgetWaits);
  return s;
}

std::string CounterSnapshot::to_string() const {
  return "in " + std::to_string(messages_in) + " msgs / " + std::to_string(bytes_in) + " B, out " +
         std::to_string(messages_out) + " msgs / " + std::to_string(bytes_out) + " B, dropped " +
         std::to_string(dropped) + ", malformed " + std::to_string(malformed) +
         ", queue high-water " + std::to_string(queue_high_water) + ", connections rejected " +
         std::to_string(rejected) + ", timed out " + std::to_string(timed_out) +
         (retransmitted > 0 ? ", retransmitted " + std::to_string(retransmitted) : "") +
         (budget_waits > 0 ? ", budget waits " + std::to_string(budget_waits) : "");
}

}  // namespace nexo::msg
