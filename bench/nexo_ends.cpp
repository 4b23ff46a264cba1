#include "nexo_ends.hpp"

#include <cstring>
#include <span>
#include <utility>

#include "nexo/msg/message.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/inet_address.hpp"

namespace nexo::bench {

Result<std::unique_ptr<fault::Proxy>> start_proxy(const Placement& placement,
                                                  std::uint16_t target_port,
                                                  const fault::Plan& plan) {
  fault::ProxyOptions options;
  options.listen = net::Endpoint(net::InetAddress::loopback(), 0);
  options.target = net::Endpoint(net::InetAddress::loopback(), target_port);
  options.plan = plan;
  bind_thread(placement.proxy);  // the proxy's thread inherits the binding
  auto proxy = fault::Proxy::start(options);
  bind_thread(placement.client);
  if (!proxy) return std::move(proxy).error().with_context("fault proxy");
  return proxy;
}

DatagramCounts datagrams_of(const fault::Proxy& proxy) {
  const auto c = proxy.counters();
  return {c.to.received, c.back.received, c.to.lost, c.back.lost};
}

Result<NexoEnds> open_nexo_ends(const Placement& placement, const std::string& bind_uri,
                                const std::optional<fault::Plan>& plan,
                                const msg::SenderOptions& options) {
  NexoEnds ends;
  bind_thread(placement.server);  // the Context's I/O thread inherits the binding
  auto server_context = msg::Context::create();
  if (!server_context) return server_context.error();
  ends.server_context = std::move(*server_context);
  bind_thread(placement.client);
  auto client_context = msg::Context::create();
  if (!client_context) return client_context.error();
  ends.client_context = std::move(*client_context);
  auto port = msg::Port::bind(*ends.server_context, bind_uri);
  if (!port) return port.error();
  ends.server_port = std::move(*port);
  std::string to = ends.server_port->uri().to_string();
  if (plan) {
    auto proxy = start_proxy(placement, ends.server_port->uri().port, *plan);
    if (!proxy) return proxy.error();
    ends.proxy = std::move(*proxy);
    to = "rudp://127.0.0.1:" + std::to_string(ends.proxy->local_endpoint().port());
  }
  auto sender = msg::Sender::connect(*ends.client_context, to, options);
  if (!sender) return sender.error();
  ends.to_server = std::move(*sender);
  return ends;
}

// --- the ping-pong pair -----------------------------------------------------------------

NexoPair::NexoPair(NexoEnds ends, int server_cpu)
    : ends_(std::move(ends)), thread_(server_cpu, [this] { return echo(); }) {}

NexoPair::~NexoPair() {
  static_cast<void>(finish());
}

Result<void> NexoPair::run(std::size_t count, Message& message, LatencySamples* samples) {
  return time_round_trips(count, message, samples, [&](std::optional<Error>& error) {
    if (auto sent = ends_.to_server->send(message.request(), kTimeout); !sent) {
      return fail(error, std::move(sent).error());
    }
    auto reply = ends_.to_server->receive(kTimeout);
    if (!reply) return fail(error, std::move(reply).error());
    if (!reply_size_is(reply->size(), message.size(), error)) return false;
    std::memcpy(message.reply().data(), reply->data.data(), reply->size());
    return true;
  });
}

Result<void> NexoPair::finish() {
  if (!stop_.exchange(true)) {  // an empty message ends the echo
    static_cast<void>(ends_.to_server->send(std::span<const std::byte>{}, kTimeout));
  }
  return thread_.join();
}

Result<void> NexoPair::echo() {
  for (;;) {
    auto request = ends_.server_port->receive(kPoll);
    if (!request) {
      if (request.error().is(ErrorKind::timed_out) && !stop_.load()) continue;
      if (request.error().is(ErrorKind::timed_out)) return ok();
      return std::move(request).error().with_context("nexo echo");
    }
    if (request->size() == 0) return ok();  // the client's stop message
    if (auto sent = ends_.server_port->reply(*request, request->data); !sent) {
      return std::move(sent).error().with_context("nexo echo");
    }
  }
}

// --- the one-way stream -----------------------------------------------------------------

Result<Outcome> NexoStream::round(std::size_t count, Clock::time_point deadline) {
  msg::Sender& sender = *ends_.to_server;
  auto send_one = [&](const Bytes& payload, Clock::time_point limit,
                      const std::atomic<bool>& receiver_done) -> Result<void> {
    for (;;) {
      auto queued = sender.enqueue(payload);
      if (queued || !queued.error().is(ErrorKind::would_block)) return queued;
      // The local buffer is full: wait until half of it is free, then enqueue again.
      auto room = sender.wait_for_room(std::min<std::chrono::milliseconds>(kPoll, until(limit)));
      if (!room && !room.error().is(ErrorKind::timed_out)) return room;
      if (receiver_done.load() || Clock::now() >= limit) return time_is_up();
    }
  };
  // The wait is kPoll, as ZeroMQ's receive timeout is (the caller looks at the
  // round's deadline when it times out): no clock read per message here.
  auto receive_one = [&](std::size_t i, Clock::time_point) -> Result<void> {
    auto message = ends_.server_port->receive(kPoll);
    if (!message) return std::move(message).error();
    return check(message->data, i);
  };
  return timed(count, deadline, send_one, nothing_to_drain, receive_one);
}

std::optional<DatagramCounts> NexoStream::datagrams() const {
  if (!ends_.proxy) return std::nullopt;
  return datagrams_of(*ends_.proxy);
}

std::string NexoStream::note() const {
  if (!ends_.proxy) return {};
  return "the sender retransmitted " + std::to_string(ends_.to_server->stats().retransmitted) +
         " packets (warm-up included)";
}

}  // namespace nexo::bench
