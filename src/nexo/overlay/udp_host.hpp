// UdpHost — runs overlay/'s sans-I/O cores (DatagramNode) over real UDP: one
// socket per node, any number of nodes per process, all on one io::EventLoop
// (no thread per node). The simulator (sim_network.hpp) runs the same cores on
// a virtual network; this is the other driver of datagram_node.hpp's contract.
//
//   auto loop = io::EventLoop::create().value();
//   UdpHost host(*loop);
//   auto slot = host.add(net::Endpoint::parse("127.0.0.1:0").value(),
//                        [](const net::Endpoint& self) { return std::make_unique<MyNode>(self); });
//   loop->run();
//
// Receiving. Each socket is non-blocking and watched for readability; a
// wake-up reads at most `read_batch` datagrams from it (fairness between the
// nodes of a busy host), then the node's transmit queue is drained and its
// timer re-armed (the contract's rule 2). A datagram longer than
// `max_datagram` is dropped and counted (`truncated`), never handed over cut.
//
// Sending. A datagram the kernel will not take now (a full socket buffer) is
// dropped and counted (`send_dropped`), as a router drops it: KRPC is
// request/response over UDP and its callers time out and retry elsewhere. A
// datagram the kernel refuses for another reason (an unreachable or invalid
// address) is counted as `send_failed`. Neither stops the node.
//
// Time. The host passes the loop's steady clock to the cores, read at each
// callback.
//
// Failure. remove(slot) closes the node's socket and destroys the node at
// once: to the others it is a crashed peer (no goodbye). Its slot is not
// reused.
//
// Thread contract: everything runs on the loop's thread. Owners that call into
// a node (start a lookup...) do so on that thread (EventLoop::post, or
// LoopThread::call) and then call kick(slot).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/io/event_loop.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/net/udp_socket.hpp"
#include "nexo/overlay/datagram_node.hpp"

namespace nexo::overlay {

struct UdpHostOptions {
  std::size_t read_batch = 64;             // datagrams read per socket per wake-up
  std::size_t max_datagram = 65'507;       // longer ones are dropped (KRPC's are < 1,500)
  std::optional<int> receive_buffer_size;  // SO_RCVBUF per socket; nullopt: the kernel's
};

struct UdpHostCounters {
  std::uint64_t received = 0;   // datagrams handed to nodes
  std::uint64_t sent = 0;       // datagrams the kernel took
  std::uint64_t truncated = 0;  // received datagrams over max_datagram, dropped
  std::uint64_t receive_errors = 0;
  std::uint64_t send_dropped = 0;  // socket buffer full (would_block): dropped
  std::uint64_t send_failed = 0;   // refused by the kernel for another reason
  std::uint64_t timers = 0;        // on_timer calls
};

class UdpHost {
 public:
  using Slot = std::uint32_t;
  // Makes the node for the address its socket was bound to (the port chosen
  // when the request said 0).
  using Factory = std::function<std::unique_ptr<DatagramNode>(const net::Endpoint& self)>;

  explicit UdpHost(io::EventLoop& loop, UdpHostOptions options = {});
  UdpHost(const UdpHost&) = delete;
  UdpHost& operator=(const UdpHost&) = delete;
  ~UdpHost();

  // Binds a socket at `local` (port 0: any free one) and starts the node the
  // factory makes. Errors: those of binding (address_in_use names the
  // address), invalid_argument if the factory returns no node. Loop thread.
  Result<Slot> add(const net::Endpoint& local, const Factory& factory);
  // Closes the node's socket and destroys it (a crash, to its peers).
  void remove(Slot slot);
  // Drains the node's transmit queue and re-arms its timer: call after
  // calling into the node from outside a callback (rule 2 of the contract).
  void kick(Slot slot);

  bool alive(Slot slot) const noexcept;
  DatagramNode& node(Slot slot);
  const net::Endpoint& address(Slot slot) const;
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t alive_count() const noexcept;
  const UdpHostCounters& counters() const noexcept { return counters_; }

 private:
  struct Entry {
    net::UdpSocket socket;
    std::unique_ptr<DatagramNode> node;
    std::unique_ptr<io::IoWatcher> watcher;
    std::unique_ptr<io::Timer> timer;
    net::Endpoint address;
  };
  Entry& entry(Slot slot, const char* what);
  const Entry& entry(Slot slot, const char* what) const;
  void on_readable(Slot slot);
  void on_timer(Slot slot);
  void drain(Slot slot);

  io::EventLoop& loop_;
  UdpHostOptions options_;
  std::vector<std::unique_ptr<Entry>> entries_;  // null once removed
  Bytes receive_buffer_;
  Bytes transmit_buffer_;
  UdpHostCounters counters_;
};

}  // namespace nexo::overlay
