#include "nexo/overlay/item_store.hpp"

#include <algorithm>
#include <string>

namespace nexo::overlay {

namespace {
constexpr auto by_target = [](const auto& entry, const NodeId& target) {
  return entry.item.target < target;
};
constexpr auto by_key = [](const auto& source, const auto& key) { return source.key < key; };
}  // namespace

Result<std::optional<Duration>> read_ttl(const wire::bencode::Dict& dict) {
  const wire::bencode::Value* v = dict.find(kTtlKey);
  if (!v) return std::optional<Duration>();
  if (!v->is_integer() || v->integer() < 1 || v->integer() > kMaxTtlSeconds)
    return Error(ErrorKind::malformed, "nexo_ttl must be an integer of seconds in 1 .. " +
                                           std::to_string(kMaxTtlSeconds));
  return std::optional<Duration>(std::chrono::seconds(v->integer()));
}

void write_ttl(wire::bencode::Dict& dict, Duration remaining) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(remaining).count();
  dict.insert_or_assign(std::string(kTtlKey),
                        wire::bencode::Value(std::clamp<std::int64_t>(seconds, 1, kMaxTtlSeconds)));
}

ItemStore::SourceKey ItemStore::source_key(const net::Endpoint& endpoint) const noexcept {
  SourceKey key{};
  const net::InetAddress address = endpoint.address().unmapped().mapped_v6();
  const auto bytes = address.bytes();  // a view into `address`
  std::copy(bytes.begin(), bytes.end(), key.begin());
  if (config_.sources_include_port) {
    key[16] = static_cast<std::uint8_t>(endpoint.port() >> 8);
    key[17] = static_cast<std::uint8_t>(endpoint.port());
  }
  return key;
}

std::vector<ItemStore::Entry>::iterator ItemStore::find(const NodeId& target) {
  auto it = std::lower_bound(items_.begin(), items_.end(), target, by_target);
  return it != items_.end() && it->item.target == target ? it : items_.end();
}

std::vector<ItemStore::Source>::iterator ItemStore::find_source(const SourceKey& key) {
  auto it = std::lower_bound(sources_.begin(), sources_.end(), key, by_key);
  return it != sources_.end() && it->key == key ? it : sources_.end();
}

ItemStore::Entry* ItemStore::live(const NodeId& target, Time now) {
  auto it = find(target);
  if (it == items_.end()) return nullptr;
  if (it->item.expires > now) return &*it;
  ++counters_.expired;
  erase(it);
  return nullptr;
}

void ItemStore::debit(const Entry& entry) {
  bytes_ -= entry.charge;
  auto source = find_source(entry.source);
  if (source == sources_.end()) return;  // cannot happen: every entry is credited
  source->bytes -= entry.charge;
  if (--source->items == 0) sources_.erase(source);
}

void ItemStore::credit(const SourceKey& key, std::uint32_t charge) {
  bytes_ += charge;
  auto it = std::lower_bound(sources_.begin(), sources_.end(), key, by_key);
  if (it == sources_.end() || it->key != key) it = sources_.insert(it, Source{key, 0, 0});
  ++it->items;
  it->bytes += charge;
}

void ItemStore::erase(std::vector<Entry>::iterator it) {
  debit(*it);
  items_.erase(it);
}

PutCode ItemStore::refuse(PutCode code) {
  ++counters_.refused;
  if (code == PutCode::server_error) ++counters_.refused_quota;
  return code;
}

void ItemStore::make_room(std::size_t bytes, std::size_t items, const NodeId& keep, Time now) {
  auto fits = [&] {
    return bytes_ + bytes <= config_.max_bytes && items_.size() + items <= config_.max_items;
  };
  if (fits()) return;
  expire(now);  // the item under `keep` is alive (live() dropped it otherwise)
  while (!fits() && !items_.empty()) {
    auto oldest = items_.end();
    for (auto it = items_.begin(); it != items_.end(); ++it) {
      if (it->item.target == keep) continue;
      if (oldest == items_.end() || it->item.expires < oldest->item.expires) oldest = it;
    }
    if (oldest == items_.end()) return;
    ++counters_.evicted;
    erase(oldest);
  }
}

Time ItemStore::expiry(Time now, std::optional<Duration> lifetime, const Entry* refreshed) const {
  Duration life = config_.item_lifetime;
  if (lifetime) life = std::clamp(*lifetime, Duration::zero(), life);
  const Time expires = now + life;
  return refreshed ? std::max(expires, refreshed->item.expires) : expires;
}

