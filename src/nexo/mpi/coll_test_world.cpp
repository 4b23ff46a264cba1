#include "nexo/mpi/coll_test_world.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>

namespace nexo::mpi::test {

FakeWorld::FakeWorld(int n, std::chrono::milliseconds deadline, FastPaths fast)
    : n_(n),
      deadline_(deadline),
      waiting_(static_cast<std::size_t>(n)),
      sends_count_(static_cast<std::size_t>(n) * static_cast<std::size_t>(n)),
      fast_(fast) {}

bool FakeWorld::offers_fast_paths(int rank) const {
  return fast_ == FastPaths::all || (fast_ == FastPaths::odd_ranks && rank % 2 == 1);
}

std::uint64_t FakeWorld::fast_sends() const {
  std::lock_guard lock(mu_);
  return fast_sends_;
}

std::uint64_t FakeWorld::fast_receives() const {
  std::lock_guard lock(mu_);
  return fast_receives_;
}

Result<bool> FakeWorld::send_now(int source, int dest, int tag, std::span<const std::byte> data) {
  if (dest < 0 || dest >= n_ || tag < 0)
    return Error(ErrorKind::invalid_argument, "fake channel: send to rank " + std::to_string(dest) +
                                                  " tag " + std::to_string(tag));
  std::lock_guard lock(mu_);
  auto it = std::find_if(recvs_.begin(), recvs_.end(), [&](const Recv& r) {
    return r.dest == dest && r.source == source && r.tag == tag;
  });
  if (it == recvs_.end()) return false;  // no buffering: the rendezvous must wait
  ++sends_count_[static_cast<std::size_t>(source * n_ + dest)];
  ++fast_sends_;
  match(Send{source, dest, tag, data, 0}, *it);
  recvs_.erase(it);
  return true;
}

Result<bool> FakeWorld::recv_now(int dest, int source, int tag, std::span<std::byte> buffer) {
  if (source < 0 || source >= n_ || tag < 0)
    return Error(ErrorKind::invalid_argument, "fake channel: receive from rank " +
                                                  std::to_string(source) + " tag " +
                                                  std::to_string(tag));
  std::lock_guard lock(mu_);
  auto it = std::find_if(sends_.begin(), sends_.end(), [&](const Send& s) {
    return s.dest == dest && s.source == source && s.tag == tag;
  });
  // As the runtime's: a message that does not fit is left to the normal receive (truncation).
  if (it == sends_.end() || it->data.size() > buffer.size()) return false;
  ++fast_receives_;
  match(*it, Recv{source, dest, tag, buffer, 0});
  sends_.erase(it);
  return true;
}

std::vector<Result<void>> FakeWorld::run(const std::function<Result<void>(CollChannel&)>& body) {
  std::vector<Result<void>> results(static_cast<std::size_t>(n_));
  {
    std::lock_guard lock(mu_);
    running_ = n_;
    deadlock_ = false;
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < n_; ++r) {
    threads.emplace_back([this, r, &body, &results] {
      FakeChannel channel(*this, r);
      results[static_cast<std::size_t>(r)] = body(channel);
      finished();
    });
  }
  for (auto& t : threads)
    t.join();
  return results;
}

std::size_t FakeWorld::unmatched() const {
  std::lock_guard lock(mu_);
  return sends_.size() + recvs_.size();
}

std::uint64_t FakeWorld::sends_of(int rank) const {
  std::uint64_t sum = 0;
  for (int dest = 0; dest < n_; ++dest)
    sum += sends_to(rank, dest);
  return sum;
}

std::uint64_t FakeWorld::sends_to(int rank, int dest) const {
  std::lock_guard lock(mu_);
  return sends_count_[static_cast<std::size_t>(rank * n_ + dest)];
}

bool FakeWorld::deadlocked() const {
  std::lock_guard lock(mu_);
  return deadlock_;
}

void FakeWorld::match(const Send& send, const Recv& recv) {
  std::optional<Error> error;
  std::size_t bytes = std::min(send.data.size(), recv.buffer.size());
  if (bytes > 0) std::memcpy(recv.buffer.data(), send.data.data(), bytes);
  if (send.data.size() > recv.buffer.size())
    error = Error(ErrorKind::truncated, "fake channel: a message of " +
                                            std::to_string(send.data.size()) + " bytes from rank " +
                                            std::to_string(send.source) + " (tag " +
                                            std::to_string(send.tag) + ") for a buffer of " +
                                            std::to_string(recv.buffer.size()));
  // Id 0: a fast path's side, complete already (nobody waits for it).
  if (send.id != 0) done_[send.id] = std::nullopt;
  if (recv.id != 0) done_[recv.id] = error;
  cv_.notify_all();
}

Result<std::uint64_t> FakeWorld::isend(int source, int dest, int tag,
                                       std::span<const std::byte> data) {
  if (dest < 0 || dest >= n_ || tag < 0)
    return Error(ErrorKind::invalid_argument, "fake channel: send to rank " + std::to_string(dest) +
                                                  " tag " + std::to_string(tag));
  std::lock_guard lock(mu_);
  Send send{source, dest, tag, data, next_id_++};
  ++sends_count_[static_cast<std::size_t>(source * n_ + dest)];
  auto it = std::find_if(recvs_.begin(), recvs_.end(), [&](const Recv& r) {
    return r.dest == dest && r.source == source && r.tag == tag;
  });
  if (it == recvs_.end()) {
    sends_.push_back(send);
  } else {
    match(send, *it);
    recvs_.erase(it);
  }
  return send.id;
}

Result<std::uint64_t> FakeWorld::irecv(int dest, int source, int tag, std::span<std::byte> buffer) {
  if (source < 0 || source >= n_ || tag < 0)
    return Error(ErrorKind::invalid_argument, "fake channel: receive from rank " +
                                                  std::to_string(source) + " tag " +
                                                  std::to_string(tag));
  std::lock_guard lock(mu_);
  Recv recv{source, dest, tag, buffer, next_id_++};
  auto it = std::find_if(sends_.begin(), sends_.end(), [&](const Send& s) {
    return s.dest == dest && s.source == source && s.tag == tag;
  });
  if (it == sends_.end()) {
    recvs_.push_back(recv);
  } else {
    match(*it, recv);
    sends_.erase(it);
  }
  return recv.id;
}

bool FakeWorld::complete(const std::vector<std::uint64_t>& ids) const {
  return std::all_of(ids.begin(), ids.end(), [&](std::uint64_t id) { return done_.contains(id); });
}

// Deadlock: every running rank waits, and none of the waits can complete. Nothing but a running
// rank posts, so nothing will change.
void FakeWorld::check_deadlock() {
  int waiting = 0;
  for (const auto& ids : waiting_) {
    if (ids.empty()) continue;
    if (complete(ids)) return;
    ++waiting;
  }
  if (waiting > 0 && waiting == running_) {
    deadlock_ = true;
    cv_.notify_all();
  }
}

void FakeWorld::finished() {
  std::lock_guard lock(mu_);
  --running_;
  check_deadlock();
}

Result<void> FakeWorld::wait_all(int rank, std::span<const std::uint64_t> ids) {
  std::unique_lock lock(mu_);
  auto& waiting = waiting_[static_cast<std::size_t>(rank)];
  waiting.assign(ids.begin(), ids.end());
  check_deadlock();
  auto until = std::chrono::steady_clock::now() + deadline_;
  bool in_time = cv_.wait_until(lock, until, [&] { return deadlock_ || complete(waiting); });
  bool done = complete(waiting);
  waiting.clear();
  if (!done) {
    if (!in_time)
      return Error(ErrorKind::timed_out,
                   "fake channel: rank " + std::to_string(rank) + " waited past the deadline");
    return Error(ErrorKind::canceled, "fake channel: deadlock (rank " + std::to_string(rank) +
                                          " waits and every other rank waits or has returned)");
  }
  std::optional<Error> first;
  for (auto id : ids) {
    auto it = done_.find(id);
    if (it->second && !first) first = it->second;
    done_.erase(it);
  }
  if (first) return *first;
  return ok();
}

}  // namespace nexo::mpi::test
