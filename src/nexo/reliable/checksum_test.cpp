// CRC32C against published check values, its two implementations against each
// other, and SipHash-2-4 against the reference test vectors.
#include "nexo/reliable/checksum.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>

#include "nexo/base/bytes.hpp"
#include "nexo/reliable/checksum_internal.hpp"

namespace nexo::reliable {
namespace {

Bytes filled(std::size_t size, std::uint8_t value) {
  return Bytes(size, std::byte{value});
}

Bytes counting(std::size_t size, std::uint8_t first = 0, int step = 1) {
  Bytes b(size);
  for (std::size_t i = 0; i < size; ++i)
    b[i] = static_cast<std::byte>(static_cast<std::uint8_t>(first + step * static_cast<int>(i)));
  return b;
}

TEST(Crc32c, CheckValue) {
  EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(detail::crc32c_portable(as_bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(detail::crc32c_hardware(as_bytes("123456789")), 0xE3069283u);
}

TEST(Crc32c, EmptyInputIsZero) {
  EXPECT_EQ(crc32c({}), 0u);
  EXPECT_EQ(detail::crc32c_portable({}), 0u);
}

// The examples of RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32c, Rfc3720Examples) {
  EXPECT_EQ(crc32c(filled(32, 0x00)), 0x8A9136AAu);
  EXPECT_EQ(crc32c(filled(32, 0xFF)), 0x62A8AB43u);
  EXPECT_EQ(crc32c(counting(32, 0x00, 1)), 0x46DD794Eu);
  EXPECT_EQ(crc32c(counting(32, 0x1F, -1)), 0x113FDB5Cu);
  EXPECT_EQ(detail::crc32c_portable(counting(32, 0x1F, -1)), 0x113FDB5Cu);
}

// Every length up to a few blocks past the 8-byte stride, at every alignment,
// on random bytes: the table and instruction paths give the same CRC.
TEST(Crc32c, HardwareAndPortableAgree) {
  if (!detail::crc32c_hardware_available())
    GTEST_SKIP() << "no crc32 instruction on this CPU: crc32c() uses the tables";
  std::mt19937_64 random(20240611);
  Bytes buffer(4096 + 16);
  for (auto& b : buffer)
    b = static_cast<std::byte>(random());
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t length = 0; length <= 300; ++length) {
      const std::span<const std::byte> data(buffer.data() + offset, length);
      ASSERT_EQ(detail::crc32c_hardware(data), detail::crc32c_portable(data))
          << "offset " << offset << ", length " << length;
    }
  }
  for (int i = 0; i < 200; ++i) {
    const std::size_t offset = random() % 16;
    const std::size_t length = random() % 4097;
    const std::span<const std::byte> data(buffer.data() + offset, length);
    ASSERT_EQ(detail::crc32c_hardware(data), detail::crc32c_portable(data))
        << "offset " << offset << ", length " << length;
  }
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  Bytes data = counting(64, 7, 3);
  const std::uint32_t good = crc32c(data);
  for (std::size_t bit = 0; bit < data.size() * 8; ++bit) {
    data[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    EXPECT_NE(crc32c(data), good) << "bit " << bit;
    data[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
  }
}

// The 64 vectors published with the SipHash reference implementation: key
// 00 01 .. 0f, message 00 01 .. (n-1) for n = 0 .. 63.
constexpr std::array<std::uint64_t, 64> kSipHashVectors = {
    0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
    0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
    0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
    0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
    0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
    0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
    0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
    0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
    0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
    0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
    0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
    0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
    0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
    0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
    0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
    0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
};

constexpr std::uint64_t kK0 = 0x0706050403020100;
constexpr std::uint64_t kK1 = 0x0f0e0d0c0b0a0908;

TEST(SipHash24, NamedReferenceVectors) {
  const Bytes message = counting(64);
  const std::span<const std::byte> m(message);
  EXPECT_EQ(siphash24(kK0, kK1, m.first(0)), 0x726fdb47dd0e0e31u);
  EXPECT_EQ(siphash24(kK0, kK1, m.first(1)), 0x74f839c593dc67fdu);
  EXPECT_EQ(siphash24(kK0, kK1, m.first(15)), 0xa129ca6149be45e5u);
  EXPECT_EQ(siphash24(kK0, kK1, m.first(63)), 0x958a324ceb064572u);
}

TEST(SipHash24, AllReferenceVectors) {
  const Bytes message = counting(64);
  for (std::size_t n = 0; n < kSipHashVectors.size(); ++n)
    EXPECT_EQ(siphash24(kK0, kK1, std::span<const std::byte>(message).first(n)), kSipHashVectors[n])
        << "message length " << n;
}

TEST(SipHash24, DependsOnEveryKeyBitAndTheLength) {
  const Bytes message = counting(20);
  const std::uint64_t good = siphash24(kK0, kK1, message);
  for (int bit = 0; bit < 64; ++bit) {
    EXPECT_NE(siphash24(kK0 ^ (std::uint64_t{1} << bit), kK1, message), good) << "k0 bit " << bit;
    EXPECT_NE(siphash24(kK0, kK1 ^ (std::uint64_t{1} << bit), message), good) << "k1 bit " << bit;
  }
  // A trailing zero byte changes the length byte of the last block.
  Bytes longer = message;
  longer.push_back(std::byte{0});
  EXPECT_NE(siphash24(kK0, kK1, longer), good);
}

}  // namespace
}  // namespace nexo::reliable
