// Connection — one reliable conversation over datagrams, as a plain state
// machine: packets and `now` in, packets and messages out, no I/O and no clock
// of its own (the rudp:// transport feeds it; tests feed it by hand, with a
// fake clock and a faulty in-memory network).
//
//   conn.on_packet(packet, now);        // a parsed packet for this connection
//   conn.send(message, now);            // queue a message (copied)
//   while (conn.poll_transmit(out, now)) ... send `out` ...
//   while (auto m = conn.receive()) ... a delivered message ...
//   conn.on_timer(now) when now >= conn.next_timer()
//
// What it does (the chapter: a reliable service built from an unreliable one):
// - sequence numbers per packet, wrap-safe; messages up to max_message are
//   cut into fragments of at most the agreed payload size and put together
//   again; delivered in order, or (Config::ordered false) as soon as whole;
//   small messages queued together share a packet (a bundle), as SCTP
//   bundles chunks and QUIC frames: they queue while the window is full, or,
//   with many packets in flight already, until they fill a packet or an
//   acknowledgement comes (a bulk sender's packets go full; a request, a
//   reply or a trickle of messages leaves at once);
// - cumulative and selective acknowledgements; duplicates suppressed;
// - retransmission after a timeout computed from measured round-trip times
//   (RFC 6298: SRTT, RTTVAR, RTO = SRTT + 4 RTTVAR, bounded, doubled per
//   timeout; Karn's rule: no sample from a retransmitted packet), and fast
//   retransmit: a packet is lost once three packets sent after it arrived,
//   or one did and a round trip has passed (RACK, RFC 8985), and a tail loss
//   probe after two quiet round trips;
// - flow control: never more in flight than the receiver's advertised window;
// - congestion control (slow start, then additive increase; shrunk once per
//   loss episode, back to one packet after a timeout), so it backs off under
//   loss instead of flooding;
// - keepalives while idle, and a broken connection reported once nothing has
//   been heard from the peer for broken_after. As the chapter says, this side
//   cannot tell a network failure from a crashed peer, nor whether its last
//   messages arrived.
//
// Not thread-safe: one owner drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/reliable/packet.hpp"

namespace nexo::reliable {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
using Duration = Clock::duration;

struct Config {
  // DATA payload per packet, the most this side sends and accepts; the two
  // sides agree on the smaller of theirs. 1200 fits any path (as QUIC's
  // minimum); the rudp:// transport raises it to what the path carries
  // (the route's MTU: 64 KiB on loopback).
  std::uint16_t max_payload = 1200;
  std::uint32_t window = 16'384;  // packets this side buffers at most
  // Bytes this side buffers at most (received, not yet taken): with the
  // agreed payload it bounds the window too, so large packets do not
  // multiply the memory a connection may hold.
  std::size_t receive_buffer = 32u << 20;
  std::size_t max_message = 16u << 20;
  std::size_t send_buffer = 32u << 20;  // bytes queued and not yet acknowledged
  bool ordered = true;                  // false: each message delivered as soon as whole
  std::uint32_t initial_cwnd = 16;      // packets
  // Congestion avoidance (AIMD): grow the window by `increase` packets per
  // round trip, multiply it by `decrease` once per loss episode. Reno's 1 and
  // 0.5 collapse on the random loss of a lossy link (the window settles near
  // 1.2/sqrt(p): 5 packets at 5% loss); CUBIC backs off to 0.7 and regrows
  // faster. nexo's defaults, 4 and 0.7, keep about 20 packets in flight at 5%
  // random loss and still back off on every loss episode.
  double increase = 4;
  double decrease = 0.7;
  Duration initial_rto = std::chrono::milliseconds(500);
  // RFC 6298 asks for at least 1 s, TCP stacks use 200 ms: on the LAN and
  // loopback paths nexo is for, either stalls every tail loss far beyond the
  // round trip. Like QUIC (RFC 9002), trust the measured RTT, with a floor.
  Duration min_rto = std::chrono::milliseconds(10);
  Duration max_rto = std::chrono::seconds(10);
  Duration ack_delay = std::chrono::milliseconds(1);  // an ACK waits at most this for company
  Duration keepalive = std::chrono::seconds(1);       // silence after which a PING goes out
  Duration broken_after = std::chrono::seconds(10);   // silence from the peer: broken
  // invalid_argument naming the field when the values cannot work together
  // (a window too small for the largest message, a zero payload, ...).
  Result<void> validate() const;
};

enum class State { connecting, established, closing, closed, broken };
std::string_view to_string(State state) noexcept;

struct ConnectionStats {
  std::uint64_t packets_sent = 0, packets_received = 0;
  std::uint64_t data_sent = 0;         // DATA packets, first transmissions
  std::uint64_t retransmits = 0;       // DATA packets sent again
  std::uint64_t fast_retransmits = 0;  // of which: found lost by later acknowledgements
  std::uint64_t timeouts = 0;          // retransmission timer expiries
  std::uint64_t probes = 0;            // tail loss probes
  std::uint64_t duplicates = 0;        // DATA already received, dropped
  std::uint64_t out_of_window = 0;     // DATA beyond the window, dropped
  std::uint64_t malformed = 0;         // well-formed packets that break the protocol, dropped
  std::uint64_t over_buffer = 0;       // DATA beyond receive_buffer bytes held, dropped
  std::uint64_t too_large = 0;         // messages longer than max_message, discarded whole
  std::uint64_t messages_sent = 0, messages_delivered = 0;
  Duration srtt{}, rto{};
  double cwnd = 0;
};

class Connection {
 public:
  // The side that opens: sends INIT at the first poll_transmit.
  static Connection client(const Config& config, std::uint32_t id, std::uint32_t initial_seq,
                           Time now);
  // The side that accepted a validated COOKIE_ECHO carrying `peer`: established
  // at once, with an ACCEPT to send.
  static Connection server(const Config& config, std::uint32_t id, std::uint32_t initial_seq,
                           const Handshake& peer, Time now);

