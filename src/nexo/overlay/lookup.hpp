// Lookup — one iterative Kademlia lookup toward a 160-bit target (BEP 5's
// find_node / get_peers traversal, as libtorrent runs it): ask the closest
// nodes known for nodes closer still, until the k closest seen have answered.
//
//   Lookup lookup(target, own_id);
//   lookup.add_candidates(table.closest(target, 8, now));     // seeds, depth 0
//   while (auto node = lookup.next_request(now)) send_find_node(*node, target);
//   ... on a reply matched by the RpcTable (tid and source endpoint):
//   lookup.on_reply(NodeInfo{reply.id, from}, reply.nodes, now);
//   ... on the RpcTable's soft deadline:  lookup.on_soft_timeout(entry.destination);
//   ... on its hard deadline or an error: lookup.on_failure(entry.destination);
//   ... then again next_request() until none; when done(): lookup.result().
//
// Candidates. The nodes heard of, sorted by XOR distance to the target, our
// own id never among them. An endpoint is one node: a second id claimed at a
// known endpoint is ignored. An id may be claimed at several endpoints (anyone
// can name a real id at a forged address to hide it): each claim is a
// candidate of its own until one of them answers with that id; the others
// are then dropped, and later claims ignored. Each candidate is fresh (not
// asked), in flight, slow (in flight past its soft deadline), answered or
// failed (or abandoned, see Done). Failed ones stay only to keep them from being asked again; they
// count for nothing else. Unasked candidates beyond the max_candidates
// closest live ones are dropped (a reply cannot grow the set without bound);
// asked ones are kept, at most max_requests of them.
//
// Requests. next_request() hands out the closest fresh candidate that has
// fewer than k answered candidates closer than itself, while fewer than alpha
// requests are in flight and fewer than max_requests were sent. A slow
// request no longer counts against alpha (so one slow or dead node does not
// stall the lookup: another is asked at once), but its late reply is taken.
// The caller must send to the node it is handed; if it cannot (its RpcTable
// refused), it reports on_failure() at once.
//
// Done when the k closest candidates neither failed nor abandoned have all
// answered, or when nothing is in flight and nothing is left to ask (no fresh
// candidate within that window, or max_requests reached). A slow request
// among the k closest holds the lookup until it answers, fails, or is
// abandoned: the caller gives up waiting for it with abandon() (Node does it
// when the query's retry is slow too, two RTOs after the first was sent).
// An abandoned candidate counts for nothing, as a failed one, but its reply
// is still taken if it comes before the lookup ends. This is what bounds a
// lookup's time after a crash by the RTOs, not by the hard timeout: without
// it each dead node among the k closest held the lookup for the full hard
// timeout (5 s in Node), the after-crash latency the benchmark measures.
// result(): the up to k closest candidates that answered, closest first.
//
// Depth and rounds. Seeds (add_candidates' default) have depth 0; the nodes
// in a reply from a node of depth d get depth d + 1 (a fresh candidate heard
// of again through a shorter chain takes the smaller depth). Asking a node of
// depth d is round d + 1. rounds() = 1 + the greatest depth among result()'s
// nodes: the number of sequential round trips that produced the answer, the
// figure the benchmark's "hops" reports (0 for an empty result).
// longest_chain() = 1 + the greatest depth among every node that answered.
//
// Robustness (Sybil / confused nodes). A reply is taken only from a node in
// flight (or slow) for this lookup; others are ignored and counted (the
// caller matches transactions first, so this is defence in depth). A reply
// only ever adds candidates: it never marks another node answered, and fails
// nothing but its own candidate (on an id mismatch) and other claims of the
// id it has just proved. Nodes in a reply carrying our own id or the
// replier's own id are ignored. A reply whose id differs from the id its node
// was introduced with marks that candidate failed (a stale or lying entry);
// its nodes are still added. What remains open: a node asked under an id it
// does not own, and answering with it, takes that id's place (ids are
// claims); BEP 42 (bep42.hpp), checked by the caller before on_reply(), is
// the remedy where addresses are public.
//
// Payloads. A lookup that must keep something per responder (the `token` of
// get_peers for a later announce_peer, BEP 44's token for a put) passes it to
// on_reply() and reads it back in responders(), beside each result node. At
// most max_payload bytes are kept (a longer one is dropped and counted);
// values proper (BEP 44's v, the peers of get_peers) are the caller's to
// gather as replies come, they are not the lookup's business.
//
// Sans-I/O: no clock, no socket. Not thread-safe: one thread at a time. A
// lookup is ~100 B plus ~100 B per candidate (id, endpoint, distance, state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/compact.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/overlay/time.hpp"

