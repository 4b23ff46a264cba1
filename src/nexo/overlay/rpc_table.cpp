#include "nexo/overlay/rpc_table.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <utility>

namespace nexo::overlay {
namespace {

constexpr std::size_t kFirstCapacity = 4;
constexpr std::size_t kTidSpace = 65536;

}  // namespace

std::string transaction_bytes(TransactionId tid) {
  return std::string{static_cast<char>(tid >> 8), static_cast<char>(tid & 0xff)};
}

std::optional<TransactionId> parse_transaction(std::string_view t) noexcept {
  if (t.size() != 2) return std::nullopt;
  return static_cast<TransactionId>((static_cast<unsigned char>(t[0]) << 8) |
                                    static_cast<unsigned char>(t[1]));
}

RpcTable::RpcTable(TransactionId first_tid, RpcConfig config) noexcept
    : config_(config), next_tid_(first_tid) {
  config_.max_outstanding =
      std::clamp<std::uint32_t>(config_.max_outstanding, 1, static_cast<std::uint32_t>(kTidSpace));
  config_.max_per_destination = std::max<std::uint16_t>(config_.max_per_destination, 1);
}

std::size_t RpcTable::max_capacity() const noexcept {
  return std::bit_ceil(static_cast<std::size_t>(config_.max_outstanding));
}

// Moves every entry to the slot its id names in an array of `capacity`
// slots. The caller makes sure no two live ids share their low bits there.
void RpcTable::resize(std::size_t capacity) {
  std::vector<Slot> slots(capacity);
  for (Slot& slot : slots_)
    if (slot.used) slots[slot.entry.tid & (capacity - 1)] = std::move(slot);
  slots_ = std::move(slots);
}

Result<TransactionId> RpcTable::add(const RpcRequest& request, Time now) {
  if (count_ >= config_.max_outstanding) {
    ++counters_.refused_full;
    return Error(ErrorKind::overloaded, "query to " + request.destination.to_string() + ": " +
                                            std::to_string(count_) +
                                            " queries outstanding (max_outstanding)");
  }
  // Only a table holding that many queries can hold that many to one peer.
  if (count_ >= config_.max_per_destination &&
      outstanding_to(request.destination) >= config_.max_per_destination) {
    ++counters_.refused_destination;
    return Error(ErrorKind::overloaded, "query to " + request.destination.to_string() + ": " +
                                            std::to_string(config_.max_per_destination) +
                                            " queries outstanding to it (max_per_destination)");
  }
  if (slots_.empty())
    resize(std::min(kFirstCapacity, max_capacity()));
  else if ((count_ + 1) * 4 > slots_.size() * 3 && slots_.size() < max_capacity())
    resize(slots_.size() * 2);
  // count_ < capacity here, so a free slot exists and the counter reaches it
  // within capacity steps (ids with the same low bits share a slot).
  Slot* slot = nullptr;
  TransactionId tid = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    tid = next_tid_++;
    if (!slots_[slot_of(tid)].used) {
      slot = &slots_[slot_of(tid)];
      break;
    }
  }
  assert(slot != nullptr);
  const Duration hard = std::max(request.hard_timeout, request.soft_timeout);
  slot->used = true;
  slot->entry = RpcEntry{tid,
                         request.kind,
                         false,
                         request.destination,
                         request.expected_id,
                         request.owner,
                         now,
                         now + request.soft_timeout,
                         now + hard};
  ++count_;
  return tid;
}

void RpcTable::remove(Slot& slot) noexcept {
  slot.used = false;
  --count_;
}

std::optional<RpcEntry> RpcTable::take(TransactionId tid, const net::Endpoint& from, Time now) {
  Slot* slot = slots_.empty() ? nullptr : &slots_[slot_of(tid)];
  if (slot == nullptr || !slot->used || slot->entry.tid != tid) {
    ++counters_.unknown_transaction;
    return std::nullopt;
  }
  if (slot->entry.destination != from) {
    ++counters_.wrong_source;
    return std::nullopt;
  }
  if (now > slot->entry.soft_deadline) ++late_replies_;
  remove(*slot);
  return std::move(slot->entry);
}

