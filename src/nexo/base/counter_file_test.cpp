#include "nexo/base/counter_file.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace nexo {
namespace {

namespace fs = std::filesystem;
using namespace counter_layout;

constexpr std::array<CounterSpec, 3> kSpecs{{
    {"messages_in"},
    {"bytes_in"},
    {"queue_high_water", CounterKind::gauge},
}};

class CounterFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "nexo-counter-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<CounterFile> make(std::uint32_t capacity = 8) {
    auto file = CounterFile::create(dir_ / "nexo-1.stat", capacity);
    EXPECT_TRUE(file) << file.error().to_string();
    return file ? std::move(*file) : nullptr;
  }
  // The file's bytes, changed by `edit`, written to a new file; its path.
  fs::path corrupted_copy(const fs::path& from, std::size_t keep,
                          void (*edit)(std::string&) = nullptr) {
    std::ifstream in(from, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes.resize(std::min(bytes.size(), keep));
    if (edit != nullptr) edit(bytes);
    const fs::path to = dir_ / "bad.stat";
    std::ofstream(to, std::ios::binary | std::ios::trunc) << bytes;
    return to;
  }

  fs::path dir_;
};

TEST_F(CounterFileTest, AReaderSeesWhatTheWriterWrote) {
  auto file = make();
  ASSERT_TRUE(file);
  auto block = file->allocate("port", "udp://127.0.0.1:5000", kSpecs);
  ASSERT_TRUE(block) << block.error().to_string();
  EXPECT_TRUE(block->published());
  block->add(0);
  block->add(0);
  block->add(1, 120);
  block->raise_to(2, 7);
  block->raise_to(2, 3);  // lower: the high-water mark stays

  auto contents = read_counter_file(file->path());
  ASSERT_TRUE(contents) << contents.error().to_string();
  EXPECT_EQ(contents->pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_GT(contents->start_time_ns, 0u);
  EXPECT_FALSE(contents->program.empty());
  EXPECT_EQ(contents->capacity, 8u);
  ASSERT_EQ(contents->records.size(), 1u);
  const CounterRecord& r = contents->records[0];
  EXPECT_EQ(r.type, "port");
  EXPECT_EQ(r.label, "udp://127.0.0.1:5000");
  EXPECT_EQ(r.owner, block->owner());
  ASSERT_EQ(r.values.size(), 3u);
  EXPECT_EQ(r.values[0].name, "messages_in");
  EXPECT_EQ(r.values[0].value, 2u);
  EXPECT_EQ(r.values[1].value, 120u);
  EXPECT_EQ(r.values[2].name, "queue_high_water");
  EXPECT_EQ(r.values[2].kind, CounterKind::gauge);
  EXPECT_EQ(r.values[2].value, 7u);
}

TEST_F(CounterFileTest, AFreedRecordIsHiddenThenReusedWithZeroedValues) {
  auto file = make();
  ASSERT_TRUE(file);
  auto first = file->allocate("sender", "tcp://a:1", kSpecs);
  auto second = file->allocate("sender", "tcp://b:2", kSpecs);
  ASSERT_TRUE(first && second);
  first->add(0, 5);
  const std::uint64_t first_owner = first->owner();
  *first = CounterBlock();  // frees the record

  auto contents = read_counter_file(file->path());
  ASSERT_TRUE(contents);
  ASSERT_EQ(contents->records.size(), 1u);
  EXPECT_EQ(contents->records[0].label, "tcp://b:2");
  EXPECT_EQ(contents->used, 2u);

  auto third = file->allocate("port", "tcp://c:3", kSpecs);
  ASSERT_TRUE(third);
  EXPECT_NE(third->owner(), first_owner);
  contents = read_counter_file(file->path());
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->used, 2u) << "the freed record is taken again, not a new one";
  ASSERT_EQ(contents->records.size(), 2u);
  EXPECT_EQ(contents->records[0].index, 0u);
  EXPECT_EQ(contents->records[0].label, "tcp://c:3");
  EXPECT_EQ(contents->records[0].values[0].value, 0u);
}

