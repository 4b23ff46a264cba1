// bench_overlay's anchor: OpenDHT (Debian's libopendht), driven as its
// documentation shows: one dht::DhtRunner per node, threaded, run() with a
// Config, bootstrap("127.0.0.1", port of node 0), put() and get() with their
// done callbacks. Every runner lives in the benchmark's own process (50
// runners: about 100 threads, 3 descriptors each; OpenDHT's receive loop uses
// select(), which caps one process at about 340 runners).
//
// Loopback-specific settings, and why:
//  - each runner gets its socket through DhtRunner::Context::sock: OpenDHT's
//    own net::UdpSocket bound to 127.0.0.1:0 (IPv4 only), wrapped to count
//    datagrams (OpenDHT's getNodeMessageStats counts requests by type, not
//    datagrams, and resets on every read) and to crash a node at once;
//  - max_peer_req_per_sec = -1: OpenDHT rate-limits requests per source IP
//    (default 1024/s per runner), and here every node is 127.0.0.1;
//  - a private network id, so that these runners talk to no one else's.
//
// Crash: the wrapped sockets of the crashed nodes drop every datagram, in
// and out, from one instant (all of them flipped before any is stopped);
// then each runner is join()ed without shutdown() (shutdown() is the
// graceful way: it hands stored values on first).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <opendht/dhtrunner.h>
#include <opendht/network_utils.h>
#include <opendht/utils.h>
#include <opendht/value.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <numeric>
#include <utility>

#include "nexo/overlay/sha1.hpp"
#include "overlay_impl.hpp"

namespace nexo::bench::overlay {
namespace {

// "nexo" in ASCII: runners with another network id ignore these.
constexpr dht::NetId kNetwork = 0x6e65786f;

// One node's datagram counts and its crash switch, shared by its socket and
// the impl (the socket dies with the runner; the counts stay readable).
struct Counts {
  std::atomic<std::uint64_t> sent{0}, received{0};
  std::atomic<bool> crashed{false};
};

// OpenDHT's UDP socket on 127.0.0.1:0, counted, with a crash switch.
class CountingSocket final : public dht::net::DatagramSocket {
 public:
  explicit CountingSocket(std::shared_ptr<Counts> counts) : counts_(std::move(counts)) {
    sockaddr_in loopback{};
    loopback.sin_family = AF_INET;
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const dht::SockAddr bind4(reinterpret_cast<const sockaddr*>(&loopback), sizeof loopback);
    inner_ = std::make_unique<dht::net::UdpSocket>(bind4, dht::SockAddr());  // throws
    inner_->setOnReceive([this](dht::net::PacketList&& packets) {
      if (counts_->crashed) return std::move(packets);  // dropped unread, recycled
      counts_->received += packets.size();
      onReceived(std::move(packets));
      return dht::net::PacketList{};
    });
  }

  int sendTo(const dht::SockAddr& dest, const std::uint8_t* data, std::size_t size,
             bool replied) override {
    if (counts_->crashed) return 0;  // a dead host: the datagram goes nowhere
    const int error = inner_->sendTo(dest, data, size, replied);
    if (error == 0) ++counts_->sent;
    return error;
  }
  bool hasIPv4() const override { return inner_->hasIPv4(); }
  bool hasIPv6() const override { return inner_->hasIPv6(); }
  const dht::SockAddr& getBoundRef(sa_family_t family) const override {
    return inner_->getBoundRef(family);
  }
  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<Counts> counts_;
  std::unique_ptr<dht::net::UdpSocket> inner_;  // last: its receive thread stops first
};

struct Node {
  std::shared_ptr<Counts> counts = std::make_shared<Counts>();
  dht::DhtRunner runner;
  std::atomic<bool> connected{false};  // IPv4 status "connected", from OpenDHT's status callback
  in_port_t port = 0;
  bool joined = false;
};

dht::InfoHash info_hash(const Key& key) {
  return dht::InfoHash(key.data(), key.size());
}

class OpenDhtImpl final : public Impl {
 public:
  ~OpenDhtImpl() override { stop(); }

