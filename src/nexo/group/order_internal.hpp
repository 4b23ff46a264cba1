// What the orderers share (internal to group/): the factories make_orderer()
// switches over, and the strict varint codec of their meta and control
// payloads.
//
// Varint: unsigned LEB128, 7 bits a byte, least significant group first, the
// high bit set on every byte but the last. Strict: at most 10 bytes, the 10th
// at most 1 (the value fits 64 bits), and canonical (no final 0x00 byte after
// the first: one value, one encoding). The reader never reads past its span.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/group/order.hpp"

namespace nexo::group::order_detail {

// The first byte of a control message's meta: what its payload is.
inline constexpr std::byte kAnnouncement{'T'};  // the sequencer's order (order_total.cpp)
inline constexpr std::byte kProposals{'P'};     // agreed-priority proposals (order_agreed.cpp)

// A control payload is cut at about this size (a batch goes on in the next one).
inline constexpr std::size_t kMaxControlPayload = 1200;

inline void put_varint(Bytes& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(std::byte{static_cast<std::uint8_t>(value | 0x80)});
    value >>= 7;
  }
  out.push_back(std::byte{static_cast<std::uint8_t>(value)});
}

class VarintReader {
 public:
  explicit VarintReader(std::span<const std::byte> data) noexcept : data_(data) {}

  // The next value; false (and the reader stays unusable) when the bytes end
  // inside it, it runs over 10 bytes or 64 bits, or it is not canonical.
  bool read(std::uint64_t& value) noexcept {
    value = 0;
    for (unsigned i = 0; i < 10; ++i) {
      if (pos_ >= data_.size()) return false;
      const auto b = std::to_integer<std::uint8_t>(data_[pos_++]);
      if (i == 9 && b > 1) return false;
      value |= std::uint64_t{b & 0x7fU} << (7 * i);
      if ((b & 0x80) == 0) return b != 0 || i == 0;
    }
    return false;
  }
  bool at_end() const noexcept { return pos_ == data_.size(); }

 private:
  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
};

// Member ids to their index in the view's member list.
inline std::unordered_map<MemberId, std::uint32_t> index_members(
    const std::vector<MemberId>& members) {
  std::unordered_map<MemberId, std::uint32_t> index;
  for (std::uint32_t i = 0; i < members.size(); ++i)
    index.emplace(members[i], i);
  return index;
}

std::unique_ptr<Orderer> make_causal_orderer(MemberId self, const std::vector<MemberId>& members);
std::unique_ptr<Orderer> make_total_orderer(MemberId self, const std::vector<MemberId>& members);
std::unique_ptr<Orderer> make_agreed_orderer(MemberId self, const std::vector<MemberId>& members);

}  // namespace nexo::group::order_detail
