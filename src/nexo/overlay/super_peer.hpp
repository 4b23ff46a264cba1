// Peer — a member of a two-tier overlay, as in Skype: super peers run the DHT (Node)
// among themselves; ordinary peers attach to one super peer, keep standby ones, and fail
// over when theirs dies. Users are found by name through a directory kept in the DHT, and
// reached by messages sent direct, or relayed by the callee's super peer when the callee
// cannot take unsolicited datagrams (behind a NAT). Sans-I/O: a DatagramNode that owns its
// Node and runs its own timers as a NodeService of it; sim::Network or UdpHost drive it.
//
// Roles.
//   super peer   serves the DHT (a full Node), attaches up to max_attached ordinary peers,
//                answers their keep-alives, does their directory lookups and puts, probes
//                reachability, relays messages to its attached peers.
//   ordinary     not in the DHT at all: its Node is read-only (BEP 43: its queries say
//                ro: 1, so no DHT node keeps it as a contact) and never bootstraps; it
//                answers only the nexo_ queries below (read_only_extensions), and its
//                replies say ro: 1 too. It asks its super peer for what the DHT holds.
// The network's first node is a super peer by configuration (SuperPeerConfig::bootstrap).
// Any other starts ordinary and may serve once it has been up min_uptime and has proved
// that it takes unsolicited datagrams (below); it is promoted only if there is demand.
// Demand: it asks its super peer for its load and for up to 8 other super peers drawn at
// random from its routing table (nexo_supers: l attached peers, m max_attached, s), then
// asks those for theirs; a super peer's load is l / min(m, peers_per_super). It is
// promoted when fewer than min_supers answered in all (too few super peers known: not
// enough standbys to fail over to), or when every one that answered has load 1 or more
// (each holds its share: the tier aims at one super peer per peers_per_super ordinary
// peers, and none asked has room below that). The least loaded decides, not the mean:
// routing tables keep their oldest contacts, so the sample leans to the first super
// peers, which took the most peers; new ones with room still show up in it. Otherwise
// it stays ordinary and asks again every demand_check. The first ask waits a random
// share of demand_jitter, and so does each later one, so that candidates that came up
// together do not all see the same shortage.
// Proving reachability: it asks a super peer for a probe (nexo_probe, naming the
// endpoints it sent to lately), that super peer has a third node (another super peer from
// its routing table, else one of its attached peers) send it a nexo_probe_ping with the
// probe's nonce; the ping proves it only when it comes from an endpoint this peer has not
// sent to within contact_memory (a NAT's filter lets those through; a ping from one
// leaves the probe inconclusive, asked again after probe_retry). A peer behind a NAT
// that filters (sim::Network::set_behind_nat) never gets the ping, so it is never
// promoted. A promoted peer leaves read-only mode, tells its old super peer it left
// (nexo_detach: the slot is free at once) and bootstraps into the DHT through the super
// peers it knows.
//
// Demotion. A super peer that has had no attached peer for idle_demote (plus a random
// share of demand_jitter: idle ones do not all ask at once) asks up to 8 others, drawn
// at random from its routing table, for their load. When min_supers or more answer and
// their mean load is below demote_load (well below the 1 at which each holds its share:
// no flapping), the tier does not need it: it returns to ordinary. First it leaves the
// tier: it takes no new peer (201), tells any attached peer to move (nexo_detach naming
// other super peers) and hands every mutable item it stores to the k closest other nodes
// (Node::hand_over: a put that keeps no copy here; 8 at a time), still serving the DHT
// meanwhile. Then its node turns read-only again (BEP 43: the DHT's nodes stop keeping it
// as a contact), it drops its super-peer state and answers 204 to what only super peers
// serve, attaches to another super peer and publishes its entry (seq + 1) naming it. It
// may be promoted again, by demand, after demand_check. Otherwise it asks again after
// another idle_demote. The bootstrap super peer is never demoted.
// Closing (Peer::close): an ordinary peer sends nexo_detach to its super peer; a super
// peer leaves the tier as a demoting one does; then the peer runs no timer of this
// protocol and the driver may remove it.
//
// Queries (extension queries, node.hpp; every argument checked: a wrong type or length is
// answered 203 and counted `bad_arguments`; a node that does not know a method answers 204,
// so an ordinary peer answers 204 to what only super peers serve):
//   nexo_attach     {}              -> {a: the asker's address as seen, compact peer;
//                                       s: up to 4 other super peers, compact nodes}
//                   full: 201 "nexo_attach: super peer full: N peers attached (max_attached)"
//   nexo_keepalive  {w: 1 for standbys}   -> {s: ...}; 201 "not attached" when unknown
//   nexo_supers     {}              -> {s: up to 8 super peers, l: attached peers,
//                                       m: max_attached} (answered when full too)
//   nexo_probe      {n: 8-byte nonce, x: compact peers to avoid} -> {} once the prober
//                   says it sent the ping; 201 no prober / prober failed; 202 busy
//   nexo_probe_send {t: compact peer, n} -> {} and a nexo_probe_ping {n} to t
//   nexo_probe_ping {n}             -> {}
//   nexo_lookup     {k: 32 bytes, salt: the name} -> {item: {seq, sig, v}} or {} (none),
//                   once the DHT get ended; attached peers only
//   nexo_publish    {k, salt, seq, v, sig, cas: optional} -> {n: nodes that stored it},
//                   once the put ended; 206/205/207/203 for an item that does not check;
//                   301/302 when a store refused it for a newer entry; attached only
//   nexo_relay      {t: compact peer, m: text, f: sender's name} -> {} once the callee
//                   acknowledged; 201 "callee not attached here" / "callee did not
//                   answer"; 202 over the per-source rate (relay_rate) or max_pending
//   nexo_deliver    {m, f, r: 1 when relayed} -> {} (the acknowledgement)
//   nexo_detach     {s: optional, compact nodes} -> {}. To a super peer, from an attached
//                   peer that leaves it: the slot is freed at once. To an ordinary peer,
//                   from its super peer that is leaving the tier: it drops it and attaches
//                   at once, to those named in s first. From anyone else 201 (counted
//                   detach_unknown); s not whole compact nodes 203.
// The deferred ones (probe, lookup, publish, relay) are asked with service_timeout.
//
// Standbys and failover. A super peer names other super peers drawn at random from its
// routing table (whose contacts are all super peers: ordinary peers say ro: 1). An
// ordinary peer keeps `standbys` of them, pings them every standby_check and then swaps
// the oldest for a fresh one, and remembers up to 16 more it was named. After max_missed
// keep-alives in a row went unanswered (each after keepalive_timeout; a miss sends the
// next one at once), it attaches to the first that accepts of: its standbys, those it
// remembers, its entry points, the super peers its node heard from; a full one is asked
// for others (nexo_supers). With none left it tries again after attach_retry. Once one
// accepts, it sends nexo_detach to the one it left (which may be alive after all: its
// slot is freed then, not after attached_timeout).
// The DHT beneath: in a tier of a few super peers, a survivor that never queried a closed
// one since it died keeps naming it in every reply. A lookup asks a candidate that its
// own routing table holds as bad once, on the node-wide RTO, without a retry
// (node_ops.cpp): before, each get waited two of its backed-off RTOs (up to 8 s each),
// outlasting service_timeout, so every lookup an ordinary peer asked of that super peer
// timed out.
//
// Directory. A user is (name, ed25519 key). Its entry is a BEP 44 mutable item signed by
// the user's key, salt = the name, v = {a: its address, s: its super peer's address (its
// own for a super peer), r: 1 when it takes unsolicited datagrams} (compact peers), seq
// one more at every publish: after the first probe result, at every (re-)attach, at
// promotion, and every `republish`. A peer does not know the stored seq when it starts (a
// restarted user starts at 1, and BEP 44 stores refuse a seq below theirs, 302): before
// its first put, and after any put refused 301/302, it gets its own entry and puts
// seq = stored + 1 with cas = stored (a store that took a newer one meanwhile answers 301,
// and it gets it again; after 3 such refusals in a row it waits attach_retry). A lookup needs the
// name and the key, as a contact list holds them: a name alone is not unique (anyone can sign an
// entry under any salt; only the key makes it this user's). The asker verifies the signature
// itself: its super peer is trusted to look up, not to vouch.
//
// Messages. send_message resolves the callee, then sends nexo_deliver to its address when
// the entry says reachable, else nexo_relay to its super peer, which forwards over the
// mapping the callee's keep-alives hold open. Delivery is acknowledged end to end; a
// failed attempt (timeout, error) is retried after resolving again (the callee may have
// failed over), up to message_attempts; then the callback gets the error.
//
// Bounds (bad input and floods cost at most these): attached peers max_attached; relay
// sources tracked max_relay_sources (token bucket each, LRU); deferred lookups, puts and
// relays in progress max_pending; probes arranged and sent probe_rate per second; our own
// messages in progress max_messages; endpoints remembered for the probe max_contacts
// (more than that within contact_memory: probes are inconclusive until it drains); message
// text max_text bytes; standbys `standbys`. The Node's own bounds hold beneath (node.hpp).
//
// Completion contract: as Node's (one callback, later, or an error at once). Thread
// contract: one thread (the driver's); calls are never reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nexo/overlay/node.hpp"

