// nexo group join NAME: a member of a process group (group::Group) on this
// host's loopback by default. The contract scripts rely on:
//   - it returns from joining only once in a view, and says where on stderr:
//       nexo group join: NAME at ADDRESS:PORT on IF as MEMBER, order O[, faults ..., seed N]
//     (unicast mode: "at MEMBER (unicast fan-out[ from SEEDS])");
//   - each line of standard input is sent to the group as one message;
//   - each delivered message is printed on stdout as exactly `<member>: <text>`
//     (the member is its contact, host:port);
//   - each view is printed on stderr as exactly `view <id>: <member>, <member>, ...`;
//   - at the end of input it waits until its own messages are delivered here,
//     leaves cleanly, prints the rest, and exits 0 (--stats: counters on
//     stderr; --trace FILE: the run as an SVG space-time diagram);
//   - SIGINT or SIGTERM leaves cleanly at once (the others install a view
//     without it, no failure timeout; lines not yet sent are not), prints the
//     rest as above and exits 128 + the signal (130, 143); a second one, or
//     one before it is in a view, exits at once.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "nexo/group/group.hpp"
#include "options.hpp"
#include "terminal_text.hpp"

namespace nexo::tool {
namespace {

constexpr std::string_view kCommand = "group join";

int fail(const Error& error) {
  return report_failure(kCommand, error.message());
}

std::mutex output_mutex;  // lines from the loop thread (views) and this one

Result<std::vector<net::Endpoint>> parse_members(const std::string& list) {
  std::vector<net::Endpoint> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    auto hp = options::parse_host_port(item);
    if (!hp) return std::move(hp).error().with_context("--members '" + item + "'");
    auto at = net::Endpoint::resolve(hp->host, hp->port);
    if (!at) return std::move(at).error().with_context("--members '" + item + "'");
    out.push_back(*at);
  }
  if (out.empty()) return Error(ErrorKind::invalid_argument, "--members: no HOST:PORT given");
  return out;
}

Result<group::GroupOptions> make_options(const GroupArgs& args, group::Trace* trace) {
  group::GroupOptions o;
  o.name = args.name;
  o.order = *group::parse_order(args.order);  // checked by the parser
  o.interface = args.interface;
  o.port = static_cast<std::uint16_t>(args.port);
  o.join_timeout = std::chrono::milliseconds(args.timeout_ms);
  if (!args.address.empty()) {
    auto address = net::InetAddress::parse(args.address);
    if (!address) return std::move(address).error().with_context("--address");
    o.address = *address;
  }
  if (!args.members.empty()) {
    auto members = parse_members(args.members);
    if (!members) return std::move(members).error();
    o.members = std::move(*members);
  }
  auto detection = options::parse_duration(args.detection_time);
  if (!detection) return std::move(detection).error().with_context("--detection-time");
  o.detection_time = std::chrono::duration_cast<std::chrono::milliseconds>(*detection);
  if (o.detection_time.count() < 1) o.detection_time = std::chrono::milliseconds(1);
  if (args.loss > 0 || args.dup > 0 || args.reorder > 0) {
    fault::Direction d;
    d.loss = args.loss;
    d.duplicate = args.dup;
    d.reorder = args.reorder;
    fault::Plan plan;
    plan.seed = args.seed != 0 ? args.seed : std::random_device{}() | 1u;
    if (args.direction != "back") plan.to = d;
    if (args.direction != "to") plan.back = d;
    o.faults = plan;
  }
  o.unicast = args.unicast;
  o.trace = trace;
  o.on_view = [](const group::ViewChange& change) {
    // The names of a view's members are its contacts, decoded here (the
    // Group's own table may not have them yet: this runs inside the change).
    std::string line = "view " + std::to_string(change.view.id) + ":";
    for (std::size_t i = 0; i < change.view.contacts.size(); ++i) {
      auto at = group::decode_contact(change.view.contacts[i]);
      line += (i == 0 ? " " : ", ") + (at ? at->to_string() : std::string("?"));
    }
    std::lock_guard lock(output_mutex);
    std::cerr << line << std::endl;
  };
  return o;
}

void print_delivery(const group::Group& g, const group::Delivery& d) {
  const std::string_view text(reinterpret_cast<const char*>(d.payload.data()), d.payload.size());
  std::lock_guard lock(output_mutex);
  std::cout << g.name_of(d.sender) << ": " << printable(text) << std::endl;
}

void print_stats(const group::Group& g, const GroupArgs& args) {
  const auto c = g.counters();
  const auto& r = c.endpoint.reliability;
  std::uint64_t malformed = 0;
  for (auto n : r.parse_errors)
    malformed += n;
  std::lock_guard lock(output_mutex);
  std::cerr << "stats group " << g.name() << ": sent " << r.sent << ", delivered " << c.delivered
            << ", naks sent " << r.naks_sent << ", naks received " << r.naks_received
            << ", retransmissions " << r.retransmissions << ", duplicates " << r.duplicates
            << ", history bytes " << r.history_bytes << ", view " << c.view << " (" << c.view_size
            << " members), views installed " << c.endpoint.views_installed << ", crashes detected "
            << c.endpoint.crashes_detected << "\nstats drops: malformed " << malformed
            << ", other group " << r.other_group << ", non-member " << r.non_member
            << ", stale view " << r.stale_view << ", beyond window " << r.beyond_window
            << ", buffer full " << r.buffer_full << ", nak rate " << r.nak_rate_limited
            << ", membership " << c.endpoint.membership_drops << ", truncated "
            << c.transport.truncated << std::endl;
  if (r.recovery.count() > 0) {
    std::cerr << "stats loss recovery: " << r.recovery.count()
              << " messages found missing, recovered in p50 " << r.recovery.percentile(50).count()
              << " us, p99 " << r.recovery.percentile(99).count() << " us, max "
              << r.recovery.percentile(100).count() << " us" << std::endl;
  }
  const bool faults = args.loss > 0 || args.dup > 0 || args.reorder > 0;
  if (faults && args.direction != "back")
    std::cerr << "stats faults on sent datagrams: " << c.transport.faults_sent.to_string() << '\n';
  if (faults && args.direction != "to")
    std::cerr << "stats faults on received datagrams: " << c.transport.faults_received.to_string()
              << '\n';
}

// SIGINT and SIGTERM, taken by a thread of their own (sigtimedwait) rather
// than by a handler: blocked here before any other thread starts, so every
// thread (the Group's loop thread too) inherits the mask and none is
// interrupted. The first one asks for a clean leave (`signal` is set, chat()
// sees it); one before the member is in a view, or a second one, exits at once
// with 128 + its number: there is nothing to leave, or the user will not wait.
class Interrupts {
 public:
  Interrupts() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    watcher_ = std::jthread([this](std::stop_token stop) { watch(stop); });
  }
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;

