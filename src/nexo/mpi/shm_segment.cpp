#include "nexo/mpi/shm_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <new>
#include <random>

namespace nexo::mpi {
namespace {

constexpr std::size_t kControlOffset = kCacheLine;
constexpr std::size_t kRingStride(std::size_t ring_bytes) {
  return sizeof(RingIndices) + ring_bytes;
}

bool valid_ring_bytes(std::size_t ring_bytes) noexcept {
  return ring_bytes >= kMinRingBytes && ring_bytes <= kMaxRingBytes &&
         (ring_bytes & (ring_bytes - 1)) == 0;
}

std::string unique_name() {
  std::random_device random;
  return "/nexo-mpi-" + std::to_string(::getpid()) + "-" + std::to_string(random()) +
         std::to_string(random());
}

// Where the boxes start: after the rings, rounded up to a box's alignment.
std::size_t boxes_offset(std::size_t nranks, std::size_t rings, std::size_t ring_bytes) noexcept {
  const std::size_t end =
      kControlOffset + nranks * sizeof(RankControl) + rings * kRingStride(ring_bytes);
  return (end + alignof(FastBox) - 1) & ~(alignof(FastBox) - 1);
}

}  // namespace

std::size_t ShmSegment::layout_size(std::size_t nranks, std::size_t ring_bytes) noexcept {
  std::size_t rings = nranks * (nranks - (nranks > 0 ? 1 : 0));
  std::size_t stride = kRingStride(ring_bytes) + sizeof(FastBox);
  if (rings != 0 && stride > (std::size_t{1} << 62) / rings) return 0;
  return boxes_offset(nranks, rings, ring_bytes) + rings * sizeof(FastBox);
}

ShmSegment::ShmSegment(net::FileDescriptor fd, void* base, std::size_t size, std::string name,
                       bool owns_name) noexcept
    : fd_(std::move(fd)), base_(base), size_(size), name_(std::move(name)), owns_name_(owns_name) {}

ShmSegment::ShmSegment(ShmSegment&& other) noexcept
    : fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      name_(std::move(other.name_)),
      owns_name_(std::exchange(other.owns_name_, false)) {}

ShmSegment& ShmSegment::operator=(ShmSegment&& other) noexcept {
  if (this != &other) {
    this->~ShmSegment();
    new (this) ShmSegment(std::move(other));
  }
  return *this;
}

ShmSegment::~ShmSegment() {
  if (owns_name_) (void)unlink();
  if (base_ != nullptr) ::munmap(base_, size_);
}

Result<void> ShmSegment::unlink() {
  if (!owns_name_) return ok();
  owns_name_ = false;
  if (::shm_unlink(name_.c_str()) != 0 && errno != ENOENT)
    return Error::from_errno(errno, "shm_unlink " + name_);
  return ok();
}

std::string ShmSegment::spec() const {
  return name_.empty() ? "fd:" + std::to_string(fd_.get()) : "name:" + name_;
}

RankControl* ShmSegment::control(int rank) const noexcept {
  return reinterpret_cast<RankControl*>(static_cast<std::byte*>(base_) + kControlOffset) + rank;
}

RingIndices* ShmSegment::ring_indices(int from, int to) const noexcept {
  std::size_t n = header()->nranks;
  std::size_t index =
      static_cast<std::size_t>(from) * (n - 1) + static_cast<std::size_t>(to < from ? to : to - 1);
  std::size_t offset =
      kControlOffset + n * sizeof(RankControl) + index * kRingStride(header()->ring_bytes);
  return reinterpret_cast<RingIndices*>(static_cast<std::byte*>(base_) + offset);
}

FastBox* ShmSegment::box(int from, int to) const noexcept {
  std::size_t n = header()->nranks;
  std::size_t index =
      static_cast<std::size_t>(from) * (n - 1) + static_cast<std::size_t>(to < from ? to : to - 1);
  std::size_t offset = boxes_offset(n, n * (n - 1), header()->ring_bytes) + index * sizeof(FastBox);
  return reinterpret_cast<FastBox*>(static_cast<std::byte*>(base_) + offset);
}

std::byte* ShmSegment::ring_data(int from, int to) const noexcept {
  return reinterpret_cast<std::byte*>(ring_indices(from, to)) + sizeof(RingIndices);
}

Result<ShmSegment> ShmSegment::create(int nranks, std::size_t ring_bytes, ShmBacking backing) {
  if (nranks < 1 || nranks > kMaxShmRanks)
    return Error(ErrorKind::invalid_argument, "shm segment: " + std::to_string(nranks) +
                                                  " ranks (1.." + std::to_string(kMaxShmRanks) +
                                                  " allowed)");
  if (!valid_ring_bytes(ring_bytes))
    return Error(ErrorKind::invalid_argument, "shm segment: ring of " + std::to_string(ring_bytes) +
                                                  " bytes (a power of two from 256 B to 1 GiB)");
  std::size_t size = layout_size(static_cast<std::size_t>(nranks), ring_bytes);
  if (size == 0) return Error(ErrorKind::too_large, "shm segment: size overflows");

  net::FileDescriptor fd;
  std::string name;
  if (backing == ShmBacking::memfd) {
    fd.reset(::memfd_create("nexo-mpi", 0));  // no MFD_CLOEXEC: the ranks inherit it
    if (!fd) return Error::from_errno(errno, "memfd_create for the shm segment");
  } else {
    name = unique_name();
    fd.reset(::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno(errno, "shm_open " + name);
  }
  // From here the name is owned, so every failure below unlinks it (the destructor of `segment`).
  ShmSegment segment(std::move(fd), nullptr, 0, name, !name.empty());
  if (::ftruncate(segment.fd_.get(), static_cast<off_t>(size)) != 0)
    return Error::from_errno(errno, "ftruncate shm segment to " + std::to_string(size) + " bytes");
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, segment.fd_.get(), 0);
  if (base == MAP_FAILED)
    return Error::from_errno(errno, "mmap shm segment of " + std::to_string(size) + " bytes");
  segment.base_ = base;
  segment.size_ = size;
  // A fresh file reads as zeros: the atomics need no construction beyond that (their zero
  // representation is their initial value), and the rings start empty.
  auto* header = static_cast<SegmentHeader*>(base);
  header->version = kSegmentVersion;
  header->nranks = static_cast<std::uint32_t>(nranks);
  header->ring_bytes = ring_bytes;
  header->total_bytes = size;
  header->creator_pid = ::getpid();
  std::atomic_thread_fence(std::memory_order_release);
  header->magic = kSegmentMagic;
  return segment;
}

Result<ShmSegment> ShmSegment::map_checked(net::FileDescriptor fd, std::string name,
                                           std::string_view what) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return Error::from_errno(errno, std::string("fstat ") + std::string(what));
  auto file_size = static_cast<std::size_t>(st.st_size);
  if (file_size < sizeof(SegmentHeader))
    return Error(ErrorKind::malformed, std::string(what) + ": " + std::to_string(file_size) +
                                           " bytes, too small for a nexo shm segment");
  SegmentHeader header{};
  if (::pread(fd.get(), &header, sizeof header, 0) != static_cast<ssize_t>(sizeof header))
    return Error::from_errno(errno == 0 ? EIO : errno,
                             std::string("read header of ") + std::string(what));
  if (header.magic != kSegmentMagic || header.version != kSegmentVersion)
    return Error(ErrorKind::malformed, std::string(what) + ": not a nexo shm segment of version " +
                                           std::to_string(kSegmentVersion));
  std::size_t size =
      header.nranks >= 1 && header.nranks <= kMaxShmRanks && valid_ring_bytes(header.ring_bytes)
          ? layout_size(header.nranks, header.ring_bytes)
          : 0;
  if (size == 0 || size != header.total_bytes || size > file_size)
    return Error(ErrorKind::malformed,
                 std::string(what) + ": header says " + std::to_string(header.nranks) +
                     " ranks, rings of " + std::to_string(header.ring_bytes) +
                     " bytes, but the file has " + std::to_string(file_size) + " bytes");
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) return Error::from_errno(errno, std::string("mmap ") + std::string(what));
  return ShmSegment(std::move(fd), base, size, std::move(name), false);
}