namespace nexo::overlay {

struct SuperPeerConfig {
  // Eligibility.
  bool bootstrap = false;  // a super peer from the start (the network's first node)
  bool may_serve = true;   // false: never promoted
  Duration min_uptime = std::chrono::minutes(10);
  // Demand (see the top of the file): promoted only when every super peer asked holds
  // peers_per_super ordinary peers (or max_attached, if less), or fewer than min_supers
  // of them answered. Asked first after min_uptime plus a random share of
  // demand_jitter (candidates that came up together do not all see the same shortage),
  // then every demand_check plus the same jitter.
  std::uint32_t peers_per_super = 32;
  std::uint32_t min_supers = 3;  // at most 9 (a candidate asks up to 9)
  Duration demand_check = std::chrono::minutes(2);
  Duration demand_jitter = std::chrono::seconds(30);
  // Demotion (see the top of the file): a super peer (not the bootstrap one) with no
  // attached peer for idle_demote (plus a random share of demand_jitter) returns to
  // ordinary when min_supers or more others answer and their mean load is below
  // demote_load.
  Duration idle_demote = std::chrono::minutes(30);
  double demote_load = 0.5;
  Duration probe_timeout = std::chrono::seconds(5);  // no probe ping by then: not reachable
  Duration probe_retry = std::chrono::seconds(20);   // after an inconclusive probe
  Duration contact_memory = std::chrono::minutes(5);
  std::uint32_t max_contacts = 64;
  // Ordinary peers.
  Duration keepalive_interval = std::chrono::seconds(15);
  Duration keepalive_timeout = std::chrono::seconds(2);  // then the keep-alive is missed
  std::uint32_t max_missed = 3;                          // missed in a row: fail over
  std::uint32_t standbys = 2;
  // Each standby is pinged this often, and the oldest is replaced by a fresh one (drawn at
  // random from the super peer's routing table): standbys taken when the tier was young
  // are its oldest super peers, the most loaded ones, which then all fail together.
  Duration standby_check = std::chrono::seconds(60);
  Duration attach_retry = std::chrono::seconds(5);
  Duration republish = std::chrono::minutes(30);
  // Super peers.
  std::uint32_t max_attached = 64;
  Duration attached_timeout = std::chrono::seconds(60);  // no keep-alive: dropped
  double relay_rate = 5;                                 // relays per second per source
  double relay_burst = 20;
  std::uint32_t max_relay_sources = 256;
  std::uint32_t max_pending = 64;
  double probe_rate = 5;  // probes arranged or sent per second
  double probe_burst = 20;
  // Messages.
  std::uint32_t message_attempts = 3;
  std::uint32_t max_messages = 32;
  std::size_t max_text = 900;
  // How long an ordinary peer waits for a query its super peer answers after work of its
  // own (a DHT get or put, a relay, a probe through a third node): longer than the node's
  // query_timeout, which bounds one round trip.
  Duration service_timeout = std::chrono::seconds(15);
};

enum class PeerRole : std::uint8_t { ordinary, super };

// A directory entry's value (see the top of the file).
struct DirectoryEntry {
  net::Endpoint address;
  net::Endpoint super_peer;
  bool reachable = false;
  std::int64_t seq = 0;
};
// The bencoded v of an entry, and back (errors: malformed, naming the key).
wire::bencode::Value encode_entry(const DirectoryEntry& entry);
Result<DirectoryEntry> decode_entry(const MutableItem& item);

struct DeliveryReport {
  bool relayed = false;
  net::Endpoint via;  // the callee, or its super peer
  std::uint32_t attempts = 0;
  Duration elapsed{};
};

struct SuperPeerCounters {
  // Ordinary side.
  std::uint64_t attaches = 0;        // attach accepted (first and re-attaches)
  std::uint64_t attach_refused = 0;  // attach answered with an error
  std::uint64_t attach_failed = 0;   // attach unanswered
  std::uint64_t failovers = 0;       // super peer given up after max_missed
  std::uint64_t keepalives = 0;      // sent
  std::uint64_t keepalives_missed = 0;
  std::uint64_t probes = 0;               // probes asked for
  std::uint64_t probe_pings_ignored = 0;  // wrong nonce, or from an endpoint we sent to
  std::uint64_t demand_checks = 0;        // loads asked of super peers before a promotion
  std::uint64_t promotions_declined = 0;  // eligible, but the super peers asked had room
  std::uint64_t publishes = 0;            // directory entries sent out
  std::uint64_t publish_failed = 0;
  std::uint64_t seq_syncs = 0;    // gets of our own entry before a put (its stored seq)
  std::uint64_t seq_refused = 0;  // puts refused 301/302: a newer entry is stored
  std::uint64_t detaches = 0;     // nexo_detach sent to a super peer we left
  std::uint64_t moved = 0;        // told by our super peer to move (nexo_detach from it)
  // Super side.
  std::uint64_t refused_full = 0;    // attach refused: max_attached
  std::uint64_t dropped_silent = 0;  // attached peers dropped: keep-alives stopped
  std::uint64_t probes_arranged = 0;
  std::uint64_t no_prober = 0;
  std::uint64_t probe_pings_sent = 0;
  std::uint64_t probe_rate_limited = 0;
  std::uint64_t lookups_served = 0;
  std::uint64_t puts_served = 0;
  std::uint64_t relays = 0;          // relays acknowledged by the callee
  std::uint64_t relay_refused = 0;   // not attached, over the rate, max_pending
  std::uint64_t relay_failed = 0;    // the callee did not answer
  std::uint64_t bad_arguments = 0;   // answered 203
  std::uint64_t detached = 0;        // attached peers that left with nexo_detach (slot freed)
  std::uint64_t detach_unknown = 0;  // nexo_detach from a peer not attached / not our super
  std::uint64_t demotions = 0;       // idle, with super peers enough around: ordinary again
  std::uint64_t peers_moved = 0;     // attached peers told to move (leaving the tier)
  std::uint64_t handed_over = 0;     // stored items put to the k closest others on leaving
  std::uint64_t hand_over_failed = 0;
  // Both.
  std::uint64_t delivered_direct = 0;  // messages taken
  std::uint64_t delivered_relayed = 0;
};

class Peer final : public DatagramNode {
 public:
  using MessageHandler =
      std::function<void(const std::string& from_name, const std::string& text, Time now)>;
  using ResolveCallback = std::function<void(Result<DirectoryEntry>)>;
  using MessageCallback = std::function<void(Result<DeliveryReport>)>;

