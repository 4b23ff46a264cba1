// The engine, sans I/O: engines wired by hand, frames moved by the test.
#include "nexo/mpi/p2p.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>

#include "nexo/mpi/p2p_test_world.hpp"

namespace nexo::mpi {
namespace {

TEST(MpiEngine, EagerSendReceiveInOrderWithWildcards) {
  World w(2);
  const int values[3] = {10, 20, 30};
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(w[0].isend(1, 7, i % 2, bytes_of(values[i])));
  w.pump();
  EXPECT_EQ(w[1].unexpected_messages(), 3u);
  int got[3] = {};
  auto a = *w[1].irecv(kAnySource, 7, kAnyTag, bytes_of(got[0]));
  auto b = *w[1].irecv(0, 7, 0, bytes_of(got[1]));
  auto c = *w[1].irecv(kAnySource, 7, kAnyTag, bytes_of(got[2]));
  EXPECT_EQ(w.test(1, a), (Status{0, 0, 4, false, false}));
  EXPECT_EQ(w.test(1, b), (Status{0, 0, 4, false, false}));
  EXPECT_EQ(w.test(1, c), (Status{0, 1, 4, false, false}));
  EXPECT_EQ(got[0], 10);
  EXPECT_EQ(got[1], 30);
  EXPECT_EQ(got[2], 20);
  EXPECT_EQ(w[0].live_requests(), 3u);  // sends complete, not yet tested
  for (Engine::RequestId id = 1; id <= 3; ++id)
    EXPECT_TRUE(w.test(0, id));
  EXPECT_EQ(w[0].live_requests(), 0u);
  EXPECT_EQ(w[1].live_requests(), 0u);
}

// Two senders, messages of one sender in order whatever the interleaving of
// arrivals, receives by ANY_SOURCE and ANY_TAG, posted before and after.
TEST(MpiEngine, NonOvertakingAcrossAnySourceInterleavings) {
  for (unsigned seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    World w(3);
    const int kPerSender = 20;
    std::vector<int> sent[3];
    for (int s = 1; s <= 2; ++s)
      for (int i = 0; i < kPerSender; ++i)
        sent[s].push_back(s * 1000 + i);
    for (int s = 1; s <= 2; ++s)
      for (int i = 0; i < kPerSender; ++i)
        ASSERT_TRUE(w[s].isend(0, 1, static_cast<int>(rng() % 2), bytes_of(sent[s][i])));
    std::vector<int> got(2 * kPerSender, -1);
    std::vector<Engine::RequestId> receives;
    for (int i = 0; i < 2 * kPerSender; ++i) {
      if (rng() % 2) receives.push_back(*w[0].irecv(kAnySource, 1, kAnyTag, bytes_of(got[i])));
      // Deliver a random sender's next frame (each sender's own order is kept).
      w.step(1 + static_cast<int>(rng() % 2), 0);
      if (receives.size() <= static_cast<std::size_t>(i))
        receives.push_back(*w[0].irecv(kAnySource, 1, kAnyTag, bytes_of(got[i])));
    }
    w.pump();
    int last[3] = {-1, -1, -1};
    for (std::size_t i = 0; i < receives.size(); ++i) {
      auto status = w.test(0, receives[i]);
      ASSERT_TRUE(status);
      const int s = status->source;
      ASSERT_EQ(got[i] / 1000, s);
      EXPECT_GT(got[i], last[s]) << "overtaken at receive " << i;
      last[s] = got[i];
    }
  }
}

TEST(MpiEngine, ZeroLengthMessagesEagerAndRendezvous) {
  for (std::size_t eager_limit : {std::size_t{64}, std::size_t{0}}) {
    EngineConfig c = World::small_config();
    c.eager_limit = eager_limit;  // 0: only empty messages go eager
    World w(2, c);
    auto s = *w[0].isend(1, 1, 3, {});
    int untouched = 42;
    auto r = *w[1].irecv(0, 1, 3, bytes_of(untouched));
    w.pump();
    EXPECT_EQ(w.test(1, r), (Status{0, 3, 0, false, false}));
    EXPECT_TRUE(w.test(0, s));
    EXPECT_EQ(untouched, 42);
  }
  // A message into a zero-length buffer through rendezvous: truncated, nothing moves.
  World w(2);
  const auto data = pattern_bytes(1000, 1);
  auto s = *w[0].isend(1, 1, 3, data);
  auto r = *w[1].irecv(0, 1, 3, {});
  w.pump();
  EXPECT_EQ(w.test(1, r), (Status{0, 3, 0, true, false}));
  EXPECT_TRUE(w.test(0, s));
}

TEST(MpiEngine, TwentyMebibytesThroughRendezvousInFrames) {
  EngineConfig c;
  c.eager_limit = 64 * 1024;
  c.max_frame = 256 * 1024;
  World w(2, c);
  const auto data = pattern_bytes(20u << 20, 3);
  std::vector<std::byte> into(data.size());
  auto s = *w[0].isend(1, 1, 0, data);
  auto r = *w[1].irecv(0, 1, 0, into);
  w.pump();
  EXPECT_EQ(w.test(1, r), (Status{0, 0, data.size(), false, false}));
  EXPECT_TRUE(w.test(0, s));
  EXPECT_TRUE(into == data);
  EXPECT_EQ(w.frames, 2 + 80);  // RTS, CTS, 80 DATA of 256 KiB
}

TEST(MpiEngine, TruncationDeliversWhatFitsEagerAndRendezvous) {
  World w(2);
  for (std::size_t size : {std::size_t{40}, std::size_t{1000}}) {
    const auto data = pattern_bytes(size, 5);
    std::vector<std::byte> into(30, std::byte{0});
    auto s = *w[0].isend(1, 1, 0, data);
    auto r = *w[1].irecv(0, 1, 0, into);
    w.pump();
    EXPECT_EQ(w.test(1, r), (Status{0, 0, 30, true, false}));
    EXPECT_TRUE(w.test(0, s));
    EXPECT_TRUE(std::equal(into.begin(), into.end(), data.begin()));
  }
}

TEST(MpiEngine, SynchronousSendCompletesOnlyOnceTheReceiveMatched) {
  for (std::size_t size : {std::size_t{8}, std::size_t{500}}) {  // eager, rendezvous
    SCOPED_TRACE(size);
    World w(2);
    const auto data = pattern_bytes(size, 2);
    auto s = *w[0].isend(1, 1, 0, data, SendMode::synchronous);
    w.pump();
    EXPECT_EQ(w.test(0, s), std::nullopt);  // the message waits at rank 1, unmatched
    EXPECT_EQ(w[1].unexpected_messages(), 1u);
    std::vector<std::byte> into(size);
    auto r = *w[1].irecv(0, 1, 0, into);
    w.pump();
    EXPECT_TRUE(w.test(1, r));
    EXPECT_EQ(w.test(0, s), (Status{1, 0, size, false, false}));
  }
  // A standard eager send completes without any receive.
  World w(2);
  const auto data = pattern_bytes(8, 0);  // lives until the send completes, as MPI asks
  auto s = *w[0].isend(1, 1, 0, data);
  w.pump();
  EXPECT_TRUE(w.test(0, s));
}

TEST(MpiEngine, ManyIrecvCompleteOutOfOrder) {
  World w(2);
  const int kCount = 200;
  std::vector<std::vector<std::byte>> into(kCount, std::vector<std::byte>(150));
  std::vector<Engine::RequestId> receives;
  for (int i = 0; i < kCount; ++i)
    receives.push_back(*w[1].irecv(0, 1, i, into[i]));
  std::vector<std::vector<std::byte>> data;
  for (int i = 0; i < kCount; ++i)
    data.push_back(pattern_bytes(i % 3 == 0 ? 150 : 20, i));
  for (int i = kCount - 1; i >= 0; --i)
    ASSERT_TRUE(w[0].isend(1, 1, i, data[i]));
  w.step(0, 1);  // the last tag first
  EXPECT_TRUE(w.test(1, receives[kCount - 1]));
  EXPECT_EQ(w.test(1, receives[0]), std::nullopt);
  w.pump();
  for (int i = 0; i < kCount; ++i) {
    if (i == kCount - 1) continue;
    auto status = w.test(1, receives[i]);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->tag, i);
    EXPECT_TRUE(std::equal(data[i].begin(), data[i].end(), into[i].begin()));
  }
}

TEST(MpiEngine, ProbeThenReceive) {
  World w(3);
  const auto data = pattern_bytes(300, 9);
  EXPECT_FALSE(w[0].iprobe(kAnySource, 1, kAnyTag));
  ASSERT_TRUE(w[2].isend(0, 1, 5, data));
  w.pump();
  auto probed = w[0].iprobe(kAnySource, 1, kAnyTag);
  ASSERT_TRUE(probed);
  EXPECT_EQ(*probed, (Status{2, 5, 300, false, false}));
  EXPECT_TRUE(w[0].iprobe(kAnySource, 1, kAnyTag));  // still there
  std::vector<std::byte> into(probed->count);
  auto r = *w[0].irecv(probed->source, 1, probed->tag, into);
  w.pump();
  EXPECT_EQ(w.test(0, r), (Status{2, 5, 300, false, false}));
  EXPECT_TRUE(into == data);
  EXPECT_FALSE(w[0].iprobe(kAnySource, 1, kAnyTag));
}

TEST(MpiEngine, CancelOfAPostedReceive) {
  World w(2);
  int a = 0, b = 0;
  auto r1 = *w[1].irecv(0, 1, 0, bytes_of(a));
  auto r2 = *w[1].irecv(0, 1, 0, bytes_of(b));
  EXPECT_TRUE(w[1].cancel(r1));
  EXPECT_FALSE(w[1].cancel(r1));
  EXPECT_EQ(w.test(1, r1), (Status{0, 0, 0, false, true}));
  const int v = 5;
  auto s = *w[0].isend(1, 1, 0, bytes_of(v));
  w.pump();
  EXPECT_FALSE(w[1].cancel(r2));  // matched: too late
  EXPECT_EQ(w.test(1, r2), (Status{0, 0, 4, false, false}));
  EXPECT_EQ(b, 5);
  EXPECT_FALSE(w[0].cancel(s));  // sends are not cancelled
  EXPECT_FALSE(w[1].cancel(12345));
  EXPECT_FALSE(w[1].test(12345));  // unknown id: an error
}

TEST(MpiEngine, ContextsIsolateTraffic) {
  World w(2);
  const int x = 1, y = 2;
  ASSERT_TRUE(w[0].isend(1, 10, 0, bytes_of(x)));
  ASSERT_TRUE(w[0].isend(1, 11, 0, bytes_of(y)));
  w.pump();
  int got = 0;
  EXPECT_FALSE(w[1].iprobe(kAnySource, 12, kAnyTag));
  auto r = *w[1].irecv(kAnySource, 11, kAnyTag, bytes_of(got));
  EXPECT_TRUE(w.test(1, r));
  EXPECT_EQ(got, 2);
  r = *w[1].irecv(kAnySource, 10, kAnyTag, bytes_of(got));
  EXPECT_TRUE(w.test(1, r));
  EXPECT_EQ(got, 1);
}

TEST(MpiEngine, BadArgumentsAreRefused) {
  Engine e(World::small_config());
  int v = 0;
  EXPECT_TRUE(e.isend(-1, 0, 0, bytes_of(v)).error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(e.isend(1, 0, kAnyTag, bytes_of(v)).error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(e.irecv(-2, 0, 0, bytes_of(v)).error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(e.irecv(0, 0, -2, bytes_of(v)).error().is(ErrorKind::invalid_argument));
  EXPECT_EQ(e.live_requests(), 0u);
}

// MPI_Request_free: a detached request goes on and is released once complete.
TEST(MpiEngine, DetachedRequestsFinishAndAreReleased) {
  World w(2);
  const auto small = pattern_bytes(10, 1);
  const auto large = pattern_bytes(1000, 2);
  ASSERT_TRUE(w[0].detach(*w[0].isend(1, 1, 0, small)));
  ASSERT_TRUE(w[0].detach(*w[0].isend(1, 1, 1, small, SendMode::synchronous)));
  ASSERT_TRUE(w[0].detach(*w[0].isend(1, 1, 2, large)));
  EXPECT_EQ(w[0].live_requests(), 3u);
  w.pump();
  EXPECT_EQ(w[0].live_requests(), 2u);  // the standard eager send went out
  std::vector<std::byte> a(10), b(10), c(1000);
  auto ra = *w[1].irecv(0, 1, 0, a);
  auto rb = *w[1].irecv(0, 1, 1, b);
  auto rc = *w[1].irecv(0, 1, 2, c);
  ASSERT_TRUE(w[1].detach(rc));
  w.pump();
  EXPECT_EQ(w[0].live_requests(), 0u);
  EXPECT_TRUE(w.test(1, ra));
  EXPECT_TRUE(w.test(1, rb));
  EXPECT_EQ(w[1].live_requests(), 0u);  // rc released
  EXPECT_TRUE(c == large);
  EXPECT_TRUE(w[1].detach(999).error().is(ErrorKind::invalid_argument));
  // A request that is already complete is released at once.
  auto s = *w[0].isend(1, 1, 0, small);
  w.pump();
  ASSERT_TRUE(w[0].detach(s));
  EXPECT_EQ(w[0].live_requests(), 0u);
  // A detached receive can still be cancelled (and is then released).
  auto r = *w[1].irecv(0, 1, 5, a);
  ASSERT_TRUE(w[1].detach(r));
  EXPECT_TRUE(w[1].cancel(r));
  EXPECT_EQ(w[1].live_requests(), 0u);
  EXPECT_EQ(w[1].unexpected_messages(), 1u);  // the last small send, never received
}

// Request slots are reused, ids are not: a released request's id stays refused after its slot
// serves another request, and a long exchange keeps the engine at the few slots it needs.
TEST(MpiEngine, StaleIdsAreRefusedAfterTheirSlotIsReused) {
  World w(2);
  int v = 5, got = 0;
  const auto first = *w[0].isend(1, 1, 0, bytes_of(v));
  w.pump();
  ASSERT_TRUE(w.test(0, first));
  const auto second = *w[0].isend(1, 1, 0, bytes_of(v));
  EXPECT_NE(second, first);
  EXPECT_TRUE(w[0].test(first).error().is(ErrorKind::invalid_argument));
  EXPECT_FALSE(w[0].done(first));
  EXPECT_TRUE(w[0].detach(first).error().is(ErrorKind::invalid_argument));
  EXPECT_FALSE(w[0].cancel(first));
  w.pump();
  EXPECT_TRUE(w[0].done(second));
  ASSERT_TRUE(w.test(0, second));
  for (int i = 0; i < 1000; ++i) {
    const auto r = *w[1].irecv(0, 1, 0, bytes_of(got));
    const auto s = *w[0].isend(1, 1, 0, bytes_of(i));
    w.pump();
    ASSERT_TRUE(w.test(0, s));
    ASSERT_TRUE(w.test(1, r));
    ASSERT_EQ(got, i < 2 ? 5 : i - 2);  // the two sends above came first
  }
  EXPECT_EQ(w[0].live_requests(), 0u);
  EXPECT_EQ(w[1].live_requests(), 0u);
  EXPECT_EQ(w[1].unexpected_messages(), 2u);
}

// The fast paths of MPI_Send and MPI_Recv: a frame made by eager_now() and taken by
// on_frame_for() goes straight into the receive's buffer with no request on either side.
std::vector<std::byte> eager_now_frame(Engine& e, int dest, std::uint32_t context, int tag,
                                       std::span<const std::byte> data,
                                       Engine::RequestId* id = nullptr) {
  std::array<std::byte, kFrameHeaderSize> header{};
  auto made = e.eager_now(dest, context, tag, data, header);
  EXPECT_TRUE(made.has_value());
  if (!made) return {};
  if (id != nullptr) *id = *made;
  e.sent_now();
  std::vector<std::byte> frame(header.begin(), header.end());
  frame.insert(frame.end(), data.begin(), data.end());
  return frame;
}

TEST(MpiEngineFastPaths, AMatchingFrameGoesStraightIntoTheBuffer) {
  World w(2);
  const int v = 42;
  Engine::RequestId id = 0;
  const auto frame = eager_now_frame(w[0], 1, 7, 3, bytes_of(v), &id);
  EXPECT_EQ(id & 0xffffffffu, 0u) << "an eager_now id is never a request's";
  EXPECT_NE(id, 0u);
  EXPECT_TRUE(w[0].test(id).error().is(ErrorKind::invalid_argument));
  EXPECT_EQ(w[0].live_requests(), 0u);
  EXPECT_EQ(w[0].counters().eager_sends, 1u);
  int got = 0;
  ASSERT_TRUE(w[1].idle());
  auto taken = w[1].on_frame_for(0, frame, kAnySource, 7, kAnyTag, bytes_of(got));
  ASSERT_TRUE(taken) << taken.error().to_string();
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ(**taken, (Status{0, 3, sizeof v, false, false}));
  EXPECT_EQ((*taken)->message, id);
  EXPECT_EQ(got, 42);
  EXPECT_TRUE(w[1].idle());
  EXPECT_EQ(w[1].counters().frames_received, 1u);
  // The next id differs: ids name messages to the receiver (tracing).
  Engine::RequestId next = 0;
  (void)eager_now_frame(w[0], 1, 7, 3, bytes_of(v), &next);
  EXPECT_NE(next, id);
}

TEST(MpiEngineFastPaths, AnyOtherFrameGoesToTheEngineAndTheReceiveIsPostedAsUsual) {
  World w(2);
  const int v = 5;
  int got = 0;
  // Another tag: kept as an unexpected message, which the normal receive then matches.
  auto frame = eager_now_frame(w[0], 1, 7, 4, bytes_of(v));
  auto taken = w[1].on_frame_for(0, frame, 0, 7, 3, bytes_of(got));
  ASSERT_TRUE(taken);
  EXPECT_FALSE(taken->has_value());
  EXPECT_EQ(w[1].unexpected_messages(), 1u);
  EXPECT_FALSE(w[1].idle());
  auto r = *w[1].irecv(0, 7, 4, bytes_of(got));
  EXPECT_EQ(w.test(1, r), (Status{0, 4, sizeof v, false, false}));
  EXPECT_EQ(got, 5);
  // Too long for the buffer: the normal receive truncates it.
  const long long big = 0x0102030405060708;
  frame = eager_now_frame(w[0], 1, 7, 3, std::as_bytes(std::span(&big, 1)));
  taken = w[1].on_frame_for(0, frame, 0, 7, 3, bytes_of(got));
  ASSERT_TRUE(taken);
  EXPECT_FALSE(taken->has_value());
  r = *w[1].irecv(0, 7, 3, bytes_of(got));
  auto status = w.test(1, r);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->truncated);
  // A synchronous send is answered by the engine (SYNC_ACK), not taken on the fast path.
  const auto s = *w[0].isend(1, 7, 3, bytes_of(v), SendMode::synchronous);
  std::vector<std::byte> buffer(w[0].frame_capacity());
  const auto n = *w[0].poll_transmit(1, buffer);
  taken = w[1].on_frame_for(0, std::span(buffer).first(n), 0, 7, 3, bytes_of(got));
  ASSERT_TRUE(taken);
  EXPECT_FALSE(taken->has_value());
  r = *w[1].irecv(0, 7, 3, bytes_of(got));
  w.pump();
  EXPECT_TRUE(w.test(1, r));
  EXPECT_TRUE(w.test(0, s)) << "the SYNC_ACK came back";
  // Malformed bytes: refused as on_frame refuses them.
  frame[0] = std::byte{9};
  EXPECT_TRUE(w[1].on_frame_for(0, frame, 0, 7, 3, bytes_of(got)).error().is(ErrorKind::malformed));
  EXPECT_EQ(w[1].counters().frames_refused, 1u);
}

TEST(MpiEngineFastPaths, NotTakenWhenItCouldBreakOrderOrMatching) {
  World w(3);
  const int v = 1;
  std::array<std::byte, kFrameHeaderSize> header{};
  // A frame queued for the peer goes first: no fast send until it has been sent.
  const auto queued = *w[0].isend(1, 7, 3, bytes_of(v));
  EXPECT_FALSE(w[0].eager_now(1, 7, 3, bytes_of(v), header));
  EXPECT_TRUE(w[0].eager_now(2, 7, 3, bytes_of(v), header)) << "other peers are not held up";
  w.pump();
  EXPECT_TRUE(w[0].eager_now(1, 7, 3, bytes_of(v), header));
  ASSERT_TRUE(w.test(0, queued));
  // Larger than the eager limit, or a negative rank or tag: the normal way.
  std::vector<std::byte> large(w[0].config().eager_limit + 1);
  EXPECT_FALSE(w[0].eager_now(1, 7, 3, large, header));
  EXPECT_FALSE(w[0].eager_now(-1, 7, 3, bytes_of(v), header));
  EXPECT_FALSE(w[0].eager_now(1, 7, -2, bytes_of(v), header));
  // A posted receive matches first (MPI's order): with one live, the frame goes to it.
  int first = 0, second = 0;
  const auto posted = *w[1].irecv(0, 8, 3, bytes_of(first));
  EXPECT_FALSE(w[1].idle());
  const auto frame = eager_now_frame(w[0], 1, 8, 3, bytes_of(v));
  auto taken = w[1].on_frame_for(0, frame, 0, 8, 3, bytes_of(second));
  ASSERT_TRUE(taken);
  EXPECT_FALSE(taken->has_value());
  EXPECT_TRUE(w.test(1, posted));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
  // The source field must name the rank it came from.
  const auto forged = eager_now_frame(w[0], 1, 8, 3, bytes_of(v));
  EXPECT_TRUE(w[1].on_frame_for(1, forged, kAnySource, 8, 3, bytes_of(second))
                  .error()
                  .is(ErrorKind::malformed));
}

// poll_transmit with a body view makes the same frames as the copying one, byte for byte:
// EAGER, RTS, CTS, DATA chunks, SYNC_ACK; and the messages arrive whole.
TEST(MpiEngine, ZeroCopyTransmitMakesTheSameFrames) {
  World copying(2), viewing(2);
  const auto small = pattern_bytes(40, 1);
  const auto large = pattern_bytes(1000, 2);  // rendezvous: 64-byte eager limit, 100-byte chunks
  std::vector<std::byte> got_small[2], got_large[2];
  Engine::RequestId receives[2][2] = {};
  World* worlds[2] = {&copying, &viewing};
  for (int w = 0; w < 2; ++w) {
    World& world = *worlds[w];
    got_small[w].resize(small.size());
    got_large[w].resize(large.size());
    ASSERT_TRUE(world[0].isend(1, 1, 2, small, SendMode::synchronous));
    ASSERT_TRUE(world[0].isend(1, 1, 3, large));
    receives[w][0] = *world[1].irecv(0, 1, 2, got_small[w]);
    receives[w][1] = *world[1].irecv(0, 1, 3, got_large[w]);
  }
  std::vector<std::byte> a(copying[0].frame_capacity()), b(viewing[0].frame_capacity());
  int frames = 0;
  for (bool moved = true; moved;) {
    moved = false;
    for (int from = 0; from < 2; ++from) {
      const int to = 1 - from;
      for (;;) {
        auto n = copying[from].poll_transmit(to, a);
        std::span<const std::byte> body;
        auto m = viewing[from].poll_transmit(to, b, &body);
        ASSERT_TRUE(n && m);
        std::vector<std::byte> joined(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(*m));
        joined.insert(joined.end(), body.begin(), body.end());
        ASSERT_EQ(std::vector<std::byte>(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(*n)),
                  joined)
            << "frame " << frames;
        if (*n == 0) break;
        ++frames;
        moved = true;
        ASSERT_TRUE(copying[to].on_frame(from, std::span(a).first(*n)));
        ASSERT_TRUE(viewing[to].on_frame(from, joined));
      }
    }
  }
  EXPECT_GT(frames, 12);  // EAGER, SYNC_ACK, RTS, CTS and 10 DATA chunks
  for (int w = 0; w < 2; ++w) {
    EXPECT_TRUE(worlds[w]->test(1, receives[w][0]));
    EXPECT_TRUE(worlds[w]->test(1, receives[w][1]));
    EXPECT_EQ(got_small[w], small);
    EXPECT_EQ(got_large[w], large);
  }
}

}  // namespace
}  // namespace nexo::mpi