  // From now on the first signal asks for a leave instead of exiting.
  void joined() { joined_.store(true); }
  // The first signal's number, or 0.
  int signal() const { return signal_.load(); }

 private:
  void watch(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      const timespec tick{0, 100'000'000};  // to see `stop` when no signal comes
      const int signo = sigtimedwait(&signals_, nullptr, &tick);
      if (signo <= 0) continue;
      if (!joined_.load() || signal_.exchange(signo) != 0) {
        std::lock_guard lock(output_mutex);
        std::cerr << "nexo group join: " << (signo == SIGINT ? "SIGINT" : "SIGTERM")
                  << (joined_.load() ? " again: exiting without waiting for the leave"
                                     : ": exiting")
                  << std::endl;
        std::_Exit(128 + signo);
      }
      std::lock_guard lock(output_mutex);
      std::cerr << "nexo group join: " << (signo == SIGINT ? "SIGINT" : "SIGTERM")
                << ": leaving (again to exit at once)" << std::endl;
    }
  }

  sigset_t signals_;
  std::atomic<bool> joined_{false};
  std::atomic<int> signal_{0};
  std::jthread watcher_;  // last: stopped and joined first
};

// Sends each line of standard input (on a thread of its own) and prints each
// delivery until the input has ended and this member's own messages are all
// delivered here, or a signal asks to leave; then leaves. The reader waits
// for input in poll() with a short tick, so it stops without a line coming;
// a send it waits in (the window full) ends with the leave, which never waits
// for it.
struct ChatEnd {
  std::string send_error;  // why sending stopped early, or ""
  Result<void> left;       // the leave's outcome
};
ChatEnd chat(group::Group& g, const Interrupts& interrupts, std::chrono::milliseconds timeout) {
  std::atomic<bool> input_done{false}, stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::string send_error;
  std::jthread reader([&] {
    std::string buffer;
    char chunk[65536];
    bool eof = false;
    while (!eof && !stop.load() && interrupts.signal() == 0) {
      pollfd in{STDIN_FILENO, POLLIN, 0};
      const int ready = ::poll(&in, 1, 100);
      if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
      ssize_t n = 0;
      if (ready > 0 && (in.revents & POLLNVAL) == 0) n = ::read(STDIN_FILENO, chunk, sizeof chunk);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        eof = true;  // end of input (or unreadable: the same for this tool)
      } else {
        buffer.append(chunk, static_cast<std::size_t>(n));
      }
      // Every complete line, and at the end an unterminated last one (as getline).
      std::size_t from = 0;
      for (;;) {
        std::size_t nl = buffer.find('\n', from);
        if (nl == std::string::npos && !(eof && from < buffer.size())) break;
        if (nl == std::string::npos) nl = buffer.size();
        if (stop.load() || interrupts.signal() != 0) break;
        if (auto s = g.send(std::string_view(buffer).substr(from, nl - from)); !s) {
          if (!stop.load() && interrupts.signal() == 0) send_error = s.error().message();
          eof = true;
          break;
        }
        sent.fetch_add(1);
        from = std::min(nl + 1, buffer.size());
      }
      buffer.erase(0, from);
    }
    input_done.store(true);
  });
  std::uint64_t own_delivered = 0;
  for (;;) {
    auto d = g.receive(std::chrono::milliseconds(50));
    if (d) {
      if (d->sender == g.self()) ++own_delivered;
      print_delivery(g, *d);
      continue;
    }
    if (d.error().is(ErrorKind::closed)) break;
    if (interrupts.signal() != 0) break;
    if (input_done.load() && own_delivered >= sent.load()) break;
  }
  auto left = g.leave(timeout);
  stop.store(true);
  reader.join();
  return ChatEnd{send_error, std::move(left)};
}

}  // namespace

