// Example types, used by `nexo marshal --example`, the tour, the tests and the benchmark.
//
//   Person      the chapter's example: two strings and an int
//   Large       scalars, a string, 1,000 doubles and 50 nested records
//   Everything  one field of every kind wire/ supports
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nexo/wire/describe.hpp"

namespace nexo::wire::examples {

// <person><name>Smith</name><place>London</place><year>1984</year></person>
struct Person {
  std::string name;
  std::string place;
  std::int32_t year = 0;
  bool operator==(const Person&) const = default;
};
constexpr auto nexo_wire_describe(const Person*) {
  return describe<Person>("person")
      .field("name", &Person::name)
      .field("place", &Person::place)
      .field("year", &Person::year)
      .java("Person", 1L);
}

// One of the 50 nested records of Large.
struct Record {
  std::int32_t id = 0;
  double value = 0;
  std::string label;
  bool valid = false;
  bool operator==(const Record&) const = default;
};
constexpr auto nexo_wire_describe(const Record*) {
  return describe<Record>("record")
      .field("id", &Record::id)
      .field("value", &Record::value)
      .field("label", &Record::label)
      .field("valid", &Record::valid)
      .java("Record", 1L);
}

struct Large {
  std::int32_t id = 0;
  std::int64_t timestamp = 0;
  std::uint32_t flags = 0;
  float ratio = 0;
  double total = 0;
  bool complete = false;
  std::string description;
  std::vector<double> samples;  // 1,000
  std::vector<Record> records;  // 50
  bool operator==(const Large&) const = default;
};
constexpr auto nexo_wire_describe(const Large*) {
  return describe<Large>("large")
      .field("id", &Large::id)
      .field("timestamp", &Large::timestamp)
      .field("flags", &Large::flags)
      .field("ratio", &Large::ratio)
      .field("total", &Large::total)
      .field("complete", &Large::complete)
      .field("description", &Large::description)
      .field("samples", &Large::samples)
      .field("records", &Large::records)
      .java("Large", 1L);
}

enum class Color : std::int32_t { red = 0, green = 1, blue = 2 };
constexpr auto nexo_wire_enum(const Color*) {  // as in testdata/examples.proto
  return enum_names<Color>({{"RED", Color::red}, {"GREEN", Color::green}, {"BLUE", Color::blue}});
}

struct Point {
  std::int32_t x = 0;
  std::int32_t y = 0;
  bool operator==(const Point&) const = default;
};
constexpr auto nexo_wire_describe(const Point*) {
  return describe<Point>("point")
      .field("x", &Point::x, sint)
      .field("y", &Point::y, sint)
      .java("Point", 1L);
}

// A field of every kind.
struct Everything {
  bool flag = false;
  std::int8_t i8 = 0;
  std::uint8_t u8 = 0;
  std::int16_t i16 = 0;
  std::uint16_t u16 = 0;
  std::int32_t i32 = 0;
  std::uint32_t u32 = 0;
  std::int64_t i64 = 0;
  std::uint64_t u64 = 0;
  std::int32_t s32 = 0;   // protobuf sint32
  std::int64_t s64 = 0;   // protobuf sint64
  std::uint32_t f32 = 0;  // protobuf fixed32
  std::int64_t sf64 = 0;  // protobuf sfixed64
  float real32 = 0;
  double real64 = 0;
  Color color = Color::red;
  std::string text;
  ByteBuffer blob;
  std::vector<std::int32_t> numbers;
  std::vector<std::string> words;
  std::array<double, 3> position{};
  std::optional<std::int32_t> maybe;
  std::optional<std::string> nickname;
  std::map<std::string, std::int32_t> counts;
  std::map<std::int32_t, std::string> names;
  Point origin;
  std::vector<Point> path;
  bool operator==(const Everything&) const = default;
};
constexpr auto nexo_wire_describe(const Everything*) {
  return describe<Everything>("everything")
      .field("flag", &Everything::flag)
      .field("i8", &Everything::i8)
      .field("u8", &Everything::u8)
      .field("i16", &Everything::i16)
      .field("u16", &Everything::u16)
      .field("i32", &Everything::i32)
      .field("u32", &Everything::u32)
      .field("i64", &Everything::i64)
      .field("u64", &Everything::u64)
      .field("s32", &Everything::s32, sint)
      .field("s64", &Everything::s64, sint)
      .field("f32", &Everything::f32, fixed)
      .field("sf64", &Everything::sf64, fixed)
      .field("real32", &Everything::real32)
      .field("real64", &Everything::real64)
      .field("color", &Everything::color)
      .field("text", &Everything::text)
      .field("blob", &Everything::blob)
      .field("numbers", &Everything::numbers)
      .field("words", &Everything::words)
      .field("position", &Everything::position)
      .field("maybe", &Everything::maybe)
      .field("nickname", &Everything::nickname)
      .field("counts", &Everything::counts)
      .field("names", &Everything::names)
      .field("origin", &Everything::origin)
      .field("path", &Everything::path);
}

// The chapter's Person: Smith, London, 1984.
Person make_person();
// The benchmark's large message: 1,000 samples and 50 records, deterministic.
Large make_large();
// Every field set to a value that exercises its encoding (negative, large, non-ASCII).
Everything make_everything();

}  // namespace nexo::wire::examples
