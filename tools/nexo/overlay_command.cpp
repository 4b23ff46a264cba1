// nexo overlay put | get | node: a Mainline DHT node (overlay::Node) over real UDP
// (overlay::UdpHost). The contract scripts rely on:
//   - put TEXT: stores TEXT as an immutable item (a bencoded byte string) and prints its
//     key, 40 hex digits, alone on stdout; exit 0. A one-shot node: read-only (BEP 43,
//     `ro: 1`, so that it does not linger in other nodes' tables as a dead contact), on an
//     ephemeral port.
//   - get KEY: prints the value (the text for a byte string, else its bencoded form);
//     when no node holds it, exit 1 and "nexo overlay get: no node holds KEY (asked N
//     nodes)" on stderr. A KEY that is not 40 hex digits is a usage error (exit 2).
//   - node: prints "node ADDRESS id HEX" on stdout at start, then reads commands from
//     stdin (put, get, lookup, join, leave, publish, stats, quit) until quit or end of
//     input. Overlay multicast (overlay::Scribe): "join TOPIC" answers "joined TOPIC",
//     "publish TOPIC TEXT" answers "published to TOPIC (sequence N)", and each message of
//     a joined topic prints one line "[TOPIC] TEXT (from HOST:PORT)" when it arrives.
// The simulator (nexo overlay sim) is in overlay_sim_command.cpp.
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>

#include "commands.hpp"
#include "nexo/overlay/bep42.hpp"
#include "nexo/overlay/node.hpp"
#include "nexo/overlay/scribe.hpp"
#include "nexo/overlay/udp_host.hpp"
#include "options.hpp"
#include "terminal_text.hpp"

namespace nexo::tool {
namespace {

namespace bencode = wire::bencode;
using namespace std::chrono_literals;
using overlay::Clock;
using overlay::Node;
using overlay::OpStats;
using overlay::Time;

// An operation that takes longer than this (wall time) has failed: a bound against a
// silent network, well beyond a lookup's hard query deadlines (5 s each).
constexpr auto kOperationLimit = 60s;

Result<net::Endpoint> resolve_bootstrap(const std::string& text) {
  auto hp = options::parse_host_port(text);
  if (!hp) return std::move(hp).error().with_context("--bootstrap '" + text + "'");
  auto at = net::Endpoint::resolve(hp->host, hp->port);
  if (!at) return std::move(at).error().with_context("--bootstrap '" + text + "'");
  return *at;
}

// On loopback every node has the same address: the per-address rules (one contact per
// IP, rate limit and storage quota per source address) must key on the port too.
overlay::NodeConfig node_config(bool loopback, bool read_only) {
  overlay::NodeConfig c;
  c.seed = (static_cast<std::uint64_t>(::getpid()) << 32) ^
           static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  c.read_only = read_only;
  if (loopback) {
    c.routing.one_contact_per_ip = false;
    c.rate_limit.include_port = true;
    c.items.sources_include_port = true;
  }
  return c;
}

// One node on its own socket and loop, with a way to run one operation to its end.
class Host {
 public:
  static Result<std::unique_ptr<Host>> open(const net::Endpoint& local,
                                            overlay::NodeConfig config) {
    auto loop = io::EventLoop::create();
    if (!loop) return std::move(loop).error();
    auto h = std::unique_ptr<Host>(new Host(std::move(*loop)));
    auto slot = h->host_->add(local, [&](const net::Endpoint& self) {
      return std::make_unique<Node>(self, Clock::now(), config);
    });
    if (!slot) return std::move(slot).error().with_context("bind " + local.to_string());
    h->slot_ = *slot;
    return h;
  }
  ~Host() {
    host_.reset();
    loop_.reset();
  }

  Node& node() { return static_cast<Node&>(host_->node(slot_)); }
  const net::Endpoint& address() const { return host_->address(slot_); }
  io::EventLoop& loop() { return *loop_; }
  void kick() { host_->kick(slot_); }

