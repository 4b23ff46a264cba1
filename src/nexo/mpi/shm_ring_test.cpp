// The ring alone, in one process: frames of random sizes (0, small, around the record limit,
// several times the ring) written and read in random interleavings, checked against a model
// (the queue of frames sent and not yet read); and a corrupted ring reported, never over-read.
#include "nexo/mpi/shm_ring.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <memory>
#include <random>

namespace nexo::mpi {
namespace {

struct TestRing {
  explicit TestRing(std::size_t capacity, std::size_t max_frame = std::size_t{1} << 24)
      : storage(new (std::align_val_t(kCacheLine)) std::byte[sizeof(RingIndices) + capacity]),
        indices(new (storage) RingIndices()),
        writer(indices, storage + sizeof(RingIndices), capacity),
        reader(indices, storage + sizeof(RingIndices), capacity, max_frame) {}
  ~TestRing() { ::operator delete[](storage, std::align_val_t(kCacheLine)); }
  std::byte* storage;
  RingIndices* indices;
  RingWriter writer;
  RingReader reader;
};

Bytes make_frame(std::mt19937_64& random, std::size_t size) {
  Bytes frame(size);
  for (auto& b : frame)
    b = static_cast<std::byte>(random());
  return frame;
}

bool write_bytes(RingWriter& writer, const Bytes& frame) {
  std::span<const std::byte> parts[1] = {frame};
  return writer.write(FrameParts(parts), frame.size());
}

std::size_t pick_size(std::mt19937_64& random, std::size_t capacity) {
  switch (random() % 6) {
    case 0:
      return 0;
    case 1:
      return random() % 16;
    case 2:
      return max_piece(capacity) - 1 + random() % 3;  // around the limit of a whole record
    case 3:
      return capacity + random() % (3 * capacity);  // larger than the ring
    default:
      return random() % (capacity / 3);
  }
}

class RingModel : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RingModel, RandomFramesWrapAndMatchTheModel) {
  const std::size_t capacity = GetParam();
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 random(seed);
    TestRing ring(capacity);
    std::deque<Bytes> model;  // written, not yet read
    Bytes pending;            // a frame the writer has not finished
    bool has_pending = false;
    std::size_t sent = 0, received = 0;
    while (sent < 300 || !model.empty() || has_pending) {
      if (sent < 300 && random() % 2 == 0) {
        if (!has_pending) {
          pending = make_frame(random, pick_size(random, capacity));
          has_pending = true;
        }
        if (write_bytes(ring.writer, pending)) {
          model.push_back(std::move(pending));
          has_pending = false;
          ++sent;
        }
      } else {
        auto got = ring.reader.read(1 + random() % 4, [&](std::span<const std::byte> frame) {
          ASSERT_FALSE(model.empty()) << "a frame nobody sent";
          ASSERT_EQ(frame.size(), model.front().size());
          ASSERT_TRUE(frame.empty() ||
                      std::memcmp(frame.data(), model.front().data(), frame.size()) == 0);
          model.pop_front();
          ++received;
        });
        ASSERT_TRUE(got) << got.error().to_string();
        if (sent >= 300 && has_pending && !write_bytes(ring.writer, pending)) continue;
        if (sent >= 300 && has_pending) {
          model.push_back(std::move(pending));
          has_pending = false;
          ++sent;
        }
      }
    }
    EXPECT_EQ(received, 300u);
    EXPECT_FALSE(ring.reader.readable());
    // The indices went round the ring many times.
    EXPECT_GT(ring.indices->tail.load(), 4 * capacity);
  }
}

INSTANTIATE_TEST_SUITE_P(Capacities, RingModel, ::testing::Values(256, 4096, 65536));

TEST(ShmRing, ZeroLengthFramesAreFrames) {
  TestRing ring(256);
  int frames = 0;
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(write_bytes(ring.writer, {}));
  auto got = ring.reader.read(100, [&](std::span<const std::byte> frame) {
    EXPECT_TRUE(frame.empty());
    ++frames;
  });
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 10u);
  EXPECT_EQ(frames, 10);
}

TEST(ShmRing, WholeFrameIsAllOrNothingWhenFull) {
  TestRing ring(256);
  Bytes frame(max_piece(256), std::byte{7});  // 120 bytes: a record of 128, two fill the ring
  ASSERT_TRUE(write_bytes(ring.writer, frame));
  ASSERT_TRUE(write_bytes(ring.writer, frame));
  EXPECT_FALSE(write_bytes(ring.writer, Bytes(1)));
  EXPECT_EQ(ring.indices->tail.load(), 256u);  // nothing half written
  ASSERT_TRUE(ring.reader.read(1, [](std::span<const std::byte>) {}));
  EXPECT_TRUE(write_bytes(ring.writer, Bytes(1)));
}

TEST(ShmRing, PartsAreSentAsOneFrame) {
  TestRing ring(4096);
  Bytes header = to_bytes("head:"), body = to_bytes("the body of the frame");
  std::span<const std::byte> parts[2] = {header, body};
  ASSERT_TRUE(ring.writer.write(FrameParts(parts), header.size() + body.size()));
  std::string seen;
  ASSERT_TRUE(ring.reader.read(
      1, [&](std::span<const std::byte> frame) { seen = std::string(as_text(frame)); }));
  EXPECT_EQ(seen, "head:the body of the frame");
}

TEST(ShmRing, CorruptRecordIsMalformedNotAnOverRead) {
  TestRing ring(256);
  ASSERT_TRUE(write_bytes(ring.writer, Bytes(16, std::byte{1})));
  std::uint32_t huge = 1'000'000;
  std::memcpy(ring.storage + sizeof(RingIndices), &huge, sizeof huge);
  auto got = ring.reader.read(
      1, [](std::span<const std::byte>) { ADD_FAILURE() << "delivered a corrupt frame"; });
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error().is(ErrorKind::malformed)) << got.error().to_string();

  TestRing ring2(256);
  ring2.indices->tail.store(100000);  // a tail beyond the ring
  auto got2 = ring2.reader.read(1, [](std::span<const std::byte>) {});
  ASSERT_FALSE(got2);
  EXPECT_TRUE(got2.error().is(ErrorKind::malformed));
}

TEST(ShmRing, JoinedFrameOverTheLimitIsTooLarge) {
  TestRing ring(256, 1000);
  Bytes big(5000, std::byte{3});
  std::size_t rounds = 0;
  Result<std::size_t> got = std::size_t{0};
  while (!write_bytes(ring.writer, big) && rounds++ < 1000) {
    got = ring.reader.read(10, [](std::span<const std::byte>) { ADD_FAILURE() << "delivered"; });
    if (!got) break;
  }
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error().is(ErrorKind::too_large)) << got.error().to_string();
}

}  // namespace
}  // namespace nexo::mpi
