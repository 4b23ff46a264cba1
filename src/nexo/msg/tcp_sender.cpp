// tcp:// sending side: see tcp_sender.hpp. Here: the sender's life, and the
// writing (the output buffer, the writer role, inline writes, the I/O
// thread's drains); the reading is in tcp_sender_input.cpp.
#include "nexo/msg/tcp_sender.hpp"

namespace nexo::msg {
namespace tcp_internal {

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

}  // namespace tcp_internal

using tcp_internal::TcpSender;


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
