// The reading side of counter files: checking a file (of this process or
// another, possibly bad or cut short) and copying its live records out.
// The layout is at the top of counter_file.hpp.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

#include "nexo/base/counter_file.hpp"

namespace nexo {
namespace {

using namespace counter_layout;

constexpr std::uint64_t kStateMask = 0xffff'ffffu;
constexpr int kReadAttempts = 4;  // a record rewritten under the reader this often is skipped

std::uint64_t load_word(const std::byte* p, std::memory_order order) noexcept {
  // Lock-free 8-byte atomics are address-free: a load from a read-only shared
  // mapping is a plain aligned load that never writes.
  return std::atomic_ref<std::uint64_t>(
             *const_cast<std::uint64_t*>(reinterpret_cast<const std::uint64_t*>(p)))
      .load(order);
}

template <class T>
T get(const std::byte* at) noexcept {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

// The NUL-terminated text of a field of `size` bytes; nullopt when it has no NUL.
std::optional<std::string> get_text(const std::byte* at, std::size_t size) {
  const auto* chars = reinterpret_cast<const char*>(at);
  const auto* end = std::find(chars, chars + size, '\0');
  if (end == chars + size) return std::nullopt;
  return std::string(chars, end);
}

class Mapped {  // a read-only mapping, unmapped on every path
 public:
  Mapped(const void* base, std::size_t size) noexcept : base_(base), size_(size) {}
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  ~Mapped() { ::munmap(const_cast<void*>(base_), size_); }
  const std::byte* data() const noexcept { return static_cast<const std::byte*>(base_); }

 private:
  const void* base_;
  std::size_t size_;
};

class Reader {
 public:
  explicit Reader(const std::filesystem::path& path) : where_("counter file " + path.string()) {}

  Result<CounterFileContents> read(const std::byte* base, std::size_t size) {
    CounterFileContents out;
    if (std::memcmp(base, kMagic, sizeof kMagic) != 0) return bad("not a nexo counter file (magic)");
    const auto version = get<std::uint32_t>(base + kVersionAt);
    if (version != kVersion) {
      return bad("version " + std::to_string(version) + ", this reader knows version " +
                 std::to_string(kVersion));
    }
    if (get<std::uint32_t>(base + kHeaderSizeAt) != kHeaderSize ||
        get<std::uint32_t>(base + kRecordSizeAt) != kRecordSize) {
      return bad("header or record size differs from version 1's (256, 1024)");
    }
    out.capacity = get<std::uint32_t>(base + kCapacityAt);
    if (out.capacity == 0 || out.capacity > kMaxCapacity) {
      return bad("capacity " + std::to_string(out.capacity) + " records, must be 1.." +
                 std::to_string(kMaxCapacity));
    }
    const std::size_t expected = kHeaderSize + kRecordSize * std::size_t{out.capacity};
    if (size < expected) {
      return Error(ErrorKind::truncated, where_ + ": " + std::to_string(size) +
                                             " bytes, its header says " +
                                             std::to_string(expected) + " (" +
                                             std::to_string(out.capacity) + " records)");
    }
    const std::uint64_t used = load_word(base + kUsedAt, std::memory_order_acquire);
    if (used > out.capacity) {
      return bad(std::to_string(used) + " records used of " + std::to_string(out.capacity));
    }
    out.used = static_cast<std::uint32_t>(used);
    out.pid = get<std::uint32_t>(base + kPidAt);
    out.start_time_ns = get<std::uint64_t>(base + kStartTimeAt);
    auto program = get_text(base + kProgramAt, kProgramSize);
    if (!program) return bad("program name not terminated");
    out.program = std::move(*program);
    for (std::uint32_t i = 0; i < out.used; ++i) {
      auto record = read_record(base + kHeaderSize + kRecordSize * i, i);
      if (!record) return std::move(record).error();
      if (*record) out.records.push_back(std::move(**record));
    }
    return out;
  }

 private:
  Error bad(const std::string& why) const { return Error(ErrorKind::malformed, where_ + ": " + why); }

  // A live record, nullopt for one that is not live (or kept changing), or
  // the reason it is out of shape.
  Result<std::optional<CounterRecord>> read_record(const std::byte* r, std::uint32_t index) {
    std::array<std::byte, kRecordSize> copy;
    for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
      const std::uint64_t before = load_word(r, std::memory_order_acquire);
      const auto state = static_cast<std::uint32_t>(before & kStateMask);
      if (state > kFree) {
        return bad("record " + std::to_string(index) + ": state " + std::to_string(state));
      }
      if (state != kLive) return std::optional<CounterRecord>();
      std::memcpy(copy.data(), r, kValuesAt);
      for (std::size_t v = 0; v < kMaxValues; ++v) {
        const std::uint64_t value = load_word(r + kValuesAt + 8 * v, std::memory_order_relaxed);
        std::memcpy(copy.data() + kValuesAt + 8 * v, &value, sizeof value);
      }
      std::memcpy(copy.data() + kNamesAt, r + kNamesAt, kRecordSize - kNamesAt);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (load_word(r, std::memory_order_relaxed) == before) return parse(copy.data(), index);
    }
    return std::optional<CounterRecord>();
  }

  Result<std::optional<CounterRecord>> parse(const std::byte* r, std::uint32_t index) const {
    const std::string at = "record " + std::to_string(index) + ": ";
    CounterRecord out;
    out.index = index;
    out.owner = get<std::uint64_t>(r + kOwnerAt);
    const auto count = get<std::uint32_t>(r + kCountAt);
    if (count > kMaxValues) {
      return bad(at + std::to_string(count) + " values, at most " + std::to_string(kMaxValues));
    }
    auto type = get_text(r + kTypeAt, kTypeSize);
    auto label = get_text(r + kLabelAt, kLabelSize);
    if (!type || !label) return bad(at + "type or label not terminated");
    out.type = std::move(*type);
    out.label = std::move(*label);
    for (std::uint32_t v = 0; v < count; ++v) {
      auto name = get_text(r + kNamesAt + kNameSize * v, kNameSize);
      const auto kind = get<std::uint8_t>(r + kKindsAt + v);
      if (!name || name->empty()) return bad(at + "value " + std::to_string(v) + " has no name");
      if (kind > static_cast<std::uint8_t>(CounterKind::gauge)) {
        return bad(at + "value " + *name + ": kind " + std::to_string(kind));
      }
      out.values.push_back(CounterValue{std::move(*name), static_cast<CounterKind>(kind),
                                        get<std::uint64_t>(r + kValuesAt + 8 * v)});
    }
    return std::optional<CounterRecord>(std::move(out));
  }

  std::string where_;
};

}  // namespace

Result<CounterFileContents> read_counter_file(const std::filesystem::path& path) {
  const std::string where = "counter file " + path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, where + ": open");
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    ::close(fd);
    return Error::from_errno(err, where + ": fstat");
  }
  const auto size = static_cast<std::size_t>(info.st_size);
  if (size < kHeaderSize) {
    ::close(fd);
    return Error(ErrorKind::truncated, where + ": " + std::to_string(size) +
                                           " bytes, shorter than its " +
                                           std::to_string(kHeaderSize) + "-byte header");
  }
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (base == MAP_FAILED) return Error::from_errno(map_errno, where + ": mmap");
  const Mapped mapped(base, size);
  return Reader(path).read(mapped.data(), size);
}

