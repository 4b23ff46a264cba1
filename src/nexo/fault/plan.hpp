// Plan — what the network should do wrong, per direction: the chapter's
// failure model of UDP (omission, disorder) made to order, and replayable.
//
// A Plan is plain data. An Injector (injector.hpp) carries it out on a stream
// of datagrams, deciding each one's fate from a pseudo-random generator seeded
// with `seed`: the same plan, seed and datagrams give the same faults, every
// run (a failing test prints its seed; rerun with it).
//
// Faults, in the order an Injector applies them to each datagram:
//   partition   drop everything while on (switchable at run time)
//   loss        drop with this probability; with burst > 1, losses come in
//               runs of that mean length (a two-state Gilbert model), the
//               long-run loss rate staying `loss`
//   corrupt     flip one random bit of the payload
//   duplicate   deliver a second copy (its own delay)
//   reorder     hold the datagram back until 1..reorder_window later ones
//               have passed (or max_hold has, whichever is first)
//   delay       deliver after delay ± jitter (uniform); jitter alone may
//               reorder, as on a real path with several queues
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "nexo/base/result.hpp"

namespace nexo::fault {

struct Direction {
  double loss = 0;              // probability a datagram is dropped, 0..1
  double burst = 1;             // mean length of a run of losses, >= 1 (1: independent)
  double duplicate = 0;         // probability of a second copy, 0..1
  double reorder = 0;           // probability a datagram is held back, 0..1
  unsigned reorder_window = 4;  // held back behind 1..this many later datagrams
  std::chrono::microseconds max_hold{50'000};  // a held datagram leaves after this anyway
  std::chrono::microseconds delay{0};
  std::chrono::microseconds jitter{0};  // delay varies uniformly within ± this
  double corrupt = 0;                   // probability one bit is flipped, 0..1
  bool partitioned = false;             // the initial state of the partition

  // Whether the direction does anything at all.
  bool active() const noexcept {
    return loss > 0 || duplicate > 0 || reorder > 0 || delay.count() > 0 || jitter.count() > 0 ||
           corrupt > 0 || partitioned;
  }
  // "loss 0.1 (bursts of 3), dup 0.02, ..." (the faults that are on).
  std::string to_string() const;
  // invalid_argument naming the field and the value when one is out of range.
  Result<void> validate(std::string_view which) const;
};

struct Plan {
  Direction to;    // what this side sends (a proxy: client -> server)
  Direction back;  // what it receives (a proxy: server -> client)
  std::uint64_t seed = 1;

  Result<void> validate() const;
  // The same faults both ways.
  static Plan both_ways(const Direction& d, std::uint64_t seed) { return Plan{d, d, seed}; }
};

}  // namespace nexo::fault
