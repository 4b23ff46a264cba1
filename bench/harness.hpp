// The harness every benchmark binary of bench/ shares: flag parsing, the
// machine's description (cores, cpus, load), CPU placement of the two sides,
// rounds that rotate the implementations, latency samples and their
// percentiles, a round's spread (median, min, max), and process-wide resource
// usage. The socket side (ping-pong pairs, one-way streams, raw sockets) is in
// pairs.hpp and streams.hpp.
//
// Benchmarks print, they never gate: nothing here compares a number against a
// limit and fails.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"

namespace nexo::bench {

using Clock = std::chrono::steady_clock;

// --- flags ----------------------------------------------------------------------------

// A binary's flags: each written --name=VALUE or --name VALUE; --help and -h
// print the usage. Parsing stops at the first bad flag (reported on stderr).
class Flags {
 public:
  explicit Flags(std::string program) : program_(std::move(program)) {}

  // --name: sets `out` to `value` when given.
  Flags& flag(std::string name, bool& out, bool value, std::string help);
  // --name=N: an integer in [1, max].
  Flags& count(std::string name, int& out, int max, std::string help);
  // --name=X: a number in [min, max].
  Flags& number(std::string name, double& out, double min, double max, std::string help);
  // --name=TEXT.
  Flags& text(std::string name, std::string& out, std::string help);
  // --name=VALUE handed to `set`; false from it is a bad value.
  Flags& value(std::string name, std::function<bool(std::string_view)> set, std::string help);
  // --name with no value: runs `action`.
  Flags& action(std::string name, std::function<void()> action, std::string help);

  // Parses argv; nullopt after a bad flag (message printed), false after --help
  // (usage printed), true to run.
  std::optional<bool> parse(int argc, char** argv) const;
  // The usage text: one line per flag.
  std::string usage() const;

 private:
  enum class Kind { flag, value };
  struct Spec {
    std::string name;
    Kind kind;
    std::function<bool(std::string_view)> set;  // false: a bad value
    std::string help;
  };
  Flags& add(std::string name, Kind kind, std::function<bool(std::string_view)> set,
             std::string help);

  std::string program_;
  std::vector<Spec> specs_;
};

// main's first steps: parses `flags`, then ignores SIGPIPE (a peer gone
// mid-write is an error value, not a signal) and records the start-up cpu mask
// before anything is bound. nullopt: run; else main's exit status (2 after a
// bad flag, 0 after --help).
std::optional<int> begin_run(const Flags& flags, int argc, char** argv);

// Parses a decimal integer in [1, max]; nullopt for anything else.
std::optional<int> parse_count(std::string_view text, int max);
// "a,b,c" -> its items.
std::vector<std::string_view> split_list(std::string_view text);

// The implementations a binary can run, chosen by --impls=LIST (names).
class ImplChoice {
 public:
  explicit ImplChoice(std::vector<std::string> names)
      : names_(std::move(names)), on_(names_.size(), true) {}
  const std::vector<std::string>& names() const { return names_; }
  const char* name(std::size_t impl) const { return names_[impl].c_str(); }
  bool on(std::size_t impl) const { return on_[impl]; }
  void set(std::size_t impl, bool on) { on_[impl] = on; }
  // The value of --impls ("a,b"): only those on. False: an unknown name.
  bool parse(std::string_view list);
  // "a,b,c".
  std::string joined() const;
  // The impls on, in order, but those of `except`.
  std::vector<std::size_t> chosen(std::initializer_list<std::size_t> except = {}) const;

 private:
  std::vector<std::string> names_;
  std::vector<bool> on_;
};

// --- the machine and placement ---------------------------------------------------------

enum class Cpus { free, split, same };
const char* cpus_name(Cpus cpus);
// The value of --cpus ("free,split"): the modes named; false for an unknown name.
bool parse_cpus(std::string_view list, std::vector<Cpus>& out);

// The cpus this process could run on at start-up (sched_getaffinity).
const std::vector<int>& startup_cpus();
// Binds the calling thread to `cpu`; a negative cpu leaves it as it is. False if refused.
bool pin_this_thread(int cpu);
// Binds the calling thread to `cpu`, or (negative) lets it run on every cpu of
// the start-up mask again. Threads created afterwards inherit the binding.
bool bind_thread(int cpu);

struct Placement {
  Cpus mode = Cpus::free;
  int client = -1;  // the client side: the timing thread and its context's threads
  int server = -1;  // the server side: the echo/receiver thread and its context's threads
  int proxy = -1;   // a relay between them (bench_rudp's fault proxy), if it is bound

