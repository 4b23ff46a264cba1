// Scribe: repairing gaps. Per topic, a node keeps what it has seen of its last
// digest_publishers publishers (a Stream each: the highest sequence and a bitmap of the 64
// below it) and sends the digest (publisher, highest) with every beat, beat reply, join and
// join answer. A node that learns of a sequence it lacks, from a digest or from a message
// that skips a number, asks the neighbour that told it (nexo_fetch), and floods what comes
// back like any other message. The scheme is described in scribe.hpp.
#include <algorithm>
#include <utility>

#include "nexo/overlay/scribe.hpp"
#include "nexo/overlay/scribe_topic.hpp"

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;

// Messages one fetch answer may carry, whatever its sender's bounds (ours).
constexpr std::size_t kMaxFetched = 64;

Scribe::Stream* find_stream(Scribe::Topic& t, const NodeId& publisher) {
  auto it = std::find_if(t.streams.begin(), t.streams.end(),
                         [&](const Scribe::Stream& s) { return s.publisher == publisher; });
  return it == t.streams.end() ? nullptr : &*it;
}

struct FetchAnswer {
  std::vector<Scribe::Message> messages;
  bool more = false;
};

// A nexo_fetch answer: nullopt when malformed (or about another publisher).
std::optional<FetchAnswer> parse_fetched(const bencode::Dict& r, const NodeId& publisher,
                                         std::size_t max_payload, net::Family family) {
  const bencode::Value* m = r.find("m");
  const bencode::Value* more = r.find("more");
  if (!m || !m->is_list() || m->list().size() > kMaxFetched) return std::nullopt;
  if (more && !more->is_integer()) return std::nullopt;
  FetchAnswer out;
  out.more = more && more->integer() != 0;
  if (m->list().empty()) return out;
  const bencode::Value* o = r.find("o");
  if (!o || !o->is_string()) return std::nullopt;
  auto origin = decode_compact_nodes(o->string(), family);
  if (!origin || origin->size() != 1 || (*origin)[0].id != publisher) return std::nullopt;
  for (const bencode::Value& entry : m->list()) {
    if (!entry.is_list() || entry.list().size() != 2) return std::nullopt;
    const bencode::Value& s = entry.list()[0];
    const bencode::Value& d = entry.list()[1];
    if (!s.is_integer() || s.integer() < 1 || !d.is_string() || d.string().size() > max_payload)
      return std::nullopt;
    out.messages.push_back(Scribe::Message{(*origin)[0], s.integer(), d.string(), Time{}});
  }
  return out;
}

}  // namespace

// The publisher's stream, created (evicting the least recently advanced) when new.
Scribe::Stream& Scribe::stream(Topic& t, const NodeId& publisher) {
  if (Stream* s = find_stream(t, publisher)) return *s;
  while (t.streams.size() >= config_.digest_publishers)
    t.streams.pop_front();
  t.streams.push_back(Stream{publisher});
  return t.streams.back();
}

void Scribe::note_seen(Topic& t, const NodeId& publisher, std::int64_t sequence, Time now) {
  if (Stream* s = find_stream(t, publisher)) {
    s->mark(sequence);
    s->advanced = now;
    Stream moved = *s;  // the most recently advanced last
    std::erase_if(t.streams, [&](const Stream& x) { return x.publisher == publisher; });
    t.streams.push_back(moved);
    return;
  }
  Stream& s = stream(t, publisher);
  s.advanced = now;
  // Before the first one seen: the last `history` sequences are gaps unless seen (the
  // stream may have been evicted), older ones are past anyone's history.
  s.highest = sequence;
  s.bits = ~std::uint64_t{0};
  const std::int64_t reach = std::min<std::int64_t>(config_.history, Stream::kBits - 1);
  for (std::int64_t k = 1; k <= reach && sequence - k >= 1; ++k)
    if (!t.has_seen(publisher, sequence - k)) s.bits &= ~(std::uint64_t{1} << k);
}

std::string Scribe::digest(const Topic& t, Time now) const {
  return scribe_wire::encode_digest(t.streams, now - config_.history_window);
}

