// TcpWorld on loopback: 2 to 4 worlds in one process, wired up in threads and then driven by
// one interleaved poll loop. Frames of every size arrive whole and in order per pair;
// backpressure; the hello refusing strangers and other jobs; a peer that goes away; a connect
// timeout naming the missing ranks; wait(); IPv6; bad arguments.
#include "nexo/mpi/tcp.hpp"

#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "nexo/mpi/tcp_mesh.hpp"

namespace nexo::mpi {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kCookie = "0123456789abcdef0123456789abcdef";

int count_open_fds() {
  int n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n;
}

// Makes `n` listeners on `ip` and connects the `n` worlds in threads.
std::vector<TcpWorld> make_worlds(int n, std::string_view ip = "127.0.0.1",
                                  std::vector<TcpOptions> options = {}) {
  options.resize(static_cast<std::size_t>(n));
  std::vector<net::TcpListener> listeners;
  std::vector<std::optional<std::string>> addresses;
  for (int r = 0; r < n; ++r) {
    auto listener = TcpWorld::listen(ip);
    if (!listener) ADD_FAILURE() << listener.error().to_string();
    if (!listener) return {};
    addresses.push_back(listener->local_endpoint().to_string());
    listeners.push_back(std::move(*listener));
  }
  std::vector<std::optional<Result<TcpWorld>>> results(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    auto i = static_cast<std::size_t>(r);
    threads.emplace_back([&, r, i] {
      results[i].emplace(
          TcpWorld::connect(std::move(listeners[i]), r, addresses, kCookie, 20s, options[i]));
    });
  }
  for (auto& t : threads)
    t.join();
  std::vector<TcpWorld> worlds;
  for (auto& result : results) {
    if (!*result) ADD_FAILURE() << result->error().to_string();
    if (!*result) return {};
    worlds.push_back(std::move(**result));
  }
  return worlds;
}

struct Received {
  int from;
  Bytes bytes;
};

// Polls every world once, appending what each receives to its inbox.
void poll_all(std::vector<TcpWorld>& worlds, std::vector<std::vector<Received>>& inbox) {
  inbox.resize(worlds.size());
  for (std::size_t i = 0; i < worlds.size(); ++i) {
    auto got = worlds[i].poll([&](int from, std::span<const std::byte> frame) {
      inbox[i].push_back({from, Bytes(frame.begin(), frame.end())});
    });
    ASSERT_TRUE(got) << got.error().to_string();
  }
}

// The bytes of frame `seq` of the pair (from, to): all sides compute them.
Bytes make_frame(int from, int to, std::size_t seq, std::size_t size) {
  Bytes bytes(size);
  std::uint64_t x = (static_cast<std::uint64_t>(from) << 48) ^
                    (static_cast<std::uint64_t>(to) << 40) ^ (seq * 0x9e3779b97f4a7c15ULL) ^ size;
  for (std::size_t i = 0; i < size; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(bytes.data() + i, &x, std::min<std::size_t>(8, size - i));
  }
  return bytes;
}

// Sends every frame of `plan` (sizes, per pair) and polls until all have arrived; checks that
// each pair's frames came whole and in order.
void exchange_frames(std::vector<TcpWorld>& worlds, const std::vector<std::size_t>& sizes) {
  const int n = static_cast<int>(worlds.size());
  struct Pair {
    int from, to;
    std::size_t next = 0;  // the frame to send next
    bool made = false;     // `current` holds it
    Bytes current;
  };
  std::vector<Pair> pairs;
  for (int from = 0; from < n; ++from)
    for (int to = 0; to < n; ++to)
      if (from != to) pairs.push_back({from, to, 0, false, {}});
  std::vector<std::vector<Received>> inbox(worlds.size());
  std::vector<std::size_t> checked(worlds.size() * worlds.size(), 0);
  const std::size_t expected = pairs.size() * sizes.size();
  std::size_t arrived = 0;
  const auto deadline = Clock::now() + 50s;  // a guard against a hang, not a measurement
  while (arrived < expected) {
    ASSERT_LT(Clock::now(), deadline) << arrived << " of " << expected << " frames arrived";
    for (auto& pair : pairs) {
      while (pair.next < sizes.size()) {
        if (!pair.made) pair.current = make_frame(pair.from, pair.to, pair.next, sizes[pair.next]);
        pair.made = true;
        auto sent = worlds[static_cast<std::size_t>(pair.from)].send(pair.to, pair.current);
        ASSERT_TRUE(sent) << sent.error().to_string();
        if (!*sent) break;  // the queue is full: poll, then the same frame again
        pair.made = false;
        ++pair.next;
      }
    }
    poll_all(worlds, inbox);
    for (std::size_t to = 0; to < inbox.size(); ++to) {
      for (auto& got : inbox[to]) {
        std::size_t& seq = checked[static_cast<std::size_t>(got.from) * worlds.size() + to];
        ASSERT_LT(seq, sizes.size());
        ASSERT_EQ(got.bytes.size(), sizes[seq]) << "frame " << seq << " " << got.from << "->" << to;
        ASSERT_TRUE(got.bytes == make_frame(got.from, static_cast<int>(to), seq, sizes[seq]))
            << "frame " << seq << " " << got.from << "->" << to;
        ++seq;
        ++arrived;
      }
      inbox[to].clear();
    }
  }
}

TEST(TcpWorld, FramesOfEverySizeArriveWholeAndInOrder) {
  auto worlds = make_worlds(3);
  ASSERT_EQ(worlds.size(), 3u);
  exchange_frames(worlds, {0, 1, 40, 1 << 20, 20 << 20, 0, 7, 70000, 1 << 20, 3, 32760, 32761,
                           65528, 65536, 5, 32761});
  for (auto& world : worlds) {
    EXPECT_EQ(world.stats().frames_sent, 32u);
    EXPECT_EQ(world.stats().frames_received, 32u);
    EXPECT_FALSE(world.has_pending_output());
  }
}

TEST(TcpWorld, FourRanksManySmallFrames) {
  auto worlds = make_worlds(4);
  ASSERT_EQ(worlds.size(), 4u);
  std::vector<std::size_t> sizes;
  std::mt19937 random(7);
  for (int i = 0; i < 3000; ++i)
    sizes.push_back(random() % 100);
  exchange_frames(worlds, sizes);
}

TEST(TcpWorld, FramesOfSeveralPartsArriveAsOne) {
  auto worlds = make_worlds(2);
  ASSERT_EQ(worlds.size(), 2u);
  Bytes header = to_bytes("header-"), body(100000, std::byte{0x5a}), empty;
  std::span<const std::byte> parts[] = {header, empty, body};
  for (int i = 0; i < 50; ++i) {
    auto sent = worlds[0].send(1, FrameParts(parts));
    ASSERT_TRUE(sent && *sent);
  }
  std::vector<std::vector<Received>> inbox;
  while (inbox.size() < 2 || inbox[1].size() < 50)
    poll_all(worlds, inbox);
  Bytes whole = header;
  whole.insert(whole.end(), body.begin(), body.end());
  for (auto& got : inbox[1]) {
    EXPECT_EQ(got.from, 0);
    EXPECT_TRUE(got.bytes == whole);
  }
}

// Frames of `frame_size` to a rank that does not poll, until send() says false; then it polls
// and every frame taken arrives.
void fill_then_drain(TcpOptions options, std::size_t frame_size, std::size_t max_queued_bytes) {
  auto worlds = make_worlds(2, "127.0.0.1", {options, options});
  ASSERT_EQ(worlds.size(), 2u);
  const std::size_t kFrame = frame_size;
  std::size_t sent_frames = 0;
  bool refused = false;
  // The receiver does not poll: socket buffers and then the queue fill up.
  while (!refused) {
    ASSERT_LT(sent_frames, 100000u) << "send never said false";
    Bytes frame = make_frame(0, 1, sent_frames, kFrame);
    auto sent = worlds[0].send(1, frame);
    ASSERT_TRUE(sent) << sent.error().to_string();
    if (*sent) ++sent_frames;
    refused = !*sent;
  }
  EXPECT_GT(worlds[0].stats().sends_full, 0u);
  EXPECT_TRUE(worlds[0].has_pending_output());
  EXPECT_GT(worlds[0].queued_bytes(1), 0u);
  EXPECT_LE(worlds[0].queued_bytes(1), max_queued_bytes);
  // Now the receiver polls: every frame taken arrives, in order, and the queue drains.
  std::vector<std::vector<Received>> inbox(2);
  std::size_t arrived = 0;
  while (arrived < sent_frames) {
    poll_all(worlds, inbox);
    for (auto& got : inbox[1]) {
      ASSERT_TRUE(got.bytes == make_frame(0, 1, arrived, kFrame)) << "frame " << arrived;
      ++arrived;
    }
    inbox[1].clear();
  }
  auto flushed = worlds[0].flush();
  ASSERT_TRUE(flushed);
  EXPECT_TRUE(*flushed);
  EXPECT_FALSE(worlds[0].has_pending_output());
  EXPECT_EQ(worlds[0].queued_bytes(1), 0u);
  EXPECT_GT(worlds[0].stats().bytes_queued, 0u);
}

TEST(TcpWorld, SendSaysFalseWhenTheQueueIsFullAndEverythingArrivesLater) {
  TcpOptions small;
  small.max_queued = 256 << 10;
  fill_then_drain(small, 64 << 10, (256 << 10) + (64 << 10) + 8);
}

// Frames over max_copied are not copied behind a queue: send() says false as soon as anything
// is queued, far below max_queued, and the queue holds at most the tail of one frame.
TEST(TcpWorld, LargeFramesWaitForTheSocketInsteadOfBeingCopied) {
  TcpOptions options;
  options.max_queued = std::size_t{1} << 30;
  options.max_copied = 64 << 10;
  fill_then_drain(options, 1 << 20, (1 << 20) + 8);
}

TEST(TcpWorld, WaitWakesOnDataAndTimesOutWhenIdle) {
  auto worlds = make_worlds(2);
  ASSERT_EQ(worlds.size(), 2u);
  auto idle = worlds[1].wait(30ms);
  ASSERT_TRUE(idle);
  EXPECT_FALSE(*idle);
  std::thread sender([&] {
    std::this_thread::sleep_for(20ms);  // so that the wait below is likely blocked already
    auto sent = worlds[0].send(0 + 1, as_bytes("ping"));
    EXPECT_TRUE(sent && *sent);
  });
  auto woke = worlds[1].wait(std::nullopt);
  sender.join();
  ASSERT_TRUE(woke);
  EXPECT_TRUE(*woke);
  std::size_t got = 0;
  while (got == 0) {
    auto polled = worlds[1].poll([&](int from, std::span<const std::byte> frame) {
      EXPECT_EQ(from, 0);
      EXPECT_EQ(as_text(frame), "ping");
    });
    ASSERT_TRUE(polled);
    got += *polled;
  }
  // wake() from another thread ends a wait without a limit.
  std::thread waker([&] { worlds[1].wake(); });
  auto woken = worlds[1].wait(std::nullopt);
  waker.join();
  ASSERT_TRUE(woken);
  EXPECT_TRUE(*woken);
}

TEST(TcpWorld, WaitLeavesTheWorldReadyForPollWithAFrameLimit) {
  auto worlds = make_worlds(2);
  ASSERT_EQ(worlds.size(), 2u);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(worlds[0].send(1, as_bytes("x")));
  std::size_t got = 0;
  while (got < 10) {
    auto woke = worlds[1].wait(10s);
    ASSERT_TRUE(woke && *woke);
    auto polled = worlds[1].poll([](int, std::span<const std::byte>) {}, 1);
    ASSERT_TRUE(polled);
    EXPECT_LE(*polled, 1u);
    got += *polled;
  }
  EXPECT_FALSE(worlds[1].has_buffered());
}

TEST(TcpWorld, APeerThatGoesAwayIsNotConnectedNamingItsRank) {
  auto worlds = make_worlds(3);
  ASSERT_EQ(worlds.size(), 3u);
  worlds.pop_back();  // rank 2 closes its connections
  for (int r = 0; r < 2; ++r) {
    auto& world = worlds[static_cast<std::size_t>(r)];
    Result<std::size_t> polled = std::size_t{0};
    while (polled) {
      auto woke = world.wait(10s);
      ASSERT_TRUE(woke && *woke);
      polled = world.poll([](int, std::span<const std::byte>) {});
    }
    EXPECT_TRUE(polled.error().is(ErrorKind::not_connected)) << polled.error().to_string();
    EXPECT_NE(polled.error().message().find("rank 2"), std::string::npos)
        << polled.error().to_string();
    // Later calls on that peer say the same; the other peer still works.
    auto sent = world.send(2, as_bytes("late"));
    ASSERT_FALSE(sent);
    EXPECT_TRUE(sent.error().is(ErrorKind::not_connected));
    EXPECT_TRUE(world.send(1 - r, as_bytes("still here")));
  }
}

TEST(TcpWorld, AFrameOverMaxFrameIsTooLargeNamingTheSender) {
  TcpOptions strict;
  strict.max_frame = 1000;
  auto worlds = make_worlds(2, "127.0.0.1", {TcpOptions{}, strict});
  ASSERT_EQ(worlds.size(), 2u);
  Bytes big(2000);
  ASSERT_TRUE(worlds[0].send(1, big));
  Result<std::size_t> polled = std::size_t{0};
  while (polled)
    polled = worlds[1].poll([](int, std::span<const std::byte>) { ADD_FAILURE(); });
  EXPECT_TRUE(polled.error().is(ErrorKind::too_large)) << polled.error().to_string();
  EXPECT_NE(polled.error().message().find("rank 0"), std::string::npos);
  // And the sender's own limit refuses before anything goes out.
  auto refused = worlds[1].send(0, big);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().is(ErrorKind::too_large));
}

