// Datagram — one UDP message and the endpoint it came from or goes to
// (the chapter's DatagramPacket). A value type.
#pragma once

#include <string_view>

#include "nexo/base/bytes.hpp"
#include "nexo/net/endpoint.hpp"

namespace nexo::net {

struct Datagram {
  Endpoint peer;  // sender (received) or destination (to send)
  Bytes payload;

  std::string_view text() const noexcept { return as_text(payload); }
};

}  // namespace nexo::net
