// nexo::Result<T> — a value or an Error, shaped like C++23 std::expected.
//
//   Result<size_t> n = stream.read(buffer);
//   if (!n) return n.error().with_context("reading the header");
//   use(*n);
//
// [[nodiscard]]: a Result that is dropped unread is a compiler warning, so a
// failure cannot be ignored by accident. Accessing value() of an error (or
// error() of a value) is a programming error: it aborts with a message, in
// every build (one predictable branch; never undefined behaviour).
#pragma once

#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "nexo/base/error.hpp"

namespace nexo {

namespace detail {
// Prints what was accessed (and the error, if any) and aborts.
[[noreturn]] void bad_result_access(const char* what, const Error* error) noexcept;
}  // namespace detail

template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "Result<T&> is not supported");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "Result<Error> makes no sense");

 public:
  using value_type = T;

  // A successful result.
  template <class U = T>
  requires std::is_constructible_v<T, U&&> &&(!std::is_same_v<std::remove_cvref_t<U>, Result>)&&(
      !std::is_same_v<std::remove_cvref_t<U>, Error>)Result(U&& value)
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT

  // A failed result.
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    if (!has_value())
      detail::bad_result_access("value() of a failed Result", std::get_if<1>(&state_));
    return *std::get_if<0>(&state_);
  }
  const T& value() const& {
    if (!has_value())
      detail::bad_result_access("value() of a failed Result", std::get_if<1>(&state_));
    return *std::get_if<0>(&state_);
  }
  T&& value() && {
    if (!has_value())
      detail::bad_result_access("value() of a failed Result", std::get_if<1>(&state_));
    return std::move(*std::get_if<0>(&state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

  const Error& error() const& {
    if (has_value()) detail::bad_result_access("error() of a successful Result", nullptr);
    return *std::get_if<1>(&state_);
  }
  Error& error() & {
    if (has_value()) detail::bad_result_access("error() of a successful Result", nullptr);
    return *std::get_if<1>(&state_);
  }
  Error&& error() && {
    if (has_value()) detail::bad_result_access("error() of a successful Result", nullptr);
    return std::move(*std::get_if<1>(&state_));
  }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;

  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool has_value() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (!has_value()) detail::bad_result_access("value() of a failed Result", &*error_);
  }

  const Error& error() const& {
    if (has_value()) detail::bad_result_access("error() of a successful Result", nullptr);
    return *error_;
  }
  Error& error() & {
    if (has_value()) detail::bad_result_access("error() of a successful Result", nullptr);
    return *error_;
  }
  Error&& error() && {
    if (has_value()) detail::bad_result_access("error() of a successful Result", nullptr);
    return std::move(*error_);
  }

 private:
  std::optional<Error> error_;
};

// The success value of a Result<void>: `return nexo::ok();`
inline Result<void> ok() {
  return {};
}

}  // namespace nexo