TEST(TcpWorld, BadArgumentsAreRefused) {
  EXPECT_TRUE(TcpWorld::listen("localhost").error().is(ErrorKind::invalid_argument));
  auto worlds = make_worlds(2);
  ASSERT_EQ(worlds.size(), 2u);
  for (int to : {-1, 0, 2}) {
    auto sent = worlds[0].send(to, as_bytes("x"));
    ASSERT_FALSE(sent) << to;
    EXPECT_TRUE(sent.error().is(ErrorKind::invalid_argument));
  }
  auto listener = TcpWorld::listen("127.0.0.1");
  ASSERT_TRUE(listener);
  std::vector<std::optional<std::string>> table = {std::nullopt, "127.0.0.1:1"};
  auto bad_rank = TcpWorld::connect(std::move(*listener), 2, table, kCookie, 1s);
  EXPECT_TRUE(bad_rank.error().is(ErrorKind::invalid_argument));
  listener = TcpWorld::listen("127.0.0.1");
  ASSERT_TRUE(listener);
  table = {"not an address", std::nullopt};
  auto bad_address = TcpWorld::connect(std::move(*listener), 1, table, kCookie, 1s);
  EXPECT_TRUE(bad_address.error().is(ErrorKind::invalid_argument));
  EXPECT_NE(bad_address.error().message().find("rank 0"), std::string::npos);
  listener = TcpWorld::listen("127.0.0.1");
  ASSERT_TRUE(listener);
  auto long_cookie = TcpWorld::connect(std::move(*listener), 0, table, std::string(65, 'c'), 1s);
  EXPECT_TRUE(long_cookie.error().is(ErrorKind::invalid_argument));
}

