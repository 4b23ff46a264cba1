// ItemStore — the BEP 44 items a storage node holds: put checks and stores,
// get reads. Sans-I/O and bounded. The node checks the write token (token.hpp,
// issued for the item's target) before calling put, and answers a put with the
// PutCode returned (item.hpp: a KRPC error code and describe(code)).
//
// Put rules (BEP 44):
//   immutable   bencoded v at most 1000 bytes (205); stored under SHA-1(v);
//               a put of an item already held refreshes it
//   mutable     MutableItem::check(): salt <= 64 bytes (207), v <= 1000 (205),
//               seq >= 0 and v canonical (203), signature (206); then against
//               the item held under SHA-1(k | salt), if any:
//                 cas given and not the held seq        301 (ignored when
//                                                        nothing is held)
//                 seq below the held one                 302
//                 seq equal, another v                   302 (BEP 44: a put
//                                                        whose seq is not above
//                                                        the held one MUST be
//                                                        refused)
//                 seq equal, same v                      refreshed (BEP 44:
//                                                        SHOULD reset its timeout)
//                 seq above                              replaced
//
// Bounds (ItemStoreConfig). Each item is charged its value and salt bytes plus
// kItemOverhead (the fixed part of a stored item), so max_bytes bounds memory.
// A writer is a source: its IP address (its port too when
// sources_include_port, for tests where every node is 127.0.0.1). An item is
// charged to the source of its last accepted put (a republish moves it).
//   per source     a put that would take its source past max_items_per_source
//                  or max_bytes_per_source is refused (202): one flooding host
//                  fills its own quota and nothing else (a republish from a
//                  source at its quota is refused too; the item stays, charged
//                  to its earlier source)
//   total          a put that needs room past max_items or max_bytes evicts,
//                  after expired items, the items put longest ago (oldest
//                  first): an item that matters is republished every hour, so
//                  it is among the fresh ones; a put larger than max_bytes
//                  alone is refused (202)
//   lifetime       an item not put again within item_lifetime (2 h, BEP 44's
//                  "MAY expire in 2 hours") is dropped: get() skips it,
//                  expire() sweeps
//   replica age    a put may say how long the item has left (`lifetime`: nexo's
//                  `nexo_ttl`, below): the copy then lives that long (at most
//                  item_lifetime), never shorter than the copy already held.
//                  Why: BEP 44's put carries no age, so a store that hands an
//                  item on to a new holder (re-replication, read repair) gave it
//                  a fresh 2 hours, and an item nobody republished lived on for
//                  as long as new nodes kept arriving near its key. Only the
//                  originator's put (no nexo_ttl) starts a full lifetime.
// So memory stays under max_bytes, plus the slack of vector growth; an empty
// store is sizeof(ItemStore), 128 bytes on x86-64, and allocates nothing
// (expire() gives the memory of an emptied store back).
//
// Republishing is not the store's: the node that published an item keeps it
// (its MutableItem or value) and puts it again every hour (BEP 44), and
// re-replication to newly closer nodes is the node's too (it sees joins);
// the store only keeps what others put.
//
// A get with BEP 44's `seq` (send v only when newer) is the node's: it
// compares the held seq. Not thread-safe: one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/item.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/overlay/time.hpp"
#include "nexo/wire/bencode.hpp"

namespace nexo::overlay {

// nexo's extension key for an item's remaining lifetime, in whole seconds (an integer
// >= 1): in a put's arguments (how long the copy put should live) and in a get reply
// that carries v (how long the replier's copy has left). Other implementations ignore
// unknown keys (KRPC); an item they hand on gets their full lifetime.
inline constexpr std::string_view kTtlKey = "nexo_ttl";
// The largest nexo_ttl read (a week): more is a bad argument, not a long life.
inline constexpr std::int64_t kMaxTtlSeconds = 7 * 24 * 3600;
// The least a copy must have left to be handed on (re-replication, a get reply's v).
inline constexpr Duration kMinTtl = std::chrono::seconds(1);

// Reads kTtlKey from a put's arguments or a reply's return values: nullopt when absent;
// malformed when present but not an integer in 1 .. kMaxTtlSeconds.
Result<std::optional<Duration>> read_ttl(const wire::bencode::Dict& dict);
// Writes kTtlKey: `remaining` rounded down to whole seconds (a copy handed on never lives
// longer than its source; rounding up added a second per hop), at least 1: a copy with
// less than a second left is not handed on (kMinTtl).
void write_ttl(wire::bencode::Dict& dict, Duration remaining);

struct ItemStoreConfig {
  std::uint32_t max_items = 700;  // libtorrent's dht_max_dht_items
  std::uint32_t max_bytes = 1u << 20;
  std::uint32_t max_items_per_source = 64;
  std::uint32_t max_bytes_per_source = 64u << 10;
  Duration item_lifetime = std::chrono::hours(2);
  bool sources_include_port = false;
};

// One item held. Mutable fields are meaningful when is_mutable.
struct StoredItem {
  NodeId target;
  bool is_mutable = false;
  std::string value;  // bencoded v
  Time expires;
  // mutable only
  std::int64_t seq = 0;
  PublicKey key{};
  Signature signature{};
  std::string salt;

