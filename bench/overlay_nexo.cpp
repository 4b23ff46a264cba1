// bench_overlay's nexo side: N overlay::Node cores on one overlay::UdpHost on
// 127.0.0.1 (one UDP socket each, one io/ loop thread for all of them), node
// i > 0 bootstrapped from node 0, BEP 44 immutable items (the value as a
// bencoded byte string; key = SHA-1 of that encoding), datagrams counted at
// the sockets (UdpHost's counters: what the kernel took and handed over).
//
// Settings: NodeConfig's defaults, except what 50 nodes on one IP address
// need (as for libtorrent and OpenDHT on loopback): one contact per IP off,
// and the rate limit and item quotas per endpoint rather than per IP.
//
// A get ends when the node's get_immutable completes: its iterative lookup is
// done (the k closest that did not fail have answered) and read repair is
// sent. The node has no "stop at the first value" mode, so --get-ends-at=value
// times nexo to its lookup's end too (slower than it could be), and says so.
//
// Crash: UdpHost::remove closes the node's socket and destroys it at once (no
// goodbye); its counts stay in the host's totals.
#include <algorithm>
#include <numeric>
#include <string>

#include "nexo/io/loop_thread.hpp"
#include "nexo/overlay/node.hpp"
#include "nexo/overlay/sha1.hpp"
#include "nexo/overlay/udp_host.hpp"
#include "overlay_impl.hpp"

namespace nexo::bench::overlay {
namespace {

namespace ov = nexo::overlay;

ov::NodeConfig loopback_config(std::uint64_t seed) {
  ov::NodeConfig c;
  c.seed = seed;
  c.routing.one_contact_per_ip = false;  // every node is 127.0.0.1
  c.rate_limit.include_port = true;
  c.items.sources_include_port = true;
  return c;
}

// "<len>:<bytes>": a byte string in bencode.
std::string bencoded(std::span<const std::uint8_t> value) {
  std::string out = std::to_string(value.size()) + ":";
  out.append(reinterpret_cast<const char*>(value.data()), value.size());
  return out;
}

// The bytes of a bencoded byte string; nullopt when it is something else.
std::optional<Bytes> unbencoded(const std::string& encoded) {
  const auto colon = encoded.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  const std::string digits = encoded.substr(0, colon);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  if (std::stoull(digits) != encoded.size() - colon - 1) return std::nullopt;
  return Bytes(encoded.begin() + static_cast<std::ptrdiff_t>(colon) + 1, encoded.end());
}

class NexoImpl final : public Impl {
 public:
  explicit NexoImpl(std::unique_ptr<io::LoopThread> thread) : thread_(std::move(thread)) {}
  ~NexoImpl() override { stop(); }

  Result<void> start(int nodes) override {
    return thread_->call<void>([this, nodes]() -> Result<void> {
      host_.emplace(thread_->loop());
      for (int i = 0; i < nodes; ++i) {
        auto slot = host_->add(
            net::Endpoint(net::InetAddress::loopback(), 0), [i](const net::Endpoint& self) {
              return std::make_unique<ov::Node>(self, ov::Clock::now(),
                                                loopback_config(1000 + static_cast<unsigned>(i)));
            });
        if (!slot) return slot.error().with_context("nexo node " + std::to_string(i));
        slots_.push_back(*slot);
        bootstrapped_.push_back(i == 0);
      }
      const net::Endpoint first = host_->address(slots_[0]);
      for (int i = 1; i < nodes; ++i) {
        const std::array<net::Endpoint, 1> seeds{first};
        auto r = node(i).bootstrap(seeds, ov::Clock::now(),
                                   [this, i](Result<std::size_t>, const ov::OpStats&) {
                                     bootstrapped_[static_cast<std::size_t>(i)] = true;
                                   });
        if (!r) return r.error().with_context("nexo node " + std::to_string(i) + ": bootstrap");
        host_->kick(slots_[static_cast<std::size_t>(i)]);
      }
      return {};
    });
  }

  // The same rule as OpenDHT's side: every node done bootstrapping, and the
  // routing tables' total size unchanged for kStableFor.
  Settled settled() override {
    auto polled = thread_->call<Settled>([this]() -> Result<Settled> {
      int live = 0, done = 0;
      std::vector<std::size_t> sizes;
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (!host_->alive(slots_[i])) continue;
        ++live;
        done += bootstrapped_[i] ? 1 : 0;
        sizes.push_back(node(static_cast<int>(i)).routing_table().size());
      }
      std::sort(sizes.begin(), sizes.end());
      const std::size_t total = std::accumulate(sizes.begin(), sizes.end(), std::size_t{0});
      const auto now = Clock::now();
      if (total != last_total_) {
        last_total_ = total;
        last_change_ = now;
      }
      Settled s;
      s.settled = live > 0 && done == live && now - last_change_ >= kStableFor;
      s.detail = "bootstraps done " + std::to_string(done) + "/" + std::to_string(live) +
                 ", routing-table contacts per node min " +
                 std::to_string(sizes.empty() ? 0 : sizes.front()) + " median " +
                 std::to_string(sizes.empty() ? 0 : sizes[sizes.size() / 2]);
      return s;
    });
    return polled ? *polled : Settled{false, polled.error().to_string()};
  }

