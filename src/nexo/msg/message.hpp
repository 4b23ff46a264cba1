// Message — a byte sequence with a length, and where it came from.
// A value type; moving it moves the bytes. The source text is shared by every
// message from one connection (a reference count, not a copy per message).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "nexo/base/bytes.hpp"

namespace nexo::msg {

// The sender as the transport knows it ("tcp://127.0.0.1:41234"), shareable.
using Source = std::shared_ptr<const std::string>;
inline Source make_source(std::string text) {
  return std::make_shared<const std::string>(std::move(text));
}

struct Message {
  Bytes data;
  Source from;

  std::string_view source() const noexcept { return from ? std::string_view(*from) : ""; }
  std::string_view text() const noexcept { return as_text(data); }
  std::size_t size() const noexcept { return data.size(); }
};

}  // namespace nexo::msg
