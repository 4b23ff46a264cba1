// DataWriter and DataReader over a real TCP connection on loopback: items
// split across segments, truncated streams, timeouts, malformed input.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "nexo/net/data_stream.hpp"
#include "nexo/net/data_stream_test_util.hpp"
#include "nexo/net/tcp_listener.hpp"

namespace nexo::net {
namespace {

using namespace std::chrono_literals;
using testing::hex;

class DataStreamTcp : public ::testing::Test {
 protected:
  void SetUp() override {
    auto listener = TcpListener::bind(Endpoint(InetAddress::loopback(), 0));
    ASSERT_TRUE(listener) << listener.error().to_string();
    auto client = TcpStream::connect(listener->local_endpoint(), 5s);
    ASSERT_TRUE(client) << client.error().to_string();
    auto server = listener->accept(5s);
    ASSERT_TRUE(server) << server.error().to_string();
    client_.emplace(std::move(client).value());
    server_.emplace(std::move(server).value());
    // A reader that waited for bytes that never come fails instead of hanging;
    // so does a writing thread whose reader stopped (a failed assertion), so
    // that joining it is bounded.
    ASSERT_TRUE(server_->set_read_timeout(10s));
    ASSERT_TRUE(client_->set_write_timeout(10s));
  }

  void send(std::string_view hex_bytes) { ASSERT_TRUE(client_->write_all(hex(hex_bytes))); }

  std::optional<TcpStream> client_;
  std::optional<TcpStream> server_;
};

TEST_F(DataStreamTcp, RoundTripsEveryType) {
  Bytes big(300 * 1024);
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<std::byte>(i * 7);
  std::string long_text(60000, 'q');
  // The writing thread records what each step returned; the test thread asserts.
  std::vector<bool> steps;
  std::size_t left_after_flush = 1;
  std::jthread sender([&] {  // joined on every way out of the test
    DataWriter w(*client_);
    w.write_boolean(true);
    w.write_byte(-5);
    w.write_short(-300);
    w.write_char(u'Z');
    w.write_int(123456789);
    w.write_long(-1234567890123456789);
    w.write_float(2.5f);
    w.write_double(-1e300);
    steps.push_back(bool(w.write_utf("Asunción 😀")));
    steps.push_back(bool(w.write_utf(long_text)));
    w.write_bytes(big);
    steps.push_back(bool(w.flush()));
    left_after_flush = w.size();
    steps.push_back(bool(w.flush()));  // nothing to send
    steps.push_back(bool(client_->shutdown_write()));
  });
  DataReader r(*server_);
  EXPECT_EQ(r.read_boolean().value(), true);
  EXPECT_EQ(r.read_byte().value(), -5);
  EXPECT_EQ(r.read_short().value(), -300);
  EXPECT_EQ(r.read_char().value(), u'Z');
  EXPECT_EQ(r.read_int().value(), 123456789);
  EXPECT_EQ(r.read_long().value(), -1234567890123456789);
  EXPECT_EQ(r.read_float().value(), 2.5f);
  EXPECT_EQ(r.read_double().value(), -1e300);
  EXPECT_EQ(r.read_utf().value(), "Asunción 😀");
  EXPECT_EQ(r.read_utf().value(), long_text);
  Bytes got(big.size());
  ASSERT_TRUE(r.read_fully(got));
  EXPECT_TRUE(got == big);
  std::size_t total = r.offset();
  EXPECT_EQ(total, 1 + 1 + 2 + 2 + 4 + 8 + 4 + 8 + (2 + 16) + (2 + 60000) + big.size());
  auto end = r.read_int();
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().kind(), ErrorKind::closed);
  EXPECT_EQ(end.error().message(),
            "read_int at offset " + std::to_string(total) + ": input ended after 0 of 4 bytes");
  sender.join();
  EXPECT_EQ(steps, std::vector<bool>(5, true)) << "write_utf, write_utf, flush, flush, shutdown";
  EXPECT_EQ(left_after_flush, 0u);
}

TEST_F(DataStreamTcp, ReassemblesItemsSplitAcrossSegments) {
  DataWriter w;
  w.write_int(0x01020304);
  w.write_long(-2);
  ASSERT_TRUE(w.write_utf("split 😀 string"));
  w.write_double(0.1);
  Bytes wire(w.bytes().begin(), w.bytes().end());
  ASSERT_TRUE(client_->set_no_delay(true));
  std::string write_failure;  // recorded by the writing thread, asserted below
  std::jthread sender([&] {  // joined on every way out of the test
    for (std::byte b : wire) {
      if (auto written = client_->write_all(std::span(&b, 1)); !written) {
        write_failure = written.error().message();
        return;
      }
      std::this_thread::sleep_for(1ms);  // pacing, so that items split across segments
    }
  });
  DataReader r(*server_);
  EXPECT_EQ(r.read_int().value(), 0x01020304);
  EXPECT_EQ(r.read_long().value(), -2);
  EXPECT_EQ(r.read_utf().value(), "split 😀 string");
  EXPECT_EQ(r.read_double().value(), 0.1);
  EXPECT_EQ(r.offset(), wire.size());
  sender.join();
  EXPECT_EQ(write_failure, "");
}

TEST_F(DataStreamTcp, ReturnsAnItemWithoutWaitingForMore) {
  DataReader r(*server_);
  DataWriter w(*client_);
  w.write_int(42);
  ASSERT_TRUE(w.flush());
  EXPECT_EQ(r.read_int().value(), 42);  // the connection stays open: no read-ahead wait
  ASSERT_TRUE(w.write_utf("next"));
  ASSERT_TRUE(w.flush());
  EXPECT_EQ(r.read_utf().value(), "next");
}

TEST_F(DataStreamTcp, TruncatedStreamNamesOffset) {
  send("00 00 00 2A 00 01");
  ASSERT_TRUE(client_->shutdown_write());
  DataReader r(*server_);
  EXPECT_EQ(r.read_int().value(), 42);
  auto e = r.read_int();
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind(), ErrorKind::closed);
  EXPECT_EQ(e.error().message(), "read_int at offset 4: input ended after 2 of 4 bytes");
  EXPECT_EQ(r.read_short().value(), 1);  // the 2 bytes are still there
}

