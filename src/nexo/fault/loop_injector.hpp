// LoopInjector — an Injector put to work on a live path: datagrams pushed from
// any thread go through the faults; those due at once are delivered on the
// pushing thread, the rest (delayed, held back) from the I/O loop's timer.
// This is how a transport stacks a fault Plan in-process (udp://'s
// SenderOptions::faults and PortOptions::faults).
//
// Delivery runs under the injector's lock, so datagrams are delivered one at a
// time and in the Injector's order; `deliver` must not push into the same
// LoopInjector. Destroying it drops what is still held.
#pragma once

#include <memory>
#include <mutex>

#include "nexo/fault/injector.hpp"
#include "nexo/io/loop_thread.hpp"
#include "nexo/io/timer.hpp"

namespace nexo::fault {

class LoopInjector {
 public:
  // Create and destroy it off the loop thread or on it (both wait for the loop).
  LoopInjector(io::LoopThread& io, const Direction& direction, std::uint64_t seed,
               Injector::Deliver deliver);
  LoopInjector(const LoopInjector&) = delete;
  LoopInjector& operator=(const LoopInjector&) = delete;
  ~LoopInjector();

  // Any thread.
  void push(std::span<const std::byte> datagram, Injector::Tag tag = nullptr);
  void set_partitioned(bool on) noexcept { injector_.set_partitioned(on); }
  Counters counters() const { return injector_.counters(); }

 private:
  void on_timer();
  void arm_locked(std::optional<Clock::time_point> next);

  io::LoopThread& io_;
  const Injector::Deliver deliver_;
  std::mutex mutex_;
  Injector injector_;                       // with mutex_
  std::optional<Clock::time_point> armed_;  // with mutex_: when the timer fires
  std::unique_ptr<io::Timer> timer_;        // loop thread
  std::shared_ptr<LoopInjector*> alive_;    // posted tasks hold it weakly
};

}  // namespace nexo::fault
