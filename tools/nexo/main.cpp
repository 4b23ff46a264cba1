// nexo — the command-line face of nexo: the chapter's programs, and the tour.
//
//   nexo udp serve | udp send      the chapter's UDPServer / UDPClient (port 6789)
//   nexo tcp serve | tcp send      the chapter's TCPServer / TCPClient (port 7896)
//   nexo mcast peer                the chapter's MulticastPeer
//   nexo resolve NAME              every address of a host name
//   nexo fault-proxy               a UDP relay with a failure model to order
//   nexo marshal | unmarshal       a value in CDR, protobuf, JSON, XML, Java serialization, bencode
//   nexo stat [PID]                live counters of running nexo programs
//   nexo group join NAME           a member of a process group: stdin sent, deliveries printed
//   nexo mpi demo [-n N]           MPI ranks on this host walk through message passing
//   nexo overlay put|get|node|sim  a Mainline DHT node; the DHT simulator
//   nexo tour                      a guided, narrated run through nexo
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <iostream>
#include <string>

#include "commands.hpp"
#include "nexo/overlay/node_id.hpp"
#include "options.hpp"
#include "terminal_text.hpp"

namespace {

using nexo::tool::ClientArgs;
using nexo::tool::MulticastArgs;
using nexo::tool::ServerArgs;

// The deepest command the parser reached ("nexo udp send"), for error messages.
const CLI::App* deepest_command(const CLI::App* app, std::string& path) {
  path = app->get_name();
  for (;;) {
    auto parsed = app->get_subcommands();
    if (parsed.empty()) return app;
    app = parsed.front();
    path += " " + app->get_name();
  }
}

// One clear line on stderr for every usage error, naming the command; exit 2.
int usage_error(const CLI::App& app, const CLI::ParseError& e) {
  std::string path;
  const CLI::App* command = deepest_command(&app, path);
  std::string line = path + ": " + e.what();
  auto subcommands = command->get_subcommands({});
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && !subcommands.empty()) {
    line += "; one of:";
    for (const CLI::App* sub : subcommands)
      line += " " + sub->get_name();
  }
  std::cerr << nexo::tool::printable(line) << " (see --help)\n";
  return 2;
}

namespace opt = nexo::tool::options;

