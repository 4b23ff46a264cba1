// Scribe's per-topic state (private to scribe*.cpp), and the helpers of its wire format:
//
//   nexo_join  a: k (20-byte topic key), r (1: the joiner was a root; informational)
//              r: p (the path for the joiner: ids from the root down to us, 20 bytes each)
//                 or push (compact node info of one of our children: join there)
//   nexo_leave a: k                          r: (nothing)
//   nexo_beat  a: k, p (as in nexo_join)     r: (nothing), or error 201: not your child
//   nexo_msg   a: k, o (publisher: compact node info), s (sequence), d (payload)
//              r: (nothing), or error 201: not in this tree / not a neighbour
//   nexo_pub   a: as nexo_msg, routed toward k by nodes outside the tree
//   nexo_fetch a: k, o (publisher: 20-byte id), s (the lowest sequence wanted, >= 0)
//              r: m (list of [sequence, payload], ascending, from the history; may be empty),
//                 o (the publisher's compact node info, when m is not empty),
//                 more (1: more were held than fit the reply; ask again after the last)
//
// A digest `g` (optional in nexo_join's arguments and answer, nexo_beat's arguments and
// reply): for each of up to digest_publishers publishers, its 20-byte id and the highest
// sequence seen, 8 bytes big-endian (28 bytes an entry).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nexo/overlay/scribe.hpp"

namespace nexo::overlay {

struct Scribe::Message {
  NodeInfo origin;
  std::int64_t sequence = 0;
  std::string payload;
  Time at{};  // when this node first saw it
};

// What a node has seen of one publisher's messages to one topic: its sequences are
// contiguous from 1, so a zero bit below `highest` is a message missed (or given up on).
struct Scribe::Stream {
  static constexpr std::int64_t kBits = 64;
  NodeId publisher;
  std::int64_t highest = 0;
  std::uint64_t bits = 0;  // bit i: sequence highest - i seen (or given up on)
  bool fetching = false;   // a nexo_fetch for it is out
  Time advanced{};         // when a message of it last came (digests leave out old ones)

  // Seen, given up on, or too old to tell (below the window, or not a sequence).
  bool has(std::int64_t sequence) const noexcept {
    if (sequence > highest) return false;
    if (sequence < 1 || highest - sequence >= kBits) return true;
    return (bits >> (highest - sequence)) & 1U;
  }
  void mark(std::int64_t sequence) noexcept {
    if (sequence > highest) {
      const std::int64_t shift = sequence - highest;
      bits = shift >= kBits ? 0 : bits << shift;
      highest = sequence;
    }
    if (sequence >= 1 && highest - sequence < kBits)
      bits |= std::uint64_t{1} << (highest - sequence);
  }
  // The lowest sequence up to `upto` not had; nullopt when none.
  std::optional<std::int64_t> first_missing(std::int64_t upto) const noexcept {
    for (std::int64_t s = std::max<std::int64_t>(1, highest - kBits + 1); s <= upto; ++s)
      if (!has(s)) return s;
    return std::nullopt;
  }
};

// One digest entry: a publisher and the highest sequence seen of it.
struct Scribe::DigestEntry {
  NodeId publisher;
  std::int64_t highest = 0;
};

struct Scribe::Topic {
  enum class State : std::uint8_t { idle, joining, attached, root };
  struct Child {
    NodeInfo info;
    std::uint32_t beat_failures = 0;
  };

  NodeId key;
  std::string name;  // set by join(); forwarders know only the key
  bool member = false;
  State state = State::idle;
  std::optional<NodeInfo> parent;  // set once attached
  std::vector<NodeId> path;        // root first, down to the parent
  std::vector<Child> children;
  std::uint32_t next_push = 0;  // round robin over the children for push-down
  Time heard_parent{};
  Time next_beat = Time::max();
  Time next_check = Time::max();  // a root's next lookup of the key
  Duration check_gap{};           // and how long after the last (doubling to root_check_interval)
  Time next_join = Time::max();   // a join's next attempt

