#include "nexo/mpi/shm.hpp"

#include <linux/futex.h>
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
  }
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
  control->pid.store(::getpid(), std::memory_order_release);
  return ShmWorld(std::move(segment), rank, options);
}

void ShmWorld::wake_if_sleeping(int to) noexcept {
  RankControl* control = segment_.control(to);
  // Orders our tail store before the load of `sleeping` (see the protocol in shm.hpp).
  std::atomic_thread_fence(std::memory_order_seq_cst);
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
  std::uint64_t tail_before =
      segment_.ring_indices(rank_, to)->tail.load(std::memory_order_relaxed);
  bool done = peer.writer.write(parts, size);
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
  // Pieces of a large frame also wake the receiver: it must drain them for the rest to fit.
  if (segment_.ring_indices(rank_, to)->tail.load(std::memory_order_relaxed) != tail_before) {
    if (wake == Wake::now)
      wake_if_sleeping(to);
    else
      peer.wake_pending = true;
  }
  return done;
}

bool ShmWorld::has_work() noexcept {
  for (int peer = 0; peer < nranks_; ++peer) {
    if (peer == rank_) continue;
    auto& p = peers_[static_cast<std::size_t>(peer)];
    if (p.reader.readable() || (p.blocked && p.writer.has_room())) return true;
  }
  return false;
}

void ShmWorld::after_release(int from) noexcept {
  RingIndices* indices = peers_[static_cast<std::size_t>(from)].reader.indices();
  // Orders our head store before the load of writer_waiting (see shm.hpp).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Not cleared here: the producer may not be asleep yet, and must still be woken by a later
  // release if this one did not make room enough. The producer clears it when a send succeeds.
  if (indices->writer_waiting.load(std::memory_order_relaxed) != 0) wake_if_sleeping(from);
}

bool ShmWorld::readable() noexcept {
  for (int from = 0; from < nranks_; ++from)
    if (from != rank_ && peers_[static_cast<std::size_t>(from)].reader.readable()) return true;
  return false;
}

Result<std::size_t> ShmWorld::poll(const Deliver& deliver, std::size_t max_frames) {
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
      std::size_t limit = std::min(kBatch, max_frames - total);
      auto& reader = peers_[static_cast<std::size_t>(from)].reader;
      std::uint64_t before = reader.position();
      auto got =
          reader.read(limit, [&](std::span<const std::byte> frame) { deliver(from, frame); });
      if (!got)
        return std::move(got).error().with_context("shm ring from rank " + std::to_string(from));
      if (reader.position() != before) after_release(from);
      total += *got;
      stats_.frames_received += *got;
      if (*got == limit) again = true;
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
  control->sleeping.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (has_work()) {
    control->sleeping.store(0, std::memory_order_relaxed);
    return true;
  }
  timespec relative{};
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
  auto start = std::chrono::steady_clock::now();
  bool forever = !timeout.has_value();
  auto deadline = forever ? start : start + *timeout;
  auto spin_until =
      start + std::min<std::chrono::nanoseconds>(options_.spin, forever ? options_.spin : *timeout);
  // A pure spin first (a message from a running peer is seen within a cache-line transfer);
  // past kPureSpin, each round of polls ends in sched_yield(), so that a peer the scheduler put
  // on this CPU (other load, no pinning) runs instead of waiting out the whole spin.
  constexpr auto kPureSpin = std::chrono::microseconds(5);
  const auto pure_until = start + kPureSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (has_work()) return true;
      cpu_relax();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= spin_until) break;
    if (now >= pure_until) ::sched_yield();
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
