#include "nexo/overlay/compact.hpp"

#include <array>
#include <cstring>

namespace nexo::overlay {
namespace {

std::string_view family_name(net::Family family) noexcept {
  return family == net::Family::v4 ? "IPv4" : "IPv6";
}

// The address and port at the start of `bytes`, which holds exactly one
// compact peer of `family`; the caller checked the length.
Result<net::Endpoint> read_peer(std::string_view bytes, net::Family family) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  net::InetAddress address;
  std::size_t at = 0;
  if (family == net::Family::v4) {
    std::array<std::uint8_t, 4> raw;
    std::memcpy(raw.data(), p, raw.size());
    address = net::InetAddress::v4(raw);
    at = raw.size();
  } else {
    std::array<std::uint8_t, 16> raw;
    std::memcpy(raw.data(), p, raw.size());
    address = net::InetAddress::v6(raw);
    at = raw.size();
  }
  const auto port = static_cast<std::uint16_t>((p[at] << 8) | p[at + 1]);
  if (port == 0)
    return Error(ErrorKind::malformed, "compact peer " + address.to_string() + ": port 0");
  return net::Endpoint(address, port);
}

Result<void> check_multiple(std::string_view what, std::size_t size, std::size_t entry,
                            net::Family family) {
  if (size % entry == 0) return ok();
  return Error(ErrorKind::malformed, std::string(what) + ": " + std::to_string(size) +
                                         " bytes is not a multiple of " + std::to_string(entry) +
                                         " (" + std::string(family_name(family)) + ")");
}

}  // namespace

void append_compact_peer(std::string& out, const net::Endpoint& peer) {
  const net::InetAddress address = peer.address().unmapped();
  const auto bytes = address.bytes();
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  out.push_back(static_cast<char>(peer.port() >> 8));
  out.push_back(static_cast<char>(peer.port() & 0xff));
}

void append_compact_node(std::string& out, const NodeInfo& node) {
  out.append(reinterpret_cast<const char*>(node.id.bytes().data()), kNodeIdBytes);
  append_compact_peer(out, node.endpoint);
}

std::string encode_compact_nodes(std::span<const NodeInfo> nodes, net::Family family) {
  std::string out;
  out.reserve(nodes.size() * compact_node_size(family));
  for (const NodeInfo& node : nodes)
    if (node.endpoint.address().unmapped().family() == family) append_compact_node(out, node);
  return out;
}

std::string encode_compact_peers(std::span<const net::Endpoint> peers, net::Family family) {
  std::string out;
  out.reserve(peers.size() * compact_peer_size(family));
  for (const net::Endpoint& peer : peers)
    if (peer.address().unmapped().family() == family) append_compact_peer(out, peer);
  return out;
}

Result<net::Endpoint> decode_compact_peer(std::string_view bytes) {
  if (bytes.size() == kCompactPeerV4) return read_peer(bytes, net::Family::v4);
  if (bytes.size() == kCompactPeerV6) return read_peer(bytes, net::Family::v6);
  return Error(ErrorKind::malformed, "compact peer: " + std::to_string(bytes.size()) +
                                         " bytes, expected 6 (IPv4) or 18 (IPv6)");
}

Result<std::vector<net::Endpoint>> decode_compact_peers(std::string_view bytes,
                                                        net::Family family) {
  const std::size_t entry = compact_peer_size(family);
  if (auto checked = check_multiple("compact peers", bytes.size(), entry, family); !checked)
    return std::move(checked).error();
  std::vector<net::Endpoint> peers;
  peers.reserve(bytes.size() / entry);
  for (std::size_t at = 0; at < bytes.size(); at += entry) {
    auto peer = read_peer(bytes.substr(at, entry), family);
    if (!peer)
      return std::move(peer).error().with_context("compact peers: entry " +
                                                  std::to_string(at / entry));
    peers.push_back(*peer);
  }
  return peers;
}

Result<std::vector<NodeInfo>> decode_compact_nodes(std::string_view bytes, net::Family family) {
  const std::size_t entry = compact_node_size(family);
  const char* what = family == net::Family::v4 ? "compact nodes" : "compact nodes6";
  if (auto checked = check_multiple(what, bytes.size(), entry, family); !checked)
    return std::move(checked).error();
  std::vector<NodeInfo> nodes;
  nodes.reserve(bytes.size() / entry);
  for (std::size_t at = 0; at < bytes.size(); at += entry) {
    NodeId::Bytes id;
    std::memcpy(id.data(), bytes.data() + at, id.size());
    auto peer = read_peer(bytes.substr(at + kNodeIdBytes, entry - kNodeIdBytes), family);
    if (!peer)
      return std::move(peer).error().with_context(std::string(what) + ": entry " +
                                                  std::to_string(at / entry));
    nodes.push_back(NodeInfo{NodeId(id), *peer});
  }
  return nodes;
}

}  // namespace nexo::overlay
