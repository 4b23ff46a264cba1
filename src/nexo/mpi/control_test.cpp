// The control protocol: the rank environment's parsing, every message's encoding and its
// refusal of bad bytes, the stream decoder, the launcher's HELLO collector, and a ControlClient
// against a launcher played by a thread on loopback.
#include "nexo/mpi/control.hpp"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "nexo/net/tcp_listener.hpp"

namespace nexo::mpi {
namespace {

using Env = std::map<std::string, std::string>;

Result<std::optional<RankEnv>> parse(const Env& env) {
  return parse_rank_env([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

const std::string kJob = "0123456789abcdef0123456789abcdef";

Env good_env() {
  return {{"NEXO_MPI_RANK", "2"},        {"NEXO_MPI_SIZE", "4"},
          {"NEXO_MPI_JOB", kJob},        {"NEXO_MPI_CONTROL", "127.0.0.1:4000"},
          {"NEXO_MPI_HOST", "node1"},    {"NEXO_MPI_SHM", "fd:5"},
          {"NEXO_MPI_LOCAL_RANK", "1"},  {"NEXO_MPI_LOCAL_SIZE", "2"},
          {"NEXO_MPI_TRANSPORT", "tcp"}, {"NEXO_MPI_BIND", "10.0.0.2"},
          {"NEXO_MPI_TRACE", "/tmp/t/x"}};
}

TEST(RankEnv, NoRankIsASingleton) {
  auto env = parse({{"NEXO_MPI_SIZE", "4"}});
  ASSERT_TRUE(env) << env.error().to_string();
  EXPECT_FALSE(env->has_value());
}

TEST(RankEnv, EveryVariableIsRead) {
  auto env = parse(good_env());
  ASSERT_TRUE(env) << env.error().to_string();
  ASSERT_TRUE(env->has_value());
  const RankEnv& e = **env;
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.size, 4);
  EXPECT_EQ(e.job, kJob);
  EXPECT_EQ(e.control, "127.0.0.1:4000");
  EXPECT_EQ(e.host, "node1");
  EXPECT_EQ(e.shm, "fd:5");
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_size, 2);
  EXPECT_EQ(e.transport, RankTransport::tcp);
  EXPECT_EQ(e.bind, "10.0.0.2");
  EXPECT_EQ(e.trace, "/tmp/t/x");
}

TEST(RankEnv, OptionalVariablesHaveDefaults) {
  Env env = good_env();
  for (const char* name : {"NEXO_MPI_SHM", "NEXO_MPI_LOCAL_RANK", "NEXO_MPI_LOCAL_SIZE",
                           "NEXO_MPI_TRANSPORT", "NEXO_MPI_BIND", "NEXO_MPI_TRACE"})
    env.erase(name);
  auto e = parse(env);
  ASSERT_TRUE(e) << e.error().to_string();
  EXPECT_FALSE((*e)->shm);
  EXPECT_EQ((*e)->local_rank, 0);
  EXPECT_EQ((*e)->local_size, 1);
  EXPECT_EQ((*e)->transport, RankTransport::automatic);
  EXPECT_EQ((*e)->bind, "127.0.0.1");
  EXPECT_FALSE((*e)->trace);
}

TEST(RankEnv, BadValuesNameTheVariable) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"NEXO_MPI_RANK", "4"},         {"NEXO_MPI_RANK", "-1"},
      {"NEXO_MPI_RANK", "1x"},        {"NEXO_MPI_RANK", ""},
      {"NEXO_MPI_SIZE", "0"},         {"NEXO_MPI_SIZE", "99999"},
      {"NEXO_MPI_JOB", "abc"},        {"NEXO_MPI_JOB", std::string(32, 'G')},
      {"NEXO_MPI_CONTROL", "nohost"}, {"NEXO_MPI_CONTROL", "h:0"},
      {"NEXO_MPI_CONTROL", "::1:80"}, {"NEXO_MPI_HOST", ""},
      {"NEXO_MPI_SHM", "5"},          {"NEXO_MPI_LOCAL_RANK", "2"},
      {"NEXO_MPI_LOCAL_SIZE", "x"},   {"NEXO_MPI_TRANSPORT", "udp"},
      {"NEXO_MPI_BIND", "not-an-ip"}, {"NEXO_MPI_TRACE", ""},
  };
  for (const auto& [name, value] : bad) {
    Env env = good_env();
    env[name] = value;
    auto e = parse(env);
    ASSERT_FALSE(e) << name << "=" << value << " was accepted";
    EXPECT_EQ(e.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(e.error().message().find(name), std::string::npos) << e.error().message();
  }
  for (const char* name : {"NEXO_MPI_SIZE", "NEXO_MPI_JOB", "NEXO_MPI_CONTROL", "NEXO_MPI_HOST",
                           "NEXO_MPI_LOCAL_RANK", "NEXO_MPI_LOCAL_SIZE"}) {
    Env env = good_env();
    env.erase(name);
    auto e = parse(env);
    ASSERT_FALSE(e) << "missing " << name << " was accepted";
    EXPECT_NE(e.error().message().find(name), std::string::npos) << e.error().message();
  }
}

TEST(HostPort, Splits) {
  auto a = split_host_port("[::1]:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 80);
  auto b = split_host_port("node-1:65535");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "node-1");
  EXPECT_FALSE(split_host_port(":80"));
  EXPECT_FALSE(split_host_port("h:65536"));
  EXPECT_FALSE(split_host_port("[::1]80"));
}

Hello sample_hello() {
  return Hello{kJob, 3, 4, 1234, "node1", "127.0.0.1:5555"};
}

WorldTable sample_table() {
  return {{"a", 0, 10, "127.0.0.1:1"}, {"a", 1, 11, ""}, {"b", 0, 12, "[::1]:3"}};
}

// Decodes the body of the framed `bytes` with `decode`, checking the frame's type first.
template <class F>
auto decode_framed(const Bytes& bytes, ControlType type, F decode) {
  ControlDecoder d;
  d.feed(bytes);
  auto m = d.next();
  EXPECT_TRUE(m && m->has_value());
  EXPECT_EQ((*m)->type, static_cast<std::uint8_t>(type));
  return decode((*m)->body);
}

TEST(ControlMessages, RoundTrip) {
  auto hello = encode_hello(sample_hello());
  ASSERT_TRUE(hello);
  auto h = decode_framed(*hello, ControlType::hello, decode_hello);
  ASSERT_TRUE(h) << h.error().to_string();
  EXPECT_EQ(*h, sample_hello());

  auto table = encode_table(sample_table());
  ASSERT_TRUE(table);
  auto t = decode_framed(*table, ControlType::table, decode_table);
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_EQ(*t, sample_table());

  auto abort = encode_abort({-7, "out of cheese"});
  ASSERT_TRUE(abort);
  auto a = decode_framed(*abort, ControlType::abort, decode_abort);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->errorcode, -7);
  EXPECT_EQ(a->why, "out of cheese");

