// KRPC encoding (krpc.hpp): canonical bencode written straight into the caller's buffer,
// keys in byte order, no tree; and to_value(), the same message built as a bencode tree.
// Keys of every dictionary, in the order written:
//   top level   a e ip nx q r ro t v y
//   a           bs cas id implied_port info_hash k port salt seq sig target token v want
//   r           id k nodes nodes6 seq sig token v values
// with the `extra` keys merged in their places.
#include <charconv>

#include "nexo/overlay/krpc.hpp"
#include "nexo/overlay/krpc_keys.hpp"

namespace nexo::overlay::krpc {
namespace {

using bencode::Value;
using namespace detail;

class Writer {
 public:
  explicit Writer(wire::Buffer& out) : out_(out) {}

  wire::Buffer& buffer() noexcept { return out_; }
  void put(char c) { out_.push_back(c); }
  void number(std::int64_t n) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out_.append(digits, static_cast<std::size_t>(end - digits));
  }
  void integer(std::int64_t n) {
    put('i');
    number(n);
    put('e');
  }
  // A byte-string header: the length and ':'; the caller appends the bytes.
  void length(std::size_t n) {
    number(static_cast<std::int64_t>(n));
    put(':');
  }
  void string(std::string_view s) {
    length(s.size());
    out_.append(s);
  }
  template <std::size_t N>
  void string(const std::array<std::uint8_t, N>& bytes) {
    length(N);
    out_.append(bytes.data(), N);
  }
  void id(const NodeId& id) { string(id.bytes()); }
  void peer(const net::Endpoint& ep) {
    const net::InetAddress address = ep.address().unmapped();  // bytes() views into it
    out_.append(address.bytes().data(), address.bytes().size());
    put(static_cast<char>(ep.port() >> 8));
    put(static_cast<char>(ep.port() & 0xff));
  }
  // Compact node info of the entries of `family` (others skipped, as compact.hpp does).
  void nodes(const std::vector<NodeInfo>& nodes, net::Family family) {
    std::size_t count = 0;
    for (const NodeInfo& n : nodes)
      count += n.endpoint.address().unmapped().family() == family ? 1 : 0;
    length(count * compact_node_size(family));
    for (const NodeInfo& n : nodes) {
      if (n.endpoint.address().unmapped().family() != family) continue;
      out_.append(n.id.bytes().data(), kNodeIdBytes);
      peer(n.endpoint);
    }
  }

 private:
  wire::Buffer& out_;
};

// A dictionary whose typed keys come in order through key(), with the `extra` entries
// the dictionary's owner does not interpret (`takes` false) merged in their places.
template <class Takes>
class DictWriter {
 public:
  DictWriter(Writer& w, const bencode::Dict& extra, Takes takes)
      : w_(w), next_(extra.begin()), end_(extra.end()), takes_(takes) {
    w_.put('d');
  }
  void key(std::string_view key) {
    flush(key, false);
    w_.string(key);
  }
  void close() {
    flush({}, true);
    w_.put('e');
  }

 private:
  void flush(std::string_view below, bool all) {
    for (; next_ != end_ && (all || std::string_view(next_->first) < below); ++next_) {
      if (takes_(next_->first)) continue;
      w_.string(next_->first);
      bencode::encode(next_->second, w_.buffer());
    }
  }

