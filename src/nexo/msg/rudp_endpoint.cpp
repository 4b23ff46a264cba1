#include "nexo/msg/rudp_endpoint.hpp"

#include <array>

#include <algorithm>
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

void Driver::handle(std::span<const io::Poller::Event> events) {
  std::uint32_t readiness = 0;
  for (const auto& e : events)
    readiness |= e.readiness;
  if (readiness == 0) return;  // an interrupt: the waiting thread looks at its request
  if (auto owner = owner_.lock()) owner->on_ready(readiness);
}

}  // namespace nexo::msg::rudp
