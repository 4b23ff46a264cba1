// Scribe: answering nexo_join, nexo_leave, nexo_beat, nexo_msg, nexo_pub and nexo_fetch (the wire
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
  const auto digest_in = parse_digest(query.extra);
  if (!digest_in) return bad("nexo_join: g must be a digest (28-byte entries, sequences >= 1)");
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
  if (auto g = digest(*topic, now); !g.empty()) answer.insert_or_assign("g", std::move(g));
  if (topic->state == Topic::State::idle) start_join(*topic, now, false);  // forward the join
  if (is_new) catch_up(*topic, from, now);
  compare(*topic, from, *digest_in, now);
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
  const auto digest_in = parse_digest(query.extra);
  if (!digest_in) return bad("nexo_beat: g must be a digest (28-byte entries, sequences >= 1)");
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
  // Both ways: what the parent has and we lack we fetch; our digest goes up in the reply.
  compare(*topic, from, *digest_in, now);
  bencode::Dict reply;
  if (auto g = digest(*topic, now); !g.empty()) reply.insert_or_assign("g", std::move(g));
  return reply;
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
  // A sequence skipped is a message missed: ask the sender for it.
  if (Topic* t = find(*key); t && t->state != Topic::State::idle)
    compare(*t, from, {DigestEntry{message->origin.id, message->sequence}}, now);
  if (neighbour) return bencode::Dict{};
  ++counters_.not_in_tree;
  return generic("nexo_msg: not a neighbour in this topic's tree");
}

// A publish routed toward the key: flooded by the first tree node, routed on by others.
// Answered once the message is in the tree (or held here as the rendezvous), so that the
// node before us tries another way when we die with it.
void Scribe::on_pub(const krpc::Query& query, const net::Endpoint&, Time now,
                    ExtensionReplyTo reply_to) {
  const auto key = topic_arg(query);
  if (!key) return node_.answer_deferred(reply_to, bad("nexo_pub: k must be a 20-byte topic key"));
  auto message = parse_message(query);
  if (!message)
    return node_.answer_deferred(
        reply_to, bad("nexo_pub: o, s, d must be a compact node, an integer, a payload"));
  const Topic* topic = find(*key);
  if (topic && topic->has_seen(message->origin.id, message->sequence)) {
    ++counters_.duplicates;
  } else if (topic && topic->state != Topic::State::idle) {
    flood_or_route(*key, *message, now);
  } else {
    route_to(*key, *message, closer_contacts(*key, now), 0, false, now, reply_to);
    return;
  }
  node_.answer_deferred(reply_to, bencode::Dict{});
}

// A fetch: the messages of one publisher from sequence `s` on that we still hold
// (ascending, at most fetch_bytes of payload but at least one), from any node.
ExtensionAnswer Scribe::on_fetch(const krpc::Query& query, const net::Endpoint&, Time now) {
  const auto key = topic_arg(query);
  if (!key) return bad("nexo_fetch: k must be a 20-byte topic key");
  const bencode::Value* o = query.extra.find("o");
  if (!o || !o->is_string() || o->string().size() != kNodeIdBytes)
    return bad("nexo_fetch: o must be a 20-byte publisher id");
  const bencode::Value* s = query.extra.find("s");
  if (!s || !s->is_integer() || s->integer() < 0)
    return bad("nexo_fetch: s must be a sequence number >= 0");
  const Topic* topic = find(*key);
  if (!topic || topic->state == Topic::State::idle) {
    ++counters_.not_in_tree;
    return generic("nexo_fetch: not in this topic's tree");
  }
  const NodeId publisher = *NodeId::from_bytes(o->string());
  std::vector<const Message*> held;
  for (const Message& m : topic->history)
    if (m.origin.id == publisher && m.sequence >= s->integer() &&
        m.at + config_.history_window >= now)
      held.push_back(&m);
  std::sort(held.begin(), held.end(),
            [](const Message* a, const Message* b) { return a->sequence < b->sequence; });
  bencode::List messages;
  std::size_t bytes = 0;
  for (const Message* m : held) {
    if (!messages.empty() && bytes + m->payload.size() > config_.fetch_bytes) break;
    bytes += m->payload.size();
    messages.push_back(bencode::List{m->sequence, m->payload});
  }
  bencode::Dict answer;
  if (!held.empty()) {
    std::string origin;
    append_compact_node(origin, held.front()->origin);
    answer.insert_or_assign("o", std::move(origin));
  }
  if (messages.size() < held.size()) answer.insert_or_assign("more", 1);
  answer.insert_or_assign("m", std::move(messages));
  return answer;
}

}  // namespace nexo::overlay
