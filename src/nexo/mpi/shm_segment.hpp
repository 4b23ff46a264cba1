// ShmSegment — the shared-memory segment of the ranks of one host (Linux only).
//
// Made once by the creator (the launcher, or rank 0), then opened by every rank: by a file
// descriptor it inherited (memfd, never visible in /dev/shm) or by a POSIX shm name. Layout,
// all in host byte order (the segment never leaves the host):
//
//   offset 0                 SegmentHeader (one cache line): magic, version, nranks,
//                            ring_bytes, total_bytes, creator pid
//   64                       RankControl x nranks (two cache lines each): doorbell, sleeping,
//                            pid, probe address (see shm.hpp for the doorbell protocol)
//   64 + 128 * nranks        rings, one per ordered pair (from, to), from != to, in the order
//                            from * (nranks - 1) + (to < from ? to : to - 1); each is
//                            RingIndices (128 bytes) then ring_bytes of data (shm_ring.hpp)
//   then, 128-aligned        fast boxes, one per ordered pair in the same order, FastBox
//                            (640 bytes) each (shm_box.hpp)
//
// A ShmSegment owns its mapping (and its descriptor, and for a named segment that it created,
// the name: the destructor unlinks it). Move-only; not thread-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nexo/base/result.hpp"
#include "nexo/mpi/shm_box.hpp"
#include "nexo/mpi/shm_ring.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::mpi {

inline constexpr std::uint64_t kSegmentMagic = 0x314D48534F58454EULL;  // "NEXOSHM1"
// 2: fast boxes, RankControl::asymmetric; 3: 16 slots a box (4 before)
inline constexpr std::uint32_t kSegmentVersion = 3;
inline constexpr int kMaxShmRanks = 1024;

struct SegmentHeader {
  alignas(kCacheLine) std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t nranks;
  std::uint64_t ring_bytes;
  std::uint64_t total_bytes;
  std::int32_t creator_pid;
};
static_assert(sizeof(SegmentHeader) == kCacheLine);

// One rank's shared control words. `doorbell` and `sleeping` share a line: the producers that
// ring it touch both.
struct RankControl {
  alignas(kCacheLine) std::atomic<std::uint32_t> doorbell{0};  // futex word, bumped by a ring
  std::atomic<std::uint32_t> sleeping{0};                      // 1: the rank may be in FUTEX_WAIT
  alignas(kCacheLine) std::atomic<std::int32_t> pid{0};        // 0 until the rank joined
  // 1: the rank issues a membarrier before it sleeps, so that its producers may skip their
  // fence (the asymmetric handshake in shm.hpp). Set at join, before pid; never cleared.
  std::atomic<std::uint32_t> asymmetric{0};
  std::atomic<std::uint64_t> probe_address{0};  // a word pull() can test-read
  // The CPU the rank last ran on when it polled or waited, plus 1 (0: not known); a waiting
  // rank yields its CPU to a peer that last ran there (shm.hpp).
  std::atomic<std::uint32_t> cpu{0};
};
static_assert(sizeof(RankControl) == 2 * kCacheLine);

// How the segment is made: an anonymous memfd (passed to the ranks by inheritance) or a POSIX
// shared-memory name (passed by name; unlinked by the creator).
enum class ShmBacking : std::uint8_t { memfd, named };

// The environment variable that carries a segment to a rank: "fd:<n>" or "name:/<name>".
inline constexpr const char* kShmEnvVar = "NEXO_MPI_SHM";

class ShmSegment {
 public:
  // Makes a zeroed segment for `nranks` (1..1024) with rings of `ring_bytes` (a power of two,
  // 256 B..1 GiB). A memfd is not close-on-exec, so children inherit it. Errors:
  // invalid_argument (sizes), system / permission_denied (the OS refused). Nothing is left
  // behind on failure.
  static Result<ShmSegment> create(int nranks, std::size_t ring_bytes,
                                   ShmBacking backing = ShmBacking::memfd);
  // Maps the segment behind an inherited descriptor (the descriptor is duplicated; the caller
  // keeps its own). Checks the header before trusting it: malformed when it is not a segment
  // of this version, or is smaller than its header says.
  static Result<ShmSegment> open_fd(int fd);
  // Opens a named segment (e.g. "/nexo-mpi-1234-5678"); not_connected when the name is gone.
  static Result<ShmSegment> open_name(const std::string& name);
  // Opens what kShmEnvVar's value `spec` names ("fd:3" or "name:/x"); invalid_argument otherwise.
  static Result<ShmSegment> open_spec(std::string_view spec);

  ShmSegment(ShmSegment&& other) noexcept;
  ShmSegment& operator=(ShmSegment&& other) noexcept;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ~ShmSegment();

  // The value for kShmEnvVar that lets a child open this segment ("fd:<n>" or "name:<name>").
  std::string spec() const;
  int fd() const noexcept { return fd_.get(); }
  const std::string& name() const noexcept { return name_; }
  // Removes the name now (idempotent): ranks that already opened it keep it; later opens fail.
  // The creator calls it once every rank has joined, or it happens in the destructor.
  Result<void> unlink();

  int nranks() const noexcept { return static_cast<int>(header()->nranks); }
  std::size_t ring_bytes() const noexcept { return header()->ring_bytes; }
  std::size_t size() const noexcept { return size_; }

  const SegmentHeader* header() const noexcept { return static_cast<const SegmentHeader*>(base_); }
  RankControl* control(int rank) const noexcept;
  // The ring carrying frames from `from` to `to` (from != to).
  RingIndices* ring_indices(int from, int to) const noexcept;
  std::byte* ring_data(int from, int to) const noexcept;
  // The fast box carrying small frames from `from` to `to` (from != to).
  FastBox* box(int from, int to) const noexcept;

  // The size of a segment for `nranks` and `ring_bytes`, or 0 if it would overflow.
  static std::size_t layout_size(std::size_t nranks, std::size_t ring_bytes) noexcept;

 private:
  ShmSegment(net::FileDescriptor fd, void* base, std::size_t size, std::string name,
             bool owns_name) noexcept;
  static Result<ShmSegment> map_checked(net::FileDescriptor fd, std::string name,
                                        std::string_view what);

  net::FileDescriptor fd_;
  void* base_ = nullptr;
  std::size_t size_ = 0;
  std::string name_;
  bool owns_name_ = false;
};

}  // namespace nexo::mpi
