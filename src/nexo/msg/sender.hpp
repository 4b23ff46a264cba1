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
// For streams of small messages, the asynchronous send without a Request:
//   enqueue(m)         copies m to the local buffer and returns; nothing to
//                      wait on (flush() waits for everything so far).
// Replies: a port may answer a message on the way it came (Port::reply); the
// Sender takes those answers with receive() / try_receive() / receive_async(),
// in the order they were sent. A thread blocked in receive() (or send_sync())
// reads the connection itself, as Port::receive does.
// Messages from one Sender arrive in the order sent (on udp:// they may not
// arrive at all, or out of order: UDP's failure model shows through).
//
// Thread contract: every member may be called from any thread; concurrent
// sends are ordered as they enter. Destroying the Sender closes it: pending
// requests complete with closed. The Context must outlive the Sender.
#pragma once

#include <atomic>

#include <memory>
#include <span>
#include <string_view>

#include "nexo/base/result.hpp"
#include "nexo/io/request.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/message.hpp"
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

  // Asynchronous send: copies `data` to the local buffer and returns at once;
  // `data` need not outlive the call. The Request completes when the message
  // has left this process (written to the socket, or in the port's queue), or
  // with the connection's error, or closed. Errors, nothing sent: would_block
  // (the local buffer is full: wait_for_room()), too_large, closed, and the
  // connection's earlier failure (reset, refused...). Never blocks.
  Result<io::Request<void>> send_async(std::span<const std::byte> data) {
    return backend_->submit(data, false, false);
  }
  Result<io::Request<void>> send_async(std::string_view text) { return send_async(as_bytes(text)); }

  // Asynchronous send without a completion object (the cheapest send): copies
  // `data` to the local buffer and returns at once; transmission goes on in
  // parallel, on the I/O thread. `data` need not outlive the call. Errors,
  // nothing copied: would_block (the local buffer is full: wait_for_room()),
  // too_large, closed, and a failure of the connection that happened earlier
  // (sticky: every later call returns it). Nothing reports the fate of one
  // message: flush() waits for all of them, and a later failure shows in the
  // next call. Ordered with every other send of this Sender. Never blocks.
  Result<void> enqueue(std::span<const std::byte> data) { return backend_->enqueue(data); }
  Result<void> enqueue(std::string_view text) { return enqueue(as_bytes(text)); }

  // Blocking send: waits for room in the local buffer, then until `data` has
  // left this process. Errors: timed_out (then `data` may still leave), those
  // of send_async.
  Result<void> send(std::span<const std::byte> data, Timeout timeout = std::nullopt);
  Result<void> send(std::string_view text, Timeout timeout = std::nullopt) {
    return send(as_bytes(text), timeout);
  }
  // Synchronous send: returns once the receiving process has taken `data`.
  // Errors: timed_out, invalid_argument (udp:// cannot acknowledge), those of
  // send_async.
  Result<void> send_sync(std::span<const std::byte> data, Timeout timeout = std::nullopt);
  Result<void> send_sync(std::string_view text, Timeout timeout = std::nullopt) {
    return send_sync(as_bytes(text), timeout);
  }

  // Blocks until an enqueue() or send_async() may succeed: the local buffer has
  // real room again (about half of it free; inproc://: the port's queue took
  // one), up to `timeout`. Errors: timed_out, closed, the connection's failure.
  // On udp:// (no local buffer) it waits until the socket is writable.
  Result<void> wait_for_room(Timeout timeout = std::nullopt);

  // Blocks until every message handed over so far, by any send of this Sender,
  // has left this process (written to the socket; inproc://: in the port's
  // queue), up to `timeout`. It does not wait for the receiver to take them
  // (send_sync does). Errors: timed_out (some are still in the local buffer),
  // closed, the connection's failure (some may never leave).
  Result<void> flush(Timeout timeout = std::nullopt);

  // The port's replies (Port::reply), oldest first. Blocks up to `timeout`.
  // Errors: timed_out, closed (the sender is closed; replies that had arrived
  // are taken first), the connection's failure, invalid_argument (a transport
  // that cannot carry replies). Replies nobody takes fill a bounded queue
  // (SenderOptions::replies); then the sender stops reading its connection
  // (acknowledgements too) until receives make room: nothing is dropped.
  Result<Message> receive(Timeout timeout = std::nullopt);
  // The oldest reply now, or would_block.
  Result<Message> try_receive();
  // Completes with the next reply (test() to poll, then() for a callback).
  io::Request<Message> receive_async();

  const Uri& uri() const noexcept { return uri_; }
  CounterSnapshot stats() const noexcept { return backend_->counters().snapshot(); }
  // Idempotent; any thread, at the same time as other calls (another close()
  // included: the first one closes, the others return at once).
  void close();

 private:
  Sender(Uri uri, std::unique_ptr<SenderBackend> backend)
      : uri_(std::move(uri)), backend_(std::move(backend)) {}
  Error no_replies() const;
  Result<void> send_blocking(std::span<const std::byte> data, bool until_taken, Timeout timeout);

  Uri uri_;
  std::unique_ptr<SenderBackend> backend_;
  std::atomic<bool> closed_{false};  // close() may race with itself (any thread, the destructor)
};

}  // namespace nexo::msg