std::optional<RpcEntry> RpcTable::take(std::string_view t, const net::Endpoint& from, Time now) {
  const auto tid = parse_transaction(t);
  if (!tid) {
    ++counters_.unknown_transaction;
    return std::nullopt;
  }
  return take(*tid, from, now);
}

std::size_t RpcTable::expire(Time now, std::vector<RpcEntry>& out) {
  const std::size_t first = out.size();
  for (Slot& slot : slots_)
    if (slot.used && slot.entry.hard_deadline <= now) {
      out.push_back(std::move(slot.entry));
      remove(slot);
    }
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
            [](const RpcEntry& a, const RpcEntry& b) {
              return std::pair(a.hard_deadline, a.sent) < std::pair(b.hard_deadline, b.sent);
            });
  return out.size() - first;
}

std::size_t RpcTable::soft_expired(Time now, std::vector<RpcEntry>& out) {
  const std::size_t first = out.size();
  for (Slot& slot : slots_)
    if (slot.used && !slot.entry.soft_reported && slot.entry.soft_deadline <= now &&
        slot.entry.hard_deadline > now) {
      slot.entry.soft_reported = true;
      out.push_back(slot.entry);
    }
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
            [](const RpcEntry& a, const RpcEntry& b) {
              return std::pair(a.soft_deadline, a.sent) < std::pair(b.soft_deadline, b.sent);
            });
  return out.size() - first;
}

std::optional<Time> RpcTable::next_deadline() const noexcept {
  std::optional<Time> next;
  for (const Slot& slot : slots_) {
    if (!slot.used) continue;
    const RpcEntry& e = slot.entry;
    const Time t = e.soft_reported ? e.hard_deadline : std::min(e.soft_deadline, e.hard_deadline);
    if (!next || t < *next) next = t;
  }
  return next;
}

std::size_t RpcTable::cancel_owner(std::uint64_t owner) noexcept {
  std::size_t removed = 0;
  for (Slot& slot : slots_)
    if (slot.used && slot.entry.owner == owner) {
      remove(slot);
      ++removed;
    }
  return removed;
}

std::size_t RpcTable::detach_owner(std::uint64_t owner) noexcept {
  std::size_t detached = 0;
  if (owner == 0) return 0;
  for (Slot& slot : slots_)
    if (slot.used && slot.entry.owner == owner) {
      slot.entry.owner = 0;
      ++detached;
    }
  return detached;
}

bool RpcTable::cancel(TransactionId tid) noexcept {
  if (slots_.empty()) return false;
  Slot& slot = slots_[slot_of(tid)];
  if (!slot.used || slot.entry.tid != tid) return false;
  remove(slot);
  return true;
}

const RpcEntry* RpcTable::find(TransactionId tid) const noexcept {
  if (slots_.empty()) return nullptr;
  const Slot& slot = slots_[slot_of(tid)];
  return slot.used && slot.entry.tid == tid ? &slot.entry : nullptr;
}

std::size_t RpcTable::outstanding_to(const net::Endpoint& destination) const noexcept {
  std::size_t n = 0;
  for (const Slot& slot : slots_)
    if (slot.used && slot.entry.destination == destination) ++n;
  return n;
}

void RpcTable::shrink_to_fit() {
  if (count_ == 0) {
    std::vector<Slot>().swap(slots_);
    return;
  }
  // The smallest power of two at which no two live ids share their low bits
  // (at worst the current size, where none do).
  for (std::size_t capacity = std::bit_ceil(static_cast<std::size_t>(count_));
       capacity < slots_.size(); capacity *= 2) {
    std::vector<bool> taken(capacity);
    bool clash = false;
    for (const Slot& slot : slots_) {
      if (!slot.used) continue;
      const std::size_t index = slot.entry.tid & (capacity - 1);
      if (taken[index]) {
        clash = true;
        break;
      }
      taken[index] = true;
    }
    if (!clash) {
      resize(capacity);
      return;
    }
  }
}

}  // namespace nexo::overlay
