// Shortest round-trip formatting of a double, the cost that dominates the JSON and XML
// encoders of the large message: nexo's format_shortest (Schubfach) beside
// std::to_chars (libstdc++'s Ryu), per value. Context for the JSON/XML rows; no target.
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <vector>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/shortest.hpp"
#include "wire_bench.hpp"

namespace {

// nexo's `ours` and the anchor's `theirs` over every value, interleaved; ns per value.
template <class F, class Ours, class Theirs>
std::vector<nexo::bench::wire::Timing> per_value(const nexo::bench::wire::Options& options,
                                                 const std::vector<F>& values, Ours ours,
                                                 Theirs theirs) {
  char buffer[64];
  auto all = [&](auto fn) {
    return [&values, &buffer, fn] {
      for (F v : values)
        nexo::bench::wire::keep(fn(v, buffer));
    };
  };
  auto t = nexo::bench::wire::measure(options, {all(ours), all(theirs)});
  for (auto& timing : t) {
    timing.median_ns /= static_cast<double>(values.size());
    timing.p99_ns /= static_cast<double>(values.size());
  }
  return t;
}

}  // namespace

NEXO_WIRE_BENCH(shortest, 25) {
  const auto& o = report.options();
  auto ours = [](auto v, char* b) { return nexo::wire::format_shortest(v, b); };
  auto theirs = [](auto v, char* b) { return std::to_chars(b, b + 64, v).ptr; };
  auto samples = nexo::wire::examples::make_large().samples;
  std::vector<double> random;
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  while (random.size() < 10000) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v = std::bit_cast<double>(x);
    if (std::isfinite(v)) random.push_back(v);
  }
  const auto s = per_value(o, samples, ours, theirs);
  report.add({"double text", "format", "samples", s[0], "std::to_chars", s[1], 0,
              "ns per value, the large message's 1,000 samples"});
  const auto r = per_value(o, random, ours, theirs);
  report.add({"double text", "format", "random", r[0], "std::to_chars", r[1], 0,
              "ns per value, 10,000 random finite bit patterns"});
}
