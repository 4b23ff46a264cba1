// Uses the installed nexo, one layer at a time, as a user would: an Error with
// context (base), a UDP datagram to itself on loopback carrying a type the
// consumer describes itself, marshalled in CDR (net, wire), a task on an I/O
// thread (io), a fault plan that loses everything (fault), a CRC-32C
// (reliable), and a message through an inproc:// port (msg). Prints one line
// per layer; exits non-zero on the first that does not work.
#include <nexo/base/error.hpp>
#include <nexo/fault/injector.hpp>
#include <nexo/io/loop_thread.hpp>
#include <nexo/msg/context.hpp>
#include <nexo/msg/port.hpp>
#include <nexo/msg/sender.hpp>
#include <nexo/net/udp_socket.hpp>
#include <nexo/reliable/checksum.hpp>
#include <nexo/group/member.hpp>
#include <nexo/wire/cdr.hpp>

#include <chrono>
#include <iostream>
#include <string>

struct Greeting {
  std::string text;
  std::int32_t number = 0;
};
constexpr auto nexo_wire_describe(const Greeting*) {
  return nexo::wire::describe<Greeting>("greeting")
      .field("text", &Greeting::text)
      .field("number", &Greeting::number);
}

namespace {

using namespace std::chrono_literals;

bool fail(const std::string& what) {
  std::cerr << "consumer: " << what << '\n';
  return false;
}

bool use_base() {
  const auto error = nexo::Error(nexo::ErrorKind::timed_out, "waiting").with_context("consumer");
  if (!error.is(nexo::ErrorKind::timed_out) || error.message().find("consumer") == std::string::npos)
    return fail("base: " + error.to_string());
  std::cout << "base: " << error.to_string() << '\n';
  return true;
}

bool use_net_and_wire() {
  using namespace nexo::net;
  namespace cdr = nexo::wire::cdr;
  auto socket = UdpSocket::bind(Endpoint(InetAddress::loopback(), 0));
  if (!socket) return fail("net: " + socket.error().message());
  nexo::wire::Buffer bytes;
  cdr::encode_encapsulated(Greeting{"installed", 42}, bytes);
  if (auto sent = socket->send_to(bytes.bytes(), socket->local_endpoint()); !sent)
    return fail("net: " + sent.error().message());
  (void)socket->set_receive_timeout(std::chrono::seconds(5));
  auto datagram = socket->receive();
  if (!datagram) return fail("net: " + datagram.error().message());
  auto greeting = cdr::decode_encapsulated<Greeting>(datagram->payload);
  if (!greeting) return fail("wire: " + greeting.error().message());
  if (greeting->text != "installed" || greeting->number != 42) return fail("wire: wrong greeting");
  std::cout << "net, wire: received " << greeting->text << ' ' << greeting->number << '\n';
  return true;
}

bool use_io() {
  auto io = nexo::io::LoopThread::start();
  if (!io) return fail("io: " + io.error().message());
  auto answer = (*io)->call<int>([&]() -> nexo::Result<int> {
    return (*io)->in_loop_thread() ? 42 : 0;
  });
  if (!answer || *answer != 42) return fail("io: the task did not run on the loop thread");
  std::cout << "io: a task ran on the loop thread\n";
  return true;
}

bool use_fault() {
  nexo::fault::Direction lose_all;
  lose_all.loss = 1;
  nexo::fault::Injector injector(lose_all, 7);
  const nexo::fault::Clock::time_point now{};
  injector.push(nexo::as_bytes(std::string_view("lost")), now);
  const auto delivered = injector.pop_due(now, [](auto, const auto&) {});
  if (delivered != 0 || injector.counters().lost != 1) return fail("fault: nothing was lost");
  std::cout << "fault: " << injector.counters().to_string() << '\n';
  return true;
}

bool use_reliable() {
  const auto crc = nexo::reliable::crc32c(nexo::as_bytes(std::string_view("123456789")));
  if (crc != 0xE3069283u) return fail("reliable: crc32c(\"123456789\") = " + std::to_string(crc));
  std::cout << "reliable: crc32c(\"123456789\") = 0xE3069283\n";
  return true;
}

bool use_msg() {
  auto context = nexo::msg::Context::create();
  if (!context) return fail("msg: " + context.error().message());
  auto port = nexo::msg::Port::bind(**context, "inproc://consumer");
  if (!port) return fail("msg: " + port.error().message());
  auto sender = nexo::msg::Sender::connect(**context, "inproc://consumer");
  if (!sender) return fail("msg: " + sender.error().message());
  if (auto sent = (*sender)->send("over inproc", 5s); !sent) return fail("msg: " + sent.error().message());
  auto m = (*port)->receive(5s);
  if (!m) return fail("msg: " + m.error().message());
  if (m->text() != "over inproc") return fail("msg: received '" + std::string(m->text()) + "'");
  std::cout << "msg: received " << m->text() << '\n';
  return true;
}

bool use_group() {
  nexo::group::MemberConfig config;
  config.group = nexo::group::group_tag("consumer");
  config.self = 1;
  config.members = {1};
  auto member = nexo::group::Member::create(config, nexo::group::Time{});
  if (!member) return fail("group: " + member.error().message());
  if (auto sent = member->send(nexo::as_bytes(std::string_view("alone")), nexo::group::Time{});
      !sent)
    return fail("group: " + sent.error().message());
  auto delivered = member->poll_delivery();
  if (!delivered || nexo::as_text(delivered->payload) != "alone")
    return fail("group: the member did not deliver its own message");
  std::cout << "group: delivered " << nexo::as_text(delivered->payload) << '\n';
  return true;
}

}  // namespace

int main() {
  return use_base() && use_net_and_wire() && use_io() && use_fault() && use_reliable() &&
                 use_msg() && use_group()
             ? 0
             : 1;
}
