// nexo::Error — the one error type of every layer.
//
// An Error says what the caller should do next (its kind), the operating-system
// errno where there is one, and a message naming the operation and the peer
// ("connect 127.0.0.1:7896: Connection refused"). Context grows as an error
// propagates upward: each layer may prepend what it was doing.
//
// Errors are values: expected failures (a timeout, a refused connection, a
// malformed datagram) are returned, never thrown, never only logged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nexo {

// What went wrong, named by what the caller should do about it.
enum class ErrorKind : std::uint8_t {
  timed_out,          // the deadline passed; retry or give up
  refused,            // nobody listens there (TCP RST on connect, ICMP port unreachable)
  reset,              // the peer aborted the connection (RST); data may have been lost
  closed,             // the peer or this side closed; no more data will come
  unreachable,        // no route to the host or network
  address_in_use,     // the local address/port is taken
  truncated,          // a message was larger than the buffer given for it
  resolve_failed,     // a host name could not be turned into addresses
  invalid_argument,   // the caller passed something out of range or malformed
  too_large,          // a message exceeds a protocol or configured limit
  would_block,        // a non-blocking call could not proceed now; try again later
  malformed,          // input bytes do not follow the expected format
  overloaded,         // a queue or resource limit is reached
  canceled,           // the operation was canceled by the caller
  not_connected,      // the operation needs a connected socket
  permission_denied,  // the OS refused (privileged port, broadcast not enabled, ...)
  system,             // any other OS failure; see errno
};

// "timed_out", "refused", ...: the stable name of a kind (used in tests and the CLI).
std::string_view to_string(ErrorKind kind) noexcept;

// Maps an errno value to the kind a caller acts on (ECONNREFUSED → refused, ...).
ErrorKind kind_from_errno(int err) noexcept;

class Error {
 public:
  // An error of `kind` with a full message; `sys_errno` is 0 when no OS call failed.
  Error(ErrorKind kind, std::string message, int sys_errno = 0)
      : kind_(kind), errno_(sys_errno), message_(std::move(message)) {}

  // The error of a failed OS call: kind from errno, message "<operation>: <strerror>".
  static Error from_errno(int err, std::string_view operation);

  ErrorKind kind() const noexcept { return kind_; }
  int sys_errno() const noexcept { return errno_; }
  const std::string& message() const noexcept { return message_; }

  // Prepends the outer operation: "send to 10.0.0.1:9" + "Connection refused".
  Error& with_context(std::string_view outer) &;
  Error with_context(std::string_view outer) &&;
  Error with_context(std::string_view outer) const&;

  bool is(ErrorKind kind) const noexcept { return kind_ == kind; }

  // "[refused] connect 127.0.0.1:7896: Connection refused"
  std::string to_string() const;

 private:
  ErrorKind kind_;
  int errno_;
  std::string message_;
};

}  // namespace nexo
