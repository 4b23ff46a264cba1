// Trace and its SVG picture: the picture is read back with pugixml and its
// structure checked (timelines, arrows and their geometry, marks, escaping,
// bounds), never compared byte for byte with a stored file. And a simulated
// total-order run, traced by its SimEndpoints: its sequencer hops, in the
// record and in the picture.
#include "nexo/group/trace.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <pugixml.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nexo/group/endpoint_sim_support.hpp"

namespace nexo::group {
namespace {

using std::chrono::milliseconds;

Time ms(int n) {
  return Time{} + milliseconds(n);
}

// The picture of `trace`, parsed; fails the test if it is not well-formed XML.
struct Picture {
  std::string text;
  pugi::xml_document doc;

  explicit Picture(const Trace& trace, const SvgOptions& options = {}) {
    std::ostringstream out;
    auto written = write_svg(trace, out, options);
    EXPECT_TRUE(written) << (written ? "" : written.error().to_string());
    text = out.str();
    const pugi::xml_parse_result parsed = doc.load_string(text.c_str());
    EXPECT_TRUE(parsed) << parsed.description() << " at " << parsed.offset;
  }

  pugi::xml_node root() const { return doc.child("svg"); }

  // The root's children of class `cls` (the legend's samples are not among them).
  std::vector<pugi::xml_node> all(const std::string& cls) const {
    std::vector<pugi::xml_node> found;
    for (pugi::xml_node node : root().children())
      if (cls == node.attribute("class").value()) found.push_back(node);
    return found;
  }

