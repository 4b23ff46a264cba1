#include "nexo/net/unix_address.hpp"

#include <sys/un.h>

namespace nexo::net {
namespace {

Result<std::string> checked(std::string_view text, std::string_view kind) {
  const auto bad = [&](std::string_view why) {
    return Error(ErrorKind::invalid_argument,
                 std::string(kind) + " '" + std::string(text) + "': " + std::string(why));
  };
  if (text.empty()) return bad("empty");
  if (text.find('\0') != std::string_view::npos) return bad("holds a NUL byte");
  if (text.size() > UnixAddress::kMaxLength) {
    return bad(std::to_string(text.size()) + " bytes long; a Unix-domain socket's address holds " +
               std::to_string(UnixAddress::kMaxLength) + " at most (sockaddr_un.sun_path)");
  }
  return std::string(text);
}

}  // namespace

const std::size_t UnixAddress::kMaxLength = sizeof(sockaddr_un{}.sun_path) - 1;

Result<UnixAddress> UnixAddress::parse(std::string_view text) {
  if (!text.empty() && text.front() == '@') return abstract(text.substr(1));
  return path(text);
}

Result<UnixAddress> UnixAddress::path(std::string_view path) {
  auto name = checked(path, "unix socket path");
  if (!name) return std::move(name).error();
  return UnixAddress(std::move(*name), false);
}

Result<UnixAddress> UnixAddress::abstract(std::string_view name) {
  auto checked_name = checked(name, "abstract unix socket name");
  if (!checked_name) return std::move(checked_name).error();
  return UnixAddress(std::move(*checked_name), true);
}

}  // namespace nexo::net
