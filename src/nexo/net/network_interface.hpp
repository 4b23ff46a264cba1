// NetworkInterface — a local network interface, named or found by address
// (what multicast join and IP_MULTICAST_IF need). A value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/net/inet_address.hpp"

namespace nexo::net {

class NetworkInterface {
 public:
  // The interface called `name` ("lo", "eth0"). Error: invalid_argument if none.
  static Result<NetworkInterface> by_name(std::string_view name);
  // The interface that holds `address`. Error: invalid_argument if none does.
  static Result<NetworkInterface> by_address(const InetAddress& address);
  // A name or an address literal: "lo", "127.0.0.1", "::1".
  static Result<NetworkInterface> parse(std::string_view name_or_address);
  // The loopback interface.
  static Result<NetworkInterface> loopback();
  // Every interface that is up.
  static Result<std::vector<NetworkInterface>> all();

  const std::string& name() const noexcept { return name_; }
  std::uint32_t index() const noexcept { return index_; }
  // The interface's addresses (IPv4 and IPv6).
  const std::vector<InetAddress>& addresses() const noexcept { return addresses_; }
  // Its first IPv4 address, if it has one (what IP_MULTICAST_IF takes for IPv4).
  std::optional<InetAddress> first_v4() const;
  bool supports_multicast() const noexcept { return multicast_; }

 private:
  std::string name_;
  std::uint32_t index_ = 0;
  std::vector<InetAddress> addresses_;
  bool multicast_ = false;
};

}  // namespace nexo::net
