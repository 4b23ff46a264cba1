// DeliveryQueue — a Group's deliveries waiting for the application: taken by
// blocking, try and asynchronous receives (msg::Port's modes), oldest first.
// Internal to group/.
//
// Thread contract: any thread. push() completes a waiting receive_async
// Request on the pushing thread (its then() callback runs there).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>

#include "nexo/base/result.hpp"
#include "nexo/group/member.hpp"
#include "nexo/io/request.hpp"

namespace nexo::group {

class DeliveryQueue {
 public:
  // Queues `delivery`, or hands it to the oldest waiting receive_async.
  void push(Delivery delivery);
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

 private:
  struct Waiting {
    std::uint64_t id;
    io::Completer<Delivery> completer;
  };
  void cancel(std::uint64_t id);

  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Delivery> queue_;
  std::list<Waiting> waiting_;  // receive_async requests, oldest first
  std::uint64_t next_id_ = 1;
  bool closed_ = false;
};

}  // namespace nexo::group
