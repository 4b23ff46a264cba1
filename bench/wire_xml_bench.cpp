// XML: nexo beside pugixml 1.13. Encode: pugixml builds an xml_document from the struct
// (append_child, text().set()) and saves it, format_raw without a declaration, through
// an xml_writer into a reused string (pugixml buffers its output and calls the writer
// once per ~10 KiB chunk, not per node); nexo writes into a reused Buffer. Decode:
// pugixml load_buffer_inplace (parse_default, UTF-8), as its documentation recommends
// for speed, over a copy of the text in a reused buffer (in-place parsing overwrites
// it; the memcpy is timed), and reads each field into a reused struct; nexo reads straight into a reused
// struct. Both read the same document (nexo's output).
#include <pugixml.hpp>

#include <cstring>
#include <vector>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/xml.hpp"
#include "wire_bench.hpp"

namespace {

namespace ex = nexo::wire::examples;

struct StringWriter : pugi::xml_writer {
  std::string out;
  void write(const void* data, std::size_t size) override {
    out.append(static_cast<const char*>(data), size);
  }
};

void build(pugi::xml_node root, const ex::Person& p) {
  root.append_child("name").text().set(p.name.c_str());
  root.append_child("place").text().set(p.place.c_str());
  root.append_child("year").text().set(p.year);
}
void build(pugi::xml_node root, const ex::Large& l) {
  root.append_child("id").text().set(l.id);
  root.append_child("timestamp").text().set(static_cast<long long>(l.timestamp));
  root.append_child("flags").text().set(l.flags);
  root.append_child("ratio").text().set(l.ratio);
  root.append_child("total").text().set(l.total);
  root.append_child("complete").text().set(l.complete);
  root.append_child("description").text().set(l.description.c_str());
  auto samples = root.append_child("samples");
  for (double s : l.samples)
    samples.append_child("item").text().set(s);
  auto records = root.append_child("records");
  for (const auto& r : l.records) {
    auto rec = records.append_child("record");
    rec.append_child("id").text().set(r.id);
    rec.append_child("value").text().set(r.value);
    rec.append_child("label").text().set(r.label.c_str());
    rec.append_child("valid").text().set(r.valid);
  }
}

void read(pugi::xml_node root, ex::Person& p) {
  p.name = root.child("name").text().get();
  p.place = root.child("place").text().get();
  p.year = root.child("year").text().as_int();
}
void read(pugi::xml_node root, ex::Large& l) {
  l.id = root.child("id").text().as_int();
  l.timestamp = root.child("timestamp").text().as_llong();
  l.flags = root.child("flags").text().as_uint();
  l.ratio = root.child("ratio").text().as_float();
  l.total = root.child("total").text().as_double();
  l.complete = root.child("complete").text().as_bool();
  l.description = root.child("description").text().get();
  l.samples.clear();
  for (auto item : root.child("samples").children())
    l.samples.push_back(item.text().as_double());
  std::size_t n = 0;
  for (auto rec : root.child("records").children()) {
    if (n == l.records.size()) l.records.emplace_back();
    auto& r = l.records[n++];
    r.id = rec.child("id").text().as_int();
    r.value = rec.child("value").text().as_double();
    r.label = rec.child("label").text().get();
    r.valid = rec.child("valid").text().as_bool();
  }
  l.records.resize(n);
}

template <class T>
void compare(nexo::bench::wire::Report& report, const char* message, const T& value,
             const char* root_name) {
  using namespace nexo::bench::wire;
  const auto& o = report.options();
  const unsigned save_flags = pugi::format_raw | pugi::format_no_declaration;

  pugi::xml_document doc;
  StringWriter writer;
  writer.out.reserve(1 << 20);
  nexo::wire::Buffer buffer(1 << 20);
  const auto encode = measure(o, {[&] {
                                    buffer.clear();
                                    auto r = nexo::wire::xml::encode(value, buffer);
                                    keep(r.has_value());
                                  },
                                  [&] {
                                    doc.reset();
                                    build(doc.append_child(root_name), value);
                                    writer.out.clear();
                                    doc.save(writer, "", save_flags, pugi::encoding_utf8);
                                    keep(writer.out.size());
                                  }});
  report.add({"XML", "encode", message, encode[0], "pugixml", encode[1], 0.33, ""});

  // Round trips, outside the timed loops: each side reads the other's document too.
  std::string text(buffer.text());
  T check{};
  bool ok = static_cast<bool>(nexo::wire::xml::decode(writer.out, check)) && check == value;
  pugi::xml_document cross;
  ok = ok && cross.load_buffer(text.data(), text.size(), pugi::parse_default, pugi::encoding_utf8);

  T pugi_out{}, nexo_out{};
  std::vector<char> scratch(text.size());
  const auto decode = measure(o, {[&] {
                                    auto r = nexo::wire::xml::decode(text, nexo_out);
                                    keep(r.has_value());
                                  },
                                  [&] {
                                    std::memcpy(scratch.data(), text.data(), text.size());
                                    auto parsed = doc.load_buffer_inplace(
                                        scratch.data(), scratch.size(), pugi::parse_default,
                                        pugi::encoding_utf8);
                                    if (parsed) read(doc.first_child(), pugi_out);
                                    keep(pugi_out);
                                  }});
  if (!ok || !(nexo_out == value) || !(pugi_out == value))
    std::fprintf(stderr, "bench_wire: XML %s did not round-trip\n", message);
  report.add({"XML", "decode", message, decode[0], "pugixml", decode[1], 1.0,
              "pugixml: load_buffer_inplace over a copy (memcpy timed), parse_default"});
}

}  // namespace

NEXO_WIRE_BENCH(xml, 40) {
  compare(report, "person", ex::make_person(), "person");
  compare(report, "large", ex::make_large(), "large");
  // Everything (maps, optionals, nested structs, base64 bytes): nexo alone.
  nexo::bench::wire::add_nexo_only(
      report, "XML", "everything", ex::make_everything(),
      [](const auto& value, nexo::wire::Buffer& out) {
        static_cast<void>(nexo::wire::xml::encode(value, out));
      },
      [](const std::string& text, ex::Everything& out) {
        return nexo::wire::xml::decode(text, out).has_value();
      },
      "nexo only: no pugixml code for Everything's maps, optionals and bytes here yet");
}
