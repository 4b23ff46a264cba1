// The engine against bad peers, the single-copy pull, and a reference model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <map>
#include <random>
#include <tuple>

#include "nexo/mpi/match_reference.hpp"
#include "nexo/mpi/p2p.hpp"
#include "nexo/mpi/p2p_test_world.hpp"

namespace nexo::mpi {
namespace {

std::vector<std::byte> encode(const Frame& f) {
  std::vector<std::byte> out(encoded_size(f));
  EXPECT_TRUE(encode_frame(f, out));
  return out;
}

auto snapshot(const Engine& e) {
  auto peers = e.peers_with_output();
  std::sort(peers.begin(), peers.end());
  return std::make_tuple(e.live_requests(), e.unexpected_messages(), peers);
}

void expect_refused(Engine& e, int from, const std::vector<std::byte>& bytes, const char* why) {
  const auto before = snapshot(e);
  auto taken = e.on_frame(from, bytes);
  ASSERT_FALSE(taken) << why;
  EXPECT_TRUE(taken.error().is(ErrorKind::malformed));
  EXPECT_NE(taken.error().message().find(why), std::string::npos) << taken.error().message();
  EXPECT_EQ(snapshot(e), before) << why;
}

TEST(MpiEngineProtocol, MalformedAndUnexpectedFramesAreRefusedWithoutStateChange) {
  World w(2);
  const auto data = pattern_bytes(200, 4);  // rendezvous (eager_limit 64)
  std::vector<std::byte> into(200);
  const int small = 7;
  auto eager = *w[0].isend(1, 1, 0, bytes_of(small));  // standard eager: no SYNC_ACK expected
  auto s = *w[0].isend(1, 1, 0, data);
  int small_into = 0;
  auto r0 = *w[1].irecv(0, 1, 0, bytes_of(small_into));
  auto r = *w[1].irecv(0, 1, 0, into);
  ASSERT_TRUE(w.step(0, 1));  // EAGER
  ASSERT_TRUE(w.step(0, 1));  // RTS
  ASSERT_TRUE(w.step(1, 0));  // CTS: rank 0 now has DATA to send

  expect_refused(w[1], 0, {std::byte{1}, std::byte{2}}, "shorter than the 40-byte header");
  std::vector<std::byte> garbage(60, std::byte{0xFF});
  expect_refused(w[1], 0, garbage, "unknown kind 255");

  Frame f;
  f.kind = FrameKind::cts;
  f.context = 1;
  f.source = 1;
  f.size = 10;
  f.sender_request = 999;
  f.receiver_request = r;
  expect_refused(w[0], 1, encode(f), "waits for a CTS");  // unknown send
  f.sender_request = s;
  expect_refused(w[0], 1, encode(f), "waits for a CTS");  // already cleared
  f.sender_request = eager;
  expect_refused(w[0], 1, encode(f), "waits for a CTS");  // an eager send
  f.source = 0;
  expect_refused(w[0], 1, encode(f), "source field names another rank");

  Frame d;
  d.kind = FrameKind::data;
  d.context = 1;
  d.source = 0;
  d.size = 200;
  d.sender_request = s;
  d.receiver_request = r;
  d.offset = 50;
  d.payload = std::span(data).subspan(50, 10);
  expect_refused(w[1], 0, encode(d), "expected at 0 of 200");
  d.offset = 0;
  d.size = 300;
  expect_refused(w[1], 0, encode(d), "expected at 0 of 200");
  d.size = 200;
  d.receiver_request = r0;  // completed eager receive
  expect_refused(w[1], 0, encode(d), "waits for DATA");
  d.receiver_request = r;
  d.sender_request = s + 100;
  expect_refused(w[1], 0, encode(d), "waits for DATA");

  Frame ack;
  ack.kind = FrameKind::sync_ack;
  ack.source = 1;
  ack.sender_request = eager;
  expect_refused(w[0], 1, encode(ack), "waits for it");  // not synchronous
  ack.kind = FrameKind::fin;
  ack.sender_request = s;
  expect_refused(w[0], 1, encode(ack), "waits for it");  // no pull offered

  EXPECT_EQ(w[0].counters().frames_refused + w[1].counters().frames_refused, 12u);
  // The transfers in progress still finish, intact.
  w.pump();
  EXPECT_EQ(w.test(1, r), (Status{0, 0, 200, false, false}));
  EXPECT_TRUE(into == data);
  EXPECT_EQ(small_into, 7);
  EXPECT_TRUE(w.test(0, s));
}

// Unexpected eager bytes are bounded: past the limit an EAGER is refused
// (overloaded, nothing changed), unless a posted receive takes it at once.
TEST(MpiEngineProtocol, UnexpectedEagerBytesAreBounded) {
  EngineConfig c = World::small_config();
  c.max_unexpected_bytes = 100;
  World w(2, c);
  const auto data = pattern_bytes(40, 1);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(w[0].isend(1, 1, i, data));
  EXPECT_TRUE(w.step(0, 1));
  EXPECT_TRUE(w.step(0, 1));
  EXPECT_EQ(w[1].unexpected_bytes(), 80u);
  auto n = w[0].poll_transmit(1, w.buffer);
  ASSERT_TRUE(n);
  const std::vector<std::byte> third(w.buffer.begin(), w.buffer.begin() + *n);
  const auto before = snapshot(w[1]);
  auto refused = w[1].on_frame(0, third);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().is(ErrorKind::overloaded));
  EXPECT_NE(refused.error().message().find("max_unexpected_bytes"), std::string::npos);
  EXPECT_EQ(snapshot(w[1]), before);
  std::vector<std::byte> into(40);
  auto r = *w[1].irecv(0, 1, 2, into);  // now the same frame has a receive waiting
  ASSERT_TRUE(w[1].on_frame(0, third));
  EXPECT_EQ(w.test(1, r), (Status{0, 2, 40, false, false}));
  EXPECT_EQ(w[1].unexpected_bytes(), 80u);
  r = *w[1].irecv(0, 1, 0, into);
  EXPECT_TRUE(w.test(1, r));
  EXPECT_EQ(w[1].unexpected_bytes(), 40u);
}

struct PullCounter {
  int calls = 0;
  bool fail = false;
};

EngineConfig pulling_config(PullCounter& counter) {
  EngineConfig c = World::small_config();
  c.pull_pid = 4321;
  c.pull = [&counter](std::int32_t, const PullAddress& from,
                      std::span<std::byte> into) -> Result<void> {
    ++counter.calls;
    EXPECT_EQ(from.pid, 4321u);
    if (counter.fail) return Error(ErrorKind::permission_denied, "process_vm_readv: EPERM");
    // One process: the "other" process's address is ours.
    std::memcpy(into.data(), reinterpret_cast<const std::byte*>(from.address), into.size());
    return ok();
  };
  return c;
}

TEST(MpiEngineProtocol, SingleCopyPullReplacesCtsAndData) {
  PullCounter counter;
  World w(2, pulling_config(counter));
  const auto data = pattern_bytes(5000, 6);
  std::vector<std::byte> into(3000);  // truncated: the pull takes what fits
  auto s = *w[0].isend(1, 1, 2, data, SendMode::synchronous);
  auto r = *w[1].irecv(0, 1, 2, into);
  w.pump();
  EXPECT_EQ(counter.calls, 1);
  EXPECT_EQ(w[1].counters().pulls, 1u);
  EXPECT_EQ(w.frames, 2);  // RTS, FIN
  EXPECT_EQ(w.test(1, r), (Status{0, 2, 3000, true, false}));
  EXPECT_TRUE(std::equal(into.begin(), into.end(), data.begin()));
  EXPECT_EQ(w.test(0, s), (Status{1, 2, 5000, false, false}));
}

TEST(MpiEngineProtocol, FailedPullFallsBackToCtsAndData) {
  PullCounter counter;
  counter.fail = true;
  World w(2, pulling_config(counter));
  const auto data = pattern_bytes(1000, 8);
  std::vector<std::byte> into(1000);
  auto s = *w[0].isend(1, 1, 2, data);
  auto r = *w[1].irecv(0, 1, 2, into);
  w.pump();
  EXPECT_EQ(counter.calls, 1);
  EXPECT_EQ(w[1].counters().pull_fallbacks, 1u);
  EXPECT_EQ(w.frames, 2 + 10);  // RTS, CTS, 10 DATA of 100
  EXPECT_TRUE(w.test(1, r));
  EXPECT_TRUE(into == data);
  EXPECT_TRUE(w.test(0, s));
}

// Random sends from three ranks to rank 0 (eager and rendezvous, two contexts,
// three tags), random receives with wildcards and cancels at rank 0, frames
// delivered in a random interleaving of senders: every receive gets the
// message the reference model of MPI matching gives it, intact.
TEST(MpiEngineProtocol, RandomizedAgainstReferenceModel) {
  for (unsigned seed = 1; seed <= 25; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    World w(4);
    ReferenceMatcher ref;
    std::map<Matcher::Handle, std::vector<std::byte>> sent;  // (source << 32 | send id)
    struct Receive {
      Engine::RequestId id;
      std::vector<std::byte> buffer;
      std::optional<Matcher::Handle> expected;
      bool cancelled = false;
    };
    std::list<Receive> receives;
    // Delivers one frame from `from` to rank 0, telling the model of arrivals.
    auto deliver = [&](int from) {
      auto n = w[from].poll_transmit(0, w.buffer);
      ASSERT_TRUE(n);
      if (*n == 0) return;
      auto f = decode_frame(std::span(w.buffer).first(*n));
      ASSERT_TRUE(f);
      if (f->kind == FrameKind::eager || f->kind == FrameKind::rts) {
        const Matcher::Handle message = std::uint64_t(from) << 32 | f->sender_request;
        if (auto receive = ref.arrive({f->context, f->source, f->tag}, message)) {
          for (auto& rcv : receives)
            if (rcv.id == *receive) rcv.expected = message;
        }
      }
      ASSERT_TRUE(w[0].on_frame(from, std::span(w.buffer).first(*n)));
    };
    auto post = [&](std::int32_t source, std::uint32_t context, std::int32_t tag) {
      Receive& rcv = receives.emplace_back();
      rcv.buffer.resize(160);
      rcv.id = *w[0].irecv(source, context, tag, rcv.buffer);
      rcv.expected = ref.post({context, source, tag}, rcv.id);
    };
    for (int step = 0; step < 400; ++step) {
      const auto op = rng() % 10;
      if (op < 3) {
        const int from = 1 + static_cast<int>(rng() % 3);
        const auto size = static_cast<std::size_t>(rng() % 160);
        auto data = pattern_bytes(size, static_cast<unsigned>(rng()));
        const auto mode = rng() % 4 == 0 ? SendMode::synchronous : SendMode::standard;
        auto id = *w[from].isend(0, static_cast<std::uint32_t>(rng() % 2),
                                 static_cast<std::int32_t>(rng() % 3), data, mode);
        sent[std::uint64_t(from) << 32 | id] = std::move(data);
      } else if (op < 5) {
        const std::int32_t source = rng() % 3 == 0 ? kAnySource : 1 + static_cast<int>(rng() % 3);
        const std::int32_t tag = rng() % 3 == 0 ? kAnyTag : static_cast<int>(rng() % 3);
        post(source, static_cast<std::uint32_t>(rng() % 2), tag);
      } else if (op < 9) {
        deliver(1 + static_cast<int>(rng() % 3));
        for (int peer : w[0].peers_with_output())
          w.step(0, peer);  // answers
      } else if (!receives.empty()) {
        auto it = receives.begin();
        std::advance(it, rng() % receives.size());
        const bool cancelled = w[0].cancel(it->id);
        ASSERT_EQ(cancelled, ref.cancel(it->id));
        it->cancelled |= cancelled;
      }
    }
    // Drain: every sender's frames, then the answers and data, then receives
    // for what is left unmatched.
    for (int from = 1; from <= 3; ++from)
      while (!w[from].peers_with_output().empty())
        deliver(from);
    w.pump();
    int matched = 0, cancelled = 0;
    for (auto& rcv : receives) {
      matched += rcv.expected.has_value();
      cancelled += rcv.cancelled;
      auto status = w.test(0, rcv.id);
      ASSERT_EQ(status.has_value(), rcv.expected.has_value() || rcv.cancelled)
          << "receive " << rcv.id << " got source " << (status ? status->source : -9) << " tag "
          << (status ? status->tag : -9) << " count " << (status ? status->count : 0);
      if (!status) continue;
      if (rcv.cancelled) {
        EXPECT_TRUE(status->cancelled);
        continue;
      }
      const auto& data = sent.at(*rcv.expected);
      ASSERT_EQ(status->source, static_cast<std::int32_t>(*rcv.expected >> 32));
      ASSERT_EQ(status->count, std::min(data.size(), rcv.buffer.size()));
      EXPECT_TRUE(std::equal(data.begin(), data.begin() + status->count, rcv.buffer.begin()));
    }
    EXPECT_GT(matched, 30);  // the run exercised matching, not only queues
    EXPECT_GT(cancelled, 0);
  }
}

}  // namespace
}  // namespace nexo::mpi
