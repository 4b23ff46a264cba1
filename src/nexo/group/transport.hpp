// group::Transport — the sockets under a group::Group: where a group lives on
// the network, how a member is reached, and the fault plan on its datagrams.
// Group (group.hpp) runs it on its loop thread; tests may run it by hand.
//
// Two modes, one protocol:
// - IP multicast: the group is a class D (224.0.0.0/4) or ff00::/8 address
//   and a port. Every member binds that port (shared) and joins the address on
//   one interface; datagrams to the group are sent once, to the address, out
//   through that interface (IP_MULTICAST_IF, never the routing table's
//   choice), loopback on (so members on this host hear each other), TTL 1 by
//   default.
// - Unicast fan-out: no multicast at all (most clouds). A datagram to the
//   group goes to each seed member (HOST:PORT) and to each known member's
//   contact, one unicast datagram each; the driver gives the list.
// In both modes every member also has a unicast socket on the interface's
// address; its address is the member's contact (what views carry: how the
// others reach it one to one), and everything the member sends leaves from it.
//
// A name maps to an address by group_address(): 239.a.b.c, where a, b, c are
// the low three bytes of group_tag(name) (FNV-1a, packet.hpp), most
// significant first: in the administratively scoped block (RFC 2365), the same
// on every host, with no registry. The default port is kDefaultPort.
//
// Contacts are encoded compactly (encode_contact): IPv4 address (4 bytes) and
// port (2, big-endian): 6 bytes; IPv6: address (16) and port (2): 18 bytes,
// or 22 with the scope id (4, big-endian) of a link-local address. The length
// says which; any other length does not decode (malformed).
//
// Faults (optional, fault::Plan, seeded and replayable): Plan::to acts on
// every datagram this member sends (per destination), Plan::back on every
// datagram it receives; what they hold back (reordering, delay) comes out at
// next_due().
//
// Thread contract: none; one thread (the Group's loop) makes every call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/fault/injector.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/group/time.hpp"
#include "nexo/net/multicast_socket.hpp"
#include "nexo/net/network_interface.hpp"
#include "nexo/net/udp_socket.hpp"

namespace nexo::group {

// The group port when none is given.
inline constexpr std::uint16_t kDefaultPort = 7447;

// The group's multicast address for `name`: 239.a.b.c (see the file comment).
net::InetAddress group_address(std::string_view name) noexcept;

// A member's contact (its unicast address) as views carry it, and back.
Bytes encode_contact(const net::Endpoint& endpoint);
// Errors: malformed (a length other than 6, 18 or 22; port 0).
Result<net::Endpoint> decode_contact(std::span<const std::byte> contact);

struct TransportConfig {
  // Multicast mode: the group's address and port (port 0: any free port; read
  // it back with group_endpoint()). Unset: unicast fan-out mode.
  std::optional<net::Endpoint> group;
  net::NetworkInterface interface;       // where to join, send and bind
  net::Family family = net::Family::v4;  // unicast mode: the contact's family
  std::uint16_t unicast_port = 0;        // the contact's port (0: any free port)
  int ttl = 1;                           // multicast hops
  std::optional<fault::Plan> faults;     // to: sent datagrams; back: received ones
  std::size_t max_queued = 8192;         // datagrams waiting for room in the socket at most
  // Kernel buffer of each socket, asked for (SO_RCVBUF/SO_SNDBUF; as root
  // SO_RCVBUFFORCE/SO_SNDBUFFORCE, past net.core.rmem_max/wmem_max; else what
  // the sysctl allows). A sender may have MemberConfig::window unstable
  // messages in flight: the receive buffer must hold them, or the kernel drops
  // them (counted: kernel_drops) and they come back as retransmissions.
  int receive_buffer = 16 << 20;
  int send_buffer = 4 << 20;
};

struct TransportCounters {
  std::uint64_t sent = 0, received = 0;  // datagrams, after the faults
  std::uint64_t send_errors = 0;         // refused by the kernel (unreachable, ...)
  std::uint64_t send_overflow = 0;       // dropped: max_queued were waiting already
  std::uint64_t truncated = 0;           // larger than any packet of the protocol
  std::uint64_t kernel_drops = 0;        // dropped by the kernel: a receive buffer was full
  int receive_buffer = 0;  // the group socket's (multicast) or unicast one's, as granted
  fault::Counters faults_sent, faults_received;
};

class Transport {
 public:
  using OnDatagram = std::function<void(std::span<const std::byte>)>;

