// Test helpers shared by the data stream tests (not installed: the name has _test).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "nexo/base/bytes.hpp"

namespace nexo::net::testing {

// "01 02 ff" → bytes.
inline Bytes hex(std::string_view text) {
  Bytes out;
  std::string digits;
  for (char c : text) {
    if (c != ' ') digits += c;
  }
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace nexo::net::testing
