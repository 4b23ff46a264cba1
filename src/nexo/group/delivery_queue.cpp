#include "nexo/group/delivery_queue.hpp"

#include <chrono>
#include <utility>

namespace nexo::group {
namespace {

// A ring grown past this by a burst is given back once emptied.
constexpr std::size_t kKeptCapacity = std::size_t{4} << 20;

Error closed_error() {
  return Error(ErrorKind::closed, "group receive: this member has left the group");
}

}  // namespace

void DeliveryQueue::append(const Delivery& delivery) {
  log_.push_back(
      delivery.payload, delivery.meta,
      Info{delivery.sender, delivery.view, delivery.seq, delivery.control, delivery.missing_since});
}

Delivery DeliveryQueue::pop_front() {
  const auto e = log_.front();
  Delivery d{e.info.sender,
             e.info.view,
             e.info.seq,
             Bytes(e.payload.begin(), e.payload.end()),
             Bytes(e.meta.begin(), e.meta.end()),
             e.info.control,
             e.info.missing_since};
  log_.pop_front();
  if (log_.empty() && log_.capacity() > kKeptCapacity) log_.release();
  return d;
}

void DeliveryQueue::push(Delivery delivery) {
  std::unique_lock lock(mutex_);
  if (!waiting_.empty()) {
    io::Completer<Delivery> completer = std::move(waiting_.front().completer);
    waiting_.pop_front();
    lock.unlock();
    completer.complete(std::move(delivery));
    return;
  }
  append(delivery);
  const bool wake = sleepers_ > 0;
  lock.unlock();
  if (wake) arrived_.notify_one();
}

void DeliveryQueue::push_all(std::vector<Delivery>& batch) {
  if (batch.empty()) return;
  // Waiting receive_async requests take the first ones (the ring is empty
  // while any waits); they complete after the lock is released.
  std::vector<std::pair<io::Completer<Delivery>, Delivery>> handed;
  std::size_t queued = 0;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    std::size_t i = 0;
    for (; i < batch.size() && !waiting_.empty(); ++i) {
      handed.emplace_back(std::move(waiting_.front().completer), std::move(batch[i]));
      waiting_.pop_front();
    }
    for (; i < batch.size(); ++i, ++queued)
      append(batch[i]);
    wake = queued > 0 && sleepers_ > 0;
  }
  if (wake) {
    if (queued == 1) {
      arrived_.notify_one();
    } else {
      arrived_.notify_all();
    }
  }
  for (auto& [completer, delivery] : handed)
    completer.complete(std::move(delivery));
}

Result<Delivery> DeliveryQueue::take(Timeout timeout) {
  std::unique_lock lock(mutex_);
  const auto ready = [this] { return !log_.empty() || closed_; };
  if (!ready()) {
    ++sleepers_;
    bool arrived = true;
    if (!timeout) {
      arrived_.wait(lock, ready);
    } else {
      arrived = arrived_.wait_for(lock, *timeout, ready);
    }
    --sleepers_;
    if (!arrived) {
      lock.unlock();
      return Error(
          ErrorKind::timed_out,
          "group receive: no delivery within " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::milliseconds>(*timeout).count()) +
              " ms");
    }
  }
  if (log_.empty()) return closed_error();
  return pop_front();
}

Result<Delivery> DeliveryQueue::try_take() {
  std::lock_guard lock(mutex_);
  if (log_.empty()) {
    if (closed_) return closed_error();
    return Error(ErrorKind::would_block, "group receive: no delivery waiting");
  }
  return pop_front();
}

io::Request<Delivery> DeliveryQueue::take_async() {
  std::unique_lock lock(mutex_);
  if (!log_.empty()) return io::Request<Delivery>::ready(pop_front());
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
  return log_.size();
}

std::size_t DeliveryQueue::sleeping() const {
  std::lock_guard lock(mutex_);
  return sleepers_;
}

}  // namespace nexo::group
