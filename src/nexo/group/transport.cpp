#include "nexo/group/transport.hpp"

#include <sys/socket.h>

#include <algorithm>

#include "nexo/group/packet.hpp"

namespace nexo::group {
namespace {

// Room for one datagram: a packet's maximum, plus one byte so that a longer
// datagram shows as truncated.
constexpr std::size_t kSlotSize = kMaxPacket + 1;
constexpr std::size_t kBatch = 32;
// The group socket's batches read in one receive() at most (the rest waits
// for the next call): NAKs and repairs come one to one, on the unicast
// socket, which each call reads first; they never wait behind more data than
// this. (2 batches were tried, for timers and repairs to wait behind less:
// under load on 2 cores the four times as many hand-overs to the
// application's thread cost more, in throughput and in recovery up to the
// application, than they saved.)
constexpr std::size_t kGroupBatchesPerCall = 8;

// The interface's address of `family` (a link-local IPv6 one carries the
// interface's index as its scope), preferring one that is not link-local.
std::optional<net::InetAddress> address_on(const net::NetworkInterface& interface,
                                           net::Family family) {
  std::optional<net::InetAddress> link_local;
  for (const auto& address : interface.addresses()) {
    if (address.family() != family) continue;
    const bool is_link_local =
        address.is_v6() && address.bytes()[0] == 0xfe && (address.bytes()[1] & 0xc0) == 0x80;
    if (!is_link_local) return address;
    if (!link_local) {
      std::array<std::uint8_t, 16> bytes{};
      std::copy_n(address.bytes().begin(), 16, bytes.begin());
      link_local = net::InetAddress::v6(bytes, interface.index());
    }
  }
  return link_local;
}

// Asks for `bytes` of kernel buffer: the forcing option first (root, past
// the sysctl's maximum), then the plain one (capped by the sysctl). Neither
// is an error: a smaller buffer only costs drops, which are counted.
void ask_buffer(int fd, int force, int plain, int bytes) {
  if (bytes <= 0) return;
  if (::setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) == 0) return;
  (void)::setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
}

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(std::byte(v >> 8));
  out.push_back(std::byte(v & 0xff));
}

}  // namespace

net::InetAddress group_address(std::string_view name) noexcept {
  const std::uint64_t tag = group_tag(name);
  return net::InetAddress::v4({239, static_cast<std::uint8_t>(tag >> 16),
                               static_cast<std::uint8_t>(tag >> 8),
                               static_cast<std::uint8_t>(tag)});
}

Bytes encode_contact(const net::Endpoint& endpoint) {
  Bytes out;
  for (const std::uint8_t b : endpoint.address().bytes())
    out.push_back(std::byte(b));
  put_u16(out, endpoint.port());
  if (const std::uint32_t scope = endpoint.address().scope_id();
      endpoint.address().is_v6() && scope) {
    put_u16(out, static_cast<std::uint16_t>(scope >> 16));
    put_u16(out, static_cast<std::uint16_t>(scope & 0xffff));
  }
  return out;
}

Result<net::Endpoint> decode_contact(std::span<const std::byte> contact) {
  const auto u8 = [&](std::size_t i) { return std::to_integer<std::uint8_t>(contact[i]); };
  const std::size_t n = contact.size();
  if (n != 6 && n != 18 && n != 22) {
    return Error(ErrorKind::malformed, "member contact of " + std::to_string(n) +
                                           " bytes: 6 (IPv4), 18 or 22 (IPv6) expected");
  }
  const std::size_t address_size = n == 6 ? 4 : 16;
  const auto port = static_cast<std::uint16_t>(u8(address_size) << 8 | u8(address_size + 1));
  if (port == 0) return Error(ErrorKind::malformed, "member contact with port 0");
  if (n == 6) return net::Endpoint(net::InetAddress::v4({u8(0), u8(1), u8(2), u8(3)}), port);
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < 16; ++i)
    bytes[i] = u8(i);
  std::uint32_t scope = 0;
  for (std::size_t i = 18; i < n; ++i)
    scope = scope << 8 | u8(i);
  return net::Endpoint(net::InetAddress::v6(bytes, scope), port);
}