  // Opens the sockets (non-blocking), joins the group. Errors: invalid_argument
  // (a group address that is not multicast, an interface without an address of
  // the group's family, a bad fault plan), address_in_use (unicast_port),
  // unreachable (no multicast on the interface), system.
  static Result<std::unique_ptr<Transport>> open(const TransportConfig& config);
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  ~Transport();

  // The unicast address this member is reached at, and its encoding.
  const net::Endpoint& contact() const noexcept { return contact_; }
  const Bytes& encoded_contact() const noexcept { return encoded_contact_; }
  // The group's address and port (multicast mode).
  const std::optional<net::Endpoint>& group_endpoint() const noexcept { return group_; }
  bool multicast() const noexcept { return group_.has_value(); }

  // Queues `datagram` for `to` (through the send faults); flush() sends.
  void send(std::span<const std::byte> datagram, const net::Endpoint& to, Time now);
  // Sends what is queued, batched (sendmmsg). Returns false while some wait for
  // room in the socket buffer: call again once fd() is writable.
  bool flush();
  bool has_queued() const noexcept { return !queue_.empty(); }

  // Reads the datagrams waiting (in batches, recvmmsg) and hands each,
  // through the receive faults, to `on_datagram`; returns how many were read.
  // Never blocks. The unicast socket first, every datagram on it: NAKs and
  // repairs come there, one to one, and must not wait behind the group's
  // data. Then the group socket, a bounded part of it (256 datagrams at
  // most): the rest stays readable for the next call, after the caller has
  // sent what this call's datagrams asked for.
  std::size_t receive(Time now, const OnDatagram& on_datagram);
  // The unicast socket's part of receive() alone: the NAKs and repairs
  // waiting, for a caller busy sending (it reads them between bursts).
  std::size_t receive_unicast(Time now, const OnDatagram& on_datagram);
  // Datagrams held back by the faults that are due by `now`: received ones
  // go to `on_datagram`, sent ones to the queue.
  void on_timer(Time now, const OnDatagram& on_datagram);
  std::optional<Time> next_due() const;

  // The descriptors to watch: the unicast socket, and the group's (-1 when none).
  int unicast_fd() const noexcept { return unicast_->native_handle(); }
  int group_fd() const noexcept { return group_fd_; }
  TransportCounters counters() const;

 private:
  struct Queued {
    Bytes bytes;
    net::Endpoint to;
  };
  Transport() = default;
  Result<void> open_sockets(const TransportConfig& config);
  Result<void> open_multicast(const TransportConfig& config, const net::InetAddress& address);
  void size_buffers(const TransportConfig& config);
  std::size_t drain(net::UdpSocket& socket, Time now, const OnDatagram& on_datagram,
                    std::size_t max_batches);
  void take(std::span<const std::byte> datagram, Time now, const OnDatagram& on_datagram);
  void enqueue(std::span<const std::byte> datagram, const net::Endpoint& to);

  std::optional<net::UdpSocket> owned_unicast_;  // unicast mode
  std::optional<net::MulticastSocket> sender_;   // multicast mode
  net::UdpSocket* unicast_ = nullptr;            // the one of the two
  std::optional<net::MulticastSocket> group_socket_;
  net::UdpSocket* group_udp_ = nullptr;  // group_socket_'s
  std::optional<net::Endpoint> group_;
  int group_fd_ = -1;
  net::Endpoint contact_;
  Bytes encoded_contact_;
  std::size_t max_queued_ = 0;
  std::vector<Queued> queue_;  // oldest first
  std::size_t queue_head_ = 0;
  std::unique_ptr<fault::Injector> send_faults_, receive_faults_;
  std::vector<Bytes> slot_memory_;
  std::vector<net::InSlot> slots_;
  TransportCounters counters_;
};

}  // namespace nexo::group
