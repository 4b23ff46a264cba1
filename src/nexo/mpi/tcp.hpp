// TcpWorld — the TCP transport of the ranks of a job: whole frames, opaque bytes of any size
// (0 .. TcpOptions::max_frame), between world ranks over one TCP connection per pair. It has
// the shape of ShmWorld (shm.hpp) so that the runtime drives both the same way: send() never
// blocks and says false when it cannot take a frame now, poll() delivers whole frames, wait()
// blocks until there is something to do.
//
// Wire-up. Every rank first makes its listener (listen(): an ephemeral port) and publishes
// "ip:port" (the launcher's table). connect() then builds the mesh: for each pair the higher
// rank connects to the lower one and sends a hello; the lower one checks it and answers with its
// own hello. A connection whose hello is wrong (another program, another job, a rank that is
// not expected or already connected) is closed and counted in the error of a connect() that
// times out; a connector whose hello is refused (the acceptor closed) fails at once with an
// error naming the rank and the address. The hello, both ways (integers little-endian):
//
//   offset  size  field
//   0       8     magic "NXMPITCP"
//   8       2     version (1)
//   10      2     cookie length (0..64)
//   12      4     rank of the sender (i32)
//   16      4     world size (u32)
//   20      4     reserved, 0
//   24      64    the job cookie, zero-padded
//
// Stream format after the hello. Each direction carries frames back to back, each an 8-byte
// length, then that many bytes:
//
//   u64 LE frame length | frame bytes
//
// A length over max_frame is a broken peer: poll() fails with too_large naming the rank.
//
// Sending. send() writes the length and the parts with one writev when nothing is queued for
// the peer (no copy when the socket takes it all); what the socket does not take is copied into
// the peer's output queue, written by later send(), poll() and flush() calls. While the queue
// holds max_queued bytes or more, send() takes nothing and returns false: poll() and retry.
// While it holds anything, a frame over max_copied is refused the same way (not copied: once the
// queue is written, the retry goes straight from the caller's bytes), so only the tail of a
// large frame the socket did not take is ever copied.
//
// Receiving. poll() reads each readable connection in reads of up to 64 KiB and delivers every
// whole frame in them, straight from that buffer. A frame over 32 KiB is read into a buffer of
// its own size (kept for the next large frame, up to 64 MiB): only the bytes that came in the
// same read as its length are copied there, the rest is read straight into it.
//
// Readiness. wait() blocks in epoll on every connection (readable; writable too while output is
// queued) and hands what it saw to the next poll(), which reads only those connections (and,
// without a wait() before, asks epoll without blocking: one system call, not one per peer).
//
// Failure. A peer that closed or reset its connection, or broke the stream format, makes
// poll()/send()/flush() fail naming the rank (not_connected for a closed or reset connection:
// the runtime ends the job). Tearing a job down cleanly is the runtime's business (it agrees on
// the end, MPI_Finalize, before the worlds are destroyed).
//
// Thread contract: a TcpWorld is used by one thread at a time (the rank's progress engine);
// wake() may be called from any thread. Move-only; every socket is closed on destruction and on
// every error path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/io/poller.hpp"
#include "nexo/mpi/shm_ring.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::mpi {

struct TcpOptions {
  // The largest frame a receiver accepts (a bound on what a bad peer can make it allocate).
  std::size_t max_frame = std::size_t{1} << 32;
  // send() takes no new frame for a peer while this many bytes wait in its output queue.
  std::size_t max_queued = std::size_t{4} << 20;
  // Nor a frame larger than this while anything waits there: it is written later straight from
  // the caller's bytes instead of being copied (a copy costs as much CPU as the send itself).
  std::size_t max_copied = std::size_t{256} << 10;
  // SO_SNDBUF and SO_RCVBUF of every connection; 0 leaves the kernel's autotuning (faster on
  // Linux: a fixed size turns autotuning off and is capped by net.core.[rw]mem_max).
  int socket_buffer = 0;
};