std::filesystem::path counter_directory() {
  if (const char* dir = std::getenv("NEXO_STAT_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (::access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  if (const char* dir = std::getenv("XDG_RUNTIME_DIR"); dir != nullptr && *dir != '\0') return dir;
  return "/tmp";
}

std::filesystem::path counter_file_path(std::uint32_t pid, const std::filesystem::path& directory) {
  return directory / ("nexo-" + std::to_string(pid) + ".stat");
}

std::vector<CounterFileEntry> list_counter_files(const std::filesystem::path& directory) {
  std::vector<CounterFileEntry> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(directory, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    constexpr std::string_view kPrefix = "nexo-", kSuffix = ".stat";
    if (name.size() <= kPrefix.size() + kSuffix.size() || !name.starts_with(kPrefix) ||
        !name.ends_with(kSuffix)) {
      continue;
    }
    const char* first = name.data() + kPrefix.size();
    const char* last = name.data() + name.size() - kSuffix.size();
    std::uint32_t pid = 0;
    const auto [end_of_number, err] = std::from_chars(first, last, pid);
    if (err != std::errc() || end_of_number != last || pid == 0) continue;
    out.push_back(CounterFileEntry{pid, it->path(), process_alive(pid)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
  return out;
}

bool process_alive(std::uint32_t pid) noexcept {
  if (pid == 0 || pid > static_cast<std::uint32_t>(std::numeric_limits<pid_t>::max())) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace nexo