int group_join(const GroupArgs& args) {
  group::Trace trace;
  auto options = make_options(args, args.trace.empty() ? nullptr : &trace);
  if (!options) return fail(options.error());
  const bool unicast = options->unicast || !options->members.empty();
  std::string faults;
  if (options->faults) {
    const auto& plan = *options->faults;
    faults = ", faults " + (plan.back.active() ? plan.back.to_string() : plan.to.to_string()) +
             " (" + args.direction + "), seed " + std::to_string(plan.seed);
  }
  Interrupts interrupts;  // before the Group's thread starts: it inherits the mask
  auto joined = group::Group::join(std::move(*options));
  if (!joined) return fail(joined.error());
  group::Group& g = **joined;
  {
    std::lock_guard lock(output_mutex);
    std::cerr << "nexo group join: " << args.name << " at "
              << (unicast ? g.name() + " (unicast fan-out" +
                                (args.members.empty() ? "" : " from " + args.members) + ")"
                          : g.address().to_string() + " on " + args.interface + " as " + g.name())
              << ", order " << args.order << faults << std::endl;
  }

  interrupts.joined();

  auto [send_error, left] = chat(g, interrupts, std::chrono::milliseconds(args.timeout_ms));
  while (auto d = g.try_receive())
    print_delivery(g, *d);
  if (args.stats) print_stats(g, args);
  if (!args.trace.empty()) {
    if (auto written = group::write_svg_file(trace, args.trace); !written)
      return fail(written.error().with_context("--trace"));
  }
  if (const int signo = interrupts.signal(); signo != 0) {
    // The conventional status of a command ended by a signal, after a clean leave.
    if (!left) fail(left.error());
    return 128 + signo;
  }
  if (!send_error.empty()) return report_failure(kCommand, send_error);
  if (!left) return fail(left.error());
  return 0;
}

}  // namespace nexo::tool
