// Compact encodings of BEP 5 (and BEP 32 for IPv6): how KRPC carries nodes
// and peers as byte strings.
//
//   compact peer info   address (4 or 16 bytes, network order) | port (2, big-endian)
//                       IPv4 6 bytes, IPv6 18 bytes; one per string in `values`,
//                       and the `ip` key of BEP 42 replies
//   compact node info   node id (20) | compact peer info
//                       IPv4 26 bytes (`nodes`), IPv6 38 bytes (`nodes6`, BEP 32);
//                       a list is the entries concatenated
//
// Decoding is strict: a length that is not a whole number of entries is
// malformed, and so is an entry with port 0 (no datagram can be sent to it:
// BEP 5's contact information names a UDP port to send to). Entries are not
// otherwise judged here (own id, duplicates, BEP 42): that is the caller's.
// Free functions over values; thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/node_id.hpp"

namespace nexo::overlay {

inline constexpr std::size_t kCompactPeerV4 = 6;
inline constexpr std::size_t kCompactPeerV6 = 18;
inline constexpr std::size_t kCompactNodeV4 = 26;
inline constexpr std::size_t kCompactNodeV6 = 38;

// A node as KRPC names it: its id and where it listens.
struct NodeInfo {
  NodeId id;
  net::Endpoint endpoint;
  friend bool operator==(const NodeInfo&, const NodeInfo&) noexcept = default;
};

// The entry size for `family`.
constexpr std::size_t compact_peer_size(net::Family family) noexcept {
  return family == net::Family::v4 ? kCompactPeerV4 : kCompactPeerV6;
}
constexpr std::size_t compact_node_size(net::Family family) noexcept {
  return family == net::Family::v4 ? kCompactNodeV4 : kCompactNodeV6;
}

// Appends one entry. An IPv4-mapped IPv6 address is written as IPv4 (6 or
// 26 bytes); the scope of a link-local IPv6 address is not carried.
void append_compact_peer(std::string& out, const net::Endpoint& peer);
void append_compact_node(std::string& out, const NodeInfo& node);

// The entries of `family` in `nodes`/`peers`, concatenated (`nodes` or
// `nodes6`); entries of the other family are left out (they go in the other
// key), IPv4-mapped addresses count as IPv4.
std::string encode_compact_nodes(std::span<const NodeInfo> nodes, net::Family family);
std::string encode_compact_peers(std::span<const net::Endpoint> peers, net::Family family);

// One peer: 6 bytes (IPv4) or 18 (IPv6). Errors: malformed naming the length,
// or port 0.
Result<net::Endpoint> decode_compact_peer(std::string_view bytes);
// A concatenation of entries of `family`. Errors: malformed when the length
// is not a multiple of the entry size, or an entry has port 0 (naming its
// index). The result has size / entry size elements: the input bounds it.
Result<std::vector<net::Endpoint>> decode_compact_peers(std::string_view bytes, net::Family family);
Result<std::vector<NodeInfo>> decode_compact_nodes(std::string_view bytes, net::Family family);

}  // namespace nexo::overlay
