// Port — a destination: one receiver, any number of senders, and a queue of
// the messages that have arrived (the chapter's "message destination").
// A process may receive on several ports.
//
// The receive operations, all on the same queue, oldest message first:
//   receive(timeout)     blocking receive (optionally with a timeout)
//   try_receive()        returns at once: a message, or would_block
//   receive_async()      non-blocking: a Request told by polling (test()) or
//                        by callback (then()) when a message arrives
//   receive_into(buf)    non-blocking: the caller hands over a buffer that is
//                        filled in the background; the Request says how much
// A receive "takes" the message: a synchronous sender waiting on it returns.
// reply(message, data) answers on the way the message came: request-reply on
// one connection, as RPC needs it.
//
// Who does the I/O: on tcp:// a thread blocked in receive() (or in wait() on a
// receive_async() Request) reads the port's connections itself while the queue
// is empty, instead of sleeping until the I/O thread has read for it: one thread
// hop less per message (leader/follower). The I/O thread takes over when nobody
// is receiving, so receive_async() callbacks, accepting and acknowledgements go
// on in the background. What a receive returns is the same either way.
//
// Thread contract: every member may be called from any thread. Destroying the
// Port closes it. The Context must outlive the Port.
#pragma once

#include <atomic>

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "nexo/base/result.hpp"
#include "nexo/io/request.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/message.hpp"
#include "nexo/msg/transport.hpp"

namespace nexo::msg {

class Port {
 public:
  // Binds `uri` (tcp://*:0 picks a free port: read it back with uri()).
  // Errors: invalid_argument (uri), address_in_use, and the transport's.
  static Result<std::unique_ptr<Port>> bind(Context& context, std::string_view uri,
                                            PortOptions options = {});
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;
  ~Port() {
    close();
    core_->queue.discard();
  }

  // Blocks until a message arrives; timed_out after `timeout`; closed once the
  // port is closed and drained.
  Result<Message> receive(Timeout timeout = std::nullopt);
  Result<Message> try_receive() { return core_->queue.try_take(); }
  io::Request<Message> receive_async();
  // Fills `buffer` (which must stay valid until the Request completes) with the
  // next message. A message longer than the buffer is taken and reported as
  // truncated (the buffer holds its first bytes).
  io::Request<std::size_t> receive_into(std::span<std::byte> buffer);

  // Request-reply: sends `data` back to the Sender that sent `request`, on the
  // same connection (the Sender takes it with receive()). Never blocks: the
  // reply is copied and written as the socket takes it. Errors: closed (the
  // connection or this port is gone), would_block (the sender is not reading
  // and max_reply_backlog bytes wait), too_large, invalid_argument (a
  // transport that cannot carry replies: tcp://, rudp:// and inproc:// can).
  Result<void> reply(const Message& request, std::span<const std::byte> data);
  Result<void> reply(const Message& request, std::string_view text) {
    return reply(request, as_bytes(text));
  }

  // The address to send to.
  const Uri& uri() const noexcept { return backend_->uri(); }
  CounterSnapshot stats() const noexcept { return core_->counters.snapshot(); }
  // The open connections and what each has delivered (tcp://; empty otherwise).
  // Blocks briefly on the I/O thread; connection_count() is the cheap way to count.
  std::vector<ConnectionStats> connections() const { return backend_->connections(); }
  std::size_t connection_count() const noexcept { return backend_->connection_count(); }
  std::size_t queued() const { return core_->queue.depth(); }

  // Stops receiving: waiting receives complete with closed; queued messages
  // can still be taken. Idempotent; any thread, at the same time as other calls
  // (another close() included: the first one closes, the others return at once).
  void close();

 private:
  Port(std::shared_ptr<PortCore> core, std::unique_ptr<PortBackend> backend)
      : core_(std::move(core)), backend_(std::move(backend)) {}

  std::shared_ptr<PortCore> core_;
  std::unique_ptr<PortBackend> backend_;
  std::atomic<bool> closed_{false};  // close() may race with itself (any thread, the destructor)
};

}  // namespace nexo::msg
