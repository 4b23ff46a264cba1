// ShmWorld and ShmSegment: in one process (two ranks on two mappings of one segment), and
// across processes made with fork(): a stress pattern between 2 and 4 ranks (4 pinned to 2
// cores), a waiting rank seen asleep in the kernel and woken by a frame, pull() between parent
// and child, and cleanup (no /dev/shm entry, no descriptor left).
#include "nexo/mpi/shm.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include "nexo/mpi/shm_pull.hpp"

namespace nexo::mpi {
namespace {

using namespace std::chrono_literals;

int count_open_fds() {
  int n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n;
}

// Runs body(rank) in `n` forked children and returns their exit codes (-signal if killed).
// A child that hangs is killed by its own alarm, so the test fails instead of hanging.
std::vector<int> run_ranks(int n, const std::function<int(int)>& body) {
  std::vector<pid_t> pids;
  for (int rank = 0; rank < n; ++rank) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(40);
      int code = body(rank);
      ::_exit(code);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
  }
  return codes;
}

ShmWorld join_or_die(const ShmSegment& creator, int rank, ShmOptions options = {}) {
  auto segment = ShmSegment::open_spec(creator.spec());
  if (!segment) {
    std::fprintf(stderr, "rank %d: %s\n", rank, segment.error().to_string().c_str());
    ::_exit(90);
  }
  auto world = ShmWorld::join(std::move(*segment), rank, options);
  if (!world) ::_exit(91);
  return std::move(*world);
}

// The stress pattern: frame `seq` from `from` to `to` has a size and bytes all sides can compute.
std::size_t frame_size(int from, int to, std::uint32_t seq, std::size_t ring) {
  std::mt19937_64 random((static_cast<std::uint64_t>(from) << 40) ^
                         (static_cast<std::uint64_t>(to) << 32) ^ seq);
  switch (random() % 8) {
    case 0:
      return 0;
    case 1:
      return ring + random() % (2 * ring);  // in pieces
    default:
      return random() % 300;
  }
}

std::byte frame_byte(int from, int to, std::uint32_t seq, std::size_t i) {
  return static_cast<std::byte>(
      (i * 131 + seq * 7 + static_cast<std::size_t>(from) * 17 + static_cast<std::size_t>(to)) &
      0xFF);
}

Bytes make_frame(int from, int to, std::uint32_t seq, std::size_t ring) {
  Bytes frame(frame_size(from, to, seq, ring));
  for (std::size_t i = 0; i < frame.size(); ++i)
    frame[i] = frame_byte(from, to, seq, i);
  return frame;
}

// Every rank sends `count` frames to every other rank and checks what it receives: sizes,
// bytes and order per sender, and a checksum over everything. Returns an exit code.
int stress_rank(ShmWorld& world, std::uint32_t count) {
  const int n = world.size(), me = world.rank();
  const std::size_t ring = world.segment().ring_bytes();
  std::vector<std::uint32_t> next_send(static_cast<std::size_t>(n), 0),
      next_recv(static_cast<std::size_t>(n), 0);
  std::vector<Bytes> outgoing(static_cast<std::size_t>(n));
  std::uint64_t sum_received = 0;
  int bad = 0;
  auto all_done = [&] {
    for (int r = 0; r < n; ++r)
      if (r != me && (next_send[static_cast<std::size_t>(r)] < count ||
                      next_recv[static_cast<std::size_t>(r)] < count))
        return false;
    return true;
  };
  auto deliver = [&](int from, std::span<const std::byte> frame) {
    std::uint32_t seq = next_recv[static_cast<std::size_t>(from)]++;
    if (frame.size() != frame_size(from, me, seq, ring)) ++bad;
    for (std::size_t i = 0; i < frame.size() && bad == 0; ++i)
      if (frame[i] != frame_byte(from, me, seq, i)) ++bad;
    for (auto b : frame)
      sum_received += static_cast<std::uint8_t>(b);
  };
  while (!all_done()) {
    bool progress = false;
    for (int to = 0; to < n; ++to) {
      auto t = static_cast<std::size_t>(to);
      while (to != me && next_send[t] < count) {
        if (outgoing[t].empty() && frame_size(me, to, next_send[t], ring) != 0)
          outgoing[t] = make_frame(me, to, next_send[t], ring);
        auto sent = world.send(to, outgoing[t], Wake::deferred);
        if (!sent) return 10;
        if (!*sent) break;
        outgoing[t].clear();
        ++next_send[t];
        progress = true;
      }
    }
    world.flush_doorbells();
    auto got = world.poll(deliver);
    if (!got) {
      std::fprintf(stderr, "rank %d: %s\n", me, got.error().to_string().c_str());
      return 11;
    }
    if (bad != 0) return 12;
    if (*got == 0 && !progress) {
      // No timeout: a lost wake-up hangs the rank, and its alarm fails the test.
      auto woke = world.wait(std::nullopt);
      if (!woke) return 13;
    }
  }
  // A checksum of everything received against one computed from the pattern alone.
  std::uint64_t expected = 0;
  for (int from = 0; from < n; ++from)
    for (std::uint32_t seq = 0; from != me && seq < count; ++seq)
      for (std::size_t i = 0; i < frame_size(from, me, seq, ring); ++i)
        expected += static_cast<std::uint8_t>(frame_byte(from, me, seq, i));
  if (expected != sum_received) return 14;
  if (world.stats().frames_received != count * static_cast<std::uint64_t>(n - 1)) return 15;
  if (world.stats().frames_sent != count * static_cast<std::uint64_t>(n - 1)) return 16;
  return 0;
}

TEST(ShmSegment, BadSizesAreRefused) {
  int fds = count_open_fds();
  EXPECT_TRUE(ShmSegment::create(0, 4096).error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(ShmSegment::create(kMaxShmRanks + 1, 4096).error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(ShmSegment::create(2, 1000).error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(ShmSegment::create(2, 128).error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(ShmSegment::open_spec("fd:x").error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(ShmSegment::open_spec("name:").error().is(ErrorKind::invalid_argument));
  EXPECT_TRUE(ShmSegment::open_spec("tcp:1").error().is(ErrorKind::invalid_argument));
  EXPECT_FALSE(ShmSegment::open_fd(-1));
  EXPECT_EQ(count_open_fds(), fds);
}

TEST(ShmSegment, SomethingElseIsMalformed) {
  int fds = count_open_fds();
  int fd = ::memfd_create("not-a-segment", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ShmSegment::open_fd(fd).error().is(ErrorKind::malformed));  // empty
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  EXPECT_TRUE(ShmSegment::open_fd(fd).error().is(ErrorKind::malformed));  // zeros
  // A real header on a file cut short: the header is not trusted beyond the file.
  auto real = ShmSegment::create(4, 65536);
  ASSERT_TRUE(real);
  ASSERT_EQ(::pwrite(fd, real->header(), sizeof(SegmentHeader), 0),
            static_cast<ssize_t>(sizeof(SegmentHeader)));
  auto cut = ShmSegment::open_fd(fd);
  ASSERT_FALSE(cut);
  EXPECT_TRUE(cut.error().is(ErrorKind::malformed)) << cut.error().to_string();
  ::close(fd);
  real = Error(ErrorKind::canceled, "drop");
  EXPECT_EQ(count_open_fds(), fds);
}

TEST(ShmSegment, NamedSegmentIsUnlinkedAndDescriptorsClosed) {
  int fds = count_open_fds();
  std::string name;
  {
    auto created = ShmSegment::create(3, 4096, ShmBacking::named);
    ASSERT_TRUE(created) << created.error().to_string();
    name = created->name();
    EXPECT_EQ(created->spec(), "name:" + name);
    EXPECT_EQ(::access(("/dev/shm" + name).c_str(), F_OK), 0);
    auto opened = ShmSegment::open_spec(created->spec());
    ASSERT_TRUE(opened) << opened.error().to_string();
    EXPECT_EQ(opened->nranks(), 3);
    EXPECT_EQ(opened->ring_bytes(), 4096u);
    EXPECT_EQ(opened->size(), created->size());
  }
  EXPECT_NE(::access(("/dev/shm" + name).c_str(), F_OK), 0) << name << " left behind";
  auto gone = ShmSegment::open_name(name);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message().find("gone"), std::string::npos) << gone.error().to_string();
  EXPECT_EQ(count_open_fds(), fds);
}

TEST(ShmSegment, UnlinkEarlyKeepsTheMapping) {
  auto created = ShmSegment::create(2, 4096, ShmBacking::named);
  ASSERT_TRUE(created);
  auto opened = ShmSegment::open_name(created->name());
  ASSERT_TRUE(opened);
  ASSERT_TRUE(created->unlink());
  ASSERT_TRUE(created->unlink());  // idempotent
  EXPECT_NE(::access(("/dev/shm" + created->name()).c_str(), F_OK), 0);
  auto a = ShmWorld::join(std::move(*created), 0);
  auto b = ShmWorld::join(std::move(*opened), 1);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(*a->send(1, as_bytes("still here")));
  std::string seen;
  ASSERT_TRUE(b->poll([&](int, std::span<const std::byte> f) { seen = std::string(as_text(f)); }));
  EXPECT_EQ(seen, "still here");
}

TEST(ShmWorld, TwoRanksInOneProcess) {
  int fds = count_open_fds();
  {
    auto segment = ShmSegment::create(2, 1024);
    ASSERT_TRUE(segment);
    auto other = ShmSegment::open_fd(segment->fd());
    ASSERT_TRUE(other);
    auto a = ShmWorld::join(std::move(*segment), 0);
    auto b = ShmWorld::join(std::move(*other), 1);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->pid_of(1), ::getpid());
    EXPECT_TRUE(a->send(0, as_bytes("self")).error().is(ErrorKind::invalid_argument));
    EXPECT_TRUE(a->send(2, as_bytes("nobody")).error().is(ErrorKind::invalid_argument));
    EXPECT_TRUE(ShmWorld::join(ShmSegment::create(2, 1024).value(), 5)
                    .error()
                    .is(ErrorKind::invalid_argument));

    // A frame of 10 rings' worth, while b drains it; then a small one behind it.
    Bytes big(10 * 1024 + 3);
    for (std::size_t i = 0; i < big.size(); ++i)
      big[i] = static_cast<std::byte>(i * 7);
    std::vector<Bytes> seen;
    auto deliver = [&](int from, std::span<const std::byte> f) {
      EXPECT_EQ(from, 0);
      seen.emplace_back(f.begin(), f.end());
    };
    int rounds = 0;
    while (true) {
      auto sent = a->send(1, big);
      ASSERT_TRUE(sent);
      if (*sent) break;
      EXPECT_TRUE(a->send(1, as_bytes("another frame")).error().is(ErrorKind::invalid_argument));
      ASSERT_TRUE(b->poll(deliver));
      ASSERT_LT(++rounds, 1000);
    }
    ASSERT_TRUE(*a->send(1, as_bytes("after")));
    ASSERT_TRUE(b->poll(deliver));
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], big);
    EXPECT_EQ(as_text(seen[1]), "after");
    EXPECT_FALSE(b->readable());
    // Nothing to read: wait times out (false), and an early doorbell makes it return true.
    auto idle = b->wait(1ms);
    ASSERT_TRUE(idle);
    EXPECT_FALSE(*idle);
    a->ring_doorbell(1);
    auto rung = b->wait(std::chrono::milliseconds(10'000));
    ASSERT_TRUE(rung);
    EXPECT_TRUE(*rung);
  }
  EXPECT_EQ(count_open_fds(), fds);
}

// Small frames go through the pair's fast box, others through the ring, and the receiver gets
// them in send order: a small frame behind a ring frame not yet consumed takes the ring too; a
// full box sends the next small frame to the ring; once the ring is drained the box is used
// again.
TEST(ShmWorld, BoxAndRingKeepSendOrder) {
  auto segment = ShmSegment::create(2, 4096);
  ASSERT_TRUE(segment);
  auto other = ShmSegment::open_fd(segment->fd());
  ASSERT_TRUE(other);
  auto a = ShmWorld::join(std::move(*segment), 0);
  auto b = ShmWorld::join(std::move(*other), 1);
  ASSERT_TRUE(a && b);
  std::vector<std::string> seen;
  auto deliver = [&](int from, std::span<const std::byte> f) {
    EXPECT_EQ(from, 0);
    seen.emplace_back(as_text(f));
  };
  const std::string large(kBoxMaxFrame + 1, 'L');
  const std::string fits(kBoxMaxFrame, 'F');
  std::vector<std::string> sent;
  auto send = [&](const std::string& frame) {
    auto done = a->send(1, as_bytes(frame));
    ASSERT_TRUE(done && *done);
    sent.push_back(frame);
  };
  send("small 1");  // box
  send(large);      // ring
  send("small 2");  // ring: the large frame is not consumed yet
  EXPECT_EQ(a->stats().frames_boxed, 1u);
  auto got = b->poll(deliver, 1);  // the box only
  ASSERT_TRUE(got);
  send("small 3");  // still the ring
  EXPECT_EQ(a->stats().frames_boxed, 1u);
  ASSERT_TRUE(b->poll(deliver));
  send(fits);  // the ring is drained: the box again
  EXPECT_EQ(a->stats().frames_boxed, 2u);
  // Fill the box; the next small frames go to the ring, behind the box's.
  for (std::size_t i = 1; i < kBoxSlots; ++i)
    send("boxed " + std::to_string(i));
  EXPECT_EQ(a->stats().frames_boxed, 1 + kBoxSlots);
  send("box full");
  send("after the full box");
  EXPECT_EQ(a->stats().frames_boxed, 1 + kBoxSlots);
  EXPECT_TRUE(b->readable());
  ASSERT_TRUE(b->poll(deliver));
  EXPECT_EQ(seen, sent);
  EXPECT_FALSE(b->readable());
  EXPECT_EQ(b->stats().frames_received, sent.size());
}

void stress(int nranks, std::uint32_t count, bool two_cores, ShmOptions options = {}) {
  auto segment = ShmSegment::create(nranks, 4096);
  ASSERT_TRUE(segment);
  auto codes = run_ranks(nranks, [&](int rank) {
    if (two_cores) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(0, &set);
      if (std::thread::hardware_concurrency() > 1) CPU_SET(1, &set);
      if (::sched_setaffinity(0, sizeof set, &set) != 0) return 20;
    }
    ShmWorld world = join_or_die(*segment, rank, options);
    return stress_rank(world, count);
  });
  for (int rank = 0; rank < nranks; ++rank)
    EXPECT_EQ(codes[static_cast<std::size_t>(rank)], 0) << "rank " << rank;
}

TEST(ShmWorld, TwoProcessesStress) {
  stress(2, 1500, false);
}

TEST(ShmWorld, FourProcessesStress) {
  stress(4, 600, false);
}

TEST(ShmWorld, FourProcessesOnTwoCores) {
  stress(4, 600, true);
}

// No spinning: every wait sleeps, so a lost wake-up (a producer that skipped the doorbell of a
// rank going to sleep) hangs a rank, whose alarm fails the test. With the asymmetric handshake
// (membarrier, where the kernel has it) and with fences on both sides.
ShmOptions sleepy(bool asymmetric) {
  ShmOptions options;
  options.spin = 0ns;
  options.asymmetric_wake = asymmetric;
  return options;
}

// The race itself, aimed at: rank 1 never spins and sleeps after each reply; rank 0 spins,
// and sends the next frame after a random delay of up to 1 us, so that its sends land all
// around rank 1's way into the futex (sleeping = 1, the barrier, the re-check). A lost wake-up
// leaves rank 1 asleep with a frame waiting until its 5 s timeout: counted by sleep_timeouts,
// which must stay 0 (every sleep here must end by a doorbell). With the sleeper's barrier
// removed, this failed 2 runs in 3 on the 2-CPU test VM.
void ping_pong_into_sleep(bool asymmetric) {
  auto segment = ShmSegment::create(2, 4096);
  ASSERT_TRUE(segment);
  auto other = ShmSegment::open_fd(segment->fd());
  ASSERT_TRUE(other);
  ShmOptions spinning;
  spinning.spin = 10s;
  spinning.asymmetric_wake = asymmetric;
  auto a = ShmWorld::join(std::move(*segment), 0, spinning);
  auto b = ShmWorld::join(std::move(*other), 1, sleepy(asymmetric));
  ASSERT_TRUE(a && b);
  constexpr int kRounds = 20'000;
  std::atomic<bool> failed{false};
  std::thread sleeper([&] {
    int replies = 0;
    while (replies < kRounds && !failed) {
      auto woke = b->wait(5s);
      auto got = b->poll([&](int, std::span<const std::byte>) {
        auto sent = b->send(0, as_bytes("pong"));
        if (sent && *sent) ++replies;
      });
      if (!woke || !got) failed = true;
    }
  });
  std::mt19937 random(7);
  int pongs = 0;
  for (int round = 0; round < kRounds && !failed; ++round) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(random() % 1000);
    while (std::chrono::steady_clock::now() < until) {
    }
    auto sent = a->send(1, as_bytes("ping"));
    if (!sent || !*sent) failed = true;
    while (pongs == round && !failed) {
      auto got = a->poll([&](int, std::span<const std::byte>) { ++pongs; });
      if (!got) failed = true;
      if (got && *got == 0 && !a->wait(20s)) failed = true;
    }
  }
  sleeper.join();
  EXPECT_EQ(pongs, kRounds);
  EXPECT_EQ(b->stats().sleep_timeouts, 0u) << "rank 1 slept through a frame (a lost wake-up)";
  EXPECT_GT(b->stats().sleeps, 0u);
}

TEST(ShmWorld, NoLostWakeUpsAsymmetric) {
  ping_pong_into_sleep(true);
  stress(2, 1000, false, sleepy(true));
  stress(4, 300, true, sleepy(true));
}

TEST(ShmWorld, NoLostWakeUpsWithFences) {
  ping_pong_into_sleep(false);
  stress(2, 1000, false, sleepy(false));
  stress(4, 300, true, sleepy(false));
}

// "S" and, where the kernel shows it, the futex system call: the rank sleeps, it does not spin.
bool sleeping_in_futex(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size() || text[paren + 2] != 'S')
    return false;
  std::ifstream syscall_file("/proc/" + std::to_string(pid) + "/syscall");
  long nr = -1;
  if (!(syscall_file >> nr)) return true;  // not readable here: the state alone
  return nr == SYS_futex;
}

TEST(ShmWorld, WaitingRankSleepsAndWakesOnAFrame) {
  auto segment = ShmSegment::create(2, 4096);
  ASSERT_TRUE(segment);
  auto child_segment = ShmSegment::open_fd(segment->fd());
  ASSERT_TRUE(child_segment);
  auto parent = ShmWorld::join(std::move(*segment), 0);
  ASSERT_TRUE(parent);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(40);
    ShmOptions options;
    options.spin = 1us;
    auto world = ShmWorld::join(std::move(*child_segment), 1, options);
    if (!world) ::_exit(30);
    std::string seen;
    while (seen.empty()) {
      auto woke = world->wait(std::nullopt);  // no timeout: only a doorbell ends it
      if (!woke || !*woke) ::_exit(31);
      auto got =
          world->poll([&](int, std::span<const std::byte> f) { seen = std::string(as_text(f)); });
      if (!got) ::_exit(32);
    }
    ::_exit(seen == "wake up" ? 0 : 33);
  }
  ASSERT_GT(pid, 0);
  bool asleep = false;
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       std::chrono::steady_clock::now() < deadline;) {
    if (parent->pid_of(1) == pid && sleeping_in_futex(pid)) {
      asleep = true;
      break;
    }
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(asleep) << "the waiting rank never slept in futex";
  ASSERT_TRUE(*parent->send(1, as_bytes("wake up")));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST(ShmPull, ParentPullsFromChildThenTheChildIsGone) {
  auto segment = ShmSegment::create(2, 4096);
  ASSERT_TRUE(segment);
  auto child_segment = ShmSegment::open_fd(segment->fd());
  ASSERT_TRUE(child_segment);
  auto parent = ShmWorld::join(std::move(*segment), 0);
  ASSERT_TRUE(parent);
  constexpr std::size_t kSize = (3 << 20) + 5;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(40);
    auto world = ShmWorld::join(std::move(*child_segment), 1);
    if (!world) ::_exit(40);
    Bytes buffer(kSize);
    for (std::size_t i = 0; i < kSize; ++i)
      buffer[i] = static_cast<std::byte>((i * 13) ^ (i >> 12));
    std::uintptr_t where[2] = {reinterpret_cast<std::uintptr_t>(buffer.data()), kSize};
    if (!world->send(0, std::as_bytes(std::span(where)))) ::_exit(41);
    bool done = false;
    while (!done) {
      if (!world->wait(std::nullopt)) ::_exit(42);
      if (!world->poll([&](int, std::span<const std::byte>) { done = true; })) ::_exit(43);
    }
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  std::uintptr_t where[2] = {0, 0};
  while (where[0] == 0) {
    ASSERT_TRUE(parent->wait(20'000ms));
    ASSERT_TRUE(parent->poll([&](int, std::span<const std::byte> f) {
      ASSERT_EQ(f.size(), sizeof where);
      std::memcpy(where, f.data(), sizeof where);
    }));
  }
  auto usable = parent->can_pull_from(1);
  ASSERT_TRUE(usable) << usable.error().to_string();
  EXPECT_TRUE(*usable);
  Bytes copy(where[1]);
  auto pulled = pull(pid, where[0], copy);
  ASSERT_TRUE(pulled) << pulled.error().to_string();
  bool same = true;
  for (std::size_t i = 0; i < kSize; ++i)
    same = same && copy[i] == static_cast<std::byte>((i * 13) ^ (i >> 12));
  EXPECT_TRUE(same);
  // A range not mapped there.
  auto unmapped = pull(pid, 4096, std::span(copy).first(16));
  ASSERT_FALSE(unmapped);
  EXPECT_TRUE(unmapped.error().is(ErrorKind::invalid_argument)) << unmapped.error().to_string();
  ASSERT_TRUE(*parent->send(1, as_bytes("done")));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  auto gone = pull(pid, where[0], std::span(copy).first(16));
  ASSERT_FALSE(gone);
  EXPECT_TRUE(gone.error().is(ErrorKind::closed)) << gone.error().to_string();
  EXPECT_TRUE(parent->can_pull_from(7).error().is(ErrorKind::invalid_argument));
}

TEST(ShmPull, ChildPullsFromParentAndZeroBytesIsFine) {
  Bytes source(100'000);
  for (std::size_t i = 0; i < source.size(); ++i)
    source[i] = static_cast<std::byte>(i % 251);
  auto probe = probe_pull(::getpid(), pull_probe_address());
  ASSERT_TRUE(probe) << probe.error().to_string();
  EXPECT_TRUE(*probe);
  EXPECT_TRUE(pull(::getpid(), 0, {}));
  auto codes = run_ranks(1, [&](int) {
    // The child's own copy of `source` is changed, so a match proves the bytes came from the
    // parent.
    Bytes mine(source.size());
    std::memset(source.data(), 0, source.size());
    auto got = pull(::getppid(), reinterpret_cast<std::uintptr_t>(source.data()), mine);
    if (!got) {
      std::fprintf(stderr, "%s\n", got.error().to_string().c_str());
      return 50;
    }
    for (std::size_t i = 0; i < mine.size(); ++i)
      if (mine[i] != static_cast<std::byte>(i % 251)) return 51;
    return 0;
  });
  EXPECT_EQ(codes[0], 0);
}

}  // namespace
}  // namespace nexo::mpi
