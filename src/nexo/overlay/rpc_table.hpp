// RpcTable — the KRPC queries a node has sent and not yet seen answered:
// transaction ids, where each query went, and when to stop waiting for it.
//
//   RpcTable rpcs(rng.next());
//   auto tid = rpcs.add({.destination = ep, .expected_id = id, .owner = lookup,
//                        .soft_timeout = table.timeout_for(id), .hard_timeout = 5s}, now);
//   if (!tid) ...                                  // overloaded: do not send
//   send(ep, encode_query(transaction_bytes(*tid), ...));
//   ...
//   if (auto entry = rpcs.take(reply.t, from, now)) ...   // a genuine reply
//   rpcs.soft_expired(now, slow);   // past their RTO: ask someone else too
//   rpcs.expire(now, failed);       // past the hard deadline: failed
//
// Transaction ids. KRPC's `t` is an opaque byte string echoed by the replier;
// we issue 2 bytes (big-endian uint16), as libtorrent does. Ids come from a
// counter started at a value the caller draws at random (so a restarted node
// does not reuse its previous ids, and an off-path attacker cannot guess the
// next one from zero), stepping by one and skipping any id in use. Two
// outstanding queries never share an id, and an id recurs only after the
// counter has gone around all 65,536 values, so a very late reply to an
// expired query is almost never taken for a newer query's.
//
// Matching. A reply is taken only if its `t` names an outstanding query AND it
// comes from the endpoint that query went to: anyone can send a datagram with
// a guessed `t`, only the queried node (or an on-path attacker) can answer
// from its address. Unknown ids (of any length) and wrong sources are dropped
// and counted here (counters()), where the cause is known.
//
// Deadlines. Each query has a soft deadline (the contact's RTO: a lookup may
// ask another node, and still takes the late reply) and a hard deadline (give
// up: the query failed). soft_expired() reports each query once, when its soft
// deadline has passed and its hard deadline has not; expire() removes those
// past their hard deadline. A query whose hard deadline passes before the
// caller looked at its soft one is only reported by expire().
//
// Bounds, refused with `overloaded` (nothing is sent, nothing is recorded):
//   max_outstanding      every query outstanding (default 512): each holds a
//                        slot until answered or expired, so this bounds the
//                        table's memory (~100 B a slot) and the burst of
//                        datagrams a node may have in the air; a node that hits
//                        it is sending faster than its peers answer.
//   max_per_destination  queries outstanding to one endpoint (default 8):
//                        a node should not flood one peer (its rate limit would
//                        drop us, BEP 5 nodes throttle per source), and a dead
//                        peer should not hold many slots until they expire.
//
// Memory. Slots live in a power-of-two array indexed by the low bits of the
// transaction id: a reply finds its query in one step, no index besides. The
// array is allocated on the first add() (4 slots) and doubles when three
// quarters full, up to max_outstanding rounded up to a power of two; it is
// kept when queries end (no allocation per query once warm) until
// shrink_to_fit() gives it back. An idle table that never sent, or has been
// shrunk, is sizeof(RpcTable) bytes (64 on x86-64) with nothing on the heap: the
// simulator runs 100,000 nodes in one process.
//
// Sans-I/O: no clock, no socket; `now` comes in. Not thread-safe: one thread
// at a time (the node's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/overlay/time.hpp"

namespace nexo::overlay {

using TransactionId = std::uint16_t;

// KRPC's `t` for an id we issued: 2 bytes, big-endian.
std::string transaction_bytes(TransactionId tid);
// The id in a reply's `t`: nullopt unless exactly 2 bytes (we never issue
// other lengths, so anything else is not ours).
std::optional<TransactionId> parse_transaction(std::string_view t) noexcept;

struct RpcConfig {
  std::uint32_t max_outstanding = 512;    // 1 .. 65,536 (see the header's comment)
  std::uint16_t max_per_destination = 8;  // at least 1
};

// What the caller knows when it sends a query.
struct RpcRequest {
  net::Endpoint destination;
  // The id the destination should answer with; nullopt when unknown (a
  // bootstrap node's first ping). The table does not check it: the reply's
  // id is in the message, which the caller decodes.
  std::optional<NodeId> expected_id;
  std::uint8_t kind = 0;    // the caller's (ping, find_node, get_peers, ...)
  std::uint64_t owner = 0;  // the caller's cookie: which lookup or operation
  Duration soft_timeout{};  // after it, soft_expired() reports the query (its RTO)
  Duration hard_timeout{};  // after it, expire() removes it (>= soft_timeout)
};

// An outstanding query.
struct RpcEntry {
  TransactionId tid = 0;
  std::uint8_t kind = 0;
  bool soft_reported = false;  // soft_expired() has reported it
  net::Endpoint destination;
  std::optional<NodeId> expected_id;
  std::uint64_t owner = 0;
  Time sent;
  Time soft_deadline;
  Time hard_deadline;
};

// Drops, by cause (wrapping 32-bit counts: the node sums them into its own).
struct RpcCounters {
  std::uint32_t unknown_transaction = 0;  // a reply whose `t` names no outstanding query
  std::uint32_t wrong_source = 0;         // a known `t` from another endpoint than queried
  std::uint32_t refused_full = 0;         // add() refused: max_outstanding
  std::uint32_t refused_destination = 0;  // add() refused: max_per_destination
};

class RpcTable {
 public:
  // `first_tid` is where the id counter starts: draw it from the node's
  // fault::Random (e.g. static_cast<TransactionId>(rng.next())).
  explicit RpcTable(TransactionId first_tid, RpcConfig config = {}) noexcept;

