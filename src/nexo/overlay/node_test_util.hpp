// Helpers shared by the tests that feed one Node crafted datagrams and read what it sends
// (node_extension_test.cpp, node_ttl_test.cpp): fake time, addresses, ids, and the
// datagrams it queued, parsed.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "nexo/overlay/node.hpp"

namespace nexo::overlay::node_test_util {

inline const Time t0 = Time{} + std::chrono::hours(24);

inline net::Endpoint ep(std::uint8_t last, std::uint16_t port = 6881) {
  return net::Endpoint(net::InetAddress::v4({10, 0, 0, last}), port);
}

inline NodeId id_of(std::uint8_t first) {
  NodeId::Bytes b{};
  b[0] = first;
  return NodeId(b);
}

// A datagram the node sent, parsed, and where to.
struct Sent {
  krpc::Message message;
  net::Endpoint to;
};

// Everything the node has queued to send, parsed (a datagram that does not parse fails
// the test).
inline std::vector<Sent> drain(Node& node) {
  std::vector<Sent> sent;
  Bytes bytes;
  net::Endpoint to;
  while (node.poll_transmit(bytes, to)) {
    auto m = krpc::parse(bytes);
    EXPECT_TRUE(m) << m.error().to_string();
    if (m) sent.push_back({std::move(*m), to});
  }
  return sent;
}

}  // namespace nexo::overlay::node_test_util
