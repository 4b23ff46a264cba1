#include "nexo/reliable/host.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "nexo/reliable/checksum.hpp"

namespace nexo::reliable {
namespace {

std::uint64_t seed_of(const HostConfig& config) {
  if (config.seed) return *config.seed;
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

void put32(std::byte*& at, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    *at++ = static_cast<std::byte>(v >> shift);
}

}  // namespace

std::uint64_t HostCounters::dropped() const noexcept {
  std::uint64_t n = unknown_connection + wrong_address + bad_cookie + stale_cookie + refused +
                    unexpected + refused_per_address + over_buffer;
  for (auto e : parse_errors)
    n += e;
  return n;
}

Host::Host(const HostConfig& config)
    : config_(config), random_(seed_of(config)), key_(fresh_key()), previous_key_(key_) {}

// 128 bits from the kernel's generator, unrelated to the ids peers see.
Host::Key Host::fresh_key() {
  std::array<std::uint64_t, 2> words{};
  auto* at = reinterpret_cast<unsigned char*>(words.data());
  std::size_t left = sizeof words;
  while (left > 0) {
    const ssize_t n = ::getrandom(at, left, 0);
    if (n > 0) {
      at += n;
      left -= static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      std::random_device device;  // no getrandom (very old kernel): the library's source
      for (auto& w : words)
        w = (std::uint64_t{device()} << 32) ^ device();
      break;
    }
  }
  return Key{words[0], words[1]};
}

// A new key every cookie_lifetime; the previous one is kept for one more.
void Host::rotate_key(Time now) {
  now_ = std::max(now_, now);
  const std::uint64_t at = clock_ms(now);
  if (!key_dated_) {
    key_dated_ = true;
    key_since_ = at;
    return;
  }
  const auto lifetime = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.cookie_lifetime).count());
  if (at < key_since_ + lifetime) return;
  previous_key_ = at < key_since_ + 2 * lifetime ? key_ : fresh_key();
  key_ = fresh_key();
  key_since_ = at;
  ++counters_.key_rotations;
}

std::uint64_t Host::clock_ms(Time now) const {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

// The cookie's keyed hash: the client's address and port, its handshake, the time.
std::uint64_t Host::mac(const Key& key, const net::Endpoint& from, const Handshake& h,
                        std::uint64_t issued_at) const {
  std::array<std::byte, 16 + 2 + 4 * 3 + 2 + 8> input{};
  std::byte* at = input.data();
  const auto address = from.address().bytes();
  std::memcpy(at, address.data(), std::min<std::size_t>(address.size(), 16));
  at += 16;
  *at++ = static_cast<std::byte>(from.port() >> 8);
  *at++ = static_cast<std::byte>(from.port());
  put32(at, h.id);
  put32(at, h.initial_seq);
  put32(at, h.window);
  *at++ = static_cast<std::byte>(h.max_payload >> 8);
  *at++ = static_cast<std::byte>(h.max_payload);
  put32(at, static_cast<std::uint32_t>(issued_at >> 32));
  put32(at, static_cast<std::uint32_t>(issued_at));
  return siphash24(key.k0, key.k1, input);
}

std::uint32_t Host::fresh_id() {
  for (;;) {
    const auto id = static_cast<std::uint32_t>(random_.next());
    if (id != 0 && !connections_.contains(id)) return id;
  }
}

// After anything that may move the connection's deadline.
void Host::schedule(std::uint32_t id, Entry& e) {
  const auto next = e.connection.next_timer();
  if (next == e.timer) return;
  e.timer = next;
  e.timer_gen = ++timer_gen_;
  if (next) timers_.push(Timer{*next, id, e.timer_gen});
  if (timers_.size() > 2 * connections_.size() + 64) {  // mostly stale: keep the current ones
    std::vector<Timer> current;
    current.reserve(connections_.size());
    for (auto& [other, entry] : connections_) {
      if (entry.timer) current.push_back(Timer{*entry.timer, other, entry.timer_gen});
    }
    timers_ = decltype(timers_)(std::greater<>(), std::move(current));
  }
}

bool Host::stale(const Timer& t) const {
  auto it = connections_.find(t.id);
  return it == connections_.end() || it->second.timer_gen != t.gen;
}

void Host::activate(std::uint32_t id, Entry& e) {
  schedule(id, e);
  if (!e.touched) {
    e.touched = true;
    touched_.push_back(id);
  }
  if (e.active) return;
  e.active = true;
  active_.push_back(id);
}

void Host::on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from, Time now) {
  now_ = std::max(now_, now);
  Packet p;
  if (const ParseError error = parse(datagram, p); error != ParseError::none) {
    ++counters_.parse_errors[static_cast<std::size_t>(error)];
    return;
  }
  if (p.type == Type::init) return on_init(p, datagram, from, now);
  if (p.type == Type::cookie_echo) return on_cookie_echo(p, from, now);
  auto it = connections_.find(p.connection);
  if (it == connections_.end()) {
    ++counters_.unknown_connection;
    return;
  }
  Entry& e = it->second;
  if (e.peer != from) {  // no migration: another address with a known id is an impostor
    ++counters_.wrong_address;
    return;
  }
  const std::size_t held = e.connection.buffered_bytes();
  if (p.type == Type::data && buffered_bytes_ + p.payload.size() > config_.max_buffered_bytes) {
    ++counters_.over_buffer;
    return;
  }
  e.connection.on_packet(p, now);
  buffered_bytes_ = buffered_bytes_ - held + e.connection.buffered_bytes();
  largest_payload_ = std::max(largest_payload_, e.connection.payload_size());
  activate(it->first, e);
}

