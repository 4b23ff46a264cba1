// Host — the rudp:// endpoint of one UDP socket, as a state machine: it
// parses datagrams, routes them to their Connection by connection id (checking
// the sender's address), answers connection requests statelessly, and says
// what to send to whom. No I/O, no clock: the transport's glue feeds it.
//
// Connection set-up, with a stateless cookie (as DTLS and QUIC do):
//
//   client                                server
//   INIT (padded to 64 B)        ──►      keeps nothing; answers with a
//                                ◄──      COOKIE: a keyed hash (SipHash) of the
//                                         client's address, its handshake and
//                                         the time, 28 B
//   COOKIE_ECHO (cookie, handshake) ──►   checks the hash and its age; only now
//                                ◄──      ACCEPT   creates the connection
//
// A forged source address gets one small COOKIE back and nothing else: before
// an address is validated (the COOKIE_ECHO proves the client received the
// cookie there) the host never sends it more than 3x the bytes it received
// from it. Garbage, bad checksums, unknown connection ids and packets from the
// wrong address are dropped and counted; nothing is allocated for them.
//
// Not thread-safe: one owner drives it.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "nexo/fault/random.hpp"
#include "nexo/net/endpoint.hpp"
#include "nexo/reliable/connection.hpp"

namespace nexo::reliable {

struct HostConfig {
  Config connection;
  bool accept = true;  // answer INITs (a server); false: only connect out
  Duration cookie_lifetime = std::chrono::seconds(30);
  std::size_t max_connections = 4096;
  // Connections accepted from one address (any port): one validated address
  // cannot take every slot, and a new peer from elsewhere still gets in.
  // Processes on one machine share an address: keep it well above their count.
  std::size_t max_connections_per_address = 1024;
  // Bytes all connections together hold for their peers' messages (fragments
  // of messages not yet whole, messages not yet taken); each connection holds
  // at most its Config::receive_buffer. A DATA packet beyond it is dropped
  // (counted) and sent again by its sender once messages are taken.
  std::size_t max_buffered_bytes = std::size_t{1} << 30;
  // Connection ids and initial sequence numbers (replayable in tests);
  // nullopt: random. The cookie key never comes from it: 128 bits from
  // getrandom, a new one every cookie_lifetime (a cookie made under the
  // previous key is still taken while it is younger than cookie_lifetime).
  std::optional<std::uint64_t> seed;
};

struct HostCounters {
  std::array<std::uint64_t, 8> parse_errors{};  // by ParseError (index 0 unused)
  std::uint64_t unknown_connection = 0;         // a connection id nobody has
  std::uint64_t wrong_address = 0;              // a known id from another address
  std::uint64_t bad_cookie = 0;                 // a COOKIE_ECHO whose hash does not check
  std::uint64_t stale_cookie = 0;               // ... or that is too old
  std::uint64_t refused = 0;                    // max_connections reached
  std::uint64_t refused_per_address = 0;        // max_connections_per_address reached
  std::uint64_t over_buffer = 0;                // DATA beyond max_buffered_bytes held
  std::uint64_t unexpected =
      0;  // a packet type this host does not take (INIT when not accepting...)
  std::uint64_t inits = 0, cookies_sent = 0, accepted = 0;
  std::uint64_t unvalidated_bytes_in = 0;   // INIT bytes received
  std::uint64_t unvalidated_bytes_out = 0;  // COOKIE bytes sent in answer
  std::uint64_t key_rotations = 0;          // new cookie keys drawn
  // Work, for tests that prove it does not grow with idle connections:
  std::uint64_t timers_examined = 0;  // timer entries looked at (next_timer, on_timer)
  std::uint64_t visits = 0;           // connections asked for a packet (poll_transmit)
  std::uint64_t dropped() const noexcept;
};

class Host {
 public:
  explicit Host(const HostConfig& config);

  // A datagram that arrived from `from`.
  void on_datagram(std::span<const std::byte> datagram, const net::Endpoint& from, Time now);
  // Opens a connection to `to`; returns its id (poll_transmit sends the INIT).
  std::uint32_t connect(const net::Endpoint& to, Time now);