// Rank 1 of another job connects to rank 0: rank 0 refuses it and times out naming rank 1;
// rank 1 learns at once that rank 0 refused its hello.
TEST(TcpWorld, AnotherJobsHelloIsRefused) {
  auto l0 = TcpWorld::listen("127.0.0.1");
  auto l1 = TcpWorld::listen("127.0.0.1");
  ASSERT_TRUE(l0 && l1);
  std::vector<std::optional<std::string>> table = {l0->local_endpoint().to_string(),
                                                   l1->local_endpoint().to_string()};
  std::optional<Result<TcpWorld>> r0, r1;
  std::thread t0([&] { r0.emplace(TcpWorld::connect(std::move(*l0), 0, table, kCookie, 1s)); });
  std::thread t1(
      [&] { r1.emplace(TcpWorld::connect(std::move(*l1), 1, table, "another job", 10s)); });
  t0.join();
  t1.join();
  ASSERT_FALSE(*r0);
  EXPECT_TRUE(r0->error().is(ErrorKind::timed_out)) << r0->error().to_string();
  EXPECT_NE(r0->error().message().find("rank 1"), std::string::npos) << r0->error().to_string();
  EXPECT_NE(r0->error().message().find("another job"), std::string::npos)
      << r0->error().to_string();
  ASSERT_FALSE(*r1);
  EXPECT_TRUE(r1->error().is(ErrorKind::refused)) << r1->error().to_string();
  EXPECT_NE(r1->error().message().find("rank 0"), std::string::npos) << r1->error().to_string();
}