  // A peer at `self`, user `name` (1 to 64 bytes, BEP 44's salt; else throws
  // std::invalid_argument, a programming error) with its key. An ordinary one attaches to
  // the first of `entry_points` that accepts (super peers known by address); a bootstrap
  // one serves at once (and bootstraps into the DHT through the entry points, if any).
  // Starts at once: the driver kicks it after making it (sim::Network::add does).
  Peer(const net::Endpoint& self, Time now, std::string name, SigningKey key,
       std::vector<net::Endpoint> entry_points, SuperPeerConfig config = {},
       NodeConfig node_config = {});
  ~Peer() override;
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // DatagramNode.
  void on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from,
                   Time now) override;
  void on_timer(Time now) override;
  std::optional<Time> next_timer() const override;
  bool poll_transmit(Bytes& out, net::Endpoint& to) override;

  // The directory entry of (name, key). Errors at once: invalid_argument (name), not
  // connected (an ordinary peer not attached). Callback: the entry (signature verified),
  // or not found (malformed naming it), timed out, refused.
  Result<void> resolve(const std::string& name, const PublicKey& key, Time now,
                       ResolveCallback done);
  // Sends `text` to user (name, key). Errors at once: invalid_argument (name, text over
  // max_text), overloaded (max_messages in progress). Callback: how it was delivered, or
  // the last attempt's error.
  Result<void> send_message(const std::string& name, const PublicKey& key, std::string text,
                            Time now, MessageCallback done);
  void set_message_handler(MessageHandler handler) { on_message_ = std::move(handler); }
  // Leaves gracefully. An ordinary peer tells its super peer (nexo_detach); a super peer
  // tells its attached peers to move and hands what it stores for others to the k closest
  // other nodes first (as a demotion does). Then its node is read-only and it runs no
  // timer of this protocol (messages in progress still end); `done` runs once, later,
  // when the driver may remove it. Idempotent (a second call changes nothing). The driver
  // kicks it after the call.
  void close(Time now, std::function<void()> done = nullptr);
  bool closed() const noexcept { return closing_ && close_due_ == Time::max() && !on_closed_; }

