#include "nexo/base/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nexo {

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::timed_out:
      return "timed_out";
    case ErrorKind::refused:
      return "refused";
    case ErrorKind::reset:
      return "reset";
    case ErrorKind::closed:
      return "closed";
    case ErrorKind::unreachable:
      return "unreachable";
    case ErrorKind::address_in_use:
      return "address_in_use";
    case ErrorKind::truncated:
      return "truncated";
    case ErrorKind::resolve_failed:
      return "resolve_failed";
    case ErrorKind::invalid_argument:
      return "invalid_argument";
    case ErrorKind::too_large:
      return "too_large";
    case ErrorKind::would_block:
      return "would_block";
    case ErrorKind::malformed:
      return "malformed";
    case ErrorKind::overloaded:
      return "overloaded";
    case ErrorKind::canceled:
      return "canceled";
    case ErrorKind::not_connected:
      return "not_connected";
    case ErrorKind::permission_denied:
      return "permission_denied";
    case ErrorKind::system:
      return "system";
  }
  return "unknown";
}

ErrorKind kind_from_errno(int err) noexcept {
  switch (err) {
    case ETIMEDOUT:
      return ErrorKind::timed_out;
    case ECONNREFUSED:
      return ErrorKind::refused;
    case ECONNRESET:
    case ECONNABORTED:
      return ErrorKind::reset;
    case EPIPE:
    case ESHUTDOWN:
      return ErrorKind::closed;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
    case EADDRNOTAVAIL:
      return ErrorKind::unreachable;
    case EADDRINUSE:
      return ErrorKind::address_in_use;
    case EINVAL:
    case EAFNOSUPPORT:
    case EDESTADDRREQ:
      return ErrorKind::invalid_argument;
    case EMSGSIZE:
      return ErrorKind::too_large;
    case EAGAIN:
      return ErrorKind::would_block;  // EWOULDBLOCK == EAGAIN on Linux
    case ENOBUFS:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return ErrorKind::overloaded;
    case ECANCELED:
      return ErrorKind::canceled;
    case ENOTCONN:
      return ErrorKind::not_connected;
    case EACCES:
    case EPERM:
      return ErrorKind::permission_denied;
    default:
      return ErrorKind::system;
  }
}

Error Error::from_errno(int err, std::string_view operation) {
  std::string message(operation);
  message += ": ";
  message += std::strerror(err);
  return Error(kind_from_errno(err), std::move(message), err);
}

Error& Error::with_context(std::string_view outer) & {
  std::string message(outer);
  message += ": ";
  message += message_;
  message_ = std::move(message);
  return *this;
}

Error Error::with_context(std::string_view outer) && {
  with_context(outer);
  return std::move(*this);
}

Error Error::with_context(std::string_view outer) const& {
  Error copy = *this;
  copy.with_context(outer);
  return copy;
}

std::string Error::to_string() const {
  std::string text = "[";
  text += nexo::to_string(kind_);
  text += "] ";
  text += message_;
  return text;
}

}  // namespace nexo

namespace nexo::detail {

void bad_result_access(const char* what, const Error* error) noexcept {
  std::fprintf(stderr, "nexo: programming error: %s%s%s\n", what, error ? ": " : "",
               error ? error->to_string().c_str() : "");
  std::abort();
}

}  // namespace nexo::detail
