// Endpoint — where a message goes: an Internet address and a port.
//
// A value type. The chapter's "destination = (Internet address, local port)".
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "nexo/base/result.hpp"
#include "nexo/net/inet_address.hpp"

namespace nexo::net {

// Checks that `port` is in 0..65535; the error names the value.
Result<std::uint16_t> validate_port(long long port);
// Parses a decimal port number in 0..65535; the error names the text.
Result<std::uint16_t> parse_port(std::string_view text);

class Endpoint {
 public:
  Endpoint() noexcept = default;
  Endpoint(InetAddress address, std::uint16_t port) noexcept : address_(address), port_(port) {}

  // Validates the port (0..65535); invalid_argument otherwise.
  static Result<Endpoint> make(InetAddress address, long long port);
  // Parses "192.0.2.1:80" or "[2001:db8::1]:80" (no name resolution).
  static Result<Endpoint> parse(std::string_view text);
  // Resolves `host` (name or literal) and pairs its first address with `port`.
  // Blocks in the resolver. Errors: resolve_failed, invalid_argument.
  static Result<Endpoint> resolve(std::string_view host, long long port,
                                  std::optional<Family> family = std::nullopt);

  const InetAddress& address() const noexcept { return address_; }
  std::uint16_t port() const noexcept { return port_; }
  Family family() const noexcept { return address_.family(); }

  // "127.0.0.1:6789" or "[::1]:6789"
  std::string to_string() const;

  friend bool operator==(const Endpoint&, const Endpoint&) noexcept = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) noexcept = default;

 private:
  InetAddress address_;
  std::uint16_t port_ = 0;
};

}  // namespace nexo::net