void add_server(CLI::App& parent, const std::string& description, const std::string& default_port,
                ServerArgs& args, int (*run)(const ServerArgs&), int& status) {
  CLI::App* cmd = parent.add_subcommand("serve", description);
  args.port = default_port;
  cmd->add_option("--port", args.port, "port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(opt::port(true));
  cmd->add_option("--bind", args.bind, "address to listen on (default: every interface)");
  cmd->add_option("--count", args.count, "stop after N requests (default: serve for ever)")
      ->check(opt::count(1));
  cmd->callback([&args, run, &status] { status = run(args); });
}

void add_client(CLI::App& parent, const std::string& description, const std::string& default_port,
                ClientArgs& args, int (*run)(const ClientArgs&), int& status) {
  CLI::App* cmd = parent.add_subcommand("send", description);
  args.port = default_port;
  args.timeout_ms = 5000;
  cmd->add_option("MESSAGE", args.message, "text to send")->required();
  cmd->add_option("HOST", args.host, "server host name or address")->required();
  cmd->add_option("--port", args.port, "server port")
      ->capture_default_str()
      ->check(opt::port(false));
  cmd->add_option("--timeout", args.timeout_ms, "milliseconds to wait for the reply (0: for ever)")
      ->capture_default_str()
      ->check(opt::timeout());
  cmd->callback([&args, run, &status] { status = run(args); });
}

void add_multicast(CLI::App& app, MulticastArgs& args, int& status) {
  CLI::App* mcast = app.add_subcommand("mcast", "IP multicast (the chapter's MulticastPeer)");
  mcast->require_subcommand(1);
  CLI::App* peer = mcast->add_subcommand(
      "peer", "join GROUP, send MESSAGE to it, print N datagrams received from it, leave");
  args.port = "6789";
  args.timeout_ms = 10'000;
  peer->add_option("MESSAGE", args.message, "text to send to the group")->required();
  peer->add_option("GROUP", args.group, "group address: 224.0.0.0/4 or ff00::/8")->required();
  peer->add_option("--port", args.port, "group port (the members agree on it: not 0)")
      ->capture_default_str()
      ->check(opt::port(false));
  peer->add_option("--count", args.count, "datagrams to receive before leaving (0: send only)")
      ->capture_default_str()
      ->check(opt::count(0));
  args.interface = "lo";
  peer->add_option("--interface", args.interface,
                   "interface to join and send on, by name or address; the loopback interface "
                   "unless told otherwise, so nothing leaves this host by accident")
      ->capture_default_str();
  peer->add_option("--timeout", args.timeout_ms,
                   "milliseconds to wait for each datagram (0: for ever)")
      ->capture_default_str()
      ->check(opt::timeout());
  peer->add_option("--ttl", args.ttl, "hops the datagram may travel (0..255)")
      ->capture_default_str()
      ->check(CLI::Range(0, 255));
  peer->add_flag("!--no-loopback", args.loopback, "do not receive this host's own datagrams");
  peer->callback([&args, &status] { status = nexo::tool::mcast_peer(args); });
}

void add_message_passing(CLI::App& app, nexo::tool::SendArgs& send, nexo::tool::RecvArgs& recv,
                         nexo::tool::PingArgs& ping, int& status) {
  CLI::App* s = app.add_subcommand(
      "send", "send MESSAGE to the port at URI (tcp://, udp://, rudp://, inproc://)");
  s->add_option("URI", send.uri, "where: tcp://HOST:PORT, udp://HOST:PORT, rudp://HOST:PORT")
      ->required()
      ->check(opt::uri(opt::UriUse::connect));
  s->add_option("MESSAGE", send.message,
                "text to send; - : each line of standard input is one message (until its end)")
      ->required();
  s->add_flag("--sync", send.sync, "synchronous: return once the receiver has taken it");
  s->add_flag("--reply", send.reply,
              "wait for the port's reply to each message and print 'Reply: <text>' "
              "(tcp://; run nexo recv --echo there)");
  CLI::Option* send_count = s->add_option("--count", send.count, "send it N times (not with -)")
                                ->capture_default_str()
                                ->check(opt::count(1));
  s->add_flag("--numbered", send.numbered,
              "append ' 0', ' 1', ... to the message, one number per send");
  s->add_flag("--quiet", send.quiet, "print nothing per message");
  s->add_option("--timeout", send.timeout_ms, "milliseconds to connect and to send (0: for ever)")
      ->capture_default_str()
      ->check(opt::timeout());
  s->add_flag("--stats", send.stats, "print the sender's counters at the end");
  s->callback([&send, send_count, &status] {
    if (send.message == "-" && send_count->count() > 0)
      throw CLI::ValidationError("--count", "not with MESSAGE - (each line is sent once)");
    status = nexo::tool::msg_send(send);
  });

  CLI::App* r = app.add_subcommand("recv", "bind a port at URI and print each message received");
  r->add_option("URI", recv.uri, "where: tcp://*:PORT, udp://*:PORT (0: any free port)")
      ->required()
      ->check(opt::uri(opt::UriUse::bind));
  r->add_option("--count", recv.count, "stop after N messages (default: for ever)")
      ->check(opt::count(1));
  r->add_option("--timeout", recv.timeout_ms, "milliseconds to wait for each message (0: for ever)")
      ->check(opt::timeout());
  r->add_flag("--quiet", recv.quiet, "do not print the messages");
  r->add_flag("--echo", recv.echo, "reply to each message with its own bytes (Port::reply)");
  r->add_flag("--stats", recv.stats,
              "print the port's counters (and each connection's) at the end");
  r->callback([&] { status = nexo::tool::msg_recv(recv); });

  CLI::App* p =
      app.add_subcommand("ping", "time synchronous sends to the port at URI (run nexo recv there)");
  p->add_option("URI", ping.uri, "where: tcp://HOST:PORT")
      ->required()
      ->check(opt::uri(opt::UriUse::connect));
  p->add_option("--count", ping.count, "round trips")->capture_default_str()->check(opt::count(1));
  p->add_option("--size", ping.size, "message size in bytes (up to 16M)")
      ->capture_default_str()
      ->transform(opt::size(0, 16u << 20));  // rewrites 1k as 1024
  p->add_option("--timeout", ping.timeout_ms, "milliseconds to wait for each (0: for ever)")
      ->capture_default_str()
      ->check(opt::timeout());
  p->add_flag("--reply", ping.reply,
              "time send + reply round trips instead (run nexo recv --echo there)");
  p->add_flag("--stats", ping.stats, "print the sender's counters at the end");
  p->callback([&] { status = nexo::tool::msg_ping(ping); });
}

void add_group(CLI::App& app, nexo::tool::GroupArgs& args, int& status) {
  CLI::App* group = app.add_subcommand(
      "group", "process groups: reliable, ordered multicast with views (group::Group)");
  group->require_subcommand(1);
  CLI::App* join = group->add_subcommand(
      "join",
      "join group NAME (returns once in a view), send each line of standard input, print "
      "each delivery as '<member>: <text>' and each view on stderr as 'view <id>: <member>, "
      "...'; at the end of input leave cleanly and exit 0; at SIGINT (Ctrl-C) or SIGTERM "
      "leave cleanly at once and exit 130 or 143 (a second one exits without waiting)");
  join->add_option("NAME", args.name, "the group's name (its address: 239.a.b.c by its hash)")
      ->required();
  join->add_option("--order", args.order, "delivery order")
      ->capture_default_str()
      ->check(CLI::IsMember({"fifo", "causal", "total", "agreed"}));
  join->add_option("--interface", args.interface,
                   "interface to join and send on, by name or address; the loopback interface "
                   "unless told otherwise, so nothing leaves this host by accident")
      ->capture_default_str();
  join->add_option("--address", args.address,
                   "the group's address instead of the name's: 224.0.0.0/4 or ff00::/8");
  join->add_option("--port", args.port,
                   "the group's port (multicast; 0: any free port, printed), or this member's own "
                   "port with --members")
      ->capture_default_str()
      ->check(opt::port(true));
  join->add_option("--members", args.members,
                   "unicast fan-out instead of multicast, starting from these members: "
                   "HOST:PORT,...");
  join->add_flag("--unicast", args.unicast,
                 "unicast fan-out with no --members yet: the first member, whose HOST:PORT the "
                 "others give as --members");
  join->add_flag("--stats", args.stats, "print the member's counters on stderr at the end");
  join->add_option("--trace", args.trace, "write the run as an SVG space-time diagram to FILE");
  join->add_option("--loss", args.loss, "probability a datagram is lost")
      ->check(CLI::Range(0.0, 1.0));
  join->add_option("--dup", args.dup, "probability of a duplicate")->check(CLI::Range(0.0, 1.0));
  join->add_option("--reorder", args.reorder,
                   "probability a datagram is held back behind later ones")
      ->check(CLI::Range(0.0, 1.0));
  join->add_option("--seed", args.seed,
                   "seed of the fault generator (replayable; default: drawn, and printed)")
      ->check(opt::count(0));
  join->add_option("--direction", args.direction,
                   "the datagrams the faults act on: back (received), to (sent), both")
      ->capture_default_str()
      ->check(CLI::IsMember({"both", "to", "back"}));
  join->add_option("--detection-time", args.detection_time,
                   "a crashed member leaves the view within this: 1s, 500ms")
      ->capture_default_str()
      ->check(opt::duration());
  join->add_option("--timeout", args.timeout_ms,
                   "milliseconds to wait for a view when joining, and for the leave")
      ->capture_default_str()
      ->check(CLI::Range(1LL, opt::kMaxTimeoutMs));
  join->callback([&args, &status] { status = nexo::tool::group_join(args); });
}

void add_overlay(CLI::App& app, nexo::tool::OverlayArgs& args, nexo::tool::OverlaySimArgs& sim,
                 int& status) {
  CLI::App* overlay = app.add_subcommand(
      "overlay", "a Mainline DHT node (BEP 5, 44): put, get, a node with a prompt, the simulator");
  overlay->require_subcommand(1);
  const auto bootstrap = [&args](CLI::App* cmd, bool required) {
    auto* o = cmd->add_option("--bootstrap", args.bootstrap,
                              "a node of the DHT to join through: HOST:PORT or [IPv6]:PORT")
                  ->check(opt::host_port());
    if (required) o->required();
  };
  CLI::App* put = overlay->add_subcommand(
      "put",
      "store TEXT in the DHT as an immutable item (a bencoded byte string) and print its key "
      "(40 hex digits); a one-shot, read-only node (BEP 43) on an ephemeral port");
  put->add_option("TEXT", args.text, "the value (at most ~990 bytes)")->required();
  bootstrap(put, true);
  put->callback([&] { status = nexo::tool::overlay_put(args); });

  CLI::App* get = overlay->add_subcommand(
      "get",
      "print the immutable item stored under KEY (its text, for a byte string; else its "
      "bencoded form); exit 1 when no node holds it");
  get->add_option("KEY", args.key, "the item's key: 40 hex digits (SHA-1 of the bencoded value)")
      ->required()
      ->check(CLI::Validator(
          [](std::string& key) -> std::string {
            const bool ok = key.size() == 40 && std::all_of(key.begin(), key.end(), [](char c) {
                              return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                            });
            return ok ? std::string() : "'" + key + "' is not a key: 40 hex digits";
          },
          "KEY", "hex key"));
  bootstrap(get, true);
  get->callback([&] { status = nexo::tool::overlay_get(args); });

  CLI::App* node = overlay->add_subcommand(
      "node",
      "run a DHT node: prints 'node ADDRESS id HEX', then takes commands on standard input: "
      "put TEXT, get KEY, lookup KEY (the k closest nodes), join TOPIC, leave TOPIC, "
      "publish TOPIC TEXT (overlay multicast: a member prints '[TOPIC] TEXT (from HOST:PORT)'), "
      "stats, quit (or end of input)");
  node->add_option("--port", args.port, "UDP port (0: any free port, printed)")
      ->capture_default_str()
      ->check(opt::port(true));
  node->add_option("--bind", args.bind,
                   "address to bind; loopback unless told otherwise, so nothing leaves this "
                   "host by accident")
      ->capture_default_str();
  node->add_option("--id", args.id,
                   "the node's id, 40 hex digits (default: derived per BEP 42 from --bind when it "
                   "is a public address, else random)")
      ->check(CLI::Validator(
          [](std::string& id) {
            return nexo::overlay::NodeId::from_hex(id) ? std::string()
                                                       : "'" + id + "' is not an id: 40 hex digits";
          },
          "HEX", "node id"));
  bootstrap(node, false);
  node->callback([&] { status = nexo::tool::overlay_node(args); });

  CLI::App* s = overlay->add_subcommand(
      "sim",
      "run DHT nodes on a simulated network (virtual time): N join (each bootstraps from a "
      "random node that joined), then operations run concurrently (200 started per virtual "
      "second, at most 300 in flight) from random joined nodes. Without --churn: L lookups "
      "(find_node of random targets); one succeeds when its k = 8 nodes are exactly the 8 live "
      "nodes closest to the target. With --churn: nodes are replaced after exponential "
      "lifetimes (newcomers bootstrap from a random joined node); L/10 items are put, the "
      "churn runs 2 lifetimes, then L gets (and a put with every 10th); a lookup is then a "
      "get, and it succeeds when it returns the value put; a get whose requester dies before "
      "it completes is not counted. Prints hops (lookup rounds), latencies, histograms, and "
      "ends with 'lookups L, success P%, hops p50 A p99 B, datagrams per lookup C'");
  s->add_option("--nodes", sim.nodes, "how many nodes")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{2}, std::size_t{1'000'000}));
  s->add_option("--churn", sim.churn, "mean lifetime of a node under churn: 30s, 500ms")
      ->check(opt::duration());
  s->add_option("--lookups", sim.lookups, "how many lookups")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  s->add_option("--seed", sim.seed, "seed of every random draw (replayable)")
      ->capture_default_str()
      ->check(opt::count(0));
  s->add_option("--plot", sim.plot,
                "write an SVG picture: hop and latency histograms, success over time");
  s->callback([&] { status = nexo::tool::overlay_sim(sim); });
}

