// Test-only: a view's orderers wired together in one process, without a
// Member or a network. Each member's FIFO stream (everything it sent, its
// control messages included, in order) is recorded; a test decides when each
// member gets the next message of each stream (step), so it can play any
// interleaving the reliable FIFO layer allows, stop members' sending, and
// bring survivors to the same FIFO set before flush(), as the virtual-
// synchrony flush would.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nexo/group/order.hpp"

namespace nexo::group::test {

class OrderBus {
 public:
  OrderBus(Order order, std::size_t n, MemberId first_id = 1) {
    for (std::size_t i = 0; i < n; ++i)
      members_.push_back(first_id + i);
    for (std::size_t i = 0; i < n; ++i) {
      orderers_.push_back(make_orderer(order, members_[i], 1, members_));
      streams_.emplace_back();
      cursor_.emplace_back(n, 0);
      delivered_.emplace_back();
      sending_.push_back(true);
    }
  }

  std::size_t size() const { return members_.size(); }
  const std::vector<MemberId>& members() const { return members_; }
  Orderer& orderer(std::size_t i) { return *orderers_[i]; }
  const std::vector<Delivery>& stream(std::size_t i) const { return streams_[i]; }
  std::vector<Delivery>& stream(std::size_t i) { return streams_[i]; }
  // The application's deliveries at member i, in order.
  const std::vector<Delivery>& delivered(std::size_t i) const { return delivered_[i]; }
  // How much of member s's stream member r has had.
  std::size_t cursor(std::size_t r, std::size_t s) const { return cursor_[r][s]; }

  // Member i sends an application message (and delivers it at once).
  void send(std::size_t i, const std::string& text) {
    Bytes meta;
    orderers_[i]->stamp(meta);
    emit(i, Delivery{members_[i], 1, streams_[i].size() + 1, to_bytes(text), meta, false});
  }

  // Member r gets the next message of s's stream, if there is one.
  bool step(std::size_t r, std::size_t s) {
    if (cursor_[r][s] >= streams_[s].size()) return false;
    orderers_[r]->on_fifo(streams_[s][cursor_[r][s]++]);
    pump(r);
    return true;
  }
  // Member r gets one message of a random stream that has one for it.
  bool step_random(std::size_t r, std::mt19937_64& random) {
    std::vector<std::size_t> open;
    for (std::size_t s = 0; s < size(); ++s)
      if (s != r && cursor_[r][s] < streams_[s].size()) open.push_back(s);
    if (open.empty()) return false;
    return step(r, open[random() % open.size()]);
  }
  // Everything of every stream to every member, in a random interleaving.
  void settle(std::mt19937_64& random, const std::vector<bool>& alive) {
    for (bool moved = true; moved;) {
      moved = false;
      for (std::size_t r = 0; r < size(); ++r)
        if (alive[r]) moved |= step_random(r, random);
    }
  }

  // Member i stops sending (its control messages are polled and discarded).
  void stop_sending(std::size_t i) { sending_[i] = false; }

  // Polls member i's control messages (sent, so delivered at once to it) and
  // its deliveries.
  void pump(std::size_t i) {
    Bytes payload, meta;
    while (orderers_[i]->poll_control(payload, meta)) {
      if (sending_[i])
        emit(i, Delivery{members_[i], 1, streams_[i].size() + 1, payload, meta, true}, false);
    }
    while (auto d = orderers_[i]->poll_delivery())
      delivered_[i].push_back(std::move(*d));
  }

  void flush(std::size_t i) {
    orderers_[i]->flush();
    pump(i);
  }

 private:
  void emit(std::size_t i, Delivery d, bool pump_after = true) {
    streams_[i].push_back(d);
    ++cursor_[i][i];
    orderers_[i]->on_fifo(std::move(d));
    if (pump_after) pump(i);
  }

  std::vector<MemberId> members_;
  std::vector<std::unique_ptr<Orderer>> orderers_;
  std::vector<std::vector<Delivery>> streams_;
  std::vector<std::vector<std::size_t>> cursor_;
  std::vector<std::vector<Delivery>> delivered_;
  std::vector<bool> sending_;
};

// "sender:seq" of each delivery, for comparing sequences.
inline std::vector<std::string> keys(const std::vector<Delivery>& deliveries) {
  std::vector<std::string> out;
  out.reserve(deliveries.size());
  for (const Delivery& d : deliveries)
    out.push_back(std::to_string(d.sender) + ":" + std::to_string(d.seq));
  return out;
}

}  // namespace nexo::group::test
