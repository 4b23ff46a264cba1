// tcp:// sending side. send_async copies the message into a frame and, when
// nothing is queued before it, writes it at once from the caller's thread (no
// hop to the I/O thread on the fast path); what the socket does not take waits
// in a bounded queue that the I/O loop drains when the socket is writable. The
// loop also reads the acknowledgements that synchronous sends wait for.
#include <array>
#include <condition_variable>
#include <deque>
#include <unordered_map>

#include "nexo/io/io_watcher.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/frame.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::msg {
namespace {

class TcpSender final : public SenderBackend {
 public:
  TcpSender(Context& context, Uri uri, net::TcpStream stream, const SenderOptions& options)
      : context_(context), uri_(std::move(uri)), stream_(std::move(stream)), options_(options) {}
  ~TcpSender() override { close(); }

  Result<void> start();
  Result<io::Request<void>> submit(std::span<const std::byte> data, bool until_taken,
                                   bool write_now) override;
  Result<void> enqueue(std::span<const std::byte> data) override {
    auto request = submit(data, false, false);
    if (!request) return std::move(request).error();
    return ok();
  }
  Result<void> wait_for_space(io::Clock::time_point deadline) override;
  Result<void> flush(io::Clock::time_point deadline) override;
  void close() override;
  const Counters& counters() const noexcept override { return counters_; }

 private:
  struct Pending {
    Bytes frame;
    std::size_t written = 0;
    std::size_t payload = 0;
    io::Completer<void> left;  // empty for a synchronous send (it waits for the ack instead)
  };
  using Completions = std::vector<std::pair<io::Completer<void>, Result<void>>>;

  bool room_locked(std::size_t bytes) const {
    return queue_.empty() || queued_bytes_ + bytes <= options_.max_queued_bytes;
  }
  bool write_queue_locked(Completions& done);  // false: the connection failed (failed_ set)
  void fail_locked(Error error, Completions& done);
  static void finish(Completions& done) {
    for (auto& [completer, result] : done)
      completer.complete(std::move(result));
  }
  void on_ready(std::uint32_t readiness);
  void flush_from_loop();
  void read_acks(Completions& done);

  Context& context_;
  Uri uri_;
  net::TcpStream stream_;
  SenderOptions options_;
  Counters counters_;

  std::mutex mutex_;  // guards everything below, and writes to stream_
  std::condition_variable space_;
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;
  std::unordered_map<std::uint64_t, io::Completer<void>> awaiting_ack_;
  std::uint64_t next_id_ = 1;
  std::optional<Error> failed_;
  bool closed_ = false;
  bool writable_armed_ = false;
  bool flush_posted_ = false;  // a flush_from_loop() is queued on the I/O thread

