// tcp:// sending side.
//
// Every send appends its frame to the output buffer (the header written in
// place, the payload copied after it; chunks of 64 KiB, reused). The I/O
// thread swaps that buffer for its empty twin under the mutex and writes the
// batch with the mutex released, up to 64 chunks per gather-write, so senders
// go on appending while a batch is on its way: one post() and one write() per
// batch, not per message, and no allocation in a steady stream. A blocking send that finds nothing queued and
// nobody writing writes header and payload itself, from its own thread, in one
// gather-write (no copy); the I/O thread finishes what the socket did not take.
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

namespace nexo::msg {
namespace {

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

void SenderInput::handle(std::span<const io::Poller::Event> events) {
  PortQueue::Handoffs out;
  TcpSender::Completions done;
  TcpSender* owner = nullptr;
  {
    std::lock_guard lock(mutex_);
    owner = owner_;
    if (!owner) return;
    owner->read_input(!events.empty(), resume_.exchange(false), out, done);
  }
  // Outside the lock: a callback may close the sender (detach() takes the lock).
  out.run();
  TcpSender::finish(done);
}

bool SenderInput::wait_directly() {
  PortQueue::Handoffs out;
  TcpSender::Completions done;
  bool came = false;
  {
    std::lock_guard lock(mutex_);
    if (!owner_) return false;
    came = owner_->read_waiting(out, done);
  }
  out.run();
  TcpSender::finish(done);
  return came;
}

void TcpSender::finish(Completions& done) {
  for (auto& [completer, result] : done.requests)
    completer.complete(std::move(result));
  done.requests.clear();
  if (done.failure) done.replies->replies.close(*std::move(done.failure));
  done.failure.reset();
}

Result<void> TcpSender::start() {
  auto poller = io::Poller::create();
  if (!poller) return std::move(poller).error();
  if (auto added = poller->add(stream_.native_handle(), io::kReadable, 1); !added)
    return std::move(added).error();
  input_ = std::make_shared<SenderInput>(std::move(*poller), *this);
  auto fallback = io::LoopFallback::start(context_.io(), input_);
  if (!fallback) return std::move(fallback).error();
  fallback_ = std::move(*fallback);
  (void)context_.io().call<bool>([this]() -> Result<bool> {
    watcher_ = std::make_unique<io::IoWatcher>(context_.io().loop(), stream_.native_handle(),
                                               [this](std::uint32_t) { on_writable(); });
    return true;
  });
  return ok();
}

std::optional<Error> TcpSender::refuse(std::size_t payload) const {
  if (payload <= options_.max_message_size) return std::nullopt;
  return Error(ErrorKind::too_large, where() + ": message of " + std::to_string(payload) +
                                         " bytes exceeds the limit of " +
                                         std::to_string(options_.max_message_size));
}

std::optional<Error> TcpSender::refuse_locked(std::size_t frame_size) const {
  if (closed_) return Error(ErrorKind::closed, where() + ": the sender is closed");
  if (failed_) return *failed_;
  const std::uint64_t queued = appended_ - written_;
  if (queued > 0 && queued + frame_size > options_.max_queued_bytes)
    return Error(ErrorKind::would_block, where() + ": the local buffer is full");
  return std::nullopt;
}

void TcpSender::append_locked(frame::Kind kind, std::uint64_t id, std::span<const std::byte> data) {
  const std::size_t header = frame::header_size(kind);
  std::byte* at = pending_.extend(header + data.size(), spares_);
  frame::write_header(at, kind, id, data.size());
  if (!data.empty()) std::memcpy(at + header, data.data(), data.size());
  pending_.count(data.size());
  appended_ += header + data.size();
}

// Whether the caller must post a drain: frames wait, nobody writes them and no
// drain is on its way (a writer at work takes them when its batch is done).
bool TcpSender::claim_drain_locked() {
  if (drain_posted_ || writer_ != Writer::none || pending_.empty()) return false;
  drain_posted_ = true;
  return true;
}

Result<void> TcpSender::enqueue(std::span<const std::byte> data) {
  if (auto refused = refuse(data.size())) return *std::move(refused);
  bool post = false;
  {
    std::lock_guard lock(mutex_);
    if (auto refused = refuse_locked(frame::header_size(frame::kData) + data.size()))
      return *std::move(refused);
    append_locked(frame::kData, 0, data);
    post = claim_drain_locked();
  }
  if (post) post_drain();
  return ok();
}

Result<io::Request<void>> TcpSender::submit(std::span<const std::byte> data, bool until_taken,
                                            bool write_now) {
  if (auto refused = refuse(data.size())) return *std::move(refused);
  const auto kind = until_taken ? frame::kDataToAck : frame::kData;
  // A synchronous send's wait reads the acknowledgement itself (input_ leads).
  auto [request, completer] =
      io::Request<void>::make(until_taken ? std::shared_ptr<io::Progress>(input_) : nullptr);
  Completions done;
  bool post = false;
  {
    std::unique_lock lock(mutex_);
    const std::size_t size = frame::header_size(kind) + data.size();
    if (auto refused = refuse_locked(size)) return *std::move(refused);
    const std::uint64_t id = until_taken ? next_id_++ : 0;
    if (until_taken) {
      awaiting_ack_.emplace(id, std::move(completer));
    } else {
      marks_.push_back({appended_ + size, std::move(completer)});
    }
    if (write_now && writer_ == Writer::none && pending_.empty()) {
      post = write_inline(lock, kind, id, data, done);
    } else {
      append_locked(kind, id, data);
    }
    post = claim_drain_locked() || post;
  }
  finish(done);
  if (post) post_drain();
  return request;
}

// A blocking send with nothing queued and nobody writing: takes the writer
// role and writes header and payload from this thread, the mutex released.
// The rest of a frame the socket did not take goes to batch_, and the role to
// the I/O thread: returns true when it must be told (post a drain).
bool TcpSender::write_inline(std::unique_lock<std::mutex>& lock, frame::Kind kind, std::uint64_t id,
                             std::span<const std::byte> data, Completions& done) {
  std::array<std::byte, frame::kMaxHeaderSize> header;
  const std::size_t header_size = frame::write_header(header.data(), kind, id, data.size());
  const std::size_t size = header_size + data.size();
  appended_ += size;
  writer_ = Writer::caller;
  writing_ = true;
  lock.unlock();
  const std::array<std::span<const std::byte>, 2> parts = {std::span(header).first(header_size),
                                                           data};
  auto n = stream_.write_gather(parts);
  lock.lock();
  writer_ = Writer::none;
  writing_ = false;
  progress_.notify_all();  // close() waits for the caller to give the role up
  if (!n && !n.error().is(ErrorKind::would_block)) {
    fail_locked(std::move(n).error(), done);
    return false;
  }
  const std::size_t taken = n ? *n : 0;
  advance_locked(taken, done);
  if (taken == size) shared_->counters.add_out(data.size());
  if (failed_) fail_marks_locked(done);  // the reading side failed meanwhile
  if (taken == size || closed_ || failed_) return false;
  std::byte* rest = batch_.extend(size - taken, spares_);  // batch_ is empty: nobody was writing
  const std::size_t from_header = taken < header_size ? header_size - taken : 0;
  std::memcpy(rest, header.data() + (header_size - from_header), from_header);
  std::memcpy(rest + from_header, data.data() + (data.size() - (size - taken - from_header)),
              size - taken - from_header);
  batch_.count(data.size());
  batch_written_ = 0;
  writer_ = Writer::loop;
  if (drain_posted_) return false;
  drain_posted_ = true;
  return true;
}

// The I/O thread's writer: writes batch after batch, each with the mutex
// released, until nothing is left (the role is given up), the socket is full
// (it resumes when writable) or a bound on rounds (it posts itself again, so
// that acknowledgements and other work on the loop are not held up).
void TcpSender::drain_from_loop() {
  constexpr int kMaxRounds = 16;
  Completions done;
  std::unique_lock lock(mutex_);
  drain_posted_ = false;
  if (writer_ == Writer::caller) return;  // it posts a drain when it gives the role up
  for (int round = 0; next_batch_locked(); ++round) {
    if (round == kMaxRounds) {
      drain_posted_ = true;
      post_drain();
      break;
    }
    writing_ = true;
    lock.unlock();
    finish(done);
    std::array<std::span<const std::byte>, kGatherPieces> pieces;
    auto n = stream_.write_gather(
        std::span(pieces).first(batch_.pieces(batch_written_, pieces)));
    lock.lock();
    writing_ = false;
    if (n) batch_written_locked(*n, done);
    if (failed_) fail_marks_locked(done);  // the reading side failed meanwhile
    if (!n) {
      if (!n.error().is(ErrorKind::would_block)) {
        fail_locked(std::move(n).error(), done);
      } else if (!writable_armed_) {  // the socket is full: go on when it is writable
        if (auto watching = set_writable_interest(true); !watching) {
          fail_locked(std::move(watching).error().with_context(
                          where() + ": cannot watch the connection for room to write"),
                      done);
        }
      }
      break;
    }
  }
  lock.unlock();
  finish(done);
}

// Makes batch_ hold bytes to write, swapping pending_ in when the last batch is
// done; false (the writer role given up) when there is nothing left.
bool TcpSender::next_batch_locked() {
  if (closed_ || failed_) {
    writer_ = Writer::none;
    return false;
  }
  if (batch_written_ == batch_.size()) {
    batch_.clear(spares_, max_spares_);
    batch_written_ = 0;
    if (pending_.empty()) {
      writer_ = Writer::none;
      if (writable_armed_) (void)set_writable_interest(false);  // stopping cannot fail
      return false;
    }
    batch_.swap(pending_);
  }
  writer_ = Writer::loop;
  return true;
}

void TcpSender::batch_written_locked(std::size_t n, Completions& done) {
  batch_written_ += n;
  if (batch_written_ == batch_.size())
    shared_->counters.add_out_many(batch_.messages(), batch_.payload());
  advance_locked(n, done);
}

// `n` more bytes of the stream have left: completes the marks they cover.
void TcpSender::advance_locked(std::size_t n, Completions& done) {
  written_ += n;
  while (!marks_.empty() && marks_.front().end <= written_) {
    done.requests.emplace_back(std::move(marks_.front().left), ok());
    marks_.pop_front();
  }
  progress_.notify_all();
}

// A failure of the connection: every pending request ends with it, except the
// marks of bytes a writer is passing to the socket right now (the reading side
// can fail meanwhile): those complete as the write turns out, and the writer
// fails the rest (fail_marks_locked) when it takes the mutex again.
void TcpSender::fail_locked(Error error, Completions& done) {
  if (!failed_) failed_ = error;
  done.failure = error;
  done.replies = shared_;
  if (!writing_) fail_marks_locked(done);
  for (auto& [id, completer] : awaiting_ack_)
    done.requests.emplace_back(std::move(completer), error);
  awaiting_ack_.clear();
  pending_.clear(spares_, max_spares_);
  progress_.notify_all();
}

void TcpSender::fail_marks_locked(Completions& done) {
  for (auto& mark : marks_)
    done.requests.emplace_back(std::move(mark.left), *failed_);
  marks_.clear();
}

// Loop thread.
// Fails when the loop cannot watch the socket: then nothing would ever write
// what waits, so the caller fails the connection.
Result<void> TcpSender::set_writable_interest(bool writable) {
  if (!watcher_) return ok();
  if (writable) {
    if (auto started = watcher_->start(io::kWritable); !started) return started;
  } else {
    watcher_->stop();
  }
  writable_armed_ = writable;
  return ok();
}

void TcpSender::on_writable() {
  drain_from_loop();
  std::lock_guard lock(mutex_);
  if ((failed_ || closed_) && watcher_) {
    watcher_->stop();
    writable_armed_ = false;
  }
}

void TcpSender::read_input(bool readable, bool resumed, PortQueue::Handoffs& out,
                           Completions& done) {
  if (input_done_) return;
  if (resumed && input_paused_) {
    input_paused_ = false;
    if (!parse_input(out, done)) return stop_reading();
    if (input_paused_) return;
    if (!input_->poller().modify(stream_.native_handle(), io::kReadable, 1)) {
      std::lock_guard lock(mutex_);
      fail_locked(Error(ErrorKind::system,
                        "receive from " + uri_.to_string() + ": cannot watch the connection again"),
                  done);
      return stop_reading();
    }
    readable = true;
  }
  if (!readable || input_paused_) return;
  for (int round = 0; round < 16; ++round) {
    const std::span<std::byte> space = input_space();
    auto n = stream_.read(space);
    if (!n) {
      if (n.error().is(ErrorKind::would_block)) return;
      return input_failed(n.error(), done);
    }
    in_end_ += *n;
    if (!parse_input(out, done)) return stop_reading();
    if (input_paused_ || *n < space.size()) return;  // paused, or the socket is drained
  }
}

bool TcpSender::read_waiting(PortQueue::Handoffs& out, Completions& done) {
  if (input_done_ || input_paused_ || !stream_.non_blocking_calls()) return false;
  {
    std::lock_guard lock(mutex_);
    if (appended_ != written_ || writer_ != Writer::none) return false;
  }
  auto n = stream_.read_waiting(input_space());
  if (!n) {
    if (n.error().is(ErrorKind::would_block)) return false;  // nothing within the limit
    input_failed(n.error(), done);
    return true;
  }
  in_end_ += *n;
  if (!parse_input(out, done)) stop_reading();
  return true;
}

// Room at the end of in_ for a read: 4 KiB at least.
std::span<std::byte> TcpSender::input_space() {
  if (in_start_ > 0 && in_start_ == in_end_) in_start_ = in_end_ = 0;
  if (in_.size() - in_end_ < 4096) {
    if (in_start_ > 0) {  // keep the unparsed tail at the front
      std::copy(in_.begin() + static_cast<std::ptrdiff_t>(in_start_),
                in_.begin() + static_cast<std::ptrdiff_t>(in_end_), in_.begin());
      in_end_ -= in_start_;
      in_start_ = 0;
    }
    if (in_.size() - in_end_ < 4096)
      in_.resize(std::max<std::size_t>(in_end_ + 4096, in_.size() * 2));
  }
  return std::span(in_).subspan(in_end_);
}

void TcpSender::input_failed(const Error& error, Completions& done) {
  {
    std::lock_guard lock(mutex_);
    fail_locked(error.with_context("the receiver's connection ended; messages not yet "
                                   "acknowledged may or may not have been taken"),
                done);
  }
  stop_reading();
}

// Acts on the whole frames in in_: acknowledgements complete send_syncs,
// data frames are replies for the queue. false: the connection has failed.
bool TcpSender::parse_input(PortQueue::Handoffs& out, Completions& done) {
  while (in_start_ < in_end_) {
    frame::Parsed f;
    std::string why;
    const auto input = std::span<const std::byte>(in_).subspan(in_start_, in_end_ - in_start_);
    auto status = frame::parse(input, options_.max_message_size, f, why);
    if (status == frame::Status::need_more) break;
    if (status == frame::Status::malformed || f.kind == frame::kDataToAck) {
      std::lock_guard lock(mutex_);
      fail_locked(Error(ErrorKind::malformed,
                        "from " + uri_.to_string() + ": " +
                            (why.empty() ? "the port asked for an acknowledgement" : why)),
                  done);
      return false;
    }
    if (f.kind == frame::kAck) {
      std::lock_guard lock(mutex_);
      if (auto it = awaiting_ack_.find(f.id); it != awaiting_ack_.end()) {
        done.requests.emplace_back(std::move(it->second), ok());
        awaiting_ack_.erase(it);
      }
    } else {
      Message reply{Bytes(f.payload.begin(), f.payload.end()), source_};
      const auto offered = shared_->replies.offer(reply, {}, &out);
      if (offered == PortQueue::Offer::closed) return true;  // closing: nobody will take it
      if (offered == PortQueue::Offer::full) {
        input_paused_ = true;  // the frame stays in in_; TCP flow control holds the port
        (void)input_->poller().modify(stream_.native_handle(), 0, 1);
        shared_->replies.when_space([weak = std::weak_ptr<SenderInput>(input_)] {
          if (auto reader = weak.lock()) reader->resume();
        });
        return true;
      }
    }
    in_start_ += f.size;
  }
  return true;
}

// The connection has failed: its socket leaves the poller (it would stay
// readable at end of stream).
void TcpSender::stop_reading() {
  input_done_ = true;
  input_->poller().remove(stream_.native_handle());
}

Result<void> TcpSender::wait_for_space(io::Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  const std::size_t need = options_.max_queued_bytes / 2;  // real room, not one byte of it
  if (!progress_.wait_until(lock, deadline,
                            [&] { return closed_ || failed_ || appended_ - written_ <= need; })) {
    return Error(ErrorKind::timed_out, where() + ": the local buffer stayed full");
  }
  if (closed_) return Error(ErrorKind::closed, where() + ": the sender is closed");
  if (failed_) return *failed_;
  return ok();
}

Result<void> TcpSender::flush(io::Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = appended_;
  if (!progress_.wait_until(lock, deadline,
                            [&] { return closed_ || failed_ || written_ >= target; })) {
    return Error(ErrorKind::timed_out, "flush to " + uri_.to_string() + ": " +
                                           std::to_string(target - written_) +
                                           " bytes still in the local buffer");
  }
  if (closed_)
    return Error(ErrorKind::closed, "flush to " + uri_.to_string() + ": the sender is closed");
  if (failed_) return *failed_;
  return ok();
}

void TcpSender::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
  }
  fallback_.reset();  // the I/O thread stops reading
  if (input_) {
    input_->detach();  // so does a leading thread, after its turn
    if (!input_done_) input_->poller().remove(stream_.native_handle());
  }
  Completions done;
  (void)context_.io().call<bool>([this, &done]() -> Result<bool> {
    std::unique_lock lock(mutex_);
    // A caller writing from its own thread is done within one system call.
    progress_.wait(lock, [this] { return writer_ != Writer::caller; });
    watcher_.reset();
    fail_locked(Error(ErrorKind::closed, where() + ": the sender was closed"), done);
    stream_.close();
    return true;
  });
  finish(done);
}

}  // namespace