  auto refused = encode_refused("wrong job");
  ASSERT_TRUE(refused);
  auto r = decode_framed(*refused, ControlType::refused, decode_refused);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "wrong job");
}

// Every shorter body, and the body with a byte more, is malformed and names the message.
template <class F>
void check_truncations(const Bytes& framed, std::string_view name, F decode) {
  const std::span<const std::byte> body(framed.data() + kControlHeaderSize,
                                        framed.size() - kControlHeaderSize);
  for (std::size_t n = 0; n < body.size(); ++n) {
    auto d = decode(body.first(n));
    ASSERT_FALSE(d) << name << " cut to " << n << " bytes was accepted";
    EXPECT_EQ(d.error().kind(), ErrorKind::malformed);
    EXPECT_NE(d.error().message().find(name), std::string::npos) << d.error().message();
  }
  Bytes longer(body.begin(), body.end());
  longer.push_back(std::byte{0});
  auto d = decode(longer);
  ASSERT_FALSE(d) << name << " with a trailing byte was accepted";
  EXPECT_NE(d.error().message().find("trailing"), std::string::npos);
}

TEST(ControlMessages, TruncatedOrLongerBodiesAreMalformed) {
  check_truncations(*encode_hello(sample_hello()), "HELLO", decode_hello);
  check_truncations(*encode_table(sample_table()), "TABLE", decode_table);
  check_truncations(*encode_abort({3, "why"}), "ABORT", decode_abort);
  check_truncations(*encode_refused("no"), "REFUSED", decode_refused);
  const Bytes one{std::byte{0}};
  EXPECT_FALSE(decode_empty(ControlType::finalized, one));
  EXPECT_TRUE(decode_empty(ControlType::finalized, {}));
}