  Writer& w_;
  bencode::Dict::const_iterator next_;
  bencode::Dict::const_iterator end_;
  Takes takes_;
};

void write_want(Writer& w, Want want) {
  w.put('l');
  if (want.n4) w.string("n4");
  if (want.n6) w.string("n6");
  w.put('e');
}

void write_args(Writer& w, const Query& q) {
  const std::uint32_t takes = method_keys(q.method);
  DictWriter dict(w, q.extra, [&](std::string_view key) { return method_takes(q.method, key); });
  // Opens key `k` when the method takes it and the query has it (in kQueryKeys' order).
  const auto key = [&](QueryKey k, bool present) {
    if (!present || (takes & bit(k)) == 0) return false;
    dict.key(kQueryKeys[k]);
    return true;
  };
  if (key(kBs, q.bootstrap)) w.integer(1);
  if (key(kCas, q.cas.has_value())) w.integer(*q.cas);
  if (key(kId, true)) w.id(q.id);
  if (key(kImpliedPort, q.implied_port)) w.integer(1);
  if (key(kInfoHash, q.info_hash.has_value())) w.id(*q.info_hash);
  if (key(kK, q.k.has_value())) w.string(*q.k);
  if (key(kPort, q.port.has_value())) w.integer(*q.port);
  if (key(kSalt, q.salt.has_value())) w.string(*q.salt);
  if (key(kSeq, q.seq.has_value())) w.integer(*q.seq);
  if (key(kSig, q.sig.has_value())) w.string(*q.sig);
  if (key(kTarget, q.target.has_value())) w.id(*q.target);
  if (key(kToken, q.token.has_value())) w.string(*q.token);
  if (key(kV, q.v.has_value())) w.buffer().append(q.v->encoded());
  if (key(kWant, q.want.any())) write_want(w, q.want);
  dict.close();
}

void write_return_values(Writer& w, const Response& r) {
  DictWriter dict(w, r.extra, [](std::string_view key) { return response_takes(key); });
  dict.key("id");
  w.id(r.id);
  if (r.k) {
    dict.key("k");
    w.string(*r.k);
  }
  if (r.nodes) {
    dict.key("nodes");
    w.nodes(*r.nodes, net::Family::v4);
  }
  if (r.nodes6) {
    dict.key("nodes6");
    w.nodes(*r.nodes6, net::Family::v6);
  }
  if (r.seq) {
    dict.key("seq");
    w.integer(*r.seq);
  }
  if (r.sig) {
    dict.key("sig");
    w.string(*r.sig);
  }
  if (r.token) {
    dict.key("token");
    w.string(*r.token);
  }
  if (r.v) {
    dict.key("v");
    w.buffer().append(r.v->encoded());
  }
  if (r.values) {
    dict.key("values");
    w.put('l');
    for (const net::Endpoint& ep : *r.values) {
      w.length(compact_peer_size(ep.address().unmapped().family()));
      w.peer(ep);
    }
    w.put('e');
  }
  dict.close();
}

// The top level around a body: `y` is 'q', 'r' or 'e'; `body` writes the value of the
// body's key (a, r or e) after its key.
template <class Body>
void write_message(const Header& h, char y, std::string_view method, const Options& options,
                   wire::Buffer& out, Body body) {
  out.clear();
  Writer w(out);
  w.put('d');
  if (y == 'q' || y == 'e') {
    w.string(y == 'q' ? "a" : "e");
    body(w);
  }
  if (h.ip) {
    w.string("ip");
    w.length(compact_peer_size(h.ip->address().unmapped().family()));
    w.peer(*h.ip);
  }
  if (!options.network_id.empty()) {
    w.string(kNetworkKey);
    w.string(options.network_id);
  }
  if (y == 'q') {
    w.string("q");
    w.string(method);
  }
  if (y == 'r') {
    w.string("r");
    body(w);
  }
  if (h.read_only) {
    w.string("ro");
    w.integer(1);
  }
  w.string("t");
  w.string(h.tid.view());
  if (h.version) {
    w.string("v");
    w.string(*h.version);
  }
  w.string("y");
  w.string(std::string_view(&y, 1));
  w.put('e');
}

Header header_of(const Message& m) {
  Header h{m.tid, std::nullopt, m.read_only, m.ip};
  if (m.version) h.version = *m.version;
  return h;
}

bencode::Dict args_value(const Query& q) {
  bencode::Dict a;
  for (const auto& [key, value] : q.extra)
    if (!method_takes(q.method, key)) a.insert_or_assign(key, value);
  const std::uint32_t takes = method_keys(q.method);
  const auto set = [&](QueryKey key, Value v) {
    if ((takes & bit(key)) != 0) a.insert_or_assign(std::string(kQueryKeys[key]), std::move(v));
  };
  const auto bytes = [](const auto& array) {
    return std::string(reinterpret_cast<const char*>(array.data()), array.size());
  };
  set(kId, q.id.to_byte_string());
  if (q.bootstrap) set(kBs, 1);
  if (q.cas) set(kCas, *q.cas);
  if (q.implied_port) set(kImpliedPort, 1);
  if (q.info_hash) set(kInfoHash, q.info_hash->to_byte_string());
  if (q.k) set(kK, bytes(*q.k));
  if (q.port) set(kPort, static_cast<std::int64_t>(*q.port));
  if (q.salt) set(kSalt, *q.salt);
  if (q.seq) set(kSeq, *q.seq);
  if (q.sig) set(kSig, bytes(*q.sig));
  if (q.target) set(kTarget, q.target->to_byte_string());
  if (q.token) set(kToken, *q.token);
  if (q.v) set(kV, q.v->value());
  if (q.want.any()) {
    Value::List want;
    if (q.want.n4) want.emplace_back("n4");
    if (q.want.n6) want.emplace_back("n6");
    set(kWant, std::move(want));
  }
  return a;
}

bencode::Dict return_value(const Response& r) {
  bencode::Dict d;
  for (const auto& [key, value] : r.extra)
    if (!response_takes(key)) d.insert_or_assign(key, value);
  const auto bytes = [](const auto& array) {
    return std::string(reinterpret_cast<const char*>(array.data()), array.size());
  };
  d.insert_or_assign("id", r.id.to_byte_string());
  if (r.k) d.insert_or_assign("k", bytes(*r.k));
  if (r.nodes) d.insert_or_assign("nodes", encode_compact_nodes(*r.nodes, net::Family::v4));
  if (r.nodes6) d.insert_or_assign("nodes6", encode_compact_nodes(*r.nodes6, net::Family::v6));
  if (r.seq) d.insert_or_assign("seq", *r.seq);
  if (r.sig) d.insert_or_assign("sig", bytes(*r.sig));
  if (r.token) d.insert_or_assign("token", *r.token);
  if (r.v) d.insert_or_assign("v", r.v->value());
  if (r.values) {
    Value::List values;
    for (const net::Endpoint& ep : *r.values) {
      std::string peer;
      append_compact_peer(peer, ep);
      values.emplace_back(std::move(peer));
    }
    d.insert_or_assign("values", std::move(values));
  }
  return d;
}

}  // namespace