Result<ShmSegment> ShmSegment::open_fd(int fd) {
  std::string what = "shm segment fd " + std::to_string(fd);
  net::FileDescriptor own(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!own) return Error::from_errno(errno, "dup " + what);
  return map_checked(std::move(own), "", what);
}

Result<ShmSegment> ShmSegment::open_name(const std::string& name) {
  net::FileDescriptor fd(::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0));
  if (!fd) {
    int err = errno;
    Error error = Error::from_errno(err, "shm_open " + name);
    if (err == ENOENT)
      return std::move(error).with_context(
          "the shm segment is gone (its creator unlinked it or exited)");
    return error;
  }
  return map_checked(std::move(fd), name, "shm segment " + name);
}

Result<ShmSegment> ShmSegment::open_spec(std::string_view spec) {
  if (spec.starts_with("fd:")) {
    int fd = -1;
    auto digits = spec.substr(3);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
    if (ec == std::errc() && end == digits.data() + digits.size() && fd >= 0) return open_fd(fd);
  } else if (spec.starts_with("name:/") && spec.size() > 6) {
    return open_name(std::string(spec.substr(5)));
  }
  return Error(ErrorKind::invalid_argument, std::string(kShmEnvVar) + "=\"" + std::string(spec) +
                                                "\": expected fd:<n> or name:/<name>");
}

}  // namespace nexo::mpi
