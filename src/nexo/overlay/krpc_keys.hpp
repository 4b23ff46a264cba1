// The argument keys KRPC methods take (krpc.hpp's table), shared by the parser and the
// encoders of krpc.cpp and krpc_encode.cpp: which keys a method interprets (the rest go to
// Query::extra), in the byte order the encoder writes them. Internal.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nexo/overlay/krpc.hpp"

namespace nexo::overlay::krpc::detail {

// Query argument keys in byte order; a key's index is its bit in a method's mask.
enum QueryKey : std::uint8_t {
  kBs,
  kCas,
  kId,
  kImpliedPort,
  kInfoHash,
  kK,
  kPort,
  kSalt,
  kSeq,
  kSig,
  kTarget,
  kToken,
  kV,
  kWant,
  kQueryKeyCount,
};
inline constexpr std::array<std::string_view, kQueryKeyCount> kQueryKeys = {
    "bs",   "cas", "id",  "implied_port", "info_hash", "k", "port",
    "salt", "seq", "sig", "target",       "token",     "v", "want"};

template <std::size_t N>
constexpr bool ascending(const std::array<std::string_view, N>& keys) noexcept {
  for (std::size_t i = 1; i < N; ++i)
    if (!(keys[i - 1] < keys[i])) return false;
  return true;
}
static_assert(ascending(kQueryKeys), "the encoder writes keys in this order");

constexpr std::uint32_t bit(QueryKey key) noexcept {
  return std::uint32_t{1} << key;
}

// The keys `method` interprets.
constexpr std::uint32_t method_keys(Method method) noexcept {
  switch (method) {
    case Method::ping:
      return bit(kId);
    case Method::find_node:
      return bit(kId) | bit(kTarget) | bit(kWant);
    case Method::get_peers:
      return bit(kId) | bit(kInfoHash) | bit(kWant) | bit(kBs);
    case Method::announce_peer:
      return bit(kId) | bit(kInfoHash) | bit(kPort) | bit(kImpliedPort) | bit(kToken);
    case Method::get:
      return bit(kId) | bit(kTarget) | bit(kSeq) | bit(kWant);
    case Method::put:
      return bit(kId) | bit(kToken) | bit(kV) | bit(kK) | bit(kSig) | bit(kSeq) | bit(kCas) |
             bit(kSalt);
    case Method::extension:
    case Method::unknown:
      break;
  }
  return bit(kId);
}

// The index of `key` in kQueryKeys, or -1.
inline int query_key_index(std::string_view key) noexcept {
  for (std::size_t i = 0; i < kQueryKeys.size(); ++i)
    if (kQueryKeys[i] == key) return static_cast<int>(i);
  return -1;
}

// True when `method` interprets `key` (so that it is not an extra one).
inline bool method_takes(Method method, std::string_view key) noexcept {
  const int i = query_key_index(key);
  return i >= 0 && (method_keys(method) & bit(static_cast<QueryKey>(i))) != 0;
}

// Response keys in byte order (all interpreted, whatever the query was).
inline constexpr std::array<std::string_view, 9> kResponseKeys = {
    "id", "k", "nodes", "nodes6", "seq", "sig", "token", "v", "values"};

static_assert(ascending(kResponseKeys));

inline bool response_takes(std::string_view key) noexcept {
  for (std::string_view k : kResponseKeys)
    if (k == key) return true;
  return false;
}

}  // namespace nexo::overlay::krpc::detail
