#include "nexo/fault/injector.hpp"

#include <algorithm>

namespace nexo::fault {
namespace {

void bump(std::atomic<std::uint64_t>& counter) noexcept {
  counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

std::string Counters::to_string() const {
  return "received " + std::to_string(received) + ", delivered " + std::to_string(delivered) +
         ", lost " + std::to_string(lost) + ", partitioned " + std::to_string(partitioned) +
         ", duplicated " + std::to_string(duplicated) + ", reordered " + std::to_string(reordered) +
         ", delayed " + std::to_string(delayed) + ", corrupted " + std::to_string(corrupted) +
         ", overflow " + std::to_string(overflow) + ", discarded " + std::to_string(discarded);
}

Injector::Injector(const Direction& direction, std::uint64_t seed, std::size_t max_held_bytes)
    : direction_(direction),
      max_held_bytes_(max_held_bytes),
      random_(seed),
      partitioned_(direction.partitioned) {
  // Gilbert model: leave a burst with probability 1/burst per datagram (mean
  // run length `burst`), enter one with the probability that makes the
  // long-run share of lost datagrams `loss`.
  if (direction_.burst > 1 && direction_.loss > 0 && direction_.loss < 1) {
    leave_burst_ = 1 / direction_.burst;
    enter_burst_ = direction_.loss * leave_burst_ / (1 - direction_.loss);
  }
}

bool Injector::lose() {
  if (direction_.loss <= 0) return false;
  if (direction_.loss >= 1) return true;
  if (direction_.burst <= 1) return random_.chance(direction_.loss);
  in_burst_ = in_burst_ ? !random_.chance(leave_burst_) : random_.chance(enter_burst_);
  return in_burst_;
}

// Takes room for a datagram of `size` bytes, or counts it as overflow.
bool Injector::fits(std::size_t size) {
  const std::size_t held = held_bytes_.load(std::memory_order_relaxed);
  const std::size_t cost = held_cost(size);
  if (cost > max_held_bytes_ - std::min(held, max_held_bytes_)) {
    bump(overflow_);
    return false;
  }
  held_bytes_.store(held + cost, std::memory_order_relaxed);
  return true;
}

void Injector::release_cost(std::size_t size) noexcept {
  held_bytes_.store(held_bytes_.load(std::memory_order_relaxed) - held_cost(size),
                    std::memory_order_relaxed);
}

Clock::time_point Injector::delivery_time(Clock::time_point now) {
  auto delay = std::chrono::duration_cast<Clock::duration>(direction_.delay);
  if (direction_.jitter.count() > 0) {
    const auto jitter = std::chrono::duration_cast<Clock::duration>(direction_.jitter);
    const double offset = (random_.uniform() * 2 - 1) * static_cast<double>(jitter.count());
    delay += Clock::duration(static_cast<Clock::duration::rep>(offset));
  }
  if (delay <= Clock::duration::zero()) return now;
  bump(delayed_);
  return now + delay;
}

void Injector::schedule(Bytes bytes, Tag tag, Clock::time_point due) {
  scheduled_.push_back(Scheduled{due, next_order_++, std::move(tag), std::move(bytes)});
  std::push_heap(scheduled_.begin(), scheduled_.end(), std::greater<>{});
}

std::size_t Injector::push(std::span<const std::byte> datagram, Clock::time_point now, Tag tag) {
  bump(received_);
  if (partitioned()) {
    bump(partitioned_drops_);
    return 0;
  }
  if (lose()) {
    bump(lost_);
    return 0;
  }
  if (!fits(datagram.size())) return 0;
  std::size_t added = held_cost(datagram.size());
  Bytes bytes(datagram.begin(), datagram.end());
  if (!bytes.empty() && random_.chance(direction_.corrupt)) {
    const std::uint64_t bit = random_.below(bytes.size() * 8);
    bytes[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    bump(corrupted_);
  }
  if (direction_.reorder_window > 0 && random_.chance(direction_.reorder)) {
    const auto behind = static_cast<unsigned>(1 + random_.below(direction_.reorder_window));
    reorder_.push_back(Held{behind, now + direction_.max_hold, std::move(tag), std::move(bytes)});
    bump(reordered_);
    return added;
  }
  const auto due = delivery_time(now);
  if (random_.chance(direction_.duplicate)) {
    const auto copy_due = delivery_time(now);  // drawn either way: the same seed, the same faults
    if (fits(bytes.size())) {
      schedule(bytes, tag, copy_due);
      bump(duplicated_);
      added += held_cost(bytes.size());
    }
  }
  schedule(std::move(bytes), tag, due);
  // This one passes the held datagrams: those it was the last to pass follow it.
  for (auto it = reorder_.begin(); it != reorder_.end();) {
    if (--it->behind == 0) {
      schedule(std::move(it->bytes), std::move(it->tag), due);
      it = reorder_.erase(it);
    } else {
      ++it;
    }
  }
  return added;
}

void Injector::release_held(Clock::time_point now) {
  for (auto it = reorder_.begin(); it != reorder_.end();) {
    if (it->until <= now) {
      schedule(std::move(it->bytes), std::move(it->tag), it->until);
      it = reorder_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t Injector::pop_due(Clock::time_point now, const Deliver& deliver) {
  release_held(now);
  std::size_t n = 0;
  while (!scheduled_.empty() && scheduled_.front().due <= now) {
    std::pop_heap(scheduled_.begin(), scheduled_.end(), std::greater<>{});
    Scheduled out = std::move(scheduled_.back());
    scheduled_.pop_back();
    release_cost(out.bytes.size());
    if (discard_ && discard_(out.bytes, out.tag)) {
      bump(discarded_);
      continue;
    }
    bump(delivered_);
    ++n;
    deliver(out.bytes, out.tag);
  }
  return n;
}

std::size_t Injector::purge() {
  if (!discard_) return 0;
  std::size_t n = 0;
  auto dead = [&](const auto& held) {
    if (!discard_(held.bytes, held.tag)) return false;
    release_cost(held.bytes.size());
    bump(discarded_);
    ++n;
    return true;
  };
  std::erase_if(scheduled_, dead);
  std::make_heap(scheduled_.begin(), scheduled_.end(), std::greater<>{});
  std::erase_if(reorder_, dead);
  return n;
}

std::optional<Clock::time_point> Injector::next_due() const {
  std::optional<Clock::time_point> next;
  if (!scheduled_.empty()) next = scheduled_.front().due;
  for (const auto& h : reorder_) {
    if (!next || h.until < *next) next = h.until;
  }
  return next;
}

Counters Injector::counters() const {
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  return Counters{get(received_),  get(delivered_), get(lost_),      get(partitioned_drops_),
                  get(duplicated_), get(reordered_), get(delayed_),   get(corrupted_),
                  get(overflow_),   get(discarded_)};
}

}  // namespace nexo::fault
