// tcp:// sending side, the reading: the port's replies and acknowledgements
// on the sender's connection, read by a leading thread (in the socket's read
// itself, SenderInput::wait_directly) or by the I/O thread. See tcp_sender.hpp.
#include "nexo/msg/tcp_sender.hpp"

namespace nexo::msg::tcp_internal {

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

}  // namespace nexo::msg::tcp_internal