  // Loop thread only.
  std::unique_ptr<io::IoWatcher> watcher_;
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

Result<io::Request<void>> TcpSender::submit(std::span<const std::byte> data, bool until_taken,
                                            bool write_now) {
  auto where = [this] { return "send to " + uri_.to_string(); };  // built only for an error
  if (data.size() > options_.max_message_size) {
    return Error(ErrorKind::too_large, where() + ": message of " + std::to_string(data.size()) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(options_.max_message_size));
  }
  const auto kind = until_taken ? frame::kDataToAck : frame::kData;
  Completions done;
  auto [request, completer] = io::Request<void>::make();
  {
    std::lock_guard lock(mutex_);
    if (closed_) return Error(ErrorKind::closed, where() + ": the sender is closed");
    if (failed_) return *failed_;
    const std::size_t size = frame::header_size(kind) + data.size();
    if (!room_locked(size))
      return Error(ErrorKind::would_block, where() + ": the local buffer is full");
    Pending pending;
    const std::uint64_t id = until_taken ? next_id_++ : 0;
    frame::append(pending.frame, kind, id, data);
    pending.payload = data.size();
    if (until_taken) {
      awaiting_ack_.emplace(id, std::move(completer));
    } else {
      pending.left = std::move(completer);
    }
    queued_bytes_ += size;
    queue_.push_back(std::move(pending));
    if (write_now && queue_.size() == 1) {
      // A blocking send with nothing queued before it: write now, from this thread
      // (no hop to the I/O thread). If the connection broke, this request fails
      // with the others (through `done`), exactly once.
      (void)write_queue_locked(done);
    } else if (!write_now && !flush_posted_ && !writable_armed_) {
      // Asynchronous: the I/O thread writes, in parallel, everything queued by
      // the time it runs, in one gather-write: many messages per system call.
      flush_posted_ = true;
      context_.io().post([this] { flush_from_loop(); });
    }
    if (write_now && !queue_.empty() && !writable_armed_ && !failed_) {
      writable_armed_ = true;
      context_.io().post([this] {
        std::lock_guard relock(mutex_);
        if (watcher_ && !closed_ && !failed_) (void)watcher_->start(io::kReadable | io::kWritable);
      });
    }
  }
  finish(done);
  return request;
}

void TcpSender::flush_from_loop() {
  Completions done;
  {
    std::lock_guard lock(mutex_);
    flush_posted_ = false;
    if (closed_ || failed_) return;
    (void)write_queue_locked(done);
    if (!queue_.empty() && !failed_ && !writable_armed_ && watcher_) {
      writable_armed_ = true;  // the socket is full: go on when it is writable
      (void)watcher_->start(io::kReadable | io::kWritable);
    }
  }
  finish(done);
}

// Writes queued frames (up to 64 per system call) until the socket stops
// taking them. Completions of the frames that left go to `done`.
bool TcpSender::write_queue_locked(Completions& done) {
  std::array<std::span<const std::byte>, 64> parts;
  while (!queue_.empty()) {
    std::size_t count = 0;
    for (auto it = queue_.begin(); it != queue_.end() && count < parts.size(); ++it) {
      parts[count++] = std::span<const std::byte>(it->frame).subspan(it->written);
    }
    auto n = stream_.write_gather(std::span(parts.data(), count));
    if (!n) {
      if (n.error().is(ErrorKind::would_block)) return true;
      fail_locked(std::move(n).error(), done);
      return false;
    }
    std::size_t written = *n;
    while (written > 0) {
      Pending& front = queue_.front();
      const std::size_t take = std::min(written, front.frame.size() - front.written);
      front.written += take;
      written -= take;
      if (front.written < front.frame.size()) return true;  // the socket is full
      counters_.add_out(front.payload);
      queued_bytes_ -= front.frame.size();
      done.emplace_back(std::move(front.left), ok());
      queue_.pop_front();
    }
  }
  space_.notify_all();
  return true;
}

void TcpSender::fail_locked(Error error, Completions& done) {
  if (!failed_) failed_ = error;
  for (auto& pending : queue_)
    done.emplace_back(std::move(pending.left), error);
  for (auto& [id, completer] : awaiting_ack_)
    done.emplace_back(std::move(completer), error);
  queue_.clear();
  awaiting_ack_.clear();
  queued_bytes_ = 0;
  space_.notify_all();
}

void TcpSender::on_ready(std::uint32_t readiness) {
  Completions done;
  if (readiness & (io::kReadable | io::kHangup)) read_acks(done);
  {
    std::lock_guard lock(mutex_);
    if ((readiness & io::kWritable) && !failed_) write_queue_locked(done);
    if (failed_ || closed_) {
      if (watcher_) watcher_->stop();
    } else if (writable_armed_ && queue_.empty()) {
      writable_armed_ = false;
      (void)watcher_->start(io::kReadable);
    }
  }
  finish(done);
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
  std::size_t need = options_.max_queued_bytes / 2;  // wait for real room, not one byte of it
  if (!space_.wait_until(lock, deadline, [&] {
        return closed_ || failed_ || queued_bytes_ <= need || queue_.empty();
      })) {
    return Error(ErrorKind::timed_out,
                 "send to " + uri_.to_string() + ": the local buffer stayed full");
  }
  if (closed_)
    return Error(ErrorKind::closed, "send to " + uri_.to_string() + ": the sender is closed");
  if (failed_) return *failed_;
  return ok();
}

Result<void> TcpSender::flush(io::Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (!space_.wait_until(lock, deadline, [&] { return closed_ || failed_ || queue_.empty(); })) {
    return Error(ErrorKind::timed_out, "flush to " + uri_.to_string() + ": messages still queued");
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
    std::lock_guard lock(mutex_);
    watcher_.reset();
    fail_locked(Error(ErrorKind::closed, "send to " + uri_.to_string() + ": the sender was closed"),
                done);
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