  std::string describe() const;
};
// The placement `mode` asks for, the relay bound with the client only for
// `same`; nullopt when the machine has too few cpus.
std::optional<Placement> make_placement(Cpus mode);
// The placements of `modes` that this machine allows, each printed ("placement
// ..."), the others printed as skipped.
std::vector<Placement> make_placements(std::span<const Cpus> modes);

// /proc/loadavg without its newline: "1-, 5- and 15-minute load, running/threads, last pid".
std::string load_average();
// Prints "machine: N cores (...), this process may use cpus a,b" and the load.
void print_machine();
// The run's end: the load and the time since `start`, and that nothing gates.
void print_end(Clock::time_point start);

// --- rounds and statistics -------------------------------------------------------------

// Runs `rounds` rounds of one turn per impl of `order`, the first one rotating
// (round r starts with order[r % n]), so that drift falls on all alike;
// `turn(impl)` runs one. Stops at the first turn that fails.
template <class Turn>
Result<void> rotate_rounds(int rounds, std::span<const std::size_t> order, Turn&& turn) {
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t step = 0; step < order.size(); ++step) {
      const std::size_t impl = order[(static_cast<std::size_t>(round) + step) % order.size()];
      if (auto done = turn(impl); !done) return done;
    }
  }
  return ok();
}

// Latencies of single operations, kept whole so that any percentile can be
// read back. Not thread-safe.
class LatencySamples {
 public:
  void reserve(std::size_t count) { ns_.reserve(count); }
  void add(Clock::duration elapsed) {
    add_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  }
  void add_ns(std::int64_t ns) {
    ns_.push_back(ns);
    total_ns_ += ns;
    sorted_ = false;
  }
  std::size_t count() const noexcept { return ns_.size(); }
  // The p-th percentile (0 < p <= 100) by nearest rank, in microseconds; 0 when empty.
  double percentile_us(double p);
  // Operations per second of measured time (the time between operations is not counted).
  double rate_per_second() const noexcept {
    return total_ns_ == 0 ? 0.0
                          : static_cast<double>(count()) * 1e9 / static_cast<double>(total_ns_);
  }

 private:
  std::vector<std::int64_t> ns_;
  std::int64_t total_ns_ = 0;
  bool sorted_ = true;
};

// One figure per round: its median and range.
struct Spread {
  std::vector<double> values;
  double median() const;
  // The p-th percentile (0 < p <= 100) by nearest rank; 0 when empty.
  double percentile(double p) const;
  double min() const { return values.empty() ? 0.0 : *std::min_element(values.begin(), values.end()); }
  double max() const { return values.empty() ? 0.0 : *std::max_element(values.begin(), values.end()); }
  // "[min..max]" with `digits` decimals.
  std::string range(int digits) const;
};

// Context switches and CPU time of every thread of this process, live or joined.
struct Usage {
  std::int64_t switches = 0;
  double cpu_us = 0;

  static Usage now();
  Usage& operator+=(const Usage& other) {
    switches += other.switches;
    cpu_us += other.cpu_us;
    return *this;
  }
  Usage operator-(const Usage& other) const {
    return {switches - other.switches, cpu_us - other.cpu_us};
  }
};

// --- printing ---------------------------------------------------------------------------

// "64B", "1KiB".
std::string size_name(std::size_t size);
// "met" or "MISSED".
const char* verdict(bool met);
// 0.05 -> "5%".
std::string percent(double fraction);
// a / b, or 0 when either is not a positive figure.
inline double ratio(double a, double b) {
  return a > 0 && b > 0 ? a / b : 0.0;
}

}  // namespace nexo::bench
