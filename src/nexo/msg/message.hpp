// Message — a byte sequence with a length, and where it came from.
// A value type; moving it moves the bytes.
#pragma once

#include <string>
#include <string_view>

#include "nexo/base/bytes.hpp"

namespace nexo::msg {

struct Message {
  Bytes data;
  std::string source;  // the sender, as the transport knows it ("tcp://127.0.0.1:41234")

  std::string_view text() const noexcept { return as_text(data); }
  std::size_t size() const noexcept { return data.size(); }
};

}  // namespace nexo::msg
