// tcp:// sending side.
//
// Every send appends its frame to one contiguous output buffer (the header
// written in place, the payload copied after it). The I/O thread swaps that
// buffer for its empty twin under the mutex and writes the batch with the
// mutex released, so senders go on appending while a batch is on its way: one
// post() and one write() per batch, not per message, and no allocation once
// both buffers have grown. A blocking send that finds nothing queued and
// nobody writing writes header and payload itself, from its own thread, in one
// gather-write (no copy); the I/O thread finishes what the socket did not take.
//
// Bytes are counted as stream offsets: `appended_` (every frame byte handed
// over) and `written_` (every byte the socket took); queued = the difference.
// A send_async Request is a mark at the offset where its frame ends and
// completes once `written_` passes it; enqueue leaves no mark at all. The I/O
// thread also reads the acknowledgements that synchronous sends wait for.
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

#include "nexo/io/io_watcher.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/frame.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::msg {
namespace {

// Frames appended back to back; keeps its capacity when cleared. Counts the
// messages and payload bytes in it, for the counters once it is written.
class OutBuffer {
 public:
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::byte> bytes() const noexcept { return {data_.get(), size_}; }

  // Makes `n` more bytes at the end and returns where they start.
  std::byte* extend(std::size_t n) {
    if (capacity_ - size_ < n) grow(size_ + n);
    std::byte* at = data_.get() + size_;
    size_ += n;
    return at;
  }
  void count(std::size_t payload) noexcept {
    ++messages_;
    payload_ += payload;
  }
  std::uint64_t messages() const noexcept { return messages_; }
  std::uint64_t payload() const noexcept { return payload_; }
  void clear() noexcept { size_ = messages_ = payload_ = 0; }
  void swap(OutBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
    std::swap(size_, other.size_);
    std::swap(messages_, other.messages_);
    std::swap(payload_, other.payload_);
  }

 private:
  static constexpr std::size_t kMinCapacity = 64 * 1024;
  void grow(std::size_t needed) {
    const std::size_t capacity = std::max({needed, capacity_ * 2, kMinCapacity});
    auto data = std::make_unique_for_overwrite<std::byte[]>(capacity);
    if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
    data_ = std::move(data);
    capacity_ = capacity;
  }

  std::unique_ptr<std::byte[]> data_;
  std::size_t capacity_ = 0, size_ = 0;
  std::uint64_t messages_ = 0, payload_ = 0;
};

class TcpSender final : public SenderBackend {
 public:
  TcpSender(Context& context, Uri uri, net::TcpStream stream, const SenderOptions& options)
      : context_(context), uri_(std::move(uri)), stream_(std::move(stream)), options_(options) {}
  ~TcpSender() override { close(); }

  Result<void> start();
  Result<io::Request<void>> submit(std::span<const std::byte> data, bool until_taken,
                                   bool write_now) override;
  Result<void> enqueue(std::span<const std::byte> data) override;
  Result<void> wait_for_space(io::Clock::time_point deadline) override;
  Result<void> flush(io::Clock::time_point deadline) override;
  void close() override;
  const Counters& counters() const noexcept override { return counters_; }

 private:
  enum class Writer { none, loop, caller };
  struct Mark {
    std::uint64_t end;         // the stream offset where the frame ends
    io::Completer<void> left;  // completes once written_ reaches `end`
  };
  using Completions = std::vector<std::pair<io::Completer<void>, Result<void>>>;

  static void finish(Completions& done) {
    for (auto& [completer, result] : done)
      completer.complete(std::move(result));
    done.clear();
  }
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
  void set_writable_interest(bool writable);
  void on_ready(std::uint32_t readiness);
  void read_acks(Completions& done);

  Context& context_;
  Uri uri_;
  net::TcpStream stream_;
  SenderOptions options_;
  Counters counters_;

  std::mutex mutex_;                  // guards everything down to the writer's part
  std::condition_variable progress_;  // bytes written, writer role given up, failure
  OutBuffer pending_;                 // frames not yet handed to the writer
  std::uint64_t appended_ = 0;        // stream offset: every frame byte handed over
  std::uint64_t written_ = 0;         // stream offset: every byte the socket took
  std::deque<Mark> marks_;            // send_async requests, by end offset
  std::unordered_map<std::uint64_t, io::Completer<void>> awaiting_ack_;
  std::uint64_t next_id_ = 1;
  std::optional<Error> failed_;
  bool closed_ = false;
  Writer writer_ = Writer::none;
  bool drain_posted_ = false;  // a drain_from_loop() is queued on the I/O thread

  // The writer role's holder only.
  OutBuffer batch_;
  std::size_t batch_written_ = 0;