  // The y of each member's timeline, by label.
  std::map<std::string, double> rows() const {
    std::map<std::string, double> y;
    for (pugi::xml_node g : all("timeline"))
      y[g.attribute("data-member").value()] = g.child("line").attribute("y1").as_double();
    return y;
  }
};

double attr(pugi::xml_node node, const char* name) {
  return node.attribute(name).as_double();
}

TEST(TraceTest, RecordsEventsAndNamesMembersInOrderOfFirstMention) {
  Trace trace;
  trace.sent(ms(0), "m1", 1, "hello");
  trace.delivered(ms(2), "m2", {"m1", 1});
  trace.nak_sent(ms(3), "m3", "m1", 2, 4);
  ASSERT_EQ(trace.events().size(), 3u);
  EXPECT_EQ(trace.members(), (std::vector<std::string>{"m1", "m2", "m3"}));
  const TraceEvent& sent = trace.events()[0];
  EXPECT_EQ(sent.kind, TraceKind::sent);
  EXPECT_EQ(sent.message, (MessageKey{"m1", 1}));
  EXPECT_EQ(sent.text, "hello");
  const TraceEvent& nak = trace.events()[2];
  EXPECT_EQ(trace.members()[nak.member], "m3");
  EXPECT_EQ(trace.members()[nak.peer], "m1");
  EXPECT_EQ(nak.first, 2u);
  EXPECT_EQ(nak.last, 4u);
  EXPECT_EQ(to_string(TraceKind::view_installed), "view_installed");
}

TEST(TraceTest, CutsLongTextAtACharacterBoundary) {
  Trace trace(TraceLimits{.max_events = 10, .max_text = 4});
  trace.note(ms(0), "abc\xc3\xa9",
             "xy\xe2\x82\xac");  // "abcé", "xy€": cutting at 4 splits a character
  EXPECT_EQ(trace.members().front(), "abc");
  EXPECT_EQ(trace.events().front().text, "xy");
}

TEST(TraceSvgTest, DrawsOneTimelinePerMemberInOrder) {
  Trace trace;
  trace.add_member("m3");
  trace.sent(ms(0), "m1", 1);
  trace.delivered(ms(4), "m2", {"m1", 1});
  Picture picture(trace);
  const auto timelines = picture.all("timeline");
  ASSERT_EQ(timelines.size(), 3u);
  EXPECT_STREQ(timelines[0].attribute("data-member").value(), "m3");
  EXPECT_STREQ(timelines[1].attribute("data-member").value(), "m1");
  EXPECT_STREQ(timelines[2].attribute("data-member").value(), "m2");
  EXPECT_STREQ(timelines[1].child("text").text().get(), "m1");
  EXPECT_LT(attr(timelines[0].child("line"), "y1"), attr(timelines[1].child("line"), "y1"));
  EXPECT_LT(attr(timelines[1].child("line"), "y1"), attr(timelines[2].child("line"), "y1"));
}

TEST(TraceSvgTest, ShortensALongLabelOnScreenButKeepsItWhole) {
  Trace trace(TraceLimits{.max_events = 10, .max_text = 200});
  const std::string label(100, 'x');
  trace.sent(ms(0), label, 1);
  trace.delivered(ms(1), "[::1]:5000", {label, 1});
  Picture picture(trace);
  const auto timelines = picture.all("timeline");
  ASSERT_EQ(timelines.size(), 2u);
  EXPECT_EQ(timelines[0].attribute("data-member").value(), label);
  EXPECT_EQ(timelines[0].child("title").text().get(), label);
  const std::string shown = timelines[0].child("text").text().get();
  EXPECT_LT(shown.size(), label.size());
  EXPECT_EQ(shown.substr(shown.size() - 3), "\u2026");
  EXPECT_STREQ(timelines[1].child("text").text().get(), "[::1]:5000");
  const double left = attr(timelines[0].child("line"), "x1");
  EXPECT_LE(static_cast<double>(shown.size() - 3) * 7 + 8, left)
      << "the label ends before the timeline";
}

TEST(TraceSvgTest, DrawsAnArrowFromEachSendToEachDelivery) {
  Trace trace;
  trace.sent(ms(0), "m1", 1, "a");
  trace.delivered(ms(1), "m1", {"m1", 1});
  trace.delivered(ms(5), "m2", {"m1", 1});
  trace.delivered(ms(8), "m3", {"m1", 1});
  trace.sent(ms(10), "m2", 1, "b");
  trace.delivered(ms(12), "m1", {"m2", 1});
  trace.delivered(ms(20), "m3", {"m2", 1});
  Picture picture(trace);
  const auto rows = picture.rows();
  const auto arrows = picture.all("message");
  ASSERT_EQ(arrows.size(), 4u);
  std::map<std::string, std::string> colour;
  for (pugi::xml_node arrow : arrows) {
    const pugi::xml_node line = arrow.child("line");
    EXPECT_LT(attr(line, "x1"), attr(line, "x2")) << "a delivery lies after its send";
    EXPECT_LT(arrow.attribute("data-from-ns").as_llong(), arrow.attribute("data-to-ns").as_llong());
    EXPECT_DOUBLE_EQ(attr(line, "y1"), rows.at(arrow.attribute("data-from").value()));
    EXPECT_DOUBLE_EQ(attr(line, "y2"), rows.at(arrow.attribute("data-to").value()));
    const std::string sender = arrow.attribute("data-sender").value();
    EXPECT_EQ(sender, arrow.attribute("data-from").value());
    auto [slot, added] = colour.emplace(sender, line.attribute("stroke").value());
    EXPECT_EQ(slot->second, line.attribute("stroke").value()) << "one colour per sender";
  }
  EXPECT_NE(colour.at("m1"), colour.at("m2"));
  // Time is scaled: m1#1 reaches m3 (8 ms) after m2 (5 ms), and m2#1 is sent after both.
  std::map<std::string, double> end;
  for (pugi::xml_node a : arrows)
    end[std::string(a.attribute("data-sender").value()) + ">" + a.attribute("data-to").value()] =
        attr(a.child("line"), "x2");
  EXPECT_LT(end.at("m1>m2"), end.at("m1>m3"));
  EXPECT_LT(end.at("m1>m3"), end.at("m2>m1"));
  EXPECT_EQ(picture.all("self-delivery").size(), 1u);
  EXPECT_EQ(picture.all("send").size(), 2u);
  EXPECT_EQ(picture.doc.select_nodes("//*[@class='send']").size(), 2u) << "none in the legend";
  EXPECT_TRUE(picture.all("lost").empty());
}

TEST(TraceSvgTest, AMessageNobodyIsSeenToDeliverIsStillVisible) {
  Trace trace;
  trace.sent(ms(0), "m1", 1, "alone");
  trace.add_member("m2");  // named, but never seen to deliver anything: not expected to
  Picture picture(trace);
  const auto sends = picture.all("send");
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_STREQ(sends[0].attribute("data-member").value(), "m1");
  EXPECT_DOUBLE_EQ(attr(sends[0], "cy"), picture.rows().at("m1"));
  EXPECT_TRUE(picture.all("message").empty());
  EXPECT_TRUE(picture.all("lost").empty());
}

TEST(TraceSvgTest, ShowsAMessageThatAnObservedMemberNeverDelivered) {
  Trace trace;
  trace.sent(ms(0), "m1", 1);
  trace.delivered(ms(3), "m2", {"m1", 1});
  trace.delivered(ms(4), "m3", {"m1", 1});
  trace.sent(ms(10), "m1", 2);
  trace.delivered(ms(12), "m2", {"m1", 2});  // m3 never gets m1#2
  trace.delivered(ms(15), "m4", {"m9", 7});  // a delivery whose send is not in the trace
  Picture picture(trace);
  const auto lost = picture.all("lost");
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_STREQ(lost[0].attribute("data-to").value(), "m3");
  EXPECT_EQ(lost[0].attribute("data-seq").as_uint(), 2u);
  EXPECT_TRUE(lost[0].child("path")) << "the lost arrow ends in a cross";
  const auto rows = picture.rows();
  const pugi::xml_node line = lost[0].child("line");
  EXPECT_LT(attr(line, "y2"), rows.at("m3")) << "it stops short of m3's timeline";
  EXPECT_GT(attr(line, "y2"), rows.at("m1"));
  ASSERT_EQ(picture.all("delivery-unsent").size(), 1u);
  EXPECT_STREQ(picture.all("delivery-unsent")[0].attribute("data-member").value(), "m4");
}

TEST(TraceSvgTest, MarksNakRetransmissionSequencerViewAndCrash) {
  Trace trace;
  trace.sent(ms(0), "m1", 5, "x");
  trace.sequencer_hop(ms(1), "seq", {"m1", 5}, 42);
  trace.delivered(ms(2), "m3", {"m1", 5});
  trace.nak_sent(ms(3), "m2", "m1", 5, 5);
  trace.retransmitted(ms(4), "m1", {"m1", 5}, "m2");
  trace.delivered(ms(6), "m2", {"m1", 5});
  const std::vector<std::string> view{"m1", "m2"};
  trace.view_installed(ms(8), "m1", 2, view);
  trace.view_installed(ms(9), "m2", 2, view);
  trace.crashed(ms(7), "m3");
  trace.note(ms(10), "m1", "done");
  Picture picture(trace);

  const auto naks = picture.all("nak");
  ASSERT_EQ(naks.size(), 1u);
  EXPECT_STREQ(naks[0].attribute("data-member").value(), "m2");
  EXPECT_STREQ(naks[0].attribute("data-sender").value(), "m1");
  EXPECT_EQ(naks[0].attribute("data-first").as_uint(), 5u);
  EXPECT_STREQ(naks[0].child("line").attribute("stroke-dasharray").value(), "3 2");

  const auto retx = picture.all("retransmission");
  ASSERT_EQ(retx.size(), 1u);
  EXPECT_STREQ(retx[0].attribute("data-to").value(), "m2");
  const pugi::xml_node retx_line = retx[0].child("line");
  EXPECT_LT(attr(retx_line, "x1"), attr(retx_line, "x2"));
  EXPECT_TRUE(retx_line.attribute("stroke-dasharray")) << "drawn in another style";
  ASSERT_EQ(picture.all("lost").size(), 1u) << "the first transmission to m2 was lost";
  EXPECT_EQ(picture.all("message").size(), 1u) << "only m3 got the first transmission";

  const auto hops = picture.all("sequencer-hop");
  ASSERT_EQ(hops.size(), 1u);
  EXPECT_EQ(hops[0].attribute("data-order").as_uint(), 42u);
  ASSERT_EQ(picture.all("sequencer-link").size(), 1u);
  const pugi::xml_node link = picture.all("sequencer-link")[0];
  EXPECT_DOUBLE_EQ(attr(link, "y2"), picture.rows().at("seq"));
  EXPECT_LT(attr(link, "x1"), attr(link, "x2"));

  const auto views = picture.all("view-change");
  ASSERT_EQ(views.size(), 1u);
  EXPECT_STREQ(views[0].child("text").text().get(), "view 2: m1, m2");
  EXPECT_EQ(picture.all("view-install").size(), 2u);
  EXPECT_EQ(picture.all("note").size(), 1u);

  const auto crashes = picture.all("crash");
  ASSERT_EQ(crashes.size(), 1u);
  EXPECT_STREQ(crashes[0].attribute("data-member").value(), "m3");
  double m3_end = 0, m1_end = 0;
  for (pugi::xml_node g : picture.all("timeline")) {
    const double end = attr(g.child("line"), "x2");
    if (std::string("m3") == g.attribute("data-member").value()) m3_end = end;
    if (std::string("m1") == g.attribute("data-member").value()) m1_end = end;
  }
  EXPECT_LT(m3_end, m1_end) << "the crash ends m3's timeline";
  EXPECT_TRUE(picture.root().find_child_by_attribute("g", "class", "legend"));
  // Anywhere in the document (the legend's samples included), the run's marks are the only ones.
  EXPECT_EQ(picture.doc.select_nodes("//*[@class='nak']").size(), 1u);
  EXPECT_EQ(picture.doc.select_nodes("//*[@class='sequencer-hop']").size(), 1u);
  EXPECT_EQ(picture.doc.select_nodes("//*[@class='note']").size(), 1u);
  EXPECT_EQ(picture.doc.select_nodes("//*[@class='message']").size(), 1u);
}

TEST(TraceSvgTest, ARetransmissionToAllFeedsTheLaterDeliveriesAndOneInVainIsAStub) {
  Trace trace;
  trace.sent(ms(0), "m1", 1);
  trace.delivered(ms(2), "m2", {"m1", 1});
  trace.retransmitted(ms(5), "m2", {"m1", 1});  // m2 relays m1#1 to all
  trace.delivered(ms(7), "m3", {"m1", 1});
  trace.sent(ms(10), "m1", 2);
  trace.delivered(ms(11), "m3", {"m1", 2});
  trace.retransmitted(ms(14), "m1", {"m1", 2}, "m2");  // m2 never delivers m1#2
  Picture picture(trace);
  std::map<std::string, pugi::xml_node> retx;
  for (pugi::xml_node g : picture.all("retransmission"))
    retx[std::string(g.attribute("data-seq").value()) + ">" + g.attribute("data-to").value()] = g;
  ASSERT_EQ(retx.size(), 2u);
  const pugi::xml_node relay = retx.at("1>m3");
  EXPECT_STREQ(relay.attribute("data-from").value(), "m2");
  EXPECT_DOUBLE_EQ(attr(relay.child("line"), "y2"), picture.rows().at("m3"));
  const pugi::xml_node stub = retx.at("2>m2");
  EXPECT_EQ(stub.attribute("data-from-ns").as_llong(), stub.attribute("data-to-ns").as_llong())
      << "a retransmission that caused no delivery ends nowhere in time";
  EXPECT_LT(attr(stub.child("line"), "y2"), picture.rows().at("m2"));
  std::vector<std::string> lost;
  for (pugi::xml_node g : picture.all("lost"))
    lost.push_back(std::string(g.attribute("data-seq").value()) + ">" +
                   g.attribute("data-to").value());
  std::sort(lost.begin(), lost.end());
  EXPECT_EQ(lost, (std::vector<std::string>{"1>m3", "2>m2"}));
}

TEST(TraceSvgTest, ACrashedMemberIsNotExpectedToDeliverLaterMessages) {
  Trace trace;
  trace.sent(ms(0), "m1", 1);
  trace.delivered(ms(1), "m2", {"m1", 1});
  trace.crashed(ms(2), "m2");
  trace.sent(ms(3), "m1", 2);
  trace.left(ms(4), "m1");
  Picture picture(trace);
  EXPECT_TRUE(picture.all("lost").empty());
  EXPECT_EQ(picture.all("crash").size(), 1u);
  EXPECT_EQ(picture.all("leave").size(), 1u);
}

TEST(TraceSvgTest, EscapesUserText) {
  Trace trace;
  trace.sent(ms(0), "<a&b>", 1, "say \"hi\" & 'bye'");
  trace.note(ms(1), "<a&b>", "ctl\x01 bad\xff utf8 \xc3\xa9");
  trace.delivered(ms(2), "m2", {"<a&b>", 1});
  SvgOptions options;
  options.title = "</svg><script>";
  Picture picture(trace, options);
  EXPECT_EQ(picture.text.find("<a&b>"), std::string::npos);
  EXPECT_NE(picture.text.find("&lt;a&amp;b&gt;"), std::string::npos);
  EXPECT_EQ(picture.text.find("<script>"), std::string::npos);
  const auto timelines = picture.all("timeline");
  ASSERT_EQ(timelines.size(), 2u);
  EXPECT_STREQ(timelines[0].attribute("data-member").value(), "<a&b>");
  EXPECT_STREQ(timelines[0].child("text").text().get(), "<a&b>");
  const auto notes = picture.all("note");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_STREQ(notes[0].child("title").text().get(), "ctl? bad? utf8 \xc3\xa9");
  const auto arrows = picture.all("message");
  ASSERT_EQ(arrows.size(), 1u);
  EXPECT_NE(std::string(arrows[0].child("title").text().get()).find("say \"hi\" & 'bye'"),
            std::string::npos);
}

TEST(TraceSvgTest, CountsAndReportsEventsBeyondTheCap) {
  Trace trace(TraceLimits{.max_events = 5});
  for (int i = 0; i < 4; ++i) {
    trace.sent(ms(i * 10), "m1", static_cast<std::uint64_t>(i));
    trace.delivered(ms(i * 10 + 3), "m2", {"m1", static_cast<std::uint64_t>(i)});
  }
  EXPECT_EQ(trace.events().size(), 5u);
  EXPECT_EQ(trace.dropped(), 3u);
  trace.add_member("m9");  // naming a member is not an event: never dropped
  EXPECT_EQ(trace.members().size(), 3u);
  Picture picture(trace);
  const auto notices = picture.all("notice");
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(std::string(notices[0].text().get()).find("3 events dropped"), std::string::npos);
}

TEST(TraceSvgTest, DrawsASampleOfALargeTraceAndSaysSo) {
  Trace trace;
  for (int i = 0; i < 100; ++i) {
    const auto seq = static_cast<std::uint64_t>(i);
    trace.sent(ms(i), "m1", seq);
    trace.delivered(ms(i + 2), "m2", {"m1", seq});
    trace.delivered(ms(i + 3), "m3", {"m1", seq});
  }
  SvgOptions options;
  options.max_arrows = 50;
  Picture picture(trace, options);
  const std::size_t drawn = picture.all("message").size();
  EXPECT_LE(drawn, 50u);
  EXPECT_GE(drawn, 40u) << "the sample uses most of the allowance";
  const auto notices = picture.all("notice");
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(std::string(notices[0].text().get()).find("of 200 message arrows"), std::string::npos);

  options.max_arrows = 200;
  Picture whole(trace, options);
  EXPECT_EQ(whole.all("message").size(), 200u);
  EXPECT_TRUE(whole.all("notice").empty());
}

TEST(TraceSvgTest, CapsMarksAndViewsAndSaysSo) {
  Trace trace;
  for (int i = 0; i < 10; ++i) {
    trace.nak_sent(ms(i), "m2", "m1", static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i));
    const std::vector<std::string> view{"m1", "m2"};
    trace.view_installed(ms(i), "m1", static_cast<std::uint64_t>(i), view);
  }
  SvgOptions options;
  options.max_marks = 4;
  Picture picture(trace, options);
  EXPECT_EQ(picture.all("nak").size(), 4u);
  EXPECT_EQ(picture.all("view-change").size(), 4u);
  std::string notices;
  for (pugi::xml_node notice : picture.all("notice"))
    notices += notice.text().get();
  EXPECT_NE(notices.find("4 of 10 NAK"), std::string::npos) << notices;
  EXPECT_NE(notices.find("of 10 view installs"), std::string::npos) << notices;
}

TEST(TraceSvgTest, DrawsATimeAxisWithIncreasingTicks) {
  Trace trace;
  trace.sent(ms(100), "m1", 1);
  trace.delivered(ms(150), "m2", {"m1", 1});
  Picture picture(trace);
  const auto ticks = picture.root().find_child_by_attribute("g", "class", "axis");
  ASSERT_TRUE(ticks);
  std::vector<double> xs;
  for (pugi::xml_node tick : ticks.children("g"))
    xs.push_back(attr(tick.child("line"), "x1"));
  ASSERT_GE(xs.size(), 3u);
  EXPECT_TRUE(std::is_sorted(xs.begin(), xs.end()));
  EXPECT_STREQ(ticks.children("g").begin()->child("text").text().get(), "0 ms");
}

TEST(TraceSvgTest, TimesAtTheClocksEndsDoNotOverflow) {
  Trace trace;
  trace.sent(Time::min(), "m1", 1);
  trace.delivered(Time::max(), "m2", {"m1", 1});
  trace.note(Time{}, "m2", "middle");
  Picture picture(trace);
  const auto arrows = picture.all("message");
  ASSERT_EQ(arrows.size(), 1u);
  EXPECT_LT(attr(arrows[0].child("line"), "x1"), attr(arrows[0].child("line"), "x2"));
  EXPECT_FALSE(picture.root().find_child_by_attribute("g", "class", "axis").children("g").empty());
}

TEST(TraceSvgTest, AnEmptyTraceIsAPictureToo) {
  Trace trace;
  Picture picture(trace);
  EXPECT_TRUE(picture.root());
  EXPECT_TRUE(picture.all("timeline").empty());
}

TEST(TraceSvgTest, RejectsOptionsOutOfRange) {
  Trace trace;
  std::ostringstream out;
  SvgOptions options;
  options.width = 10;
  auto written = write_svg(trace, out, options);
  ASSERT_FALSE(written);
  EXPECT_TRUE(written.error().is(ErrorKind::invalid_argument));
}

TEST(TraceSvgTest, WritesAFileAndReportsAnUnwritablePath) {
  Trace trace;
  trace.sent(ms(0), "m1", 1);
  trace.delivered(ms(1), "m2", {"m1", 1});
  const auto dir =
      std::filesystem::temp_directory_path() / ("nexo_trace_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "run.svg";
  auto written = write_svg_file(trace, path);
  ASSERT_TRUE(written) << written.error().to_string();
  pugi::xml_document doc;
  EXPECT_TRUE(doc.load_file(path.c_str()));
  EXPECT_TRUE(doc.child("svg"));

  auto missing = write_svg_file(trace, dir / "no such dir" / "run.svg");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().sys_errno(), 0);
  EXPECT_NE(missing.error().message().find("no such dir"), std::string::npos);
  auto directory = write_svg_file(trace, dir);
  EXPECT_FALSE(directory);
  std::filesystem::remove_all(dir);
}

// A total-order run of 4 simulated members through 5% loss, its sequencer
// (m1) crashing halfway: the trace has one sequencer_hop per message whose
// place was announced, keyed like its send, at the sequencer of the view it
// was sent in, numbered 1, 2, ... in each view; every message of the view
// after the crash has one (its sequencer, m2, outlives the run); and the
// picture draws each hop, with a link from the send when someone else sent it.
TEST(TraceSimTest, ATotalOrderRunMarksOneSequencerHopPerMessage) {
  using namespace std::chrono_literals;
  testing::SimGroup g(
      7, 4, {.loss = 0.05, .delay = 1ms, .jitter = 500us},
      [](EndpointConfig& c) { c.order = Order::total; }, true);
  ASSERT_TRUE(g.form());
  const std::uint64_t first_view = g.at(0).endpoint().view().id;
  ASSERT_EQ(g.at(0).endpoint().view().members.front(), 1u) << "m1 is the first sequencer";
  g.traffic(testing::SimGroup::range(0, 4), 25ms, g.net.now() + 2s);
  g.net.run_for(400ms);
  g.crash(0);
  ASSERT_TRUE(g.net.run_until([&] { return g.in_one_view({1, 2, 3}); }, g.net.now() + 5s));
  const std::uint64_t last_view = g.at(1).endpoint().view().id;
  ASSERT_EQ(g.at(1).endpoint().view().members.front(), 2u) << "m2 is the next sequencer";
  g.net.run_for(2s);  // the traffic ends, everything is delivered

  const auto& members = g.trace.members();
  std::map<MessageKey, int> sends, hops;
  std::map<std::uint64_t, std::uint64_t> position;  // per view: the last order number seen
  std::size_t links = 0, last_view_sends = 0;
  for (const TraceEvent& e : g.trace.events())
    if (e.kind == TraceKind::sent) ++sends[e.message];
  for (const TraceEvent& e : g.trace.events()) {
    if (e.kind != TraceKind::sequencer_hop) continue;
    const std::uint64_t view = e.message.seq / 1'000'000;  // SimEndpoint::trace_seq
    EXPECT_EQ(members[e.member], view == last_view ? "m2" : "m1")
        << e.message.sender << "#" << e.message.seq << " is placed by its view's sequencer";
    EXPECT_EQ(sends.count(e.message), 1u) << e.message.sender << "#" << e.message.seq;
    EXPECT_EQ(++hops[e.message], 1) << e.message.sender << "#" << e.message.seq << " twice";
    EXPECT_EQ(e.first, ++position[view]) << "view " << view << ": order numbers 1, 2, ...";
    links += e.message.sender != members[e.member];
  }
  for (const auto& [key, count] : sends) {
    if (key.seq / 1'000'000 != last_view) continue;
    ++last_view_sends;
    EXPECT_EQ(hops.count(key), 1u) << key.sender << "#" << key.seq << " was never placed";
  }
  std::printf(
      "%zu messages sent, %zu sequencer hops (%llu by m1 in view %llu, %llu by m2 in view %llu)\n",
      sends.size(), hops.size(), static_cast<unsigned long long>(position[first_view]),
      static_cast<unsigned long long>(first_view),
      static_cast<unsigned long long>(position[last_view]),
      static_cast<unsigned long long>(last_view));
  EXPECT_GT(last_view_sends, 20u) << "traffic after the crash";
  EXPECT_GT(position[first_view], 20u) << "m1 placed messages before it crashed";
  EXPECT_LE(hops.size(), sends.size());
  ASSERT_LE(hops.size(), SvgOptions{}.max_marks) << "every hop fits in the picture";

  Picture picture(g.trace);
  const auto drawn = picture.all("sequencer-hop");
  EXPECT_EQ(drawn.size(), hops.size());
  EXPECT_EQ(picture.all("sequencer-link").size(), links);
  std::set<std::string> seen;
  for (pugi::xml_node hop : drawn) {
    const MessageKey key{hop.attribute("data-sender").value(),
                         hop.attribute("data-seq").as_ullong()};
    EXPECT_TRUE(hops.contains(key)) << key.sender << "#" << key.seq;
    EXPECT_TRUE(seen.insert(key.sender + "#" + std::to_string(key.seq)).second);
    EXPECT_GT(hop.attribute("data-order").as_ullong(), 0u);
  }
}

}  // namespace
}  // namespace nexo::group
