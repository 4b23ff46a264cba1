// rudp:// internals shared by its port (rudp_port.cpp) and sender
// (rudp_sender.cpp): the message kinds, and the Endpoint both are made of (a
// UDP socket, a reliable::Host, leader/follower reading, the timer).
// Internal to msg/.
//
// rudp://HOST:PORT — reliable datagrams over UDP: the protocol of reliable/
// (a reliable::Host: cookies, acknowledgements, retransmission, windows) on a
// UDP socket driven by the Context's I/O loop.
//
// Each message carries a one-byte kind, then (for the two kinds that need one)
// an 8-byte id, big-endian, then the payload:
//   0 data           a message (port <- sender), or a reply (port -> sender)
//   1 data-to-ack    a synchronous send's message: acknowledge once taken
//   2 taken          the acknowledgement: the receiving process took message id
// The protocol acknowledges arrival; "taken" is the chapter's end-to-end
// acknowledgement of a synchronous send, as on tcp://.
//
// Threads: the Host and the socket are guarded by one mutex. A thread blocked
// in a receive (Port::receive, Sender::receive, send_sync) reads the socket
// itself (leader/follower, io::DrivenPoller), so a message needs no hop from
// the I/O thread; while nobody does, the Context's I/O loop reads it
// (io::LoopFallback). The loop runs the timers. A sending thread hands its
// message to the Host under the mutex, which stages what the Host then has to
// send; one thread at a time (the first to find datagrams staged) hands them
// to the socket outside the mutex, so that a thread in a system call, or
// preempted in one, never holds up the threads that read. Receives complete
// outside the mutex.
//
// Back-pressure: a full port queue leaves messages in their connection, whose
// advertised window shrinks, so the sender slows down; nothing is dropped.
// A full send buffer is would_block for the non-blocking sends.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "nexo/fault/loop_injector.hpp"
#include "nexo/io/driven_poller.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/udp_socket.hpp"
#include "nexo/reliable/host.hpp"

namespace nexo::msg::rudp {

using reliable::Time;

enum Kind : std::uint8_t { kData = 0, kDataToAck = 1, kTaken = 2 };
inline constexpr std::size_t kKindSize = 1, kIdSize = 8;
// Datagrams read, and sent, per system call (and per turn, read).
inline constexpr std::size_t kReadBatch = 64, kSendBatch = 64;
// Datagrams staged for the socket at most: the Host keeps the rest until
// these are out (what is staged counts as sent, its timers running).
inline constexpr std::size_t kOutboxLimit = 4 * kSendBatch;
// The receive slots' memory at most: fewer slots when datagrams are large.
inline constexpr std::size_t kReadMemory = 256 * 1024;
// Receive slots when the socket coalesces runs (UDP GRO): each as long as the
// UDP limit, as a run may be.
inline constexpr std::size_t kRunSlots = 16;

// A message on the wire: its kind, the id (kinds other than kData), the payload.
Bytes frame(Kind kind, std::uint64_t id, std::span<const std::byte> payload);
struct Unframed {
  Kind kind = kData;
  std::uint64_t id = 0;
  std::span<const std::byte> payload;
};
// nullopt: not a message of any kind (counted as malformed by the caller).
std::optional<Unframed> unframe(std::span<const std::byte> message);

// Datagram sizes, in bytes of UDP payload: a connection's packets are at
// least kMinDatagram (the protocol's 1200-byte payload and its header) and, by
// default, at most kDefaultMaxDatagram (larger ones save little more, and
// make a loss cost more).
inline constexpr std::size_t kMinDatagram = 1200 + reliable::kDataOverhead;
inline constexpr std::size_t kDefaultMaxDatagram = 16 * 1024;

// The protocol's settings for messages up to `max_message` bytes in datagrams
// of up to `max_datagram` bytes.
reliable::Config protocol_config(std::size_t max_message, std::chrono::milliseconds broken_after,
                                 std::size_t max_datagram);
// The datagram size a sender uses on `socket` (connected): `wanted` if set,
// else what the path carries unfragmented, up to kDefaultMaxDatagram.
// invalid_argument when `wanted` is outside [kMinDatagram, the UDP limit].
Result<std::size_t> sender_datagram(const net::UdpSocket& socket, std::size_t wanted);

class Endpoint;

// The socket's Poller, driven by whoever waits for a message (see above).
class Driver final : public io::DrivenPoller {
 public:
  Driver(io::Poller poller, std::weak_ptr<Endpoint> owner)
      : io::DrivenPoller(std::move(poller)), owner_(std::move(owner)) {}