  std::uint32_t id() const noexcept { return id_; }
  std::uint32_t peer_id() const noexcept { return peer_id_; }
  // The DATA payload both sides agreed on (0 until then): the peer's DATA
  // packets are at most this long, and a longer one is dropped as malformed.
  std::uint16_t payload_size() const noexcept { return payload_size_; }
  State state() const noexcept { return state_; }
  // Why the connection is broken or was refused (set with State::broken).
  const std::optional<Error>& error() const noexcept { return error_; }
  const ConnectionStats& stats() noexcept;

  // A packet from the peer (already checked: checksum, connection id, address).
  void on_packet(const Packet& packet, Time now);
  // Queues a message. Errors: too_large, would_block (the send buffer is full:
  // wait for acknowledgements), closed (close() was called), and the broken
  // connection's error.
  Result<void> send(std::span<const std::byte> message, Time now);
  // The same, taking the message's buffer instead of copying it (only when
  // it succeeds: on an error `message` is left as it was).
  Result<void> send(Bytes&& message, Time now);
  // The next message delivered, if any. Until taken, messages count against
  // the window this side advertises (back-pressure on the sender).
  std::optional<Bytes> receive();
  // Graceful: what is queued is still delivered, then CLOSE. Idempotent.
  void close(Time now);

  // Encodes the next packet to send into `out` (cleared first); false when
  // there is nothing to send now.
  bool poll_transmit(Bytes& out, Time now);
  std::optional<Time> next_timer() const;
  void on_timer(Time now);

  // Messages accepted by send() so far, and of those, how many have been
  // transmitted whole at least once (every fragment has left).
  std::uint64_t messages_queued() const noexcept { return stats_.messages_sent; }
  std::uint64_t messages_left() const noexcept { return messages_left_; }
  // Bytes queued and not yet acknowledged.
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  // Whether everything sent has been acknowledged.
  bool idle() const noexcept { return segments_.empty(); }
  // Packets sent and not yet acknowledged, selectively acknowledged or found lost.
  std::size_t packets_in_flight() const noexcept { return in_flight_; }
  // Bytes this side holds for the peer's messages: fragments of messages not
  // yet whole, whole messages waiting for their turn or to be taken. At most
  // Config::receive_buffer.
  std::size_t buffered_bytes() const noexcept { return buffered_bytes_; }

 private:
  Connection(const Config& config, std::uint32_t id, std::uint32_t initial_seq, Time now);

  struct Segment {
    std::uint32_t seq = 0, frag_index = 0, frag_count = 0;
    std::uint16_t flags = 0;
    std::uint32_t messages = 1;  // a bundle's count; 1 for a fragment
    std::size_t bytes = 0;       // the messages' bytes it carries (queued_bytes_)
    Bytes payload;
    Time sent_at{};
    std::uint64_t last_tx = 0;   // which transmission carried it last (a counter)
    bool sent = false;           // has left at least once
    bool retransmitted = false;  // Karn: no RTT sample from it
    bool sacked = false;
    bool lost = false;  // to be sent again
  };
  // A message being put together. Memory follows what arrived, never what a
  // fragment's index claims: the fragments in a row from the first grow
  // `data`; those that came early wait in `early` until the gap fills.
  struct Partial {
    std::uint32_t count = 0, received = 0;
    std::uint32_t next = 0;  // the first fragment not in `data`
    std::uint16_t flags = 0;
    bool discard = false;  // longer than max_message: acknowledged, not kept
    Bytes data;
    std::map<std::uint32_t, Bytes> early;  // by fragment index
  };

