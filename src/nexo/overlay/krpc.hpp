// KRPC — the messages of the Mainline DHT (BEP 5), with the keys of BEP 32 (IPv6), 42 (the
// requester's address), 43 (read-only nodes) and 44 (arbitrary data): a parser and
// encoders, sans-I/O (bytes in, a Message out; a Message in, bytes out).
//
// A message is one bencoded dictionary (wire/bencode.hpp) in one UDP datagram:
//
//   key   in               value
//   t     every message    transaction id: opaque bytes, echoed by the reply (<= 16 here)
//   y     every message    "q" query, "r" response, "e" error
//   v     any (optional)   client version, binary ("LT" + 2 bytes for libtorrent)
//   q     query            method name: ping find_node get_peers announce_peer get put ...
//   a     query            arguments, a dictionary (below); always holds `id`
//   ro    query (BEP 43)   1: the sender is read-only, keep it out of routing tables
//   r     response         return values, a dictionary (below); always holds `id`
//   ip    response(BEP 42) the requester's address as seen by the replier (compact peer),
//                          at the top level of the message, not inside `r`
//   e     error            a list [code, message]: 201 generic, 202 server, 203 protocol,
//                          204 method unknown; BEP 44: 205 message too big, 206 invalid
//                          signature, 207 salt too big, 301 CAS mismatch, 302 sequence
//                          number less than current
//   nx    any (nexo)       the network id of a private overlay (below); no BEP uses "nx"
//
// Arguments (`a`) by method; * marks the required ones:
//   ping            id*
//   find_node       id* target* want
//   get_peers       id* info_hash* want bs (libtorrent's bootstrap marker)
//   announce_peer   id* info_hash* port* (not needed with implied_port 1) implied_port token*
//   get  (BEP 44)   id* target* seq (only if newer) want
//   put  (BEP 44)   id* token* v*, and for a mutable item k* sig* seq* salt cas
// Return values (`r`), for every method (a response does not name its query: the node
// reads it against the query it sent): id* nodes nodes6 values token v k sig seq.
//
// Strict: every required key present, every key of the right type and size, else a
// malformed error naming the key and the message ("krpc: get_peers query: key
// \"info_hash\": expected 20 bytes, found 19"). Ids, info-hashes and targets are exactly
// 20 bytes, k 32, sig 64; `nodes` a multiple of 26 bytes, `nodes6` of 38; `values` 6 or 18
// bytes each; ports nonzero (compact.hpp); salt <= 64 bytes and v's encoding <= 1000 bytes
// (BEP 44; refused with too_large, answered 207 and 205). An IPv4-mapped address in
// `nodes6` is refused (it belongs in `nodes`); in `values` and `ip` it is kept as IPv4 (it
// re-encodes in 6 bytes). Flags (ro, bs, implied_port) are any integer, nonzero = set. Keys this
// codec does not know (libtorrent's `p` in `r`, `n` and `seed` in announce_peer, ...) are accepted,
// kept in `extra` and written back in their place; unknown keys at the top level are dropped. The
// bencode decode is bounded for a datagram (datagram_limits()). Never reads past the input. A
// malformed query that still has a readable `t` deserves an error reply: rejection() says which.
//
// Extension queries. A method whose name starts with "nexo_" (kExtensionPrefix) is ours:
// Method::extension, its arguments other than `id` kept whole in `extra`. Any other unknown
// name parses as Method::unknown (name kept) so that the node can answer 204, as KRPC
// nodes answer ours. Their replies are ordinary responses: the extension's return values
// are in Response::extra.
//
// Network id. A private overlay may share a port, or a host, with the public DHT. With
// Options::network_id set, every message encoded carries it under "nx", and parse()
// reports in Message::network whether a message carries the same one, so that the node
// drops (and counts) traffic from other overlays. A public Mainline node has none, and
// then a message that carries one is foreign.
//
// Encoding is canonical bencode (keys in byte order), written straight into a caller's
// wire::Buffer in key order: no tree, and no allocation once the buffer is warm. to_value()
// builds the same message as a bencode::Value (the reference the tests compare bytes with).
//
// Free functions over values; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/compact.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/wire/bencode.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"

namespace nexo::overlay::krpc {

namespace bencode = wire::bencode;

inline constexpr std::size_t kMaxTransactionBytes = 16;
inline constexpr std::size_t kMaxItemBytes = 1000;  // BEP 44: v's bencoded size
inline constexpr std::size_t kMaxSaltBytes = 64;    // BEP 44
inline constexpr std::size_t kPublicKeyBytes = 32;  // ed25519
inline constexpr std::size_t kSignatureBytes = 64;  // ed25519
inline constexpr std::string_view kExtensionPrefix = "nexo_";
inline constexpr std::string_view kNetworkKey = "nx";

// The decoder's bounds for one datagram: input and strings <= 64 KiB, nesting <= 10
// (libtorrent decodes DHT packets with a depth limit of 10), <= 8192 items in one list or
// dictionary, <= 1 MiB for the decoded tree.
wire::Limits datagram_limits() noexcept;

// KRPC's `t`: up to 16 opaque bytes, held inline (no allocation).
class Tid {
 public:
  Tid() noexcept = default;
  // nullopt when longer than kMaxTransactionBytes.
  static std::optional<Tid> from(std::string_view bytes) noexcept;
  // The 2 big-endian bytes nexo issues (rpc_table.hpp's TransactionId).
  static Tid from_u16(std::uint16_t id) noexcept;

