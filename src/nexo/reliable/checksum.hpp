// Checksums and keyed hashes for rudp://.
#pragma once

#include <cstdint>
#include <span>

namespace nexo::reliable {

// CRC32C (Castagnoli, the polynomial of iSCSI, SCTP and ext4; reflected,
// initial value and final xor 0xFFFFFFFF): crc32c("123456789") == 0xE3069283.
// Uses the CPU's crc32 instruction where there is one.
std::uint32_t crc32c(std::span<const std::byte> data) noexcept;

// SipHash-2-4 with a 128-bit key (k0 the first 8 key bytes, little-endian, as
// in the reference): the keyed hash of the stateless cookies.
std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1,
                        std::span<const std::byte> data) noexcept;

}  // namespace nexo::reliable