  Result<Key> put(int index, std::span<const std::uint8_t> value,
                  Clock::time_point deadline) override {
    const std::string encoded = bencoded(value);
    auto done = std::make_shared<FirstOf<Result<ov::WriteResult>>>();
    auto started = thread_->call<void>([&, done]() -> Result<void> {
      auto r = node(index).put_immutable(
          encoded, ov::Clock::now(),
          [done](Result<ov::WriteResult> w, const ov::OpStats&) { done->set(std::move(w)); });
      if (r) host_->kick(slots_[static_cast<std::size_t>(index)]);
      return r;
    });
    if (!started) return started.error().with_context("nexo put");
    auto result = done->wait_until(deadline);
    if (!result) return Error(ErrorKind::timed_out, "nexo put: no answer by the deadline");
    if (!result->first) return result->first.error().with_context("nexo put");
    if (result->first->stored == 0) {
      return Error(
          ErrorKind::unreachable,
          "nexo put: no node stored it (" + std::to_string(result->first->attempted) + " tried)");
    }
    Key key;
    std::copy_n(result->first->target.bytes().begin(), key.size(), key.begin());
    return key;
  }

  GetOutcome get(int index, const Key& key, GetEnd, Clock::time_point deadline) override {
    auto id = ov::NodeId::from_bytes(
        std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
    auto done = std::make_shared<FirstOf<std::optional<Bytes>>>();
    const auto begin = Clock::now();
    GetOutcome out;
    auto started = thread_->call<void>([&, done]() -> Result<void> {
      auto r = node(index).get_immutable(
          *id, ov::Clock::now(), [done](Result<ov::GetImmutableResult> g, const ov::OpStats&) {
            std::optional<Bytes> value;
            if (g && g->value) value = unbencoded(*g->value);
            done->set(std::move(value));
          });
      if (r) host_->kick(slots_[static_cast<std::size_t>(index)]);
      return r;
    });
    if (!started) {
      out.elapsed = Clock::now() - begin;
      return out;
    }
    if (auto got = done->wait_until(deadline)) {
      out.value = std::move(got->first);
      out.elapsed = got->second - begin;
    } else {
      out.timed_out = true;
      out.elapsed = Clock::now() - begin;
    }
    return out;
  }

  void crash(std::span<const int> which) override {
    std::vector<int> nodes(which.begin(), which.end());
    (void)thread_->call<void>([this, nodes]() -> Result<void> {
      for (int i : nodes) {
        if (host_->alive(slots_[static_cast<std::size_t>(i)]))
          host_->remove(slots_[static_cast<std::size_t>(i)]);
      }
      return {};
    });
  }

  Datagrams datagrams() const override {
    auto counts = thread_->call<Datagrams>([this]() -> Result<Datagrams> {
      if (!host_) return Datagrams{};
      return Datagrams{host_->counters().sent, host_->counters().received};
    });
    return counts ? *counts : Datagrams{};
  }

  void stop() override {
    if (!thread_) return;
    (void)thread_->call<void>([this]() -> Result<void> {
      host_.reset();  // every socket and node, on the loop's thread
      slots_.clear();
      return {};
    });
    thread_.reset();
  }

 private:
  ov::Node& node(int i) {
    return static_cast<ov::Node&>(host_->node(slots_.at(static_cast<std::size_t>(i))));
  }

  static constexpr auto kStableFor = std::chrono::seconds(3);

  std::unique_ptr<io::LoopThread> thread_;
  // Loop thread only:
  std::optional<ov::UdpHost> host_;
  std::vector<ov::UdpHost::Slot> slots_;
  std::vector<bool> bootstrapped_;
  std::size_t last_total_ = 0;
  Clock::time_point last_change_ = Clock::now();
};

}  // namespace

ImplEntry nexo_entry() {
  ImplEntry e;
  e.name = "nexo";
  e.about =
      "nexo overlay::Node (Mainline DHT, BEP 44 immutable items), every node on one "
      "overlay::UdpHost in this process (one UDP socket each, one io/ loop thread), "
      "NodeConfig defaults except one contact per IP off and per-endpoint rate limits and "
      "quotas (loopback); a get ends when its lookup is done (no first-value mode); crash = "
      "socket closed and node destroyed; datagrams counted at the sockets";
  e.make = []() -> Result<std::unique_ptr<Impl>> {
    auto thread = io::LoopThread::start();
    if (!thread) return thread.error().with_context("nexo: the loop thread");
    return std::unique_ptr<Impl>(std::make_unique<NexoImpl>(std::move(thread).value()));
  };
  return e;
}

}  // namespace nexo::bench::overlay
