// The wire-up of TcpWorld (tcp.hpp): the hello and the mesh of connections, one per pair of
// ranks that use TCP. Internal to mpi/; tcp.hpp documents the protocol.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::mpi::tcp_mesh {

inline constexpr std::size_t kHelloBytes = 88;
inline constexpr std::size_t kMaxCookie = 64;
inline constexpr std::uint16_t kVersion = 1;

struct Hello {
  int rank = 0;
  std::uint32_t world_size = 0;
  std::string cookie;
};

std::array<std::byte, kHelloBytes> encode_hello(const Hello& hello);
// malformed naming the field that is wrong (magic, version, cookie length).
Result<Hello> decode_hello(std::span<const std::byte, kHelloBytes> bytes);

// Connects to every lower rank with an address and accepts every higher one (see
// TcpWorld::connect). Returns the connection of each rank (nullopt: not over TCP), blocking,
// with the hello done both ways.
Result<std::vector<std::optional<net::TcpStream>>> build(
    net::TcpListener listener, int rank, std::span<const std::optional<std::string>> addresses,
    std::string_view job_cookie, Timeout timeout);

}  // namespace nexo::mpi::tcp_mesh
