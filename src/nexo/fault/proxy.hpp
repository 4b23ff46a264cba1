// Proxy — a UDP relay that applies a fault Plan, so any UDP program (the
// chapter's Java UDPClient included) can be shown its failure model:
//
//   client ──► listen ──[plan.to]──► target        (`nexo fault-proxy`)
//   client ◄── listen ◄─[plan.back]── target
//
// Each client address gets a session: its own upstream socket to the target,
// so the target's replies find their way back. Sessions idle for
// `session_idle` are closed (counted `expired`). When `max_sessions` are open,
// a new client takes the place of the least recently active one (counted
// `evicted`): its upstream socket is closed and the datagrams held for it are
// dropped (counted `discarded` in its direction). Finding a session, marking
// it active and choosing whom to evict cost O(log sessions) per datagram.
//
// What it holds for delay and reordering is bounded per direction by
// `max_held_bytes` (each datagram costs its size plus Injector::kHeldOverhead);
// a datagram that does not fit is dropped (counted `overflow`). The relay's
// thread never waits for room. The proxy runs on a thread of its own.
//
// Thread contract: every member from any thread. stop() (or destruction)
// ends the thread; the counters stay readable.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "nexo/base/result.hpp"
#include "nexo/fault/injector.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/net/endpoint.hpp"

namespace nexo::fault {

struct ProxyOptions {
  net::Endpoint listen;  // port 0: any free port (read it back with local_endpoint())
  net::Endpoint target;
  Plan plan;
  std::size_t max_sessions = 1024;
  std::chrono::milliseconds session_idle{60'000};
  // Bytes held for delay and reordering, in each direction (at least 1).
  std::size_t max_held_bytes = Injector::kDefaultMaxHeldBytes;
};

struct ProxyCounters {
  Counters to, back;              // client -> target, target -> client
  std::uint64_t sessions = 0;     // opened so far
  std::uint64_t evicted = 0;      // closed to make room for a new client
  std::uint64_t expired = 0;      // closed after session_idle without traffic
  std::uint64_t send_errors = 0;  // datagrams the OS would not send on (counted, not fatal)
};

class Proxy {
 public:
  // Binds `listen` and starts relaying. Errors: invalid_argument (the plan,
  // max_sessions or max_held_bytes 0), address_in_use, system.
  static Result<std::unique_ptr<Proxy>> start(const ProxyOptions& options);
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;
  ~Proxy();

  const net::Endpoint& local_endpoint() const noexcept;
  // Cuts (or heals) both directions at once.
  void set_partitioned(bool on);
  bool partitioned() const;
  ProxyCounters counters() const;
  // Bytes held now for delay and reordering, both directions together.
  std::size_t held_bytes() const;
  // Stops relaying (datagrams still held are dropped); idempotent.
  void stop();

  struct Impl;

 private:
  explicit Proxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexo::fault
