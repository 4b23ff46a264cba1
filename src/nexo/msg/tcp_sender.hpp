// tcp:// sending side, internal to msg/: the classes tcp_sender.cpp (writing,
// the sender's life) and tcp_sender_input.cpp (reading replies and
// acknowledgements) share.
//
// Every send appends its frame to the output buffer (the header written in
// place, the payload copied after it; chunks of 64 KiB, reused). The I/O
// thread swaps that buffer for its empty twin under the mutex and writes the
// batch with the mutex released, up to 64 chunks per gather-write, so senders
// go on appending while a batch is on its way: one post() and one write() per
// batch, not per message, and no allocation in a steady stream. A blocking
// send that finds nothing queued and nobody writing writes header and
// payload itself, from its own thread, in one gather-write (no copy); the I/O thread finishes what the socket did not take.
//
// Bytes are counted as stream offsets: `appended_` (every frame byte handed
// over) and `written_` (every byte the socket took); queued = the difference.
// A send_async Request is a mark at the offset where its frame ends and
// completes once `written_` passes it; enqueue leaves no mark at all.
//
// Reading (acknowledgements for send_sync, and the port's replies for
// receive): the socket is in a Poller of its own (SenderInput, an
// io::DrivenPoller), so a thread blocked in receive() or send_sync() reads it
// itself, and the I/O thread does while nobody does (io::LoopFallback). The
// I/O loop watches the socket directly only for writability, when a batch did
// not fit.
//
// Who writes to the socket: the holder of the writer role (writer_): nobody,
// the I/O thread (loop) or one blocking caller (caller). The role is taken and
// given up under the mutex, and only its holder touches batch_ (the bytes
// being written), without the mutex. A failure completes every pending
// Request with its error, once, and stays: every later call returns it.
#pragma once

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "nexo/io/driven_poller.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/frame.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::msg::tcp_internal {


constexpr std::size_t kGatherPieces = 64;  // chunks per write (write_gather's bound)

// Frames appended back to back in chunks of kChunk bytes (a larger frame gets
// a chunk of its own); a frame never straddles two chunks. Emptied chunks go
// to a spare list that a sender's two buffers share (under its mutex), so a
// steady stream allocates nothing and touches no fresh memory however far it
// runs ahead of the socket, and a growing buffer never copies what it holds.
// Counts the messages and payload bytes in it, for the counters once written.
class OutBuffer {
 public:
  struct Chunk {
    std::unique_ptr<std::byte[]> data;
    std::size_t capacity = 0, size = 0;
  };
  using Spares = std::vector<Chunk>;
  static constexpr std::size_t kChunk = 64 * 1024;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Makes `n` more contiguous bytes at the end and returns where they start.
  std::byte* extend(std::size_t n, Spares& spares) {
    if (chunks_.empty() || chunks_.back().capacity - chunks_.back().size < n) {
      if (n <= kChunk && !spares.empty()) {
        chunks_.push_back(std::move(spares.back()));
        spares.pop_back();
      } else {
        const std::size_t capacity = std::max(n, kChunk);
        chunks_.push_back({std::make_unique_for_overwrite<std::byte[]>(capacity), capacity, 0});
      }
    }
    Chunk& last = chunks_.back();
    std::byte* at = last.data.get() + last.size;
    last.size += n;
    size_ += n;
    return at;
  }
  // The bytes from `offset` on, as up to out.size() pieces for a gather-write;
  // returns how many.
  std::size_t pieces(std::size_t offset, std::span<std::span<const std::byte>> out) const {
    std::size_t count = 0;
    for (const Chunk& chunk : chunks_) {
      if (count == out.size()) break;
      if (offset >= chunk.size) {
        offset -= chunk.size;
        continue;
      }
      out[count++] = std::span<const std::byte>(chunk.data.get() + offset, chunk.size - offset);
      offset = 0;
    }
    return count;
  }
  void count(std::size_t payload) noexcept {
    ++messages_;
    payload_ += payload;
  }
  std::uint64_t messages() const noexcept { return messages_; }
  std::uint64_t payload() const noexcept { return payload_; }
  // Empties it; its standard chunks go to `spares` (up to `max_spares` of them).
  void clear(Spares& spares, std::size_t max_spares) noexcept {
    for (Chunk& chunk : chunks_) {
      if (chunk.capacity != kChunk || spares.size() >= max_spares) continue;  // freed below
      chunk.size = 0;
      spares.push_back(std::move(chunk));
    }
    chunks_.clear();
    size_ = messages_ = payload_ = 0;
  }
  void swap(OutBuffer& other) noexcept {
    std::swap(chunks_, other.chunks_);
    std::swap(size_, other.size_);
    std::swap(messages_, other.messages_);
    std::swap(payload_, other.payload_);
  }

 private:
  std::vector<Chunk> chunks_;
  std::size_t size_ = 0;
  std::uint64_t messages_ = 0, payload_ = 0;
};

class TcpSender;

// The reading side's driver. handle() runs the owner's reading with this
// input's lock held (one reader at a time), and nothing once detached.
class SenderInput final : public io::DrivenPoller {
 public:
  SenderInput(io::Poller poller, TcpSender& owner)
      : io::DrivenPoller(std::move(poller)), owner_(&owner) {}
  // After this no handle() touches the owner. Waits for one in progress.
  void detach() {
    std::lock_guard lock(mutex_);
    owner_ = nullptr;
  }
  // The reply queue has room again: read on (from whoever drives next).
  void resume() {
    resume_.store(true);
    poller().interrupt();
  }

 private:
  void handle(std::span<const io::Poller::Event> events) override;
  bool wait_directly() override;

