// bench_wire: nexo's marshalling beside the reference libraries, in one run.
//
// Each format lives in its own file (wire_<format>_bench.cpp) and registers itself
// with NEXO_WIRE_BENCH; main() runs them in order and prints one table. Every figure
// is CPU time of the measuring thread, ns per message, the median of several rounds;
// nexo and its anchor are measured in the same process, one after the other, on the
// same values (examples::make_person(), examples::make_large()).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace nexo::bench::wire {

// One line of the table: nexo's time beside the anchor's, and the target ratio.
struct Row {
  std::string format;   // "CDR LE", "protobuf", ...
  std::string op;       // "encode", "decode"
  std::string message;  // "person", "large"
  double nexo_ns = 0;
  std::string anchor;  // "Fast-CDR LE"
  double anchor_ns = 0;
  double target = 0;  // nexo/anchor must be <= target; 0: no target (context only)
  std::string note;   // anything the reader must know about this line
};

struct Options {
  int rounds = 9;        // medians over this many rounds
  double round_ms = 40;  // each round runs at least this long
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

// Runs fn() repeatedly: `rounds` rounds, each of enough iterations to last `round_ms`
// of CPU time (calibrated once); returns the median CPU ns per call. fn must do one
// complete operation and leave its result where the optimizer cannot drop it (use
// keep()).
double measure_ns(const Options& options, const std::function<void()>& fn);

// Keeps a value alive in the optimizer's eyes.
template <class T>
inline void keep(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
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
