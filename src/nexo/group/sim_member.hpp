// SimMember — a group::Member as a process of the simulated network
// (sim::Node), recording what it does into a Trace if given one: every message
// sent and retransmitted and every NAK (read back from the packets it sends),
// and every delivery of another member's message. Member id = NodeId + 1;
// labels "m<id>". Thread contract: the simulation's (one thread).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nexo/group/member.hpp"
#include "nexo/group/sim_network.hpp"
#include "nexo/group/trace.hpp"

namespace nexo::group {

class SimMember final : public sim::Node {
 public:
  // `trace` (optional) must outlive this node.
  explicit SimMember(Member member, Trace* trace = nullptr);

  static sim::NodeId node_of(MemberId id) noexcept { return static_cast<sim::NodeId>(id - 1); }
  static MemberId member_of(sim::NodeId node) noexcept { return MemberId{node} + 1; }
  static std::string label(MemberId id) { return "m" + std::to_string(id); }

  void on_datagram(std::span<const std::byte> datagram, sim::NodeId from, Time now) override;
  void on_timer(Time now) override;
  std::optional<Time> next_timer() const override { return member_.next_timer(); }
  bool poll_transmit(Bytes& out, sim::Destination& to, Time now) override;

  // Member::send, and the delivery to this member; the caller then kicks the
  // node (sim::Network::kick) so that the packet leaves.
  Result<void> send(std::span<const std::byte> payload, Time now);

  Member& member() noexcept { return member_; }
  const Member& member() const noexcept { return member_; }
  // Every delivery so far, per sender: the payloads in delivery order.
  const std::map<MemberId, std::vector<Bytes>>& delivered() const noexcept { return delivered_; }

 private:
  void take_deliveries(Time now);
  void record(std::span<const std::byte> packet, const Destination& to, Time now);

  Member member_;
  Trace* trace_;
  std::string self_label_;
  std::map<MemberId, std::vector<Bytes>> delivered_;
};

}  // namespace nexo::group