  // The item as a MutableItem (is_mutable must hold).
  MutableItem as_mutable() const { return {key, salt, seq, value, signature}; }
};

struct ItemStoreCounters {
  std::uint64_t puts = 0;
  std::uint64_t refused = 0;        // every put not stored, whatever the code
  std::uint64_t refused_quota = 0;  // 202: a source over its bounds
  std::uint64_t evicted = 0;        // pushed out for room (oldest first)
  std::uint64_t expired = 0;        // dropped for age
};

class ItemStore {
 public:
  // The fixed memory of one stored item (with its share of the source
  // table), charged to max_bytes beside its value and salt bytes.
  static constexpr std::size_t kItemOverhead = sizeof(StoredItem) + 64;

  explicit ItemStore(const ItemStoreConfig& config = {}) noexcept : config_(config) {}

  // Stores an immutable item from `source` (who sent the put), alive until
  // now + item_lifetime, or now + `lifetime` when the put gave one (a replica's
  // remaining life, capped at item_lifetime); a refresh never shortens the held copy's.
  // `encoded_v` must be one canonical bencoded value (else protocol_error). Returns
  // stored or the refusal's code.
  [[nodiscard]] PutCode put_immutable(std::string_view encoded_v, const net::Endpoint& source,
                                      Time now, std::optional<Duration> lifetime = std::nullopt);
  [[nodiscard]] PutCode put_immutable_value(const wire::bencode::Value& v,
                                            const net::Endpoint& source, Time now,
                                            std::optional<Duration> lifetime = std::nullopt);
  // Stores a mutable item, checked as above; `cas` is the put's optional cas; `lifetime`
  // as for put_immutable (a higher seq replaces the item and its expiry; the same seq
  // refreshes it).
  [[nodiscard]] PutCode put_mutable(const MutableItem& item, std::optional<std::int64_t> cas,
                                    const net::Endpoint& source, Time now,
                                    std::optional<Duration> lifetime = std::nullopt);

  // The item under `target` still alive at `now`, or nullptr. The pointer is
  // valid until the next non-const call.
  const StoredItem* get(const NodeId& target, Time now) const;

  // Drops every item whose lifetime ended by `now`. O(items).
  void expire(Time now);

  std::size_t item_count() const noexcept { return items_.size(); }
  // The item at `index` (0 .. item_count() - 1) in ascending target order, expired or not
  // (check `expires`): how the node walks what it stores to re-replicate it. Valid until
  // the next non-const call.
  const StoredItem& item(std::size_t index) const noexcept { return items_[index].item; }
  // Bytes charged in all (values, salts, kItemOverhead each).
  std::size_t bytes() const noexcept { return bytes_; }
  // The items and bytes charged to the source at `endpoint` (its port counts
  // only when sources_include_port).
  std::pair<std::size_t, std::size_t> source_usage(const net::Endpoint& endpoint) const;
  const ItemStoreCounters& counters() const noexcept { return counters_; }

 private:
  using SourceKey = std::array<std::uint8_t, 18>;  // IPv6 (IPv4-mapped) address | port
  struct Entry {
    StoredItem item;
    SourceKey source{};
    std::uint32_t charge = 0;
  };
  struct Source {
    SourceKey key{};
    std::uint32_t items = 0;
    std::uint32_t bytes = 0;
  };
  static_assert(sizeof(Entry) - sizeof(StoredItem) + sizeof(Source) <=
                    kItemOverhead - sizeof(StoredItem),
                "kItemOverhead must cover an entry and its source record");

  SourceKey source_key(const net::Endpoint& endpoint) const noexcept;
  std::vector<Entry>::iterator find(const NodeId& target);
  std::vector<Source>::iterator find_source(const SourceKey& key);
  // The entry under `target` if alive at `now`; an expired one is dropped.
  Entry* live(const NodeId& target, Time now);
  // When a put at `now` with `lifetime` makes its item expire; `refreshed` is the held
  // copy of the same item, if any (its expiry is a floor).
  Time expiry(Time now, std::optional<Duration> lifetime, const Entry* refreshed) const;
  // Checks `source`'s quota, makes room, and stores (new or in place of the
  // entry under `target`) an item of `charge` bytes that `fill` writes, alive until
  // `expires`.
  template <class Fill>
  PutCode store(const NodeId& target, std::uint32_t charge, const SourceKey& source, Time now,
                Time expires, const Fill& fill);
  // Evicts expired items, then the oldest, until `bytes` more bytes and
  // `items` more items fit; never the item under `keep`.
  void make_room(std::size_t bytes, std::size_t items, const NodeId& keep, Time now);
  void erase(std::vector<Entry>::iterator it);
  void debit(const Entry& entry);
  void credit(const SourceKey& source, std::uint32_t charge);
  PutCode refuse(PutCode code);

  ItemStoreConfig config_;
  std::vector<Entry> items_;     // ascending target
  std::vector<Source> sources_;  // ascending key; sources with an item only
  std::size_t bytes_ = 0;
  ItemStoreCounters counters_;
};

}  // namespace nexo::overlay
