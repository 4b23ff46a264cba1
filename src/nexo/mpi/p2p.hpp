// mpi::Engine — the point-to-point protocol of one rank, sans I/O.
//
// The engine takes sends and receives (isend, irecv), bytes that arrived from
// another rank (on_frame), and gives back frames to transmit (poll_transmit)
// and completions (test). It makes no system call and keeps no clock: a
// transport (shm, TCP) moves the frames, the MPI layer drives progress; tests
// wire engines by hand.
//
// Ranks are world ranks: the communicator layer translates its ranks to world
// ranks and back (the context id tells communicators apart), so a frame's
// source is the rank it came from, checked against on_frame's `from`.
//
// Protocol (frame.hpp has the bytes):
//   - a message of at most `eager_limit` bytes goes in one EAGER frame; the
//     receiver keeps a copy while no receive matches it (unexpected).
//   - a larger one is announced by an RTS; once a receive matches, the
//     receiver answers CTS (with the bytes it wants: fewer when its buffer is
//     short) and the sender sends DATA frames of at most `max_frame` bytes.
//   - single-copy pull: when the sender's config has `pull_pid`, its RTS
//     carries (pid, address of the send buffer); a receiver whose config has a
//     `pull` callback calls it instead of CTS/DATA, then sends FIN. If the
//     callback fails, the receiver falls back to CTS/DATA.
//   - synchronous sends complete once the receive matched: SYNC_ACK for an
//     EAGER, the CTS (or FIN) for an RTS.
// Completion of a send: standard and ready eager sends when their frame was
// handed to poll_transmit (the bytes were copied into the frame); synchronous
// eager sends when, in addition, SYNC_ACK arrived; rendezvous sends when the
// last DATA frame was handed out, or FIN arrived. Ready mode is sent like
// standard mode: a ready send with no posted receive is erroneous in MPI and
// is not detected here.
//
// Buffers belong to the caller, as in MPI: a send's `data` and a receive's
// `buffer` must live, unchanged (send) and untouched (receive), until test()
// reports the request complete. Eager data is copied only into the frame.
//
// Errors: bad arguments are invalid_argument, returned at once with no request
// made. A frame that breaks frame.hpp's rules, or that the protocol state does
// not expect (a CTS for an unknown send, DATA past the end...), is refused by
// on_frame with malformed and leaves every request as it was; so is an EAGER
// frame that would take the unexpected messages past max_unexpected_bytes,
// with overloaded (the stream from that peer is then broken: the job should
// end, as MPI implementations do when out of memory).
//
// Memory: a message on the expected path allocates nothing once the engine is
// warm. Requests live in slots reused through a free list (an id names a slot
// and that slot's use count, so a stale id is still refused), and the frames
// waiting for a peer in a per-peer Ring that keeps its storage when empty.
//
// Not thread-safe: one engine per rank, driven by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/base/ring.hpp"
#include "nexo/mpi/frame.hpp"
#include "nexo/mpi/match.hpp"

namespace nexo::mpi {

enum class SendMode : std::uint8_t { standard, synchronous, ready };

// Copies the bytes of rank `sender` at `at` into `into` (all of it), e.g. with
// process_vm_readv. An error makes the receiver fall back to CTS/DATA, and so
// should a sender the transport cannot pull from (another host: its pid means
// nothing here).
using PullFn = std::function<Result<void>(std::int32_t sender, const PullAddress& at,
                                          std::span<std::byte> into)>;

struct EngineConfig {
  std::int32_t rank = 0;                  // this rank: the source of its frames
  std::size_t eager_limit = 64 * 1024;    // messages up to this size go eager
  std::size_t max_frame = 64 * 1024;      // the largest DATA chunk (at least 1)
  std::optional<std::uint64_t> pull_pid;  // set: RTS offers (pid, address) for a pull
  PullFn pull;                            // set: pull offered RTS instead of CTS/DATA
  // The most bytes of eager messages kept while no receive matches them; an
  // EAGER frame beyond it is refused (overloaded) rather than exhaust memory.
  std::size_t max_unexpected_bytes = std::size_t{1} << 30;
};

// What an engine did, for tracing and diagnosis (never reset).
struct EngineCounters {
  std::uint64_t frames_received = 0;  // accepted by on_frame
  std::uint64_t frames_refused = 0;   // refused by on_frame (malformed, unexpected, overloaded)
  std::uint64_t frames_sent = 0;      // written by poll_transmit
  std::uint64_t eager_sends = 0;
  std::uint64_t rendezvous_sends = 0;
  std::uint64_t unexpected_arrivals = 0;  // EAGER/RTS that no posted receive matched
  std::uint64_t pulls = 0;                // single-copy pulls that succeeded
  std::uint64_t pull_fallbacks = 0;       // failed pulls answered with CTS/DATA
};

// What a completed request reports (MPI_Status). For a receive: the matched
// message's source and tag, and the bytes delivered (count); `truncated` when
// the message was longer than the buffer (MPI_ERR_TRUNCATE: the bytes that fit
// are delivered). `cancelled` when cancel() removed it (count 0). For a send:
// the destination, the tag and the bytes sent.
struct Status {
  std::int32_t source = 0;
  std::int32_t tag = 0;
  std::size_t count = 0;
  bool truncated = false;
  bool cancelled = false;
  // A receive: the sender's request id of the matched message (with `source`, a name for the
  // message across ranks: tracing draws an arrow from the send to this receive). Not compared.
  std::uint64_t message = 0;
  friend bool operator==(const Status& a, const Status& b) {
    return a.source == b.source && a.tag == b.tag && a.count == b.count &&
           a.truncated == b.truncated && a.cancelled == b.cancelled;
  }
};

class Engine {
 public:
  using RequestId = std::uint64_t;