  // The connection with this id, or null.
  Connection* find(std::uint32_t id) noexcept;
  const net::Endpoint* peer_of(std::uint32_t id) const noexcept;
  // Connections accepted from clients since the last call, oldest first.
  std::optional<std::uint32_t> accept();
  // Send and receive through the host (so it knows the connection has work).
  Result<void> send(std::uint32_t id, std::span<const std::byte> message, Time now);
  // The same, taking the message's buffer when it succeeds (no copy).
  Result<void> send(std::uint32_t id, Bytes&& message, Time now);
  std::optional<Bytes> receive(std::uint32_t id);
  void close(std::uint32_t id, Time now);
  // Forgets a connection (closed or broken, its messages taken).
  void remove(std::uint32_t id);

  // Moves into `out` (cleared first) the ids of the connections that had
  // something happen (a packet, a timer, a send, a receive, a close) since the
  // last call: the owner looks at those, not at every connection.
  void take_touched(std::vector<std::uint32_t>& out);

  // The next datagram to send; false when there is none now.
  bool poll_transmit(Bytes& out, net::Endpoint& to, Time now);
  // Timers are kept in a heap by deadline: both cost O(log n) per connection
  // whose timer moved or fired, nothing for the idle ones.
  std::optional<Time> next_timer() const;
  void on_timer(Time now);

  const HostCounters& counters() const noexcept { return counters_; }
  // Bytes all connections hold for their peers' messages (max_buffered_bytes).
  std::size_t buffered_bytes() const noexcept { return buffered_bytes_; }
  // The longest datagram this host takes now: a DATA packet of the largest
  // payload agreed with any connection so far (it never shrinks), or else the
  // longest handshake or ACK. Anything longer would be dropped unread, so a
  // receive buffer of this size loses nothing the protocol would keep.
  std::size_t largest_datagram() const noexcept;
  std::size_t size() const noexcept { return connections_.size(); }
  std::vector<std::uint32_t> ids() const;

 private:
  struct Entry {
    Connection connection;
    net::Endpoint peer;
    std::uint32_t peer_id = 0;    // the client's id (server side), to find repeats
    bool active = false;          // in active_
    bool touched = false;         // in touched_
    std::optional<Time> timer;    // the deadline in timers_ (nullopt: none)
    std::uint64_t timer_gen = 0;  // which entry of timers_ is current
  };
  struct Timer {
    Time at;
    std::uint32_t id;
    std::uint64_t gen;
    bool operator>(const Timer& o) const noexcept { return at > o.at; }
  };

  void on_init(const Packet& p, std::span<const std::byte> datagram, const net::Endpoint& from,
               Time now);
  void on_cookie_echo(const Packet& p, const net::Endpoint& from, Time now);
  struct Key {
    std::uint64_t k0 = 0, k1 = 0;
  };
  static Key fresh_key();
  void rotate_key(Time now);
  std::uint64_t mac(const Key& key, const net::Endpoint& from, const Handshake& h,
                    std::uint64_t issued_at) const;
  std::uint64_t clock_ms(Time now) const;
  std::uint32_t fresh_id();
  void activate(std::uint32_t id, Entry& e);
  void schedule(std::uint32_t id, Entry& e);
  bool stale(const Timer& t) const;

  const HostConfig config_;
  fault::Random random_;         // ids and initial sequence numbers only
  Key key_, previous_key_;       // the cookies' SipHash keys
  std::uint64_t key_since_ = 0;  // clock_ms when key_ was drawn
  bool key_dated_ = false;
  Time now_{};                     // the latest time the host was given
  mutable HostCounters counters_;  // mutable: next_timer counts its work
  std::unordered_map<std::uint32_t, Entry> connections_;
  std::map<std::pair<net::Endpoint, std::uint32_t>, std::uint32_t> by_client_;  // server side
  std::map<net::InetAddress, std::size_t> per_address_;  // accepted connections by address
  std::size_t buffered_bytes_ = 0;
  std::uint16_t largest_payload_ = 0;  // agreed with any connection so far
  std::deque<std::uint32_t> accepted_;
  std::deque<std::uint32_t> active_;  // connections that may have something to send
  std::vector<std::uint32_t> touched_;
  // Deadlines, earliest first; an entry whose gen is not its connection's is
  // stale (the deadline moved) and skipped. Rebuilt when stale ones pile up.
  mutable std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::uint64_t timer_gen_ = 0;  // host-wide: an id used again has new generations
  static constexpr std::size_t kMaxReplies = 256;
  std::deque<std::pair<net::Endpoint, Bytes>> replies_;  // stateless answers (COOKIE)
};

}  // namespace nexo::reliable