  std::string_view view() const noexcept { return {bytes_.data(), size_}; }
  std::size_t size() const noexcept { return size_; }

  friend bool operator==(const Tid& a, const Tid& b) noexcept { return a.view() == b.view(); }

 private:
  std::array<char, kMaxTransactionBytes> bytes_{};
  std::uint8_t size_ = 0;
};

enum class Method : std::uint8_t {
  ping,
  find_node,
  get_peers,
  announce_peer,
  get,
  put,
  extension,  // a name starting with kExtensionPrefix
  unknown,    // any other name: answer 204
};
// "ping", "find_node", ...; "extension" and "unknown" for the last two (their names are in
// Query::name).
std::string_view to_string(Method method) noexcept;

enum class ErrorCode : std::int64_t {
  generic = 201,
  server = 202,
  protocol = 203,        // malformed query
  method_unknown = 204,  // a method this node does not know
  message_too_big = 205,
  invalid_signature = 206,
  salt_too_big = 207,
  cas_mismatch = 301,
  sequence_too_low = 302,
};

// BEP 32's `want`: which families of nodes the requester wants back.
struct Want {
  bool n4 = false;
  bool n6 = false;
  bool any() const noexcept { return n4 || n6; }
  friend bool operator==(const Want&, const Want&) noexcept = default;
};

using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;
using Signature = std::array<std::uint8_t, kSignatureBytes>;

// A BEP 44 value: any bencode value whose encoding is at most 1000 bytes, with that
// (canonical) encoding, which its key and signature are computed over.
class Item {
 public:
  // Errors: too_large when the encoding exceeds kMaxItemBytes.
  static Result<Item> from_value(bencode::Value value);
  // Errors: the bencode decoder's, or too_large.
  static Result<Item> from_encoded(std::string_view bytes);

  const bencode::Value& value() const noexcept { return value_; }
  std::string_view encoded() const noexcept { return encoded_; }

  friend bool operator==(const Item& a, const Item& b) { return a.encoded_ == b.encoded_; }

 private:
  Item(bencode::Value value, std::string encoded)
      : value_(std::move(value)), encoded_(std::move(encoded)) {}
  bencode::Value value_;
  std::string encoded_;
};

// A query's method and arguments. Fields the method does not take (see the table at the
// top) are not written by the encoder.
struct Query {
  Method method = Method::ping;
  std::string name;              // the name as sent, for extension and unknown methods; else empty
  NodeId id;                     // the sender
  std::optional<NodeId> target;  // find_node, get
  std::optional<NodeId> info_hash;    // get_peers, announce_peer
  Want want;                          // find_node, get_peers, get (absent when none)
  bool bootstrap = false;             // get_peers: "bs": 1
  std::optional<std::uint16_t> port;  // announce_peer
  bool implied_port = false;          // announce_peer: use the datagram's source port
  std::optional<std::string> token;   // announce_peer, put
  std::optional<PublicKey> k;         // put (mutable)
  std::optional<Signature> sig;       // put (mutable)
  std::optional<std::int64_t> seq;    // put (mutable); get: only an item newer than this
  std::optional<std::int64_t> cas;    // put (mutable): the seq the item must have now
  std::optional<std::string> salt;    // put (mutable), <= 64 bytes
  std::optional<Item> v;              // put
  // The arguments this codec does not interpret: unknown keys of a known method, and all
  // but `id` of an extension or unknown one (its raw `a`). Keys the method takes (above)
  // are ignored here by the encoder.
  bencode::Dict extra;

  std::string_view method_name() const noexcept;  // name, or to_string(method)
  bool operator==(const Query&) const = default;
};

// A response's return values: everything any reply may carry.
struct Response {
  NodeId id;                                         // the replier
  std::optional<std::vector<NodeInfo>> nodes;        // IPv4 contacts (others are not written)
  std::optional<std::vector<NodeInfo>> nodes6;       // IPv6 contacts (BEP 32)
  std::optional<std::vector<net::Endpoint>> values;  // get_peers: peers, either family
  std::optional<std::string> token;                  // get_peers, get
  std::optional<Item> v;                             // get (BEP 44)
  std::optional<PublicKey> k;
  std::optional<Signature> sig;
  std::optional<std::int64_t> seq;
  bencode::Dict extra;  // return values this codec does not interpret (an extension's)

