// SHA-1 (FIPS 180-4), the hash the Mainline DHT is built on: BEP 5 node ids and
// info-hashes, BEP 44 immutable item keys (SHA-1 of the bencoded value), BEP 42
// id derivation's companion, and the keys of topics and names in the overlay.
//
// SHA-1 is broken for collision resistance; here it is an addressing function
// fixed by the protocol, not a security boundary (mutable items are signed
// with ed25519, write tokens are keyed).
//
//   Sha1 h;  h.update(a);  h.update(b);  Digest d = h.finish();
//   Digest d = sha1(bytes);
//
// Thread contract: a Sha1 object is used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace nexo::overlay {

using Sha1Digest = std::array<std::uint8_t, 20>;

class Sha1 {
 public:
  Sha1() noexcept { reset(); }

  // Starts a new message.
  void reset() noexcept;
  // Appends bytes to the message.
  void update(std::span<const std::byte> data) noexcept;
  void update(std::span<const std::uint8_t> data) noexcept { update(std::as_bytes(data)); }
  void update(std::string_view text) noexcept {
    update(std::as_bytes(std::span(text.data(), text.size())));
  }
  // Pads the message, returns its digest and resets for a new message.
  Sha1Digest finish() noexcept;

 private:
  void compress(const std::uint8_t* block) noexcept;

  std::array<std::uint32_t, 5> state_{};
  std::array<std::uint8_t, 64> block_{};
  std::size_t used_ = 0;      // bytes in block_
  std::uint64_t length_ = 0;  // message bytes so far
};

inline Sha1Digest sha1(std::span<const std::byte> data) noexcept {
  Sha1 h;
  h.update(data);
  return h.finish();
}
inline Sha1Digest sha1(std::string_view text) noexcept {
  Sha1 h;
  h.update(text);
  return h.finish();
}

}  // namespace nexo::overlay
