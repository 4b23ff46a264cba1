// Endpoint, state transfer (config.state_transfer): the coordinator of a view
// with joiners polls a StateRequest between the old view's last delivery and
// the ViewChange; provide_state() cuts the state into STATE chunks, sent to
// each joiner with the VIEW and resent with it until the joiner acknowledges
// the view, which it does once it has the whole state. A joiner's events
// after its ViewChange wait until its StateTransfer has been polled.
#include <algorithm>

#include "nexo/group/endpoint_impl.hpp"

namespace nexo::group {

void Endpoint::Impl::provide_state(std::uint64_t view_id, Bytes state_bytes) {
  if (view_id == 0 || view_id != state_view || state_bytes.size() > kMaxState) return;
  state_view = 0;
  state_packets.clear();
  const auto total = static_cast<std::uint32_t>(state_bytes.size());
  Header h = header(Type::state);
  std::size_t offset = 0;
  do {
    const std::size_t len = std::min(kStateChunk, state_bytes.size() - offset);
    Bytes packet;
    if (encode_state(packet, h, view_id, total, static_cast<std::uint32_t>(offset),
                     std::span<const std::byte>(state_bytes).subspan(offset, len)))
      state_packets.push_back(std::move(packet));
    offset += len;
  } while (offset < state_bytes.size());
  for (MemberId m : awaiting_state)
    for (const Bytes& packet : state_packets)
      send_to(m, packet);
}

void Endpoint::Impl::on_state(const Header& h, const StateChunk& chunk) {
  if (!incoming || chunk.new_view != incoming->view || h.view.id != incoming->view ||
      chunk.total > kMaxState || (incoming->started && chunk.total != incoming->total)) {
    drop(Drop::stale);
    return;
  }
  Incoming& in = *incoming;
  if (!in.started) {
    in.started = true;
    in.total = chunk.total;
    in.state.assign(chunk.total, std::byte{0});
  }
  if (!in.offsets.insert(chunk.offset).second) return;  // a resend
  std::copy(chunk.chunk.begin(), chunk.chunk.end(), in.state.begin() + chunk.offset);
  in.received += static_cast<std::uint32_t>(chunk.chunk.size());
  if (in.received < in.total || (in.total == 0 && in.offsets.empty())) return;
  Bytes packet;
  if (in.from != 0 && encode_view_number(packet, header(Type::view_ack), in.view))
    send_to(in.from, std::move(packet));
  events.push_back(StateTransfer{in.view, std::move(in.state)});
  incoming.reset();
  while (!before_state.empty()) {
    events.push_back(std::move(before_state.front()));
    before_state.pop_front();
  }
}

}  // namespace nexo::group
