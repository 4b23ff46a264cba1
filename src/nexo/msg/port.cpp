#include "nexo/msg/port.hpp"

#include <cstring>

namespace nexo::msg {

Result<std::unique_ptr<Port>> Port::bind(Context& context, std::string_view text,
                                         PortOptions options) {
  auto uri = Uri::parse(text);
  if (!uri) return std::move(uri).error();
  if (options.faults && uri->scheme != Scheme::udp && uri->scheme != Scheme::rudp) {
    return Error(
        ErrorKind::invalid_argument,
        "bind " + uri->to_string() +
            ": a fault plan applies to datagrams (udp://, rudp://); this transport has none");
  }
  if (options.faults) {
    if (auto valid = options.faults->validate(); !valid)
      return std::move(valid).error().with_context("bind " + uri->to_string());
  }
  auto core = std::make_shared<PortCore>(options);
  Result<std::unique_ptr<PortBackend>> backend = Error(ErrorKind::invalid_argument, "no transport");
  switch (uri->scheme) {
    case Scheme::inproc:
      backend = bind_inproc(context, *uri, core);
      break;
    case Scheme::tcp:
      backend = bind_tcp(context, *uri, core);
      break;
    case Scheme::udp:
      backend = bind_udp(context, *uri, core);
      break;
    case Scheme::rudp:
      backend = bind_rudp(context, *uri, core);
      break;
    case Scheme::ipc:
      backend = bind_ipc(context, *uri, core);
      break;
  }
  if (!backend) return std::move(backend).error();
  core->counters.describe("port", (*backend)->uri().to_string());  // for nexo stat
  return std::unique_ptr<Port>(new Port(std::move(core), std::move(*backend)));
}

io::Request<Message> Port::receive_async() {
  auto request = core_->queue.take_async(backend_->progress());
  if (!request.test()) backend_->want_background();  // a then() or test() user: nobody may drive
  return request;
}

Result<Message> Port::receive(Timeout timeout) {
  // A message already queued needs nobody to drive the transport: no
  // reference taken on its driver (an atomic add and release per message).
  if (auto message = core_->queue.take_now()) return std::move(*message);
  return core_->queue.take(timeout, backend_->progress(), "receive on", uri());
}

Result<void> Port::reply(const Message& request, std::span<const std::byte> data) {
  if (auto back = request.from ? request.from->back.lock() : nullptr)
    return back->reply(request.from->connection, data);
  const std::string where =
      "reply on " + uri().to_string() + " to " + std::string(request.source()) + ": ";
  if (!request.from) return Error(ErrorKind::invalid_argument, where + "the message has no source");
  if (!request.from->can_reply()) {
    return Error(ErrorKind::invalid_argument,
                 where + "this transport cannot carry replies (tcp://, rudp:// and inproc:// can)");
  }
  return Error(ErrorKind::closed, where + "the connection it came on is gone");
}

io::Request<std::size_t> Port::receive_into(std::span<std::byte> buffer) {
  auto [request, completer] = io::Request<std::size_t>::make(backend_->progress());
  auto message = receive_async();
  message.then([buffer, c = std::make_shared<io::Completer<std::size_t>>(std::move(completer))](
                   Result<Message> m) {
    if (!m) {
      c->complete(std::move(m).error());
      return;
    }
    const std::size_t n = std::min(buffer.size(), m->size());
    if (n > 0) std::memcpy(buffer.data(), m->data.data(), n);
    if (m->size() > buffer.size()) {
      c->complete(Error(ErrorKind::truncated, "receive_into: message of " +
                                                  std::to_string(m->size()) +
                                                  " bytes does not fit the " +
                                                  std::to_string(buffer.size()) + "-byte buffer"));
      return;
    }
    c->complete(n);
  });
  return request;
}

void Port::close() {
  if (closed_.exchange(true)) return;
  backend_->close();
  core_->queue.close();
}

}  // namespace nexo::msg
