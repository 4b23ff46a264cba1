// ShmWorld — the shared-memory transport of the ranks of one host (Linux only).
//
// Each rank joins a ShmSegment (shm_segment.hpp) as its rank and then moves whole frames,
// opaque bytes, to any other rank through the lock-free ring of that ordered pair
// (shm_ring.hpp), or, for a frame of at most kBoxMaxFrame bytes, through that pair's fast box
// (shm_box.hpp: one cache-line transfer instead of two or three).
//
// Send order across box and ring. The two are one stream per pair, in send order:
//   sender:   a frame goes in the box only when the ring is drained (the receiver released
//             everything the sender put in it: head == tail) and a slot is free; else in the ring.
//   receiver: per sender, it loads the ring's tail (acquire), delivers what is in the box, and
//             only when the box is empty, the ring records published up to that tail.
// A box frame is thus older than every ring record not yet consumed (it went in while the ring
// was drained), and a box frame older than a ring record the receiver saw published is visible
// by then (the tail's release/acquire), so the box is always drained first. Frames of any size
// work: larger than half a ring they travel in pieces and the receiver joins them. Large messages
// should not travel through the rings at all: the receiver pulls them straight from the sender's
// memory with pull() (shm_pull.hpp), one copy.
//
// Idle waiting, and why no wake-up is lost. Each rank has a doorbell (a futex word) and a
// `sleeping` flag in the segment. A rank with nothing to do spins for ShmOptions::spin (after
// 5 us yielding the CPU between polls, for a peer the scheduler put on the same CPU), then:
//
//   consumer (wait)                          producer (send to that rank)
//   d = doorbell.load()                      write the record, tail.store(release)
//   sleeping.store(1)                        fence(seq_cst)
//   fence(seq_cst)                           if sleeping.load() and sleeping.exchange(0):
//   if any ring readable: return                 doorbell.fetch_add(1); FUTEX_WAKE(doorbell)
//   FUTEX_WAIT(doorbell, d, timeout)
//   sleeping.store(0)
//
// The two fences order "store mine, then load theirs" on both sides, so either the consumer's
// re-check sees the new tail, or the producer sees sleeping = 1 and bumps the doorbell; a bump
// after the consumer read d makes FUTEX_WAIT return at once (the word is no longer d), and a
// bump during the wait wakes it. The exchange lets only one producer pay for the system call.
//
// The same handshake runs the other way when a ring is full: the producer sets the ring's
// `writer_waiting` before it sleeps (and its re-check looks for room in the rings it is blocked
// on); a consumer that released bytes fences, reads `writer_waiting`, and if set rings the
// producer's doorbell as above. Only the producer clears `writer_waiting` (when a send goes
// through): a consumer that cleared it on a release too small for the frame, before the producer
// slept, would leave the producer asleep with nobody to wake it. So a rank blocked on a full ring
// sleeps too, and wakes when there is room. A producer that sends many frames may defer the check
// (Wake::deferred) and ring once with flush_doorbells().
//
// The asymmetric handshake. A seq_cst fence on the producer's path costs more than the rest of
// a small send (it waits for the stores of the frame to leave the store buffer, cache misses
// included). Where the kernel has membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), each rank
// registers at join and says so in its RankControl (`asymmetric`); a rank going to sleep then
// issues that membarrier in place of its fence, which runs a full barrier on every CPU that
// runs a registered process, and a registered producer needs only a compiler barrier between
// its store and its load of `sleeping` (or `writer_waiting`) toward such a rank: either its store
// was before the barrier (and the sleeper's re-check sees it) or its load is after it (and sees
// the sleeper's flag). Toward a rank that did not register, or from one, both sides fence as
// above. A membarrier that fails after registering (it should not) makes that sleep end within
// 1 ms. ShmOptions::asymmetric_wake = false keeps the fences (the tests run both).
//
// Thread contract: a ShmWorld is used by one thread at a time (the rank's progress engine).
// Move-only (the rings live in the segment's mapping, which does not move).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/mpi/shm_box.hpp"
#include "nexo/mpi/shm_ring.hpp"
#include "nexo/mpi/shm_segment.hpp"

namespace nexo::mpi {

struct ShmOptions {
  // How long wait() polls the rings before it sleeps on the futex. Short: with more ranks than
  // cores a spinning rank steals the core of the rank it waits for.
  std::chrono::nanoseconds spin{std::chrono::microseconds(4)};
  // How long of that wait() polls without yielding the CPU (see wait()). 0 suits more ranks
  // than CPUs: the rank waited for is then often runnable on this CPU.
  std::chrono::nanoseconds pure_spin{std::chrono::microseconds(5)};
  // The largest frame a receiver joins from pieces (a bound on what a bad peer can make it
  // allocate).
  std::size_t max_frame = std::size_t{1} << 32;
  // Use the asymmetric handshake (membarrier) when the kernel offers it.
  bool asymmetric_wake = true;
};

// When a send checks whether the receiver sleeps.
enum class Wake : std::uint8_t {
  now,       // after this frame (one fence and one load; a system call only if it sleeps)
  deferred,  // later, in flush_doorbells()
};

// What a rank's transport did, for the CLI, tests and tuning.
struct ShmStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t frames_boxed = 0;    // of frames_sent: through a fast box
  std::uint64_t sends_full = 0;      // send() found the ring full
  std::uint64_t wakes_sent = 0;      // FUTEX_WAKE calls made for a peer (data or room)
  std::uint64_t sleeps = 0;          // FUTEX_WAIT calls
  std::uint64_t sleep_timeouts = 0;  // of which ended by the timeout
};

