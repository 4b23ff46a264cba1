// Message — a byte sequence with a length, and where it came from.
// A value type; moving it moves the bytes. Its origin is shared by every
// message from one connection (a reference count, not a copy per message), and
// carries the way back for replies (Port::reply).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"

namespace nexo::msg {

// What a transport that can answer on the way a message came implements
// (the tcp:// port writes back on the connection).
class ReplyPath {
 public:
  virtual Result<void> reply(std::uint64_t connection, std::span<const std::byte> data) = 0;

 protected:
  ~ReplyPath() = default;
};

struct Origin {
  std::string text;               // "tcp://127.0.0.1:41234", as the transport knows the sender
  std::weak_ptr<ReplyPath> back;  // empty: the transport cannot reply
  std::uint64_t connection = 0;   // back's key for the sender

  // Whether the transport gave a way back (it may be gone since).
  bool can_reply() const noexcept {
    const std::weak_ptr<ReplyPath> none;
    return back.owner_before(none) || none.owner_before(back);
  }
};

using Source = std::shared_ptr<const Origin>;
inline Source make_source(std::string text, std::weak_ptr<ReplyPath> back = {},
                          std::uint64_t connection = 0) {
  return std::make_shared<const Origin>(Origin{std::move(text), std::move(back), connection});
}

struct Message {
  Bytes data;
  Source from;

  std::string_view source() const noexcept { return from ? std::string_view(from->text) : ""; }
  std::string_view text() const noexcept { return as_text(data); }
  std::size_t size() const noexcept { return data.size(); }
};

}  // namespace nexo::msg