TEST_F(CounterFileTest, AFullFileGivesPrivateBlocksThatStillCount) {
  auto file = make(1);
  ASSERT_TRUE(file);
  auto one = file->allocate("port", "a", kSpecs);
  auto two = file->allocate("port", "b", kSpecs);
  ASSERT_TRUE(one && two);
  EXPECT_TRUE(one->published());
  EXPECT_FALSE(two->published());
  EXPECT_EQ(file->overflowed(), 1u);
  two->add(1, 9);
  EXPECT_EQ(two->get(1), 9u);
  auto contents = read_counter_file(file->path());
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->records.size(), 1u);
}

TEST_F(CounterFileTest, LabelsAreCutToFitAndCanChange) {
  auto file = make();
  ASSERT_TRUE(file);
  auto block = file->allocate("port", std::string(200, 'x'), kSpecs);
  ASSERT_TRUE(block);
  auto contents = read_counter_file(file->path());
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->records[0].label, std::string(kLabelSize - 1, 'x'));
  block->describe("sender", "udp://[::1]:4000");
  contents = read_counter_file(file->path());
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->records[0].type, "sender");
  EXPECT_EQ(contents->records[0].label, "udp://[::1]:4000");
}

TEST_F(CounterFileTest, BadSpecsAreRefused) {
  auto file = make();
  ASSERT_TRUE(file);
  const std::array<CounterSpec, 1> upper{{{"Bytes"}}};
  auto bad = file->allocate("port", "x", upper);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().is(ErrorKind::invalid_argument));
  EXPECT_NE(bad.error().message().find("'Bytes'"), std::string::npos) << bad.error().message();
  std::vector<CounterSpec> many(kMaxValues + 1, CounterSpec{"n"});
  EXPECT_FALSE(file->allocate("port", "x", many));
  EXPECT_FALSE(CounterFile::create(dir_ / "zero.stat", 0));
}

TEST_F(CounterFileTest, TruncatedFilesAreRefusedWithTheReason) {
  auto file = make();
  ASSERT_TRUE(file);
  auto short_header = read_counter_file(corrupted_copy(file->path(), 100));
  ASSERT_FALSE(short_header);
  EXPECT_TRUE(short_header.error().is(ErrorKind::truncated));
  EXPECT_NE(short_header.error().message().find("shorter than its 256-byte header"),
            std::string::npos)
      << short_header.error().message();

  auto short_records = read_counter_file(corrupted_copy(file->path(), kHeaderSize + 1500));
  ASSERT_FALSE(short_records);
  EXPECT_TRUE(short_records.error().is(ErrorKind::truncated));
  EXPECT_NE(short_records.error().message().find("1756 bytes, its header says 8448 (8 records)"),
            std::string::npos)
      << short_records.error().message();

  auto empty = read_counter_file(corrupted_copy(file->path(), 0));
  ASSERT_FALSE(empty);
  EXPECT_TRUE(empty.error().is(ErrorKind::truncated));
  auto missing = read_counter_file(dir_ / "nexo-999999.stat");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("nexo-999999.stat: open"), std::string::npos);
}

void expect_malformed(const Result<CounterFileContents>& contents, std::string_view why) {
  ASSERT_FALSE(contents) << "read a bad file without complaint";
  EXPECT_TRUE(contents.error().is(ErrorKind::malformed)) << contents.error().to_string();
  EXPECT_NE(contents.error().message().find(why), std::string::npos)
      << contents.error().message() << " lacks " << why;
}

