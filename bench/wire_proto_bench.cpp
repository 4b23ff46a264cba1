// Protocol Buffers: nexo beside libprotobuf 3.21's generated code, as libprotobuf's
// documentation uses it: the headline rows encode from, and parse into, its generated
// message (an application's own object, as nexo's struct is nexo's). The rows
// "libprotobuf + copies" add the struct<->message copies an application with its own
// structs writes (context, no target; Person and Large, whose copies live in
// wire/testdata). Both sides reuse their output buffer, and decode into an object they
// reuse (libprotobuf: the message too, as its docs advise). libprotobuf serializes with
// SerializeToArray (its fast path) into a buffer sized once. Person and Large have no
// maps, so libprotobuf's bytes are the deterministic ones and are checked equal to
// nexo's outside the timed loops; Everything has maps (whose order libprotobuf leaves
// open), so its message is parsed from nexo's bytes and libprotobuf's bytes are checked
// by nexo decoding them back to the same value.
#include <examples.pb.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/proto.hpp"
#include "nexo/wire/testdata/protobuf_examples.hpp"
#include "wire_bench.hpp"

namespace {

namespace pb = ::nexo::examples;
namespace ex = nexo::wire::examples;
using nexo::bench::wire::keep;
using nexo::bench::wire::measure;
using nexo::bench::wire::Report;
using nexo::bench::wire::Timing;

using nexo::wire::testdata::get;
using nexo::wire::testdata::put;

// Where both sides write: nexo's buffer, libprotobuf's array.
struct Sides {
  nexo::wire::Buffer buffer{1 << 20};
  std::string storage = std::string(1 << 20, '\0');
};

// Encodes `value` with nexo and `message` with libprotobuf (and, given
// `copy_in`, the copy into the message first); the timings in that order.
template <class T, class M, class CopyIn>
std::vector<Timing> encode(Report& report, Sides& s, const T& value, M& message, CopyIn copy_in) {
  std::vector<std::function<void()>> sides = {
      [&] {
        s.buffer.clear();
        nexo::wire::proto::encode(value, s.buffer);
        keep(s.buffer.size());
      },
      [&] {
        keep(message.SerializeToArray(s.storage.data(), static_cast<int>(s.storage.size())));
      }};
  if constexpr (!std::is_same_v<CopyIn, std::nullptr_t>) {
    sides.push_back([&] {
      copy_in(message, value);
      keep(message.SerializeToArray(s.storage.data(), static_cast<int>(s.storage.size())));
    });
  }
  return measure(report.options(), sides);
}

template <class T, class M, class CopyOut>
std::vector<Timing> decode(Report& report, Sides& s, std::size_t pb_size, T& nexo_out, M& message,
                           T& pb_out, CopyOut copy_out) {
  std::vector<std::function<void()>> sides = {
      [&] { keep(nexo::wire::proto::decode(s.buffer.bytes(), nexo_out).has_value()); },
      [&] { keep(message.ParseFromArray(s.storage.data(), static_cast<int>(pb_size))); }};
  if constexpr (!std::is_same_v<CopyOut, std::nullptr_t>) {
    sides.push_back([&] {
      keep(message.ParseFromArray(s.storage.data(), static_cast<int>(pb_size)));
      copy_out(message, pb_out);
    });
  }
  return measure(report.options(), sides);
}

void add_rows(Report& report, const char* message, const char* op, const std::vector<Timing>& t,
              std::string note) {
  report.add({"protobuf", op, message, t[0], "libprotobuf", t[1], 0.7, std::move(note)});
  if (t.size() > 2) {
    report.add({"protobuf", op, message, t[0], "libprotobuf + copies", t[2], 0,
                std::string(op) == "encode" ? "struct copied into the message, then serialized"
                                            : "parsed into the message, then copied into the struct"});
  }
}

// Person and Large: the message filled from the struct, bytes compared, copies rows too.
template <class T, class M>
void compare(Report& report, const char* message, const T& value) {
  Sides s;
  M out_message;
  put(out_message, value);
  auto copy_in = [](M& m, const T& v) { put(m, v); };
  const auto enc = encode(report, s, value, out_message, copy_in);
  const auto pb_size = static_cast<std::size_t>(out_message.GetCachedSize());
  const bool same =
      pb_size == s.buffer.size() && std::memcmp(s.storage.data(), s.buffer.data(), pb_size) == 0;
  add_rows(report, message, "encode", enc, same ? "" : "BYTES DIFFER");

  M in_message;
  T nexo_out{}, pb_out{};
  auto copy_out = [](const M& m, T& v) { get(m, v); };
  const auto dec = decode(report, s, pb_size, nexo_out, in_message, pb_out, copy_out);
  if (!(nexo_out == value) || !(pb_out == value))
    std::fprintf(stderr, "bench_wire: protobuf %s did not round-trip\n", message);
  add_rows(report, message, "decode", dec, "");
}

// Everything: the message parsed from nexo's bytes (no copies exist for it), and
// libprotobuf's bytes checked by nexo decoding them.
void compare_everything(Report& report) {
  const ex::Everything value = ex::make_everything();
  Sides s;
  nexo::wire::proto::encode(value, s.buffer);
  pb::Everything out_message;
  const bool parsed =
      out_message.ParseFromArray(s.buffer.data(), static_cast<int>(s.buffer.size()));
  const auto enc = encode(report, s, value, out_message, nullptr);
  const auto pb_size = static_cast<std::size_t>(out_message.GetCachedSize());
  ex::Everything back{};
  const bool same =
      parsed && nexo::wire::proto::decode(std::as_bytes(std::span(s.storage.data(), pb_size)), back)
                    .has_value() &&
      back == value;
  add_rows(report, "everything", "encode", enc,
           same ? "maps in libprotobuf's order; its bytes decode to the same value"
                : "libprotobuf's bytes DIFFER in value");

  pb::Everything in_message;
  ex::Everything nexo_out{}, unused{};
  const auto dec = decode(report, s, pb_size, nexo_out, in_message, unused, nullptr);
  if (!(nexo_out == value))
    std::fprintf(stderr, "bench_wire: protobuf everything did not round-trip\n");
  add_rows(report, "everything", "decode", dec, "");
}

}  // namespace

NEXO_WIRE_BENCH(proto, 20) {
  compare<ex::Person, pb::Person>(report, "person", ex::make_person());
  compare<ex::Large, pb::Large>(report, "large", ex::make_large());
  compare_everything(report);
}
