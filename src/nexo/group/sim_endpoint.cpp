#include "nexo/group/sim_endpoint.hpp"

#include <algorithm>

namespace nexo::group {

SimEndpoint::SimEndpoint(Endpoint endpoint, Trace* trace)
    : endpoint_(std::move(endpoint)), trace_(trace), self_label_(label(endpoint_.self())) {
  if (!trace_) return;
  trace_->add_member(self_label_);
  // Captures no `this`: the observer lives in endpoint_, which moves with the node.
  endpoint_.observe_sequencing([trace = trace_, me = self_label_](const Sequenced& s, Time now) {
    trace->sequencer_hop(now, me, MessageKey{label(s.sender), trace_seq(s.view, s.seq)},
                         s.position);
  });
}

void SimEndpoint::on_datagram(std::span<const std::byte> datagram, sim::NodeId, Time now) {
  endpoint_.on_packet(datagram, now);
  take_events(now);
}

void SimEndpoint::on_timer(Time now) {
  endpoint_.on_timer(now);
  take_events(now);
}

bool SimEndpoint::poll_transmit(Bytes& out, sim::Destination& to, Time now) {
  Destination d;
  if (!endpoint_.poll_transmit(out, d)) return false;
  to = d.group ? sim::to_group() : sim::to_node(node_of(d.member));
  if (trace_) record(out, d, now);
  return true;
}

void SimEndpoint::join(Time now) {
  endpoint_.join(now);
  take_events(now);
}

void SimEndpoint::leave(Time now) {
  endpoint_.leave(now);
  take_events(now);
}

Result<void> SimEndpoint::send(std::span<const std::byte> payload, Time now) {
  auto sent = endpoint_.send(payload, now);
  take_events(now);
  return sent;
}

void SimEndpoint::take_events(Time now) {
  while (auto event = endpoint_.poll_event()) {
    if (auto* d = std::get_if<Delivery>(&*event)) {
      if (trace_ && d->sender != endpoint_.self())
        trace_->delivered(now, self_label_,
                          MessageKey{label(d->sender), trace_seq(d->view, d->seq)});
      log_.push_back(label(d->sender) + ":" + std::to_string(d->seq) + "@" +
                     std::to_string(d->view));
      delivered_.push_back(Delivered{d->sender, d->view, d->seq, std::move(d->payload), now});
    } else if (auto* v = std::get_if<ViewChange>(&*event)) {
      log_.push_back("view " + std::to_string(v->view.id));
      if (trace_) {
        std::vector<std::string> labels;
        for (MemberId m : v->view.members)
          labels.push_back(label(m));
        trace_->view_installed(now, self_label_, v->view.id, labels);
      }
      views_.push_back(Installed{std::move(v->view), now});
    } else if (auto* r = std::get_if<StateRequest>(&*event)) {
      log_.push_back("request " + std::to_string(r->view));
      if (provider_) endpoint_.provide_state(r->view, provider_(r->view));
    } else if (auto* s = std::get_if<StateTransfer>(&*event)) {
      log_.push_back("state " + std::to_string(s->view));
      states_.push_back(std::move(*s));
    }
  }
  if (trace_ && !left_recorded_ && endpoint_.state() == Endpoint::State::left) {
    left_recorded_ = true;
    trace_->left(now, self_label_);
  }
}

// What the endpoint sent, read back from the packet. A NAK goes one to one
// and, in views of 3 or more, as a copy to the group: drawn once.
void SimEndpoint::record(std::span<const std::byte> packet, const Destination& to, Time now) {
  Packet p;
  if (decode(packet, p) != ParseError::none) return;
  if (const auto* data = std::get_if<Data>(&p.body)) {
    const MessageKey key{label(p.header.sender), trace_seq(p.header.view.id, data->seq)};
    if (data->retransmission) {
      trace_->retransmitted(now, self_label_, key, to.group ? std::string() : label(to.member));
    } else if (!data->control) {
      const auto n = std::min<std::size_t>(data->payload.size(), 16);
      trace_->sent(now, self_label_, key.seq, as_text(data->payload.first(n)));
    }
  } else if (const auto* nak = std::get_if<Nak>(&p.body); nak != nullptr && !to.group) {
    for (const SeqRange& r : nak->ranges())
      trace_->nak_sent(now, self_label_, label(nak->target), trace_seq(p.header.view.id, r.first),
                       trace_seq(p.header.view.id, r.last));
  }
}

}  // namespace nexo::group
