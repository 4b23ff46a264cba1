// libFuzzer target: the CDR decoder, both byte orders and the encapsulation, on every
// example type. Whatever decodes must re-encode to bytes that decode to the same
// encoding (a round trip that tolerates NaN).
#include <cstdlib>
#include <cstring>

#include "nexo/wire/cdr.hpp"
#include "nexo/wire/examples.hpp"

namespace {

using namespace nexo::wire;

template <class T>
void round_trip(std::span<const std::byte> input, cdr::Endian order) {
  T v{};
  if (!cdr::decode(input, v, order)) return;
  Buffer once;
  cdr::encode(v, once, order);
  T again{};
  if (!cdr::decode(once.bytes(), again, order)) std::abort();
  Buffer twice;
  cdr::encode(again, twice, order);
  if (once.size() != twice.size() || std::memcmp(once.data(), twice.data(), once.size()) != 0)
    std::abort();
}

template <class T>
void all(std::span<const std::byte> input) {
  round_trip<T>(input, cdr::Endian::little);
  round_trip<T>(input, cdr::Endian::big);
  T v{};
  (void)cdr::decode_encapsulated(
      input, v, Limits{.max_depth = 16, .max_elements = 4096, .max_decoded = 1u << 20});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  all<examples::Person>(input);
  all<examples::Large>(input);
  all<examples::Everything>(input);
  return 0;
}