  explicit Engine(EngineConfig config);

  const EngineConfig& config() const noexcept { return config_; }

  // The size of a poll_transmit buffer that fits any frame this engine makes.
  std::size_t frame_capacity() const noexcept;

  // Starts a send of `data` to rank `dest` (>= 0) on `context` with `tag`
  // (>= 0). Never blocks. Returns the request's id (nonzero; not reused before
  // its slot has been used 2^32 times).
  Result<RequestId> isend(std::int32_t dest, std::uint32_t context, std::int32_t tag,
                          std::span<const std::byte> data, SendMode mode = SendMode::standard);

  // The fast path of a standard send (MPI_Send) that completes at once: when no frame waits
  // for `dest` (>= 0) and `data` goes eager, writes the EAGER frame's 40-byte header into
  // `header` (its body is `data`) and returns the id it carries; nullopt when the path does
  // not apply. The caller then hands header and body to a transport at once, as one frame,
  // and calls sent_now(); if the transport refuses it, the caller drops the header and sends
  // through isend() instead: nothing has changed. No request is made, so the id is not live
  // (its low half is 0: never a request's); it names the message to the receiver only.
  std::optional<RequestId> eager_now(std::int32_t dest, std::uint32_t context, std::int32_t tag,
                                     std::span<const std::byte> data,
                                     std::span<std::byte, kFrameHeaderSize> header) const noexcept;
  // Counts the send eager_now() prepared as made and sent.
  void sent_now() noexcept;

  // Posts a receive into `buffer` from `source` (or kAnySource) on `context`
  // with `tag` (or kAnyTag). Matches an unexpected message at once if one fits.
  Result<RequestId> irecv(std::int32_t source, std::uint32_t context, std::int32_t tag,
                          std::span<std::byte> buffer);

  // Whether the engine holds nothing: no live request, no unmatched message, no frame to send.
  bool idle() const noexcept {
    return live_ == 0 && matcher_.unexpected_count() == 0 && with_output_.empty();
  }

  // The fast path of a blocking receive (MPI_Recv) while the engine is idle(): takes one
  // whole frame from rank `from` like on_frame(), except that a standard EAGER message that
  // matches (`source` or kAnySource, `context`, `tag` or kAnyTag) and fits `buffer` goes
  // into `buffer` at once, with no request; its status is returned. Any other frame goes to
  // on_frame(), and nullopt tells the caller to post its receive the normal way (irecv then
  // finds the message among the unexpected ones if it matched but did not fit).
  Result<std::optional<Status>> on_frame_for(std::int32_t from, std::span<const std::byte> bytes,
                                             std::int32_t source, std::uint32_t context,
                                             std::int32_t tag, std::span<std::byte> buffer);

  // Takes one whole frame that arrived from rank `from`. Errors: malformed (see
  // above); the engine is unchanged then.
  Result<void> on_frame(std::int32_t from, std::span<const std::byte> bytes);

  // Writes the next frame for rank `to` into `out` and returns its size; 0 when
  // nothing waits for `to`. One frame per call. too_large (nothing consumed)
  // when `out` is shorter than the frame; frame_capacity() always suffices.
  Result<std::size_t> poll_transmit(std::int32_t to, std::span<std::byte> out);
  // The same without copying a message's bytes: `out` gets the frame up to its message bytes
  // (an EAGER's header, a DATA's header and offset) and *body views those bytes in the send's
  // buffer (empty for the other kinds); the frame is out + body. The send may count as complete
  // once this returns, so the caller must hand both to a transport, or copy them, before it
  // returns to the program. `out` needs kFrameHeaderSize + kPullSize bytes.
  Result<std::size_t> poll_transmit(std::int32_t to, std::span<std::byte> out,
                                    std::span<const std::byte>* body);

  // The ranks that have frames waiting for poll_transmit.
  std::vector<std::int32_t> peers_with_output() const;
  // The same into `out` (cleared first): no allocation once `out` has grown.
  void peers_with_output(std::vector<std::int32_t>& out) const;
  bool has_output() const noexcept { return !with_output_.empty(); }

  // The request's status once it is complete (the id is then released), or
  // nullopt while it is not. invalid_argument for an id that is not live.
  Result<std::optional<Status>> test(RequestId id);

