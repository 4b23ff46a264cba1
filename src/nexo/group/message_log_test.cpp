#include "nexo/group/message_log.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>

#include "nexo/base/bytes.hpp"

namespace nexo::group {
namespace {

struct Model {
  Bytes payload, meta;
  int info;
};

Bytes filled(std::size_t n, std::uint8_t first) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = std::byte(static_cast<std::uint8_t>(first + i));
  return b;
}

void expect_same(MessageLog<int>& log, const std::deque<Model>& model) {
  ASSERT_EQ(log.size(), model.size());
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < model.size(); ++i) {
    auto e = log[i];
    ASSERT_EQ(Bytes(e.payload.begin(), e.payload.end()), model[i].payload) << "message " << i;
    ASSERT_EQ(Bytes(e.meta.begin(), e.meta.end()), model[i].meta) << "message " << i;
    ASSERT_EQ(e.info, model[i].info);
    bytes += model[i].payload.size() + model[i].meta.size();
  }
  EXPECT_EQ(log.bytes(), bytes);
}

TEST(MessageLog, KeepsOrderSizesAndInfo) {
  MessageLog<int> log;
  EXPECT_TRUE(log.empty());
  log.push_back(filled(3, 1), filled(2, 9), 7);
  log.push_back(filled(0, 0), 8);     // an empty message is a message
  log.push_back(filled(5000, 3), 9);  // larger than the first ring
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log.bytes(), 3u + 2u + 5000u);
  EXPECT_EQ(log[0].info, 7);
  EXPECT_EQ(log[1].payload.size(), 0u);
  EXPECT_EQ(log[2].payload.size(), 5000u);
  EXPECT_EQ(log[2].payload[4999], std::byte(static_cast<std::uint8_t>(3 + 4999)));
  log[1].info = 80;  // Info is the caller's to change
  log.pop_front();
  EXPECT_EQ(log.front().info, 80);
  log.pop_front();
  log.pop_front();
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(log.bytes(), 0u);
}

// Random pushes and pops, checked message by message against a deque: the
// ring wraps, grows with messages in it (wrapped or not), and holds empty ones.
TEST(MessageLog, MatchesADequeUnderRandomUse) {
  std::mt19937 random(20261206);
  MessageLog<int> log;
  std::deque<Model> model;
  int next = 0;
  for (int step = 0; step < 20000; ++step) {
    const bool push = model.empty() || random() % 100 < 52;
    if (push) {
      const std::size_t size = random() % 8 == 0 ? 0 : random() % 1500;
      const std::size_t meta = random() % 4 == 0 ? random() % 40 : 0;
      Model m{filled(size, static_cast<std::uint8_t>(next)),
              filled(meta, static_cast<std::uint8_t>(next * 3)), next};
      log.push_back(m.payload, m.meta, m.info);
      model.push_back(std::move(m));
      ++next;
    } else {
      log.pop_front();
      model.pop_front();
    }
    if (step % 97 == 0) expect_same(log, model);
  }
  expect_same(log, model);
}

// A steady stream (push one, pop one, a window of them held) settles on a
// ring and then never allocates again: the point of the log.
TEST(MessageLog, SteadyStreamStopsGrowing) {
  MessageLog<int> log;
  const Bytes message = filled(1024, 5);
  for (int i = 0; i < 100; ++i)
    log.push_back(message, i);
  for (int i = 100; i < 2000; ++i) {
    log.pop_front();
    log.push_back(message, i);
  }
  const std::size_t settled = log.capacity();
  for (int i = 2000; i < 50000; ++i) {
    log.pop_front();
    log.push_back(message, i);
    ASSERT_EQ(log.capacity(), settled) << "grew at message " << i;
  }
  EXPECT_EQ(log.front().info, 50000 - 100);
  EXPECT_LE(settled, 4u * 100 * 1024);  // not more than a few times what it holds
}

TEST(MessageLog, SpansOfOthersSurvivePops) {
  MessageLog<int> log;
  for (int i = 0; i < 10; ++i)
    log.push_back(filled(100, static_cast<std::uint8_t>(i)), i);
  const auto last = log[9].payload;
  for (int i = 0; i < 9; ++i)
    log.pop_front();
  EXPECT_EQ(last.data(), log.front().payload.data());
  EXPECT_EQ(last[0], std::byte{9});
}

// Growing moves nothing: the messages held keep their bytes where they are
// (the full ring is retired, not copied), and the retired ring is freed with
// its last message.
TEST(MessageLog, GrowingMovesNoMessage) {
  MessageLog<int> log;
  log.push_back(filled(1000, 1), 0);
  const auto first = log.front().payload;
  const std::size_t first_ring = log.capacity();
  int pushed = 1;
  while (log.capacity() == first_ring) {  // until a push needs a new ring
    log.push_back(filled(1000, static_cast<std::uint8_t>(pushed)), pushed);
    ++pushed;
  }
  const std::size_t rings = log.capacity();
  EXPECT_GE(rings, 3 * first_ring);  // the retired ring, and one of twice its size
  EXPECT_EQ(log.front().payload.data(), first.data());
  EXPECT_EQ(log.front().payload[999], std::byte(static_cast<std::uint8_t>(1 + 999)));
  const auto newest = log[log.size() - 1].payload;
  for (int i = 0; i < pushed - 1; ++i)  // all but the newest, in the new ring
    log.pop_front();
  EXPECT_EQ(log.size(), 1u);
  EXPECT_EQ(log.front().payload.data(), newest.data());
  EXPECT_EQ(log.front().info, pushed - 1);
  EXPECT_EQ(log.capacity(), rings - first_ring);  // the retired one is gone
}

TEST(MessageLog, ClearAndReleaseEmptyIt) {
  MessageLog<int> log;
  log.push_back(filled(10, 0), 1);
  log.clear();
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(log.bytes(), 0u);
  log.push_back(filled(10, 0), 2);
  EXPECT_EQ(log.front().info, 2);
  log.release();
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(log.capacity(), 0u);
}

}  // namespace
}  // namespace nexo::group
