// Helpers shared by the KRPC codec's tests (krpc_test.cpp, krpc_robustness_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "nexo/overlay/krpc.hpp"

namespace nexo::overlay::krpc::test_util {

using bencode::Value;

inline NodeId id_of(std::string_view text) {
  return *NodeId::from_bytes(text);
}

// A compact IPv4 entry: address bytes and big-endian port.
inline std::string peer4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d,
                         std::uint16_t port) {
  return {static_cast<char>(a), static_cast<char>(b),         static_cast<char>(c),
          static_cast<char>(d), static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
}

inline std::string encoded(const Message& m, const Options& options = {}) {
  wire::Buffer out;
  encode(m, options, out);
  return std::string(out.text());
}

// Parses `bytes`, checks that the message encodes back to exactly `bytes`, through both
// the direct encoder and the bencode tree, and returns it.
inline Message round_trip(std::string_view bytes, const Options& options = {}) {
  auto m = parse(bytes, options);
  EXPECT_TRUE(m) << (m ? "" : m.error().to_string());
  if (!m) return {};
  EXPECT_EQ(encoded(*m, options), bytes);
  EXPECT_EQ(as_text(bencode::encode(to_value(*m, options))), bytes);
  return *m;
}

inline std::string parse_error(std::string_view bytes, const Options& options = {}) {
  auto m = parse(bytes, options);
  EXPECT_FALSE(m) << "parsed: " << bytes;
  return m ? std::string() : m.error().message();
}

}  // namespace nexo::overlay::krpc::test_util