  // The checks of send(); enqueue() queues a message that passed them.
  Result<void> admit(std::span<const std::byte> message, Time now) const;
  void enqueue(Bytes message);
  void establish(const Handshake& peer, Time now);
  void fail(Error error);
  void on_data(const Packet& packet, Time now);
  bool reassemble(const Packet& packet, Time now);
  void on_ack(std::uint32_t ack, std::uint32_t window, std::span<const SackBlock> sack, Time now);
  void sample_rtt(Duration rtt);
  void on_loss_detected(Time now);
  void detect_losses(Time now);
  void note_delivered(const Segment& s);
  void arm_probe(Time now);
  void probe();
  void deliver_ready();
  void deliver(Bytes message, std::uint32_t packets, std::size_t bytes);
  void deliver(std::span<const std::byte> payload, bool bundle, std::uint32_t packets);
  void complete(std::uint32_t start, Partial& m);
  void cut_bundle();
  std::uint32_t advertised_window() const noexcept;
  std::size_t in_flight() const noexcept;
  bool has_unsent() const noexcept;
  Segment* next_segment_to_send();
  Segment* segment(std::uint32_t seq) noexcept;
  void cut_next_message();
  void write_header(Packet& p, Type type) const;
  void encode(const Packet& p, Bytes& out, Time now);
  void encode_ack(Bytes& out, Time now);

  const Config config_;
  const std::uint32_t id_;
  std::uint32_t peer_id_ = 0;
  State state_ = State::connecting;
  std::optional<Error> error_;
  ConnectionStats stats_;
  Time last_heard_, last_sent_;

  // Handshake (client): INIT, then COOKIE_ECHO once a cookie came; resent
  // until answered. Server: ACCEPT owed (again on a repeated COOKIE_ECHO).
  Handshake mine_;
  std::optional<Cookie> cookie_;
  bool handshake_due_ = false;
  Time handshake_at_{};
  Duration handshake_rto_{};
  bool accept_due_ = false;

  // Sending.
  std::uint16_t payload_size_ = 0;                       // agreed: min of both sides' max_payload
  std::uint32_t next_seq_;                               // the next sequence number to assign
  std::deque<std::pair<Bytes, std::uint16_t>> pending_;  // messages not yet cut into segments
  std::size_t pending_framed_ = 0;                       // their bytes, with a bundle's length each
  std::deque<Segment> segments_;          // unacknowledged, by seq from segments_.front()
  std::uint32_t snd_nxt_;                 // the first segment never sent
  std::deque<std::uint32_t> retransmit_;  // segments found lost, oldest first
  std::size_t in_flight_ = 0;             // sent, not acknowledged, sacked or found lost
  std::uint64_t tx_counter_ = 0;          // transmissions so far
  std::uint64_t messages_left_ = 0;       // messages whose last fragment has been sent once
  std::uint64_t delivered_tx_ = 0;        // the latest transmission known to have arrived
  std::size_t queued_bytes_ = 0;
  std::uint32_t peer_capacity_ = 0;  // the peer's window from the handshake: the largest message
  std::uint32_t peer_ack_ = 0;       // what the peer has acknowledged cumulatively
  std::uint32_t peer_window_ = 1;
  double cwnd_;
  double ssthresh_ = 1e9;
  std::optional<std::uint32_t> recovery_until_;  // in a loss episode until this seq is acked
  Duration srtt_{}, rttvar_{}, rto_;
  bool have_rtt_ = false;
  std::optional<Time> rto_at_;
  std::optional<Time> rack_at_;   // a packet may be declared lost then
  std::optional<Time> pto_at_;    // a tail loss probe goes then
  bool probe_due_ = false;        // one new packet may exceed the congestion window
  bool reordering_seen_ = false;  // a packet arrived after one sent later
  bool close_requested_ = false, close_due_ = false;
  Time close_at_{};

  // Receiving.
  std::uint32_t capacity_;              // packets this side buffers: the window's bound
  std::uint32_t rcv_nxt_ = 0;           // the next sequence number expected (cumulative ack)
  std::vector<std::uint8_t> received_;  // ring: received_[(head_ + i) % window] for rcv_nxt_ + i
  std::size_t head_ = 0;
  std::uint32_t highest_ = 0;                  // one past the highest seq received
  std::map<std::uint32_t, Partial> partials_;  // by the message's first seq
  struct Complete {
    std::uint32_t count = 0;
    std::optional<Bytes> data;  // nullopt: delivered already (an unordered message)
    bool bundle = false;        // data is a bundle's payload
  };
  std::map<std::uint32_t, Complete> complete_;  // whole, waiting for their turn
  std::uint32_t next_message_ = 0;              // ordered mode: the first seq of the next message
  std::deque<Bytes> delivered_;
  std::uint32_t buffered_packets_ = 0;  // fragments held (partial, complete, delivered)
  std::size_t buffered_bytes_ = 0;      // their payload bytes
  struct Held {
    std::uint32_t packets = 0;
    std::size_t bytes = 0;
  };
  std::deque<Held> delivered_held_;     // what each delivered message holds until taken
  bool ack_due_ = false;                // an ACK must go now
  std::optional<Time> ack_at_;          // a delayed ACK goes then
  std::uint32_t unacked_received_ = 0;  // in-order packets since the last ACK we sent
  std::uint32_t last_advertised_ = 0;
  bool ping_due_ = false;
  bool peer_closed_ = false;
  bool close_ack_due_ = false;
};

}  // namespace nexo::reliable
