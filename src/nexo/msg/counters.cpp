#include "nexo/msg/counters.hpp"

namespace nexo::msg {

CounterSnapshot Counters::snapshot() const noexcept {
  CounterSnapshot s;
  s.messages_in = messages_in_.load(std::memory_order_relaxed);
  s.bytes_in = bytes_in_.load(std::memory_order_relaxed);
  s.messages_out = messages_out_.load(std::memory_order_relaxed);
  s.bytes_out = bytes_out_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.malformed = malformed_.load(std::memory_order_relaxed);
  s.queue_high_water = high_water_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.timed_out = timed_out_.load(std::memory_order_relaxed);
  s.retransmitted = retransmitted_.load(std::memory_order_relaxed);
  s.budget_waits = budget_waits_.load(std::memory_order_relaxed);
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
