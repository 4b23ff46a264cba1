// Sender — sends messages to one port (the chapter's send operation).
//
// The chapter's two forms, explicit:
//   send_async(m)      asynchronous: returns as soon as m is copied to a local
//                      buffer; transmission goes on in parallel. The Request
//                      completes when m has left this process (or failed).
//                      A full local buffer is a status (would_block), not a wait.
//   send_sync(m, t)    synchronous: returns only once the receiving process has
//                      taken m (its receive returned it), acknowledged end to
//                      end; timed_out after t (then m may or may not have been
//                      taken: the sender cannot know).
// and the everyday blocking form:
//   send(m, t)         waits for room in the local buffer (up to t), then until
//                      m has left this process.
// Messages from one Sender arrive in the order sent (on udp:// they may not
// arrive at all, or out of order: UDP's failure model shows through).
//
// Thread contract: every member may be called from any thread; concurrent
// sends are ordered as they enter. Destroying the Sender closes it: pending
// requests complete with closed. The Context must outlive the Sender.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "nexo/base/result.hpp"
#include "nexo/io/request.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/transport.hpp"

namespace nexo::msg {

class Sender {
 public:
  // Connects to the port at `uri`. Errors: invalid_argument, refused,
  // timed_out, resolve_failed, unreachable.
  static Result<std::unique_ptr<Sender>> connect(Context& context, std::string_view uri,
                                                 SenderOptions options = {});
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;
  ~Sender() { close(); }

  Result<io::Request<void>> send_async(std::span<const std::byte> data) {
    return backend_->submit(data, false, false);
  }
  Result<io::Request<void>> send_async(std::string_view text) { return send_async(as_bytes(text)); }
  Result<void> send(std::span<const std::byte> data, Timeout timeout = std::nullopt);
  Result<void> send(std::string_view text, Timeout timeout = std::nullopt) {
    return send(as_bytes(text), timeout);
  }
  Result<void> send_sync(std::span<const std::byte> data, Timeout timeout = std::nullopt);
  Result<void> send_sync(std::string_view text, Timeout timeout = std::nullopt) {
    return send_sync(as_bytes(text), timeout);
  }

  const Uri& uri() const noexcept { return uri_; }
  CounterSnapshot stats() const noexcept { return backend_->counters().snapshot(); }
  // Idempotent.
  void close();

 private:
  Sender(Uri uri, std::unique_ptr<SenderBackend> backend)
      : uri_(std::move(uri)), backend_(std::move(backend)) {}
  Result<void> send_blocking(std::span<const std::byte> data, bool until_taken, Timeout timeout);

  Uri uri_;
  std::unique_ptr<SenderBackend> backend_;
  bool closed_ = false;
};

}  // namespace nexo::msg
