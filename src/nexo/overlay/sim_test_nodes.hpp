// Nodes for the simulator's tests: a Recorder that sends what a test tells it
// and records what it receives, and a PingNode, the trivial node of the scale
// tests, which pings a random address every few seconds and answers pings.
#pragma once

#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "nexo/fault/random.hpp"
#include "nexo/overlay/datagram_node.hpp"
#include "nexo/overlay/sim_network.hpp"

namespace nexo::overlay::sim::test {

inline Bytes bytes_of(std::uint64_t value) {
  Bytes bytes(sizeof value);
  std::memcpy(bytes.data(), &value, sizeof value);
  return bytes;
}

inline std::uint64_t value_of(std::span<const std::byte> bytes) {
  std::uint64_t value = 0;
  std::memcpy(&value, bytes.data(), std::min(bytes.size(), sizeof value));
  return value;
}

struct Arrival {
  net::Endpoint from;
  std::uint64_t value;
  Time at;
};

// Sends what send() queues; its timer is `timer` (a test sets it), and when
// it fires it runs `on_fire` (default: no timer any more).
class Recorder : public DatagramNode {
 public:
  explicit Recorder(const net::Endpoint& address) : self(address) {}

  void on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from,
                   Time now) override {
    received.push_back({from, value_of(datagram), now});
  }
  void on_timer(Time now) override {
    fired.push_back(now);
    timer.reset();
    if (on_fire) on_fire(*this, now);
  }
  std::optional<Time> next_timer() const override { return timer; }
  bool poll_transmit(Bytes& out, net::Endpoint& to) override {
    if (outbox.empty()) return false;
    out = std::move(outbox.front().first);
    to = outbox.front().second;
    outbox.pop_front();
    return true;
  }
  void send(const net::Endpoint& to, std::uint64_t value) {
    outbox.emplace_back(bytes_of(value), to);
  }
  void send_bytes(const net::Endpoint& to, Bytes bytes) {
    outbox.emplace_back(std::move(bytes), to);
  }

  net::Endpoint self;
  std::vector<Arrival> received;
  std::vector<Time> fired;
  std::optional<Time> timer;
  std::deque<std::pair<Bytes, net::Endpoint>> outbox;
  std::function<void(Recorder&, Time)> on_fire;
};

inline Factory recorder() {
  return [](const net::Endpoint& self) { return std::make_unique<Recorder>(self); };
}

// Every `period` (with up to a quarter of it of random spread) pings the
// address of a random slot among those handed out; answers each ping with a
// pong. Datagrams: 1 byte of kind, 8 of nonce. Holds only its own state: a
// few tens of bytes, and a queue that is empty between drains.
class PingNode : public DatagramNode {
 public:
  PingNode(const Network& network, Time now, Duration period, std::uint64_t seed)
      : network_(&network), period_(period), random_(seed) {
    next_ = now + Duration(static_cast<Duration::rep>(
                      random_.below(static_cast<std::uint64_t>(period.count()))));
  }

  void on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from, Time) override {
    if (datagram.size() != 9) return;
    if (datagram[0] == std::byte{'p'}) {
      queue(from, 'P', value_of(datagram.subspan(1)));
    } else if (datagram[0] == std::byte{'P'}) {
      ++pongs;
    }
  }
  void on_timer(Time now) override {
    const auto slot = static_cast<Slot>(random_.below(network_->slots()));
    queue(address_of(slot), 'p', random_.next());
    ++pings;
    next_ = now + period_ - period_ / 8 + spread();
  }
  std::optional<Time> next_timer() const override { return next_; }
  bool poll_transmit(Bytes& out, net::Endpoint& to) override {
    if (queued_ == 0) return false;
    --queued_;
    out.resize(9);
    out[0] = static_cast<std::byte>(outbox_[queued_].kind);
    std::memcpy(out.data() + 1, &outbox_[queued_].nonce, 8);
    to = outbox_[queued_].to;
    return true;
  }

  std::uint32_t pings = 0;
  std::uint32_t pongs = 0;

 private:
  struct Out {
    net::Endpoint to;
    std::uint64_t nonce;
    char kind;
  };
  Duration spread() {
    return Duration(static_cast<Duration::rep>(
        random_.below(static_cast<std::uint64_t>(period_.count() / 4) + 1)));
  }
  // At most one ping and one pong wait between two drains.
  void queue(const net::Endpoint& to, char kind, std::uint64_t nonce) {
    if (queued_ < outbox_.size()) outbox_[queued_++] = Out{to, nonce, kind};
  }

  const Network* network_;
  Duration period_;
  fault::Random random_;
  Time next_;
  std::array<Out, 2> outbox_{};
  std::uint8_t queued_ = 0;
};

inline Factory pinger(const Network& network, Duration period, std::uint64_t seed) {
  return [&network, period, seed](const net::Endpoint& self) {
    const auto slot = slot_of(self.address()).value_or(0);
    return std::make_unique<PingNode>(network, network.now(), period, seed * 1000003 + slot);
  };
}

}  // namespace nexo::overlay::sim::test
