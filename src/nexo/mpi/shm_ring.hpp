// A single-producer single-consumer ring of bytes carrying whole frames, laid out in
// memory that two processes share (mpi/shm.hpp places one per ordered pair of ranks).
//
// Shared layout of one ring (RingIndices, then `capacity` bytes of data, a power of two):
//
//   offset 0    head  u64   bytes the consumer has released (written by the consumer only)
//   offset 8    writer_waiting u32   1: the producer found the ring full and may sleep (shm.hpp)
//   offset 64   tail  u64   bytes the producer has published (written by the producer only)
//   offset 128  data  [capacity]
//
// head and tail only grow (u64: no wrap in practice); a position's byte is data[pos &
// (capacity-1)]. The producer stores tail with release after writing the bytes; the consumer loads
// it with acquire before reading them, and stores head with release after it is done with them; the
// producer loads head with acquire before overwriting. No locks, no read-modify-write.
//
// A record is an 8-byte header, then the payload, padded to 8 bytes:
//
//   u32 payload length | u32 kind (whole, first, middle, last)  (host byte order: one host)
//
// Records are 8-aligned and the capacity is a multiple of 8, so a header never wraps; a payload
// may wrap around the end of the data (it is then read in two parts). A frame whose payload fits
// in max_piece() goes as one `whole` record, all or nothing; a larger frame goes as a `first`
// record, `middle` records and a `last` record that the reader joins. Each side keeps a private
// copy of the other's index and reloads it only when the copy says "full" or "empty".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"

namespace nexo::mpi {

inline constexpr std::size_t kCacheLine = 64;

// The shared indices of one ring, each on its own cache line.
struct RingIndices {
  alignas(kCacheLine) std::atomic<std::uint64_t> head{0};
  std::atomic<std::uint32_t> writer_waiting{
      0};  // beside head: the consumer reads it after storing head
  alignas(kCacheLine) std::atomic<std::uint64_t> tail{0};
};
static_assert(sizeof(RingIndices) == 2 * kCacheLine);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "shared indices need lock-free atomics");

enum class RecordKind : std::uint32_t { whole = 0, first = 1, middle = 2, last = 3 };

inline constexpr std::size_t kRecordHeader = 8;
inline constexpr std::size_t kMinRingBytes = 256;
inline constexpr std::size_t kMaxRingBytes = std::size_t{1} << 30;

// The largest payload of one record in a ring of `capacity` bytes: half the ring, so that a
// whole frame never waits for the ring to be completely empty.
inline constexpr std::size_t max_piece(std::size_t capacity) noexcept {
  return capacity / 2 - kRecordHeader;
}

// A frame given as a list of parts (a header and a body, say), sent as one frame.
using FrameParts = std::span<const std::span<const std::byte>>;

// The producer's end of one ring. Not thread-safe: one producer thread per ring.
// The shared memory must outlive the writer.
class RingWriter {
 public:
  RingWriter() = default;
  // `data` is the ring's capacity bytes (a power of two, kMinRingBytes..kMaxRingBytes).
  RingWriter(RingIndices* indices, std::byte* data, std::size_t capacity) noexcept;

  // Writes a frame of `parts` (total `size` bytes). Returns true once the whole frame is
  // published, false when the ring is full now. A frame of at most max_piece() bytes is
  // written whole or not at all. A larger one is written in pieces as room allows; while it
  // returns false the caller must call again with the same frame (the writer remembers how far
  // it got) and may not send another frame on this ring. Never blocks.
  bool write(FrameParts parts, std::size_t size) noexcept;

  // True while a large frame is half written; partial_size() is then its size, and write()
  // must be called with a frame of that size (ShmWorld checks it).
  bool in_progress() const noexcept { return started_; }
  std::size_t partial_size() const noexcept { return partial_size_; }
  std::size_t capacity() const noexcept { return mask_ + 1; }
  // True when the consumer has freed room since the writer last found the ring full (reloads head).
  bool has_room() noexcept { return free_bytes(capacity()) >= blocked_need_; }
  // True when the consumer has released everything published and no frame is half written
  // (loads head: a cache miss when the consumer moved it).
  bool drained() noexcept {
    head_cached_ = indices_->head.load(std::memory_order_acquire);
    return head_cached_ == tail_ && !started_;
  }
  RingIndices* indices() const noexcept { return indices_; }