TEST(ControlMessages, BadFieldsAreMalformed) {
  Hello h = sample_hello();
  h.job = std::string(32, 'Z');
  EXPECT_FALSE(decode_framed(*encode_hello(h), ControlType::hello, decode_hello));
  h = sample_hello();
  h.rank = 4;  // == size
  auto d = decode_framed(*encode_hello(h), ControlType::hello, decode_hello);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("rank"), std::string::npos);
  // A TABLE claiming more ranks than the limit is refused before anything is allocated.
  ControlWriter w(static_cast<std::uint8_t>(ControlType::table));
  w.u32(0xffffffffu);
  auto t = decode_framed(*w.finish(), ControlType::table, decode_table);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("size"), std::string::npos);
  // A string over its limit.
  ControlWriter s(static_cast<std::uint8_t>(ControlType::refused));
  s.u8(0xff).u8(0xff);
  EXPECT_FALSE(decode_framed(*s.finish(), ControlType::refused, decode_refused));
}

TEST(ControlMessages, WriterRefusesOverlongStrings) {
  Hello h = sample_hello();
  h.host = std::string(kMaxHostName + 1, 'h');
  auto e = encode_hello(h);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind(), ErrorKind::invalid_argument);
}

TEST(ControlDecoder, SplitsAStreamFedByteByByte) {
  Bytes stream = *encode_hello(sample_hello());
  const Bytes fin = encode_empty(ControlType::finalized);
  stream.insert(stream.end(), fin.begin(), fin.end());
  ControlDecoder d;
  std::vector<ControlMessage> got;
  for (std::byte b : stream) {
    d.feed(std::span(&b, 1));
    for (;;) {
      auto m = d.next();
      ASSERT_TRUE(m);
      if (!m->has_value()) break;
      got.push_back(std::move(**m));
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, static_cast<std::uint8_t>(ControlType::hello));
  EXPECT_EQ(got[1].type, static_cast<std::uint8_t>(ControlType::finalized));
  EXPECT_TRUE(got[1].body.empty());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(ControlDecoder, BadLengthsAreMalformed) {
  for (std::uint32_t length :
       {0u, static_cast<std::uint32_t>(kMaxControlMessage + 1), 0xffffffffu}) {
    ControlDecoder d;
    Bytes b(4);
    for (int i = 0; i < 4; ++i)
      b[static_cast<std::size_t>(i)] = static_cast<std::byte>(length >> (8 * i));
    d.feed(b);
    auto m = d.next();
    ASSERT_FALSE(m) << length;
    EXPECT_EQ(m.error().kind(), ErrorKind::malformed);
  }
}

std::vector<HelloCollector::Placement> two_hosts() {
  return {{"a", 0}, {"a", 1}, {"b", 0}};
}

TEST(HelloCollector, BuildsTheTableOnceEveryRankArrived) {
  HelloCollector c(kJob, two_hosts());
  EXPECT_EQ(c.missing(), (std::vector<int>{0, 1, 2}));
  ASSERT_TRUE(c.add({kJob, 2, 3, 30, "b", "x:2"}));
  ASSERT_TRUE(c.add({kJob, 0, 3, 10, "a", "x:0"}));
  EXPECT_FALSE(c.complete());
  EXPECT_EQ(c.missing(), (std::vector<int>{1}));
  EXPECT_EQ(rank_list(c.missing()), "1");
  ASSERT_TRUE(c.add({kJob, 1, 3, 20, "a", "x:1"}));
  ASSERT_TRUE(c.complete());
  const WorldTable t = c.table();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[1], (RankInfo{"a", 1, 20, "x:1"}));
  EXPECT_EQ(t[2], (RankInfo{"b", 0, 30, "x:2"}));
}

TEST(HelloCollector, RefusesWrongHellos) {
  HelloCollector c(kJob, two_hosts());
  const std::string other(32, 'f');
  EXPECT_FALSE(c.add({other, 0, 3, 1, "a", ""}));
  EXPECT_FALSE(c.add({kJob, 0, 4, 1, "a", ""}));
  EXPECT_FALSE(c.add({kJob, 0, 3, 1, "b", ""}));
  ASSERT_TRUE(c.add({kJob, 0, 3, 1, "a", ""}));
  auto again = c.add({kJob, 0, 3, 2, "a", ""});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind(), ErrorKind::refused);
  EXPECT_NE(again.error().message().find("second HELLO of rank 0"), std::string::npos);
  EXPECT_EQ(rank_list(c.missing()), "1, 2");
}

