// The one definition of what the `nexo` tool's option values are: a timeout, a
// count, a port, a HOST:PORT, a URI, a size in bytes, a duration. Every
// subcommand checks its options with these validators, so the same text means
// the same thing everywhere, and a bad value is refused at parse time (exit 2)
// with one line naming the option and why ("--timeout: '-1' is not a timeout:
// milliseconds, 0 (wait for ever) to 2147483647").
//
//   cmd->add_option("--timeout", args.timeout_ms, ...)->check(options::timeout());
//   ...
//   auto limit = options::to_timeout(args.timeout_ms);   // in the command
//
// The checks that CLI11 runs on the text come first; the parse_* functions do
// the same job for a value that is not an option's text (and for the commands
// themselves, so that a check and its use cannot disagree).
//
// Thread contract: pure functions, any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"

// Declared, not included: CLI11 is header-only and costs ~11 s of compiler CPU in
// every file that includes it, and the commands that include this header only call
// the parse_* functions. main.cpp and options.cpp include <CLI/CLI.hpp> themselves.
namespace CLI {
class Validator;
}  // namespace CLI

namespace nexo::tool::options {

// The longest finite timeout, in milliseconds (poll(2) takes an int; about 24.8
// days). 0 means "wait for ever"; negative values are refused.
inline constexpr long long kMaxTimeoutMs = 2'147'483'647;

// --timeout MS: a whole number 0..kMaxTimeoutMs (0: for ever).
CLI::Validator timeout();
// The Timeout a checked --timeout stands for (0: none, wait for ever).
Timeout to_timeout(long long ms);

// --count N: a whole number min..2^64-1 (no sign, no clamping at 2^64).
CLI::Validator count(std::uint64_t min);
Result<std::uint64_t> parse_count(std::string_view text, std::uint64_t min);

// --size, --max-held: bytes, a whole number with an optional binary suffix
// (k, M, G: 2^10, 2^20, 2^30), min..max. The validator rewrites the text to
// the plain number of bytes.
CLI::Validator size(std::uint64_t min, std::uint64_t max);
Result<std::uint64_t> parse_size(std::string_view text, std::uint64_t min, std::uint64_t max);

// --port: 0..65535 where 0 is allowed (a server: any free port), else 1..65535.
CLI::Validator port(bool zero_allowed);

// HOST:PORT or [IPv6]:PORT, the port 1..65535 (somewhere to send to). The host
// is not resolved here (that may block); parse_host_port returns it unbracketed.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
CLI::Validator host_port();
Result<HostPort> parse_host_port(std::string_view text);

// A message-passing URI (tcp://, udp://, rudp://, inproc://, ipc://). To connect to,
// the port must not be 0; to bind, port 0 means any free port.
enum class UriUse { bind, connect };
CLI::Validator uri(UriUse use);

// A duration: a number and us, ms or s ("5ms", "1.5s"); a bare number is
// milliseconds. 0 up to 1000 hours.
CLI::Validator duration();
Result<std::chrono::microseconds> parse_duration(std::string_view text);

}  // namespace nexo::tool::options
