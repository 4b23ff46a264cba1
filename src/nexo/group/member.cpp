// Member: construction, intake and dispatch of packets, timers, output. The
// sending side (history, NAKs answered, heartbeats, stability) is in
// member_send.cpp, the receiving side (delivery, gaps, NAKs) in
// member_receive.cpp.
#include "nexo/group/member.hpp"

#include <algorithm>
#include <cmath>

#include "nexo/group/bundle.hpp"

namespace nexo::group {

Result<Member> Member::create(MemberConfig config, Time now) {
  if (config.self == 0) return Error(ErrorKind::invalid_argument, "group member: id 0");
  if (std::find(config.members.begin(), config.members.end(), config.self) ==
      config.members.end()) {
    return Error(ErrorKind::invalid_argument, "group member: this member is not in its view");
  }
  if (std::find(config.members.begin(), config.members.end(), MemberId{0}) !=
      config.members.end()) {
    return Error(ErrorKind::invalid_argument, "group member: a member id of 0 in the view");
  }
  if (config.window == 0 || config.max_message == 0 || config.history_bytes < config.max_message)
    return Error(ErrorKind::invalid_argument,
                 "group member: window, max_message and history_bytes must allow one message");
  std::sort(config.members.begin(), config.members.end());
  if (std::adjacent_find(config.members.begin(), config.members.end()) != config.members.end())
    return Error(ErrorKind::invalid_argument, "group member: a member twice in the view");
  return Member(std::move(config), now);
}

Member::Member(MemberConfig config, Time now)
    : config_(std::move(config)),
      next_heartbeat_(now + config_.heartbeat_interval),
      random_(config_.seed ^ config_.self),
      nak_shape_(std::log(static_cast<double>(std::max<std::size_t>(config_.members.size(), 2))) +
                 1.0) {
  keep_ = config_.members.size() >= 3;
  // The repair wait's bounds (MemberConfig): the floor never above the ceiling.
  const Duration ceiling = config_.repair_timeout;
  const Duration floor = std::min<Duration>(
      std::max<Duration>(config_.min_repair_timeout, config_.retransmit_holdoff), ceiling);
  for (MemberId m : config_.members) {
    if (m == config_.self) continue;
    Peer& p = peers_[m];
    p.tokens = config_.nak_burst;
    p.tokens_at = now;
    p.repair_timer = RepairTimer(floor, ceiling);
  }
  repair_floor_ = floor;
}

std::size_t Member::rank(MemberId member) const noexcept {
  const auto it = std::lower_bound(config_.members.begin(), config_.members.end(), member);
  return static_cast<std::size_t>(it - config_.members.begin());
}

std::uint64_t Member::delivered_through(MemberId sender) const noexcept {
  if (sender == config_.self) return next_seq_ - 1;
  const auto it = peers_.find(sender);
  return it == peers_.end() ? 0 : it->second.next - 1;
}

void Member::expect(MemberId sender, std::uint64_t through, Time now) {
  const auto it = peers_.find(sender);
  if (it != peers_.end()) learn_highest(it->second, through, now);
}

void Member::set_repairer(MemberId sender) {
  const auto it = peers_.find(sender);
  if (it != peers_.end()) it->second.repairer = true;
}

MemberCounters& MemberCounters::operator+=(const MemberCounters& m) noexcept {
  sent += m.sent;
  delivered += m.delivered;
  naks_sent += m.naks_sent;
  naks_received += m.naks_received;
  naks_suppressed += m.naks_suppressed;
  retransmissions += m.retransmissions;
  heartbeats_sent += m.heartbeats_sent;
  duplicates += m.duplicates;
  for (std::size_t i = 0; i < kParseErrorCount; ++i)
    parse_errors[i] += m.parse_errors[i];
  other_group += m.other_group;
  non_member += m.non_member;
  stale_view += m.stale_view;
  own_packet += m.own_packet;
  beyond_window += m.beyond_window;
  buffer_full += m.buffer_full;
  nak_rate_limited += m.nak_rate_limited;
  nak_unknown += m.nak_unknown;
  nak_unrecoverable += m.nak_unrecoverable;
  nak_copies += m.nak_copies;
  recovery += m.recovery;
  return *this;
}

void Member::lagging(std::uint64_t threshold, std::vector<MemberId>& out) const {
  out.clear();
  const std::uint64_t sent = next_seq_ - 1;
  for (const auto& [id, peer] : peers_) {
    bool behind = sent >= peer.has_ours + threshold;
    for (std::size_t r = 0; !behind && r < peer.reported.size(); ++r) {
      const MemberId sender = config_.members[r];
      if (sender == id || sender == config_.self) continue;
      behind = delivered_through(sender) >= peer.reported[r] + threshold;
    }
    if (behind) out.push_back(id);
  }
}

std::size_t Member::kept_messages() const noexcept {
  std::size_t n = 0;
  for (const auto& [id, peer] : peers_)
    n += peer.kept_count();
  return n;
}

// --- intake ------------------------------------------------------------------------

bool Member::accept_header(const Header& h) {
  if (h.group != config_.group) {
    ++counters_.other_group;
    return false;
  }
  if (h.sender == config_.self) {  // our own multicast, looped back
    ++counters_.own_packet;
    return false;
  }
  if (!peers_.contains(h.sender)) {
    ++counters_.non_member;
    return false;
  }
  if (h.view != config_.view) {
    ++counters_.stale_view;
    return false;
  }
  return true;
}

void Member::on_packet(std::span<const std::byte> datagram, Time now) {
  const ParseError framing = for_each_packet(datagram, [&](std::span<const std::byte> bytes) {
    Packet packet;
    if (const ParseError e = decode(bytes, packet); e != ParseError::none) {
      ++counters_.parse_errors[static_cast<std::size_t>(e)];
      return;
    }
    on_decoded(packet, now);
  });
  if (framing != ParseError::none) ++counters_.parse_errors[static_cast<std::size_t>(framing)];
}

void Member::on_decoded(const Packet& packet, Time now) {
  if (packet.header.type != Type::data && packet.header.type != Type::nak &&
      packet.header.type != Type::heartbeat)
    return;
  if (!accept_header(packet.header)) return;
  const MemberId sender = packet.header.sender;
  Peer& peer = peers_.find(sender)->second;
  if (const auto* data = std::get_if<Data>(&packet.body)) {
    on_data(peer, sender, *data, now);
  } else if (const auto* nak = std::get_if<Nak>(&packet.body)) {
    on_nak(peer, sender, *nak, now);
  } else if (const auto* hb = std::get_if<Heartbeat>(&packet.body)) {
    on_heartbeat(peer, sender, *hb, now);
  }
}

// --- timers --------------------------------------------------------------------------

void Member::on_timer(Time now) {
  for (auto& [id, peer] : peers_) {
    if (peer.nak_at && *peer.nak_at <= now) send_nak(peer, id, now);
  }
  if (next_heartbeat_ <= now) send_heartbeat(now);
}

std::optional<Time> Member::next_timer() const noexcept {
  Time next = next_heartbeat_;
  for (const auto& [id, peer] : peers_) {
    if (peer.nak_at && *peer.nak_at < next) next = *peer.nak_at;
  }
  return next;
}

// --- output --------------------------------------------------------------------------

void Member::push(std::span<const std::byte> packet, Destination to) {
  out_.push_back(packet, Outgoing{to, 0});
}

bool Member::poll_transmit(Bytes& out, Destination& to) {
  while (!out_.empty()) {
    const auto packet = out_.front();
    const Outgoing o = packet.info;
    if (o.data_seq == 0) {
      out.assign(packet.payload.begin(), packet.payload.end());
      to = o.to;
      out_.pop_front();
      return true;
    }
    out_.pop_front();
    // A message of ours, first sent now. Stable before it left (alone in
    // the view, every member has it): nobody needs it.
    if (o.data_seq <= stable_) continue;
    const auto sent = history_[o.data_seq - stable_ - 1];
    const Header header{Type::data, config_.group, config_.self, config_.view};
    if (!encode_data(out, header, o.data_seq, sent.info.control ? kControl : 0, sent.meta,
                     sent.payload)) {
      continue;  // not expected: send() checked what encoding checks
    }
    to = o.to;
    return true;
  }
  return false;
}

std::optional<Delivery> Member::poll_delivery() {
  if (deliveries_.empty()) return std::nullopt;
  return deliveries_.take_front();
}

}  // namespace nexo::group
