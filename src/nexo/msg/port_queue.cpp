#include "nexo/msg/port_queue.hpp"

namespace nexo::msg {

bool PortQueue::full_locked(std::size_t incoming) const {
  if (entries_.empty()) return false;  // one message always fits, whatever its size
  return entries_.size() >= limits_.max_messages || bytes_ + incoming > limits_.max_bytes;
}

bool PortQueue::half_empty_locked() const {
  return entries_.size() <= limits_.max_messages / 2 && bytes_ <= limits_.max_bytes / 2;
}

void PortQueue::Handoffs::run() {
  std::vector<Item> items;
  items.swap(items_);
  for (auto& item : items) {
    item.completer.complete(std::move(item.message));
    if (item.on_taken) item.on_taken();
  }
}

std::vector<std::function<void()>> PortQueue::take_space_listeners_locked() {
  std::vector<std::function<void()>> out;
  out.swap(space_listeners_);
  return out;
}

PortQueue::Offer PortQueue::offer(Message& message, OnTaken on_taken, Handoffs* later) {
  std::unique_lock lock(mutex_);
  if (closed_) return Offer::closed;
  if (!waiters_.empty()) {  // a receive is waiting: hand the message straight over
    io::Completer<Message> completer = std::move(waiters_.front().completer);
    waiters_.pop_front();
    lock.unlock();
    counters_.add_in(message.size());
    if (later != nullptr) {
      later->items_.push_back({std::move(completer), std::move(message), std::move(on_taken)});
      return Offer::accepted;
    }
    completer.complete(std::move(message));
    if (on_taken) on_taken();
    return Offer::accepted;
  }
  if (full_locked(message.size())) return Offer::full;
  bytes_ += message.size();
  counters_.add_in(message.size());
  entries_.push_back(Entry{std::move(message), std::move(on_taken)});
  counters_.note_queue_depth(entries_.size());
  return Offer::accepted;
}

PortQueue::Offered PortQueue::offer_all(std::span<Arrival> arrivals, Handoffs& later) {
  std::lock_guard lock(mutex_);
  if (closed_) return {0, Offer::closed};
  Offered offered;
  std::uint64_t bytes = 0;
  for (Arrival& arrival : arrivals) {
    const std::size_t size = arrival.message.size();
    if (!waiters_.empty()) {  // a receive is waiting: hand the message straight over
      later.items_.push_back({std::move(waiters_.front().completer), std::move(arrival.message),
                              std::move(arrival.on_taken)});
      waiters_.pop_front();
    } else if (full_locked(size)) {
      offered.stop = Offer::full;
      break;
    } else {
      bytes_ += size;
      entries_.push_back(std::move(arrival));
    }
    ++offered.accepted;
    bytes += size;
  }
  counters_.add_in_many(offered.accepted, bytes);
  counters_.note_queue_depth(entries_.size());
  return offered;
}

void PortQueue::when_space(std::function<void()> listener) {
  std::unique_lock lock(mutex_);
  if (closed_ || half_empty_locked()) {
    lock.unlock();
    listener();  // there is room (or never will be): let the caller look again now
    return;
  }
  space_listeners_.push_back(std::move(listener));
}

PortQueue::Entry PortQueue::pop_locked(std::vector<std::function<void()>>& listeners) {
  Entry entry = std::move(entries_.front());
  entries_.pop_front();
  bytes_ -= entry.message.size();
  if (!space_listeners_.empty() && half_empty_locked()) listeners = take_space_listeners_locked();
  return entry;
}

Result<Message> PortQueue::try_take() {
  if (auto message = take_now()) return std::move(*message);
  std::lock_guard lock(mutex_);
  if (closed_ && entries_.empty()) return close_error_;
  return Error(ErrorKind::would_block, "receive: no message waiting");
}

std::optional<Message> PortQueue::take_now() {
  std::unique_lock lock(mutex_);
  if (entries_.empty()) return std::nullopt;
  std::vector<std::function<void()>> listeners;
  Entry entry = pop_locked(listeners);
  lock.unlock();
  if (entry.on_taken) entry.on_taken();
  for (auto& listener : listeners)
    listener();
  return std::move(entry.message);
}

// The asynchronous path plus a wait; the wait drives the transport's I/O if it
// can (see io/progress.hpp), so the message needs no hop from the I/O thread.
Result<Message> PortQueue::take(Timeout timeout, std::shared_ptr<io::Progress> progress,
                                std::string_view what, const Uri& where) {
  if (auto message = take_now()) return std::move(*message);  // at once, no Request
  auto request = take_async(std::move(progress));
  if (!timeout) return request.wait();
  if (auto done = request.wait_for(*timeout)) return std::move(*done);
  request.cancel();  // either cancels the waiting receive, or it completed meanwhile
  auto late = request.wait();
  if (late || !late.error().is(ErrorKind::canceled)) return late;
  return Error(ErrorKind::timed_out, std::string(what) + " " + where.to_string() +
                                         ": no message within " + std::to_string(timeout->count()) +
                                         " ms");
}

io::Request<Message> PortQueue::take_async(std::shared_ptr<io::Progress> progress) {
  auto [request, completer] = io::Request<Message>::make(std::move(progress));
  std::unique_lock lock(mutex_);
  if (!entries_.empty() || closed_) {  // raced with an offer or a close: take again
    lock.unlock();
    completer.complete(try_take());
    return request;
  }
  const std::uint64_t id = next_waiter_++;
  waiters_.push_back(Waiter{id, std::move(completer)});
  waiters_.back().completer.on_cancel([this, id] {
    io::Completer<Message> canceled;
    {
      std::lock_guard guard(mutex_);
      for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
        if (it->id == id) {
          canceled = std::move(it->completer);
          waiters_.erase(it);
          break;
        }
      }
    }
    canceled.complete(Error(ErrorKind::canceled, "receive canceled"));
  });
  return request;
}

void PortQueue::close(std::optional<Error> why) {
  std::list<Waiter> waiters;
  std::vector<std::function<void()>> listeners;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    if (why) close_error_ = *std::move(why);
    waiters.swap(waiters_);
    listeners = take_space_listeners_locked();
  }
  for (auto& w : waiters)
    w.completer.complete(close_error_);
  for (auto& listener : listeners)
    listener();
}

void PortQueue::discard() {
  std::deque<Entry> dropped;
  {
    std::lock_guard lock(mutex_);
    dropped.swap(entries_);
    bytes_ = 0;
  }
  // Destroying an entry destroys its on_taken: an abandoned Completer completes closed.
}

std::size_t PortQueue::depth() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace nexo::msg
