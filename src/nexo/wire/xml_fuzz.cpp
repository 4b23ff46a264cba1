// libFuzzer target: the XML reader on every example type, with and without an expected
// namespace. Whatever decodes must re-encode to a document that decodes to the same
// encoding (a round trip that tolerates NaN).
#include <cstdlib>
#include <cstring>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/xml.hpp"

namespace {

using namespace nexo::wire;

template <class T>
void round_trip(std::span<const std::byte> input, const xml::ReadOptions& options) {
  T v{};
  const Limits limits{.max_depth = 16, .max_elements = 4096, .max_decoded = 1u << 20};
  if (!xml::decode(input, v, options, limits)) return;
  Buffer once;
  // A decoded string is valid XML text, so it can always be written again.
  if (!xml::encode(v, once, xml::WriteOptions{.namespace_uri = options.namespace_uri}))
    std::abort();
  T again{};
  if (!xml::decode(once.bytes(), again, options)) std::abort();
  Buffer twice;
  if (!xml::encode(again, twice, xml::WriteOptions{.namespace_uri = options.namespace_uri}))
    std::abort();
  if (once.size() != twice.size() || std::memcmp(once.data(), twice.data(), once.size()) != 0)
    std::abort();
}

template <class T>
void all(std::span<const std::byte> input) {
  round_trip<T>(input, {});
  round_trip<T>(input, {.namespace_uri = "urn:nexo"});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  all<examples::Person>(input);
  all<examples::Large>(input);
  all<examples::Everything>(input);
  return 0;
}
