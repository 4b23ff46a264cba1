#include "options.hpp"

#include <CLI/CLI.hpp>
#include <charconv>

#include "nexo/msg/uri.hpp"
#include "nexo/net/endpoint.hpp"

namespace nexo::tool::options {
namespace {

Error invalid(std::string why) {
  return Error(ErrorKind::invalid_argument, std::move(why));
}

std::string in_quotes(std::string_view text) {
  return "'" + std::string(text) + "'";
}

// A whole number of decimal digits, no sign, that fits in 64 bits.
Result<std::uint64_t> parse_digits(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || text.front() < '0' || text.front() > '9' || stop != end) {
    return invalid(in_quotes(text) + " is not " + std::string(what));
  }
  if (ec == std::errc::result_out_of_range)
    return invalid(in_quotes(text) + " is more than 2^64-1");
  return value;
}

// A validator from a function that returns an error (its message is the reason).
template <class Check>
CLI::Validator from(Check check, std::string name) {
  return CLI::Validator(
      [check](std::string& text) -> std::string {
        auto checked = check(text);
        return checked ? std::string() : checked.error().message();
      },
      std::move(name));
}

}  // namespace

CLI::Validator timeout() {
  return from(
      [](const std::string& text) -> Result<void> {
        const std::string why = "milliseconds, 0 (wait for ever) to " +
                                std::to_string(kMaxTimeoutMs);
        auto ms = parse_digits(text, "a timeout: " + why);
        if (!ms) return std::move(ms).error();
        if (*ms > static_cast<std::uint64_t>(kMaxTimeoutMs))
          return invalid(in_quotes(text) + " is too long a timeout: " + why);
        return ok();
      },
      "MS");
}

Timeout to_timeout(long long ms) {
  if (ms <= 0) return Timeout{};
  return Timeout{std::chrono::milliseconds(std::min(ms, kMaxTimeoutMs))};
}

Result<std::uint64_t> parse_count(std::string_view text, std::uint64_t min) {
  auto n = parse_digits(text, "a count (a whole number)");
  if (!n) return n;
  if (*n < min) {
    return invalid(in_quotes(text) + " is not a count here: at least " + std::to_string(min));
  }
  return n;
}

CLI::Validator count(std::uint64_t min) {
  return from([min](const std::string& text) { return parse_count(text, min); }, "N");
}

Result<std::uint64_t> parse_size(std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::string_view digits = text;
  unsigned shift = 0;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      default:
        break;
    }
    if (shift != 0) digits.remove_suffix(1);
  }
  auto n = parse_digits(digits, "a size (bytes, such as 4096, 64k, 16M)");
  if (!n) return invalid(in_quotes(text) + " is not a size (bytes, such as 4096, 64k, 16M)");
  const std::string range = std::to_string(min) + ".." + std::to_string(max) + " bytes";
  if (*n > (max >> shift)) return invalid(in_quotes(text) + " is more than " + range);
  const std::uint64_t bytes = *n << shift;
  if (bytes < min) return invalid(in_quotes(text) + " is less than " + range);
  return bytes;
}

CLI::Validator size(std::uint64_t min, std::uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        auto bytes = parse_size(text, min, max);
        if (!bytes) return bytes.error().message();
        text = std::to_string(*bytes);  // what the option's variable receives
        return {};
      },
      "BYTES");
}

CLI::Validator port(bool zero_allowed) {
  return from(
      [zero_allowed](const std::string& text) -> Result<void> {
        auto port = net::parse_port(text);
        if (!port) return std::move(port).error();
        if (*port == 0 && !zero_allowed)
          return invalid("port 0: a fixed port is needed here (1..65535)");
        return ok();
      },
      "PORT");
}

Result<HostPort> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return invalid(in_quotes(text) + ": expected HOST:PORT (or [IPv6]:PORT)");
  }
  HostPort out;
  out.host = std::string(text.substr(0, colon));
  if (out.host.front() == '[') {
    if (out.host.size() < 3 || out.host.back() != ']')
      return invalid(in_quotes(text) + ": expected [IPv6]:PORT");
    out.host = out.host.substr(1, out.host.size() - 2);
  } else if (out.host.find(':') != std::string::npos) {
    return invalid(in_quotes(text) + ": an IPv6 address goes in brackets, [IPv6]:PORT");
  }
  auto port = net::parse_port(text.substr(colon + 1));
  if (!port) return std::move(port).error().with_context(in_quotes(text));
  if (*port == 0) return invalid(in_quotes(text) + ": port 0 is not somewhere to send to (1..65535)");
  out.port = *port;
  return out;
}

CLI::Validator host_port() {
  return from([](const std::string& text) { return parse_host_port(text); }, "HOST:PORT");
}

CLI::Validator uri(UriUse use) {
  return from(
      [use](const std::string& text) -> Result<void> {
        auto parsed = msg::Uri::parse(text);
        if (!parsed) return std::move(parsed).error();
        if (use == UriUse::connect && parsed->scheme != msg::Scheme::inproc &&
            parsed->scheme != msg::Scheme::ipc && parsed->port == 0)
          return invalid("uri " + in_quotes(text) + ": port 0 is not somewhere to send to");
        return ok();
      },
      "URI");
}

Result<std::chrono::microseconds> parse_duration(std::string_view text) {
  double value = 0;
  const auto* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, value, std::chars_format::fixed);
  const std::string_view unit(stop, static_cast<std::size_t>(end - stop));
  double scale = 0;
  if (unit.empty() || unit == "ms")
    scale = 1e3;
  else if (unit == "us")
    scale = 1;
  else if (unit == "s")
    scale = 1e6;
  if (text.empty() || stop == text.data() || ec != std::errc() || scale == 0 || !(value >= 0) ||
      value * scale > 3.6e12) {
    return invalid(in_quotes(text) +
                   " is not a duration (a number and us, ms or s, such as 5ms; at most 1000 hours)");
  }
  return std::chrono::microseconds(static_cast<long long>(value * scale));
}

CLI::Validator duration() {
  return from([](const std::string& text) { return parse_duration(text); }, "DURATION");
}

}  // namespace nexo::tool::options