  PeerRole role() const noexcept { return role_; }
  const std::string& name() const noexcept { return name_; }
  const PublicKey& public_key() const noexcept { return key_.public_key(); }
  // An ordinary peer's super peer (nullopt while it has none); a super peer's own address.
  std::optional<net::Endpoint> super_peer() const;
  const std::vector<net::Endpoint>& standbys() const noexcept { return standbys_; }
  std::optional<bool> reachable() const noexcept { return reachable_; }
  std::size_t attached() const noexcept { return attached_.size(); }
  bool is_attached(const net::Endpoint& peer) const noexcept;
  // When it last attached, and when it was promoted (for the figures).
  std::optional<Time> attached_at() const noexcept { return attached_at_; }
  std::optional<Time> promoted_at() const noexcept { return promoted_at_; }
  std::int64_t entry_seq() const noexcept { return seq_; }
  const SuperPeerCounters& counters() const noexcept { return counters_; }
  Node& node() noexcept { return node_; }
  const Node& node() const noexcept { return node_; }

 private:
  struct Attached {
    net::Endpoint endpoint;
    Time last_seen;
  };
  struct Bucket {
    net::InetAddress source;
    double tokens = 0;
    Time last;
  };
  struct Sent {
    net::Endpoint to;
    Time at;
  };
  struct Message;

