// nexo's side of bench_msg and bench_rudp: the two ends of a connection, each
// with its own Context (as two processes would), optionally through a fault
// proxy; the ping-pong pair (Sender::send -> Port::receive -> Port::reply ->
// Sender::receive) and the one-way stream (Sender::enqueue, wait_for_room on
// would_block; Port::receive) built on them. Used as a user would: default
// options except those named.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "harness.hpp"
#include "nexo/base/result.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/fault/proxy.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "nexo/msg/transport.hpp"
#include "pairs.hpp"
#include "streams.hpp"

namespace nexo::bench {

// A fault::Proxy on 127.0.0.1 (a free port) relaying to 127.0.0.1:`target_port`
// with `plan`; its thread bound to placement.proxy. Leaves this thread bound
// to the client's cpu.
Result<std::unique_ptr<fault::Proxy>> start_proxy(const Placement& placement,
                                                  std::uint16_t target_port,
                                                  const fault::Plan& plan);

// The proxy's counters as a stream's datagrams.
DatagramCounts datagrams_of(const fault::Proxy& proxy);

// Each side its own Context (created on its cpu: the I/O thread inherits the
// binding), a Port on the server side and the client's Sender to it (through
// the proxy, if there is one). Contexts first: destroyed last; then the
// proxy, so that the sender and the port close through it without lingering.
struct NexoEnds {
  std::unique_ptr<msg::Context> server_context, client_context;
  std::unique_ptr<fault::Proxy> proxy;  // rudp:// through faults only
  std::unique_ptr<msg::Port> server_port;
  std::unique_ptr<msg::Sender> to_server;
};

// The port bound at `bind_uri` (tcp://127.0.0.1:0, rudp://127.0.0.1:0,
// ipc://PATH), the sender connected with `options` to it, or (rudp:// with a
// plan) to a proxy in front of it. Leaves this thread bound to the client's cpu.
Result<NexoEnds> open_nexo_ends(const Placement& placement, const std::string& bind_uri,
                                const std::optional<fault::Plan>& plan = std::nullopt,
                                const msg::SenderOptions& options = {});

// The ping-pong pair: an empty message ends the echo.
class NexoPair final : public PingPong {
 public:
  NexoPair(NexoEnds ends, int server_cpu);
  ~NexoPair() override;
  Result<void> run(std::size_t count, Message& message, LatencySamples* samples) override;
  Result<void> finish() override;

 private:
  Result<void> echo();

  NexoEnds ends_;  // contexts destroyed after the port and the sender
  std::atomic<bool> stop_{false};
  EchoThread thread_;  // last: started when everything it uses exists
};

// The one-way stream: Sender::enqueue (on would_block: wait_for_room, then
// again), Port::receive.
class NexoStream final : public Stream {
 public:
  NexoStream(NexoEnds ends, std::size_t message_size, int server_cpu)
      : Stream(message_size, server_cpu), ends_(std::move(ends)) {}
  Result<Outcome> round(std::size_t count, Clock::time_point deadline) override;
  std::optional<DatagramCounts> datagrams() const override;
  std::string note() const override;

 private:
  NexoEnds ends_;
};

}  // namespace nexo::bench
