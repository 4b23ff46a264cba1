// Internal to group::Endpoint (endpoint.cpp, endpoint_membership.cpp,
// endpoint_flush.cpp): its state. Not for other code.
//
// The protocol, in one place:
// - Liveness. Every packet of a member of our view, in our view, counts as a
//   sign of life (the Member's heartbeats come every heartbeat_interval). A
//   member silent for silence() is probed by unicast (PROBE, up to
//   kProbeTries times, probe_interval() apart); only a probe unanswered by
//   any packet in our view makes it suspected.
// - Coordinator: the first member of the view not suspected. It starts a
//   flush when there is a reason: joiners (JOIN), leavers (LEAVE), suspected
//   members, a MERGE request, or a decision to merge into another view.
// - Flush (virtual synchrony). FLUSH(new_view, merge_into) to the group;
//   every participant (the view's unsuspected members) stops sending and
//   answers FLUSH_OK with what it delivered of each sender; from then on it
//   holds further deliveries back. The coordinator computes the CUT (per
//   sender the highest any participant delivered, and who has it); each
//   participant delivers the held messages up to the cut, NAKs what it lacks
//   (the holder repairs from its kept messages), drops what lies beyond, and
//   answers FLUSH_DONE. The coordinator then sends VIEW (or, merging, MERGE to
//   the other view's coordinator, whose VIEW then takes its members in).
//   Everything is resent every resend() until answered; a participant
//   suspected meanwhile restarts the flush (a new id); a coordinator
//   suspected is replaced by the next member, whose flush has a higher id.
// - Install: the old view's orderer is flushed, then ViewChange comes, then a
//   new Member and Orderer for the new view (sequence numbers from 1).
// - Merge: coordinators multicast ANNOUNCE(size) every announce_interval();
//   a coordinator that hears another view's, larger (or as large, with a
//   lower coordinator id), flushes its own view with merge_into set.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <vector>

#include "nexo/group/endpoint.hpp"
#include "nexo/group/order.hpp"

namespace nexo::group {

struct Endpoint::Impl {
  struct Outgoing {
    Bytes bytes;
    Destination to;
  };
  struct Probing {
    int tries = 0;
    Time next{};
  };
  // The flush this member coordinates.
  struct Coordination {
    enum class Phase : std::uint8_t { collecting, cutting, merging };
    Phase phase = Phase::collecting;
    std::uint64_t id = 0;
    MemberId merge_into = 0;
    std::vector<MemberId> participants;  // the old view's members expected to answer
    View proposal;                       // the new view (id, members, contacts)
    std::map<MemberId, std::vector<DigestEntry>> oks;
    std::set<MemberId> done;
    std::vector<CutEntry> cut;
    Time next_resend{};
    Time deadline{};  // collecting and cutting: suspect who has not answered then;
                      // merging: give up on the other view then
  };
  // The flush of our view this member takes part in.
  struct Participation {
    std::uint64_t id = 0;
    MemberId coordinator = 0;
    MemberId merge_into = 0;
    bool have_cut = false;
    std::unordered_map<MemberId, std::uint64_t> cut;
    bool done = false;
    Time done_at{};
  };
  // A VIEW sent by this member, resent until every new member acknowledged it.
  struct ViewResend {
    Bytes packet;
    std::set<MemberId> unacked;
    std::unordered_map<MemberId, Bytes> contacts;
    std::uint64_t id = 0;  // the new view's
    ViewId previous_view;  // the view it replaced (LEAVE retries name it)
    Time next{};
    Time until{};
  };
  // State transfer: a joiner's reassembly of the coordinator's chunks.
  struct Incoming {
    std::uint64_t view = 0;
    MemberId from = 0;  // the VIEW's sender, acknowledged once the state is in
    bool started = false;
    std::uint32_t total = 0, received = 0;
    Bytes state;
    std::set<std::uint32_t> offsets;  // chunks received
  };
  // A state larger than this is refused (the joiner's memory is bounded).
  static constexpr std::uint32_t kMaxState = 64u << 20;
  static constexpr std::size_t kStateChunk = 60'000;

  static constexpr int kProbeTries = 3;

  EndpointConfig config;
  State state = State::idle;
  View view;  // id 0: none yet
  std::optional<Member> member;
  BufferPool pool;  // the member's deliveries' buffers, given back by the driver (recycle)
  std::unique_ptr<Orderer> orderer;
  Ring<Event> events;
  std::deque<Outgoing> out;
  std::unordered_map<MemberId, Bytes> contacts;  // known contacts
  std::mt19937_64 random;
  EndpointCounters counters;
  MemberCounters past;  // the reliability counters of views gone, and parse errors

  // Liveness, in the current view.
  std::unordered_map<MemberId, Time> last_heard;
  std::unordered_map<MemberId, Probing> probing;
  std::set<MemberId> suspected;
  std::unordered_map<MemberId, Time> slow_since;  // lagging since (SlowPolicy::remove)
  std::unordered_map<MemberId, Time> banned;      // removed as slow: no merge back until then

