// Big-endian (network byte order) reads and writes over raw memory, for the
// hand-written packet codecs (reliable/, group/). Neither checks bounds: the
// codec checks the length first (BigEndianReader::remaining()), and sizes the
// output before writing; debug builds assert.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace nexo {

class BigEndianReader {
 public:
  explicit BigEndianReader(std::span<const std::byte> data) noexcept : data_(data) {}

  std::size_t remaining() const noexcept { return data_.size() - pos_; }

  std::uint8_t u8() noexcept {
    assert(pos_ < data_.size());
    return std::to_integer<std::uint8_t>(data_[pos_++]);
  }
  std::uint16_t u16() noexcept {
    const unsigned high = u8();  // a separate statement: operands of | are unsequenced
    return static_cast<std::uint16_t>(high << 8 | u8());
  }
  std::uint32_t u32() noexcept {
    const std::uint32_t high = u16();
    return high << 16 | u16();
  }
  std::uint64_t u64() noexcept {
    const std::uint64_t high = u32();
    return high << 32 | u32();
  }
  // The next `size` bytes (size <= remaining()).
  std::span<const std::byte> take(std::size_t size) noexcept {
    assert(size <= remaining());
    const auto taken = data_.subspan(pos_, size);
    pos_ += size;
    return taken;
  }
  // Everything left.
  std::span<const std::byte> rest() noexcept { return take(remaining()); }

 private:
  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
};

// Writes into memory the caller has already sized.
class BigEndianWriter {
 public:
  explicit BigEndianWriter(std::byte* at) noexcept : at_(at) {}

  std::byte* position() const noexcept { return at_; }

  void u8(std::uint8_t v) noexcept { *at_++ = std::byte{v}; }
  void u16(std::uint16_t v) noexcept {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) noexcept {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void u64(std::uint64_t v) noexcept {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  void bytes(std::span<const std::byte> data) noexcept {
    if (!data.empty()) std::memcpy(at_, data.data(), data.size());
    at_ += data.size();
  }

 private:
  std::byte* at_;
};

}  // namespace nexo
