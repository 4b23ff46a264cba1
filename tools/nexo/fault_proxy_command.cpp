// nexo fault-proxy: a UDP relay that loses, duplicates, reorders, delays and
// corrupts datagrams to order (fault::Proxy), for any UDP program. Runs until
// SIGINT or SIGTERM (or --duration), then prints its counters. SIGUSR1 cuts
// or heals a partition.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "commands.hpp"
#include "nexo/fault/proxy.hpp"

namespace nexo::tool {
namespace {

int fail(const Error& error) {
  std::cerr << "nexo fault-proxy: " << error.message() << '\n';
  return 1;
}

// "5ms", "2s", "500us", "1.5ms"; a bare number is milliseconds.
Result<std::chrono::microseconds> parse_duration(std::string_view option, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "ms")
    scale = 1e3;
  else if (unit == "us")
    scale = 1;
  else if (unit == "s")
    scale = 1e6;
  if (used == 0 || scale == 0 || !(value >= 0) || value * scale > 3.6e12) {
    return Error(ErrorKind::invalid_argument,
                 std::string(option) + " '" + text +
                     "': not a duration (a number and us, ms or s, such as 5ms)");
  }
  return std::chrono::microseconds(static_cast<long long>(value * scale));
}

// "HOST:PORT", "[v6]:PORT".
Result<net::Endpoint> parse_target(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Error(ErrorKind::invalid_argument,
                 "--to '" + text + "': expected HOST:PORT (or [IPv6]:PORT)");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  long long port = -1;
  try {
    std::size_t used = 0;
    port = std::stoll(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0)
    return Error(ErrorKind::invalid_argument, "--to '" + text + "': the port is not a number");
  return net::Endpoint::resolve(host, port);
}

void print_counters(const fault::Proxy& proxy) {
  const auto c = proxy.counters();
  std::cout << "fault-proxy to (client -> server): " << c.to.to_string() << '\n'
            << "fault-proxy back (server -> client): " << c.back.to_string() << '\n'
            << "fault-proxy sessions " << c.sessions << ", refused " << c.refused
            << ", send errors " << c.send_errors << std::endl;
}

}  // namespace

int fault_proxy(const FaultProxyArgs& args) {
  fault::Direction d;
  d.loss = args.loss;
  d.burst = args.burst;
  d.duplicate = args.dup;
  d.reorder = args.reorder;
  d.reorder_window = args.reorder_window;
  d.corrupt = args.corrupt;
  auto delay = parse_duration("--delay", args.delay);
  if (!delay) return fail(delay.error());
  auto jitter = parse_duration("--jitter", args.jitter);
  if (!jitter) return fail(jitter.error());
  d.delay = *delay;
  d.jitter = *jitter;
  fault::ProxyOptions options;
  options.plan.seed = args.seed;
  if (args.direction != "back") options.plan.to = d;
  if (args.direction != "to") options.plan.back = d;
  options.max_sessions = args.max_sessions;
  auto target = parse_target(args.to);
  if (!target) return fail(target.error());
  options.target = *target;
  auto listen = net::Endpoint::resolve(args.bind, args.listen);
  if (!listen) return fail(listen.error());
  options.listen = *listen;
  std::optional<std::chrono::microseconds> duration;
  if (!args.duration.empty()) {
    auto parsed = parse_duration("--duration", args.duration);
    if (!parsed) return fail(parsed.error());
    duration = *parsed;
  }

  // The relay's thread inherits this mask: the signals come to sigtimedwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto proxy = fault::Proxy::start(options);
  if (!proxy) return fail(proxy.error());
  std::cerr << "nexo fault-proxy: forwarding to " << options.target.to_string() << ", seed "
            << options.plan.seed << "\n  to (client -> server): " << options.plan.to.to_string()
            << "\n  back (server -> client): " << options.plan.back.to_string()
            << "\nnexo fault-proxy: listening on " << (*proxy)->local_endpoint().to_string()
            << std::endl;

  const auto end = duration ? std::chrono::steady_clock::now() + *duration
                            : std::chrono::steady_clock::time_point::max();
  for (;;) {
    timespec wait{1, 0};
    if (duration) {
      const auto left = end - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) break;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      wait =
          timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    }
    const int signal = sigtimedwait(&signals, nullptr, &wait);
    if (signal == SIGINT || signal == SIGTERM) break;
    if (signal == SIGUSR1) {
      (*proxy)->set_partitioned(!(*proxy)->partitioned());
      std::cerr << "nexo fault-proxy: partition " << ((*proxy)->partitioned() ? "on" : "off")
                << std::endl;
    }
  }
  (*proxy)->stop();
  print_counters(**proxy);
  return 0;
}

}  // namespace nexo::tool
