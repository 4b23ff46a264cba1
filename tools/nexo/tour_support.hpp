// What every stop of `nexo tour` uses: numbered stops, narration, aligned figures, and
// failures of the tour itself (tour.cpp, tour_overlay.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "nexo/base/result.hpp"
#include "nexo/io/event_loop.hpp"

namespace nexo::tool::tour_kit {

inline int stop_number = 0;

inline void stop(std::string_view title) {
  std::cout << "\n== " << ++stop_number << ". " << title << " ==\n";
}
inline void say(std::string_view text) {
  if (text.empty()) {
    std::cout << '\n';
    return;
  }
  std::cout << "   " << text << '\n';
}
inline void show(std::string_view label, std::string_view value) {
  // Pad by characters, not bytes, so UTF-8 labels line up.
  auto width = std::count_if(label.begin(), label.end(), [](char c) { return (c & 0xC0) != 0x80; });
  std::cout << "   " << label << std::string(width < 42 ? 42 - width : 1, ' ') << value << '\n';
}

inline std::string hex(std::span<const std::byte> bytes) {
  std::ostringstream out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i) out << ' ';
    out << std::hex << std::setw(2) << std::setfill('0') << std::to_integer<int>(bytes[i]);
  }
  return out.str();
}

// A failure of the tour itself (not a demonstrated error): stop with a message.
struct TourFailure {
  Error error;
};
template <class T>
T check(Result<T> result, std::string_view what) {
  if (!result) throw TourFailure{result.error().with_context(what)};
  if constexpr (!std::is_void_v<T>) return std::move(result).value();
}
// An error the tour expects, shown with its kind and message.
template <class T>
void show_error(std::string_view label, const Result<T>& result) {
  if (result)
    throw TourFailure{Error(ErrorKind::system, std::string(label) + ": expected an error")};
  show(label,
       "[" + std::string(to_string(result.error().kind())) + "] " + result.error().message());
}

// Runs `loop` until `done()` or 30 s of wall time (a bound against a hang).
template <class Done>
void run_loop(io::EventLoop& loop, Done done, std::string_view what) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit)
      throw TourFailure{Error(ErrorKind::timed_out, std::string(what) + " never completed")};
    loop.run_once(std::chrono::milliseconds(20));
  }
}

}  // namespace nexo::tool::tour_kit

namespace nexo::tool {
// Stop 10 (tour_overlay.cpp): the DHT on loopback, overlay multicast, super peers.
void overlay_network();
}  // namespace nexo::tool
