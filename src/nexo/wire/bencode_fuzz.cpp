// libFuzzer target: the bencode decoder. Whatever the value tree accepts is canonical, so
// it must re-encode to exactly the input bytes (and decode_prefix to exactly the bytes it
// took). The described decoder, on a KRPC-like type and a recursive one, must give values
// that encode to bytes it reads back to the same encoding.
#include <cstdlib>
#include <cstring>

#include "nexo/wire/bencode.hpp"

namespace {

using namespace nexo::wire;

struct Node {
  std::string id;
  std::uint16_t port = 0;
  bool seed = false;
};
constexpr auto nexo_wire_describe(const Node*) {
  return describe<Node>("node")
      .field("id", &Node::id)
      .field("port", &Node::port)
      .field("seed", &Node::seed);
}

struct Krpc {
  std::string t;
  std::string y;
  std::optional<std::string> q;
  std::optional<std::map<std::string, ByteBuffer>> a;
  std::optional<std::vector<Node>> nodes;
  std::optional<std::array<std::int64_t, 2>> e;
  std::optional<std::map<std::int32_t, std::uint64_t>> ids;
  std::optional<bencode::Value> r;
};
constexpr auto nexo_wire_describe(const Krpc*) {
  return describe<Krpc>("krpc")
      .field("t", &Krpc::t)
      .field("y", &Krpc::y)
      .field("q", &Krpc::q)
      .field("a", &Krpc::a)
      .field("nodes", &Krpc::nodes)
      .field("e", &Krpc::e)
      .field("ids", &Krpc::ids)
      .field("r", &Krpc::r);
}

struct Tree {
  std::vector<Tree> kids;
  std::map<std::string, Tree> named;
  std::optional<Node> where;
  std::vector<bool> bits;
};
constexpr auto nexo_wire_describe(const Tree*) {
  return describe<Tree>("tree")
      .field("kids", &Tree::kids)
      .field("named", &Tree::named)
      .field("where", &Tree::where)
      .field("bits", &Tree::bits);
}

const Limits kLimits{.max_depth = 32, .max_elements = 4096, .max_decoded = 1u << 20};

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

void tree(std::span<const std::byte> input) {
  if (auto v = bencode::decode(input, kLimits)) {
    if (!same(bencode::encode(*v), input)) std::abort();  // the canonical round trip
  }
  if (auto p = bencode::decode_prefix(input, kLimits)) {
    if (p->size > input.size() || !same(bencode::encode(p->value), input.first(p->size)))
      std::abort();
  }
}

template <class T>
void described(std::span<const std::byte> input) {
  T v{};
  if (!bencode::decode(input, v, kLimits)) return;
  Buffer once;
  bencode::encode(v, once);
  T again{};
  if (!bencode::decode(once.bytes(), again)) std::abort();
  Buffer twice;
  bencode::encode(again, twice);
  if (!same(once.bytes(), twice.bytes())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  tree(input);
  described<Krpc>(input);
  described<Tree>(input);
  return 0;
}
