// libFuzzer target: the JSON reader on every example type, in nexo's mapping and in
// proto3's. Whatever decodes must re-encode (compact and pretty, same mapping) to text
// that decodes to the same encoding.
#include <cstdlib>
#include <cstring>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/json.hpp"

namespace {

using namespace nexo::wire;

template <class T>
void round_trip(std::span<const std::byte> input, const Limits& limits, json::Mapping mapping) {
  T v{};
  if (!json::decode(input, v, limits, mapping)) return;
  for (bool pretty : {false, true}) {
    Buffer once;
    json::encode(v, once, {.pretty = pretty, .mapping = mapping});
    T again{};
    if (!json::decode(once.bytes(), again, {}, mapping)) std::abort();
    Buffer twice;
    json::encode(again, twice, {.pretty = pretty, .mapping = mapping});
    if (once.size() != twice.size() || std::memcmp(once.data(), twice.data(), once.size()) != 0)
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  const Limits limits{.max_depth = 32, .max_elements = 4096, .max_decoded = 1u << 20};
  for (json::Mapping mapping : {json::Mapping::nexo, json::Mapping::proto3}) {
    round_trip<examples::Person>(input, limits, mapping);
    round_trip<examples::Large>(input, limits, mapping);
    round_trip<examples::Everything>(input, limits, mapping);
  }
  return 0;
}
