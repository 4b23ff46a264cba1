// Peer: the user directory (entries signed by the user's key, put by a super peer
// itself or through an ordinary peer's super peer; resolved likewise) and messages
// between users (resolve, then deliver direct or through the callee's super peer;
// acknowledged, retried after resolving again, the sender told the outcome).
#include <algorithm>
#include <utility>

#include "nexo/overlay/super_peer.hpp"
#include "nexo/overlay/super_peer_wire.hpp"

namespace nexo::overlay {

using namespace superpeer;

namespace {

constexpr Duration kMessageRetry = std::chrono::seconds(1);

Result<net::Endpoint> entry_peer(const bencode::Value& v, std::string_view key) {
  const bencode::Value* field = v.find(key);
  if (!field || !field->is_string())
    return Error(ErrorKind::malformed,
                 "directory entry: key \"" + std::string(key) + "\": missing or not a string");
  return decode_compact_peer(field->string());
}

}  // namespace

bencode::Value encode_entry(const DirectoryEntry& entry) {
  return bencode::Dict{{"a", compact_peer(entry.address)},
                       {"r", entry.reachable ? 1 : 0},
                       {"s", compact_peer(entry.super_peer)}};
}

Result<DirectoryEntry> decode_entry(const MutableItem& item) {
  auto v = krpc::Item::from_encoded(item.value);
  if (!v) return v.error().with_context("directory entry");
  DirectoryEntry entry;
  auto address = entry_peer(v->value(), "a");
  if (!address) return address.error();
  auto super_peer = entry_peer(v->value(), "s");
  if (!super_peer) return super_peer.error();
  const bencode::Value* r = v->value().find("r");
  if (!r || !r->is_integer())
    return Error(ErrorKind::malformed, "directory entry: key \"r\": missing or not an integer");
  entry.address = *address;
  entry.super_peer = *super_peer;
  entry.reachable = r->integer() != 0;
  entry.seq = item.seq;
  return entry;
}

// --- Publishing our entry.
//
// BEP 44 stores refuse a seq below theirs (302), so a user that restarted (seq 1) with an
// entry still stored at seq N would be refused until its seq passed N. Before its first
// put, and after any 301/302, the peer gets its stored entry and puts seq = stored + 1
// with cas = stored (a store that took a newer one meanwhile answers 301: again).

namespace {
constexpr std::uint32_t kMaxStalePuts = 3;  // in a row, then retried after attach_retry
}  // namespace

void Peer::publish_entry(Time now) {
  next_publish_ = Time::max();
  if (publish_pending_) {
    publish_again_ = true;  // what it says changed while one is out: once more after it
    return;
  }
  if (role_ == PeerRole::ordinary && !super_) return;  // the next attach publishes
  if (seq_known_)
    put_entry(now);
  else
    sync_seq(now);
}

// Gets our own entry (the DHT's, or through our super peer) for its seq.
void Peer::sync_seq(Time now) {
  ++counters_.seq_syncs;
  publish_pending_ = true;
  Result<void> started = ok();
  if (role_ == PeerRole::super) {
    started = node_.get_mutable(
        key_.public_key(), name_, now, [this](Result<GetMutableResult> r, const OpStats&) {
          if (!r) return seq_synced(r.error(), last_now_);
          seq_synced(newest(std::move(r->item), key_.public_key(), name_, last_now_), last_now_);
        });
  } else {
    started = lookup_via_super(
        name_, key_.public_key(), now,
        [this](Result<std::optional<MutableItem>> r) { seq_synced(std::move(r), last_now_); });
  }
  if (!started) seq_synced(started.error(), now);
}

void Peer::seq_synced(Result<std::optional<MutableItem>> stored, Time now) {
  publish_pending_ = false;
  if (!stored) return publish_done(false, false, now);  // retried after attach_retry
  seq_known_ = true;
  cas_.reset();
  if (*stored) {
    seq_ = std::max(seq_, (*stored)->seq);
    cas_ = (*stored)->seq;
  }
  publish_again_ = false;  // this put says what is current
  if (role_ == PeerRole::ordinary && !super_) return;
  put_entry(now);
}

void Peer::put_entry(Time now) {
  DirectoryEntry entry;
  if (role_ == PeerRole::super)
    entry = {self_, self_, true, 0};
  else
    entry = {public_address_, *super_, reachable_.value_or(false), 0};
  auto item = MutableItem::sign(key_, name_, ++seq_, encode_entry(entry));
  if (!item) return;  // the name was checked at construction; the entry is small
  const std::optional<std::int64_t> cas = std::exchange(cas_, std::nullopt);
  publish_pending_ = true;
  ++counters_.publishes;
  Result<void> started = ok();
  if (role_ == PeerRole::super) {
    started = node_.put_mutable(*item, cas, now, [this](Result<WriteResult> r, const OpStats&) {
      const bool stale = r && std::any_of(r->error_codes.begin(), r->error_codes.end(),
                                          [](std::int64_t c) { return c == 301 || c == 302; });
      publish_done(r && r->stored > 0 && !stale, stale, last_now_);
    });
  } else {
    bencode::Dict args{
        {"k", std::string(reinterpret_cast<const char*>(item->key.data()), item->key.size())},
        {"salt", item->salt},
        {"seq", item->seq},
        {"v", encode_entry(entry)},
        {"sig", std::string(reinterpret_cast<const char*>(item->signature.data()),
                            item->signature.size())}};
    if (cas) args.insert_or_assign("cas", *cas);
    started = node_.extension_query(
        *super_, std::string(kPublish), std::move(args), now,
        [this](Result<ExtensionReply> r, const OpStats&) {
          const auto* e = r ? std::get_if<krpc::ErrorReply>(&*r) : nullptr;
          publish_done(response_of(r), e && (e->code == 301 || e->code == 302), last_now_);
        },
        config_.service_timeout);
  }
  if (!started) {
    publish_pending_ = false;
    ++counters_.publish_failed;
    next_publish_ = now + config_.attach_retry;
  }
}

// `stale_seq`: a store holds a newer entry than ours (301/302): get it, and put again.
void Peer::publish_done(bool stored, bool stale_seq, Time now) {
  publish_pending_ = false;
  if (stale_seq) {
    ++counters_.seq_refused;
    seq_known_ = false;
    if (++stale_puts_ <= kMaxStalePuts) publish_again_ = true;
  } else if (stored) {
    stale_puts_ = 0;
  }
  if (stored) {
    next_publish_ = now + config_.republish;
  } else {
    ++counters_.publish_failed;
    next_publish_ = now + config_.attach_retry;
  }
  if (publish_again_) {
    publish_again_ = false;
    publish_entry(now);
  }
}

// --- Resolving a name.

std::optional<MutableItem> Peer::newest(std::optional<MutableItem> found, const PublicKey& key,
                                        std::string_view salt, Time now) const {
  const StoredItem* local = node_.item_store().get(mutable_target(key, salt), now);
  if (local && local->is_mutable && (!found || local->seq > found->seq)) return local->as_mutable();
  return found;
}

Result<void> Peer::resolve(const std::string& name, const PublicKey& key, Time now,
                           ResolveCallback done) {
  if (name.empty() || name.size() > kMaxSaltBytes)
    return Error(ErrorKind::invalid_argument,
                 "directory lookup: name of " + std::to_string(name.size()) + " bytes (1 to 64)");
  last_now_ = std::max(last_now_, now);
  if (role_ == PeerRole::ordinary) {
    if (!super_)
      return Error(ErrorKind::not_connected,
                   "directory lookup \"" + name + "\": not attached to a super peer");
    return resolve_via_super(name, key, now, std::move(done));
  }
  return node_.get_mutable(
      key, name, now,
      [this, name, key, done = std::move(done)](Result<GetMutableResult> r, const OpStats&) {
        if (!r) return done(r.error());
        auto item = newest(std::move(r->item), key, name, last_now_);
        if (!item)
          return done(Error(ErrorKind::unreachable, "directory lookup \"" + name + "\": no entry"));
        done(decode_entry(*item));
      });
}

// Through our super peer; the item it found is checked here (its signature and key).
Result<void> Peer::resolve_via_super(const std::string& name, const PublicKey& key, Time now,
                                     ResolveCallback done) {
  return lookup_via_super(
      name, key, now, [name, done = std::move(done)](Result<std::optional<MutableItem>> r) {
        if (!r) return done(r.error());
        if (!*r)
          return done(Error(ErrorKind::unreachable, "directory lookup \"" + name + "\": no entry"));
        done(decode_entry(**r));
      });
}

Result<void> Peer::lookup_via_super(const std::string& name, const PublicKey& key, Time now,
                                    std::function<void(Result<std::optional<MutableItem>>)> done) {
  bencode::Dict args{{"k", std::string(reinterpret_cast<const char*>(key.data()), key.size())},
                     {"salt", name}};
  return node_.extension_query(
      *super_, std::string(kLookup), std::move(args), now,
      [name, key, done = std::move(done)](Result<ExtensionReply> reply, const OpStats&) {
        const std::string what = "directory lookup \"" + name + "\"";
        const krpc::Response* response = response_of(reply);
        if (!response) return done(reply_error(reply, what));
        const bencode::Value* found = response->extra.find("item");
        if (!found) return done(std::optional<MutableItem>{});
        const bencode::Value* seq = found->find("seq");
        const bencode::Value* sig = found->find("sig");
        const bencode::Value* v = found->find("v");
        if (!seq || !seq->is_integer() || !sig || !sig->is_string() || !v)
          return done(Error(ErrorKind::malformed, what + ": item without seq, sig or v"));
        auto decoded = MutableItem::from_wire(
            std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), name,
            seq->integer(), sig->string(), *v);
        if (!decoded) return done(decoded.error().with_context(what));
        if (const PutCode code = decoded->check(); code != PutCode::stored)
          return done(Error(ErrorKind::malformed, what + ": " + std::string(describe(code))));
        done(std::optional<MutableItem>(std::move(*decoded)));
      },
      config_.service_timeout);
}

