// RttEstimator — how long to wait for a KRPC reply from one contact, from
// the round trips measured to it: RFC 6298's estimator (Jacobson/Karels).
//
//   first sample R:  SRTT = R, RTTVAR = R / 2
//   each later R:    RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|,  SRTT = 7/8 SRTT + 1/8 R
//   base RTO:        SRTT + max(G, 4 RTTVAR), clamped to [min_rto, max_rto]
//   RTO:             base RTO x 2^backoff, at most max_backed_off_rto
//
// Backoff: x2 per consecutive timeout, back to x1 on a reply (RFC 6298 5.5
// and 5.7). A contact never measured borrows its base RTO from a node-wide
// estimator that every reply feeds (whoever it came from): the population's
// SRTT + 4 RTTVAR is a high percentile of the round trips this node sees,
// a fair first guess for a stranger. That one starts at initial_rto (RFC
// 6298's 1 s) until its first sample.
//
// Karn's rule (no sample from a retransmitted request, whose reply cannot
// be matched to one send) holds by construction: KRPC never retransmits a
// query — a retry is a new query with a new transaction id — so every reply
// matched to its transaction gives an unambiguous sample, a late one too.
// The caller still must not sample a reply it cannot match to one send.
//
// The RTO is the *soft* timeout of a lookup (after it, ask another node and
// keep listening); the caller decides when a query has failed for good.
//
// A value type of 12 bytes (microseconds in 32 bits: up to 71 minutes), no
// clock, no threads: the routing table keeps one per contact.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "nexo/overlay/time.hpp"

namespace nexo::overlay {

struct RttConfig {
  // 10 ms floor: a KRPC reply leaves at once (no delayed ACK to wait out,
  // unlike TCP's reason for RFC 6298's 1 s floor), so the floor only absorbs
  // a busy peer's scheduling delay; and a spurious soft timeout costs one
  // extra query (and a lookup that stops waiting for a node whose retry is
  // slow too), not a retransmitted window. On the Internet SRTT + 4 RTTVAR
  // is above it anyway; on a LAN or loopback (round trips of microseconds)
  // it is what a dead node costs a lookup: two RTOs (lookup.hpp's Done).
  Duration min_rto = std::chrono::milliseconds(10);
  // 2 s ceiling: round trips beyond it are rare even over satellite links
  // (~0.6 s); waiting longer before asking another node only slows a lookup,
  // and the late reply is still taken.
  Duration max_rto = std::chrono::seconds(2);
  // Before any reply at all (RFC 6298's initial RTO).
  Duration initial_rto = std::chrono::seconds(1);
  // G, the clock granularity: keeps the RTO above SRTT once RTTVAR decays.
  Duration granularity = std::chrono::milliseconds(1);
  // The backed-off RTO's ceiling.
  Duration max_backed_off_rto = std::chrono::seconds(8);
};

class RttEstimator {
 public:
  // A round trip measured from a reply (negative ones, from a confused
  // clock, count as 0). Resets the backoff: the contact answers.
  void sample(Duration rtt) noexcept {
    const std::int64_t r = to_us(rtt);
    backoff_ = 0;
    if (!measured_) {
      srtt_us_ = static_cast<std::uint32_t>(r);
      rttvar_us_ = static_cast<std::uint32_t>(r / 2);
      measured_ = true;
      return;
    }
    const std::int64_t srtt = srtt_us_;
    const std::int64_t error = srtt > r ? srtt - r : r - srtt;
    rttvar_us_ = static_cast<std::uint32_t>((3 * std::int64_t{rttvar_us_} + error) / 4);
    srtt_us_ = static_cast<std::uint32_t>((7 * srtt + r) / 8);
  }

  // A query to the contact timed out: the next RTO doubles.
  void timed_out() noexcept {
    if (backoff_ < kMaxBackoff) ++backoff_;
  }
  // A reply came for which no sample is taken: back to x1.
  void reset_backoff() noexcept { backoff_ = 0; }

  bool measured() const noexcept { return measured_; }
  Duration srtt() const noexcept { return std::chrono::microseconds(srtt_us_); }
  Duration rttvar() const noexcept { return std::chrono::microseconds(rttvar_us_); }
  // Consecutive timeouts since the last reply (saturates at 16).
  int backoff() const noexcept { return backoff_; }

  // SRTT + max(G, 4 RTTVAR), clamped; `unmeasured` (taken as is) before the
  // first sample.
  Duration base_rto(const RttConfig& config, Duration unmeasured) const noexcept {
    if (!measured_) return unmeasured;
    const Duration spread = std::max(config.granularity, 4 * rttvar());
    return std::clamp(srtt() + spread, config.min_rto, config.max_rto);
  }
  // The node-wide estimator's base RTO: initial_rto before any sample.
  Duration base_rto(const RttConfig& config) const noexcept {
    return base_rto(config, config.initial_rto);
  }
  // The base RTO times 2^backoff, at most max_backed_off_rto (never below
  // the base RTO, should the ceiling be configured lower).
  Duration rto(const RttConfig& config, Duration unmeasured) const noexcept {
    const Duration base = base_rto(config, unmeasured);
    const Duration ceiling = std::max(base, config.max_backed_off_rto);
    Duration rto = base;
    for (int i = 0; i < backoff_ && rto < ceiling; ++i)
      rto *= 2;
    return std::min(rto, ceiling);
  }

 private:
  static constexpr std::uint8_t kMaxBackoff = 16;

  static std::int64_t to_us(Duration d) noexcept {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    return std::clamp<std::int64_t>(us, 0, UINT32_MAX);
  }

  std::uint32_t srtt_us_ = 0;
  std::uint32_t rttvar_us_ = 0;
  std::uint8_t backoff_ = 0;
  bool measured_ = false;
};

}  // namespace nexo::overlay
