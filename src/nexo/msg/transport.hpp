// The interface every transport implements (tcp://, udp://, inproc://; later
// rudp:// and shared memory). Internal to msg/: users see Port and Sender.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/io/event_loop.hpp"
#include "nexo/io/progress.hpp"
#include "nexo/io/request.hpp"
#include "nexo/msg/counters.hpp"
#include "nexo/msg/port_queue.hpp"
#include "nexo/msg/uri.hpp"

namespace nexo::msg {

class Context;

struct PortOptions {
  QueueLimits queue;                         // bound on waiting messages and bytes
  std::size_t max_message_size = 16u << 20;  // larger messages are refused (and counted)
  // tcp://: connections beyond this are closed as soon as accepted (counted).
  std::size_t max_connections = 16'384;
  // tcp://: a frame must arrive whole within this time of its first byte (or of
  // the moment the budget below admitted it); otherwise its connection is closed
  // and counted as timed_out. It bounds the whole frame, not the gap between
  // bytes: a peer sending one byte a second is closed like one that stops.
  std::chrono::milliseconds frame_timeout{30'000};
  // tcp://: the bytes all connections together may hold of frames not yet
  // whole. A frame claims its whole size when its header arrives; a connection
  // that finds no room is not read (TCP holds its sender back, nothing is lost)
  // until other frames complete or time out, and is counted (budget_waits).
  // Frames over 64 KiB may claim 3/4 of it, so small messages still pass while
  // peers hold large frames. Binding fails (invalid_argument) unless 3/4 of it
  // holds a frame of max_message_size: raise both together.
  std::size_t max_partial_bytes = 64u << 20;
  // tcp://: replies written to one connection that its socket has not taken
  // yet; a reply beyond this is would_block (the peer is not reading).
  std::size_t max_reply_backlog = 16u << 20;
  // rudp://: a connection from which nothing has been heard for this long is
  // broken (closed and counted as timed out): a crashed sender and a broken
  // network look the same from here.
  std::chrono::milliseconds broken_after{10'000};
  // rudp://: connections accepted from one IP address (any port), so that one
  // address cannot take every slot; beyond it, refused (counted). Processes
  // on one machine share its address: keep it above their number.
  std::size_t max_connections_per_address = 1024;
  // rudp://: bytes all connections together hold for messages not yet whole or
  // not yet taken (each connection holds at most max_message_size and a few
  // packets). A packet beyond it is dropped (counted) and sent again later.
  std::size_t max_buffered_bytes = std::size_t{1} << 30;
  // udp:// and rudp://: a fault plan stacked in-process on the port's datagrams
  // (fault/plan.hpp): `back` is applied to what arrives, `to` to what it sends.
  // Other transports refuse a plan (invalid_argument): a stream has no datagrams.
  std::optional<fault::Plan> faults;
};

// One connection of a port, for --stats and tests.
struct ConnectionStats {
  std::string peer;
  std::uint64_t messages_in = 0, bytes_in = 0;
  std::size_t partial_frame_bytes = 0;  // received, waiting for the rest of a frame
  bool paused = false;  // not reading: the port's queue is full, or the partial-frame budget
};

struct SenderOptions {
  Timeout connect_timeout = std::chrono::milliseconds(5000);
  std::size_t max_queued_bytes = 16u << 20;  // the local buffer for asynchronous sends
  std::size_t max_message_size = 16u << 20;  // also the largest reply accepted
  QueueLimits replies;  // replies waiting for Sender::receive (beyond: the sender stops reading)
  // rudp://: false delivers each message as soon as it is whole, without
  // waiting for earlier ones that were lost (reliable, unordered).
  bool ordered = true;
  // rudp://: nothing heard from the port for this long: the connection is
  // broken, every call fails with timed_out (the port crashed, or the network
  // failed: this side cannot tell which, nor whether its last messages arrived).
  std::chrono::milliseconds broken_after{10'000};
  // rudp://: the largest datagram the connection sends, in bytes of UDP
  // payload. 0 (the default): what the path to the port carries unfragmented
  // (its MTU as the kernel knows it, less the IP and UDP headers), up to
  // 16 KiB; 1232 fits any IPv6 path, 1472 a plain Ethernet one. Small
  // messages share a datagram (up to this size) when they queue up behind the
  // congestion window, so larger datagrams mean fewer of them.
  std::size_t max_datagram = 0;
  // udp:// and rudp://: a fault plan stacked in-process (fault/plan.hpp): `to` is
  // applied to what the sender sends, `back` to what it receives.
  std::optional<fault::Plan> faults;
};

// The receiving side's shared state: the queue and its counters. Shared between
// the Port and the transport's connections (and inproc senders), which may
// outlive the Port by a moment while they wind down.
struct PortCore {
  explicit PortCore(const PortOptions& port_options)
      : queue(port_options.queue, counters), options(port_options) {}
  Counters counters;
  PortQueue queue;
  const PortOptions options;
};

// What a Port's transport does: receive messages into core.queue until closed.
class PortBackend {
 public:
  virtual ~PortBackend() = default;
  // The address senders use (the real port when bound to port 0).
  virtual const Uri& uri() const noexcept = 0;
  // Stops receiving and frees the transport's resources; blocks until done.
  virtual void close() = 0;
  // The open connections (connection-oriented transports only).
  virtual std::vector<ConnectionStats> connections() { return {}; }
  // How many there are; cheap, any thread, never blocks.
  virtual std::size_t connection_count() const noexcept { return 0; }
  // What a thread blocked in a receive may drive itself (leader/follower), or
  // null: then the I/O thread fills the queue and the receiver sleeps.
  virtual std::shared_ptr<io::Progress> progress() const { return nullptr; }
  // A receive_async() is waiting that nobody drives: the transport must fill
  // the queue from its I/O thread. Any thread; cheap when it already does.
  virtual void want_background() {}
};

// What a Sender's transport does.
class SenderBackend {
 public:
  virtual ~SenderBackend() = default;
  // Copies `data` into the transport's queue and returns at once. The Request
  // completes when the message has left this process, or, with `until_taken`,
  // when the receiving process has taken it. Errors (nothing was copied):
  // would_block when the local queue is full, too_large, closed, reset,
  // invalid_argument (until_taken on a transport that cannot acknowledge).
  // `write_now`: a blocking caller waits anyway, so the transport may transmit
  // from the calling thread; otherwise transmission goes on in parallel.
  virtual Result<io::Request<void>> submit(std::span<const std::byte> data, bool until_taken,
                                           bool write_now) = 0;
  // submit() without a Request: copies `data` and returns at once. Same errors
  // (a connection's failure is sticky), same order as submit().
  virtual Result<void> enqueue(std::span<const std::byte> data) = 0;
  // Blocks until submit() may succeed, the deadline passes (timed_out), or the
  // destination is gone (its error).
  virtual Result<void> wait_for_space(io::Clock::time_point deadline) = 0;
  // Blocks until everything submitted or enqueued so far has left this
  // process, the deadline passes (timed_out), or the connection failed (its
  // error; closed once closed).
  virtual Result<void> flush(io::Clock::time_point deadline) = 0;
  // Stops sending; pending requests complete with closed. Blocks until done.
  virtual void close() = 0;
  virtual const Counters& counters() const noexcept = 0;

  // Replies (Port::reply) arrive here; null when the transport cannot carry them.
  virtual PortQueue* replies() noexcept { return nullptr; }
  // As PortBackend's, for the replies.
  virtual std::shared_ptr<io::Progress> progress() const { return nullptr; }
  virtual void want_background() {}
};

}  // namespace nexo::msg

namespace nexo::msg {

// The transports (one file each).
Result<std::unique_ptr<PortBackend>> bind_inproc(Context& context, const Uri& uri,
                                                 std::shared_ptr<PortCore> core);
Result<std::unique_ptr<SenderBackend>> connect_inproc(Context& context, const Uri& uri,
                                                      const SenderOptions& options);
Result<std::unique_ptr<PortBackend>> bind_tcp(Context& context, const Uri& uri,
                                              std::shared_ptr<PortCore> core);
Result<std::unique_ptr<SenderBackend>> connect_tcp(Context& context, const Uri& uri,
                                                   const SenderOptions& options);
Result<std::unique_ptr<PortBackend>> bind_udp(Context& context, const Uri& uri,
                                              std::shared_ptr<PortCore> core);
Result<std::unique_ptr<SenderBackend>> connect_udp(Context& context, const Uri& uri,
                                                   const SenderOptions& options);
Result<std::unique_ptr<PortBackend>> bind_rudp(Context& context, const Uri& uri,
                                               std::shared_ptr<PortCore> core);
Result<std::unique_ptr<SenderBackend>> connect_rudp(Context& context, const Uri& uri,
                                                    const SenderOptions& options);
// ipc://: tcp://'s port and sender over a Unix-domain stream socket
// (tcp_port.cpp, tcp_sender.cpp).
Result<std::unique_ptr<PortBackend>> bind_ipc(Context& context, const Uri& uri,
                                              std::shared_ptr<PortCore> core);
Result<std::unique_ptr<SenderBackend>> connect_ipc(Context& context, const Uri& uri,
                                                   const SenderOptions& options);

}  // namespace nexo::msg