Result<std::unique_ptr<SenderBackend>> connect_tcp(Context& context, const Uri& uri,
                                                   const SenderOptions& options) {
  // "*" (every interface, as a port bound to tcp://*:N reports itself) is reached here.
  const std::string host = uri.is_wildcard() ? "127.0.0.1" : uri.host;
  auto stream = net::TcpStream::connect(host, uri.port, options.connect_timeout);
  if (!stream) return std::move(stream).error();
  if (auto nd = stream->set_no_delay(true); !nd) return std::move(nd).error();
  // A receiving thread waits in the socket's read (SenderInput::wait_directly).
  if (auto nb = stream->set_non_blocking_calls(io::DrivenPoller::kDirectWaitLimit); !nb)
    return std::move(nb).error();
  auto sender = std::make_unique<TcpSender>(context, uri, std::move(*stream), options);
  if (auto started = sender->start(); !started) return std::move(started).error();
  return std::unique_ptr<SenderBackend>(std::move(sender));
}

// The same sender over a Unix-domain stream socket.
Result<std::unique_ptr<SenderBackend>> connect_ipc(Context& context, const Uri& uri,
                                                   const SenderOptions& options) {
  auto peer = net::UnixAddress::parse(uri.name);
  if (!peer) return std::move(peer).error();
  auto stream = net::TcpStream::connect(*peer, options.connect_timeout);
  if (!stream) return std::move(stream).error();
  // No direct waits here: a Unix-domain stream wakes a thread blocked in its
  // read with a context switch more per message than one in epoll_wait
  // (bench_msg's ipc rows: 3 switches per round trip instead of 2).
  if (auto nb = stream->set_non_blocking(true); !nb) return std::move(nb).error();
  auto sender = std::make_unique<TcpSender>(context, uri, std::move(*stream), options);
  if (auto started = sender->start(); !started) return std::move(started).error();
  return std::unique_ptr<SenderBackend>(std::move(sender));
}

}  // namespace nexo::msg
