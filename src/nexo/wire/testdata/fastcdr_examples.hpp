// The example types written and read field by field with eProsima Fast-CDR, as its
// generated code does. Shared by the byte-for-byte test and bench_wire.
#pragma once

#include <fastcdr/Cdr.h>

#include <vector>

#include "nexo/wire/examples.hpp"

namespace nexo::wire::testdata {

namespace fc = eprosima::fastcdr;

inline void put(fc::Cdr& c, const examples::Person& p) {
  c << p.name << p.place << p.year;
}
inline void get(fc::Cdr& c, examples::Person& p) {
  c >> p.name >> p.place >> p.year;
}

inline void put(fc::Cdr& c, const examples::Record& r) {
  c << r.id << r.value << r.label << r.valid;
}
inline void get(fc::Cdr& c, examples::Record& r) {
  c >> r.id >> r.value >> r.label >> r.valid;
}

inline void put(fc::Cdr& c, const examples::Large& l) {
  c << l.id << l.timestamp << l.flags << l.ratio << l.total << l.complete << l.description
    << l.samples;
  c << static_cast<std::uint32_t>(l.records.size());
  for (const auto& r : l.records)
    put(c, r);
}
inline void get(fc::Cdr& c, examples::Large& l) {
  c >> l.id >> l.timestamp >> l.flags >> l.ratio >> l.total >> l.complete >> l.description >>
      l.samples;
  std::uint32_t n;
  c >> n;
  l.records.resize(n);
  for (auto& r : l.records)
    get(c, r);
}

inline void put(fc::Cdr& c, const examples::Point& p) {
  c << p.x << p.y;
}

inline void put(fc::Cdr& c, const examples::Everything& e) {
  c << e.flag << e.i8 << e.u8 << e.i16 << e.u16 << e.i32 << e.u32 << e.i64 << e.u64 << e.s32
    << e.s64 << e.f32 << e.sf64 << e.real32 << e.real64 << static_cast<std::uint32_t>(e.color)
    << e.text;
  std::vector<std::uint8_t> blob;
  for (std::byte b : e.blob)
    blob.push_back(static_cast<std::uint8_t>(b));
  c << blob << e.numbers << e.words << e.position;
  c << e.maybe.has_value();
  if (e.maybe) c << *e.maybe;
  c << e.nickname.has_value();
  if (e.nickname) c << *e.nickname;
  c << e.counts << e.names;
  put(c, e.origin);
  c << static_cast<std::uint32_t>(e.path.size());
  for (const auto& p : e.path)
    put(c, p);
}

}  // namespace nexo::wire::testdata
