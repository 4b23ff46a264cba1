#include "nexo/overlay/sim_churn.hpp"

#include <cmath>
#include <stdexcept>
#include <utility>

namespace nexo::overlay::sim {

Churn::Churn(Network& network, const ChurnConfig& config, Factory make)
    : network_(network), config_(config), make_(std::move(make)), random_(config.seed) {
  if (config_.mean_lifetime <= Duration::zero()) {
    throw std::logic_error("sim::Churn: the mean lifetime must be positive");
  }
  if (!make_) throw std::logic_error("sim::Churn: an empty factory");
}

void Churn::add(Slot slot) {
  if (network_.state(slot) == NodeState::removed) {
    throw std::logic_error("sim::Churn::add: slot " + std::to_string(slot) + " (" +
                           network_.address(slot).to_string() + ") was removed");
  }
  // Exponential by inversion; 1 - uniform() is in (0, 1], so the log is finite.
  const double mean = static_cast<double>(config_.mean_lifetime.count());
  const double ticks = -mean * std::log(1.0 - random_.uniform());
  const Duration lifetime(static_cast<Duration::rep>(std::llround(ticks)));
  ++drawn_;
  drawn_sum_ += static_cast<long double>(lifetime.count());
  // [this, slot] fits std::function's inline storage: no allocation per node.
  network_.schedule(network_.now() + lifetime, [this, slot](Network&) { end_of_life(slot); });
}

void Churn::add_all() {
  const auto count = static_cast<Slot>(network_.slots());
  for (Slot slot = 0; slot < count; ++slot) {
    if (network_.state(slot) != NodeState::removed) add(slot);
  }
}

Duration Churn::mean_drawn_lifetime() const noexcept {
  if (drawn_ == 0) return Duration::zero();
  return Duration(static_cast<Duration::rep>(std::llround(drawn_sum_ / drawn_)));
}

void Churn::end_of_life(Slot slot) {
  if (stopped_ || network_.state(slot) == NodeState::removed) return;
  network_.remove(slot);
  ++deaths_;
  const Slot born = network_.add(make_, config_.port);
  ++births_;
  add(born);
  if (on_replace) on_replace(slot, born);
}

}  // namespace nexo::overlay::sim
