// The two CRC32C implementations behind crc32c(), exposed so that a test can
// check that they agree. Not part of the public API.
#pragma once

#include <cstdint>
#include <span>

namespace nexo::reliable::detail {

// CRC32C computed with lookup tables (slicing-by-8); works on every CPU.
std::uint32_t crc32c_portable(std::span<const std::byte> data) noexcept;

// True when this CPU has the crc32 instruction (x86-64 with SSE4.2).
bool crc32c_hardware_available() noexcept;

// CRC32C computed with the crc32 instruction. Call only when
// crc32c_hardware_available(); otherwise it returns crc32c_portable(data).
std::uint32_t crc32c_hardware(std::span<const std::byte> data) noexcept;

}  // namespace nexo::reliable::detail