  // Deliveries: what went to the orderer this view, per sender; after FLUSH_OK
  // the Member's deliveries wait in `held` for the cut.
  std::unordered_map<MemberId, std::uint64_t> fifo_through;
  bool gated = false;
  std::deque<Delivery> held;
  std::deque<std::pair<Bytes, Bytes>> controls;  // the orderer's, waiting for room
  SequencedObserver sequencing;                  // observe_sequencing (empty: off)

  std::optional<Coordination> coord;
  std::optional<Participation> part;
  std::optional<ViewResend> view_resend;
  std::uint64_t highest_flush = 0;  // the highest flush id seen: new ids go above

  // Requests waiting for the next flush (at the coordinator).
  std::vector<std::pair<MemberId, Bytes>> joiners;
  std::set<MemberId> leavers;
  std::vector<std::pair<MemberId, Bytes>> mergers;  // members of a MERGE, in order
  std::optional<Error> refusal;                     // Endpoint::join_refusal
  MemberId merging_from = 0;                        // the coordinator whose MERGE `mergers` came in
  MemberId merge_target = 0;                        // the coordinator we decided to merge into
  std::uint64_t merge_min_view = 0;

  // State transfer.
  std::optional<Incoming> incoming;
  std::vector<MemberId> awaiting_state;  // joiners of the view, at the coordinator
  std::uint64_t state_view = 0;          // the view whose StateRequest is out
  std::deque<Event> before_state;        // a joiner's events until its StateTransfer
  std::vector<Bytes> state_packets;      // the STATE chunks, resent with the VIEW

  Time next_tick{}, join_started{}, next_join{}, join_deadline{}, next_leave{}, leave_deadline{};
  Time next_announce{};

  // --- timing, from config ---------------------------------------------------------
  Duration detection() const { return config.detection_time; }
  Duration tick() const;
  // Silence, the probes and the flush share detection_time: about 35%, 12%
  // and the rest (the flush under loss needs resends).
  Duration silence() const {
    return std::max<Duration>(detection() * 7 / 20, config.reliability.heartbeat_interval * 5 / 2);
  }
  Duration probe_interval() const { return detection() / 25; }
  Duration resend() const { return std::max(detection() / 50, tick()); }
  Duration announce_interval() const { return detection() / 4; }

  // --- endpoint.cpp: plumbing ----------------------------------------------------------
  void push(Bytes bytes, Destination to);
  void send_to(MemberId to, Bytes bytes);  // `to` self: handled here at once
  Header header(Type type) const;
  void handle(const Packet& packet, Time now);
  void pump(Time now);
  void feed(Delivery d);
  void report_sequenced(Time now);
  void emit(Event event);
  bool in_view(MemberId m) const;
  MemberId coordinator() const;
  void install(View next, Time now, bool state_request);
  void end_view();
  void finish_left();
  // Why a membership packet is refused: from a non-member or another group;
  // of an older view or flush, or not expected now; or breaking a rule (a
  // member twice, a view over its bound, a member banned for slowness).
  enum class Drop : std::uint8_t { stranger, stale, invalid };
  void drop(Drop cause);

  // --- endpoint_membership.cpp --------------------------------------------------------
  void on_tick(Time now);
  void check_liveness(Time now);
  void check_slow(Time now);
  void prune_contacts(const std::vector<MemberId>& previous);
  void send_join();
  void send_leave();
  void send_announce();
  void on_join(const Header& h, const Hello& hello, Time now);
  void on_leave(const Header& h, Time now);
  void on_probe(const Header& h, const Probe& probe);
  void on_announce(const Header& h, const Hello& hello, Time now);
  void on_merge(const Header& h, const Roster& roster, Time now);
  // The VIEW packet of the view, the joiners and mergers waiting, and
  // `extra` more members with `extra_contact` bytes of contacts.
  std::size_t next_view_packet(std::size_t extra, std::size_t extra_contact) const;
  void refuse(MemberId joiner, std::span<const std::byte> contact);
  void on_refuse(const Header& h, const Refuse& refuse);
  void become_alone(std::uint64_t id, Time now);

  // --- endpoint_flush.cpp -------------------------------------------------------------
  void maybe_start_flush(Time now);
  void start_flush(Time now);
  void resend_flush(Time now);
  void on_flush(const Header& h, const Flush& flush, Time now);
  void on_flush_ok(const Header& h, std::uint64_t id, std::vector<DigestEntry> digest, Time now);
  void on_cut(const Header& h, std::uint64_t id, const std::vector<CutEntry>& cut, Time now);
  void on_flush_done(const Header& h, std::uint64_t id, Time now);
  void on_view(const Header& h, const Roster& roster, Time now);
  void on_view_ack(const Header& h, std::uint64_t id);
  void send_cut();
  void check_flush_done(Time now);
  void finish_flush(Time now);
  std::vector<DigestEntry> delivered_digest() const;
  void send_view(const View& next, Time now);

  // --- endpoint_state.cpp -------------------------------------------------------------
  void on_state(const Header& h, const StateChunk& chunk);
  void provide_state(std::uint64_t view_id, Bytes state);
};

}  // namespace nexo::group
