// Port and Sender counters are published in this process's counter file
// (what `nexo stat` reads), and leave it when the Port or Sender is gone.
#include "nexo/msg/counters.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include "nexo/base/counter_file.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

// The live record of `type` labelled `label` in this process's file.
std::optional<CounterRecord> find_record(std::string_view type, std::string_view label) {
  CounterFile* file = CounterFile::process();
  if (file == nullptr) return std::nullopt;
  auto contents = read_counter_file(file->path());
  EXPECT_TRUE(contents) << contents.error().to_string();
  if (!contents) return std::nullopt;
  for (auto& r : contents->records)
    if (r.type == type && r.label == label) return r;
  return std::nullopt;
}

std::uint64_t value_of(const CounterRecord& r, std::string_view name) {
  for (const auto& v : r.values)
    if (v.name == name) return v.value;
  ADD_FAILURE() << "no value " << name << " in " << r.type << " " << r.label;
  return 0;
}

TEST(Counters, CountWithoutAFileAndMatchTheSnapshot) {
  Counters counters;
  counters.add_in(10);
  counters.add_in(5);
  counters.add_out_many(3, 30);
  counters.note_queue_depth(4);
  counters.note_queue_depth(2);
  counters.add_retransmitted(2);
  const CounterSnapshot s = counters.snapshot();
  EXPECT_EQ(s.messages_in, 2u);
  EXPECT_EQ(s.bytes_in, 15u);
  EXPECT_EQ(s.messages_out, 3u);
  EXPECT_EQ(s.bytes_out, 30u);
  EXPECT_EQ(s.queue_high_water, 4u);
  EXPECT_EQ(s.retransmitted, 2u);
  EXPECT_EQ(s.to_string(),
            "in 2 msgs / 15 B, out 3 msgs / 30 B, dropped 0, malformed 0, queue high-water 4, "
            "connections rejected 0, timed out 0, retransmitted 2");
}

TEST(Counters, PortsAndSendersArePublishedWhileTheyLive) {
  if (CounterFile::process() == nullptr) GTEST_SKIP() << "no counter file (NEXO_STAT=0?)";
  auto context = Context::create();
  ASSERT_TRUE(context);
  auto port = Port::bind(**context, "inproc://counters-test");
  ASSERT_TRUE(port) << port.error().to_string();
  auto sender = Sender::connect(**context, "inproc://counters-test");
  ASSERT_TRUE(sender) << sender.error().to_string();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*sender)->send("hello", 5s));
    ASSERT_TRUE((*port)->receive(5s));
  }
  const std::string label = (*port)->uri().to_string();
  auto port_record = find_record("port", label);
  ASSERT_TRUE(port_record) << "no port record labelled " << label;
  EXPECT_EQ(value_of(*port_record, "messages_in"), 3u);
  EXPECT_EQ(value_of(*port_record, "bytes_in"), 15u);
  auto sender_record = find_record("sender", label);
  ASSERT_TRUE(sender_record) << "no sender record labelled " << label;
  EXPECT_EQ(value_of(*sender_record, "messages_out"), 3u);

  sender->reset();
  port->reset();
  EXPECT_FALSE(find_record("port", label)) << "a closed port's record stays live";
  EXPECT_FALSE(find_record("sender", label));
}

}  // namespace
}  // namespace nexo::msg
