// UdpSocket — a UDP socket (the chapter's DatagramSocket).
//
// Blocking by default; every blocking call honours the receive timeout.
// Thread contract: one socket may be used by one sender thread and one receiver
// thread at the same time; configuration calls are not synchronised with I/O.
// Move-only; the destructor closes the socket.
//
// Failure model (what UDP does, not hidden): datagrams may be lost, duplicated
// or reordered, and nothing here tells you. What it does tell you: a datagram
// larger than your buffer (truncated, never silently cut), a receive deadline
// (timed_out), and on a connected socket an ICMP "port unreachable" from the
// peer (refused, on a later send or receive).
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "nexo/base/bytes.hpp"
#include "nexo/base/counter_file.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/datagram.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::net {

namespace detail {
struct SockAddr;
}  // namespace detail

// One datagram of a batch to send: its bytes and where they go (nullptr: the
// connected peer). Both must stay alive until send_batch returns.
struct OutDatagram {
  std::span<const std::byte> payload;
  const Endpoint* to = nullptr;
};

// Room for one datagram of a batch received: `buffer` is the caller's memory,
// receive_batch fills in the rest. A datagram longer than `buffer` is flagged
// truncated: `size` is its real length, `buffer` holds its first bytes and the
// rest is lost (as with receive_from, never silently cut).
//
// With receive coalescing on (UdpSocket::set_receive_coalescing), one slot may
// carry a run of datagrams from one sender that the kernel coalesced (UDP
// GRO): `segment_size` is then the length of each but the last, which may be
// shorter, and `size` their total. Read them with count() and datagram(i),
// which also serve a slot of one datagram. A truncated run keeps the
// datagrams wholly inside `buffer`; the rest is lost (and flagged).
struct InSlot {
  std::span<std::byte> buffer;
  std::size_t size = 0;
  std::size_t segment_size = 0;  // a coalesced run: each datagram's length; 0: one datagram
  Endpoint from;
  bool truncated = false;
  // The bytes received (all of them unless truncated).
  std::span<std::byte> payload() const noexcept {
    return buffer.first(size < buffer.size() ? size : buffer.size());
  }
  // The whole datagrams the slot holds: 0 (one datagram, truncated), 1, or
  // those of a coalesced run.
  std::size_t count() const noexcept {
    if (segment_size == 0) return truncated ? 0 : 1;
    if (truncated) return buffer.size() / segment_size;
    return (size + segment_size - 1) / segment_size;
  }
  // Datagram `i` < count(), in the order sent.
  std::span<std::byte> datagram(std::size_t i) const noexcept {
    if (segment_size == 0) return payload();
    const std::size_t at = i * segment_size;
    return buffer.subspan(at, std::min(segment_size, size - at));
  }
};

struct UdpOptions {
  bool reuse_address = false;              // SO_REUSEADDR
  bool reuse_port = false;                 // SO_REUSEPORT: several sockets bind the same port
  bool v6_only = false;                    // IPv6 socket refuses IPv4-mapped peers
  std::optional<int> send_buffer_size;     // SO_SNDBUF, bytes
  std::optional<int> receive_buffer_size;  // SO_RCVBUF, bytes
};

class UdpSocket {
 public:
  // Largest UDP payload in one IPv4 datagram: 65,535 - 20 (IP) - 8 (UDP).
  static constexpr std::size_t kMaxPayloadV4 = 65'507;
  // Largest UDP payload in one IPv6 datagram without jumbograms: 65,535 - 8.
  static constexpr std::size_t kMaxPayloadV6 = 65'527;

  // Binds to `local` (port 0: any free port, read it back with local_endpoint()).
  // Errors: address_in_use, permission_denied, invalid_argument, system.
  static Result<UdpSocket> bind(const Endpoint& local, const UdpOptions& options = {});
  // Binds to the wildcard address of `family` on any free port (a client socket).
  static Result<UdpSocket> bind_any(Family family = Family::v4, const UdpOptions& options = {});

  UdpSocket(UdpSocket&&) noexcept = default;
  UdpSocket& operator=(UdpSocket&&) noexcept = default;
  ~UdpSocket() = default;

