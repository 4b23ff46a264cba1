// `nexo tour`: a guided, narrated run through what nexo can do, on loopback only.
// Each stop shows one idea of the chapter with real sockets, and says what happened.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <ctime>
#include <future>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "chapter_servers.hpp"
#include "commands.hpp"
#include "tour_support.hpp"
#include "nexo/fault/plan.hpp"
#include "nexo/group/group.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "nexo/net/data_stream.hpp"
#include "nexo/net/multicast_socket.hpp"
#include "nexo/wire/examples.hpp"
#include "nexo/wire/remote_ref.hpp"
#include "nexo/wire/text.hpp"
#include "wire_formats.hpp"

namespace nexo::tool {
namespace {

using namespace std::chrono_literals;
using net::Endpoint;
using net::InetAddress;

using namespace tour_kit;

void addresses() {
  stop("Destinations are (Internet address, port) pairs");
  say("InetAddress parses literals and asks the resolver for names; Endpoint adds the port.");
  auto local = check(InetAddress::resolve("localhost"), "resolve localhost");
  std::string all;
  for (const auto& a : local)
    all += (all.empty() ? "" : ", ") + a.to_string();
  show("resolve(\"localhost\")", all);
  show("Endpoint::parse(\"[::1]:6789\")",
       check(Endpoint::parse("[::1]:6789"), "parse").to_string());
  show_error("Endpoint::make(127.0.0.1, 70000)", Endpoint::make(InetAddress::loopback(), 70000));
  show_error("resolve(\"no-such-host.invalid\")", InetAddress::resolve("no-such-host.invalid"));
}

void udp() {
  stop("UDP: datagrams, the chapter's UDPServer and UDPClient");
  auto server = check(UdpEchoServer::bind(Endpoint(InetAddress::loopback(), 0)), "udp bind");
  const Endpoint at = server.local_endpoint();
  say("An echo server bound to port 0 got the free port " + std::to_string(at.port()) +
      "; it echoes two datagrams.");
  ServeOptions options;
  options.count = 2;
  std::jthread serving([&] { (void)server.run(options); });
  show("udp send \"Hello\" → reply", check(udp_echo_request(at, "Hello", 2000ms), "udp echo"));
  show("udp send \"¿Qué tal?\" → reply",
       check(udp_echo_request(at, "¿Qué tal?", 2000ms), "udp echo"));
  serving.join();

  say("Receive has a timeout: nothing arrives, so after 50 ms the call says so.");
  auto lonely = check(net::UdpSocket::bind(Endpoint(InetAddress::loopback(), 0)), "bind");
  check(lonely.set_receive_timeout(50ms), "timeout");
  show_error("receive()", lonely.receive());

  say("A datagram larger than the buffer is reported, never silently cut.");
  auto sender = check(net::UdpSocket::bind(Endpoint(InetAddress::loopback(), 0)), "bind");
  check(sender.send_to(Bytes(2000), lonely.local_endpoint()), "send 2000 bytes");
  std::array<std::byte, 1000> small;
  Endpoint from;
  show_error("receive_from(1000-byte buffer)", lonely.receive_from(small, from));
  show_error("send_to(70,000 bytes)", sender.send_to(Bytes(70'000), lonely.local_endpoint()));

  say("connect() fixes the peer: a third socket's datagram is filtered out.");
  auto third = check(net::UdpSocket::bind(Endpoint(InetAddress::loopback(), 0)), "bind");
  check(lonely.connect(sender.local_endpoint()), "connect");
  check(third.send_to("from a stranger", lonely.local_endpoint()), "send");
  check(sender.send_to("from the peer", lonely.local_endpoint()), "send");
  show("connected receive() got", check(lonely.receive(), "receive").text());
}

void tcp() {
  stop("TCP: streams, the chapter's TCPServer (a thread per client) and TCPClient");
  auto server = check(TcpEchoServer::bind(Endpoint(InetAddress::loopback(), 0)), "tcp bind");
  const Endpoint at = server.local_endpoint();
  ServeOptions options;
  options.count = 1;
  std::jthread serving([&] { (void)server.run(options); });
  say("The client writes a string with writeUTF; the server reads it with readUTF and echoes it.");
  show("tcp send \"Asunción\" → received",
       check(tcp_echo_request(at, "Asunción", 2000ms), "tcp echo"));
  serving.join();

  say("DataWriter encodes items exactly as Java's DataOutputStream does:");
  net::DataWriter writer;
  writer.write_int(1984);
  show("writeInt(1984)", hex(writer.bytes()));
  writer.clear();
  check(writer.write_utf("Asunción"), "write_utf");
  show("writeUTF(\"Asunción\")", hex(writer.bytes()));

  say("TCP's failure model: the kinds of error say what happened.");
  auto listener = check(net::TcpListener::bind(Endpoint(InetAddress::loopback(), 0)), "listen");
  // The same port on 127.0.0.2: the listener holds it on 127.0.0.1, so no
  // wildcard bind can take it, and nobody binds 127.0.0.2 (never a port closed
  // and hoped to stay free).
  const Endpoint closed_port(InetAddress::v4({127, 0, 0, 2}), listener.local_endpoint().port());
  show_error("connect to a port nobody listens on", net::TcpStream::connect(closed_port, 1000ms));
  auto client = check(net::TcpStream::connect(listener.local_endpoint(), 1000ms), "connect");
  auto accepted = check(listener.accept(1000ms), "accept");
  check(client.set_read_timeout(50ms), "timeout");
  std::array<std::byte, 16> buffer;
  show_error("read() from a silent peer", client.read(buffer));
  check(accepted.shutdown_write(), "half-close");
  show_error("read() after the peer's shutdown_write()", client.read(buffer));
  auto second = check(net::TcpStream::connect(listener.local_endpoint(), 1000ms), "connect");
  auto doomed = check(listener.accept(1000ms), "accept");
  doomed.abort();  // what the peer's kernel does when a process dies with data unread
  check(second.set_read_timeout(1000ms), "timeout");
  show_error("read() after the peer aborted", second.read(buffer));
  say("A process cannot tell a crashed peer from a slow one or a broken network:");
  say("each is only a timeout, a reset or a close, seen from this side.");
}

void multicast() {
  stop("IP multicast: a group of two members on the loopback interface");
  auto lo = check(net::NetworkInterface::loopback(), "find the loopback interface");
  const auto group = check(InetAddress::parse("239.255.77.77"), "group");
  auto first = check(net::MulticastSocket::bind(0), "bind");
  const std::uint16_t port = first.local_endpoint().port();
  auto second = check(net::MulticastSocket::bind(port), "bind the same port");
  for (auto* member : {&first, &second}) {
    check(member->set_interface(lo), "interface");
    check(member->join(group, lo), "join");
    check(member->set_receive_timeout(2000ms), "timeout");
  }
  say("Both members bound port " + std::to_string(port) + " and joined " + group.to_string() +
      " on " + lo.name() + "; the first sends once.");
  check(first.send_to("hello, group", Endpoint(group, port)), "send to group");
  show("member 1 received", check(first.receive(), "receive").text());
  show("member 2 received", check(second.receive(), "receive").text());
  show_error("join(10.0.0.1)", first.join(check(InetAddress::parse("10.0.0.1"), "parse"), lo));
}

void message_passing() {
  stop("Message passing: a port with a queue, synchronous and asynchronous send");
  auto context = check(msg::Context::create(), "context");
  auto port = check(msg::Port::bind(*context, "tcp://127.0.0.1:0"), "bind a port");
  say("A port (one receiver, many senders, a queue of arrived messages) is bound at " +
      port->uri().to_string() + ".");
  auto sender = check(msg::Sender::connect(*context, port->uri().to_string()), "connect");

  say("Non-blocking receive, told by polling: the receive is posted first, then test()ed.");
  auto polled = port->receive_async();
  say("Asynchronous send returns once the message is copied; a Request says when it has left.");
  auto left = check(sender->send_async("sent asynchronously"), "send_async");
  check(left.wait(), "the message left");
  show("send_async → request.wait()", "left this process");
  int polls = 1;
  while (!polled.test()) {
    ++polls;
    std::this_thread::yield();
  }
  show("receive_async() polled " + std::to_string(polls) + " times",
       polled.result().value()->text());

  say("Non-blocking receive, told by callback (the chapter's interrupt): then(...).");
  std::promise<std::string> delivered;
  port->receive_async().then(
      [&](Result<msg::Message> m) { delivered.set_value(std::string(m->text())); });
  check(sender->send("delivered to a callback", 2000ms), "send");
  show("then(callback) ran with", delivered.get_future().get());

  say("Synchronous send returns only once the receiving process has taken the message:");
  std::jthread receiver([&] {
    std::this_thread::sleep_for(50ms);  // a receiver that takes its time
    (void)port->receive(2000ms);
  });
  const auto start = std::chrono::steady_clock::now();
  check(sender->send_sync("taken by the receiver", 2000ms), "send_sync");
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  show("send_sync waited for the receive", std::to_string(waited.count()) + " ms");
  receiver.join();

  say("Request-reply: the port answers on the connection the request came on.");
  std::jthread server([&] {
    auto request = port->receive(2000ms);
    if (request)
      (void)port->reply(*request, "it is " + std::to_string(std::time(nullptr)) + " s since 1970");
  });
  check(sender->send("what time is it?", 2000ms), "send the request");
  show("sender->receive() after send()", check(sender->receive(2000ms), "the reply").text());
  server.join();

  say("Queues are bounded: a full inproc:// port makes send_async say would_block.");
  msg::PortOptions small;
  small.queue.max_messages = 2;
  auto tiny = check(msg::Port::bind(*context, "inproc://tour-tiny", small), "bind");
  auto to_tiny = check(msg::Sender::connect(*context, "inproc://tour-tiny"), "connect");
  (void)check(to_tiny->send_async("one"), "send");
  (void)check(to_tiny->send_async("two"), "send");
  show_error("send_async(\"three\")", to_tiny->send_async("three"));
  show("the port's counters", port->stats().to_string());
}

void reliable_delivery() {
  stop("Failure models: UDP loses messages; reliable delivery built from acknowledgements");
  say("The same 1,000 messages, sent through an in-process fault plan that loses 20% of the");
  say("datagrams each way (seeded, so every run loses the same ones): over udp://, then rudp://.");
  auto context = check(msg::Context::create(), "context");
  fault::Direction lossy;
  lossy.loss = 0.2;
  for (const char* scheme : {"udp", "rudp"}) {
    auto port = check(msg::Port::bind(*context, std::string(scheme) + "://127.0.0.1:0"), "bind");
    msg::SenderOptions options;
    options.faults = fault::Plan::both_ways(lossy, 2026);
    auto sender =
        check(msg::Sender::connect(*context, port->uri().to_string(), options), "connect");
    for (int i = 0; i < 1000; ++i) {
      check(sender->send("message " + std::to_string(i), 5000ms), "send");
      if (i % 50 == 0) std::this_thread::sleep_for(1ms);  // udp://: stay within the socket buffer
    }
    check(sender->flush(10'000ms), "flush");
    int arrived = 0;
    const auto wait = std::string(scheme) == "udp" ? 300ms : 5000ms;
    while (arrived < 1000 && port->receive(wait))
      ++arrived;
    show(std::string(scheme) + ":// messages that arrived", std::to_string(arrived) + " of 1000");
    show(std::string(scheme) + ":// sender's counters", sender->stats().to_string());
  }
  say("udp:// shows the omission failures; rudp:// numbered the datagrams, had them acknowledged");
  say("and sent the missing ones again (retransmitted above): nothing lost, nothing duplicated,");
  say("in order. It cannot make the network reliable: if nothing comes back for broken_after,");
  say("it reports the connection broken, and cannot say whether the peer or the network failed.");
}

// Copies `from`'s events into `into` (each member's Group records on its own
// loop thread, into a Trace of its own: one picture needs them together).
void merge_trace(group::Trace& into, const group::Trace& from) {
  const auto& names = from.members();
  for (const auto& e : from.events()) {
    const std::string& who = names[e.member];
    switch (e.kind) {
      case group::TraceKind::sent: into.sent(e.at, who, e.message.seq, e.text); break;
      case group::TraceKind::delivered: into.delivered(e.at, who, e.message); break;
      case group::TraceKind::nak_sent:
        into.nak_sent(e.at, who, names[e.peer], e.first, e.last);
        break;
      case group::TraceKind::retransmitted:
        into.retransmitted(e.at, who, e.message, e.has_peer ? names[e.peer] : std::string());
        break;
      case group::TraceKind::sequencer_hop: into.sequencer_hop(e.at, who, e.message, e.first); break;
      case group::TraceKind::view_installed: {
        std::vector<std::string> view;
        for (auto m : e.view)
          view.push_back(names[m]);
        into.view_installed(e.at, who, e.first, view);
        break;
      }
      case group::TraceKind::crashed: into.crashed(e.at, who); break;
      case group::TraceKind::left: into.left(e.at, who); break;
      case group::TraceKind::note: into.note(e.at, who, e.text); break;
    }
  }
}

std::string view_line(const group::Group& g, const group::View& v) {
  std::string line = "view " + std::to_string(v.id) + ":";
  for (std::size_t i = 0; i < v.members.size(); ++i)
    line += (i == 0 ? " " : ", ") + g.name_of(v.members[i]);
  return line;
}

using GroupMembers = std::vector<std::unique_ptr<group::Group>>;

// Three members join through 10% loss and chat; every message reaches everyone.
void group_chat(GroupMembers& members, std::array<group::Trace, 3>& traces) {
  say("Three members join one group on loopback multicast; each loses 10% of the datagrams it");
  say("receives (a seeded fault plan). Sequence numbers, NAKs and retransmissions repair that.");
  say("The order is total: member 1, the view's first, is the sequencer that places each message");
  say("(its stamps are the diamonds in the diagram), and every member delivers in its order:");
  fault::Direction lossy;
  lossy.loss = 0.1;
  for (std::size_t i = 0; i < 3; ++i) {
    group::GroupOptions o;
    o.name = "tour-" + std::to_string(::getpid());
    o.port = members.empty() ? 0 : members.front()->port();
    o.faults = fault::Plan{{}, lossy, 2026 + i};
    o.order = group::Order::total;
    o.trace = &traces[i];
    members.push_back(check(group::Group::join(o), "join the group"));
  }
  show("the group (its name's address)", members[0]->address().to_string());
  for (auto& g : members) {  // each waits until it sees all three
    group::View v = g->view();
    while (v.members.size() < 3)
      v = check(g->next_view(v.id, 10'000ms), "a view of three");
  }
  show("every member's view", view_line(*members[0], members[0]->view()));
  constexpr int kEach = 10;
  for (int k = 1; k <= kEach; ++k)
    for (std::size_t i = 0; i < 3; ++i)
      check(members[i]->send("hello #" + std::to_string(k) + " from member " +
                                 std::to_string(i + 1),
                             5000ms),
            "send");
  std::uint64_t lost = 0, naks = 0, retransmissions = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    std::string first;
    for (int n = 0; n < 3 * kEach; ++n) {
      auto d = check(members[i]->receive(10'000ms), "receive");
      if (n == 0)
        first = members[i]->name_of(d.sender) + ": " +
                std::string(reinterpret_cast<const char*>(d.payload.data()), d.payload.size());
    }
    const auto c = members[i]->counters();
    lost += c.transport.faults_received.lost;
    naks += c.endpoint.reliability.naks_sent;
    retransmissions += c.endpoint.reliability.retransmissions;
    show("member " + std::to_string(i + 1) + " delivered " + std::to_string(3 * kEach) + " of " +
             std::to_string(3 * kEach) + ", first",
         first);
  }
  show("datagrams lost, NAKs, retransmissions",
       std::to_string(lost) + ", " + std::to_string(naks) + ", " + std::to_string(retransmissions) +
           " (every loss repaired)");
}

// Member 3 crashes; the others install a view without it; the run is drawn.
void group_crash(GroupMembers& members, std::array<group::Trace, 3>& traces) {
  say("");
  say("Now member 3 crashes: it stops, without a word. The others hear no heartbeat from it,");
  say("probe it, and after the detection time (1 s) install a view without it:");
  const std::string crashed = members[2]->name();
  const auto crashed_at = group::Clock::now();
  members[2].reset();
  traces[2].crashed(crashed_at, crashed);  // its loop has stopped: the trace is ours again
  for (std::size_t i = 0; i < 2; ++i) {
    group::View v = members[i]->view();
    while (v.members.size() != 2)
      v = check(members[i]->next_view(v.id, 10'000ms), "a view without the crashed member");
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(group::Clock::now() -
                                                                          crashed_at);
    show("member " + std::to_string(i + 1) + " after " + std::to_string(ms.count()) + " ms",
         view_line(*members[i], v));
  }
  for (std::size_t i = 0; i < 2; ++i)
    check(members[i]->leave(5000ms), "leave");
  members.clear();
  group::Trace all;
  for (const auto& t : traces)
    merge_trace(all, t);
  const auto path = std::filesystem::temp_directory_path() /
                    ("nexo-tour-group-" + std::to_string(::getpid()) + ".svg");
  check(group::write_svg_file(all, path), "write the space-time diagram");
  say("");
  say("The run as a space-time diagram (one timeline per member, an arrow per message, NAKs,");
  say("retransmissions, the sequencer's stamps, the views and the crash marked): open it in a");
  say("browser:");
  show("SVG written to", path.string());
}

void group_communication() {
  stop("Group communication: reliable, ordered multicast with views");
  std::array<group::Trace, 3> traces;
  GroupMembers members;
  group_chat(members, traces);
  group_crash(members, traces);
}

}  // namespace

void indent_block(std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    std::cout << "     " << text.substr(at, nl - at) << '\n';
    at = nl + 1;
  }
}

void marshalling() {
  stop("External data representation: one Person, every representation");
  auto person = wire::examples::make_person();
  say("The chapter's Person (name, place, year) is described once to nexo::wire and");
  say("marshalled from that one description into each external data representation:");
  indent_block(wire::to_text(person));
  std::cout << "     format   bytes  what the bytes are\n";
  for (const std::string& format : known_formats()) {
    wire::Buffer out;
    check(encode_as(format, person, out), "marshal " + format);
    std::printf("     %-7s %6zu  %s\n", format.c_str(), out.size(),
                std::string(wire_format_title(format)).c_str());
  }

  say("");
  say("The text representations carry the field names; the binary ones carry only values,");
  say("so both sides must agree on the type beforehand:");
  for (const std::string& format : known_formats()) {
    if (!wire_format_is_text(format)) continue;
    wire::Buffer out;
    check(encode_as(format, person, out), "marshal " + format);
    show(format, out.text());
  }

  say("");
  say("CDR big-endian, annotated: lengths count the terminating NUL, and padding aligns");
  say("each value to its size, counted from the start of the stream:");
  wire::AnnotatedBuffer be;
  check(encode_as("cdr-be", person, be), "marshal cdr-be");
  indent_block(wire::annotated_dump(be.bytes(), be.notes()));
  say("Receiver makes it right: the encapsulation's flag says big-endian, so this");
  say("little-endian machine swaps as it reads; little-endian input would be copied as is.");
  wire::examples::Person back;
  check(decode_as("cdr-be", be.bytes(), back), "unmarshal cdr-be");
  show("unmarshalled from big-endian CDR",
       back == person ? "the same Person" : "A DIFFERENT VALUE");

  say("");
  say("Protocol Buffers, annotated: each field is a key (field number << 3 | wire type),");
  say("then a varint, or a length and bytes; a field holding its default is left out:");
  wire::AnnotatedBuffer pb;
  check(encode_as("proto", person, pb), "marshal proto");
  indent_block(wire::annotated_dump(pb.bytes(), pb.notes()));

  say("");
  say("Java object serialization, annotated: a class descriptor (name, serialVersionUID,");
  say("field names and types) precedes the values, and every object, string and class");
  say("gets a handle so that shared objects and cycles can be written as references.");
  say("java.io.ObjectInputStream reads these bytes into the Java class Person:");
  wire::AnnotatedBuffer js;
  check(encode_as("java", person, js), "marshal java");
  indent_block(wire::annotated_dump(js.bytes(), js.notes()));

  say("");
  say("Bad input is an error naming the byte offset and the reason, never a crash:");
  Bytes hostile = be.to_vector();
  hostile[4] = hostile[5] = hostile[6] = hostile[7] = std::byte{0xff};  // name's length
  wire::examples::Person ignored;
  show_error("a string length of 4294967295", decode_as("cdr-be", hostile, ignored));
  show_error("the first 17 bytes only",
             decode_as("cdr-be", std::span<const std::byte>(be.bytes()).first(17), ignored));

  say("");
  say("A remote object reference names an object in another process: Internet address,");
  say("port, time of creation, object number, interface. In text and in CDR:");
  auto ref = check(wire::RemoteObjectRef::make("127.0.0.1", 1099, 1764000000, 7, "Person"),
                   "a remote object reference");
  show("text form", ref.to_string());
  wire::Buffer ref_cdr;
  wire::cdr::encode(ref, ref_cdr, wire::cdr::Endian::big);
  show("CDR, big-endian (" + std::to_string(ref_cdr.size()) + " bytes)", hex(ref_cdr.bytes()));
}

void message_passing_interface() {
  stop("MPI: message passing between the processes of a parallel program");
  say("nexo's MPI runs standard MPI programs (nexocc to compile, nexorun to launch). Here four");
  say("ranks on this host exchange messages through rings in shared memory:");
  std::cout.flush();
  if (mpi_demo(MpiDemoArgs{4}) != 0)
    throw TourFailure{Error(ErrorKind::system, "the MPI demo's ranks failed")};
  say("");
  say("Small messages go eagerly (the receiver keeps them until a receive matches); large ones");
  say("wait for the receive (rendezvous) and are copied once. MPI_Ssend returns only once the");
  say("receive has started. `nexo mpi demo -n 3` runs it with other rank counts.");
}

int tour() {
  std::cout << "nexo tour: the middleware layers of interprocess communication, run for real.\n"
               "Everything happens on this machine's loopback interface.\n";
  try {
    addresses();
    udp();
    tcp();
    multicast();
    message_passing();
    reliable_delivery();
    marshalling();
    group_communication();
    message_passing_interface();
    overlay_network();
  } catch (const TourFailure& failure) {
    std::cerr << "nexo tour: " << failure.error.message() << '\n';
    return 1;
  }
  std::cout << "\nTour complete.\n";
  return 0;
}

}  // namespace nexo::tool
