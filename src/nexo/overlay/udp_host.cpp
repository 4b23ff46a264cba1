#include "nexo/overlay/udp_host.hpp"

#include <stdexcept>
#include <string>

namespace nexo::overlay {

UdpHost::UdpHost(io::EventLoop& loop, UdpHostOptions options) : loop_(loop), options_(options) {
  // One byte more than the largest accepted datagram: a datagram that fills
  // the buffer was longer than max_datagram (or exactly one byte longer).
  receive_buffer_.resize(options_.max_datagram + 1);
}

UdpHost::~UdpHost() {
  // Watchers and timers unregister from the loop before their sockets close.
  for (auto& e : entries_) {
    if (!e) continue;
    e->watcher.reset();
    e->timer.reset();
  }
}

UdpHost::Entry& UdpHost::entry(Slot slot, const char* what) {
  if (slot >= entries_.size() || !entries_[slot]) {
    throw std::logic_error(std::string("UdpHost::") + what + ": slot " + std::to_string(slot) +
                           (slot >= entries_.size() ? " was never added" : " was removed"));
  }
  return *entries_[slot];
}

const UdpHost::Entry& UdpHost::entry(Slot slot, const char* what) const {
  return const_cast<UdpHost*>(this)->entry(slot, what);
}

Result<UdpHost::Slot> UdpHost::add(const net::Endpoint& local, const Factory& factory) {
  net::UdpOptions socket_options;
  socket_options.receive_buffer_size = options_.receive_buffer_size;
  auto socket = net::UdpSocket::bind(local, socket_options);
  if (!socket) return socket.error().with_context("overlay node: bind " + local.to_string());
  if (auto r = socket->set_non_blocking(true); !r) {
    return r.error().with_context("overlay node " + local.to_string());
  }
  auto e = std::make_unique<Entry>(Entry{std::move(socket).value(), nullptr, nullptr, nullptr, {}});
  e->address = e->socket.local_endpoint();
  e->node = factory(e->address);
  if (!e->node) {
    return Error(ErrorKind::invalid_argument,
                 "overlay node " + e->address.to_string() + ": the factory made no node");
  }
  const auto slot = static_cast<Slot>(entries_.size());
  e->watcher = std::make_unique<io::IoWatcher>(loop_, e->socket.native_handle(),
                                               [this, slot](std::uint32_t) { on_readable(slot); });
  e->timer = std::make_unique<io::Timer>(loop_, [this, slot] { on_timer(slot); });
  if (auto r = e->watcher->start(io::kReadable); !r) {
    return r.error().with_context("overlay node " + e->address.to_string());
  }
  entries_.push_back(std::move(e));
  drain(slot);
  return slot;
}

void UdpHost::remove(Slot slot) {
  auto& e = entry(slot, "remove");
  e.watcher.reset();
  e.timer.reset();
  entries_[slot].reset();
}

void UdpHost::kick(Slot slot) {
  (void)entry(slot, "kick");
  drain(slot);
}

bool UdpHost::alive(Slot slot) const noexcept {
  return slot < entries_.size() && entries_[slot] != nullptr;
}

DatagramNode& UdpHost::node(Slot slot) {
  return *entry(slot, "node").node;
}

const net::Endpoint& UdpHost::address(Slot slot) const {
  return entry(slot, "address").address;
}

std::size_t UdpHost::alive_count() const noexcept {
  std::size_t n = 0;
  for (const auto& e : entries_)
    n += e != nullptr;
  return n;
}

void UdpHost::on_readable(Slot slot) {
  auto& e = entry(slot, "on_readable");
  net::Endpoint from;
  for (std::size_t i = 0; i < options_.read_batch; ++i) {
    auto n = e.socket.receive_from(receive_buffer_, from);
    if (!n) {
      if (n.error().is(ErrorKind::would_block)) break;
      if (n.error().is(ErrorKind::truncated)) {
        ++counters_.truncated;
        continue;
      }
      // Anything else (rare on an unconnected socket, which hears no ICMP
      // errors): nothing to hand over, and the socket stays usable.
      ++counters_.receive_errors;
      continue;
    }
    if (*n > options_.max_datagram) {
      ++counters_.truncated;
      continue;
    }
    ++counters_.received;
    e.node->on_datagram(std::span<const std::byte>(receive_buffer_.data(), *n), from, Clock::now());
    if (!entries_[slot]) return;  // a node cannot remove itself, but stay safe
  }
  drain(slot);
}

void UdpHost::on_timer(Slot slot) {
  auto& e = entry(slot, "on_timer");
  ++counters_.timers;
  e.node->on_timer(Clock::now());
  drain(slot);
}

void UdpHost::drain(Slot slot) {
  auto& e = entry(slot, "drain");
  net::Endpoint to;
  // A core that never stops transmitting is a bug in it; bound the loop so the
  // host stays responsive and say so.
  for (std::size_t sent = 0;; ++sent) {
    if (sent == 1'000'000) {
      throw std::logic_error("UdpHost: node " + e.address.to_string() +
                             " queued a million datagrams in one drain");
    }
    if (!e.node->poll_transmit(transmit_buffer_, to)) break;
    auto r = e.socket.send_to(transmit_buffer_, to);
    if (r) {
      ++counters_.sent;
    } else if (r.error().is(ErrorKind::would_block)) {
      ++counters_.send_dropped;
    } else {
      ++counters_.send_failed;
    }
  }
  if (auto next = e.node->next_timer()) {
    e.timer->start_at(*next);
  } else {
    e.timer->stop();
  }
}

}  // namespace nexo::overlay