  // Sends one datagram to `to`. Does not block for long (only while the socket
  // buffer is full). Errors: too_large (over the family's limit, checked before
  // sending), invalid_argument (family mismatch, port 0), unreachable, would_block
  // (non-blocking mode), refused (ICMP from an earlier datagram, connected only).
  Result<void> send_to(std::span<const std::byte> payload, const Endpoint& to);
  Result<void> send_to(std::string_view text, const Endpoint& to) {
    return send_to(as_bytes(text), to);
  }
  // Sends to the connected peer. Errors as send_to, plus not_connected.
  Result<void> send(std::span<const std::byte> payload);

  // Receives one datagram into `buffer`, returning its size and setting `from`.
  // Blocks until a datagram arrives or the receive timeout passes (timed_out;
  // would_block in non-blocking mode). A datagram longer than `buffer` is
  // consumed and reported as truncated (the buffer holds its first bytes).
  // On a connected socket only the peer's datagrams arrive.
  Result<std::size_t> receive_from(std::span<std::byte> buffer, Endpoint& from);
  // Receives one datagram of at most `max_size` bytes into a new Datagram.
  Result<Datagram> receive(std::size_t max_size = kMaxPayloadV6);

  // Datagrams handed to the kernel per system call by the batch calls below.
  static constexpr std::size_t kMaxBatch = 64;

  // Sends `datagrams` in order, up to kMaxBatch per system call (sendmmsg).
  // A run of them to one destination, all of one size but the last (which
  // may be shorter), goes as one segmented send where the kernel offers it
  // (UDP GSO, Linux 4.18+: up to kMaxSegments datagrams and max_payload()
  // bytes a run): the receiver still gets each datagram on its own, unless
  // its socket coalesces them again (set_receive_coalescing). Should the kernel
  // refuse a segmented send (EINVAL, EIO: no checksum offload on the route,
  // ENOPROTOOPT), the socket stops segmenting for good and sends the run as
  // separate datagrams; send_coalescing() then says false.
  // Blocks as send_to does. Returns how many were sent: all of them, or fewer
  // when the socket buffer filled (non-blocking mode) or the kernel failed
  // the datagram after the last one sent; call again from there, and that
  // datagram's error is returned then. Errors (nothing was sent): those of
  // send_to (too_large, invalid_argument, would_block, unreachable, refused)
  // for datagrams[0], not_connected (its `to` is null on an unconnected
  // socket), closed. A datagram that fails the checks send_to makes before
  // sending ends the batch before it. An empty batch sends nothing and
  // returns 0.
  Result<std::size_t> send_batch(std::span<const OutDatagram> datagrams);

  // Datagrams per segmented send at most (the kernel's UDP_MAX_SEGMENTS of 4.18).
  static constexpr std::size_t kMaxSegments = 64;
  // Whether send_batch segments runs (see above).
  bool send_coalescing() const noexcept { return gso_; }
  // Turns segmented sends off (or on again, where the kernel has them).
  void set_send_coalescing(bool on) noexcept { gso_ = on && gso_supported_; }

  // Receive coalescing (UDP GRO, Linux 5.0+): the kernel may hand a run of
  // datagrams from one sender to receive_batch as one slot (InSlot says how
  // to split it). While it is on, every slot should hold max_payload() bytes:
  // a shorter one may truncate a run. receive_from and receive refuse to
  // work (invalid_argument), as they have no room to say where a run splits.
  // Errors: system (the kernel lacks it, ENOPROTOOPT; nothing changes), closed.
  Result<void> set_receive_coalescing(bool on);
  bool receive_coalescing() const noexcept { return gro_; }

  // Receives up to slots.size() datagrams, up to kMaxBatch per system call
  // (recvmmsg): waits for the first as receive_from does (timed_out after the
  // receive timeout; would_block in non-blocking mode), then takes only those
  // already queued. Returns how many slots were filled, in arrival order (at
  // least one). A truncated datagram is flagged in its slot and counted, not
  // an error; kernel drops are counted as receive_from counts them. Errors
  // (nothing was received): those of receive_from, bar truncated.
  Result<std::size_t> receive_batch(std::span<InSlot> slots);

