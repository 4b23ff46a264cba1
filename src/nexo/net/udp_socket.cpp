#include "nexo/net/udp_socket.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "nexo/net/socket_ops.hpp"

namespace nexo::net {

using detail::SockAddr;

Result<UdpSocket> UdpSocket::bind(const Endpoint& local, const UdpOptions& options) {
  const Family family = local.family();
  auto fd = detail::open_socket(family, SOCK_DGRAM, "udp socket");
  if (!fd) return std::move(fd).error();
  const int s = fd->get();
  Result<void> set = detail::set_bind_options(
      s, family, {options.reuse_address, options.reuse_port, options.v6_only});
  if (set && options.send_buffer_size) {
    set = detail::set_int_option(s, SOL_SOCKET, SO_SNDBUF, *options.send_buffer_size, "SO_SNDBUF");
  }
  if (set && options.receive_buffer_size) {
    set =
        detail::set_int_option(s, SOL_SOCKET, SO_RCVBUF, *options.receive_buffer_size, "SO_RCVBUF");
  }
  if (set) set = detail::bind_to(s, local, family, "udp bind");
  if (!set) return std::move(set).error();
  auto bound = detail::local_endpoint_of(s);
  if (!bound) return std::move(bound).error().with_context("udp bind");
  // SO_RXQ_OVFL: each datagram received carries the socket's count of kernel
  // drops (a full receive buffer), published as kernel_drops. Best effort.
  const int on = 1;
  (void)::setsockopt(fd->get(), SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  // Segmented sends (UDP_SEGMENT, per message): a kernel that knows the
  // option answers for it; an older one ignores the control message, which
  // would send a run as one datagram, so it must answer first.
  int segment = 0;
  socklen_t length = sizeof segment;
  const bool gso = ::getsockopt(fd->get(), SOL_UDP, UDP_SEGMENT, &segment, &length) == 0;
  UdpSocket socket(std::move(*fd), family, *bound);
  socket.gso_supported_ = socket.gso_ = gso;
  return socket;
}

Result<UdpSocket> UdpSocket::bind_any(Family family, const UdpOptions& options) {
  return bind(Endpoint(InetAddress::any(family), 0), options);
}

Result<void> UdpSocket::check_open(std::string_view operation) const {
  if (fd_.valid()) return ok();
  return Error(ErrorKind::closed, std::string(operation) + ": the socket is closed");
}

Result<void> UdpSocket::send_to(std::span<const std::byte> payload, const Endpoint& to) {
  return send_impl(payload, &to);
}

Result<void> UdpSocket::send(std::span<const std::byte> payload) {
  if (!peer_) return Error(ErrorKind::not_connected, "udp send: the socket is not connected");
  return send_impl(payload, nullptr);
}

Result<void> UdpSocket::check_send(std::size_t size, const Endpoint& dest) const {
  auto what = [&] { return "udp send to " + dest.to_string(); };
  if (auto open = check_open("udp send"); !open) return open;
  if (size > max_payload()) {
    return Error(ErrorKind::too_large, what() + ": datagram of " + std::to_string(size) +
                                           " bytes exceeds the " + std::string(to_string(family_)) +
                                           " UDP limit of " + std::to_string(max_payload()) +
                                           " bytes");
  }
  if (family_ == Family::v4 && dest.family() == Family::v6) {
    return Error(ErrorKind::invalid_argument, what() + ": an IPv4 socket cannot send to IPv6");
  }
  if (dest.port() == 0) {
    return Error(ErrorKind::invalid_argument, what() + ": port 0 is not a destination");
  }
  return ok();
}

Error UdpSocket::send_error(int err, const Endpoint& dest) const {
  const std::string what = "udp send to " + dest.to_string();
  if (err == ECONNREFUSED) {
    return Error(ErrorKind::refused,
                 what + ": port unreachable (an earlier datagram was refused by the peer host)",
                 err);
  }
  return Error::from_errno(err, what);
}

Result<void> UdpSocket::send_impl(std::span<const std::byte> payload, const Endpoint* to) {
  const Endpoint& dest = to != nullptr ? *to : *peer_;
  if (auto checked = check_send(payload.size(), dest); !checked) return checked;
  SockAddr address;
  if (to != nullptr) address = detail::to_sockaddr(*to, family_);
  for (;;) {
    ssize_t n = to != nullptr ? ::sendto(fd_.get(), payload.data(), payload.size(), MSG_NOSIGNAL,
                                         address.get(), address.length)
                              : ::send(fd_.get(), payload.data(), payload.size(), MSG_NOSIGNAL);
    if (n >= 0) return ok();
    if (errno == EINTR) continue;
    return send_error(errno, dest);
  }
}

namespace {
// Room for the UDP_SEGMENT control message of one segmented send.
using SegmentControl = std::array<char, CMSG_SPACE(sizeof(std::uint16_t))>;

bool same_destination(const OutDatagram& a, const OutDatagram& b) {
  if (a.to == nullptr || b.to == nullptr) return a.to == b.to;
  return a.to == b.to || *a.to == *b.to;
}
}  // namespace

// One sendmmsg: the headers, each for one datagram or one segmented run.
struct UdpSocket::SendChunk {
  std::array<mmsghdr, kMaxBatch> headers;
  std::array<iovec, kMaxBatch> iovs;
  std::array<sockaddr_storage, kMaxBatch> names;
  struct alignas(cmsghdr) Control {
    SegmentControl bytes;
  };
  std::array<Control, kMaxBatch> controls;
  std::array<std::size_t, kMaxBatch> ends;  // datagrams sent once header i is
};

long UdpSocket::send_chunk(std::span<const OutDatagram> datagrams, std::optional<Error>& refused) {
  // Left uninitialised: only the entries used are written (zeroing all of
  // them costs more than a one-datagram call's work).
  SendChunk c;
  const std::size_t limit = std::min(kMaxBatch, datagrams.size());
  std::size_t ready = 0;  // datagrams that pass the checks, in a row
  std::size_t messages = 0;
  while (ready < limit) {
    const OutDatagram& d = datagrams[ready];
    if (d.to == nullptr && !peer_) {
      refused = Error(ErrorKind::not_connected, "udp send: the socket is not connected");
      break;
    }
    if (auto checked = check_send(d.payload.size(), d.to ? *d.to : *peer_); !checked) {
      refused = std::move(checked).error();
      break;
    }
    // A run: the datagrams after this one to the same place, of its size
    // (the last one may be shorter, not empty), within the kernel's bounds.
    const std::size_t first = ready;
    const std::size_t segment = d.payload.size();
    std::size_t total = segment;
    iovec* iov = &c.iovs[first];
    iov[0] = iovec{const_cast<std::byte*>(d.payload.data()), segment};
    ++ready;
    while (gso_ && segment > 0 && ready < limit && ready - first < kMaxSegments) {
      const OutDatagram& next = datagrams[ready];
      const std::size_t size = next.payload.size();
      if (size == 0 || size > segment || total + size > max_payload() ||
          !same_destination(d, next))
        break;
      c.iovs[ready] = iovec{const_cast<std::byte*>(next.payload.data()), size};
      total += size;
      ++ready;
      if (size < segment) break;  // a shorter one ends the run
    }
    c.headers[messages] = mmsghdr{};
    msghdr& m = c.headers[messages].msg_hdr;
    m.msg_iov = iov;
    m.msg_iovlen = ready - first;
    if (d.to != nullptr) {
      const SockAddr address = detail::to_sockaddr(*d.to, family_);
      std::memcpy(&c.names[messages], &address.storage, address.length);
      m.msg_name = &c.names[messages];
      m.msg_namelen = address.length;
    }
    if (ready - first > 1) {
      SegmentControl& control = c.controls[messages].bytes;
      m.msg_control = control.data();
      m.msg_controllen = control.size();
      cmsghdr* cm = CMSG_FIRSTHDR(&m);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      const auto size = static_cast<std::uint16_t>(segment);
      std::memcpy(CMSG_DATA(cm), &size, sizeof size);
    }
    c.ends[messages++] = ready;
  }
  if (messages == 0) return 0;
  int n = 0;
  do {
    n = ::sendmmsg(fd_.get(), c.headers.data(), static_cast<unsigned>(messages), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int err = errno;
    if (c.headers[0].msg_hdr.msg_controllen != 0 &&
        (err == EINVAL || err == EIO || err == ENOPROTOOPT)) {
      gso_ = false;  // the kernel will not segment here: separate datagrams from now on
      refused.reset();
      return send_chunk(datagrams, refused);
    }
    errno = err;
    return -1;
  }
  return n == 0 ? 0 : static_cast<long>(c.ends[static_cast<std::size_t>(n) - 1]);
}

Result<std::size_t> UdpSocket::send_batch(std::span<const OutDatagram> datagrams) {
  if (auto open = check_open("udp send"); !open) return std::move(open).error();
  std::size_t sent = 0;
  while (sent < datagrams.size()) {
    const auto rest = datagrams.subspan(sent);
    std::optional<Error> refused_here;
    const long n = send_chunk(rest, refused_here);
    if (n < 0) {
      if (sent > 0) return sent;
      const OutDatagram& first = rest.front();
      return send_error(errno, first.to ? *first.to : *peer_);
    }
    sent += static_cast<std::size_t>(n);
    if (static_cast<std::size_t>(n) < std::min(kMaxBatch, rest.size())) {
      // A check refused the next datagram, or the kernel stopped early.
      if (sent == 0 && refused_here) return std::move(*refused_here);
      return sent;
    }
  }
  return sent;
}

Error UdpSocket::receive_error(int err) const {
  std::string where = "udp receive on " + local_.to_string();
  if (err == EAGAIN && !non_blocking_) {
    return Error(ErrorKind::timed_out,
                 where + ": no datagram within " + detail::describe(receive_timeout_), err);
  }
  if (err == EAGAIN) return Error(ErrorKind::would_block, where + ": no datagram waiting", err);
  if (err == ECONNREFUSED && peer_) {
    return Error(ErrorKind::refused,
                 where + ": port unreachable at " + peer_->to_string() + " (ICMP)", err);
  }
  return Error::from_errno(err, where);
}

namespace {
constexpr std::array<CounterSpec, 2> kSocketSpecs{{{"kernel_drops"}, {"truncated"}}};
}  // namespace

UdpSocket::UdpSocket(FileDescriptor fd, Family family, Endpoint local)
    : fd_(std::move(fd)),
      family_(family),
      local_(local),
      bound_(local),
      stats_(allocate_counters("udp_socket", local.to_string(), kSocketSpecs)) {}

namespace {
// Room for the control messages of one datagram received: SO_RXQ_OVFL, and
// UDP_GRO for a coalesced run.
using DropsControl =
    std::array<char, CMSG_SPACE(sizeof(std::uint32_t)) + CMSG_SPACE(sizeof(int))>;
}  // namespace

// The kernel's drop count for this socket when the datagram was queued
// (cumulative, 32 bits), from the SO_RXQ_OVFL control message; the segment
// size of a coalesced run from UDP_GRO's.
std::size_t UdpSocket::note_control(const void* message_header) noexcept {
  auto* message = const_cast<msghdr*>(static_cast<const msghdr*>(message_header));
  std::size_t segment = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(message); c != nullptr; c = CMSG_NXTHDR(message, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int size = 0;
      std::memcpy(&size, CMSG_DATA(c), sizeof size);
      if (size > 0) segment = static_cast<std::size_t>(size);
      continue;
    }
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
    std::uint32_t drops = 0;
    std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
    stats_.add(kDropsValue, static_cast<std::uint32_t>(drops - last_drops_));  // wraps at 2^32
    last_drops_ = drops;
  }
  return segment;
}

Result<void> UdpSocket::set_receive_coalescing(bool on) {
  if (auto open = check_open("udp set_receive_coalescing"); !open) return open;
  auto set = detail::set_int_option(fd_.get(), SOL_UDP, UDP_GRO, on ? 1 : 0, "udp UDP_GRO");
  if (set) gro_ = on;
  return set;
}

// recvmsg with room for the SO_RXQ_OVFL control message.
ssize_t UdpSocket::receive_message(std::span<std::byte> buffer, SockAddr& address) {
  iovec io{buffer.data(), buffer.size()};
  alignas(cmsghdr) DropsControl control{};
  msghdr message{};
  message.msg_name = address.get();
  message.msg_namelen = address.length;
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  // MSG_TRUNC makes Linux return the datagram's real length even when it is longer.
  const ssize_t n = ::recvmsg(fd_.get(), &message, MSG_TRUNC);
  if (n < 0) return n;
  address.length = message.msg_namelen;
  (void)note_control(&message);
  return n;
}

int UdpSocket::receive_chunk(std::span<InSlot> slots, int flags) {
  const std::size_t count = std::min(slots.size(), kMaxBatch);
  // Left uninitialised: only the `count` entries used are written.
  std::array<mmsghdr, kMaxBatch> headers;
  std::array<iovec, kMaxBatch> iovs;
  std::array<sockaddr_storage, kMaxBatch> names;
  struct alignas(cmsghdr) Control {
    DropsControl bytes;
  };
  std::array<Control, kMaxBatch> controls;
  for (std::size_t i = 0; i < count; ++i) {
    iovs[i] = iovec{slots[i].buffer.data(), slots[i].buffer.size()};
    headers[i] = mmsghdr{};
    msghdr& m = headers[i].msg_hdr;
    m.msg_name = &names[i];
    m.msg_namelen = sizeof names[i];
    m.msg_iov = &iovs[i];
    m.msg_iovlen = 1;
    m.msg_control = controls[i].bytes.data();
    m.msg_controllen = controls[i].bytes.size();
  }
  int n = 0;
  do {
    // MSG_TRUNC: each msg_len is the datagram's real length even when longer.
    n = ::recvmmsg(fd_.get(), headers.data(), static_cast<unsigned>(count), MSG_TRUNC | flags,
                   nullptr);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i) {
    const msghdr& m = headers[i].msg_hdr;
    InSlot& slot = slots[i];
    slot.size = headers[i].msg_len;
    slot.truncated = (m.msg_flags & MSG_TRUNC) != 0 || slot.size > slot.buffer.size();
    slot.from = detail::from_sockaddr(reinterpret_cast<const sockaddr*>(&names[i]), m.msg_namelen);
    if (slot.truncated) stats_.add(kTruncatedValue);
    const std::size_t segment = note_control(&m);
    slot.segment_size = segment != 0 && segment < slot.size ? segment : 0;
  }
  return n;
}

Result<std::size_t> UdpSocket::receive_batch(std::span<InSlot> slots) {
  if (auto open = check_open("udp receive"); !open) return std::move(open).error();
  if (slots.empty()) return std::size_t{0};
  // The first chunk waits for one datagram (MSG_WAITFORONE); the later ones
  // only take what is queued.
  const int first = receive_chunk(slots, MSG_WAITFORONE);
  if (first < 0) return receive_error(errno);
  auto filled = static_cast<std::size_t>(first);
  while (filled < slots.size() && filled % kMaxBatch == 0) {
    const int more = receive_chunk(slots.subspan(filled), MSG_DONTWAIT);
    if (more <= 0) break;  // nothing more queued (an error shows at the next call)
    filled += static_cast<std::size_t>(more);
  }
  return filled;
}

Result<std::size_t> UdpSocket::receive_from(std::span<std::byte> buffer, Endpoint& from) {
  if (auto open = check_open("udp receive"); !open) return std::move(open).error();
  if (gro_) {
    return Error(ErrorKind::invalid_argument,
                 "udp receive on " + local_.to_string() +
                     ": receive coalescing is on (a run of datagrams needs receive_batch)");
  }
  SockAddr address;
  for (;;) {
    address.length = sizeof address.storage;
    // MSG_TRUNC makes Linux return the datagram's real length even when it is longer.
    ssize_t n = receive_message(buffer, address);
    if (n < 0) {
      if (errno == EINTR) continue;
      return receive_error(errno);
    }
    from = detail::from_sockaddr(address.get(), address.length);
    const auto size = static_cast<std::size_t>(n);
    if (size > buffer.size()) {
      stats_.add(kTruncatedValue);
      return Error(ErrorKind::truncated,
                   "udp receive on " + local_.to_string() + " from " + from.to_string() +
                       ": datagram of " + std::to_string(size) + " bytes does not fit the " +
                       std::to_string(buffer.size()) + "-byte buffer (the rest is lost)");
    }
    return size;
  }
}

Result<Datagram> UdpSocket::receive(std::size_t max_size) {
  thread_local std::array<std::byte, kMaxPayloadV6> scratch;
  if (max_size > scratch.size()) max_size = scratch.size();
  Datagram datagram;
  auto n = receive_from(std::span(scratch.data(), max_size), datagram.peer);
  if (!n) return std::move(n).error();
  datagram.payload.assign(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(*n));
  return datagram;
}

Result<void> UdpSocket::connect(const Endpoint& peer) {
  if (auto open = check_open("udp connect"); !open) return open;
  if (family_ == Family::v4 && peer.family() == Family::v6) {
    return Error(ErrorKind::invalid_argument,
                 "udp connect to " + peer.to_string() + ": an IPv4 socket cannot reach IPv6");
  }
  if (peer.port() == 0) {
    return Error(ErrorKind::invalid_argument, "udp connect to " + peer.to_string() + ": port 0");
  }
  SockAddr address = detail::to_sockaddr(peer, family_);
  if (::connect(fd_.get(), address.get(), address.length) != 0) {
    return Error::from_errno(errno, "udp connect to " + peer.to_string());
  }
  peer_ = peer;
  if (auto bound = detail::local_endpoint_of(fd_.get())) local_ = *bound;
  return ok();
}

Result<void> UdpSocket::disconnect() {
  if (auto open = check_open("udp disconnect"); !open) return open;
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  if (::connect(fd_.get(), &unspec, sizeof unspec) != 0 && errno != EAFNOSUPPORT) {
    return Error::from_errno(errno, "udp disconnect");
  }
  peer_.reset();
  auto now = detail::local_endpoint_of(fd_.get());
  if (!now) return std::move(now).error().with_context("udp disconnect");
  if (now->port() == 0) {  // the kernel let go of the port it had picked: take it back
    if (auto rebound = detail::bind_to(fd_.get(), bound_, family_, "udp disconnect: bind again");
        !rebound) {
      return rebound;
    }
  }
  local_ = bound_;
  return ok();
}

Result<void> UdpSocket::set_receive_timeout(Timeout timeout) {
  if (auto open = check_open("udp set_receive_timeout"); !open) return open;
  auto set = detail::set_timeout_option(fd_.get(), SO_RCVTIMEO, timeout, "udp receive timeout");
  if (set) receive_timeout_ = timeout;
  return set;
}

Result<void> UdpSocket::set_non_blocking(bool on) {
  if (auto open = check_open("udp set_non_blocking"); !open) return open;
  auto set = detail::set_non_blocking(fd_.get(), on, "udp non-blocking mode");
  if (set) non_blocking_ = on;
  return set;
}

Result<void> UdpSocket::set_send_buffer_size(int bytes) {
  return detail::set_int_option(fd_.get(), SOL_SOCKET, SO_SNDBUF, bytes, "udp SO_SNDBUF");
}
Result<void> UdpSocket::set_receive_buffer_size(int bytes) {
  return detail::set_int_option(fd_.get(), SOL_SOCKET, SO_RCVBUF, bytes, "udp SO_RCVBUF");
}
Result<int> UdpSocket::send_buffer_size() const {
  return detail::get_int_option(fd_.get(), SOL_SOCKET, SO_SNDBUF, "udp SO_SNDBUF");
}
Result<int> UdpSocket::receive_buffer_size() const {
  return detail::get_int_option(fd_.get(), SOL_SOCKET, SO_RCVBUF, "udp SO_RCVBUF");
}
Result<std::size_t> UdpSocket::path_mtu() const {
  if (auto open = check_open("udp path_mtu"); !open) return std::move(open).error();
  if (!peer_) return Error(ErrorKind::not_connected, "udp path_mtu: the socket is not connected");
  auto mtu = family_ == Family::v4
                 ? detail::get_int_option(fd_.get(), IPPROTO_IP, IP_MTU, "udp IP_MTU")
                 : detail::get_int_option(fd_.get(), IPPROTO_IPV6, IPV6_MTU, "udp IPV6_MTU");
  if (!mtu) return std::move(mtu).error();
  return static_cast<std::size_t>(*mtu);
}

Result<void> UdpSocket::set_broadcast(bool on) {
  return detail::set_int_option(fd_.get(), SOL_SOCKET, SO_BROADCAST, on ? 1 : 0,
                                "udp SO_BROADCAST");
}

}  // namespace nexo::net
