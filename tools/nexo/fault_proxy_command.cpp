// nexo fault-proxy: a UDP relay that loses, duplicates, reorders, delays and
// corrupts datagrams to order (fault::Proxy), for any UDP program. Runs until
// SIGINT or SIGTERM (or --duration), then prints its counters. SIGUSR1 cuts
// or heals a partition.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "commands.hpp"
#include "options.hpp"
#include "terminal_text.hpp"
#include "nexo/fault/proxy.hpp"

namespace nexo::tool {
namespace {

int fail(const Error& error) {
  return report_failure("fault-proxy", error.message());
}

void print_counters(const fault::Proxy& proxy) {
  const auto c = proxy.counters();
  std::cout << "fault-proxy to (client -> server): " << c.to.to_string() << '\n'
            << "fault-proxy back (server -> client): " << c.back.to_string() << '\n'
            << "fault-proxy sessions " << c.sessions << ", evicted " << c.evicted << ", expired "
            << c.expired << ", send errors " << c.send_errors << std::endl;
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
  auto delay = options::parse_duration(args.delay);
  if (!delay) return fail(delay.error().with_context("--delay"));
  auto jitter = options::parse_duration(args.jitter);
  if (!jitter) return fail(jitter.error().with_context("--jitter"));
  d.delay = *delay;
  d.jitter = *jitter;
  fault::ProxyOptions config;
  config.plan.seed = args.seed;
  if (args.direction != "back") config.plan.to = d;
  if (args.direction != "to") config.plan.back = d;
  config.max_sessions = args.max_sessions;
  config.max_held_bytes = args.max_held;
  auto to = options::parse_host_port(args.to);
  if (!to) return fail(to.error().with_context("--to"));
  auto target = net::Endpoint::resolve(to->host, to->port);
  if (!target) return fail(target.error().with_context("--to"));
  config.target = *target;
  auto listen = net::Endpoint::resolve(args.bind, args.listen);
  if (!listen) return fail(listen.error());
  config.listen = *listen;
  std::optional<std::chrono::microseconds> duration;
  if (!args.duration.empty()) {
    auto parsed = options::parse_duration(args.duration);
    if (!parsed) return fail(parsed.error().with_context("--duration"));
    duration = *parsed;
  }

  // The relay's thread inherits this mask: the signals come to sigtimedwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto proxy = fault::Proxy::start(config);
  if (!proxy) return fail(proxy.error());
  std::cerr << "nexo fault-proxy: forwarding to " << config.target.to_string() << ", seed "
            << config.plan.seed << "\n  to (client -> server): " << config.plan.to.to_string()
            << "\n  back (server -> client): " << config.plan.back.to_string()
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