// Strangers connect to rank 0's listener before rank 1 does: one sends garbage, one a hello
// claiming to be rank 1 of a 5-rank world, one closes at once. Rank 0 refuses them and the
// mesh still forms.
TEST(TcpWorld, StrangersAreRefusedAndTheMeshStillForms) {
  auto l0 = TcpWorld::listen("127.0.0.1");
  auto l1 = TcpWorld::listen("127.0.0.1");
  ASSERT_TRUE(l0 && l1);
  const net::Endpoint at0 = l0->local_endpoint();
  std::vector<std::optional<std::string>> table = {at0.to_string(),
                                                   l1->local_endpoint().to_string()};
  auto garbage = net::TcpStream::connect(at0, 5s);
  ASSERT_TRUE(garbage);
  ASSERT_TRUE(garbage->write_all(Bytes(tcp_mesh::kHelloBytes, std::byte{'G'})));
  auto liar = net::TcpStream::connect(at0, 5s);
  ASSERT_TRUE(liar);
  ASSERT_TRUE(liar->write_all(tcp_mesh::encode_hello({1, 5, std::string(kCookie)})));
  auto quitter = net::TcpStream::connect(at0, 5s);
  ASSERT_TRUE(quitter);
  quitter->close();
  std::optional<Result<TcpWorld>> r0, r1;
  std::thread t0([&] { r0.emplace(TcpWorld::connect(std::move(*l0), 0, table, kCookie, 20s)); });
  // Rank 1 comes once rank 0 has had the strangers' bytes for a while.
  std::this_thread::sleep_for(50ms);
  std::thread t1([&] { r1.emplace(TcpWorld::connect(std::move(*l1), 1, table, kCookie, 20s)); });
  t0.join();
  t1.join();
  ASSERT_TRUE(*r0) << r0->error().to_string();
  ASSERT_TRUE(*r1) << r1->error().to_string();
  // The strangers were closed: each reads the end of the stream.
  std::byte b[8];
  EXPECT_FALSE(garbage->read(b));
  EXPECT_FALSE(liar->read(b));
  std::vector<TcpWorld> worlds;
  worlds.push_back(std::move(**r0));
  worlds.push_back(std::move(**r1));
  exchange_frames(worlds, {5, 0, 100});
}

