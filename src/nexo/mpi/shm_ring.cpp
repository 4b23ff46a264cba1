#include "nexo/mpi/shm_ring.hpp"

#include <algorithm>
#include <cstring>

namespace nexo::mpi {
namespace {

constexpr std::size_t round8(std::size_t n) noexcept {
  return (n + 7) & ~std::size_t{7};
}

// The smallest piece of a large frame worth a record: below it the writer waits for more room.
constexpr std::size_t kMinPiece = 64;

struct RecordHeader {
  std::uint32_t length;
  std::uint32_t kind;
};
static_assert(sizeof(RecordHeader) == kRecordHeader);

}  // namespace

RingWriter::RingWriter(RingIndices* indices, std::byte* data, std::size_t capacity) noexcept
    : indices_(indices), data_(data), mask_(capacity - 1) {
  tail_ = indices_->tail.load(std::memory_order_relaxed);
  head_cached_ = indices_->head.load(std::memory_order_acquire);
}

std::size_t RingWriter::free_bytes(std::size_t wanted) noexcept {
  std::size_t free = capacity() - static_cast<std::size_t>(tail_ - head_cached_);
  if (free < wanted) {
    head_cached_ = indices_->head.load(std::memory_order_acquire);
    free = capacity() - static_cast<std::size_t>(tail_ - head_cached_);
  }
  return free;
}

void RingWriter::copy_in(std::uint64_t pos, const std::byte* src, std::size_t len) noexcept {
  std::size_t at = static_cast<std::size_t>(pos) & mask_;
  std::size_t first = std::min(len, capacity() - at);
  std::memcpy(data_ + at, src, first);
  if (first < len) std::memcpy(data_, src + first, len - first);
}

// Writes one record whose payload is bytes [offset, offset+len) of the concatenated parts, at
// the private tail (not yet published).
void RingWriter::put_record(RecordKind kind, FrameParts parts, std::size_t offset,
                            std::size_t len) noexcept {
  RecordHeader header{static_cast<std::uint32_t>(len), static_cast<std::uint32_t>(kind)};
  std::memcpy(data_ + (static_cast<std::size_t>(tail_) & mask_), &header, sizeof header);
  std::uint64_t pos = tail_ + kRecordHeader;
  for (auto part : parts) {
    if (len == 0) break;
    if (offset >= part.size()) {
      offset -= part.size();
      continue;
    }
    std::size_t n = std::min(len, part.size() - offset);
    copy_in(pos, part.data() + offset, n);
    pos += n;
    len -= n;
    offset = 0;
  }
  tail_ = tail_ + kRecordHeader + round8(static_cast<std::size_t>(pos - tail_ - kRecordHeader));
}

bool RingWriter::write(FrameParts parts, std::size_t size) noexcept {
  const std::size_t piece = max_piece(capacity());
  if (!in_progress() && size <= piece) {
    if (free_bytes(kRecordHeader + round8(size)) < kRecordHeader + round8(size)) {
      blocked_need_ = kRecordHeader + round8(size);
      return false;
    }
    put_record(RecordKind::whole, parts, 0, size);
    indices_->tail.store(tail_, std::memory_order_release);
    return true;
  }
  partial_size_ = size;
  bool published = false;
  while (true) {
    std::size_t left = size - progress_;
    std::size_t free = free_bytes(kRecordHeader + std::min(left, kMinPiece));
    if (free < kRecordHeader + std::min(left, kMinPiece)) break;
    std::size_t len = std::min({left, piece, (free - kRecordHeader) & ~std::size_t{7}});
    RecordKind kind =
        !started_ ? RecordKind::first : (len == left ? RecordKind::last : RecordKind::middle);
    put_record(kind, parts, progress_, len);
    progress_ += len;
    started_ = true;
    published = true;
    if (progress_ == size) break;
  }
  if (published) indices_->tail.store(tail_, std::memory_order_release);
  if (progress_ != size) {
    blocked_need_ = kRecordHeader + std::min(size - progress_, kMinPiece);
    return false;
  }
  progress_ = 0;
  started_ = false;
  partial_size_ = 0;
  return true;
}

RingReader::RingReader(RingIndices* indices, std::byte* data, std::size_t capacity,
                       std::size_t max_frame) noexcept
    : indices_(indices), data_(data), mask_(capacity - 1), max_frame_(max_frame) {
  head_ = indices_->head.load(std::memory_order_relaxed);
  tail_cached_ = indices_->tail.load(std::memory_order_acquire);
}

bool RingReader::readable() noexcept {
  if (tail_cached_ != head_) return true;
  tail_cached_ = indices_->tail.load(std::memory_order_acquire);
  return tail_cached_ != head_;
}

void RingReader::copy_out(std::uint64_t pos, std::byte* dst, std::size_t len) const noexcept {
  std::size_t cap = mask_ + 1;
  std::size_t at = static_cast<std::size_t>(pos) & mask_;
  std::size_t first = std::min(len, cap - at);
  std::memcpy(dst, data_ + at, first);
  if (first < len) std::memcpy(dst + first, data_, len - first);
}

Result<RingReader::Next> RingReader::next(bool reload) noexcept {
  if (reload ? !readable() : tail_cached_ == head_) return Next{};
  const std::size_t cap = mask_ + 1;
  std::size_t available = static_cast<std::size_t>(tail_cached_ - head_);
  RecordHeader header;
  if (available < kRecordHeader || available > cap || (head_ & 7) != 0)
    return Error(ErrorKind::malformed, "shm ring: indices out of step (head " +
                                           std::to_string(head_) + ", tail " +
                                           std::to_string(tail_cached_) + ")");
  std::memcpy(&header, data_ + (static_cast<std::size_t>(head_) & mask_), sizeof header);
  std::size_t len = header.length;
  if (len > max_piece(cap) || kRecordHeader + round8(len) > available || header.kind > 3)
    return Error(ErrorKind::malformed, "shm ring: bad record (length " + std::to_string(len) +
                                           ", kind " + std::to_string(header.kind) + ", " +
                                           std::to_string(available) + " bytes published)");
  auto kind = static_cast<RecordKind>(header.kind);
  Next out;
  out.ready = true;
  out.end = head_ + kRecordHeader + round8(len);
  std::uint64_t pos = head_ + kRecordHeader;
  if ((kind == RecordKind::whole || kind == RecordKind::first) == joining_)
    return Error(ErrorKind::malformed, "shm ring: a piece of a large frame out of order");
  if (kind != RecordKind::whole && joined_.size() + len > max_frame_)
    return Error(ErrorKind::too_large,
                 "shm ring: a frame over the limit of " + std::to_string(max_frame_) + " bytes");
  switch (kind) {
    case RecordKind::whole: {
      std::size_t at = static_cast<std::size_t>(pos) & mask_;
      out.frame = true;
      if (at + len <= cap) {
        out.bytes = {data_ + at, len};
      } else {
        scratch_.resize(len);
        copy_out(pos, scratch_.data(), len);
        out.bytes = scratch_;
      }
      break;
    }
    case RecordKind::first:
      joined_.clear();
      joining_ = true;
      [[fallthrough]];
    case RecordKind::middle:
    case RecordKind::last: {
      std::size_t old = joined_.size();
      joined_.resize(old + len);
      copy_out(pos, joined_.data() + old, len);
      if (kind == RecordKind::last) {
        joining_ = false;
        out.frame = true;
        out.bytes = joined_;
      }
      break;
    }
  }
  return out;
}

}  // namespace nexo::mpi
