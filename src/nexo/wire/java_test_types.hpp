// Types the Java tests share (java_test.cpp, java_interop_test.cpp, java_fuzz.cpp), each
// the twin of a class in java/.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nexo/wire/describe.hpp"
#include "nexo/wire/examples.hpp"

namespace nexo::wire::java_test {

using examples::Point;

// java/Node.java: a singly linked node; three make a ring.
struct Node {
  std::int32_t value = 0;
  std::shared_ptr<Node> next;
};
constexpr auto nexo_wire_describe(const Node*) {
  return describe<Node>("node")
      .field("value", &Node::value)
      .field("next", &Node::next)
      .java("Node", 1L);
}

// java/DNode.java: a doubly linked node; prev is the back edge (weak).
struct DNode {
  std::int32_t value = 0;
  std::shared_ptr<DNode> next;
  std::weak_ptr<DNode> prev;
};
constexpr auto nexo_wire_describe(const DNode*) {
  return describe<DNode>("dnode")
      .field("value", &DNode::value)
      .field("next", &DNode::next)
      .field("prev", &DNode::prev)
      .java("DNode", 1L);
}

// java/Pair.java: two fields that may refer to one Point, and two strings.
struct Pair {
  std::shared_ptr<Point> first;
  std::shared_ptr<Point> second;
  std::string left;
  std::string right;
};
constexpr auto nexo_wire_describe(const Pair*) {
  return describe<Pair>("pair")
      .field("first", &Pair::first)
      .field("second", &Pair::second)
      .field("left", &Pair::left)
      .field("right", &Pair::right)
      .java("Pair", 1L);
}

// java/Mixed.java: every primitive (unsigned ones as the Java type of their width),
// arrays of several kinds, nullable strings.
struct Mixed {
  std::int8_t b = 0;
  std::int16_t s = 0;
  std::int32_t i = 0;
  std::int64_t l = 0;
  float f = 0;
  double d = 0;
  bool z = false;
  char16_t c = 0;
  std::uint8_t ub = 0;
  std::uint16_t us = 0;
  std::uint32_t ui = 0;
  std::uint64_t ul = 0;
  ByteBuffer bytes;
  std::vector<std::int16_t> shorts;
  std::array<std::int64_t, 3> longs{};
  std::vector<bool> flags;
  std::vector<std::string> words;
  std::vector<std::vector<std::int32_t>> grid;
  std::vector<Point> points;
  std::optional<std::string> text;
  std::optional<std::string> missing;
  bool operator==(const Mixed&) const = default;
};
constexpr auto nexo_wire_describe(const Mixed*) {
  return describe<Mixed>("mixed")
      .field("b", &Mixed::b)
      .field("s", &Mixed::s)
      .field("i", &Mixed::i)
      .field("l", &Mixed::l)
      .field("f", &Mixed::f)
      .field("d", &Mixed::d)
      .field("z", &Mixed::z)
      .field("c", &Mixed::c)
      .field("ub", &Mixed::ub)
      .field("us", &Mixed::us)
      .field("ui", &Mixed::ui)
      .field("ul", &Mixed::ul)
      .field("bytes", &Mixed::bytes)
      .field("shorts", &Mixed::shorts)
      .field("longs", &Mixed::longs)
      .field("flags", &Mixed::flags)
      .field("words", &Mixed::words)
      .field("grid", &Mixed::grid)
      .field("points", &Mixed::points)
      .field("text", &Mixed::text)
      .field("missing", &Mixed::missing)
      .java("Mixed", 7L);
}

// The values java/WireJavaHelper.java builds for "mixed".
inline Mixed make_mixed() {
  Mixed m;
  m.b = -100;
  m.s = -30000;
  m.i = -2000000000;
  m.l = -9876543210LL;
  m.f = 3.1415927f;
  m.d = 0.1;
  m.z = true;
  m.c = u'\u20ac';
  m.ub = 200;
  m.us = 60000;
  m.ui = 4000000000u;
  m.ul = 18446744073709551615ull;
  m.bytes = {std::byte{0}, std::byte{1}, std::byte{0xfe}, std::byte{0xff}};
  m.shorts = {1, -1, 32767};
  m.longs = {1, -1, 1LL << 62};
  m.flags = {true, false, true};
  m.words = {"alpha", "",
             "gr\xc3\xbc\xc3\x9f"
             "e"};
  m.grid = {{1, 2}, {}, {3}};
  m.points = {Point{0, 0}, Point{10, -10}};
  m.text = std::string("nul\0, \xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80", 19);
  return m;
}

// A ring of `n` nodes with values 1..n, as a shared_ptr to the first; break_ring() it.
inline std::shared_ptr<Node> make_ring(int n) {
  auto first = std::make_shared<Node>();
  first->value = 1;
  auto last = first;
  for (int k = 2; k <= n; ++k) {
    last->next = std::make_shared<Node>();
    last = last->next;
    last->value = k;
  }
  last->next = first;
  return first;
}
inline void break_ring(const std::shared_ptr<Node>& first) {
  if (first) first->next.reset();
}

}  // namespace nexo::wire::java_test