  Result<void> start(int count) override {
    for (int i = 0; i < count; ++i) {
      auto node = std::make_unique<Node>();
      dht::DhtRunner::Config config;
      config.threaded = true;
      config.dht_config.node_config.network = kNetwork;
      config.dht_config.node_config.max_peer_req_per_sec = -1;
      dht::DhtRunner::Context context;
      Node* raw = node.get();  // outlives its runner: joined in stop() before it is freed
      context.statusChangedCallback = [raw](dht::NodeStatus v4, dht::NodeStatus) {
        raw->connected = v4 == dht::NodeStatus::Connected;
      };
      try {
        context.sock = std::make_unique<CountingSocket>(node->counts);
        node->runner.run(config, std::move(context));
      } catch (const std::exception& e) {
        return Error(ErrorKind::system,
                     "opendht: node " + std::to_string(i) + " did not start: " + e.what());
      }
      node->port = node->runner.getBoundPort(AF_INET);
      if (node->port == 0) {
        node->runner.join();
        return Error(ErrorKind::system,
                     "opendht: node " + std::to_string(i) + " has no IPv4 port on 127.0.0.1");
      }
      if (i > 0) node->runner.bootstrap("127.0.0.1", std::to_string(nodes_[0]->port));
      nodes_.push_back(std::move(node));
    }
    return ok();
  }

  Settled settled() override {
    int live = 0, connected = 0;
    std::vector<unsigned> good, known;
    for (const auto& node : nodes_) {
      if (node->joined) continue;
      ++live;
      if (node->connected) ++connected;
      const dht::NodeStats stats = node->runner.getNodesStats(AF_INET);
      good.push_back(stats.good_nodes);
      known.push_back(stats.getKnownNodes());
    }
    std::sort(good.begin(), good.end());
    std::sort(known.begin(), known.end());
    // OpenDHT's "connected" comes with the first good contact, long before
    // its routing tables fill (seconds later, by its own searches): settled
    // is also every table's size unchanged for kStableFor.
    const auto now = Clock::now();
    const std::vector<unsigned> sizes = {std::accumulate(good.begin(), good.end(), 0U),
                                         std::accumulate(known.begin(), known.end(), 0U)};
    if (sizes != last_sizes_) {
      last_sizes_ = sizes;
      last_change_ = now;
    }
    Settled s;
    s.settled = live > 0 && connected == live && now - last_change_ >= kStableFor;
    s.detail = "OpenDHT status \"connected\" " + std::to_string(connected) + "/" +
               std::to_string(live) + ", good contacts per node min " +
               std::to_string(good.empty() ? 0 : good.front()) + " median " +
               std::to_string(good.empty() ? 0 : good[good.size() / 2]) +
               ", known (good + dubious) min " + std::to_string(known.empty() ? 0 : known.front()) +
               " median " + std::to_string(known.empty() ? 0 : known[known.size() / 2]);
    return s;
  }

  Result<Key> put(int node, std::span<const std::uint8_t> value,
                  Clock::time_point deadline) override {
    const Key key = nexo::overlay::sha1(std::as_bytes(value));
    auto done = std::make_shared<FirstOf<bool>>();
    nodes_.at(static_cast<std::size_t>(node))
        ->runner.put(info_hash(key), std::make_shared<dht::Value>(value.data(), value.size()),
                     dht::DoneCallbackSimple([done](bool stored) { done->set(stored); }));
    const auto stored = done->wait_until(deadline);
    if (!stored) return Error(ErrorKind::timed_out, "opendht put: no answer by the deadline");
    if (!stored->first) return Error(ErrorKind::unreachable, "opendht put: reported failed");
    return key;
  }