 private:
  void handle(std::span<const io::Poller::Event> events) override;
  std::weak_ptr<Endpoint> owner_;
};

// The counter-file record of a Host's counters (type rudp_host, labelled with
// the local address), and the copy into it: the Host is a plain state machine,
// so its counters are published from here, where it is driven.
CounterBlock host_counter_block(const net::Endpoint& local);
void publish_host_counters(const reliable::HostCounters& counters, CounterBlock& block) noexcept;

class Endpoint : public std::enable_shared_from_this<Endpoint> {
 public:
  Endpoint(Context& context, net::UdpSocket socket, const reliable::HostConfig& config)
      : context_(context),
        socket_(std::move(socket)),
        host_(config),
        host_stats_(host_counter_block(socket_.local_endpoint())) {}
  virtual ~Endpoint() = default;

  // Loop thread: watch the socket, arm the timer. With a fault plan, what is
  // sent goes through plan.to and what arrives through plan.back.
  Result<void> start(const std::optional<fault::Plan>& faults) {
    if (faults && faults->to.active()) {
      out_faults_ = std::make_unique<fault::LoopInjector>(
          context_.io(), faults->to, faults->seed,
          [this](std::span<const std::byte> bytes, const fault::Injector::Tag& to) {
            // Any thread; the socket is safe to send on concurrently.
            (void)(to ? socket_.send_to(bytes, *static_cast<const net::Endpoint*>(to.get()))
                      : socket_.send(bytes));
          });
    }
    if (faults && faults->back.active()) {
      in_faults_ = std::make_unique<fault::LoopInjector>(
          context_.io(), faults->back, faults->seed ^ 0x9e3779b97f4a7c15ULL,
          [this](std::span<const std::byte> bytes, const fault::Injector::Tag& from) {
            // Inside on_ready (which then takes them), or from the injector's
            // timer on the loop thread (then a turn of on_ready is posted).
            {
              std::lock_guard inbox_lock(inbox_mutex_);
              inbox_.emplace_back(*static_cast<const net::Endpoint*>(from.get()),
                                  Bytes(bytes.begin(), bytes.end()));
            }
            if (reader_.load() != std::this_thread::get_id()) {
              context_.io().post([weak = weak_from_this()] {
                if (auto self = weak.lock()) self->on_ready(0);
              });
            }
          });
    }
    // Runs of datagrams in one slot where the kernel coalesces them (GRO):
    // best effort, separate datagrams otherwise.
    (void)socket_.set_receive_coalescing(true);
    auto poller = io::Poller::create();
    if (!poller) return std::move(poller).error();
    if (auto added = poller->add(socket_.native_handle(), io::kReadable, 1); !added)
      return std::move(added).error();
    driver_ = std::make_shared<Driver>(std::move(*poller), weak_from_this());
    auto started = context_.io().call<bool>([this]() -> Result<bool> {
      timer_ = std::make_unique<io::Timer>(context_.io().loop(), [this] { on_timer(); });
      return true;
    });
    if (!started) return std::move(started).error();
    auto fallback = io::LoopFallback::start(context_.io(), driver_);
    if (!fallback) return std::move(fallback).error();
    fallback_ = std::move(*fallback);
    return ok();
  }
  // Stops the loop's part; the socket closes. Idempotent.
  void stop() {
    {
      std::unique_lock lock(mutex_);
      stopped_ = true;  // nothing more is staged or handed to the socket
      changed_.wait(lock, [&] { return !transmitting_; });
    }
    fallback_.reset();
    (void)context_.io().call<bool>([this]() -> Result<bool> {
      timer_.reset();
      in_faults_.reset();  // what they still hold is lost, as on a network
      out_faults_.reset();
      return true;
    });
    std::lock_guard lock(mutex_);
    if (driver_ && socket_.is_open()) driver_->poller().remove(socket_.native_handle());
    socket_.close();
  }

