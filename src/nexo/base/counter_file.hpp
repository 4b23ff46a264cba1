// CounterFile — live counters that another process can read while this one
// runs (`nexo stat`), in one small shared-memory file per process, as Aeron's
// CnC counters file. Publishing costs nothing on the hot path beyond the
// relaxed atomic increments a private counter would cost: the values live in
// the mapped file and are updated in place.
//
// Why base/: the lowest layer that needs it is net/ (a UDP socket's kernel drop
// count), and the file is plain memory-mapped storage, no socket or epoll call.
//
// Where: $NEXO_STAT_DIR if set, else /dev/shm, else $XDG_RUNTIME_DIR, else /tmp;
// named nexo-<pid>.stat. NEXO_STAT=0 in the environment turns publishing off
// (counters are then kept in private memory, readable only in-process). The
// file is made at the first allocation and removed at normal exit; a process
// that crashes leaves it behind, and `nexo stat` removes files of dead pids.
// A child made by fork() shares its parent's mapping: its counters land in
// the parent's file (exec gives it its own).
//
// Layout, version 1 (integers in the host's byte order: reader and writer share
// a machine). All offsets in bytes.
//   header (256 bytes)
//     0    8   magic "NEXOSTAT"
//     8    4   version (1)
//    12    4   header size (256)
//    16    4   record size (1024)
//    20    4   record capacity N
//    24    4   pid of the writer
//    28    4   0
//    32    8   start time, nanoseconds since the Unix epoch
//    40    8   records ever used (atomic): records [0, this) are not unused
//    48   64   program name, NUL-terminated (/proc/self/comm)
//   112  144   0
//   N records of 1024 bytes, record i at 256 + 1024 * i:
//     0    8   state word (atomic): low 32 bits the state (0 unused, 1 busy:
//              being written, 2 live, 3 free: closed, reusable), high 32 bits
//              a generation, +1 each time the record is taken
//     8    8   owner id, unique in the process (one Port, Sender, Host, socket)
//    16    4   value count n (at most 24)
//    20    4   0
//    24   24   type ("port", "sender", "rudp_host", "udp_socket"), NUL-terminated
//    48   80   label (a uri, an address), NUL-terminated
//   128  192   24 values, 64-bit, updated in place with relaxed atomics
//   320  672   24 names of 28 bytes ([a-z0-9_], NUL-terminated)
//   992   24   24 kinds: 0 counter (never decreases), 1 gauge
//  1016    8   0
// A writer takes a record by setting it busy, writes its metadata and zeroes
// its values, then sets it live (release). A reader reads a record like a
// seqlock: the state word (acquire), the record, the state word again; a
// record that is not live, or whose word changed meanwhile, is skipped.
//
// Thread contract: CounterFile::allocate and the CounterBlock calls may be
// used from any thread; one CounterBlock's values may be updated from many
// threads at once. Reading (read_counter_file) never writes to the file.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"

namespace nexo {

enum class CounterKind : std::uint8_t { counter = 0, gauge = 1 };

// One value of a record: its name ([a-z0-9_], at most 27 characters) and kind.
struct CounterSpec {
  std::string_view name;
  CounterKind kind = CounterKind::counter;
};

namespace counter_layout {
inline constexpr char kMagic[8] = {'N', 'E', 'X', 'O', 'S', 'T', 'A', 'T'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 256;
inline constexpr std::size_t kRecordSize = 1024;
inline constexpr std::size_t kMaxValues = 24;
inline constexpr std::size_t kTypeSize = 24;
inline constexpr std::size_t kLabelSize = 80;
inline constexpr std::size_t kNameSize = 28;
inline constexpr std::size_t kProgramSize = 64;
inline constexpr std::uint32_t kDefaultCapacity = 1024;
inline constexpr std::uint32_t kMaxCapacity = 1u << 20;  // a reader refuses more (1 GiB)
// Header fields.
inline constexpr std::size_t kVersionAt = 8, kHeaderSizeAt = 12, kRecordSizeAt = 16,
                             kCapacityAt = 20, kPidAt = 24, kStartTimeAt = 32, kUsedAt = 40,
                             kProgramAt = 48;
// Record fields.
inline constexpr std::size_t kOwnerAt = 8, kCountAt = 16, kTypeAt = 24, kLabelAt = 48,
                             kValuesAt = 128, kNamesAt = 320, kKindsAt = 992;
enum State : std::uint32_t { kUnused = 0, kBusy = 1, kLive = 2, kFree = 3 };
}  // namespace counter_layout

// A set of up to 24 64-bit values: in a record of a CounterFile (published),
// or in private memory (when there is no file, or it is full). Move-only; the
// destructor frees the record (marked free, for reuse). A block taken from a
// CounterFile must not outlive it (the process file lives until exit).
class CounterBlock {
 public:
  // A private block of kMaxValues zeros, not published.
  CounterBlock();
  CounterBlock(CounterBlock&& other) noexcept;
  CounterBlock& operator=(CounterBlock&& other) noexcept;
  CounterBlock(const CounterBlock&) = delete;
  CounterBlock& operator=(const CounterBlock&) = delete;
  ~CounterBlock() { release(); }

  // Relaxed atomic updates of value `i` (< the count allocated). Never block.
  void add(std::size_t i, std::uint64_t n = 1) noexcept { ref(i).fetch_add(n, kRelaxed); }
  void set(std::size_t i, std::uint64_t v) noexcept { ref(i).store(v, kRelaxed); }
  // Raises value `i` to `v` if it is lower (a high-water mark).
  void raise_to(std::size_t i, std::uint64_t v) noexcept {
    auto r = ref(i);
    std::uint64_t seen = r.load(kRelaxed);
    while (v > seen && !r.compare_exchange_weak(seen, v, kRelaxed)) {
    }
  }
  std::uint64_t get(std::size_t i) const noexcept { return ref(i).load(kRelaxed); }