  // Fixes the peer: send() goes there, and only its datagrams are received.
  // Errors: invalid_argument (family), unreachable.
  Result<void> connect(const Endpoint& peer);
  // Forgets the peer: datagrams from anyone are received again, on the same
  // local port. (Linux releases a port it chose itself when a socket
  // disconnects; nexo binds it again at once.)
  Result<void> disconnect();
  const std::optional<Endpoint>& peer() const noexcept { return peer_; }
  // The MTU of the route to the connected peer, in bytes of IP packet, as the
  // kernel knows it (the interface's, or a smaller one learnt from ICMP): a
  // datagram of up to path_mtu() - IP header - 8 bytes goes unfragmented.
  // Errors: not_connected, system.
  Result<std::size_t> path_mtu() const;

  // Receive deadline for blocking receives; std::nullopt waits for ever (the default).
  Result<void> set_receive_timeout(Timeout timeout);
  Timeout receive_timeout() const noexcept { return receive_timeout_; }

  // Non-blocking mode: receive/send return would_block instead of waiting.
  Result<void> set_non_blocking(bool on);
  bool non_blocking() const noexcept { return non_blocking_; }

  // Kernel buffer sizes (SO_SNDBUF / SO_RCVBUF). Linux doubles the value asked
  // for and caps it at net.core.[rw]mem_max; the getters return what is in force.
  Result<void> set_send_buffer_size(int bytes);
  Result<void> set_receive_buffer_size(int bytes);
  Result<int> send_buffer_size() const;
  Result<int> receive_buffer_size() const;

  // Allows sending to broadcast addresses (SO_BROADCAST).
  Result<void> set_broadcast(bool on);

  // The bound address and port (the port the OS chose when bound to port 0).
  const Endpoint& local_endpoint() const noexcept { return local_; }
  Family family() const noexcept { return family_; }
  std::size_t max_payload() const noexcept {
    return family_ == Family::v4 ? kMaxPayloadV4 : kMaxPayloadV6;
  }

  // Datagrams the kernel dropped for this socket (its receive buffer was
  // full), as learnt from SO_RXQ_OVFL with each datagram received: a drop
  // shows once a later datagram is read. Also published in this process's
  // counter file (`nexo stat`) as udp_socket kernel_drops, with truncated.
  std::uint64_t kernel_drops() const noexcept { return stats_.get(kDropsValue); }

  int native_handle() const noexcept { return fd_.get(); }
  // Closes the socket; later calls fail with closed. Idempotent.
  void close() noexcept { fd_.reset(); }
  bool is_open() const noexcept { return fd_.valid(); }

 private:
  UdpSocket(FileDescriptor fd, Family family, Endpoint local);
  ssize_t receive_message(std::span<std::byte> buffer, detail::SockAddr& address);
  // Counts the kernel's drops from a received datagram's control messages;
  // returns the segment size of a coalesced run (UDP_GRO), else 0.
  std::size_t note_control(const void* message_header) noexcept;
  // Builds and makes one sendmmsg of datagrams' first ones (at most
  // kMaxBatch); the datagrams sent, or -1 and errno, `refused` set when a
  // check stopped the chunk.
  struct SendChunk;
  long send_chunk(std::span<const OutDatagram> datagrams, std::optional<Error>& refused);
  // The checks send_to makes before sending `size` bytes to `dest`.
  Result<void> check_send(std::size_t size, const Endpoint& dest) const;
  Error send_error(int err, const Endpoint& dest) const;
  // One recvmmsg of at most kMaxBatch slots, `flags` added; -1 and errno on error.
  int receive_chunk(std::span<InSlot> slots, int flags);
  static constexpr std::size_t kDropsValue = 0, kTruncatedValue = 1;  // in stats_
  Result<void> send_impl(std::span<const std::byte> payload, const Endpoint* to);
  Error receive_error(int err) const;
  Result<void> check_open(std::string_view operation) const;

  FileDescriptor fd_;
  Family family_;
  Endpoint local_;  // where the socket is bound now (connect may narrow the address)
  Endpoint bound_;  // what bind() gave, restored by disconnect()
  std::optional<Endpoint> peer_;
  Timeout receive_timeout_;
  bool non_blocking_ = false;
  bool gso_supported_ = false;  // the kernel takes UDP_SEGMENT (probed at bind)
  bool gso_ = false;            // send_batch segments runs (off after a refusal)
  bool gro_ = false;            // UDP_GRO is on: slots may carry runs
  CounterBlock stats_;            // kernel_drops, truncated
  std::uint32_t last_drops_ = 0;  // the kernel's cumulative count, last seen
};

}  // namespace nexo::net
