// group::Member — one member's reliable multicast, as a sans-I/O state
// machine: packets and `now` in, packets and deliveries out, no sockets, no
// clock, no threads (the driver owns those: real UDP multicast or unicast
// fan-out, or the simulator in sim_network.hpp). Thread contract: none; the
// driver serialises every call.
//
// What it does (the layout of the packets is in packet.hpp):
// - Every message a member sends gets the next sequence number of that
//   sender (1, 2, ...) and goes to the whole group (Destination::group).
//   Receivers deliver each sender's messages in sequence order, each once
//   (FIFO order); a member delivers its own messages at once.
// - Loss. A receiver that sees a gap (a later sequence number, in DATA or in
//   a HEARTBEAT's highest_sent) waits a random time, then sends a NAK of the
//   missing ranges. The wait is drawn from a truncated exponential
//   distribution over [0, nak_delay] whose shape grows with the group's size
//   (Nonnenmacher and Biersack's timers): most receivers draw late, so the
//   first NAK, overheard by the others, cancels theirs (suppression) and one
//   loss seen by many receivers costs few NAKs. After its NAK (or one it
//   overheard) a receiver waits for the retransmission, then NAKs again, the
//   wait doubling up to 8x. The wait adapts to the NAK -> repair round trip
//   it measures from that sender (RFC 6298's estimator, repair_timer.hpp),
//   between max(min_repair_timeout, retransmit_holdoff) and repair_timeout.
// - Where NAKs and repairs go. A NAK goes unicast to the messages' sender
//   (Destination::member): over real sockets it reaches the sender's unicast
//   socket, which the driver reads before the group's, instead of waiting in
//   the group socket behind a window of data. In views of 3 or more a copy
//   is also multicast, for the others to overhear (suppression) and for a
//   crashed sender's repairer (set_repairer).
// - The sender keeps its messages in a bounded history and answers a NAK
//   with a retransmission of each NAKed message, at most once per
//   retransmit_holdoff per message (the other NAKs of the same loss, and the
//   multicast copy of the same NAK, are redundant). The retransmission goes
//   unicast to the member that asked (its control path, as above), and in
//   views of 3 or more it is also multicast: members that overheard the NAK
//   suppressed their own and wait for this repair, which only a multicast
//   reaches, as in NORM (RFC 5740) and PGM (RFC 3208), whose repairs are
//   multicast for that reason. In a view of 2 only the requester can lack
//   it: the repair is unicast only, as JGroups' NAKACK2 answers its unicast
//   retransmission requests. NAKs are rate-limited per requesting member (a
//   token bucket): a flood costs the sender little, and is counted.
// - Heartbeats. Every member multicasts a HEARTBEAT every heartbeat_interval,
//   and tail_heartbeat after the last message it sent: it carries the
//   highest sequence number sent, so the loss of a sender's last message is
//   found too, and a digest: how far this member has delivered each sender.
//   A receiver also sends one when it has delivered a quarter of the window
//   of one sender since its last, so that a busy sender's window keeps moving.
// - Stability and flow control. A message is stable once every member of the
//   view has delivered it (by their digests); the sender frees its history up
//   to there. A sender has at most `window` unstable messages and
//   `history_bytes` of history: beyond that send() says would_block (back-
//   pressure: a fast sender cannot overrun the slowest member).
//
// Bad input is dropped and counted, never trusted: packets that do not parse
// (by cause), of another group, from a non-member, of another view, beyond
// the receive window, over the per-sender buffer, NAKs beyond the rate, and
// NAKs for messages that were never sent.
//
// The view is fixed at construction; group::Endpoint (endpoint.hpp) makes one
// Member per view and adds membership. For its virtual-synchrony flush a
// Member also keeps the messages of others it delivered until they are stable
// (every member's digest has them; only in views of 3 or more), and answers
// NAKs for another sender's messages from them when made that sender's
// repairer (set_repairer): a crashed sender's messages still reach the
// survivors that lack them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/error.hpp"
#include "nexo/base/histogram.hpp"
#include "nexo/base/ring.hpp"
#include "nexo/group/buffer_pool.hpp"
#include "nexo/group/message_log.hpp"
#include "nexo/group/packet.hpp"
#include "nexo/group/repair_timer.hpp"
#include "nexo/group/time.hpp"