  // Loop thread only.
  std::unique_ptr<io::IoWatcher> watcher_;
  bool writable_armed_ = false;
  Bytes in_;
  std::size_t in_end_ = 0;
};

Result<void> TcpSender::start() {
  auto started = context_.io().call<bool>([this]() -> Result<bool> {
    watcher_ = std::make_unique<io::IoWatcher>(context_.io().loop(), stream_.native_handle(),
                                               [this](std::uint32_t r) { on_ready(r); });
    if (auto watching = watcher_->start(io::kReadable); !watching)
      return std::move(watching).error();
    return true;
  });
  if (!started) return std::move(started).error();
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
  std::byte* at = pending_.extend(header + data.size());
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
  auto [request, completer] = io::Request<void>::make();
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
  lock.unlock();
  const std::array<std::span<const std::byte>, 2> parts = {std::span(header).first(header_size),
                                                           data};
  auto n = stream_.write_gather(parts);
  lock.lock();
  writer_ = Writer::none;
  progress_.notify_all();  // close() waits for the caller to give the role up
  if (!n && !n.error().is(ErrorKind::would_block)) {
    fail_locked(std::move(n).error(), done);
    return false;
  }
  const std::size_t taken = n ? *n : 0;
  advance_locked(taken, done);
  if (taken == size) {
    counters_.add_out(data.size());
    return false;
  }
  if (closed_ || failed_) return false;
  std::byte* rest = batch_.extend(size - taken);  // batch_ is empty: nobody was writing
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
    lock.unlock();
    finish(done);
    auto n = stream_.write(batch_.bytes().subspan(batch_written_));
    lock.lock();
    if (!n) {
      if (!n.error().is(ErrorKind::would_block)) {
        fail_locked(std::move(n).error(), done);
      } else if (!writable_armed_) {
        set_writable_interest(true);  // the socket is full: go on when it is writable
      }
      break;
    }
    batch_written_locked(*n, done);
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
    batch_.clear();
    batch_written_ = 0;
    if (pending_.empty()) {
      writer_ = Writer::none;
      if (writable_armed_) set_writable_interest(false);
      return false;
    }
    batch_.swap(pending_);
  }
  writer_ = Writer::loop;
  return true;
}

void TcpSender::batch_written_locked(std::size_t n, Completions& done) {
  batch_written_ += n;
  if (batch_written_ == batch_.size()) counters_.add_out_many(batch_.messages(), batch_.payload());
  advance_locked(n, done);
}

// `n` more bytes of the stream have left: completes the marks they cover.
void TcpSender::advance_locked(std::size_t n, Completions& done) {
  written_ += n;
  while (!marks_.empty() && marks_.front().end <= written_) {
    done.emplace_back(std::move(marks_.front().left), ok());
    marks_.pop_front();
  }
  progress_.notify_all();
}

void TcpSender::fail_locked(Error error, Completions& done) {
  if (!failed_) failed_ = error;
  for (auto& mark : marks_)
    done.emplace_back(std::move(mark.left), error);
  for (auto& [id, completer] : awaiting_ack_)
    done.emplace_back(std::move(completer), error);
  marks_.clear();
  awaiting_ack_.clear();
  pending_.clear();
  progress_.notify_all();
}

// Loop thread.
void TcpSender::set_writable_interest(bool writable) {
  if (!watcher_) return;
  writable_armed_ = writable;
  (void)watcher_->start(writable ? io::kReadable | io::kWritable : io::kReadable);
}

void TcpSender::on_ready(std::uint32_t readiness) {
  Completions done;
  if (readiness & (io::kReadable | io::kHangup)) read_acks(done);
  finish(done);
  if (readiness & io::kWritable) drain_from_loop();
  std::lock_guard lock(mutex_);
  if ((failed_ || closed_) && watcher_) watcher_->stop();
}

void TcpSender::read_acks(Completions& done) {
  for (;;) {
    if (in_.size() - in_end_ < 4096) in_.resize(in_end_ + 4096);
    auto n = stream_.read(std::span(in_).subspan(in_end_));
    if (!n) {
      if (n.error().is(ErrorKind::would_block)) return;
      std::lock_guard lock(mutex_);
      fail_locked(n.error().with_context("the receiver's connection ended; messages not yet "
                                         "acknowledged may or may not have been taken"),
                  done);
      return;
    }
    in_end_ += *n;
    std::size_t start = 0;
    for (;;) {
      frame::Parsed f;
      std::string why;
      auto status =
          frame::parse(std::span<const std::byte>(in_).subspan(start, in_end_ - start), 0, f, why);
      if (status == frame::Status::need_more) break;
      std::lock_guard lock(mutex_);
      if (status == frame::Status::malformed || f.kind != frame::kAck) {
        fail_locked(
            Error(ErrorKind::malformed,
                  "from " + uri_.to_string() + ": " +
                      (why.empty() ? "a data frame where an acknowledgement was expected" : why)),
            done);
        return;
      }
      if (auto it = awaiting_ack_.find(f.id); it != awaiting_ack_.end()) {
        done.emplace_back(std::move(it->second), ok());
        awaiting_ack_.erase(it);
      }
      start += f.size;
    }
    std::copy(in_.begin() + static_cast<std::ptrdiff_t>(start),
              in_.begin() + static_cast<std::ptrdiff_t>(in_end_), in_.begin());
    in_end_ -= start;
  }
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
  if (auto nb = stream->set_non_blocking(true); !nb) return std::move(nb).error();
  auto sender = std::make_unique<TcpSender>(context, uri, std::move(*stream), options);
  if (auto started = sender->start(); !started) return std::move(started).error();
  return std::unique_ptr<SenderBackend>(std::move(sender));
}

}  // namespace nexo::msg
