// Interop with RapidJSON (the reference parser and writer): RapidJSON reads nexo's text
// to the same values, and nexo reads RapidJSON's text of the same values.
#include "nexo/wire/json.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <bit>
#include <cmath>
#include <random>

#include "nexo/wire/examples.hpp"

namespace nexo::wire {
namespace {

using examples::Everything;
using examples::Large;
using examples::Record;

rapidjson::Document parse(std::string_view text) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
  return d;
}

std::string nexo_text(const auto& v) {
  Buffer b;
  json::encode(v, b);
  return std::string(b.text());
}

TEST(JsonRapidjson, RapidjsonReadsNexosLarge) {
  Large large = examples::make_large();
  auto d = parse(nexo_text(large));
  ASSERT_FALSE(d.HasParseError()) << d.GetParseError();
  EXPECT_EQ(d["id"].GetInt(), large.id);
  EXPECT_EQ(d["timestamp"].GetInt64(), large.timestamp);
  EXPECT_EQ(d["flags"].GetUint(), large.flags);
  EXPECT_EQ(static_cast<float>(d["ratio"].GetDouble()), large.ratio);
  EXPECT_EQ(d["total"].GetDouble(), large.total);
  EXPECT_EQ(d["complete"].GetBool(), large.complete);
  EXPECT_EQ(d["description"].GetString(), large.description);
  const auto& samples = d["samples"].GetArray();
  ASSERT_EQ(samples.Size(), large.samples.size());
  for (std::size_t i = 0; i < large.samples.size(); ++i)
    ASSERT_EQ(samples[static_cast<rapidjson::SizeType>(i)].GetDouble(), large.samples[i]) << i;
  const auto& records = d["records"].GetArray();
  ASSERT_EQ(records.Size(), large.records.size());
  for (std::size_t i = 0; i < large.records.size(); ++i) {
    const auto& r = records[static_cast<rapidjson::SizeType>(i)];
    EXPECT_EQ(r["id"].GetInt(), large.records[i].id);
    EXPECT_EQ(r["value"].GetDouble(), large.records[i].value);
    EXPECT_EQ(r["label"].GetString(), large.records[i].label);
    EXPECT_EQ(r["valid"].GetBool(), large.records[i].valid);
  }
}

TEST(JsonRapidjson, RapidjsonReadsNexosEverything) {
  Everything e = examples::make_everything();
  auto d = parse(nexo_text(e));
  ASSERT_FALSE(d.HasParseError()) << d.GetParseError();
  EXPECT_EQ(d["i64"].GetInt64(), e.i64);
  EXPECT_EQ(d["u64"].GetUint64(), e.u64);
  EXPECT_EQ(d["s64"].GetInt64(), e.s64);
  EXPECT_EQ(d["real64"].GetDouble(), e.real64);
  EXPECT_EQ(std::string(d["text"].GetString(), d["text"].GetStringLength()), e.text);
  EXPECT_EQ(d["position"][2].GetDouble(), 1e300);
  EXPECT_EQ(d["names"]["-2"].GetString(), std::string("minus two"));
  EXPECT_EQ(d["path"][2]["y"].GetInt(), 300);
  EXPECT_FALSE(d.HasMember("nickname"));
  // Every control character and a NUL survive RapidJSON's reading.
  Everything t;
  for (int c = 0; c < 0x80; ++c)
    t.text += static_cast<char>(c);
  t.text += "\xf0\x9f\x98\x80";
  auto dt = parse(nexo_text(t));
  ASSERT_FALSE(dt.HasParseError());
  EXPECT_EQ(std::string(dt["text"].GetString(), dt["text"].GetStringLength()), t.text);
}

TEST(JsonRapidjson, RandomDoublesReadBackBitExactByRapidjson) {
  std::mt19937_64 rng(7);
  Large l;
  for (int i = 0; i < 5000; ++i) {
    double v = std::bit_cast<double>(rng());
    if (std::isfinite(v)) l.samples.push_back(v);
  }
  auto d = parse(nexo_text(l));
  ASSERT_FALSE(d.HasParseError());
  const auto& a = d["samples"].GetArray();
  for (std::size_t i = 0; i < l.samples.size(); ++i)
    ASSERT_EQ(std::bit_cast<std::uint64_t>(a[static_cast<rapidjson::SizeType>(i)].GetDouble()),
              std::bit_cast<std::uint64_t>(l.samples[i]));
}

template <class W>
void write(W& w, const Record& r) {
  w.StartObject();
  w.Key("id");
  w.Int(r.id);
  w.Key("value");
  w.Double(r.value);
  w.Key("label");
  w.String(r.label.data(), static_cast<rapidjson::SizeType>(r.label.size()));
  w.Key("valid");
  w.Bool(r.valid);
  w.EndObject();
}

TEST(JsonRapidjson, NexoReadsRapidjsonsText) {
  std::mt19937_64 rng(11);
  Large large = examples::make_large();
  for (int i = 0; i < 3000; ++i) {
    double v = std::bit_cast<double>(rng());
    if (std::isfinite(v)) large.samples.push_back(v);
  }
  large.timestamp = INT64_MIN;
  large.description = "tab\t quote\" back\\ nul";
  large.description += '\0';
  large.description += "\x01 \xc3\xa9 \xf0\x9f\x98\x80";
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("id");
  w.Int(large.id);
  w.Key("timestamp");
  w.Int64(large.timestamp);
  w.Key("flags");
  w.Uint(large.flags);
  w.Key("ratio");
  w.Double(large.ratio);  // a float widened: reads back to the same float
  w.Key("total");
  w.Double(large.total);
  w.Key("complete");
  w.Bool(large.complete);
  w.Key("description");
  w.String(large.description.data(), static_cast<rapidjson::SizeType>(large.description.size()));
  w.Key("samples");
  w.StartArray();
  for (double s : large.samples)
    w.Double(s);
  w.EndArray();
  w.Key("records");
  w.StartArray();
  for (const Record& r : large.records)
    write(w, r);
  w.EndArray();
  w.EndObject();
  auto back = json::decode<Large>(std::string_view(sb.GetString(), sb.GetSize()));
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, large);

  // uint64 max and int64 min as RapidJSON writes them.
  rapidjson::StringBuffer sb2;
  rapidjson::Writer<rapidjson::StringBuffer> w2(sb2);
  w2.StartObject();
  w2.Key("u64");
  w2.Uint64(UINT64_MAX);
  w2.Key("i64");
  w2.Int64(INT64_MIN);
  w2.EndObject();
  auto e = json::decode<Everything>(std::string_view(sb2.GetString(), sb2.GetSize()));
  ASSERT_TRUE(e) << e.error().to_string();
  EXPECT_EQ(e->u64, UINT64_MAX);
  EXPECT_EQ(e->i64, INT64_MIN);
}

}  // namespace
}  // namespace nexo::wire
