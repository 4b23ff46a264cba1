// The simulator's picture, read back with pugixml: every bar and point says
// what it counts, and the counts add up to the input.
#include "nexo/overlay/sim_plot.hpp"

#include <gtest/gtest.h>

#include <pugixml.hpp>
#include <string>

namespace nexo::overlay {
namespace {

pugi::xml_document parse(const std::string& svg) {
  pugi::xml_document doc;
  auto result = doc.load_string(svg.c_str());
  EXPECT_TRUE(result) << result.description();
  return doc;
}

pugi::xml_node chart(const pugi::xml_document& doc, const char* kind) {
  return doc.select_node((std::string("//g[@data-chart='") + kind + "']").c_str()).node();
}

double sum_counts(const pugi::xml_node& g) {
  double total = 0;
  for (auto bar : g.select_nodes(".//rect[@class='bar']")) {
    total += bar.node().attribute("data-count").as_double();
  }
  return total;
}

TEST(SimPlot, BarsAndPointsCountTheInput) {
  SimPlot plot;
  plot.title = "nexo overlay sim: 1000 nodes <seed 7> & churn";
  plot.hops = {2, 3, 3, 4, 4, 4, 5, 3, 4};
  plot.latency_ms = {120.5, 300, 80, 95.25, 410, 150, 220, 999.9, 60};
  plot.success = {{10, 99, 100}, {20, 100, 100}, {30, 0, 0}, {40, 97, 100}};
  const auto doc = parse(render_svg(plot));
  ASSERT_TRUE(doc.child("svg"));
  EXPECT_NE(std::string(doc.select_node("//text[@class='title']").node().child_value())
                .find("<seed 7> & churn"),
            std::string::npos);

  auto hops = chart(doc, "hops");
  ASSERT_TRUE(hops);
  EXPECT_EQ(sum_counts(hops), plot.hops.size());
  // The bar of 4 hops counts four lookups.
  auto four = hops.select_node(".//rect[@data-from='3.5']").node();
  ASSERT_TRUE(four);
  EXPECT_EQ(four.attribute("data-count").as_int(), 4);
  EXPECT_EQ(four.attribute("data-to").as_double(), 4.5);

  auto latency = chart(doc, "latency");
  ASSERT_TRUE(latency);
  EXPECT_EQ(sum_counts(latency), plot.latency_ms.size());
  for (auto bar : latency.select_nodes(".//rect[@class='bar']")) {
    EXPECT_LT(bar.node().attribute("data-from").as_double(),
              bar.node().attribute("data-to").as_double());
  }

  auto success = chart(doc, "success");
  ASSERT_TRUE(success);
  auto points = success.select_nodes(".//circle[@class='point']");
  ASSERT_EQ(points.size(), 3U);  // the empty window is left out
  EXPECT_EQ(points[0].node().attribute("data-ok").as_int(), 99);
  EXPECT_EQ(points[2].node().attribute("data-t").as_double(), 40);
  EXPECT_TRUE(success.select_node(".//path[@class='line']"));
}

TEST(SimPlot, EmptyInputsSayNoData) {
  const auto doc = parse(render_svg(SimPlot{}));
  for (const char* kind : {"hops", "latency", "success"}) {
    auto g = chart(doc, kind);
    ASSERT_TRUE(g) << kind;
    EXPECT_TRUE(g.select_node(".//text[@class='no-data']")) << kind;
    EXPECT_FALSE(g.select_node(".//rect[@class='bar']")) << kind;
  }
}

TEST(SimPlot, OneValueAndHugeValuesStayInsideTheChart) {
  SimPlot plot;
  plot.hops = {0};
  plot.latency_ms = {0};
  plot.success = {{0.5, 1, 1}};
  auto doc = parse(render_svg(plot));
  EXPECT_EQ(sum_counts(chart(doc, "hops")), 1);
  EXPECT_EQ(sum_counts(chart(doc, "latency")), 1);

  plot.hops = {3, 4'000'000'000U};
  doc = parse(render_svg(plot));
  EXPECT_EQ(sum_counts(chart(doc, "hops")), 2);
  EXPECT_LE(chart(doc, "hops").select_nodes(".//rect[@class='bar']").size(), 65U);

  plot.latency_ms = {1e9, 3, 5e8};
  doc = parse(render_svg(plot));
  auto latency = chart(doc, "latency");
  EXPECT_EQ(sum_counts(latency), 3);
  for (auto bar : latency.select_nodes(".//rect[@class='bar']")) {
    const double x = bar.node().attribute("x").as_double();
    const double w = bar.node().attribute("width").as_double();
    EXPECT_GE(x, 0);
    EXPECT_LE(x + w, 760);
  }
}

}  // namespace
}  // namespace nexo::overlay