// What a rank's TCP transport did, for the CLI, tests and tuning.
struct TcpStats {
  std::uint64_t frames_sent = 0;      // taken by send()
  std::uint64_t frames_received = 0;  // delivered by poll()
  std::uint64_t bytes_sent = 0;       // written to sockets (length prefixes included)
  std::uint64_t bytes_received = 0;   // read from sockets
  std::uint64_t sends_full = 0;       // send() returned false (a full queue)
  std::uint64_t bytes_queued = 0;     // copied into output queues (the socket took less)
  std::uint64_t large_frames = 0;     // frames read into a buffer of their own
  std::uint64_t waits = 0;            // wait() calls that blocked in epoll
};

class TcpWorld {
 public:
  // Binds a listener for the mesh to `bind_ip` (an IPv4 or IPv6 literal, not a name) on an
  // ephemeral port. Publish listener.local_endpoint().to_string() ("127.0.0.1:40123",
  // "[::1]:40123"); do not bind a wildcard address (peers cannot connect to 0.0.0.0).
  // Errors: invalid_argument (not a literal), as TcpListener::bind.
  static Result<net::TcpListener> listen(std::string_view bind_ip);

  // Builds this rank's part of the mesh and returns the world. `addresses` has one entry per
  // world rank: its listener's "ip:port", or nullopt for a rank not reached over TCP (this rank
  // itself, a rank on the same host reached through shared memory). The tables of all ranks
  // must agree on which pairs use TCP; this rank's own entry is ignored. Connects to every
  // lower rank with an address (a failed attempt, refused say, is retried every 20 ms; one
  // attempt waits at most 1 s) and accepts every higher one, checking each hello against
  // `job_cookie` (at most 64 bytes) and the table. Blocks until all are up or `timeout` passes.
  // The listener is closed on return (a late stranger finds nobody).
  // Errors: invalid_argument (rank, table, an address that is not "ip:port", cookie),
  // timed_out (names every rank missing with the address tried or awaited and the last connect
  // error, and the connections refused meanwhile), refused (a peer closed the connection on
  // this rank's hello, or answered with a wrong one), system (epoll).
  static Result<TcpWorld> connect(net::TcpListener listener, int rank,
                                  std::span<const std::optional<std::string>> addresses,
                                  std::string_view job_cookie, Timeout timeout,
                                  TcpOptions options = {});

