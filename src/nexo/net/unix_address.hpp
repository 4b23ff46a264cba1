// UnixAddress — where a Unix-domain socket is, on this host: a path in the
// file system ("/run/app.sock", or "app.sock", relative to the working
// directory at the time of the bind or connect), or a name in Linux's abstract
// namespace ("@app": no file; the name is gone with the last socket bound to it).
//
// A value type. The text must fit sockaddr_un's sun_path (kMaxLength bytes:
// 107 on Linux) and hold no NUL byte; that is checked once, when it is made.
#pragma once

#include <compare>
#include <cstddef>
#include <string>
#include <string_view>

#include "nexo/base/result.hpp"

namespace nexo::net {

class UnixAddress {
 public:
  // The longest path (or abstract name) sun_path holds, less its terminating
  // NUL (or, for an abstract name, its leading one).
  static const std::size_t kMaxLength;

  UnixAddress() = default;

  // "@name": an abstract name; anything else: a path.
  // Errors: invalid_argument naming the text (empty, a NUL byte, longer than kMaxLength).
  static Result<UnixAddress> parse(std::string_view text);
  static Result<UnixAddress> path(std::string_view path);
  static Result<UnixAddress> abstract(std::string_view name);

  bool is_abstract() const noexcept { return abstract_; }
  bool empty() const noexcept { return name_.empty(); }
  // The path, or the abstract name without its '@'.
  const std::string& name() const noexcept { return name_; }
  // The path, or "@name": what parse() takes back.
  std::string to_string() const { return abstract_ ? "@" + name_ : name_; }

  friend bool operator==(const UnixAddress&, const UnixAddress&) = default;
  friend auto operator<=>(const UnixAddress&, const UnixAddress&) = default;

 private:
  UnixAddress(std::string name, bool abstract) : name_(std::move(name)), abstract_(abstract) {}

  std::string name_;
  bool abstract_ = false;
};

}  // namespace nexo::net
