// The I/O of a tcp:// port: its listener and connections in one io::Poller,
// cutting frames (frame.hpp) into messages for the port's queue. Internal to
// msg/ (tcp_port.cpp is the PortBackend around it).
//
// Who does the I/O (leader/follower, io/driven_poller.hpp): a thread blocked in
// a receive drives the engine itself, so a message needs no hop from the I/O
// thread to the receiving thread; while nobody does, the Context's I/O loop
// does (tcp_port.cpp). The engine's lock makes them take turns. With a single
// connection, the leader waits in that socket's read rather than in the
// Poller (wait_directly: one system call instead of two), without the lock;
// every kPollerEvery-th wait goes through the Poller, which also watches the
// listener, so a new connection is not left waiting for long.
//
// Replies (Port::reply): a data frame written back on the connection the
// message came from, as acknowledgements are, from the replying thread.
//
// Memory: every connection reads into one buffer shared by the engine; a
// connection keeps bytes of its own only for a frame that has not fully
// arrived, so an idle connection costs a few hundred bytes.
// Back-pressure: when the queue is full the connection stops reading and TCP's
// flow control slows its sender; nothing is dropped. It reads again once
// receives have drained the queue to half.
// Partial frames: the bytes all connections hold of frames not yet whole stay
// within PortOptions::max_partial_bytes. A frame is admitted once its header
// has arrived, and claims its whole size then (so that an admitted frame can
// always complete: a few large frames arriving at once take turns instead of
// each holding part of the budget and waiting for the rest for ever). Large
// frames (over 64 KiB) may claim 3/4 of the budget; the rest stays for small
// ones. A connection that finds no room stops being read (TCP's flow control
// holds its sender; nothing is dropped), is counted (budget_waits), and is
// admitted in order of arrival as frames complete or their peers are closed.
// Bad input: a malformed or oversized frame closes that connection (counted);
// so does a frame not whole within frame_timeout of its first byte (or of its
// admission), however it trickles in;
// connections over max_connections are closed on arrival; running out of
// descriptors pauses accepting for a moment instead of spinning. The port
// serves everyone else.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "nexo/io/driven_poller.hpp"
#include "nexo/io/event_loop.hpp"
#include "nexo/msg/message.hpp"
#include "nexo/msg/port_queue.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/tcp_listener.hpp"

namespace nexo::msg {

class TcpEngine final : public io::DrivenPoller,
                        public ReplyPath,
                        public std::enable_shared_from_this<TcpEngine> {
 public:
  // What the engine reads the time from (frame timeouts): io::Clock::now, or a
  // test's fake clock.
  using Now = std::function<io::Clock::time_point()>;

  // `on_accept_paused` runs (on any thread, the engine's lock held: it must
  // only post) when accepting stops for lack of descriptors; resume_accepting()
  // starts it again.
  TcpEngine(net::TcpListener listener, io::Poller poller, std::shared_ptr<PortCore> core,
            std::function<void()> on_accept_paused, Now now = io::Clock::now);
  ~TcpEngine() override;

  // Whether the engine can work with `options`: the budget must admit a frame
  // of max_message_size. Error: invalid_argument, saying which limits clash.
  static Result<void> check(const PortOptions& options);

  // Starts watching the listener. Errors: system.
  Result<void> start();
  // ReplyPath: appends a data frame to the connection's output and writes what
  // the socket takes now. Errors: closed (the connection or port is gone),
  // too_large, would_block (more than max_reply_backlog waits unwritten).
  Result<void> reply(std::uint64_t connection, std::span<const std::byte> data) override;

  // Closes (and counts as timed_out) the connections whose frame has not
  // arrived whole within frame_timeout of its first byte, as `now` sees it.
  void sweep_slow_peers(io::Clock::time_point now);
  void resume_accepting();

  // Closes every connection and the listener; a leading thread returns. Idempotent.
  void close();
  std::vector<ConnectionStats> connections();
  std::size_t connection_count() const noexcept { return open_.load(std::memory_order_relaxed); }

 private:
  struct Connection;
  using Events = std::span<const io::Poller::Event>;

  void handle(Events events) override;
  bool wait_directly() override;
  void process(Events events, PortQueue::Handoffs& out);
  void end_of_turn(PortQueue::Handoffs& out);
  void accept_all();
  bool read_some(Connection& c, PortQueue::Handoffs& out);
  bool take(Connection& c, std::span<const std::byte> input, PortQueue::Handoffs& out);
  Result<std::size_t> deliver(Connection& c, std::span<const std::byte> input,
                              PortQueue::Handoffs& out);
  std::size_t cut_frames(Connection& c, std::span<const std::byte> input,
                         std::optional<Error>& bad);
  bool deliver_partial(Connection& c, PortQueue::Handoffs& out);
  void settle(Connection& c, bool new_front);
  std::size_t front_frame_size(const Connection& c) const;
  bool claim(Connection& c, std::size_t size);
  void release_claim(Connection& c);
  void recharge(Connection& c);
  std::size_t read_room(const Connection& c) const;
  std::size_t budget_free() const;
  void wait_for_budget(Connection& c, bool large);
  void stop_waiting(Connection& c);
  void serve_waiters();
  PortQueue::OnTaken ack_on_taken(std::uint64_t connection, std::uint64_t message);
  void send_ack(std::uint64_t connection, std::uint64_t message);
  bool flush_output(Connection& c);
  bool update_interest(Connection& c);
  void pause(Connection& c);
  void resume_paused(PortQueue::Handoffs& out);
  void drop(Connection& c);

  const std::shared_ptr<PortCore> core_;
  const std::function<void()> on_accept_paused_;
  const Now now_;
  std::atomic<std::size_t> open_{0};         // connections, readable from any thread
  std::atomic<bool> resume_pending_{false};  // the queue has room again

  // Everything below: only with mutex_ held.
  std::mutex mutex_;
  net::TcpListener listener_;
  bool closed_ = false;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::uint64_t> paused_;  // connections waiting for room in the queue
  std::deque<std::uint64_t> waiting_;  // connections waiting for budget, oldest first
  std::size_t small_waiting_ = 0, large_waiting_ = 0;
  std::size_t budget_used_ = 0;    // the connections' partial frames: held or claimed
  std::size_t large_claimed_ = 0;  // the part claimed by admitted large frames
  bool budget_freed_ = false;      // serve the waiting connections before the turn ends
  std::uint64_t next_connection_ = 1;  // key 0 is the listener
  Bytes scratch_;                      // the shared read buffer
  struct Cut {
    std::size_t frame, payload;
  };
  // deliver()'s frames on their way to the queue (kept for their capacity).
  std::vector<PortQueue::Arrival> arrivals_;
  std::vector<Cut> cut_;
  // A connection dropped while the leader reads it without the lock: kept
  // (its socket shut down, which ends the read) until the leader is done.
  std::unique_ptr<Connection> lingering_;
  std::uint32_t direct_turns_ = 0;  // wait_directly() calls, to go to the Poller now and then

  // The leader's only (one at a time), without the lock: wait_directly's buffer.
  Bytes direct_in_;
};

}  // namespace nexo::msg
