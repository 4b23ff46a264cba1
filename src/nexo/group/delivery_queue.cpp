#include "nexo/group/delivery_queue.hpp"

#include <chrono>

namespace nexo::group {
namespace {

Error closed_error() {
  return Error(ErrorKind::closed, "group receive: this member has left the group");
}

}  // namespace

void DeliveryQueue::push(Delivery delivery) {
  std::unique_lock lock(mutex_);
  if (!waiting_.empty()) {
    io::Completer<Delivery> completer = std::move(waiting_.front().completer);
    waiting_.pop_front();
    lock.unlock();
    completer.complete(std::move(delivery));
    return;
  }
  queue_.push_back(std::move(delivery));
  lock.unlock();
  arrived_.notify_one();
}

Result<Delivery> DeliveryQueue::take(Timeout timeout) {
  std::unique_lock lock(mutex_);
  const auto ready = [this] { return !queue_.empty() || closed_; };
  if (!timeout) {
    arrived_.wait(lock, ready);
  } else if (!arrived_.wait_for(lock, *timeout, ready)) {
    return Error(ErrorKind::timed_out,
                 "group receive: no delivery within " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(*timeout)
                                        .count()) +
                     " ms");
  }
  if (queue_.empty()) return closed_error();
  Delivery d = std::move(queue_.front());
  queue_.pop_front();
  return d;
}

Result<Delivery> DeliveryQueue::try_take() {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) {
    if (closed_) return closed_error();
    return Error(ErrorKind::would_block, "group receive: no delivery waiting");
  }
  Delivery d = std::move(queue_.front());
  queue_.pop_front();
  return d;
}

io::Request<Delivery> DeliveryQueue::take_async() {
  std::unique_lock lock(mutex_);
  if (!queue_.empty()) {
    Delivery d = std::move(queue_.front());
    queue_.pop_front();
    return io::Request<Delivery>::ready(std::move(d));
  }
  if (closed_) return io::Request<Delivery>::ready(closed_error());
  auto [request, completer] = io::Request<Delivery>::make();
  const std::uint64_t id = next_id_++;
  completer.on_cancel([this, id] { cancel(id); });
  waiting_.push_back(Waiting{id, std::move(completer)});
  return request;
}

void DeliveryQueue::cancel(std::uint64_t id) {
  std::unique_lock lock(mutex_);
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->id != id) continue;
    io::Completer<Delivery> completer = std::move(it->completer);
    waiting_.erase(it);
    lock.unlock();
    completer.complete(Error(ErrorKind::canceled, "group receive: canceled"));
    return;
  }
}

void DeliveryQueue::close() {
  std::list<Waiting> waiting;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    waiting.swap(waiting_);
  }
  arrived_.notify_all();
  for (auto& w : waiting)
    w.completer.complete(closed_error());
}

std::size_t DeliveryQueue::size() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace nexo::group
