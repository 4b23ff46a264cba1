#include "channel.hpp"

#include <unistd.h>

#include <cerrno>

namespace nexo::run {

Channel::Channel(io::EventLoop& loop, net::FileDescriptor in, net::FileDescriptor out,
                 std::string peer)
    : in_(std::move(in)), out_(std::move(out)), peer_(std::move(peer)), loop_(loop) {}

Result<void> Channel::start(OnMessage on_message, OnClosed on_closed) {
  on_message_ = std::move(on_message);
  on_closed_ = std::move(on_closed);
  watcher_ =
      std::make_unique<io::IoWatcher>(loop_, in_.get(), [this](std::uint32_t) { on_readable(); });
  return watcher_->start(io::kReadable);
}

Result<void> Channel::send(std::span<const std::byte> message) {
  const int fd = out_ ? out_.get() : in_.get();
  if (fd < 0) return Error(ErrorKind::closed, "write to " + peer_ + ": the channel is closed");
  while (!message.empty()) {
    const ssize_t n = ::write(fd, message.data(), message.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(errno, "write to " + peer_);
    }
    message = message.subspan(static_cast<std::size_t>(n));
  }
  return ok();
}

Result<void> Channel::send(const Result<Bytes>& message) {
  if (!message) return message.error();
  return send(std::span<const std::byte>(*message));
}

void Channel::close() noexcept {
  watcher_.reset();
  in_.reset();
  out_.reset();
}

void Channel::end(const Error& why) {
  close();
  if (on_closed_) {
    auto callback = std::move(on_closed_);
    on_closed_ = nullptr;
    callback(why);  // may destroy this channel: nothing after
  }
}

void Channel::on_readable() {
  std::byte buf[16384];
  const ssize_t n = ::read(in_.get(), buf, sizeof buf);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    return end(Error::from_errno(errno, "read from " + peer_));
  }
  if (n == 0) return end(Error(ErrorKind::closed, peer_ + " closed the connection"));
  decoder_.feed(std::span<const std::byte>(buf, static_cast<std::size_t>(n)));
  // A callback may close (or destroy) the channel: stop as soon as it did.
  while (in_.valid()) {
    auto m = decoder_.next();
    if (!m) return end(std::move(m).error().with_context("from " + peer_));
    if (!m->has_value()) return;
    on_message_(std::move(**m));
  }
}

}  // namespace nexo::run
