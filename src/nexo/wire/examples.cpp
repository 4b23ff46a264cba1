#include "nexo/wire/examples.hpp"

#include <cmath>
#include <limits>

namespace nexo::wire::examples {

Person make_person() {
  return Person{"Smith", "London", 1984};
}

Large make_large() {
  Large large;
  large.id = 424242;
  large.timestamp = 1764000000123456789LL;
  large.flags = 0xdeadbeefu;
  large.ratio = 0.618034f;
  large.total = 12345.678901234567;
  large.complete = true;
  large.description = "a large message: scalars, a string, 1,000 doubles and 50 nested records";
  large.samples.reserve(1000);
  for (int i = 0; i < 1000; ++i)
    large.samples.push_back(std::sin(i * 0.001) * 1000.0 + i / 7.0);
  large.records.reserve(50);
  for (int i = 0; i < 50; ++i) {
    large.records.push_back(
        Record{i * 37 - 500, i / 3.0, "record number " + std::to_string(i), i % 3 == 0});
  }
  return large;
}

Everything make_everything() {
  Everything e;
  e.flag = true;
  e.i8 = -100;
  e.u8 = 200;
  e.i16 = -30000;
  e.u16 = 60000;
  e.i32 = -2000000000;
  e.u32 = 4000000000u;
  e.i64 = std::numeric_limits<std::int64_t>::min() + 1;
  e.u64 = std::numeric_limits<std::uint64_t>::max();
  e.s32 = -12345;
  e.s64 = -9876543210LL;
  e.f32 = 0x01020304u;
  e.sf64 = -1;
  e.real32 = 3.1415927f;
  e.real64 = 0.1;
  e.color = Color::blue;
  e.text = "Grüße, \"world\" <&> \xe2\x82\xac \xf0\x9f\x98\x80\n";
  e.blob = {std::byte{0}, std::byte{1}, std::byte{0xfe}, std::byte{0xff}};
  e.numbers = {1, -1, 300, -300, 2147483647};
  e.words = {"alpha", "", "gamma"};
  e.position = {1.5, -2.25, 1e300};
  e.maybe = 42;
  e.nickname = std::nullopt;
  e.counts = {{"apples", 3}, {"pears", -7}};
  e.names = {{1, "one"}, {-2, "minus two"}};
  e.origin = Point{-1, 1};
  e.path = {Point{0, 0}, Point{10, -10}, Point{-300, 300}};
  return e;
}

}  // namespace nexo::wire::examples