  TcpWorld(TcpWorld&&) noexcept;
  TcpWorld& operator=(TcpWorld&&) noexcept;
  TcpWorld(const TcpWorld&) = delete;
  TcpWorld& operator=(const TcpWorld&) = delete;
  ~TcpWorld();

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return nranks_; }
  // Whether `rank` is reached through this world.
  bool connected_to(int rank) const noexcept;
  // The connections' sockets, and whether each has output queued that waits for room (for a
  // watcher that only waits for their readiness, and never reads or writes them). Into `out`,
  // cleared first: no allocation once it has grown.
  struct Socket {
    int fd = -1;
    bool wants_write = false;
  };
  void sockets(std::vector<Socket>& out) const;

  // Sends one frame, the concatenation of `parts`, to `to`. Never blocks. Returns true once the
  // frame is taken (written, or partly written and the rest copied: the parts may be reused at
  // once); false when the peer's output queue is over max_queued, or not empty and the frame
  // over max_copied (nothing taken: poll() or wait(), and retry the same or another frame). Errors:
  // invalid_argument (self, a rank out of range or not reached over TCP), too_large (over
  // max_frame), not_connected (the connection broke; names the rank).
  Result<bool> send(int to, FrameParts parts);
  Result<bool> send(int to, std::span<const std::byte> frame);

  // Writes what the sockets take of the output queues. Never blocks. Returns true when every
  // queue is empty. Errors: not_connected naming the rank.
  Result<bool> flush();
  // True while some output queue holds bytes.
  bool has_pending_output() const noexcept { return pending_peers_ > 0; }
  // Bytes waiting in the output queue of `rank` (0 for a rank not over TCP).
  std::size_t queued_bytes(int rank) const noexcept;

  // Flushes, then delivers the frames that have arrived, from any rank, calling
  // deliver(from, frame) for each (frame valid only during the call; deliver may send(), not
  // poll()). Takes up to `max_frames`, ranks in turn. Returns how many were delivered. Never
  // blocks. Errors: not_connected (a peer closed or reset; names the rank), too_large (a length
  // over max_frame), system.
  using Deliver = std::function<void(int from, std::span<const std::byte> frame)>;
  Result<std::size_t> poll(const Deliver& deliver, std::size_t max_frames = SIZE_MAX);

  // True when poll() has whole frames already read (left by a max_frames limit): it would
  // deliver without reading a socket, so waiting on native_handle() would be wrong.
  bool has_buffered() const noexcept { return buffered_peers_ > 0; }

  // From now on a peer that closes its connection cleanly, between frames, is a rank that
  // finished (MPI_Finalize): its connection is dropped without an error. A close in the middle
  // of a frame, or a reset, is still an error.
  void accept_closes() noexcept { accept_closes_ = true; }

  // Blocks until a connection is readable (or closed), a connection with queued output is
  // writable, wake() was called, or `timeout` passes (nullopt: no limit). Returns at once when
  // has_buffered(), or while what an earlier wait() saw has not been poll()ed yet. True if there
  // is something to do (a spurious true is possible), false on timeout. Errors: none today (the
  // Result leaves room, as ShmWorld's).
  Result<bool> wait(Timeout timeout);
  // Makes a wait() in progress, or the next one, return true. Any thread.
  void wake() noexcept { poller_->interrupt(); }

  // An epoll descriptor, readable whenever wait() would return (but see has_buffered()): a
  // runtime that also waits on other things adds it to its own poll set.
  int native_handle() const noexcept { return poller_->native_handle(); }
  // The connections' descriptors, by rank (-1: not over TCP), for a runtime that polls them
  // itself.
  std::vector<int> fds() const;

  const TcpStats& stats() const noexcept { return stats_; }

 private:
  struct Peer;
  struct Chunk;
  TcpWorld(int rank, TcpOptions options, io::Poller poller, std::vector<Peer> peers);

  Error peer_error(int rank, Error error);
  Result<void> set_write_interest(int rank, bool on);
  Result<void> flush_peer(int rank);
  Result<void> queue_rest(int rank, std::span<const std::span<const std::byte>> gathered,
                          FrameParts parts, std::size_t skip);
  void set_buffered(Peer& peer, bool on) noexcept;
  Chunk take_chunk(std::size_t need);
  void recycle(Chunk chunk);
  Result<std::size_t> read_peer(int rank, const Deliver& deliver, std::size_t budget);
  Result<std::size_t> deliver_buffered(int rank, const Deliver& deliver, std::size_t budget);
  Result<bool> read_large(int rank, const Deliver& deliver);
  Result<std::size_t> receive(int rank, std::span<std::byte> into);

  int rank_ = 0;
  int nranks_ = 0;
  TcpOptions options_;
  std::unique_ptr<io::Poller> poller_;    // heap: wake() may run on another thread during a move
  std::vector<Peer> peers_;               // indexed by world rank
  std::vector<io::Poller::Event> ready_;  // what the last wait() saw, for the next poll()
  std::vector<Chunk> spare_chunks_;       // written output chunks kept for reuse
  int next_poll_ = 0;
  int pending_peers_ = 0;   // peers with queued output
  int buffered_peers_ = 0;  // peers with whole frames in their input buffer
  TcpStats stats_;
  bool accept_closes_ = false;
};

}  // namespace nexo::mpi
