// CDR: nexo beside eProsima Fast-CDR 1.x, both byte orders. Both sides encode into a
// buffer they reuse (Fast-CDR: a FastBuffer over preallocated storage, reset each time)
// and decode into an object they reuse, writing field by field as Fast-CDR's
// generated code does (wire/testdata/fastcdr_examples.hpp; reading Everything: below).
// Everything carries maps, optionals and nested structs.
#include <fastcdr/Cdr.h>
#include <fastcdr/FastBuffer.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "nexo/wire/cdr.hpp"
#include "nexo/wire/examples.hpp"
#include "nexo/wire/testdata/fastcdr_examples.hpp"
#include "wire_bench.hpp"

namespace {

namespace fc = eprosima::fastcdr;
namespace ex = nexo::wire::examples;
using nexo::wire::cdr::Endian;

using nexo::wire::testdata::get;
using nexo::wire::testdata::put;

// Everything read back as Fast-CDR's generated code reads it: field by field,
// an optional as its presence flag and then its value, an enum as its 32-bit value.
void get(fc::Cdr& c, ex::Point& p) {
  c >> p.x >> p.y;
}

template <class T>
void get_optional(fc::Cdr& c, std::optional<T>& out) {
  bool present = false;
  c >> present;
  if (!present) {
    out.reset();
    return;
  }
  T value{};
  c >> value;
  out = std::move(value);
}

void get(fc::Cdr& c, ex::Everything& e) {
  std::uint32_t color = 0;
  c >> e.flag >> e.i8 >> e.u8 >> e.i16 >> e.u16 >> e.i32 >> e.u32 >> e.i64 >> e.u64 >> e.s32 >>
      e.s64 >> e.f32 >> e.sf64 >> e.real32 >> e.real64 >> color >> e.text;
  e.color = static_cast<ex::Color>(color);
  std::vector<std::uint8_t> blob;
  c >> blob >> e.numbers >> e.words >> e.position;
  e.blob.resize(blob.size());
  for (std::size_t i = 0; i < blob.size(); ++i)
    e.blob[i] = static_cast<std::byte>(blob[i]);
  get_optional(c, e.maybe);
  get_optional(c, e.nickname);
  c >> e.counts >> e.names;
  get(c, e.origin);
  std::uint32_t n = 0;
  c >> n;
  e.path.resize(n);
  for (auto& p : e.path)
    get(c, p);
}

template <class T>
void compare(nexo::bench::wire::Report& report, const char* message, const T& value, Endian order) {
  using namespace nexo::bench::wire;
  const auto& o = report.options();
  const char* name = order == Endian::little ? "CDR LE" : "CDR BE";
  const char* anchor = order == Endian::little ? "Fast-CDR LE" : "Fast-CDR BE";
  auto fc_order = order == Endian::little ? fc::Cdr::LITTLE_ENDIANNESS : fc::Cdr::BIG_ENDIANNESS;

  std::vector<char> storage(1 << 20);
  fc::FastBuffer fb(storage.data(), storage.size());
  nexo::wire::Buffer buffer(1 << 20);
  const auto encode = measure(o, {[&] {
                                    buffer.clear();
                                    nexo::wire::cdr::encode(value, buffer, order);
                                    keep(buffer.size());
                                  },
                                  [&] {
                                    fc::Cdr c(fb, fc_order, fc::Cdr::CORBA_CDR);
                                    put(c, value);
                                    keep(c.getSerializedDataLength());
                                  }});
  report.add({name, "encode", message, encode[0], anchor, encode[1], 1.0, ""});

  T fc_out{}, nexo_out{};
  const auto decode = measure(o, {[&] {
                                    auto r = nexo::wire::cdr::decode(buffer.bytes(), nexo_out, order);
                                    keep(r.has_value());
                                  },
                                  [&] {
                                    fc::Cdr c(fb, fc_order, fc::Cdr::CORBA_CDR);
                                    get(c, fc_out);
                                    keep(fc_out);
                                  }});
  if (!(nexo_out == value) || !(fc_out == value))
    std::fprintf(stderr, "bench_wire: %s %s did not round-trip\n", name, message);
  report.add({name, "decode", message, decode[0], anchor, decode[1], 1.0, ""});
}

}  // namespace

NEXO_WIRE_BENCH(cdr, 10) {
  auto person = ex::make_person();
  auto large = ex::make_large();
  auto everything = ex::make_everything();
  for (Endian order : {Endian::little, Endian::big}) {
    compare(report, "person", person, order);
    compare(report, "large", large, order);
    compare(report, "everything", everything, order);
  }
}
