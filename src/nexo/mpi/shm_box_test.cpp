// The fast box alone, in one process: a full box refuses, slots are reused in order around
// the box many times (the sequence numbers wrap the slot index, never a frame), frames made of
// parts, and a corrupt length reported, never over-read.
#include "nexo/mpi/shm_box.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "nexo/base/bytes.hpp"

namespace nexo::mpi {
namespace {

struct TestBox {
  TestBox() : box(std::make_unique<FastBox>()), writer(box.get()), reader(box.get()) {}
  std::unique_ptr<FastBox> box;
  BoxWriter writer;
  BoxReader reader;
};

bool write_text(BoxWriter& writer, std::string_view text) {
  std::span<const std::byte> parts[1] = {as_bytes(text)};
  return writer.write(FrameParts(parts), text.size());
}

std::string read_text(BoxReader& reader) {
  std::string seen = "(none)";
  auto got = reader.read_one([&](std::span<const std::byte> f) { seen = std::string(as_text(f)); });
  EXPECT_TRUE(got) << got.error().to_string();
  return seen;
}

TEST(ShmBox, FullBoxRefusesUntilTheReaderFreesASlot) {
  TestBox t;
  EXPECT_FALSE(t.reader.readable());
  for (std::size_t i = 0; i < kBoxSlots; ++i)
    ASSERT_TRUE(write_text(t.writer, "frame " + std::to_string(i)));
  EXPECT_FALSE(write_text(t.writer, "one too many"));
  EXPECT_TRUE(t.reader.readable());
  EXPECT_EQ(read_text(t.reader), "frame 0");
  ASSERT_TRUE(write_text(t.writer, "frame " + std::to_string(kBoxSlots)));  // slot 0 again
  EXPECT_FALSE(write_text(t.writer, "full again"));
  for (std::size_t i = 1; i <= kBoxSlots; ++i)
    EXPECT_EQ(read_text(t.reader), "frame " + std::to_string(i));
  EXPECT_FALSE(t.reader.readable());
  EXPECT_EQ(read_text(t.reader), "(none)");
}

TEST(ShmBox, SlotsAreReusedInOrderManyTimesAround) {
  TestBox t;
  std::uint64_t written = 0, read = 0;
  // Bursts of 1..kBoxSlots frames, read in bursts of other sizes: every interleaving of the
  // slots' sequence numbers around the box.
  for (int round = 0; round < 5000; ++round) {
    const std::size_t burst = 1 + static_cast<std::size_t>(round) % kBoxSlots;
    for (std::size_t i = 0; i < burst; ++i) {
      const std::string text(written % (kBoxMaxFrame + 1), static_cast<char>('a' + written % 26));
      if (!write_text(t.writer, text)) break;
      ++written;
    }
    const std::size_t take = 1 + static_cast<std::size_t>(round * 7) % (kBoxSlots + 1);
    for (std::size_t i = 0; i < take && read < written; ++i) {
      const std::string expected(read % (kBoxMaxFrame + 1), static_cast<char>('a' + read % 26));
      ASSERT_EQ(read_text(t.reader), expected) << "frame " << read;
      ++read;
    }
  }
  while (read < written) {
    const std::string expected(read % (kBoxMaxFrame + 1), static_cast<char>('a' + read % 26));
    ASSERT_EQ(read_text(t.reader), expected);
    ++read;
  }
  EXPECT_GT(written, 10'000u);
  EXPECT_FALSE(t.reader.readable());
}

TEST(ShmBox, PartsAreSentAsOneFrame) {
  TestBox t;
  Bytes header = to_bytes("head:"), body = to_bytes("body"), empty;
  std::span<const std::byte> parts[3] = {header, empty, body};
  ASSERT_TRUE(t.writer.write(FrameParts(parts), header.size() + body.size()));
  EXPECT_EQ(read_text(t.reader), "head:body");
  // An empty frame is a frame.
  ASSERT_TRUE(write_text(t.writer, ""));
  EXPECT_EQ(read_text(t.reader), "");
}

TEST(ShmBox, CorruptLengthIsMalformedNotAnOverRead) {
  TestBox t;
  ASSERT_TRUE(write_text(t.writer, "fine"));
  t.box->slots[0].length = 100'000;
  auto got =
      t.reader.read_one([](std::span<const std::byte>) { ADD_FAILURE() << "delivered a frame"; });
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error().is(ErrorKind::malformed)) << got.error().to_string();
}

}  // namespace
}  // namespace nexo::mpi