template <class Fill>
PutCode ItemStore::store(const NodeId& target, std::uint32_t charge, const SourceKey& source,
                         Time now, Time expires, const Fill& fill) {
  if (charge > config_.max_bytes || config_.max_items == 0) return refuse(PutCode::server_error);
  const Entry* existing = live(target, now);
  const bool same_source = existing && existing->source == source;
  auto usage = find_source(source);
  const std::size_t items_before = usage == sources_.end() ? 0 : usage->items;
  const std::size_t bytes_before = usage == sources_.end() ? 0 : usage->bytes;
  const std::size_t items_after = items_before + (same_source ? 0 : 1);
  const std::size_t bytes_after = bytes_before - (same_source ? existing->charge : 0) + charge;
  if (items_after > config_.max_items_per_source || bytes_after > config_.max_bytes_per_source)
    return refuse(PutCode::server_error);

  const std::size_t old_charge = existing ? existing->charge : 0;
  make_room(charge > old_charge ? charge - old_charge : 0, existing ? 0 : 1, target, now);

  auto it = std::lower_bound(items_.begin(), items_.end(), target, by_target);
  if (it != items_.end() && it->item.target == target) {
    debit(*it);
  } else {
    it = items_.insert(it, Entry{});
    it->item.target = target;
  }
  fill(it->item);
  it->item.expires = expires;
  it->source = source;
  it->charge = charge;
  credit(source, charge);
  return PutCode::stored;
}

PutCode ItemStore::put_immutable(std::string_view encoded_v, const net::Endpoint& source, Time now,
                                 std::optional<Duration> lifetime) {
  ++counters_.puts;
  if (PutCode code = check_immutable(encoded_v); code != PutCode::stored) return refuse(code);
  const NodeId target = immutable_target(encoded_v);
  const Entry* held = live(target, now);
  if (held && held->item.is_mutable)
    return refuse(PutCode::protocol_error);  // SHA-1(v) == SHA-1(k | salt): never met
  const auto charge = static_cast<std::uint32_t>(kItemOverhead + encoded_v.size());
  const Time expires = expiry(now, lifetime, held);
  return store(target, charge, source_key(source), now, expires, [&](StoredItem& item) {
    item.is_mutable = false;
    item.value.assign(encoded_v);
  });
}

PutCode ItemStore::put_immutable_value(const wire::bencode::Value& v, const net::Endpoint& source,
                                       Time now, std::optional<Duration> lifetime) {
  return put_immutable(encode_value(v), source, now, lifetime);
}

PutCode ItemStore::put_mutable(const MutableItem& put, std::optional<std::int64_t> cas,
                               const net::Endpoint& source, Time now,
                               std::optional<Duration> lifetime) {
  ++counters_.puts;
  if (PutCode code = put.check(); code != PutCode::stored) return refuse(code);
  const NodeId target = put.target();
  const Entry* held = live(target, now);
  if (held) {
    const StoredItem& item = held->item;
    if (!item.is_mutable) return refuse(PutCode::protocol_error);
    if (cas && *cas != item.seq) return refuse(PutCode::cas_mismatch);
    if (put.seq < item.seq) return refuse(PutCode::seq_too_old);
    if (put.seq == item.seq && put.value != item.value) return refuse(PutCode::seq_too_old);
  }
  const auto charge =
      static_cast<std::uint32_t>(kItemOverhead + put.value.size() + put.salt.size());
  const Time expires = expiry(now, lifetime, held && held->item.seq == put.seq ? held : nullptr);
  return store(target, charge, source_key(source), now, expires, [&](StoredItem& item) {
    item.is_mutable = true;
    item.value = put.value;
    item.seq = put.seq;
    item.key = put.key;
    item.signature = put.signature;
    item.salt = put.salt;
  });
}

const StoredItem* ItemStore::get(const NodeId& target, Time now) const {
  auto it = std::lower_bound(items_.begin(), items_.end(), target, by_target);
  if (it == items_.end() || it->item.target != target || it->item.expires <= now) return nullptr;
  return &it->item;
}

void ItemStore::expire(Time now) {
  auto expired = [now](const Entry& e) { return e.item.expires <= now; };
  for (const Entry& e : items_) {
    if (!expired(e)) continue;
    ++counters_.expired;
    debit(e);
  }
  std::erase_if(items_, expired);
  if (items_.empty()) {  // an idle node gives its memory back
    items_.shrink_to_fit();
    sources_.shrink_to_fit();
  }
}

std::pair<std::size_t, std::size_t> ItemStore::source_usage(const net::Endpoint& endpoint) const {
  const SourceKey key = source_key(endpoint);
  auto it = std::lower_bound(sources_.begin(), sources_.end(), key, by_key);
  if (it == sources_.end() || it->key != key) return {0, 0};
  return {it->items, it->bytes};
}

}  // namespace nexo::overlay