namespace nexo::overlay {

struct LookupConfig {
  std::size_t k = 8;                // BEP 5's K: the result's size; at least 1
  std::size_t alpha = 3;            // requests in flight (not slow); at least 1
  std::size_t max_candidates = 32;  // fresh candidates kept: within the closest this many live
  std::size_t max_requests = 128;   // requests one lookup may send (bounds a hostile chase)
  std::size_t max_payload = 256;    // bytes of payload kept per responder
};

struct LookupStats {
  std::uint32_t requests = 0;          // handed out by next_request()
  std::uint32_t replies = 0;           // taken by on_reply() (late ones included)
  std::uint32_t failures = 0;          // on_failure() of a request in flight
  std::uint32_t soft_timeouts = 0;     // on_soft_timeout() of a request in flight
  std::uint32_t abandoned = 0;         // abandon() of a request in flight or slow
  std::uint32_t late_replies = 0;      // replies taken after their soft timeout
  std::uint32_t ignored_replies = 0;   // replies from a node not in flight for this lookup
  std::uint32_t id_mismatches = 0;     // replies with another id than the candidate's
  std::uint32_t nodes_ignored = 0;     // reply nodes with our id, the replier's, or known
  std::uint32_t nodes_dropped = 0;     // new candidates beyond max_candidates
  std::uint32_t payloads_dropped = 0;  // payloads longer than max_payload
  Time first_request = Time::min();    // when next_request() first handed out a node
  Time last_reply = Time::min();       // when on_reply() last took a reply
};

// One node of the result, with what its reply left.
struct Responder {
  NodeInfo node;
  int depth = 0;
  std::string payload;
};

// What on_reply() did.
enum class ReplyOutcome : std::uint8_t {
  accepted,       // the node answered: its nodes were considered
  not_in_flight,  // no request of this lookup is waiting at that endpoint: ignored
  id_mismatch,    // it answered with another id: that candidate failed, nodes considered
};

class Lookup {
 public:
  // A lookup of `target` by the node whose id is `own` (never a candidate).
  Lookup(const NodeId& target, const NodeId& own, LookupConfig config = {});

  const NodeId& target() const noexcept { return target_; }
  const LookupConfig& config() const noexcept { return config_; }

  // Considers `nodes` as candidates of `depth` (0: seeds from our routing
  // table). Our own id is ignored; known ids and endpoints are too (see the
  // header's comment).
  void add_candidates(std::span<const NodeInfo> nodes, int depth = 0);

  // The next node to ask, now marked in flight; nullopt when alpha requests
  // are in flight, max_requests were sent, or nothing is worth asking.
  std::optional<NodeInfo> next_request(Time now);

  // A reply from `from` (the id it gave, the endpoint it came from) carrying
  // `nodes`, and `payload` to keep (see Payloads).
  ReplyOutcome on_reply(const NodeInfo& from, std::span<const NodeInfo> nodes, Time now,
                        std::string_view payload = {});
  // The request to `endpoint` passed its soft deadline: it no longer counts
  // against alpha. False (nothing done) unless it is in flight and not slow.
  bool on_soft_timeout(const net::Endpoint& endpoint);
  // Stops waiting for the request to `endpoint` (see Done): it neither
  // counts against alpha nor holds done(); a reply is still taken. False
  // (nothing done) unless it is in flight or slow.
  bool abandon(const net::Endpoint& endpoint);
  // The request to `endpoint` failed (hard timeout or a KRPC error): that
  // candidate is dropped. False (nothing done) unless it is in flight or slow.
  bool on_failure(const net::Endpoint& endpoint);

  bool done() const noexcept;
  // The up to k closest nodes that answered, closest first.
  std::vector<NodeInfo> result() const;
  // The same nodes with their depth and payload.
  std::vector<Responder> responders() const;
  // See Depth and rounds.
  int rounds() const noexcept;
  int longest_chain() const noexcept;

  const LookupStats& stats() const noexcept { return stats_; }
  std::size_t in_flight() const noexcept { return in_flight_; }  // counted against alpha
  std::size_t outstanding() const noexcept;                      // in flight, slow or abandoned
  std::size_t candidate_count() const noexcept { return candidates_.size(); }

 private:
  enum class State : std::uint8_t { fresh, in_flight, slow, abandoned, answered, failed };
  // Asked, and a reply would still be taken.
  static constexpr bool waiting(State s) noexcept {
    return s == State::in_flight || s == State::slow || s == State::abandoned;
  }
  // Counts toward max_candidates (trim): neither failed nor abandoned.
  static constexpr bool live(State s) noexcept {
    return s != State::failed && s != State::abandoned;
  }

  struct Candidate {
    Distance distance;
    NodeInfo node;
    State state = State::fresh;
    std::uint16_t depth = 0;
    std::string payload;
  };

  void insert(const NodeInfo& node, int depth);
  void trim();
  void supersede(const Candidate& proven);
  Candidate* waiting_at(const net::Endpoint& endpoint) noexcept;
  bool endpoint_known(const net::Endpoint& endpoint) const noexcept;

  NodeId target_;
  NodeId own_;
  LookupConfig config_;
  std::vector<Candidate> candidates_;  // closest first
  std::size_t in_flight_ = 0;
  LookupStats stats_;
};

}  // namespace nexo::overlay
