// sim::Churn — the Mainline DHT's steady turnover of peers on sim::Network:
// every node under churn lives an exponentially distributed lifetime (mean
// `mean_lifetime`, drawn from the churn's own seed), then vanishes without a
// word (the network removes it and retires its address) and a new peer, made
// by the test's factory at a new address, takes its place at the same instant
// and comes under churn in its turn. The population under churn stays at the
// size it had; deaths and births are scheduled events of the network, in
// order with everything else, so a run stays deterministic for its seeds.
//
//   sim::Churn churn(net, {.mean_lifetime = 30s, .seed = 9}, make_node);
//   churn.on_replace = [&](Slot gone, Slot born) { bootstrap(born); };
//   churn.add_all();  net.run_for(10min);
//
// A node that the test crashed is removed and replaced when its lifetime ends
// like any other; one the test removed earlier is not replaced (its slot's
// death finds nobody). stop() ends the churn: deaths already scheduled do
// nothing.
//
// Lifetime: the Churn is referenced by the events it schedules, so it must
// outlive every run of the network after add() (declare it after the Network,
// or call stop() before it goes). Thread contract: the network's thread.
#pragma once

#include <cstdint>
#include <functional>

#include "nexo/fault/random.hpp"
#include "nexo/overlay/sim_network.hpp"

namespace nexo::overlay::sim {

struct ChurnConfig {
  Duration mean_lifetime = std::chrono::seconds(30);  // > 0
  std::uint64_t seed = 1;
  std::uint16_t port = kDefaultPort;  // the port of the nodes it adds
};

class Churn {
 public:
  // Throws std::logic_error on a lifetime <= 0 or an empty factory.
  Churn(Network& network, const ChurnConfig& config, Factory make);
  Churn(const Churn&) = delete;
  Churn& operator=(const Churn&) = delete;

  // Puts a node (alive or crashed) under churn: draws its lifetime from now
  // and schedules its end. Throws on an unknown or removed slot.
  void add(Slot slot);
  // Puts every node that exists now (alive or crashed) under churn, in slot order.
  void add_all();
  // No death from now on; the nodes stay.
  void stop() noexcept { stopped_ = true; }

  std::uint64_t deaths() const noexcept { return deaths_; }  // nodes removed by the churn
  std::uint64_t births() const noexcept { return births_; }  // nodes added in their place
  std::uint64_t lifetimes_drawn() const noexcept { return drawn_; }
  // The mean of every lifetime drawn so far (zero before the first).
  Duration mean_drawn_lifetime() const noexcept;

  // Called after each replacement with the slot gone and the slot born (to
  // bootstrap the newcomer, for example). May call the network's mutators.
  std::function<void(Slot gone, Slot born)> on_replace;

 private:
  void end_of_life(Slot slot);

  Network& network_;
  ChurnConfig config_;
  Factory make_;
  fault::Random random_;
  bool stopped_ = false;
  std::uint64_t deaths_ = 0;
  std::uint64_t births_ = 0;
  std::uint64_t drawn_ = 0;
  long double drawn_sum_ = 0;  // in Duration ticks
};

}  // namespace nexo::overlay::sim
