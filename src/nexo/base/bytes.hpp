// Byte views: the currency of every send and receive.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nexo {

// An owned, growable byte sequence.
using Bytes = std::vector<std::byte>;

// Views text as bytes, without copying (the view lives as long as `text`).
inline std::span<const std::byte> as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// Views bytes as text, without copying (the view lives as long as `bytes`).
inline std::string_view as_text(std::span<const std::byte> bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Copies text into an owned byte sequence.
inline Bytes to_bytes(std::string_view text) {
  auto view = as_bytes(text);
  return Bytes(view.begin(), view.end());
}

// A time limit for a blocking call; std::nullopt waits for ever.
using Timeout = std::optional<std::chrono::milliseconds>;

}  // namespace nexo