void encode_query(const Header& header, const Query& query, const Options& options,
                  wire::Buffer& out) {
  write_message(header, 'q', query.method_name(), options, out,
                [&](Writer& w) { write_args(w, query); });
}

void encode_response(const Header& header, const Response& response, const Options& options,
                     wire::Buffer& out) {
  write_message(header, 'r', {}, options, out,
                [&](Writer& w) { write_return_values(w, response); });
}

void encode_error(const Header& header, std::int64_t code, std::string_view message,
                  const Options& options, wire::Buffer& out) {
  write_message(header, 'e', {}, options, out, [&](Writer& w) {
    w.put('l');
    w.integer(code);
    w.string(message);
    w.put('e');
  });
}

void encode(const Message& message, const Options& options, wire::Buffer& out) {
  const Header h = header_of(message);
  if (const Query* q = message.query()) return encode_query(h, *q, options, out);
  if (const Response* r = message.response()) return encode_response(h, *r, options, out);
  const ErrorReply& e = *message.error();
  encode_error(h, e.code, e.message, options, out);
}

bencode::Value to_value(const Message& m, const Options& options) {
  bencode::Dict d;
  d.insert_or_assign("t", std::string(m.tid.view()));
  if (m.version) d.insert_or_assign("v", *m.version);
  if (m.read_only) d.insert_or_assign("ro", 1);
  if (m.ip) {
    std::string ip;
    append_compact_peer(ip, *m.ip);
    d.insert_or_assign("ip", std::move(ip));
  }
  if (!options.network_id.empty()) d.insert_or_assign(std::string(kNetworkKey), options.network_id);
  if (const Query* q = m.query()) {
    d.insert_or_assign("y", "q");
    d.insert_or_assign("q", std::string(q->method_name()));
    d.insert_or_assign("a", args_value(*q));
  } else if (const Response* r = m.response()) {
    d.insert_or_assign("y", "r");
    d.insert_or_assign("r", return_value(*r));
  } else {
    const ErrorReply& e = *m.error();
    d.insert_or_assign("y", "e");
    d.insert_or_assign("e", Value::List{e.code, e.message});
  }
  return d;
}

// ---------------------------------------------------------------------------
// Builders

Query ping(const NodeId& self) {
  Query q;
  q.method = Method::ping;
  q.id = self;
  return q;
}

Query find_node(const NodeId& self, const NodeId& target, Want want) {
  Query q;
  q.method = Method::find_node;
  q.id = self;
  q.target = target;
  q.want = want;
  return q;
}

Query get_peers(const NodeId& self, const NodeId& info_hash, Want want, bool bootstrap) {
  Query q;
  q.method = Method::get_peers;
  q.id = self;
  q.info_hash = info_hash;
  q.want = want;
  q.bootstrap = bootstrap;
  return q;
}

Query announce_peer(const NodeId& self, const NodeId& info_hash, std::uint16_t port,
                    std::string token, bool implied_port) {
  Query q;
  q.method = Method::announce_peer;
  q.id = self;
  q.info_hash = info_hash;
  q.port = port;
  q.implied_port = implied_port;
  q.token = std::move(token);
  return q;
}

Query get_item(const NodeId& self, const NodeId& target, std::optional<std::int64_t> seq,
               Want want) {
  Query q;
  q.method = Method::get;
  q.id = self;
  q.target = target;
  q.seq = seq;
  q.want = want;
  return q;
}

Query put_immutable(const NodeId& self, std::string token, Item v) {
  Query q;
  q.method = Method::put;
  q.id = self;
  q.token = std::move(token);
  q.v = std::move(v);
  return q;
}

Query put_mutable(const NodeId& self, std::string token, Item v, const PublicKey& k,
                  const Signature& sig, std::int64_t seq, std::string salt,
                  std::optional<std::int64_t> cas) {
  Query q = put_immutable(self, std::move(token), std::move(v));
  q.k = k;
  q.sig = sig;
  q.seq = seq;
  if (!salt.empty()) q.salt = std::move(salt);
  q.cas = cas;
  return q;
}

Query extension(const NodeId& self, std::string name, bencode::Dict args) {
  Query q;
  q.method = Method::extension;
  q.name = std::move(name);
  q.id = self;
  q.extra = std::move(args);
  return q;
}

}  // namespace nexo::overlay::krpc