// --- Messages.

Result<void> Peer::send_message(const std::string& name, const PublicKey& key, std::string text,
                                Time now, MessageCallback done) {
  if (name.empty() || name.size() > kMaxSaltBytes || text.size() > config_.max_text)
    return Error(ErrorKind::invalid_argument,
                 "message to \"" + name + "\": name of " + std::to_string(name.size()) +
                     " bytes (1 to 64), text of " + std::to_string(text.size()) + " (max_text " +
                     std::to_string(config_.max_text) + ")");
  if (messages_.size() >= config_.max_messages)
    return Error(ErrorKind::overloaded, "message to \"" + name +
                                            "\": " + std::to_string(messages_.size()) +
                                            " messages in progress (max_messages)");
  last_now_ = std::max(last_now_, now);
  auto m = std::make_unique<Message>();
  m->id = next_message_id_++;
  m->name = name;
  m->key = key;
  m->text = std::move(text);
  m->done = std::move(done);
  m->started = now;
  m->due = now;  // the first attempt starts from the timer: the callback always runs later
  messages_.push_back(std::move(m));
  return ok();
}

Peer::Message* Peer::find_message(std::uint64_t id) noexcept {
  for (auto& m : messages_)
    if (m->id == id) return m.get();
  return nullptr;
}

Time Peer::message_due(const Message& message) const noexcept {
  return message.due;
}

