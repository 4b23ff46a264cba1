#include "nexo/msg/uri.hpp"

#include "nexo/net/endpoint.hpp"
#include "nexo/net/unix_address.hpp"

namespace nexo::msg {
namespace {

Error bad(std::string_view text, std::string_view why) {
  return Error(ErrorKind::invalid_argument, "uri '" + std::string(text) + "': " + std::string(why));
}

}  // namespace

std::string_view to_string(Scheme scheme) noexcept {
  switch (scheme) {
    case Scheme::tcp:
      return "tcp";
    case Scheme::udp:
      return "udp";
    case Scheme::rudp:
      return "rudp";
    case Scheme::inproc:
      return "inproc";
    case Scheme::ipc:
      return "ipc";
  }
  return "?";
}

Result<Uri> Uri::parse(std::string_view text) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return bad(text, "expected tcp://, udp://, rudp://, ipc:// or inproc://");
  const std::string_view scheme = text.substr(0, sep);
  const std::string_view rest = text.substr(sep + 3);
  Uri uri;
  if (scheme == "inproc") {
    if (rest.empty()) return bad(text, "inproc:// needs a name");
    uri.name = std::string(rest);
    return uri;
  }
  if (scheme == "ipc") {
    if (rest.empty()) return bad(text, "ipc:// needs a path (ipc:///tmp/app.sock) or @name");
    auto address = net::UnixAddress::parse(rest);  // fits sun_path, no NUL
    if (!address) return std::move(address).error().with_context("uri '" + std::string(text) + "'");
    uri.scheme = Scheme::ipc;
    uri.name = std::string(rest);
    return uri;
  }
  if (scheme == "tcp") {
    uri.scheme = Scheme::tcp;
  } else if (scheme == "udp") {
    uri.scheme = Scheme::udp;
  } else if (scheme == "rudp") {
    uri.scheme = Scheme::rudp;
  } else {
    return bad(text, "unknown scheme '" + std::string(scheme) + "' (tcp, udp, rudp, ipc, inproc)");
  }
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return bad(text, "expected HOST:PORT");
  std::string_view host = rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) return bad(text, "missing host (use * for every interface)");
  if (host.find(':') != std::string_view::npos && rest.front() != '[') {
    return bad(text, "write an IPv6 address in brackets: [::1]:PORT");
  }
  auto port = net::parse_port(rest.substr(colon + 1));
  if (!port) return std::move(port).error().with_context("uri '" + std::string(text) + "'");
  uri.host = std::string(host);
  uri.port = *port;
  return uri;
}

std::string Uri::to_string() const {
  if (scheme == Scheme::inproc) return "inproc://" + name;
  if (scheme == Scheme::ipc) return "ipc://" + name;
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(msg::to_string(scheme)) + "://" + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

}  // namespace nexo::msg
