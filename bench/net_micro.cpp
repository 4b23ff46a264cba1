// bench_net_micro: Google Benchmark micro-benchmarks of net/'s value types and
// encoders (no sockets). They print; nothing gates on them.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "nexo/net/data_stream.hpp"
#include "nexo/net/endpoint.hpp"

namespace {

using nexo::net::Endpoint;
using nexo::net::InetAddress;
namespace net = nexo::net;

void inet_address_parse_v4(benchmark::State& state) {
  for (auto _ : state) {
    auto address = InetAddress::parse("192.0.2.123");
    benchmark::DoNotOptimize(address);
  }
}
BENCHMARK(inet_address_parse_v4);

void inet_address_parse_v6(benchmark::State& state) {
  for (auto _ : state) {
    auto address = InetAddress::parse("2001:db8::8a2e:370:7334");
    benchmark::DoNotOptimize(address);
  }
}
BENCHMARK(inet_address_parse_v6);

void endpoint_to_string(benchmark::State& state) {
  const Endpoint endpoint(InetAddress::loopback(), 6789);
  for (auto _ : state) {
    auto text = endpoint.to_string();
    benchmark::DoNotOptimize(text);
  }
}
BENCHMARK(endpoint_to_string);

void data_writer_write_utf(benchmark::State& state) {
  const std::string_view text = "Hello, Zürich — ünïcode 😀";
  net::DataWriter writer;
  for (auto _ : state) {
    writer.clear();
    auto written = writer.write_utf(text);
    benchmark::DoNotOptimize(written);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(text.size()));
}
BENCHMARK(data_writer_write_utf);

}  // namespace

BENCHMARK_MAIN();