  // True when the values are in a counter file that other processes read.
  bool published() const noexcept { return record_ != nullptr; }
  // The record's owner id (0 when not published).
  std::uint64_t owner() const noexcept;
  // Replaces the type and label (cut to fit); readers see the old pair or the
  // new one, never a mix. No effect when not published. Any thread, not
  // concurrently with itself.
  void describe(std::string_view type, std::string_view label) noexcept;

 private:
  friend class CounterFile;
  static constexpr auto kRelaxed = std::memory_order_relaxed;
  CounterBlock(std::byte* record, std::uint64_t* values) noexcept
      : values_(values), record_(record) {}
  std::atomic_ref<std::uint64_t> ref(std::size_t i) const noexcept {
    return std::atomic_ref<std::uint64_t>(values_[i]);
  }
  void release() noexcept;

  std::uint64_t* values_ = nullptr;
  std::byte* record_ = nullptr;              // in a mapped file, or null
  std::unique_ptr<std::uint64_t[]> local_;  // the private values when not published
};

class CounterFile {
 public:
  // Creates the file at `path` (replacing one there) with room for `capacity`
  // records, and maps it. Errors: invalid_argument (capacity 0 or above
  // kMaxCapacity), system (open, ftruncate, mmap, rename failed).
  static Result<std::unique_ptr<CounterFile>> create(const std::filesystem::path& path,
                                                     std::uint32_t capacity =
                                                         counter_layout::kDefaultCapacity);
  // This process's file, made on first use in counter_directory(); null when
  // publishing is off (NEXO_STAT=0) or the file could not be made (the reason
  // is printed once on stderr). Never unmapped: blocks stay valid until exit,
  // when the file is removed.
  static CounterFile* process() noexcept;

  CounterFile(const CounterFile&) = delete;
  CounterFile& operator=(const CounterFile&) = delete;
  // Unmaps and removes the file (the process file: only removes it, and only
  // in the process that made it, not in a forked child).
  ~CounterFile();

  // Takes a record (a free one first, else a never used one) labelled `type`
  // and `label` (cut to fit), with the values `specs` (at most 24, or invalid_argument),
  // all zero. When every record is taken, returns a private block (not
  // published) and counts it in overflowed(). Names that are not [a-z0-9_]
  // or too long are a programming error (invalid_argument).
  Result<CounterBlock> allocate(std::string_view type, std::string_view label,
                                std::span<const CounterSpec> specs);
  const std::filesystem::path& path() const noexcept { return m_.path; }
  std::uint32_t capacity() const noexcept { return m_.capacity; }
  std::uint64_t overflowed() const noexcept { return overflowed_.load(std::memory_order_relaxed); }

  struct Mapping {  // what create() made; only create() has one to give
    std::filesystem::path path;
    std::byte* base;
    std::size_t size;
    std::uint32_t capacity;
    std::uint32_t pid;
  };
  explicit CounterFile(const Mapping& mapping) noexcept : m_(mapping) {}

 private:
  std::byte* record(std::uint64_t i) const noexcept {
    return m_.base + counter_layout::kHeaderSize + counter_layout::kRecordSize * i;
  }
  // A record set busy with a new generation, or null when all are taken.
  // Lock-free (compare-and-swap on the shared state words and the used count),
  // so it stays right even between a parent and a forked child.
  std::byte* take_record() noexcept;

  Mapping m_;
  bool keep_mapped_ = false;  // the process file: removed at exit, never unmapped
  std::atomic<std::uint64_t> overflowed_{0};
};

// A block for `type`/`label` in this process's file, or a private one when
// there is none (or it is full): counting always works, publishing is best
// effort. `specs` must be valid (see CounterFile::allocate): a bad name aborts.
CounterBlock allocate_counters(std::string_view type, std::string_view label,
                               std::span<const CounterSpec> specs);

// --- reading -----------------------------------------------------------------

struct CounterValue {
  std::string name;
  CounterKind kind = CounterKind::counter;
  std::uint64_t value = 0;
};

struct CounterRecord {
  std::uint32_t index = 0;  // its place in the file
  std::uint64_t owner = 0;
  std::string type, label;
  std::vector<CounterValue> values;
};

struct CounterFileContents {
  std::uint32_t pid = 0;
  std::uint64_t start_time_ns = 0;  // since the Unix epoch
  std::string program;
  std::uint32_t capacity = 0, used = 0;  // used: records ever taken (high-water)
  std::vector<CounterRecord> records;    // the live ones, in file order
};

// Reads a counter file (of this process or another). Never crashes on a bad
// file. Errors (message naming the file and what is wrong): truncated (shorter
// than its header, or than the header says), malformed (not a counter file,
// another version, a record out of shape), and the OS's (open, mmap).
Result<CounterFileContents> read_counter_file(const std::filesystem::path& path);

// Where this process publishes (see the top of this file).
std::filesystem::path counter_directory();
// <directory>/nexo-<pid>.stat
std::filesystem::path counter_file_path(std::uint32_t pid,
                                        const std::filesystem::path& directory);

struct CounterFileEntry {
  std::uint32_t pid = 0;
  std::filesystem::path path;
  bool alive = false;  // a process with this pid runs
};
// The counter files in `directory` (nexo-<pid>.stat), by pid. Never fails: an
// unreadable directory lists nothing.
std::vector<CounterFileEntry> list_counter_files(const std::filesystem::path& directory);
// Whether a process with this pid exists (kill(pid, 0)).
bool process_alive(std::uint32_t pid) noexcept;

}  // namespace nexo
