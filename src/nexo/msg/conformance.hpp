// What the conformance suites share (conformance_test.cpp for send and
// receive, sender_conformance_test.cpp for the request-free stream,
// reply_conformance_test.cpp for request-reply on one connection): the
// transports they run against, what each can and cannot do, and a fixture with
// a Context per test. Tests only.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"

namespace nexo::msg::testing {

struct Traits {
  const char* name;
  std::string (*bind_uri)(int n);
  bool reliable;     // nothing lost, duplicated or reordered; failures are sticky
  bool synchronous;  // has send_sync
  bool buffered;     // holds messages in a local buffer (flush may have to wait)
  std::size_t huge;  // a message size that must get through
  bool replies;      // Port::reply and Sender::receive
};

inline void PrintTo(const Traits& traits, std::ostream* out) {
  *out << traits.name;
}

// An ipc:// port's socket file: one per test, in the temporary directory.
inline std::string ipc_uri(int n) {
  return "ipc://" + (std::filesystem::temp_directory_path() /
                     ("nexo-conformance-" + std::to_string(::getpid()) + "-" + std::to_string(n) +
                      ".sock"))
                        .string();
}

// Every transport, over IPv4, IPv6 and Unix-domain sockets.
inline const Traits kTransports[] = {
    {"inproc", [](int n) { return "inproc://conformance-" + std::to_string(n); }, true, true, false,
     8u << 20, true},
    {"tcp", [](int) { return std::string("tcp://127.0.0.1:0"); }, true, true, true, 8u << 20, true},
    {"tcp_any", [](int) { return std::string("tcp://*:0"); }, true, true, true, 1u << 20, true},
    {"rudp", [](int) { return std::string("rudp://127.0.0.1:0"); }, true, true, true, 8u << 20, true},
    {"udp", [](int) { return std::string("udp://127.0.0.1:0"); }, false, false, false, 65'507, false},
    {"udp_any", [](int) { return std::string("udp://*:0"); }, false, false, false, 65'507, false},
    {"ipc", ipc_uri, true, true, true, 8u << 20, true},
    {"tcp_v6", [](int) { return std::string("tcp://[::1]:0"); }, true, true, true, 8u << 20, true},
    {"rudp_v6", [](int) { return std::string("rudp://[::1]:0"); }, true, true, true, 8u << 20, true},
    {"udp_v6", [](int) { return std::string("udp://[::1]:0"); }, false, false, false, 65'507, false},
};

// The transports with (or, value false, without) a capability. A test that
// needs one is instantiated only where it applies: nothing is skipped, so a
// skip in CI always means something is missing.
inline std::vector<Traits> transports_where(bool Traits::*capability, bool value = true) {
  std::vector<Traits> chosen;
  for (const Traits& t : kTransports)
    if (t.*capability == value) chosen.push_back(t);
  return chosen;
}

// How many of `sent` messages must arrive on loopback: all of them on a
// reliable transport. udp:// may drop a datagram, but with 4 MiB socket
// buffers and a 1024-message queue nothing should overflow here: at least 90%
// must arrive, so that a transport that delivers nothing (or little) fails.
inline std::size_t must_arrive(const Traits& traits, std::size_t sent) {
  return traits.reliable ? sent : sent * 9 / 10;
}

// How long a receive waits before the stream is taken to have ended: on
// udp:// a lost message never comes, so only a quiet spell says it is over.
inline std::chrono::milliseconds quiet_spell(const Traits& traits) {
  using namespace std::chrono_literals;
  return traits.reliable ? 5000ms : 2000ms;
}

inline std::string transport_name(const ::testing::TestParamInfo<Traits>& info) {
  return info.param.name;
}

class TransportTest : public ::testing::TestWithParam<Traits> {
 protected:
  void SetUp() override {
    auto c = Context::create();
    ASSERT_TRUE(c) << c.error().message();
    context_ = std::move(*c);
  }
  std::unique_ptr<Port> bind(PortOptions options = {}) {
    static std::atomic<int> counter{0};
    auto port = Port::bind(*context_, GetParam().bind_uri(++counter), options);
    EXPECT_TRUE(port) << port.error().message();
    return std::move(port).value();
  }
  std::unique_ptr<Sender> connect(const Port& port, SenderOptions options = {}) {
    auto sender = Sender::connect(*context_, port.uri().to_string(), options);
    EXPECT_TRUE(sender) << sender.error().message();
    return std::move(sender).value();
  }
  std::unique_ptr<Context> context_;
};

}  // namespace nexo::msg::testing