class ShmWorld {
 public:
  // Joins `segment` as `rank`: publishes this process's pid and probe word (for pull()), and on
  // a kernel with Yama ptrace_scope 1 lets the segment's creator and its descendants (the
  // other ranks a launcher started) read this process with process_vm_readv.
  // invalid_argument when rank is out of range.
  static Result<ShmWorld> join(ShmSegment segment, int rank, ShmOptions options = {});

  ShmWorld(ShmWorld&&) noexcept = default;
  ShmWorld& operator=(ShmWorld&&) noexcept = default;
  ShmWorld(const ShmWorld&) = delete;
  ShmWorld& operator=(const ShmWorld&) = delete;
  ~ShmWorld() = default;

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return nranks_; }
  const ShmSegment& segment() const noexcept { return segment_; }

  // Sends one frame to rank `to` (not this rank). Never blocks. Returns true once the whole
  // frame is in the ring, false when the ring is full now: poll() and retry. A frame of at most
  // max_whole_frame() bytes goes all or nothing; a larger one goes in pieces and, while send
  // returns false, must be retried with the same frame (same size and bytes) before any other
  // frame to `to`. Errors: invalid_argument (bad rank; another frame while one is half sent).
  Result<bool> send(int to, std::span<const std::byte> frame, Wake wake = Wake::now);
  // The same for a frame made of parts (a header and a payload, say), copied once into the ring.
  Result<bool> send(int to, FrameParts parts, Wake wake = Wake::now);
  // Rings, for each rank sent to with Wake::deferred since the last flush, its doorbell if it
  // sleeps.
  void flush_doorbells() noexcept;
  // Wakes rank `to` unconditionally (an out-of-band event: abort, a pull finished, ...).
  void ring_doorbell(int to) noexcept;

  // The largest frame that travels as one record (all or nothing).
  std::size_t max_whole_frame() const noexcept { return max_piece(segment_.ring_bytes()); }

  // Delivers the frames that have arrived, from any rank, calling deliver(from, frame) for each
  // (frame valid only during the call; deliver may send). Takes up to `max_frames` (fairly: a
  // batch per rank in turn). Returns how many were delivered. Errors: malformed / too_large when a
  // peer broke the ring's format (that ring is then unusable). Never blocks.
  using Deliver = std::function<void(int from, std::span<const std::byte> frame)>;
  Result<std::size_t> poll(const Deliver& deliver, std::size_t max_frames = SIZE_MAX);
  // True when some ring toward this rank holds a frame (or a piece of one).
  bool readable() noexcept;

  // Blocks until a frame is readable, a ring that a send found full has room, the doorbell
  // rang (since the last wait), or `timeout` passes (nullopt: no limit). Spins for
  // ShmOptions::spin first, then sleeps on the futex. While it spins it yields the CPU only
  // when a peer last ran on this CPU (it may be runnable here and wait for its turn), or
  // every 100 us in case one moved here since; a yield to unrelated load would cost the rank
  // a whole time slice. Returns true if woken, false on timeout.
  // A spurious true is possible (a doorbell rung for data already polled).
  Result<bool> wait(Timeout timeout);
  // The same with a finer timeout (a few microseconds: a rank that also polls sockets).
  Result<bool> wait_for(std::optional<std::chrono::nanoseconds> timeout);

  // The pid of rank `rank` (0 until it joined) and the address of its probe word.
  pid_t pid_of(int rank) const noexcept;
  // Whether this rank can pull() from `rank`: test-reads its probe word once with
  // process_vm_readv and remembers the answer. false (with the reason in the Error of the first
  // try) means: send data through the rings instead.
  Result<bool> can_pull_from(int rank);

  const ShmStats& stats() const noexcept { return stats_; }
  // Whether this rank uses the asymmetric handshake (see above).
  bool asymmetric_wake() const noexcept { return asymmetric_; }

 private:
  struct Peer {
    RingWriter writer;  // this rank -> peer
    RingReader reader;  // peer -> this rank
    BoxWriter box_writer;
    BoxReader box_reader;
    bool ring_used = false;   // the ring may hold frames the peer has not consumed: no box
    bool asymmetric = false;  // the peer membarriers before it sleeps (once seen, for good)
    bool wake_pending = false;
    bool blocked = false;      // the last send to this peer found the ring full
    std::int8_t pull_ok = -1;  // -1 unknown, 0 no, 1 yes
  };

  ShmWorld(ShmSegment segment, int rank, ShmOptions options);
  void wake_if_sleeping(int to) noexcept;
  // The barrier between a store the peer may sleep on and the load of its flag.
  void store_load_barrier(int peer) noexcept;
  // Whether the next small frame to `peer` may go in the box (see send order above).
  bool box_open(Peer& peer) noexcept;
  // Something for wait() to return for: a frame, a piece, or room in a ring a send found full.
  bool has_work() noexcept;
  // Publishes the CPU this rank runs on (RankControl::cpu); returns it plus 1 (0: unknown).
  std::uint32_t publish_cpu() noexcept;
  // Whether a peer last ran on CPU `cpu` (plus 1, as published).
  bool peer_on_cpu(std::uint32_t cpu) const noexcept;
  void after_release(int from) noexcept;
  Result<bool> sleep_once(std::chrono::steady_clock::time_point deadline, bool forever);

  ShmSegment segment_;
  int rank_ = 0;
  int nranks_ = 0;
  ShmOptions options_;
  std::vector<Peer> peers_;  // indexed by rank; peers_[rank_] unused
  int next_poll_ = 0;        // where the next poll starts (round robin)
  bool asymmetric_ = false;  // registered for membarrier: sleeps after one (see above)
  std::uint32_t doorbell_seen_ = 0;
  ShmStats stats_;  // the doorbell's value when the last wait ended
};

}  // namespace nexo::mpi