  std::shared_ptr<io::Progress> progress() const { return driver_; }
  void want_background() {
    if (fallback_) fallback_->want_background();
  }

  // The socket is ready (`readiness`), or datagrams wait in the fault plan's
  // inbox: any thread (a leading receiver or the loop).
  void on_ready(std::uint32_t readiness);

 protected:
  // With mutex_ held, after datagrams or timers: move messages out of the
  // Host; completions into `later` (they run after the mutex is released).
  virtual void process_locked(Time now, PortQueue::Handoffs& handoffs,
                              std::vector<std::function<void()>>& later) = 0;
  // After transmitting (with mutex_ held): what the transmissions completed.
  virtual void after_flush_locked(std::vector<std::function<void()>>&) {}
  // A send on the socket failed with `error` (ECONNREFUSED on a connected socket).
  virtual void on_socket_error_locked(const Error&, std::vector<std::function<void()>>&) {}

  // Stages what the Host has to send (up to kOutboxLimit datagrams), for
  // transmit() to hand to the socket.
  void flush_locked(Time now);
  // With `lock` (on mutex_) held; returns with it released. Hands the staged
  // datagrams to the socket outside the mutex, kSendBatch per system call,
  // unless another thread is doing so (it takes these too); keeps what the
  // socket will not take now. Completions of a socket error go to `later`.
  void transmit(std::unique_lock<std::mutex>& lock, std::vector<std::function<void()>>& later);
  // Stages and transmits now, then takes `lock` again (before a wait).
  void flush_now(std::unique_lock<std::mutex>& lock, Time now) {
    flush_locked(now);
    std::vector<std::function<void()>> later;
    transmit(lock, later);
    for (auto& f : later)
      f();
    lock.lock();
  }
  // Makes the loop's timer fire by the Host's next deadline.
  void rearm_locked() {
    const auto next = host_.next_timer();
    if (!next) return;
    if (armed_at_ && *armed_at_ <= *next) return;
    armed_at_ = next;
    if (context_.io().in_loop_thread()) {
      if (timer_) timer_->start_at(*next);
      return;
    }
    context_.io().post([weak = weak_from_this(), at = *next] {
      if (auto self = weak.lock(); self && self->timer_) self->timer_->start_at(at);
    });
  }
  // A turn of the loop's work: `before(now)` with the mutex held, then move
  // messages out of the Host, transmit, rearm, and complete outside the lock.
  template <class Before>
  void take_turn(Before before) {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    const Time now = reliable::Clock::now();
    before(now);
    process_locked(now, handoffs, later);
    flush_locked(now);
    after_flush_locked(later);
    rearm_locked();
    finish(lock, handoffs, later);
  }
  void take_turn() {
    take_turn([](Time) {});
  }

  // The end of every operation: transmit, then complete outside the lock.
  void finish(std::unique_lock<std::mutex>& lock, PortQueue::Handoffs& handoffs,
              std::vector<std::function<void()>>& later) {
    changed_.notify_all();
    transmit(lock, later);
    handoffs.run();
    for (auto& f : later)
      f();
  }

  // Closing: waits (up to `linger`, not on the loop thread) until `done()`,
  // while the loop goes on exchanging acknowledgements and CLOSEs.
  template <class Done>
  void linger(std::unique_lock<std::mutex>& lock, Done done) {
    if (context_.io().in_loop_thread()) return;
    changed_.wait_for(lock, kLinger, done);
  }
  static constexpr auto kLinger = std::chrono::seconds(2);