  // Starts an operation and runs the loop until its callback (or kOperationLimit).
  template <class T, class Start>
  Result<T> run(Start start, OpStats* stats_out = nullptr) {
    std::optional<Result<T>> out;
    auto started = start(node(), Clock::now(), [&](Result<T> r, const OpStats& stats) {
      if (stats_out != nullptr) *stats_out = stats;
      out.emplace(std::move(r));
    });
    if (!started) return started.error();
    kick();
    const auto limit = Clock::now() + kOperationLimit;
    while (!out && Clock::now() < limit)
      loop_->run_once(50ms);
    if (!out) return Error(ErrorKind::timed_out, "no answer within 60 s");
    return std::move(*out);
  }

  Result<std::size_t> bootstrap(const net::Endpoint& seed) {
    const net::Endpoint seeds[] = {seed};
    return run<std::size_t>(
        [&](Node& n, Time now, auto cb) { return n.bootstrap(seeds, now, std::move(cb)); });
  }

 private:
  explicit Host(std::unique_ptr<io::EventLoop> loop)
      : loop_(std::move(loop)), host_(std::make_unique<overlay::UdpHost>(*loop_)) {}
  std::unique_ptr<io::EventLoop> loop_;
  std::unique_ptr<overlay::UdpHost> host_;
  overlay::UdpHost::Slot slot_ = 0;
};

// A one-shot node bound to an ephemeral port of the bootstrap node's family (loopback
// when the bootstrap node is on loopback), bootstrapped.
Result<std::unique_ptr<Host>> one_shot(const std::string& bootstrap) {
  auto seed = resolve_bootstrap(bootstrap);
  if (!seed) return std::move(seed).error();
  const bool loopback = seed->address().is_loopback();
  const auto family = seed->address().family();
  const net::InetAddress local =
      loopback ? (family == net::Family::v4 ? net::InetAddress::loopback()
                                            : net::InetAddress::loopback(net::Family::v6))
               : net::InetAddress::any(family);
  auto host = Host::open(net::Endpoint(local, 0), node_config(loopback, /*read_only=*/true));
  if (!host) return std::move(host).error();
  auto joined = (*host)->bootstrap(*seed);
  if (!joined) return std::move(joined).error().with_context("bootstrap from " + bootstrap);
  return std::move(*host);
}

// The value as the user put it: the text of a byte string, else the bencoded form.
std::string shown_value(const std::string& encoded) {
  auto v = bencode::decode(encoded);
  if (v && v->is_string()) return v->string();
  return encoded;
}

Result<std::string> put_text(Host& host, const std::string& text) {
  auto w = host.run<overlay::WriteResult>([&](Node& n, Time now, auto cb) {
    return n.put_immutable(overlay::encode_value(bencode::Value(text)), now, std::move(cb));
  });
  if (!w) return std::move(w).error();
  if (w->stored == 0)
    return Error(ErrorKind::unreachable,
                 "no node stored it (sent to " + std::to_string(w->attempted) + " nodes)");
  return w->target.to_hex();
}

// The value under `key`: this node's own store first (a node's lookup never asks
// itself), then the DHT. nullopt: nobody holds it; `asked`: the nodes queried.
Result<std::optional<std::string>> get_value(Host& host, const overlay::NodeId& key,
                                             std::uint32_t& asked) {
  asked = 0;
  if (const auto* mine = host.node().item_store().get(key, Clock::now()); mine != nullptr)
    return std::optional<std::string>(mine->value);
  OpStats stats;
  auto g = host.run<overlay::GetImmutableResult>(
      [&](Node& n, Time now, auto cb) { return n.get_immutable(key, now, std::move(cb)); }, &stats);
  asked = stats.sent;
  if (!g) return std::move(g).error();
  return g->value;
}

}  // namespace

int overlay_put(const OverlayArgs& args) {
  constexpr std::string_view kCommand = "overlay put";
  auto host = one_shot(args.bootstrap);
  if (!host) return report_failure(kCommand, host.error().message());
  auto key = put_text(**host, args.text);
  if (!key) return report_failure(kCommand, key.error().message());
  std::cout << *key << std::endl;
  return 0;
}

int overlay_get(const OverlayArgs& args) {
  constexpr std::string_view kCommand = "overlay get";
  auto key = overlay::NodeId::from_hex(args.key);  // checked by the parser already
  if (!key) return report_failure(kCommand, "KEY '" + args.key + "': " + key.error().message());
  auto host = one_shot(args.bootstrap);
  if (!host) return report_failure(kCommand, host.error().message());
  std::uint32_t asked = 0;
  auto value = get_value(**host, *key, asked);
  if (!value) return report_failure(kCommand, value.error().message());
  if (!*value)
    return report_failure(kCommand, "no node holds " + key->to_hex() + " (asked " +
                                        std::to_string(asked) + " nodes)");
  std::cout << shown_value(**value) << std::endl;
  return 0;
}

namespace {

void print_stats(Node& node, const overlay::Scribe& scribe) {
  const auto& c = node.counters();
  const auto& m = scribe.counters();
  std::cout << "routing table " << node.routing_table().size() << " contacts in "
            << node.routing_table().bucket_count() << " buckets ("
            << node.routing_table().replacement_count() << " replacements), items stored "
            << node.item_store().item_count() << ", peers stored " << node.peer_store().peer_count()
            << "\ndatagrams received " << c.received << ", sent " << c.sent << ", queries answered "
            << c.queries << ", errors sent " << c.errors_sent << ", timeouts " << c.timeouts
            << "\ndropped: malformed " << c.malformed << ", wrong network " << c.wrong_network
            << ", rate limited " << c.rate_limited << ", unknown tid " << c.unknown_tid
            << ", wrong source " << c.wrong_source << ", bep42 rejected " << c.bep42_rejected
            << "\nmaintenance: refreshes " << c.refreshes << ", eviction pings " << c.eviction_pings
            << ", verification pings " << c.verification_pings << ", republished " << c.republished
            << ", replications " << c.replications << "\nmulticast: topics " << scribe.topic_count()
            << ", published " << m.published << ", delivered " << m.delivered << ", duplicates "
            << m.duplicates << ", forwarded " << m.forwarded << ", children taken "
            << m.children_taken << ", push-downs " << m.push_downs << ", re-joins " << m.rejoins
            << ", bad arguments " << m.bad_arguments << ", fetches " << m.fetches << ", fetched "
            << m.fetched << ", gaps given up " << m.gaps_given_up << ", bad replies "
            << m.bad_replies << ", re-offered " << m.reoffered << ", custody dropped "
            << m.custody_dropped << ", root checks " << m.root_checks << std::endl;
}

// join TOPIC, leave TOPIC, publish TOPIC TEXT.
void multicast_command(Host& host, overlay::Scribe& scribe, const std::string& word,
                       const std::string& rest) {
  std::istringstream in(rest);
  std::string topic;
  in >> topic;
  std::string text;
  std::getline(in >> std::ws, text);
  if (topic.empty() || (word == "publish" && text.empty())) {
    std::cout << "usage: " << word << (word == "publish" ? " TOPIC TEXT" : " TOPIC") << std::endl;
    return;
  }
  if (word == "publish") {
    auto seq = scribe.publish(topic, text, Clock::now());
    if (seq)
      std::cout << "published to " << printable(topic) << " (sequence " << *seq << ")" << std::endl;
    else
      std::cout << "publish failed: " << printable(seq.error().message()) << std::endl;
  } else {
    auto done =
        word == "join" ? scribe.join(topic, Clock::now()) : scribe.leave(topic, Clock::now());
    if (done)
      std::cout << (word == "join" ? "joined " : "left ") << printable(topic) << std::endl;
    else
      std::cout << word << " failed: " << printable(done.error().message()) << std::endl;
  }
  host.kick();
}

// One line of the prompt. False: quit.
bool node_command(Host& host, overlay::Scribe& scribe, const std::string& line) {
  std::istringstream in(line);
  std::string word;
  in >> word;
  std::string rest;
  std::getline(in >> std::ws, rest);
  if (word.empty()) return true;
  if (word == "quit" || word == "exit") return false;
  if (word == "put") {
    if (rest.empty()) {
      std::cout << "usage: put TEXT" << std::endl;
      return true;
    }
    auto key = put_text(host, rest);
    if (key)
      std::cout << *key << std::endl;
    else
      std::cout << "put failed: " << printable(key.error().message()) << std::endl;
  } else if (word == "get" || word == "lookup") {
    auto key = overlay::NodeId::from_hex(rest);
    if (!key) {
      std::cout << word << ": KEY '" << printable(rest) << "' is not 40 hex digits" << std::endl;
      return true;
    }
    if (word == "get") {
      std::uint32_t asked = 0;
      auto value = get_value(host, *key, asked);
      if (!value)
        std::cout << "get failed: " << printable(value.error().message()) << std::endl;
      else if (!*value)
        std::cout << "no node holds " << key->to_hex() << " (asked " << asked << " nodes)"
                  << std::endl;
      else
        std::cout << printable(shown_value(**value)) << std::endl;
    } else {
      OpStats stats;
      auto found = host.run<std::vector<overlay::NodeInfo>>(
          [&](Node& n, Time now, auto cb) { return n.find_node(*key, now, std::move(cb)); },
          &stats);
      if (!found) {
        std::cout << "lookup failed: " << printable(found.error().message()) << std::endl;
        return true;
      }
      std::cout << found->size() << " closest (" << stats.rounds << " rounds, "
                << stats.sent + stats.received << " datagrams):" << std::endl;
      for (const auto& info : *found)
        std::cout << "  " << info.id.to_hex() << " " << info.endpoint.to_string() << std::endl;
    }
  } else if (word == "join" || word == "leave" || word == "publish") {
    multicast_command(host, scribe, word, rest);
  } else if (word == "stats") {
    print_stats(host.node(), scribe);
  } else {
    std::cout << "commands: put TEXT, get KEY, lookup KEY, join TOPIC, leave TOPIC, "
                 "publish TOPIC TEXT, stats, quit"
              << std::endl;
  }
  return true;
}

}  // namespace

int overlay_node(const OverlayArgs& args) {
  constexpr std::string_view kCommand = "overlay node";
  auto bind = net::InetAddress::parse(args.bind);
  if (!bind)
    return report_failure(kCommand, "--bind '" + args.bind + "': " + bind.error().message());
  std::optional<net::Endpoint> seed;
  if (!args.bootstrap.empty()) {
    auto s = resolve_bootstrap(args.bootstrap);
    if (!s) return report_failure(kCommand, s.error().message());
    seed = *s;
  }
  const bool loopback = bind->is_loopback() || (seed && seed->address().is_loopback());
  overlay::NodeConfig config = node_config(loopback, /*read_only=*/false);
  if (!args.id.empty()) {
    config.id = *overlay::NodeId::from_hex(args.id);  // checked by the parser
  } else if (!bind->is_any() && !overlay::bep42_exempt(*bind)) {
    // Bound to a public address: that is the address peers see, so the id is the one
    // BEP 42 derives from it, which nodes that enforce BEP 42 (libtorrent's
    // dht_enforce_node_id) require.
    config.external_address = *bind;
  }
  auto host = Host::open(net::Endpoint(*bind, static_cast<std::uint16_t>(args.port)), config);
  if (!host) return report_failure(kCommand, host.error().message());
  Host& h = **host;
  // Overlay multicast on the node (destroyed before it: declared after the host).
  overlay::Scribe scribe(h.node());
  scribe.on_deliver = [](const overlay::Delivery& d) {
    std::cout << "[" << printable(d.topic) << "] " << printable(d.payload) << " (from "
              << d.publisher.endpoint.to_string() << ")" << std::endl;
  };
  std::cout << "node " << h.address().to_string() << " id " << h.node().id().to_hex() << std::endl;
  if (seed) {
    auto joined = h.bootstrap(*seed);
    if (joined)
      std::cout << "bootstrapped from " << seed->to_string() << ": " << *joined << " contacts"
                << std::endl;
    else
      std::cerr << "nexo overlay node: bootstrap from " << seed->to_string()
                << " failed: " << printable(joined.error().message()) << " (running alone)"
                << std::endl;
  }
  // Lines of stdin, read as they come without blocking the loop: the node answers
  // queries while the prompt waits.
  std::string pending;
  char buffer[4096];
  for (;;) {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&p, 1, 0);
    if (ready > 0) {
      const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n <= 0) break;  // end of input (or an error reading it): quit
      pending.append(buffer, static_cast<std::size_t>(n));
      for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
        std::string line = pending.substr(0, eol);
        pending.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!node_command(h, scribe, line)) return 0;
      }
      if (pending.size() > 65536) pending.clear();  // a line without end: dropped
      continue;
    }
    h.loop().run_once(20ms);
  }
  if (!pending.empty()) node_command(h, scribe, pending);
  return 0;
}

}  // namespace nexo::tool
