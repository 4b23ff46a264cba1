// nexorun's pieces without a job: the command line, host lists and hostfiles, placement, ring
// sizes, finding the program, the agent messages, and the trace merge.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "agent_protocol.hpp"
#include "options.hpp"
#include "trace_merge.hpp"

namespace nexo::run {
namespace {

Result<Options> parse(std::vector<std::string> argv) {
  return parse_options(argv);
}

TEST(NexorunOptions, OptionsStopAtTheProgram) {
  auto o = parse({"-np", "4", "--tag-output", "--timeout", "9", "prog", "-n", "2", "--x"});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->nranks, 4);
  EXPECT_TRUE(o->tag_output);
  EXPECT_EQ(o->timeout, std::chrono::seconds(9));
  EXPECT_EQ(o->program, "prog");
  EXPECT_EQ(o->args, (std::vector<std::string>{"-n", "2", "--x"}));
  EXPECT_EQ(o->init_timeout, std::chrono::seconds(30));
}

TEST(NexorunOptions, BadOptionsNameThemselves) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"prog"}, "-n N"},
      {{"-n", "0", "prog"}, "-n"},
      {{"-n", "x", "prog"}, "-n"},
      {{"-n", "2"}, "PROGRAM"},
      {{"-n", "2", "--bogus", "prog"}, "--bogus"},
      {{"-n", "2", "--timeout", "0", "prog"}, "--timeout"},
      {{"-n", "2", "--ring-bytes", "1000", "prog"}, "--ring-bytes"},
      {{"-n", "2", "--prefix", "/usr", "prog"}, "--tag-output"},
      {{"-n", "2", "--transport", "udp", "prog"}, "--transport"},
      {{"--agent"}, "--listen"},
      {{"-n", "2", "--timeout"}, "--timeout needs a value"},
  };
  for (const auto& [argv, needle] : bad) {
    auto o = parse(argv);
    ASSERT_FALSE(o) << needle;
    EXPECT_NE(o.error().message().find(needle), std::string::npos) << o.error().message();
  }
}

TEST(NexorunHosts, ListsWithSlotsAndAgents) {
  auto h = parse_host_list("a:2,b,agent://127.0.0.2:4000:3,agent://[::1]:5000,a");
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_EQ(h->size(), 4u);  // "a" twice is one host with 3 slots
  EXPECT_EQ((*h)[0].name, "a");
  EXPECT_EQ((*h)[0].slots, 3);
  EXPECT_EQ((*h)[0].kind, HostKind::ssh);
  EXPECT_EQ((*h)[1].slots, 1);
  EXPECT_EQ((*h)[2].kind, HostKind::agent);
  EXPECT_EQ((*h)[2].address, "127.0.0.2:4000");
  EXPECT_EQ((*h)[2].slots, 3);
  EXPECT_EQ((*h)[3].address, "[::1]:5000");
  EXPECT_EQ((*h)[3].slots, 1);
  auto local = parse_host_list("localhost:2");
  ASSERT_TRUE(local);
  EXPECT_EQ((*local)[0].kind, HostKind::local);
  EXPECT_FALSE(parse_host_list("a:0"));
  EXPECT_FALSE(parse_host_list("a,,b"));
  EXPECT_FALSE(parse_host_list("agent://127.0.0.2"));
}

TEST(NexorunHosts, Hostfile) {
  auto h =
      parse_hostfile("# cluster\n a slots=2 \n\nagent://127.0.0.3:7 slots=4 max_slots=8\n", "hf");
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].slots, 2);
  EXPECT_EQ((*h)[1].slots, 4);
  auto bad = parse_hostfile("a\nb slot=2\n", "hf");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("hf:2"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(parse_hostfile("# nothing\n", "hf"));
}

TEST(NexorunHosts, PlacementFillsSlotsThenWraps) {
  std::vector<HostSpec> hosts = {{"a", HostKind::ssh, "a", 2}, {"b", HostKind::ssh, "b", 1}};
  EXPECT_EQ(place_ranks(3, hosts), (std::vector<int>{0, 0, 1}));
  EXPECT_EQ(place_ranks(6, hosts), (std::vector<int>{0, 0, 1, 0, 1, 0}));
  EXPECT_EQ(place_ranks(1, hosts), (std::vector<int>{0}));
}

TEST(NexorunRings, DefaultSizeShrinksWithManyRanks) {
  EXPECT_EQ(default_ring_bytes(2), 256u * 1024);
  EXPECT_EQ(default_ring_bytes(32), 256u * 1024);
  EXPECT_EQ(default_ring_bytes(64), 64u * 1024);
  EXPECT_EQ(default_ring_bytes(4096), 16u * 1024);
}

TEST(NexorunProgram, FoundOrExplained) {
  auto sh = find_program("sh");
  ASSERT_TRUE(sh) << sh.error().message();
  EXPECT_NE(sh->find("/sh"), std::string::npos);
  auto missing = find_program("no-such-program-xyz");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("not found in PATH"), std::string::npos);
  auto path = find_program("/nonexistent/prog");
  ASSERT_FALSE(path);
  EXPECT_NE(path.error().message().find("does not exist"), std::string::npos);
  auto dir = find_program("/tmp");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message().find("directory"), std::string::npos);
}

