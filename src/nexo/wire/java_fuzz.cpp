// libFuzzer target: the Java serialization decoder on every Java-capable test type
// (the examples and the graph types of java_test_types.hpp). Whatever decodes must
// re-encode to bytes that decode and re-encode to the same bytes.
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/java.hpp"
#include "nexo/wire/java_test_types.hpp"

namespace {

using namespace nexo::wire;
using java_test::DNode;
using java_test::Node;

const Limits kLimits{
    .max_depth = 16, .max_elements = 4096, .max_handles = 4096, .max_decoded = 1u << 20};
// nexo's own encoding of a graph may nest deeper than the input did (the input may list
// fields in another order, so its depth-first walk differs): re-read it without that bound.
const Limits kAgain{.max_depth = 1u << 16, .max_elements = 4096, .max_handles = 4096};

// Breaks every cycle through `next` so that the graph is freed (LeakSanitizer).
template <class N>
void unlink(const std::shared_ptr<N>& root) {
  std::vector<std::shared_ptr<N>> nodes;
  std::unordered_set<const N*> seen;
  for (auto n = root; n && seen.insert(n.get()).second; n = n->next)
    nodes.push_back(n);
  for (auto& n : nodes)
    n->next.reset();
}
template <class T>
void unlink(const T&) {}

template <class T>
void round_trip(std::span<const std::byte> input) {
  T v{};
  bool decoded = static_cast<bool>(java::decode(input, v, kLimits));
  if (decoded) {
    Buffer once;
    java::encode(v, once);
    T again{};
    if (!java::decode(once.bytes(), again, kAgain)) std::abort();
    Buffer twice;
    java::encode(again, twice);
    if (once.size() != twice.size() || std::memcmp(once.data(), twice.data(), once.size()) != 0)
      std::abort();
    unlink(again);
  }
  unlink(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  round_trip<examples::Person>(input);
  round_trip<examples::Record>(input);
  round_trip<examples::Large>(input);
  round_trip<examples::Point>(input);
  round_trip<java_test::Mixed>(input);
  round_trip<java_test::Pair>(input);
  round_trip<std::shared_ptr<Node>>(input);
  round_trip<std::shared_ptr<DNode>>(input);
  return 0;
}