TEST(TcpWorld, ConnectTimeoutNamesTheMissingRanks) {
  // Rank 1 of 3 runs alone: rank 0's listener takes the connection (the kernel's backlog) but
  // nobody answers the hello; rank 2 never connects.
  auto l0 = TcpWorld::listen("127.0.0.1");
  auto l1 = TcpWorld::listen("127.0.0.1");
  auto l2 = TcpWorld::listen("127.0.0.1");
  ASSERT_TRUE(l0 && l1 && l2);
  std::string closed_port = l2->local_endpoint().to_string();
  l2->close();
  std::vector<std::optional<std::string>> table = {l0->local_endpoint().to_string(),
                                                   l1->local_endpoint().to_string(), closed_port};
  int fds_before = count_open_fds();
  auto alone = TcpWorld::connect(std::move(*l1), 1, table, kCookie, 300ms);
  ASSERT_FALSE(alone);
  const auto& error = alone.error();
  EXPECT_TRUE(error.is(ErrorKind::timed_out)) << error.to_string();
  EXPECT_NE(error.message().find("rank 0 at " + *table[0]), std::string::npos) << error.to_string();
  EXPECT_NE(error.message().find("no answer"), std::string::npos) << error.to_string();
  EXPECT_NE(error.message().find("rank 2 (at " + closed_port + ") never connected"),
            std::string::npos)
      << error.to_string();
  EXPECT_EQ(count_open_fds(), fds_before - 1);  // l1 was consumed; nothing else left open

  // Rank 1 of a world whose rank 0 listens nowhere: the refused connects are retried, and the
  // error says so.
  auto l1b = TcpWorld::listen("127.0.0.1");
  ASSERT_TRUE(l1b);
  std::vector<std::optional<std::string>> refusing = {closed_port,
                                                      l1b->local_endpoint().to_string()};
  auto refused = TcpWorld::connect(std::move(*l1b), 1, refusing, kCookie, 200ms);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().is(ErrorKind::timed_out)) << refused.error().to_string();
  EXPECT_NE(refused.error().message().find("rank 0 at " + closed_port + " (connect:"),
            std::string::npos)
      << refused.error().to_string();
}

