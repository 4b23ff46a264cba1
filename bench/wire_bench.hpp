// bench_wire: nexo's marshalling beside the reference libraries, in one run.
//
// Each format lives in its own file (wire_<format>_bench.cpp) and registers itself
// with NEXO_WIRE_BENCH; main() runs them in order and prints one table. Every figure
// is CPU time of the measuring thread, ns per message. nexo and its anchors for one
// operation are measured together, interleaved (measure()): rounds in which each runs
// once, the first one rotating, as bench_msg's rounds do, so that drift falls on all
// alike; the figure is the median over the rounds, and p99 is printed beside it. The
// values are the same for every side (examples::make_person(), make_large(),
// make_everything()). Flags, the machine's description and the end line are the
// shared harness's (harness.hpp).
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "nexo/wire/buffer.hpp"

namespace nexo::bench::wire {

// One side's figures for one operation: CPU ns per call.
struct Timing {
  double median_ns = 0;  // the median over the rounds of each round's ns per call
  double p99_ns = 0;     // the 99th percentile over the timed batches of every round
};

// One line of the table: nexo's time beside the anchor's, and the target ratio.
struct Row {
  std::string format;   // "CDR LE", "protobuf", ...
  std::string op;       // "encode", "decode"
  std::string message;  // "person", "large", "everything"
  Timing nexo;
  std::string anchor;  // "Fast-CDR LE"; "—" for a nexo-only row
  Timing anchor_time;  // zero: no anchor figure
  double target = 0;   // nexo/anchor must be <= target; 0: no target (context only)
  std::string note;    // anything the reader must know about this line
};

struct Options {
  int rounds = 9;        // medians over this many rounds
  double round_ms = 40;  // each side's turn in a round runs at least this long
  std::string only;      // run only formats whose name contains this
};

class Report {
 public:
  explicit Report(Options options) : options_(std::move(options)) {}
  const Options& options() const { return options_; }
  void add(Row row);
  const std::vector<Row>& rows() const { return rows_; }
  // Prints the table; returns the number of missed targets.
  int print() const;

 private:
  Options options_;
  std::vector<Row> rows_;
};

// Measures the sides of one operation interleaved. Each side is calibrated
// once (how many calls fill `round_ms` of CPU time), then `rounds` rounds run
// every side once, the first side rotating (round r starts with side r % n);
// a side's turn is cut into batches, each timed. Each fn must do one complete
// operation and leave its result where the optimizer cannot drop it (keep()).
// Returns one Timing per side, in the order given.
std::vector<Timing> measure(const Options& options,
                            const std::vector<std::function<void()>>& sides);

// Keeps a value alive in the optimizer's eyes.
template <class T>
inline void keep(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

// nexo's encode and decode rows for `value` of a text format where no anchor
// is measured on it here (labelled "—": no ratio, no target), encode and
// decode interleaved with each other. `encode(value, buffer)`; `decode(text,
// out)` true when it succeeds. The round trip is checked outside the timing.
void add_nexo_only(Report& report, const std::string& format, const std::string& message,
                   const std::function<void()>& encode, const std::function<void()>& decode,
                   const std::string& note);
template <class T, class Encode, class Decode>
void add_nexo_only(Report& report, const std::string& format, const std::string& message,
                   const T& value, Encode encode, Decode decode, const std::string& note) {
  nexo::wire::Buffer buffer(1 << 16);
  encode(value, buffer);
  const std::string text(buffer.text());
  T out{};
  add_nexo_only(
      report, format, message,
      [&] {
        buffer.clear();
        encode(value, buffer);
        keep(buffer.size());
      },
      [&] { keep(decode(text, out)); }, note);
  if (!(out == value)) {
    std::fprintf(stderr, "bench_wire: %s %s did not round-trip\n", format.c_str(), message.c_str());
  }
}

using BenchFn = void (*)(Report&);
// Registers a format's benchmark; returns true (for a static initializer).
bool register_bench(const char* name, int order, BenchFn fn);

// In wire_<format>_bench.cpp:  NEXO_WIRE_BENCH(cdr, 10) { report.add(...); }
#define NEXO_WIRE_BENCH(name, order)                                              \
  static void nexo_wire_bench_##name(::nexo::bench::wire::Report& report);        \
  [[maybe_unused]] static const bool nexo_wire_bench_registered_##name =          \
      ::nexo::bench::wire::register_bench(#name, order, &nexo_wire_bench_##name); \
  static void nexo_wire_bench_##name(::nexo::bench::wire::Report& report)

}  // namespace nexo::bench::wire