  // Records a query about to be sent at `now` and returns its transaction id.
  // A hard timeout shorter than the soft one is raised to it. Errors:
  // overloaded when max_outstanding queries are outstanding, or
  // max_per_destination to request.destination (the message says which);
  // nothing is recorded then.
  Result<TransactionId> add(const RpcRequest& request, Time now);

  // The query that a reply with id `tid` from `from` answers, removed from the
  // table; nullopt (counted) for an unknown id or another source, in which
  // case the query, if any, stays outstanding. A reply is taken whenever its
  // query is still in the table, even past the hard deadline if expire() has
  // not run yet: it is genuine. `now` only counts late replies (after the
  // soft deadline: late_replies()).
  std::optional<RpcEntry> take(TransactionId tid, const net::Endpoint& from, Time now);
  // The same for a raw `t` (any length; not 2 bytes: unknown).
  std::optional<RpcEntry> take(std::string_view t, const net::Endpoint& from, Time now);

  // Appends to `out` the queries whose hard deadline is at or before `now`,
  // earliest deadline first, and removes them. Returns how many.
  std::size_t expire(Time now, std::vector<RpcEntry>& out);
  // Appends to `out` (copies) the queries whose soft deadline is at or before
  // `now` and hard deadline after it, not reported before, earliest soft
  // deadline first; each is reported once. Returns how many.
  std::size_t soft_expired(Time now, std::vector<RpcEntry>& out);
  // The earliest deadline still to report: a soft one not yet reported or a
  // hard one. nullopt when nothing is outstanding. A scan of the slots (a
  // node has a few dozen queries out: cheaper than keeping a heap).
  std::optional<Time> next_deadline() const noexcept;

  // Removes every query of `owner` (its lookup ended); their replies will be
  // counted as unknown_transaction. Returns how many.
  std::size_t cancel_owner(std::uint64_t owner) noexcept;
  // Leaves every query of `owner` outstanding with no owner (owner 0): its lookup
  // ended without waiting for them (lookup.hpp's abandon), but a late reply still
  // proves its node alive, and the hard deadline still tells the routing table
  // the node failed. Returns how many.
  std::size_t detach_owner(std::uint64_t owner) noexcept;
  // Removes one query. False if `tid` is not outstanding.
  bool cancel(TransactionId tid) noexcept;

  // The outstanding query with that id, or nullptr (valid until the next change).
  const RpcEntry* find(TransactionId tid) const noexcept;
  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  // Queries outstanding to `destination` (a scan: for tests and diagnostics).
  std::size_t outstanding_to(const net::Endpoint& destination) const noexcept;
  // Slots allocated (a power of two, or 0).
  std::size_t capacity() const noexcept { return slots_.size(); }
  // Gives memory back: the smallest array that holds what is outstanding
  // (none at all when empty). Call it when the node goes idle.
  void shrink_to_fit();

  const RpcConfig& config() const noexcept { return config_; }
  const RpcCounters& counters() const noexcept { return counters_; }
  std::uint32_t late_replies() const noexcept { return late_replies_; }

 private:
  struct Slot {
    RpcEntry entry;
    bool used = false;
  };

  std::size_t slot_of(TransactionId tid) const noexcept { return tid & (slots_.size() - 1); }
  std::size_t max_capacity() const noexcept;
  void resize(std::size_t capacity);
  void remove(Slot& slot) noexcept;

  std::vector<Slot> slots_;
  RpcConfig config_;
  RpcCounters counters_;
  std::uint32_t late_replies_ = 0;
  std::uint32_t count_ = 0;
  TransactionId next_tid_;
};

}  // namespace nexo::overlay