  // The timers of this protocol, run by the node (NodeService).
  class Service final : public NodeService {
   public:
    explicit Service(Peer& peer) noexcept : peer_(peer) {}
    void on_timer(Time now) override { peer_.on_service_timer(now); }
    std::optional<Time> next_timer() const override { return peer_.service_timer(); }

   private:
    Peer& peer_;
  };
  void on_service_timer(Time now);
  std::optional<Time> service_timer() const;

  // super_peer.cpp: roles, eligibility, probes.
  void register_common();
  void promote(Time now);
  void start_probe(Time now);
  void probe_result(std::optional<bool> reachable, Time now);
  // super_peer_demand.cpp: promotion by demand.
  void schedule_eligibility(Time now);
  void check_eligibility(Time now);
  Duration jitter(Duration spread);
  // Asks `targets` for their load (nexo_supers: l attached, m max_attached); `decide`
  // gets the loads of those that answered (attached / min(max, peers_per_super)).
  void ask_loads(const std::vector<net::Endpoint>& targets, Time now,
                 std::function<void(std::vector<double> loads, Time now)> decide);
  // A nexo_supers answer's load: l / min(m, peers_per_super); nullopt without l and m.
  std::optional<double> load_of(const krpc::Response& response) const;
  void load_answered(Time now);
  void demand_decided(std::vector<double> loads, Time now);
  void check_surplus(Time now);
  void surplus_decided(std::vector<double> loads, Time now);
  void demote(Time now);
  void finish_demote(Time now);
  // Demotion and close: attached peers told to move, stored items handed over; then `then`.
  void leave_tier(Time now, std::function<void(Time)> then);
  void hand_over_next(Time now);
  bool sent_to_recently(const net::Endpoint& endpoint, Time now) const;
  std::string recent_contacts(Time now) const;
  ExtensionAnswer on_probe_send(const krpc::Query& query, const net::Endpoint& from, Time now);
  ExtensionAnswer on_probe_ping(const krpc::Query& query, const net::Endpoint& from, Time now);
  ExtensionAnswer on_deliver(const krpc::Query& query, const net::Endpoint& from, Time now);
  // nexo_detach, both ways: an attached peer leaves (super side), or our super peer tells
  // us to move (ordinary side; `s` names super peers to try first).
  ExtensionAnswer on_detach(const krpc::Query& query, const net::Endpoint& from, Time now);
  // Tells `super_peer` we left it (fire and forget: it frees the slot at once).
  void send_detach(const net::Endpoint& super_peer, Time now);
  bool take_probe_token(Time now);

