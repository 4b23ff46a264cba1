// The subcommands of the `nexo` tool. Each returns the process exit status
// and prints errors as one line on stderr ("nexo udp send: <reason>").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nexo::tool {

struct ServerArgs {
  std::string port;  // validated by the command (message names the value)
  std::string bind;  // empty: every interface, IPv6 and IPv4
  std::optional<std::size_t> count;
};

struct ClientArgs {
  std::string message;
  std::string host;
  std::string port;
  long long timeout_ms = 0;  // 0: wait for ever
};

struct MulticastArgs {
  std::string message;
  std::string group;
  std::string port;
  std::size_t count = 3;
  std::string interface;  // empty: the interface the routing table picks
  long long timeout_ms = 0;
  int ttl = 1;
  bool loopback = true;
};

struct RecvArgs {
  std::string uri;
  std::optional<std::size_t> count;  // nullopt: for ever
  long long timeout_ms = 0;          // per message; 0: wait for ever
  bool quiet = false;
  bool echo = false;  // reply to each message with its own bytes
  bool stats = false;
};

struct SendArgs {
  std::string uri;
  std::string message;
  bool sync = false;
  bool reply = false;     // wait for the port's reply to each and print it
  bool numbered = false;  // send "MESSAGE 0", "MESSAGE 1", ...
  bool quiet = false;     // print nothing for each message
  std::size_t count = 1;
  long long timeout_ms = 5000;
  bool stats = false;
};

struct PingArgs {
  std::string uri;
  std::size_t count = 1000;
  std::size_t size = 64;
  long long timeout_ms = 5000;
  bool reply = false;  // round trips of send + reply instead of synchronous sends
  bool stats = false;
};

struct FaultProxyArgs {
  long long listen = 0;  // the port to listen on (0: any free port)
  std::string bind = "127.0.0.1";
  std::string to;  // HOST:PORT
  double loss = 0, burst = 1, dup = 0, reorder = 0, corrupt = 0;
  unsigned reorder_window = 4;
  std::string delay = "0", jitter = "0";
  std::uint64_t seed = 1;
  std::string direction = "both";  // both, to (client -> server), back
  std::size_t max_sessions = 1024;
  std::size_t max_held = std::size_t{64} << 20;  // bytes held for delay/reorder, per direction
  std::string duration;  // empty: until SIGINT or SIGTERM
};

// nexo marshal: an example value in a format, printed as an annotated hex dump
// (output "dump"), raw bytes ("raw") or plain hex ("hex").
struct MarshalArgs {
  std::string format;
  std::string example = "person";
  std::string output = "dump";
  bool pretty = false;  // JSON and XML: indented
};

// nexo unmarshal: reads bytes (raw, or hex with --hex) from a file or stdin ("-") and
// prints the value they hold.
struct UnmarshalArgs {
  std::string format;
  std::string example = "person";
  std::string input = "-";
  bool hex = false;
};

// nexo stat: the live counters of one process (pid), or the list of those that publish.
struct StatArgs {
  std::optional<std::uint32_t> pid;
  bool watch = false;       // redraw every `interval` seconds
  double interval = 1.0;
  std::optional<std::size_t> count;  // with watch: stop after N reports
  bool prometheus = false;  // the Prometheus text format (every process when no pid)
};

// nexo group join NAME: a member of a process group, lines of stdin sent, deliveries printed.
struct GroupArgs {
  std::string name;
  std::string order = "fifo";
  std::string interface = "lo";
  std::string address;       // empty: the name's (239.a.b.c)
  long long port = 7447;     // group::kDefaultPort; 0: any free port (printed)
  std::string members;       // HOST:PORT,...: unicast fan-out mode
  bool unicast = false;      // unicast fan-out with no --members (the first member)
  bool stats = false;
  std::string trace;         // an SVG file to write the run into
  double loss = 0, dup = 0, reorder = 0;
  std::uint64_t seed = 0;    // of the fault plan; 0: drawn at random (printed)
  std::string direction = "back";  // the faults act on: back (received), to (sent), both
  std::string detection_time = "1s";
  long long timeout_ms = 10'000;   // join and leave
};

// nexo mpi demo: N ranks on this host walk through message passing; rank 0 narrates.
struct MpiDemoArgs {
  int ranks = 4;
};

// nexo overlay put | get | node | sim: a Mainline DHT node (overlay::Node), and the simulator.
struct OverlayArgs {
  std::string text;       // put
  std::string key;        // get: 40 hex digits (checked by the parser)
  std::string bootstrap;  // HOST:PORT of a node of the DHT (put, get: required; node: optional)
  long long port = 0;     // node: its UDP port (0: any free one)
  std::string bind = "127.0.0.1";  // node: its address
  std::string id;  // node: 40 hex digits (empty: BEP 42 from --bind when public, else random)
};

struct OverlaySimArgs {
  std::size_t nodes = 1000;
  std::string churn;  // empty: no churn; else the mean lifetime ("30s")
  std::size_t lookups = 1000;
  std::uint64_t seed = 1;
  std::string plot;  // an SVG file to draw the run into
};

struct OverlaySuperArgs {
  std::size_t peers = 400;
  double nat = 0.6;        // the share behind a NAT
  std::size_t crash = 6;   // super peers crashed (the most loaded)
  std::uint64_t seed = 11;
};

const std::vector<std::string>& wire_format_names();
const std::vector<std::string>& wire_example_names();

int udp_serve(const ServerArgs& args);
int udp_send(const ClientArgs& args);
int tcp_serve(const ServerArgs& args);
int tcp_send(const ClientArgs& args);
int mcast_peer(const MulticastArgs& args);
int resolve(const std::string& name);
int msg_recv(const RecvArgs& args);
int msg_send(const SendArgs& args);
int msg_ping(const PingArgs& args);
int fault_proxy(const FaultProxyArgs& args);
int wire_marshal(const MarshalArgs& args);
int wire_unmarshal(const UnmarshalArgs& args);
int tour();
int stat(const StatArgs& args);
int group_join(const GroupArgs& args);
int mpi_demo(const MpiDemoArgs& args);
int mpi_demo_rank();  // one rank of the demo (nexo mpi demo-rank, started by mpi_demo)
int overlay_put(const OverlayArgs& args);
int overlay_get(const OverlayArgs& args);
int overlay_node(const OverlayArgs& args);
int overlay_sim(const OverlaySimArgs& args);
int overlay_superpeers(const OverlaySuperArgs& args);

}  // namespace nexo::tool
