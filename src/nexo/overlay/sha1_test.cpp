// SHA-1 against the FIPS 180 test vectors, and split updates against one.
#include "nexo/overlay/sha1.hpp"

#include <gtest/gtest.h>

#include <string>

namespace nexo::overlay {
namespace {

std::string hex(const Sha1Digest& d) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : d) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

TEST(Sha1, FipsVectors) {
  EXPECT_EQ(hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(
      hex(sha1("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
               "klmnopqrlmnopqrsmnopqrstnopqrstu")),
      "a49b2446a02c645bf419f995b67091253a04a259");
}

TEST(Sha1, AMillionAs) {
  Sha1 h;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i)
    h.update(chunk);
  EXPECT_EQ(hex(h.finish()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

// Every split of a message across two updates, around the 55/56/64-byte padding edges.
TEST(Sha1, SplitUpdatesGiveTheSameDigest) {
  for (std::size_t size : {0U, 1U, 55U, 56U, 57U, 63U, 64U, 65U, 119U, 120U, 128U, 200U}) {
    std::string message(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
      message[i] = static_cast<char>(i * 7 + 3);
    const Sha1Digest whole = sha1(message);
    for (std::size_t cut = 0; cut <= size; ++cut) {
      Sha1 h;
      h.update(std::string_view(message).substr(0, cut));
      h.update(std::string_view(message).substr(cut));
      ASSERT_EQ(h.finish(), whole) << "size " << size << " cut " << cut;
    }
  }
}

TEST(Sha1, FinishResetsForTheNextMessage) {
  Sha1 h;
  h.update("abc");
  (void)h.finish();
  h.update("abc");
  EXPECT_EQ(hex(h.finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

}  // namespace
}  // namespace nexo::overlay
