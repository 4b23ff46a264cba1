#include "nexo/mpi/frame.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

namespace nexo::mpi {
namespace {

std::vector<std::byte> encode(const Frame& f) {
  std::vector<std::byte> out(encoded_size(f));
  auto written = encode_frame(f, out);
  EXPECT_TRUE(written) << written.error().to_string();
  EXPECT_EQ(*written, out.size());
  return out;
}

Frame eager_frame(std::span<const std::byte> payload) {
  Frame f;
  f.kind = FrameKind::eager;
  f.flags = kSynchronous;
  f.context = 0xA1B2C3D4;
  f.source = 3;
  f.tag = 77;
  f.size = payload.size();
  f.sender_request = 0x0102030405060708ULL;
  f.payload = payload;
  return f;
}

TEST(MpiFrame, EagerRoundTripAndLittleEndianLayout) {
  const std::vector<std::byte> payload{std::byte{1}, std::byte{2}, std::byte{3}};
  const auto bytes = encode(eager_frame(payload));
  ASSERT_EQ(bytes.size(), kFrameHeaderSize + 3);
  EXPECT_EQ(bytes[0], std::byte{1});  // kind EAGER
  EXPECT_EQ(bytes[1], std::byte{kSynchronous});
  EXPECT_EQ(bytes[4], std::byte{0xD4});  // context, least significant byte first
  EXPECT_EQ(bytes[24], std::byte{0x08});
  auto f = decode_frame(bytes);
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ(f->kind, FrameKind::eager);
  EXPECT_TRUE(f->synchronous());
  EXPECT_EQ(f->context, 0xA1B2C3D4u);
  EXPECT_EQ(f->source, 3);
  EXPECT_EQ(f->tag, 77);
  EXPECT_EQ(f->size, 3u);
  EXPECT_EQ(f->sender_request, 0x0102030405060708ULL);
  ASSERT_EQ(f->payload.size(), 3u);
  EXPECT_EQ(f->payload[2], std::byte{3});
}

TEST(MpiFrame, RtsWithPullCtsDataAndEmptyKindsRoundTrip) {
  Frame rts;
  rts.kind = FrameKind::rts;
  rts.flags = kHasPull;
  rts.source = 1;
  rts.size = 1 << 24;
  rts.sender_request = 9;
  rts.pull = PullAddress{4242, 0x7fff12345678};
  auto r = decode_frame(encode(rts));
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->pull.has_value());
  EXPECT_EQ(*r->pull, (PullAddress{4242, 0x7fff12345678}));

  Frame cts;
  cts.kind = FrameKind::cts;
  cts.size = 100;
  cts.sender_request = 9;
  cts.receiver_request = 5;
  auto c = decode_frame(encode(cts));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->receiver_request, 5u);
  EXPECT_EQ(c->size, 100u);

  const std::vector<std::byte> chunk(10, std::byte{0x5A});
  Frame data;
  data.kind = FrameKind::data;
  data.size = 100;
  data.sender_request = 9;
  data.receiver_request = 5;
  data.offset = 90;
  data.payload = chunk;
  auto d = decode_frame(encode(data));
  ASSERT_TRUE(d) << d.error().to_string();
  EXPECT_EQ(d->offset, 90u);
  EXPECT_EQ(d->payload.size(), 10u);

  for (FrameKind kind : {FrameKind::sync_ack, FrameKind::fin}) {
    Frame f;
    f.kind = kind;
    f.sender_request = 9;
    auto e = decode_frame(encode(f));
    ASSERT_TRUE(e) << to_string(kind);
    EXPECT_EQ(e->kind, kind);
  }
}

TEST(MpiFrame, EncodeIntoShortBufferFailsWritingNothing) {
  const std::vector<std::byte> payload(8, std::byte{1});
  std::vector<std::byte> out(kFrameHeaderSize + 7, std::byte{0xEE});
  auto written = encode_frame(eager_frame(payload), out);
  ASSERT_FALSE(written);
  EXPECT_TRUE(written.error().is(ErrorKind::too_large));
  for (std::byte b : out)
    EXPECT_EQ(b, std::byte{0xEE});
}