  // super_peer_attach.cpp: the ordinary side.
  void start_attach(Time now);
  void try_attach(Time now);
  void attach_done(const net::Endpoint& to, Result<ExtensionReply> reply, Time now);
  void send_keepalive(Time now);
  void keepalive_done(std::uint64_t generation, Result<ExtensionReply> reply, Time now);
  void keepalive_deadline(Time now);
  void fail_over(Time now);
  void move_away(const net::Endpoint& old, const std::vector<NodeInfo>& named, Time now);
  void check_standbys(Time now);
  void take_standbys(const krpc::Response& response, bool as_candidates);
  void add_candidate(const net::Endpoint& endpoint);

  // super_peer_serve.cpp: the super side.
  void register_super();
  ExtensionAnswer on_attach(const krpc::Query& query, const net::Endpoint& from, Time now);
  ExtensionAnswer on_keepalive(const krpc::Query& query, const net::Endpoint& from, Time now);
  ExtensionAnswer on_supers(const krpc::Query& query, const net::Endpoint& from, Time now);
  void on_probe(const krpc::Query& query, const net::Endpoint& from, Time now,
                ExtensionReplyTo reply_to);
  // A directory query's key and salt (views into the query).
  struct DirectoryRequest {
    PublicKey key{};
    std::string_view raw_key;
    std::string_view salt;
  };
  std::optional<DirectoryRequest> admit_directory(std::string_view method, const krpc::Query& query,
                                                  const net::Endpoint& from, Time now,
                                                  const ExtensionReplyTo& reply_to);
  void on_lookup(const krpc::Query& query, const net::Endpoint& from, Time now,
                 ExtensionReplyTo reply_to);
  void on_publish(const krpc::Query& query, const net::Endpoint& from, Time now,
                  ExtensionReplyTo reply_to);
  void on_relay(const krpc::Query& query, const net::Endpoint& from, Time now,
                ExtensionReplyTo reply_to);
  std::string other_supers(const net::Endpoint& except, std::size_t count, Time now);
  bool take_relay_token(const net::Endpoint& from, Time now);
  void drop_silent(Time now);
  krpc::ErrorReply bad_argument(std::string what);

  // super_peer_directory.cpp: entries, resolving, messages.
  void publish_entry(Time now);
  void sync_seq(Time now);
  void seq_synced(Result<std::optional<MutableItem>> stored, Time now);
  void put_entry(Time now);
  void publish_done(bool ok, bool stale_seq, Time now);
  // The newer of what a DHT get found and what this node stores itself (a lookup never
  // asks its own node, which may be one of the k closest).
  std::optional<MutableItem> newest(std::optional<MutableItem> found, const PublicKey& key,
                                    std::string_view salt, Time now) const;
  Result<void> resolve_via_super(const std::string& name, const PublicKey& key, Time now,
                                 ResolveCallback done);
  // The item (name, key) as our super peer finds it (signature checked here); nullopt:
  // none stored.
  Result<void> lookup_via_super(const std::string& name, const PublicKey& key, Time now,
                                std::function<void(Result<std::optional<MutableItem>>)> done);
  void message_step(std::uint64_t id, Time now);
  void message_attempt_done(std::uint64_t id, Result<DeliveryReport> result, Time now);
  Message* find_message(std::uint64_t id) noexcept;
  Time message_due(const Message& message) const noexcept;
  void run_due_messages(Time now);

