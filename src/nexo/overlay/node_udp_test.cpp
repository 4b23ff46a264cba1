// Node over real UDP: 20 nodes in one UdpHost on 127.0.0.1 (one socket each, one loop)
// bootstrap from the first, put an immutable and a mutable item from one node and get
// them from another, and answer an extension query.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <vector>

#include "nexo/overlay/node.hpp"
#include "nexo/overlay/udp_host.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;

// Runs the loop until `done` or 20 s of wall time (a bound against a hang, not a timing
// assertion: the runs below take milliseconds).
template <class Done>
bool run_until(io::EventLoop& loop, Done done) {
  const auto limit = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    loop.run_once(std::chrono::milliseconds(50));
  }
  return true;
}

NodeConfig loopback_config(std::uint64_t seed) {
  NodeConfig c;
  c.seed = seed;
  c.routing.one_contact_per_ip = false;  // every node is 127.0.0.1
  c.routing.rtt.min_rto = 20ms;
  c.rate_limit.include_port = true;
  c.items.sources_include_port = true;
  return c;
}

class UdpDht : public ::testing::Test {
 protected:
  void SetUp() override {
    loop = io::EventLoop::create().value();
    host.emplace(*loop);
    for (std::uint64_t i = 0; i < kNodes; ++i) {
      auto slot =
          host->add(net::Endpoint(net::InetAddress::loopback(), 0), [i](const net::Endpoint& self) {
            return std::make_unique<Node>(self, Clock::now(), loopback_config(100 + i));
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

  // Starts an operation on node i and runs the loop until its callback.
  template <class T, class Start>
  Result<T> run(std::size_t i, Start start) {
    std::optional<Result<T>> out;
    auto started = start(node(i), Clock::now(),
                         [&](Result<T> r, const OpStats&) { out.emplace(std::move(r)); });
    if (!started) return started.error();
    host->kick(slots[i]);
    if (!run_until(*loop, [&] { return out.has_value(); }))
      return Error(ErrorKind::timed_out, "the operation never completed");
    return std::move(*out);
  }

  static constexpr std::size_t kNodes = 20;
  std::unique_ptr<io::EventLoop> loop;
  std::optional<UdpHost> host;
  std::vector<UdpHost::Slot> slots;
};

TEST_F(UdpDht, TwentyNodesBootstrapPutAndGet) {
  const net::Endpoint seed[] = {host->address(slots[0])};
  for (std::size_t i = 1; i < kNodes; ++i) {
    auto size =
        run<std::size_t>(i, [&](Node& n, Time now, auto cb) { return n.bootstrap(seed, now, cb); });
    ASSERT_TRUE(size) << "node " << i << ": " << size.error().to_string();
    EXPECT_GE(*size, 1u);
  }
  for (std::size_t i = 0; i < kNodes; ++i)
    EXPECT_GE(node(i).routing_table().size(), 1u) << i;

  const std::string value = encode_value(bencode::Value("over real UDP"));
  auto put = run<WriteResult>(
      3, [&](Node& n, Time now, auto cb) { return n.put_immutable(value, now, cb); });
  ASSERT_TRUE(put) << put.error().to_string();
  EXPECT_GE(put->stored, 1u);
  auto got = run<GetImmutableResult>(
      17, [&](Node& n, Time now, auto cb) { return n.get_immutable(put->target, now, cb); });
  ASSERT_TRUE(got) << got.error().to_string();
  ASSERT_TRUE(got->value);
  EXPECT_EQ(*got->value, value);

  const SigningKey key = SigningKey::from_seed(KeySeed{42});
  auto item = MutableItem::sign(key, "name", 7, bencode::Value("contact"));
  ASSERT_TRUE(item);
  auto mput = run<WriteResult>(
      8, [&](Node& n, Time now, auto cb) { return n.put_mutable(*item, std::nullopt, now, cb); });
  ASSERT_TRUE(mput);
  EXPECT_GE(mput->stored, 1u);
  auto mget = run<GetMutableResult>(12, [&](Node& n, Time now, auto cb) {
    return n.get_mutable(key.public_key(), "name", now, cb);
  });
  ASSERT_TRUE(mget);
  ASSERT_TRUE(mget->item);
  EXPECT_EQ(mget->item->seq, 7);
  EXPECT_EQ(mget->item->value, encode_value(bencode::Value("contact")));

  ASSERT_TRUE(node(5).handle_extension(
      "nexo_echo", [](const krpc::Query& q, auto&, Time) { return ExtensionAnswer(q.extra); }));
  auto echo = run<ExtensionReply>(9, [&](Node& n, Time now, auto cb) {
    return n.extension_query(host->address(slots[5]), "nexo_echo", bencode::Dict{{"say", "hi"}},
                             now, cb);
  });
  ASSERT_TRUE(echo) << echo.error().to_string();
  const auto* response = std::get_if<krpc::Response>(&*echo);
  ASSERT_NE(response, nullptr);
  ASSERT_NE(response->extra.find("say"), nullptr);
  EXPECT_EQ(response->extra.find("say")->string(), "hi");
  EXPECT_EQ(host->counters().send_failed, 0u);
}

}  // namespace
}  // namespace nexo::overlay
