// The time of overlay/'s protocol cores: a steady clock's time points, passed
// in by whoever drives them (the real clock over UDP, a virtual one in the
// simulator and the tests). The cores never read a clock themselves.
#pragma once

#include <chrono>

namespace nexo::overlay {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
using Duration = Clock::duration;

}  // namespace nexo::overlay