Result<std::unique_ptr<Transport>> Transport::open(const TransportConfig& config) {
  std::unique_ptr<Transport> t(new Transport());
  if (auto opened = t->open_sockets(config); !opened) return std::move(opened).error();
  t->max_queued_ = config.max_queued;
  if (config.faults) {
    if (auto valid = config.faults->validate(); !valid)
      return std::move(valid).error().with_context("group fault plan");
    // Two streams from one seed: the directions must not draw the same numbers.
    t->send_faults_ = std::make_unique<fault::Injector>(config.faults->to, config.faults->seed);
    t->receive_faults_ = std::make_unique<fault::Injector>(
        config.faults->back, config.faults->seed ^ 0x9e3779b97f4a7c15ULL);
  }
  t->slot_memory_.resize(kBatch);
  t->slots_.resize(kBatch);
  for (std::size_t i = 0; i < kBatch; ++i) {
    t->slot_memory_[i].resize(kSlotSize);
    t->slots_[i].buffer = t->slot_memory_[i];
  }
  return t;
}

Result<void> Transport::open_sockets(const TransportConfig& config) {
  const net::Family family = config.group ? config.group->family() : config.family;
  auto address = address_on(config.interface, family);
  if (!address) {
    return Error(ErrorKind::invalid_argument, "interface " + config.interface.name() + " has no " +
                                                  std::string(net::to_string(family)) + " address");
  }
  if (!config.group) {
    auto unicast = net::UdpSocket::bind(net::Endpoint(*address, config.unicast_port));
    if (!unicast) return std::move(unicast).error().with_context("group member socket");
    owned_unicast_ = std::move(*unicast);
    unicast_ = &*owned_unicast_;
  } else if (auto opened = open_multicast(config, *address); !opened) {
    return opened;
  }
  if (auto nb = unicast_->set_non_blocking(true); !nb) return std::move(nb).error();
  size_buffers(config);
  contact_ = net::Endpoint(*address, unicast_->local_endpoint().port());
  encoded_contact_ = encode_contact(contact_);
  return ok();
}

Result<void> Transport::open_multicast(const TransportConfig& config,
                                       const net::InetAddress& address) {
  const net::Family family = address.family();
  const std::string where = "group " + config.group->to_string() + " on " + config.interface.name();
  auto socket = net::MulticastSocket::bind(config.group->port(), family);
  if (!socket) return std::move(socket).error().with_context(where);
  if (auto joined = socket->join(config.group->address(), config.interface); !joined)
    return std::move(joined).error().with_context(where);
  if (auto nb = socket->udp().set_non_blocking(true); !nb) return std::move(nb).error();
  group_ = net::Endpoint(config.group->address(), socket->local_endpoint().port());
  group_socket_ = std::move(*socket);
  group_udp_ = &group_socket_->udp();
  group_fd_ = group_udp_->native_handle();
  // Everything this member sends leaves from its own socket (the source is
  // its contact), multicast through the chosen interface, never the routing
  // table's, looped back to this host's other members. It joins no group.
  auto sender = net::MulticastSocket::bind(config.unicast_port, family);
  if (!sender) return std::move(sender).error().with_context("group member socket");
  Result<void> step = sender->set_interface(config.interface);
  if (step) step = sender->set_ttl(config.ttl);
  if (step) step = sender->set_loopback(true);
  if (!step) return std::move(step).error().with_context(where);
  sender_ = std::move(*sender);
  unicast_ = &sender_->udp();
  (void)address;
  return ok();
}

void Transport::size_buffers(const TransportConfig& config) {
  for (net::UdpSocket* socket : {unicast_, group_udp_}) {
    if (socket == nullptr) continue;
    ask_buffer(socket->native_handle(), SO_RCVBUFFORCE, SO_RCVBUF, config.receive_buffer);
    ask_buffer(socket->native_handle(), SO_SNDBUFFORCE, SO_SNDBUF, config.send_buffer);
  }
  net::UdpSocket& receiving = group_udp_ != nullptr ? *group_udp_ : *unicast_;
  if (auto granted = receiving.receive_buffer_size()) counters_.receive_buffer = *granted;
}

Transport::~Transport() = default;

void Transport::enqueue(std::span<const std::byte> datagram, const net::Endpoint& to) {
  if (queue_.size() - queue_head_ >= max_queued_) {
    ++counters_.send_overflow;
    return;
  }
  queue_.push_back(Queued{Bytes(datagram.begin(), datagram.end()), to});
}

