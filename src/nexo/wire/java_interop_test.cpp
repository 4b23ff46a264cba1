// nexo's Java serialization against the JVM: ObjectInputStream reads what nexo wrote,
// nexo reads what ObjectOutputStream wrote, and where java.io is deterministic the bytes
// are compared one for one. The helper is java/WireJavaHelper.java (in NEXO_WIRE_JAVA_JAR).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/java.hpp"
#include "nexo/wire/java_test_types.hpp"

namespace nexo::wire {
namespace {

using examples::Large;
using examples::Person;
using java_test::DNode;
using java_test::Mixed;
using java_test::Node;
using java_test::Pair;
using Octets = std::vector<std::uint8_t>;

std::string temp_file(const std::string& name) {
  return ::testing::TempDir() + "nexo_java_" + std::to_string(::getpid()) + "_" + name;
}

// Runs the helper; returns its exit status and appends its output to `output`.
int helper(const std::string& args, std::string& output) {
  std::string command = std::string(NEXO_JAVA) + " -Xshare:auto -cp " + NEXO_WIRE_JAVA_JAR +
                        " WireJavaHelper " + args + " 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return -1;
  char chunk[512];
  while (std::fgets(chunk, sizeof chunk, p) != nullptr)
    output += chunk;
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Octets read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_file(const std::string& path, const Buffer& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(b.text().data(), static_cast<std::streamsize>(b.size()));
}
Octets octets(const Buffer& b) {
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p, p + b.size()};
}
std::span<const std::byte> view(const Octets& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

// nexo writes `value`; the JVM reads it and checks it against its twin of `name`.
template <class T>
void java_reads(const std::string& name, const T& value) {
  Buffer b;
  java::encode(value, b);
  std::string path = temp_file(name + ".nexo.ser");
  write_file(path, b);
  std::string output;
  EXPECT_EQ(helper("check " + name + " " + path, output), 0) << output;
  std::remove(path.c_str());
}

// The JVM writes its twin of `name`; returns the bytes.
Octets java_writes(const std::string& name) {
  std::string path = temp_file(name + ".java.ser");
  std::string output;
  EXPECT_EQ(helper("write " + name + " " + path, output), 0) << output;
  Octets bytes = read_file(path);
  std::remove(path.c_str());
  return bytes;
}

// The JVM reads nexo's bytes and writes the object back with a new ObjectOutputStream.
Octets java_echoes(const Buffer& b) {
  std::string in = temp_file("echo.in.ser"), out = temp_file("echo.out.ser");
  write_file(in, b);
  std::string output;
  EXPECT_EQ(helper("echo " + in + " " + out, output), 0) << output;
  Octets bytes = read_file(out);
  std::remove(in.c_str());
  std::remove(out.c_str());
  return bytes;
}

TEST(JavaInterop, Person) {
  Person person = examples::make_person();
  java_reads("person", person);
  Octets from_java = java_writes("person");
  Buffer b;
  java::encode(person, b);
  EXPECT_EQ(octets(b), from_java) << "ObjectOutputStream and nexo differ";
  auto back = java::decode<Person>(view(from_java));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, person);
}

TEST(JavaInterop, Large) {
  Large large = examples::make_large();
  java_reads("large", large);
  Buffer b;
  java::encode(large, b);
  // Byte for byte: what ObjectOutputStream writes for the object it read from nexo.
  Octets echoed = java_echoes(b);
  EXPECT_EQ(octets(b), echoed);
  auto same = java::decode<Large>(view(echoed));
  ASSERT_TRUE(same) << same.error().message();
  EXPECT_EQ(*same, large);
  // Built by Java (Math.sin may differ from C's sin in the last bit).
  auto back = java::decode<Large>(view(java_writes("large")));
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_EQ(back->samples.size(), large.samples.size());
  for (std::size_t k = 0; k < large.samples.size(); ++k)
    EXPECT_NEAR(back->samples[k], large.samples[k],
                1e-9 * std::max(1.0, std::abs(large.samples[k])));
  back->samples = large.samples;
  EXPECT_EQ(*back, large);
}

TEST(JavaInterop, MixedPrimitivesArraysUnicode) {
  Mixed mixed = java_test::make_mixed();
  java_reads("mixed", mixed);
  Octets from_java = java_writes("mixed");
  auto back = java::decode<Mixed>(view(from_java));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, mixed);
  Buffer b;
  java::encode(mixed, b);
  EXPECT_EQ(octets(b), from_java) << "ObjectOutputStream and nexo differ";
}

TEST(JavaInterop, SharedReferences) {
  Pair pair;
  pair.first = std::make_shared<examples::Point>(examples::Point{3, 4});
  pair.second = pair.first;
  pair.left = "same";
  pair.right = "same";
  java_reads("pair", pair);  // the JVM checks first == second (identity)
  // Java writes right as a TC_REFERENCE to the String left.
  auto back = java::decode<Pair>(view(java_writes("pair")));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->first, back->second);
  ASSERT_TRUE(back->first);
  EXPECT_EQ(*back->first, (examples::Point{3, 4}));
  EXPECT_EQ(back->left, "same");
  EXPECT_EQ(back->right, "same");
}

TEST(JavaInterop, RingCycle) {
  auto ring = java_test::make_ring(3);
  java_reads("ring", ring);  // the JVM checks n.next.next.next == n
  java_test::break_ring(ring);
  auto back = java::decode<std::shared_ptr<Node>>(view(java_writes("ring")));
  ASSERT_TRUE(back) << back.error().message();
  std::shared_ptr<Node> first = std::move(*back);
  ASSERT_TRUE(first && first->next && first->next->next);
  EXPECT_EQ(first->value, 1);
  EXPECT_EQ(first->next->value, 2);
  EXPECT_EQ(first->next->next->value, 3);
  EXPECT_EQ(first->next->next->next, first);
  java_test::break_ring(first);
}

TEST(JavaInterop, WeakBackEdge) {
  auto a = std::make_shared<DNode>();
  a->value = 1;
  a->next = std::make_shared<DNode>();
  a->next->value = 2;
  a->next->prev = a;
  java_reads("dlist", a);  // the JVM checks a.next.prev == a
  auto back = java::decode<std::shared_ptr<DNode>>(view(java_writes("dlist")));
  ASSERT_TRUE(back) << back.error().message();
  std::shared_ptr<DNode> first = std::move(*back);
  ASSERT_TRUE(first && first->next);
  EXPECT_EQ(first->next->value, 2);
  EXPECT_EQ(first->next->prev.lock(), first);
  EXPECT_EQ(first.use_count(), 1);
}

}  // namespace
}  // namespace nexo::wire
