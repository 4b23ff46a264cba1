// JSON: nexo beside RapidJSON (encode; decode as context) and simdjson On-Demand
// (decode). Every side writes into a buffer it reuses and reads into an object it
// reuses, field by field, as each library's documentation shows for speed:
//   RapidJSON encode  Writer<StringBuffer>, the StringBuffer cleared and reused; doubles
//                     by Grisu2 (shortest round-trip);
//   RapidJSON decode  Document::Parse<kParseFullPrecisionFlag> (exact doubles) with its
//                     value and stack allocators over reused storage;
//   simdjson decode   one ondemand::parser, the padded_string made once, iterate() and
//                     read the fields in place.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include <cstdio>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/json.hpp"
#include "wire_bench.hpp"

namespace {

namespace ex = nexo::wire::examples;
namespace od = simdjson::ondemand;
using RjWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// ---------------------------------------------------------------------------
// RapidJSON, writing.

void key(RjWriter& w, const char* k) {
  w.Key(k, static_cast<rapidjson::SizeType>(std::strlen(k)));
}
void str(RjWriter& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// One member: its key, then its value by the typed call RapidJSON's documentation uses
// (a float goes through Double, as RapidJSON has no float writer).
void field(RjWriter& w, const char* k, std::int32_t v) {
  key(w, k);
  w.Int(v);
}
void field(RjWriter& w, const char* k, std::int64_t v) {
  key(w, k);
  w.Int64(v);
}
void field(RjWriter& w, const char* k, std::uint32_t v) {
  key(w, k);
  w.Uint(v);
}
void field(RjWriter& w, const char* k, double v) {
  key(w, k);
  w.Double(v);
}
void field(RjWriter& w, const char* k, bool v) {
  key(w, k);
  w.Bool(v);
}
void field(RjWriter& w, const char* k, const std::string& v) {
  key(w, k);
  str(w, v);
}

void put(RjWriter& w, const ex::Person& p) {
  w.StartObject();
  field(w, "name", p.name);
  field(w, "place", p.place);
  field(w, "year", p.year);
  w.EndObject();
}

void put(RjWriter& w, const ex::Record& r) {
  w.StartObject();
  field(w, "id", r.id);
  field(w, "value", r.value);
  field(w, "label", r.label);
  field(w, "valid", r.valid);
  w.EndObject();
}

void put(RjWriter& w, const ex::Large& l) {
  w.StartObject();
  field(w, "id", l.id);
  field(w, "timestamp", l.timestamp);
  field(w, "flags", l.flags);
  field(w, "ratio", l.ratio);
  field(w, "total", l.total);
  field(w, "complete", l.complete);
  field(w, "description", l.description);
  key(w, "samples");
  w.StartArray();
  for (double s : l.samples)
    w.Double(s);
  w.EndArray();
  key(w, "records");
  w.StartArray();
  for (const auto& r : l.records)
    put(w, r);
  w.EndArray();
  w.EndObject();
}

// ---------------------------------------------------------------------------
// RapidJSON, reading a DOM into the struct.

using RjAlloc = rapidjson::MemoryPoolAllocator<>;
using RjDoc = rapidjson::GenericDocument<rapidjson::UTF8<>, RjAlloc, RjAlloc>;
using RjValue = RjDoc::ValueType;

const RjValue& member(const RjValue& o, const char* k) {
  static const RjValue null_value;
  auto it = o.FindMember(k);
  return it == o.MemberEnd() ? null_value : it->value;
}
void get_string(const RjValue& v, std::string& s) {
  if (v.IsString()) s.assign(v.GetString(), v.GetStringLength());
}

void get(const RjValue& o, ex::Person& p) {
  get_string(member(o, "name"), p.name);
  get_string(member(o, "place"), p.place);
  p.year = member(o, "year").GetInt();
}

void get(const RjValue& o, ex::Record& r) {
  r.id = member(o, "id").GetInt();
  r.value = member(o, "value").GetDouble();
  get_string(member(o, "label"), r.label);
  r.valid = member(o, "valid").GetBool();
}

void get(const RjValue& o, ex::Large& l) {
  l.id = member(o, "id").GetInt();
  l.timestamp = member(o, "timestamp").GetInt64();
  l.flags = member(o, "flags").GetUint();
  l.ratio = static_cast<float>(member(o, "ratio").GetDouble());
  l.total = member(o, "total").GetDouble();
  l.complete = member(o, "complete").GetBool();
  get_string(member(o, "description"), l.description);
  const auto& samples = member(o, "samples");
  l.samples.resize(samples.Size());
  for (rapidjson::SizeType i = 0; i < samples.Size(); ++i)
    l.samples[i] = samples[i].GetDouble();
  const auto& records = member(o, "records");
  l.records.resize(records.Size());
  for (rapidjson::SizeType i = 0; i < records.Size(); ++i)
    get(records[i], l.records[i]);
}

// ---------------------------------------------------------------------------
// simdjson On-Demand, reading into the struct.

void get(od::object o, ex::Person& p) {
  p.name = std::string_view(o["name"].get_string());
  p.place = std::string_view(o["place"].get_string());
  p.year = static_cast<std::int32_t>(o["year"].get_int64());
}

void get(od::object o, ex::Record& r) {
  r.id = static_cast<std::int32_t>(o["id"].get_int64());
  r.value = o["value"].get_double();
  r.label = std::string_view(o["label"].get_string());
  r.valid = o["valid"].get_bool();
}

void get(od::object o, ex::Large& l) {
  l.id = static_cast<std::int32_t>(o["id"].get_int64());
  l.timestamp = o["timestamp"].get_int64();
  l.flags = static_cast<std::uint32_t>(o["flags"].get_uint64());
  l.ratio = static_cast<float>(o["ratio"].get_double());
  l.total = o["total"].get_double();
  l.complete = o["complete"].get_bool();
  l.description = std::string_view(o["description"].get_string());
  std::size_t n = 0;
  for (auto v : o["samples"].get_array()) {
    double d = v.get_double();
    if (n < l.samples.size()) {
      l.samples[n] = d;
    } else {
      l.samples.push_back(d);
    }
    ++n;
  }
  l.samples.resize(n);
  n = 0;
  for (auto v : o["records"].get_array()) {
    if (n == l.records.size()) l.records.emplace_back();
    get(v.get_object(), l.records[n++]);
  }
  l.records.resize(n);
}

template <class T>
void compare(nexo::bench::wire::Report& report, const char* message, const T& value) {
  using namespace nexo::bench::wire;
  const auto& o = report.options();

  rapidjson::StringBuffer sb;
  RjWriter writer(sb);
  nexo::wire::Buffer buffer(1 << 20);
  const auto encode = measure(o, {[&] {
                                    buffer.clear();
                                    nexo::wire::json::encode(value, buffer);
                                    keep(buffer.size());
                                  },
                                  [&] {
                                    sb.Clear();
                                    writer.Reset(sb);
                                    put(writer, value);
                                    keep(sb.GetSize());
                                  }});
  report.add({"JSON", "encode", message, encode[0], "RapidJSON Writer", encode[1], 0.5,
              "both shortest round-trip doubles"});

  // Every side reads nexo's text; check the round trips outside the timed loops.
  const std::string text(buffer.text());
  T nexo_out{}, sj_out{}, rj_out{};
  od::parser parser;
  simdjson::padded_string padded(text);
  std::vector<char> value_storage(1 << 20), stack_storage(1 << 16);
  const auto decode = measure(
      o, {[&] {
            auto r = nexo::wire::json::decode(std::string_view(text), nexo_out);
            keep(r.has_value());
          },
          [&] {
            od::document doc = parser.iterate(padded);
            get(doc.get_object(), sj_out);
            keep(sj_out);
          },
          [&] {
            RjAlloc values(value_storage.data(), value_storage.size());
            RjAlloc stack(stack_storage.data(), stack_storage.size());
            RjDoc doc(&values, 1024, &stack);
            doc.Parse<rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
            get(doc, rj_out);
            keep(rj_out);
          }});
  if (!(nexo_out == value) || !(sj_out == value) || !(rj_out == value))
    std::fprintf(stderr, "bench_wire: JSON %s did not round-trip\n", message);
  report.add({"JSON", "decode", message, decode[0], "simdjson On-Demand", decode[1], 1.2, ""});
  report.add({"JSON", "decode", message, decode[0], "RapidJSON Document", decode[2], 0, ""});
}

}  // namespace

NEXO_WIRE_BENCH(json, 30) {
  compare(report, "person", ex::make_person());
  compare(report, "large", ex::make_large());
  // Everything (maps, optionals, nested structs, base64 bytes): nexo alone.
  nexo::bench::wire::add_nexo_only(
      report, "JSON", "everything", ex::make_everything(),
      [](const auto& value, nexo::wire::Buffer& out) { nexo::wire::json::encode(value, out); },
      [](const std::string& text, ex::Everything& out) {
        return nexo::wire::json::decode(std::string_view(text), out).has_value();
      },
      "nexo only: no RapidJSON/simdjson code for Everything's maps, optionals and bytes here yet");
}
