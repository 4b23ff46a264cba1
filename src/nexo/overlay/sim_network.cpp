#include "nexo/overlay/sim_network.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace nexo::overlay::sim {
namespace {

constexpr Slot kHostsPerBlock = 254;  // hosts .1 to .254 of each /24

// splitmix64's finaliser: a slot's coordinates are a pure function of (seed, slot).
std::uint64_t mix(std::uint64_t z) noexcept {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void check_probability(double probability, const char* what) {
  if (!(probability >= 0 && probability <= 1)) {  // NaN fails too
    throw std::logic_error(std::string("sim::Network::") + what + ": a loss probability of " +
                           std::to_string(probability) + " is outside [0, 1]");
  }
}

}  // namespace

net::Endpoint address_of(Slot slot, std::uint16_t port) noexcept {
  const Slot block = slot / kHostsPerBlock;
  const auto host = static_cast<std::uint8_t>(slot % kHostsPerBlock + 1);
  return {net::InetAddress::v4({10, static_cast<std::uint8_t>(block >> 8),
                                static_cast<std::uint8_t>(block & 0xff), host}),
          port};
}

std::optional<Slot> slot_of(const net::InetAddress& address) noexcept {
  if (!address.is_v4()) return std::nullopt;
  const auto bytes = address.bytes();
  if (bytes[0] != 10 || bytes[3] == 0 || bytes[3] == 255) return std::nullopt;
  const Slot block = (Slot{bytes[1]} << 8) | bytes[2];
  return block * kHostsPerBlock + (bytes[3] - 1U);
}

std::string Network::name(Slot slot) const {
  return "slot " + std::to_string(slot) + " (" + address_of(slot, ports_[slot]).to_string() + ")";
}

std::string Counters::to_string() const {
  return "sent " + std::to_string(sent) + ", delivered " + std::to_string(delivered) + ", lost " +
         std::to_string(lost) + ", partitioned " + std::to_string(partitioned) + ", to_crashed " +
         std::to_string(to_crashed) + ", to_nobody " + std::to_string(to_nobody) + ", filtered " +
         std::to_string(filtered) + ", bytes_sent " + std::to_string(bytes_sent) +
         ", bytes_delivered " + std::to_string(bytes_delivered) + ", timers " +
         std::to_string(timers) + ", added " + std::to_string(added) + ", removed " +
         std::to_string(removed);
}

Network::Network(const Config& config)
    : seed_(config.seed), random_(config.seed), now_(config.start) {
  set_latency(config.latency);
  set_loss(config.loss);
}

Network::~Network() = default;

// ---- slots and records ------------------------------------------------------

void Network::check_slot(Slot slot, const char* what) const {
  if (slot >= slots()) {
    throw std::logic_error(std::string("sim::Network::") + what + ": no slot " +
                           std::to_string(slot) + " (the network has handed out " +
                           std::to_string(slots()) + ")");
  }
}

Network::Record* Network::record(Slot slot) noexcept {
  const std::uint32_t index = record_of_[slot];
  return index == kRetired ? nullptr : &records_[index];
}

Network::Record& Network::existing(Slot slot, const char* what) {
  check_slot(slot, what);
  Record* found = record(slot);
  if (found == nullptr) {
    throw std::logic_error(std::string("sim::Network::") + what + ": " + name(slot) +
                           " was removed");
  }
  return *found;
}

const Network::Record& Network::existing(Slot slot, const char* what) const {
  return const_cast<Network*>(this)->existing(slot, what);
}

std::uint32_t Network::make_record(Slot slot, std::unique_ptr<DatagramNode> node) {
  std::uint32_t index;
  if (free_records_.empty()) {
    index = static_cast<std::uint32_t>(records_.size());
    records_.emplace_back();
  } else {
    index = free_records_.back();
    free_records_.pop_back();
  }
  Record& fresh = records_[index];
  fresh.node = std::move(node);
  fresh.armed = kNever;
  fresh.queued = kNever;
  fresh.counters = {};
  fresh.slot = slot;
  ++fresh.timer_generation;  // a reused record's old events name another slot anyway
  fresh.fires = 0;
  fresh.crashed = false;
  fresh.behind_nat = false;
  return index;
}

Slot Network::add(const Factory& make, std::uint16_t port) {
  if (slots() >= kMaxSlots) {
    throw std::logic_error("sim::Network::add: the " + std::to_string(kMaxSlots) +
                           " addresses of 10/8 are used up (addresses are never reused)");
  }
  const auto slot = static_cast<Slot>(slots());
  auto made = make ? make(address_of(slot, port)) : nullptr;
  if (!made) throw std::logic_error("sim::Network::add: the factory made no node");
  if (slots() != slot) throw std::logic_error("sim::Network::add: the factory added a node");
  ports_.push_back(port);
  record_of_.push_back(kRetired);  // until the record exists, should make_record throw
  record_of_.back() = make_record(slot, std::move(made));
  ++alive_;
  ++counters_.added;
  kick(slot);
  return slot;
}

DatagramNode& Network::node(Slot slot) {
  return *existing(slot, "node").node;
}

const DatagramNode& Network::node(Slot slot) const {
  return *existing(slot, "node").node;
}

net::Endpoint Network::address(Slot slot) const {
  check_slot(slot, "address");
  return address_of(slot, ports_[slot]);
}

std::optional<Slot> Network::find(const net::Endpoint& address) const noexcept {
  const auto slot = slot_of(address.address());
  if (!slot || *slot >= slots() || ports_[*slot] != address.port()) return std::nullopt;
  return slot;
}

NodeState Network::state(Slot slot) const {
  check_slot(slot, "state");
  const std::uint32_t index = record_of_[slot];
  if (index == kRetired) return NodeState::removed;
  return records_[index].crashed ? NodeState::crashed : NodeState::alive;
}

const NodeCounters& Network::counters(Slot slot) const {
  return existing(slot, "counters").counters;
}

// ---- latency, loss, partitions ---------------------------------------------

void Network::set_latency(const LatencyModel& model) {
  if (model.base < Duration::zero() || model.per_unit < Duration::zero() ||
      model.jitter < Duration::zero()) {
    throw std::logic_error(
        "sim::Network::set_latency: base, per_unit and jitter must not be negative");
  }
  latency_ = model;
}

std::pair<double, double> Network::coordinates(Slot slot) const {
  check_slot(slot, "coordinates");
  const std::uint64_t h = mix(seed_ ^ mix(slot));
  return {static_cast<double>(h >> 32) * 0x1.0p-32,
          static_cast<double>(h & 0xffffffffU) * 0x1.0p-32};
}

Duration Network::base_delay(Slot from, Slot to) const {
  const auto [x1, y1] = coordinates(from);
  const auto [x2, y2] = coordinates(to);
  // +, * and sqrt are correctly rounded (IEEE 754), unlike std::hypot: the
  // delays are the same with any maths library.
  const double dx = x1 - x2;
  const double dy = y1 - y2;
  const double distance = std::sqrt(dx * dx + dy * dy);
  return latency_.base + Duration(static_cast<Duration::rep>(std::llround(
                             distance * static_cast<double>(latency_.per_unit.count()))));
}

Duration Network::draw_delay(Slot from, Slot to) {
  Duration delay = base_delay(from, to);
  if (latency_.jitter > Duration::zero()) {
    const auto span = static_cast<std::uint64_t>(latency_.jitter.count()) + 1;
    delay += Duration(static_cast<Duration::rep>(random_.below(span)));
  }
  return delay;
}

void Network::set_loss(double probability) {
  check_probability(probability, "set_loss");
  loss_ = probability;
}

void Network::set_loss(Slot from, Slot to, double probability) {
  check_slot(from, "set_loss");
  check_slot(to, "set_loss");
  check_probability(probability, "set_loss");
  pair_loss_[pair_key(from, to)] = probability;
}

void Network::clear_loss(Slot from, Slot to) {
  check_slot(from, "clear_loss");
  check_slot(to, "clear_loss");
  pair_loss_.erase(pair_key(from, to));
}

double Network::loss(Slot from, Slot to) const {
  check_slot(from, "loss");
  check_slot(to, "loss");
  if (pair_loss_.empty()) return loss_;
  const auto found = pair_loss_.find(pair_key(from, to));
  return found == pair_loss_.end() ? loss_ : found->second;
}

void Network::partition(const std::vector<std::vector<Slot>>& parts) {
  if (parts.size() >= 0xffff) throw std::logic_error("sim::Network::partition: too many parts");
  std::vector<std::uint16_t> part_of(slots(), 0);
  for (std::size_t index = 0; index < parts.size(); ++index) {
    for (const Slot slot : parts[index]) {
      check_slot(slot, "partition");
      if (part_of[slot] != 0) {
        throw std::logic_error("sim::Network::partition: " + name(slot) + " is listed twice");
      }
      part_of[slot] = static_cast<std::uint16_t>(index + 1);
    }
  }
  part_ = std::move(part_of);
}

void Network::heal() {
  std::vector<std::uint16_t>().swap(part_);
}

bool Network::same_part(Slot a, Slot b) const noexcept {
  if (part_.empty()) return true;
  const std::uint16_t part_a = a < part_.size() ? part_[a] : 0;
  const std::uint16_t part_b = b < part_.size() ? part_[b] : 0;
  return part_a == part_b;
}

bool Network::reachable(Slot from, Slot to) const {
  check_slot(from, "reachable");
  check_slot(to, "reachable");
  return same_part(from, to);
}

// ---- NAT ---------------------------------------------------------------------

void Network::set_behind_nat(Slot slot, bool behind) {
  existing(slot, "set_behind_nat").behind_nat = behind;
}

bool Network::behind_nat(Slot slot) const {
  return existing(slot, "behind_nat").behind_nat;
}

void Network::set_nat_timeout(Duration timeout) {
  if (timeout < Duration::zero()) {
    throw std::logic_error("sim::Network::set_nat_timeout: the timeout must not be negative");
  }
  nat_timeout_ = timeout;
}

void Network::open_pinhole(Slot inside, Slot outside) {
  pinholes_[pair_key(inside, outside)] = now_;
  if (pinholes_.size() < sweep_at_) return;
  std::erase_if(pinholes_,
                [this](const auto& entry) { return now_ - entry.second > nat_timeout_; });
  sweep_at_ = std::max<std::size_t>(4096, 2 * pinholes_.size());
}

bool Network::pinhole_open(Slot inside, Slot outside) const noexcept {
  const auto found = pinholes_.find(pair_key(inside, outside));
  return found != pinholes_.end() && now_ - found->second <= nat_timeout_;
}

// ---- crash, restart, remove -------------------------------------------------

void Network::crash(Slot slot) {
  check_slot(slot, "crash");
  Record* target = record(slot);
  if (target == nullptr || target->crashed) return;
  target->crashed = true;
  target->armed = kNever;
  target->queued = kNever;
  ++target->timer_generation;  // its pending timer event goes stale
  --alive_;
}

void Network::restart(Slot slot, const Factory& make) {
  existing(slot, "restart");
  auto made = make ? make(address(slot)) : nullptr;
  if (!made) throw std::logic_error("sim::Network::restart: the factory made no node");
  Record& target = existing(slot, "restart");  // the factory may not add, but look again
  target.node = std::move(made);
  if (target.crashed) ++alive_;
  target.crashed = false;
  target.armed = kNever;
  target.queued = kNever;
  ++target.timer_generation;
  target.fires = 0;
  kick(slot);
}

void Network::remove(Slot slot) {
  check_slot(slot, "remove");
  const std::uint32_t index = record_of_[slot];
  if (index == kRetired) return;
  Record& target = records_[index];
  if (!target.crashed) --alive_;
  target.node.reset();
  target.armed = kNever;
  target.queued = kNever;
  ++target.timer_generation;
  target.slot = kNoSlot;
  record_of_[slot] = kRetired;
  free_records_.push_back(index);
  ++counters_.removed;
}

std::size_t Network::memory_bytes() const noexcept {
  std::size_t total = sizeof(*this);
  total += queue_.capacity() * sizeof(Event);
  total +=
      ports_.capacity() * sizeof(std::uint16_t) + record_of_.capacity() * sizeof(std::uint32_t);
  total += records_.capacity() * sizeof(Record) + free_records_.capacity() * sizeof(std::uint32_t);
  total += part_.capacity() * sizeof(std::uint16_t);
  total += buffers_.capacity() * sizeof(Buffer) + free_buffers_.capacity() * sizeof(std::uint32_t);
  for (const Buffer& buffer : buffers_) {
    total += buffer.bytes.capacity();
  }
  total += actions_.capacity() * sizeof(std::function<void(Network&)>) +
           free_actions_.capacity() * sizeof(std::uint32_t);
  // An unordered_map node holds the pair and a next pointer (and libstdc++ no
  // hash for integers); the bucket array one pointer per bucket.
  total += pair_loss_.size() * (sizeof(std::pair<const std::uint64_t, double>) + sizeof(void*)) +
           pair_loss_.bucket_count() * sizeof(void*);
  total += pinholes_.size() * (sizeof(std::pair<const std::uint64_t, Time>) + sizeof(void*)) +
           pinholes_.bucket_count() * sizeof(void*);
  return total;
}

}  // namespace nexo::overlay::sim
