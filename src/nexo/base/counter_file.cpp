// The writing side of counter files: creating, taking and freeing records.
// The layout is at the top of counter_file.hpp.
#include "nexo/base/counter_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <utility>
#include <vector>

namespace nexo {
namespace {

using namespace counter_layout;

constexpr std::uint64_t kStateMask = 0xffff'ffffu;

std::atomic_ref<std::uint64_t> word_at(std::byte* p) noexcept {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(p));
}

std::uint64_t make_word(std::uint32_t state, std::uint64_t generation) noexcept {
  return (generation << 32) | state;
}

template <class T>
void put(std::byte* at, T value) noexcept {
  std::memcpy(at, &value, sizeof value);
}

// Copies `text` into a field of `size` bytes, cut to size - 1, NUL-padded.
void put_text(std::byte* at, std::size_t size, std::string_view text) noexcept {
  std::memset(at, 0, size);
  std::memcpy(at, text.data(), std::min(text.size(), size - 1));
}

bool valid_name(std::string_view name) noexcept {
  return !name.empty() && name.size() < kNameSize &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

std::atomic<std::uint64_t> next_owner{1};  // unique in the process, across files

std::string program_name() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

Error file_error(int err, const std::filesystem::path& path, std::string_view operation) {
  return Error::from_errno(err, "counter file " + path.string() + ": " + std::string(operation));
}

}  // namespace

// --- CounterBlock ---------------------------------------------------------------

CounterBlock::CounterBlock() : local_(std::make_unique<std::uint64_t[]>(kMaxValues)) {
  values_ = local_.get();
}

CounterBlock::CounterBlock(CounterBlock&& other) noexcept
    : values_(std::exchange(other.values_, nullptr)),
      record_(std::exchange(other.record_, nullptr)),
      local_(std::move(other.local_)) {}

CounterBlock& CounterBlock::operator=(CounterBlock&& other) noexcept {
  if (this != &other) {
    release();
    values_ = std::exchange(other.values_, nullptr);
    record_ = std::exchange(other.record_, nullptr);
    local_ = std::move(other.local_);
  }
  return *this;
}

void CounterBlock::release() noexcept {
  if (record_ == nullptr) return;
  auto word = word_at(record_);
  const std::uint64_t w = word.load(std::memory_order_relaxed);
  word.store(make_word(kFree, w >> 32), std::memory_order_release);
  record_ = nullptr;
  values_ = nullptr;
}

std::uint64_t CounterBlock::owner() const noexcept {
  if (record_ == nullptr) return 0;
  std::uint64_t owner = 0;
  std::memcpy(&owner, record_ + kOwnerAt, sizeof owner);
  return owner;
}

void CounterBlock::describe(std::string_view type, std::string_view label) noexcept {
  if (record_ == nullptr) return;
  // A new generation around the change: a reader that copied the old label
  // half-way sees the word change and reads again.
  auto word = word_at(record_);
  const std::uint64_t generation = (word.load(std::memory_order_relaxed) >> 32) + 1;
  word.store(make_word(kBusy, generation), std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  put_text(record_ + kTypeAt, kTypeSize, type);
  put_text(record_ + kLabelAt, kLabelSize, label);
  word.store(make_word(kLive, generation), std::memory_order_release);
}

// --- CounterFile ----------------------------------------------------------------

Result<std::unique_ptr<CounterFile>> CounterFile::create(const std::filesystem::path& path,
                                                         std::uint32_t capacity) {
  if (capacity == 0 || capacity > kMaxCapacity) {
    return Error(ErrorKind::invalid_argument,
                 "counter file " + path.string() + ": capacity " + std::to_string(capacity) +
                     " records, must be 1.." + std::to_string(kMaxCapacity));
  }
  const std::size_t size = kHeaderSize + kRecordSize * std::size_t{capacity};
  // Made under a temporary name and renamed: a reader never sees a half-made header.
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  const int fd = ::open(temporary.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return file_error(errno, temporary, "open");
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temporary.c_str());
    return file_error(err, temporary, "ftruncate");
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (mapped == MAP_FAILED) {
    ::unlink(temporary.c_str());
    return file_error(map_errno, temporary, "mmap");
  }
  auto* base = static_cast<std::byte*>(mapped);
  const auto pid = static_cast<std::uint32_t>(::getpid());
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  std::memcpy(base, kMagic, sizeof kMagic);
  put(base + kVersionAt, kVersion);
  put(base + kHeaderSizeAt, static_cast<std::uint32_t>(kHeaderSize));
  put(base + kRecordSizeAt, static_cast<std::uint32_t>(kRecordSize));
  put(base + kCapacityAt, capacity);
  put(base + kPidAt, pid);
  put(base + kStartTimeAt,
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
  put_text(base + kProgramAt, kProgramSize, program_name());
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::munmap(mapped, size);
    ::unlink(temporary.c_str());
    return file_error(err, path, "rename");
  }
  return std::make_unique<CounterFile>(Mapping{path, base, size, capacity, pid});
}

CounterFile::~CounterFile() {
  if (m_.pid == static_cast<std::uint32_t>(::getpid())) ::unlink(m_.path.c_str());
  if (!keep_mapped_) ::munmap(m_.base, m_.size);
}

std::byte* CounterFile::take_record() noexcept {
  auto used = word_at(m_.base + kUsedAt);
  std::uint64_t n = used.load(std::memory_order_acquire);
  for (std::uint64_t i = 0; i < n && i < m_.capacity; ++i) {  // a freed record first
    auto word = word_at(record(i));
    std::uint64_t w = word.load(std::memory_order_relaxed);
    if ((w & kStateMask) == kFree &&
        word.compare_exchange_strong(w, make_word(kBusy, (w >> 32) + 1),
                                     std::memory_order_acq_rel)) {
      return record(i);
    }
  }
  while (n < m_.capacity) {  // else one never used
    if (used.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel)) {
      word_at(record(n)).store(make_word(kBusy, 1), std::memory_order_relaxed);
      return record(n);
    }
  }
  return nullptr;
}

Result<CounterBlock> CounterFile::allocate(std::string_view type, std::string_view label,
                                           std::span<const CounterSpec> specs) {
  if (specs.size() > kMaxValues) {
    return Error(ErrorKind::invalid_argument, "counters " + std::string(type) + ": " +
                                                  std::to_string(specs.size()) +
                                                  " values, at most " +
                                                  std::to_string(kMaxValues));
  }
  for (const CounterSpec& spec : specs) {
    if (!valid_name(spec.name) || spec.kind > CounterKind::gauge) {
      return Error(ErrorKind::invalid_argument,
                   "counters " + std::string(type) + ": bad value name '" +
                       std::string(spec.name) + "' ([a-z0-9_], 1 to 27 characters)");
    }
  }
  std::byte* r = take_record();
  if (r == nullptr) {
    overflowed_.fetch_add(1, std::memory_order_relaxed);
    return CounterBlock();
  }
  const std::uint64_t generation = word_at(r).load(std::memory_order_relaxed) >> 32;
  std::memset(r + 8, 0, kRecordSize - 8);
  put(r + kOwnerAt, next_owner.fetch_add(1, std::memory_order_relaxed));
  put(r + kCountAt, static_cast<std::uint32_t>(specs.size()));
  put_text(r + kTypeAt, kTypeSize, type);
  put_text(r + kLabelAt, kLabelSize, label);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    put_text(r + kNamesAt + i * kNameSize, kNameSize, specs[i].name);
    put(r + kKindsAt + i, static_cast<std::uint8_t>(specs[i].kind));
  }
  word_at(r).store(make_word(kLive, generation), std::memory_order_release);
  return CounterBlock(r, reinterpret_cast<std::uint64_t*>(r + kValuesAt));
}