void Transport::send(std::span<const std::byte> datagram, const net::Endpoint& to, Time now) {
  if (!send_faults_) {
    enqueue(datagram, to);
    return;
  }
  send_faults_->push(datagram, now, std::make_shared<net::Endpoint>(to));
  send_faults_->pop_due(now,
                        [this](std::span<const std::byte> bytes, const fault::Injector::Tag& tag) {
                          enqueue(bytes, *static_cast<const net::Endpoint*>(tag.get()));
                        });
}

bool Transport::flush() {
  std::vector<net::OutDatagram> batch;
  while (queue_head_ < queue_.size()) {
    const std::size_t n = std::min(queue_.size() - queue_head_, net::UdpSocket::kMaxBatch);
    batch.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const Queued& q = queue_[queue_head_ + i];
      batch.push_back(net::OutDatagram{q.bytes, &q.to});
    }
    auto sent = unicast_->send_batch(batch);
    if (!sent) {
      if (sent.error().is(ErrorKind::would_block)) break;
      ++counters_.send_errors;  // this datagram only: the protocol repairs a loss
      ++queue_head_;
      continue;
    }
    counters_.sent += *sent;
    queue_head_ += *sent;
  }
  if (queue_head_ == queue_.size()) {
    queue_.clear();
    queue_head_ = 0;
    return true;
  }
  if (queue_head_ > 1024) {
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(queue_head_));
    queue_head_ = 0;
  }
  return false;
}

void Transport::take(std::span<const std::byte> datagram, Time now, const OnDatagram& on_datagram) {
  if (!receive_faults_) {
    ++counters_.received;
    on_datagram(datagram);
    return;
  }
  receive_faults_->push(datagram, now);
  receive_faults_->pop_due(now, [&](std::span<const std::byte> bytes, const fault::Injector::Tag&) {
    ++counters_.received;
    on_datagram(bytes);
  });
}

std::size_t Transport::drain(net::UdpSocket& socket, Time now, const OnDatagram& on_datagram,
                             std::size_t max_batches) {
  std::size_t total = 0;
  for (std::size_t batch = 0; batch < max_batches; ++batch) {
    auto got = socket.receive_batch(slots_);
    if (!got) return total;  // would_block: nothing more (other errors: nothing to read either)
    for (std::size_t i = 0; i < *got; ++i) {
      const net::InSlot& slot = slots_[i];
      if (slot.truncated || slot.size > kMaxPacket) {
        ++counters_.truncated;
        continue;
      }
      take(slot.payload(), now, on_datagram);
    }
    total += *got;
    if (*got < slots_.size()) return total;
  }
  return total;
}

std::size_t Transport::receive(Time now, const OnDatagram& on_datagram) {
  std::size_t n = drain(*unicast_, now, on_datagram, SIZE_MAX);
  if (group_socket_) n += drain(group_socket_->udp(), now, on_datagram, kGroupBatchesPerCall);
  return n;
}

std::size_t Transport::receive_unicast(Time now, const OnDatagram& on_datagram) {
  return drain(*unicast_, now, on_datagram, SIZE_MAX);
}

void Transport::on_timer(Time now, const OnDatagram& on_datagram) {
  if (receive_faults_) {
    receive_faults_->pop_due(now,
                             [&](std::span<const std::byte> bytes, const fault::Injector::Tag&) {
                               ++counters_.received;
                               on_datagram(bytes);
                             });
  }
  if (send_faults_) {
    send_faults_->pop_due(
        now, [this](std::span<const std::byte> bytes, const fault::Injector::Tag& tag) {
          enqueue(bytes, *static_cast<const net::Endpoint*>(tag.get()));
        });
  }
}

std::optional<Time> Transport::next_due() const {
  std::optional<Time> due;
  for (const auto* injector : {send_faults_.get(), receive_faults_.get()}) {
    if (injector == nullptr) continue;
    if (auto next = injector->next_due(); next && (!due || *next < *due)) due = next;
  }
  return due;
}

TransportCounters Transport::counters() const {
  TransportCounters c = counters_;
  c.kernel_drops =
      unicast_->kernel_drops() + (group_udp_ != nullptr ? group_udp_->kernel_drops() : 0);
  if (send_faults_) c.faults_sent = send_faults_->counters();
  if (receive_faults_) c.faults_received = receive_faults_->counters();
  return c;
}

}  // namespace nexo::group
