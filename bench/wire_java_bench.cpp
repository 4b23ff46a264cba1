// Java serialization: nexo beside the JVM's ObjectOutputStream/ObjectInputStream. The
// anchor runs in its own process (java/WireJavaBench.java, CPU time of its measuring
// thread after a JIT warm-up) and prints its medians, which are read here. Both sides
// write each message as a whole stream (header, class descriptors, object) into a
// reused buffer; nexo decodes into a reused object (java.io always creates new ones).
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/java.hpp"
#include "wire_bench.hpp"

namespace {

namespace ex = nexo::wire::examples;
using nexo::bench::wire::Report;

// "person encode" -> ns, from the JVM; empty when java cannot run.
std::map<std::string, double> jvm_figures(const Report& report, std::string& note) {
  std::map<std::string, double> figures;
#if defined(NEXO_JAVA) && defined(NEXO_WIRE_JAVA_BENCH_JAR)
  if (::access(NEXO_JAVA, X_OK) != 0 || ::access(NEXO_WIRE_JAVA_BENCH_JAR, R_OK) != 0) {
    note = "java or the bench jar is missing";
    return figures;
  }
  std::string command = std::string(NEXO_JAVA) + " -cp " + NEXO_WIRE_JAVA_BENCH_JAR +
                        " WireJavaBench " + std::to_string(report.options().rounds) + " " +
                        std::to_string(report.options().round_ms) + " 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) {
    note = "cannot start java";
    return figures;
  }
  char line[256];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    char message[32], op[32];
    double value;
    if (std::sscanf(line, "%31s %31s %lf", message, op, &value) == 3)
      figures[std::string(message) + " " + op] = value;
    else
      std::fprintf(stderr, "bench_wire: java: %s", line);
  }
  ::pclose(p);
#else
  (void)report;
  note = "built without java";
#endif
  return figures;
}

template <class T>
void compare(Report& report, const char* message, const T& value,
             const std::map<std::string, double>& jvm) {
  using namespace nexo::bench::wire;
  const auto& o = report.options();
  nexo::wire::Buffer buffer(1 << 16);
  nexo::wire::java::encode(value, buffer);
  T out{};
  // The anchor runs in the JVM: nexo's two operations are interleaved with each
  // other here, the JVM's with each other there.
  const auto t = measure(o, {[&] {
                               buffer.clear();
                               nexo::wire::java::encode(value, buffer);
                               keep(buffer.size());
                             },
                             [&] {
                               auto r = nexo::wire::java::decode(buffer.bytes(), out);
                               keep(r.has_value());
                             }});
  if (!(out == value)) std::fprintf(stderr, "bench_wire: java %s did not round-trip\n", message);
  auto anchor = [&](const char* op) {
    auto it = jvm.find(std::string(message) + " " + op);
    return it == jvm.end() ? 0.0 : it->second;
  };
  std::string note = "bytes: nexo " + std::to_string(buffer.size());
  if (auto it = jvm.find(std::string(message) + " bytes"); it != jvm.end())
    note += ", JVM " + std::to_string(static_cast<long>(it->second));
  // No JVM figure: the line is context only (no target to meet or miss).
  double enc = anchor("encode"), dec = anchor("decode");
  note += "; JVM figures: medians from its own process, no p99";
  report.add({"Java ser", "encode", message, t[0], "ObjectOutputStream", {enc, 0},
              enc > 0 ? 0.2 : 0.0, note});
  report.add({"Java ser", "decode", message, t[1], "ObjectInputStream", {dec, 0},
              dec > 0 ? 0.2 : 0.0, note});
}

}  // namespace

NEXO_WIRE_BENCH(java, 50) {
  std::string note;
  auto jvm = jvm_figures(report, note);
  if (jvm.empty()) std::fprintf(stderr, "bench_wire: java lines without the JVM anchor: %s\n",
                                note.empty() ? "no figures" : note.c_str());
  compare(report, "person", ex::make_person(), jvm);
  compare(report, "large", ex::make_large(), jvm);
}
