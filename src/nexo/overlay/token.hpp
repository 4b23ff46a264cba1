// WriteTokens — the write tokens of BEP 5 (announce_peer) and BEP 44 (put): a
// node hands one out in every get_peers / get reply and accepts a write only
// when the writer echoes a token it issued, recently, to the same IP address
// for the same target. It proves the writer receives datagrams at that address,
// so nobody can store peers or items in another host's name.
//
//   token = SHA-1(secret | requester IP | target)[0..4)
//
//   secret        16 bytes drawn from the caller's fault::Random
//   requester IP  the address only, network order: 4 bytes (IPv4, an
//                 IPv4-mapped IPv6 address counts as IPv4) or 16 (IPv6);
//                 the port is left out, as BEP 5 asks (a NATed writer's
//                 port may change between get_peers and announce_peer)
//   target        the 20-byte info-hash or item key the token was given for
//
// Four bytes, like libtorrent (its write_token_size is 4; it hashes the
// address's text form, a 4-byte secret and the info-hash: tokens are opaque to
// everyone but their issuer, so the layouts need not agree). A guess succeeds
// once in 2^32, and a guesser must also receive at the address it claims.
//
// Lifetime. The secret rotates every 5 minutes (kTokenRotation) and the
// previous secret is still accepted, so a token is good from its issue until
// the second rotation after it: 5 to 10 minutes, libtorrent's figure. Rotations
// are at fixed steps from the construction time; when `now` jumps over two or
// more steps, both secrets are replaced. Time comes in as `now` (time.hpp);
// a clock going backwards rotates nothing.
//
// fault::Random is not a cryptographic generator: tokens resist off-path
// guessing, not an attacker who recovers the generator's state. Not
// thread-safe: one thread at a time. sizeof(WriteTokens) is 48 bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nexo/fault/random.hpp"
#include "nexo/net/inet_address.hpp"
#include "nexo/overlay/node_id.hpp"
#include "nexo/overlay/time.hpp"

namespace nexo::overlay {

inline constexpr std::size_t kTokenBytes = 4;
inline constexpr Duration kTokenRotation = std::chrono::minutes(5);

// One token as it travels: the `token` byte string of KRPC.
struct WriteToken {
  std::array<std::uint8_t, kTokenBytes> bytes{};

  std::string to_byte_string() const {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  friend bool operator==(const WriteToken&, const WriteToken&) noexcept = default;
};

class WriteTokens {
 public:
  // Draws the first two secrets from `rng` (and later ones at each rotation).
  // `rng` must outlive this object.
  WriteTokens(fault::Random& rng, Time now) noexcept;

  // The token for a writer at `ip` (any port) writing `target`.
  WriteToken issue(const net::InetAddress& ip, const NodeId& target, Time now) noexcept;
  // True when `token` (the bytes a writer sent) was issued by this object to
  // `ip` for `target` under the current or the previous secret. Any other
  // length is simply not a token of ours.
  bool verify(std::string_view token, const net::InetAddress& ip, const NodeId& target,
              Time now) noexcept;

 private:
  using Secret = std::array<std::uint64_t, 2>;

  void rotate_to(Time now) noexcept;
  Secret draw() noexcept;
  static WriteToken compute(const Secret& secret, const net::InetAddress& ip,
                            const NodeId& target) noexcept;

  fault::Random* rng_;
  Time epoch_;  // when current_ came into use
  Secret current_{};
  Secret previous_{};
};

}  // namespace nexo::overlay
