// CDR: nexo beside eProsima Fast-CDR 1.x, both byte orders. Both sides encode into a
// buffer they reuse (Fast-CDR: a FastBuffer over preallocated storage, reset each time)
// and decode into an object they reuse, writing field by field as Fast-CDR's
// generated code does.
#include <fastcdr/Cdr.h>
#include <fastcdr/FastBuffer.h>

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

template <class T>
void compare(nexo::bench::wire::Report& report, const char* message, const T& value, Endian order) {
  using namespace nexo::bench::wire;
  const auto& o = report.options();
  const char* name = order == Endian::little ? "CDR LE" : "CDR BE";
  const char* anchor = order == Endian::little ? "Fast-CDR LE" : "Fast-CDR BE";
  auto fc_order = order == Endian::little ? fc::Cdr::LITTLE_ENDIANNESS : fc::Cdr::BIG_ENDIANNESS;

  std::vector<char> storage(1 << 20);
  fc::FastBuffer fb(storage.data(), storage.size());
  double fc_encode = measure_ns(o, [&] {
    fc::Cdr c(fb, fc_order, fc::Cdr::CORBA_CDR);
    put(c, value);
    keep(c.getSerializedDataLength());
  });
  nexo::wire::Buffer buffer(1 << 20);
  double nexo_encode = measure_ns(o, [&] {
    buffer.clear();
    nexo::wire::cdr::encode(value, buffer, order);
    keep(buffer.size());
  });
  report.add({name, "encode", message, nexo_encode, anchor, fc_encode, 1.0, ""});

  T fc_out{};
  double fc_decode = measure_ns(o, [&] {
    fc::Cdr c(fb, fc_order, fc::Cdr::CORBA_CDR);
    get(c, fc_out);
    keep(fc_out);
  });
  T nexo_out{};
  double nexo_decode = measure_ns(o, [&] {
    auto r = nexo::wire::cdr::decode(buffer.bytes(), nexo_out, order);
    keep(r.has_value());
  });
  if (!(nexo_out == value) || !(fc_out == value))
    std::fprintf(stderr, "bench_wire: %s %s did not round-trip\n", name, message);
  report.add({name, "decode", message, nexo_decode, anchor, fc_decode, 1.0, ""});
}

}  // namespace

NEXO_WIRE_BENCH(cdr, 10) {
  auto person = ex::make_person();
  auto large = ex::make_large();
  for (Endian order : {Endian::little, Endian::big}) {
    compare(report, "person", person, order);
    compare(report, "large", large, order);
  }
}