TEST_F(CounterFileTest, CorruptedFilesAreRefusedWithTheReason) {
  auto file = make();
  ASSERT_TRUE(file);
  auto block = file->allocate("port", "udp://x:1", kSpecs);
  ASSERT_TRUE(block);
  const fs::path path = file->path();
  const std::size_t all = kHeaderSize + kRecordSize * 8;

  expect_malformed(read_counter_file(corrupted_copy(path, all, [](std::string& b) { b[0] = 'X'; })),
                   "not a nexo counter file");
  expect_malformed(
      read_counter_file(corrupted_copy(path, all, [](std::string& b) { b[kVersionAt] = 9; })),
      "version 9, this reader knows version 1");
  expect_malformed(read_counter_file(corrupted_copy(path, all,
                                                    [](std::string& b) {
                                                      b[kCapacityAt + 3] = 0x7f;  // huge
                                                    })),
                   "capacity");
  expect_malformed(
      read_counter_file(corrupted_copy(path, all, [](std::string& b) { b[kUsedAt] = 9; })),
      "9 records used of 8");
  expect_malformed(
      read_counter_file(corrupted_copy(path, all, [](std::string& b) { b[kHeaderSize] = 7; })),
      "record 0: state 7");
  expect_malformed(read_counter_file(corrupted_copy(
                       path, all, [](std::string& b) { b[kHeaderSize + kCountAt] = 25; })),
                   "record 0: 25 values, at most 24");
  expect_malformed(read_counter_file(corrupted_copy(path, all,
                                                    [](std::string& b) {
                                                      std::memset(b.data() + kHeaderSize + kLabelAt,
                                                                  'a', kLabelSize);
                                                    })),
                   "record 0: type or label not terminated");
  expect_malformed(read_counter_file(corrupted_copy(
                       path, all, [](std::string& b) { b[kHeaderSize + kKindsAt + 1] = 5; })),
                   "record 0: value bytes_in: kind 5");
}

TEST_F(CounterFileTest, ListsFilesByPidAndTellsTheDeadFromTheLiving) {
  const auto me = static_cast<std::uint32_t>(::getpid());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: the pid is dead now
  std::ofstream(counter_file_path(me, dir_)) << "x";
  std::ofstream(counter_file_path(static_cast<std::uint32_t>(child), dir_)) << "x";
  std::ofstream(dir_ / "nexo-12x.stat") << "x";  // not ours: ignored
  std::ofstream(dir_ / "other.stat") << "x";

  const auto entries = list_counter_files(dir_);
  ASSERT_EQ(entries.size(), 2u);
  for (const auto& e : entries) {
    EXPECT_EQ(e.path, counter_file_path(e.pid, dir_));
    EXPECT_EQ(e.alive, e.pid == me) << e.pid;
  }
  EXPECT_TRUE(list_counter_files(dir_ / "absent").empty());
}

// The process file: made in $NEXO_STAT_DIR on first use, and a forked child
// gets its own, removed when the child exits normally.
TEST_F(CounterFileTest, TheProcessFileIsPerProcessAndRemovedAtExit) {
  ASSERT_EQ(::setenv("NEXO_STAT_DIR", dir_.c_str(), 1), 0);
  CounterBlock block = allocate_counters("port", "inproc://x", kSpecs);
  ASSERT_TRUE(block.published()) << "no process file in " << dir_;
  const fs::path mine = counter_file_path(static_cast<std::uint32_t>(::getpid()), dir_);
  ASSERT_TRUE(fs::exists(mine));
  block.add(0, 3);

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    CounterBlock own = allocate_counters("sender", "child", kSpecs);
    const fs::path theirs = counter_file_path(static_cast<std::uint32_t>(::getpid()), dir_);
    const bool ok = own.published() && fs::exists(theirs) && theirs != mine;
    std::exit(ok ? 0 : 1);  // a normal exit: the child's file is removed, not the parent's
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(fs::exists(counter_file_path(static_cast<std::uint32_t>(child), dir_)));
  auto contents = read_counter_file(mine);
  ASSERT_TRUE(contents) << contents.error().to_string();
  ASSERT_EQ(contents->records.size(), 1u);
  EXPECT_EQ(contents->records[0].values[0].value, 3u);
}

}  // namespace
}  // namespace nexo