 private:
  std::size_t free_bytes(std::size_t wanted) noexcept;
  void put_record(RecordKind kind, FrameParts parts, std::size_t offset, std::size_t len) noexcept;
  void copy_in(std::uint64_t pos, const std::byte* src, std::size_t len) noexcept;

  RingIndices* indices_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t mask_ = 0;
  std::uint64_t tail_ = 0;         // private: what this writer has published
  std::uint64_t head_cached_ = 0;  // private copy of the consumer's head
  std::size_t progress_ = 0;       // bytes of the current large frame already written
  bool started_ = false;           // the `first` record of a large frame is out
  std::size_t partial_size_ = 0;   // the size of that frame (checked on the next call)
  std::size_t blocked_need_ = 0;   // bytes the last failed write() needed
};

// The consumer's end of one ring. Not thread-safe: one consumer thread per ring.
class RingReader {
 public:
  RingReader() = default;
  // `max_frame` bounds the size of a frame joined from pieces (a bad peer cannot make the
  // reader allocate more).
  RingReader(RingIndices* indices, std::byte* data, std::size_t capacity,
             std::size_t max_frame) noexcept;

  // True when at least one record is published (cheap: one load when the cache says empty).
  bool readable() noexcept;
  // How far the reader has released (grows when a record is consumed, piece or frame).
  std::uint64_t position() const noexcept { return head_; }
  RingIndices* indices() const noexcept { return indices_; }

  // Reads up to `max_frames` whole frames, calling `deliver(frame)` for each; the span is valid
  // only during the call (it points into the ring when the frame is contiguous there). Returns the
  // number delivered. A record that breaks the format is `malformed` (the ring is then unusable);
  // a joined frame over max_frame is `too_large`.
  template <class Deliver>
  Result<std::size_t> read(std::size_t max_frames, Deliver&& deliver);

  // Loads the producer's tail (acquire), then read_published() sees what was published up to
  // this point and nothing later: ShmWorld drains a pair's box between the two (shm.hpp).
  void refresh() noexcept { tail_cached_ = indices_->tail.load(std::memory_order_acquire); }
  template <class Deliver>
  Result<std::size_t> read_published(std::size_t max_frames, Deliver&& deliver);

 private:
  template <class Deliver>
  Result<std::size_t> read_records(std::size_t max_frames, bool reload, Deliver&& deliver);
  // The next record, or an empty span with `more` false. Releases nothing.
  struct Next {
    bool ready = false;
    bool frame = false;  // a whole frame is in `bytes` (else a piece was absorbed)
    std::span<const std::byte> bytes;
    std::uint64_t end = 0;  // position after the record
  };
  // reload: load the tail when the cached copy says empty (else only what refresh() saw).
  Result<Next> next(bool reload) noexcept;
  void release(std::uint64_t end) noexcept {
    indices_->head.store(head_ = end, std::memory_order_release);
  }
  void copy_out(std::uint64_t pos, std::byte* dst, std::size_t len) const noexcept;

  RingIndices* indices_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t mask_ = 0;
  std::size_t max_frame_ = 0;
  std::uint64_t head_ = 0;
  std::uint64_t tail_cached_ = 0;
  bool joining_ = false;  // pieces of a large frame are being joined in `joined_`
  Bytes joined_;          // the large frame being joined
  Bytes scratch_;         // a whole frame that wraps around the end of the ring
};

template <class Deliver>
Result<std::size_t> RingReader::read(std::size_t max_frames, Deliver&& deliver) {
  return read_records(max_frames, true, deliver);
}

template <class Deliver>
Result<std::size_t> RingReader::read_published(std::size_t max_frames, Deliver&& deliver) {
  return read_records(max_frames, false, deliver);
}

template <class Deliver>
Result<std::size_t> RingReader::read_records(std::size_t max_frames, bool reload,
                                             Deliver&& deliver) {
  std::size_t delivered = 0;
  while (delivered < max_frames) {
    auto next_record = next(reload);
    if (!next_record) return std::move(next_record).error();
    if (!next_record->ready) break;
    if (next_record->frame) {
      deliver(next_record->bytes);
      ++delivered;
    }
    // Released after the callback: the span may point into the ring.
    release(next_record->end);
  }
  return delivered;
}

}  // namespace nexo::mpi
