// RoutingTable — a Kademlia routing table as BEP 5 describes it: the contacts
// a node knows, in k-buckets over the 160-bit id space, with least-recently-
// seen eviction only after the old contact fails a ping.
//
// Layout. Bucket i < last holds the ids that share exactly i leading bits
// with our own id; the last bucket holds those that share at least `last`.
// A new table has one bucket (the whole space). Only the last bucket — the
// one covering our own id — splits when full, so the table keeps k contacts
// at every distance and ever more detail near itself; 160 buckets at most.
//
// Contact states (BEP 5), with N = RoutingConfig::bad_after_failures:
//   good          answered one of our queries, no failure since, and seen
//                 (a reply or a query from it) within good_for (15 min)
//   questionable  neither good nor bad: not heard from lately, never
//                 answered, or failed fewer than N times in a row
//   bad           failed N queries in a row
// N = 2 by default: KRPC never retransmits, so a single lost datagram (1-5%
// on the Internet) must not condemn a contact, while two in a row at 3% loss
// happen once in a thousand — and a dead contact kept longer costs every
// lookup that meets it a timeout (the simulator's churn is 30 s lifetimes).
//
// Inserting a newcomer into a full bucket that cannot split: a bad contact
// is replaced at once; otherwise the newcomer waits in the bucket's bounded
// replacement cache and, if some contact is questionable, the table returns
// "ping this contact" (the least recently seen questionable one not already
// being pinged). If the ping times out (failed()), that contact is evicted and
// the most recently seen cache entry takes its place; if it answers
// (heard_from(reply)), it stays and the newcomer stays in the cache. A good
// contact is never evicted for a newcomer. A contact that turns bad through
// failed() is replaced from the cache too; with an empty cache it stays,
// excluded from closest(), until a newcomer needs its slot.
//
// Endpoint changes. A message claiming a known id from another endpoint does
// not move the contact: anyone can claim an id, so the old endpoint is kept
// until it fails. The claim is put in the cache and the old endpoint is pinged
// (the outcome endpoint_conflict with a ping); if it no longer answers, the
// claim — a node that moved, say behind a rebinding NAT — takes its place.
//
// One contact per IP (optional, on by default as libtorrent does): a new
// contact whose address (port aside) is already in the table under another
// id is refused. Tests that run every node on 127.0.0.1 turn it off.
//
// Sans-I/O: the table never sends and never reads a clock; `now` comes in,
// actions (a ping to send, refresh targets) come out. IPv4 and IPv6 contacts
// may share a table, but a node keeps one per family (BEP 32), since each
// family has its own reachable set. Not thread-safe: one thread at a time.
//
// Memory: sizeof(Contact) is 80 bytes on x86-64 (id 20, endpoint 28, two
// times 16, RTT estimator 12, counters 2, padding 2). A table holds at most
// (k + replacements) contacts per bucket, k * wide[i] + replacements in a wide
// one; a node among 100,000 has ~15 buckets, so ~15 x (8 + 4) x 80 B = 14 KiB
// when every cache is full, and up to 240 x 80 B = 19 KiB more with the wide
// buckets {16, 8, 4, 2} full (simulated at 100,000 nodes they held 33, 29, 24
// and 16 contacts on average: 184 contacts per node, 3.0 GiB peak in all).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "nexo/fault/random.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/compact.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/overlay/rtt.hpp"
#include "nexo/overlay/time.hpp"

