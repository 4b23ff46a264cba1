// BufferPool — byte buffers given back by a driver once it has copied a
// Delivery out, and reused by the Member for the next ones. Internal to
// group/.
//
// A Delivery owns its bytes (a std::vector), and a Member makes one per
// message. A driver that copies deliveries elsewhere (Group copies them into
// its DeliveryQueue) gives the buffers back here, and the Member copies the
// next message into one of them instead of allocating: a steady stream then
// allocates nothing. Without the pool, a pump's batch of a few dozen
// deliveries outran glibc's per-thread cache (7 chunks of a size) and every
// one of them went through the arena's slow paths.
//
// Bounded: at most kMaxBuffers buffers and kMaxBytes of capacity in all;
// buffers of more than kMaxBuffer bytes are freed, not kept. One thread (the
// protocol's).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "nexo/base/bytes.hpp"

namespace nexo::group {

class BufferPool {
 public:
  static constexpr std::size_t kMaxBuffers = 512;
  static constexpr std::size_t kMaxBuffer = 64 * 1024;
  static constexpr std::size_t kMaxBytes = std::size_t{4} << 20;

  // A buffer holding a copy of `bytes`: a pooled one if there is one.
  Bytes copy(std::span<const std::byte> bytes) {
    if (bytes.empty() || free_.empty()) return Bytes(bytes.begin(), bytes.end());
    Bytes b = std::move(free_.back());
    free_.pop_back();
    held_ -= b.capacity();
    b.assign(bytes.begin(), bytes.end());
    return b;
  }
  // `buffer` back for reuse (its contents are dropped), or freed.
  void give(Bytes&& buffer) {
    const std::size_t capacity = buffer.capacity();
    if (capacity == 0 || capacity > kMaxBuffer || free_.size() >= kMaxBuffers ||
        held_ + capacity > kMaxBytes) {
      Bytes().swap(buffer);
      return;
    }
    buffer.clear();
    held_ += capacity;
    free_.push_back(std::move(buffer));
  }
  std::size_t size() const noexcept { return free_.size(); }
  std::size_t bytes() const noexcept { return held_; }

 private:
  std::vector<Bytes> free_;
  std::size_t held_ = 0;  // the capacity of the buffers in free_
};

}  // namespace nexo::group
