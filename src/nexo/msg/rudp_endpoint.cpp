#include "nexo/msg/rudp_endpoint.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace nexo::msg::rudp {

namespace {

constexpr std::array<CounterSpec, 11> kHostSpecs{{
    {"bad_checksum"},
    {"parse_errors"},
    {"unknown_connection"},
    {"wrong_address"},
    {"bad_cookie"},
    {"stale_cookie"},
    {"refused"},
    {"unexpected"},
    {"inits"},
    {"cookies_sent"},
    {"accepted"},
}};

}  // namespace

CounterBlock host_counter_block(const net::Endpoint& local) {
  return allocate_counters("rudp_host", local.to_string(), kHostSpecs);
}

void publish_host_counters(const reliable::HostCounters& c, CounterBlock& block) noexcept {
  std::uint64_t parse_errors = 0;
  for (std::uint64_t n : c.parse_errors)
    parse_errors += n;
  const std::array<std::uint64_t, kHostSpecs.size()> values{
      c.parse_errors[static_cast<std::size_t>(reliable::ParseError::bad_checksum)],
      parse_errors,
      c.unknown_connection,
      c.wrong_address,
      c.bad_cookie,
      c.stale_cookie,
      c.refused,
      c.unexpected,
      c.inits,
      c.cookies_sent,
      c.accepted};
  for (std::size_t i = 0; i < values.size(); ++i)
    block.set(i, values[i]);
}

Bytes frame(Kind kind, std::uint64_t id, std::span<const std::byte> payload) {
  const bool with_id = kind != kData;
  Bytes out(kKindSize + (with_id ? kIdSize : 0) + payload.size());
  out[0] = static_cast<std::byte>(kind);
  if (with_id) {
    for (int i = 0; i < 8; ++i)
      out[1 + i] = static_cast<std::byte>(id >> (56 - 8 * i));
  }
  if (!payload.empty())
    std::memcpy(out.data() + out.size() - payload.size(), payload.data(), payload.size());
  return out;
}

std::optional<Unframed> unframe(std::span<const std::byte> message) {
  if (message.empty()) return std::nullopt;
  Unframed u;
  u.kind = static_cast<Kind>(message[0]);
  if (u.kind == kData) {
    u.payload = message.subspan(1);
    return u;
  }
  if ((u.kind != kDataToAck && u.kind != kTaken) || message.size() < kKindSize + kIdSize)
    return std::nullopt;
  for (int i = 0; i < 8; ++i)
    u.id = (u.id << 8) | static_cast<std::uint8_t>(message[1 + i]);
  u.payload = message.subspan(kKindSize + kIdSize);
  return u;
}

