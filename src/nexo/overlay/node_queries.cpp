// Node: answering queries (BEP 5 ping, find_node, get_peers, announce_peer; BEP 44 get,
// put; nexo's extension methods; 204 for the rest). Every answer carries the requester's
// address (`ip`, BEP 42); the caller has already passed the rate limit and the routing
// table.
#include <algorithm>

#include "nexo/overlay/node.hpp"

namespace nexo::overlay {
namespace {

krpc::ErrorReply error(std::int64_t code, std::string message) {
  return krpc::ErrorReply{code, std::move(message)};
}

}  // namespace

void Node::answer_query(const krpc::Message& message, const krpc::Query& query,
                        const net::Endpoint& from, Time now) {
  ++counters_.queries;
  krpc::Response response;
  response.id = id();
  std::optional<krpc::ErrorReply> failure;
  switch (query.method) {
    case krpc::Method::ping:
      break;
    case krpc::Method::find_node:
      answer_nodes(response, *query.target, query.want, from, now);
      break;
    case krpc::Method::get_peers: {
      const NodeId& info_hash = *query.info_hash;
      response.token = tokens_.issue(from.address(), info_hash, now).to_byte_string();
      auto peers = peers_.peers(info_hash, from.family(), now, random_);
      if (!peers.empty()) response.values = std::move(peers);
      // Nodes always (as libtorrent): the lookup goes on toward the closest storers.
      answer_nodes(response, info_hash, query.want, from, now);
      break;
    }
    case krpc::Method::announce_peer:
      failure = answer_announce(query, from, now);
      break;
    case krpc::Method::get:
      answer_get(query, response, from, now);
      break;
    case krpc::Method::put:
      failure = answer_put(query, from, now);
      break;
    case krpc::Method::extension:
      if (defer_extension(message, query, from, now)) return;
      failure = answer_extension(query, response, from, now);
      break;
    case krpc::Method::unknown:
      failure = error(204, "Method Unknown");
      break;
  }
  if (failure)
    send_error(message.tid, failure->code, failure->message, from);
  else
    send_response(message.tid, response, from);
}

// A registered extension method's handler fills `r` (its `id` is ours) or names an error;
// an unregistered one is 204, as any node answers a method it does not know.
std::optional<krpc::ErrorReply> Node::answer_extension(const krpc::Query& query,
                                                       krpc::Response& response,
                                                       const net::Endpoint& from, Time now) {
  auto it = std::find_if(extensions_.begin(), extensions_.end(),
                         [&](const Extension& e) { return e.method == query.name; });
  if (it == extensions_.end() || !it->handler) return error(204, "Method Unknown");
  ExtensionAnswer answer = it->handler(query, from, now);
  if (auto* failure = std::get_if<krpc::ErrorReply>(&answer)) return std::move(*failure);
  auto& dict = std::get<wire::bencode::Dict>(answer);
  dict.erase("id");
  response.extra = std::move(dict);
  return std::nullopt;
}

// The k closest contacts to `target`, in `nodes` and/or `nodes6` as BEP 32's `want` asks
// (none asked: the requester's own family).
void Node::answer_nodes(krpc::Response& response, const NodeId& target, krpc::Want want,
                        const net::Endpoint& from, Time now) const {
  if (!want.any()) (from.family() == net::Family::v4 ? want.n4 : want.n6) = true;
  auto closest = closest_contacts(target, config_.routing.k, now);
  std::vector<NodeInfo> v4, v6;
  for (auto& node : closest) {
    const bool is_v4 =
        node.endpoint.family() == net::Family::v4 || node.endpoint.address().is_v4_mapped();
    (is_v4 ? v4 : v6).push_back(node);
  }
  if (want.n4) response.nodes = std::move(v4);
  if (want.n6) response.nodes6 = std::move(v6);
}

std::optional<krpc::ErrorReply> Node::answer_announce(const krpc::Query& query,
                                                      const net::Endpoint& from, Time now) {
  const NodeId& info_hash = *query.info_hash;
  if (!query.token || !tokens_.verify(*query.token, from.address(), info_hash, now))
    return error(203, "invalid token");
  const std::uint16_t port = query.implied_port || !query.port ? from.port() : *query.port;
  if (port == 0) return error(203, "announce_peer: port 0");
  peers_.announce(info_hash, net::Endpoint(from.address(), port), now);
  return std::nullopt;
}

// BEP 44 get: a token for the target, the item when held (v left out when the requester's
// `seq` is not older than ours) with how long our copy has left (nexo_ttl, item_store.hpp:
// what a getter's read repair hands on), and the closest nodes.
void Node::answer_get(const krpc::Query& query, krpc::Response& response, const net::Endpoint& from,
                      Time now) {
  const NodeId& target = *query.target;
  response.token = tokens_.issue(from.address(), target, now).to_byte_string();
  answer_nodes(response, target, query.want, from, now);
  const StoredItem* stored = items_.get(target, now);
  if (!stored || stored->expires - now < kMinTtl) return;  // as good as expired
  if (!stored->is_mutable) {
    if (auto item = krpc::Item::from_encoded(stored->value)) {
      response.v = std::move(*item);
      write_ttl(response.extra, stored->expires - now);
    }
    return;
  }
  response.seq = stored->seq;
  if (query.seq && stored->seq <= *query.seq) return;
  if (auto item = krpc::Item::from_encoded(stored->value)) {
    response.v = std::move(*item);
    response.k = stored->key;
    response.sig = stored->signature;
    write_ttl(response.extra, stored->expires - now);
  }
}

// BEP 44 put: the token (issued for the item's key), then the item store's rules, whose
// refusals are KRPC errors (205, 206, 207, 301, 302, 202, 203).
std::optional<krpc::ErrorReply> Node::answer_put(const krpc::Query& query,
                                                 const net::Endpoint& from, Time now) {
  const krpc::Item& v = *query.v;
  const bool is_mutable = query.k.has_value();
  const std::string salt = query.salt.value_or(std::string());
  const NodeId target = is_mutable ? mutable_target(*query.k, salt) : immutable_target(v.encoded());
  if (!query.token || !tokens_.verify(*query.token, from.address(), target, now))
    return error(203, "invalid token");
  auto lifetime = read_ttl(query.extra);  // a replica's remaining life (item_store.hpp)
  if (!lifetime) return error(203, lifetime.error().message());
  PutCode code = PutCode::stored;
  if (is_mutable) {
    MutableItem item{*query.k, salt, *query.seq, std::string(v.encoded()), *query.sig};
    code = items_.put_mutable(item, query.cas, from, now, *lifetime);
  } else {
    code = items_.put_immutable(v.encoded(), from, now, *lifetime);
  }
  if (code == PutCode::stored) return std::nullopt;
  return error(static_cast<std::int64_t>(code), std::string(describe(code)));
}

// A deferred handler takes the query with where its answer goes; nothing is sent now.
bool Node::defer_extension(const krpc::Message& message, const krpc::Query& query,
                           const net::Endpoint& from, Time now) {
  auto it = std::find_if(extensions_.begin(), extensions_.end(),
                         [&](const Extension& e) { return e.method == query.name; });
  if (it == extensions_.end() || !it->deferred) return false;
  it->deferred(query, from, now, ExtensionReplyTo{message.tid, from});
  return true;
}

void Node::answer_deferred(const ExtensionReplyTo& reply_to, ExtensionAnswer answer) {
  if (auto* failure = std::get_if<krpc::ErrorReply>(&answer)) {
    send_error(reply_to.tid, failure->code, failure->message, reply_to.to);
    return;
  }
  krpc::Response response;
  response.id = id();
  auto& dict = std::get<wire::bencode::Dict>(answer);
  dict.erase("id");
  response.extra = std::move(dict);
  send_response(reply_to.tid, response, reply_to.to);
}

Result<void> Node::handle_extension(std::string method, ExtensionHandler handler) {
  if (!handler) return add_extension(std::move(method), nullptr, nullptr);
  return add_extension(std::move(method), std::move(handler), nullptr);
}

Result<void> Node::handle_extension_deferred(std::string method, DeferredExtensionHandler handler) {
  if (!handler) return add_extension(std::move(method), nullptr, nullptr);
  return add_extension(std::move(method), nullptr, std::move(handler));
}

Result<void> Node::add_extension(std::string method, ExtensionHandler handler,
                                 DeferredExtensionHandler deferred) {
  if (!method.starts_with(krpc::kExtensionPrefix) || (!handler && !deferred))
    return Error(ErrorKind::invalid_argument,
                 "dht node: extension method \"" + method + "\" must start with \"" +
                     std::string(krpc::kExtensionPrefix) + "\" and have a handler");
  for (auto& e : extensions_) {
    if (e.method == method) {
      e.handler = std::move(handler);
      e.deferred = std::move(deferred);
      return ok();
    }
  }
  extensions_.push_back({std::move(method), std::move(handler), std::move(deferred)});
  return ok();
}

}  // namespace nexo::overlay
