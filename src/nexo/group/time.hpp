// The time of group/'s protocol cores: a steady clock's time points, passed
// in by whoever drives them (the real clock over sockets, a virtual one in the
// simulator and the tests).
#pragma once

#include <chrono>

namespace nexo::group {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
using Duration = Clock::duration;

}  // namespace nexo::group
