// DeliveryQueue — a Group's deliveries waiting for the application: taken by
// blocking, try and asynchronous receives (msg::Port's modes), oldest first.
// Internal to group/.
//
// The loop thread hands over the deliveries of one pump in batches of up
// to 128 (push_all; group_loop.cpp's kHandOverBatch): one lock, and one
// wake-up only if a receive() sleeps, instead of a lock and a futex call per
// message.
//
// The bytes cross in a MessageLog (message_log.hpp): push copies them into
// its ring, take copies them out into a new Delivery on the taking thread.
// Handing over the loop's own buffers instead made every delivery a
// cross-thread free: allocated by the loop thread, freed by the
// application's, which in glibc means the arena's lock and its slow paths,
// on both threads, per message (a quarter of a receiver's CPU at 100k
// messages/s). Now each thread frees what it allocated, from its own cache,
// and a steady stream allocates nothing in the queue itself (the ring is
// given back, emptied, after a burst of megabytes).
//
// Thread contract: any thread. push() and push_all() complete waiting
// receive_async Requests on the pushing thread (their then() callbacks run
// there).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/group/member.hpp"
#include "nexo/group/message_log.hpp"
#include "nexo/io/request.hpp"

namespace nexo::group {

class DeliveryQueue {
 public:
  // Queues `delivery`, or hands it to the oldest waiting receive_async.
  void push(Delivery delivery);
  // push() of each of `batch` in order, under one lock. The bytes are
  // copied: `batch`'s deliveries keep their buffers, for the caller to reuse
  // (all but those handed to a waiting receive_async, moved out).
  void push_all(std::vector<Delivery>& batch);
  // Blocks until a delivery is there; timed_out, or closed once closed and empty.
  Result<Delivery> take(Timeout timeout);
  // would_block when empty (closed when closed and empty).
  Result<Delivery> try_take();
  // Completes with the next delivery; cancel() completes it with canceled.
  io::Request<Delivery> take_async();
  // No more deliveries will come: waiting receives complete with closed
  // (queued deliveries are still taken first). Idempotent.
  void close();
  std::size_t size() const;
  // take() calls blocked now, waiting for a delivery (tests wait for it).
  std::size_t sleeping() const;

 private:
  struct Waiting {
    std::uint64_t id;
    io::Completer<Delivery> completer;
  };
  void cancel(std::uint64_t id);
  // The ring, under mutex_.
  void append(const Delivery& delivery);
  Delivery pop_front();

  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  struct Info {
    MemberId sender = 0;
    std::uint64_t view = 0, seq = 0;
    bool control = false;
    Time missing_since{};
  };
  MessageLog<Info> log_;
  std::size_t sleepers_ = 0;    // take() calls waiting on arrived_
  std::list<Waiting> waiting_;  // receive_async requests, oldest first
  std::uint64_t next_id_ = 1;
  bool closed_ = false;
};

}  // namespace nexo::group