std::optional<std::vector<Scribe::DigestEntry>> Scribe::parse_digest(
    const bencode::Dict& dict) const {
  const bencode::Value* g = dict.find("g");
  if (!g) return std::vector<DigestEntry>{};
  if (!g->is_string()) return std::nullopt;
  return scribe_wire::decode_digest(g->string(), scribe_wire::kMaxDigestEntries);
}

// Asks `from` for what its digest shows and we lack: per publisher, from the lowest
// sequence missing (one fetch per publisher at a time).
void Scribe::compare(Topic& t, const net::Endpoint& from, const std::vector<DigestEntry>& digest,
                     Time now) {
  const std::int64_t reach = std::min<std::int64_t>(config_.history, Stream::kBits - 1);
  for (const DigestEntry& e : digest) {
    std::optional<std::int64_t> first;
    if (const Stream* s = find_stream(t, e.publisher)) {
      if (s->fetching) continue;
      first = s->first_missing(std::min(e.highest, s->highest));
      if (!first && e.highest > s->highest) first = s->highest + 1;
    } else {
      for (std::int64_t q = std::max<std::int64_t>(1, e.highest - reach + 1); q <= e.highest; ++q)
        if (!t.has_seen(e.publisher, q)) {
          first = q;
          break;
        }
    }
    if (first) fetch(t, from, e.publisher, *first, e.highest, now);
  }
}

void Scribe::compare_reply(const NodeId& key, const net::Endpoint& from,
                           const ExtensionReply& reply, Time now) {
  const auto* response = std::get_if<krpc::Response>(&reply);
  Topic* t = find(key);
  if (!response || !t) return;
  auto g = parse_digest(response->extra);
  if (!g) {
    ++counters_.bad_replies;
    return;
  }
  compare(*t, from, *g, now);
}

void Scribe::fetch(Topic& t, const net::Endpoint& from, const NodeId& publisher, std::int64_t first,
                   std::int64_t upto, Time now) {
  Stream& s = stream(t, publisher);
  if (s.highest == 0 && s.bits == 0) {  // new: nothing before `first` is wanted
    s.highest = first - 1;
    s.bits = ~std::uint64_t{0};
  }
  ++counters_.fetches;
  const NodeId key = t.key;
  s.fetching =
      send(from, "nexo_fetch",
           {{"k", key.to_byte_string()}, {"o", publisher.to_byte_string()}, {"s", first}}, now,
           [this, key, from, publisher, first, upto](Result<ExtensionReply> reply, Time at) {
             fetched(key, from, publisher, first, upto, std::move(reply), at);
           });
}

// Floods what came (except back to `from`); gives up on what `from` did not hold; asks
// again after the last when the answer was cut short.
void Scribe::fetched(const NodeId& key, const net::Endpoint& from, const NodeId& publisher,
                     std::int64_t first, std::int64_t upto, Result<ExtensionReply> reply,
                     Time now) {
  Topic* t = find(key);
  if (!t) return;
  if (Stream* s = find_stream(*t, publisher)) s->fetching = false;
  if (!answered(reply)) return;
  auto answer = parse_fetched(std::get<krpc::Response>(*reply).extra, publisher,
                              config_.max_payload, node_.endpoint().family());
  if (!answer) {
    ++counters_.bad_replies;
    return;
  }
  std::int64_t last = first - 1;
  for (const Message& m : answer->messages) {
    t = find(key);  // delivering may have made us leave
    if (!t) return;
    if (m.sequence < first) continue;
    last = std::max(last, m.sequence);
    if (t->has_seen(publisher, m.sequence)) continue;
    ++counters_.fetched;
    disseminate(*t, m, &from, now);
  }
  t = find(key);
  if (!t) return;
  Stream& s = stream(*t, publisher);
  const std::int64_t end = answer->more ? last : upto;
  for (std::int64_t q = std::max(first, end - Stream::kBits + 1); q <= end; ++q)
    if (!s.has(q)) {
      s.mark(q);
      ++counters_.gaps_given_up;
    }
  if (answer->more && last >= first && last < upto && !s.fetching)
    fetch(*t, from, publisher, last + 1, upto, now);
}

}  // namespace nexo::overlay
