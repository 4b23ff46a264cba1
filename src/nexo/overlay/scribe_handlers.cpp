// Scribe: answering nexo_join, nexo_leave, nexo_beat, nexo_msg and nexo_pub (the wire
// format is at the top of scribe_topic.hpp). Arguments are checked before anything
// changes: a bad one is answered 203 and counted.
#include <algorithm>
#include <utility>

#include "nexo/overlay/scribe.hpp"
#include "nexo/overlay/scribe_topic.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;

std::optional<NodeId> topic_arg(const krpc::Query& query) {
  const bencode::Value* k = query.extra.find("k");
  if (!k || !k->is_string() || k->string().size() != kNodeIdBytes) return std::nullopt;
  return *NodeId::from_bytes(k->string());
}

krpc::ErrorReply generic(std::string message) {
  return krpc::ErrorReply{static_cast<std::int64_t>(krpc::ErrorCode::generic), std::move(message)};
}

}  // namespace

ExtensionAnswer Scribe::bad(std::string what) {
  ++counters_.bad_arguments;
  return krpc::ErrorReply{static_cast<std::int64_t>(krpc::ErrorCode::protocol), std::move(what)};
}

std::optional<Scribe::Message> Scribe::parse_message(const krpc::Query& query) const {
  const bencode::Value* o = query.extra.find("o");
  const bencode::Value* s = query.extra.find("s");
  const bencode::Value* d = query.extra.find("d");
  if (!o || !o->is_string() || !s || !s->is_integer() || !d || !d->is_string()) return std::nullopt;
  if (d->string().size() > config_.max_payload) return std::nullopt;
  auto origin = decode_compact_nodes(o->string(), node_.endpoint().family());
  if (!origin || origin->size() != 1) return std::nullopt;
  return Message{(*origin)[0], s->integer(), d->string(), Time{}};
}

// A join: take the joiner as a child (and join ourselves if not in the tree yet), push it
// down when full; hand over when it is our ancestor; refuse a node we are asking at the
// same moment (each would take the other).
ExtensionAnswer Scribe::on_join(const krpc::Query& query, const net::Endpoint& from, Time now) {
  const auto key = topic_arg(query);
  if (!key) return bad("nexo_join: k must be a 20-byte topic key");
  const bencode::Value* r = query.extra.find("r");
  if (r && !r->is_integer()) return bad("nexo_join: r must be an integer");
  if (query.id == node_.id()) return bad("nexo_join: the joiner has our id");
  Topic* topic = find(*key);
  if (!topic) topic = create(*key, now);
  if (!topic) {
    ++counters_.too_many_topics;
    return krpc::ErrorReply{static_cast<std::int64_t>(krpc::ErrorCode::server),
                            "nexo_join: too many topics"};
  }
  const bool is_new = !topic->has_child(from);
  if (is_new) {
    const bool ancestor =
        std::find(topic->path.begin(), topic->path.end(), query.id) != topic->path.end() ||
        topic->is_parent(from);
    if (!ancestor && topic->join_target && *topic->join_target == from) {
      ++counters_.loops_refused;
      return generic("nexo_join: loop (we are joining the joiner)");
    }
    if (ancestor) {
      // A joiner has no parent: it is the top of a tree we are in (a root moving closer,
      // or an orphan whose route toward the key leads into its own subtree). We leave our
      // parent, which is below it, and become the root of it all; it becomes our child.
      ++counters_.hand_overs;
      leave_parent(*topic, now);
      become_root(*topic, now);
    }
    if (topic->children.size() >= config_.fanout) {
      const auto& pushed = topic->children[topic->next_push++ % topic->children.size()];
      std::string info;
      append_compact_node(info, pushed.info);
      ++counters_.push_downs;
      return bencode::Dict{{"push", std::move(info)}};
    }
    topic->children.push_back({NodeInfo{query.id, from}, 0});
    ++counters_.children_taken;
    if (topic->next_beat == Time::max()) topic->next_beat = now + config_.beat_interval;
  }
  const NodeId self = node_.id();
  bencode::Dict answer{{"p", scribe_wire::encode_path(topic->path, &self)}};
  if (topic->state == Topic::State::idle) start_join(*topic, now, false);  // forward the join
  if (is_new) catch_up(*topic, from, now);
  return answer;
}

ExtensionAnswer Scribe::on_leave(const krpc::Query& query, const net::Endpoint& from, Time now) {
  const auto key = topic_arg(query);
  if (!key) return bad("nexo_leave: k must be a 20-byte topic key");
  if (Topic* topic = find(*key); topic && topic->has_child(from)) remove_child(*topic, from, now);
  return bencode::Dict{};
}

// A heartbeat: only from our parent; it carries our new path (a loop when it names us).
ExtensionAnswer Scribe::on_beat(const krpc::Query& query, const net::Endpoint& from, Time now) {
  const auto key = topic_arg(query);
  if (!key) return bad("nexo_beat: k must be a 20-byte topic key");
  const bencode::Value* p = query.extra.find("p");
  if (!p || !p->is_string() || p->string().size() % kNodeIdBytes != 0)
    return bad("nexo_beat: p must be a whole number of 20-byte ids");
  Topic* topic = find(*key);
  if (!topic || !topic->is_parent(from)) {
    ++counters_.not_in_tree;
    return generic("nexo_beat: not your child");
  }
  topic->heard_parent = now;
  auto path = scribe_wire::decode_path(p->string(), config_.max_depth);
  if (!path || std::find(path->begin(), path->end(), node_.id()) != path->end()) {
    ++counters_.loops_detected;
    ++counters_.rejoins;
    leave_parent(*topic, now);
    lose_parent(*topic, now);
    return bencode::Dict{};
  }
  topic->path = std::move(*path);
  return bencode::Dict{};
}

// A message along the tree. One from a node that is not our neighbour is still delivered
// (receivers deduplicate), but refused, so that the sender drops us.
ExtensionAnswer Scribe::on_msg(const krpc::Query& query, const net::Endpoint& from, Time now) {
  const auto key = topic_arg(query);
  if (!key) return bad("nexo_msg: k must be a 20-byte topic key");
  auto message = parse_message(query);
  if (!message) return bad("nexo_msg: o, s, d must be a compact node, an integer, a payload");
  Topic* topic = find(*key);
  if (!topic || topic->state == Topic::State::idle) {
    ++counters_.not_in_tree;
    return generic("nexo_msg: not in this topic's tree");
  }
  const bool from_parent = topic->is_parent(from);
  const bool neighbour =
      from_parent || topic->has_child(from) || (topic->join_target && *topic->join_target == from);
  if (from_parent) topic->heard_parent = now;
  disseminate(*topic, *message, &from, now);
  if (neighbour) return bencode::Dict{};
  ++counters_.not_in_tree;
  return generic("nexo_msg: not a neighbour in this topic's tree");
}

// A publish routed toward the key: flooded by the first tree node, routed on by others.
ExtensionAnswer Scribe::on_pub(const krpc::Query& query, const net::Endpoint&, Time now) {
  const auto key = topic_arg(query);
  if (!key) return bad("nexo_pub: k must be a 20-byte topic key");
  auto message = parse_message(query);
  if (!message) return bad("nexo_pub: o, s, d must be a compact node, an integer, a payload");
  if (Topic* topic = find(*key); topic && topic->state != Topic::State::idle)
    disseminate(*topic, *message, nullptr, now);
  else
    route_publish(*key, *message, 0, now);
  return bencode::Dict{};
}

}  // namespace nexo::overlay
