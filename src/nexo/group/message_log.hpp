// MessageLog<Info> — a FIFO of messages (payload and meta bytes, and a small
// Info of the caller's) in one contiguous buffer: what a member sent and not
// every member has (its history), what it delivered and keeps for a flush,
// packets waiting to leave, deliveries waiting for the application. Internal
// to group/.
//
// Every one of those queues is filled at the back and emptied at the front.
// Kept as one std::vector<std::byte> per message, a steady stream cost two or
// three mallocs per message on the loop thread (and a free on another, for
// deliveries): a third of the CPU of a receiver at 100k messages/s, in
// glibc's slow paths (packets of more than 1 KiB are past its per-thread
// cache). Here the bytes go into a ring that grows, by doubling, only when a
// message does not fit; a steady stream allocates nothing.
//
// Layout: messages lie in the ring in order, each contiguous (a message that
// does not fit before the ring's end starts again at offset 0, leaving the
// end unused, as a bip buffer does). The index of records (offset, sizes,
// Info) is a vector and its head, compacted when the head passes half of it.
//
// operator[](i) is the i-th message from the front, O(1). The spans it gives
// stay valid until the next push_back() or clear() (a push may move the
// bytes); pop_front() leaves the other messages' spans valid.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
    if (!payload.empty()) std::memcpy(ring_.data() + at, payload.data(), payload.size());
    if (!meta.empty()) std::memcpy(ring_.data() + at + payload.size(), meta.data(), meta.size());
    records_.push_back(Record{at, static_cast<std::uint32_t>(payload.size()),
                              static_cast<std::uint32_t>(meta.size()), std::move(info)});
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
    r = Record{};                      // the Info's resources, if any, go now
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
    return Entry{{ring_.data() + r.offset, r.payload},
                 {ring_.data() + r.offset + r.payload, r.meta},
                 r.info};
  }
  ConstEntry operator[](std::size_t i) const noexcept {
    const Record& r = records_[head_ + i];
    return ConstEntry{{ring_.data() + r.offset, r.payload},
                      {ring_.data() + r.offset + r.payload, r.meta},
                      r.info};
  }
  Entry front() noexcept { return (*this)[0]; }

  std::size_t size() const noexcept { return records_.size() - head_; }
  bool empty() const noexcept { return size() == 0; }
  // Payload and meta bytes of the messages held.
  std::size_t bytes() const noexcept { return bytes_; }
  // The ring's size (what it holds at most without growing).
  std::size_t capacity() const noexcept { return ring_.size(); }

  void clear() noexcept {
    records_.clear();
    head_ = 0;
    end_ = 0;
    bytes_ = 0;
  }
  // clear(), and the memory given back.
  void release() {
    clear();
    std::vector<Record>().swap(records_);
    std::vector<std::byte>().swap(ring_);
  }

 private:
  struct Record {
    std::size_t offset = 0;
    std::uint32_t payload = 0, meta = 0;
    Info info{};
  };

  // The offset where `n` more bytes go, growing the ring if they fit nowhere.
  std::size_t place(std::size_t n) {
    if (empty()) {
      if (n > ring_.size()) grow(n);
      return 0;
    }
    // Wrapped: the newest message lies before the oldest. The tests are
    // strict (end_ stays below begin when wrapped) so that an empty message
    // placed at end_ still reads as wrapped.
    const std::size_t begin = records_[head_].offset;
    if (records_.back().offset >= begin) {
      // Not wrapped: [begin, end_) in use; room after end_, or before begin.
      if (end_ + n <= ring_.size()) return end_;
      if (n < begin) return 0;
    } else if (end_ + n < begin) {
      return end_;  // wrapped: room between the newest and the oldest
    }
    grow(n);
    return end_;
  }

  // Twice the room (at least n more), the messages moved to the front in order.
  void grow(std::size_t n) {
    const std::size_t held = bytes_;
    std::size_t capacity = std::max<std::size_t>(ring_.size() * 2, 4096);
    while (capacity < held + n)
      capacity *= 2;
    std::vector<std::byte> bigger(capacity);
    std::size_t at = 0;
    for (std::size_t i = head_; i < records_.size(); ++i) {
      Record& r = records_[i];
      const std::size_t size = r.payload + r.meta;
      if (size > 0) std::memcpy(bigger.data() + at, ring_.data() + r.offset, size);
      r.offset = at;
      at += size;
    }
    ring_.swap(bigger);
    end_ = at;
  }

  std::vector<std::byte> ring_;
  std::vector<Record> records_;
  std::size_t head_ = 0;   // records_[head_] is the front
  std::size_t end_ = 0;    // the offset just past the newest message's bytes
  std::size_t bytes_ = 0;  // payload + meta of the messages held
};

}  // namespace nexo::group
