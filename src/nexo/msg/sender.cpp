#include "nexo/msg/sender.hpp"

namespace nexo::msg {
namespace {

io::Clock::time_point deadline_of(Timeout timeout) {
  return timeout ? io::Clock::now() + *timeout : io::Clock::time_point::max();
}

}  // namespace

Result<std::unique_ptr<Sender>> Sender::connect(Context& context, std::string_view text,
                                                SenderOptions options) {
  auto uri = Uri::parse(text);
  if (!uri) return std::move(uri).error();
  if (options.faults && uri->scheme != Scheme::udp && uri->scheme != Scheme::rudp) {
    return Error(
        ErrorKind::invalid_argument,
        "connect " + uri->to_string() +
            ": a fault plan applies to datagrams (udp://, rudp://); this transport has none");
  }
  if (options.faults) {
    if (auto valid = options.faults->validate(); !valid)
      return std::move(valid).error().with_context("connect " + uri->to_string());
  }
  Result<std::unique_ptr<SenderBackend>> backend =
      Error(ErrorKind::invalid_argument, "no transport");
  switch (uri->scheme) {
    case Scheme::inproc:
      backend = connect_inproc(context, *uri, options);
      break;
    case Scheme::tcp:
      backend = connect_tcp(context, *uri, options);
      break;
    case Scheme::udp:
      backend = connect_udp(context, *uri, options);
      break;
    case Scheme::rudp:
      backend = connect_rudp(context, *uri, options);
      break;
    case Scheme::ipc:
      backend = connect_ipc(context, *uri, options);
      break;
  }
  if (!backend) return std::move(backend).error();
  (*backend)->counters().describe("sender", uri->to_string());  // for nexo stat
  return std::unique_ptr<Sender>(new Sender(std::move(*uri), std::move(*backend)));
}

Result<void> Sender::send(std::span<const std::byte> data, Timeout timeout) {
  return send_blocking(data, false, timeout);
}

Result<void> Sender::send_sync(std::span<const std::byte> data, Timeout timeout) {
  return send_blocking(data, true, timeout);
}

// The blocking sends are the asynchronous path plus a wait.
Result<void> Sender::send_blocking(std::span<const std::byte> data, bool until_taken,
                                   Timeout timeout) {
  const auto deadline = deadline_of(timeout);
  auto timed_out = [&] {
    return Error(ErrorKind::timed_out, std::string(until_taken ? "send_sync" : "send") + " to " +
                                           uri_.to_string() + ": not done within " +
                                           std::to_string(timeout ? timeout->count() : 0) + " ms");
  };
  for (;;) {
    auto request = backend_->submit(data, until_taken, true);
    if (request) {
      if (!timeout) return request->wait();
      if (auto done = request->wait_for(deadline - io::Clock::now())) return std::move(*done);
      request
          ->cancel();  // stops the wait for an acknowledgement; a frame half-written still goes out
      auto late = request->wait();
      if (late || !late.error().is(ErrorKind::canceled)) return late;
      return timed_out();
    }
    if (!request.error().is(ErrorKind::would_block)) return std::move(request).error();
    if (auto room = backend_->wait_for_space(deadline); !room) {
      return room.error().is(ErrorKind::timed_out) ? timed_out() : std::move(room).error();
    }
  }
}

Error Sender::no_replies() const {
  return Error(ErrorKind::invalid_argument,
               "receive from " + uri_.to_string() + ": this transport carries no replies");
}

Result<Message> Sender::receive(Timeout timeout) {
  PortQueue* replies = backend_->replies();
  if (!replies) return no_replies();
  if (auto reply = replies->take_now()) return std::move(*reply);  // no driver needed (Port::receive)
  return replies->take(timeout, backend_->progress(), "receive a reply from", uri_);
}

Result<Message> Sender::try_receive() {
  PortQueue* replies = backend_->replies();
  if (!replies) return no_replies();
  return replies->try_take();
}

io::Request<Message> Sender::receive_async() {
  PortQueue* replies = backend_->replies();
  if (!replies) {
    auto [request, completer] = io::Request<Message>::make();
    completer.complete(no_replies());
    return request;
  }
  auto request = replies->take_async(backend_->progress());
  if (!request.test()) backend_->want_background();  // a then() or test() user: nobody may drive
  return request;
}

Result<void> Sender::wait_for_room(Timeout timeout) {
  return backend_->wait_for_space(deadline_of(timeout));
}

Result<void> Sender::flush(Timeout timeout) {
  return backend_->flush(deadline_of(timeout));
}

void Sender::close() {
  if (closed_.exchange(true)) return;
  backend_->close();
}

}  // namespace nexo::msg
