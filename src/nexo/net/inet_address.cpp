#include "nexo/net/inet_address.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

namespace nexo::net {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

Result<std::uint32_t> parse_scope(std::string_view scope, std::string_view literal) {
  std::uint32_t index = 0;
  auto [end, ec] = std::from_chars(scope.data(), scope.data() + scope.size(), index);
  if (ec == std::errc() && end == scope.data() + scope.size()) return index;
  std::string name(scope);
  index = ::if_nametoindex(name.c_str());
  if (index == 0) {
    return Error(ErrorKind::invalid_argument,
                 "address '" + std::string(literal) + "': no interface named '" + name + "'");
  }
  return index;
}

struct AddrInfoDeleter {
  void operator()(addrinfo* list) const noexcept { ::freeaddrinfo(list); }
};

}  // namespace

std::string_view to_string(Family family) noexcept {
  return family == Family::v4 ? "IPv4" : "IPv6";
}

InetAddress InetAddress::any(Family family) noexcept {
  InetAddress address;
  address.family_ = family;
  return address;
}

InetAddress InetAddress::loopback(Family family) noexcept {
  InetAddress address;
  address.family_ = family;
  if (family == Family::v4) {
    address.bytes_[0] = 127;
    address.bytes_[3] = 1;
  } else {
    address.bytes_[15] = 1;
  }
  return address;
}

InetAddress InetAddress::v4(std::array<std::uint8_t, 4> bytes) noexcept {
  InetAddress address;
  std::copy(bytes.begin(), bytes.end(), address.bytes_.begin());
  return address;
}

InetAddress InetAddress::v6(std::array<std::uint8_t, 16> bytes, std::uint32_t scope_id) noexcept {
  InetAddress address;
  address.family_ = Family::v6;
  address.bytes_ = bytes;
  address.scope_id_ = scope_id;
  return address;
}

Result<InetAddress> InetAddress::parse(std::string_view literal) {
  std::string text(literal.substr(0, literal.find('%')));
  std::array<std::uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET, text.c_str(), bytes.data()) == 1 && text.size() == literal.size()) {
    return v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  }
  if (::inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) {
    std::uint32_t scope = 0;
    if (text.size() < literal.size()) {
      auto parsed = parse_scope(literal.substr(text.size() + 1), literal);
      if (!parsed) return std::move(parsed).error();
      scope = *parsed;
    }
    return v6(bytes, scope);
  }
  return Error(ErrorKind::invalid_argument,
               "'" + std::string(literal) + "' is not an IPv4 or IPv6 address literal");
}

Result<std::vector<InetAddress>> InetAddress::resolve(std::string_view name,
                                                      std::optional<Family> family) {
  if (name.empty()) return Error(ErrorKind::invalid_argument, "resolve: empty host name");
  if (auto literal = parse(name); literal && (!family || literal->family() == *family)) {
    return std::vector<InetAddress>{*literal};
  }
  addrinfo hints{};
  hints.ai_family = !family ? AF_UNSPEC : (*family == Family::v4 ? AF_INET : AF_INET6);
  hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
  addrinfo* raw = nullptr;
  std::string host(name);
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &raw);
  std::unique_ptr<addrinfo, AddrInfoDeleter> list(raw);
  if (rc != 0) {
    return Error(ErrorKind::resolve_failed, "resolve '" + host + "': " + ::gai_strerror(rc));
  }
  std::vector<InetAddress> out;
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    InetAddress address;
    if (ai->ai_family == AF_INET) {
      std::array<std::uint8_t, 4> b;
      std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr, 4);
      address = v4(b);
    } else if (ai->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      std::array<std::uint8_t, 16> b;
      std::memcpy(b.data(), &sin6->sin6_addr, 16);
      address = v6(b, sin6->sin6_scope_id);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(address);
  }
  if (out.empty()) {
    return Error(ErrorKind::resolve_failed,
                 "resolve '" + host + "': no address of the family asked for");
  }
  return out;
}

bool InetAddress::is_any() const noexcept {
  return std::all_of(bytes_.begin(), bytes_.end(), [](std::uint8_t b) { return b == 0; });
}

bool InetAddress::is_loopback() const noexcept {
  if (is_v4()) return bytes_[0] == 127;
  if (is_v4_mapped()) return bytes_[12] == 127;
  return std::all_of(bytes_.begin(), bytes_.begin() + 15, [](std::uint8_t b) { return b == 0; }) &&
         bytes_[15] == 1;
}

bool InetAddress::is_multicast() const noexcept {
  return is_v4() ? (bytes_[0] & 0xf0) == 0xe0 : bytes_[0] == 0xff;
}

bool InetAddress::is_v4_mapped() const noexcept {
  return is_v6() && std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes_.begin());
}

InetAddress InetAddress::unmapped() const noexcept {
  if (!is_v4_mapped()) return *this;
  return v4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
}

InetAddress InetAddress::mapped_v6() const noexcept {
  if (is_v6()) return *this;
  std::array<std::uint8_t, 16> b{};
  std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), b.begin());
  std::copy(bytes_.begin(), bytes_.begin() + 4, b.begin() + 12);
  return v6(b);
}

std::string InetAddress::to_string() const {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  ::inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), text, sizeof text);
  std::string out(text);
  if (is_v6() && scope_id_ != 0) {
    char name[IF_NAMESIZE] = {};
    out += '%';
    out += ::if_indextoname(scope_id_, name) != nullptr ? std::string(name)
                                                        : std::to_string(scope_id_);
  }
  return out;
}

}  // namespace nexo::net
