// Interop with libtorrent 2.0 (python3-libtorrent), as independent peers on 127.0.0.1:
// 5 libtorrent DHT nodes (tests/overlay/lt_dht.py, one child process) and 5 nexo Nodes
// (one UdpHost) are introduced to each other, then
//   - an immutable item put by libtorrent is got by nexo, and one put by nexo is got by
//     libtorrent;
//   - a mutable item (ed25519, BEP 44) likewise, both ways;
//   - libtorrent's routing tables list the nexo nodes, and nexo's hold libtorrent's.
// Without python3-libtorrent the test skips, except under CI=true where it fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nexo/overlay/node.hpp"
#include "nexo/overlay/udp_host.hpp"
#include "skip_or_fail.hpp"

extern char** environ;

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;

constexpr std::size_t kLt = 5;
constexpr std::size_t kNexo = 5;
// A failure bound for each wait (libtorrent's own gets give up after 10 s).
constexpr auto kDeadline = 40s;

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}
std::string to_hex(std::string_view bytes) {
  return to_hex(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

bool libtorrent_available() {
  return std::system("/usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1") == 0;
}

// lt_dht.py as a child process: its stdin a pipe we write lines to, its stdout one we read
// lines from. Reading runs `idle` between polls (the nexo nodes' event loop: they must
// answer libtorrent while we wait for it).
class LtProcess {
 public:
  explicit LtProcess(std::size_t nodes) {
    ::signal(SIGPIPE, SIG_IGN);
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
      failure_ = std::string("pipe: ") + std::strerror(errno);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    const std::string script = std::string(NEXO_SOURCE_DIR) + "/tests/overlay/lt_dht.py";
    const std::string count = std::to_string(nodes);
    std::vector<const char*> argv = {"/usr/bin/python3", script.c_str(), "--nodes", count.c_str(),
                                     "--timeout",        "10",           nullptr};
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr,
                               const_cast<char* const*>(argv.data()), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    if (rc != 0) {
      failure_ = std::string("posix_spawn /usr/bin/python3: ") + std::strerror(rc);
      pid_ = -1;
    }
  }
  ~LtProcess() {
    if (stdin_ >= 0) {
      send("quit");
      ::close(stdin_);
    }
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ > 0) {
      // It exits at quit; a bound in case it does not.
      for (int i = 0; i < 100; ++i) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
        ::usleep(20'000);
      }
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  LtProcess(const LtProcess&) = delete;
  LtProcess& operator=(const LtProcess&) = delete;

  const std::string& failure() const { return failure_; }

  void send(const std::string& line) {
    const std::string data = line + "\n";
    [[maybe_unused]] auto n = ::write(stdin_, data.data(), data.size());
  }

  // The next line, running idle() while none is there; nullopt at end of output or after
  // kDeadline.
  template <class Idle>
  std::optional<std::string> line(Idle idle) {
    const auto limit = std::chrono::steady_clock::now() + kDeadline;
    for (;;) {
      if (auto eol = buffer_.find('\n'); eol != std::string::npos) {
        std::string out = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 1);
        return out;
      }
      if (std::chrono::steady_clock::now() > limit) return std::nullopt;
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {
        char chunk[4096];
        const ssize_t n = ::read(stdout_, chunk, sizeof chunk);
        if (n <= 0) return std::nullopt;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      idle();
    }
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string buffer_;
  std::string failure_;
};

class OverlayLibtorrentInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!libtorrent_available())
      NEXO_SKIP_OR_FAIL(
          "python3-libtorrent is not installed for /usr/bin/python3 (scripts/setup installs "
          "it)");
    loop = io::EventLoop::create().value();
    host.emplace(*loop);
    for (std::uint64_t i = 0; i < kNexo; ++i) {
      auto slot =
          host->add(net::Endpoint(net::InetAddress::loopback(), 0), [i](const net::Endpoint& self) {
            NodeConfig c;
            c.seed = 500 + i;
            c.routing.one_contact_per_ip = false;  // every node is 127.0.0.1
            c.rate_limit.include_port = true;
            c.items.sources_include_port = true;
            return std::make_unique<Node>(self, Clock::now(), c);
          });
      ASSERT_TRUE(slot) << slot.error().to_string();
      slots.push_back(*slot);
    }
    lt.emplace(kLt);
    ASSERT_TRUE(lt->failure().empty()) << lt->failure();
    for (;;) {
      auto l = read();
      ASSERT_TRUE(l) << "lt_dht.py did not start its nodes";
      if (*l == "ready") break;
      std::istringstream in(*l);
      std::string word, id;
      std::size_t index = 0;
      int port = 0;
      in >> word >> index >> port >> id;
      ASSERT_EQ(word, "node") << *l;
      lt_ports.push_back(port);
    }
    ASSERT_EQ(lt_ports.size(), kLt);
  }
  void TearDown() override {
    lt.reset();
    host.reset();
    loop.reset();
  }

  void idle() { loop->run_once(10ms); }
  std::optional<std::string> read() {
    return lt->line([this] { idle(); });
  }
  // Sends a command to lt_dht.py and returns its one-line answer.
  std::string ask(const std::string& command) {
    lt->send(command);
    auto answer = read();
    return answer ? *answer : "(no answer to '" + command + "')";
  }

  Node& node(std::size_t i) { return static_cast<Node&>(host->node(slots[i])); }
  int nexo_port(std::size_t i) const { return host->address(slots[i]).port(); }

  template <class T, class Start>
  Result<T> run(std::size_t i, Start start) {
    std::optional<Result<T>> out;
    auto started = start(node(i), Clock::now(),
                         [&](Result<T> r, const OpStats&) { out.emplace(std::move(r)); });
    if (!started) return started.error();
    host->kick(slots[i]);
    const auto limit = std::chrono::steady_clock::now() + kDeadline;
    while (!out && std::chrono::steady_clock::now() < limit)
      idle();
    if (!out) return Error(ErrorKind::timed_out, "the operation never completed");
    return std::move(*out);
  }

  // Every libtorrent node learns every other node; every nexo node bootstraps from all
  // libtorrent nodes and the first nexo node.
  void introduce() {
    for (std::size_t i = 0; i < kLt; ++i) {
      for (std::size_t j = 0; j < kLt; ++j) {
        if (i != j) {
          ASSERT_EQ(ask("add " + std::to_string(i) + " " + std::to_string(lt_ports[j])), "ok");
        }
      }
      for (std::size_t j = 0; j < kNexo; ++j)
        ASSERT_EQ(ask("add " + std::to_string(i) + " " + std::to_string(nexo_port(j))), "ok");
    }
    std::vector<net::Endpoint> seeds;
    for (int port : lt_ports)
      seeds.emplace_back(net::InetAddress::loopback(), static_cast<std::uint16_t>(port));
    for (std::size_t i = 0; i < kNexo; ++i) {
      std::vector<net::Endpoint> mine = seeds;
      if (i != 0) mine.push_back(host->address(slots[0]));
      auto size = run<std::size_t>(
          i, [&](Node& n, Time now, auto cb) { return n.bootstrap(mine, now, std::move(cb)); });
      ASSERT_TRUE(size) << "nexo node " << i << ": " << size.error().to_string();
    }
  }

  std::unique_ptr<io::EventLoop> loop;
  std::optional<UdpHost> host;
  std::vector<UdpHost::Slot> slots;
  std::optional<LtProcess> lt;
  std::vector<int> lt_ports;
};

TEST_F(OverlayLibtorrentInterop, ItemsBothWaysAndRoutingTables) {
  ASSERT_NO_FATAL_FAILURE(introduce());

  // Immutable, libtorrent -> nexo.
  {
    const std::string answer = ask("put_imm 0 from-libtorrent");
    std::istringstream in(answer);
    std::string word, target;
    int stored = 0;
    in >> word >> target >> stored;
    ASSERT_EQ(word, "put_imm") << answer;
    EXPECT_GE(stored, 1) << answer;
    auto key = NodeId::from_hex(target);
    ASSERT_TRUE(key) << answer;
    auto got = run<GetImmutableResult>(
        2, [&](Node& n, Time now, auto cb) { return n.get_immutable(*key, now, std::move(cb)); });
    ASSERT_TRUE(got) << got.error().to_string();
    ASSERT_TRUE(got->value) << "nexo did not find libtorrent's immutable item " << target;
    EXPECT_EQ(*got->value, encode_value(bencode::Value("from-libtorrent")));
  }
  // Immutable, nexo -> libtorrent.
  {
    const std::string value = encode_value(bencode::Value("from nexo"));
    auto put = run<WriteResult>(
        1, [&](Node& n, Time now, auto cb) { return n.put_immutable(value, now, std::move(cb)); });
    ASSERT_TRUE(put) << put.error().to_string();
    EXPECT_GE(put->stored, 1u);
    EXPECT_EQ(ask("get_imm 3 " + put->target.to_hex()), "item " + to_hex(value));
  }
  // Mutable, nexo -> libtorrent.
  {
    const SigningKey key = SigningKey::from_seed(KeySeed{7, 7, 7});
    auto item = MutableItem::sign(key, "nexo-salt", 4, bencode::Value("signed by nexo"));
    ASSERT_TRUE(item);
    auto put = run<WriteResult>(0, [&](Node& n, Time now, auto cb) {
      return n.put_mutable(*item, std::nullopt, now, std::move(cb));
    });
    ASSERT_TRUE(put) << put.error().to_string();
    EXPECT_GE(put->stored, 1u);
    EXPECT_EQ(ask("get_mut 4 " + to_hex(key.public_key()) + " nexo-salt"),
              "item 4 " + to_hex(encode_value(bencode::Value("signed by nexo"))));
  }
  // Mutable, libtorrent -> nexo (signed by libtorrent with the expanded secret key).
  {
    const SigningKey key = SigningKey::from_seed(KeySeed{9, 9, 9});
    const std::string answer = ask("put_mut 1 " + to_hex(key.expanded_secret()) + " " +
                                   to_hex(key.public_key()) + " lt-salt signed-by-libtorrent");
    ASSERT_EQ(answer.rfind("put_mut ", 0), 0u) << answer;
    EXPECT_NE(answer, "put_mut 0");
    auto got = run<GetMutableResult>(3, [&](Node& n, Time now, auto cb) {
      return n.get_mutable(key.public_key(), "lt-salt", now, std::move(cb));
    });
    ASSERT_TRUE(got) << got.error().to_string();
    ASSERT_TRUE(got->item) << "nexo did not find libtorrent's mutable item";
    EXPECT_EQ(got->item->value, encode_value(bencode::Value("signed-by-libtorrent")));
    EXPECT_TRUE(got->item->check() == PutCode::stored);
  }

  // Routing tables: libtorrent's list nexo's ports, nexo's hold libtorrent's.
  std::set<int> nexo_ports, seen_by_lt;
  for (std::size_t j = 0; j < kNexo; ++j)
    nexo_ports.insert(nexo_port(j));
  for (std::size_t i = 0; i < kLt; ++i) {
    const std::string answer = ask("table " + std::to_string(i));
    std::istringstream in(answer);
    std::string word;
    in >> word;
    ASSERT_EQ(word, "table") << answer;
    std::size_t mine = 0;
    for (int port; in >> port;)
      if (nexo_ports.count(port)) {
        seen_by_lt.insert(port);
        ++mine;
      }
    EXPECT_GE(mine, 1u) << "libtorrent node " << i << ": " << answer;
  }
  EXPECT_EQ(seen_by_lt, nexo_ports);
  std::set<int> lt_set(lt_ports.begin(), lt_ports.end()), seen_by_nexo;
  for (std::size_t j = 0; j < kNexo; ++j) {
    std::size_t mine = 0;
    const auto& table = node(j).routing_table();
    for (std::size_t b = 0; b < table.bucket_count(); ++b)
      for (const auto& contact : table.bucket(b))
        if (lt_set.count(contact.endpoint.port())) {
          seen_by_nexo.insert(contact.endpoint.port());
          ++mine;
        }
    EXPECT_GE(mine, 1u) << "nexo node " << j;
  }
  EXPECT_EQ(seen_by_nexo, lt_set);
}

}  // namespace
}  // namespace nexo::overlay
