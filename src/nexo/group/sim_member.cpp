#include "nexo/group/sim_member.hpp"

#include <algorithm>

namespace nexo::group {

SimMember::SimMember(Member member, Trace* trace)
    : member_(std::move(member)), trace_(trace), self_label_(label(member_.self())) {
  if (trace_) trace_->add_member(self_label_);
}

void SimMember::on_datagram(std::span<const std::byte> datagram, sim::NodeId, Time now) {
  member_.on_packet(datagram, now);
  take_deliveries(now);
}

void SimMember::on_timer(Time now) {
  member_.on_timer(now);
  take_deliveries(now);
}

bool SimMember::poll_transmit(Bytes& out, sim::Destination& to, Time now) {
  Destination d;
  if (!member_.poll_transmit(out, d)) return false;
  to = d.group ? sim::to_group() : sim::to_node(node_of(d.member));
  if (trace_) record(out, d, now);
  return true;
}

Result<void> SimMember::send(std::span<const std::byte> payload, Time now) {
  auto sent = member_.send(payload, now);
  take_deliveries(now);
  return sent;
}

void SimMember::take_deliveries(Time now) {
  while (auto d = member_.poll_delivery()) {
    if (trace_ && d->sender != member_.self())  // our own: the send's dot says it
      trace_->delivered(now, self_label_, MessageKey{label(d->sender), d->seq});
    delivered_[d->sender].push_back(std::move(d->payload));
  }
}

// What the member sent, read back from the packet. A NAK goes one to one
// and, in views of 3 or more, as a copy to the group: drawn once.
void SimMember::record(std::span<const std::byte> packet, const Destination& to, Time now) {
  Packet p;
  if (decode(packet, p) != ParseError::none) return;
  if (const auto* data = std::get_if<Data>(&p.body)) {
    if (data->retransmission) {
      trace_->retransmitted(now, self_label_, MessageKey{self_label_, data->seq},
                            to.group ? std::string() : label(to.member));
    } else {
      const auto text =
          as_text(data->payload.first(std::min<std::size_t>(data->payload.size(), 16)));
      trace_->sent(now, self_label_, data->seq, text);
    }
  } else if (const auto* nak = std::get_if<Nak>(&p.body); nak != nullptr && !to.group) {
    for (const SeqRange& r : nak->ranges())
      trace_->nak_sent(now, self_label_, label(nak->target), r.first, r.last);
  }
}

}  // namespace nexo::group
