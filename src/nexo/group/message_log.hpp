// MessageLog<Info> — a FIFO of messages (payload and meta bytes, and a small
// Info of the caller's) in rings of bytes: what a member sent and not every
// member has (its history), what it delivered and keeps for a flush, packets
// waiting to leave, deliveries waiting for the application. Internal to
// group/.
//
// Every one of those queues is filled at the back and emptied at the front.
// Kept as one std::vector<std::byte> per message, a steady stream cost two or
// three mallocs per message on the loop thread (and a free on another, for
// deliveries): a third of the CPU of a receiver at 100k messages/s, in
// glibc's slow paths (packets of more than 1 KiB are past its per-thread
// cache). Here the bytes go into a ring that grows, by doubling, only when a
// message does not fit; a steady stream allocates nothing.
//
// Growing moves nothing. The full ring is retired: it keeps its messages
// until they are popped, and is freed with its last one; new messages go to
// a new ring of twice the size, which is neither zeroed nor copied into, so
// its pages are first touched (and faulted in) one by one as messages fill
// it. Growing by copying into a zeroed ring of twice the size touched every
// page of it at once: on the loop thread, while messages waited. Measured
// (bench_group, 1 KiB messages at 100k+/s, on a VM where a page fault costs
// ~20 us): 7 to 23 ms per growth to 1-4 MiB, a stall of every socket read,
// NAK and repair behind it, which made the tail of loss recovery.
//
// Layout: messages lie in the ring in order, each contiguous (a message that
// does not fit before the ring's end starts again at offset 0, leaving the
// end unused, as a bip buffer does). The index of records (where, sizes,
// Info) is a vector and its head, compacted when the head passes half of it.
// The records of retired rings come first, oldest ring first.
//
// operator[](i) is the i-th message from the front, O(1). The spans it gives
// stay valid until that message is popped, or clear() (no push moves bytes).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <vector>

namespace nexo::group {

template <class Info>
class MessageLog {
 public:
  struct Entry {
    std::span<const std::byte> payload, meta;
    Info& info;
  };
  struct ConstEntry {
    std::span<const std::byte> payload, meta;
    const Info& info;
  };

  void push_back(std::span<const std::byte> payload, std::span<const std::byte> meta, Info info) {
    const std::size_t n = payload.size() + meta.size();
    const std::size_t at = place(n);
    std::byte* to = ring_.get() + at;
    if (!payload.empty()) std::memcpy(to, payload.data(), payload.size());
    if (!meta.empty()) std::memcpy(to + payload.size(), meta.data(), meta.size());
    records_.push_back(Record{to, static_cast<std::uint32_t>(payload.size()),
                              static_cast<std::uint32_t>(meta.size()), std::move(info)});
    ++in_ring_;
    end_ = at + n;
    bytes_ += n;
  }
  void push_back(std::span<const std::byte> payload, Info info) {
    push_back(payload, {}, std::move(info));
  }

  void pop_front() noexcept {
    assert(!empty());
    Record& r = records_[head_];
    bytes_ -= r.payload + r.meta;
    r = Record{};  // the Info's resources, if any, go now
    if (!retired_.empty()) {
      if (--retired_.front().messages == 0) retired_.pop_front();  // its last one: freed
    } else {
      --in_ring_;
    }
    if (++head_ == records_.size()) {  // empty: everything starts again at 0
      records_.clear();
      head_ = 0;
      end_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= records_.size()) {  // amortised O(1)
      records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  Entry operator[](std::size_t i) noexcept {
    Record& r = records_[head_ + i];
    return Entry{{r.at, r.payload}, {r.at + r.payload, r.meta}, r.info};
  }
  ConstEntry operator[](std::size_t i) const noexcept {
    const Record& r = records_[head_ + i];
    return ConstEntry{{r.at, r.payload}, {r.at + r.payload, r.meta}, r.info};
  }
  Entry front() noexcept { return (*this)[0]; }

  std::size_t size() const noexcept { return records_.size() - head_; }
  bool empty() const noexcept { return size() == 0; }
  // Payload and meta bytes of the messages held.
  std::size_t bytes() const noexcept { return bytes_; }
  // The bytes of the rings held: the current one (what it holds at most
  // without growing) and the retired ones not yet emptied.
  std::size_t capacity() const noexcept {
    std::size_t total = ring_size_;
    for (const Retired& r : retired_)
      total += r.size;
    return total;
  }

  void clear() noexcept {
    records_.clear();
    head_ = 0;
    in_ring_ = 0;
    end_ = 0;
    bytes_ = 0;
    retired_.clear();
  }
  // clear(), and the memory given back.
  void release() {
    clear();
    std::vector<Record>().swap(records_);
    ring_.reset();
    ring_size_ = 0;
  }

 private:
  struct Record {
    const std::byte* at = nullptr;
    std::uint32_t payload = 0, meta = 0;
    Info info{};
  };
  // A full ring whose messages are still held (the oldest ones).
  struct Retired {
    std::unique_ptr<std::byte[]> bytes;
    std::size_t size = 0;
    std::size_t messages = 0;
  };

  std::size_t offset(const Record& r) const noexcept {
    return static_cast<std::size_t>(r.at - ring_.get());
  }

  // The offset in ring_ where `n` more bytes go, after a new ring if they
  // fit nowhere in this one.
  std::size_t place(std::size_t n) {
    if (in_ring_ == 0) {  // the ring holds nothing: it starts again at 0
      if (n > ring_size_) replace_ring(n);
      return 0;
    }
    // Wrapped: the newest message lies before the oldest. The tests are
    // strict (end_ stays below begin when wrapped) so that an empty message
    // placed at end_ still reads as wrapped.
    const std::size_t begin = offset(records_[records_.size() - in_ring_]);
    if (offset(records_.back()) >= begin) {
      // Not wrapped: [begin, end_) in use; room after end_, or before begin.
      if (end_ + n <= ring_size_) return end_;
      if (n < begin) return 0;
    } else if (end_ + n < begin) {
      return end_;  // wrapped: room between the newest and the oldest
    }
    replace_ring(n);
    return 0;
  }

  // A new ring of twice the size (room for everything held and n more, as
  // one ring will need once the retired ones drain); the current one is
  // retired with its messages, or freed if it holds none.
  void replace_ring(std::size_t n) {
    std::size_t capacity = std::max<std::size_t>(ring_size_ * 2, 4096);
    while (capacity < bytes_ + n)
      capacity *= 2;
    if (in_ring_ > 0) retired_.push_back(Retired{std::move(ring_), ring_size_, in_ring_});
    // Not zeroed: every byte is written by a push before it is read.
    ring_ = std::make_unique_for_overwrite<std::byte[]>(capacity);
    ring_size_ = capacity;
    in_ring_ = 0;
    end_ = 0;
  }

  std::unique_ptr<std::byte[]> ring_;  // where pushes go
  std::size_t ring_size_ = 0;
  std::deque<Retired> retired_;  // oldest first; their records precede ring_'s
  std::vector<Record> records_;
  std::size_t head_ = 0;     // records_[head_] is the front
  std::size_t in_ring_ = 0;  // the last in_ring_ records are in ring_
  std::size_t end_ = 0;      // the offset in ring_ just past the newest message's bytes
  std::size_t bytes_ = 0;    // payload + meta of the messages held
};

}  // namespace nexo::group
