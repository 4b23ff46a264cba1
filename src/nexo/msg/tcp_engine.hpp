// The I/O of a tcp:// port: its listener and connections in one io::Poller,
// cutting frames (frame.hpp) into messages for the port's queue. Internal to
// msg/ (tcp_port.cpp is the PortBackend around it).
//
// Who does the I/O (leader/follower): whoever holds the engine's lock. A thread
// blocked in a receive drives the engine itself (io::Progress), so a message
// needs no hop from the I/O thread to the receiving thread; one such thread
// leads at a time and others sleep until it leaves or their receive completes.
// While nobody leads, the Context's I/O loop calls run_from_loop() when the
// Poller's descriptor is readable; while somebody leads it steps aside
// (run_from_loop() returns false) and tcp_port.cpp stops watching for a moment.
//
// Memory: every connection reads into one buffer shared by the engine; a
// connection keeps bytes of its own only for a frame that has not fully
// arrived, so an idle connection costs a few hundred bytes.
// Back-pressure: when the queue is full the connection stops reading and TCP's
// flow control slows its sender; nothing is dropped. It reads again once
// receives have drained the queue to half.
// Bad input: a malformed or oversized frame closes that connection (counted);
// so does a half-sent frame that makes no progress for frame_timeout;
// connections over max_connections are closed on arrival; running out of
// descriptors pauses accepting for a moment instead of spinning. The port
// serves everyone else.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "nexo/io/event_loop.hpp"
#include "nexo/io/poller.hpp"
#include "nexo/io/progress.hpp"
#include "nexo/msg/port_queue.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/tcp_listener.hpp"

namespace nexo::msg {

class TcpEngine final : public io::Progress, public std::enable_shared_from_this<TcpEngine> {
 public:
  // `on_accept_paused` runs (on any thread, the engine's lock held: it must
  // only post) when accepting stops for lack of descriptors; resume_accepting()
  // starts it again.
  TcpEngine(net::TcpListener listener, io::Poller poller, std::shared_ptr<PortCore> core,
            std::function<void()> on_accept_paused);
  ~TcpEngine() override;

  // Starts watching the listener. Errors: system.
  Result<void> start();
  // The descriptor to watch from the I/O loop (readable: work to do).
  int native_handle() const noexcept { return poller_.native_handle(); }

  // io::Progress: the receiving thread's side.
  void drive(io::Clock::time_point deadline, const std::function<bool()>& done) override;
  void interrupt() noexcept override;

  // The I/O thread's side. false: a receiving thread leads; nothing was done.
  bool run_from_loop();
  // How long since the last receiving thread stopped leading; nullopt while
  // one leads.
  std::optional<io::Clock::duration> idle_for() const;
  void sweep_slow_peers(io::Clock::time_point now);
  void resume_accepting();

  // Closes every connection and the listener; a leading thread returns. Idempotent.
  void close();
  std::vector<ConnectionStats> connections();
  std::size_t connection_count() const noexcept { return open_.load(std::memory_order_relaxed); }

 private:
  struct Connection;
  using Events = std::span<const io::Poller::Event>;

  void lead(io::Clock::time_point deadline, const std::function<bool()>& done);
  void process(Events events, PortQueue::Handoffs& out);
  void accept_all();
  bool read_some(Connection& c, PortQueue::Handoffs& out);
  Result<std::size_t> deliver(Connection& c, std::span<const std::byte> input,
                              PortQueue::Handoffs& out);
  bool deliver_partial(Connection& c, PortQueue::Handoffs& out);
  PortQueue::OnTaken ack_on_taken(std::uint64_t connection, std::uint64_t message);
  void send_ack(std::uint64_t connection, std::uint64_t message);
  bool flush_acks(Connection& c);
  bool update_interest(Connection& c);
  void pause(Connection& c);
  void resume_paused(PortQueue::Handoffs& out);
  void drop(Connection& c);

  const std::shared_ptr<PortCore> core_;
  const std::function<void()> on_accept_paused_;
  io::Poller poller_;
  std::atomic<std::size_t> open_{0};         // connections, readable from any thread
  std::atomic<bool> resume_pending_{false};  // the queue has room again

  // Leadership: at most one receiving thread drives at a time.
  mutable std::mutex lead_mutex_;
  std::condition_variable lead_cv_;
  bool leader_ = false;
  std::uint64_t interrupts_ = 0;
  io::Clock::time_point left_at_{};

  // Everything below: only with mutex_ held.
  std::mutex mutex_;
  net::TcpListener listener_;
  bool leading_ = false;  // a receiving thread is inside lead()
  bool closed_ = false;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::uint64_t> paused_;  // connections waiting for room in the queue
  std::uint64_t next_connection_ = 1;  // key 0 is the listener
  Bytes scratch_;                      // the shared read buffer
};

}  // namespace nexo::msg
