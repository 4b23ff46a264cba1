// What the sections of bench_group share with its main (group_bench.cpp): the
// options, the message layout, the receiver processes (this binary run again
// in a receiver role) and what they report. The comment at the top of
// group_bench.cpp says what is measured and why.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "harness.hpp"
#include "nexo/base/histogram.hpp"
#include "nexo/base/result.hpp"

namespace nexo::bench::group {

// --- options -----------------------------------------------------------------------------

struct Options {
  int receivers = 4;      // receiver processes
  int messages = 100'000;  // per round, 1 KiB each (nexo-total: twice as many, 64 B)
  int rounds = 3;         // per loss rate, each impl once per round (rotating)
  int limit_s = 8;        // a round not done by then did not finish
  int seed = 20261206;    // loss and simulation seeds
  int sim_runs = 10;      // seeded runs of the NAK row (the crash row: a quarter)
  std::size_t message_size = 1024;
  int datagram = 8192;             // nexo's bundles and NORM's segments, bytes at most
  int window = 0;                  // nexo rows: MemberConfig::window (0: its default)
  bool fixed_repair_wait = false;  // nexo rows: MemberConfig::adaptive_repair_timeout off
  double norm_mbps = 500;          // norm-fixed: its fixed rate in Mbit/s
  double pgm_mbps = 200;           // pgm: its fixed rate in Mbit/s
  bool real = true, simulated = true;
  bool quick = false;
  ImplChoice impls = ImplChoice(
      {"nexo", "nexo-total", "nexo-member", "nexo-callback", "norm", "norm-fixed", "pgm"});
};

inline constexpr double kLossRate = 0.05;

// --- the message layout ----------------------------------------------------------------------

// Every message: its sequence number (1, 2, ...) and the steady-clock time
// (ns) of its first send, both native-endian (one host), then a fill.
inline constexpr std::size_t kStampSize = 16;
void stamp(std::span<std::byte> message, std::uint64_t seq, std::int64_t sent_ns);
std::int64_t now_ns();

// The nexo rows' NAK timers, fitted to loopback (round trip ~0.1 ms), as NORM
// fits its timers to the group round trip it measures (GRTT): the NAK
// back-off drawn within 1 ms (default 10 ms, for LAN round trips), a repair
// awaited 4 ms at most (default 20 ms; less once the NAK -> repair round trip
// is measured, down to the 2 ms hold-off, unless --fixed-repair-wait).
// MemberConfig's defaults otherwise.
template <class Config>
void loopback_timers(Config& c) {
  c.nak_delay = std::chrono::microseconds(1'000);
  c.repair_timeout = std::chrono::milliseconds(4);
}

// --- a receiver process's side ---------------------------------------------------------------

// What a receiver role is told: everything on its command line.
struct RxSpec {
  std::string impl;     // "norm", ...
  std::string address;  // the multicast group
  int port = 0;         // the session's port (held by the parent's reservation socket)
  int count = 0;        // messages to expect
  int size = 1024;      // bytes each
  double loss = 0;      // receive loss to inject, [0, 1)
  int seed = 1;
  int limit_s = 20;
  int index = 0;        // this receiver's number, 0..receivers-1
  int receivers = 4;    // how many there are
  double rate_bps = 0;  // NORM and PGM sender: fixed rate (bit/s); NORM: 0 for congestion control
  int datagram = 8192;  // the largest datagram: nexo's bundle_bytes, NORM's segment size
  int window = 0;       // nexo rows: MemberConfig::window (0: its default)
  int fixed_repair_wait = 0;  // nexo rows: 1, MemberConfig::adaptive_repair_timeout off
};

// Checks and times each delivery of one receiver: FIFO (sequence numbers
// 1, 2, ... each once), and first-send-to-delivery latency per message.
class RxRecorder {
 public:
  explicit RxRecorder(int count) : count_(count) {
    latency_ns_.reserve(static_cast<std::size_t>(count));
  }
  // One delivered message (at least kStampSize bytes; shorter ones count as
  // bad), received now; `missing_since`: when the receiver found it missing
  // (group::Delivery::missing_since; the epoch for one that came in order).
  void on_message(std::span<const std::byte> message, Clock::time_point missing_since = {});
  // Loss recovery as the application sees it: per recovered message, from
  // when it was found missing until it was received here.
  const LatencyHistogram& recovery() const noexcept { return recovery_; }
  bool done() const noexcept { return delivered_ >= count_; }
  int delivered() const noexcept { return delivered_; }
  // "result delivered=... in_order=... bad=... first_ns=... last_ns=... p50_us=... p99_us=...
  // max_us=..."
  std::string report();

 private:
  int count_;
  int delivered_ = 0, out_of_order = 0, bad_ = 0;
  std::uint64_t next_ = 1;
  std::int64_t first_sent_ns_ = 0, last_ns_ = 0;
  std::vector<std::int64_t> latency_ns_;
  LatencyHistogram recovery_;
};

// The receiver role's main: prints "ready" once it listens, then its report.
// Implemented per impl (group_norm.cpp, ...).
int run_norm_receiver(const RxSpec& spec);
int run_pgm_receiver(const RxSpec& spec);
int run_member_receiver(const RxSpec& spec);
int run_nexo_receiver(const RxSpec& spec);
// libpgm's version, "5.3.128".
std::string pgm_version();
// libnorm's version, as it reports it.
void norm_version(int& major, int& minor, int& patch);

// --- the parent's side -------------------------------------------------------------------------

// A nexo receiver's lines "recovery=COUNT p99_us=X" (the application's,
// RxRecorder::recovery) and "member_recovery=COUNT p99_us=X" (the Member's,
// MemberCounters::recovery): RxReport below.
void print_recovery(const LatencyHistogram& recovery, const LatencyHistogram& member);

// A receiver's report, parsed.
struct RxReport {
  bool reported = false;
  int delivered = 0, out_of_order = 0, bad = 0;
  std::int64_t first_sent_ns = 0, last_ns = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
  // Datagrams its kernel dropped (receive buffer full), when it says:
  // a line "kernel_drops=N" after its result (nexo rows); -1 otherwise.
  long long kernel_drops = -1;
  // Loss recovery as the application sees it (a message found missing, by
  // group::Member, until the application received it: RxRecorder::recovery),
  // when it says: a line "recovery=COUNT p99_us=X" (nexo rows); count -1
  // otherwise. And as the Member measures it, up to its own delivery, before
  // group::Group hands the message to the application's thread (a line
  // "member_recovery=COUNT p99_us=X"; p99 -1 if not said).
  long long recovery_count = -1;
  double recovery_p99_us = 0, member_recovery_p99_us = -1;
  // Messages per second delivered: count / (last delivery - first message's send).
  double rate(int count) const;
};

// The receiver processes of one round: this binary in its receiver role.
class Receivers {
 public:
  Receivers() = default;
  Receivers(const Receivers&) = delete;
  Receivers& operator=(const Receivers&) = delete;
  ~Receivers();  // kills (SIGKILL) and reaps what is still running

  // Starts `n` receivers of `spec` (index 0..n-1) and waits until each says
  // "ready" (by `deadline`).
  Result<void> start(int n, RxSpec spec, Clock::time_point deadline);
  // Whether every receiver has reported (non-blocking read of what arrived).
  bool all_reported();
  // Waits for every report until `deadline`; those missing stay reported=false.
  std::vector<RxReport> collect(Clock::time_point deadline);

 private:
  struct Child {
    pid_t pid = -1;
    int out = -1;  // its stdout
    std::string text;
    bool ready = false, reported = false;
  };
  void read_some(Child& child);
  void stop_all();
  std::vector<Child> children_;
};

// A port for the multicast session: a UDP socket bound to 127.0.0.1:0 with
// SO_REUSEADDR/SO_REUSEPORT, held open for the run (the sessions bind the same
// port on the group address, with reuse; nothing probes and rebinds).
class PortReservation {
 public:
  PortReservation() = default;
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  ~PortReservation();
  Result<int> open();

 private:
  int fd_ = -1;
};

// A group address in 239.255.0.0/16 of its own for this process and round.
std::string group_address(int round);

// --- the sections ------------------------------------------------------------------------------

// One impl's sender for one round: the receivers are up; sends spec.count
// messages and returns when every receiver reported, or the deadline passed.
struct TxResult {
  std::string note;  // what the sender saw (rates, retransmissions), printed
};
Result<TxResult> run_norm_sender(const RxSpec& spec, Receivers& receivers,
                                 Clock::time_point deadline);

Result<TxResult> run_pgm_sender(const RxSpec& spec, Receivers& receivers,
                                Clock::time_point deadline);

Result<TxResult> run_member_sender(const RxSpec& spec, Receivers& receivers,
                                   Clock::time_point deadline);

// A sender that must exist before its receivers start (group::Group: its
// port is the first member's): prepare sets spec.port, then run.
struct PreparedSender {
  std::function<Result<TxResult>(const RxSpec&, Receivers&, Clock::time_point)> run;
};
Result<PreparedSender> prepare_nexo_sender(RxSpec& spec);

void run_real(const Options& options);
void run_simulated(const Options& options);

}  // namespace nexo::bench::group