reliable::Config protocol_config(std::size_t max_message, std::chrono::milliseconds broken_after,
                                 std::size_t max_datagram) {
  reliable::Config config;
  config.broken_after = broken_after;
  config.keepalive = std::min<reliable::Duration>(config.keepalive, broken_after / 4);
  config.max_message = max_message + kKindSize + kIdSize;
  // The window counts packets of the smallest size either side may pick.
  const std::size_t smallest = kMinDatagram - reliable::kDataOverhead;
  const std::size_t packets = (config.max_message + smallest - 1) / smallest;
  config.window = static_cast<std::uint32_t>(std::max<std::size_t>(config.window, packets + 16));
  config.max_payload = static_cast<std::uint16_t>(
      std::clamp<std::size_t>(max_datagram, kMinDatagram, 65'535) - reliable::kDataOverhead);
  // A connection buffers the largest message and a few packets more: with the
  // defaults about 17 MiB, whatever size of packet the peer picks.
  config.receive_buffer = config.max_message + 16 * std::size_t{config.max_payload};
  return config;
}

Result<std::size_t> sender_datagram(const net::UdpSocket& socket, std::size_t wanted) {
  if (wanted != 0) {
    if (wanted < kMinDatagram || wanted > socket.max_payload()) {
      return Error(ErrorKind::invalid_argument, "rudp: max_datagram " + std::to_string(wanted) +
                                                    " is outside " + std::to_string(kMinDatagram) +
                                                    ".." + std::to_string(socket.max_payload()));
    }
    return wanted;
  }
  auto mtu = socket.path_mtu();
  if (!mtu) return kMinDatagram;  // unknown: the size every path carries
  const std::size_t headers = (socket.family() == net::Family::v4 ? 20 : 40) + 8;
  const std::size_t fits = *mtu > headers ? *mtu - headers : 0;
  return std::clamp(fits, kMinDatagram, kDefaultMaxDatagram);
}

// What the Port and the Sender share: the socket, the Host, the loop's
// watcher and timer, and transmitting what the Host has to send.
void Endpoint::on_ready(std::uint32_t readiness) {
  serve(readiness);
}

void Endpoint::flush_locked(Time now) {
  // A full socket takes nothing until it is writable: the Host keeps its
  // packets (and their timers) meanwhile.
  if (stopped_ || !socket_.is_open() || writable_armed_) return;
  while (outbox_count_ < kOutboxLimit) {
    if (outbox_.size() == outbox_count_) outbox_.emplace_back();
    auto& [to, bytes] = outbox_[outbox_count_];  // poll_transmit reuses the buffer
    if (!host_.poll_transmit(bytes, to, now)) return;
    ++outbox_count_;
  }
}

void Endpoint::transmit(std::unique_lock<std::mutex>& lock,
                        std::vector<std::function<void()>>& later) {
  if (transmitting_ || stopped_ || outbox_count_ == 0) {  // nothing, or another thread's turn
    lock.unlock();
    return;
  }
  transmitting_ = true;
  std::optional<Error> error;
  while (outbox_count_ > 0 && !writable_armed_ && socket_.is_open()) {
    const std::size_t n = outbox_count_;
    sending_.swap(outbox_);  // outbox_ takes new datagrams meanwhile
    outbox_count_ = 0;
    lock.unlock();
    Handed handed = hand_over(std::span(sending_).first(n));
    lock.lock();
    if (handed.error) error = std::move(handed.error);
    if (handed.taken < n) requeue_locked(std::span(sending_).subspan(handed.taken, n - handed.taken));
    if (handed.full && !writable_armed_) {  // go on when the socket is writable
      writable_armed_ = true;
      (void)driver_->poller().modify(socket_.native_handle(), io::kReadable | io::kWritable, 1);
    }
  }
  transmitting_ = false;
  if (error) on_socket_error_locked(*error, later);
  if (stopped_) changed_.notify_all();  // stop() waits for the hand-over to end
  lock.unlock();
}

void Endpoint::requeue_locked(std::span<std::pair<net::Endpoint, Bytes>> rest) {
  // rest lies in sending_; outbox_ holds what was staged since: rest first.
  std::vector<std::pair<net::Endpoint, Bytes>> merged;
  merged.reserve(rest.size() + outbox_.size());
  for (auto& d : rest)
    merged.push_back(std::move(d));
  for (auto& d : outbox_)
    merged.push_back(std::move(d));  // the staged ones, then spare buffers
  outbox_count_ += rest.size();
  outbox_.swap(merged);
  // Spare buffers beyond a full outbox are let go: requeues do not pile them up.
  if (outbox_.size() > std::max(outbox_count_, kOutboxLimit))
    outbox_.resize(std::max(outbox_count_, kOutboxLimit));
}

Endpoint::Handed Endpoint::hand_over(std::span<const std::pair<net::Endpoint, Bytes>> datagrams) {
  Handed handed;
  if (out_faults_) {
    for (const auto& [to, bytes] : datagrams)
      out_faults_->push(bytes, connected_ ? nullptr : std::make_shared<const net::Endpoint>(to));
    handed.taken = datagrams.size();
    return handed;
  }
  std::array<net::OutDatagram, kSendBatch> out;
  while (handed.taken < datagrams.size()) {
    const auto chunk =
        datagrams.subspan(handed.taken, std::min(kSendBatch, datagrams.size() - handed.taken));
    for (std::size_t i = 0; i < chunk.size(); ++i)
      out[i] = net::OutDatagram{chunk[i].second, connected_ ? nullptr : &chunk[i].first};
    auto sent = socket_.send_batch(std::span(out).first(chunk.size()));
    if (sent) {
      handed.taken += *sent;
      continue;
    }
    if (sent.error().is(ErrorKind::would_block)) {
      handed.full = true;
      return handed;
    }
    handed.error = std::move(sent).error();
    ++handed.taken;  // the datagram is lost; the protocol sends it again
  }
  return handed;
}

void Endpoint::read_locked(Time now, std::vector<std::function<void()>>& later) {
  // Slots as long as the longest datagram the Host takes: a longer one is
  // truncated (counted by the socket) where the Host would drop it anyway.
  // With coalescing, a slot takes a whole run of them (up to the UDP limit).
  const bool runs = socket_.receive_coalescing();
  const std::size_t slot = runs ? socket_.max_payload() : host_.largest_datagram();
  const std::size_t count =
      runs ? kRunSlots : std::clamp<std::size_t>(kReadMemory / slot, 1, kReadBatch);
  if (slots_.size() != count || slots_.front().buffer.size() != slot) {
    // Uninitialised: pages are touched only as datagrams fill them.
    receive_memory_ = std::make_unique_for_overwrite<std::byte[]>(count * slot);
    slots_.assign(count, net::InSlot{});
    for (std::size_t i = 0; i < count; ++i)
      slots_[i].buffer = std::span(receive_memory_.get() + i * slot, slot);
  }
  reader_.store(std::this_thread::get_id());
  for (std::size_t read = 0; read < kReadBatch;) {
    auto n = socket_.receive_batch(slots_);
    if (!n) {
      if (n.error().is(ErrorKind::would_block)) break;
      if (n.error().is(ErrorKind::refused)) on_socket_error_locked(n.error(), later);
      ++read;
      continue;  // an error of one datagram: the next may be fine
    }
    for (std::size_t i = 0; i < *n; ++i) {
      const net::InSlot& s = slots_[i];
      // A truncated datagram is longer than any packet the Host takes.
      for (std::size_t k = 0; k < s.count(); ++k) {
        if (in_faults_) {
          in_faults_->push(s.datagram(k), std::make_shared<const net::Endpoint>(s.from));
        } else {
          host_.on_datagram(s.datagram(k), s.from, now);
        }
      }
      read += std::max<std::size_t>(s.count(), 1);
    }
    if (*n < slots_.size()) break;  // the socket is empty
  }
  reader_.store(std::thread::id());
}

void Driver::handle(std::span<const io::Poller::Event> events) {
  std::uint32_t readiness = 0;
  for (const auto& e : events)
    readiness |= e.readiness;
  if (readiness == 0) return;  // an interrupt: the waiting thread looks at its request
  if (auto owner = owner_.lock()) owner->on_ready(readiness);
}

}  // namespace nexo::msg::rudp
