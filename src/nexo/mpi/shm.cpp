#include "nexo/mpi/shm.hpp"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>

#include "nexo/mpi/shm_pull.hpp"

namespace nexo::mpi {
namespace {

// Shared between processes: no FUTEX_PRIVATE_FLAG.
long futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                const timespec* relative) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected,
                   relative, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>* word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr,
            nullptr, 0);
}

long membarrier(int command) noexcept {
  return ::syscall(SYS_membarrier, command, 0, 0);
}

// Registers this process for MEMBARRIER_CMD_GLOBAL_EXPEDITED once; false where the kernel (or a
// sandbox's filter) does not offer it.
bool membarrier_registered() noexcept {
  static const bool registered = [] {
    const long commands = membarrier(MEMBARRIER_CMD_QUERY);
    if (commands < 0 || (commands & MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0 ||
        (commands & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
      return false;
    return membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
  }();
  return registered;
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

Error bad_rank(std::string_view what, int rank, int nranks) {
  return Error(ErrorKind::invalid_argument, std::string(what) + ": rank " + std::to_string(rank) +
                                                " (0.." + std::to_string(nranks - 1) + ")");
}

}  // namespace

ShmWorld::ShmWorld(ShmSegment segment, int rank, ShmOptions options)
    : segment_(std::move(segment)), rank_(rank), nranks_(segment_.nranks()), options_(options) {
  peers_.resize(static_cast<std::size_t>(nranks_));
  std::size_t cap = segment_.ring_bytes();
  for (int peer = 0; peer < nranks_; ++peer) {
    if (peer == rank_) continue;
    auto& p = peers_[static_cast<std::size_t>(peer)];
    p.writer = RingWriter(segment_.ring_indices(rank_, peer), segment_.ring_data(rank_, peer), cap);
    p.reader = RingReader(segment_.ring_indices(peer, rank_), segment_.ring_data(peer, rank_), cap,
                          options_.max_frame);
    p.box_writer = BoxWriter(segment_.box(rank_, peer));
    p.box_reader = BoxReader(segment_.box(peer, rank_));
  }
  asymmetric_ = options_.asymmetric_wake && membarrier_registered();
  next_poll_ = (rank_ + 1) % nranks_;
  doorbell_seen_ = segment_.control(rank_)->doorbell.load(std::memory_order_acquire);
}

Result<ShmWorld> ShmWorld::join(ShmSegment segment, int rank, ShmOptions options) {
  if (rank < 0 || rank >= segment.nranks()) return bad_rank("shm join", rank, segment.nranks());
  RankControl* control = segment.control(rank);
  // With Yama ptrace_scope 1 only an ancestor may read us; naming the creator admits it and its
  // descendants (the sibling ranks). EINVAL without Yama: nothing to do.
  pid_t creator = segment.header()->creator_pid;
  if (creator != ::getpid())
    (void)::prctl(PR_SET_PTRACER, static_cast<unsigned long>(creator), 0, 0, 0);
  control->probe_address.store(pull_probe_address(), std::memory_order_relaxed);
  ShmWorld world(std::move(segment), rank, options);
  // Before pid; never cleared: a producer that saw it may skip its fences for good.
  if (world.asymmetric_) control->asymmetric.store(1, std::memory_order_relaxed);
  control->pid.store(::getpid(), std::memory_order_release);
  return world;
}

void ShmWorld::store_load_barrier(int peer) noexcept {
  auto& p = peers_[static_cast<std::size_t>(peer)];
  if (!p.asymmetric && asymmetric_ &&
      segment_.control(peer)->asymmetric.load(std::memory_order_relaxed) != 0)
    p.asymmetric = true;
  if (p.asymmetric) {
    // Both registered: the sleeper's membarrier does the rest (shm.hpp); only the compiler
    // must keep the store before the load.
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

void ShmWorld::wake_if_sleeping(int to) noexcept {
  RankControl* control = segment_.control(to);
  // Orders our tail (or slot) store before the load of `sleeping` (the protocol in shm.hpp).
  store_load_barrier(to);
  if (control->sleeping.load(std::memory_order_relaxed) != 0 &&
      control->sleeping.exchange(0, std::memory_order_acq_rel) != 0) {
    control->doorbell.fetch_add(1, std::memory_order_release);
    futex_wake(&control->doorbell);
    ++stats_.wakes_sent;
  }
}

void ShmWorld::ring_doorbell(int to) noexcept {
  if (to < 0 || to >= nranks_) return;
  RankControl* control = segment_.control(to);
  control->sleeping.store(0, std::memory_order_relaxed);
  control->doorbell.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&control->doorbell);
}

void ShmWorld::flush_doorbells() noexcept {
  for (int to = 0; to < nranks_; ++to) {
    auto& peer = peers_[static_cast<std::size_t>(to)];
    if (!peer.wake_pending) continue;
    peer.wake_pending = false;
    wake_if_sleeping(to);
  }
}

Result<bool> ShmWorld::send(int to, std::span<const std::byte> frame, Wake wake) {
  std::span<const std::byte> parts[1] = {frame};
  return send(to, FrameParts(parts), wake);
}

Result<bool> ShmWorld::send(int to, FrameParts parts, Wake wake) {
  if (to < 0 || to >= nranks_ || to == rank_) return bad_rank("shm send", to, nranks_);
  std::size_t size = 0;
  for (auto part : parts)
    size += part.size();
  auto& peer = peers_[static_cast<std::size_t>(to)];
  if (peer.writer.in_progress() && peer.writer.partial_size() != size)
    return Error(ErrorKind::invalid_argument,
                 "shm send to rank " + std::to_string(to) + ": a frame of " + std::to_string(size) +
                     " bytes while one of " + std::to_string(peer.writer.partial_size()) +
                     " is half sent");
  bool done = false;
  bool published = false;
  if (size <= kBoxMaxFrame && box_open(peer) && peer.box_writer.write(parts, size)) {
    done = published = true;
    ++stats_.frames_boxed;
  } else {
    std::uint64_t tail_before =
        segment_.ring_indices(rank_, to)->tail.load(std::memory_order_relaxed);
    done = peer.writer.write(parts, size);
    // Pieces of a large frame also wake the receiver: it must drain them for the rest to fit.
    published =
        segment_.ring_indices(rank_, to)->tail.load(std::memory_order_relaxed) != tail_before;
    if (published) peer.ring_used = true;
  }
  if (done) ++stats_.frames_sent;
  if (!done) {
    ++stats_.sends_full;
    // Tell the consumer to ring us when it frees room (the handshake in shm.hpp).
    peer.blocked = true;
    peer.writer.indices()->writer_waiting.store(1, std::memory_order_relaxed);
  } else if (peer.blocked) {
    peer.blocked = false;  // and stop the consumer checking
    peer.writer.indices()->writer_waiting.store(0, std::memory_order_relaxed);
  }
  if (published) {
    if (wake == Wake::now)
      wake_if_sleeping(to);
    else
      peer.wake_pending = true;
  }
  return done;
}

bool ShmWorld::box_open(Peer& peer) noexcept {
  if (peer.writer.in_progress()) return false;
  if (!peer.ring_used) return true;
  if (!peer.writer.drained()) return false;
  peer.ring_used = false;
  return true;
}

std::uint32_t ShmWorld::publish_cpu() noexcept {
  const int cpu = ::sched_getcpu();  // glibc reads it from rseq: no system call
  const std::uint32_t published = cpu < 0 ? 0 : static_cast<std::uint32_t>(cpu) + 1;
  auto& word = segment_.control(rank_)->cpu;
  if (word.load(std::memory_order_relaxed) != published)
    word.store(published, std::memory_order_relaxed);
  return published;
}

bool ShmWorld::peer_on_cpu(std::uint32_t cpu) const noexcept {
  for (int peer = 0; peer < nranks_; ++peer) {
    if (peer != rank_ && segment_.control(peer)->cpu.load(std::memory_order_relaxed) == cpu)
      return true;
  }
  return false;
}

bool ShmWorld::has_work() noexcept {
  for (int peer = 0; peer < nranks_; ++peer) {
    if (peer == rank_) continue;
    auto& p = peers_[static_cast<std::size_t>(peer)];
    if (p.box_reader.readable() || p.reader.readable() || (p.blocked && p.writer.has_room()))
      return true;
  }
  return false;
}

void ShmWorld::after_release(int from) noexcept {
  RingIndices* indices = peers_[static_cast<std::size_t>(from)].reader.indices();
  // Orders our head store before the load of writer_waiting (see shm.hpp).
  store_load_barrier(from);
  // Not cleared here: the producer may not be asleep yet, and must still be woken by a later
  // release if this one did not make room enough. The producer clears it when a send succeeds.
  if (indices->writer_waiting.load(std::memory_order_relaxed) != 0) wake_if_sleeping(from);
}

bool ShmWorld::readable() noexcept {
  for (int from = 0; from < nranks_; ++from) {
    if (from == rank_) continue;
    auto& p = peers_[static_cast<std::size_t>(from)];
    if (p.box_reader.readable() || p.reader.readable()) return true;
  }
  return false;
}

Result<std::size_t> ShmWorld::poll(const Deliver& deliver, std::size_t max_frames) {
  publish_cpu();  // where this rank runs while it works, for its peers' wait()
  // A batch per rank so that one busy sender does not starve the others.
  constexpr std::size_t kBatch = 32;
  std::size_t total = 0;
  bool again = true;
  while (again && total < max_frames) {
    again = false;
    for (int i = 0; i < nranks_ && total < max_frames; ++i) {
      int from = next_poll_;
      next_poll_ = (next_poll_ + 1) % nranks_;
      if (from == rank_) continue;
      const std::size_t limit = std::min(kBatch, max_frames - total);
      auto& peer = peers_[static_cast<std::size_t>(from)];
      auto to_deliver = [&](std::span<const std::byte> frame) { deliver(from, frame); };
      // The box first, then the ring up to the tail loaded before it (send order in shm.hpp).
      peer.reader.refresh();
      std::size_t got = 0;
      bool box_empty = false;
      while (got < limit) {
        auto boxed = peer.box_reader.read_one(to_deliver);
        if (!boxed)
          return std::move(boxed).error().with_context("shm box from rank " + std::to_string(from));
        if (!*boxed) {
          box_empty = true;
          break;
        }
        ++got;
      }
      if (box_empty) {
        const std::uint64_t before = peer.reader.position();
        auto read = peer.reader.read_published(limit - got, to_deliver);
        if (!read)
          return std::move(read).error().with_context("shm ring from rank " + std::to_string(from));
        if (peer.reader.position() != before) after_release(from);
        got += *read;
      }
      total += got;
      stats_.frames_received += got;
      if (got == limit) again = true;
    }
  }
  return total;
}

Result<bool> ShmWorld::sleep_once(std::chrono::steady_clock::time_point deadline, bool forever) {
  RankControl* control = segment_.control(rank_);
  std::uint32_t seen = control->doorbell.load(std::memory_order_acquire);
  if (seen != doorbell_seen_) {
    doorbell_seen_ = seen;
    return true;
  }
  // A wait whose time is up already (a short one, of a rank that also polls sockets) does not
  // sleep: no handshake, no membarrier.
  if (!forever && deadline <= std::chrono::steady_clock::now()) return has_work();
  control->sleeping.store(1, std::memory_order_relaxed);
  // The sleeper's side of the handshake (shm.hpp): a membarrier stands for the fences of the
  // producers that skip theirs; if it fails they may have, so the sleep is kept short.
  bool bounded = false;
  if (asymmetric_ && membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0) bounded = true;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (has_work()) {
    control->sleeping.store(0, std::memory_order_relaxed);
    return true;
  }
  timespec relative{};
  if (bounded) {
    const auto cap = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
    if (forever || cap < deadline) deadline = cap;
    forever = false;
  }
  if (!forever) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) {
      control->sleeping.store(0, std::memory_order_relaxed);
      return false;
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    relative.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    relative.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  }
  ++stats_.sleeps;
  long rc = futex_wait(&control->doorbell, seen, forever ? nullptr : &relative);
  int err = rc == 0 ? 0 : errno;
  control->sleeping.store(0, std::memory_order_relaxed);
  doorbell_seen_ = control->doorbell.load(std::memory_order_acquire);
  if (rc == 0 || err == EAGAIN) return true;  // woken, or the doorbell rang before we slept
  if (err == ETIMEDOUT) ++stats_.sleep_timeouts;
  if (err == ETIMEDOUT || err == EINTR) return has_work();
  return Error::from_errno(err, "futex wait on the shm doorbell of rank " + std::to_string(rank_));
}

Result<bool> ShmWorld::wait(Timeout timeout) {
  if (!timeout) return wait_for(std::nullopt);
  return wait_for(std::chrono::nanoseconds(*timeout));
}

Result<bool> ShmWorld::wait_for(std::optional<std::chrono::nanoseconds> timeout) {
  auto start = std::chrono::steady_clock::now();
  bool forever = !timeout.has_value();
  auto deadline = forever ? start : start + *timeout;
  auto spin_until =
      start + std::min<std::chrono::nanoseconds>(options_.spin, forever ? options_.spin : *timeout);
  // A pure spin first (a message from a running peer is seen within a cache-line transfer);
  // past ShmOptions::pure_spin, a round of polls ends in sched_yield() when a peer last ran on this
  // CPU (the scheduler put it here: other load, no pinning), so that it runs instead of waiting out
  // the whole spin; and every kYieldAnyway, in case a peer moved here since it said.
  constexpr auto kYieldAnyway = std::chrono::microseconds(100);
  const auto pure_until = start + options_.pure_spin;
  auto next_yield = start + kYieldAnyway;
  std::uint32_t cpu = publish_cpu();
  const auto& doorbell = segment_.control(rank_)->doorbell;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (has_work()) return true;
      // A ring while this rank spins (an out-of-band event, or the TCP watcher of a job with
      // both transports) ends the wait as it would end a sleep.
      if (const auto rung = doorbell.load(std::memory_order_acquire); rung != doorbell_seen_) {
        doorbell_seen_ = rung;
        return true;
      }
      cpu_relax();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= spin_until) break;
    if (now < pure_until) continue;
    cpu = publish_cpu();
    if (now >= next_yield || cpu == 0 || peer_on_cpu(cpu)) {
      ::sched_yield();
      next_yield = now + kYieldAnyway;
    }
  }
  while (true) {
    auto woke = sleep_once(deadline, forever);
    if (!woke || *woke) return woke;
    if (!forever && std::chrono::steady_clock::now() >= deadline) return false;
  }
}

pid_t ShmWorld::pid_of(int rank) const noexcept {
  if (rank < 0 || rank >= nranks_) return 0;
  return segment_.control(rank)->pid.load(std::memory_order_acquire);
}

Result<bool> ShmWorld::can_pull_from(int rank) {
  if (rank < 0 || rank >= nranks_) return bad_rank("shm can_pull_from", rank, nranks_);
  auto& peer = peers_[static_cast<std::size_t>(rank)];
  if (peer.pull_ok >= 0) return peer.pull_ok == 1;
  pid_t pid = pid_of(rank);
  if (pid == 0)
    return Error(ErrorKind::not_connected,
                 "shm can_pull_from: rank " + std::to_string(rank) + " has not joined yet");
  auto probed =
      probe_pull(pid, segment_.control(rank)->probe_address.load(std::memory_order_relaxed));
  peer.pull_ok = probed && *probed ? 1 : 0;
  if (!probed)
    return std::move(probed).error().with_context("shm pull probe of rank " + std::to_string(rank));
  return *probed;
}

}  // namespace nexo::mpi
