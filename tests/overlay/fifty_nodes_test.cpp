// The "50 real nodes on loopback UDP": 50 overlay::Nodes, each with its own UDP
// socket on 127.0.0.1, in one UdpHost (one event loop). They bootstrap from the first;
// 25 immutable and 5 mutable items are put from various nodes and every one is found by
// gets from other nodes; then a third of the nodes crash at once (their sockets close
// without a word) and every value is still found, from surviving nodes. Asserts outcomes
// only; prints what the gets cost (rounds, datagrams) for the record.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "nexo/overlay/node.hpp"
#include "nexo/overlay/udp_host.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;

constexpr std::size_t kNodes = 50;
constexpr int kImmutable = 25;
constexpr int kMutable = 5;

class OverlayFiftyNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    loop = io::EventLoop::create().value();
    host.emplace(*loop);
    for (std::uint64_t i = 0; i < kNodes; ++i) {
      auto slot =
          host->add(net::Endpoint(net::InetAddress::loopback(), 0), [i](const net::Endpoint& self) {
            NodeConfig c;
            c.seed = 9000 + i;
            c.routing.one_contact_per_ip = false;  // every node is 127.0.0.1
            c.rate_limit.include_port = true;
            c.items.sources_include_port = true;
            return std::make_unique<Node>(self, Clock::now(), c);
          });
      ASSERT_TRUE(slot) << slot.error().to_string();
      slots.push_back(*slot);
    }
  }
  void TearDown() override {
    host.reset();
    loop.reset();
  }
  Node& node(std::size_t i) { return static_cast<Node&>(host->node(slots[i])); }

  // Starts an operation on node i and runs the loop until its callback (or 30 s of wall
  // time: a bound against a hang, not a timing assertion).
  template <class T, class Start>
  Result<T> run(std::size_t i, Start start) {
    std::optional<Result<T>> out;
    auto started = start(node(i), Clock::now(), [&](Result<T> r, const OpStats& s) {
      sent += s.sent;
      received += s.received;
      elapsed.push_back(s.elapsed);
      out.emplace(std::move(r));
    });
    if (!started) return started.error();
    host->kick(slots[i]);
    const auto limit = std::chrono::steady_clock::now() + 30s;
    while (!out && std::chrono::steady_clock::now() < limit)
      loop->run_once(50ms);
    if (!out) return Error(ErrorKind::timed_out, "the operation never completed");
    return std::move(*out);
  }

  std::unique_ptr<io::EventLoop> loop;
  std::optional<UdpHost> host;
  std::vector<UdpHost::Slot> slots;
  std::uint64_t sent = 0, received = 0;
  std::vector<Duration> elapsed;
};

std::string text(int i) {
  return "value " + std::to_string(i) + " on loopback";
}

TEST_F(OverlayFiftyNodes, EveryValueFoundBeforeAndAfterAThirdCrash) {
  const net::Endpoint seed[] = {host->address(slots[0])};
  for (std::size_t i = 1; i < kNodes; ++i) {
    auto size = run<std::size_t>(
        i, [&](Node& n, Time now, auto cb) { return n.bootstrap(seed, now, std::move(cb)); });
    ASSERT_TRUE(size) << "node " << i << ": " << size.error().to_string();
  }

  std::vector<NodeId> keys;
  for (int i = 0; i < kImmutable; ++i) {
    const std::string value = encode_value(bencode::Value(text(i)));
    auto put = run<WriteResult>(
        static_cast<std::size_t>(i) * 2 % kNodes,
        [&](Node& n, Time now, auto cb) { return n.put_immutable(value, now, std::move(cb)); });
    ASSERT_TRUE(put) << put.error().to_string();
    EXPECT_EQ(put->stored, 8u) << "item " << i;
    keys.push_back(put->target);
  }
  std::vector<SigningKey> signers;
  for (int i = 0; i < kMutable; ++i) {
    signers.push_back(SigningKey::from_seed(KeySeed{static_cast<std::uint8_t>(i + 1), 50}));
    auto item = MutableItem::sign(signers.back(), "", 1, bencode::Value(text(100 + i)));
    ASSERT_TRUE(item);
    auto put =
        run<WriteResult>(static_cast<std::size_t>(i) * 7 + 1, [&](Node& n, Time now, auto cb) {
          return n.put_mutable(*item, std::nullopt, now, std::move(cb));
        });
    ASSERT_TRUE(put) << put.error().to_string();
    EXPECT_EQ(put->stored, 8u) << "mutable item " << i;
  }

  // Gets from nodes other than the putter; `alive(j)` says which nodes may ask.
  auto check_all = [&](const char* when, auto alive) {
    sent = received = 0;
    elapsed.clear();
    int gets = 0;
    for (int i = 0; i < kImmutable; ++i) {
      std::size_t from = (static_cast<std::size_t>(i) * 2 + 17) % kNodes;
      while (!alive(from))
        from = (from + 1) % kNodes;
      auto got = run<GetImmutableResult>(from, [&](Node& n, Time now, auto cb) {
        return n.get_immutable(keys[static_cast<std::size_t>(i)], now, std::move(cb));
      });
      ASSERT_TRUE(got) << when << ": " << got.error().to_string();
      ASSERT_TRUE(got->value) << when << ": item " << i << " not found from node " << from;
      EXPECT_EQ(*got->value, encode_value(bencode::Value(text(i))));
      ++gets;
    }
    for (int i = 0; i < kMutable; ++i) {
      std::size_t from = (static_cast<std::size_t>(i) * 7 + 30) % kNodes;
      while (!alive(from))
        from = (from + 1) % kNodes;
      auto got = run<GetMutableResult>(from, [&](Node& n, Time now, auto cb) {
        return n.get_mutable(signers[static_cast<std::size_t>(i)].public_key(), "", now,
                             std::move(cb));
      });
      ASSERT_TRUE(got) << when << ": " << got.error().to_string();
      ASSERT_TRUE(got->item) << when << ": mutable item " << i << " not found from node " << from;
      EXPECT_EQ(got->item->value, encode_value(bencode::Value(text(100 + i))));
      ++gets;
    }
    std::sort(elapsed.begin(), elapsed.end());
    std::printf("%s: %d gets, %.1f datagrams per get, p50 %lld ms, max %lld ms\n", when, gets,
                static_cast<double>(sent + received) / gets,
                static_cast<long long>(elapsed[elapsed.size() / 2] / 1ms),
                static_cast<long long>(elapsed.back() / 1ms));
    std::fflush(stdout);
  };
  check_all("before the crash", [](std::size_t) { return true; });

  // A third of the nodes crash at once (every third, the bootstrap node included).
  std::size_t crashed = 0;
  for (std::size_t i = 0; i < kNodes; i += 3) {
    host->remove(slots[i]);
    ++crashed;
  }
  ASSERT_EQ(host->alive_count(), kNodes - crashed);
  check_all("after a third crashed", [&](std::size_t j) { return host->alive(slots[j]); });
}

}  // namespace
}  // namespace nexo::overlay