// A launcher played by a thread: accepts one rank, answers its HELLO with `reply`, then
// acknowledges FINALIZED and ABORT.
TEST(ControlClient, ExchangeFinalizedAndAbortAgainstALauncher) {
  auto listener = net::TcpListener::bind(net::Endpoint(net::InetAddress::loopback(), 0));
  ASSERT_TRUE(listener);
  const std::string address = listener->local_endpoint().to_string();
  std::string launcher_error;
  AbortRequest abort_seen;
  std::thread launcher([&] {
    auto conn = listener->accept(std::chrono::seconds(30));
    if (!conn) return void(launcher_error = conn.error().to_string());
    (void)conn->set_read_timeout(std::chrono::seconds(30));
    auto hello = read_message(*conn, kMaxControlMessage, "rank");
    if (!hello) return void(launcher_error = hello.error().to_string());
    auto h = decode_hello(hello->body);
    if (!h) return void(launcher_error = h.error().to_string());
    WorldTable table(static_cast<std::size_t>(h->size));
    table[static_cast<std::size_t>(h->rank)] = {h->host, 0, h->pid, h->tcp};
    (void)conn->write_all(*encode_table(table));
    auto fin = read_message(*conn, kMaxControlMessage, "rank");
    if (!fin || fin->type != static_cast<std::uint8_t>(ControlType::finalized))
      return void(launcher_error = "no FINALIZED");
    (void)conn->write_all(encode_empty(ControlType::finalized_ack));
    auto abort = read_message(*conn, kMaxControlMessage, "rank");
    if (!abort) return void(launcher_error = abort.error().to_string());
    auto a = decode_abort(abort->body);
    if (a) abort_seen = *a;
    (void)conn->write_all(encode_empty(ControlType::abort_ack));
  });
  auto client = ControlClient::connect(address, std::chrono::seconds(30));
  ASSERT_TRUE(client) << client.error().to_string();
  auto table = client->exchange({kJob, 1, 2, 77, "here", "127.0.0.1:9"}, std::chrono::seconds(30));
  ASSERT_TRUE(table) << table.error().to_string();
  ASSERT_EQ(table->size(), 2u);
  EXPECT_EQ((*table)[1].pid, 77);
  EXPECT_TRUE(client->finalized());
  EXPECT_TRUE(client->abort(9, "bye"));
  launcher.join();
  EXPECT_EQ(launcher_error, "");
  EXPECT_EQ(abort_seen.errorcode, 9);
  EXPECT_EQ(abort_seen.why, "bye");
}

TEST(ControlClient, RefusalAndClosedLauncherAreErrors) {
  auto listener = net::TcpListener::bind(net::Endpoint(net::InetAddress::loopback(), 0));
  ASSERT_TRUE(listener);
  std::thread launcher([&] {
    for (int i = 0; i < 2; ++i) {
      auto conn = listener->accept(std::chrono::seconds(30));
      if (!conn) return;
      (void)conn->set_read_timeout(std::chrono::seconds(30));
      (void)read_message(*conn, kMaxControlMessage, "rank");
      if (i == 0) (void)conn->write_all(*encode_refused("HELLO of another job"));
    }
  });
  const std::string address = listener->local_endpoint().to_string();
  auto first = ControlClient::connect(address, std::chrono::seconds(30));
  ASSERT_TRUE(first);
  auto refused = first->exchange({kJob, 0, 1, 1, "h", ""}, std::chrono::seconds(30));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::refused);
  EXPECT_NE(refused.error().message().find("another job"), std::string::npos);
  auto second = ControlClient::connect(address, std::chrono::seconds(30));
  ASSERT_TRUE(second);
  auto closed = second->exchange({kJob, 0, 1, 1, "h", ""}, std::chrono::seconds(30));
  ASSERT_FALSE(closed);
  EXPECT_NE(closed.error().message().find("TABLE"), std::string::npos) << closed.error().message();
  launcher.join();
}

TEST(ControlClient, BadAddressIsInvalidArgument) {
  auto c = ControlClient::connect("no-port", std::chrono::seconds(1));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind(), ErrorKind::invalid_argument);
}

}  // namespace
}  // namespace nexo::mpi