  net::Endpoint self_;
  std::string name_;
  SigningKey key_;
  SuperPeerConfig config_;
  Node node_;
  Service service_{*this};
  fault::Random random_;
  PeerRole role_ = PeerRole::ordinary;
  Time created_;
  Time last_now_;
  MessageHandler on_message_;
  SuperPeerCounters counters_;

  // Ordinary side.
  std::vector<net::Endpoint> entry_points_;
  std::optional<net::Endpoint> super_;
  net::Endpoint public_address_;  // as our super peer sees us
  std::vector<net::Endpoint> standbys_;
  std::vector<net::Endpoint> candidates_;  // attach candidates, tried in order
  std::vector<net::Endpoint> tried_;       // this round's, not tried again in it
  std::vector<net::Endpoint> known_;       // other super peers named lately (kMaxKnown)
  std::optional<net::Endpoint> leaving_;   // the super peer we fail over from: detached once
                                           // another accepts us
  bool rotate_standby_ = false;            // the next standby named replaces the oldest
  bool attaching_ = false;
  std::optional<Time> attached_at_;
  std::optional<Time> promoted_at_;
  std::uint32_t missed_ = 0;
  std::uint64_t keepalive_generation_ = 0;
  bool keepalive_outstanding_ = false;
  Time next_keepalive_ = Time::max();
  Time keepalive_deadline_ = Time::max();
  Time next_attach_ = Time::max();
  Time next_standby_check_ = Time::max();
  // Probes and eligibility.
  std::optional<bool> reachable_;
  std::uint64_t probe_nonce_ = 0;
  Time probe_deadline_ = Time::max();
  Time next_probe_ = Time::max();
  Time eligible_at_ = Time::max();
  std::uint64_t load_round_ = 0;  // the loads asked now (older answers are ignored)
  bool asking_loads_ = false;
  std::vector<double> loads_;  // of the super peers that answered this round
  std::size_t loads_waiting_ = 0;
  std::function<void(std::vector<double>, Time)> loads_decide_;
  std::vector<Sent> sent_;  // recent destinations (max_contacts)
  Time contacts_overflow_until_{};
  // The directory entry.
  std::int64_t seq_ = 0;
  bool seq_known_ = false;           // seq_ is at least the stored one (a get told us)
  std::optional<std::int64_t> cas_;  // the stored seq the next put replaces (BEP 44 cas)
  std::uint32_t stale_puts_ = 0;     // puts refused 301/302 in a row
  bool publish_pending_ = false;
  bool publish_again_ = false;
  bool entry_wanted_ = false;  // publish once the probe has a result
  Time next_publish_ = Time::max();

  // Super side.
  std::vector<Attached> attached_;
  std::vector<Bucket> relay_sources_;
  std::uint32_t pending_ = 0;
  double probe_tokens_ = 0;
  Time probe_refill_;
  Time next_sweep_ = Time::max();
  Time demote_check_ = Time::max();  // idle since idle_demote ago: ask whether we are needed
  bool leaving_tier_ = false;        // handing over before going ordinary
  std::vector<StoredItem> hand_over_queue_;
  std::size_t handing_over_ = 0;  // hand-over puts in flight
  std::function<void(Time)> after_hand_over_;
  // Closing.
  bool closing_ = false;
  Time close_due_ = Time::max();  // when `on_closed_` runs
  std::function<void()> on_closed_;

  // Messages in progress.
  std::vector<std::unique_ptr<Message>> messages_;
  std::uint64_t next_message_id_ = 1;
};

}  // namespace nexo::overlay
