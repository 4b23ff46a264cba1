#include "nexo/overlay/item.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "nexo/overlay/sha1.hpp"

namespace nexo::overlay {

namespace bencode = wire::bencode;

namespace {

// libsodium picks its fastest implementations and seeds randombytes here; its
// signing and verifying work without it, so a failure (no entropy source) only
// matters to generate(), which then aborts inside randombytes as documented.
void ensure_sodium() noexcept {
  static const int ready = sodium_init();
  (void)ready;
}

const unsigned char* uchars(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// SHA-512(a | b | c), reduced modulo the group order L.
std::array<std::uint8_t, 32> hash_to_scalar(std::span<const std::uint8_t> a,
                                            std::span<const std::uint8_t> b,
                                            std::string_view c) noexcept {
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  if (!a.empty()) crypto_hash_sha512_update(&state, a.data(), a.size());
  crypto_hash_sha512_update(&state, b.data(), b.size());
  crypto_hash_sha512_update(&state, uchars(c), c.size());
  std::array<std::uint8_t, 64> wide{};
  crypto_hash_sha512_final(&state, wide.data());
  std::array<std::uint8_t, 32> scalar{};
  crypto_core_ed25519_scalar_reduce(scalar.data(), wide.data());
  sodium_memzero(wide.data(), wide.size());
  return scalar;
}

}  // namespace

std::string_view describe(PutCode code) noexcept {
  switch (code) {
    case PutCode::stored:
      return "stored";
    case PutCode::server_error:
      return "storage quota for this address is full";
    case PutCode::protocol_error:
      return "invalid put";
    case PutCode::too_big:
      return "message (v field) too big";
    case PutCode::bad_signature:
      return "invalid signature";
    case PutCode::salt_too_big:
      return "salt (salt field) too big";
    case PutCode::cas_mismatch:
      return "the CAS hash mismatched, re-read value and try again";
    case PutCode::seq_too_old:
      return "sequence number less than current";
  }
  return "unknown put outcome";
}

NodeId immutable_target(std::string_view encoded_v) noexcept {
  return NodeId::from_digest(sha1(encoded_v));
}

NodeId mutable_target(const PublicKey& key, std::string_view salt) noexcept {
  Sha1 h;
  h.update(std::span<const std::uint8_t>(key));
  h.update(salt);
  return NodeId::from_digest(h.finish());
}

std::string signature_buffer(std::string_view salt, std::int64_t seq, std::string_view encoded_v) {
  std::string buffer;
  buffer.reserve(salt.size() + encoded_v.size() + 48);
  if (!salt.empty()) {
    buffer += "4:salt";
    buffer += std::to_string(salt.size());
    buffer += ':';
    buffer += salt;
  }
  buffer += "3:seqi";
  buffer += std::to_string(seq);
  buffer += "e1:v";
  buffer += encoded_v;
  return buffer;
}

bool verify_signature(const PublicKey& key, const Signature& signature,
                      std::string_view message) noexcept {
  ensure_sodium();
  return crypto_sign_verify_detached(signature.data(), uchars(message), message.size(),
                                     key.data()) == 0;
}

std::string encode_value(const bencode::Value& v) {
  const Bytes bytes = bencode::encode(v);
  return std::string(as_text(bytes));
}

PutCode check_immutable(std::string_view encoded_v) {
  if (encoded_v.size() > kMaxItemValueBytes) return PutCode::too_big;
  if (!bencode::decode(encoded_v)) return PutCode::protocol_error;
  return PutCode::stored;
}

// --- SigningKey -------------------------------------------------------------

SigningKey SigningKey::from_seed(const KeySeed& seed) noexcept {
  ensure_sodium();
  SigningKey key;
  std::array<std::uint8_t, 64> secret{};
  crypto_sign_seed_keypair(key.public_key_.data(), secret.data(), seed.data());
  key.sodium_secret_ = secret;
  sodium_memzero(secret.data(), secret.size());
  // The expanded form (RFC 8032, 5.1.5): SHA-512 of the seed, the scalar half clamped.
  crypto_hash_sha512(key.expanded_.data(), seed.data(), seed.size());
  key.expanded_[0] &= 248;
  key.expanded_[31] &= 127;
  key.expanded_[31] |= 64;
  return key;
}

SigningKey SigningKey::generate() noexcept {
  ensure_sodium();
  KeySeed seed{};
  randombytes_buf(seed.data(), seed.size());
  SigningKey key = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

SigningKey SigningKey::from_expanded(const ExpandedSecret& secret) noexcept {
  ensure_sodium();
  SigningKey key;
  key.expanded_ = secret;
  // A = a·B; the scalar is taken as it is (already clamped), not clamped again.
  crypto_scalarmult_ed25519_base_noclamp(key.public_key_.data(), secret.data());
  return key;
}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : public_key_(other.public_key_),
      expanded_(other.expanded_),
      sodium_secret_(other.sodium_secret_) {
  other.wipe();
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    public_key_ = other.public_key_;
    expanded_ = other.expanded_;
    sodium_secret_ = other.sodium_secret_;
    other.wipe();
  }
  return *this;
}

SigningKey::~SigningKey() {
  wipe();
}

void SigningKey::wipe() noexcept {
  sodium_memzero(expanded_.data(), expanded_.size());
  if (sodium_secret_) sodium_memzero(sodium_secret_->data(), sodium_secret_->size());
}

Signature SigningKey::sign(std::string_view message) const noexcept {
  if (!sodium_secret_) return sign_expanded(message);
  Signature signature{};
  crypto_sign_detached(signature.data(), nullptr, uchars(message), message.size(),
                       sodium_secret_->data());
  return signature;
}

// RFC 8032, 5.1.6, from the expanded secret (scalar a | prefix):
//   r = SHA-512(prefix | M) mod L,  R = r·B,
//   k = SHA-512(R | A | M) mod L,   S = (r + k·a) mod L,  signature = R | S.
Signature SigningKey::sign_expanded(std::string_view message) const noexcept {
  const std::span<const std::uint8_t> prefix(expanded_.data() + 32, 32);
  std::array<std::uint8_t, 32> r = hash_to_scalar({}, prefix, message);
  Signature signature{};
  crypto_scalarmult_ed25519_base_noclamp(signature.data(), r.data());  // R (r = 0: 2^-252)
  const std::array<std::uint8_t, 32> k =
      hash_to_scalar(std::span<const std::uint8_t>(signature.data(), 32), public_key_, message);
  std::array<std::uint8_t, 64> wide{};  // a, reduced first: scalar_mul wants inputs below L
  std::copy_n(expanded_.begin(), 32, wide.begin());
  std::array<std::uint8_t, 32> a{};
  crypto_core_ed25519_scalar_reduce(a.data(), wide.data());
  std::array<std::uint8_t, 32> ka{};
  crypto_core_ed25519_scalar_mul(ka.data(), k.data(), a.data());
  crypto_core_ed25519_scalar_add(signature.data() + 32, r.data(), ka.data());
  sodium_memzero(wide.data(), wide.size());
  sodium_memzero(a.data(), a.size());
  sodium_memzero(r.data(), r.size());
  sodium_memzero(ka.data(), ka.size());
  return signature;
}

// --- MutableItem ------------------------------------------------------------

Result<MutableItem> MutableItem::sign(const SigningKey& signer, std::string salt, std::int64_t seq,
                                      const bencode::Value& v) {
  if (seq < 0)
    return Error(ErrorKind::invalid_argument,
                 "mutable item: seq " + std::to_string(seq) + " is negative");
  if (salt.size() > kMaxSaltBytes)
    return Error(ErrorKind::too_large, "mutable item: salt of " + std::to_string(salt.size()) +
                                           " bytes (at most " + std::to_string(kMaxSaltBytes) +
                                           ")");
  MutableItem item;
  item.value = encode_value(v);
  if (item.value.size() > kMaxItemValueBytes)
    return Error(ErrorKind::too_large, "mutable item: bencoded v of " +
                                           std::to_string(item.value.size()) + " bytes (at most " +
                                           std::to_string(kMaxItemValueBytes) + ")");
  item.key = signer.public_key();
  item.salt = std::move(salt);
  item.seq = seq;
  item.signature = signer.sign(signature_buffer(item.salt, item.seq, item.value));
  return item;
}

Result<MutableItem> MutableItem::from_wire(std::string_view k, std::string_view salt,
                                           std::int64_t seq, std::string_view sig,
                                           const bencode::Value& v) {
  MutableItem item;
  if (k.size() != item.key.size())
    return Error(ErrorKind::malformed, "mutable item: k of " + std::to_string(k.size()) +
                                           " bytes (an ed25519 public key is 32)");
  if (sig.size() != item.signature.size())
    return Error(ErrorKind::malformed, "mutable item: sig of " + std::to_string(sig.size()) +
                                           " bytes (an ed25519 signature is 64)");
  std::memcpy(item.key.data(), k.data(), k.size());
  std::memcpy(item.signature.data(), sig.data(), sig.size());
  item.salt = std::string(salt);
  item.seq = seq;
  item.value = encode_value(v);
  return item;
}

PutCode MutableItem::check() const {
  if (salt.size() > kMaxSaltBytes) return PutCode::salt_too_big;
  if (value.size() > kMaxItemValueBytes) return PutCode::too_big;
  if (seq < 0) return PutCode::protocol_error;
  if (!bencode::decode(value)) return PutCode::protocol_error;
  if (!verify_signature(key, signature, signature_buffer(salt, seq, value)))
    return PutCode::bad_signature;
  return PutCode::stored;
}

}  // namespace nexo::overlay
