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

template <class F, class Fn>
double per_value(const nexo::bench::wire::Options& options, const std::vector<F>& values, Fn fn) {
  char buffer[64];
  double ns = nexo::bench::wire::measure_ns(options, [&] {
    for (F v : values) {
      char* end = fn(v, buffer);
      nexo::bench::wire::keep(end);
    }
  });
  return ns / static_cast<double>(values.size());
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
  report.add({"double text", "format", "samples", per_value(o, samples, ours), "std::to_chars",
              per_value(o, samples, theirs), 0, "ns per value, the large message's 1,000 samples"});
  report.add({"double text", "format", "random", per_value(o, random, ours), "std::to_chars",
              per_value(o, random, theirs), 0, "ns per value, 10,000 random finite bit patterns"});
}