  GetOutcome get(int node, const Key& key, GetEnd end, Clock::time_point deadline) override {
    // The first value is kept; the get ends at it (first_value) or at the
    // done callback (lookup_done), which hands the kept value on.
    struct State {
      std::mutex mutex;
      std::optional<Bytes> first;
      FirstOf<std::optional<Bytes>> result;
    };
    auto state = std::make_shared<State>();
    const bool stop_at_value = end == GetEnd::first_value;
    const auto begin = Clock::now();
    nodes_.at(static_cast<std::size_t>(node))
        ->runner.get(info_hash(key),
                     dht::GetCallback([state, stop_at_value](
                                          const std::vector<std::shared_ptr<dht::Value>>& vs) {
                       for (const auto& v : vs) {
                         if (!v) continue;
                         if (stop_at_value) {
                           state->result.set(Bytes(v->data));
                           return false;  // ends the get
                         }
                         std::lock_guard lock(state->mutex);
                         if (!state->first) state->first = Bytes(v->data);
                       }
                       return true;
                     }),
                     dht::DoneCallbackSimple([state](bool) {
                       std::optional<Bytes> first;
                       {
                         std::lock_guard lock(state->mutex);
                         first = state->first;
                       }
                       state->result.set(std::move(first));
                     }));
    GetOutcome out;
    if (auto got = state->result.wait_until(deadline)) {
      out.value = std::move(got->first);
      out.elapsed = got->second - begin;
    } else {
      out.timed_out = true;
      out.elapsed = Clock::now() - begin;
    }
    return out;
  }

  void crash(std::span<const int> which) override {
    for (int i : which)
      nodes_.at(static_cast<std::size_t>(i))->counts->crashed = true;
    for (int i : which)
      join(*nodes_.at(static_cast<std::size_t>(i)));
  }

  Datagrams datagrams() const override {
    Datagrams d;
    for (const auto& node : nodes_) {
      d.sent += node->counts->sent;
      d.received += node->counts->received;
    }
    return d;
  }

  void stop() override {
    for (auto& node : nodes_)
      join(*node);
    nodes_.clear();
  }

 private:
  static void join(Node& node) {
    if (node.joined) return;
    node.runner.join();  // no shutdown(): stops the socket and the thread, says nothing
    node.joined = true;
  }

  static constexpr auto kStableFor = std::chrono::seconds(3);

  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<unsigned> last_sizes_;  // the sums of good and known contacts, last polled
  Clock::time_point last_change_ = Clock::now();
};

}  // namespace

ImplEntry opendht_entry() {
  ImplEntry e;
  e.name = "opendht";
  e.about =
      std::string("OpenDHT ") + dht::version() +
      " (libopendht, Debian): one dht::DhtRunner per node, all in this process, threaded "
      "(2 threads each); node i > 0 bootstraps from node 0 with bootstrap(\"127.0.0.1\", "
      "port); sockets: OpenDHT's net::UdpSocket on 127.0.0.1:0, IPv4 only, handed in "
      "through DhtRunner::Context; max_peer_req_per_sec -1 (no per-IP limit: every node "
      "is 127.0.0.1), network id 0x6e65786f; key = SHA-1 of the value, put as a "
      "dht::Value (unsigned, random value id); settled = every runner's IPv4 status "
      "\"connected\" (1+ good contacts) and the sums of good and of known contacts over "
      "the nodes (getNodesStats) unchanged for 3 s; get = DhtRunner::get, ended at its first value "
      "(the get callback returns false) or at its done callback (--get-ends-at); crash = the "
      "crashed nodes' "
      "sockets drop every datagram from one instant, then DhtRunner::join() without "
      "shutdown(); datagrams = sendto() calls that succeeded, counted in the socket "
      "wrapper (not OpenDHT's getNodeMessageStats, which counts requests by type and not "
      "replies)";
  e.make = []() -> Result<std::unique_ptr<Impl>> { return std::make_unique<OpenDhtImpl>(); };
  return e;
}

}  // namespace nexo::bench::overlay