namespace nexo::overlay {

// Wide buckets (libtorrent's "extended routing table"). Bucket i < wide.size(), once
// it is no longer the last one, holds k * wide[i] contacts instead of k. Half of all
// ids fall in bucket 0, a quarter in bucket 1, ...: more contacts there put a lookup's
// first step as many bits closer to a random target (k * 2^j contacts in a bucket
// share ~j more bits with the closest of them), the step that costs the most rounds
// in a large network. The last bucket still splits at k. Empty (or all 1): BEP 5's
// table. Each extra contact costs sizeof(Contact) when the bucket is full.
inline constexpr std::size_t kMaxWideBuckets = 8;

struct RoutingConfig {
  std::size_t k = 8;  // contacts per bucket (BEP 5's K); at least 1
  // Multipliers of k for buckets 0, 1, ... (see Wide buckets); at most kMaxWideBuckets,
  // each at least 1.
  std::vector<std::uint8_t> wide{};
  std::size_t replacements = 4;  // replacement cache entries per bucket; 0 keeps none
  int bad_after_failures = 2;    // N: consecutive failures that make a contact bad (>= 1)
  Duration good_for = std::chrono::minutes(15);       // BEP 5
  Duration refresh_after = std::chrono::minutes(15);  // a bucket unchanged this long is refreshed
  bool one_contact_per_ip = true;
  RttConfig rtt;

  // The defaults with wide = {16, 8, 4, 2}, libtorrent's extended table (Node's default).
  static RoutingConfig extended() {
    RoutingConfig c;
    c.wide = {16, 8, 4, 2};
    return c;
  }
};

// What brought a message from a node: BEP 5 counts a reply to our query
// (proof that it answers) above a query it sent us (proof only that it lives).
enum class Heard : std::uint8_t { query, reply };

enum class ContactState : std::uint8_t { good, questionable, bad };

struct Contact {
  NodeId id;
  net::Endpoint endpoint;
  Time last_seen = Time::min();   // the last message from it, query or reply
  Time last_reply = Time::min();  // the last reply to one of our queries; min(): never
  RttEstimator rtt;
  std::uint8_t failures = 0;  // consecutive queries it failed to answer
  bool ping_pending = false;  // the table asked for a ping to decide its eviction

  bool ever_replied() const noexcept { return last_reply != Time::min(); }
  NodeInfo info() const noexcept { return {id, endpoint}; }
};

// What heard_from() did with the message's sender.
enum class Insertion : std::uint8_t {
  updated,            // a known contact: times refreshed
  added,              // new, in a free slot (after splitting the bucket, perhaps)
  replaced_bad,       // new, in the slot of a bad contact
  cached,             // new, in the replacement cache (the bucket is full)
  discarded,          // new, bucket full and no replacement cache configured
  own_id,             // our own id: never inserted
  ip_taken,           // one contact per IP: another id already has this address
  endpoint_conflict,  // a known id from another endpoint: the old one kept (see above)
};

struct HeardResult {
  Insertion insertion;
  // When set: send this contact a ping and report the outcome to the table,
  // heard_from(.., Heard::reply) or failed(). Until then it is not pinged again.
  std::optional<NodeInfo> ping;
};

// What failed() did.
enum class Failure : std::uint8_t {
  unknown,  // no contact with that id and endpoint (a cache entry is dropped)
  counted,  // the failure is counted; the contact stays
  evicted,  // the contact was replaced by a cache entry
};

class RoutingTable {
 public:
  // A table around `own` with one bucket, last changed at `now`.
  RoutingTable(const NodeId& own, Time now, RoutingConfig config = {});

  const NodeId& own_id() const noexcept { return own_; }
  const RoutingConfig& config() const noexcept { return config_; }

  // A message came from `id` at `endpoint`. `rtt` (with Heard::reply) is the
  // round trip of the query it answers; it feeds the contact's estimator and
  // the node-wide one (whatever the outcome). Never fails; see Insertion.
  HeardResult heard_from(const NodeId& id, const net::Endpoint& endpoint, Time now, Heard kind,
                         std::optional<Duration> rtt = std::nullopt);

  // A query to `id` at `endpoint` timed out. A failure reported for another
  // endpoint than the contact's is not the contact's: unknown.
  Failure failed(const NodeId& id, const net::Endpoint& endpoint, Time now);

  // Removes `id` from the table (its slot filled from the cache) or from the
  // cache. False when it is in neither.
  bool remove(const NodeId& id);