std::size_t Host::largest_datagram() const noexcept {
  // An ACK with every SACK block is the longest packet without a payload.
  constexpr std::size_t kLongestAck = kHeaderSize + 4 + 4 + 1 + kMaxSack * 8 + kCrcSize;
  return std::max({kInitSize, kLongestAck, kDataOverhead + largest_payload_});
}

void Host::on_init(const Packet& p, std::span<const std::byte> datagram, const net::Endpoint& from,
                   Time now) {
  if (!config_.accept || p.handshake.id == 0 || p.handshake.window == 0 ||
      p.handshake.max_payload == 0) {
    ++counters_.unexpected;
    return;
  }
  ++counters_.inits;
  counters_.unvalidated_bytes_in += datagram.size();
  rotate_key(now);
  if (replies_.size() >= kMaxReplies) return;  // a flood: the client will ask again
  Packet cookie;
  cookie.type = Type::cookie;
  cookie.connection = p.handshake.id;
  cookie.cookie.issued_at = clock_ms(now);
  cookie.cookie.mac = mac(key_, from, p.handshake, cookie.cookie.issued_at);
  Bytes out;
  write(cookie, out);
  if (out.size() > 3 * datagram.size()) return;  // never amplify (cannot happen: INIT is padded)
  counters_.unvalidated_bytes_out += out.size();
  ++counters_.cookies_sent;
  replies_.emplace_back(from, std::move(out));
}

void Host::on_cookie_echo(const Packet& p, const net::Endpoint& from, Time now) {
  if (!config_.accept) {
    ++counters_.unexpected;
    return;
  }
  rotate_key(now);
  if (mac(key_, from, p.handshake, p.cookie.issued_at) != p.cookie.mac &&
      mac(previous_key_, from, p.handshake, p.cookie.issued_at) != p.cookie.mac) {
    ++counters_.bad_cookie;
    return;
  }
  const std::uint64_t age = clock_ms(now) - p.cookie.issued_at;
  if (p.cookie.issued_at > clock_ms(now) ||
      age > static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(config_.cookie_lifetime)
                    .count())) {
    ++counters_.stale_cookie;
    return;
  }
  const auto key = std::make_pair(from, p.handshake.id);
  if (auto known = by_client_.find(key); known != by_client_.end()) {
    auto it = connections_.find(known->second);
    if (it != connections_.end()) {  // our ACCEPT was lost: send it again
      it->second.connection.on_packet(p, now);
      activate(it->first, it->second);
    }
    return;
  }
  if (connections_.size() >= config_.max_connections) {
    ++counters_.refused;
    return;
  }
  std::size_t& from_address = per_address_[from.address()];
  if (from_address >= config_.max_connections_per_address) {
    ++counters_.refused_per_address;
    return;
  }
  ++from_address;
  const std::uint32_t id = fresh_id();
  auto [it, inserted] = connections_.emplace(
      id, Entry{Connection::server(config_.connection, id,
                                   static_cast<std::uint32_t>(random_.next()), p.handshake, now),
                from, p.handshake.id, false, false, std::nullopt, 0});
  by_client_.emplace(key, id);
  largest_payload_ = std::max(largest_payload_, it->second.connection.payload_size());
  accepted_.push_back(id);
  ++counters_.accepted;
  activate(id, it->second);
}

std::uint32_t Host::connect(const net::Endpoint& to, Time now) {
  const std::uint32_t id = fresh_id();
  auto [it, inserted] = connections_.emplace(
      id, Entry{Connection::client(config_.connection, id,
                                   static_cast<std::uint32_t>(random_.next()), now),
                to, 0, false, false, std::nullopt, 0});
  activate(id, it->second);
  return id;
}

