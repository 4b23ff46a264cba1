#include "nexo/reliable/checksum.hpp"

#include <array>
#include <bit>
#include <cstring>

#include "nexo/reliable/checksum_internal.hpp"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace nexo::reliable {
namespace {

// ---- CRC32C ------------------------------------------------------------------

constexpr std::uint32_t kCastagnoli = 0x82F63B78;  // 0x1EDC6F41, bit-reflected

using CrcTables = std::array<std::array<std::uint32_t, 256>, 8>;

// tables[0] is the classic byte-at-a-time table; tables[k][b] is the CRC of
// byte b followed by k zero bytes, so eight bytes fold in one step.
constexpr CrcTables make_crc_tables() {
  CrcTables tables{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc >> 1) ^ ((crc & 1) ? kCastagnoli : 0);
    tables[0][b] = crc;
  }
  for (std::size_t k = 1; k < tables.size(); ++k)
    for (std::size_t b = 0; b < 256; ++b)
      tables[k][b] = (tables[k - 1][b] >> 8) ^ tables[0][tables[k - 1][b] & 0xFF];
  return tables;
}

constexpr CrcTables kCrcTables = make_crc_tables();

static_assert(kCrcTables[0][1] == 0xF26B8303);

std::uint32_t load_le32(const std::byte* p) noexcept {
  return std::to_integer<std::uint32_t>(p[0]) | std::to_integer<std::uint32_t>(p[1]) << 8 |
         std::to_integer<std::uint32_t>(p[2]) << 16 | std::to_integer<std::uint32_t>(p[3]) << 24;
}

std::uint64_t load_le64(const std::byte* p) noexcept {
  return std::uint64_t{load_le32(p)} | std::uint64_t{load_le32(p + 4)} << 32;
}

std::uint32_t crc_byte(std::uint32_t crc, std::byte b) noexcept {
  return (crc >> 8) ^ kCrcTables[0][(crc ^ std::to_integer<std::uint32_t>(b)) & 0xFF];
}

#if defined(__x86_64__)

__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(
    std::span<const std::byte> data) noexcept {
  const std::byte* p = data.data();
  std::size_t n = data.size();
  std::uint64_t crc = 0xFFFFFFFF;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);  // x86 is little-endian, as CRC32C expects
    crc = _mm_crc32_u64(crc, word);
  }
  auto crc32 = static_cast<std::uint32_t>(crc);
  for (; n > 0; ++p, --n)
    crc32 = _mm_crc32_u8(crc32, std::to_integer<std::uint8_t>(*p));
  return ~crc32;
}

bool cpu_has_sse42() noexcept {
  __builtin_cpu_init();  // harmless if already done; needed before main
  return __builtin_cpu_supports("sse4.2");
}

#endif

// ---- SipHash-2-4 -----------------------------------------------------------------

// The internal state: four 64-bit words, mixed by add-rotate-xor rounds.
struct SipState {
  std::uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13) ^ v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16) ^ v2;
    v0 += v3;
    v3 = std::rotl(v3, 21) ^ v0;
    v2 += v1;
    v1 = std::rotl(v1, 17) ^ v2;
    v2 = std::rotl(v2, 32);
  }

  void compress(std::uint64_t m) noexcept {  // two compression rounds per word
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace

namespace detail {

std::uint32_t crc32c_portable(std::span<const std::byte> data) noexcept {
  const std::byte* p = data.data();
  std::size_t n = data.size();
  std::uint32_t crc = 0xFFFFFFFF;
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint32_t lo = crc ^ load_le32(p);
    const std::uint32_t hi = load_le32(p + 4);
    crc = kCrcTables[7][lo & 0xFF] ^ kCrcTables[6][(lo >> 8) & 0xFF] ^
          kCrcTables[5][(lo >> 16) & 0xFF] ^ kCrcTables[4][lo >> 24] ^ kCrcTables[3][hi & 0xFF] ^
          kCrcTables[2][(hi >> 8) & 0xFF] ^ kCrcTables[1][(hi >> 16) & 0xFF] ^
          kCrcTables[0][hi >> 24];
  }
  for (; n > 0; ++p, --n)
    crc = crc_byte(crc, *p);
  return ~crc;
}

bool crc32c_hardware_available() noexcept {
#if defined(__x86_64__)
  static const bool available = cpu_has_sse42();
  return available;
#else
  return false;
#endif
}

std::uint32_t crc32c_hardware(std::span<const std::byte> data) noexcept {
#if defined(__x86_64__)
  if (crc32c_hardware_available()) return crc32c_sse42(data);
#endif
  return crc32c_portable(data);
}

}  // namespace detail

std::uint32_t crc32c(std::span<const std::byte> data) noexcept {
  return detail::crc32c_hardware(data);
}

std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1,
                        std::span<const std::byte> data) noexcept {
  // The initial state is the key xored with the ASCII of "somepseudorandomlygeneratedbytes".
  SipState s{k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261,
             k1 ^ 0x7465646279746573};
  const std::byte* p = data.data();
  std::size_t n = data.size();
  for (; n >= 8; p += 8, n -= 8)
    s.compress(load_le64(p));
  // The last word: the 0..7 remaining bytes, little-endian, with the message
  // length (mod 256) in the top byte.
  std::uint64_t last = std::uint64_t{data.size() & 0xFF} << 56;
  for (std::size_t i = 0; i < n; ++i)
    last |= std::to_integer<std::uint64_t>(p[i]) << (8 * i);
  s.compress(last);
  s.v2 ^= 0xFF;
  for (int i = 0; i < 4; ++i)
    s.round();  // four finalization rounds
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace nexo::reliable