void Peer::run_due_messages(Time now) {
  std::vector<std::uint64_t> due;
  for (const auto& m : messages_)
    if (m->due <= now) due.push_back(m->id);
  for (std::uint64_t id : due) {
    auto it = std::find_if(messages_.begin(), messages_.end(),
                           [&](const auto& m) { return m->id == id; });
    if (it == messages_.end()) continue;
    (*it)->due = Time::max();
    if ((*it)->result) {
      std::unique_ptr<Message> m = std::move(*it);
      messages_.erase(it);
      if (m->done) m->done(std::move(*m->result));
    } else {
      message_step(id, now);
    }
  }
}

// One attempt: resolve, then deliver or relay.
void Peer::message_step(std::uint64_t id, Time now) {
  Message* m = find_message(id);
  ++m->attempts;
  auto started = resolve(m->name, m->key, now, [this, id](Result<DirectoryEntry> entry) {
    Message* message = find_message(id);
    if (!message) return;
    const Time at = last_now_;
    if (!entry) return message_attempt_done(id, entry.error(), at);
    const bool relayed = !entry->reachable;
    const net::Endpoint via = relayed ? entry->super_peer : entry->address;
    bencode::Dict args{{"m", message->text}, {"f", name_}};
    if (relayed) args.insert_or_assign("t", compact_peer(entry->address));
    auto sent = node_.extension_query(
        via, std::string(relayed ? kRelay : kDeliver), std::move(args), at,
        [this, id, relayed, via](Result<ExtensionReply> reply, const OpStats&) {
          if (response_of(reply))
            return message_attempt_done(id, DeliveryReport{relayed, via, 0, {}}, last_now_);
          message_attempt_done(id, reply_error(reply, relayed ? "relay" : "deliver"), last_now_);
        },
        relayed ? config_.service_timeout : Duration{});
    if (!sent) message_attempt_done(id, sent.error(), at);
  });
  if (!started) message_attempt_done(id, started.error(), now);
}

void Peer::message_attempt_done(std::uint64_t id, Result<DeliveryReport> result, Time now) {
  Message* m = find_message(id);
  if (!m) return;
  if (result) {
    result->attempts = m->attempts;
    result->elapsed = now - m->started;
  }
  if (result || m->attempts >= config_.message_attempts) {
    m->result = std::move(result);
    m->due = now;
  } else {
    m->due = now + kMessageRetry;  // resolve again: the callee may have moved
  }
}

}  // namespace nexo::overlay
