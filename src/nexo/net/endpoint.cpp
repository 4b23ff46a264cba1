#include "nexo/net/endpoint.hpp"

#include <charconv>
#include <string>

namespace nexo::net {

Result<std::uint16_t> validate_port(long long port) {
  if (port < 0 || port > 65535) {
    return Error(ErrorKind::invalid_argument,
                 "port " + std::to_string(port) + " is outside 0..65535");
  }
  return static_cast<std::uint16_t>(port);
}

Result<std::uint16_t> parse_port(std::string_view text) {
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || end != text.data() + text.size()) {
    return Error(ErrorKind::invalid_argument, "port '" + std::string(text) + "' is not a number");
  }
  if (ec == std::errc::result_out_of_range) {
    return Error(ErrorKind::invalid_argument, "port " + std::string(text) + " is outside 0..65535");
  }
  return validate_port(value);
}

Result<Endpoint> Endpoint::make(InetAddress address, long long port) {
  auto checked = validate_port(port);
  if (!checked) return std::move(checked).error();
  return Endpoint(address, *checked);
}

Result<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string_view::npos) {
      return Error(ErrorKind::invalid_argument,
                   "endpoint '" + std::string(text) + "': expected [IPv6]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return Error(ErrorKind::invalid_argument,
                   "endpoint '" + std::string(text) + "': expected address:port or [IPv6]:port");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto address = InetAddress::parse(host);
  if (!address)
    return std::move(address).error().with_context("endpoint '" + std::string(text) + "'");
  auto number = parse_port(port);
  if (!number)
    return std::move(number).error().with_context("endpoint '" + std::string(text) + "'");
  return Endpoint(*address, *number);
}

Result<Endpoint> Endpoint::resolve(std::string_view host, long long port,
                                   std::optional<Family> family) {
  auto checked = validate_port(port);
  if (!checked) return std::move(checked).error();
  auto addresses = InetAddress::resolve(host, family);
  if (!addresses) return std::move(addresses).error();
  return Endpoint(addresses->front(), *checked);
}

std::string Endpoint::to_string() const {
  std::string out = address_.is_v6() ? "[" + address_.to_string() + "]" : address_.to_string();
  out += ':';
  out += std::to_string(port_);
  return out;
}

}  // namespace nexo::net