TEST_F(DataStreamTcp, TruncatedUtfBody) {
  send("00 FF 61 62 63 64 65 66 67 68 69 6A");
  ASSERT_TRUE(client_->shutdown_write());
  DataReader r(*server_);
  auto e = r.read_utf();
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind(), ErrorKind::closed);
  EXPECT_EQ(e.error().message(), "read_utf at offset 0: input ended after 12 of 257 bytes");
}

TEST_F(DataStreamTcp, TimedOutReadCanBeRetried) {
  ASSERT_TRUE(server_->set_read_timeout(100ms));
  DataReader r(*server_);
  send("CA FE");
  auto first = r.read_int();
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().kind(), ErrorKind::timed_out);
  EXPECT_EQ(first.error().message().rfind("read_int at offset 0: ", 0), 0u)
      << first.error().message();
  EXPECT_EQ(r.offset(), 0u);
  send("BA BE");
  auto second = r.read_int();
  ASSERT_TRUE(second) << second.error().to_string();
  EXPECT_EQ(static_cast<std::uint32_t>(*second), 0xCAFEBABEu);
}

TEST_F(DataStreamTcp, MalformedUtfOverStreamKeepsFraming) {
  send("00 01 00 00 03 61 62 63");
  ASSERT_TRUE(client_->shutdown_write());
  DataReader r(*server_);
  auto bad = r.read_utf();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::malformed);
  EXPECT_EQ(r.read_utf().value(), "abc");
}

TEST_F(DataStreamTcp, FlushOnClosedStreamKeepsBuffer) {
  DataWriter w(*client_);
  w.write_int(1);
  client_->close();
  auto flushed = w.flush();
  ASSERT_FALSE(flushed);
  EXPECT_EQ(flushed.error().kind(), ErrorKind::closed);
  EXPECT_EQ(flushed.error().message().rfind("flush of 4 bytes: ", 0), 0u)
      << flushed.error().message();
  EXPECT_EQ(w.size(), 4u);
}

}  // namespace
}  // namespace nexo::net
