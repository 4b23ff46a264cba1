// DatagramNode — what every overlay/ protocol core is to the code that runs
// it: a sans-I/O state machine over UDP datagrams. Bytes and `now` go in,
// datagrams to send and the time of its next timer come out; it opens no
// socket, reads no clock, starts no thread. The same object runs over real
// UDP (a host with one socket per node) and on sim::Network, unchanged.
//
// The driver's contract (every driver keeps it, and a core may rely on it):
//
//   1. It calls on_datagram for each datagram addressed to the node, and
//      on_timer once `now` has reached the time next_timer() last returned
//      (possibly later than asked: a core must accept a late timer and must
//      not assume one call per deadline it had in mind).
//   2. After each of those calls, and after its owner called into the node
//      directly (started a lookup, a put...; the driver's kick), it drains
//      poll_transmit until it returns false, sending each datagram, then
//      re-reads next_timer(). A core therefore queues what it wants sent and
//      may change its timer from any of its entry points.
//   3. Calls are never reentrant and come from one thread; `now` never goes
//      backwards from one call to the next.
//
// A core's own address is whatever the driver gave it when it was made (the
// simulator passes it to the factory); `from` is the sender's address as the
// network shows it (for the Mainline DHT, what BEP 42 and write tokens bind).
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "nexo/base/bytes.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/overlay/time.hpp"

namespace nexo::overlay {

class DatagramNode {
 public:
  virtual ~DatagramNode() = default;

  // A datagram from `from` arrived at `now`. The bytes live for the call only:
  // a core that keeps any of them copies them. Bad input is the core's to drop
  // and count; it never throws for it.
  virtual void on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from,
                           Time now) = 0;
  // The time next_timer() asked for has come (now >= that time).
  virtual void on_timer(Time now) = 0;
  // When on_timer wants to run next; nullopt: no timer. Read by the driver
  // after each drain (rule 2); a time at or before now runs at once.
  virtual std::optional<Time> next_timer() const = 0;
  // One datagram to send: fills `out` (the driver reuses it between calls, so
  // assign into it rather than assume it is empty) and `to`, returns true;
  // false when nothing more is queued (`out` and `to` are then ignored).
  virtual bool poll_transmit(Bytes& out, net::Endpoint& to) = 0;
};

}  // namespace nexo::overlay
