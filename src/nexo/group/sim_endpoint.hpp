// SimEndpoint — a group::Endpoint as a process of the simulated network
// (sim::Node), recording what it does: every event it polls (deliveries with
// their view, view changes, state transfers), and, into a Trace if given
// one, its sends, retransmissions and NAKs (read back from its packets),
// deliveries, views installed, its leave, and, as the sequencer of
// Order::total, the places it announces (Endpoint::observe_sequencing). Member id = NodeId + 1;
// labels "m<id>". In the trace a message's number is view * 1'000'000 + seq (the Member's numbers
// start again in every view). A StateRequest is answered at once from the state provider, if set.
// Thread contract: the simulation's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nexo/group/endpoint.hpp"
#include "nexo/group/sim_network.hpp"
#include "nexo/group/trace.hpp"

namespace nexo::group {

class SimEndpoint final : public sim::Node {
 public:
  struct Delivered {
    MemberId sender = 0;
    std::uint64_t view = 0;  // the view it was delivered in
    std::uint64_t seq = 0;
    Bytes payload;
    Time at{};
  };
  struct Installed {
    View view;
    Time at{};
  };

  // `trace` (optional) must outlive this node.
  explicit SimEndpoint(Endpoint endpoint, Trace* trace = nullptr);

  static sim::NodeId node_of(MemberId id) noexcept { return static_cast<sim::NodeId>(id - 1); }
  static MemberId member_of(sim::NodeId node) noexcept { return MemberId{node} + 1; }
  static std::string label(MemberId id) { return "m" + std::to_string(id); }
  static std::uint64_t trace_seq(std::uint64_t view, std::uint64_t seq) noexcept {
    return view * 1'000'000 + seq;
  }

  void on_datagram(std::span<const std::byte> datagram, sim::NodeId from, Time now) override;
  void on_timer(Time now) override;
  std::optional<Time> next_timer() const override { return endpoint_.next_timer(); }
  bool poll_transmit(Bytes& out, sim::Destination& to, Time now) override;

  // Endpoint's calls; the caller then kicks the node (sim::Network::kick).
  void join(Time now);
  void leave(Time now);
  Result<void> send(std::span<const std::byte> payload, Time now);
  // Answers StateRequests: the state as of that point of the event stream.
  void set_state_provider(std::function<Bytes(std::uint64_t view)> provider) {
    provider_ = std::move(provider);
  }

  Endpoint& endpoint() noexcept { return endpoint_; }
  const Endpoint& endpoint() const noexcept { return endpoint_; }
  const std::vector<Delivered>& delivered() const noexcept { return delivered_; }
  const std::vector<Installed>& views() const noexcept { return views_; }
  // The events in the order polled, as text ("view 3", "m2:7@3", "state 3", "request 3").
  const std::vector<std::string>& log() const noexcept { return log_; }
  const std::vector<StateTransfer>& states() const noexcept { return states_; }

 private:
  void take_events(Time now);
  void record(std::span<const std::byte> packet, const Destination& to, Time now);

  Endpoint endpoint_;
  Trace* trace_;
  std::string self_label_;
  std::function<Bytes(std::uint64_t)> provider_;
  std::vector<Delivered> delivered_;
  std::vector<Installed> views_;
  std::vector<std::string> log_;
  std::vector<StateTransfer> states_;
  bool left_recorded_ = false;
};

}  // namespace nexo::group
