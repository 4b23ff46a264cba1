// The inside of group::Group (group.hpp), shared by group.cpp (the caller's
// side: join, send, receive, leave) and group_loop.cpp (the loop thread's
// side: sockets, timers, the Endpoint). Internal to group/.
//
// Sends cross in batches: send_async() appends {payload, completer} to
// `submitted` under the mutex and posts a pump to the loop only when none is
// posted yet; the loop takes the whole batch in one lock (take_sends). So a
// burst of sends costs one task and one loop wake-up, not one per message.
// Deliveries cross the same way the other way (DeliveryQueue::push_all).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>

#include "nexo/base/counter_file.hpp"
#include "nexo/group/delivery_queue.hpp"
#include "nexo/group/group.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/io/loop_thread.hpp"
#include "nexo/io/timer.hpp"

namespace nexo::group {

struct Group::Impl {
  // --- set before the loop starts, constant after -------------------------
  GroupOptions options;
  std::unique_ptr<Transport> transport;
  std::vector<net::Endpoint> seeds;  // unicast mode, without this member's contact
  MemberId self = 0;
  std::string label;  // counter record label: "NAME ADDRESS"

  // --- the loop thread's ---------------------------------------------------
  std::unique_ptr<io::LoopThread> io;
  std::optional<Endpoint> endpoint;
  std::unique_ptr<io::IoWatcher> unicast_watcher, group_watcher;
  std::unique_ptr<io::Timer> timer;
  struct PendingSend {
    Bytes payload;
    io::Completer<void> done;
  };
  // Sends taken from `submitted`, waiting for room in the protocol's window:
  // the first `pending_head` are gone (a vector, not a deque: swapped with
  // `submitted`, neither allocates in a steady stream).
  std::vector<PendingSend> pending;
  std::size_t pending_head = 0;
  std::vector<PendingSend> intake;  // scratch: `submitted` swapped out under the mutex
  // take_sends' results, for the sends just before pending_head, until
  // complete_sends() completes their requests.
  std::vector<Result<void>> outcomes;
  std::vector<Delivery> ready;         // scratch: take_events' deliveries for push_all
  std::vector<net::Endpoint> fan_out;  // unicast mode: seeds and the view's contacts
  std::optional<io::Completer<void>> joined, left;
  bool stopped = false;  // the I/O is torn down: nothing more happens
  Bytes packet;          // scratch for poll_transmit
  BundleWriter bundle;   // the packets of one transmit() for one destination
  Destination bundle_to;
  Time counters_at{};
  CounterBlock published;

  // --- shared: under mutex ---------------------------------------------------
  mutable std::mutex mutex;
  std::condition_variable changed;  // a view, room for sends, leaving
  View view;
  std::map<MemberId, std::string> names;
  std::function<void(const ViewChange&)> view_callback;
  std::size_t pending_count = 0;       // sends handed over, not yet taken by the protocol
  std::vector<PendingSend> submitted;  // send_async's, not yet moved to `pending`
  // Payload buffers the protocol is done with, back for send_async to copy
  // into: no malloc on the caller's thread and no free on the loop's (a
  // cross-thread free, slow in glibc) per message. Small ones only, at most
  // kSpareBuffers.
  std::vector<Bytes> spare;
  static constexpr std::size_t kSpareBytes = 4096, kSpareBuffers = 1024;
  bool pump_posted = false;  // a pump is posted that will take `submitted`
  bool leaving = false;      // leave() called: no more sends
  bool closed = false;       // the loop stopped

  DeliveryQueue deliveries;
  std::atomic<std::uint64_t> delivered{0};

  // Loop thread (group_loop.cpp).
  Result<void> start(Time now);  // watchers, timer, join
  void pump(Time now);           // everything that can move now
  void stop_io();                // watchers and timer gone; closed
  void start_leave(Time now, io::Completer<void> done);
  GroupCounters read_counters() const;

 private:
  void on_readable(std::uint32_t readiness);
  void on_timer();
  void on_datagram(std::span<const std::byte> datagram, Time now);
  void take_submitted();  // `submitted` (one lock) behind the sends still pending
  bool take_sends(Time now);
  void complete_sends();
  void flush_deliveries();
  bool transmit(Time now);
  void send_bundle(Time now);
  bool take_events(Time now);
  void on_view_change(ViewChange change, Time now);
  void record_sent(std::span<const std::byte> packet, const Destination& to, Time now);
  void arm(Time now);
  void publish(Time now, bool force);
  std::string label_of(MemberId member);
};

}  // namespace nexo::group