// `nexo overlay superpeers`: the super-peer tier on the simulator (the chapter's Skype).
void add_overlay_superpeers(CLI::App& app, nexo::tool::OverlaySuperArgs& args, int& status) {
  CLI::App* overlay = app.get_subcommand("overlay");
  CLI::App* s = overlay->add_subcommand(
      "superpeers",
      "run the super-peer tier on a simulated network (virtual time), as Skype's: peers join "
      "one by one, a share behind NATs; reachable peers that stay up become super peers and "
      "run the DHT, the others attach to one; every user is messaged by name (direct, or "
      "relayed by the callee's super peer when it is behind a NAT); then the most loaded "
      "super peers crash and their peers fail over. Ends with 'peers N, super peers S, "
      "attached A/O, reached R/N (relayed V), failover F/C in p50 X s max Y s' and exits 1 "
      "when anything failed");
  s->add_option("--peers", args.peers, "how many peers")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{2}, std::size_t{20'000}));
  s->add_option("--nat", args.nat, "the share of peers behind a NAT")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.95));
  s->add_option("--crash", args.crash, "how many super peers crash (the most loaded)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{1'000}));
  s->add_option("--seed", args.seed, "seed of every random draw (replayable)")
      ->capture_default_str()
      ->check(opt::count(0));
  s->callback([&] { status = nexo::tool::overlay_superpeers(args); });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nexo: interprocess communication, from sockets to MPI", "nexo"};
  app.require_subcommand(1);
  int status = 0;

  ServerArgs udp_server, tcp_server;
  ClientArgs udp_client, tcp_client;
  MulticastArgs multicast;
  std::string name;

  CLI::App* udp = app.add_subcommand("udp", "UDP datagrams (the chapter's UDPClient/UDPServer)");
  udp->require_subcommand(1);
  add_server(*udp, "echo every datagram back to its sender", "6789", udp_server,
             nexo::tool::udp_serve, status);
  add_client(*udp, "send MESSAGE to HOST and print 'Reply: <text>'", "6789", udp_client,
             nexo::tool::udp_send, status);

  CLI::App* tcp = app.add_subcommand("tcp", "TCP streams (the chapter's TCPClient/TCPServer)");
  tcp->require_subcommand(1);
  add_server(*tcp, "a thread per connection: read one writeUTF string, write it back", "7896",
             tcp_server, nexo::tool::tcp_serve, status);
  add_client(*tcp, "send MESSAGE with writeUTF to HOST and print 'Received: <text>'", "7896",
             tcp_client, nexo::tool::tcp_send, status);

  add_multicast(app, multicast, status);

  nexo::tool::SendArgs send;
  nexo::tool::RecvArgs recv;
  nexo::tool::PingArgs ping;
  add_message_passing(app, send, recv, ping, status);

  nexo::tool::FaultProxyArgs proxy;
  CLI::App* fp = app.add_subcommand(
      "fault-proxy",
      "relay UDP from --listen to --to, losing, duplicating, reordering, delaying and corrupting "
      "datagrams as told; prints its counters on exit (SIGINT/SIGTERM); SIGUSR1 toggles a "
      "partition");
  fp->add_option("--listen", proxy.listen, "port to listen on (0: any free port)")
      ->required()
      ->check(opt::port(true));
  fp->add_option("--bind", proxy.bind, "address to listen on")->capture_default_str();
  fp->add_option("--to", proxy.to, "where to relay: HOST:PORT or [IPv6]:PORT")
      ->required()
      ->check(opt::host_port());
  fp->add_option("--loss", proxy.loss, "probability a datagram is lost")
      ->check(CLI::Range(0.0, 1.0));
  fp->add_option("--burst", proxy.burst, "mean length of a run of losses (1: independent)")
      ->check(CLI::Range(1.0, 1e9));
  fp->add_option("--dup", proxy.dup, "probability of a duplicate")->check(CLI::Range(0.0, 1.0));
  fp->add_option("--reorder", proxy.reorder,
                 "probability a datagram is held back behind later ones")
      ->check(CLI::Range(0.0, 1.0));
  fp->add_option("--reorder-window", proxy.reorder_window, "held back behind at most this many")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  fp->add_option("--delay", proxy.delay, "added delay: 5ms, 500us, 1s")
      ->capture_default_str()
      ->check(opt::duration());
  fp->add_option("--jitter", proxy.jitter, "the delay varies within ± this")
      ->capture_default_str()
      ->check(opt::duration());
  fp->add_option("--corrupt", proxy.corrupt, "probability one bit is flipped")
      ->check(CLI::Range(0.0, 1.0));
  fp->add_option("--seed", proxy.seed, "seed of the fault generator (replayable)")
      ->capture_default_str()
      ->check(opt::count(0));
  fp->add_option("--direction", proxy.direction, "which way to apply the faults")
      ->capture_default_str()
      ->check(CLI::IsMember({"both", "to", "back"}));
  fp->add_option("--max-sessions", proxy.max_sessions,
                 "clients relayed at once; a new client beyond them takes the place of the one "
                 "idle longest (counted as evicted)")
      ->capture_default_str()
      ->check(opt::count(1));
  fp->add_option("--max-held", proxy.max_held,
                 "bytes held for --delay and --reorder in each direction (64k..1024G, suffix k, M "
                 "or G); a datagram that does not fit is dropped (counted as overflow)")
      ->default_str("64M")
      ->transform(opt::size(64u << 10, std::uint64_t{1} << 40));  // rewrites 64k as 65536
  fp->add_option("--duration", proxy.duration, "stop after this long (default: at SIGINT/SIGTERM)")
      ->check(opt::duration());
  fp->callback([&] { status = nexo::tool::fault_proxy(proxy); });

  nexo::tool::MarshalArgs marshal;
  CLI::App* m = app.add_subcommand(
      "marshal", "print an example value in a wire format, as an annotated hex dump");
  m->add_option("--format", marshal.format, "the representation")
      ->required()
      ->check(CLI::IsMember(nexo::tool::wire_format_names()));
  m->add_option("--example", marshal.example, "the value")
      ->capture_default_str()
      ->check(CLI::IsMember(nexo::tool::wire_example_names()));
  m->add_option("--output", marshal.output,
                "dump (annotated hex), raw (the bytes themselves) or hex")
      ->capture_default_str()
      ->check(CLI::IsMember({"dump", "raw", "hex"}));
  m->add_flag("--pretty", marshal.pretty, "JSON and XML: indented");
  m->callback([&] { status = nexo::tool::wire_marshal(marshal); });

  nexo::tool::UnmarshalArgs unmarshal;
  CLI::App* u = app.add_subcommand(
      "unmarshal", "read an example type from bytes in a wire format and print the value");
  u->add_option("--format", unmarshal.format, "the representation")
      ->required()
      ->check(CLI::IsMember(nexo::tool::wire_format_names()));
  u->add_option("--example", unmarshal.example, "the type the bytes hold")
      ->capture_default_str()
      ->check(CLI::IsMember(nexo::tool::wire_example_names()));
  u->add_option("FILE", unmarshal.input, "the bytes (- : standard input)")->capture_default_str();
  u->add_flag("--hex", unmarshal.hex, "the input is hex text (as nexo marshal --output hex)");
  u->callback([&] { status = nexo::tool::wire_unmarshal(unmarshal); });

  CLI::App* resolve = app.add_subcommand("resolve", "print every address of a host name");
  resolve->add_option("NAME", name, "host name or address")->required();
  resolve->callback([&] { status = nexo::tool::resolve(name); });

  nexo::tool::GroupArgs group;
  add_group(app, group, status);

  nexo::tool::MpiDemoArgs mpi_demo;
  CLI::App* mpi = app.add_subcommand(
      "mpi", "MPI message passing (compile programs with nexocc, run them with nexorun)");
  mpi->require_subcommand(1);
  CLI::App* demo = mpi->add_subcommand(
      "demo",
      "N ranks on this host (processes on one shared-memory segment) show eager and rendezvous "
      "sends, standard and synchronous mode, wildcards, collectives and split communicators");
  demo->add_option("-n,--ranks", mpi_demo.ranks, "how many ranks")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  demo->callback([&] { status = nexo::tool::mpi_demo(mpi_demo); });
  CLI::App* demo_rank = mpi->add_subcommand("demo-rank", "one rank of the demo (started by it)");
  demo_rank->group("");  // hidden: the demo starts it
  demo_rank->callback([&] { status = nexo::tool::mpi_demo_rank(); });

  nexo::tool::OverlayArgs overlay;
  nexo::tool::OverlaySimArgs overlay_sim;
  add_overlay(app, overlay, overlay_sim, status);
  nexo::tool::OverlaySuperArgs overlay_super;
  add_overlay_superpeers(app, overlay_super, status);

  nexo::tool::StatArgs stat;
  CLI::App* st = app.add_subcommand(
      "stat", "live counters of a running nexo program (no PID: list those that publish)");
  st->add_option("PID", stat.pid, "the process");
  st->add_flag("--watch", stat.watch, "redraw every --interval seconds");
  st->add_option("--interval", stat.interval, "seconds between reports")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  st->add_option("--count", stat.count, "with --watch: stop after N reports")->check(opt::count(1));
  st->add_flag("--prometheus", stat.prometheus, "print the Prometheus text format");
  st->callback([&] { status = nexo::tool::stat(stat); });

  CLI::App* tour =
      app.add_subcommand("tour", "a guided, narrated run through nexo (loopback only)");
  tour->callback([&] { status = nexo::tool::tour(); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    return usage_error(app, e);
  }
  return status;
}
