// A fast box: a few slots, each two cache lines, that carry small frames from one rank to
// another beside that pair's ring (mpi/shm.hpp uses one per ordered pair of ranks).
//
// Why: through the ring, a small frame costs the receiver two cache-line transfers (the
// ring's tail, then the record) and the record's header; in a slot, the sequence number that
// publishes the frame shares the first cache line with the frame's first 56 bytes, so a
// frame of up to 56 bytes (an 8-byte message with its 40-byte frame header, a barrier's empty
// message) moves in one transfer, and one of up to 120 bytes (an allreduce of 8 doubles) in
// two adjacent lines.
//
// Shared layout of one box (FastBox), all in host byte order:
//
//   offset 0     head  u64   frames the reader has consumed (written by the reader only)
//   offset 128   slot 0: seq u32 | length u32 | frame [120]
//   offset 256   slot 1, then slots 2 .. kBoxSlots - 1
//
// Frame number m (0, 1, ...) goes in slot m % kBoxSlots; the slot holds it when its seq is
// m + 1 (mod 2^32; the slots start zeroed, so empty). The writer fills length and frame, then
// stores seq with release; the reader loads seq with acquire, delivers the frame in place,
// then stores head = m + 1 with release; the writer loads head (acquire; only when its cached
// copy says the box is full) before it reuses a slot. No locks, no read-modify-write.
//
// The box and the ring of a pair are one stream: ShmWorld keeps send order across them (see
// shm.hpp). A box is never waited on: a writer that finds it full uses the ring.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "nexo/base/result.hpp"
#include "nexo/mpi/shm_ring.hpp"

namespace nexo::mpi {

// 16 slots (2 KiB, as Open MPI's fast box is a few KiB): the writer reloads the reader's head,
// a cache miss, once per 16 frames at most (with 4 it was every 4th frame of a ping-pong).
inline constexpr std::size_t kBoxSlots = 16;
inline constexpr std::size_t kBoxSlotBytes = 2 * kCacheLine;
inline constexpr std::size_t kBoxSlotHeader = 8;
// The largest frame a slot carries.
inline constexpr std::size_t kBoxMaxFrame = kBoxSlotBytes - kBoxSlotHeader;

struct BoxSlot {
  alignas(kBoxSlotBytes) std::atomic<std::uint32_t> seq{0};
  std::uint32_t length = 0;
  std::byte frame[kBoxMaxFrame];
};
static_assert(sizeof(BoxSlot) == kBoxSlotBytes);

struct FastBox {
  // On its own pair of lines: the writer reads it rarely, the reader writes it per frame.
  alignas(kBoxSlotBytes) std::atomic<std::uint64_t> head{0};
  BoxSlot slots[kBoxSlots];
};
static_assert(sizeof(FastBox) == (kBoxSlots + 1) * kBoxSlotBytes);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// The writer's end of one box. Not thread-safe: one producer. The box must outlive it.
class BoxWriter {
 public:
  BoxWriter() = default;
  explicit BoxWriter(FastBox* box) noexcept
      : box_(box), tail_(box->head.load(std::memory_order_acquire)), head_cached_(tail_) {}

  // Puts a frame of `parts` (total `size` <= kBoxMaxFrame bytes) in the next slot and
  // publishes it. False (nothing written) when every slot is still unread.
  bool write(FrameParts parts, std::size_t size) noexcept {
    if (tail_ - head_cached_ >= kBoxSlots) {
      head_cached_ = box_->head.load(std::memory_order_acquire);
      if (tail_ - head_cached_ >= kBoxSlots) return false;
    }
    BoxSlot& slot = box_->slots[tail_ % kBoxSlots];
    std::byte* at = slot.frame;
    for (auto part : parts) {
      if (!part.empty()) std::memcpy(at, part.data(), part.size());
      at += part.size();
    }
    slot.length = static_cast<std::uint32_t>(size);
    ++tail_;
    slot.seq.store(static_cast<std::uint32_t>(tail_), std::memory_order_release);
    return true;
  }

 private:
  FastBox* box_ = nullptr;
  std::uint64_t tail_ = 0;         // frames written
  std::uint64_t head_cached_ = 0;  // the reader's head when last loaded
};

// The reader's end of one box. Not thread-safe: one consumer.
class BoxReader {
 public:
  BoxReader() = default;
  explicit BoxReader(FastBox* box) noexcept
      : box_(box), head_(box->head.load(std::memory_order_relaxed)) {}

  // True when the next slot holds the next frame.
  bool readable() const noexcept {
    return box_->slots[head_ % kBoxSlots].seq.load(std::memory_order_acquire) ==
           static_cast<std::uint32_t>(head_ + 1);
  }

  // Delivers the next frame, if there is one, with deliver(frame) (the span points into the
  // slot: valid only during the call), then frees the slot. Returns whether one was delivered;
  // malformed (the box is then unusable) when the slot's length is out of range.
  template <class Deliver>
  Result<bool> read_one(Deliver&& deliver) {
    if (!readable()) return false;
    BoxSlot& slot = box_->slots[head_ % kBoxSlots];
    const std::uint32_t length = slot.length;
    if (length > kBoxMaxFrame)
      return Error(ErrorKind::malformed, "shm fast box: a frame of " + std::to_string(length) +
                                             " bytes (at most " + std::to_string(kBoxMaxFrame) +
                                             ")");
    deliver(std::span<const std::byte>(slot.frame, length));
    box_->head.store(++head_, std::memory_order_release);
    return true;
  }

 private:
  FastBox* box_ = nullptr;
  std::uint64_t head_ = 0;  // frames consumed
};

}  // namespace nexo::mpi