  std::mutex mutex_;
  TcpSender* owner_;
  std::atomic<bool> resume_{false};
};

class TcpSender final : public SenderBackend {
 public:
  TcpSender(Context& context, Uri uri, net::TcpStream stream, const SenderOptions& options)
      : context_(context),
        uri_(std::move(uri)),
        stream_(std::move(stream)),
        options_(options),
        shared_(std::make_shared<Shared>(options.replies)),
        source_(make_source(uri_.to_string())) {}
  ~TcpSender() override { close(); }

  Result<void> start();
  Result<io::Request<void>> submit(std::span<const std::byte> data, bool until_taken,
                                   bool write_now) override;
  Result<void> enqueue(std::span<const std::byte> data) override;
  Result<void> wait_for_space(io::Clock::time_point deadline) override;
  Result<void> flush(io::Clock::time_point deadline) override;
  void close() override;
  const Counters& counters() const noexcept override { return shared_->counters; }
  PortQueue* replies() noexcept override { return &shared_->replies; }
  std::shared_ptr<io::Progress> progress() const override { return input_; }
  void want_background() override {
    if (fallback_) fallback_->want_background();
  }

  // SenderInput's, with its lock held: reads what the socket has (or only
  // re-parses, `resumed`, after a pause). Completions run after the lock.
  struct Completions;
  void read_input(bool readable, bool resumed, PortQueue::Handoffs& out, Completions& done);
  // SenderInput's, with its lock held: waits in the socket's read (up to
  // io::DrivenPoller::kDirectWaitLimit) and acts on what came. false: nothing
  // came, or reading is paused or over, or bytes wait to be written (the I/O
  // thread's progress on them must be able to interrupt the leader).
  bool read_waiting(PortQueue::Handoffs& out, Completions& done);
  static void finish(Completions& done);

 private:
  enum class Writer { none, loop, caller };
  struct Mark {
    std::uint64_t end;         // the stream offset where the frame ends
    io::Completer<void> left;  // completes once written_ reaches `end`
  };
  std::string where() const { return "send to " + uri_.to_string(); }
  std::optional<Error> refuse(std::size_t payload) const;
  std::optional<Error> refuse_locked(std::size_t frame_size) const;
  void append_locked(frame::Kind kind, std::uint64_t id, std::span<const std::byte> data);
  bool claim_drain_locked();
  void post_drain() {
    context_.io().post([this] { drain_from_loop(); });
  }
  bool write_inline(std::unique_lock<std::mutex>& lock, frame::Kind kind, std::uint64_t id,
                    std::span<const std::byte> data, Completions& done);
  void drain_from_loop();
  bool next_batch_locked();
  void batch_written_locked(std::size_t n, Completions& done);
  void advance_locked(std::size_t n, Completions& done);
  void fail_locked(Error error, Completions& done);
  void fail_marks_locked(Completions& done);
  Result<void> set_writable_interest(bool writable);
  void on_writable();
  bool parse_input(PortQueue::Handoffs& out, Completions& done);
  std::span<std::byte> input_space();
  // A read of the socket ended in `error`: the connection has failed.
  void input_failed(const Error& error, Completions& done);
  void stop_reading();

  Context& context_;
  Uri uri_;
  net::TcpStream stream_;
  SenderOptions options_;
  // What may outlive this object by a moment: a reader finishing its turn.
  struct Shared {
    explicit Shared(QueueLimits limits) : replies(limits, counters) {}
    Counters counters;
    PortQueue replies;  // the port's replies, for receive()
  };
  const std::shared_ptr<Shared> shared_;
  Source source_;  // the replies' origin: this sender's URI
  std::shared_ptr<SenderInput> input_;
  std::unique_ptr<io::LoopFallback> fallback_;

  std::mutex mutex_;                  // guards everything down to the writer's part
  std::condition_variable progress_;  // bytes written, writer role given up, failure
  OutBuffer pending_;                 // frames not yet handed to the writer
  // Chunks for pending_ (and batch_'s rest), kept for reuse: as many as a full
  // local buffer holds (what the two buffers' capacity used to keep), so a
  // stream that keeps it full frees and faults in no memory.
  OutBuffer::Spares spares_;
  const std::size_t max_spares_ = options_.max_queued_bytes / OutBuffer::kChunk + 2;
  std::uint64_t appended_ = 0;        // stream offset: every frame byte handed over
  std::uint64_t written_ = 0;         // stream offset: every byte the socket took
  std::deque<Mark> marks_;            // send_async requests, by end offset
  std::unordered_map<std::uint64_t, io::Completer<void>> awaiting_ack_;
  std::uint64_t next_id_ = 1;
  std::optional<Error> failed_;
  bool closed_ = false;
  Writer writer_ = Writer::none;
  bool writing_ = false;       // the writer is in a write() with the mutex released
  bool drain_posted_ = false;  // a drain_from_loop() is queued on the I/O thread

  // The writer role's holder only.
  OutBuffer batch_;
  std::size_t batch_written_ = 0;

  // Loop thread only.
  std::unique_ptr<io::IoWatcher> watcher_;  // the socket's writability
  bool writable_armed_ = false;

  // Reading: SenderInput's lock held.
  Bytes in_;
  std::size_t in_start_ = 0, in_end_ = 0;  // received, not yet parsed
  bool input_paused_ = false;              // the reply queue is full
  bool input_done_ = false;                // the socket is out of the poller

 public:
  struct Completions {
    std::vector<std::pair<io::Completer<void>, Result<void>>> requests;
    std::optional<Error> failure;     // the replies' queue closes with it
    std::shared_ptr<Shared> replies;  // set with failure
  };
};

}  // namespace nexo::msg::tcp_internal