Connection* Host::find(std::uint32_t id) noexcept {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : &it->second.connection;
}

const net::Endpoint* Host::peer_of(std::uint32_t id) const noexcept {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : &it->second.peer;
}

std::optional<std::uint32_t> Host::accept() {
  while (!accepted_.empty()) {
    const std::uint32_t id = accepted_.front();
    accepted_.pop_front();
    if (connections_.contains(id)) return id;
  }
  return std::nullopt;
}

Result<void> Host::send(std::uint32_t id, std::span<const std::byte> message, Time now) {
  auto it = connections_.find(id);
  if (it == connections_.end())
    return Error(ErrorKind::closed, "rudp send: no connection " + std::to_string(id));
  auto sent = it->second.connection.send(message, now);
  if (sent) activate(id, it->second);
  return sent;
}

Result<void> Host::send(std::uint32_t id, Bytes&& message, Time now) {
  auto it = connections_.find(id);
  if (it == connections_.end())
    return Error(ErrorKind::closed, "rudp send: no connection " + std::to_string(id));
  auto sent = it->second.connection.send(std::move(message), now);
  if (sent) activate(id, it->second);
  return sent;
}

std::optional<Bytes> Host::receive(std::uint32_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return std::nullopt;
  const std::size_t held = it->second.connection.buffered_bytes();
  auto message = it->second.connection.receive();
  buffered_bytes_ = buffered_bytes_ - held + it->second.connection.buffered_bytes();
  if (message) activate(id, it->second);  // may owe a window update
  return message;
}

void Host::close(std::uint32_t id, Time now) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  it->second.connection.close(now);
  activate(id, it->second);
}

void Host::remove(std::uint32_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  if (it->second.peer_id != 0) {  // accepted from a client
    by_client_.erase(std::make_pair(it->second.peer, it->second.peer_id));
    auto address = per_address_.find(it->second.peer.address());
    if (address != per_address_.end() && --address->second == 0) per_address_.erase(address);
  }
  buffered_bytes_ -= it->second.connection.buffered_bytes();
  // A CLOSE answered here still owes its CLOSE_ACK: without it the peer
  // would linger, sending CLOSE to an id nobody has.
  if (Bytes out; it->second.connection.state() == State::closed && replies_.size() < kMaxReplies &&
                 it->second.connection.poll_transmit(out, now_)) {
    replies_.emplace_back(it->second.peer, std::move(out));
  }
  connections_.erase(it);  // a stale id left in active_ is skipped
}

void Host::take_touched(std::vector<std::uint32_t>& out) {
  out.clear();
  out.swap(touched_);
  for (const std::uint32_t id : out) {
    if (auto it = connections_.find(id); it != connections_.end()) it->second.touched = false;
  }
}

bool Host::poll_transmit(Bytes& out, net::Endpoint& to, Time now) {
  if (!replies_.empty()) {
    to = replies_.front().first;
    out = std::move(replies_.front().second);
    replies_.pop_front();
    return true;
  }
  while (!active_.empty()) {
    const std::uint32_t id = active_.front();
    active_.pop_front();
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    Entry& e = it->second;
    e.active = false;
    ++counters_.visits;
    const bool sent = e.connection.poll_transmit(out, now);
    schedule(id, e);
    if (sent) {
      to = e.peer;
      activate(id, e);  // it may have more: its turn comes again after the others
      return true;
    }
  }
  return false;
}

std::optional<Time> Host::next_timer() const {
  while (!timers_.empty()) {
    ++counters_.timers_examined;
    if (!stale(timers_.top())) return timers_.top().at;
    timers_.pop();
  }
  return std::nullopt;
}

void Host::on_timer(Time now) {
  now_ = std::max(now_, now);
  // The connections due, each once: a deadline still due after its on_timer
  // (a ping not yet sent) is for the next call.
  std::vector<std::uint32_t> due;
  while (!timers_.empty() && timers_.top().at <= now) {
    ++counters_.timers_examined;
    const Timer t = timers_.top();
    timers_.pop();
    if (stale(t)) continue;
    connections_.find(t.id)->second.timer.reset();
    due.push_back(t.id);
  }
  for (const std::uint32_t id : due) {
    Entry& e = connections_.find(id)->second;
    e.connection.on_timer(now);
    activate(id, e);
  }
}

std::vector<std::uint32_t> Host::ids() const {
  std::vector<std::uint32_t> out;
  out.reserve(connections_.size());
  for (const auto& [id, e] : connections_)
    out.push_back(id);
  return out;
}

}  // namespace nexo::reliable