// A relative path is taken from the ranks' directory, not ours; an absolute one as it is.
TEST(NexorunProgram, RelativeToTheRanksDirectory) {
  auto in_usr = find_program("bin/sh", "/usr");
  ASSERT_TRUE(in_usr) << in_usr.error().message();
  EXPECT_EQ(*in_usr, "/usr/bin/sh");
  auto absolute = find_program("/usr/bin/sh", "/nonexistent");
  ASSERT_TRUE(absolute) << absolute.error().message();
  EXPECT_EQ(*absolute, "/usr/bin/sh");
  auto missing = find_program("./prog", "/nonexistent");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("program ./prog does not exist in /nonexistent"),
            std::string::npos)
      << missing.error().message();
}

// The body of a framed message.
std::span<const std::byte> body(const Bytes& framed) {
  return std::span<const std::byte>(framed).subspan(mpi::kControlHeaderSize);
}

TEST(NexorunAgentProtocol, RoundTripAndTruncations) {
  LaunchSpec s;
  s.job = std::string(32, 'a');
  s.world_size = 4;
  s.control = "127.0.0.1:9";
  s.host = "h";
  s.bind = "127.0.0.2";
  s.transport = mpi::RankTransport::tcp;
  s.trace = "/tmp/x";
  s.ring_bytes = 4096;
  s.program = "/bin/true";
  s.cwd = "/home/user/job";
  s.args = {"a", "", "c d"};
  s.ranks = {1, 3};
  auto framed = encode_launch(s);
  ASSERT_TRUE(framed);
  auto d = decode_launch(body(*framed));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->args, s.args);
  EXPECT_EQ(d->ranks, s.ranks);
  EXPECT_EQ(d->transport, s.transport);
  EXPECT_EQ(d->ring_bytes, 4096u);
  EXPECT_EQ(d->cwd, s.cwd);
  for (std::size_t n = 0; n < body(*framed).size(); ++n)
    EXPECT_FALSE(decode_launch(body(*framed).first(n))) << n;

  auto out = encode_output(2, 1, "line");
  ASSERT_TRUE(out);
  auto o = decode_output(body(*out));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->line, "line");
  auto ex = encode_exited(3, ExitStatus{true, 11});
  auto e = decode_exited(body(*ex));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->first, 3);
  EXPECT_EQ(e->second.shell_code(), 139);
  auto st = encode_started({{1, 100}, {3, 101}});
  auto s2 = decode_started(body(*st));
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->size(), 2u);
}

TEST(NexorunAgentProtocol, RanksOutOfTheWorldAreMalformed) {
  LaunchSpec s;
  s.job = std::string(32, 'a');
  s.world_size = 2;
  s.program = "p";
  s.ranks = {2};
  auto d = decode_launch(body(*encode_launch(s)));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind(), ErrorKind::malformed);
  EXPECT_NE(d.error().message().find("LAUNCH"), std::string::npos);
}

// The ranks' directory is a place on the agent's host: a relative one would mean the agent's own.
TEST(NexorunAgentProtocol, RelativeWorkingDirectoryIsMalformed) {
  LaunchSpec s;
  s.job = std::string(32, 'a');
  s.world_size = 1;
  s.program = "p";
  s.cwd = "job";
  s.ranks = {0};
  auto d = decode_launch(body(*encode_launch(s)));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind(), ErrorKind::malformed);
  EXPECT_NE(d.error().message().find("cwd"), std::string::npos) << d.error().message();
  s.cwd = "";
  EXPECT_TRUE(decode_launch(body(*encode_launch(s))));
}

class TraceMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/nexorun-trace-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (int r = 0; r < 4; ++r)
      std::remove(trace_file(dir_ + "/t", r).c_str());
    std::remove((dir_ + "/out.json").c_str());
    ::rmdir(dir_.c_str());
  }
  void write(int rank, const std::string& text) {
    std::ofstream(trace_file(dir_ + "/t", rank)) << text;
  }
  std::string read_out() {
    std::ifstream in(dir_ + "/out.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(TraceMergeTest, ArraysAreJoinedMissingAndBadFilesWarned) {
  write(0, "[{\"ph\":\"B\",\"pid\":0},\n {\"ph\":\"E\",\"pid\":0}]\n");
  write(1, "  []  ");
  // rank 2: missing
  write(3, "{\"not\":\"an array\"}");
  auto m = merge_traces(dir_ + "/t", 4, dir_ + "/out.json");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->merged, 2);
  ASSERT_EQ(m->warnings.size(), 2u);
  EXPECT_NE(m->warnings[0].find("rank 2"), std::string::npos);
  EXPECT_NE(m->warnings[1].find("rank 3"), std::string::npos);
  EXPECT_EQ(read_out(), "[{\"ph\":\"B\",\"pid\":0},\n {\"ph\":\"E\",\"pid\":0}]\n");
}

TEST_F(TraceMergeTest, SeveralRanksAreCommaSeparated) {
  write(0, "[{\"a\":0}]");
  write(1, "[{\"a\":1},{\"a\":2}]");
  auto m = merge_traces(dir_ + "/t", 2, dir_ + "/out.json");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->warnings.empty());
  EXPECT_EQ(read_out(), "[{\"a\":0},\n{\"a\":1},{\"a\":2}]\n");
}

TEST_F(TraceMergeTest, UnwritableOutputIsAnError) {
  auto m = merge_traces(dir_ + "/t", 1, "/nonexistent-dir/out.json");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("out.json"), std::string::npos);
}

}  // namespace
}  // namespace nexo::run
