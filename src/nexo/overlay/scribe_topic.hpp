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
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
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

}  // namespace scribe_wire
}  // namespace nexo::overlay
