// Trace: the recording half (the drawing is in trace_svg.cpp).
#include "nexo/group/trace.hpp"

#include <algorithm>

namespace nexo::group {

std::string_view to_string(TraceKind kind) noexcept {
  switch (kind) {
    case TraceKind::sent:
      return "sent";
    case TraceKind::delivered:
      return "delivered";
    case TraceKind::nak_sent:
      return "nak_sent";
    case TraceKind::retransmitted:
      return "retransmitted";
    case TraceKind::sequencer_hop:
      return "sequencer_hop";
    case TraceKind::view_installed:
      return "view_installed";
    case TraceKind::crashed:
      return "crashed";
    case TraceKind::left:
      return "left";
    case TraceKind::note:
      return "note";
  }
  return "unknown";
}

Trace::Trace(TraceLimits limits) : limits_(limits) {
  events_.reserve(std::min<std::size_t>(limits_.max_events, 1024));
}

std::string Trace::cut(std::string_view text) const {
  if (text.size() <= limits_.max_text) return std::string(text);
  std::size_t end = limits_.max_text;
  // Back off over continuation bytes (10xxxxxx) so that no character is split.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return std::string(text.substr(0, end));
}

std::uint32_t Trace::intern(std::string_view label) {
  std::string name = cut(label);
  auto [slot, added] = member_index_.try_emplace(name, static_cast<std::uint32_t>(members_.size()));
  if (added) members_.push_back(std::move(name));
  return slot->second;
}

std::uint32_t Trace::add_member(std::string_view label) {
  return intern(label);
}

bool Trace::has_room() {
  if (events_.size() < limits_.max_events) return true;
  ++dropped_;
  return false;
}

TraceEvent& Trace::push(Time at, TraceKind kind, std::string_view member) {
  TraceEvent& event = events_.emplace_back();
  event.at = at;
  event.kind = kind;
  event.member = intern(member);
  return event;
}

void Trace::sent(Time at, std::string_view member, std::uint64_t seq, std::string_view label) {
  if (!has_room()) return;
  TraceEvent& event = push(at, TraceKind::sent, member);
  event.message = MessageKey{members_[event.member], seq};
  event.text = cut(label);
}

void Trace::delivered(Time at, std::string_view member, const MessageKey& message) {
  if (!has_room()) return;
  TraceEvent& event = push(at, TraceKind::delivered, member);
  event.message = MessageKey{members_[intern(message.sender)], message.seq};
}

void Trace::nak_sent(Time at, std::string_view member, std::string_view sender, std::uint64_t first,
                     std::uint64_t last) {
  if (!has_room()) return;
  TraceEvent& event = push(at, TraceKind::nak_sent, member);
  event.peer = intern(sender);
  event.has_peer = true;
  event.first = first;
  event.last = last;
}

void Trace::retransmitted(Time at, std::string_view member, const MessageKey& message,
                          std::string_view to) {
  if (!has_room()) return;
  TraceEvent& event = push(at, TraceKind::retransmitted, member);
  event.message = MessageKey{members_[intern(message.sender)], message.seq};
  if (!to.empty()) {
    event.peer = intern(to);
    event.has_peer = true;
  }
}

void Trace::sequencer_hop(Time at, std::string_view sequencer, const MessageKey& message,
                          std::uint64_t order) {
  if (!has_room()) return;
  TraceEvent& event = push(at, TraceKind::sequencer_hop, sequencer);
  event.message = MessageKey{members_[intern(message.sender)], message.seq};
  event.first = order;
}

void Trace::view_installed(Time at, std::string_view member, std::uint64_t view_id,
                           std::span<const std::string> members) {
  if (!has_room()) return;
  TraceEvent& event = push(at, TraceKind::view_installed, member);
  event.first = view_id;
  event.view.reserve(members.size());
  for (const std::string& label : members)
    event.view.push_back(intern(label));
}

void Trace::crashed(Time at, std::string_view member) {
  if (!has_room()) return;
  push(at, TraceKind::crashed, member);
}

void Trace::left(Time at, std::string_view member) {
  if (!has_room()) return;
  push(at, TraceKind::left, member);
}

void Trace::note(Time at, std::string_view member, std::string_view text) {
  if (!has_room()) return;
  TraceEvent& event = push(at, TraceKind::note, member);
  event.text = cut(text);
}

}  // namespace nexo::group