TEST(TcpWorld, IPv6Loopback) {
  auto worlds = make_worlds(2, "::1");
  ASSERT_EQ(worlds.size(), 2u);
  exchange_frames(worlds, {0, 1, 40, 1 << 20});
}

TEST(TcpWorld, PeersReachedOtherwiseAreLeftOut) {
  // Ranks 0 and 2 use TCP; rank 1 is "on their host" for neither (nullopt in both tables).
  auto l0 = TcpWorld::listen("127.0.0.1");
  auto l2 = TcpWorld::listen("127.0.0.1");
  ASSERT_TRUE(l0 && l2);
  std::vector<std::optional<std::string>> table = {l0->local_endpoint().to_string(), std::nullopt,
                                                   l2->local_endpoint().to_string()};
  std::optional<Result<TcpWorld>> r0, r2;
  std::thread t0([&] { r0.emplace(TcpWorld::connect(std::move(*l0), 0, table, kCookie, 20s)); });
  std::thread t2([&] { r2.emplace(TcpWorld::connect(std::move(*l2), 2, table, kCookie, 20s)); });
  t0.join();
  t2.join();
  ASSERT_TRUE(*r0 && *r2);
  EXPECT_TRUE((*r0)->connected_to(2));
  EXPECT_FALSE((*r0)->connected_to(1));
  EXPECT_EQ((*r0)->fds()[1], -1);
  EXPECT_TRUE((*r0)->send(1, as_bytes("x")).error().is(ErrorKind::invalid_argument));
  ASSERT_TRUE((*r2)->send(0, as_bytes("over tcp")));
  bool arrived = false;
  while (!arrived) {
    auto polled = (*r0)->poll([&](int from, std::span<const std::byte> frame) {
      EXPECT_EQ(from, 2);
      EXPECT_EQ(as_text(frame), "over tcp");
      arrived = true;
    });
    ASSERT_TRUE(polled);
  }
}

// Worlds that worked, and every failed wire-up, leave no descriptor open.
TEST(TcpWorld, EveryDescriptorIsClosed) {
  const int before = count_open_fds();
  {
    auto worlds = make_worlds(3);
    ASSERT_EQ(worlds.size(), 3u);
    exchange_frames(worlds, {1, 100000});
  }
  {
    auto l0 = TcpWorld::listen("127.0.0.1");
    auto l1 = TcpWorld::listen("127.0.0.1");
    ASSERT_TRUE(l0 && l1);
    std::vector<std::optional<std::string>> table = {l0->local_endpoint().to_string(),
                                                     l1->local_endpoint().to_string()};
    std::optional<Result<TcpWorld>> r0, r1;
    std::thread t0(
        [&] { r0.emplace(TcpWorld::connect(std::move(*l0), 0, table, kCookie, 200ms)); });
    std::thread t1([&] { r1.emplace(TcpWorld::connect(std::move(*l1), 1, table, "other", 5s)); });
    t0.join();
    t1.join();
    ASSERT_FALSE(*r0);
    ASSERT_FALSE(*r1);
  }
  EXPECT_EQ(count_open_fds(), before);
}

TEST(TcpMesh, HelloRoundTripsAndRejectsGarbage) {
  auto bytes = tcp_mesh::encode_hello({3, 4, "cookie"});
  auto hello = tcp_mesh::decode_hello(bytes);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->rank, 3);
  EXPECT_EQ(hello->world_size, 4u);
  EXPECT_EQ(hello->cookie, "cookie");
  auto bad = bytes;
  bad[0] = std::byte{'x'};
  EXPECT_TRUE(tcp_mesh::decode_hello(bad).error().is(ErrorKind::malformed));
  bad = bytes;
  bad[8] = std::byte{9};
  EXPECT_TRUE(tcp_mesh::decode_hello(bad).error().is(ErrorKind::malformed));
  bad = bytes;
  bad[10] = std::byte{65};
  EXPECT_TRUE(tcp_mesh::decode_hello(bad).error().is(ErrorKind::malformed));
}

}  // namespace
}  // namespace nexo::mpi
