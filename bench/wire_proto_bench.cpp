// Protocol Buffers: nexo beside libprotobuf 3.21's generated code, as libprotobuf's
// documentation uses it: the headline rows encode from, and parse into, its generated
// message (an application's own object, as nexo's struct is nexo's). The rows
// "libprotobuf + copies" add the struct<->message copies an application with its own
// structs writes (context, no target). Both sides reuse their
// output buffer, and decode into an object they reuse (libprotobuf: the message too,
// as its docs advise). libprotobuf serializes with SerializeToArray (its fast path) into a
// buffer sized once; Person and Large have no maps, so its bytes are the deterministic ones,
// and they are checked equal to nexo's outside the timed loops.
#include <examples.pb.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/proto.hpp"
#include "nexo/wire/testdata/protobuf_examples.hpp"
#include "wire_bench.hpp"

namespace {

namespace pb = ::nexo::examples;
namespace ex = nexo::wire::examples;

using nexo::wire::testdata::get;
using nexo::wire::testdata::put;

template <class T, class M>
void compare(nexo::bench::wire::Report& report, const char* message, const T& value) {
  using namespace nexo::bench::wire;
  const auto& o = report.options();

  M out_message;
  std::string storage(1 << 20, '\0');
  std::size_t pb_size = 0;
  double pb_encode_copy = measure_ns(o, [&] {
    put(out_message, value);
    bool ok = out_message.SerializeToArray(storage.data(), static_cast<int>(storage.size()));
    keep(ok);
  });
  double pb_encode = measure_ns(o, [&] {
    bool ok = out_message.SerializeToArray(storage.data(), static_cast<int>(storage.size()));
    keep(ok);
  });
  nexo::wire::Buffer buffer(1 << 20);
  double nexo_encode = measure_ns(o, [&] {
    buffer.clear();
    nexo::wire::proto::encode(value, buffer);
    keep(buffer.size());
  });
  pb_size = static_cast<std::size_t>(out_message.GetCachedSize());
  bool same = pb_size == buffer.size() && std::memcmp(storage.data(), buffer.data(), pb_size) == 0;
  report.add({"protobuf", "encode", message, nexo_encode, "libprotobuf", pb_encode, 0.7,
              same ? "" : "BYTES DIFFER"});
  report.add({"protobuf", "encode", message, nexo_encode, "libprotobuf + copies", pb_encode_copy,
              0, "struct copied into the message, then serialized"});

  M in_message;
  T pb_out{};
  double pb_decode_copy = measure_ns(o, [&] {
    bool ok = in_message.ParseFromArray(storage.data(), static_cast<int>(pb_size));
    get(in_message, pb_out);
    keep(ok);
  });
  double pb_decode = measure_ns(o, [&] {
    bool ok = in_message.ParseFromArray(storage.data(), static_cast<int>(pb_size));
    keep(ok);
  });
  T nexo_out{};
  double nexo_decode = measure_ns(o, [&] {
    auto r = nexo::wire::proto::decode(buffer.bytes(), nexo_out);
    keep(r.has_value());
  });
  if (!(nexo_out == value) || !(pb_out == value))
    std::fprintf(stderr, "bench_wire: protobuf %s did not round-trip\n", message);
  report.add({"protobuf", "decode", message, nexo_decode, "libprotobuf", pb_decode, 0.7, ""});
  report.add({"protobuf", "decode", message, nexo_decode, "libprotobuf + copies", pb_decode_copy,
              0, "parsed into the message, then copied into the struct"});
}

}  // namespace

NEXO_WIRE_BENCH(proto, 20) {
  compare<ex::Person, pb::Person>(report, "person", ex::make_person());
  compare<ex::Large, pb::Large>(report, "large", ex::make_large());
}
