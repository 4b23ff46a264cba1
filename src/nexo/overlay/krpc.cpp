// KRPC parsing (krpc.hpp). One pass over the decoded tree: the top-level keys, then the
// body of the kind `y` names. Every refusal goes through Parser::fail(), which names the
// message ("get_peers query", "response") and the key.
#include "nexo/overlay/krpc.hpp"

#include <cstring>
#include <utility>

#include "nexo/overlay/krpc_keys.hpp"

namespace nexo::overlay::krpc {
namespace {

using bencode::Value;
using namespace detail;

// A method name as it may appear in an error message: printable ASCII, the rest escaped,
// at most 32 bytes of it (names come from the network).
std::string printable(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < name.size() && i < 32; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (name.size() > 32) out += "...";
  return out;
}

Method method_of(std::string_view name) noexcept {
  if (name == "ping") return Method::ping;
  if (name == "find_node") return Method::find_node;
  if (name == "get_peers") return Method::get_peers;
  if (name == "announce_peer") return Method::announce_peer;
  if (name == "get") return Method::get;
  if (name == "put") return Method::put;
  if (name.starts_with(kExtensionPrefix)) return Method::extension;
  return Method::unknown;
}

// What the parse learnt before it stopped: enough for rejection().
struct State {
  std::optional<Tid> tid;
  bool query = false;
  ErrorCode code = ErrorCode::protocol;
};

class Parser {
 public:
  Parser(const Options& options, State& state) : options_(options), state_(state) {}

  Result<Message> run(std::span<const std::byte> datagram);

 private:
  Error fail(std::string_view key, std::string_view what,
             ErrorKind kind = ErrorKind::malformed) const {
    std::string text = "krpc: " + context_ + ": ";
    if (!key.empty()) text += "key \"" + std::string(key) + "\": ";
    text += what;
    return Error(kind, std::move(text));
  }
  Error missing(std::string_view key) const {
    return fail({}, "missing key \"" + std::string(key) + "\"");
  }
  Error wrong_kind(std::string_view key, const Value& v, Value::Kind want) const {
    return fail(key, "expected " + std::string(kind_name(want)) + ", found " +
                         std::string(kind_name(v.kind())));
  }

  Result<std::string_view> string(std::string_view key, const Value& v) const {
    if (!v.is_string()) return wrong_kind(key, v, Value::Kind::string);
    return std::string_view(v.string());
  }
  Result<std::int64_t> integer(std::string_view key, const Value& v) const {
    if (!v.is_integer()) return wrong_kind(key, v, Value::Kind::integer);
    return v.integer();
  }
  // A string of exactly N bytes.
  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> fixed(std::string_view key, const Value& v) const {
    auto s = string(key, v);
    if (!s) return std::move(s).error();
    if (s->size() != N)
      return fail(key,
                  "expected " + std::to_string(N) + " bytes, found " + std::to_string(s->size()));
    std::array<std::uint8_t, N> out;
    std::memcpy(out.data(), s->data(), N);
    return out;
  }
  Result<NodeId> id(std::string_view key, const Value& v) const {
    auto bytes = fixed<kNodeIdBytes>(key, v);
    if (!bytes) return std::move(bytes).error();
    return NodeId(*bytes);
  }
  Result<Item> item(std::string_view key, Value&& v) const;
  Result<net::Endpoint> peer(std::string_view key, const Value& v) const;
  Result<std::vector<NodeInfo>> nodes(std::string_view key, const Value& v,
                                      net::Family family) const;

  Result<void> header(Value& root, Message& m);
  Result<Query> query(Value& root);
  Result<void> query_arg(QueryKey key, Value& v, Query& q);
  Result<void> check_query(const Query& q) const;
  Result<Response> response(Value& root);
  Result<void> response_value(std::string_view key, Value& v, Response& r);
  Result<ErrorReply> error(const Value& root);