  // The join in progress.
  std::uint64_t attempt = 0;  // replies to an older attempt are stale
  std::deque<NodeInfo> candidates;
  std::optional<net::Endpoint> join_target;  // the node asked now
  Time join_sent{};                          // when
  std::uint32_t hops = 0;
  bool looked = false;          // this attempt has looked the key up
  bool lookup_running = false;  // a find_node (join or root check) is out
  bool saw_closer = false;      // this attempt met a node closer to the key than us
  bool root_join = false;       // we were root: flag our joins `r`
  // Candidates that did not answer (and the parent just lost), skipped for the rest of
  // this attempt: the routing table keeps a dead contact for a while, and without this
  // every step would wait for it again. Cleared when a new attempt starts after join_retry.
  std::vector<net::Endpoint> failed;

  std::deque<std::pair<NodeId, std::int64_t>> seen;
  std::deque<Message> history;
  std::deque<Stream> streams;  // <= digest_publishers, the most recently advanced last

  bool has_child(const net::Endpoint& endpoint) const noexcept {
    return std::any_of(children.begin(), children.end(),
                       [&](const Child& c) { return c.info.endpoint == endpoint; });
  }
  bool is_parent(const net::Endpoint& endpoint) const noexcept {
    return parent && parent->endpoint == endpoint;
  }
  bool has_failed(const net::Endpoint& endpoint) const noexcept {
    return std::find(failed.begin(), failed.end(), endpoint) != failed.end();
  }
  bool has_seen(const NodeId& origin, std::int64_t sequence) const noexcept {
    return std::find(seen.begin(), seen.end(), std::pair(origin, sequence)) != seen.end();
  }
};

namespace scribe_wire {

inline std::string encode_path(const std::vector<NodeId>& path, const NodeId* last) {
  std::string out;
  out.reserve((path.size() + 1) * kNodeIdBytes);
  for (const NodeId& id : path)
    out += id.to_byte_string();
  if (last) out += last->to_byte_string();
  return out;
}

// nullopt unless a whole number of ids, at most max_ids of them.
inline std::optional<std::vector<NodeId>> decode_path(std::string_view bytes, std::size_t max_ids) {
  if (bytes.size() % kNodeIdBytes != 0 || bytes.size() / kNodeIdBytes > max_ids)
    return std::nullopt;
  std::vector<NodeId> path;
  for (std::size_t i = 0; i < bytes.size(); i += kNodeIdBytes)
    path.push_back(*NodeId::from_bytes(bytes.substr(i, kNodeIdBytes)));
  return path;
}

inline constexpr std::size_t kDigestEntryBytes = kNodeIdBytes + 8;
inline constexpr std::size_t kMaxDigestEntries = 32;  // accepted; digest_publishers is capped to it

// The streams advanced since `since` (older messages are out of every history).
inline std::string encode_digest(const std::deque<Scribe::Stream>& streams, Time since) {
  std::string out;
  out.reserve(streams.size() * kDigestEntryBytes);
  for (const Scribe::Stream& s : streams) {
    if (s.highest < 1 || s.advanced < since) continue;
    out += s.publisher.to_byte_string();
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>((static_cast<std::uint64_t>(s.highest) >> shift) & 0xff);
  }
  return out;
}

// nullopt unless a whole number of entries, at most max_entries, each sequence >= 1.
inline std::optional<std::vector<Scribe::DigestEntry>> decode_digest(std::string_view bytes,
                                                                     std::size_t max_entries) {
  if (bytes.size() % kDigestEntryBytes != 0 || bytes.size() / kDigestEntryBytes > max_entries)
    return std::nullopt;
  std::vector<Scribe::DigestEntry> out;
  for (std::size_t i = 0; i < bytes.size(); i += kDigestEntryBytes) {
    std::uint64_t sequence = 0;
    for (std::size_t b = kNodeIdBytes; b < kDigestEntryBytes; ++b)
      sequence = (sequence << 8) | static_cast<std::uint8_t>(bytes[i + b]);
    if (sequence < 1 ||
        sequence > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    out.push_back(
        {*NodeId::from_bytes(bytes.substr(i, kNodeIdBytes)), static_cast<std::int64_t>(sequence)});
  }
  return out;
}

}  // namespace scribe_wire
}  // namespace nexo::overlay
