#include "nexo/net/udp_socket.hpp"

#include <netinet/in.h>
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
  return UdpSocket(std::move(*fd), family, *bound);
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

Result<std::size_t> UdpSocket::send_batch(std::span<const OutDatagram> datagrams) {
  if (auto open = check_open("udp send"); !open) return std::move(open).error();
  std::size_t sent = 0;
  while (sent < datagrams.size()) {
    const auto chunk = datagrams.subspan(sent, std::min(kMaxBatch, datagrams.size() - sent));
    // Left uninitialised: only the entries used are written (zeroing all of
    // them costs more than a one-datagram call's work).
    std::array<mmsghdr, kMaxBatch> headers;
    std::array<iovec, kMaxBatch> iovs;
    std::array<sockaddr_storage, kMaxBatch> names;
    std::size_t ready = 0;  // datagrams of the chunk that pass the checks, in a row
    std::optional<Error> refused_here;
    for (; ready < chunk.size(); ++ready) {
      const OutDatagram& d = chunk[ready];
      if (d.to == nullptr && !peer_) {
        refused_here = Error(ErrorKind::not_connected, "udp send: the socket is not connected");
        break;
      }
      if (auto checked = check_send(d.payload.size(), d.to ? *d.to : *peer_); !checked) {
        refused_here = std::move(checked).error();
        break;
      }
      iovs[ready] = iovec{const_cast<std::byte*>(d.payload.data()), d.payload.size()};
      headers[ready] = mmsghdr{};
      msghdr& m = headers[ready].msg_hdr;
      m.msg_iov = &iovs[ready];
      m.msg_iovlen = 1;
      if (d.to != nullptr) {
        const SockAddr address = detail::to_sockaddr(*d.to, family_);
        std::memcpy(&names[ready], &address.storage, address.length);
        m.msg_name = &names[ready];
        m.msg_namelen = address.length;
      }
    }
    int n = 0;
    if (ready > 0) {
      do {
        n = ::sendmmsg(fd_.get(), headers.data(), static_cast<unsigned>(ready), MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
    }
    if (n < 0) {
      if (sent > 0) return sent;
      const OutDatagram& first = chunk.front();
      return send_error(errno, first.to ? *first.to : *peer_);
    }
    sent += static_cast<std::size_t>(n);
    if (static_cast<std::size_t>(n) < chunk.size()) {
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
// Room for the SO_RXQ_OVFL control message of one datagram.
using DropsControl = std::array<char, CMSG_SPACE(sizeof(std::uint32_t))>;
}  // namespace

// The kernel's drop count for this socket when the datagram was queued
// (cumulative, 32 bits), from the SO_RXQ_OVFL control message.
void UdpSocket::note_drops(const void* message_header) noexcept {
  auto* message = const_cast<msghdr*>(static_cast<const msghdr*>(message_header));
  for (cmsghdr* c = CMSG_FIRSTHDR(message); c != nullptr; c = CMSG_NXTHDR(message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
    std::uint32_t drops = 0;
    std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
    stats_.add(kDropsValue, static_cast<std::uint32_t>(drops - last_drops_));  // wraps at 2^32
    last_drops_ = drops;
  }
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
  note_drops(&message);
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
    note_drops(&m);
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
