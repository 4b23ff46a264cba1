// Scribe: the application's calls, the queries it sends, and how messages flow (flooding
// along the tree, routing toward the key from outside it, catch-up from the history).
// Answering queries is in scribe_handlers.cpp; joining and repair in scribe_tree.cpp.
#include "nexo/overlay/scribe.hpp"

#include <algorithm>
#include <utility>

#include "nexo/overlay/scribe_topic.hpp"
#include "nexo/overlay/sha1.hpp"

namespace nexo::overlay {

namespace bencode = wire::bencode;

// How long a message the node had no room for waits (a round trip or so frees the room).
constexpr Duration kDeferral = std::chrono::milliseconds(50);

Scribe::Scribe(Node& node, ScribeConfig config)
    : node_(node), config_(config), alive_(std::make_shared<Scribe*>(this)) {
  if (config_.fanout == 0) config_.fanout = 1;
  config_.digest_publishers = std::clamp<std::uint32_t>(
      config_.digest_publishers, 1, static_cast<std::uint32_t>(scribe_wire::kMaxDigestEntries));
  const auto bind =
      [this](ExtensionAnswer (Scribe::*handler)(const krpc::Query&, const net::Endpoint&, Time)) {
        return [this, handler](const krpc::Query& q, const net::Endpoint& from, Time now) {
          return (this->*handler)(q, from, now);
        };
      };
  (void)node_.handle_extension("nexo_join", bind(&Scribe::on_join));
  (void)node_.handle_extension("nexo_leave", bind(&Scribe::on_leave));
  (void)node_.handle_extension("nexo_beat", bind(&Scribe::on_beat));
  (void)node_.handle_extension("nexo_msg", bind(&Scribe::on_msg));
  (void)node_.handle_extension_deferred(
      "nexo_pub", [this](const krpc::Query& q, const net::Endpoint& from, Time now,
                         ExtensionReplyTo reply_to) { on_pub(q, from, now, reply_to); });
  (void)node_.handle_extension("nexo_fetch", bind(&Scribe::on_fetch));
  node_.add_service(*this);
}

Scribe::~Scribe() {
  node_.remove_service(*this);
  // The node has no way to forget a method: it answers 204 from now on, as a node that
  // never knew it would.
  const auto unknown = [](const krpc::Query&, const net::Endpoint&, Time) -> ExtensionAnswer {
    return krpc::ErrorReply{204, "Method Unknown"};
  };
  for (const char* method :
       {"nexo_join", "nexo_leave", "nexo_beat", "nexo_msg", "nexo_pub", "nexo_fetch"})
    (void)node_.handle_extension(method, unknown);
}

NodeId Scribe::topic_key(std::string_view topic) noexcept {
  return NodeId::from_digest(sha1(as_bytes(topic)));
}

// --- The application's calls.

Result<void> Scribe::join(std::string_view name, Time now) {
  if (name.empty()) return Error(ErrorKind::invalid_argument, "scribe join: empty topic name");
  const NodeId key = topic_key(name);
  Topic* topic = find(key);
  if (!topic) topic = create(key, now);
  if (!topic)
    return Error(ErrorKind::overloaded, "scribe join \"" + std::string(name) +
                                            "\": " + std::to_string(topics_.size()) +
                                            " topics already (max_topics)");
  topic->member = true;
  topic->name = std::string(name);
  if (topic->state == Topic::State::idle) start_join(*topic, now, false);
  return ok();
}

Result<void> Scribe::leave(std::string_view name, Time now) {
  Topic* topic = find(topic_key(name));
  if (!topic || !topic->member)
    return Error(ErrorKind::invalid_argument,
                 "scribe leave \"" + std::string(name) + "\": not a member");
  topic->member = false;
  prune(*topic, now);
  return ok();
}

Result<std::int64_t> Scribe::publish(std::string_view name, std::string_view payload, Time now) {
  if (payload.size() > config_.max_payload)
    return Error(ErrorKind::too_large,
                 "scribe publish \"" + std::string(name) + "\": " + std::to_string(payload.size()) +
                     " bytes, at most " + std::to_string(config_.max_payload));
  const NodeId key = topic_key(name);
  // Contiguous per topic from 1: a receiver tells a gap from the numbers alone.
  Message message{NodeInfo{node_.id(), node_.endpoint()}, ++sequences_[key], std::string(payload),
                  now};
  ++counters_.published;
  // Flooded into this node's tree, and routed toward the key too unless this node is the
  // root: its tree may be a fragment, its parent dead and not yet missed.
  Topic* topic = find(key);
  const bool root = topic && topic->state == Topic::State::root;
  if (topic && topic->state != Topic::State::idle) disseminate(*topic, message, nullptr, now);
  if (!root) route_publish(key, message, now);
  keep(key, message, now);
  return message.sequence;
}

// --- Inspection.

bool Scribe::member(const NodeId& key) const noexcept {
  const Topic* t = find(key);
  return t && t->member;
}
bool Scribe::seen(const NodeId& key, const NodeId& publisher,
                  std::int64_t sequence) const noexcept {
  const Topic* t = find(key);
  return t && t->has_seen(publisher, sequence);
}
bool Scribe::in_tree(const NodeId& key) const noexcept {
  const Topic* t = find(key);
  return t && t->state != Topic::State::idle;
}
bool Scribe::is_root(const NodeId& key) const noexcept {
  const Topic* t = find(key);
  return t && t->state == Topic::State::root;
}
bool Scribe::attached(const NodeId& key) const noexcept {
  const Topic* t = find(key);
  return t && t->state == Topic::State::attached;
}
std::optional<NodeInfo> Scribe::parent(const NodeId& key) const {
  const Topic* t = find(key);
  return t ? t->parent : std::nullopt;
}
std::vector<NodeInfo> Scribe::children(const NodeId& key) const {
  std::vector<NodeInfo> out;
  if (const Topic* t = find(key))
    for (const auto& c : t->children)
      out.push_back(c.info);
  return out;
}
std::optional<std::size_t> Scribe::depth(const NodeId& key) const noexcept {
  const Topic* t = find(key);
  if (!t) return std::nullopt;
  if (t->state == Topic::State::root) return 0;
  if (t->state == Topic::State::attached) return t->path.size();
  return std::nullopt;
}

std::string Scribe::describe(const NodeId& key, Time now) const {
  const Topic* t = find(key);
  if (!t) return "not in the tree";
  static constexpr const char* kStates[] = {"idle", "joining", "attached", "root"};
  const auto ms = [&](Time at) {
    return at == Time::max()
               ? std::string("-")
               : std::to_string(
                     std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count()) +
                     " ms";
  };
  std::string out = std::string(kStates[static_cast<int>(t->state)]) +
                    (t->member ? ", member" : "") + ", " + std::to_string(t->children.size()) +
                    " children, depth " + std::to_string(t->path.size());
  if (t->parent) out += ", parent " + t->parent->endpoint.to_string();
  if (t->state == Topic::State::attached) out += ", heard " + ms(t->heard_parent);
  if (t->state == Topic::State::joining)
    out +=
        ", candidates " + std::to_string(t->candidates.size()) + ", hops " +
        std::to_string(t->hops) +
        (t->join_target ? ", asking " + t->join_target->to_string() + " since " + ms(t->join_sent)
                        : "") +
        (t->lookup_running ? ", looking up" : "") + (t->looked ? ", looked" : "") +
        (t->saw_closer ? ", saw closer" : "") + ", failed " + std::to_string(t->failed.size()) +
        ", next try in " + ms(t->next_join);
  return out;
}

// --- Queries.

// One extension query; `done` runs once with the reply and the time it came, unless the
// query could not be sent (false: over max_in_flight, or the node refused it).
bool Scribe::send(const net::Endpoint& to, std::string method, bencode::Dict args, Time now,
                  Reply done) {
  if (in_flight_ >= config_.max_in_flight) {
    ++counters_.send_dropped;
    return false;
  }
  std::weak_ptr<Scribe*> alive = alive_;
  auto started = node_.extension_query(to, std::move(method), std::move(args), now,
                                       [alive, sent = now, done = std::move(done)](
                                           Result<ExtensionReply> reply, const OpStats& stats) {
                                         auto self = alive.lock();
                                         if (!self) return;
                                         --(*self)->in_flight_;
                                         done(std::move(reply), sent + stats.elapsed);
                                       });
  if (!started) {
    ++counters_.send_dropped;
    return false;
  }
  ++in_flight_;
  return true;
}

bool Scribe::answered(const Result<ExtensionReply>& reply) noexcept {
  return reply && std::holds_alternative<krpc::Response>(*reply);
}

bool Scribe::not_sent(const Result<ExtensionReply>& reply) noexcept {
  return !reply && reply.error().kind() == ErrorKind::overloaded;
}

bool Scribe::refused(const Result<ExtensionReply>& reply) noexcept {
  return reply && std::holds_alternative<krpc::ErrorReply>(*reply);
}

// --- Messages.

bencode::Dict Scribe::message_args(const NodeId& key, const Message& message) const {
  std::string origin;
  append_compact_node(origin, message.origin);
  return bencode::Dict{{"k", key.to_byte_string()},
                       {"o", std::move(origin)},
                       {"s", message.sequence},
                       {"d", message.payload}};
}

// Delivers (if a member) and forwards a message not seen before to every tree neighbour
// but `except` (where it came from).
void Scribe::disseminate(Topic& topic, const Message& message, const net::Endpoint* except,
                         Time now) {
  if (topic.has_seen(message.origin.id, message.sequence)) {
    ++counters_.duplicates;
    return;
  }
  topic.seen.emplace_back(message.origin.id, message.sequence);
  while (topic.seen.size() > config_.seen_per_topic)
    topic.seen.pop_front();
  note_seen(topic, message.origin.id, message.sequence, now);
  Message kept = message;
  kept.at = now;
  topic.history.push_back(kept);
  while (topic.history.size() > config_.history ||
         (!topic.history.empty() && topic.history.front().at + config_.history_window < now))
    topic.history.pop_front();

  std::vector<net::Endpoint> targets;
  if (topic.parent) targets.push_back(topic.parent->endpoint);
  for (const auto& c : topic.children)
    targets.push_back(c.info.endpoint);
  if (except) std::erase(targets, *except);
  const NodeId key = topic.key;
  if (topic.member) {
    ++counters_.delivered;
    // The callback may leave the topic (and so erase it): nothing of `topic` after this.
    if (on_deliver)
      on_deliver(Delivery{topic.name, message.payload, message.origin, message.sequence});
  }
  for (const auto& to : targets)
    send_message(key, to, message, 0, now);
}

// One hop of a message along the tree, acknowledged by the reply; a neighbour that never
// answers after max_attempts, or refuses, is gone.
void Scribe::send_message(const NodeId& key, const net::Endpoint& to, const Message& message,
                          std::uint32_t attempt, Time now) {
  ++counters_.forwarded;
  if (attempt > 0) ++counters_.retries;
  send(to, "nexo_msg", message_args(key, message), now,
       [this, key, to, message, attempt](Result<ExtensionReply> reply, Time at) {
         if (answered(reply)) return;
         Topic* topic = find(key);
         const bool neighbour = topic && (topic->is_parent(to) || topic->has_child(to));
         if (!neighbour) return;
         if (not_sent(reply)) {
           if (deferred_.size() >= config_.max_in_flight) {
             ++counters_.send_dropped;
             return;
           }
           ++counters_.deferred;
           deferred_.push_back(
               {at + kDeferral, key, to, std::make_unique<Message>(message), attempt});
           return;
         }
         if (!refused(reply) && attempt + 1 < config_.max_attempts)
           send_message(key, to, message, attempt + 1, at);
         else
           neighbour_gone(key, to, at);
       });
}

// A publish from outside the tree (or a re-offer, or a publisher's own: see publish()):
// toward the key along two routes at once, from the contacts closest to the key taken
// alternately. Each hop passes it to the closest contact strictly closer to the key (the
// next closest on each failure), which floods it if in the tree, or routes it on. Under churn
// the first hop is dead often enough that a publisher dying before its query times out
// would take the message along.
void Scribe::route_publish(const NodeId& key, const Message& message, Time now) {
  std::vector<NodeInfo> routes[2];
  const auto contacts = closer_contacts(key, now);
  for (std::size_t i = 0; i < contacts.size(); ++i)
    routes[i % 2].push_back(contacts[i]);
  route_to(key, message, std::move(routes[0]), 0, false, now);
  // The second route is a spare: it neither looks the key up nor holds the message here when
  // its contacts fail (the first does).
  if (!routes[1].empty())
    route_to(key, message, std::move(routes[1]), 0, true, now, std::nullopt, true);
}

// Tries candidates[next] (max_attempts of them at most); when they are used up, looks the
// key up once (a stale or empty routing table) and tries the lookup's answers; then holds
// the message as the rendezvous, as far as this node knows.
void Scribe::route_to(const NodeId& key, const Message& message, std::vector<NodeInfo> candidates,
                      std::size_t next, bool looked, Time now,
                      std::optional<ExtensionReplyTo> upstream, bool spare) {
  if (next < candidates.size() && next < config_.max_attempts) {
    ++counters_.forwarded;
    const net::Endpoint to = candidates[next].endpoint;
    const bool sent = send(to, "nexo_pub", message_args(key, message), now,
                           [this, key, message, candidates, next, looked, upstream, spare](
                               Result<ExtensionReply> reply, Time at) mutable {
                             if (!answered(reply))
                               route_to(key, message, std::move(candidates), next + 1, looked, at,
                                        upstream, spare);
                             else if (upstream)
                               node_.answer_deferred(*upstream, bencode::Dict{});
                           });
    if (sent) return;
  }
  if (spare) return;
  if (!looked) {
    std::weak_ptr<Scribe*> alive = alive_;
    auto started = node_.find_node(key, now,
                                   [alive, key, message, upstream, sent = now](
                                       Result<std::vector<NodeInfo>> result, const OpStats& stats) {
                                     auto self = alive.lock();
                                     if (!self) return;
                                     std::vector<NodeInfo> closer;
                                     if (result)
                                       for (const NodeInfo& n : *result)
                                         if (closer_to(key, n.id, (*self)->node_.id()))
                                           closer.push_back(n);
                                     (*self)->route_to(key, message, std::move(closer), 0, true,
                                                       sent + stats.elapsed, upstream);
                                   });
    if (started) return;
  }
  // Nobody closer to pass it to: this node is the rendezvous as far as it knows. It starts
  // a tree holding the message; its root checks merge it with any other.
  Topic* topic = find(key);
  if (!topic) topic = create(key, now);
  if (!topic) {
    ++counters_.no_route;
    if (upstream)
      node_.answer_deferred(*upstream,
                            krpc::ErrorReply{static_cast<std::int64_t>(krpc::ErrorCode::server),
                                             "nexo_pub: too many topics"});
    return;
  }
  ++counters_.rendezvous;
  if (upstream) node_.answer_deferred(*upstream, bencode::Dict{});
  if (topic->state == Topic::State::idle) start_join(*topic, now, false);
  disseminate(*topic, message, nullptr, now);
}

// A message that is new here: flooded when this node is in the tree; routed toward the key
// when it is not, or when it has no tree neighbour yet (joining, nobody below): held only
// here, it would die with this node.
void Scribe::flood_or_route(const NodeId& key, const Message& message, Time now) {
  Topic* topic = find(key);
  if (!topic || topic->state == Topic::State::idle) {
    route_publish(key, message, now);
    return;
  }
  const bool alone =
      topic->state == Topic::State::joining && !topic->parent && topic->children.empty();
  disseminate(*topic, message, nullptr, now);
  if (alone) route_publish(key, message, now);
}

// What flowed lately, to a new neighbour (it deduplicates).
void Scribe::catch_up(Topic& topic, const net::Endpoint& to, Time now) {
  for (const Message& m : topic.history)
    if (m.at + config_.history_window >= now) send_message(topic.key, to, m, 0, now);
}

// The routing table's contacts strictly closer to `key` than this node, closest first.
std::vector<NodeInfo> Scribe::closer_contacts(const NodeId& key, Time now) const {
  auto contacts = node_.routing_table().closest(key, 2 * node_.config().routing.k, now);
  std::erase_if(contacts, [&](const NodeInfo& c) { return !closer_to(key, c.id, node_.id()); });
  return contacts;
}

Scribe::Topic* Scribe::find(const NodeId& key) noexcept {
  auto it = topics_.find(key);
  return it == topics_.end() ? nullptr : it->second.get();
}

const Scribe::Topic* Scribe::find(const NodeId& key) const noexcept {
  auto it = topics_.find(key);
  return it == topics_.end() ? nullptr : it->second.get();
}

Scribe::Topic* Scribe::create(const NodeId& key, Time) {
  if (topics_.size() >= config_.max_topics) return nullptr;
  auto topic = std::make_unique<Topic>();
  topic->key = key;
  Topic* out = topic.get();
  topics_.emplace(key, std::move(topic));
  return out;
}

}  // namespace nexo::overlay