  bool operator==(const Response&) const = default;
};

// An error message's `e`.
struct ErrorReply {
  std::int64_t code = static_cast<std::int64_t>(ErrorCode::generic);
  std::string message;
  bool operator==(const ErrorReply&) const = default;
};

enum class Kind : std::uint8_t { query, response, error };

// What parse() found of a message's network id (set by parse(); encode() ignores it and
// writes Options::network_id).
enum class Network : std::uint8_t {
  match,    // the same id as ours, or neither has one
  missing,  // we have one, the message none (a public Mainline node)
  foreign,  // a different one (another private overlay), or one when we have none
};

struct Message {
  Tid tid;
  std::optional<std::string> version;  // `v`, binary
  bool read_only = false;              // `ro` (BEP 43; queries)
  std::optional<net::Endpoint> ip;     // `ip` (BEP 42; responses): the requester's address
  std::variant<Query, Response, ErrorReply> body;
  Network network = Network::match;

  Kind kind() const noexcept { return static_cast<Kind>(body.index()); }
  Query* query() noexcept { return std::get_if<Query>(&body); }
  const Query* query() const noexcept { return std::get_if<Query>(&body); }
  Response* response() noexcept { return std::get_if<Response>(&body); }
  const Response* response() const noexcept { return std::get_if<Response>(&body); }
  ErrorReply* error() noexcept { return std::get_if<ErrorReply>(&body); }
  const ErrorReply* error() const noexcept { return std::get_if<ErrorReply>(&body); }

  bool operator==(const Message&) const = default;
};

struct Options {
  // The private overlay's id, sent as "nx" in every message; empty for the public DHT.
  std::string network_id;
};

// ---------------------------------------------------------------------------
// Parsing

// One datagram's message. Errors: malformed (naming the key and the message), too_large
// (a datagram limit, or BEP 44's salt and v bounds). Allocates the decoded tree and what
// the message keeps (node lists, tokens, extra keys).
Result<Message> parse(std::span<const std::byte> datagram, const Options& options = {});
Result<Message> parse(std::string_view datagram, const Options& options = {});

// The error reply a datagram that parse() refused deserves: a query whose `t` could be
// read gets one (code 203, or 205/207 for an oversized v/salt); a response, an error, or
// bytes without a readable `t` get nothing (nullopt), as with libtorrent.
struct Rejection {
  Tid tid;
  ErrorCode code = ErrorCode::protocol;
  std::string message;  // parse()'s error message
};
std::optional<Rejection> rejection(std::span<const std::byte> datagram,
                                   const Options& options = {});
// The `t` of a datagram, if it is a bencoded dictionary with a readable one.
std::optional<Tid> transaction_of(std::span<const std::byte> datagram);

// ---------------------------------------------------------------------------
// Building and encoding. encode*() replace `out`'s contents with one datagram (keeping its
// capacity: a warm buffer is not reallocated). They never fail; a message missing a
// required field (build them with the functions below) is written as it is, and the
// receiver refuses it.

Query ping(const NodeId& self);
Query find_node(const NodeId& self, const NodeId& target, Want want = {});
Query get_peers(const NodeId& self, const NodeId& info_hash, Want want = {},
                bool bootstrap = false);
Query announce_peer(const NodeId& self, const NodeId& info_hash, std::uint16_t port,
                    std::string token, bool implied_port = false);
Query get_item(const NodeId& self, const NodeId& target, std::optional<std::int64_t> seq = {},
               Want want = {});
Query put_immutable(const NodeId& self, std::string token, Item v);
Query put_mutable(const NodeId& self, std::string token, Item v, const PublicKey& k,
                  const Signature& sig, std::int64_t seq, std::string salt = {},
                  std::optional<std::int64_t> cas = {});
// An extension query: `name` must start with kExtensionPrefix; `args` must not hold "id".
Query extension(const NodeId& self, std::string name, bencode::Dict args);

// The top-level keys besides the body.
struct Header {
  Tid tid;
  std::optional<std::string_view> version;  // `v`
  bool read_only = false;
  std::optional<net::Endpoint> ip;  // responses: the requester's address (BEP 42)
};

void encode_query(const Header& header, const Query& query, const Options& options,
                  wire::Buffer& out);
void encode_response(const Header& header, const Response& response, const Options& options,
                     wire::Buffer& out);
void encode_error(const Header& header, std::int64_t code, std::string_view message,
                  const Options& options, wire::Buffer& out);
inline void encode_error(const Header& header, ErrorCode code, std::string_view message,
                         const Options& options, wire::Buffer& out) {
  encode_error(header, static_cast<std::int64_t>(code), message, options, out);
}
void encode(const Message& message, const Options& options, wire::Buffer& out);

// The same message as a bencode tree (slow: the reference for tests and tools).
bencode::Value to_value(const Message& message, const Options& options);

}  // namespace nexo::overlay::krpc