  Context& context_;
  std::mutex mutex_;
  std::condition_variable changed_;  // the loop made progress
  net::UdpSocket socket_;
  reliable::Host host_;
  CounterBlock host_stats_;  // host_.counters() as nexo stat sees them (published in serve)
  std::optional<net::Endpoint> connected_;  // the sender's socket is connected

 private:
  // What hand_over did: datagrams taken (a datagram the OS refuses counts as
  // taken: lost, the protocol resends it), whether the socket was full, and
  // the last error.
  struct Handed {
    std::size_t taken = 0;
    bool full = false;
    std::optional<Error> error;
  };
  // Without mutex_, by the transmitting thread: hands `datagrams` to the
  // socket (or the fault plan) until it takes no more.
  Handed hand_over(std::span<const std::pair<net::Endpoint, Bytes>> datagrams);
  // With mutex_: puts `rest` (taken from outbox_ earlier) back before what
  // was staged since.
  void requeue_locked(std::span<std::pair<net::Endpoint, Bytes>> rest);
  // Reads what the socket holds (up to kReadBatch datagrams) into the Host.
  void read_locked(Time now, std::vector<std::function<void()>>& later);

  void serve(std::uint32_t readiness) {
    PortQueue::Handoffs handoffs;
    std::vector<std::function<void()>> later;
    std::unique_lock lock(mutex_);
    const Time now = reliable::Clock::now();
    if (readiness & (io::kReadable | io::kHangup)) read_locked(now, later);
    std::vector<std::pair<net::Endpoint, Bytes>> arrived;
    {
      std::lock_guard inbox_lock(inbox_mutex_);
      arrived.swap(inbox_);
    }
    for (auto& [from, datagram] : arrived)
      host_.on_datagram(datagram, from, now);
    publish_host_counters(host_.counters(), host_stats_);  // for nexo stat
    if ((readiness & io::kWritable) && writable_armed_) {
      writable_armed_ = false;
      (void)driver_->poller().modify(socket_.native_handle(), io::kReadable, 1);
    }
    process_locked(now, handoffs, later);
    flush_locked(now);
    after_flush_locked(later);
    rearm_locked();
    finish(lock, handoffs, later);
  }

  void on_timer() {
    take_turn([this](Time now) {
      armed_at_.reset();
      host_.on_timer(now);
    });
  }

  std::shared_ptr<Driver> driver_;              // set by start()
  std::unique_ptr<io::LoopFallback> fallback_;  // set by start()
  // Loop thread only.
  std::unique_ptr<io::Timer> timer_;
  std::unique_ptr<fault::LoopInjector> in_faults_, out_faults_;  // set before start()
  // With mutex_: where read_locked receives, slots of host_.largest_datagram().
  std::unique_ptr<std::byte[]> receive_memory_;
  std::vector<net::InSlot> slots_;
  // Datagrams that came through in_faults_, for host_.
  std::mutex inbox_mutex_;
  std::vector<std::pair<net::Endpoint, Bytes>> inbox_;
  std::atomic<std::thread::id> reader_{};  // the thread pushing into in_faults_
  // With mutex_: the datagrams staged for the socket, oldest first, are
  // outbox_[0, outbox_count_) (the entries past them keep their buffers, for
  // poll_transmit to reuse). sending_ is what the transmitting thread hands
  // over; it swaps with outbox_. transmitting_: a thread is handing over;
  // stopped_: stop() began, nothing more is staged.
  std::vector<std::pair<net::Endpoint, Bytes>> outbox_, sending_;
  std::size_t outbox_count_ = 0;
  bool transmitting_ = false;
  bool stopped_ = false;
  std::optional<Time> armed_at_;
  bool writable_armed_ = false;
};

}  // namespace nexo::msg::rudp
