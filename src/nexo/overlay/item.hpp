// BEP 44 items, the values a Mainline DHT node stores under a key: immutable
// ones (the key is the SHA-1 of the value) and mutable ones (signed with
// ed25519; the key is the SHA-1 of the public key and a salt). This file has
// the rules an item must follow wherever it is met — on a storage node's put,
// in a get reply, when this node publishes — and the ed25519 keys to sign with;
// item_store.hpp stores them.
//
//   immutable   v (any bencoded value, its encoding at most 1000 bytes)
//               key = SHA-1(bencoded v)
//   mutable     k (32-byte ed25519 public key), salt (0..64 bytes), seq
//               (int64 >= 0), v (as above), sig (64 bytes)
//               key = SHA-1(k | salt)
//               sig = ed25519 signature of the buffer
//                     ["4:salt" <len> ":" salt] "3:seqi" <seq> "e1:v" <bencoded v>
//               the salt part only when the salt is non-empty: an empty salt
//               is the same as none (BEP 44)
//
// Values travel as their bencoded bytes (std::string): BEP 44 hashes and signs
// "the verbatim bencoded representation", and nexo's decoder accepts only the
// canonical encoding, so bytes read from a message and the re-encoding of the
// value decoded from them are the same.
//
// ed25519 is libsodium's (crypto_sign_verify_detached, crypto_sign_detached).
// BEP 44's test vectors and libtorrent give private keys in the expanded form
// of the reference implementation (SHA-512 of the seed, clamped: scalar |
// prefix, 64 bytes), which libsodium's signing API does not take; SigningKey
// takes both forms and signs the expanded one with libsodium's scalar and point
// primitives (RFC 8032, 5.1.6). Ed25519 signatures are deterministic, so both
// paths give the same bytes for the same key (the tests check it).
//
// Free functions and value types; thread-safe as values are.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "nexo/base/result.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/wire/bencode.hpp"

namespace nexo::overlay {

inline constexpr std::size_t kMaxItemValueBytes = 1000;  // bencoded v
inline constexpr std::size_t kMaxSaltBytes = 64;

using PublicKey = std::array<std::uint8_t, 32>;
using Signature = std::array<std::uint8_t, 64>;
using KeySeed = std::array<std::uint8_t, 32>;
using ExpandedSecret = std::array<std::uint8_t, 64>;  // libtorrent's private key form

// The outcome of storing an item, as a KRPC error code (BEP 5, BEP 44) or
// `stored` (0). The node answers a put with the code and describe(code).
enum class PutCode : std::uint16_t {
  stored = 0,
  server_error = 202,    // this node's quota for the writer's address is full
  protocol_error = 203,  // negative seq, a key or signature of the wrong size, bad bencode
  too_big = 205,         // bencoded v over 1000 bytes
  bad_signature = 206,
  salt_too_big = 207,  // salt over 64 bytes
  cas_mismatch = 301,  // cas given and not the stored seq
  seq_too_old = 302,   // seq below the stored one, or equal with another value
};

// The text of a KRPC error message for `code` ("message (v field) too big").
std::string_view describe(PutCode code) noexcept;

// The key of an immutable item: SHA-1 of its bencoded value.
NodeId immutable_target(std::string_view encoded_v) noexcept;
// The key of a mutable item: SHA-1 of the public key followed by the salt.
NodeId mutable_target(const PublicKey& key, std::string_view salt) noexcept;
// The bytes a mutable item's signature covers (see the top of this file).
std::string signature_buffer(std::string_view salt, std::int64_t seq, std::string_view encoded_v);
// True when `signature` is `key`'s ed25519 signature of `message`.
bool verify_signature(const PublicKey& key, const Signature& signature,
                      std::string_view message) noexcept;

// The canonical bencoding of v, as a byte string.
std::string encode_value(const wire::bencode::Value& v);
// Checks an immutable value's bytes: too_big over 1000 bytes, protocol_error
// when they are not exactly one canonical bencoded value, else stored.
PutCode check_immutable(std::string_view encoded_v);

// An ed25519 key pair that signs this node's own mutable items. Move-only;
// the secret is wiped (sodium_memzero) when the object dies.
class SigningKey {
 public:
  // From a 32-byte seed (RFC 8032's private key; libsodium's
  // crypto_sign_seed_keypair). Signs with crypto_sign_detached.
  static SigningKey from_seed(const KeySeed& seed) noexcept;
  // From a seed of cryptographic quality (libsodium's randombytes).
  static SigningKey generate() noexcept;
  // From the 64-byte expanded secret of the reference implementation (what
  // libtorrent's ed25519_create_keypair returns and BEP 44's vectors list);
  // the public key is derived from it.
  static SigningKey from_expanded(const ExpandedSecret& secret) noexcept;

  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  const PublicKey& public_key() const noexcept { return public_key_; }
  // The expanded secret (to hand this key to libtorrent, say).
  const ExpandedSecret& expanded_secret() const noexcept { return expanded_; }
  // The ed25519 signature of `message`.
  Signature sign(std::string_view message) const noexcept;

 private:
  SigningKey() noexcept = default;
  Signature sign_expanded(std::string_view message) const noexcept;
  void wipe() noexcept;  // zeroes the secret (a moved-from key signs nothing useful)

  PublicKey public_key_{};
  ExpandedSecret expanded_{};
  // libsodium's secret key (seed | public key) when the key came from a seed.
  std::optional<std::array<std::uint8_t, 64>> sodium_secret_;
};

// A mutable item: what a put carries and a get returns.
struct MutableItem {
  PublicKey key{};
  std::string salt;
  std::int64_t seq = 0;
  std::string value;  // bencoded v
  Signature signature{};

  // Signs (salt, seq, v) with `signer`. Errors: invalid_argument for a
  // negative seq, too_large for a salt over 64 bytes or a v over 1000.
  static Result<MutableItem> sign(const SigningKey& signer, std::string salt, std::int64_t seq,
                                  const wire::bencode::Value& v);
  // From the byte strings of a KRPC put (k, sig) or get reply. Errors:
  // malformed when k is not 32 bytes or sig not 64. Checks nothing else.
  static Result<MutableItem> from_wire(std::string_view k, std::string_view salt, std::int64_t seq,
                                       std::string_view sig, const wire::bencode::Value& v);

  NodeId target() const noexcept { return mutable_target(key, salt); }
  // Everything a storage node checks before looking at what it holds: salt
  // (207), size of v (205), seq >= 0 and v canonical bencode (203), the
  // signature (206), in that order, cheapest first; stored when all hold.
  PutCode check() const;

  friend bool operator==(const MutableItem&, const MutableItem&) = default;
};

}  // namespace nexo::overlay
