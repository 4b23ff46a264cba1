// group::RepairTimer — how long a receiver waits for the repair of its NAK
// before it asks again, from the round trips it has measured: RFC 6298's
// estimator (Jacobson and Karels), with "NAK sent -> its repair arrived" as
// the round trip. Member keeps one per sender (each sender's path and
// queues differ) and multiplies timeout() by its back-off (x2 per unanswered
// NAK, up to x8).
//
//   first sample R:  SRTT = R, RTTVAR = R / 2
//   each later R:    RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|,  SRTT = 7/8 SRTT + 1/8 R
//   timeout:         SRTT + 4 RTTVAR, clamped to [floor, ceiling]; the
//                    ceiling (MemberConfig::repair_timeout) until a sample
//
// The caller feeds only unambiguous samples (Karn's rule): the repair of a
// message asked for once, never of one asked for again. A plain value type;
// no clock, no threads.
#pragma once

#include <algorithm>
#include <chrono>

#include "nexo/group/time.hpp"

namespace nexo::group {

class RepairTimer {
 public:
  RepairTimer() = default;
  // `floor` <= `ceiling`, both positive (Member clamps them so).
  RepairTimer(Duration floor, Duration ceiling) noexcept : floor_(floor), ceiling_(ceiling) {}

  // A measured round trip (negative ones, from a confused clock, count as 0).
  void sample(Duration rtt) noexcept {
    rtt = std::max(rtt, Duration::zero());
    if (!measured_) {
      srtt_ = rtt;
      rttvar_ = rtt / 2;
      measured_ = true;
      return;
    }
    const Duration error = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
    rttvar_ = (3 * rttvar_ + error) / 4;
    srtt_ = (7 * srtt_ + rtt) / 8;
  }

  // How long to wait for a repair, before any back-off.
  Duration timeout() const noexcept {
    if (!measured_) return ceiling_;
    return std::clamp(srtt_ + 4 * rttvar_, floor_, ceiling_);
  }

  bool measured() const noexcept { return measured_; }
  Duration srtt() const noexcept { return srtt_; }
  Duration rttvar() const noexcept { return rttvar_; }

 private:
  Duration floor_{std::chrono::milliseconds(1)};
  Duration ceiling_{std::chrono::milliseconds(20)};
  Duration srtt_{}, rttvar_{};
  bool measured_ = false;
};

}  // namespace nexo::group
