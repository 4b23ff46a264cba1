// The arguments and return values of the super-peer queries (super_peer.hpp): checked
// reads of an extension query's `a` and a response's `r`, shared by super_peer*.cpp.
// Private to the library.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "nexo/overlay/compact.hpp"
#include "nexo/overlay/node.hpp"
#include "nexo/overlay/super_peer.hpp"

namespace nexo::overlay::superpeer {

namespace bencode = wire::bencode;

inline constexpr std::string_view kAttach = "nexo_attach";
inline constexpr std::string_view kKeepalive = "nexo_keepalive";
inline constexpr std::string_view kSupers = "nexo_supers";
inline constexpr std::string_view kProbe = "nexo_probe";
inline constexpr std::string_view kProbeSend = "nexo_probe_send";
inline constexpr std::string_view kProbePing = "nexo_probe_ping";
inline constexpr std::string_view kLookup = "nexo_lookup";
inline constexpr std::string_view kPublish = "nexo_publish";
inline constexpr std::string_view kRelay = "nexo_relay";
inline constexpr std::string_view kDeliver = "nexo_deliver";
inline constexpr std::string_view kDetach = "nexo_detach";

// What went wrong with an argument, for a 203 answer: "nexo_relay: key \"t\": ...".
struct ArgError {
  std::string message;
};

// The byte string under `key`: absent (nullopt when optional) or of the wrong type or
// length range is an ArgError.
inline std::variant<std::string_view, ArgError> string_arg(const bencode::Dict& args,
                                                           std::string_view method,
                                                           std::string_view key, std::size_t min,
                                                           std::size_t max) {
  const bencode::Value* v = args.find(key);
  const std::string head = std::string(method) + ": key \"" + std::string(key) + "\": ";
  if (!v) return ArgError{head + "missing"};
  if (!v->is_string()) return ArgError{head + "expected a byte string"};
  const std::string& s = v->string();
  if (s.size() < min || s.size() > max)
    return ArgError{head + "length " + std::to_string(s.size()) + ", expected " +
                    std::to_string(min) + ".." + std::to_string(max)};
  return std::string_view(s);
}

inline std::variant<std::int64_t, ArgError> int_arg(const bencode::Dict& args,
                                                    std::string_view method, std::string_view key) {
  const bencode::Value* v = args.find(key);
  const std::string head = std::string(method) + ": key \"" + std::string(key) + "\": ";
  if (!v) return ArgError{head + "missing"};
  if (!v->is_integer()) return ArgError{head + "expected an integer"};
  return v->integer();
}

// One compact peer (6 or 18 bytes).
inline std::variant<net::Endpoint, ArgError> peer_arg(const bencode::Dict& args,
                                                      std::string_view method,
                                                      std::string_view key) {
  auto s = string_arg(args, method, key, kCompactPeerV4, kCompactPeerV6);
  if (auto* e = std::get_if<ArgError>(&s)) return *e;
  auto peer = decode_compact_peer(std::get<std::string_view>(s));
  if (!peer)
    return ArgError{std::string(method) + ": key \"" + std::string(key) +
                    "\": " + peer.error().to_string()};
  return *peer;
}

inline std::string compact_peer(const net::Endpoint& endpoint) {
  std::string out;
  append_compact_peer(out, endpoint);
  return out;
}

inline std::string nonce_bytes(std::uint64_t nonce) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &nonce, 8);
  return out;
}

inline std::uint64_t nonce_of(std::string_view bytes) {
  std::uint64_t nonce = 0;
  std::memcpy(&nonce, bytes.data(), std::min<std::size_t>(8, bytes.size()));
  return nonce;
}

// The response of a reply, or nullptr (an error reply, or no reply).
inline const krpc::Response* response_of(const ExtensionReply& reply) {
  return std::get_if<krpc::Response>(&reply);
}
// (Out of line: GCC 12 inlining it into some callbacks warns maybe-uninitialized.)
const krpc::Response* response_of(const Result<ExtensionReply>& reply);

// A failed reply as an Error: the KRPC error (refused) or the transport's.
inline Error reply_error(const Result<ExtensionReply>& reply, std::string_view what) {
  if (!reply) return reply.error().with_context(std::string(what));
  const auto& e = std::get<krpc::ErrorReply>(*reply);
  return Error(ErrorKind::refused,
               std::string(what) + ": error " + std::to_string(e.code) + " \"" + e.message + "\"");
}

}  // namespace nexo::overlay::superpeer

namespace nexo::overlay {

// A message of ours in progress (super_peer_directory.cpp).
struct Peer::Message {
  std::uint64_t id = 0;
  std::string name;
  PublicKey key{};
  std::string text;
  MessageCallback done;
  std::uint32_t attempts = 0;
  Time started;
  Time due = Time::max();  // the next attempt, or the callback once `result` is set
  std::optional<Result<DeliveryReport>> result;
};

}  // namespace nexo::overlay
