#include "nexo/net/network_interface.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace nexo::net {
namespace {

struct IfAddrsDeleter {
  void operator()(ifaddrs* list) const noexcept { ::freeifaddrs(list); }
};

std::optional<InetAddress> address_of(const sockaddr* sa) {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    std::array<std::uint8_t, 4> b;
    std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    return InetAddress::v4(b);
  }
  if (sa->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::array<std::uint8_t, 16> b;
    std::memcpy(b.data(), &sin6->sin6_addr, 16);
    return InetAddress::v6(b, sin6->sin6_scope_id);
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<NetworkInterface>> NetworkInterface::all() {
  ifaddrs* raw = nullptr;
  if (::getifaddrs(&raw) != 0) return Error::from_errno(errno, "list network interfaces");
  std::unique_ptr<ifaddrs, IfAddrsDeleter> list(raw);
  std::vector<NetworkInterface> out;
  for (const ifaddrs* entry = list.get(); entry != nullptr; entry = entry->ifa_next) {
    if ((entry->ifa_flags & IFF_UP) == 0) continue;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const NetworkInterface& i) { return i.name_ == entry->ifa_name; });
    if (it == out.end()) {
      NetworkInterface added;
      added.name_ = entry->ifa_name;
      added.index_ = ::if_nametoindex(entry->ifa_name);
      added.multicast_ = (entry->ifa_flags & IFF_MULTICAST) != 0;
      out.push_back(std::move(added));
      it = out.end() - 1;
    }
    if (auto address = address_of(entry->ifa_addr)) it->addresses_.push_back(*address);
  }
  return out;
}

Result<NetworkInterface> NetworkInterface::by_name(std::string_view name) {
  auto interfaces = all();
  if (!interfaces) return std::move(interfaces).error();
  for (auto& candidate : *interfaces) {
    if (candidate.name_ == name) return std::move(candidate);
  }
  return Error(ErrorKind::invalid_argument,
               "no network interface named '" + std::string(name) + "' is up");
}

Result<NetworkInterface> NetworkInterface::by_address(const InetAddress& address) {
  auto interfaces = all();
  if (!interfaces) return std::move(interfaces).error();
  for (auto& candidate : *interfaces) {
    const auto& list = candidate.addresses_;
    auto same = [&](const InetAddress& a) {
      return a.bytes().size() == address.bytes().size() &&
             std::equal(a.bytes().begin(), a.bytes().end(), address.bytes().begin());
    };
    if (std::any_of(list.begin(), list.end(), same)) return std::move(candidate);
  }
  return Error(ErrorKind::invalid_argument,
               "no network interface has the address " + address.to_string());
}

Result<NetworkInterface> NetworkInterface::parse(std::string_view name_or_address) {
  if (auto address = InetAddress::parse(name_or_address)) return by_address(*address);
  return by_name(name_or_address);
}

Result<NetworkInterface> NetworkInterface::loopback() {
  return by_address(InetAddress::loopback(Family::v4));
}

std::optional<InetAddress> NetworkInterface::first_v4() const {
  for (const auto& address : addresses_) {
    if (address.is_v4()) return address;
  }
  return std::nullopt;
}

}  // namespace nexo::net
