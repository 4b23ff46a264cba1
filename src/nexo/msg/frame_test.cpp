#include "nexo/msg/frame.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>

namespace nexo::msg::frame {
namespace {

TEST(Frame, LayoutIsAsDocumented) {
  Bytes out;
  append(out, kData, 0, as_bytes("hi"));
  EXPECT_EQ(out, (Bytes{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{3}, std::byte{0},
                        std::byte{'h'}, std::byte{'i'}}));
  out.clear();
  append(out, kAck, 0x0102030405060708, {});
  ASSERT_EQ(out.size(), 13u);
  EXPECT_EQ(out[3], std::byte{9});
  EXPECT_EQ(out[4], std::byte{2});
  EXPECT_EQ(out[5], std::byte{1});
  EXPECT_EQ(out[12], std::byte{8});
}

TEST(Frame, WriteHeaderMatchesAppend) {
  for (Kind kind : {kData, kDataToAck}) {
    Bytes whole;
    append(whole, kind, 0x1122334455667788, as_bytes("payload"));
    std::array<std::byte, kMaxHeaderSize> header{};
    const std::size_t size = write_header(header.data(), kind, 0x1122334455667788, 7);
    ASSERT_EQ(size, header_size(kind));
    EXPECT_TRUE(std::equal(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(size),
                           whole.begin()))
        << "kind " << int{kind};
  }
}

TEST(Frame, ParsesWholeFramesAndWaitsForMore) {
  Bytes out;
  append(out, kDataToAck, 42, as_bytes("payload"));
  Parsed f;
  std::string why;
  for (std::size_t cut = 0; cut < out.size(); ++cut) {
    EXPECT_EQ(parse(std::span(out).first(cut), 100, f, why), Status::need_more) << cut;
    // Once the header is in, the whole frame's size is known (the port budgets by it).
    EXPECT_EQ(f.size, cut < header_size(kDataToAck) - 8 ? 0u : out.size()) << cut;
  }
  ASSERT_EQ(parse(out, 100, f, why), Status::complete);
  EXPECT_EQ(f.kind, kDataToAck);
  EXPECT_EQ(f.id, 42u);
  EXPECT_EQ(as_text(f.payload), "payload");
  EXPECT_EQ(f.size, out.size());
}

TEST(Frame, RefusesOversizedAndMalformedBeforeThePayloadArrives) {
  Parsed f;
  std::string why;
  const Bytes huge = {std::byte{0x7f}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                      std::byte{0}};
  EXPECT_EQ(parse(huge, 1 << 20, f, why), Status::malformed);
  EXPECT_NE(why.find("exceeds the limit"), std::string::npos) << why;
  const Bytes bad_kind = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}, std::byte{9}};
  EXPECT_EQ(parse(bad_kind, 100, f, why), Status::malformed);
  EXPECT_NE(why.find("unknown frame kind 9"), std::string::npos);
  const Bytes short_ack = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}, std::byte{2}};
  EXPECT_EQ(parse(short_ack, 100, f, why), Status::malformed);
}

}  // namespace
}  // namespace nexo::msg::frame
