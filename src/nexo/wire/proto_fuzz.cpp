// libFuzzer target: the protobuf decoder on every example type (and a recursive type,
// for nesting). Whatever decodes must re-encode to bytes that decode to a value that
// encodes to the same bytes (a stable round trip; NaN travels as its bits).
#include <cstdlib>
#include <cstring>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/proto.hpp"

namespace {

using namespace nexo::wire;

struct Tree {
  std::vector<Tree> kids;
  std::map<std::string, Tree> named;
  std::optional<examples::Point> where;
  std::array<std::string, 2> tags;
  std::vector<bool> bits;
};
constexpr auto nexo_wire_describe(const Tree*) {
  return describe<Tree>("tree")
      .field("kids", &Tree::kids)
      .field("named", &Tree::named)
      .field("where", &Tree::where)
      .field("tags", &Tree::tags)
      .field("bits", &Tree::bits);
}

bool same(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

template <class T>
void round_trip(std::span<const std::byte> input) {
  const Limits limits{.max_depth = 24, .max_elements = 4096, .max_decoded = 1u << 20};
  T v{};
  if (!proto::decode(input, v, limits)) return;
  Buffer once;
  proto::encode(v, once);
  T again{};
  if (!proto::decode(once.bytes(), again)) std::abort();
  Buffer twice;
  proto::encode(again, twice);
  if (!same(once, twice)) std::abort();
  // Decoding into a used object gives the same value as decoding into a new one.
  if (!proto::decode(input, again, limits)) std::abort();
  Buffer thrice;
  proto::encode(again, thrice);
  if (!same(once, thrice)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  round_trip<examples::Person>(input);
  round_trip<examples::Large>(input);
  round_trip<examples::Everything>(input);
  round_trip<Tree>(input);
  return 0;
}