  const Options& options_;
  State& state_;
  std::string context_ = "message";
  Kind kind_ = Kind::error;
};

Result<Item> Parser::item(std::string_view key, Value&& v) const {
  auto it = Item::from_value(std::move(v));
  if (!it) return fail(key, it.error().message(), it.error().kind());
  return std::move(*it);
}

Result<net::Endpoint> Parser::peer(std::string_view key, const Value& v) const {
  auto s = string(key, v);
  if (!s) return std::move(s).error();
  auto ep = decode_compact_peer(*s);
  if (!ep) return fail(key, ep.error().message());
  // One form for an IPv4 peer, whatever the sender wrote (it re-encodes as 6 bytes).
  return net::Endpoint(ep->address().unmapped(), ep->port());
}

Result<std::vector<NodeInfo>> Parser::nodes(std::string_view key, const Value& v,
                                            net::Family family) const {
  auto s = string(key, v);
  if (!s) return std::move(s).error();
  auto list = decode_compact_nodes(*s, family);
  if (!list) return fail(key, list.error().message());
  if (family == net::Family::v6)
    for (std::size_t i = 0; i < list->size(); ++i)
      if ((*list)[i].endpoint.address().is_v4_mapped())  // belongs in `nodes`
        return fail(key, "entry " + std::to_string(i) + ": an IPv4-mapped address");
  return list;
}

Result<Message> Parser::run(std::span<const std::byte> datagram) {
  auto decoded = bencode::decode(datagram, datagram_limits());
  if (!decoded) return std::move(decoded).error().with_context("krpc");
  Value& root = *decoded;
  if (!root.is_dict())
    return fail({}, "expected a dictionary, found " + std::string(kind_name(root.kind())));
  Message m;
  if (auto h = header(root, m); !h) return std::move(h).error();
  if (kind_ == Kind::query) {
    auto q = query(root);
    if (!q) return std::move(q).error();
    m.body = std::move(*q);
  } else if (kind_ == Kind::response) {
    auto r = response(root);
    if (!r) return std::move(r).error();
    m.body = std::move(*r);
  } else {
    auto e = error(root);
    if (!e) return std::move(e).error();
    m.body = std::move(*e);
  }
  return m;
}

// t, y and the optional top-level keys; leaves context_ naming the kind.
Result<void> Parser::header(Value& root, Message& m) {
  const Value* t = root.find("t");
  if (t == nullptr) return missing("t");
  auto tb = string("t", *t);
  if (!tb) return std::move(tb).error();
  auto tid = Tid::from(*tb);
  if (!tid)
    return fail("t", std::to_string(tb->size()) + " bytes, more than " +
                         std::to_string(kMaxTransactionBytes));
  m.tid = *tid;
  state_.tid = *tid;

  const Value* y = root.find("y");
  if (y == nullptr) return missing("y");
  auto yb = string("y", *y);
  if (!yb) return std::move(yb).error();
  if (*yb != "q" && *yb != "r" && *yb != "e")
    return fail("y", "expected \"q\", \"r\" or \"e\", found \"" + printable(*yb) + "\"");
  kind_ = *yb == "q" ? Kind::query : *yb == "r" ? Kind::response : Kind::error;
  state_.query = kind_ == Kind::query;
  context_ = *yb == "q" ? "query" : *yb == "r" ? "response" : "error";

  if (const Value* v = root.find("v")) {
    auto s = string("v", *v);
    if (!s) return std::move(s).error();
    m.version = std::string(*s);
  }
  if (const Value* ro = root.find("ro")) {
    auto n = integer("ro", *ro);
    if (!n) return std::move(n).error();
    m.read_only = *n != 0;
  }
  if (const Value* ip = root.find("ip")) {
    auto ep = peer("ip", *ip);
    if (!ep) return std::move(ep).error();
    m.ip = *ep;
  }
  const Value* nx = root.find(kNetworkKey);
  if (nx != nullptr) {
    auto s = string(kNetworkKey, *nx);
    if (!s) return std::move(s).error();
    m.network = *s == options_.network_id ? Network::match : Network::foreign;
  } else {
    m.network = options_.network_id.empty() ? Network::match : Network::missing;
  }
  return ok();
}

Result<Query> Parser::query(Value& root) {
  Query q;
  const Value* name = root.find("q");
  if (name == nullptr) return missing("q");
  auto nb = string("q", *name);
  if (!nb) return std::move(nb).error();
  q.method = method_of(*nb);
  if (q.method == Method::extension || q.method == Method::unknown) q.name = std::string(*nb);
  context_ = printable(*nb) + " query";

  Value* a = root.dict().find("a");
  if (a == nullptr) return missing("a");
  if (!a->is_dict()) return wrong_kind("a", *a, Value::Kind::dict);
  const std::uint32_t takes = method_keys(q.method);
  bool has_id = false;
  for (const auto& [key, value] : a->dict()) {
    const int index = query_key_index(key);
    if (index < 0 || (takes & bit(static_cast<QueryKey>(index))) == 0) {
      q.extra.append(key, value);  // in order: the input's
      continue;
    }
    has_id = has_id || index == kId;
    // The tree is ours (not const); only `v` is moved out, and not looked at again.
    if (auto r = query_arg(static_cast<QueryKey>(index), const_cast<Value&>(value), q); !r)
      return std::move(r).error();
  }
  if (!has_id) return missing("id");
  if (auto r = check_query(q); !r) return std::move(r).error();
  return q;
}

Result<void> Parser::query_arg(QueryKey key, Value& v, Query& q) {
  const std::string_view name = kQueryKeys[key];
  switch (key) {
    case kId:
    case kTarget:
    case kInfoHash: {
      auto parsed = id(name, v);
      if (!parsed) return std::move(parsed).error();
      (key == kId ? q.id : key == kTarget ? q.target.emplace() : q.info_hash.emplace()) = *parsed;
      return ok();
    }
    case kWant: {
      if (!v.is_list()) return wrong_kind(name, v, Value::Kind::list);
      for (const Value& w : v.list()) {
        if (!w.is_string()) return fail(name, "entries must be byte strings");
        q.want.n4 = q.want.n4 || w.string() == "n4";
        q.want.n6 = q.want.n6 || w.string() == "n6";
      }
      return ok();
    }
    case kBs:
    case kImpliedPort: {
      auto n = integer(name, v);
      if (!n) return std::move(n).error();
      (key == kBs ? q.bootstrap : q.implied_port) = *n != 0;
      return ok();
    }
    case kPort: {
      auto n = integer(name, v);
      if (!n) return std::move(n).error();
      if (*n < 0 || *n > 65535) return fail(name, std::to_string(*n) + " is not a port");
      q.port = static_cast<std::uint16_t>(*n);
      return ok();
    }
    case kSeq:
    case kCas: {
      auto n = integer(name, v);
      if (!n) return std::move(n).error();
      (key == kSeq ? q.seq : q.cas) = *n;
      return ok();
    }
    case kToken:
    case kSalt: {
      auto s = string(name, v);
      if (!s) return std::move(s).error();
      if (key == kSalt && s->size() > kMaxSaltBytes) {
        state_.code = ErrorCode::salt_too_big;
        return fail(name,
                    std::to_string(s->size()) + " bytes, more than " +
                        std::to_string(kMaxSaltBytes) + " (BEP 44)",
                    ErrorKind::too_large);
      }
      (key == kToken ? q.token : q.salt) = std::string(*s);
      return ok();
    }
    case kK: {
      auto k = fixed<kPublicKeyBytes>(name, v);
      if (!k) return std::move(k).error();
      q.k = *k;
      return ok();
    }
    case kSig: {
      auto sig = fixed<kSignatureBytes>(name, v);
      if (!sig) return std::move(sig).error();
      q.sig = *sig;
      return ok();
    }
    case kV: {
      auto it = item(name, std::move(v));
      if (!it) {
        if (it.error().is(ErrorKind::too_large)) state_.code = ErrorCode::message_too_big;
        return std::move(it).error();
      }
      q.v = std::move(*it);
      return ok();
    }
    case kQueryKeyCount:
      break;
  }
  return ok();
}

// The required arguments of q's method (id is checked by the caller).
Result<void> Parser::check_query(const Query& q) const {
  switch (q.method) {
    case Method::find_node:
    case Method::get:
      if (!q.target) return missing("target");
      return ok();
    case Method::get_peers:
      if (!q.info_hash) return missing("info_hash");
      return ok();
    case Method::announce_peer:
      if (!q.info_hash) return missing("info_hash");
      if (!q.port && !q.implied_port) return missing("port");
      if (!q.token) return missing("token");
      return ok();
    case Method::put:
      if (!q.token) return missing("token");
      if (!q.v) return missing("v");
      if (q.k || q.sig || q.seq || q.salt || q.cas) {  // a mutable item
        if (!q.k) return missing("k");
        if (!q.sig) return missing("sig");
        if (!q.seq) return missing("seq");
      }
      return ok();
    case Method::ping:
    case Method::extension:
    case Method::unknown:
      break;
  }
  return ok();
}

Result<Response> Parser::response(Value& root) {
  Value* r = root.dict().find("r");
  if (r == nullptr) return missing("r");
  if (!r->is_dict()) return wrong_kind("r", *r, Value::Kind::dict);
  Response out;
  bool has_id = false;
  for (const auto& [key, value] : r->dict()) {
    if (!response_takes(key)) {
      out.extra.append(key, value);
      continue;
    }
    has_id = has_id || key == "id";
    if (auto done = response_value(key, const_cast<Value&>(value), out); !done)
      return std::move(done).error();
  }
  if (!has_id) return missing("id");
  return out;
}

Result<void> Parser::response_value(std::string_view key, Value& v, Response& r) {
  if (key == "id") {
    auto parsed = id(key, v);
    if (!parsed) return std::move(parsed).error();
    r.id = *parsed;
  } else if (key == "nodes" || key == "nodes6") {
    auto list = nodes(key, v, key == "nodes" ? net::Family::v4 : net::Family::v6);
    if (!list) return std::move(list).error();
    (key == "nodes" ? r.nodes : r.nodes6) = std::move(*list);
  } else if (key == "values") {
    if (!v.is_list()) return wrong_kind(key, v, Value::Kind::list);
    auto& values = r.values.emplace();
    values.reserve(v.list().size());
    for (const Value& entry : v.list()) {
      auto ep = peer(key, entry);
      if (!ep) return std::move(ep).error();
      values.push_back(*ep);
    }
  } else if (key == "token") {
    auto s = string(key, v);
    if (!s) return std::move(s).error();
    r.token = std::string(*s);
  } else if (key == "v") {
    auto it = item(key, std::move(v));
    if (!it) return std::move(it).error();
    r.v = std::move(*it);
  } else if (key == "k") {
    auto k = fixed<kPublicKeyBytes>(key, v);
    if (!k) return std::move(k).error();
    r.k = *k;
  } else if (key == "sig") {
    auto sig = fixed<kSignatureBytes>(key, v);
    if (!sig) return std::move(sig).error();
    r.sig = *sig;
  } else if (key == "seq") {
    auto n = integer(key, v);
    if (!n) return std::move(n).error();
    r.seq = *n;
  }
  return ok();
}

Result<ErrorReply> Parser::error(const Value& root) {
  const Value* e = root.find("e");
  if (e == nullptr) return missing("e");
  if (!e->is_list()) return wrong_kind("e", *e, Value::Kind::list);
  const auto& list = e->list();
  if (list.size() != 2 || !list[0].is_integer() || !list[1].is_string())
    return fail("e", "expected [code, message], an integer and a byte string");
  return ErrorReply{list[0].integer(), list[1].string()};
}

Result<Message> parse_with(std::span<const std::byte> datagram, const Options& options,
                           State& state) {
  Parser parser(options, state);
  return parser.run(datagram);
}

}  // namespace

wire::Limits datagram_limits() noexcept {
  wire::Limits limits;
  limits.max_depth = 10;
  limits.max_bytes = 64u << 10;
  limits.max_string = 64u << 10;
  limits.max_elements = 8192;
  limits.max_decoded = 1u << 20;
  return limits;
}

std::optional<Tid> Tid::from(std::string_view bytes) noexcept {
  if (bytes.size() > kMaxTransactionBytes) return std::nullopt;
  Tid tid;
  if (!bytes.empty()) std::memcpy(tid.bytes_.data(), bytes.data(), bytes.size());
  tid.size_ = static_cast<std::uint8_t>(bytes.size());
  return tid;
}

Tid Tid::from_u16(std::uint16_t id) noexcept {
  const char bytes[2] = {static_cast<char>(id >> 8), static_cast<char>(id & 0xff)};
  return *from(std::string_view(bytes, 2));
}

std::string_view to_string(Method method) noexcept {
  switch (method) {
    case Method::ping:
      return "ping";
    case Method::find_node:
      return "find_node";
    case Method::get_peers:
      return "get_peers";
    case Method::announce_peer:
      return "announce_peer";
    case Method::get:
      return "get";
    case Method::put:
      return "put";
    case Method::extension:
      return "extension";
    case Method::unknown:
      break;
  }
  return "unknown";
}

std::string_view Query::method_name() const noexcept {
  if (method == Method::extension || method == Method::unknown) return name;
  return to_string(method);
}

Result<Item> Item::from_value(bencode::Value value) {
  wire::Buffer buffer;
  bencode::encode(value, buffer);
  if (buffer.size() > kMaxItemBytes)
    return Error(ErrorKind::too_large, "encoding of " + std::to_string(buffer.size()) +
                                           " bytes, more than " + std::to_string(kMaxItemBytes) +
                                           " (BEP 44)");
  return Item(std::move(value), std::string(buffer.text()));
}

Result<Item> Item::from_encoded(std::string_view bytes) {
  if (bytes.size() > kMaxItemBytes)
    return Error(ErrorKind::too_large, "encoding of " + std::to_string(bytes.size()) +
                                           " bytes, more than " + std::to_string(kMaxItemBytes) +
                                           " (BEP 44)");
  auto value = bencode::decode(bytes, datagram_limits());
  if (!value) return std::move(value).error();
  return Item(std::move(*value), std::string(bytes));
}

Result<Message> parse(std::span<const std::byte> datagram, const Options& options) {
  State state;
  return parse_with(datagram, options, state);
}

Result<Message> parse(std::string_view datagram, const Options& options) {
  return parse(as_bytes(datagram), options);
}

std::optional<Rejection> rejection(std::span<const std::byte> datagram, const Options& options) {
  State state;
  auto parsed = parse_with(datagram, options, state);
  if (parsed || !state.tid || !state.query) return std::nullopt;
  return Rejection{*state.tid, state.code, parsed.error().message()};
}

std::optional<Tid> transaction_of(std::span<const std::byte> datagram) {
  State state;
  (void)parse_with(datagram, Options{}, state);
  return state.tid;
}

}  // namespace nexo::overlay::krpc