  // True when the request is live and complete (test() would report it): a peek that does
  // not release it, for MPI_Testall (which releases all or none).
  bool done(RequestId id) const noexcept {
    const Request* request = find(id);
    return request != nullptr && request->done;
  }

  // Releases a request without waiting for it (MPI_Request_free, and a
  // buffered send's own request): it goes on as before and is released when it
  // completes, its status unseen. Its buffer must live until then, as before.
  // invalid_argument for an id that is not live.
  Result<void> detach(RequestId id);

  // Cancels a receive that has not matched: it completes with `cancelled`.
  // False (no effect) for a receive that matched, a send, or an unknown id.
  bool cancel(RequestId receive);

  // The status a receive with this pattern would get now, without receiving
  // (MPI_Iprobe): nullopt when no unexpected message matches.
  std::optional<Status> iprobe(std::int32_t source, std::uint32_t context, std::int32_t tag) const;

  // Requests not yet released by test(), and messages no receive matched yet.
  std::size_t live_requests() const noexcept { return live_; }
  std::size_t unexpected_messages() const noexcept { return matcher_.unexpected_count(); }
  std::size_t unexpected_bytes() const noexcept { return unexpected_bytes_; }
  const EngineCounters& counters() const noexcept { return counters_; }

 private:
  // A send or a receive, until test() releases it.
  struct Request {
    bool is_send = false;
    RequestId id = 0;
    bool done = false;
    bool detached = false;  // released by detach(): erase once done
    Status status;
    Envelope envelope;                // send: (context, dest, tag); receive: the pattern
    std::span<const std::byte> data;  // send
    std::span<std::byte> buffer;      // receive
    SendMode mode = SendMode::standard;
    bool rendezvous = false;
    bool matched = false;      // send: SYNC_ACK, CTS or FIN came; receive: a message matched
    bool announced = false;    // send: the EAGER or RTS frame went out
    bool transmitted = false;  // send: the EAGER frame or the last DATA frame went out
    std::int32_t peer = -1;    // send: the destination; receive: the matched sender
    std::uint64_t remote_request = 0;  // the peer's request id, once known
    std::uint64_t expected = 0;        // bytes to send (after CTS) or to receive
    std::uint64_t progress = 0;        // bytes sent or received so far
  };
  // An EAGER or RTS no receive has matched yet.
  struct Incoming {
    std::int32_t from = 0;
    Envelope envelope;
    FrameKind kind = FrameKind::eager;
    bool synchronous = false;
    std::uint64_t size = 0;
    std::uint64_t sender_request = 0;
    std::optional<PullAddress> pull;
    Bytes data;  // EAGER: a copy of the message
  };
  // A frame to make when poll_transmit asks.
  struct Outgoing {
    FrameKind kind = FrameKind::eager;
    RequestId local = 0;       // EAGER, RTS, DATA: the send
    std::uint64_t remote = 0;  // CTS, SYNC_ACK, FIN: the sender's request id
    std::uint64_t size = 0;    // CTS: the bytes wanted
    Envelope envelope;         // the message's (context, source, tag)
  };

  // A request's slot: `request.id` is its id while it is live, 0 while free.
  struct Slot {
    Request request;
    std::uint32_t uses = 0;  // the id's high half: bumped at each use
  };

  RequestId add_request(const Request& request);
  Request* find(RequestId id) noexcept;
  const Request* find(RequestId id) const noexcept;
  void release(Request& request) noexcept;
  void push(std::int32_t to, Outgoing out);
  void deliver(RequestId receive, const Incoming& message, std::span<const std::byte> eager);
  void complete(Request& request);
  void reap();
  Result<void> dispatch(std::int32_t from, const Frame& frame);
  void complete_send_if_done(Request& send);
  Result<std::size_t> transmit(Outgoing& out, std::span<std::byte> into, bool& finished,
                               std::span<const std::byte>* body);

  Result<void> on_message(std::int32_t from, const Frame& frame);
  Result<void> on_cts(std::int32_t from, const Frame& frame);
  Result<void> on_data(std::int32_t from, const Frame& frame);
  Result<void> on_send_done(std::int32_t from, const Frame& frame);

  EngineConfig config_;
  Matcher matcher_;
  std::size_t unexpected_bytes_ = 0;
  EngineCounters counters_;
  std::vector<Slot> slots_;                  // indexed by (id & 0xffffffff) - 1
  std::vector<std::uint32_t> free_;          // slots not in use (indices)
  std::size_t live_ = 0;                     // slots in use
  std::vector<RequestId> reaped_;            // detached requests that completed
  std::vector<Incoming> arrived_;            // unexpected messages, by the matcher's handle
  std::vector<std::uint32_t> arrived_free_;  // arrived_ slots not in use
  std::vector<Ring<Outgoing>> output_;       // indexed by peer rank; kept when empty
  std::uint32_t next_now_ = 1;               // eager_now(): the next id's high half (never 0)
  std::vector<std::int32_t> with_output_;    // the peers whose output_ is not empty
};

}  // namespace nexo::mpi