  // The contact with that id, or nullptr. Valid until the table next changes.
  const Contact* find(const NodeId& id) const noexcept;
  // The contact at `endpoint`, or nullptr: a scan of every bucket (for callers that know
  // an endpoint only, such as an extension query's sender).
  const Contact* find_at(const net::Endpoint& endpoint) const noexcept;
  ContactState state(const Contact& contact, Time now) const noexcept;

  // How closest() ranks the contacts that are not bad.
  enum class Rank : std::uint8_t {
    // BEP 5's letter: the closest good ones, topped up with the closest questionable
    // ones when there are fewer than n good.
    good_first,
    // The closest that answered us at least once (libtorrent's "confirmed" nodes),
    // however long ago, topped up with the closest others. A contact not heard from
    // for good_for is questionable, not dead: passing over it for a farther good one
    // costs every lookup that goes through this table a round. (N = 10,000 simulated
    // with good_for = 100 s, shorter than the 221 s join: answers good_first gave
    // rounds p50 4 p99 6, answered_first p50 3 p99 5, as with every contact fresh.)
    answered_first,
  };
  // The n contacts closest to `target` by XOR distance, closest first, ranked by
  // `rank`; bad contacts never. Visits buckets from the nearest outwards and sorts
  // only what it takes.
  std::vector<NodeInfo> closest(const NodeId& target, std::size_t n, Time now,
                                Rank rank = Rank::good_first) const;

  // For every bucket unchanged for refresh_after: a random id in its range,
  // to look up (BEP 5's refresh). The bucket counts as changed at `now`, so it
  // is returned once per interval.
  std::vector<NodeId> refresh_targets(Time now, fault::Random& rng);
  // When refresh_targets() will next have something to return.
  Time next_refresh() const noexcept;

  // How long to wait for a reply from `id`: its RTO (backed off after
  // timeouts), or the node-wide estimator's for a contact never measured or
  // unknown.
  Duration timeout_for(const NodeId& id) const noexcept;
  const RttEstimator& node_rtt() const noexcept { return node_rtt_; }

  std::size_t size() const noexcept;               // contacts in buckets
  std::size_t replacement_count() const noexcept;  // contacts in the caches
  std::size_t bucket_count() const noexcept { return buckets_.size(); }
  // How many contacts bucket `index` holds when full: k, or k * wide[index] for a
  // wide bucket that is not the last one (see Wide buckets).
  std::size_t capacity(std::size_t index) const noexcept;
  // The bucket that covers `id` (0 .. bucket_count() - 1).
  std::size_t bucket_index(const NodeId& id) const noexcept;
  std::span<const Contact> bucket(std::size_t index) const noexcept {
    return buckets_[index].contacts;
  }
  // Oldest first, the most recently seen last.
  std::span<const Contact> replacements(std::size_t index) const noexcept {
    return buckets_[index].replacements;
  }
  Time bucket_last_changed(std::size_t index) const noexcept {
    return buckets_[index].last_changed;
  }

 private:
  struct Bucket {
    std::vector<Contact> contacts;
    std::vector<Contact> replacements;  // oldest first
    Time last_changed;
  };

  HeardResult insert(const NodeId& id, const net::Endpoint& endpoint, Time now, Heard kind,
                     std::optional<Duration> rtt);
  void split();
  bool cache(Bucket& bucket, const Contact& contact);
  std::optional<NodeInfo> ping_to_evict(Bucket& bucket, Time now);
  bool promote(Bucket& bucket, std::size_t slot, Time now);
  bool ip_in_use(const net::InetAddress& address, const NodeId* except) const noexcept;
  Contact* find_in(Bucket& bucket, const NodeId& id) noexcept;

  NodeId own_;
  RoutingConfig config_;
  std::vector<Bucket> buckets_;
  RttEstimator node_rtt_;
};

}  // namespace nexo::overlay