namespace nexo::group {

using MemberId = std::uint64_t;

struct MemberConfig {
  std::uint64_t group = 0;        // the group's tag (group_tag() of its name)
  MemberId self = 0;              // this member's id, nonzero
  ViewId view{1, 0};              // the view's identity (packets of another are stale)
  std::vector<MemberId> members;  // the view: every member, this one included
  std::uint64_t seed = 1;         // the random NAK back-offs' seed

  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds tail_heartbeat{5};   // after the last message sent
  std::chrono::microseconds nak_delay{10'000};   // NAK back-off: drawn in [0, nak_delay]
  std::chrono::milliseconds repair_timeout{20};  // a NAK's answer is awaited this long
  std::chrono::microseconds retransmit_holdoff{2'000};
  // The repair wait from measured round trips (repair_timer.hpp), never
  // below this nor retransmit_holdoff (a NAK repeated sooner would find the
  // message held off at its sender), never above repair_timeout. false:
  // always repair_timeout.
  bool adaptive_repair_timeout = true;
  std::chrono::microseconds min_repair_timeout{1'000};
  std::size_t max_message = 60'000;  // payload bytes per message
  // Unstable messages a sender may have. The window is also a queue: where
  // the receivers are the bottleneck it fills, and a message waits behind up
  // to `window` others (1,024 1 KiB messages at 100,000 a second: 10 ms).
  // It must cover a rate times the round trip and a digest's period (a
  // quarter of it): 1,024 carries 1 million messages/s on a 0.5 ms LAN; raise
  // it for long round trips.
  std::size_t window = 1024;
  std::size_t history_bytes = 16 << 20;  // the sender's history at most
  std::size_t buffer_bytes = 8 << 20;    // out-of-order bytes held per sender
  std::uint32_t nak_rate = 1000;         // NAK packets accepted per member per second
  std::uint32_t nak_burst = 100;         // ... and in a burst
};

// Where a packet goes: the whole group, or one member (unicast).
struct Destination {
  bool group = true;
  MemberId member = 0;
};

struct Delivery {
  MemberId sender = 0;
  std::uint64_t view = 0;
  std::uint64_t seq = 0;
  Bytes payload;
  Bytes meta;            // the ordering layer's metadata (empty under FIFO)
  bool control = false;  // a control message of the ordering layer, not the application's
  // A message this member found missing (a loss it recovered: a later
  // message, a heartbeat or a flush's cut said it was sent): when it was
  // found so; Time{} for one that came in order. Its delivery to the
  // application minus this is its loss recovery as the application sees it
  // (MemberCounters::recovery stops at this Member's own delivery, before a
  // driver's hand-over to the application's thread).
  Time missing_since{};
};

struct MemberCounters {
  std::uint64_t sent = 0, delivered = 0;
  std::uint64_t naks_sent = 0, naks_received = 0, naks_suppressed = 0;
  std::uint64_t retransmissions = 0, heartbeats_sent = 0;
  std::uint64_t duplicates =
      0;  // DATA already delivered or held (retransmissions others asked for)
  // Drops, by cause.
  std::array<std::uint64_t, kParseErrorCount> parse_errors{};
  std::uint64_t other_group = 0, non_member = 0, stale_view = 0, own_packet = 0;
  std::uint64_t beyond_window = 0, buffer_full = 0;
  std::uint64_t nak_rate_limited = 0, nak_unknown = 0, nak_unrecoverable = 0;
  // The multicast copy of a NAK already taken one to one (views of 3 or
  // more): the same NAK, dropped, not counted in naks_received.
  std::uint64_t nak_copies = 0;
  std::size_t history_bytes = 0;  // now
  // Loss recovery: for each message this member found missing (a later one,
  // a heartbeat or a flush's cut said it was sent), the time from then until
  // its delivery here (poll_delivery; the application may take it later:
  // Delivery::missing_since).
  LatencyHistogram recovery;

  // Adds `other`'s counts to these (history_bytes, a level, is left alone):
  // the totals of several views' Members.
  MemberCounters& operator+=(const MemberCounters& other) noexcept;
};

class Member {
 public:
  // Errors: invalid_argument (self 0 or not in members, a zero id, window 0).
  static Result<Member> create(MemberConfig config, Time now);

  // Multicasts `payload` as this member's next message and delivers it here.
  // Errors: too_large (over max_message), would_block (window or history
  // full: wait until stability frees it; writable() says when).
  Result<void> send(std::span<const std::byte> payload, Time now) {
    return send(payload, {}, false, now);
  }
  // The same with the ordering layer's `meta` (meta.size() + payload.size()
  // at most kMaxPacket - kDataOverhead: too_large), and `control` set for its
  // own messages (delivered with Delivery::control, counted as sent).
  Result<void> send(std::span<const std::byte> payload, std::span<const std::byte> meta,
                    bool control, Time now);
  bool writable(std::size_t size) const noexcept;

  // A datagram from the network (any source: everything is checked): one
  // packet, or a bundle of them (bundle.hpp).
  void on_packet(std::span<const std::byte> datagram, Time now);
  // A packet already decoded (by the Endpoint, which decodes every datagram
  // once); membership types are ignored. Checked like on_packet's.
  void on_decoded(const Packet& packet, Time now);

  // How far this member has delivered `sender`'s messages (its own: sent);
  // 0 for a non-member.
  std::uint64_t delivered_through(MemberId sender) const noexcept;
  // `sender` has sent at least `through`: what lies beyond our delivery is
  // missing, and NAKed (the flush's cut).
  void expect(MemberId sender, std::uint64_t through, Time now);
  // Answer NAKs for `sender`'s messages from the kept ones (the flush names
  // this member the holder of a sender's messages); `sender` a peer.
  void set_repairer(MemberId sender);
  // Messages of others kept for a flush (now).
  std::size_t kept_messages() const noexcept;
  // The members whose digests say they are `threshold` or more messages
  // behind this member's delivery of some sender (this one included): the
  // slow ones, that hold stability back. Replaces `out`'s contents.
  void lagging(std::uint64_t threshold, std::vector<MemberId>& out) const;
  // Timers due by `now` run (heartbeats, NAKs).
  void on_timer(Time now);
  std::optional<Time> next_timer() const noexcept;

  // Packets to send, one per call, until false; `out` is overwritten.
  bool poll_transmit(Bytes& out, Destination& to);
  // The next delivery in order, if any.
  std::optional<Delivery> poll_delivery();

  // Deliveries' buffers come from `pool` (the driver gives them back there),
  // or are allocated when it is null (the default). `pool` outlives this.
  void set_pool(BufferPool* pool) noexcept { pool_ = pool; }
  // A packet of our own, looped back, that the caller set aside unread.
  void count_own_packet() noexcept { ++counters_.own_packet; }

  const MemberCounters& counters() const noexcept { return counters_; }
  MemberId self() const noexcept { return config_.self; }
  std::uint64_t view() const noexcept { return config_.view.id; }
  const std::vector<MemberId>& members() const noexcept { return config_.members; }
  // This member's messages that every member has delivered (1..stable()).
  std::uint64_t stable() const noexcept { return stable_; }
  // The highest sequence number this member has sent.
  std::uint64_t highest_sent() const noexcept { return next_seq_ - 1; }

 private:
  struct Held {
    Bytes payload, meta;
    bool control = false;
    std::size_t size() const noexcept { return payload.size() + meta.size(); }
  };
  struct Missing {
    std::uint64_t first = 0, last = 0;
    Time since{};
  };
  // What this member knows of another's messages.
  struct Peer {
    std::uint64_t next = 1;              // the next sequence number to deliver
    std::uint64_t highest_known = 0;     // announced by DATA or HEARTBEAT
    std::map<std::uint64_t, Held> held;  // arrived out of order
    std::size_t held_bytes = 0;
    std::optional<Time> nak_at;  // our NAK goes then (gaps exist)
    int nak_backoff = 1;         // repair wait multiplier, up to 8 (1 again on a repair)
    RepairTimer repair_timer;    // the repair wait, from measured NAK -> repair round trips
    // A round trip being measured: `probe_seq`, first asked for at
    // `probe_at` (0: none). Its retransmission is the sample; asked for
    // again, it is none (Karn's rule: whose repair would it be?).
    std::uint64_t probe_seq = 0;
    Time probe_at{};
    std::uint64_t naked_through =
        0;              // the highest sequence number a NAK (ours or overheard) asked for
    Time repair_due{};  // until then the last full NAK's repair is awaited: a new
                        // gap meanwhile gets a NAK of its own (only the new ranges)
    std::uint64_t delivered_since_heartbeat = 0;
    // As a NAK's requester toward us: the token bucket.
    double tokens = 0;
    Time tokens_at{};
    // Their digest's entry for our messages: how far they delivered them.
    std::uint64_t has_ours = 0;
    // Their digest, by rank in config_.members (views of 3 or more), from
    // their first digest on (empty: none yet, all 0): members x members
    // entries allocated up front cost 8 GB in a simulated 1,001-member view.
    std::vector<std::uint64_t> reported;
    // This sender's messages we delivered and not every member has: seq
    // kept_from, kept_from + 1, ... (views of 3 or more).
    // A vector and its head (a std::deque allocates ~600 bytes even empty:
    // 600 MB for a simulated 1,001-member view).
    // In one ring (message_log.hpp): no malloc per message. Info: control.
    MessageLog<bool> kept;  // kept[0] is seq kept_from
    std::uint64_t kept_from = 1;
    std::size_t kept_count() const noexcept { return kept.size(); }
    // Runs of missing sequence numbers, oldest first, and when each was
    // found missing (counters_.recovery). A vector and its head, as kept.
    std::vector<Missing> missing;
    std::size_t missing_head = 0;
    bool repairer = false;         // we answer NAKs for this sender's messages
    Time kept_retransmitted_at{};  // the last repair of its messages (hold-off)
  };
  // A message in the history (its bytes are the log's).
  struct Sent {
    Time retransmitted_at{};
    bool retransmitted = false;
    bool control = false;
  };

  explicit Member(MemberConfig config, Time now);

  bool accept_header(const Header& h);
  void on_data(Peer& peer, MemberId sender, const Data& data, Time now);
  void on_nak(Peer& requester, MemberId requester_id, const Nak& nak, Time now);
  void on_heartbeat(Peer& peer, MemberId sender, const Heartbeat& hb, Time now);
  // `arrived`: `highest` itself is here (a DATA), not missing.
  void learn_highest(Peer& peer, std::uint64_t highest, Time now, bool arrived = false);
  void deliver_ready(Peer& peer, MemberId sender, Time now);
  Time recovered(Peer& peer, std::uint64_t seq, Time now);
  void schedule_nak(Peer& peer, Time now, bool new_gap = false);
  void send_nak(Peer& peer, MemberId target, Time now);
  void probe_round_trip(Peer& peer, std::uint64_t naked_before, Time now);
  Duration repair_wait(const Peer& peer) const noexcept {
    return peer.nak_backoff * peer.repair_timer.timeout();
  }
  bool missing_ranges(const Peer& peer, std::uint64_t from, std::vector<SeqRange>& out) const;
  // Queues `seq` from the history as a retransmission to `to`; false if it did not encode.
  bool retransmit(std::uint64_t seq, MessageLog<Sent>::Entry sent, Destination to);
  void keep(Peer& peer, std::span<const std::byte> payload, std::span<const std::byte> meta,
            bool control);
  void repair(Peer& requester, MemberId target, Peer& of, const Nak& nak, Time now);
  void prune_kept();
  std::size_t rank(MemberId member) const noexcept;
  void send_heartbeat(Time now);
  void update_stable();
  Duration nak_backoff_draw();
  bool take_nak_token(Peer& requester, Time now);
  bool nak_copy(MemberId requester, const Nak& nak, Time now);
  void push(std::span<const std::byte> packet, Destination to = {});
  Bytes copy_of(std::span<const std::byte> bytes) {
    return pool_ != nullptr ? pool_->copy(bytes) : Bytes(bytes.begin(), bytes.end());
  }

  MemberConfig config_;
  std::unordered_map<MemberId, Peer> peers_;  // every other member of the view
  std::uint64_t next_seq_ = 1;
  std::uint64_t stable_ = 0;
  MessageLog<Sent> history_;  // seq stable_+1 .. next_seq_-1, oldest first
  Time next_heartbeat_;
  // A packet to send: its bytes are the log's, or (data_seq > 0) it is that
  // message of ours, encoded from the history when polled.
  struct Outgoing {
    Destination to;
    std::uint64_t data_seq = 0;
  };
  MessageLog<Outgoing> out_;  // packets to send
  Bytes packet_;              // scratch: a packet being encoded
  Ring<Delivery> deliveries_;
  std::mt19937_64 random_;
  double nak_shape_;  // the truncated exponential's lambda: ln(group size) + 1
  MemberCounters counters_;
  std::vector<SeqRange> ranges_;        // scratch for NAKs
  std::vector<std::uint64_t> repairs_;  // scratch: the messages a NAK has retransmitted
  std::vector<DigestEntry> digest_;     // scratch for heartbeats
  bool keep_ = false;                   // keep others' messages (views of 3 or more)
  Duration repair_floor_{};             // the repair wait's least (MemberConfig)
  // The last NAKs for our messages taken in (views of 3 or more), each sent
  // to us one to one and to the group: its second arrival is a copy. A ring
  // for the whole view, not per peer (simulated views of 1,001 members).
  struct TakenNak {
    MemberId requester = 0;
    std::uint64_t hash = 0;  // of its ranges
    Time at{};
  };
  std::array<TakenNak, 16> taken_naks_{};
  std::size_t taken_next_ = 0;
  BufferPool* pool_ = nullptr;
};

}  // namespace nexo::group