namespace {

bool publishing_off() {
  const char* flag = std::getenv("NEXO_STAT");
  return flag != nullptr && std::string_view(flag) == "0";
}

}  // namespace

CounterFile* CounterFile::process() noexcept {
  // The last file is this process's; an earlier one is a parent's, inherited
  // through fork() (kept mapped: blocks made before the fork point into it).
  static std::mutex mutex;
  static std::vector<std::unique_ptr<CounterFile>> files;
  static std::uint32_t failed_pid = 0;
  static const bool off = publishing_off();
  if (off) return nullptr;
  try {
    std::lock_guard lock(mutex);
    const auto pid = static_cast<std::uint32_t>(::getpid());
    if (!files.empty() && files.back()->m_.pid == pid) return files.back().get();
    if (failed_pid == pid) return nullptr;
    auto file = create(counter_file_path(pid, counter_directory()));
    if (!file) {
      failed_pid = pid;
      std::fprintf(stderr, "nexo: live counters not published (nexo stat will not see them): %s\n",
                   file.error().message().c_str());
      return nullptr;
    }
    (*file)->keep_mapped_ = true;
    files.push_back(std::move(*file));
    return files.back().get();
  } catch (...) {  // out of memory: counting goes on privately
    return nullptr;
  }
}

CounterBlock allocate_counters(std::string_view type, std::string_view label,
                               std::span<const CounterSpec> specs) {
  CounterFile* file = CounterFile::process();
  if (file == nullptr) {
    if (specs.size() > kMaxValues) std::abort();  // a programming error: too many values
    return CounterBlock();
  }
  auto block = file->allocate(type, label, specs);
  if (!block) {
    std::fprintf(stderr, "nexo: %s\n", block.error().message().c_str());
    std::abort();  // a programming error: the specs are constants of the caller
  }
  return std::move(*block);
}

}  // namespace nexo
