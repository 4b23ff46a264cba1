#include "nexo/wire/remote_ref.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace nexo::wire {
namespace {

Error invalid(std::string message) {
  return Error(ErrorKind::invalid_argument, "remote object reference: " + std::move(message));
}

bool parse_u32(std::string_view text, std::uint32_t& out) {
  if (text.empty() || text.size() > 10) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<void> RemoteObjectRef::validate() const {
  if (address.size() != 4 && address.size() != 16)
    return invalid("address of " + std::to_string(address.size()) +
                   " bytes (an IPv4 address has 4, an IPv6 address 16)");
  if (port > 65535) return invalid("port " + std::to_string(port) + " is above 65535");
  if (interface_name.empty()) return invalid("empty interface name");
  for (char c : interface_name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return invalid("interface name \"" + interface_name + "\" holds '/' or a control character");
  }
  return ok();
}

Result<RemoteObjectRef> RemoteObjectRef::make(std::string_view address, std::uint32_t port,
                                              std::uint32_t time, std::uint32_t object_number,
                                              std::string_view interface_name) {
  RemoteObjectRef ref;
  std::string text(address);
  unsigned char raw[16];
  if (inet_pton(AF_INET, text.c_str(), raw) == 1) {
    ref.address.assign(reinterpret_cast<std::byte*>(raw), reinterpret_cast<std::byte*>(raw) + 4);
  } else if (inet_pton(AF_INET6, text.c_str(), raw) == 1) {
    ref.address.assign(reinterpret_cast<std::byte*>(raw), reinterpret_cast<std::byte*>(raw) + 16);
  } else {
    return invalid("'" + text + "' is not an IPv4 or IPv6 address");
  }
  ref.port = port;
  ref.time = time;
  ref.object_number = object_number;
  ref.interface_name = std::string(interface_name);
  if (auto v = ref.validate(); !v) return std::move(v).error();
  return ref;
}

std::string RemoteObjectRef::address_text() const {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address.size() == 4) inet_ntop(AF_INET, address.data(), text, sizeof text);
  if (address.size() == 16) inet_ntop(AF_INET6, address.data(), text, sizeof text);
  return text;
}

std::string RemoteObjectRef::to_string() const {
  std::string host = address_text();
  if (address.size() == 16) host = "[" + host + "]";
  return "ref:" + host + ":" + std::to_string(port) + "/" + std::to_string(time) + "/" +
         std::to_string(object_number) + "/" + interface_name;
}

Result<RemoteObjectRef> RemoteObjectRef::parse(std::string_view text) {
  const std::string whole(text);
  auto bad = [&](std::string_view why) {
    return invalid("cannot parse \"" + whole + "\": " + std::string(why) +
                   " (expected ref:<address>:<port>/<time>/<object number>/<interface>)");
  };
  if (text.substr(0, 4) != "ref:") return bad("it does not start with \"ref:\"");
  text.remove_prefix(4);
  std::string_view host;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return bad("no ']' after an IPv6 address");
    host = text.substr(1, close - 1);
    text.remove_prefix(close + 1);
  } else {
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return bad("no ':' before the port");
    host = text.substr(0, colon);
    text.remove_prefix(colon);
  }
  if (text.empty() || text.front() != ':') return bad("no ':' before the port");
  text.remove_prefix(1);
  std::uint32_t numbers[3];
  for (std::uint32_t& n : numbers) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return bad("too few '/'-separated parts");
    if (!parse_u32(text.substr(0, slash), n))
      return bad("a number is not a 32-bit unsigned integer");
    text.remove_prefix(slash + 1);
  }
  return make(host, numbers[0], numbers[1], numbers[2], text);
}

}  // namespace nexo::wire
