// InetAddress — an IPv4 or IPv6 address (a value, like Java's InetAddress).
//
// Parsing literals never touches the network; resolve() asks the system
// resolver (getaddrinfo: /etc/hosts, DNS) and blocks until it answers.
// Thread-safe: InetAddress is an immutable value.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"

namespace nexo::net {

enum class Family : std::uint8_t { v4, v6 };

std::string_view to_string(Family family) noexcept;

class InetAddress {
 public:
  // 0.0.0.0
  InetAddress() noexcept = default;

  // The wildcard address (0.0.0.0 or ::): bind to it to receive on every interface.
  static InetAddress any(Family family = Family::v4) noexcept;
  // The loopback address (127.0.0.1 or ::1).
  static InetAddress loopback(Family family = Family::v4) noexcept;
  // From network-order bytes.
  static InetAddress v4(std::array<std::uint8_t, 4> bytes) noexcept;
  static InetAddress v6(std::array<std::uint8_t, 16> bytes, std::uint32_t scope_id = 0) noexcept;

  // Parses a literal: "192.0.2.1", "::1", "fe80::1%lo" (scope by interface name or
  // number). Never resolves names. Errors: invalid_argument naming the text.
  static Result<InetAddress> parse(std::string_view literal);

  // Every address of `name` (a literal is returned as is), IPv4 and IPv6 unless
  // `family` restricts them, in the resolver's order, without duplicates.
  // Blocks. Errors: resolve_failed naming the host and the resolver's reason;
  // invalid_argument for an empty name.
  static Result<std::vector<InetAddress>> resolve(std::string_view name,
                                                  std::optional<Family> family = std::nullopt);

  Family family() const noexcept { return family_; }
  bool is_v4() const noexcept { return family_ == Family::v4; }
  bool is_v6() const noexcept { return family_ == Family::v6; }
  bool is_any() const noexcept;        // 0.0.0.0 or ::
  bool is_loopback() const noexcept;   // 127.0.0.0/8 or ::1
  bool is_multicast() const noexcept;  // 224.0.0.0/4 or ff00::/8
  bool is_v4_mapped() const noexcept;  // ::ffff:a.b.c.d

  // ::ffff:a.b.c.d → a.b.c.d; any other address unchanged.
  InetAddress unmapped() const noexcept;
  // a.b.c.d → ::ffff:a.b.c.d; IPv6 addresses unchanged.
  InetAddress mapped_v6() const noexcept;

  // Network-order bytes: 4 for IPv4, 16 for IPv6.
  std::span<const std::uint8_t> bytes() const noexcept {
    return {bytes_.data(), is_v4() ? std::size_t{4} : std::size_t{16}};
  }
  std::uint32_t scope_id() const noexcept { return scope_id_; }

  // "127.0.0.1", "::1", "fe80::1%2"
  std::string to_string() const;

  friend bool operator==(const InetAddress&, const InetAddress&) noexcept = default;
  friend auto operator<=>(const InetAddress&, const InetAddress&) noexcept = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
  std::uint32_t scope_id_ = 0;
};

}  // namespace nexo::net