// Each broken rule of frame.hpp is refused as malformed, naming the rule.
TEST(MpiFrame, BrokenRulesAreRefused) {
  const std::vector<std::byte> payload(4, std::byte{7});
  const auto good = encode(eager_frame(payload));
  auto refused = [](std::vector<std::byte> bytes, const char* expect) {
    auto f = decode_frame(bytes);
    ASSERT_FALSE(f) << expect;
    EXPECT_TRUE(f.error().is(ErrorKind::malformed));
    EXPECT_NE(f.error().message().find(expect), std::string::npos) << f.error().message();
  };
  refused({good.begin(), good.begin() + 39}, "shorter than the 40-byte header");
  refused({}, "shorter than the 40-byte header");
  auto b = good;
  b[0] = std::byte{0};
  refused(b, "unknown kind 0");
  b = good;
  b[0] = std::byte{7};
  refused(b, "unknown kind 7");
  b = good;
  b[1] = std::byte{0x80};
  refused(b, "unknown flag bits");
  b = good;
  b[1] = std::byte{kHasPull};
  refused(b, "pull flag");
  b = good;
  b[2] = std::byte{1};
  refused(b, "reserved");
  b = good;
  b[11] = std::byte{0x80};  // source negative
  refused(b, "negative source");
  b = good;
  b[15] = std::byte{0xFF};  // tag negative
  refused(b, "negative tag");
  b = good;
  std::memset(b.data() + 24, 0, 8);
  refused(b, "sender request id is 0");
  b = good;
  b[32] = std::byte{1};
  refused(b, "receiver request id must be 0");
  b = good;
  b.push_back(std::byte{0});
  refused(b, "body length differs");
  b = good;
  b[16] = std::byte{0xFF};  // size huge, body 4
  refused(b, "body length differs");

  Frame data;
  data.kind = FrameKind::data;
  data.size = 10;
  data.sender_request = 1;
  data.receiver_request = 2;
  data.offset = 8;
  data.payload = payload;  // 8 + 4 > 10
  refused(encode(data), "past the size field");
  data.offset = ~std::uint64_t{0};
  refused(encode(data), "past the size field");
  data.offset = 0;
  data.payload = {};
  refused(encode(data), "no chunk");

  Frame cts;
  cts.kind = FrameKind::cts;
  cts.sender_request = 1;
  refused(encode(cts), "receiver request id is 0");
  cts.receiver_request = 1;
  cts.flags = kSynchronous;
  refused(encode(cts), "synchronous flag");

  Frame rts;
  rts.kind = FrameKind::rts;
  rts.sender_request = 1;
  rts.size = 5;
  auto rb = encode(rts);
  rb.resize(rb.size() + 16);
  refused(rb, "pull flag");

  Frame ack;
  ack.kind = FrameKind::sync_ack;
  ack.sender_request = 1;
  ack.size = 3;
  refused(encode(ack), "size must be 0");
}

// Random bytes and random mutations of valid frames: decode either fails
// cleanly or returns a frame whose payload lies inside the input (ASan checks
// the reads).
TEST(MpiFrame, RandomInputNeverOverReads) {
  std::mt19937_64 rng(14);
  const std::vector<std::byte> payload(32, std::byte{9});
  const auto seed = encode(eager_frame(payload));
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::byte> bytes = seed;
    if (i % 2 == 0) {
      bytes.resize(rng() % 100);
      for (auto& b : bytes)
        b = std::byte(rng());
    } else {
      for (int m = 0; m < 3; ++m)
        bytes[rng() % bytes.size()] = std::byte(rng());
      bytes.resize(rng() % (bytes.size() + 1));
    }
    // Exercise the frame decoder on a heap copy of exactly the input's size.
    auto copy = std::make_unique<std::byte[]>(bytes.size() + 1);
    std::memcpy(copy.get(), bytes.data(), bytes.size());
    auto f = decode_frame({copy.get(), bytes.size()});
    if (!f) {
      EXPECT_TRUE(f.error().is(ErrorKind::malformed));
      continue;
    }
    ++accepted;
    if (!f->payload.empty()) {
      EXPECT_GE(f->payload.data(), copy.get());
      EXPECT_LE(f->payload.data() + f->payload.size(), copy.get() + bytes.size());
    }
  }
  EXPECT_GT(accepted, 0);  // some mutations keep a valid frame
}

}  // namespace
}  // namespace nexo::mpi
