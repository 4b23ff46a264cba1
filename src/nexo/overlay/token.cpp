#include "nexo/overlay/token.hpp"

#include "nexo/overlay/sha1.hpp"

namespace nexo::overlay {

WriteTokens::WriteTokens(fault::Random& rng, Time now) noexcept : rng_(&rng), epoch_(now) {
  current_ = draw();
  previous_ = draw();
}

WriteTokens::Secret WriteTokens::draw() noexcept {
  return {rng_->next(), rng_->next()};
}

void WriteTokens::rotate_to(Time now) noexcept {
  if (now < epoch_ + kTokenRotation) return;  // also when the clock went back
  const auto steps = (now - epoch_) / kTokenRotation;
  if (steps == 1) {
    previous_ = current_;
  } else {
    previous_ = draw();  // both old secrets are stale: nothing issued before is valid
  }
  current_ = draw();
  epoch_ += steps * kTokenRotation;
}

WriteToken WriteTokens::compute(const Secret& secret, const net::InetAddress& ip,
                                const NodeId& target) noexcept {
  std::array<std::uint8_t, 16> secret_bytes{};
  for (std::size_t i = 0; i < 16; ++i)
    secret_bytes[i] = static_cast<std::uint8_t>(secret[i / 8] >> (8 * (i % 8)));
  Sha1 h;
  h.update(std::span<const std::uint8_t>(secret_bytes));
  h.update(ip.unmapped().bytes());
  h.update(std::span<const std::uint8_t>(target.bytes()));
  const Sha1Digest digest = h.finish();
  WriteToken token;
  for (std::size_t i = 0; i < kTokenBytes; ++i)
    token.bytes[i] = digest[i];
  return token;
}

WriteToken WriteTokens::issue(const net::InetAddress& ip, const NodeId& target, Time now) noexcept {
  rotate_to(now);
  return compute(current_, ip, target);
}

bool WriteTokens::verify(std::string_view token, const net::InetAddress& ip, const NodeId& target,
                         Time now) noexcept {
  rotate_to(now);
  if (token.size() != kTokenBytes) return false;
  // Compare without an early exit, so timing does not say how many bytes matched.
  auto matches = [&](const Secret& secret) {
    const WriteToken expected = compute(secret, ip, target);
    unsigned diff = 0;
    for (std::size_t i = 0; i < kTokenBytes; ++i)
      diff |= expected.bytes[i] ^ static_cast<std::uint8_t>(token[i]);
    return diff == 0;
  };
  const bool current = matches(current_);
  const bool previous = matches(previous_);
  return current || previous;
}

}  // namespace nexo::overlay
