#pragma once

#include <chrono>

namespace nexo::group {
using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
using Duration = Clock::duration;
}  // namespace nexo::group
